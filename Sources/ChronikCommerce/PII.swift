// Personal data (GDPR) in stored events: the PII fields of an event are
// sealed under the key of one data subject — a customer, or an anonymous
// session — and kept apart from the rest of the data, so that destroying
// that key erases them while orders, amounts and SKUs stay readable and
// the log stays byte-for-byte immutable (docs/GDPR.md).
//
// Stored layout of an event with sealed PII (docs/EVENTS-CODEC.md):
//
//   0x80 | schemaVersion        1 byte (plain data starts with the version, 1…122, or `{`)
//   subject                     string (varint length + UTF-8), e.g. "customer:c-17"
//   sealed                      bytes (varint length + what PIIProtector.seal returned)
//   fields                      the type's fields in visit order, every PII field blank
//                               ("" / absent / empty object)
//
// `[schemaVersion] + fields` is an ordinary plain encoding, so readers that
// do not need personal data (projections, guards, verify) decode it as
// usual, and upcasters work on it unchanged. The sealed plaintext is
// `[1 (format), schemaVersion]` + the PII fields in visit order, binary
// encoded; the context bound to it (AEAD associated data) is the type name,
// a zero byte, the subject and the blank plain encoding.

import ChronikLog

/// Seals and opens personal data under per-subject keys.
///
/// The commerce API calls it on every append of an event that carries PII
/// (`CommerceStore(protector:)`); ChronikAudit's `SubjectKeyVault`
/// implements it with AES-GCM and a key store kept outside the log; a KMS
/// can replace it.
/// An error by which a key store refuses (a destroyed key, a key it
/// should hold and does not), as against one where it did not answer: a
/// refusal is a conflict with the data (409 `appendFailed`), a failure to
/// answer is one of the moment (`ChronikAudit.KeyStoreError` conforms).
public protocol PIIKeyRefusal: Error {}

public protocol PIIProtector: Sendable {
    /// Seals `plaintext` under `subject`'s key, creating the key when the
    /// subject has none (durable no later than the log append it serves).
    ///
    /// Must be deterministic — the same subject, plaintext and context give
    /// the same bytes — because an idempotent retry compares stored bytes.
    /// - Throws: when the subject's key was destroyed (an erased subject
    ///   takes no new personal data) or the key store fails.
    func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]

    /// Opens what `seal` returned. `nil` when the subject's key is destroyed
    /// or unknown: the data is erased.
    /// - Throws: when the key exists but the bytes do not authenticate
    ///   (corruption or tampering; never read as erased).
    func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]?

    /// Destroys `subject`'s key for good (and refuses to create it again).
    func destroyKey(subject: String) throws

    /// Keys created from now on may stay in memory until
    /// `writeHeldKeys()`: for a bulk writer that seals before it appends
    /// anything (`CommerceImport`'s first pass).
    func holdNewKeys()
    /// Writes the keys held since `holdNewKeys()`, durably; called before
    /// anything sealed with them is appended.
    func writeHeldKeys() throws
}

extension PIIProtector {
    public func holdNewKeys() {}
    public func writeHeldKeys() throws {}
}

/// What a decode found of an event's personal data.
public enum PIIState: Hashable, Sendable {
    /// The event stores no sealed PII (none in its type, none present, or
    /// written before encryption): its PII fields, if any, are as decoded.
    case plain
    /// Sealed and opened: the PII fields hold their values.
    case revealed
    /// Sealed and the subject's key is gone (or no protector was given):
    /// every PII field reads as erased (`null` in JSON, `‹erased›` in text).
    case erased
}

/// The data subject whose key protects an event's PII, as the key store
/// names it: `customer:{customerId}`, or `session:{sessionId}` for an
/// anonymous session (EVENTS.md: a session with a customerId is under that
/// customer's key).
public enum PIISubject {
    public static func customer(_ id: String) -> String { "customer:" + id }
    public static func session(_ id: String) -> String { "session:" + id }
}

