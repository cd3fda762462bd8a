import ChronikLog
import ChronikCommerce

/// `financialStatus` of an order (EVENTS.md, Read-model semantics).
public enum FinancialStatus: String, Sendable, CaseIterable {
    case voided, refunded, partiallyRefunded = "partially_refunded", paid, partiallyPaid = "partially_paid",
         authorized, failed, pending
}

/// `fulfillmentStatus` of an order.
public enum FulfillmentStatus: String, Sendable, CaseIterable {
    case cancelled, delivered, shipped, partial, unfulfilled
}

/// A shipment of an order: shipped (OrderShipped seen) and delivered
/// (OrderDelivered seen), matched by shipmentId whatever their order.
public struct ShipmentState: Sendable, Equatable {
    public var id: String
    public var shipped: Bool
    public var delivered: Bool
}

/// One order as the orders read model holds it. No personal data: the
/// addresses and IP of `OrderPlaced` are not kept.
public struct OrderRecord: Sendable, Equatable {
    public var orderId: String
    public var customerId: String
    /// Where its OrderPlaced sits in the log (lists are in this order).
    public var placedPosition: UInt64
    /// The OrderPlaced `time`.
    public var placedAt: Timestamp
    public var currency: String
    public var lines: [OrderLine]
    public var discount: Int64
    public var shippingFee: Int64
    /// Σ PaymentCaptured.amount.
    public var captured: Int64 = 0
    /// Σ RefundIssued.amount.
    public var refunded: Int64 = 0
    /// Any PaymentAuthorized seen.
    public var authorized = false
    /// The last payment event (Authorized, Captured, Failed) was a failure.
    public var lastPaymentFailed = false
    public var failedPayments = 0
    public var cancelled = false
    // Small arrays, not dictionaries: an order has a few SKUs and
    // shipments, and arrays cost one allocation each (memory, snapshot load).
    /// Shipped quantity per SKU (Σ OrderShipped lines), one entry per SKU.
    public var shippedLines: [ShipmentLine] = []
    /// Shipment ids named by OrderShipped or OrderDelivered, in first-seen order.
    public var shipmentStates: [ShipmentState] = []
    /// Returned quantity per SKU (Σ ReturnReceived lines), one entry per SKU.
    public var returnedLines: [ShipmentLine] = []

    /// Shipped quantity per SKU.
    public var shipped: [String: Int64] { Dictionary(shippedLines.map { ($0.sku, $0.qty) }, uniquingKeysWith: saturatingAdd) }
    /// Returned quantity per SKU.
    public var returned: [String: Int64] { Dictionary(returnedLines.map { ($0.sku, $0.qty) }, uniquingKeysWith: saturatingAdd) }
    /// Shipment ids of OrderShipped, in order.
    public var shipments: [String] { shipmentStates.filter(\.shipped).map(\.id) }

    static func add(_ qty: Int64, of sku: String, to lines: inout [ShipmentLine]) {
        if let i = lines.firstIndex(where: { $0.sku == sku }) { lines[i].qty.addSaturating(qty) } else { lines.append(ShipmentLine(sku: sku, qty: qty)) }
    }

    /// Σ qty × unitPrice − discount + shippingFee.
    public var total: Int64 {
        var t: Int64 = 0
        for l in lines { t.addSaturating(saturatingMultiply(l.qty, l.unitPrice)) }
        return saturatingAdd(saturatingSubtract(t, discount), shippingFee)
    }

    /// Ordered quantity per SKU (lines of the same SKU add up).
    public var ordered: [String: Int64] {
        var d: [String: Int64] = [:]
        for l in lines { d[l.sku, default: 0].addSaturating(l.qty) }
        return d
    }

    /// The checks in EVENTS.md's order; the first that holds wins.
    public var financialStatus: FinancialStatus {
        if cancelled && captured == 0 { return .voided }
        if captured > 0 && refunded >= captured { return .refunded }
        if refunded > 0 { return .partiallyRefunded }
        if captured >= total { return .paid }
        if captured > 0 { return .partiallyPaid }
        if authorized { return .authorized }
        if lastPaymentFailed { return .failed }
        return .pending
    }

