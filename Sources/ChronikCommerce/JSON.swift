// A small, strict JSON (RFC 8259) value, parser and compact serializer for
// the JSON Lines form. Why not Foundation: JSONSerialization is slow, turns
// booleans into numbers and loses integers beyond 2^53.
//
// Decisions (docs/EVENTS-CODEC.md):
// - Integers without fraction or exponent that fit in Int64 are `.int`;
//   every other number (a fraction, an exponent, a big integer, `-0`) is
//   `.number` holding its literal text, so it is written back as it came.
// - Duplicate keys in an object are an error (two values for one field is
//   ambiguous, and parsers disagree on which wins).
// - Invalid UTF-8, lone surrogate escapes, control characters in strings,
//   trailing commas, comments, leading zeros, NaN/Infinity: errors.
// - Nesting is limited to 64 levels (bounded recursion).
// - Objects keep their key order.

/// A JSON value.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// An integer literal (no fraction, no exponent) within Int64.
    case int(Int64)
    /// Any other number, as its literal text.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in their order in the text; keys are unique.
    case object([JSONMember])

    /// The JSON type's name, for messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// One key and value of a JSON object.
public struct JSONMember: Hashable, Sendable {
    public var key: String
    public var value: JSONValue
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue {
    /// Parses one JSON text (surrounding whitespace allowed).
    ///
    /// - Throws: `CommerceError.Code.invalidJSON`, naming the byte offset.
    /// - Complexity: O(n) in the length of `bytes`.
    public static func parse(_ bytes: some Collection<UInt8>) throws(CommerceError) -> JSONValue {
        let r = bytes.withContiguousStorageIfAvailable { buf in
            Result { () throws(CommerceError) -> JSONValue in try parse(buffer: buf) }
        }
        if let r { return try r.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { (buf) throws(CommerceError) -> JSONValue in try parse(buffer: buf) }
    }

    static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(CommerceError) -> JSONValue {
        var p = JSONParser(buffer)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.index == buffer.count else { throw p.error("unexpected bytes after the value") }
        return v
    }

    /// The same value with the members of every object sorted by key
    /// (`String` order), for a serialization that does not depend on the
    /// order of the input.
    public func sortingKeys() -> JSONValue {
        switch self {
        case .array(let items): .array(items.map { $0.sortingKeys() })
        case .object(let members):
            .object(members.sorted { $0.key < $1.key }.map { JSONMember($0.key, $0.value.sortingKeys()) })
        default: self
        }
    }

    /// The bytes of `sortingKeys().compactBytes`, written without building
    /// the sorted copy.
    public var compactBytesSortingKeys: [UInt8] {
        var w = JSONWriter()
        w.valueSortingKeys(self)
        return w.bytes
    }

    /// The compact serialization (no whitespace, keys in stored order).
    public var compactBytes: [UInt8] {
        var w = JSONWriter()
        w.value(self)
        return w.bytes
    }
}

struct JSONParser {
    let buf: UnsafeBufferPointer<UInt8>
    var index = 0
    static let maxDepth = 64

    init(_ buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    @inline(never)
    func error(_ message: String) -> CommerceError {
        if index >= buf.count { return CommerceError(.invalidJSON, "truncated JSON: \(message) at end of line") }
        return CommerceError(.invalidJSON, "\(message) at byte \(index)")
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < buf.count {
            let c = buf[index]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            index += 1
        }
    }

    mutating func value(depth: Int) throws(CommerceError) -> JSONValue {
        guard index < buf.count else { throw error("expected a value") }
        switch buf[index] {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(CommerceError) {
        let n = word.utf8CodeUnitCount
        guard index + n <= buf.count,
              memcmpEqual(word.utf8Start, buf.baseAddress! + index, n)
        else { throw error("invalid literal") }
        index += n
    }

    mutating func object(depth: Int) throws(CommerceError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        index += 1  // {
        var members: [JSONMember] = []
        // Keys seen, once an object has more than a few: a linear look-up
        // per key made an object of n keys cost n² (stop 36: 80 k keys took
        // 14 s, and a 12 MB body of 1 M keys held a core for tens of minutes).
        var seen: Set<String>? = nil
        skipWhitespace()
        if index < buf.count, buf[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard index < buf.count, buf[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let keyStart = index
            let key = try string()
            skipWhitespace()
            guard index < buf.count, buf[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            let v = try value(depth: depth)
            let repeated: Bool
            if var keys = seen {
                seen = nil  // uniquely referenced while it grows
                repeated = !keys.insert(key).inserted
                seen = keys
            } else {
                repeated = members.contains(where: { $0.key == key })
                if members.count == 16 { seen = Set(members.lazy.map(\.key)).union([key]) }
            }
            if repeated {
                index = keyStart
                throw error("duplicate key \"\(key)\"")
            }
            members.append(JSONMember(key, v))
            skipWhitespace()
            guard index < buf.count else { throw error("expected ',' or '}'") }
            if buf[index] == UInt8(ascii: ",") { index += 1; continue }
            if buf[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            throw error("expected ',' or '}'")
        }
    }

    mutating func array(depth: Int) throws(CommerceError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        index += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if index < buf.count, buf[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard index < buf.count else { throw error("expected ',' or ']'") }
            if buf[index] == UInt8(ascii: ",") { index += 1; continue }
            if buf[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    mutating func number() throws(CommerceError) -> JSONValue {
        let start = index
        var negative = false
        if buf[index] == UInt8(ascii: "-") { negative = true; index += 1 }
        guard index < buf.count, isDigit(buf[index]) else { throw error("expected a digit") }
        let intStart = index
        if buf[index] == UInt8(ascii: "0") {
            index += 1
            if index < buf.count, isDigit(buf[index]) { throw error("leading zero in a number") }
        } else {
            while index < buf.count, isDigit(buf[index]) { index += 1 }
        }
        let intEnd = index
        var integral = true
        if index < buf.count, buf[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < buf.count, isDigit(buf[index]) else { throw error("expected a digit after '.'") }
            while index < buf.count, isDigit(buf[index]) { index += 1 }
        }
        if index < buf.count, buf[index] == UInt8(ascii: "e") || buf[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < buf.count, buf[index] == UInt8(ascii: "+") || buf[index] == UInt8(ascii: "-") { index += 1 }
            guard index < buf.count, isDigit(buf[index]) else { throw error("expected a digit in the exponent") }
            while index < buf.count, isDigit(buf[index]) { index += 1 }
        }
        if integral, intEnd - intStart <= 19 {
            // Accumulate negatively: Int64.min has no positive counterpart.
            var v: Int64 = 0
            var ok = true
            for i in intStart..<intEnd {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(Int64(buf[i] &- 48))
                if o1 || o2 { ok = false; break }
                v = s
            }
            if ok {
                if negative {
                    if v != 0 { return .int(v) }  // "-0" keeps its literal below
                } else if v != .min {
                    return .int(-v)
                }
            }
        }
        let literal = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<index]), as: UTF8.self)
        // Kept as written, but only within a double's range: JSON readers
        // (JSONSerialization, JavaScript, Python's floats) cannot hold 1e309,
        // and `read --json` then printed the data as not JSON (stop 32).
        guard let value = Double(literal), value.isFinite else {
            index = start
            throw error("number out of range: \(literal.count > 40 ? literal.prefix(40) + "…" : literal) is beyond a double's ±1.8e308")
        }
        return .number(literal)
    }

    @inline(__always)
    func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    /// A string starting at the opening quote.
    mutating func string() throws(CommerceError) -> String {
        index += 1  // "
        let start = index
        // Fast path: plain ASCII without escapes.
        while index < buf.count {
            let c = buf[index]
            if c == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<index]), as: UTF8.self)
                index += 1
                return s
            }
            if c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { break }
            index += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: buf[start..<index]))
        while true {
            guard index < buf.count else { throw error("unterminated string") }
            let c = buf[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                // Every byte was validated (or produced from an escape).
                return String(decoding: out, as: UTF8.self)
            } else if c == UInt8(ascii: "\\") {
                index += 1
                guard index < buf.count else { throw error("unterminated escape") }
                let e = buf[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard index + 1 < buf.count, buf[index] == UInt8(ascii: "\\"), buf[index + 1] == UInt8(ascii: "u") else {
                            throw error("lone high surrogate escape")
                        }
                        index += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw error("high surrogate not followed by a low one") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw error("lone low surrogate escape")
                    }
                    appendUTF8(scalar, to: &out)
                default:
                    index -= 1
                    throw error("invalid escape")
                }
            } else if c < 0x20 {
                throw error("control character in a string")
            } else if c < 0x80 {
                out.append(c)
                index += 1
            } else {
                let n = utf8SequenceLength(at: index)
                guard n > 0 else { throw error("invalid UTF-8") }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[index..<(index + n)]))
                index += n
            }
        }
    }

