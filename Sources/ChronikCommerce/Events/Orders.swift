// Order events (EVENTS.md): placement, payments, shipments, refunds, returns.
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// Where an order was placed.
public enum OrderChannel: String, CommerceEnum {
    case web
    case app
    case marketplace
}

/// One line of an order.
public struct OrderLine: FieldCodable {
    public var sku: String = ""
    public var qty: Int64 = 0
    public var unitPrice: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, qty: Int64, unitPrice: Int64) {
        self.sku = sku
        self.qty = qty
        self.unitPrice = unitPrice
    }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.int("qty", &qty, .quantity)
        try v.int("unitPrice", &unitPrice, .money)
    }
}

/// A SKU and quantity shipped or returned.
public struct ShipmentLine: FieldCodable {
    public var sku: String = ""
    public var qty: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sku: String, qty: Int64) {
        self.sku = sku
        self.qty = qty
    }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sku", &sku)
        try v.int("qty", &qty, .quantity)
    }
}

/// The lines of a return have the shape of a shipment's.
public typealias ReturnLine = ShipmentLine

/// `OrderPlaced`: a customer places an order. Stream `order-{orderId}`.
public struct OrderPlaced: CommerceEventPayload {
    public static let typeName = "OrderPlaced"
    public static let schemaVersion: UInt8 = 1

    public var orderId: String = ""
    public var customerId: String = ""
    public var sessionId: String? = nil
    public var lines: [OrderLine] = []
    public var currency: String = ""
    public var discount: Int64 = 0
    public var shippingFee: Int64 = 0
    /// PII.
    public var shippingAddress: Address = Address()
    /// PII.
    public var billingAddress: Address? = nil
    /// PII.
    public var ip: String? = nil
    public var channel: OrderChannel? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        orderId: String,
        customerId: String,
        sessionId: String? = nil,
        lines: [OrderLine],
        currency: String,
        discount: Int64 = 0,
        shippingFee: Int64 = 0,
        shippingAddress: Address,
        billingAddress: Address? = nil,
        ip: String? = nil,
        channel: OrderChannel? = nil
    ) {
        self.orderId = orderId
        self.customerId = customerId
        self.sessionId = sessionId
        self.lines = lines
        self.currency = currency
        self.discount = discount
        self.shippingFee = shippingFee
        self.shippingAddress = shippingAddress
        self.billingAddress = billingAddress
        self.ip = ip
        self.channel = channel
    }

    public var stream: String { "order-" + orderId }
    public var piiSubject: String? { customerId }

    /// At least one line; `total` = Σ qty × unitPrice − discount + shippingFee ≥ 0.
    public func validateRules() throws(CommerceError) { try OrderRules.check(self) }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("customerId", &customerId)
        try v.optionalID("sessionId", &sessionId)
        try v.objects("lines", &lines)
        try v.currency("currency", &currency)
        try v.defaultedInt("discount", &discount, .money)
        try v.defaultedInt("shippingFee", &shippingFee, .money)
        try v.object("shippingAddress", &shippingAddress, pii: true)
        try v.optionalObject("billingAddress", &billingAddress, pii: true)
        try v.optionalText("ip", &ip, pii: true)
        try v.optionalEnumeration("channel", &channel)
    }
}

/// `PaymentAuthorized`: a payment is authorized for the order. Stream `order-{orderId}`.
public struct PaymentAuthorized: CommerceEventPayload {
    public static let typeName = "PaymentAuthorized"
    public static let schemaVersion: UInt8 = 1
    public static var rejectsCardNumbers: Bool { true }

    public var orderId: String = ""
    public var paymentId: String = ""
    public var amount: Int64 = 0
    /// card, paypal, invoice, …
    public var method: String = ""
    public var gateway: String = ""
    public var cardToken: String? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        orderId: String,
        paymentId: String,
        amount: Int64,
        method: String,
        gateway: String,
        cardToken: String? = nil
    ) {
        self.orderId = orderId
        self.paymentId = paymentId
        self.amount = amount
        self.method = method
        self.gateway = gateway
        self.cardToken = cardToken
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("paymentId", &paymentId)
        try v.int("amount", &amount, .positiveAmount)
        try v.text("method", &method, pii: false)
        try v.text("gateway", &gateway, pii: false)
        try v.optionalText("cardToken", &cardToken, pii: false)
    }
}

/// `PaymentCaptured`: authorized money is captured. Stream `order-{orderId}`.
public struct PaymentCaptured: CommerceEventPayload {
    public static let typeName = "PaymentCaptured"
    public static let schemaVersion: UInt8 = 1
    public static var rejectsCardNumbers: Bool { true }

