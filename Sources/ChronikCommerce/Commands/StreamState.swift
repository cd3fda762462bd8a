// The state the commerce invariants (EVENTS.md, "Commerce invariants")
// are checked against: one fold per stream, kept small (counts, not
// events), so that a command folds only what was appended since it last
// looked. docs/COMMANDS.md lists every rule and the error it throws.
//
// `check` never changes the state; `apply` folds an event that is in the
// log (or about to be) and never refuses one: history written around the
// guards (the plain `chronik append`) still folds, with sums that saturate
// instead of trapping.

/// Adds without trapping: history may hold sums no guard let through
/// (the read models of ChronikProjections use it too).
@inlinable @inline(__always)
public func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? (b > 0 ? .max : .min) : r
}

/// Subtracts without trapping (see `saturatingAdd`).
@inlinable @inline(__always)
public func saturatingSubtract(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.subtractingReportingOverflow(b)
    return o ? (b > 0 ? .min : .max) : r
}

/// Multiplies without trapping (see `saturatingAdd`).
@inlinable @inline(__always)
public func saturatingMultiply(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? ((a < 0) == (b < 0) ? .max : .min) : r
}

extension Int64 {
    /// `self += b`, saturating instead of trapping: what the read models
    /// fold sums with, so that no history (one written around the guards,
    /// or sums across orders no guard bounds) stops a replay (stop 35: a
    /// capture of Int64.max beside another crashed every money query and
    /// the server's start, for good).
    @inlinable @inline(__always)
    public mutating func addSaturating(_ b: Int64) { self = saturatingAdd(self, b) }

    /// `self -= b`, saturating instead of trapping.
    @inlinable @inline(__always)
    public mutating func subtractSaturating(_ b: Int64) { self = saturatingSubtract(self, b) }
}

/// Inventory of one SKU (`stock-{sku}`), per warehouse.
public struct StockState: Hashable, Sendable {
    /// Per warehouse: Σ Received + Σ Returned + Σ Adjusted.delta − Σ Shipped ± Transferred.
    public private(set) var onHand: [String: Int64] = [:]
    /// Per warehouse, per order: Σ Reserved − Σ Released − Σ Shipped.
    public private(set) var reservedByOrder: [String: [String: Int64]] = [:]

    public init() {}

    /// Units reserved in `warehouse` over all orders.
    public func reserved(in warehouse: String) -> Int64 {
        reservedByOrder[warehouse, default: [:]].values.reduce(0, saturatingAdd)
    }

    /// `onHand − reserved` in `warehouse`.
    public func available(in warehouse: String) -> Int64 {
        saturatingSubtract(onHand[warehouse, default: 0], reserved(in: warehouse))
    }

    /// What `order` still holds reserved in `warehouse`.
    public func reserved(by order: String, in warehouse: String) -> Int64 {
        reservedByOrder[warehouse]?[order] ?? 0
    }

