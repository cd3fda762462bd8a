/// Which way a read goes.
public enum ReadDirection: String, Sendable, CaseIterable {
    case forward
    case backward
}

/// A lazy, pull-based read of events. Each `next()` decodes at most one
/// batch ahead; nothing is materialised beyond that. A cursor sees the log
/// as it was when it was made (up to that head) and is not thread-safe.
///
/// Corruption met on the way throws `ChronikLogError(.corruption)` with
/// file and offset; it is never skipped.
public final class EventCursor {
    private let log: EventLog
    private let limit: UInt64
    private enum Mode {
        case allForward(next: UInt64)
        case allBackward(next: UInt64?)
        case stream(entry: StreamEntry, name: String, nextVersion: UInt64?, forward: Bool)
        case empty
    }
    private var mode: Mode
    // Forward scan state.
    private var batches: ForwardBatches
    private var current: DecodedBatch?
    // Point-read cache (backward and stream reads).
    private var cached: (base: UInt64, events: [RecordedEvent])?

    init(log: EventLog, direction: ReadDirection, from: UInt64?, stream: String?) {
        self.log = log
        if stream != nil { log.waitUntilIndexed() }
        let (segments, head, entry) = log.state.withLock { s in (s.segments, s.head, stream.flatMap { s.streams[$0] }) }
        batches = ForwardBatches(segments)
        self.limit = head
        if let stream {
            if let entry {
                let start: UInt64? = direction == .forward ? (from ?? 0) : min(from ?? entry.lastVersion, entry.lastVersion)
                mode = .stream(entry: entry, name: stream, nextVersion: start, forward: direction == .forward)
            } else {
                mode = .empty
            }
        } else if direction == .forward {
            mode = .allForward(next: from ?? 0)
        } else {
            mode = head == 0 ? .empty : .allBackward(next: min(from ?? head - 1, head - 1))
        }
    }

    /// The next event, or nil at the end.
    ///
    /// - Throws: `ChronikLogError` — `.corruption` with file and offset,
    ///   `.io`, `.closed` once the log is closed (also for events already
    ///   decoded ahead: a cursor never outlives its log).
    public func next() throws -> RecordedEvent? {
        if log.isClosed { throw log.closedError }
        switch mode {
        case .empty:
            return nil
        case .allForward(let next):
            guard next < limit else { return nil }
            guard let e = try nextForward(next) else { return nil }
            mode = .allForward(next: next + 1)
            return e
        case .allBackward(let next):
            guard let p = next else { return nil }
            let e = try event(at: p)
            mode = .allBackward(next: p == 0 ? nil : p - 1)
            return e
        case .stream(let entry, let name, let version, let forward):
            guard let v = version, let p = entry.position(of: v), p < limit else { return nil }
            let e = try event(at: p)
            assert(e.stream == name && e.version.value == v, "stream index points at the wrong event")
            let nextVersion: UInt64? = forward ? v + 1 : (v == 0 ? nil : v - 1)
            mode = .stream(entry: entry, name: name, nextVersion: nextVersion, forward: forward)
            return e
        }
    }

    /// Calls `body` for every remaining event.
    public func forEach(_ body: (RecordedEvent) throws -> Void) throws {
        while let e = try next() { try body(e) }
    }

    /// Collects up to `limit` remaining events.
    public func collect(limit: Int = .max) throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        while out.count < limit, let e = try next() { out.append(e) }
        return out
    }

    private func nextForward(_ position: UInt64) throws -> RecordedEvent? {
        while true {
            if current != nil {
                let e: RecordedEvent?
                // Decoded in place: copying the batch out and back per event costs.
                do { e = try current!.nextRecord() } catch {
                    throw ChronikLogError.corrupt("record does not decode: \(reason(error))", path: batches.path, offset: -1)
                }
                if let e {
                    if e.position.value < position { continue }
                    return e
                }
                current = nil
            }
            // The batch holding `position`, or the next one.
            let next = try batches.next(at: position) { header, bytes, offset, path -> DecodedBatch in
                do { return try DecodedBatch(batch: bytes, header: header, verifyChecksum: false) } catch {
                    throw ChronikLogError.corrupt("batch payload does not decode: \(reason(error))", path: path, offset: offset)
                }
            }
            guard let next else { return nil }
            current = next
        }
    }

    /// Reads the event at `position` through a one-batch cache.
    func event(at position: UInt64) throws -> RecordedEvent {
        if let c = cached, position >= c.base, position < c.base + UInt64(c.events.count) {
            return c.events[Int(position - c.base)]
        }
        guard let si = batches.segmentIndex(of: position), let loc = batches.segments[si].locate(position) else {
            throw ChronikLogError(.corruption, "position \(position) is in no segment", path: log.directory)
        }
        let events = try EventLog.readBatch(segment: batches.segments[si], offset: loc.offset)
        cached = (loc.base, events)
        return events[Int(position - loc.base)]
    }
}

extension EventLog {
    /// Reads every event from `position` on (forward) or back from it
    /// (backward; default: from the last event).
    public func readAll(from position: Position? = nil, direction: ReadDirection = .forward) -> EventCursor {
        EventCursor(log: self, direction: direction, from: position?.value, stream: nil)
    }

    /// Reads one stream from `version` on (forward) or back from it.
    public func read(stream: String, from version: StreamVersion? = nil, direction: ReadDirection = .forward) -> EventCursor {
        EventCursor(log: self, direction: direction, from: version?.value, stream: stream)
    }

    /// The event at `position`, or nil at or past the head.
    public func event(at position: Position) throws -> RecordedEvent? {
        let cursor = EventCursor(log: self, direction: .forward, from: position.value, stream: nil)
        guard position.value < head.value else { return nil }
        return try cursor.event(at: position.value)
    }

    /// Reads, verifies and decodes the whole batch at `offset`.
    static func readBatch(segment: Segment, offset: Int64) throws -> [RecordedEvent] {
        let head = try segment.file.readBytes(count: LogFormat.batchHeaderSize, at: offset)
        let header: BatchHeader
        switch head.withUnsafeBytes({ BatchHeader.parse($0) }) {
        case .none: throw ChronikLogError.corrupt("batch header truncated", path: segment.path, offset: offset)
        case .failure(let e)?: throw ChronikLogError.corrupt(e.reason, path: segment.path, offset: offset)
        case .success(let h)?: header = h
        }
        let bytes = try segment.file.readBytes(count: header.length, at: offset)
        // Decode with the header inside the bytes the checksum covers, not
        // the copy from the first read (a bit flipped on the way in there
        // would otherwise pass unnoticed into positions, versions, times).
        guard case .success(let checked)? = bytes.withUnsafeBytes({ BatchHeader.parse($0) }), checked.length == header.length else {
            throw ChronikLogError.corrupt("batch header changed between two reads", path: segment.path, offset: offset)
        }
        do {
            var batch = try bytes.withUnsafeBytes { try DecodedBatch(batch: $0, header: checked) }
            return try batch.allRecords()
        } catch let e as MalformedBytes {
            throw ChronikLogError.corrupt(e.reason, path: segment.path, offset: offset)
        }
    }
}
