import ChronikLog
import ChronikCommerce

/// A (sku, warehouse) pair, ordered by sku then warehouse.
public struct StockKey: Hashable, Comparable, Sendable {
    public var sku: String
    public var warehouseId: String

    public init(sku: String, warehouseId: String) {
        self.sku = sku
        self.warehouseId = warehouseId
    }

    public static func < (a: StockKey, b: StockKey) -> Bool {
        a.sku != b.sku ? a.sku < b.sku : a.warehouseId < b.warehouseId
    }
}

/// Stock of one SKU in one warehouse (EVENTS.md, Read-model semantics).
public struct StockLevel: Hashable, Sendable {
    public var sku: String
    public var warehouseId: String
    /// Σ Received + Σ Returned + Σ Adjusted.delta − Σ Shipped ± Transferred.
    public var onHand: Int64
    /// Σ Reserved − Σ Released − Σ Shipped.
    public var reserved: Int64
    /// The latest ReorderPointSet of this (sku, warehouse), if any.
    public var reorderPoint: Int64?
    public var reorderQty: Int64?

    public var available: Int64 { saturatingSubtract(onHand, reserved) }
    /// A reorder point is set here and available ≤ reorderPoint.
    public var isLow: Bool { reorderPoint.map { available <= $0 } ?? false }
}

/// Inventory per (sku, warehouse): on hand, reserved, available, low stock.
///
/// Counts only `Stock*` events and `ReorderPointSet`; `OrderShipped` moves
/// no stock by itself.
public final class InventoryProjector: SnapshottableProjector {
    public let name = "inventory"
    public let snapshotVersion: UInt32 = 1

    struct Cell {
        var onHand: Int64 = 0
        var reserved: Int64 = 0
        var reorderPoint: Int64 = -1   // -1: none set (a set point is ≥ 0)
        var reorderQty: Int64 = 0
    }

    /// A SKU's cells: the first `inlineCount` warehouses that named it kept
    /// in the table's entry itself, any more in a table of their own. The
    /// entry holds what an event needs after one hash of the SKU: a nested
    /// sku → warehouse table cost a second table's storage per SKU, a
    /// cache miss on every stock event (its uniqueness check and its
    /// buckets were ~13 % of the projecting thread, stop 46).
    struct Warehouses {
        typealias Inline<Element> = InlineArray<4, Element>
        /// How many warehouses the entry holds itself.
        static var inlineCount: Int { Inline<String>.count }
        var count = 0
        var ids = Inline<String>(repeating: "")
        var cells = Inline<Cell>(repeating: Cell())
        var more: [String: Cell] = [:]

        @inline(__always)
        mutating func update(_ warehouse: String, _ body: (inout Cell) -> Void) {
            for i in 0..<count where ids[i] == warehouse {
                body(&cells[i])
                return
            }
            if count < ids.count {
                ids[count] = warehouse
                body(&cells[count])
                count += 1
            } else {
                body(&more[warehouse, default: Cell()])
            }
        }

        subscript(warehouse: String) -> Cell? {
            for i in 0..<count where ids[i] == warehouse { return cells[i] }
            return more[warehouse]
        }

        /// Every (warehouse, cell), in no particular order.
        var all: [(warehouse: String, cell: Cell)] {
            (0..<count).map { (ids[$0], cells[$0]) } + more.map { ($0.key, $0.value) }
        }

        /// Every (warehouse, cell), by warehouse.
        var sorted: [(warehouse: String, cell: Cell)] { all.sorted { $0.warehouse < $1.warehouse } }
    }

    /// sku → its warehouses' cells: one hash of the SKU per event.
    @exclusivity(unchecked)
    var cells: [IDKey: Warehouses] = [:]

    public init() {}

