import ChronikLog
import ChronikCommerce

/// One customer as the CRM model answers for it. No personal data: the
/// profile (name, email, phone, address) is read from the customer's
/// stream at query time, never kept here.
public struct CustomerRecord: Sendable, Equatable {
    public var customerId: String
    public var registered: Bool
    public var registeredAt: Timestamp?
    /// Number of OrderPlaced, cancelled orders included.
    public var orders: Int
    /// Σ over the customer's orders (captured − refunded), per currency;
    /// a currency appears once the customer has an order in it.
    public var lifetimeValue: CurrencyAmounts
    /// The `time` of the first and last OrderPlaced, in log order.
    public var firstOrderAt: Timestamp?
    public var lastOrderAt: Timestamp?
    /// Order ids in log order.
    public var orderIds: [String]
    /// Number of SupportInteraction.
    public var interactions: Int
    /// The latest of CustomerRegistered.marketingConsent and ConsentChanged;
    /// nil when neither was seen.
    public var marketingConsent: Bool?
    public var paymentMethods: Int
    /// A CustomerForgotten was appended (its PII reads as erased).
    public var forgotten: Bool
    public var rfm: RFM
}

/// The recency/frequency/monetary segment (the project's own design, see
/// docs/PROJECTIONS.md). Recency is measured against the `time` of the
/// latest OrderPlaced of the whole log, so the answer depends on the log
/// alone, never on the clock.
public struct RFM: Sendable, Equatable {
    /// 3: last order ≤ 30 days before the reference, 2: ≤ 90, 1: older; 0 without orders.
    public var recency: Int
    /// 3: ≥ 5 orders, 2: ≥ 2, 1: one; 0 without orders.
    public var frequency: Int
    /// 3: net ≥ 50 000 minor units (all currencies added), 2: ≥ 10 000, 1: less; 0 without orders.
    public var monetary: Int
    /// `prospect`, `champion`, `loyal`, `new`, `at_risk`, `lost` or `promising`.
    public var segment: String

    static func of(orders: Int, lastOrderAt: Timestamp?, net: Int64, reference: Timestamp?) -> RFM {
        guard orders > 0, let last = lastOrderAt, let reference else {
            return RFM(recency: 0, frequency: 0, monetary: 0, segment: "prospect")
        }
        let days = (reference.microseconds - last.microseconds) / 86_400_000_000
        let r = days <= 30 ? 3 : days <= 90 ? 2 : 1
        let f = orders >= 5 ? 3 : orders >= 2 ? 2 : 1
        let m = net >= 50_000 ? 3 : net >= 10_000 ? 2 : 1
        let segment: String
        if r == 3 && f == 3 { segment = "champion" }
        else if r >= 2 && f >= 2 { segment = "loyal" }
        else if r == 3 && f == 1 { segment = "new" }
        else if r == 1 && f >= 2 { segment = "at_risk" }
        else if r == 1 { segment = "lost" }
        else { segment = "promising" }
        return RFM(recency: r, frequency: f, monetary: m, segment: segment)
    }
}

/// Customers: orders, lifetime value, order history, interactions,
/// consent, RFM segment. Depends on the orders model for the amounts.
///
/// A customer is known from any event naming its id (registration, order,
/// consent, support, payment method).
public final class CRMProjector: SnapshottableProjector {
    public let name = "crm"
    public let snapshotVersion: UInt32 = 1
    public let orders: OrdersProjector

    struct Customer {
        var registeredAt: Timestamp?
        /// The first order's id is kept in the entry, the later ones in an
        /// array: most of a shop's customers order once, and an array per
        /// customer cost an allocation on the first order and a cache miss
        /// on its storage at each one after (stop 46).
        var firstOrderId: String?
        var laterOrderIds: [String] = []
        /// Every order's id, in placement order.
        var orderIds: [String] { firstOrderId.map { [$0] + laterOrderIds } ?? [] }

        /// The same without making an array of them.
        func forEachOrderId(_ body: (String) -> Void) {
            guard let firstOrderId else { return }
            body(firstOrderId)
            for id in laterOrderIds { body(id) }
        }
        var firstOrderAt: Timestamp?
        var lastOrderAt: Timestamp?
        var interactions = 0
        var consent: UInt8 = 2  // 0 false, 1 true, 2 unknown
        var paymentMethods = 0
        var forgotten = false
    }

    @exclusivity(unchecked)
    var customers: [IDKey: Customer] = [:]
    /// The `time` of the latest OrderPlaced in log order: RFM's reference.
    @exclusivity(unchecked)
    var latestOrderAt: Timestamp?

