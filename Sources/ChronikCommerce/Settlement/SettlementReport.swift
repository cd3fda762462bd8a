// The settlement report layouts of EVENTS.md v1.2: Stripe's itemized
// payout reconciliation and Adyen's settlement details. Columns are found
// by header name (gateways let merchants reorder and add columns); money
// is in major units with the currency's decimals.

/// A payment gateway whose settlement report Chronik reads and writes.
public enum SettlementGateway: String, Sendable, CaseIterable {
    case stripe
    case adyen
}

/// A bad settlement report: the line and column (1-based; the header's
/// name too when known) and why. Nothing of the file is written.
public struct SettlementReportError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int?
    public var columnName: String?
    public var message: String

    public var description: String {
        var s = "line \(line)"
        if let column { s += ", column \(column)" }
        if let columnName { s += " (\(columnName))" }
        return s + ": " + message
    }
}

/// ISO 4217 minor units: how many decimals a currency's major unit has.
public enum CurrencyDecimals {
    /// The decimals of `currency`: the one table, `Money.decimals(of:)`.
    public static func of(_ currency: String) -> Int { Money.decimals(of: currency) }

    /// Parses `-12.34` (major units) into minor units; nil for anything
    /// else, more decimals than the currency has (beyond trailing zeros),
    /// or a value beyond 64 bits.
    public static func minorUnits(_ s: String, currency: String) -> Int64? {
        let decimals = of(currency)
        var u = Substring(s).utf8[...]
        var negative = false
        if let f = u.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") {
            negative = f == UInt8(ascii: "-")
            u = u.dropFirst()
        }
        var whole: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var seenDot = false
        var digits = 0
        for c in u {
            if c == UInt8(ascii: ".") {
                guard !seenDot else { return nil }
                seenDot = true
                continue
            }
            guard c >= 48, c <= 57 else { return nil }
            let d = Int64(c - 48)
            digits += 1
            if seenDot {
                if fractionDigits >= decimals {
                    guard d == 0 else { return nil }
                    continue
                }
                fraction = fraction * 10 + d
                fractionDigits += 1
            } else {
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(d)
                guard !o1, !o2 else { return nil }
                whole = a
            }
        }
        guard digits > 0 else { return nil }
        while fractionDigits < decimals {
            fraction *= 10
            fractionDigits += 1
        }
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let (m, o1) = whole.multipliedReportingOverflow(by: scale)
        let (v, o2) = m.addingReportingOverflow(fraction)
        guard !o1, !o2 else { return nil }
        return negative ? -v : v
    }

    /// Minor units as major units with the currency's decimals: `-12.34`.
    public static func major(_ minor: Int64, currency: String) -> String {
        let decimals = of(currency)
        let m = minor.magnitude
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        var s = (minor < 0 ? "-" : "") + String(m / scale)
        if decimals > 0 {
            var f = String(m % scale)
            while f.count < decimals { f = "0" + f }
            s += "." + f
        }
        return s
    }
}

/// Reads and writes the settlement report of a gateway.
public enum SettlementReport {
    /// Stripe's columns (itemized payout reconciliation).
    public enum Stripe {
        public static let gatewayRef = "balance_transaction_id"
        public static let payoutId = "automatic_payout_id"
        public static let paidOutAt = "automatic_payout_effective_at"
        public static let kind = "reporting_category"
        public static let gross = "gross"
        public static let fee = "fee"
        public static let net = "net"
        public static let currency = "currency"
        public static let paymentId = "payment_metadata[payment_id]"
        public static let refundId = "refund_metadata[refund_id]"
        public static let required = [gatewayRef, payoutId, paidOutAt, kind, gross, fee, net, currency]
        public static let exported = [payoutId, paidOutAt, gatewayRef, kind, currency, gross, fee, net, paymentId, refundId]

