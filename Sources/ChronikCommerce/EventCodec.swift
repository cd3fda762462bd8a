// Binary and JSON coding of one event type's data, with schema versions and
// upcasting (docs/EVENTS-CODEC.md).
//
// Stored data = 1 byte schema version (1–122) + the fields in `visit` order.
// Data whose first byte is `{` (0x7B) is JSON: how an event of a type this
// code did not know yet was stored; it decodes through the JSON path, so a
// type can become known without rewriting the log.

/// Turns stored data of one schema version into the next version's.
///
/// The reader is positioned after the old version byte; the writer already
/// holds the new version byte. Read every old field, write every new one.
public typealias UpcastTransform = @Sendable (inout BinaryReader, inout BinaryWriter) throws(CommerceError) -> Void

/// The upcasters known to a decoder, keyed by event type and the version
/// they upcast from.
///
/// To change a type's layout: bump its `schemaVersion` to N+1, keep the
/// fields' new order in `visit`, and register a transform from N. Old
/// events are never rewritten; they are upcast every time they are read.
public struct UpcasterRegistry: Sendable {
    struct Key: Hashable, Sendable {
        var type: String
        var from: UInt8
    }

    var transforms: [Key: UpcastTransform] = [:]

    public init() {}

    /// The registry of the shipped event types. Every type is at schema
    /// version 1 today, so it is empty.
    public static let standard = UpcasterRegistry()

    /// Registers the transform from version `from` to `from + 1` of `type`.
    public mutating func register(type: String, from: UInt8, _ transform: @escaping UpcastTransform) {
        precondition(from >= 1 && from < 122, "schema versions are 1...122")
        transforms[Key(type: type, from: from)] = transform
    }

    /// Whether a transform from `from` exists for `type`.
    public func contains(type: String, from: UInt8) -> Bool {
        transforms[Key(type: type, from: from)] != nil
    }

    /// Upcasts `data` (any version below `target`) step by step to `target`.
    ///
    /// - Throws: `missingUpcaster` when a step is not registered;
    ///   `invalidData` when a transform leaves old bytes unread.
    func upcast(type: String, data: [UInt8], to target: UInt8) throws(CommerceError) -> [UInt8] {
        var data = data
        var version = data[0]
        while version < target {
            guard let t = transforms[Key(type: type, from: version)] else {
                throw CommerceError(.missingUpcaster, "\(type) data at schema version \(version) and no upcaster to \(version + 1)")
            }
            data = try data.withUnsafeBufferPointer { (buf) throws(CommerceError) -> [UInt8] in
                var r = BinaryReader(buf, index: 1)
                var w = BinaryWriter(capacity: buf.count + 16)
                w.byte(version + 1)
                try t(&r, &w)
                try r.finish()
                return w.bytes
            }
            version += 1
        }
        return data
    }
}

/// Encoding and decoding of one event type's data.
public enum EventCodec {
    /// The stored bytes of `value`: its schema version, then its fields.
    public static func encode<T: CommerceEventPayload>(_ value: T) -> [UInt8] {
        var copy = value
        var e = BinaryEncodingVisitor(writer: BinaryWriter(capacity: 96))
        e.writer.byte(T.schemaVersion)
        // The binary encoder never throws.
        try! copy.visit(&e)
        return e.writer.bytes
    }

