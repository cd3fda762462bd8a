import ChronikCommerce
import ChronikLog

/// An export for auditors: JSON Lines or CSV, filtered by stream, type,
/// position range and time range, each event carrying the chain hash of
/// the batch that holds it (docs/AUDIT.md). Line for line the JSON form is
/// `chronik export`'s (EVENTS.md export form) plus, with `chainHashes`, one
/// last key `chainHash`.
public struct AuditExport: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case jsonl, csv
    }

    /// The CSV header line (RFC 4180; lines end in CRLF).
    public static let csvColumns = ["position", "stream", "version", "type", "id", "time", "recordedAt", "chainHash", "data", "meta"]

    public var format: Format
    /// JSON Lines: add `chainHash` to each line. CSV always has the column.
    public var chainHashes: Bool
    /// Only these streams; nil: all.
    public var streams: Set<String>?
    /// Only these types; nil: all.
    public var types: Set<String>?
    /// Positions from…to, inclusive; nil: unbounded.
    public var fromPosition: UInt64?
    public var toPosition: UInt64?
    /// Event times (occurredAt) from…to, inclusive; nil: unbounded.
    public var fromTime: Timestamp?
    public var toTime: Timestamp?
    /// At most this many events; nil: all.
    public var limit: Int?

    public init(format: Format = .jsonl, chainHashes: Bool = true, streams: Set<String>? = nil, types: Set<String>? = nil,
                fromPosition: UInt64? = nil, toPosition: UInt64? = nil, fromTime: Timestamp? = nil, toTime: Timestamp? = nil) {
        self.format = format
        self.chainHashes = chainHashes
        self.streams = streams
        self.types = types
        self.fromPosition = fromPosition
        self.toPosition = toPosition
        self.fromTime = fromTime
        self.toTime = toTime
    }

    /// Whether `e` passes every filter.
    public func matches(stream: String, type: String, position: UInt64, time: Timestamp) -> Bool {
        if let streams, !streams.contains(stream) { return false }
        if let types, !types.contains(type) { return false }
        if let fromPosition, position < fromPosition { return false }
        if let toPosition, position > toPosition { return false }
        if let fromTime, time < fromTime { return false }
        if let toTime, time > toTime { return false }
        return true
    }

    private struct Stop: Error {}

    /// Writes every matching event of `log` up to its head as of the call,
    /// in log order, to `sink` in chunks of about 64 KiB (CSV: the header
    /// line first).
    ///
    /// - Returns: the number of events written.
    /// - Throws: `CommerceError` for an event whose data does not decode;
    ///   `ChronikLogError` from the log's reader. The lines of the events
    ///   before the failing one are handed to `sink` first (what is intact
    ///   up to the damage).
    /// - Complexity: O(bytes of the log from `fromPosition` on): the whole
    ///   range is scanned, since every batch's hash must be computed anyway.
    @discardableResult
    public func export(_ log: EventLog, protector: (any PIIProtector)? = nil, to sink: ([UInt8]) throws -> Void) throws -> Int {
        var w = JSONWriter(capacity: 1 << 17)
        var line = JSONWriter(capacity: 1 << 12)
        if format == .csv {
            w.bytes += Array(Self.csvColumns.joined(separator: ",").utf8) + [0x0D, 0x0A]
        }
        var count = 0
        // A batch's events share its chain hash and its stream: the stream's
        // String is made once per batch (a view makes it each time it is
        // asked), the hash's hex once per batch that is exported.
        var batchHash: ChainHash?
        var stream = ""
        var batchHex: [UInt8]?
        do {
            try log.scanWithChainHashes(from: Position(fromPosition ?? 0)) { view, hash in
                if let toPosition, view.position.value > toPosition { throw Stop() }
                if let limit, count >= limit { throw Stop() }
                if hash != batchHash {
                    batchHash = hash
                    stream = view.stream
                    batchHex = nil
                }
                guard matches(stream: stream, type: view.type, position: view.position.value, time: view.occurredAt) else { return }
                let hashHex = batchHex ?? Array(hash.description.utf8)
                batchHex = hashHex
                let e = view.materialize(stream: stream)
                line.bytes.removeAll(keepingCapacity: true)
                try CommerceExport.write(e, to: &line, protector: protector, upcasters: .standard)
                switch format {
                case .jsonl:
                    if chainHashes {
                        line.bytes.removeLast()  // the closing brace
                        line.raw(",\"chainHash\":\"")
                        line.bytes += hashHex
                        line.raw("\"}")
                    }
                    w.bytes += line.bytes
                    w.byte(0x0A)
                case .csv:
                    try Self.csvRow(e, exportLine: line.bytes, chainHashHex: hashHex, into: &w.bytes)
                }
                count += 1
                if w.bytes.count >= 1 << 16 {
                    try sink(w.bytes)
                    w.bytes.removeAll(keepingCapacity: true)
                }
            }
        } catch is Stop {
        } catch {
            if !w.bytes.isEmpty { try sink(w.bytes) }
            throw error
        }
        if !w.bytes.isEmpty { try sink(w.bytes) }
        return count
    }

    /// One CSV row; `data` and `meta` are the compact JSON of the export
    /// line's members (so they equal the JSON Lines form's).
    static func csvRow(_ e: RecordedEvent, exportLine: [UInt8], chainHashHex: [UInt8], into out: inout [UInt8]) throws {
        var data: [UInt8] = []
        var meta: [UInt8] = []
        if case .object(let members) = try JSONValue.parse(exportLine) {
            for m in members {
                if m.key == "data" { data = m.value.compactBytes } else if m.key == "meta" { meta = m.value.compactBytes }
            }
        }
        field(Array(String(e.position.value).utf8), into: &out); out.append(0x2C)
        field(Array(e.stream.utf8), into: &out); out.append(0x2C)
        field(Array(String(e.version.value).utf8), into: &out); out.append(0x2C)
        field(Array(e.type.utf8), into: &out); out.append(0x2C)
        field(Array(e.id.description.utf8), into: &out); out.append(0x2C)
        field(Array(e.occurredAt.rfc3339.utf8), into: &out); out.append(0x2C)
        field(Array(e.recordedAt.rfc3339.utf8), into: &out); out.append(0x2C)
        field(chainHashHex, into: &out); out.append(0x2C)
        field(data, into: &out); out.append(0x2C)
        field(meta, into: &out)
        out += [0x0D, 0x0A]
    }

    /// RFC 4180: a field with a comma, a quote, CR or LF is quoted, and its
    /// quotes doubled.
    static func field(_ bytes: [UInt8], into out: inout [UInt8]) {
        guard bytes.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }) else {
            out += bytes
            return
        }
        out.append(0x22)
        for b in bytes {
            if b == 0x22 { out.append(0x22) }
            out.append(b)
        }
        out.append(0x22)
    }
}
