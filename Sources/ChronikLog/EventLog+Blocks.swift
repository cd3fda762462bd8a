#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The decompressed payloads of a few thousand events, read by one thread
/// and handed to others to visit: one buffer for all of them, no value or
/// allocation per event (`EventBlockReader`).
///
/// A block is immutable once read, and safe to visit from several threads
/// at once. Records are parsed where they are visited: a record that does
/// not decode throws `ChronikLogError(.corruption)` there, with the file
/// and offset of its batch.
public struct EventBlock: Sendable {
    fileprivate let bytes: BlockBytes
    fileprivate let batches: [Entry]
    /// How many events `forEachEvent` hands out over all batches.
    public let eventCount: Int

    /// One batch: where its payload lies in `bytes`, which of its records
    /// are handed out.
    fileprivate struct Entry: Sendable {
        let header: BatchHeader
        let path: String
        let fileOffset: Int64
        let payload: Range<Int>
        /// Records before `first` (a read that starts inside the batch) and
        /// from `end` on (a read cut at a limit) are parsed, not handed out.
        let first: Int
        let end: Int
        /// The block's index of the batch's first event handed out.
        var eventIndex = 0
    }

    /// The events `range` of `0..<eventCount` (the block's events in log
    /// order) to `body`; each view is valid only during its call. `types`
    /// keeps the event types seen, so that each is a `String` once per
    /// visitor, not once per event. Threads may visit ranges at once.
    public func forEachEvent(in range: Range<Int>, types: inout EventTypeCache,
                             _ body: (EventView) throws -> Void) throws {
        guard !range.isEmpty else { return }
        precondition(range.lowerBound >= 0 && range.upperBound <= eventCount)
        // The batch holding the first event: the last that starts at or before it.
        var lo = 0, hi = batches.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if batches[mid].eventIndex <= range.lowerBound { lo = mid } else { hi = mid - 1 }
        }
        var bi = lo
        while bi < batches.count, batches[bi].eventIndex < range.upperBound {
            let b = batches[bi]
            // Records of this batch handed out in `range`.
            let from = b.first + Swift.max(0, range.lowerBound - b.eventIndex)
            let to = b.first + Swift.min(b.end - b.first, range.upperBound - b.eventIndex)
            let payload = UnsafeRawBufferPointer(start: bytes.base + b.payload.lowerBound, count: b.payload.count)
            do {
                var r = ByteReader(payload)
                let stream = try r.readString()
                for i in 0..<to {
                    let record = try r.readRecord()
                    guard i >= from else { continue }
                    guard let type = types.interner.intern(record.type) else {
                        throw MalformedBytes(reason: "invalid UTF-8 in event type")
                    }
                    try body(EventView(header: b.header, index: i, stream: stream, type: type, record: record))
                }
                if to == b.header.count, r.offset != payload.count {
                    throw MalformedBytes(reason: "trailing bytes in payload")
                }
            } catch let e as MalformedBytes {
                throw ChronikLogError.corrupt("record does not decode: \(e.reason)", path: b.path, offset: b.fileOffset)
            }
            bi += 1
        }
    }

    /// Every event of the block.
    public func forEachEvent(types: inout EventTypeCache, _ body: (EventView) throws -> Void) throws {
        try forEachEvent(in: 0..<eventCount, types: &types, body)
    }
}

/// The event types a visitor of blocks has seen (`EventBlock.forEachEvent`).
public struct EventTypeCache {
    fileprivate var interner = TypeInterner()
    public init() {}
}

/// One growable byte buffer, written by the reading thread only and read
/// by others after the block is handed out.
private final class BlockBytes: @unchecked Sendable {
    // @unchecked: mutated only while its block is being read, on one
    // thread; immutable once the block is returned.
    private(set) var base: UnsafeMutableRawPointer
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = Swift.max(capacity, 4096)
        base = malloc(self.capacity)!
    }

    deinit { free(base) }

    /// `n` more bytes at the end, written by `fill` (which must write them all).
    func append(_ n: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        if count + n > capacity {
            capacity = Swift.max(capacity * 2, count + n)
            base = realloc(base, capacity)!
        }
        try fill(UnsafeMutableRawBufferPointer(start: base + count, count: n))
        count += n
    }
}

