import ChronikLog
import Foundation

/// One valid input line of `chronik append`.
struct EventLine {
    var line: Int
    var stream: String
    var event: ProposedEvent
    /// Set only when the line carries `expectedVersion`.
    var expected: ExpectedVersion?
    /// Whether the line carried its own `id` (else one was generated).
    var hasExplicitID: Bool
}

/// A bad input line and why.
struct LineError: Error, CustomStringConvertible {
    var line: Int
    var reason: String
    var description: String { "line \(line): \(reason)" }
}

/// Parses JSON Lines into events, one event per line:
/// `{"stream", "type", "data", "meta"?, "id"?, "time"?, "expectedVersion"?}`.
///
/// `data` is any JSON value and `meta` an object of strings; both are stored
/// as compact JSON with sorted keys. An empty `meta` is stored as no
/// metadata, so that re-appending `read --json` output is an idempotent
/// retry. The keys `read --json` adds (`position`, `version`, `recordedAt`)
/// are accepted and ignored; any other key is an error, so that a
/// misspelt `expectedVersion` cannot silently skip its check.
struct EventLineParser {
    let maxEventBytes: Int
    private var idLines: [EventID: Int] = [:]
    private let decoder = JSONDecoder()

    static let knownKeys: Set<String> = ["stream", "type", "data", "meta", "id", "time", "expectedVersion"]
    static let ignoredKeys: Set<String> = ["position", "version", "recordedAt"]

    init(maxEventBytes: Int) {
        self.maxEventBytes = maxEventBytes
    }

    /// Parses one line (without its newline). Returns nil for a blank line.
    mutating func parse(_ bytes: ArraySlice<UInt8>, line: Int) -> Result<EventLine, LineError>? {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
        func fail(_ reason: String) -> Result<EventLine, LineError> { .failure(LineError(line: line, reason: reason)) }

        let value: JSONValue
        do {
            value = try decoder.decode(JSONValue.self, from: Data(bytes))
        } catch {
            return fail("invalid JSON: \(jsonErrorReason(error, in: bytes))")
        }
        guard case .object(let fields) = value else { return fail("expected a JSON object, got \(value.kind)") }
        if let unknown = fields.keys.sorted().first(where: { !Self.knownKeys.contains($0) && !Self.ignoredKeys.contains($0) }) {
            return fail("unknown field \"\(unknown)\" (fields: stream, type, data, meta, id, time, expectedVersion)")
        }

        guard let streamValue = fields["stream"] else { return fail("missing field \"stream\"") }
        guard case .string(let stream) = streamValue else { return fail("field \"stream\" must be a string, got \(streamValue.kind)") }
        let streamBytes = stream.utf8.count
        guard streamBytes >= 1 else { return fail("stream name is empty") }
        guard streamBytes <= LogFormat.maxStreamNameBytes else {
            return fail("stream name is \(streamBytes) bytes, at most \(LogFormat.maxStreamNameBytes) allowed")
        }

        guard let typeValue = fields["type"] else { return fail("missing field \"type\"") }
        guard case .string(let type) = typeValue else { return fail("field \"type\" must be a string, got \(typeValue.kind)") }
        let typeBytes = type.utf8.count
        guard typeBytes >= 1, typeBytes <= LogFormat.maxEventTypeBytes else {
            return fail("event type must be 1...\(LogFormat.maxEventTypeBytes) bytes, got \(typeBytes)")
        }

        guard let data = fields["data"] else { return fail("missing field \"data\"") }

        var metadata: [UInt8] = []
        if let meta = fields["meta"], meta != .null {
            guard case .object(let entries) = meta else { return fail("field \"meta\" must be an object, got \(meta.kind)") }
            if let (key, bad) = entries.first(where: { if case .string = $0.value { false } else { true } }) {
                return fail("meta value \"\(key)\" must be a string, got \(bad.kind)")
            }
            if !entries.isEmpty { metadata = Array(meta.text.utf8) }
        }

        var id = EventID.random()
        var hasExplicitID = false
        if let idValue = fields["id"], idValue != .null {
            guard case .string(let s) = idValue, let parsed = EventID(string: s) else {
                return fail("field \"id\" must be a UUID like 0190b1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2b, got \(idValue.text)")
            }
            if let first = idLines[parsed] { return fail("event id \(parsed) is also on line \(first)") }
            idLines[parsed] = line
            id = parsed
            hasExplicitID = true
        }

        var occurredAt = Timestamp.now()
        if let timeValue = fields["time"], timeValue != .null {
            guard case .string(let s) = timeValue, let t = Timestamp(rfc3339: s) else {
                return fail("field \"time\" must be an RFC 3339 date-time like 2026-11-25T10:00:00Z, got \(timeValue.text)")
            }
            occurredAt = t
        }

        var expected: ExpectedVersion?
        if let ev = fields["expectedVersion"], ev != .null {
            switch ev {
            case .int(let v) where v >= 0: expected = .exact(UInt64(v))
            case .uint(let v): expected = .exact(v)
            case .string("any"): expected = .any
            case .string("noStream"): expected = .noStream
            case .string("exists"): expected = .exists
            default:
                return fail("field \"expectedVersion\" must be a version number (0 or more), \"any\", \"noStream\" or \"exists\", got \(ev.text)")
            }
        }

        let event = ProposedEvent(id: id, type: type, data: Array(data.text.utf8), metadata: metadata, occurredAt: occurredAt)
        let size = event.encodedByteCount
        guard size <= maxEventBytes else {
            return fail("event is \(size) bytes encoded, at most \(maxEventBytes) allowed (see --max-event-bytes)")
        }
        return .success(EventLine(line: line, stream: stream, event: event, expected: expected, hasExplicitID: hasExplicitID))
    }
}

/// Why `bytes` is not JSON, in words a user can act on. JSONDecoder only
/// says that it is not; JSONSerialization says where.
private func jsonErrorReason(_ error: any Error, in bytes: ArraySlice<UInt8>) -> String {
    do {
        _ = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    } catch let e as NSError {
        if let detail = e.userInfo[NSDebugDescriptionErrorKey] as? String { return detail }
    }
    if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
    return "\(error)"
}

/// Splits input into lines as it is read, so that a large file is never
/// held twice in memory. Lines end at `\n`; a trailing `\r` is dropped.
struct LineReader {
    let handle: FileHandle
    private var buffer: [UInt8] = []
    /// Start of the unread part of `buffer`.
    private var start = 0
    /// Where to look for the next newline (bytes before it hold none).
    private var searchFrom = 0
    private var atEnd = false

    init(handle: FileHandle) { self.handle = handle }

    /// The next line, or nil at the end of the input.
    mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[searchFrom...].firstIndex(of: 0x0A) {
                let line = Self.trimCR(buffer[start..<nl])
                start = nl + 1
                searchFrom = start
                return line
            }
            searchFrom = buffer.count
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Self.trimCR(buffer[start...])
                start = buffer.count
                return line
            }
            // Drop what was consumed before reading more: one copy per chunk.
            buffer.removeSubrange(0..<start)
            searchFrom -= start
            start = 0
            if let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                buffer.append(contentsOf: chunk)
            } else {
                atEnd = true
            }
        }
    }

    /// A copy, so that the caller's slice does not pin the read buffer.
    private static func trimCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        ArraySlice(Array(line.last == 0x0D ? line.dropLast() : line))
    }
}