        /// reporting_category → kind. `dispute` is Stripe's chargeback.
        /// Stripe's other per-transaction categories of an itemized payout
        /// report (a refund that failed and came back, a partial capture's
        /// released remainder, card network costs) are adjustments with
        /// their gross as reported (stop 34: they refused a real monthly
        /// report). Anything else is refused, named.
        static func kind(_ s: String) -> SettlementKind? {
            switch s {
            case "charge": .charge
            case "refund": .refund
            case "dispute", "chargeback": .chargeback
            case "fee", "stripe_fee": .fee
            case "adjustment", "other_adjustment", "dispute_reversal", "refund_failure", "partial_capture_reversal",
                 "network_cost": .adjustment
            default: nil
            }
        }

        /// The categories `kind` takes, for the refusal's message.
        static let knownCategories = "charge, refund, dispute (chargeback), fee (stripe_fee), other_adjustment (adjustment), "
            + "dispute_reversal, refund_failure, partial_capture_reversal, network_cost"

        static func category(_ k: SettlementKind) -> String {
            switch k {
            case .charge: "charge"
            case .refund: "refund"
            case .chargeback: "dispute"
            case .fee: "fee"
            case .adjustment: "other_adjustment"
            }
        }
    }

    /// Adyen's columns (settlement details report).
    public enum Adyen {
        public static let gatewayRef = "Psp Reference"
        public static let merchantReference = "Merchant Reference"
        public static let payoutId = "Batch Number"
        public static let type = "Type"
        public static let creationDate = "Creation Date"
        public static let timeZone = "TimeZone"
        public static let grossCurrency = "Gross Currency"
        public static let grossDebit = "Gross Debit (GC)"
        public static let grossCredit = "Gross Credit (GC)"
        public static let netCurrency = "Net Currency"
        public static let netDebit = "Net Debit (NC)"
        public static let netCredit = "Net Credit (NC)"
        public static let commission = "Commission (NC)"
        public static let markup = "Markup (NC)"
        public static let schemeFees = "Scheme Fees (NC)"
        public static let interchange = "Interchange (NC)"
        public static let required = [gatewayRef, merchantReference, payoutId, type, creationDate, netCurrency]
        public static let exported = [gatewayRef, merchantReference, payoutId, type, creationDate, timeZone, grossCurrency,
                                      grossDebit, grossCredit, netCurrency, netDebit, netCredit, commission, markup,
                                      schemeFees, interchange]

        /// Type → kind; nil for the payout row itself (`MerchantPayout`),
        /// which is the transfer of the batch, not a line of it.
        static func kind(_ s: String) -> SettlementKind?? {
            switch s {
            case "Settled": .some(.charge)
            case "Refunded": .some(.refund)
            case "Chargeback": .some(.chargeback)
            case "Fee": .some(.fee)
            case "ChargebackReversed", "RefundedReversed", "DepositCorrection", "Balancetransfer",
                 "InvoiceDeduction", "ManualCorrected", "MiscCosts": .some(.adjustment)
            case "MerchantPayout": .some(nil)
            default: nil
            }
        }

        /// `Merchant Reference` of a line: a refund row's refundId, any
        /// other row's paymentId, as `settle import` reads them back.
        static func reference(of l: SettlementLineReported) -> String {
            (l.kind == .refund ? l.refundId : l.paymentId) ?? ""
        }

        static func type(_ k: SettlementKind) -> String {
            switch k {
            case .charge: "Settled"
            case .refund: "Refunded"
            case .chargeback: "Chargeback"
            case .fee: "Fee"
            case .adjustment: "DepositCorrection"
            }
        }
    }

    /// What a report held.
    public struct Parsed: Sendable {
        /// The lines, each with the report line it came from.
        public var lines: [(line: Int, event: SettlementLineReported)]
        /// Rows that are not settlement lines (Adyen's MerchantPayout).
        public var skippedRows: Int
    }

    /// A row with its columns found by header name.
    struct Row {
        let record: CSVRecord
        let columns: [String: Int]

