// The JSON form of event data (EVENTS.md field names). Reading checks JSON
// types, presence, enumeration values, times and unknown keys; the value
// rules (ids, currencies, ranges, card numbers) are `validate()`'s, so that
// events built in Swift get the same checks.

extension String {
    /// Whether the UTF-8 of this string equals `name`.
    @inline(__always)
    func equals(_ name: StaticString) -> Bool {
        let n = name.utf8CodeUnitCount
        guard utf8.count == n else { return false }
        if let r = utf8.withContiguousStorageIfAvailable({ memcmpEqual(name.utf8Start, $0.baseAddress, n) }) {
            return r
        }
        return utf8.elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: n))
    }
}

/// Reads fields from the members of one JSON object.
struct JSONDecodingVisitor: FieldVisitor {
    let members: [JSONMember]
    /// Path of the object, e.g. `data` or `data.lines[0]`.
    let path: String
    /// Bit i: member i was claimed by a field. Objects of a known type have
    /// at most 64 members (checked in `init`).
    var used: UInt64 = 0
    /// A required PII field given as `null` reads as blank ("" / an empty
    /// object) instead of missing: an erased field of an export
    /// (docs/GDPR.md), which import decides on.
    var nullPIIAsBlank = false

    init(members: [JSONMember], path: String) throws(CommerceError) {
        guard members.count <= 64 else {
            throw CommerceError(.unknownField, field: path, "an object with \(members.count) fields; at most 64 allowed")
        }
        self.members = members
        self.path = path
    }

    @inline(never)
    func fieldPath(_ name: StaticString) -> String { path.isEmpty ? name.text : path + "." + name.text }

    /// The value of `name`, claiming it; nil when absent or `null`.
    @inline(__always)
    mutating func lookup(_ name: StaticString) -> JSONValue? {
        for i in members.indices where members[i].key.equals(name) {
            used |= 1 << UInt64(i)
            if case .null = members[i].value { return nil }
            return members[i].value
        }
        return nil
    }

    /// Whether `name` is present with the value `null`, claiming it.
    mutating func claimNull(_ name: StaticString) -> Bool {
        for i in members.indices where members[i].key.equals(name) {
            guard case .null = members[i].value else { return false }
            used |= 1 << UInt64(i)
            return true
        }
        return false
    }

    mutating func required(_ name: StaticString) throws(CommerceError) -> JSONValue {
        guard let v = lookup(name) else { throw missing(name) }
        return v
    }

    /// A required field absent or null: said as which (stop 34: an
    /// explicit `"value": null` read "is missing").
    @inline(never)
    func missing(_ name: StaticString) -> CommerceError {
        let given = members.contains { $0.key.equals(name) }
        return CommerceError(.missingField, field: fieldPath(name),
                             given ? "required field \(name) is null: it needs a value" : "required field \(name) is missing")
    }

    @inline(never)
    func wrongType(_ name: StaticString, _ expected: String, _ got: JSONValue) -> CommerceError {
        CommerceError(.wrongType, field: fieldPath(name), "\(name) must be \(expected), got \(got.kindName)")
    }

    /// Throws `unknownField` for the first member no field claimed.
    func finish() throws(CommerceError) {
        let all: UInt64 = members.count == 64 ? .max : (1 << UInt64(members.count)) - 1
        guard used == all else {
            let i = (0..<members.count).first { used & (1 << UInt64($0)) == 0 }!
            let key = members[i].key
            throw CommerceError(.unknownField, field: path.isEmpty ? key : path + "." + key, "unknown field \(key)")
        }
    }

    mutating func string(_ name: StaticString, _ v: JSONValue) throws(CommerceError) -> String {
        guard case .string(let s) = v else { throw wrongType(name, "a string", v) }
        return s
    }

