// Supply-chain events (EVENTS.md): suppliers and purchase orders.
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// One line of a purchase order.
public struct PurchaseOrderLine: FieldCodable {
    public var sku: String = ""
    public var qty: Int64 = 0
    public var unitCost: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, qty: Int64, unitCost: Int64) {
        self.sku = sku
        self.qty = qty
        self.unitCost = unitCost
    }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.int("qty", &qty, .quantity)
        try v.int("unitCost", &unitCost, .money)
    }
}

/// `SupplierRegistered`: a supplier is registered. Stream `supplier-{supplierId}`.
public struct SupplierRegistered: CommerceEventPayload {
    public static let typeName = "SupplierRegistered"
    public static let schemaVersion: UInt8 = 1

    public var supplierId: String = ""
    public var name: String = ""
    public var leadTimeDays: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(supplierId: String, name: String, leadTimeDays: Int64) {
        self.supplierId = supplierId
        self.name = name
        self.leadTimeDays = leadTimeDays
    }

    public var stream: String { "supplier-" + supplierId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("supplierId", &supplierId)
        try v.text("name", &name, pii: false)
        try v.int("leadTimeDays", &leadTimeDays, .count)
    }
}

/// `PurchaseOrderPlaced`: goods are ordered from a supplier. Stream `po-{purchaseOrderId}`.
public struct PurchaseOrderPlaced: CommerceEventPayload {
    public static let typeName = "PurchaseOrderPlaced"
    public static let schemaVersion: UInt8 = 1

    public var purchaseOrderId: String = ""
    public var supplierId: String = ""
    public var warehouseId: String = ""
    public var lines: [PurchaseOrderLine] = []
    public var currency: String = ""
    public var expectedAt: Timestamp = Timestamp(microseconds: 0)

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        purchaseOrderId: String,
        supplierId: String,
        warehouseId: String,
        lines: [PurchaseOrderLine],
        currency: String,
        expectedAt: Timestamp
    ) {
        self.purchaseOrderId = purchaseOrderId
        self.supplierId = supplierId
        self.warehouseId = warehouseId
        self.lines = lines
        self.currency = currency
        self.expectedAt = expectedAt
    }

    public var stream: String { "po-" + purchaseOrderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("purchaseOrderId", &purchaseOrderId)
        try v.id("supplierId", &supplierId)
        try v.id("warehouseId", &warehouseId)
        try v.objects("lines", &lines)
        try v.currency("currency", &currency)
        try v.timestamp("expectedAt", &expectedAt)
    }
}

/// `PurchaseOrderReceived`: the purchase order is closed; its goods arrive as StockReceived. Stream `po-{purchaseOrderId}`.
public struct PurchaseOrderReceived: CommerceEventPayload {
    public static let typeName = "PurchaseOrderReceived"
    public static let schemaVersion: UInt8 = 1

    public var purchaseOrderId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(purchaseOrderId: String) {
        self.purchaseOrderId = purchaseOrderId
    }

    public var stream: String { "po-" + purchaseOrderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("purchaseOrderId", &purchaseOrderId)
    }
}