extension CommerceEvent {
    /// The key-store name of the subject whose key protects this event's
    /// PII fields (from `piiSubject`, which says whose they are); nil for
    /// types without PII.
    public var piiSubjectKey: String? {
        guard let id = piiSubject else { return nil }
        if case .sessionStarted(let s) = self, s.customerId == nil { return PIISubject.session(id) }
        return PIISubject.customer(id)
    }

    /// The stored data, with the PII fields sealed by `protector` when the
    /// event has any PII value (else the plain encoding).
    public func encodedData(protector: (any PIIProtector)?) throws -> [UInt8] {
        guard let protector, let subject = piiSubjectKey, let payload else { return encodedData() }
        return try PIICodec.seal(payload, type: type, subject: subject, protector: protector)
    }

    /// Decodes stored data and, when its PII is sealed, opens it with
    /// `protector` (no protector: the PII reads as erased).
    public static func decode(type: String, bytes: UnsafeRawBufferPointer, protector: (any PIIProtector)?,
                              upcasters: UpcasterRegistry = .standard) throws -> (event: CommerceEvent, pii: PIIState) {
        let event = try decode(type: type, bytes: bytes, upcasters: upcasters)
        guard let sealed = try PIICodec.Sealed(bytes) else { return (event, .plain) }
        // Nothing sealed: imported erased (docs/GDPR.md), whatever the key.
        if sealed.sealed.isEmpty { return (event, .erased) }
        guard let protector,
              let plaintext = try protector.open(sealed.sealed, subject: sealed.subject, context: sealed.context(type: type))
        else { return (event, .erased) }
        return (try event.fillingPII(from: plaintext), .revealed)
    }

    /// This event with its PII fields read from opened plaintext; a switch
    /// over the six types that have PII (no dynamic casts on the replay
    /// path).
    func fillingPII(from plaintext: [UInt8]) throws(CommerceError) -> CommerceEvent {
        switch self {
        case .customerRegistered(let e): .customerRegistered(try PIICodec.fillTyped(e, from: plaintext))
        case .customerUpdated(let e): .customerUpdated(try PIICodec.fillTyped(e, from: plaintext))
        case .addressChanged(let e): .addressChanged(try PIICodec.fillTyped(e, from: plaintext))
        case .supportInteraction(let e): .supportInteraction(try PIICodec.fillTyped(e, from: plaintext))
        case .orderPlaced(let e): .orderPlaced(try PIICodec.fillTyped(e, from: plaintext))
        case .sessionStarted(let e): .sessionStarted(try PIICodec.fillTyped(e, from: plaintext))
        default: self
        }
    }

    /// This event with every PII field blank ("" / absent / an empty
    /// object), as sealed or erased data stores the plain fields.
    public func blankingPII() -> CommerceEvent {
        func blank<T: CommerceEventPayload>(_ value: T) -> T {
            var v = value
            var split = PIISplitVisitor()
            // The split visitor never throws (its encoder does not).
            try! v.visit(&split)
            return v
        }
        return switch self {
        case .customerRegistered(let e): .customerRegistered(blank(e))
        case .customerUpdated(let e): .customerUpdated(blank(e))
        case .addressChanged(let e): .addressChanged(blank(e))
        case .supportInteraction(let e): .supportInteraction(blank(e))
        case .orderPlaced(let e): .orderPlaced(blank(e))
        case .sessionStarted(let e): .sessionStarted(blank(e))
        default: self
        }
    }

    /// The stored data of this event with its personal data erased (see
    /// `PIIErasure`); the plain encoding for a type without PII.
    public func encodedErasedData() -> [UInt8] {
        guard let subject = piiSubjectKey, let payload else { return encodedData() }
        func erased<T: CommerceEventPayload>(_ p: T) -> [UInt8] { PIICodec.erased(p, subject: subject) }
        return erased(payload)
    }

