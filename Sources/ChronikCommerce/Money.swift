// Money as people read it: the one text form of an amount in minor units,
// used by every text output (the CLI's tables, the fraud model's reasons).
// JSON keeps integer minor units.

/// Formatting of amounts in minor units.
public enum Money {
    /// The number of decimals of `currency`'s minor unit (ISO 4217): 2 for
    /// most, 0 for JPY, KRW, ISK, …, 3 for KWD, BHD, …, 4 for CLF and UYW;
    /// 0 for codes without a minor unit (XAU, XDR, XXX, …).
    public static func decimals(of currency: String) -> Int {
        if zeroDecimalCurrencies.contains(currency) { return 0 }
        if threeDecimalCurrencies.contains(currency) { return 3 }
        if fourDecimalCurrencies.contains(currency) { return 4 }
        return 2
    }

    /// The codes with 0 decimals (the dashboard's script gets its table from these).
    public static let zeroDecimalCurrencies: Set<String> = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
        "XPF",
        // No minor unit at all (funds, metals, testing codes).
        "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX",
    ]
    public static let threeDecimalCurrencies: Set<String> = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
    public static let fourDecimalCurrencies: Set<String> = ["CLF", "UYW"]

    /// Minor units with the currency's decimals and thousands separators:
    /// `EUR 1,234.56`, `JPY 1,235`, `KWD 1.234`, `EUR -0.05`.
    public static func text(_ minor: Int64, _ currency: String) -> String {
        let digits = decimals(of: currency)
        let sign = minor < 0 ? "-" : ""
        let m = minor.magnitude
        guard digits > 0 else { return "\(currency) \(sign)\(grouped(m))" }
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let fraction = String(m % scale)
        return "\(currency) \(sign)\(grouped(m / scale))." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// `1234567` as `1,234,567`.
    public static func grouped<T: BinaryInteger>(_ n: T) -> String {
        let digits = String(n.magnitude)
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
