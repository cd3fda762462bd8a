// Inventory events (EVENTS.md): one stream per SKU, all of its warehouses.
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// `StockReceived`: goods arrive in a warehouse. Stream `stock-{sku}`.
public struct StockReceived: CommerceEventPayload {
    public static let typeName = "StockReceived"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    public var qty: Int64 = 0
    public var purchaseOrderId: String? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, qty: Int64, purchaseOrderId: String? = nil) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.qty = qty
        self.purchaseOrderId = purchaseOrderId
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("qty", &qty, .quantity)
        try v.optionalID("purchaseOrderId", &purchaseOrderId)
    }
}

/// `StockReserved`: units are reserved for an order. Stream `stock-{sku}`.
public struct StockReserved: CommerceEventPayload {
    public static let typeName = "StockReserved"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    public var qty: Int64 = 0
    public var orderId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, qty: Int64, orderId: String) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.qty = qty
        self.orderId = orderId
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("qty", &qty, .quantity)
        try v.id("orderId", &orderId)
    }
}

/// `StockReleased`: a reservation is released. Stream `stock-{sku}`.
public struct StockReleased: CommerceEventPayload {
    public static let typeName = "StockReleased"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    public var qty: Int64 = 0
    public var orderId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, qty: Int64, orderId: String) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.qty = qty
        self.orderId = orderId
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("qty", &qty, .quantity)
        try v.id("orderId", &orderId)
    }
}

/// `StockShipped`: reserved units leave the warehouse for an order. Stream `stock-{sku}`.
public struct StockShipped: CommerceEventPayload {
    public static let typeName = "StockShipped"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    public var qty: Int64 = 0
    public var orderId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, qty: Int64, orderId: String) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.qty = qty
        self.orderId = orderId
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("qty", &qty, .quantity)
        try v.id("orderId", &orderId)
    }
}

/// `StockReturned`: units of an order come back to stock. Stream `stock-{sku}`.
public struct StockReturned: CommerceEventPayload {
    public static let typeName = "StockReturned"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    public var qty: Int64 = 0
    public var orderId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, qty: Int64, orderId: String) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.qty = qty
        self.orderId = orderId
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("qty", &qty, .quantity)
        try v.id("orderId", &orderId)
    }
}

/// `StockAdjusted`: on-hand stock is corrected. Stream `stock-{sku}`.
public struct StockAdjusted: CommerceEventPayload {
    public static let typeName = "StockAdjusted"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    /// Signed, never 0.
    public var delta: Int64 = 0
    /// count, damage, shrinkage, …
    public var reason: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, delta: Int64, reason: String) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.delta = delta
        self.reason = reason
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("delta", &delta, .delta)
        try v.text("reason", &reason, pii: false)
    }
}

/// `StockTransferred`: units move between warehouses. Stream `stock-{sku}`.
public struct StockTransferred: CommerceEventPayload {
    public static let typeName = "StockTransferred"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var fromWarehouseId: String = ""
    public var toWarehouseId: String = ""
    public var qty: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, fromWarehouseId: String, toWarehouseId: String, qty: Int64) {
        self.sku = sku
        self.fromWarehouseId = fromWarehouseId
        self.toWarehouseId = toWarehouseId
        self.qty = qty
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("fromWarehouseId", &fromWarehouseId)
        try v.id("toWarehouseId", &toWarehouseId)
        try v.int("qty", &qty, .quantity)
    }
}

/// `ReorderPointSet`: the reorder point and quantity of a SKU in a warehouse. Stream `stock-{sku}`.
public struct ReorderPointSet: CommerceEventPayload {
    public static let typeName = "ReorderPointSet"
    public static let schemaVersion: UInt8 = 1

    public var sku: String = ""
    public var warehouseId: String = ""
    public var reorderPoint: Int64 = 0
    public var reorderQty: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, warehouseId: String, reorderPoint: Int64, reorderQty: Int64) {
        self.sku = sku
        self.warehouseId = warehouseId
        self.reorderPoint = reorderPoint
        self.reorderQty = reorderQty
    }

    public var stream: String { "stock-" + sku }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.id("warehouseId", &warehouseId)
        try v.int("reorderPoint", &reorderPoint, .count)
        try v.int("reorderQty", &reorderQty, .quantity)
    }
}
