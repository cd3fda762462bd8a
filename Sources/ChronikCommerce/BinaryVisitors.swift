// The binary `data` layout of every field kind (docs/EVENTS-CODEC.md).
//
//   id, text, currency, country   string (varint length + UTF-8)
//   int, defaultedInt             zigzag varint
//   bool                          1 byte, 0 or 1
//   timestamp                     zigzag varint of microseconds since 1970
//   enumeration                   1 byte: ordinal in `allCases`
//   optional X                    1 byte 0 (absent) or 1 followed by X
//   objects                       varint count, then each object's fields
//   optionalStrings               presence, varint count, strings
//   optionalMap                   presence, varint count, sorted key/value strings

struct BinaryEncodingVisitor: FieldVisitor {
    var writer: BinaryWriter

    init(writer: BinaryWriter) { self.writer = writer }

    mutating func id(_ name: StaticString, _ value: inout String) { writer.string(value) }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) {
        if let v = value { writer.byte(1); writer.string(v) } else { writer.byte(0) }
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) {
        if pii { writer.piiString(value) } else { writer.string(value) }
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) {
        guard let v = value else { writer.byte(0); return }
        writer.byte(1)
        if pii { writer.piiString(v) } else { writer.string(v) }
    }

    mutating func currency(_ name: StaticString, _ value: inout String) { writer.string(value) }
    mutating func country(_ name: StaticString, _ value: inout String) { writer.string(value) }
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { writer.int(value) }
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { writer.int(value) }
    mutating func bool(_ name: StaticString, _ value: inout Bool) { writer.bool(value) }
    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) { writer.int(value.microseconds) }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) {
        if let v = value { writer.byte(1); writer.strings(v) } else { writer.byte(0) }
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) {
        if let v = value { writer.byte(1); writer.stringMap(v) } else { writer.byte(0) }
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) {
        // A case is always in allCases, so the index exists and fits a byte
        // for any enumeration of at most 256 cases.
        writer.byte(UInt8(E.allCases.firstIndex(of: value)!))
    }

    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {
        guard var v = value else { writer.byte(0); return }
        writer.byte(1)
        enumeration(name, &v)
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        try value.visit(&self)
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        guard var v = value else { writer.byte(0); return }
        writer.byte(1)
        try v.visit(&self)
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        writer.varint(UInt64(value.count))
        for var v in value { try v.visit(&self) }
    }
}

struct BinaryDecodingVisitor: FieldVisitor {
    var reader: BinaryReader

    init(reader: BinaryReader) { self.reader = reader }

    @inline(__always)
    mutating func present() throws(CommerceError) -> Bool { try reader.bool() }

    mutating func id(_ name: StaticString, _ value: inout String) throws(CommerceError) { value = try reader.string() }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) throws(CommerceError) {
        value = try present() ? try reader.string() : nil
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError) {
        value = pii ? try reader.piiString() : try reader.string()
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError) {
        guard try present() else { value = nil; return }
        value = pii ? try reader.piiString() : try reader.string()
    }

    mutating func currency(_ name: StaticString, _ value: inout String) throws(CommerceError) { value = try reader.string() }
    mutating func country(_ name: StaticString, _ value: inout String) throws(CommerceError) { value = try reader.string() }
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) { value = try reader.int() }
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) { value = try reader.int() }
    mutating func bool(_ name: StaticString, _ value: inout Bool) throws(CommerceError) { value = try reader.bool() }

    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) throws(CommerceError) {
        value = Timestamp(microseconds: try reader.int())
    }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) throws(CommerceError) {
        value = try present() ? try reader.strings() : nil
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) throws(CommerceError) {
        value = try present() ? try reader.stringMap() : nil
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) throws(CommerceError) {
        let i = Int(try reader.byte())
        let all = E.allCases
        guard i < all.count else {
            throw CommerceError(.invalidData, field: name.text, "enumeration ordinal \(i) out of range")
        }
        value = all[i]
    }

    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) throws(CommerceError) {
        guard try present() else { value = nil; return }
        var v = E.allCases[0]
        try enumeration(name, &v)
        value = v
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        try value.visit(&self)
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        guard try present() else { value = nil; return }
        var v = T()
        try v.visit(&self)
        value = v
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        let n = try reader.count()
        var a: [T] = []
        a.reserveCapacity(n)
        for _ in 0..<n {
            var v = T()
            try v.visit(&self)
            a.append(v)
        }
        value = a
    }
}