    mutating func id(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        value = try string(name, required(name))
    }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) throws(CommerceError) {
        guard let v = lookup(name) else { value = nil; return }
        value = try string(name, v)
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError) {
        if pii && nullPIIAsBlank && claimNull(name) { value = ""; return }
        value = try string(name, required(name))
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError) {
        guard let v = lookup(name) else { value = nil; return }
        value = try string(name, v)
    }

    mutating func currency(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        value = try string(name, required(name))
    }

    mutating func country(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        value = try string(name, required(name))
    }

    mutating func integer(_ name: StaticString, _ v: JSONValue) throws(CommerceError) -> Int64 {
        switch v {
        case .int(let i): return i
        // JSON's -0 is the integer zero (stop 39, an i18n review: "discount":
        // -0 was refused as "not within 64 bits"); the field's rule decides.
        case .number("-0"): return 0
        case .number(let literal):
            // Stop 38, a newcomer: `"price": 12.50` said nothing of minor units.
            let fraction = literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            throw CommerceError(.wrongType, field: fieldPath(name),
                                fraction ? "\(name) must be an integer, got \(literal): amounts are whole minor units (cents: 12.50 is 1250), quantities whole units"
                                         : "\(name) must be an integer within 64 bits, got \(literal)")
        default: throw wrongType(name, "an integer", v)
        }
    }

    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        value = try integer(name, required(name))
    }

    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        guard let v = lookup(name) else { value = 0; return }
        value = try integer(name, v)
    }

    mutating func bool(_ name: StaticString, _ value: inout Bool) throws(CommerceError) {
        let v = try required(name)
        guard case .bool(let b) = v else { throw wrongType(name, "a JSON boolean (true or false)", v) }
        value = b
    }

    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) throws(CommerceError) {
        let s = try string(name, required(name))
        guard let t = Timestamp(rfc3339: s) else {
            throw CommerceError(.invalidTime, field: fieldPath(name), "\(name) \(Timestamp.rfc3339Refusal(s)): \(s)")
        }
        value = t
    }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) throws(CommerceError) {
        guard let v = lookup(name) else { value = nil; return }
        guard case .array(let items) = v else { throw wrongType(name, "an array of strings", v) }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else {
                throw CommerceError(.wrongType, field: fieldPath(name) + "[\(i)]", "\(name)[\(i)] must be a string, got \(item.kindName)")
            }
            out.append(s)
        }
        value = out
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) throws(CommerceError) {
        guard let v = lookup(name) else { value = nil; return }
        guard case .object(let entries) = v else { throw wrongType(name, "an object of strings", v) }
        var out: [String: String] = [:]
        out.reserveCapacity(entries.count)
        for m in entries {
            guard case .string(let s) = m.value else {
                throw CommerceError(.wrongType, field: fieldPath(name) + "." + m.key, "\(name).\(m.key) must be a string, got \(m.value.kindName)")
            }
            out[m.key] = s
        }
        value = out
    }

    mutating func enumValue<E: CommerceEnum>(_ name: StaticString, _ v: JSONValue) throws(CommerceError) -> E {
        let s = try string(name, v)
        guard let e = E(rawValue: s) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw CommerceError(.invalidEnumValue, field: fieldPath(name), "\(name) must be one of \(allowed), got \"\(s)\"")
        }
        return e
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) throws(CommerceError) {
        value = try enumValue(name, required(name))
    }

    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) throws(CommerceError) {
        guard let v = lookup(name) else { value = nil; return }
        value = try enumValue(name, v) as E
    }

    func decodeObject<T: FieldCodable>(_ v: JSONValue, path: String) throws(CommerceError) -> T {
        guard case .object(let members) = v else {
            throw CommerceError(.wrongType, field: path, "\(path) must be an object, got \(v.kindName)")
        }
        var nested = try JSONDecodingVisitor(members: members, path: path)
        var t = T()
        try t.visit(&nested)
        try nested.finish()
        return t
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        if pii && nullPIIAsBlank && claimNull(name) { value = T(); return }
        value = try decodeObject(required(name), path: fieldPath(name))
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        guard let v = lookup(name) else { value = nil; return }
        value = try decodeObject(v, path: fieldPath(name)) as T
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        let v = try required(name)
        guard case .array(let items) = v else { throw wrongType(name, "an array of objects", v) }
        let base = fieldPath(name)
        var out: [T] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            out.append(try decodeObject(item, path: base + "[\(i)]"))
        }
        value = out
    }
}

/// Writes fields as members of a JSON object (without the braces).
/// Absent optionals are left out; defaulted integers are always written;
/// map keys are sorted by their UTF-8 bytes, so output is deterministic.
struct JSONEncodingVisitor: FieldVisitor {
    var writer: JSONWriter
    var first = true
    /// Writes every PII field (present or not) as `null`: the subject's key
    /// is destroyed (docs/GDPR.md).
    var erasingPII = false
    /// What an erased PII field reads as: `null` in JSON; text output
    /// writes `‹erased›`.
    var erasedAs: StaticString = "null"

    init(writer: JSONWriter) { self.writer = writer }

    @inline(__always)
    mutating func key(_ name: StaticString) {
        if !first { writer.byte(UInt8(ascii: ",")) }
        first = false
        writer.key(name)
    }

    mutating func id(_ name: StaticString, _ value: inout String) { key(name); writer.string(value) }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) {
        guard let v = value else { return }
        key(name); writer.string(v)
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) {
        key(name)
        if pii && erasingPII { writer.raw(erasedAs) } else { writer.string(value) }
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) {
        if pii && erasingPII { key(name); writer.raw(erasedAs); return }
        guard let v = value else { return }
        key(name); writer.string(v)
    }

    mutating func currency(_ name: StaticString, _ value: inout String) { key(name); writer.string(value) }
    mutating func country(_ name: StaticString, _ value: inout String) { key(name); writer.string(value) }
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { key(name); writer.int(value) }
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { key(name); writer.int(value) }

    mutating func bool(_ name: StaticString, _ value: inout Bool) {
        key(name)
        if value { writer.raw("true") } else { writer.raw("false") }
    }

    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) { key(name); writer.time(value) }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) {
        guard let v = value else { return }
        key(name)
        writer.byte(UInt8(ascii: "["))
        for (i, s) in v.enumerated() {
            if i > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.string(s)
        }
        writer.byte(UInt8(ascii: "]"))
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) {
        guard let v = value else { return }
        key(name)
        writer.byte(UInt8(ascii: "{"))
        for (i, kv) in v.sorted(by: { Validation.utf8Less($0.key, $1.key) }).enumerated() {
            if i > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.string(kv.key)
            writer.byte(UInt8(ascii: ":"))
            writer.string(kv.value)
        }
        writer.byte(UInt8(ascii: "}"))
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) { key(name); writer.string(value.rawValue) }

    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {
        guard let v = value else { return }
        key(name); writer.string(v.rawValue)
    }

    mutating func nested<T: FieldCodable>(_ value: inout T) throws(CommerceError) {
        writer.byte(UInt8(ascii: "{"))
        let saved = first
        first = true
        try value.visit(&self)
        first = saved
        writer.byte(UInt8(ascii: "}"))
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        key(name)
        if pii && erasingPII { writer.raw(erasedAs); return }
        try nested(&value)
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        if pii && erasingPII { key(name); writer.raw(erasedAs); return }
        guard var v = value else { return }
        key(name)
        try nested(&v)
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        key(name)
        writer.byte(UInt8(ascii: "["))
        for i in value.indices {
            if i > 0 { writer.byte(UInt8(ascii: ",")) }
            var v = value[i]
            try nested(&v)
        }
        writer.byte(UInt8(ascii: "]"))
    }
}
