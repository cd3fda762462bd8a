import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation

/// Buffered writes to stdout. Results are written in large chunks; `tail
/// -f` flushes after each event so that a pipe sees it at once.
final class Output {
    private var writer: JSONWriter
    private let fd: Int32
    /// Flush once this much is buffered (bounded memory on huge reads).
    private static let flushThreshold = 1 << 20

    init(fd: Int32 = STDOUT_FILENO) {
        self.fd = fd
        writer = JSONWriter(capacity: Self.flushThreshold + (4 << 10))
    }

    deinit { flush() }

    /// Writes `text` and a newline. A control character in it (from the
    /// events' data: a name, a setting's value) is written as `\u001b`,
    /// as JSON would: raw, it broke the line and its table, and a terminal
    /// ran the escape sequences (stop 34).
    func line(_ text: String) {
        var text = text
        text.withUTF8 { bytes in appendTerminalSafe(bytes, to: &writer.bytes, keepingNewlines: false) }
        endLine()
    }

    /// Writes `value` as one line of JSON (`JSONValue(encoding:)`: members
    /// in declaration order, an absent optional null).
    func line(encoding value: some Encodable) throws {
        line(try JSONValue(encoding: value).text)
    }

    /// Writes the line `body` builds straight into the buffer, and a
    /// newline; nothing of it when `body` throws.
    func line(_ body: (inout JSONWriter) throws -> Void) throws {
        try writer.allOrNothing(body)
        endLine()
    }

    /// Writes whole lines already formatted (`writeLinesInParallel`):
    /// after what is buffered, at once.
    func write(_ lines: [UInt8]) {
        if writer.bytes.isEmpty {
            writeAll(fd, lines)
        } else {
            writer.bytes.append(contentsOf: lines)
            if writer.bytes.count >= Self.flushThreshold { flush() }
        }
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
/// unless it already is. Control characters in it are escaped as on stdout
/// (`Output.line`): an error quotes its input — an unknown field's name, a
/// bad time or currency — and raw, an escape sequence there ran in the
/// terminal (stop 39, an i18n review: `\u001b]0;…\u0007` retitled it).
func printError(_ message: String) {
    var text = message.hasPrefix("chronik: ") ? message : "chronik: " + message
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count + 1)
    text.withUTF8 { appendTerminalSafe($0, to: &out, keepingNewlines: true) }
    out.append(0x0A)
    writeAll(STDERR_FILENO, out)
}

/// Appends the UTF-8 `bytes` with every character a terminal would act on
/// written as `\u001b` (as JSON would): C0 controls (a newline kept when
/// `keepingNewlines`), DEL, C1 controls, the bidirectional overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069) and the line and paragraph
/// separators (U+2028, U+2029), which reorder or break what follows.
func appendTerminalSafe(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8], keepingNewlines: Bool) {
    // 0xC2 starts the C1 controls, 0xE2 the others: the usual text has none.
    guard let first = bytes.firstIndex(where: { ($0 < 0x20 && !(keepingNewlines && $0 == 0x0A)) || $0 == 0x7F || $0 == 0xC2 || $0 == 0xE2 }) else {
        return out.append(contentsOf: bytes)
    }
    out.append(contentsOf: bytes[..<first])
    for scalar in String(decoding: bytes[first...], as: UTF8.self).unicodeScalars {
        let v = scalar.value
        let escaped = (v < 0x20 && !(keepingNewlines && v == 0x0A)) || (0x7F...0x9F).contains(v)
            || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v) || v == 0x2028 || v == 0x2029
        if escaped {
            let hex = String(v, radix: 16)
            out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
        } else {
            out.append(contentsOf: String(scalar).utf8)
        }
    }
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

extension EventPrinter {
    /// Prints the line for `e` on `out`; the JSON form is written straight
    /// into the output buffer.
    func print(_ e: RecordedEvent, on out: Output) throws {
        if json {
            try out.line { w in try write(e, to: &w) }
        } else {
            out.line(try line(e))
        }
    }
}

/// A usage error for an input file that does not exist or is a directory
/// (`what` says what to give instead); nil and "-" are stdin.
func checkInputFile(_ file: String?, holding what: String) throws {
    guard let file, file != "-" else { return }
    if !FileManager.default.fileExists(atPath: file) { throw ValidationError("no such input file: \(file)") }
    if isDirectory(file) { throw ValidationError("\(file) is a directory: give \(what), or - for stdin") }
    // Said plainly before anything starts (stop 42, a helper: "invalidData:
    // cannot open good.jsonl: errno 13", or Foundation's "The operation
    // could not be completed").
    if !FileManager.default.isReadableFile(atPath: file) {
        throw CommandFailure("cannot read \(file): permission denied")
    }
}

/// Whether `path` names a directory (after symbolic links).
func isDirectory(_ path: String) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
}