    public var fulfillmentStatus: FulfillmentStatus {
        if cancelled { return .cancelled }
        let shipped = self.shipped
        let fullyShipped = ordered.allSatisfy { sku, qty in (shipped[sku] ?? 0) >= qty }
        if fullyShipped {
            let allDelivered = shipmentStates.contains(where: \.shipped)
                && shipmentStates.allSatisfy { !$0.shipped || $0.delivered }
            return allDelivered ? .delivered : .shipped
        }
        if shippedLines.contains(where: { $0.qty > 0 }) { return .partial }
        return .unfulfilled
    }
}

/// Orders: totals, payments, financial and fulfillment status, returns.
///
/// Events of an order that was never placed (possible only in a log written
/// without the commerce guards), and a second OrderPlaced of an id already
/// placed, are not folded: they are counted in `ignoredEvents` by type.
public final class OrdersProjector: SnapshottableProjector {
    public let name = "orders"
    public let snapshotVersion: UInt32 = 2

    /// The orders, by id.
    public var orders: Table { Table(records: records, slots: slots) }

    /// The orders in the order they were placed, and each order id's index
    /// among them (stop 45: an order's later events — its payments, a few
    /// events after it was placed — find its record among the ones written
    /// last, where a dictionary's values lay anywhere in a table of every
    /// order).
    @exclusivity(unchecked)
    private(set) var records: [OrderRecord] = []
    @exclusivity(unchecked)
    private var slots: [IDKey: Int] = [:]
    /// The id table's capacity (tests of `reserve(growth:)`).
    var slotCapacity: Int { slots.capacity }

    /// The orders by id, as `orders` gives them: a view of the projector's
    /// tables at the moment it was taken.
    public struct Table: Sendable {
        let records: [OrderRecord]
        let slots: [IDKey: Int]

        public subscript(id: String) -> OrderRecord? { slots[IDKey(id)].map { records[$0] } }
        public var count: Int { records.count }
        public var isEmpty: Bool { records.isEmpty }
        /// In no particular order (the order they were placed, after a
        /// replay from the start; by id, after a snapshot).
        public var values: [OrderRecord] { records }
        /// The order ids, in no particular order.
        public var keys: [String] { slots.keys.map(\.string) }
    }
    /// Order events not folded (order never placed, or placed twice), by type.
    public internal(set) var ignoredEvents: [String: Int] = [:]
    /// The order the latest event was folded into: where that event sits,
    /// and the order's OrderPlaced position and currency. The models built
    /// on orders that fold the same event right after (CRM, finance) read
    /// it instead of looking the order id up again.
    @exclusivity(unchecked)
    private(set) var lastFolded: (position: UInt64, placedPosition: UInt64, currency: String)?

    public init() {}

    /// The currency of the order event at `position` names, nil if that
    /// order was never placed (what `currency(of:)` answers, without a
    /// second lookup when the event is the one just folded here).
    @inline(__always)
    func currency(of orderId: String, at position: UInt64) -> String? {
        if let f = lastFolded, f.position == position { return f.currency }
        return currency(of: orderId)
    }

    /// Whether the OrderPlaced at `position` is the one kept for its order
    /// (not a repeat of a placed id).
    @inline(__always)
    func kept(placement orderId: String, at position: UInt64) -> Bool {
        if let f = lastFolded, f.position == position { return f.placedPosition == position }
        return order(orderId)?.placedPosition == position
    }