        func has(_ name: String) -> Bool { columns[name] != nil }

        func value(_ name: String) -> String {
            guard let i = columns[name], i < record.fields.count else { return "" }
            return record.fields[i]
        }

        func error(_ name: String, _ message: String) -> SettlementReportError {
            SettlementReportError(line: record.line, column: columns[name].map { $0 + 1 }, columnName: name,
                                  message: message)
        }

        func required(_ name: String) throws(SettlementReportError) -> String {
            let v = value(name).trimmedASCII
            guard !v.isEmpty else { throw error(name, "is empty") }
            return v
        }

        func id(_ name: String) throws(SettlementReportError) -> String {
            let v = try required(name)
            guard Validation.isValidID(v) else {
                throw error(name, "\"\(v.prefix(40))\" is not a valid id (1–128 of A-Z a-z 0-9 - _ . :)")
            }
            return v
        }

        func optionalID(_ name: String) throws(SettlementReportError) -> String? {
            let v = value(name).trimmedASCII
            if v.isEmpty { return nil }
            guard Validation.isValidID(v) else {
                throw error(name, "\"\(v.prefix(40))\" is not a valid id (1–128 of A-Z a-z 0-9 - _ . :)")
            }
            return v
        }

        func amount(_ name: String, currency: String, emptyIsZero: Bool = false) throws(SettlementReportError) -> Int64 {
            let v = value(name).trimmedASCII
            if v.isEmpty && emptyIsZero { return 0 }
            guard !v.isEmpty else { throw error(name, "is empty") }
            guard let m = CurrencyDecimals.minorUnits(v, currency: currency) else {
                throw error(name, "\"\(v.prefix(40))\" is not an amount in \(currency) (\(CurrencyDecimals.of(currency)) decimals)")
            }
            return m
        }

        func currency(_ name: String) throws(SettlementReportError) -> String {
            let v = try required(name).uppercased()
            guard Validation.isCurrency(v) else { throw error(name, "\"\(v.prefix(40))\" is not an ISO 4217 currency") }
            return v
        }
    }

    /// Parses a report of `gateway` (the file's bytes).
    ///
    /// - Throws: `SettlementReportError` for the first bad row (or the
    ///   header: a required column missing, a column named twice).
    public static func parse(_ bytes: [UInt8], gateway: SettlementGateway) throws(SettlementReportError) -> Parsed {
        let records: [CSVRecord]
        do { records = try CSV.parse(bytes) } catch {
            throw SettlementReportError(line: error.line, column: error.column, columnName: nil, message: error.message)
        }
        guard let header = records.first else {
            throw SettlementReportError(line: 1, column: nil, columnName: nil, message: "the file is empty (no header)")
        }
        var columns: [String: Int] = [:]
        for (i, name) in header.fields.enumerated() {
            let n = name.trimmedASCII
            guard !n.isEmpty else { continue }
            if columns[n] != nil {
                throw SettlementReportError(line: header.line, column: i + 1, columnName: n, message: "the column is named twice")
            }
            columns[n] = i
        }
        let required = gateway == .stripe ? Stripe.required : Adyen.required
        for r in required where columns[r] == nil {
            throw SettlementReportError(line: header.line, column: nil, columnName: r,
                                        message: "the header has no column \"\(r)\" (a \(gateway.rawValue) report needs: \(required.joined(separator: ", ")))")
        }
        var out = Parsed(lines: [], skippedRows: 0)
        for record in records.dropFirst() {
            let row = Row(record: record, columns: columns)
            let event: SettlementLineReported?
            switch gateway {
            case .stripe: event = try stripe(row)
            case .adyen: event = try adyen(row)
            }
            if let event { out.lines.append((record.line, event)) } else { out.skippedRows += 1 }
        }
        return out
    }