    mutating func hex4() throws(CommerceError) -> UInt32 {
        guard index + 4 <= buf.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[index]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - 48)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - 87)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - 55)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    /// Length of the well-formed UTF-8 sequence at `i` (Unicode Table 3-7),
    /// or 0 when it is ill-formed or truncated.
    func utf8SequenceLength(at i: Int) -> Int {
        let b0 = buf[i]
        func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            i + k < buf.count && buf[i + k] >= lo && buf[i + k] <= hi
        }
        switch b0 {
        case 0xC2...0xDF: return cont(1) ? 2 : 0
        case 0xE0: return cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : 0
        case 0xED: return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }
}

@inline(__always)
func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
    switch scalar {
    case 0..<0x80:
        out.append(UInt8(scalar))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | scalar >> 6)); out.append(UInt8(0x80 | scalar & 0x3F))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | scalar >> 12)); out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
        out.append(UInt8(0x80 | scalar & 0x3F))
    default:
        out.append(UInt8(0xF0 | scalar >> 18)); out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
        out.append(UInt8(0x80 | scalar >> 6 & 0x3F)); out.append(UInt8(0x80 | scalar & 0x3F))
    }
}

/// Writes compact JSON into a growing buffer.
///
/// Strings escape only what JSON requires: `"`, `\` and the control
/// characters below U+0020 (as `\b \f \n \r \t` or `\u00XX`); everything
/// else, `/` and non-ASCII included, is written as UTF-8.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable @inline(__always)
    public mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inlinable @inline(__always)
    public mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Appends what `body` writes, or nothing of it when `body` throws.
    public mutating func allOrNothing(_ body: (inout JSONWriter) throws -> Void) rethrows {
        let mark = bytes.count
        do {
            try body(&self)
        } catch {
            bytes.removeSubrange(mark...)
            throw error
        }
    }

    /// `"name":`
    @inlinable @inline(__always)
    public mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func int(_ v: Int64) {
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        uint(v.magnitude)
    }

    /// `v` in decimal, as `String(v)` writes it: at most 20 digits, made
    /// from the last into the end of a stack buffer, appended at once.
    public mutating func uint(_ v: UInt64) {
        var m = v
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { t in
            var i = 20
            repeat { i -= 1; t[i] = UInt8(truncatingIfNeeded: 48 + m % 10); m /= 10 } while m > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: t[i..<20]))
        }
    }

    /// `t` as a JSON string: the bytes of `"\(t.rfc3339)"`, written without
    /// building the string (years 0-9999; others through `rfc3339`).
    ///
    /// The text up to the second (`"YYYY-MM-DDTHH:MM:SS`) of the last two
    /// seconds written is kept: an event's time and recordedAt, and the
    /// events of one batch, fall in a few seconds, and the civil date is
    /// most of the cost (a catch-up writes two times per event).
    public mutating func time(_ t: Timestamp) {
        let us = t.microseconds
        let secs = us >= 0 ? us / 1_000_000 : (us - 999_999) / 1_000_000
        let micros = Int(us - secs * 1_000_000)
        // Built in a stack buffer, then appended at once.
        let written: Bool = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { b in
            var n = 0
            func put(_ c: UInt8) { b[n] = c; n += 1 }
            func digits(_ v: Int, _ width: Int) {
                var v = v
                var i = n + width
                n = i
                while i > n - width { i -= 1; b[i] = UInt8(truncatingIfNeeded: 48 + v % 10); v /= 10 }
            }
            let head = UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(b)[0..<SecondText.count])
            if !seconds.copy(secs, to: head) {
                let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
                let sod = Int(secs - days * 86_400)
                let (year, month, day) = CivilDate.date(days: days)
                guard (0...9999).contains(year) else { return false }
                put(UInt8(ascii: "\""))
                digits(Int(year), 4)
                put(UInt8(ascii: "-"))
                digits(Int(month), 2)
                put(UInt8(ascii: "-"))
                digits(Int(day), 2)
                put(UInt8(ascii: "T"))
                digits(sod / 3600, 2)
                put(UInt8(ascii: ":"))
                digits(sod / 60 % 60, 2)
                put(UInt8(ascii: ":"))
                digits(sod % 60, 2)
                seconds.keep(secs, UnsafeRawBufferPointer(head))
            }
            n = SecondText.count
            if micros != 0 {
                put(UInt8(ascii: "."))
                if micros % 1000 == 0 { digits(micros / 1000, 3) } else { digits(micros, 6) }
            }
            put(UInt8(ascii: "Z"))
            put(UInt8(ascii: "\""))
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[0..<n]))
            return true
        }
        if !written { string(t.rfc3339) }
    }

    /// The last two seconds `time` wrote, as text.
    private var seconds = SecondTexts()

    /// `id` as a JSON string in the lower-case canonical 8-4-4-4-12 form
    /// (`"\(id.description)"`).
    public mutating func eventID(_ id: EventID) {
        bytes.append(UInt8(ascii: "\""))
        EventIDText.write(id, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in escaped(u) }
    }

    /// UTF-8 bytes as a JSON string, as `string(_:)` writes the `String`
    /// they spell; false (nothing written) when they are not UTF-8.
    @inline(__always)
    mutating func string(utf8 u: UnsafeBufferPointer<UInt8>) -> Bool {
        var ascii = true
        for c in u where c >= 0x80 { ascii = false; break }
        guard ascii || String(validating: u, as: UTF8.self) != nil else { return false }
        escaped(u)
        return true
    }

    /// `"…"` around `u`, escaping quotes, backslashes and control characters.
    private mutating func escaped(_ u: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<u.count {
            let c = u[i]
            guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<i]))
            runStart = i + 1
            bytes.append(UInt8(ascii: "\\"))
            switch c {
            case 0x22: bytes.append(0x22)
            case 0x5C: bytes.append(0x5C)
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                let hex: StaticString = "0123456789abcdef"
                raw("u00")
                bytes.append(hex.utf8Start[Int(c >> 4)])
                bytes.append(hex.utf8Start[Int(c & 0xF)])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<u.count]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// `v` with the members of every object in key order (`String` order,
    /// as `JSONValue.sortingKeys()`).
    public mutating func valueSortingKeys(_ v: JSONValue) {
        switch v {
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (i, x) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                valueSortingKeys(x)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (i, m) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(m.key)
                bytes.append(UInt8(ascii: ":"))
                valueSortingKeys(m.value)
            }
            bytes.append(UInt8(ascii: "}"))
        default:
            value(v)
        }
    }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: raw("null")
        case .bool(let b): if b { raw("true") } else { raw("false") }
        case .int(let i): int(i)
        case .number(let s): bytes.append(contentsOf: s.utf8)
        case .string(let s): string(s)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (i, x) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                value(x)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(m.key)
                bytes.append(UInt8(ascii: ":"))
                value(m.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

/// `"YYYY-MM-DDTHH:MM:SS` of one second (20 bytes), for `JSONWriter.time`.
struct SecondText: Sendable {
    static let count = 20
    var second = Int64.min
    var text: (UInt64, UInt64, UInt32) = (0, 0, 0)
}

/// Two `SecondText`s; a new one replaces the one used less recently.
struct SecondTexts: Sendable {
    private var a = SecondText()
    private var b = SecondText()

    /// Copies the text of `second` into `head` (20 bytes) when kept; the
    /// one found becomes the more recent.
    mutating func copy(_ second: Int64, to head: UnsafeMutableRawBufferPointer) -> Bool {
        if b.second == second { swap(&a, &b) }
        guard a.second == second else { return false }
        withUnsafeBytes(of: a.text) { head.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<SecondText.count])) }
        return true
    }

    /// Keeps `head` (20 bytes) as the text of `second`, the more recent.
    mutating func keep(_ second: Int64, _ head: UnsafeRawBufferPointer) {
        b = a
        a.second = second
        withUnsafeMutableBytes(of: &a.text) { $0.copyMemory(from: head) }
    }
}

