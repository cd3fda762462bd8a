// Customer events (EVENTS.md). Fields marked PII are personal data.
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// The channel of a support interaction.
public enum SupportChannel: String, CommerceEnum {
    case email
    case phone
    case chat
}

/// A postal address (all of it PII where used).
public struct Address: FieldCodable {
    public var line1: String = ""
    public var line2: String? = nil
    public var city: String = ""
    public var postalCode: String = ""
    /// ISO 3166-1 alpha-2.
    public var country: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(line1: String, line2: String? = nil, city: String, postalCode: String, country: String) {
        self.line1 = line1
        self.line2 = line2
        self.city = city
        self.postalCode = postalCode
        self.country = country
    }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.text("line1", &line1, pii: false)
        try v.optionalText("line2", &line2, pii: false)
        try v.text("city", &city, pii: false)
        try v.text("postalCode", &postalCode, pii: false)
        try v.country("country", &country)
    }
}

/// `CustomerRegistered`: a customer account is created. Stream `customer-{customerId}`.
public struct CustomerRegistered: CommerceEventPayload {
    public static let typeName = "CustomerRegistered"
    public static let schemaVersion: UInt8 = 1

    public var customerId: String = ""
    /// PII.
    public var email: String = ""
    /// PII.
    public var name: String = ""
    /// PII.
    public var phone: String? = nil
    /// PII.
    public var address: Address = Address()
    public var marketingConsent: Bool = false

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(
        customerId: String,
        email: String,
        name: String,
        phone: String? = nil,
        address: Address,
        marketingConsent: Bool
    ) {
        self.customerId = customerId
        self.email = email
        self.name = name
        self.phone = phone
        self.address = address
        self.marketingConsent = marketingConsent
    }

    public var stream: String { "customer-" + customerId }
    public var piiSubject: String? { customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
        try v.text("email", &email, pii: true)
        try v.text("name", &name, pii: true)
        try v.optionalText("phone", &phone, pii: true)
        try v.object("address", &address, pii: true)
        try v.bool("marketingConsent", &marketingConsent)
    }
}

/// `CustomerUpdated`: contact details change; absent fields stay as they were. Stream `customer-{customerId}`.
public struct CustomerUpdated: CommerceEventPayload {
    public static let typeName = "CustomerUpdated"
    public static let schemaVersion: UInt8 = 1

    public var customerId: String = ""
    /// PII.
    public var email: String? = nil
    /// PII.
    public var name: String? = nil
    /// PII.
    public var phone: String? = nil

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(customerId: String, email: String? = nil, name: String? = nil, phone: String? = nil) {
        self.customerId = customerId
        self.email = email
        self.name = name
        self.phone = phone
    }

    public var stream: String { "customer-" + customerId }
    public var piiSubject: String? { customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
        try v.optionalText("email", &email, pii: true)
        try v.optionalText("name", &name, pii: true)
        try v.optionalText("phone", &phone, pii: true)
    }
}

/// `AddressChanged`: the customer's address changes. Stream `customer-{customerId}`.
public struct AddressChanged: CommerceEventPayload {
    public static let typeName = "AddressChanged"
    public static let schemaVersion: UInt8 = 1

    public var customerId: String = ""
    /// PII.
    public var address: Address = Address()

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(customerId: String, address: Address) {
        self.customerId = customerId
        self.address = address
    }

    public var stream: String { "customer-" + customerId }
    public var piiSubject: String? { customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
        try v.object("address", &address, pii: true)
    }
}

/// `ConsentChanged`: marketing consent is given or withdrawn. Stream `customer-{customerId}`.
public struct ConsentChanged: CommerceEventPayload {
    public static let typeName = "ConsentChanged"
    public static let schemaVersion: UInt8 = 1

    public var customerId: String = ""
    public var marketingConsent: Bool = false

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(customerId: String, marketingConsent: Bool) {
        self.customerId = customerId
        self.marketingConsent = marketingConsent
    }

    public var stream: String { "customer-" + customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
        try v.bool("marketingConsent", &marketingConsent)
    }
}

/// `PaymentMethodAdded`: a tokenized payment method; a card number itself is never accepted. Stream `customer-{customerId}`.
public struct PaymentMethodAdded: CommerceEventPayload {
    public static let typeName = "PaymentMethodAdded"
    public static let schemaVersion: UInt8 = 1
    public static var rejectsCardNumbers: Bool { true }

    public var customerId: String = ""
    public var token: String = ""
    public var brand: String = ""
    public var last4: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(customerId: String, token: String, brand: String, last4: String) {
        self.customerId = customerId
        self.token = token
        self.brand = brand
        self.last4 = last4
    }

    public var stream: String { "customer-" + customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
        try v.text("token", &token, pii: false)
        try v.text("brand", &brand, pii: false)
        try v.text("last4", &last4, pii: false)
    }
}

/// `SupportInteraction`: a contact with customer support. Stream `customer-{customerId}`.
public struct SupportInteraction: CommerceEventPayload {
    public static let typeName = "SupportInteraction"
    public static let schemaVersion: UInt8 = 1

    public var customerId: String = ""
    public var orderId: String? = nil
    public var channel: SupportChannel = .email
    /// PII.
    public var summary: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(customerId: String, orderId: String? = nil, channel: SupportChannel, summary: String) {
        self.customerId = customerId
        self.orderId = orderId
        self.channel = channel
        self.summary = summary
    }

    public var stream: String { "customer-" + customerId }
    public var piiSubject: String? { customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
        try v.optionalID("orderId", &orderId)
        try v.enumeration("channel", &channel)
        try v.text("summary", &summary, pii: true)
    }
}

/// `CustomerForgotten`: gDPR erasure: the customer's key is destroyed; PII reads as erased. Stream `customer-{customerId}`.
public struct CustomerForgotten: CommerceEventPayload {
    public static let typeName = "CustomerForgotten"
    public static let schemaVersion: UInt8 = 1

    public var customerId: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(customerId: String) {
        self.customerId = customerId
    }

    public var stream: String { "customer-" + customerId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("customerId", &customerId)
    }
}
