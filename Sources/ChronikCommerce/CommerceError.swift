/// The one error type of ChronikCommerce: a code, the field it concerns and,
/// on import, the line.
///
/// `field` is a path from the root of the JSON Lines envelope: `type`, `id`,
/// `time`, `stream`, `expectedVersion`, `meta.actor`, `data.lines[0].qty`,
/// `data.shippingAddress.country`. Errors from `validate()` on a typed event
/// name the field relative to the event's data (`lines[0].qty`); the envelope
/// adds the `data.` prefix.
public struct CommerceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value callers can switch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The line is not well-formed JSON (or not UTF-8).
        public static let invalidJSON = Code("invalidJSON")
        /// A required field is absent (or `null`).
        public static let missingField = Code("missingField")
        /// A field the schema does not know.
        public static let unknownField = Code("unknownField")
        /// A field of the wrong JSON type (a string where a number belongs,
        /// `"true"` for a boolean, a fraction where an integer belongs).
        public static let wrongType = Code("wrongType")
        /// An entity id breaks the id rule (1–128 bytes of `A-Za-z0-9-_.:`).
        public static let invalidId = Code("invalidId")
        /// The event `id` is not a canonical 8-4-4-4-12 UUID.
        public static let invalidEventId = Code("invalidEventId")
        /// The event `id` is already used — in the log or on an earlier
        /// line of the same input — for other content (stream, type, data
        /// or meta). The same content again is an idempotent retry.
        public static let duplicateEventId = Code("duplicateEventId")
        /// The event type is empty or longer than 256 bytes.
        public static let invalidEventType = Code("invalidEventType")
        /// A given `stream` differs from the one derived from the data.
        public static let streamMismatch = Code("streamMismatch")
        /// An unknown type without an explicit `stream`, or a stream name
        /// that is empty or longer than 256 bytes.
        public static let invalidStream = Code("invalidStream")
        /// Not an ISO 4217 currency code.
        public static let invalidCurrency = Code("invalidCurrency")
        /// Not an ISO 3166-1 alpha-2 country code.
        public static let invalidCountry = Code("invalidCountry")
        /// A quantity or count out of range (`qty` ≤ 0, `reorderPoint` < 0…).
        public static let invalidQuantity = Code("invalidQuantity")
        /// A `delta` of 0.
        public static let invalidDelta = Code("invalidDelta")
        /// Money below 0, a payment or refund amount of 0, or an order
        /// total below 0 (or beyond 64 bits).
        public static let invalidAmount = Code("invalidAmount")
        /// An order without lines.
        public static let emptyOrder = Code("emptyOrder")
        /// Not an RFC 3339 date-time (or more precise than microseconds).
        public static let invalidTime = Code("invalidTime")
        /// A card number (13–19 digits passing Luhn) in a payment event.
        public static let cardNumber = Code("cardNumber")
        /// A `meta` that is not an object of string values.
        public static let invalidMeta = Code("invalidMeta")
        /// An `expectedVersion` other than an integer ≥ 0, `"any"`,
        /// `"noStream"` or `"exists"`.
        public static let invalidExpectedVersion = Code("invalidExpectedVersion")
        /// A value outside an enumeration (`channel` of SupportInteraction…).
        public static let invalidEnumValue = Code("invalidEnumValue")
        /// Stored bytes that do not decode (truncated, trailing bytes, bad
        /// UTF-8, an enumeration ordinal out of range).
        public static let invalidData = Code("invalidData")
        /// Stored data with a schema version newer than this code knows.
        public static let unsupportedSchemaVersion = Code("unsupportedSchemaVersion")
        /// Stored data with an old schema version and no upcaster for it.
        public static let missingUpcaster = Code("missingUpcaster")

        // Commerce invariants, refused by `CommerceStore` (docs/COMMANDS.md).

        /// A reservation above available, or a transfer or negative
        /// adjustment that would take reserved or missing units.
        public static let insufficientStock = Code("insufficientStock")
        /// A release above what the order holds reserved in that warehouse.
        public static let overRelease = Code("overRelease")
        /// A shipment above what the order holds reserved in that warehouse.
        public static let overShipment = Code("overShipment")
        /// A capture of a paymentId that was never authorized.
        public static let captureWithoutAuthorization = Code("captureWithoutAuthorization")
        /// Σ captured would pass Σ authorized for a paymentId.
        public static let overCapture = Code("overCapture")
        /// A refund of a paymentId with nothing captured.
        public static let refundWithoutCapture = Code("refundWithoutCapture")
        /// Σ refunded would pass Σ captured for a paymentId.
        public static let overRefund = Code("overRefund")
        /// A settlement line whose `gatewayRef` the gateway already
        /// reported with other content (EVENTS.md v1.2).
        public static let duplicateGatewayRef = Code("duplicateGatewayRef")
        /// `OrderShipped` for a cancelled order.
        public static let orderCancelled = Code("orderCancelled")
        /// `OrderCancelled` once anything of the order has shipped.
        public static let orderAlreadyShipped = Code("orderAlreadyShipped")
        /// An order event other than `OrderPlaced` for an order not placed.
        public static let orderNotFound = Code("orderNotFound")
        /// `OrderPlaced` on an order stream that already exists.
        public static let orderExists = Code("orderExists")
        /// An event for a customer id after its `CustomerForgotten`.
        public static let customerForgotten = Code("customerForgotten")
        /// Optimistic concurrency lost every bounded retry.
        public static let concurrencyConflict = Code("concurrencyConflict")
        /// An input line longer than the import's limit.
        public static let lineTooLong = Code("lineTooLong")
        /// An event larger, encoded, than the log's maximum event
        /// (`--max-event-bytes`).
        public static let eventTooLarge = Code("eventTooLarge")
        /// A line's `expectedVersion` does not hold for its stream.
        public static let wrongExpectedVersion = Code("wrongExpectedVersion")
        /// The log refused the append (its `ChronikLogError` in the message).
        public static let appendFailed = Code("appendFailed")
        /// A `CustomerForgotten` is in the log but destroying the customer's
        /// key failed: the erasure is not complete. Appending a
        /// `CustomerForgotten` for the customer again (any id) destroys the
        /// key; until then their sealed data still opens.
        public static let erasureIncomplete = Code("erasureIncomplete")
        /// Personal data cannot be erased: the `CommerceStore` has no
        /// protector, so its personal data was stored in plaintext.
        public static let noProtector = Code("noProtector")
    }

    public var code: Code
    /// The field, as a path (see the type's documentation); nil when the
    /// error concerns the whole line or the whole event.
    public var field: String?
    /// 1-based line number on import; nil elsewhere.
    public var line: Int?
    /// The 0-based index, in the batch `CommerceStore.append` was given, of
    /// the event a guard refused; nil elsewhere (stop 32: a 422 for one
    /// event of a 1,000-event POST did not say which).
    public var index: Int?
    public var message: String

    public init(_ code: Code, field: String? = nil, line: Int? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.line = line
        self.message = message
    }

    public var description: String {
        var s = ""
        if let line { s += "line \(line): " }
        s += "\(code)"
        if let field { s += " [\(field)]" }
        return s + ": " + message
    }

    /// The same error with `prefix` in front of its field path.
    func prefixed(_ prefix: String) -> CommerceError {
        var e = self
        e.field = field.map { prefix + $0 } ?? String(prefix.dropLast())
        return e
    }
}