    /// Decodes stored data of `type`, upcasting older schema versions.
    ///
    /// - Throws: `invalidData` (truncated, trailing bytes, bad UTF-8…),
    ///   `unsupportedSchemaVersion` (written by newer code),
    ///   `missingUpcaster`.
    /// - Complexity: O(n) in the data size; no allocation beyond the
    ///   strings and arrays of the value at the current version.
    @inlinable
    public static func decode<T: CommerceEventPayload>(_ type: T.Type, from data: [UInt8],
                                                       upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> T {
        try data.withUnsafeBufferPointer { (buf) throws(CommerceError) -> T in
            try decode(T.self, bytes: UnsafeRawBufferPointer(buf), upcasters: upcasters)
        }
    }

    /// Decodes stored data of `type` from borrowed bytes (e.g. an
    /// `EventView.data` during `EventLog.scan`), without copying them first.
    @inlinable
    public static func decode<T: CommerceEventPayload>(_ type: T.Type, bytes: UnsafeRawBufferPointer,
                                                       upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> T {
        if let v = bytes.first, v == T.schemaVersion {
            return try decodeCurrent(T.self, bytes.assumingMemoryBound(to: UInt8.self))
        }
        return try decodeSealedOrOther(T.self, bytes, upcasters: upcasters)
    }

    /// Sealed personal data (docs/GDPR.md): the plain fields after the
    /// sealed part decode as usual, every PII field blank. Else the JSON
    /// and upcasting paths.
    @usableFromInline @inline(never)
    static func decodeSealedOrOther<T: CommerceEventPayload>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer,
                                                             upcasters: UpcasterRegistry) throws(CommerceError) -> T {
        if let v = bytes.first, v & PIICodec.flag != 0 {
            let (version, offset) = try PIICodec.fieldsOffset(bytes)
            let buf = bytes.assumingMemoryBound(to: UInt8.self)
            if version == T.schemaVersion { return try decodeCurrent(T.self, buf, fieldsAt: offset) }
            return try decodeOther(T.self, [version] + buf[offset...], upcasters: upcasters)
        }
        return try decodeOther(T.self, Array(bytes), upcasters: upcasters)
    }

    @usableFromInline
    static func decodeCurrent<T: CommerceEventPayload>(_ type: T.Type, _ buf: UnsafeBufferPointer<UInt8>,
                                                       fieldsAt offset: Int = 1) throws(CommerceError) -> T {
        var d = BinaryDecodingVisitor(reader: BinaryReader(buf, index: offset))
        var t = T()
        try t.visit(&d)
        try d.reader.finish()
        return t
    }

    @usableFromInline
    static func decodeCurrent<T: CommerceEventPayload>(_ type: T.Type, _ data: [UInt8]) throws(CommerceError) -> T {
        try data.withUnsafeBufferPointer { (buf) throws(CommerceError) -> T in
            try decodeCurrent(T.self, buf)
        }
    }

    @usableFromInline @inline(never)
    static func decodeOther<T: CommerceEventPayload>(_ type: T.Type, _ data: [UInt8],
                                                     upcasters: UpcasterRegistry) throws(CommerceError) -> T {
        guard let v = data.first else { throw CommerceError(.invalidData, "\(T.typeName): empty data") }
        if v == UInt8(ascii: "{") {
            guard case .object(let members) = try JSONValue.parse(data) else {
                throw CommerceError(.invalidData, "\(T.typeName): stored JSON data is not an object")
            }
            return try decode(T.self, json: members)
        }
        guard v >= 1 else { throw CommerceError(.invalidData, "\(T.typeName): schema version 0") }
        guard v < T.schemaVersion else {
            throw CommerceError(.unsupportedSchemaVersion,
                                "\(T.typeName) data at schema version \(v); this code reads up to \(T.schemaVersion)")
        }
        return try decodeCurrent(T.self, upcasters.upcast(type: T.typeName, data: data, to: T.schemaVersion))
    }

    /// Decodes the JSON form of `type`'s data from an object's members.
    ///
    /// Checks JSON types, presence, enumeration values and times, and
    /// refuses unknown fields; value rules are `validate()`'s.
    /// - Parameter path: the path of the object in errors.
    public static func decode<T: CommerceEventPayload>(_ type: T.Type, json members: [JSONMember],
                                                       path: String = "data",
                                                       nullPIIAsBlank: Bool = false) throws(CommerceError) -> T {
        var d = try JSONDecodingVisitor(members: members, path: path)
        d.nullPIIAsBlank = nullPIIAsBlank
        var t = T()
        try t.visit(&d)
        try d.finish()
        return t
    }

    /// Writes the JSON object of `value`'s data (`{…}`) to `writer`.
    /// - Parameter erasingPII: write every PII field as `erasedAs` (the
    ///   subject's key is destroyed): `null`, or `‹erased›` for text.
    public static func writeJSON<T: FieldCodable>(_ value: T, to writer: inout JSONWriter, erasingPII: Bool = false,
                                                  erasedAs: StaticString = "null") {
        var copy = value
        var e = JSONEncodingVisitor(writer: writer)
        e.erasingPII = erasingPII
        e.erasedAs = erasedAs
        writer = JSONWriter(capacity: 0)  // hand the buffer over without a copy
        e.writer.byte(UInt8(ascii: "{"))
        // The JSON encoder never throws.
        try! copy.visit(&e)
        e.writer.byte(UInt8(ascii: "}"))
        writer = e.writer
    }

    /// The compact JSON of `value`'s data.
    public static func json<T: FieldCodable>(_ value: T) -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        writeJSON(value, to: &w)
        return w.bytes
    }
}
