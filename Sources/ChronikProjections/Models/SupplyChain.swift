import ChronikLog
import ChronikCommerce

/// One purchase order (EVENTS.md v1.2, supply chain).
public struct PurchaseOrderRecord: Sendable, Equatable {
    public var purchaseOrderId: String
    public var supplierId: String
    public var warehouseId: String
    public var lines: [PurchaseOrderLine]
    public var currency: String
    /// The PurchaseOrderPlaced `time`.
    public var placedAt: Timestamp
    public var expectedAt: Timestamp
    /// The first PurchaseOrderReceived `time`, nil while open.
    public var receivedAt: Timestamp?
    public var open: Bool { receivedAt == nil }
    /// Received after expectedAt, or open and the log's latest event
    /// `time` is after expectedAt.
    public var late: Bool
}

/// Units on order (open purchase orders) in one warehouse.
public struct UnitsOnOrder: Sendable, Equatable {
    public var sku: String
    public var warehouseId: String
    public var qty: Int64
}

/// One supplier with its purchase-order record.
public struct SupplierRecord: Sendable, Equatable {
    public var supplierId: String
    /// nil for a supplier only purchase orders name.
    public var name: String?
    public var leadTimeDays: Int64?
    public var openOrders: Int
    public var receivedOrders: Int
    /// Received not late / received, rounded to 4 decimals; nil when none received.
    public var onTimeRate: Double?
    /// Mean of (receivedAt − placedAt) in days over received orders,
    /// rounded to 2 decimals; nil when none received.
    public var averageLeadDays: Double?
    /// From open orders, sorted by sku then warehouse.
    public var unitsOnOrder: [UnitsOnOrder]
}

/// Supply chain: suppliers and purchase orders.
///
/// `late` of an open order compares expectedAt with the `time` of the
/// log's latest event (log order): the set's `EventClock`, which the set
/// advances for every event (so that clickstream is still dispatched to no
/// model); the snapshot keeps it.
public final class SupplyChainProjector: SnapshottableProjector {
    public let name = "supply-chain"
    public let snapshotVersion: UInt32 = 1

    struct PO {
        var supplierId: String
        var warehouseId: String
        var lines: [PurchaseOrderLine]
        var currency: String
        var placedAt: Timestamp
        var expectedAt: Timestamp
        var receivedAt: Timestamp?
        var position: UInt64
    }

    @exclusivity(unchecked)
    var suppliers: [String: (name: String, leadTimeDays: Int64)] = [:]
    @exclusivity(unchecked)
    var purchaseOrders: [String: PO] = [:]
    /// The `time` of the latest event of the log (log order).
    public let clock: EventClock
    public var latestTime: Timestamp? { clock.latest }