    static func stripe(_ row: Row) throws(SettlementReportError) -> SettlementLineReported {
        typealias S = Stripe
        let currency = try row.currency(S.currency)
        let category = try row.required(S.kind)
        guard let kind = S.kind(category) else {
            throw row.error(S.kind, "\"\(category.prefix(40))\" is not a reporting_category Chronik knows (\(S.knownCategories))")
        }
        let paidOutAt = try time(row, S.paidOutAt)
        let e = SettlementLineReported(
            gateway: SettlementGateway.stripe.rawValue, payoutId: try row.id(S.payoutId), paidOutAt: paidOutAt,
            kind: kind, gatewayRef: try row.id(S.gatewayRef), paymentId: try row.optionalID(S.paymentId),
            refundId: try row.optionalID(S.refundId), gross: try row.amount(S.gross, currency: currency),
            fee: try row.amount(S.fee, currency: currency), net: try row.amount(S.net, currency: currency),
            currency: currency)
        try check(e, row, fee: S.fee, net: S.net)
        return e
    }

    static func adyen(_ row: Row) throws(SettlementReportError) -> SettlementLineReported? {
        typealias A = Adyen
        let type = try row.required(A.type)
        guard let mapped = A.kind(type) else {
            throw row.error(A.type, "\"\(type.prefix(40))\" is not a Type Chronik knows (Settled, Refunded, Chargeback, Fee, MerchantPayout, …)")
        }
        guard let kind = mapped else { return nil }
        let currency = try row.currency(A.netCurrency)
        if row.has(A.grossCurrency), !row.value(A.grossCurrency).trimmedASCII.isEmpty {
            let gc = try row.currency(A.grossCurrency)
            guard gc == currency else {
                throw row.error(A.grossCurrency, "gross currency \(gc) differs from net currency \(currency); converted rows cannot be reconciled")
            }
        }
        let gross = try sum(row, [A.grossCredit], minus: [A.grossDebit], currency: currency)
        var fee = try sum(row, [A.commission, A.markup, A.schemeFees, A.interchange], minus: [], currency: currency)
        let net = try sum(row, [A.netCredit], minus: [A.netDebit], currency: currency)
        // A Fee row often carries its amount only as Net Debit.
        if kind == .fee && gross == 0 && fee == 0 && net < 0 { fee = -net }
        let reference = try row.optionalID(A.merchantReference)
        let e = SettlementLineReported(
            gateway: SettlementGateway.adyen.rawValue, payoutId: try row.id(A.payoutId),
            paidOutAt: try time(row, A.creationDate), kind: kind, gatewayRef: try row.id(A.gatewayRef),
            paymentId: kind == .refund ? nil : reference, refundId: kind == .refund ? reference : nil,
            gross: gross, fee: fee, net: net, currency: currency)
        try check(e, row, fee: A.commission, net: A.netCredit)
        return e
    }

    static func sum(_ row: Row, _ plus: [String], minus: [String], currency: String) throws(SettlementReportError) -> Int64 {
        var total: Int64 = 0
        for (names, sign) in [(plus, Int64(1)), (minus, Int64(-1))] {
            for n in names {
                let v = try row.amount(n, currency: currency, emptyIsZero: true)
                let (t, o) = total.addingReportingOverflow(sign * v)
                guard !o else { throw row.error(n, "the amounts add up beyond 64 bits") }
                total = t
            }
        }
        return total
    }

    /// The rules of the event (fee ≥ 0, net = gross − fee), named by column.
    static func check(_ e: SettlementLineReported, _ row: Row, fee: String, net: String) throws(SettlementReportError) {
        guard e.fee >= 0 else { throw row.error(fee, "the fee must be ≥ 0, got \(CurrencyDecimals.major(e.fee, currency: e.currency))") }
        do { try e.validate() } catch {
            throw row.error(net, "net \(CurrencyDecimals.major(e.net, currency: e.currency)) is not gross \(CurrencyDecimals.major(e.gross, currency: e.currency)) − fee \(CurrencyDecimals.major(e.fee, currency: e.currency))")
        }
    }

