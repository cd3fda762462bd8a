import ChronikLog
import ChronikCommerce

/// One normalised search query.
public struct SearchQueryStats: Sendable, Equatable {
    public var query: String
    /// Number of SearchPerformed with this normalised query.
    public var count: Int
    /// The resultCount of the latest of them (log order).
    public var lastResultCount: Int64
    /// The latest SearchPerformed had resultCount 0.
    public var zeroResults: Bool { lastResultCount == 0 }
}

/// Search: counts per normalised query and the zero-result queries.
public final class SearchProjector: SnapshottableProjector {
    public let name = "search"
    public let snapshotVersion: UInt32 = 1

    @exclusivity(unchecked)
    var queries: [IDKey: (count: Int, last: Int64)] = [:]

    public init() {}

    /// Trims Unicode whitespace (the White_Space property), collapses inner
    /// runs of it to one space, and lower-cases (Unicode default case
    /// mapping, `String.lowercased()`).
    public static func normalise(_ q: String) -> String {
        // Fast path: printable ASCII, no upper case, single inner spaces,
        // nothing to trim — already normal, no copy.
        var clean = true
        var previousSpace = true
        for b in q.utf8 {
            if b >= 0x80 || b < 0x20 || b == 0x7F || (b >= 0x41 && b <= 0x5A) || (b == 0x20 && previousSpace) {
                clean = false
                break
            }
            previousSpace = b == 0x20
        }
        if clean && !previousSpace { return q }
        var out = String.UnicodeScalarView()
        var pending = false
        for s in q.unicodeScalars {
            if s.properties.isWhitespace {
                pending = !out.isEmpty
                continue
            }
            if pending {
                out.append(" ")
                pending = false
            }
            out.append(s)
        }
        return finalSigma(String(out).lowercased(), from: out)
    }

    /// Unicode's default lower-casing maps Σ to ς at the end of a word
    /// (the Final_Sigma condition: a cased letter before it, past any
    /// case-ignorable ones, and none after); `String.lowercased()` maps it
    /// to σ everywhere (stop 35: "ΟΔΟΣ" and "οδος" were two queries).
    static func finalSigma(_ lower: String, from original: String.UnicodeScalarView) -> String {
        guard original.contains("\u{03A3}") else { return lower }
        let o = Array(original), l = Array(lower.unicodeScalars)
        guard o.count == l.count else { return lower }  // a mapping that changed the length: left as it is
        var out = l
        for i in o.indices where o[i] == "\u{03A3}" {
            var j = i - 1
            while j >= 0, o[j].properties.isCaseIgnorable { j -= 1 }
            let casedBefore = j >= 0 && o[j].properties.isCased
            var k = i + 1
            while k < o.count, o[k].properties.isCaseIgnorable { k += 1 }
            let casedAfter = k < o.count && o[k].properties.isCased
            if casedBefore && !casedAfter { out[i] = "\u{03C2}" }
        }
        var v = String.UnicodeScalarView()
        v.append(contentsOf: out)
        return String(v)
    }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        guard case .searchPerformed(let s) = e.event else { return }
        Self.count(s.resultCount, into: &queries[IDKey(Self.normalise(s.query)), default: (0, 0)])
    }

    /// One search more of a query, with its latest result count (one
    /// lookup: the entry is changed where it lies).
    @inline(__always)
    private static func count(_ resultCount: Int64, into entry: inout (count: Int, last: Int64)) {
        entry.count += 1
        entry.last = resultCount
    }

    public func stats(_ query: String) -> SearchQueryStats? {
        let key = Self.normalise(query)
        return queries[IDKey(key)].map { SearchQueryStats(query: key, count: $0.count, lastResultCount: $0.last) }
    }

    /// Queries by count descending, ties by query ascending; only the
    /// zero-result ones when asked; the first `top` when given.
    public func list(top: Int? = nil, zeroResultsOnly: Bool = false) -> [SearchQueryStats] {
        var all = queries.map { SearchQueryStats(query: $0.key.string, count: $0.value.count, lastResultCount: $0.value.last) }
        if zeroResultsOnly { all.removeAll { !$0.zeroResults } }
        all.sort { $0.count != $1.count ? $0.count > $1.count : $0.query < $1.query }
        if let top { return Array(all.prefix(max(0, top))) }
        return all
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(queries, key: { $0.string($1.string) }, value: { w, v in
            w.int(v.count)
            w.int(v.last)
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        queries = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in IDKey(try r.string()) },
                                   value: { (r: inout R) throws(ProjectionError) in (count: try r.int(), last: try r.int64()) })
    }
}

/// A product bought together with another.
public struct AlsoBoughtEntry: Sendable, Equatable {
    public var productId: String
    /// Non-cancelled orders containing both products.
    public var count: Int
}

/// Also-bought: for a product P, the products Q ≠ P ranked by the number of
/// non-cancelled orders containing both, ties by productId ascending.
///
/// Keeps the SKU → product map of VariantAdded; the orders come from the
/// orders model (a dependency) when asked, so a cancellation after the
/// fact and a VariantAdded after the order both count as at the end of
/// the log. A SKU no VariantAdded named belongs to no product and is not
/// counted.
public final class AlsoBoughtProjector: SnapshottableProjector {
    public let name = "also-bought"
    public let snapshotVersion: UInt32 = 2  // 2: products of ProductCreated (stop 35)
    public let orders: OrdersProjector

