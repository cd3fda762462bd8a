// Marketing and analytics events (EVENTS.md): sessions and campaigns.
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// `SessionStarted`: a visitor session starts. Stream `session-{sessionId}`.
public struct SessionStarted: CommerceEventPayload {
    public static let typeName = "SessionStarted"
    public static let schemaVersion: UInt8 = 1

    public var sessionId: String = ""
    public var customerId: String? = nil
    public var channel: String = ""
    public var campaignId: String? = nil
    public var device: String? = nil
    /// PII.
    public var ip: String? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        sessionId: String,
        customerId: String? = nil,
        channel: String,
        campaignId: String? = nil,
        device: String? = nil,
        ip: String? = nil
    ) {
        self.sessionId = sessionId
        self.customerId = customerId
        self.channel = channel
        self.campaignId = campaignId
        self.device = device
        self.ip = ip
    }

    public var stream: String { "session-" + sessionId }
    /// The customer's key when the session has a customer, else the session's.
    public var piiSubject: String? { customerId ?? sessionId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sessionId", &sessionId)
        try v.optionalID("customerId", &customerId)
        try v.text("channel", &channel, pii: false)
        try v.optionalID("campaignId", &campaignId)
        try v.optionalText("device", &device, pii: false)
        try v.optionalText("ip", &ip, pii: true)
    }
}

/// `PageViewed`: a page is viewed. Stream `session-{sessionId}`.
public struct PageViewed: CommerceEventPayload {
    public static let typeName = "PageViewed"
    public static let schemaVersion: UInt8 = 1

    public var sessionId: String = ""
    public var path: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sessionId: String, path: String) {
        self.sessionId = sessionId
        self.path = path
    }

    public var stream: String { "session-" + sessionId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sessionId", &sessionId)
        try v.text("path", &path, pii: false)
    }
}

/// `ProductViewed`: a product page is viewed. Stream `session-{sessionId}`.
public struct ProductViewed: CommerceEventPayload {
    public static let typeName = "ProductViewed"
    public static let schemaVersion: UInt8 = 1

    public var sessionId: String = ""
    public var productId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sessionId: String, productId: String) {
        self.sessionId = sessionId
        self.productId = productId
    }

    public var stream: String { "session-" + sessionId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sessionId", &sessionId)
        try v.id("productId", &productId)
    }
}

/// `SearchPerformed`: a search runs. Stream `session-{sessionId}`.
public struct SearchPerformed: CommerceEventPayload {
    public static let typeName = "SearchPerformed"
    public static let schemaVersion: UInt8 = 1

    public var sessionId: String = ""
    public var query: String = ""
    public var resultCount: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sessionId: String, query: String, resultCount: Int64) {
        self.sessionId = sessionId
        self.query = query
        self.resultCount = resultCount
    }

    public var stream: String { "session-" + sessionId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sessionId", &sessionId)
        try v.text("query", &query, pii: false)
        try v.int("resultCount", &resultCount, .count)
    }
}

/// `CartItemAdded`: a SKU goes into the cart. Stream `session-{sessionId}`.
public struct CartItemAdded: CommerceEventPayload {
    public static let typeName = "CartItemAdded"
    public static let schemaVersion: UInt8 = 1

    public var sessionId: String = ""
    public var sku: String = ""
    public var qty: Int64 = 0

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(sessionId: String, sku: String, qty: Int64) {
        self.sessionId = sessionId
        self.sku = sku
        self.qty = qty
    }

    public var stream: String { "session-" + sessionId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("sessionId", &sessionId)
        try v.id("sku", &sku)
        try v.int("qty", &qty, .quantity)
    }
}

/// `CampaignLaunched`: a marketing campaign starts. Stream `campaign-{campaignId}`.
public struct CampaignLaunched: CommerceEventPayload {
    public static let typeName = "CampaignLaunched"
    public static let schemaVersion: UInt8 = 1

    public var campaignId: String = ""
    public var name: String = ""
    public var channel: String = ""
    public var budget: Int64 = 0
    public var currency: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(campaignId: String, name: String, channel: String, budget: Int64, currency: String) {
        self.campaignId = campaignId
        self.name = name
        self.channel = channel
        self.budget = budget
        self.currency = currency
    }

    public var stream: String { "campaign-" + campaignId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("campaignId", &campaignId)
        try v.text("name", &name, pii: false)
        try v.text("channel", &channel, pii: false)
        try v.int("budget", &budget, .money)
        try v.currency("currency", &currency)
    }
}
