#if canImport(Glibc)
import Glibc
#endif

/// One event decoded in place, for `EventLog.scan`: its metadata and data
/// are borrowed from the batch being read and are valid only during the
/// call that receives the view. `materialize()` copies it out.
public struct EventView {
    public let position: Position
    /// The stream's name. A view from `scan` makes the String from the
    /// batch's bytes when asked, each time: a replay never asks, so it makes
    /// none (a String per batch was ~4 % of a big shop's replay, stop 46).
    /// A caller that needs it more than once per event keeps it.
    public var stream: String { streamName ?? String(decoding: streamUTF8, as: UTF8.self) }
    public let version: StreamVersion
    public let id: EventID
    public let type: String
    public let occurredAt: Timestamp
    public let recordedAt: Timestamp
    /// Borrowed: valid only inside the `scan` closure.
    public let metadata: UnsafeRawBufferPointer
    /// Borrowed: valid only inside the `scan` closure.
    public let data: UnsafeRawBufferPointer
    /// The stream's name when the reader made it already (one per batch).
    private let streamName: String?
    /// Otherwise its bytes, checked as UTF-8 when the batch was read.
    /// Borrowed like `data`.
    private let streamUTF8: UnsafeRawBufferPointer

    /// An owned copy of the event.
    public func materialize() -> RecordedEvent { materialize(stream: stream) }

    /// The same with the stream's name the caller already made from this
    /// view's `stream` (once per batch, say), so it is not made again.
    public func materialize(stream: String) -> RecordedEvent {
        RecordedEvent(position: position, stream: stream, version: version, id: id, type: type, occurredAt: occurredAt,
                      recordedAt: recordedAt, metadata: Array(metadata), data: Array(data))
    }
}

extension EventView {
    /// Record `index` of a batch with `header` and `stream`, its type
    /// already interned: where positions, versions and times come from.
    init(header: BatchHeader, index: Int, stream: String, type: String, record: RawRecord) {
        self.init(header: header, index: index, streamName: stream, streamUTF8: UnsafeRawBufferPointer(start: nil, count: 0),
                  type: type, record: record)
    }

    /// The same with the stream's name as the batch's (valid UTF-8) bytes.
    init(header: BatchHeader, index: Int, streamUTF8: UnsafeRawBufferPointer, type: String, record: RawRecord) {
        self.init(header: header, index: index, streamName: nil, streamUTF8: streamUTF8, type: type, record: record)
    }

    private init(header: BatchHeader, index: Int, streamName: String?, streamUTF8: UnsafeRawBufferPointer,
                 type: String, record: RawRecord) {
        position = Position(header.basePosition + UInt64(index))
        self.streamName = streamName
        self.streamUTF8 = streamUTF8
        version = StreamVersion(header.firstStreamVersion + UInt64(index))
        id = record.id
        self.type = type
        occurredAt = Timestamp(microseconds: header.minOccurredAt &+ Int64(bitPattern: record.occurredAtDelta))
        recordedAt = Timestamp(microseconds: header.recordedAt)
        metadata = record.metadata
        data = record.data
    }
}

extension EventLog {
    /// Reads every event from `position` up to the head as of the call and
    /// hands each to `body` as a borrowed view: no allocation per event
    /// (event types are interned, payload buffers reused), which is what a
    /// replay of millions of events wants. Checksums are verified as with
    /// any read; corruption throws with file and offset.
    ///
    /// - Returns: the number of events visited.
    /// - Complexity: O(events read).
    @discardableResult
    public func scan(from position: Position = .start, _ body: (EventView) throws -> Void) throws -> Int {
        try scanBatches(from: position, onBatch: nil, body)
    }

    /// Like `scan(from:_:)`, and hands each event the chain hash of the
    /// batch that holds it (SHA-256 of the batch's bytes from offset 12,
    /// FORMAT.md), which audit exports print so that an extract can be
    /// checked against a signed digest. Costs one SHA-256 pass per batch.
    ///
    /// - Returns: the number of events visited.
    /// - Complexity: O(bytes read).
    @discardableResult
    public func scanWithChainHashes(from position: Position = .start,
                                    _ body: (EventView, ChainHash) throws -> Void) throws -> Int {
        var current = ChainHash.genesis
        return try scanBatches(from: position, onBatch: { current = chainHash(ofBatch: $0) }) { view in
            try body(view, current)
        }
    }