    public init(orders: OrdersProjector) { self.orders = orders }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .customerRegistered(let c):
            Self.register(&customers[IDKey(c.customerId), default: Customer()], at: e.occurredAt, consent: c.marketingConsent)
        case .consentChanged(let c):
            customers[IDKey(c.customerId), default: Customer()].consent = c.marketingConsent ? 1 : 0
        case .supportInteraction(let s):
            customers[IDKey(s.customerId), default: Customer()].interactions += 1
        case .paymentMethodAdded(let p):
            customers[IDKey(p.customerId), default: Customer()].paymentMethods += 1
        case .customerForgotten(let c):
            customers[IDKey(c.customerId), default: Customer()].forgotten = true
        case .orderPlaced(let o):
            // Only the OrderPlaced the orders model kept (not a repeat of an id).
            guard orders.kept(placement: o.orderId, at: e.position.value) else { return }
            Self.addOrder(o.orderId, at: e.occurredAt, to: &customers[IDKey(o.customerId), default: Customer()])
            latestOrderAt = e.occurredAt
        default: break
        }
    }

    // One hash of the customer id per event: the record is changed in
    // place through the dictionary's `default:` subscript.
    @inline(__always)
    private static func register(_ c: inout Customer, at time: Timestamp, consent: Bool) {
        c.registeredAt = time
        c.consent = consent ? 1 : 0
    }

    @inline(__always)
    private static func addOrder(_ orderId: String, at time: Timestamp, to c: inout Customer) {
        if c.firstOrderId == nil { c.firstOrderId = orderId } else { c.laterOrderIds.append(orderId) }
        if c.firstOrderAt == nil { c.firstOrderAt = time }
        c.lastOrderAt = time
    }

    public func customer(_ id: String) -> CustomerRecord? {
        guard let c = customers[IDKey(id)] else { return nil }
        let orderIds = c.orderIds
        var ltv: CurrencyAmounts = [:]
        var net: Int64 = 0
        for oid in orderIds {
            guard let o = orders.order(oid) else { continue }
            ltv[o.currency, default: 0].addSaturating(saturatingSubtract(o.captured, o.refunded))
            net.addSaturating(saturatingSubtract(o.captured, o.refunded))
        }
        return CustomerRecord(
            customerId: id, registered: c.registeredAt != nil, registeredAt: c.registeredAt, orders: orderIds.count,
            lifetimeValue: ltv, firstOrderAt: c.firstOrderAt, lastOrderAt: c.lastOrderAt, orderIds: orderIds,
            interactions: c.interactions, marketingConsent: c.consent == 2 ? nil : c.consent == 1,
            paymentMethods: c.paymentMethods, forgotten: c.forgotten,
            rfm: .of(orders: orderIds.count, lastOrderAt: c.lastOrderAt, net: net, reference: latestOrderAt))
    }

    /// Every customer id the model knows, sorted, split by whether a
    /// `CustomerForgotten` named them: what `chronik serve` checks its key
    /// store against at start (`LogKeyStore.reconcile`).
    public func customerIds() -> (forgotten: [String], notForgotten: [String]) {
        var forgotten: [String] = [], others: [String] = []
        for (id, c) in customers { if c.forgotten { forgotten.append(id.string) } else { others.append(id.string) } }
        return (forgotten.sorted(), others.sorted())
    }

    /// The currency most orders are in (ties: alphabetical), nil without orders.
    public func mainCurrency() -> String? {
        var counts: [String: Int] = [:]
        for o in orders.orders.values { counts[o.currency, default: 0] += 1 }
        return counts.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }?.key
    }

    /// The `n` customers with the highest lifetime value in `currency`
    /// (default: `mainCurrency()`), ties by customerId ascending.
    public func top(_ n: Int, currency: String? = nil) -> [CustomerRecord] { ranked(n, currency: currency).top }

    /// `top`, and how many customers it ranked (those with an order in the
    /// currency): what a list cut at `n` says it left out.
    public func ranked(_ n: Int, currency: String? = nil) -> (top: [CustomerRecord], ranked: Int) {
        guard let cur = currency ?? mainCurrency() else { return ([], 0) }
        var ranked: [(String, Int64)] = []
        for (id, c) in customers where c.firstOrderId != nil {
            var v: Int64 = 0
            var has = false
            c.forEachOrderId { oid in
                guard let o = orders.order(oid), o.currency == cur else { return }
                v.addSaturating(saturatingSubtract(o.captured, o.refunded))
                has = true
            }
            if has { ranked.append((id.string, v)) }
        }
        ranked.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        return (ranked.prefix(max(0, n)).compactMap { customer($0.0) }, ranked.count)
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(customers, key: { $0.string($1.string) }, value: { w, c in
            w.optionalTimestamp(c.registeredAt)
            w.array(c.orderIds) { $0.string($1) }
            w.optionalTimestamp(c.firstOrderAt)
            w.optionalTimestamp(c.lastOrderAt)
            w.int(c.interactions)
            w.uint(UInt64(c.consent))
            w.int(c.paymentMethods)
            w.bool(c.forgotten)
        })
        w.optionalTimestamp(latestOrderAt)
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        customers = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in IDKey(try r.string()) },
                                     value: { (r: inout R) throws(ProjectionError) in
            var c = Customer()
            c.registeredAt = try r.optionalTimestamp()
            let orderIds = try r.array(str)
            c.firstOrderId = orderIds.first
            c.laterOrderIds = Array(orderIds.dropFirst())
            c.firstOrderAt = try r.optionalTimestamp()
            c.lastOrderAt = try r.optionalTimestamp()
            c.interactions = try r.int()
            let consent = try r.uint()
            guard consent <= 2 else { throw ProjectionError(.badSnapshot, "crm: bad consent value \(consent)") }
            c.consent = UInt8(consent)
            c.paymentMethods = try r.int()
            c.forgotten = try r.bool()
            return c
        })
        latestOrderAt = try r.optionalTimestamp()
    }
}

extension CRMProjector: GrowsWithLog {
    func reserve(growth: Double) { customers.reserve(growth: growth) }
}

extension CRMProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.customerRegistered, .consentChanged, .supportInteraction, .paymentMethodAdded, .customerForgotten, .orderPlaced] }
}
