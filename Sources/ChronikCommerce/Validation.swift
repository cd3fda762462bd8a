// The value rules of EVENTS.md that need only the event itself. Rules that
// need a stream's state (stock, payments per paymentId, order existence)
// belong to the guarded commands and are not here.

import ChronikLog

/// Rule checks and reference lists.
public enum Validation {
    /// The id rule: 1–128 bytes of ASCII letters, digits and `-_.:`.
    public static func isValidID(_ s: String) -> Bool {
        let u = s.utf8
        guard u.count >= 1, u.count <= 128 else { return false }
        for c in u {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                 UInt8(ascii: "."), UInt8(ascii: ":"):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// Whether `s` is an active ISO 4217 code (upper case, as listed).
    public static func isCurrency(_ s: String) -> Bool {
        guard let i = letterIndex(s, count: 3) else { return false }
        return currencyBits.contains(i)
    }

    /// Whether `s` is an ISO 3166-1 alpha-2 code (upper case, as listed).
    public static func isCountry(_ s: String) -> Bool {
        guard let i = letterIndex(s, count: 2) else { return false }
        return countryBits.contains(i)
    }

    /// Whether `s` is a card number: after removing separators (spaces,
    /// tabs, dashes, dots, slashes), 13–19 digits that pass the Luhn check
    /// (and nothing else). Digits and separators as people type or paste
    /// them count too: any Unicode decimal digit (full-width `４１１１`,
    /// Arabic-Indic `٤١١١`), any Unicode space (no-break, narrow no-break,
    /// figure, ideographic), any dash (en, em, minus) and invisible
    /// characters (zero-width space) — stop 39, an i18n review: all of
    /// these were taken as a payment token.
    public static func looksLikeCardNumber(_ s: String) -> Bool {
        let u = s.utf8
        // 13 digits at least; a digit is one UTF-8 byte or more.
        guard u.count >= 13 else { return false }
        var digits = 0
        for c in u {
            if c &- 48 < 10 {
                digits += 1
            } else if c >= 0x80 {
                // Rare: fold once and look again (the folded text has no
                // foldable character left, so this happens once).
                guard let folded = foldedForCardCheck(s) else { return false }
                return looksLikeCardNumber(folded)
            } else if c != 0x20 && c != 0x2D && c != 0x2E && c != 0x2F && c != 0x09 {
                return false
            }
        }
        guard digits >= 13, digits <= 19 else { return false }
        return luhn(u)
    }

    /// `s` with the digits and separators people type folded to ASCII:
    /// Unicode decimal digits to `0`–`9`, spaces (tab, no-break, narrow,
    /// figure, ideographic …) to a space, dashes to `-`, invisible
    /// characters (zero-width space, soft hyphen, joiners) removed. Nil
    /// when nothing changes.
    static func foldedForCardCheck(_ s: String) -> String? {
        var out = String.UnicodeScalarView()
        var changed = false
        for scalar in s.unicodeScalars {
            let p = scalar.properties
            if scalar.isASCII && scalar != "\t" {
                out.append(scalar)
            } else if p.numericType == .decimal, let v = p.numericValue, v >= 0, v <= 9 {
                out.append(Unicode.Scalar(UInt8(48 + Int(v))))
                changed = true
            } else if p.isWhitespace {
                out.append(" ")
                changed = true
            } else if p.generalCategory == .dashPunctuation || scalar == "\u{2212}" {
                out.append("-")
                changed = true
            } else if p.isDefaultIgnorableCodePoint {
                changed = true
            } else {
                out.append(scalar)
            }
        }
        return changed ? String(out) : nil
    }

    /// The fields whose values people type as prose (a support summary,
    /// a cancellation or refund reason, a note, a search query): they are
    /// searched for a card number *inside* the text, in every event type.
    /// Names, addresses, phone numbers, ids and tracking numbers are not
    /// prose and are not searched (a FedEx tracking number has 12–15 digits
    /// and passes Luhn one time in ten).
    public static func isFreeText(_ field: String) -> Bool {
        freeTextFields.contains(field)
    }

    static let freeTextFields: Set<String> = ["summary", "reason", "note", "notes", "comment", "message", "description", "query"]

    /// Whether prose `s` holds a card number: 13–19 digits passing the Luhn
    /// check, written together or in groups separated by one space or one
    /// dash (`4111 1111 1111 1111`, `4111-1111-1111-1111`).
    ///
    /// Digit groups are the units: a candidate is a run of neighbouring
    /// groups of at least 4 digits each (any run of them, so `order 2024
    /// 4111 1111 1111 1111` is found) holding 13–19 digits. A group glued
    /// to a letter (`NW1000001`, `NW-4111…`, `4111…x`) belongs to an
    /// identifier, and a group of 1–3 digits to a phone number, a date or a
    /// list: neither is a candidate and both separate runs. Anything else
    /// (two separators, a comma, a slash) separates runs too.
    ///
    /// Complexity: O(n) for a text of n bytes (at most 19 groups per
    /// candidate, 7 lengths).
    public static func containsCardNumber(inText s: String) -> Bool {
        // The usual prose has few digits: one pass, no allocation.
        var s = s
        // Non-ASCII scalars: their lead bytes, counted only when there are any.
        let (digitCount, scalars) = s.withUTF8 { b in
            (JSONWord.digitCount(b), JSONWord.hasNonASCII(b) ? b.reduce(0) { $0 + ($1 >= 0xC0 ? 1 : 0) } : 0)
        }
        if scalars > 0 {
            // Folding turns at most each non-ASCII scalar into a digit: with
            // fewer than 13 digits even then, no card number, and no fold
            // (stop 50: the fold of every accented path of a clickstream was
            // ~1 % of an import).
            if digitCount + scalars < 13 { return false }
            // Digits and separators typed otherwise (no-break spaces, en
            // dashes, full-width digits) are folded first (stop 39).
            if let folded = foldedForCardCheck(s) { return containsCardNumber(inText: folded) }
        }
        guard digitCount >= 13 else { return false }
        let u = Array(s.utf8)
        @inline(__always) func isDigit(_ i: Int) -> Bool { i >= 0 && i < u.count && u[i] &- 48 < 10 }
        @inline(__always) func isSeparator(_ i: Int) -> Bool { i >= 0 && i < u.count && (u[i] == 0x20 || u[i] == 0x2D || u[i] == 0x09) }
        @inline(__always) func isWordByte(_ i: Int) -> Bool {
            guard i >= 0 && i < u.count else { return false }
            let c = u[i]
            return (c | 0x20) &- 97 < 26 || c == 0x5F || c >= 0x80
        }
        // The groups of the current run, as (start, end) byte ranges.
        var run: [Range<Int>] = []
        var i = 0
        while i < u.count {
            guard isDigit(i) else { i += 1; continue }
            var end = i
            while isDigit(end) { end += 1 }
            let glued = isWordByte(i - 1) || (u.indices.contains(i - 1) && u[i - 1] == 0x2D && isWordByte(i - 2))
                || isWordByte(end) || (isSeparator(end) && u[end] == 0x2D && isWordByte(end + 1))
            // Does this group continue the run (one separator since the last group)?
            if let last = run.last, !(last.upperBound + 1 == i && isSeparator(last.upperBound)) {
                if runHoldsCardNumber(u, run) { return true }
                run.removeAll()
            }
            // Card numbers are written in groups of 4–6 digits (4-4-4-4,
            // Amex 4-6-5); phone numbers in groups of 2–3 (`0048 601 234
            // 567` has 13 digits): a short group separates runs.
            if glued || end - i < 4 {
                if runHoldsCardNumber(u, run) { return true }
                run.removeAll()
            } else {
                run.append(i..<end)
            }
            i = end
        }
        return runHoldsCardNumber(u, run)
    }

    /// The path of the first prose field (`isFreeText`, at any depth) of a
    /// JSON text that contains a card number (`summary`, `items[2].note`),
    /// nil when there is none or the bytes are not JSON. For events stored
    /// as raw JSON (`chronik append`, any type) the same rule as the typed
    /// validation.
    public static func cardNumberInFreeText(json bytes: [UInt8]) -> String? {
        // Cheap exit: fewer than 13 digits in the whole text, counted
        // eight bytes at a time (stop 21: a byte loop was ~3 % of a
        // 1,000-event request's server CPU, for data that almost never has
        // 13 digits; it did not vectorise).
        let (digits, nonASCII) = bytes.withUnsafeBufferPointer { (JSONWord.digitCount($0), JSONWord.hasNonASCII($0)) }
        // Digits other than ASCII ones (full-width, Arabic-Indic) count
        // too, looked for only in text that has non-ASCII bytes (stop 39).
        guard digits >= 13 || (nonASCII && digits + unicodeDigitCount(bytes) >= 13),
              let value = try? JSONValue.parse(bytes) else { return nil }
        return cardNumberInFreeText(value, path: "")
    }

    /// How many non-ASCII Unicode decimal digits the UTF-8 `bytes` hold.
    static func unicodeDigitCount(_ bytes: [UInt8]) -> Int {
        var n = 0
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars where !scalar.isASCII {
            if scalar.properties.numericType == .decimal { n += 1 }
        }
        return n
    }

    static func cardNumberInFreeText(_ value: JSONValue, path: String) -> String? {
        switch value {
        case .object(let members):
            for m in members {
                let sub = path.isEmpty ? m.key : path + "." + m.key
                if case .string(let s) = m.value, isFreeText(m.key), containsCardNumber(inText: s) { return sub }
                if let found = cardNumberInFreeText(m.value, path: sub) { return found }
            }
        case .array(let items):
            for (i, item) in items.enumerated() {
                if let found = cardNumberInFreeText(item, path: path + "[\(i)]") { return found }
            }
        default:
            break
        }
        return nil
    }

    /// Whether neighbouring groups of `run` hold 13–19 digits passing Luhn.
    /// One group of 13 or 14 digits that is a valid GTIN (an EAN-13 or
    /// GTIN-14 barcode, its GS1 check digit right) is a product code, not a
    /// card (stop 38, a migration: a search for the barcode 4006381333924,
    /// which passes Luhn as one in ten barcodes do, refused a whole
    /// clickstream import). Cards are 15, 16 or 19 digits today; a
    /// 13-digit Visa that is also a valid GTIN is let through in prose.
    static func runHoldsCardNumber(_ u: [UInt8], _ run: [Range<Int>]) -> Bool {
        for first in run.indices {
            var digits: [UInt8] = []
            for g in run[first...] {
                digits.append(contentsOf: u[g])
                if digits.count > 19 { break }
                if digits.count >= 13 && luhn(digits) && !(g == run[first] && digits.count <= 14 && isGTIN(digits)) { return true }
            }
        }
        return false
    }

    /// The GS1 check of a GTIN's ASCII digits: from the rightmost (the
    /// check digit, weight 1), weights 1 and 3 alternating; the sum is a
    /// multiple of 10.
    static func isGTIN(_ digits: [UInt8]) -> Bool {
        var sum = 0
        for (k, c) in digits.reversed().enumerated() { sum += Int(c &- 48) * (k % 2 == 0 ? 1 : 3) }
        return sum % 10 == 0
    }

    /// The Luhn check over the ASCII digits of `bytes` (other bytes are
    /// skipped): from the rightmost digit, every second one doubled.
    static func luhn<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> Bool {
        var sum = 0
        var double = false
        for c in bytes.reversed() where c &- 48 < 10 {
            var d = Int(c &- 48)
            if double { d *= 2; if d > 9 { d -= 9 } }
            sum += d
            double.toggle()
        }
        return sum % 10 == 0
    }

    /// Orders strings by their UTF-8 bytes (not by Unicode canonical order,
    /// which `<` uses and which costs more).
    public static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// A `String` from bytes that must be UTF-8; nil when they are not.
    @inline(__always)
    static func string(utf8 bytes: UnsafeBufferPointer<UInt8>) -> String? {
        decodeUTF8(UnsafeRawBufferPointer(bytes))
    }

    static func letterIndex(_ s: String, count: Int) -> Int? {
        let u = s.utf8
        guard u.count == count else { return nil }
        var i = 0
        for c in u {
            guard c >= UInt8(ascii: "A"), c <= UInt8(ascii: "Z") else { return nil }
            i = i * 26 + Int(c - UInt8(ascii: "A"))
        }
        return i
    }

    /// Bit sets over the letter index (AA = 0 … ZZ = 675, AAA … ZZZ), so a
    /// check hashes nothing.
    struct LetterBits: Sendable {
        var words: [UInt64]
        init(_ codes: [String], count: Int) {
            words = [UInt64](repeating: 0, count: (LetterBits.pow26(count) + 63) / 64)
            for c in codes {
                let i = Validation.letterIndex(c, count: count)!
                words[i >> 6] |= 1 << UInt64(i & 63)
            }
        }
        func contains(_ i: Int) -> Bool { words[i >> 6] & (1 << UInt64(i & 63)) != 0 }
        static func pow26(_ n: Int) -> Int { n == 0 ? 1 : 26 * pow26(n - 1) }
    }

    static let currencyBits = LetterBits(currencyCodes, count: 3)
    static let countryBits = LetterBits(countryCodes, count: 2)

    /// ISO 4217 currency codes, including funds codes (BOV, CHE, …),
    /// precious metals and X-codes of the official list.
    public static let currencies: Set<String> = Set(currencyCodes)
    /// ISO 3166-1 alpha-2 country codes (the 249 officially assigned).
    public static let countries: Set<String> = Set(countryCodes)

    static let currencyCodes: [String] = """
        AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV \
        BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE \
        CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD \
        HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD \
        KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV \
        MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB \
        RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT \
        TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF \
        XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW \
        ZWG ZWL
        """.split(separator: " ").map(String.init)

    static let countryCodes: [String] = """
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM \
        BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX \
        CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG \
        GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR \
        IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV \
        LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE \
        NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO \
        RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF \
        TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF \
        WS YE YT ZA ZM ZW
        """.split(separator: " ").map(String.init)
}

/// Checks the per-field rules while walking an event's fields. Paths are
/// relative to the event's data (`lines[0].qty`).
struct ValidationVisitor: FieldVisitor {
    var path: String = ""
    /// Refuse any string that is a card number (payment-related types).
    var rejectCardNumbers: Bool
    /// Leave the PII objects out: erased, they are blank (docs/GDPR.md).
    var skipPII = false

    init(rejectCardNumbers: Bool) { self.rejectCardNumbers = rejectCardNumbers }

    @inline(never)
    func fieldPath(_ name: StaticString) -> String { path.isEmpty ? name.text : path + "." + name.text }

    @inline(__always)
    func checkCard(_ name: StaticString, _ s: String, suffix: String = "") throws(CommerceError) {
        guard rejectCardNumbers, Validation.looksLikeCardNumber(s) else { return }
        throw CommerceError(.cardNumber, field: fieldPath(name) + suffix,
                            "\(name)\(suffix) looks like a card number (13–19 digits passing Luhn); card numbers are never accepted")
    }

    mutating func id(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        guard Validation.isValidID(value) else {
            throw CommerceError(.invalidId, field: fieldPath(name),
                                "\(name) must be 1–128 bytes of letters, digits and -_.: (got \(value.utf8.count) bytes: \(String(value.prefix(40)).debugDescription))")  // escaped: one line per error
        }
        try checkCard(name, value)
    }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) throws(CommerceError) {
        guard var v = value else { return }
        try id(name, &v)
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError) {
        try checkCard(name, value)
        try checkFreeText(name, value)
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError) {
        guard let v = value else { return }
        try checkCard(name, v)
        try checkFreeText(name, v)
    }

    /// Prose fields of every type: no card number inside the text.
    func checkFreeText(_ name: StaticString, _ s: String) throws(CommerceError) {
        // The text first: it rarely holds 13 digits, and that test allocates nothing.
        guard Validation.containsCardNumber(inText: s), Validation.isFreeText(name.text) else { return }
        throw CommerceError(.cardNumber, field: fieldPath(name),
                            "\(name) contains a card number (13–19 digits passing Luhn); card numbers are never accepted, "
                            + "in free text neither: remove it or keep only the last 4 digits")
    }

    mutating func currency(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        guard Validation.isCurrency(value) else {
            // Stop 38, a newcomer: "eur" is one, in the wrong case.
            let hint = Validation.isCurrency(value.uppercased()) ? ": codes are upper case (\(value.uppercased()))" : ""
            throw CommerceError(.invalidCurrency, field: fieldPath(name), "\(name) \"\(value.prefix(40))\" is not an ISO 4217 code\(hint)")
        }
    }

    mutating func country(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        guard Validation.isCountry(value) else {
            let hint = Validation.isCountry(value.uppercased()) ? ": codes are upper case (\(value.uppercased()))" : ""
            throw CommerceError(.invalidCountry, field: fieldPath(name), "\(name) \"\(value.prefix(40))\" is not an ISO 3166-1 alpha-2 code\(hint)")
        }
    }

    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        switch rule {
        case .quantity where value <= 0:
            throw CommerceError(.invalidQuantity, field: fieldPath(name), "\(name) must be > 0, got \(value)")
        case .count where value < 0:
            throw CommerceError(.invalidQuantity, field: fieldPath(name), "\(name) must be ≥ 0, got \(value)")
        case .money where value < 0:
            throw CommerceError(.invalidAmount, field: fieldPath(name), "\(name) must be ≥ 0, got \(value)")
        case .positiveAmount where value <= 0:
            throw CommerceError(.invalidAmount, field: fieldPath(name), "\(name) must be > 0, got \(value)")
        case .delta where value == 0:
            throw CommerceError(.invalidDelta, field: fieldPath(name), "\(name) must not be 0")
        default:
            return
        }
    }

    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        try int(name, &value, rule)
    }

    mutating func bool(_ name: StaticString, _ value: inout Bool) {}
    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) {}

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) throws(CommerceError) {
        guard rejectCardNumbers, let v = value else { return }
        for (i, s) in v.enumerated() { try checkCard(name, s, suffix: "[\(i)]") }
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) throws(CommerceError) {
        guard rejectCardNumbers, let v = value else { return }
        for (k, s) in v {
            try checkCard(name, k, suffix: "." + k)
            try checkCard(name, s, suffix: "." + k)
        }
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) {}
    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {}

    mutating func nested<T: FieldCodable>(_ value: inout T, path sub: String) throws(CommerceError) {
        let saved = path
        path = sub
        defer { path = saved }
        try value.visit(&self)
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        if pii && skipPII { return }
        try nested(&value, path: fieldPath(name))
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        if pii && skipPII { return }
        guard var v = value else { return }
        try nested(&v, path: fieldPath(name))
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        guard !value.isEmpty else { return }
        let base = fieldPath(name)
        for i in value.indices {
            var v = value[i]
            try nested(&v, path: base + "[\(i)]")
        }
    }
}