    public var orderId: String = ""
    public var paymentId: String = ""
    public var amount: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(orderId: String, paymentId: String, amount: Int64) {
        self.orderId = orderId
        self.paymentId = paymentId
        self.amount = amount
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("paymentId", &paymentId)
        try v.int("amount", &amount, .positiveAmount)
    }
}

/// `PaymentFailed`: a payment attempt fails. Stream `order-{orderId}`.
public struct PaymentFailed: CommerceEventPayload {
    public static let typeName = "PaymentFailed"
    public static let schemaVersion: UInt8 = 1
    public static var rejectsCardNumbers: Bool { true }

    public var orderId: String = ""
    public var paymentId: String = ""
    public var amount: Int64 = 0
    public var reason: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(orderId: String, paymentId: String, amount: Int64, reason: String) {
        self.orderId = orderId
        self.paymentId = paymentId
        self.amount = amount
        self.reason = reason
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("paymentId", &paymentId)
        try v.int("amount", &amount, .positiveAmount)
        try v.text("reason", &reason, pii: false)
    }
}

/// `OrderShipped`: a shipment leaves a warehouse. Stream `order-{orderId}`.
public struct OrderShipped: CommerceEventPayload {
    public static let typeName = "OrderShipped"
    public static let schemaVersion: UInt8 = 1

    public var orderId: String = ""
    public var shipmentId: String = ""
    public var warehouseId: String = ""
    public var carrier: String = ""
    public var trackingNumber: String = ""
    public var lines: [ShipmentLine] = []

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        orderId: String,
        shipmentId: String,
        warehouseId: String,
        carrier: String,
        trackingNumber: String,
        lines: [ShipmentLine]
    ) {
        self.orderId = orderId
        self.shipmentId = shipmentId
        self.warehouseId = warehouseId
        self.carrier = carrier
        self.trackingNumber = trackingNumber
        self.lines = lines
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("shipmentId", &shipmentId)
        try v.id("warehouseId", &warehouseId)
        try v.text("carrier", &carrier, pii: false)
        try v.text("trackingNumber", &trackingNumber, pii: false)
        try v.objects("lines", &lines)
    }
}

/// `OrderDelivered`: a shipment is delivered. Stream `order-{orderId}`.
public struct OrderDelivered: CommerceEventPayload {
    public static let typeName = "OrderDelivered"
    public static let schemaVersion: UInt8 = 1

    public var orderId: String = ""
    public var shipmentId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(orderId: String, shipmentId: String) {
        self.orderId = orderId
        self.shipmentId = shipmentId
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("shipmentId", &shipmentId)
    }
}

/// `OrderCancelled`: the order is cancelled. Stream `order-{orderId}`.
public struct OrderCancelled: CommerceEventPayload {
    public static let typeName = "OrderCancelled"
    public static let schemaVersion: UInt8 = 1

    public var orderId: String = ""
    public var reason: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(orderId: String, reason: String) {
        self.orderId = orderId
        self.reason = reason
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.text("reason", &reason, pii: false)
    }
}

/// `RefundIssued`: captured money is refunded. Stream `order-{orderId}`.
public struct RefundIssued: CommerceEventPayload {
    public static let typeName = "RefundIssued"
    public static let schemaVersion: UInt8 = 1
    public static var rejectsCardNumbers: Bool { true }

    public var orderId: String = ""
    public var refundId: String = ""
    public var paymentId: String = ""
    public var amount: Int64 = 0
    public var reason: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(orderId: String, refundId: String, paymentId: String, amount: Int64, reason: String) {
        self.orderId = orderId
        self.refundId = refundId
        self.paymentId = paymentId
        self.amount = amount
        self.reason = reason
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("refundId", &refundId)
        try v.id("paymentId", &paymentId)
        try v.int("amount", &amount, .positiveAmount)
        try v.text("reason", &reason, pii: false)
    }
}

/// `ReturnReceived`: returned goods arrive at a warehouse. Stream `order-{orderId}`.
public struct ReturnReceived: CommerceEventPayload {
    public static let typeName = "ReturnReceived"
    public static let schemaVersion: UInt8 = 1

    public var orderId: String = ""
    public var returnId: String = ""
    public var warehouseId: String = ""
    public var lines: [ShipmentLine] = []

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(orderId: String, returnId: String, warehouseId: String, lines: [ShipmentLine]) {
        self.orderId = orderId
        self.returnId = returnId
        self.warehouseId = warehouseId
        self.lines = lines
    }

    public var stream: String { "order-" + orderId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("orderId", &orderId)
        try v.id("returnId", &returnId)
        try v.id("warehouseId", &warehouseId)
        try v.objects("lines", &lines)
    }
}
