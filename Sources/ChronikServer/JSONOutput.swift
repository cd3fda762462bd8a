import ChronikCommerce
import ChronikLog
import Foundation

// The JSON the CLI prints and the server answers with, written by one
// set of functions, so that `chronik read --json` and `GET
// /events/{position}` agree byte for byte.
//
// One JSON value for the CLI, the server and the commerce codec:
// ChronikCommerce's strict `JSONValue`. What output adds to it: the
// unsigned numbers and doubles it prints, dictionaries printed in key
// order, and its text (strings escaped as `writeQuoted` does, so a value
// prints the same bytes wherever it appears).

extension JSONValue {
    /// A position, version or count: an integer, its decimal digits even
    /// above `Int64.max`.
    public static func uint(_ u: UInt64) -> JSONValue {
        u <= UInt64(Int64.max) ? .int(Int64(u)) : .number(String(u))
    }

    /// A rate or a mean as Swift prints it (`0.5`, `2.0`, `1e-05`); null
    /// for NaN and the infinities, which JSON has no words for.
    public static func double(_ d: Double) -> JSONValue {
        d.isFinite ? .number("\(d)") : .null
    }

    /// An object from a dictionary, its members in key order (`String`
    /// order), so that the same dictionary always prints the same bytes.
    public static func object(sortingKeys d: [String: JSONValue]) -> JSONValue {
        .object(d.keys.sorted().map { JSONMember($0, d[$0]!) })  // $0 comes from d.keys
    }

