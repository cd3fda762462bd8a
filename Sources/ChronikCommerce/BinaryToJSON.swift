// Stored binary data straight to its JSON (read --json, export, the
// server's events and SSE frames): what `CommerceEvent.decode` followed by
// `writeJSON` writes, without building the value — no `String`, array or
// dictionary per field, no typed event. Profile of `export` (stop 26):
// decoding into values and their reference counting were the largest part
// of formatting a line.

/// Walks a type's fields (`visit`) reading the binary layout
/// (BinaryVisitors.swift) and writing each field as `JSONEncodingVisitor`
/// writes it: absent optionals are left out, maps in key order, personal
/// data as stored (this path only takes data without sealed personal
/// data). Any doubt — bad UTF-8, a map not in strict key order, an
/// ordinal out of range, truncated or trailing bytes — throws, and the
/// caller falls back to decoding, which reports the error as before.
struct BinaryToJSONVisitor: FieldVisitor {
    /// Where the fields being written are read from.
    var reader: BinaryReader
    var writer: JSONWriter
    var first = true
    /// For sealed data: the opened personal data (`PIICodec.seal`'s
    /// plaintext after its two header bytes), from which every PII field
    /// is read while the stored fields hold blanks in its place.
    var opened: BinaryReader?
    /// Inside a PII field: `reader` is the opened personal data.
    var inPII = false

    init(reader: BinaryReader, writer: JSONWriter, opened: BinaryReader? = nil) {
        self.reader = reader
        self.writer = writer
        self.opened = opened
    }

    /// Whether a PII field is read from the opened personal data (sealed
    /// data, not already inside a PII field): its stored blank is then
    /// skipped, and the field written as a plain one from the opened bytes.
    @inline(__always)
    var readsOpened: Bool { opened != nil && !inPII }

    /// Switches `reader` to the opened personal data, or back.
    @inline(__always)
    mutating func swapToOpened(_ on: Bool) {
        swap(&reader, &opened!)
        inPII = on
    }

    @inline(__always)
    mutating func key(_ name: StaticString) {
        if !first { writer.byte(UInt8(ascii: ",")) }
        first = false
        writer.key(name)
    }

    @inline(__always)
    mutating func present() throws(CommerceError) -> Bool { try reader.bool() }

    /// The next stored string's bytes.
    @inline(__always)
    mutating func stringBytes() throws(CommerceError) -> UnsafeBufferPointer<UInt8> {
        let n = try reader.count()
        let start = reader.index
        reader.index += n  // n <= remaining, checked by count()
        return UnsafeBufferPointer(rebasing: reader.buffer[start..<reader.index])
    }

    /// The next stored string, as a JSON string.
    @inline(__always)
    mutating func copyString() throws(CommerceError) {
        guard writer.string(utf8: try stringBytes()) else { throw CommerceError(.invalidData, "string is not UTF-8") }
    }

