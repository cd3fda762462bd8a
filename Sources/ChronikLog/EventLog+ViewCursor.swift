/// A forward read of the log that hands out events as borrowed
/// `EventView`s a few at a time and keeps its place between calls: the
/// read-ahead window and the decoded batch stay, so reading a long log in
/// small steps costs what one `scan` costs — no allocation per event, each
/// batch read, checked and decompressed once. `scan` is for one pass; this
/// is for a reader that must stop between steps (the server sends each
/// step to a socket before it reads the next).
///
/// It sees the log up to the head as of its creation; it is not
/// thread-safe. Corruption throws `ChronikLogError(.corruption)` with file
/// and offset, as every read does; a closed log throws `.closed`.
public final class EventViewCursor {
    private let log: EventLog
    private var batches: ForwardBatches
    /// The head when the cursor was made: no event at or past it is read.
    public let end: UInt64
    /// The position of the next event `next` hands out.
    public private(set) var position: UInt64
    private var batch: OpenBatch?
    private var types = TypeInterner()

    /// A decoded batch and where its next record starts.
    private struct OpenBatch {
        let decoded: DecodedBatch
        /// The batch's offset in its segment file (for error messages).
        let fileOffset: Int64
        var byteOffset: Int
        var index: Int
    }

    init(log: EventLog, from position: UInt64) {
        self.log = log
        let (segments, end) = log.state.withLock { ($0.segments, $0.head) }
        batches = ForwardBatches(segments)
        self.end = end
        self.position = position
    }

    /// Whether every event up to `end` has been handed out.
    public var isAtEnd: Bool { position >= end }

    /// Hands up to `count` events to `body`, in log order, each valid only
    /// during its call; returns how many (0 at `end`). When `body` throws,
    /// the cursor stays at that event.
    public func next(_ count: Int, _ body: (EventView) throws -> Void) throws -> Int {
        if log.isClosed { throw log.closedError }
        var handed = 0
        while handed < count, position < end {
            if batch == nil || batch!.index >= batch!.decoded.header.count {
                guard try openNextBatch() else { break }
                continue
            }
            let path = batches.path
            do {
                try visitRecord(path: path) { view in
                    try body(view)
                    handed += 1
                }
            } catch let e as MalformedBytes {
                throw ChronikLogError.corrupt("record does not decode: \(e.reason)", path: path, offset: batch?.fileOffset ?? -1)
            }
        }
        return handed
    }

    /// Decodes the open batch's next record and hands it to `visit` when it
    /// is at or past `position` (a read that starts inside a batch skips the
    /// records before it).
    private func visitRecord(path: String, _ visit: (EventView) throws -> Void) throws {
        let b = batch!
        let header = b.decoded.header
        let at = header.basePosition + UInt64(b.index)
        let after = try b.decoded.payload.withUnsafeBytes { raw in
            var r = ByteReader(raw, offset: b.byteOffset)
            let record = try r.readRecord()
            guard let type = types.intern(record.type) else { throw MalformedBytes(reason: "invalid UTF-8 in event type") }
            if at >= position {
                try visit(EventView(header: header, index: b.index, stream: b.decoded.stream, type: type, record: record))
            }
            return r.offset
        }
        if b.index + 1 == header.count, after != b.decoded.payload.count {
            throw MalformedBytes(reason: "trailing bytes in payload")
        }
        batch!.byteOffset = after
        batch!.index += 1
        if at >= position { position = at + 1 }
    }

    /// Reads the batch holding `position` (or the next one); false when
    /// there is none before `end`.
    private func openNextBatch() throws -> Bool {
        batch = nil
        batch = try batches.next(at: position) { header, bytes, offset, path -> OpenBatch in
            do {
                let decoded = try DecodedBatch(batch: bytes, header: header, verifyChecksum: false)
                var r = ByteReader(UnsafeRawBufferPointer(start: nil, count: 0))
                try decoded.payload.withUnsafeBytes { raw in
                    r = ByteReader(raw)
                    _ = try r.readLengthPrefixed()  // the stream name, decoded by DecodedBatch
                }
                return OpenBatch(decoded: decoded, fileOffset: offset, byteOffset: r.offset, index: 0)
            } catch {
                throw ChronikLogError.corrupt("batch payload does not decode: \(reason(error))", path: path, offset: offset)
            }
        }
        return batch != nil
    }
}

extension EventLog {
    /// Reads every event from `position` up to the head as of the call,
    /// a few at a time, as borrowed views (`EventViewCursor`).
    public func readViews(from position: Position = .start) -> EventViewCursor {
        EventViewCursor(log: self, from: position.value)
    }
}