    /// RFC 3339, or `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DD` in UTC (Stripe),
    /// or Adyen's date with the row's TimeZone (UTC, GMT, CET, CEST or ±HH:MM).
    static func time(_ row: Row, _ name: String) throws(SettlementReportError) -> Timestamp {
        let v = try row.required(name)
        if let t = Timestamp(rfc3339: v) { return t }
        var s = v
        if s.utf8.count == 10 { s += " 00:00:00" }
        var offset = "Z"
        let zone = row.value(Adyen.timeZone).trimmedASCII
        if !zone.isEmpty {
            switch zone.uppercased() {
            case "UTC", "GMT", "Z": offset = "Z"
            case "CET": offset = "+01:00"
            case "CEST": offset = "+02:00"
            default:
                guard zone.utf8.count == 6, zone.hasPrefix("+") || zone.hasPrefix("-") else {
                    throw row.error(Adyen.timeZone, "\"\(zone.prefix(20))\" is not a time zone Chronik knows (UTC, GMT, CET, CEST, ±HH:MM)")
                }
                offset = zone
            }
        }
        let parts = s.split(separator: " ")
        guard parts.count == 2, let t = Timestamp(rfc3339: "\(parts[0])T\(parts[1])\(offset)") else {
            throw row.error(name, "\"\(v.prefix(40))\" is not a date-time (RFC 3339 or YYYY-MM-DD HH:MM:SS)")
        }
        return t
    }

    /// The lines an Adyen report cannot carry whole: its one reference
    /// column holds a refund row's refundId and any other row's paymentId
    /// (as `settle import` reads it), so a line with the other id too, or
    /// only the other, loses it (stop 35: a chargeback's refundId was
    /// written there and came back as its paymentId, booked to a payment
    /// that does not exist).
    public static func adyenLoses(_ l: SettlementLineReported) -> Bool {
        l.kind == .refund ? l.paymentId != nil : l.refundId != nil
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC when whole seconds, else RFC 3339.
    static func reportTime(_ t: Timestamp) -> String {
        let r = t.rfc3339
        guard t.microseconds % 1_000_000 == 0, r.hasSuffix("Z"), r.utf8.count == 20 else { return r }
        return String(r.prefix(10)) + " " + String(r.dropFirst(11).prefix(8))
    }

    /// The lines as a report of `gateway`: header, then one row per line,
    /// CRLF line ends, columns of `Stripe.exported` / `Adyen.exported`.
    public static func export(_ lines: [SettlementLineReported], gateway: SettlementGateway) -> String {
        var out = ""
        switch gateway {
        case .stripe:
            out += CSV.line(Stripe.exported)
            for l in lines {
                let m = { (v: Int64) in CurrencyDecimals.major(v, currency: l.currency) }
                out += CSV.line([l.payoutId, reportTime(l.paidOutAt), l.gatewayRef, Stripe.category(l.kind),
                                 l.currency.lowercased(), m(l.gross), m(l.fee), m(l.net), l.paymentId ?? "",
                                 l.refundId ?? ""])
            }
        case .adyen:
            out += CSV.line(Adyen.exported)
            for l in lines {
                let m = { (v: Int64) in v == 0 ? "" : CurrencyDecimals.major(v, currency: l.currency) }
                out += CSV.line([l.gatewayRef, Adyen.reference(of: l), l.payoutId, Adyen.type(l.kind),
                                 reportTime(l.paidOutAt), "UTC", l.currency,
                                 m(l.gross < 0 ? -l.gross : 0), m(l.gross > 0 ? l.gross : 0), l.currency,
                                 m(l.net < 0 ? -l.net : 0), m(l.net > 0 ? l.net : 0), m(l.fee), "", "", ""])
            }
        }
        return out
    }
}

extension String {
    /// Without leading and trailing ASCII spaces and tabs.
    var trimmedASCII: String {
        let u = utf8
        guard let first = u.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let last = u.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        return String(self[first...last])
    }
}