    public init(clock: EventClock = EventClock()) { self.clock = clock }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .supplierRegistered(let s):
            suppliers[s.supplierId] = (s.name, s.leadTimeDays)
        case .purchaseOrderPlaced(let p):
            // A repeated id is not a second order: the first placement counts.
            guard purchaseOrders[p.purchaseOrderId] == nil else { return }
            purchaseOrders[p.purchaseOrderId] = PO(supplierId: p.supplierId, warehouseId: p.warehouseId, lines: p.lines,
                                                   currency: p.currency, placedAt: e.occurredAt,
                                                   expectedAt: p.expectedAt, receivedAt: nil,
                                                   position: e.position.value)
        case .purchaseOrderReceived(let p):
            // The first receipt closes it; an unknown id changes nothing.
            guard var po = purchaseOrders[p.purchaseOrderId], po.receivedAt == nil else { return }
            po.receivedAt = e.occurredAt
            purchaseOrders[p.purchaseOrderId] = po
        default:
            break
        }
    }

    func record(_ id: String, _ p: PO) -> PurchaseOrderRecord {
        let late: Bool
        if let r = p.receivedAt { late = r > p.expectedAt } else { late = latestTime.map { $0 > p.expectedAt } ?? false }
        return PurchaseOrderRecord(purchaseOrderId: id, supplierId: p.supplierId, warehouseId: p.warehouseId,
                                   lines: p.lines, currency: p.currency, placedAt: p.placedAt,
                                   expectedAt: p.expectedAt, receivedAt: p.receivedAt, late: late)
    }

    public func purchaseOrder(_ id: String) -> PurchaseOrderRecord? { purchaseOrders[id].map { record(id, $0) } }

    /// Purchase orders sorted by purchaseOrderId; only open ones, or one
    /// supplier's, when asked.
    public func purchaseOrderList(openOnly: Bool = false, supplierId: String? = nil) -> [PurchaseOrderRecord] {
        purchaseOrders.keys.sorted().compactMap { id in
            let p = purchaseOrders[id]!
            guard !openOnly || p.receivedAt == nil, supplierId == nil || p.supplierId == supplierId else { return nil }
            return record(id, p)
        }
    }

    /// Every supplier registered or named by a purchase order, by supplierId.
    public func supplierList() -> [SupplierRecord] {
        var ids = Set(suppliers.keys)
        for p in purchaseOrders.values { ids.insert(p.supplierId) }
        return ids.sorted().map(supplier)
    }

    public func supplier(_ id: String) -> SupplierRecord {
        var open = 0, received = 0, onTime = 0
        var leadMicros: Int64 = 0
        var units: [StockKey: Int64] = [:]
        for (poId, p) in purchaseOrders where p.supplierId == id {
            let r = record(poId, p)
            if let at = p.receivedAt {
                received += 1
                if !r.late { onTime += 1 }
                leadMicros.addSaturating(saturatingSubtract(at.microseconds, p.placedAt.microseconds))
            } else {
                open += 1
                for l in p.lines {
                    let k = StockKey(sku: l.sku, warehouseId: p.warehouseId)
                    units[k] = saturatingAdd(units[k, default: 0], l.qty)
                }
            }
        }
        let s = suppliers[id]
        return SupplierRecord(
            supplierId: id, name: s?.name, leadTimeDays: s?.leadTimeDays, openOrders: open, receivedOrders: received,
            onTimeRate: roundedRatio(Int64(onTime), Int64(received), places: 4),
            averageLeadDays: roundedRatio(leadMicros, saturatingMultiply(Int64(received), 86_400_000_000), places: 2),
            unitsOnOrder: units.map { UnitsOnOrder(sku: $0.key.sku, warehouseId: $0.key.warehouseId, qty: $0.value) }
                .sorted { $0.sku != $1.sku ? $0.sku < $1.sku : $0.warehouseId < $1.warehouseId })
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(suppliers, key: { $0.string($1) }, value: { w, s in w.string(s.name); w.int(s.leadTimeDays) })
        w.dictionary(purchaseOrders, key: { $0.string($1) }, value: { w, p in
            w.string(p.supplierId)
            w.string(p.warehouseId)
            w.array(p.lines) { w, l in w.string(l.sku); w.int(l.qty); w.int(l.unitCost) }
            w.string(p.currency)
            w.timestamp(p.placedAt)
            w.timestamp(p.expectedAt)
            w.optionalTimestamp(p.receivedAt)
            w.uint(p.position)
        })
        w.optionalTimestamp(clock.latest)
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        suppliers = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in
            (name: try r.string(), leadTimeDays: try r.int64())
        })
        purchaseOrders = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in
            PO(supplierId: try r.string(), warehouseId: try r.string(),
               lines: try r.array { (r: inout R) throws(ProjectionError) in
                   PurchaseOrderLine(sku: try r.string(), qty: try r.int64(), unitCost: try r.int64())
               },
               currency: try r.string(), placedAt: try r.timestamp(), expectedAt: try r.timestamp(),
               receivedAt: try r.optionalTimestamp(), position: try r.uint())
        })
        clock.latest = try r.optionalTimestamp()
    }
}

extension SupplyChainProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.supplierRegistered, .purchaseOrderPlaced, .purchaseOrderReceived] }
}