    @inline(__always)
    private func update(_ id: String, _ type: String, at position: UInt64, _ body: (inout OrderRecord) -> Void) {
        // One hash of the id: the record is found once and changed in place.
        if let i = slots[IDKey(id)] {
            Self.fold(into: &records[i], at: position, noting: &lastFolded, body)
        } else {
            ignoredEvents[type, default: 0] += 1
        }
    }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .orderPlaced(let o):
            // One hash of the id: its index is taken, or made, at once.
            let next = records.count
            guard Self.claim(&slots[IDKey(o.orderId), default: next], next) else {
                ignoredEvents[OrderPlaced.typeName, default: 0] += 1
                return
            }
            records.append(OrderRecord(
                orderId: o.orderId, customerId: o.customerId, placedPosition: e.position.value, placedAt: e.occurredAt,
                currency: o.currency, lines: o.lines, discount: o.discount, shippingFee: o.shippingFee))
            lastFolded = (e.position.value, e.position.value, o.currency)
        case .paymentAuthorized(let p):
            update(p.orderId, PaymentAuthorized.typeName, at: e.position.value) {
                $0.authorized = true
                $0.lastPaymentFailed = false
            }
        case .paymentCaptured(let p):
            update(p.orderId, PaymentCaptured.typeName, at: e.position.value) {
                $0.captured.addSaturating(p.amount)
                $0.lastPaymentFailed = false
            }
        case .paymentFailed(let p):
            update(p.orderId, PaymentFailed.typeName, at: e.position.value) {
                $0.lastPaymentFailed = true
                $0.failedPayments += 1
            }
        case .refundIssued(let r):
            update(r.orderId, RefundIssued.typeName, at: e.position.value) { $0.refunded.addSaturating(r.amount) }
        case .orderCancelled(let c):
            update(c.orderId, OrderCancelled.typeName, at: e.position.value) { $0.cancelled = true }
        case .orderShipped(let s):
            update(s.orderId, OrderShipped.typeName, at: e.position.value) {
                for l in s.lines { OrderRecord.add(l.qty, of: l.sku, to: &$0.shippedLines) }
                if let i = $0.shipmentStates.firstIndex(where: { $0.id == s.shipmentId }) {
                    $0.shipmentStates[i].shipped = true
                } else {
                    $0.shipmentStates.append(ShipmentState(id: s.shipmentId, shipped: true, delivered: false))
                }
            }
        case .orderDelivered(let d):
            update(d.orderId, OrderDelivered.typeName, at: e.position.value) {
                if let i = $0.shipmentStates.firstIndex(where: { $0.id == d.shipmentId }) {
                    $0.shipmentStates[i].delivered = true
                } else {
                    $0.shipmentStates.append(ShipmentState(id: d.shipmentId, shipped: false, delivered: true))
                }
            }
        case .returnReceived(let r):
            update(r.orderId, ReturnReceived.typeName, at: e.position.value) {
                for l in r.lines { OrderRecord.add(l.qty, of: l.sku, to: &$0.returnedLines) }
            }
        default: break
        }
    }

    @inline(__always)
    private static func fold(into record: inout OrderRecord, at position: UInt64,
                             noting last: inout (position: UInt64, placedPosition: UInt64, currency: String)?,
                             _ body: (inout OrderRecord) -> Void) {
        body(&record)
        last = (position, record.placedPosition, record.currency)
    }

    /// Whether an order id's index, read through `slots[id, default: next]`
    /// (which inserts `next` for a new id), is the new one: false for a
    /// repeat of a placed id (the first OrderPlaced counts).
    @inline(__always)
    private static func claim(_ slot: inout Int, _ next: Int) -> Bool { slot == next }

    public func order(_ id: String) -> OrderRecord? { slots[IDKey(id)].map { records[$0] } }

    /// The currencies of the orders, sorted: what a currency filter may name.
    public var currencies: [String] { Set(records.map(\.currency)).sorted() }

    /// How many orders are in each fulfillment and each financial status
    /// (every status present, 0 when none).
    public func statusCounts() -> (fulfillment: [FulfillmentStatus: Int], financial: [FinancialStatus: Int]) {
        var fulfillment = Dictionary(uniqueKeysWithValues: FulfillmentStatus.allCases.map { ($0, 0) })
        var financial = Dictionary(uniqueKeysWithValues: FinancialStatus.allCases.map { ($0, 0) })
        for o in records {
            fulfillment[o.fulfillmentStatus, default: 0] += 1
            financial[o.financialStatus, default: 0] += 1
        }
        return (fulfillment, financial)
    }

    /// The currency of a placed order.
    @inline(__always)
    public func currency(of orderId: String) -> String? { slots[IDKey(orderId)].map { records[$0].currency } }

    /// Orders in log order of their OrderPlaced, filtered by customer and by
    /// a financial or fulfillment status value (`paid`, `shipped`, …).
    public func list(customerId: String? = nil, status: String? = nil) -> [OrderRecord] {
        var out: [OrderRecord] = []
        for o in records {
            if let customerId, o.customerId != customerId { continue }
            if let status, o.financialStatus.rawValue != status, o.fulfillmentStatus.rawValue != status { continue }
            out.append(o)
        }
        return out.sorted { $0.placedPosition < $1.placedPosition }
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        // By order id, as when the orders were a dictionary (snapshot
        // version 2's layout).
        w.uint(UInt64(records.count))
        for id in slots.keys.sorted() {
            let o = records[slots[id]!]
            w.string(id.string)
            w.string(o.customerId)
            w.uint(o.placedPosition)
            w.timestamp(o.placedAt)
            w.string(o.currency)
            w.array(o.lines) { w, l in
                w.string(l.sku)
                w.int(l.qty)
                w.int(l.unitPrice)
            }
            w.int(o.discount)
            w.int(o.shippingFee)
            w.int(o.captured)
            w.int(o.refunded)
            w.bool(o.authorized)
            w.bool(o.lastPaymentFailed)
            w.int(o.failedPayments)
            w.bool(o.cancelled)
            w.array(o.shippedLines) { w, l in
                w.string(l.sku)
                w.int(l.qty)
            }
            w.array(o.shipmentStates) { w, st in
                w.string(st.id)
                w.uint((st.shipped ? 1 : 0) | (st.delivered ? 2 : 0))
            }
            w.array(o.returnedLines) { w, l in
                w.string(l.sku)
                w.int(l.qty)
            }
        }
        w.dictionary(ignoredEvents, key: { $0.string($1) }, value: { $0.int($1) })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        let line = { (r: inout R) throws(ProjectionError) -> ShipmentLine in ShipmentLine(sku: try r.string(), qty: try r.int64()) }
        // Not `r.dictionary`: the key is the record's orderId too, so each
        // record is built whole and inserted once.
        let n = try r.count()
        var decoded: [OrderRecord] = []
        var decodedSlots: [IDKey: Int] = [:]
        decoded.reserveCapacity(n)
        decodedSlots.reserveCapacity(n)
        for _ in 0..<n {
            let orderId = try r.string()
            let customerId = try r.string()
            let placedPosition = try r.uint()
            let placedAt = try r.timestamp()
            let currency = try r.string()
            let lines = try r.array { (r: inout R) throws(ProjectionError) in
                OrderLine(sku: try r.string(), qty: try r.int64(), unitPrice: try r.int64())
            }
            var o = OrderRecord(orderId: orderId, customerId: customerId, placedPosition: placedPosition,
                                placedAt: placedAt, currency: currency, lines: lines, discount: try r.int64(),
                                shippingFee: try r.int64())
            o.captured = try r.int64()
            o.refunded = try r.int64()
            o.authorized = try r.bool()
            o.lastPaymentFailed = try r.bool()
            o.failedPayments = try r.int()
            o.cancelled = try r.bool()
            o.shippedLines = try r.array(line)
            o.shipmentStates = try r.array { (r: inout R) throws(ProjectionError) -> ShipmentState in
                let id = try r.string()
                let flags = try r.uint()
                guard flags <= 3 else { throw ProjectionError(.badSnapshot, "orders: bad shipment flags \(flags)") }
                return ShipmentState(id: id, shipped: flags & 1 != 0, delivered: flags & 2 != 0)
            }
            o.returnedLines = try r.array(line)
            guard decodedSlots.updateValue(decoded.count, forKey: IDKey(orderId)) == nil else {
                throw ProjectionError(.badSnapshot, "orders: repeated order id")
            }
            decoded.append(o)
        }
        records = decoded
        slots = decodedSlots
        lastFolded = nil
        ignoredEvents = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in try r.int() })
    }
}

extension OrdersProjector: GrowsWithLog {
    func reserve(growth: Double) {
        records.reserve(growth: growth)
        slots.reserve(growth: growth)
    }
}

extension OrdersProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.orderPlaced, .paymentAuthorized, .paymentCaptured, .paymentFailed, .refundIssued, .orderCancelled, .orderShipped, .orderDelivered, .returnReceived] }
}
