import ChronikCommerce
import ChronikLog
import Foundation

/// Buffered writes to stdout. Results are written in large chunks; `tail
/// -f` flushes after each event so that a pipe sees it at once.
final class Output {
    private var writer: JSONWriter
    private let fd: Int32
    /// Flush once this much is buffered (bounded memory on huge reads).
    private static let flushThreshold = 64 << 10

    init(fd: Int32 = STDOUT_FILENO) {
        self.fd = fd
        writer = JSONWriter(capacity: Self.flushThreshold + (4 << 10))
    }

    deinit { flush() }

    /// Writes `text` and a newline.
    func line(_ text: String) {
        writer.bytes.append(contentsOf: text.utf8)
        endLine()
    }

    /// Writes the line `body` builds straight into the buffer, and a
    /// newline; nothing of it when `body` throws.
    func line(_ body: (inout JSONWriter) throws -> Void) throws {
        let mark = writer.bytes.count
        do {
            try body(&writer)
        } catch {
            writer.bytes.removeSubrange(mark...)
            throw error
        }
        endLine()
    }

    private func endLine() {
        writer.byte(0x0A)
        if writer.bytes.count >= Self.flushThreshold { flush() }
    }

    func flush() {
        writeAll(fd, writer.bytes)
        writer.bytes.removeAll(keepingCapacity: true)
    }
}

/// Writes one line to stderr at once (unbuffered), prefixed by `chronik: `
/// unless it already is.
func printError(_ message: String) {
    let text = message.hasPrefix("chronik: ") ? message : "chronik: " + message
    writeAll(STDERR_FILENO, Array((text + "\n").utf8))
}

/// write(2) until every byte is out; gives up silently when the reader is
/// gone (EPIPE with SIGPIPE ignored) — there is no one left to tell.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var done = 0
    bytes.withUnsafeBytes { raw in
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, raw.count - done)
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}

// MARK: JSON output

/// Builds one JSON object with keys in the order they are added.
struct JSONObject {
    private var members: [String] = []

    init() {}

    mutating func add(_ key: String, _ value: JSONValue) {
        members.append(JSONValue.quote(key) + ":" + value.text)
    }

    mutating func add(_ key: String, _ value: String?) { add(key, value.map(JSONValue.string) ?? .null) }
    mutating func add(_ key: String, _ value: Int) { add(key, .int(Int64(value))) }
    mutating func add(_ key: String, _ value: Int64) { add(key, .int(value)) }
    mutating func add(_ key: String, _ value: UInt64) { add(key, .uint(value)) }
    mutating func add(_ key: String, _ value: Bool) { add(key, .bool(value)) }
    mutating func add(_ key: String, _ value: Double) { add(key, .double(value)) }
    mutating func add(_ key: String, _ value: JSONObject) { add(key, .raw(value.text)) }

    var text: String { "{" + members.joined(separator: ",") + "}" }
}

// MARK: Event formatting