extension CommerceEventPayload {
    /// Checks every rule of EVENTS.md that needs only this event: ids,
    /// currencies, countries, ranges, card numbers in payment events, and
    /// the type's cross-field rules.
    ///
    /// - Throws: `CommerceError` naming the field relative to the data
    ///   (`lines[0].qty`).
    public func validate() throws(CommerceError) {
        try validate(skippingPII: false)
    }

    /// `validate()`, with the PII fields left out when `skippingPII`: an
    /// erased event holds them blank (docs/GDPR.md).
    public func validate(skippingPII: Bool) throws(CommerceError) {
        var copy = self
        var v = ValidationVisitor(rejectCardNumbers: Self.rejectsCardNumbers)
        v.skipPII = skippingPII
        try copy.visit(&v)
        try validateRules()
    }
}

/// The cross-field rules of `OrderPlaced`.
enum OrderRules {
    static func check(_ o: OrderPlaced) throws(CommerceError) {
        guard !o.lines.isEmpty else {
            throw CommerceError(.emptyOrder, field: "lines", "an order needs at least one line")
        }
        guard let total = total(o) else {
            throw CommerceError(.invalidAmount, field: "lines", "the order total does not fit in 64 bits")
        }
        guard total >= 0 else {
            throw CommerceError(.invalidAmount, field: "discount",
                                "the order total (Σ qty × unitPrice − discount + shippingFee) is \(total); it must be ≥ 0")
        }
    }

    /// Σ qty × unitPrice − discount + shippingFee; nil on overflow.
    static func total(_ o: OrderPlaced) -> Int64? {
        var sum: Int64 = 0
        for l in o.lines {
            let (p, o1) = l.qty.multipliedReportingOverflow(by: l.unitPrice)
            let (s, o2) = sum.addingReportingOverflow(p)
            guard !o1, !o2 else { return nil }
            sum = s
        }
        let (a, o1) = sum.subtractingReportingOverflow(o.discount)
        let (b, o2) = a.addingReportingOverflow(o.shippingFee)
        return o1 || o2 ? nil : b
    }
}

extension OrderPlaced {
    /// Σ qty × unitPrice − discount + shippingFee (EVENTS.md, Orders); nil
    /// when it does not fit 64 bits (such an order is refused on append).
    public var total: Int64? { OrderRules.total(self) }
}
