// Every event type lists its fields once, in `visit(_:)`; each concern is a
// visitor walking that list: the binary encoder and decoder, the JSON reader
// and writer, validation and the schema description. The order of the calls
// is the binary field order, so it is part of the stored format
// (docs/EVENTS-CODEC.md): append new fields only with a schema version bump
// and an upcaster.

/// The range an integer field must be in.
public enum IntRule: Hashable, Sendable {
    /// > 0: `qty`, `reorderQty`.
    case quantity
    /// ≥ 0: `reorderPoint`, `leadTimeDays`, `resultCount`.
    case count
    /// ≥ 0, minor units: `price`, `unitPrice`, `unitCost`, `discount`, …
    case money
    /// > 0, minor units: payment and refund `amount`.
    case positiveAmount
    /// ≠ 0: `delta`.
    case delta
    /// Any value, minor units: settlement `gross` and `net`.
    case signed
}

/// A closed set of string values stored as a one-byte ordinal.
///
/// The ordinal is the position in `allCases`: append new cases at the end
/// only (and bump the schema version of every event using the type).
public protocol CommerceEnum: RawRepresentable<String>, CaseIterable, Hashable, Sendable
where AllCases == [Self] {}

/// A value made of named fields: an event's data or a nested value such as
/// an address or an order line.
public protocol FieldCodable: Hashable, Sendable {
    /// An instance with every field at its zero value; decoders fill it in.
    init()
    /// Presents each field, in schema order, to `visitor`.
    mutating func visit<V: FieldVisitor>(_ visitor: inout V) throws(CommerceError)
}

/// The data of one event type.
public protocol CommerceEventPayload: FieldCodable {
    /// The event type, e.g. `OrderPlaced`.
    static var typeName: String { get }
    /// The version of the binary layout written today (1–122; the first
    /// byte of stored data).
    static var schemaVersion: UInt8 { get }
    /// True for the payment-related types in which no string may be a card
    /// number (EVENTS.md, Precise rules).
    static var rejectsCardNumbers: Bool { get }
    /// The stream the event belongs on, derived from its data.
    var stream: String { get }
    /// Whose key protects the PII fields (the customer, or the session for
    /// an anonymous session); nil when the type has no PII.
    var piiSubject: String? { get }
    /// Rules across fields (an order's lines and total); the per-field rules
    /// come from `visit(_:)`.
    func validateRules() throws(CommerceError)
}

extension CommerceEventPayload {
    public static var rejectsCardNumbers: Bool { false }
    public var piiSubject: String? { nil }
    public func validateRules() throws(CommerceError) {}
}

/// One concern applied to every field of a `FieldCodable`.
///
/// `name` is the JSON key. `pii` marks personal data (EVENTS.md); a nested
/// object marked `pii` makes all of its fields personal data.
public protocol FieldVisitor {
    /// An entity id (id rule: 1–128 bytes of `A-Za-z0-9-_.:`).
    mutating func id(_ name: StaticString, _ value: inout String) throws(CommerceError)
    mutating func optionalID(_ name: StaticString, _ value: inout String?) throws(CommerceError)
    /// Free text.
    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError)
    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError)
    /// An ISO 4217 code.
    mutating func currency(_ name: StaticString, _ value: inout String) throws(CommerceError)
    /// An ISO 3166-1 alpha-2 code.
    mutating func country(_ name: StaticString, _ value: inout String) throws(CommerceError)
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError)
    /// An integer that may be absent on import, meaning 0; always exported.
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError)
    mutating func bool(_ name: StaticString, _ value: inout Bool) throws(CommerceError)
    /// An RFC 3339 date-time, kept to the microsecond.
    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) throws(CommerceError)
    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) throws(CommerceError)
    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) throws(CommerceError)
    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) throws(CommerceError)
    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) throws(CommerceError)
    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError)
    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError)
    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError)
}

extension StaticString {
    /// The name as a `String` (for messages and paths; cold).
    var text: String { description }

    /// Whether `bytes` spell this name.
    @inline(__always)
    func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = utf8CodeUnitCount
        guard bytes.count == n else { return false }
        return memcmpEqual(utf8Start, bytes.baseAddress, n)
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ n: Int) -> Bool {
    guard let b else { return n == 0 }
    for i in 0..<n where a[i] != b[i] { return false }
    return true
}