    /// Compact JSON text, members in their order.
    public var text: String {
        var w = JSONWriter(capacity: 64)
        writeOutput(self, to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// A JSON string literal for `s` (the bytes `writeQuoted` writes).
    public static func quote(_ s: String) -> String {
        var w = JSONWriter(capacity: s.utf8.count + 2)
        writeQuoted(s, to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// `v` as output prints it into `w`: compact, members in their order,
/// strings through `writeQuoted`.
public func writeOutput(_ v: JSONValue, to w: inout JSONWriter) {
    switch v {
    case .string(let s): writeQuoted(s, to: &w)
    case .array(let items):
        w.byte(UInt8(ascii: "["))
        for (i, x) in items.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            writeOutput(x, to: &w)
        }
        w.byte(UInt8(ascii: "]"))
    case .object(let members):
        w.byte(UInt8(ascii: "{"))
        for (i, m) in members.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            writeQuoted(m.key, to: &w)
            w.byte(UInt8(ascii: ":"))
            writeOutput(m.value, to: &w)
        }
        w.byte(UInt8(ascii: "}"))
    case .null, .bool, .int, .number:
        w.value(v)
    }
}

// MARK: JSON output

/// Builds the text of one JSON object, members in the order they are
/// added. A builder rather than a value: a member can be JSON text made
/// elsewhere (a page of events written straight into bytes).
public struct JSONObject {
    private var members: [String] = []

    public init() {}

    public mutating func add(_ key: String, _ value: JSONValue) {
        members.append(JSONValue.quote(key) + ":" + value.text)
    }

    /// A member whose value is JSON text already (not checked).
    public mutating func add(_ key: String, json text: String) {
        members.append(JSONValue.quote(key) + ":" + text)
    }

    public mutating func add(_ key: String, _ value: String?) { add(key, value.map(JSONValue.string) ?? .null) }
    public mutating func add(_ key: String, _ value: Int) { add(key, .int(Int64(value))) }
    public mutating func add(_ key: String, _ value: Int64) { add(key, .int(value)) }
    public mutating func add(_ key: String, _ value: UInt64) { add(key, .uint(value)) }
    public mutating func add(_ key: String, _ value: Bool) { add(key, .bool(value)) }
    public mutating func add(_ key: String, _ value: Double) { add(key, .double(value)) }
    public mutating func add(_ key: String, _ value: JSONObject) { add(key, json: value.text) }
    public mutating func add(_ key: String, _ values: [JSONObject]) {
        add(key, json: "[" + values.map(\.text).joined(separator: ",") + "]")
    }

    public var text: String { "{" + members.joined(separator: ",") + "}" }
}

// MARK: Event formatting

/// The stored bytes of `data` or `meta` as JSON text for output: the bytes
/// themselves when they are single-line JSON (what `append` stores); JSON
/// over several lines re-encoded on one (compact, keys sorted, numbers as
/// written); nil when they are not JSON at all.
///
/// JSON is what JSONSerialization takes. Multi-line JSON the strict parser
/// refuses (a key twice, a lone surrogate escape, more than 64 levels)
/// prints with its line breaks as spaces: outside strings they are only
/// whitespace, and inside one JSON has no raw line break, so nothing of
/// the value is lost or changed.
public func jsonText(ofStored bytes: [UInt8]) -> String? {
    if isSingleLineJSON(bytes) { return String(decoding: bytes, as: UTF8.self) }
    guard !bytes.isEmpty else { return nil }
    guard (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil,
          let s = String(validating: bytes, as: UTF8.self) else { return nil }
    guard bytes.contains(0x0A) || bytes.contains(0x0D) else { return s }
    if let v = try? JSONValue.parse(bytes) { return v.sortingKeys().text }
    return String(decoding: bytes.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }, as: UTF8.self)
}

/// The fast answer of `jsonText(ofStored:)` for what `append` stores:
/// true when ChronikCommerce's strict parser takes `bytes` (valid UTF-8,
/// no duplicate keys, at most 64 levels), they hold no line break and no
/// number other than an Int64 integer — JSON that JSONSerialization takes
/// too, so printed as they are. False sends the bytes the slow way.
public func isSingleLineJSON(_ bytes: [UInt8]) -> Bool {
    if isPlainCompactJSON(bytes) { return true }
    guard !bytes.isEmpty, !bytes.contains(0x0A), !bytes.contains(0x0D),
          let v = try? ChronikCommerce.JSONValue.parse(bytes) else { return false }
    return !hasNumberLiteral(v)
}

/// The common case of `isSingleLineJSON` decided without building a
/// tree: true when `bytes` are one JSON value of printable ASCII only,
/// with no whitespace, no escape, no key twice in one object, at most 32
/// levels deep and integers of at most 18 digits (not `-0`) as its only
/// numbers. Such bytes are a subset of what the strict parser takes with
/// `.int` numbers only, so true here is true there; false decides
/// nothing (the parser then does).
///
/// Why: a subscription catching up sent each event's data through the
/// strict parser, a tree of strings per event, about a quarter of the
/// server's time (Benchmarks/README.md, "Stop 17").
public func isPlainCompactJSON(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { isPlainCompactJSON($0) }
}

/// `isPlainCompactJSON` of borrowed bytes (an event read as a view). Also
/// false when more than 256 keys are open at once (the parser decides).
///
/// No allocation: the open containers and keys are kept on the stack, and
/// a string is checked eight bytes at a time up to its closing quote
/// (stop 18: the arrays and the byte-at-a-time string loop were a fifth of
/// a catch-up; stop 20: `memchr` then a byte loop over the same bytes
/// were still 15 %).
public func isPlainCompactJSON(_ b: UnsafeRawBufferPointer) -> Bool {
    guard let base = b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count > 0 else { return false }
    return withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * 32 + 2 * 256) { stack in
        var scan = PlainJSONScan(b: base, n: b.count, stack: stack.baseAddress!)
        return scan.run()
    }
}

/// The state of one `isPlainCompactJSON` scan, on a stack buffer: per
/// open container whether it is an object, per open object where its keys
/// start, and the keys of the open objects as (start, length).
private struct PlainJSONScan {
    static let maxDepth = 32
    static let maxOpenKeys = 256
    let b: UnsafePointer<UInt8>
    let n: Int
    var i = 0
    let open: UnsafeMutablePointer<Int>  // 1: an object, 0: an array
    let keyStart: UnsafeMutablePointer<Int>
    let keys: UnsafeMutablePointer<Int>  // pairs: start, length
    var depth = 0
    var keyCount = 0

    init(b: UnsafePointer<UInt8>, n: Int, stack: UnsafeMutablePointer<Int>) {
        self.b = b
        self.n = n
        open = stack
        keyStart = stack + Self.maxDepth
        keys = stack + 2 * Self.maxDepth
    }

    /// The end (after the closing quote) of the string at `i`; nil unless
    /// it is printable ASCII without an escape.
    func stringEnd(_ i: Int) -> Int? {
        guard i < n, b[i] == UInt8(ascii: "\"") else { return nil }
        var k = i + 1
        // Eight bytes at a time while none is special; the first special
        // one ends the string when it is the closing quote, else it is not
        // plain. The last bytes (fewer than eight) one by one.
        while n - k >= 8 {
            let special = JSONWord.specialBytes(UInt64(littleEndian: UnsafeRawPointer(b + k).loadUnaligned(as: UInt64.self)))
            if special == 0 {
                k += 8
                continue
            }
            let first = k + special.trailingZeroBitCount >> 3
            return b[first] == UInt8(ascii: "\"") ? first + 1 : nil
        }
        while k < n {
            let c = b[k]
            if c == UInt8(ascii: "\"") { return k + 1 }
            if c &- 0x20 > 0x5E || c == UInt8(ascii: "\\") { return nil }
            k += 1
        }
        return nil
    }

    /// A key of the innermost object and its colon; false when it is
    /// not plain or repeats a key of that object.
    mutating func key() -> Bool {
        guard let end = stringEnd(i), end < n, b[end] == UInt8(ascii: ":") else { return false }
        let start = i + 1, length = end - 1 - start
        let first = keyStart[depth - 1]
        guard keyCount - first < 64, keyCount < Self.maxOpenKeys else { return false }
        for k in first..<keyCount where keys[2 * k + 1] == length {
            if memcmp(b + keys[2 * k], b + start, length) == 0 { return false }
        }
        keys[2 * keyCount] = start
        keys[2 * keyCount + 1] = length
        keyCount += 1
        i = end + 1
        return true
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard n - i >= count, memcmp(b + i, word.utf8Start, count) == 0 else { return false }
        i += count
        return true
    }

    mutating func push(object: Bool) -> Bool {
        guard depth < Self.maxDepth else { return false }
        open[depth] = object ? 1 : 0
        keyStart[depth] = keyCount
        depth += 1
        return true
    }

    mutating func pop() {
        depth -= 1
        keyCount = keyStart[depth]
    }

    mutating func run() -> Bool {
        value: while true {
            guard i < n else { return false }
            switch b[i] {
            case UInt8(ascii: "{"):
                guard push(object: true) else { return false }
                i += 1
                if i < n, b[i] == UInt8(ascii: "}") {
                    i += 1
                    pop()
                } else {
                    guard key() else { return false }
                    continue value
                }
            case UInt8(ascii: "["):
                guard push(object: false) else { return false }
                i += 1
                if i < n, b[i] == UInt8(ascii: "]") {
                    i += 1
                    pop()
                } else {
                    continue value
                }
            case UInt8(ascii: "\""):
                guard let end = stringEnd(i) else { return false }
                i = end
            case UInt8(ascii: "t"): guard literal("true") else { return false }
            case UInt8(ascii: "f"): guard literal("false") else { return false }
            case UInt8(ascii: "n"): guard literal("null") else { return false }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                if b[i] == UInt8(ascii: "-") {
                    i += 1
                    guard i < n, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(b[i]) else { return false }
                }
                let digits = i
                if b[i] == UInt8(ascii: "0") {
                    i += 1
                } else {
                    while i < n, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
                }
                // A fraction, an exponent or a leading zero stops at the
                // next structural check below.
                guard i - digits <= 18 else { return false }
            default:
                return false
            }
            // After a value: the next member or element, or the end of containers.
            while depth > 0 {
                let isObject = open[depth - 1] == 1
                guard i < n else { return false }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    if isObject { guard key() else { return false } }
                    continue value
                } else if b[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i += 1
                    pop()
                } else {
                    return false
                }
            }
            return i == n
        }
    }
}

private func hasNumberLiteral(_ v: ChronikCommerce.JSONValue) -> Bool {
    switch v {
    case .number: true
    case .array(let items): items.contains(where: hasNumberLiteral)
    case .object(let members): members.contains { hasNumberLiteral($0.value) }
    case .null, .bool, .int, .string: false
    }
}

/// One event as a JSON object with the stable keys of `read --json`;
/// `decodedData` (JSON text) replaces the stored data when given.
public func eventJSON(_ e: RecordedEvent, decodedData: String? = nil) -> String {
    var w = JSONWriter(capacity: 256 + e.data.count * 2)
    writeEventJSONHead(e, to: &w)
    if let decodedData {
        w.raw(",\"data\":")
        w.bytes.append(contentsOf: decodedData.utf8)
    } else {
        writeStoredJSON(e.data, key: "data", to: &w)
    }
    if e.metadata.isEmpty {
        w.raw(",\"meta\":{}")
    } else {
        writeStoredJSON(e.metadata, key: "meta", to: &w)
    }
    w.byte(UInt8(ascii: "}"))
    return String(decoding: w.bytes, as: UTF8.self)
}

/// `{"position":…,"stream":…,"version":…,"id":…,"type":…,"time":…,"recordedAt":…`
/// of `read --json`, written into `w`; the data and meta follow.
public func writeEventJSONHead<E: EventFields>(_ e: E, to w: inout JSONWriter) {
    w.raw("{\"position\":")
    w.uint(e.position.value)
    w.raw(",\"stream\":")
    writeQuoted(e.stream, to: &w)
    w.raw(",\"version\":")
    w.uint(e.version.value)
    w.raw(",\"id\":")
    w.eventID(e.id)
    w.raw(",\"type\":")
    writeQuoted(e.type, to: &w)
    w.raw(",\"time\":")
    w.time(e.occurredAt)
    w.raw(",\"recordedAt\":")
    w.time(e.recordedAt)
}

/// `,"data":<JSON>` for stored data (`key` "data" or "meta") that is JSON;
/// else `,"data":null,"dataBase64":"…"`, lossless.
public func writeStoredJSON(_ bytes: [UInt8], key: StaticString, to w: inout JSONWriter) {
    bytes.withUnsafeBytes { writeStoredJSON($0, key: key, to: &w) }
}

/// `writeStoredJSON` of borrowed bytes: compact ASCII JSON (what `append`
/// stores) is copied at once, anything else takes the owned path.
public func writeStoredJSON(_ bytes: UnsafeRawBufferPointer, key: StaticString, to w: inout JSONWriter) {
    w.raw(",\"")
    w.raw(key)
    w.raw("\":")
    if isPlainCompactJSON(bytes) {
        w.bytes.append(contentsOf: bytes)
        return
    }
    let bytes = Array(bytes)
    if isSingleLineJSON(bytes) {
        w.bytes.append(contentsOf: bytes)
    } else if let text = jsonText(ofStored: bytes) {
        w.bytes.append(contentsOf: text.utf8)
    } else {
        // Not JSON (appended through the library): keep it lossless.
        w.raw("null,\"")
        w.raw(key)
        w.raw("Base64\":\"")
        w.bytes.append(contentsOf: Data(bytes).base64EncodedString().utf8)
        w.byte(UInt8(ascii: "\""))
    }
}

/// The bytes of `JSONValue.quote(s)`, written into `w`.
public func writeQuoted(_ s: String, to w: inout JSONWriter) {
    w.byte(UInt8(ascii: "\""))
    var s = s
    let plain = s.withUTF8 { u in
        // The common case, nothing to escape: the bytes at once.
        guard !u.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x7F }) else { return false }
        w.bytes.append(contentsOf: u)
        return true
    }
    if plain {
        w.byte(UInt8(ascii: "\""))
        return
    }
    for c in s.utf8 {
        switch c {
        case 0x22: w.raw("\\\"")
        case 0x5C: w.raw("\\\\")
        case 0x0A: w.raw("\\n")
        case 0x0D: w.raw("\\r")
        case 0x09: w.raw("\\t")
        case 0..<0x20, 0x7F:
            let hex: StaticString = "0123456789abcdef"
            w.raw("\\u00")
            w.byte(hex.utf8Start[Int(c >> 4)])
            w.byte(hex.utf8Start[Int(c & 0xF)])
        default: w.byte(c)
        }
    }
    w.byte(UInt8(ascii: "\""))
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
    if let s = String(validating: bytes, as: UTF8.self), !s.contains(where: { $0.isNewline }) { return JSONValue.quote(s) }
    return "<\(bytes.count) bytes>"
}