/// Eight bytes of JSON text at a time.
public enum JSONWord {
    /// Whether each of the 8 bytes of `w` is printable ASCII (0x20–0x7E)
    /// and neither a quote nor a backslash: bytes a string scan can skip.
    /// Exact (no false answer either way): a byte ≥ 0x80 sets its top
    /// bit; the borrow tests of "Bit Twiddling Hacks" are exact for "is
    /// there such a byte" with n ≤ 128. The string scans of the request
    /// parser (`CompactJSONCopier`) and of the server's catch-up
    /// (`PlainJSONScan`) both use it.
    @inlinable @inline(__always)
    public static func allPlain(_ w: UInt64) -> Bool { specialBytes(w) == 0 }

    /// The top bit of each byte of `w` (loaded little-endian) that a string
    /// scan cannot skip is set — exactly so for the lowest such byte (a
    /// borrow can only mark a byte above one that is marked rightly), so
    /// `trailingZeroBitCount / 8` is the index of the first of them.
    @inlinable @inline(__always)
    public static func specialBytes(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let hasLess20 = (w &- ones &* 0x20) & ~w & highs
        return (w & highs) | hasLess20 | hasZero(w ^ (ones &* 0x22)) | hasZero(w ^ (ones &* 0x5C)) | hasZero(w ^ (ones &* 0x7F))
    }

