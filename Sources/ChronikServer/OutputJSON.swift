import ChronikLog
import Foundation

/// The JSON the CLI prints and the server answers with: one builder for
/// both, so that `chronik read --json` and `GET /events/{position}` agree.

/// A JSON value that keeps what JSONSerialization loses on Linux (a
/// boolean is not the number 1) and prints compactly with sorted keys, so
/// that the same value always becomes the same bytes — which idempotent
/// appends compare.
public enum OutputJSON: Hashable, Sendable, Decodable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([OutputJSON])
    case object([String: OutputJSON])
    /// Preformatted JSON text; for output only.
    case raw(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Order matters: Bool before numbers, integers before Double.
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let u = try? c.decode(UInt64.self) {
            self = .uint(u)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([OutputJSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: OutputJSON].self))
        }
    }

    /// Compact JSON text, object keys sorted.
    public var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    public func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): out += Self.quote(s)
        case .raw(let s): out += s
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                out += Self.quote(k)
                out += ":"
                o[k]!.write(into: &out)  // k comes from o.keys
            }
            out += "}"
        }
    }

    /// What kind of value this is, for error messages.
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .uint, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        case .raw: "JSON"
        }
    }

    /// A JSON string literal for `s`.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

// MARK: JSON output

/// Builds one JSON object with keys in the order they are added.
public struct JSONObject {
    private var members: [String] = []

    public init() {}

    public mutating func add(_ key: String, _ value: OutputJSON) {
        members.append(OutputJSON.quote(key) + ":" + value.text)
    }

    public mutating func add(_ key: String, _ value: String?) { add(key, value.map(OutputJSON.string) ?? .null) }
    public mutating func add(_ key: String, _ value: Int) { add(key, .int(Int64(value))) }
    public mutating func add(_ key: String, _ value: Int64) { add(key, .int(value)) }
    public mutating func add(_ key: String, _ value: UInt64) { add(key, .uint(value)) }
    public mutating func add(_ key: String, _ value: Bool) { add(key, .bool(value)) }
    public mutating func add(_ key: String, _ value: Double) { add(key, .double(value)) }
    public mutating func add(_ key: String, _ value: JSONObject) { add(key, .raw(value.text)) }

    public var text: String { "{" + members.joined(separator: ",") + "}" }
}

// MARK: Event formatting

/// The stored bytes of `data` or `meta` as JSON text for output: the bytes
/// themselves when they are single-line JSON (what `append` stores), else
/// re-encoded; nil when they are not JSON at all.
public func jsonText(ofStored bytes: [UInt8]) -> String? {
    guard !bytes.isEmpty else { return nil }
    let data = Data(bytes)
    guard (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else { return nil }
    if !bytes.contains(0x0A) && !bytes.contains(0x0D), let s = String(validating: bytes, as: UTF8.self) { return s }
    return (try? JSONDecoder().decode(OutputJSON.self, from: data))?.text
}

/// One event as a JSON object with the stable keys of `read --json`;
/// `decodedData` (JSON text) replaces the stored data when given.
public func eventJSON(_ e: RecordedEvent, decodedData: String? = nil) -> String {
    var o = JSONObject()
    o.add("position", e.position.value)
    o.add("stream", e.stream)
    o.add("version", e.version.value)
    o.add("id", e.id.description)
    o.add("type", e.type)
    o.add("time", e.occurredAt.rfc3339)
    o.add("recordedAt", e.recordedAt.rfc3339)
    if let data = decodedData ?? jsonText(ofStored: e.data) {
        o.add("data", .raw(data))
    } else {
        // Not JSON (appended through the library): keep it lossless.
        o.add("data", .null)
        o.add("dataBase64", Data(e.data).base64EncodedString())
    }
    if e.metadata.isEmpty {
        o.add("meta", .raw("{}"))
    } else if let meta = jsonText(ofStored: e.metadata) {
        o.add("meta", .raw(meta))
    } else {
        o.add("meta", .null)
        o.add("metaBase64", Data(e.metadata).base64EncodedString())
    }
    return o.text
}

/// One event as a line of text: position, stream@version, type, time,
/// data (`decodedData` when given, else the stored data).
public func eventText(_ e: RecordedEvent, decodedData: String? = nil) -> String {
    var s = "\(e.position)  \(e.stream)@\(e.version)  \(e.type)  \(e.occurredAt.rfc3339)  \(decodedData ?? readable(e.data))"
    if !e.metadata.isEmpty { s += "  meta=" + readable(e.metadata) }
    return s
}

private func readable(_ bytes: [UInt8]) -> String {
    if let json = jsonText(ofStored: bytes) { return json }
    if let s = String(validating: bytes, as: UTF8.self), !s.contains(where: { $0.isNewline }) { return OutputJSON.quote(s) }
    return "<\(bytes.count) bytes>"
}

