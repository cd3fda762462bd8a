import ChronikCommerce

// Command summaries and reports are `Encodable` values; this turns one into
// the `JSONValue` the CLI and the server print (issue 13: summaries as
// values, not strings joined by hand).
//
// Why not Foundation's JSONEncoder: a synthesized `encode(to:)` writes an
// absent optional with `encodeIfPresent`, which JSONEncoder drops, and a
// summary's keys are a contract with scripts — `"failure": null` says
// "checked, nothing failed", a missing key says nothing. Here:
// - members come in the order they are encoded (declaration order for a
//   synthesized conformance), so a summary prints as it is declared;
// - an absent optional is `null`, never a missing key;
// - integers are JSON integers (UInt64 above Int64.max as its digits),
//   doubles as `JSONValue.double` prints them (NaN and infinities: null);
// - members known at run time go through `ObjectMembers` (a dictionary's
//   in key order);
// - `Merged(base, extra)` is one object of both's members.

extension JSONValue {
    /// `value` as a JSON value: see the rules above.
    public init(encoding value: some Encodable) throws {
        let root = EncodedNode()
        try value.encode(to: ValueEncoder(node: root, codingPath: []))
        self = root.value
    }
}

/// An object whose members are known only at run time (counts per type,
/// amounts per currency), in the order given.
public struct ObjectMembers<Value: Encodable>: Encodable {
    public var members: [(key: String, value: Value)]

    public init(_ members: [(key: String, value: Value)]) { self.members = members }

    /// A dictionary's members in key order (`String` order), so that the
    /// same dictionary always prints the same bytes.
    public init(sortingKeys dictionary: [String: Value]) {
        members = dictionary.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: NamedKey.self)
        for m in members { try c.encode(m.value, forKey: NamedKey(m.key)) }
    }
}

/// `base`'s members followed by `extra`'s, in one object: a report that
/// extends another (JSON has no inheritance, and nesting would move the
/// base's keys).
public struct Merged<Base: Encodable, Extra: Encodable>: Encodable {
    public var base: Base
    public var extra: Extra

    public init(_ base: Base, _ extra: Extra) {
        self.base = base
        self.extra = extra
    }

    public func encode(to encoder: any Encoder) throws {
        try base.encode(to: encoder)
        try extra.encode(to: encoder)
    }
}

/// A coding key that is any string.
struct NamedKey: CodingKey {
    let stringValue: String
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// One value under construction: a leaf, or an object or array whose
/// members are filled in by containers holding this node.
final class EncodedNode {
    enum Content {
        case unset
        case leaf(JSONValue)
        case object([(key: String, node: EncodedNode)])
        case array([EncodedNode])
    }

    var content = Content.unset

    var value: JSONValue {
        switch content {
        case .unset: .null
        case .leaf(let v): v
        case .object(let members): .object(members.map { JSONMember($0.key, $0.node.value) })
        case .array(let items): .array(items.map(\.value))
        }
    }

    /// The member `key` of this object (made an object if it is not one
    /// yet); encoding a key again replaces its value in place.
    func member(_ key: String) -> EncodedNode {
        var members: [(key: String, node: EncodedNode)] = []
        if case .object(let m) = content { members = m }
        if let existing = members.first(where: { $0.key == key }) {
            existing.node.content = .unset
            return existing.node
        }
        content = .unset  // so that the append below does not copy the members
        let node = EncodedNode()
        members.append((key, node))
        content = .object(members)
        return node
    }

    func makeObject() {
        if case .object = content { return }
        content = .object([])
    }

    func makeArray() {
        if case .array = content { return }
        content = .array([])
    }

    func appendItem() -> EncodedNode {
        var items: [EncodedNode] = []
        if case .array(let a) = content { items = a }
        content = .unset  // so that the append below does not copy the items
        let node = EncodedNode()
        items.append(node)
        content = .array(items)
        return node
    }

    var count: Int {
        if case .array(let a) = content { return a.count }
        return 0
    }
}

/// The leaf value of a primitive, or nil for a type that encodes itself.
private func leaf(_ value: some Encodable) -> JSONValue? {
    switch value {
    case let v as Bool: .bool(v)
    case let v as String: .string(v)
    case let v as Int: .int(Int64(v))
    case let v as Int8: .int(Int64(v))
    case let v as Int16: .int(Int64(v))
    case let v as Int32: .int(Int64(v))
    case let v as Int64: .int(v)
    case let v as UInt: .uint(UInt64(v))
    case let v as UInt8: .int(Int64(v))
    case let v as UInt16: .int(Int64(v))
    case let v as UInt32: .int(Int64(v))
    case let v as UInt64: .uint(v)
    case let v as Double: .double(v)
    case let v as Float: .double(Double(v))
    default: nil
    }
}

private func encode(_ value: some Encodable, into node: EncodedNode, codingPath: [any CodingKey]) throws {
    if let v = leaf(value) {
        node.content = .leaf(v)
    } else {
        try value.encode(to: ValueEncoder(node: node, codingPath: codingPath))
    }
}

private struct ValueEncoder: Encoder {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.member(key.stringValue).content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try ChronikServer.encode(value, into: node.member(key.stringValue), codingPath: codingPath + [key])
    }

    // An absent optional is null, not a missing key (the defaults skip it).
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try present(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try present(value, key) }

    private mutating func present(_ value: (some Encodable)?, _ key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.member(key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.member(key.stringValue)
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        ValueEncoder(node: node.member("super"), codingPath: codingPath + [NamedKey("super")])
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        ValueEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    init(_ i: Int) { intValue = i }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
    var stringValue: String { String(intValue ?? 0) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    mutating func encodeNil() throws { node.appendItem().content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try ChronikServer.encode(value, into: node.appendItem(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        let child = node.appendItem()
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        let child = node.appendItem()
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return ValueEncoder(node: node.appendItem(), codingPath: path)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: EncodedNode
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try ChronikServer.encode(value, into: node, codingPath: codingPath)
    }
}
