import ChronikLog
import ChronikCommerce

/// The reconciliation status of one payment (EVENTS.md v1.2), the first
/// that holds in this order.
public enum ReconciliationStatus: String, Sendable, CaseIterable {
    case unknown, duplicate, mismatch, matched, unsettled
}

/// One payment as reconciliation sees it: what the shop recorded against
/// what the gateway settled.
public struct PaymentReconciliation: Sendable, Equatable {
    public var paymentId: String
    /// The order of its first PaymentAuthorized or PaymentCaptured; nil
    /// when only settlement lines name the payment.
    public var orderId: String?
    /// The gateway of its first PaymentAuthorized (else of its first
    /// settlement line).
    public var gateway: String?
    /// The order's currency, else the currency of its first settlement line.
    public var currency: String?
    /// Σ PaymentCaptured.amount.
    public var captured: Int64
    /// Σ gross of its `charge` lines.
    public var settled: Int64
    /// Σ RefundIssued.amount.
    public var refunded: Int64
    /// −Σ gross of its `refund` lines.
    public var refundSettled: Int64
    /// Σ fee of all its lines.
    public var fees: Int64
    /// −Σ gross of its `chargeback` lines.
    public var chargebacks: Int64
    public var captures: Int
    public var chargeLines: Int
    public var refundLines: Int
    public var lines: Int
    /// The `time` of its first PaymentCaptured.
    public var firstCapturedAt: Timestamp?
    /// The payouts its lines are in, in first-seen order.
    public var payouts: [String]
    public var status: ReconciliationStatus
    /// Unsettled and its first capture is more than 7 days before the
    /// latest `paidOutAt` of its gateway.
    public var overdue: Bool
}

/// Sums of a payout or a day, per currency.
public struct SettlementTotals: Sendable, Equatable {
    public var gross: Int64 = 0
    public var fees: Int64 = 0
    public var net: Int64 = 0
    public var lines = 0
}

/// One payout: `payout-{gateway}-{payoutId}`.
public struct PayoutSummary: Sendable, Equatable {
    public var gateway: String
    public var payoutId: String
    /// The `paidOutAt` of its latest line (log order).
    public var paidOutAt: Timestamp
    public var gross: Int64
    public var fees: Int64
    public var net: Int64
    public var lines: Int
    public var byCurrency: [String: SettlementTotals]
}

/// Fees and net of one UTC day of `paidOutAt`, in one currency.
public struct SettlementDay: Sendable, Equatable {
    public var day: Day
    public var currency: String
    public var fees: Int64
    public var net: Int64
    public var lines: Int
}

/// Counts per status and fees, for the dashboard.
public struct ReconciliationSummary: Sendable, Equatable {
    public var counts: [ReconciliationStatus: Int]
    public var overdue: Int
    public var fees: CurrencyAmounts
    public var net: CurrencyAmounts
    public var payouts: Int
    /// Settlement lines that name no payment the model can find (fees,
    /// adjustments, a refund line whose refundId no RefundIssued names).
    public var unattributedLines: Int
}

/// Reconciliation: each payment captured or settled, its status against
/// the gateway's settlement lines, per payout and per day (EVENTS.md v1.2).
///
/// A line that names only a `refundId` belongs to the payment of the
/// RefundIssued with that refundId, resolved when asked (so the order of
/// the two in the log does not matter). The order's currency comes from
/// the orders model (a dependency).
public final class ReconciliationProjector: SnapshottableProjector {
    public let name = "reconciliation"
    public let snapshotVersion: UInt32 = 2  // 2: Tally.mixedCurrencies (stop 35)
    public let orders: OrdersProjector

    /// What one payment (or one refundId with no payment yet) has seen.
    struct Tally: Equatable {
        var orderId: String?
        var gateway: String?
        var lineCurrency: String?
        /// Its lines are not all in one currency.
        var mixedCurrencies = false
        /// A PaymentAuthorized was seen: its gateway is the payment's.
        var authorized = false
        var captured: Int64 = 0
        var captures = 0
        var firstCapturedAt: Timestamp?
        var refunded: Int64 = 0
        var settled: Int64 = 0
        var chargeLines = 0
        var refundSettled: Int64 = 0
        var refundLines = 0
        var fees: Int64 = 0
        var chargebacks: Int64 = 0
        var lines = 0
        var payouts: [String] = []

        mutating func authorize(_ a: PaymentAuthorized) {
            if orderId == nil { orderId = a.orderId }
            if !authorized { gateway = a.gateway }
            authorized = true
        }

        mutating func capture(_ c: PaymentCaptured, at time: Timestamp) {
            if orderId == nil { orderId = c.orderId }
            captured = saturatingAdd(captured, c.amount)
            captures += 1
            if firstCapturedAt == nil { firstCapturedAt = time }
        }

