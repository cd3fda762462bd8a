// Catalog events (EVENTS.md): products, variants, prices.
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// `ProductCreated`: a product enters the catalog. Stream `product-{productId}`.
public struct ProductCreated: CommerceEventPayload {
    public static let typeName = "ProductCreated"
    public static let schemaVersion: UInt8 = 1

    public var productId: String = ""
    public var title: String = ""
    public var description: String? = nil
    public var brand: String? = nil
    public var category: String = ""
    /// Image URLs.
    public var images: [String]? = nil
    public var attributes: [String: String]? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        productId: String,
        title: String,
        description: String? = nil,
        brand: String? = nil,
        category: String,
        images: [String]? = nil,
        attributes: [String: String]? = nil
    ) {
        self.productId = productId
        self.title = title
        self.description = description
        self.brand = brand
        self.category = category
        self.images = images
        self.attributes = attributes
    }

    public var stream: String { "product-" + productId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("productId", &productId)
        try v.text("title", &title, pii: false)
        try v.optionalText("description", &description, pii: false)
        try v.optionalText("brand", &brand, pii: false)
        try v.text("category", &category, pii: false)
        try v.optionalStrings("images", &images)
        try v.optionalMap("attributes", &attributes)
    }
}

/// `ProductUpdated`: product fields change; absent fields stay as they were. Stream `product-{productId}`.
public struct ProductUpdated: CommerceEventPayload {
    public static let typeName = "ProductUpdated"
    public static let schemaVersion: UInt8 = 1

    public var productId: String = ""
    public var title: String? = nil
    public var description: String? = nil
    public var category: String? = nil
    /// Image URLs; when present, replaces the list.
    public var images: [String]? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        productId: String,
        title: String? = nil,
        description: String? = nil,
        category: String? = nil,
        images: [String]? = nil
    ) {
        self.productId = productId
        self.title = title
        self.description = description
        self.category = category
        self.images = images
    }

    public var stream: String { "product-" + productId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("productId", &productId)
        try v.optionalText("title", &title, pii: false)
        try v.optionalText("description", &description, pii: false)
        try v.optionalText("category", &category, pii: false)
        try v.optionalStrings("images", &images)
    }
}

/// `VariantAdded`: a sellable variant (SKU) of a product, with its first price. Stream `product-{productId}`.
public struct VariantAdded: CommerceEventPayload {
    public static let typeName = "VariantAdded"
    public static let schemaVersion: UInt8 = 1

    public var productId: String = ""
    public var sku: String = ""
    /// Size, colour, …
    public var options: [String: String]? = nil
    public var price: Int64 = 0
    public var currency: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        productId: String,
        sku: String,
        options: [String: String]? = nil,
        price: Int64,
        currency: String
    ) {
        self.productId = productId
        self.sku = sku
        self.options = options
        self.price = price
        self.currency = currency
    }

    public var stream: String { "product-" + productId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("productId", &productId)
        try v.id("sku", &sku)
        try v.optionalMap("options", &options)
        try v.int("price", &price, .money)
        try v.currency("currency", &currency)
    }
}

/// `PriceChanged`: a SKU's price changes. Stream `price-{sku}`.
public struct PriceChanged: CommerceEventPayload {
    public static let typeName = "PriceChanged"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var price: Int64 = 0
    public var currency: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, price: Int64, currency: String) {
        self.sku = sku
        self.price = price
        self.currency = currency
    }

    public var stream: String { "price-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.int("price", &price, .money)
        try v.currency("currency", &currency)
    }
}

/// `ProductDiscontinued`: a product leaves the catalog. Stream `product-{productId}`.
public struct ProductDiscontinued: CommerceEventPayload {
    public static let typeName = "ProductDiscontinued"
    public static let schemaVersion: UInt8 = 1

    public var productId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(productId: String) {
        self.productId = productId
    }

    public var stream: String { "product-" + productId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("productId", &productId)
    }
}