    /// How many of the 8 bytes of `w` are ASCII digits. Exact: a byte is a
    /// digit when its high nibble is 3 and its low nibble plus 6 does not
    /// reach 16 (no carry leaves a byte: 15 + 6 < 32); the zero-byte test
    /// `~(((v & 0x7F…) + 0x7F…) | v | 0x7F…)` marks exactly the bytes of
    /// `v` that are 0.
    @inlinable @inline(__always)
    public static func digitCount(_ w: UInt64) -> Int {
        let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        let notDigit = ((w & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030)
            | (((w & 0x0F0F_0F0F_0F0F_0F0F) &+ 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010)
        return (~(((notDigit & lows) &+ lows) | notDigit | lows)).nonzeroBitCount
    }

    /// Whether any byte of `bytes` is not ASCII, eight at a time.
    public static func hasNonASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        var i = 0
        var high: UInt64 = 0
        while bytes.count - i >= 8 {
            high |= UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            i += 8
        }
        while i < bytes.count {
            high |= UInt64(bytes[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 != 0
    }

    /// How many bytes of `bytes` are ASCII digits, eight at a time (the
    /// byte loop this replaces did not vectorise: stop 24 measured it at
    /// 9 % of `chronik append`'s line parsing).
    public static func digitCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var n = 0
        var i = 0
        while bytes.count - i >= 8 {
            n &+= digitCount(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            i += 8
        }
        while i < bytes.count {
            n &+= bytes[i] &- 48 < 10 ? 1 : 0
            i += 1
        }
        return n
    }
}