    /// The scan itself; `onBatch` sees each checksummed batch before its events.
    private func scanBatches(from position: Position, onBatch: ((UnsafeRawBufferPointer) -> Void)?,
                             _ body: (EventView) throws -> Void) throws -> Int {
        if isClosed { throw closedError }
        let (segments, head) = state.withLock { ($0.segments, $0.head) }
        var next = position.value
        guard next < head, let first = segments.lastIndex(where: { $0.base <= next }) else { return 0 }
        var buffer: [UInt8] = []
        var types = TypeInterner()
        var visited = 0
        for si in first..<segments.count {
            let seg = segments[si]
            let start: Int64
            if si == first {
                guard let loc = seg.locate(next) else { return visited }
                start = loc.offset
            } else {
                start = Int64(LogFormat.segmentHeaderSize)
            }
            var scanner = BatchScanner(file: seg.file, path: seg.path, start: start, end: seg.committedBytes)
            while true {
                let step = try scanner.next { header, bytes, offset -> Bool in
                    guard header.basePosition < head else { return false }
                    onBatch?(bytes)
                    do {
                        try Self.visitRecords(header: header, batch: bytes, buffer: &buffer, types: &types,
                                              from: next, head: head) { view in
                            try body(view)
                            visited += 1
                        }
                    } catch let e as MalformedBytes {
                        throw ChronikLogError.corrupt("batch payload does not decode: \(e.reason)", path: seg.path, offset: offset)
                    }
                    next = max(next, header.basePosition + UInt64(header.count))
                    return true
                }
                switch step {
                case .success(true): continue
                case .success(false): return visited
                case .failure(.end): break
                case .failure(.incomplete(let offset, let reason)), .failure(.bad(let offset, let reason, _)):
                    throw ChronikLogError.corrupt(reason, path: seg.path, offset: offset)
                }
                break
            }
            if next >= head { break }
        }
        return visited
    }

    /// Decodes one checksummed batch's records in place.
    private static func visitRecords(
        header: BatchHeader, batch: UnsafeRawBufferPointer, buffer: inout [UInt8], types: inout TypeInterner,
        from: UInt64, head: UInt64, _ visit: (EventView) throws -> Void
    ) throws {
        func records(_ raw: UnsafeRawBufferPointer) throws {
            var r = ByteReader(raw)
            let stream = try r.readLengthPrefixed()
            guard isValidUTF8(stream) else { throw MalformedBytes(reason: "invalid UTF-8") }
            for i in 0..<header.count {
                let record = try r.readRecord()
                guard let type = types.intern(record.type) else { throw MalformedBytes(reason: "invalid UTF-8 in event type") }
                let position = header.basePosition + UInt64(i)
                guard position >= from, position < head else { continue }
                try visit(EventView(header: header, index: i, streamUTF8: stream, type: type, record: record))
            }
            guard r.remaining == 0 else { throw MalformedBytes(reason: "trailing bytes in payload") }
        }
        try withRawPayload(header: header, batch: batch, buffer: &buffer, records)
    }
}

/// Event types seen during one scan, so that each distinct type becomes a
/// String once, not once per event. Bounded: past 256 types it stops adding.
///
/// A name is found among those of its length by its first and last eight
/// bytes, two integer compares (for a name of up to 16 bytes, all its
/// bytes); only longer names need a `memcmp` too. A linear search with a
/// `memcmp` per name of the same length was ~3.5 % of a big shop's
/// decoding thread (stop 47), whose consecutive events rarely share a type.
struct TypeInterner {
    private struct Entry {
        var head: UInt64
        var tail: UInt64
        var bytes: [UInt8]
        var string: String
    }
    /// Names shorter than `byLength.count` bytes, by length; longer ones
    /// in `long`.
    private var byLength: [[Entry]] = Array(repeating: [], count: 64)
    private var long: [Entry] = []
    private var count = 0

    mutating func intern(_ raw: UnsafeRawBufferPointer) -> String? {
        let n = raw.count
        let (head, tail) = Self.words(raw)
        if n < byLength.count {
            for e in byLength[n] where e.head == head && e.tail == tail && (n <= 16 || Self.same(e.bytes, raw)) {
                return e.string
            }
        } else {
            for e in long where e.bytes.count == n && Self.same(e.bytes, raw) { return e.string }
        }
        guard let s = decodeUTF8(raw) else { return nil }
        if count < 256 {
            count += 1
            let entry = Entry(head: head, tail: tail, bytes: Array(raw), string: s)
            if n < byLength.count { byLength[n].append(entry) } else { long.append(entry) }
        }
        return s
    }

    /// The first and the last eight bytes (overlapping under 16; under
    /// eight, the bytes and zeros).
    @inline(__always)
    private static func words(_ raw: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        let n = raw.count
        if n >= 8 {
            return (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        }
        var w: UInt64 = 0
        for i in 0..<n { w |= UInt64(raw[i]) << (8 * UInt64(i)) }
        return (w, 0)
    }

    private static func same(_ bytes: [UInt8], _ raw: UnsafeRawBufferPointer) -> Bool {
        bytes.withUnsafeBytes { memcmp($0.baseAddress!, raw.baseAddress!, raw.count) == 0 }
    }
}
