import ChronikLog
import ChronikCommerce

/// A variant as the catalog lists it.
public struct CatalogVariant: Sendable, Equatable {
    public var sku: String
    public var options: [String: String]
    /// The last PriceChanged of the SKU (before or after its VariantAdded),
    /// else the VariantAdded price.
    public var price: Int64
    public var currency: String
    /// Σ available of the SKU over all warehouses.
    public var available: Int64
}

/// A product as the catalog lists it.
public struct CatalogProduct: Sendable, Equatable {
    public var productId: String
    public var title: String
    public var category: String
    public var brand: String?
    public var discontinued: Bool
    /// Variants in the order of their VariantAdded.
    public var variants: [CatalogVariant]
    /// Σ available of its SKUs over all warehouses.
    public var available: Int64
}

/// The catalog: products, variants with current prices, discontinued,
/// and availability from the inventory model (a dependency).
///
/// A product is listed once its ProductCreated is seen; a ProductUpdated
/// or ProductDiscontinued of a product never created is kept and applies
/// if it is created later (log order decides between them).
public final class CatalogProjector: SnapshottableProjector {
    public let name = "catalog"
    public let snapshotVersion: UInt32 = 1
    public let inventory: InventoryProjector

    struct Product {
        var created = false
        var title = ""
        var category = ""
        var brand: String?
        var discontinued = false
        var skus: [String] = []
    }
    struct Variant {
        var productId: String
        var options: [String: String]
        var price: Int64
        var currency: String
    }

    @exclusivity(unchecked)
    var products: [IDKey: Product] = [:]
    @exclusivity(unchecked)
    var variants: [IDKey: Variant] = [:]
    /// The last PriceChanged per SKU: price and currency.
    @exclusivity(unchecked)
    var prices: [IDKey: (price: Int64, currency: String)] = [:]

    public init(inventory: InventoryProjector) { self.inventory = inventory }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .priceChanged(let p):
            prices[IDKey(p.sku)] = (p.price, p.currency)
        case .productCreated(let p):
            Self.change(&products[IDKey(p.productId), default: Product()]) {
                $0.created = true
                $0.title = p.title
                $0.category = p.category
                $0.brand = p.brand
            }
        case .productUpdated(let p):
            if let t = p.title { products[IDKey(p.productId), default: Product()].title = t }
            if let c = p.category { products[IDKey(p.productId), default: Product()].category = c }
        case .productDiscontinued(let p):
            products[IDKey(p.productId), default: Product()].discontinued = true
        case .variantAdded(let v):
            let sku = IDKey(v.sku)
            if let old = variants[sku], old.productId != v.productId {
                products[IDKey(old.productId)]?.skus.removeAll { $0 == v.sku }
            }
            Self.change(&products[IDKey(v.productId), default: Product()]) {
                if !$0.skus.contains(v.sku) { $0.skus.append(v.sku) }
            }
            variants[sku] = Variant(productId: v.productId, options: v.options ?? [:], price: v.price, currency: v.currency)
        default: break
        }
    }

    /// Changes a table's entry in place with one lookup of its key.
    @inline(__always)
    private static func change(_ product: inout Product, _ body: (inout Product) -> Void) { body(&product) }

    /// The product of a SKU added by VariantAdded.
    public func productId(ofSKU sku: String) -> String? { variants[IDKey(sku)]?.productId }

    public func product(_ id: String) -> CatalogProduct? {
        guard let p = products[IDKey(id)], p.created else { return nil }
        var vs: [CatalogVariant] = []
        var total: Int64 = 0
        for sku in p.skus {
            guard let v = variants[IDKey(sku)] else { continue }
            let price = prices[IDKey(sku)]
            let available = inventory.available(sku: sku)
            total.addSaturating(available)
            vs.append(CatalogVariant(sku: sku, options: v.options, price: price?.price ?? v.price,
                                     currency: price?.currency ?? v.currency, available: available))
        }
        return CatalogProduct(productId: id, title: p.title, category: p.category, brand: p.brand,
                              discontinued: p.discontinued, variants: vs, available: total)
    }

    /// Products sorted by productId, optionally of one category.
    public func list(category: String? = nil) -> [CatalogProduct] {
        products.keys.sorted().compactMap { id in
            guard let p = products[id], p.created, category == nil || p.category == category else { return nil }
            return product(id.string)
        }
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(products, key: { $0.string($1.string) }, value: { w, p in
            w.bool(p.created)
            w.string(p.title)
            w.string(p.category)
            w.optionalString(p.brand)
            w.bool(p.discontinued)
            w.array(p.skus) { $0.string($1) }
        })
        w.dictionary(variants, key: { $0.string($1.string) }, value: { w, v in
            w.string(v.productId)
            w.dictionary(v.options, key: { $0.string($1) }, value: { $0.string($1) })
            w.int(v.price)
            w.string(v.currency)
        })
        w.dictionary(prices, key: { $0.string($1.string) }, value: { w, p in
            w.int(p.price)
            w.string(p.currency)
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        let id = { (r: inout R) throws(ProjectionError) -> IDKey in IDKey(try r.string()) }
        products = try r.dictionary(key: id, value: { (r: inout R) throws(ProjectionError) in
            Product(created: try r.bool(), title: try r.string(), category: try r.string(), brand: try r.optionalString(),
                    discontinued: try r.bool(), skus: try r.array(str))
        })
        variants = try r.dictionary(key: id, value: { (r: inout R) throws(ProjectionError) in
            Variant(productId: try r.string(), options: try r.dictionary(key: str, value: str), price: try r.int64(),
                    currency: try r.string())
        })
        prices = try r.dictionary(key: id, value: { (r: inout R) throws(ProjectionError) in
            (price: try r.int64(), currency: try r.string())
        })
    }
}

extension CatalogProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.priceChanged, .productCreated, .productUpdated, .productDiscontinued, .variantAdded] }
}