        mutating func refund(_ amount: Int64) { refunded = saturatingAdd(refunded, amount) }

        mutating func add(_ l: SettlementLineReported) {
            lines += 1
            fees = saturatingAdd(fees, l.fee)
            switch l.kind {
            case .charge:
                chargeLines += 1
                settled = saturatingAdd(settled, l.gross)
            case .refund:
                refundLines += 1
                refundSettled = saturatingSubtract(refundSettled, l.gross)
            case .chargeback:
                chargebacks = saturatingSubtract(chargebacks, l.gross)
            case .fee, .adjustment:
                break
            }
            if gateway == nil { gateway = l.gateway }
            if lineCurrency == nil { lineCurrency = l.currency } else if lineCurrency != l.currency { mixedCurrencies = true }
            if !payouts.contains(l.payoutId) { payouts.append(l.payoutId) }
        }

        mutating func merge(_ o: Tally) {
            settled = saturatingAdd(settled, o.settled)
            chargeLines += o.chargeLines
            refundSettled = saturatingAdd(refundSettled, o.refundSettled)
            refundLines += o.refundLines
            fees = saturatingAdd(fees, o.fees)
            chargebacks = saturatingAdd(chargebacks, o.chargebacks)
            lines += o.lines
            if gateway == nil { gateway = o.gateway }
            if o.mixedCurrencies || (lineCurrency != nil && o.lineCurrency != nil && lineCurrency != o.lineCurrency) { mixedCurrencies = true }
            if lineCurrency == nil { lineCurrency = o.lineCurrency }
            for p in o.payouts where !payouts.contains(p) { payouts.append(p) }
        }
    }

    struct PayoutKey: Hashable, Comparable {
        var gateway: String
        var payoutId: String
        static func < (a: PayoutKey, b: PayoutKey) -> Bool {
            a.gateway != b.gateway ? a.gateway < b.gateway : a.payoutId < b.payoutId
        }
    }

    struct DayKey: Hashable, Comparable {
        var day: Day
        var currency: String
        static func < (a: DayKey, b: DayKey) -> Bool {
            a.day != b.day ? a.day < b.day : a.currency < b.currency
        }
    }

    @exclusivity(unchecked)
    var payments: [IDKey: Tally] = [:]
    /// Lines that name a refundId but no paymentId, by refundId.
    @exclusivity(unchecked)
    var byRefund: [IDKey: Tally] = [:]
    /// refundId → paymentId of RefundIssued (only refunds some line names
    /// without a paymentId need it, but the line may come later).
    @exclusivity(unchecked)
    var refundPayment: [String: String] = [:]
    @exclusivity(unchecked)
    var payouts: [PayoutKey: (paidOutAt: Timestamp, totals: [String: SettlementTotals])] = [:]
    @exclusivity(unchecked)
    var days: [DayKey: SettlementTotals] = [:]
    /// Per gateway, the `paidOutAt` of its latest settlement line (log order).
    @exclusivity(unchecked)
    var latestPaidOut: [String: Timestamp] = [:]
    /// Lines with neither paymentId nor refundId (fees, adjustments).
    @exclusivity(unchecked)
    var unattributed = 0

