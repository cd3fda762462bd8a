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

    public init(year: Int64, month: Int64, day: Int64) {
        daysSinceEpoch = CivilDate.days(year: year, month: month, day: day)
    }

    public static func < (a: Day, b: Day) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (y, m, d) = CivilDate.date(days: daysSinceEpoch)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var ys = String(y)
        while ys.count < 4 { ys = "0" + ys }
        return "\(ys)-\(two(m))-\(two(d))"
    }
}

/// Amounts per ISO 4217 currency, in minor units.
public typealias CurrencyAmounts = [String: Int64]