    /// See `decode(type:bytes:protector:upcasters:)`.
    public static func decode(type: String, data: [UInt8], protector: (any PIIProtector)?,
                              upcasters: UpcasterRegistry = .standard) throws -> (event: CommerceEvent, pii: PIIState) {
        try data.withUnsafeBytes { try decode(type: type, bytes: $0, protector: protector, upcasters: upcasters) }
    }

    /// Writes the JSON object of the data with every PII field as `null`
    /// (what an erased event exports as), or as `erasedAs`.
    public func writeJSONErasingPII(to writer: inout JSONWriter, erasedAs: StaticString = "null") {
        guard let payload else { return writeJSON(to: &writer) }
        func write<T: CommerceEventPayload>(_ p: T) { EventCodec.writeJSON(p, to: &writer, erasingPII: true, erasedAs: erasedAs) }
        write(payload)
    }

    /// Whether stored data holds sealed personal data (one byte test: a
    /// reader that needs no personal data skips everything else).
    @inlinable
    public static func hasSealedPII(_ data: UnsafeRawBufferPointer) -> Bool {
        guard let first = data.first else { return false }
        return first & PIICodec.flag != 0
    }
}

@usableFromInline
enum PIICodec {
    @usableFromInline static let flag: UInt8 = 0x80
    static let plaintextFormat: UInt8 = 1

    /// The parts of stored data with sealed PII.
    struct Sealed {
        var schemaVersion: UInt8
        var subject: String
        var sealed: [UInt8]
        /// The stored bytes, borrowed for the life of the decode.
        var stored: UnsafeRawBufferPointer
        /// Offset of the fields in the stored bytes.
        var fieldsOffset: Int

        /// nil when `bytes` is not sealed data.
        init?(_ bytes: UnsafeRawBufferPointer) throws(CommerceError) {
            guard let h = try Header(bytes) else { return nil }
            let buf = bytes.assumingMemoryBound(to: UInt8.self)
            subject = String(decoding: UnsafeBufferPointer(rebasing: buf[h.subject]), as: UTF8.self)
            sealed = Array(buf[h.sealed])
            fieldsOffset = h.fieldsOffset
            schemaVersion = h.schemaVersion
            stored = bytes
        }

        func context(type: String) -> [UInt8] {
            PIICodec.context(type: type, subject: subject, schemaVersion: schemaVersion,
                             fields: UnsafeRawBufferPointer(rebasing: stored[fieldsOffset...]))
        }
    }

    /// Where the parts of sealed data are, read without copying anything
    /// (decoding the plain fields needs only `fieldsOffset`).
    @usableFromInline
    struct Header {
        var schemaVersion: UInt8
        var subject: Range<Int>
        var sealed: Range<Int>
        var fieldsOffset: Int

        init?(_ bytes: UnsafeRawBufferPointer) throws(CommerceError) {
            guard let first = bytes.first, first & PIICodec.flag != 0 else { return nil }
            let v = first & ~PIICodec.flag
            guard v >= 1, v < 0x7B else { throw CommerceError(.invalidData, "sealed data with schema version \(v)") }
            var r = BinaryReader(bytes.assumingMemoryBound(to: UInt8.self), index: 1)
            let subjectCount = try r.count()
            guard subjectCount <= r.remaining else { throw CommerceError(.invalidData, "sealed personal data ends early") }
            subject = r.index..<(r.index + subjectCount)
            r.index += subjectCount
            let n = try r.count()
            guard n <= r.remaining else { throw CommerceError(.invalidData, "sealed personal data ends early") }
            sealed = r.index..<(r.index + n)
            fieldsOffset = r.index + n
            schemaVersion = v
        }
    }

    /// The associated data that binds sealed PII to its event: `type ‖ 0 ‖
    /// subject ‖ 0 ‖ [schemaVersion] + fields` (the blank plain encoding).
    static func context(type: String, subject: String, schemaVersion: UInt8, fields: UnsafeRawBufferPointer) -> [UInt8] {
        var c: [UInt8] = []
        c.reserveCapacity(type.utf8.count + subject.utf8.count + 3 + fields.count)
        c.append(contentsOf: type.utf8)
        c.append(0)
        c.append(contentsOf: subject.utf8)
        c.append(0)
        c.append(schemaVersion)
        c.append(contentsOf: fields)
        return c
    }