    /// Refuses an event that would break a stock invariant.
    ///
    /// - Throws: `CommerceError` — `insufficientStock` (a reservation above
    ///   available, a transfer or negative adjustment that would take
    ///   reserved or missing units), `overRelease`, `overShipment` (more
    ///   than the order holds reserved in that warehouse).
    public func check(_ event: CommerceEvent) throws(CommerceError) {
        switch event {
        case .stockReserved(let e):
            let available = available(in: e.warehouseId)
            guard e.qty <= available else {
                throw CommerceError(.insufficientStock, field: "data.qty",
                                    "cannot reserve \(e.qty) of \(e.sku) in \(e.warehouseId) for order \(e.orderId): \(max(available, 0)) available")
            }
        case .stockReleased(let e):
            let held = reserved(by: e.orderId, in: e.warehouseId)
            guard e.qty <= held else {
                throw CommerceError(.overRelease, field: "data.qty",
                                    "cannot release \(e.qty) of \(e.sku) in \(e.warehouseId): order \(e.orderId) holds \(held) reserved there")
            }
        case .stockShipped(let e):
            let held = reserved(by: e.orderId, in: e.warehouseId)
            guard e.qty <= held else {
                throw CommerceError(.overShipment, field: "data.qty",
                                    "cannot ship \(e.qty) of \(e.sku) from \(e.warehouseId): order \(e.orderId) holds \(held) reserved there")
            }
        case .stockAdjusted(let e) where e.delta < 0:
            let available = available(in: e.warehouseId)
            // −delta ≤ available keeps both onHand ≥ reserved ≥ 0 and available ≥ 0.
            guard e.delta != .min, -e.delta <= available else {
                throw CommerceError(.insufficientStock, field: "data.delta",
                                    "cannot adjust \(e.sku) in \(e.warehouseId) by \(e.delta): \(max(available, 0)) available (reserved units cannot be adjusted away)")
            }
        case .stockTransferred(let e):
            let available = available(in: e.fromWarehouseId)
            guard e.qty <= available else {
                throw CommerceError(.insufficientStock, field: "data.qty",
                                    "cannot transfer \(e.qty) of \(e.sku) from \(e.fromWarehouseId): \(max(available, 0)) available (reserved units stay)")
            }
        default:
            break
        }
        // A stock that would not fit in 64 bits: the sum would clip and
        // units would vanish (stop 39, a merchandiser: a transfer there
        // and back lost 10 units), where an order's total is refused alike.
        let added: (sku: String, warehouse: String, qty: Int64, field: String)? = switch event {
        case .stockReceived(let e): (e.sku, e.warehouseId, e.qty, "data.qty")
        case .stockReturned(let e): (e.sku, e.warehouseId, e.qty, "data.qty")
        case .stockAdjusted(let e) where e.delta > 0: (e.sku, e.warehouseId, e.delta, "data.delta")
        case .stockTransferred(let e) where e.fromWarehouseId != e.toWarehouseId: (e.sku, e.toWarehouseId, e.qty, "data.qty")
        default: nil
        }
        if let added, onHand[added.warehouse, default: 0].addingReportingOverflow(added.qty).overflow {
            throw CommerceError(.invalidQuantity, field: added.field,
                                "\(added.qty) more of \(added.sku) in \(added.warehouse) would take its stock on hand (\(onHand[added.warehouse, default: 0])) past 9223372036854775807, the most a 64-bit count holds")
        }
    }

    /// Folds one event of the stream.
    public mutating func apply(_ event: CommerceEvent) {
        switch event {
        case .stockReceived(let e): addOnHand(e.warehouseId, e.qty)
        case .stockReturned(let e): addOnHand(e.warehouseId, e.qty)
        case .stockAdjusted(let e): addOnHand(e.warehouseId, e.delta)
        case .stockTransferred(let e):
            addOnHand(e.fromWarehouseId, -e.qty)
            addOnHand(e.toWarehouseId, e.qty)
        case .stockReserved(let e): addReserved(e.warehouseId, e.orderId, e.qty)
        case .stockReleased(let e): addReserved(e.warehouseId, e.orderId, -e.qty)
        case .stockShipped(let e):
            addReserved(e.warehouseId, e.orderId, -e.qty)
            addOnHand(e.warehouseId, -e.qty)
        default: break
        }
    }

    private mutating func addOnHand(_ warehouse: String, _ n: Int64) {
        onHand[warehouse, default: 0] = saturatingAdd(onHand[warehouse, default: 0], n)
    }

    private mutating func addReserved(_ warehouse: String, _ order: String, _ n: Int64) {
        reservedByOrder[warehouse, default: [:]][order, default: 0] =
            saturatingAdd(reservedByOrder[warehouse, default: [:]][order, default: 0], n)
    }
}

/// One order (`order-{orderId}`).
public struct OrderState: Hashable, Sendable {
    /// Sums of one `paymentId`.
    public struct Payment: Hashable, Sendable {
        public var authorized: Int64 = 0
        public var captured: Int64 = 0
        public var refunded: Int64 = 0
    }

    /// Whether the stream holds its `OrderPlaced`.
    public private(set) var isPlaced = false
    public private(set) var customerId: String?
    /// The order's currency: every payment and refund amount is in it.
    public private(set) var currency: String?
    public private(set) var isCancelled = false
    /// Σ qty of every `OrderShipped` line.
    public private(set) var shippedUnits: Int64 = 0
    public private(set) var payments: [String: Payment] = [:]

    public init() {}