    mutating func id(_ name: StaticString, _ value: inout String) throws(CommerceError) { key(name); try copyString() }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) throws(CommerceError) {
        guard try present() else { return }
        key(name); try copyString()
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError) {
        if pii && readsOpened {
            _ = try stringBytes()  // the blank stored in its place
            swapToOpened(true)
            defer { swapToOpened(false) }
            return try text(name, &value, pii: pii)
        }
        key(name); try copyString()
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError) {
        if pii && readsOpened {
            if try present() { _ = try stringBytes() }
            swapToOpened(true)
            defer { swapToOpened(false) }
            return try optionalText(name, &value, pii: pii)
        }
        guard try present() else { return }
        key(name); try copyString()
    }

    mutating func currency(_ name: StaticString, _ value: inout String) throws(CommerceError) { key(name); try copyString() }
    mutating func country(_ name: StaticString, _ value: inout String) throws(CommerceError) { key(name); try copyString() }

    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        key(name); writer.int(try reader.int())
    }

    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        key(name); writer.int(try reader.int())
    }

    mutating func bool(_ name: StaticString, _ value: inout Bool) throws(CommerceError) {
        let b = try reader.bool()
        key(name)
        if b { writer.raw("true") } else { writer.raw("false") }
    }

    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) throws(CommerceError) {
        let us = try reader.int()
        key(name); writer.time(Timestamp(microseconds: us))
    }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) throws(CommerceError) {
        guard try present() else { return }
        key(name)
        writer.byte(UInt8(ascii: "["))
        let n = try reader.count()
        for i in 0..<n {
            if i > 0 { writer.byte(UInt8(ascii: ",")) }
            try copyString()
        }
        writer.byte(UInt8(ascii: "]"))
    }

    /// Stored sorted by the keys' bytes (`BinaryWriter.stringMap`), which
    /// is the order the JSON is written in; a map stored otherwise (or with
    /// a key twice) is left to the decoder.
    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) throws(CommerceError) {
        guard try present() else { return }
        key(name)
        writer.byte(UInt8(ascii: "{"))
        let n = try reader.count()
        var previous: UnsafeBufferPointer<UInt8>?
        for i in 0..<n {
            if i > 0 { writer.byte(UInt8(ascii: ",")) }
            let k = try stringBytes()
            if let p = previous, !p.lexicographicallyPrecedes(k) {
                throw CommerceError(.invalidData, "stored map keys out of order")
            }
            previous = k
            guard writer.string(utf8: k) else { throw CommerceError(.invalidData, "string is not UTF-8") }
            writer.byte(UInt8(ascii: ":"))
            try copyString()
        }
        writer.byte(UInt8(ascii: "}"))
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) throws(CommerceError) {
        let i = Int(try reader.byte())
        let all = E.allCases
        guard i < all.count else { throw CommerceError(.invalidData, field: name.text, "enumeration ordinal \(i) out of range") }
        key(name); writer.string(all[i].rawValue)
    }

    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) throws(CommerceError) {
        guard try present() else { return }
        var v = E.allCases[0]
        try enumeration(name, &v)
    }

    mutating func nested<T: FieldCodable>(_ type: T.Type) throws(CommerceError) {
        writer.byte(UInt8(ascii: "{"))
        let saved = first
        first = true
        var v = T()
        try v.visit(&self)
        first = saved
        writer.byte(UInt8(ascii: "}"))
    }

    /// Reads past a stored object of `T` (the blank of a sealed PII object).
    mutating func skip<T: FieldCodable>(_ type: T.Type) throws(CommerceError) {
        var d = BinaryDecodingVisitor(reader: reader)
        var blank = T()
        try blank.visit(&d)
        reader = d.reader
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        if pii && readsOpened {
            try skip(T.self)
            swapToOpened(true)
            defer { swapToOpened(false) }
            return try object(name, &value, pii: pii)
        }
        key(name)
        try nested(T.self)
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        if pii && readsOpened {
            if try present() { try skip(T.self) }
            swapToOpened(true)
            defer { swapToOpened(false) }
            return try optionalObject(name, &value, pii: pii)
        }
        guard try present() else { return }
        key(name)
        try nested(T.self)
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        key(name)
        writer.byte(UInt8(ascii: "["))
        let n = try reader.count()
        for i in 0..<n {
            if i > 0 { writer.byte(UInt8(ascii: ",")) }
            try nested(T.self)
        }
        writer.byte(UInt8(ascii: "]"))
    }
}

extension EventCodec {
    /// Appends the JSON object of stored data of `type` to `writer`
    /// straight from its bytes: data at the current schema version, or
    /// sealed data (docs/GDPR.md) whose personal data `protector` opens —
    /// each PII field then written from the opened bytes in the place of
    /// its stored blank, as decoding, `fillingPII` and `writeJSON` write it.
    /// False, `writer` unchanged, for anything else: another version,
    /// stored as JSON, erased (nothing sealed, no protector, the key
    /// destroyed), or data that does not decode or authenticate (the
    /// decoder then decides and reports).
    static func transcodeJSON<T: CommerceEventPayload>(_ type: T.Type, typeName: String, _ bytes: UnsafeRawBufferPointer,
                                                      protector: (any PIIProtector)?, to writer: inout JSONWriter) -> Bool {
        let buf = bytes.assumingMemoryBound(to: UInt8.self)
        if bytes.first == T.schemaVersion {
            return walk(T.self, fields: BinaryReader(buf, index: 1), opened: nil, to: &writer)
        }
        guard let protector, let sealed = try? PIICodec.Sealed(bytes), sealed.schemaVersion == T.schemaVersion,
              !sealed.sealed.isEmpty,
              let plaintext = try? protector.open(sealed.sealed, subject: sealed.subject, context: sealed.context(type: typeName)),
              plaintext.count >= 2, plaintext[0] == PIICodec.plaintextFormat, plaintext[1] == T.schemaVersion
        else { return false }
        return plaintext.withUnsafeBufferPointer { opened in
            walk(T.self, fields: BinaryReader(buf, index: sealed.fieldsOffset), opened: BinaryReader(opened, index: 2), to: &writer)
        }
    }

    /// `{…}` of `T`'s fields read from `fields` (and the PII fields from
    /// `opened`), appended to `writer`; false, `writer` unchanged, when
    /// they do not decode or bytes are left over.
    private static func walk<T: CommerceEventPayload>(_ type: T.Type, fields: BinaryReader, opened: BinaryReader?,
                                                      to writer: inout JSONWriter) -> Bool {
        var v = BinaryToJSONVisitor(reader: fields, writer: writer, opened: opened)
        writer = JSONWriter(capacity: 0)  // hand the buffer over without a copy
        let mark = v.writer.bytes.count
        v.writer.byte(UInt8(ascii: "{"))
        var t = T()
        do {
            try t.visit(&v)
            try v.reader.finish()
            try v.opened?.finish()
        } catch {
            v.writer.bytes.removeSubrange(mark...)
            writer = v.writer
            return false
        }
        v.writer.byte(UInt8(ascii: "}"))
        writer = v.writer
        return true
    }
}