/// The stored bytes of `data` or `meta` as JSON text for output: the bytes
/// themselves when they are single-line JSON (what `append` stores), else
/// re-encoded; nil when they are not JSON at all.
func jsonText(ofStored bytes: [UInt8]) -> String? {
    if isSingleLineJSON(bytes) { return String(decoding: bytes, as: UTF8.self) }
    guard !bytes.isEmpty else { return nil }
    let data = Data(bytes)
    guard (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else { return nil }
    if !bytes.contains(0x0A) && !bytes.contains(0x0D), let s = String(validating: bytes, as: UTF8.self) { return s }
    return (try? JSONDecoder().decode(JSONValue.self, from: data))?.text
}

/// The fast answer of `jsonText(ofStored:)` for what `append` stores:
/// true when ChronikCommerce's strict parser takes `bytes` (valid UTF-8,
/// no duplicate keys, at most 64 levels), they hold no line break and no
/// number other than an Int64 integer — JSON that JSONSerialization takes
/// too, so printed as they are. False sends the bytes the slow way.
func isSingleLineJSON(_ bytes: [UInt8]) -> Bool {
    guard !bytes.isEmpty, !bytes.contains(0x0A), !bytes.contains(0x0D),
          let v = try? ChronikCommerce.JSONValue.parse(bytes) else { return false }
    return !hasNumberLiteral(v)
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
func eventJSON(_ e: RecordedEvent, decodedData: String? = nil) -> String {
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
func writeEventJSONHead(_ e: RecordedEvent, to w: inout JSONWriter) {
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
func writeStoredJSON(_ bytes: [UInt8], key: StaticString, to w: inout JSONWriter) {
    w.raw(",\"")
    w.raw(key)
    w.raw("\":")
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
func writeQuoted(_ s: String, to w: inout JSONWriter) {
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
func eventText(_ e: RecordedEvent, decodedData: String? = nil) -> String {
    var s = "\(e.position)  \(e.stream)@\(e.version)  \(e.type)  \(e.occurredAt.rfc3339)  \(decodedData ?? readable(e.data))"
    if !e.metadata.isEmpty { s += "  meta=" + readable(e.metadata) }
    return s
}

private func readable(_ bytes: [UInt8]) -> String {
    if let json = jsonText(ofStored: bytes) { return json }
    if let s = String(validating: bytes, as: UTF8.self), !s.contains(where: { $0.isNewline }) { return JSONValue.quote(s) }
    return "<\(bytes.count) bytes>"
}

// MARK: Numbers

/// `1234567` as `1.2 MiB`; exact below 1 KiB.
func formatBytes(_ n: Int64) -> String {
    if n < 1024 { return "\(n) B" }
    let units = ["KiB", "MiB", "GiB", "TiB"]
    var v = Double(n) / 1024
    var i = 0
    while v >= 1024 && i < units.count - 1 {
        v /= 1024
        i += 1
    }
    return String(format: "%.1f", v) + " " + units[i]
}

/// A duration in the unit that reads best.
func formatDuration(_ d: Duration) -> String {
    let ms = milliseconds(d)
    if ms < 1 { return String(format: "%.0f µs", ms * 1000) }
    if ms < 1000 { return String(format: "%.1f ms", ms) }
    return String(format: "%.2f s", ms / 1000)
}

func milliseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// `1234567` as `1,234,567`: every count in text output.
func group<T: BinaryInteger>(_ n: T) -> String { Money.grouped(n) }

/// Minor units as people read them (`EUR 1,234.56`, `JPY 1,235`); JSON
/// keeps the integer minor units.
func money(_ minor: Int64, _ currency: String) -> String { Money.text(minor, currency) }

/// A time in a text column: always 3 fractional digits (milliseconds,
/// truncated), so that times line up; JSON and export keep the exact form.
func textTime(_ t: Timestamp) -> String {
    let ms = t.microseconds - ((t.microseconds % 1000) + 1000) % 1000
    let exact = Timestamp(microseconds: ms).rfc3339
    // rfc3339 writes no fraction for whole seconds and 3 digits for whole
    // milliseconds.
    return exact.contains(".") ? exact : String(exact.dropLast()) + ".000Z"
}

/// Rows of text in aligned columns, separated by two spaces: the one table
/// layout of every text result. Numbers align right (`.right`), the rest
/// left; the last column is not padded (no trailing blanks).
struct TextTable {
    enum Alignment { case left, right }

    var headers: [String]
    var alignments: [Alignment]
    var rows: [[String]] = []

    /// A table with these column headers; `right` names the columns whose
    /// values align right.
    init(_ headers: [String], right: Set<String> = []) {
        self.headers = headers
        self.alignments = headers.map { right.contains($0) ? .right : .left }
    }

    mutating func add(_ row: [String]) {
        precondition(row.count == headers.count, "a row has one cell per column")
        rows.append(row)
    }

    /// The header line and one line per row (just the header when empty).
    var lines: [String] {
        var widths = headers.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return ([headers] + rows).map { cells in
            var line = ""
            for (i, c) in cells.enumerated() {
                let last = i == cells.count - 1
                let fill = String(repeating: " ", count: widths[i] - c.count)
                switch alignments[i] {
                case .left: line += last ? c : c + fill
                case .right: line += fill + c
                }
                if !last { line += "  " }
            }
            // Empty cells at the end leave blanks: cut them.
            while line.last == " " { line.removeLast() }
            return line
        }
    }
}

/// Pads `s` on the right to `width` characters.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