    /// Refuses an event that would break an order invariant.
    ///
    /// - Parameter streamExists: whether the order's stream holds any event.
    /// - Throws: `CommerceError` — `orderExists`, `orderNotFound`,
    ///   `orderCancelled`, `orderAlreadyShipped`, `captureWithoutAuthorization`,
    ///   `overCapture`, `refundWithoutCapture`, `overRefund`.
    public func check(_ event: CommerceEvent, streamExists: Bool) throws(CommerceError) {
        guard let type = event.knownType else { return }
        if type == .orderPlaced {
            guard !streamExists else {
                throw CommerceError(.orderExists, field: "data.orderId", "order stream \(event.derivedStream ?? "") already exists")
            }
            return
        }
        guard isPlaced else {
            throw CommerceError(.orderNotFound, field: "data.orderId",
                                "no OrderPlaced in \(event.derivedStream ?? "the order stream"): every other order event needs the order")
        }
        switch event {
        case .orderShipped(let e):
            guard !isCancelled else {
                throw CommerceError(.orderCancelled, field: "data.orderId", "order \(e.orderId) is cancelled; it cannot ship")
            }
        case .orderCancelled(let e):
            guard shippedUnits == 0 else {
                throw CommerceError(.orderAlreadyShipped, field: "data.orderId",
                                    "order \(e.orderId) has shipped \(shippedUnits) unit(s); it can no longer be cancelled")
            }
        case .paymentAuthorized(let e):
            // Σ authorized of a payment must fit 64 bits: it saturated, and a
            // capture of Int64.max beside another then passed `overCapture`
            // and crashed every read model that summed it (stop 35).
            guard !(payments[e.paymentId]?.authorized ?? 0).addingReportingOverflow(e.amount).overflow else {
                throw CommerceError(.invalidAmount, field: "data.amount",
                                    "authorizing \(Money.text(e.amount, currency ?? "")) more would take payment \(e.paymentId) beyond 64 bits of minor units")
            }
        case .paymentCaptured(let e):
            guard let p = payments[e.paymentId], p.authorized > 0 else {
                throw CommerceError(.captureWithoutAuthorization, field: "data.paymentId",
                                    "payment \(e.paymentId) of order \(e.orderId) was never authorized")
            }
            let c = currency ?? ""
            guard saturatingAdd(p.captured, e.amount) <= p.authorized else {
                throw CommerceError(.overCapture, field: "data.amount",
                                    "capturing \(Money.text(e.amount, c)) would take payment \(e.paymentId) to \(Money.text(saturatingAdd(p.captured, e.amount), c)), above the \(Money.text(p.authorized, c)) authorized")
            }
            // The order's captured amount (Σ over its payments) must fit 64
            // bits too: the orders model sums it (stop 35).
            var order = e.amount, overflow = false
            for q in payments.values where !overflow { (order, overflow) = order.addingReportingOverflow(q.captured) }
            guard !overflow else {
                throw CommerceError(.invalidAmount, field: "data.amount",
                                    "capturing \(Money.text(e.amount, c)) more would take order \(e.orderId)'s captured amount beyond 64 bits of minor units")
            }
        case .refundIssued(let e):
            guard let p = payments[e.paymentId], p.captured > 0 else {
                throw CommerceError(.refundWithoutCapture, field: "data.paymentId",
                                    "payment \(e.paymentId) of order \(e.orderId) has nothing captured to refund")
            }
            let c = currency ?? ""
            guard saturatingAdd(p.refunded, e.amount) <= p.captured else {
                throw CommerceError(.overRefund, field: "data.amount",
                                    "refunding \(Money.text(e.amount, c)) would take payment \(e.paymentId) to \(Money.text(saturatingAdd(p.refunded, e.amount), c)), above the \(Money.text(p.captured, c)) captured")
            }
        default:
            break
        }
    }