    @inline(__always)
    private func update(_ sku: String, _ warehouse: String, _ body: (inout Cell) -> Void) {
        cells[IDKey(sku), default: Warehouses()].update(warehouse, body)
    }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .stockReceived(let s): update(s.sku, s.warehouseId) { $0.onHand.addSaturating(s.qty) }
        case .stockReturned(let s): update(s.sku, s.warehouseId) { $0.onHand.addSaturating(s.qty) }
        case .stockAdjusted(let s): update(s.sku, s.warehouseId) { $0.onHand.addSaturating(s.delta) }
        case .stockReserved(let s): update(s.sku, s.warehouseId) { $0.reserved.addSaturating(s.qty) }
        case .stockReleased(let s): update(s.sku, s.warehouseId) { $0.reserved.subtractSaturating(s.qty) }
        case .stockShipped(let s):
            update(s.sku, s.warehouseId) {
                $0.onHand.subtractSaturating(s.qty)
                $0.reserved.subtractSaturating(s.qty)
            }
        case .stockTransferred(let s):
            update(s.sku, s.fromWarehouseId) { $0.onHand.subtractSaturating(s.qty) }
            update(s.sku, s.toWarehouseId) { $0.onHand.addSaturating(s.qty) }
        case .reorderPointSet(let s):
            update(s.sku, s.warehouseId) {
                $0.reorderPoint = s.reorderPoint
                $0.reorderQty = s.reorderQty
            }
        default: break
        }
    }

    private static func level(_ sku: String, _ wh: String, _ c: Cell) -> StockLevel {
        StockLevel(sku: sku, warehouseId: wh, onHand: c.onHand, reserved: c.reserved,
                   reorderPoint: c.reorderPoint >= 0 ? c.reorderPoint : nil,
                   reorderQty: c.reorderPoint >= 0 ? c.reorderQty : nil)
    }

    /// Stock levels, sorted by sku then warehouse, optionally filtered.
    public func levels(sku: String? = nil, warehouseId: String? = nil, lowOnly: Bool = false) -> [StockLevel] {
        var out: [StockLevel] = []
        let skus: [String] = sku.map { cells[IDKey($0)] == nil ? [] : [$0] } ?? cells.keys.sorted().map(\.string)
        for s in skus {
            guard let whs = cells[IDKey(s)] else { continue }
            for (w, c) in whs.sorted where warehouseId == nil || w == warehouseId {
                let l = Self.level(s, w, c)
                if !lowOnly || l.isLow { out.append(l) }
            }
        }
        return out
    }

    /// The stock of one (sku, warehouse), nil when no event named it.
    public func level(sku: String, warehouseId: String) -> StockLevel? {
        cells[IDKey(sku)]?[warehouseId].map { Self.level(sku, warehouseId, $0) }
    }

    /// Σ available of `sku` over all warehouses.
    public func available(sku: String) -> Int64 {
        guard let whs = cells[IDKey(sku)] else { return 0 }
        var total: Int64 = 0
        for (_, c) in whs.all { total.addSaturating(saturatingSubtract(c.onHand, c.reserved)) }
        return total
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(cells, key: { $0.string($1.string) }, value: { w, whs in
            // The layout of a warehouse → cell dictionary (count, then
            // the pairs by warehouse), written from the entry as it is.
            w.array(whs.sorted) { w, e in
                w.string(e.warehouse)
                w.int(e.cell.onHand)
                w.int(e.cell.reserved)
                w.int(e.cell.reorderPoint)
                w.int(e.cell.reorderQty)
            }
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        let nested = try r.dictionary(key: { (r: inout SnapshotReader) throws(ProjectionError) in IDKey(try r.string()) },
                                      value: { (r: inout SnapshotReader) throws(ProjectionError) in
            try r.dictionary(key: { (r: inout SnapshotReader) throws(ProjectionError) in try r.string() },
                             value: { (r: inout SnapshotReader) throws(ProjectionError) in
                Cell(onHand: try r.int64(), reserved: try r.int64(), reorderPoint: try r.int64(), reorderQty: try r.int64())
            })
        })
        cells = nested.mapValues { whs in
            var w = Warehouses()
            // In warehouse order: the same entries however the snapshot's
            // writer had kept them.
            for (id, cell) in whs.sorted(by: { $0.key < $1.key }) { w.update(id) { $0 = cell } }
            return w
        }
    }
}

extension InventoryProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.stockReceived, .stockReturned, .stockAdjusted, .stockReserved, .stockReleased, .stockShipped, .stockTransferred, .reorderPointSet] }
}