    @exclusivity(unchecked)
    var productOfSKU: [String: String] = [:]
    /// Products a ProductCreated named.
    @exclusivity(unchecked)
    var created: Set<String> = []

    public init(orders: OrdersProjector) { self.orders = orders }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .variantAdded(let v): productOfSKU[v.sku] = v.productId
        case .productCreated(let p): created.insert(p.productId)
        default: break
        }
    }

    /// Whether a ProductCreated or a VariantAdded named `productId`
    /// (`query also-bought` refuses any other id; stop 35: a product whose
    /// only SKU moved to another was "no product", though the catalog
    /// listed it).
    public func knows(product productId: String) -> Bool {
        created.contains(productId) || productOfSKU.values.contains(productId)
    }

    /// The top `limit` products bought with `productId` (discontinued ones included).
    public func alsoBought(_ productId: String, limit: Int = 10) -> [AlsoBoughtEntry] {
        var counts: [String: Int] = [:]
        var products = Set<String>()
        for o in orders.orders.values where !o.cancelled {
            products.removeAll(keepingCapacity: true)
            for l in o.lines {
                if let p = productOfSKU[l.sku] { products.insert(p) }
            }
            guard products.contains(productId) else { continue }
            for q in products where q != productId { counts[q, default: 0] += 1 }
        }
        let ranked = counts.map { AlsoBoughtEntry(productId: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.productId < $1.productId }
        return Array(ranked.prefix(max(0, limit)))
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(productOfSKU, key: { $0.string($1) }, value: { $0.string($1) })
        w.array(created.sorted()) { $0.string($1) }
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        let str = { (r: inout SnapshotReader) throws(ProjectionError) -> String in try r.string() }
        productOfSKU = try r.dictionary(key: str, value: str)
        created = Set(try r.array(str))
    }
}

/// A reorder suggestion.
public struct ReplenishmentSuggestion: Sendable, Equatable {
    public var sku: String
    public var warehouseId: String
    public var available: Int64
    public var reorderPoint: Int64
    public var reorderQty: Int64
}

/// Replenishment: each (sku, warehouse) that is low and has no open
/// purchase order (placed, not received) for that SKU there. Stock comes
/// from the inventory model (a dependency); the purchase orders are kept
/// here.
public final class ReplenishmentProjector: SnapshottableProjector {
    public let name = "replenishment"
    public let snapshotVersion: UInt32 = 1
    public let inventory: InventoryProjector

    struct PurchaseOrder {
        var warehouseId: String
        var skus: [String]
        var open: Bool
    }
    @exclusivity(unchecked)
    var purchaseOrders: [String: PurchaseOrder] = [:]
    /// Open purchase orders per (sku, warehouse).
    @exclusivity(unchecked)
    var openCount: [StockKey: Int] = [:]

    public init(inventory: InventoryProjector) { self.inventory = inventory }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .purchaseOrderPlaced(let p):
            // A repeated id is not a second order.
            guard purchaseOrders[p.purchaseOrderId] == nil else { return }
            var skus: [String] = []
            for l in p.lines where !skus.contains(l.sku) { skus.append(l.sku) }
            purchaseOrders[p.purchaseOrderId] = PurchaseOrder(warehouseId: p.warehouseId, skus: skus, open: true)
            for s in skus { openCount[StockKey(sku: s, warehouseId: p.warehouseId), default: 0] += 1 }
        case .purchaseOrderReceived(let p):
            // Receiving an unknown or already received order changes nothing.
            guard let po = purchaseOrders[p.purchaseOrderId], po.open else { return }
            purchaseOrders[p.purchaseOrderId]!.open = false
            for s in po.skus {
                let k = StockKey(sku: s, warehouseId: po.warehouseId)
                openCount[k]! -= 1
                if openCount[k] == 0 { openCount[k] = nil }
            }
        default: break
        }
    }

    /// Suggestions sorted by sku then warehouse.
    public func suggestions() -> [ReplenishmentSuggestion] {
        inventory.levels(lowOnly: true).compactMap { l in
            guard openCount[StockKey(sku: l.sku, warehouseId: l.warehouseId)] == nil,
                  let point = l.reorderPoint, let qty = l.reorderQty else { return nil }
            return ReplenishmentSuggestion(sku: l.sku, warehouseId: l.warehouseId, available: l.available,
                                           reorderPoint: point, reorderQty: qty)
        }
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(purchaseOrders, key: { $0.string($1) }, value: { w, p in
            w.string(p.warehouseId)
            w.array(p.skus) { $0.string($1) }
            w.bool(p.open)
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        purchaseOrders = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in
            PurchaseOrder(warehouseId: try r.string(), skus: try r.array(str), open: try r.bool())
        })
        openCount = [:]
        for p in purchaseOrders.values where p.open {
            for s in p.skus { openCount[StockKey(sku: s, warehouseId: p.warehouseId), default: 0] += 1 }
        }
    }
}

extension SearchProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.searchPerformed] }
}

extension AlsoBoughtProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.variantAdded, .productCreated] }
}

extension ReplenishmentProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.purchaseOrderPlaced, .purchaseOrderReceived] }
}