    /// Folds one event of the stream.
    public mutating func apply(_ event: CommerceEvent) {
        switch event {
        case .orderPlaced(let e):
            // The first placement counts; a second one can only come from
            // history written around the guards.
            if !isPlaced {
                isPlaced = true
                customerId = e.customerId
                currency = e.currency
            }
        case .paymentAuthorized(let e):
            payments[e.paymentId, default: Payment()].authorized = saturatingAdd(payments[e.paymentId]?.authorized ?? 0, e.amount)
        case .paymentCaptured(let e):
            payments[e.paymentId, default: Payment()].captured = saturatingAdd(payments[e.paymentId]?.captured ?? 0, e.amount)
        case .refundIssued(let e):
            payments[e.paymentId, default: Payment()].refunded = saturatingAdd(payments[e.paymentId]?.refunded ?? 0, e.amount)
        case .orderCancelled: isCancelled = true
        case .orderShipped(let e):
            for l in e.lines { shippedUnits = saturatingAdd(shippedUnits, l.qty) }
        default: break
        }
    }
}

/// One customer (`customer-{customerId}`): only what the guards need.
public struct CustomerState: Hashable, Sendable {
    /// Whether a `CustomerForgotten` is in the stream.
    public private(set) var isForgotten = false

    public init() {}

    /// Refuses any event for a forgotten customer.
    public func check(customerId: String, field: String) throws(CommerceError) {
        guard !isForgotten else {
            throw CommerceError(.customerForgotten, field: field,
                                "customer \(customerId) is forgotten (CustomerForgotten); the id takes no further events")
        }
    }

    public mutating func apply(_ event: CommerceEvent) {
        if case .customerForgotten = event { isForgotten = true }
    }
}

/// The folded state of one stream, whatever its kind.
public enum StreamState: Hashable, Sendable {
    case stock(StockState)
    case order(OrderState)
    case customer(CustomerState)
    /// A stream no invariant reads (sessions, products, …).
    case unguarded

    /// The empty state of `stream`, by its prefix (EVENTS.md, Streams).
    public init(emptyFor stream: String) {
        if stream.hasPrefix("stock-") { self = .stock(StockState()) }
        else if stream.hasPrefix("order-") { self = .order(OrderState()) }
        else if stream.hasPrefix("customer-") { self = .customer(CustomerState()) }
        else { self = .unguarded }
    }

    /// Folds one event of the stream.
    public mutating func apply(_ event: CommerceEvent) {
        // `self` is emptied before the payload changes, so that the payload's
        // dictionaries are uniquely referenced and change in place rather
        // than being copied for every event.
        switch self {
        case .stock(var s): self = .unguarded; s.apply(event); self = .stock(s)
        case .order(var s): self = .unguarded; s.apply(event); self = .order(s)
        case .customer(var s): self = .unguarded; s.apply(event); self = .customer(s)
        case .unguarded: break
        }
    }

    /// Refuses an event that would break an invariant of this stream (not
    /// the cross-stream forgotten-customer rule: see `customerReference`).
    public func check(_ event: CommerceEvent, streamExists: Bool) throws(CommerceError) {
        switch self {
        case .stock(let s): try s.check(event)
        case .order(let s): try s.check(event, streamExists: streamExists)
        case .customer(let s):
            // Anything on a forgotten customer's stream, unknown types too.
            let id = event.customerReference?.customerId ?? "in stream"
            try s.check(customerId: id, field: "data.customerId")
        case .unguarded:
            // An order event is always on an order stream; nothing else here.
            break
        }
    }
}

extension CommerceEvent {
    /// The customer an event names, for the rule "after CustomerForgotten
    /// the customer id takes no further events": every event of the
    /// customer's stream, `OrderPlaced` and `SessionStarted` with a
    /// customerId. Events that only reach a customer through an order
    /// (payments, shipments…) are not covered: the rest of a forgotten
    /// customer's history stays usable (EVENTS.md, GDPR).
    public var customerReference: (customerId: String, stream: String)? {
        switch self {
        case .customerRegistered(let e): (e.customerId, e.stream)
        case .customerUpdated(let e): (e.customerId, e.stream)
        case .addressChanged(let e): (e.customerId, e.stream)
        case .consentChanged(let e): (e.customerId, e.stream)
        case .paymentMethodAdded(let e): (e.customerId, e.stream)
        case .supportInteraction(let e): (e.customerId, e.stream)
        case .customerForgotten(let e): (e.customerId, e.stream)
        case .orderPlaced(let e): (e.customerId, "customer-" + e.customerId)
        case .sessionStarted(let e): e.customerId.map { ($0, "customer-" + $0) }
        default: nil
        }
    }
}