    /// Where the fields start in stored data of `T`, whether sealed or not.
    /// Throws for sealed data whose header is malformed.
    @usableFromInline
    static func fieldsOffset(_ bytes: UnsafeRawBufferPointer) throws(CommerceError) -> (version: UInt8, offset: Int) {
        guard let h = try Header(bytes) else { return (bytes.first ?? 0, 1) }
        return (h.schemaVersion, h.fieldsOffset)
    }

    static func seal<T: CommerceEventPayload>(_ value: T, type: String, subject: String,
                                              protector: any PIIProtector) throws -> [UInt8] {
        var blank = value
        var split = PIISplitVisitor()
        split.pii.writer.byte(plaintextFormat)
        split.pii.writer.byte(T.schemaVersion)
        // The split visitor never throws (its encoder does not).
        try! blank.visit(&split)
        guard split.found else { return EventCodec.encode(value) }
        let plain = EventCodec.encode(blank)
        let context = plain.withUnsafeBytes {
            Self.context(type: type, subject: subject, schemaVersion: T.schemaVersion,
                         fields: UnsafeRawBufferPointer(rebasing: $0[1...]))
        }
        let sealed = try protector.seal(split.pii.writer.bytes, subject: subject, context: context)
        var w = BinaryWriter(capacity: plain.count + sealed.count + subject.utf8.count + 8)
        w.byte(flag | T.schemaVersion)
        w.string(subject)
        w.varint(UInt64(sealed.count))
        w.append(contentsOf: sealed)
        w.append(contentsOf: plain[1...])
        return w.bytes
    }

    /// The stored form of an event whose personal data arrived erased: the
    /// sealed layout with an empty sealed part (no ciphertext, so nothing
    /// any key could open) and every PII field blank. It reads as erased
    /// with or without the subject's key.
    static func erased<T: CommerceEventPayload>(_ value: T, subject: String) -> [UInt8] {
        var blank = value
        var split = PIISplitVisitor()
        // The split visitor never throws (its encoder does not).
        try! blank.visit(&split)
        let plain = EventCodec.encode(blank)
        var w = BinaryWriter(capacity: plain.count + subject.utf8.count + 8)
        w.byte(flag | T.schemaVersion)
        w.string(subject)
        w.varint(0)
        w.append(contentsOf: plain[1...])
        return w.bytes
    }

    static func fillTyped<T: CommerceEventPayload>(_ value: T, from plaintext: [UInt8]) throws(CommerceError) -> T {
        try plaintext.withUnsafeBufferPointer { (buf) throws(CommerceError) -> T in
            var r = BinaryReader(buf)
            guard try r.byte() == plaintextFormat else {
                throw CommerceError(.invalidData, "\(T.typeName): sealed personal data of an unknown format")
            }
            let v = try r.byte()
            guard v == T.schemaVersion else {
                throw CommerceError(.unsupportedSchemaVersion,
                                    "\(T.typeName): personal data sealed at schema version \(v), this code reads \(T.schemaVersion) (a PII upcaster is needed)")
            }
            var fill = PIIFillVisitor(inner: BinaryDecodingVisitor(reader: r))
            var out = value
            try out.visit(&fill)
            try fill.inner.reader.finish()
            return out
        }
    }
}

/// Moves every PII field's value into `pii` (binary encoded, visit order)
/// and leaves the field blank.
struct PIISplitVisitor: FieldVisitor {
    var pii = BinaryEncodingVisitor(writer: BinaryWriter(capacity: 128))
    /// Whether any PII field had a value.
    var found = false