/// A forward read of the whole log a block at a time (`EventBlock`): each
/// batch read, checksummed and decompressed once, into one buffer per
/// block. For a reader that hands the events to other threads: a block is
/// one value to pass on, not thousands.
///
/// It sees the log up to the head as of its creation and is not
/// thread-safe (the blocks it returns are). Corruption throws
/// `ChronikLogError(.corruption)` with file and offset; the events of the
/// batches before it are returned first.
public final class EventBlockReader {
    private let log: EventLog
    private var batches: ForwardBatches
    /// The head when the reader was made: no event at or past it is read.
    public let end: UInt64
    /// The position of the next event a block holds.
    public private(set) var position: UInt64
    /// An error met after some batches of a block were read: thrown by the
    /// next call, after that block.
    private var pending: (any Error)?

    init(log: EventLog, from position: UInt64) {
        self.log = log
        let (segments, end) = log.state.withLock { ($0.segments, $0.head) }
        batches = ForwardBatches(segments)
        self.end = end
        self.position = position
    }

    /// The next block: whole batches from `position` until it holds at least
    /// `events` events, at most `limit` (the last batch cut there); an empty
    /// block at the end.
    public func nextBlock(events: Int = 4096, limit: Int = .max) throws -> EventBlock {
        if let pending {
            self.pending = nil
            throw pending
        }
        if log.isClosed { throw log.closedError }
        let bytes = BlockBytes(capacity: events * 320)
        var entries: [EventBlock.Entry] = []
        var count = 0
        do {
            while count < events, count < limit, position < end, try readBatch(into: bytes, &entries, limit: limit - count) {
                entries[entries.count - 1].eventIndex = count
                count += entries[entries.count - 1].end - entries[entries.count - 1].first
            }
        } catch {
            if entries.isEmpty { throw error }
            pending = error
        }
        return EventBlock(bytes: bytes, batches: entries, eventCount: count)
    }

    /// Reads the batch holding `position` (or the next one) into `bytes`;
    /// false when there is none before `end`.
    private func readBatch(into bytes: BlockBytes, _ entries: inout [EventBlock.Entry], limit: Int) throws -> Bool {
        while true {
            let start = position
            guard let entry = try batches.next(at: start, { header, batch, offset, path in
                try Self.entry(header, batch, offset, path, into: bytes, from: start, head: end, limit: limit)
            }) else { return false }
            position = entry.header.basePosition + UInt64(entry.end)
            // Cut inside the batch: a later block starts by finding it again.
            if entry.end < entry.header.count { batches.restart() }
            if entry.end > entry.first {
                entries.append(entry)
                return true
            }
            if position >= end { return false }
        }
    }

    /// The payload of a batch appended to `bytes`, and the records of it
    /// handed out: from `start`, before `head`, at most `limit`.
    private static func entry(_ header: BatchHeader, _ batch: UnsafeRawBufferPointer, _ offset: Int64, _ path: String,
                              into bytes: BlockBytes, from start: UInt64, head: UInt64, limit: Int) throws -> EventBlock.Entry {
        let from = bytes.count
        do {
            try bytes.append(header.rawPayloadLength) { try decodePayload(header: header, batch: batch, into: $0) }
        } catch {
            throw ChronikLogError.corrupt("batch payload does not decode: \(reason(error))", path: path, offset: offset)
        }
        let base = header.basePosition
        let first = start > base ? Int(start - base) : 0
        let last = Swift.min(header.count, head > base ? Int(Swift.min(head - base, UInt64(Int.max))) : 0)
        let handed = Swift.min(first, last)
        return EventBlock.Entry(header: header, path: path, fileOffset: offset, payload: from..<bytes.count,
                                first: handed, end: last - handed <= limit ? last : handed + limit)
    }
}

extension EventLog {
    /// Reads every event from `position` up to the head as of the call, a
    /// block at a time (`EventBlockReader`).
    public func readBlocks(from position: Position = .start) -> EventBlockReader {
        EventBlockReader(log: self, from: position.value)
    }
}
