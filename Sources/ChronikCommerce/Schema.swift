// A description of every event type, collected from the types' own
// `visit(_:)`, so it cannot drift from the codec: names, field order (the
// binary order), kinds, optionality and PII marks. The PII marks are the
// hook for per-customer encryption (a later issue): `piiFieldPaths` lists
// what it must protect.

/// One field of an event type or nested value.
public struct FieldSchema: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    /// `id`, `text`, `currency`, `country`, `int(qty>0)`, `bool`,
    /// `timestamp`, `[string]`, `{string:string}`, `enum(a|b)`, `object`,
    /// `[object]`.
    public var kind: String
    public var isOptional: Bool
    /// Personal data (marked itself or inside a PII object).
    public var isPII: Bool
    /// The fields of a nested object (or of each array element).
    public var fields: [FieldSchema]

    public var description: String {
        var s = name + (isOptional ? "?" : "") + ": " + kind
        if isPII { s += " PII" }
        if !fields.isEmpty { s += " {" + fields.map(\.description).joined(separator: ", ") + "}" }
        return s
    }
}

/// The schema of one event type.
public struct EventSchema: Hashable, Sendable {
    public var typeName: String
    public var schemaVersion: UInt8
    public var fields: [FieldSchema]

    /// Dotted paths of the PII fields (`shippingAddress.city`, `email`);
    /// array elements as `lines[].x`.
    public var piiFieldPaths: [String] {
        var out: [String] = []
        func walk(_ fs: [FieldSchema], _ prefix: String) {
            for f in fs {
                let p = prefix + f.name + (f.kind.hasPrefix("[object") ? "[]" : "")
                if f.fields.isEmpty {
                    if f.isPII { out.append(p) }
                } else {
                    walk(f.fields, p + ".")
                }
            }
        }
        walk(fields, "")
        return out
    }

    /// The schema of `type`, from its `visit(_:)`.
    public init<T: CommerceEventPayload>(_ type: T.Type) {
        typeName = T.typeName
        schemaVersion = T.schemaVersion
        fields = SchemaCollector.fields(of: T.self, pii: false)
    }
}

struct SchemaCollector: FieldVisitor {
    var fields: [FieldSchema] = []
    /// Inside a PII object everything is PII.
    var inPII: Bool

    static func fields<T: FieldCodable>(of type: T.Type, pii: Bool) -> [FieldSchema] {
        var c = SchemaCollector(inPII: pii)
        var t = T()
        // Collecting never throws: it reads no data.
        try? t.visit(&c)
        return c.fields
    }

    mutating func add(_ name: StaticString, _ kind: String, optional: Bool = false, pii: Bool = false, fields: [FieldSchema] = []) {
        self.fields.append(FieldSchema(name: name.text, kind: kind, isOptional: optional, isPII: pii || inPII, fields: fields))
    }

    static func rule(_ r: IntRule) -> String {
        switch r {
        case .quantity: "int(>0)"
        case .count: "int(>=0)"
        case .money: "money(>=0)"
        case .positiveAmount: "money(>0)"
        case .delta: "int(!=0)"
        case .signed: "money(signed)"
        }
    }

    mutating func id(_ name: StaticString, _ value: inout String) { add(name, "id") }
    mutating func optionalID(_ name: StaticString, _ value: inout String?) { add(name, "id", optional: true) }
    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) { add(name, "text", pii: pii) }
    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) { add(name, "text", optional: true, pii: pii) }
    mutating func currency(_ name: StaticString, _ value: inout String) { add(name, "currency") }
    mutating func country(_ name: StaticString, _ value: inout String) { add(name, "country") }
    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { add(name, Self.rule(rule)) }
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) {
        add(name, Self.rule(rule) + " default 0", optional: true)
    }
    mutating func bool(_ name: StaticString, _ value: inout Bool) { add(name, "bool") }
    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) { add(name, "timestamp") }
    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) { add(name, "[string]", optional: true) }
    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) { add(name, "{string:string}", optional: true) }
    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) {
        add(name, "enum(" + E.allCases.map(\.rawValue).joined(separator: "|") + ")")
    }
    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {
        add(name, "enum(" + E.allCases.map(\.rawValue).joined(separator: "|") + ")", optional: true)
    }
    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) {
        add(name, "object", pii: pii, fields: Self.fields(of: T.self, pii: pii || inPII))
    }
    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) {
        add(name, "object", optional: true, pii: pii, fields: Self.fields(of: T.self, pii: pii || inPII))
    }
    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) {
        add(name, "[object]", fields: Self.fields(of: T.self, pii: inPII))
    }
}