    mutating func id(_ name: StaticString, _ value: inout String) {}
    mutating func optionalID(_ name: StaticString, _ value: inout String?) {}
    mutating func text(_ name: StaticString, _ value: inout String, pii isPII: Bool) {
        guard isPII else { return }
        pii.text(name, &value, pii: true)
        value = ""
        found = true
    }
    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii isPII: Bool) {
        guard isPII else { return }
        if value != nil { found = true }
        pii.optionalText(name, &value, pii: true)
        value = nil
    }
    mutating func currency(_ name: StaticString, _ value: inout String) {}
    mutating func country(_ name: StaticString, _ value: inout String) {}
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) {}
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) {}
    mutating func bool(_ name: StaticString, _ value: inout Bool) {}
    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) {}
    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) {}
    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) {}
    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) {}
    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {}
    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii isPII: Bool) throws(CommerceError) {
        if isPII {
            try pii.object(name, &value, pii: true)
            value = T()
            found = true
        } else {
            try value.visit(&self)
        }
    }
    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii isPII: Bool) throws(CommerceError) {
        if isPII {
            if value != nil { found = true }
            try pii.optionalObject(name, &value, pii: true)
            value = nil
        } else if var v = value {
            try v.visit(&self)
            value = v
        }
    }
    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        for i in value.indices { try value[i].visit(&self) }
    }
}

/// Reads every PII field's value back from the opened plaintext, in the
/// order `PIISplitVisitor` wrote them.
struct PIIFillVisitor: FieldVisitor {
    var inner: BinaryDecodingVisitor

    mutating func id(_ name: StaticString, _ value: inout String) {}
    mutating func optionalID(_ name: StaticString, _ value: inout String?) {}
    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError) {
        if pii { try inner.text(name, &value, pii: true) }
    }
    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError) {
        if pii { try inner.optionalText(name, &value, pii: true) }
    }
    mutating func currency(_ name: StaticString, _ value: inout String) {}
    mutating func country(_ name: StaticString, _ value: inout String) {}
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) {}
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) {}
    mutating func bool(_ name: StaticString, _ value: inout Bool) {}
    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) {}
    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) {}
    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) {}
    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) {}
    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {}
    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        if pii { try inner.object(name, &value, pii: true) } else { try value.visit(&self) }
    }
    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        if pii {
            try inner.optionalObject(name, &value, pii: true)
        } else if var v = value {
            try v.visit(&self)
            value = v
        }
    }
    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        for i in value.indices { try value[i].visit(&self) }
    }
}

/// How a line of an import gives its personal data as erased: `null` for
/// every PII field it names, as `chronik export` writes a forgotten
/// customer's events (docs/GDPR.md).
public enum PIIErasure: Hashable, Sendable {
    /// A required PII field (`field`, e.g. `data.email`) is `null`: valid
    /// only where the subject is a forgotten customer; stored erased.
    case required(field: String)
    /// Only optional PII fields, all `null`: stored erased where the
    /// subject is a forgotten customer, else read as absent (as before).
    case ifForgotten

    /// The claim a line's data makes: nil when any PII field has a value,
    /// when no PII field is `null`, or when a required one is absent
    /// (then the decode reports it missing).
    static func claim(_ type: CommerceEventType, _ members: [JSONMember]) -> PIIErasure? {
        // Most lines have no null at all: no schema walk for them.
        guard members.contains(where: { if case .null = $0.value { true } else { false } }) else { return nil }
        let fields = type.schema.fields.filter(\.isPII)
        guard !fields.isEmpty else { return nil }
        var firstRequired: String?
        var nulls = 0
        for f in fields {
            guard let m = members.first(where: { $0.key == f.name }) else {
                if !f.isOptional { return nil }
                continue
            }
            guard case .null = m.value else { return nil }
            nulls += 1
            if !f.isOptional && firstRequired == nil { firstRequired = "data." + f.name }
        }
        guard nulls > 0 else { return nil }
        return firstRequired.map { .required(field: $0) } ?? .ifForgotten
    }
}