    public init(orders: OrdersProjector) { self.orders = orders }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .paymentAuthorized(let a):
            // The first authorization names the gateway; a settlement line
            // seen earlier only stood in for it.
            payments[IDKey(a.paymentId), default: Tally()].authorize(a)
        case .paymentCaptured(let c):
            payments[IDKey(c.paymentId), default: Tally()].capture(c, at: e.occurredAt)
        case .refundIssued(let r):
            payments[IDKey(r.paymentId), default: Tally()].refund(r.amount)
            if refundPayment[r.refundId] == nil { refundPayment[r.refundId] = r.paymentId }
        case .settlementLineReported(let l):
            fold(l)
        default:
            break
        }
    }

    func fold(_ l: SettlementLineReported) {
        if let p = l.paymentId {
            payments[IDKey(p), default: Tally()].add(l)
        } else if let r = l.refundId {
            byRefund[IDKey(r), default: Tally()].add(l)
        } else {
            unattributed += 1
        }
        let key = PayoutKey(gateway: l.gateway, payoutId: l.payoutId)
        var payout = payouts[key] ?? (l.paidOutAt, [:])
        payout.paidOutAt = l.paidOutAt
        payout.totals[l.currency, default: SettlementTotals()].add(l)
        payouts[key] = payout
        days[DayKey(day: Day(l.paidOutAt), currency: l.currency), default: SettlementTotals()].add(l)
        latestPaidOut[l.gateway] = l.paidOutAt
    }

    /// Every payment captured or settled, sorted by paymentId.
    public func all() -> [PaymentReconciliation] {
        var merged = payments
        for (refundId, t) in byRefund {
            if let p = refundPayment[refundId.string] {
                merged[IDKey(p), default: Tally()].merge(t)
            }
        }
        return merged.compactMap { id, t in
            // Only authorized or refunded, never captured nor settled: not
            // a payment reconciliation follows.
            guard t.captures > 0 || t.lines > 0 else { return nil }
            return record(id.string, t)
        }.sorted { $0.paymentId < $1.paymentId }
    }

    /// What `query reconciliation --status` and `?status=` take: a status,
    /// or `overdue`.
    public static let statusFilters = ReconciliationStatus.allCases.map(\.rawValue) + ["overdue"]

    /// The payments `status` (one of `statusFilters`) names; all when nil.
    public func all(status: String?) -> [PaymentReconciliation] {
        guard let status else { return all() }
        return all().filter { status == "overdue" ? $0.overdue : $0.status.rawValue == status }
    }

    /// Lines naming only a refundId that no RefundIssued names.
    var orphanRefundLines: Int {
        byRefund.reduce(0) { $0 + (refundPayment[$1.key.string] == nil ? $1.value.lines : 0) }
    }

    public func payment(_ id: String) -> PaymentReconciliation? { all().first { $0.paymentId == id } }

    func record(_ id: String, _ t: Tally) -> PaymentReconciliation {
        let orderCurrency = t.orderId.flatMap { orders.currency(of: $0) }
        let status = Self.status(t, orderCurrency: orderCurrency)
        var overdue = false
        if status == .unsettled, let first = t.firstCapturedAt, let g = t.gateway, let latest = latestPaidOut[g] {
            overdue = latest.microseconds - first.microseconds > 7 * 86_400_000_000
        }
        let currency = orderCurrency ?? t.lineCurrency
        return PaymentReconciliation(
            paymentId: id, orderId: t.orderId, gateway: t.gateway, currency: currency,
            captured: t.captured, settled: t.settled, refunded: t.refunded, refundSettled: t.refundSettled,
            fees: t.fees, chargebacks: t.chargebacks, captures: t.captures, chargeLines: t.chargeLines,
            refundLines: t.refundLines, lines: t.lines, firstCapturedAt: t.firstCapturedAt, payouts: t.payouts,
            status: status, overdue: overdue)
    }

    /// The rules of EVENTS.md v1.2, the first that holds. A payment with
    /// a line in another currency than its order's (or lines in several)
    /// is a `mismatch` too (Chronik's, stop 35: a USD line "matched" a EUR
    /// capture when it came before the order, which the guards cannot
    /// see; docs/PROJECTIONS.md).
    static func status(_ t: Tally, orderCurrency: String?) -> ReconciliationStatus {
        if t.lines > 0 && t.captures == 0 { return .unknown }
        if t.chargeLines > t.captures { return .duplicate }
        let foreign = t.mixedCurrencies || (orderCurrency != nil && t.lineCurrency != nil && t.lineCurrency != orderCurrency)
        if foreign || (t.chargeLines > 0 && t.settled != t.captured) || (t.refundLines > 0 && t.refundSettled != t.refunded) {
            return .mismatch
        }
        if t.chargeLines > 0 && t.settled == t.captured && t.refundSettled == t.refunded { return .matched }
        return .unsettled
    }

    /// Payouts sorted by gateway then payoutId.
    public func payoutList() -> [PayoutSummary] {
        payouts.keys.sorted().map { k in
            let p = payouts[k]!
            var s = PayoutSummary(gateway: k.gateway, payoutId: k.payoutId, paidOutAt: p.paidOutAt, gross: 0, fees: 0,
                                  net: 0, lines: 0, byCurrency: p.totals)
            for t in p.totals.values {
                s.gross = saturatingAdd(s.gross, t.gross)
                s.fees = saturatingAdd(s.fees, t.fees)
                s.net = saturatingAdd(s.net, t.net)
                s.lines += t.lines
            }
            return s
        }
    }

    /// The payouts with this payoutId (of any gateway).
    public func payouts(id: String) -> [PayoutSummary] { payoutList().filter { $0.payoutId == id } }

    /// Per UTC day of `paidOutAt` and currency, by day then currency.
    public func dayList() -> [SettlementDay] {
        days.keys.sorted().map { k in
            let t = days[k]!
            return SettlementDay(day: k.day, currency: k.currency, fees: t.fees, net: t.net, lines: t.lines)
        }
    }

    public func summary() -> ReconciliationSummary {
        var counts: [ReconciliationStatus: Int] = [:]
        for s in ReconciliationStatus.allCases { counts[s] = 0 }
        var overdue = 0
        for p in all() {
            counts[p.status, default: 0] += 1
            if p.overdue { overdue += 1 }
        }
        var fees: CurrencyAmounts = [:]
        var net: CurrencyAmounts = [:]
        for (k, t) in days {
            fees[k.currency, default: 0] = saturatingAdd(fees[k.currency, default: 0], t.fees)
            net[k.currency, default: 0] = saturatingAdd(net[k.currency, default: 0], t.net)
        }
        return ReconciliationSummary(counts: counts, overdue: overdue, fees: fees, net: net, payouts: payouts.count,
                                     unattributedLines: unattributed + orphanRefundLines)
    }

    // MARK: Snapshot

    static func write(_ t: Tally, _ w: inout SnapshotWriter) {
        w.optionalString(t.orderId)
        w.optionalString(t.gateway)
        w.optionalString(t.lineCurrency)
        w.bool(t.authorized)
        w.int(t.captured)
        w.int(t.captures)
        w.optionalTimestamp(t.firstCapturedAt)
        w.int(t.refunded)
        w.int(t.settled)
        w.int(t.chargeLines)
        w.int(t.refundSettled)
        w.int(t.refundLines)
        w.int(t.fees)
        w.int(t.chargebacks)
        w.int(t.lines)
        w.array(t.payouts) { $0.string($1) }
        w.bool(t.mixedCurrencies)
    }

    static func read(_ r: inout SnapshotReader) throws(ProjectionError) -> Tally {
        var t = Tally()
        t.orderId = try r.optionalString()
        t.gateway = try r.optionalString()
        t.lineCurrency = try r.optionalString()
        t.authorized = try r.bool()
        t.captured = try r.int64()
        t.captures = try r.int()
        t.firstCapturedAt = try r.optionalTimestamp()
        t.refunded = try r.int64()
        t.settled = try r.int64()
        t.chargeLines = try r.int()
        t.refundSettled = try r.int64()
        t.refundLines = try r.int()
        t.fees = try r.int64()
        t.chargebacks = try r.int64()
        t.lines = try r.int()
        t.payouts = try r.array { (r: inout SnapshotReader) throws(ProjectionError) in try r.string() }
        t.mixedCurrencies = try r.bool()
        return t
    }

    static func write(_ t: SettlementTotals, _ w: inout SnapshotWriter) {
        w.int(t.gross)
        w.int(t.fees)
        w.int(t.net)
        w.int(t.lines)
    }

    static func readTotals(_ r: inout SnapshotReader) throws(ProjectionError) -> SettlementTotals {
        SettlementTotals(gross: try r.int64(), fees: try r.int64(), net: try r.int64(), lines: try r.int())
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(payments, key: { $0.string($1.string) }, value: { Self.write($1, &$0) })
        w.dictionary(byRefund, key: { $0.string($1.string) }, value: { Self.write($1, &$0) })
        w.dictionary(refundPayment, key: { $0.string($1) }, value: { $0.string($1) })
        w.dictionary(payouts, key: { w, k in w.string(k.gateway); w.string(k.payoutId) }, value: { w, p in
            w.timestamp(p.paidOutAt)
            w.dictionary(p.totals, key: { $0.string($1) }, value: { Self.write($1, &$0) })
        })
        w.dictionary(days, key: { w, k in w.int(k.day.daysSinceEpoch); w.string(k.currency) },
                     value: { Self.write($1, &$0) })
        w.dictionary(latestPaidOut, key: { $0.string($1) }, value: { $0.timestamp($1) })
        w.int(unattributed)
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        let tally = { (r: inout R) throws(ProjectionError) -> Tally in try Self.read(&r) }
        let totals = { (r: inout R) throws(ProjectionError) -> SettlementTotals in try Self.readTotals(&r) }
        let id = { (r: inout R) throws(ProjectionError) -> IDKey in IDKey(try r.string()) }
        payments = try r.dictionary(key: id, value: tally)
        byRefund = try r.dictionary(key: id, value: tally)
        refundPayment = try r.dictionary(key: str, value: str)
        payouts = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in
            PayoutKey(gateway: try r.string(), payoutId: try r.string())
        }, value: { (r: inout R) throws(ProjectionError) in
            (paidOutAt: try r.timestamp(), totals: try r.dictionary(key: str, value: totals))
        })
        days = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in
            DayKey(day: Day(daysSinceEpoch: try r.int64()), currency: try r.string())
        }, value: totals)
        latestPaidOut = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in try r.timestamp() })
        unattributed = try r.int()
    }
}

extension SettlementTotals {
    mutating func add(_ l: SettlementLineReported) {
        gross = saturatingAdd(gross, l.gross)
        fees = saturatingAdd(fees, l.fee)
        net = saturatingAdd(net, l.net)
        lines += 1
    }
}

extension ReconciliationProjector: GrowsWithLog {
    func reserve(growth: Double) {
        payments.reserve(growth: growth)
        refundPayment.reserve(growth: growth)
    }
}

extension ReconciliationProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] {
        [.paymentAuthorized, .paymentCaptured, .refundIssued, .settlementLineReported]
    }
}
