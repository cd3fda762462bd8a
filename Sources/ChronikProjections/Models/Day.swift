import ChronikLog

/// A UTC calendar day, as days since 1970-01-01.
///
/// Sales and finance bucket by the UTC day of an event's `time`
/// (EVENTS.md): the day is `floor(microseconds / 86 400 000 000)`, which is
/// also right for times before 1970.
public struct Day: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var daysSinceEpoch: Int64

    public init(daysSinceEpoch: Int64) { self.daysSinceEpoch = daysSinceEpoch }

    public init(_ t: Timestamp) {
        let perDay: Int64 = 86_400_000_000
        var d = t.microseconds / perDay
        if t.microseconds % perDay < 0 { d -= 1 }
        daysSinceEpoch = d
    }

    /// Parses `YYYY-MM-DD`.
    public init?(string s: String) {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        let day = Day(year: y, month: m, day: d)
        // Reject 2024-02-31 and the like: the date must read back the same.
        guard day.description == s else { return nil }
        self = day
    }

    /// Days from civil (Howard Hinnant's algorithm).
    public init(year: Int64, month: Int64, day: Int64) {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        daysSinceEpoch = era * 146_097 + doe - 719_468
    }

    public static func < (a: Day, b: Day) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }

    /// `YYYY-MM-DD`.
    public var description: String {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var ys = String(y)
        while ys.count < 4 { ys = "0" + ys }
        return "\(ys)-\(two(m))-\(two(d))"
    }
}

/// Amounts per ISO 4217 currency, in minor units.
public typealias CurrencyAmounts = [String: Int64]
