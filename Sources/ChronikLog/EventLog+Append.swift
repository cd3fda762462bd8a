import Dispatch
import Synchronization

/// One append call waiting for the writer.
///
/// A class: the writer reads each request several times per group (stage,
/// publish, acknowledge), and as a struct every read copied it whole, a
/// retain and a release of each of its five references (stop 51: ~10 % of
/// the writer's time in an import's pass 2).
final class AppendRequest: Sendable {
    let stream: String
    let events: [ProposedEvent]
    let expected: ExpectedVersion
    /// Encoded and compressed by the appending task, before queueing.
    let payload: EncodedPayload
    let reply: AppendReply
    /// The sequence the request belongs to (`appendAll(_:sequence:)`) and
    /// its place in it; nil for a plain append.
    let sequence: AppendSequence?
    let sequenceIndex: Int

    init(stream: String, events: [ProposedEvent], expected: ExpectedVersion, payload: EncodedPayload, reply: AppendReply,
         sequence: AppendSequence? = nil, sequenceIndex: Int = 0) {
        self.stream = stream
        self.events = events
        self.expected = expected
        self.payload = payload
        self.reply = reply
        self.sequence = sequence
        self.sequenceIndex = sequenceIndex
    }
}

/// Batches that must reach the log as a prefix of their order, whatever
/// calls carry them (`chronik import`'s pass 2, with several `appendAll`
/// calls in flight): once batch i fails, no batch after i is appended —
/// the writer refuses them `notAppended` — so the log holds batches
/// 0..<i and nothing after a gap (stop 35: a disk-full import left 256
/// lines out and appended the 64 after them, and its re-run put them
/// behind those in their streams).
public final class AppendSequence: Sendable {
    private let stop = Atomic<Int>(.max)

    public init() {}

    /// Refuses batch `index` and every later one.
    public func stop(at index: Int) {
        var current = stop.load(ordering: .relaxed)
        while index < current {
            let (exchanged, now) = stop.compareExchange(expected: current, desired: index, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = now
        }
    }

    /// Whether batch `index` may still be appended.
    public func admits(_ index: Int) -> Bool { index < stop.load(ordering: .acquiring) }
}

/// Where the writer delivers a request's outcome.
enum AppendReply: Sendable {
    /// The task of one `append` call, suspended until then.
    case continuation(CheckedContinuation<AppendResult, any Error>)
    /// Batch `index` of an `appendAll` call.
    case batch(AppendAllReplies, index: Int)

    func resume(returning result: AppendResult) { resume(with: .success(result)) }
    func resume(throwing error: any Error) { resume(with: .failure(error)) }

    func resume(with result: Result<AppendResult, any Error>) {
        switch self {
        case .continuation(let c): c.resume(with: result)
        case .batch(let replies, let index): replies.set(index, result)
        }
    }
}

/// The outcomes of one `appendAll` call: the task resumes once, when the
/// last batch has its outcome.
final class AppendAllReplies: Sendable {
    private struct State {
        var results: [Result<AppendResult, any Error>?]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<AppendResult, any Error>], Never>?
    }
    private let state: Mutex<State>

    init(count: Int, continuation: CheckedContinuation<[Result<AppendResult, any Error>], Never>) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count, continuation: continuation))
    }

    func set(_ index: Int, _ result: Result<AppendResult, any Error>) {
        let finished: (CheckedContinuation<[Result<AppendResult, any Error>], Never>, [Result<AppendResult, any Error>])? =
            state.withLock { s in
                precondition(s.results[index] == nil, "one outcome per batch")
                s.results[index] = result
                s.remaining -= 1
                guard s.remaining == 0, let c = s.continuation else { return nil }
                s.continuation = nil
                return (c, s.results.map { $0! })
            }
        if let (c, results) = finished { c.resume(returning: results) }
    }
}

/// One stream's events validated and encoded for an append
/// (`EventLog.prepare(to:_:)`), not yet in any log.
public struct PreparedBatch: Sendable {
    public let stream: String
    public let events: [ProposedEvent]
    let payload: EncodedPayload
    let compression: Compression
    let maxEventBytes: Int
}

extension EventLog {
    /// Appends events to one stream as one atomic batch.
    ///
    /// Returns once the batch is durable as `durability` promises (with
    /// `.fsync`, on disk). Concurrent calls share writes and fdatasyncs.
    /// Event ids make retries idempotent: when every id is already in the
    /// log with the same stream, type, data and metadata, nothing is
    /// written and the original positions come back (`wasDuplicate`).
    ///
    /// - Parameters:
    ///   - stream: 1...256 bytes of UTF-8.
    ///   - events: 1 or more events, each at most `maxEventBytes` encoded.
    ///   - expected: the stream state this append is conditional on.
    /// - Throws: `ChronikLogError` — `.wrongExpectedVersion` (with stream,
    ///   expected and actual version), `.duplicateEventId`,
    ///   `.invalidStreamName`, `.invalidEventType`, `.eventTooLarge`,
    ///   `.invalidBatch`, `.io` (nothing was written), `.writerPoisoned`,
    ///   `.readOnly`, `.closed`. On any error nothing of the batch is visible.
    @discardableResult
    public func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion = .any) async throws -> AppendResult {
        try await append(prepare(to: stream, events), expected: expected)
    }

    /// Validates and encodes a batch (records, compression) for
    /// `append(_:expected:)` or `appendAll`: the part of an append that
    /// reads no state of the log, so that it can run on any thread before
    /// the append.
    ///
    /// - Throws: `ChronikLogError` — `.invalidStreamName`,
    ///   `.invalidEventType`, `.eventTooLarge`, `.invalidBatch`.
    public func prepare(to stream: String, _ events: [ProposedEvent]) throws -> PreparedBatch {
        try validate(stream: stream, events: events)
        return PreparedBatch(stream: stream, events: events,
                             payload: EncodedPayload(stream: stream, events: events, compression: compression),
                             compression: compression, maxEventBytes: options.maxEventBytes)
    }

    /// Appends a batch `prepare` made; see `append(to:_:expected:)`. A batch
    /// prepared by a log with another compression or event size limit is
    /// prepared again by this one.
    @discardableResult
    public func append(_ batch: PreparedBatch, expected: ExpectedVersion = .any) async throws -> AppendResult {
        let batch = try preparedHere(batch)
        guard let writer else { throw ChronikLogError(.readOnly, "log opened read-only", path: directory) }
        return try await withCheckedThrowingContinuation { c in
            let request = AppendRequest(stream: batch.stream, events: batch.events, expected: expected, payload: batch.payload,
                                        reply: .continuation(c))
            if let rejected = enqueue([request], writer) { c.resume(throwing: rejected) }
        }
    }

    /// Appends several batches, each exactly as `append(_:expected:)`
    /// would — each atomic on its own, its expected version and ids checked
    /// on its own, in the order given, sharing the writer's group commits —
    /// with one hand-off to the writer and one suspension for all of them
    /// instead of one each (stop 28: per-batch tasks, continuations and
    /// lock hand-offs set the pace of `chronik import`'s pass 2).
    ///
    /// Returns each batch's outcome, in order; nothing is thrown. As with
    /// separate appends, a batch may fail while others succeed (a wrong
    /// expected version fails that batch only; after a failed write or
    /// fsync every later batch fails too).
    ///
    /// With a `sequence`, batch k is the sequence's batch `indices[k]` and
    /// the log takes a prefix of the sequence: a batch that fails stops
    /// every later one (`AppendSequence`), of this call or another.
    public func appendAll(_ batches: [(batch: PreparedBatch, expected: ExpectedVersion)], sequence: AppendSequence? = nil,
                          indices: [Int] = []) async -> [Result<AppendResult, any Error>] {
        precondition(sequence == nil || indices.count == batches.count, "one sequence index per batch")
        guard !batches.isEmpty else { return [] }
        guard let writer else {
            return batches.map { _ in .failure(ChronikLogError(.readOnly, "log opened read-only", path: directory)) }
        }
        return await withCheckedContinuation { c in
            let replies = AppendAllReplies(count: batches.count, continuation: c)
            var requests: [AppendRequest] = []
            requests.reserveCapacity(batches.count)
            for (i, b) in batches.enumerated() {
                let batch: PreparedBatch
                do { batch = try preparedHere(b.batch) } catch {
                    sequence?.stop(at: indices[i])
                    replies.set(i, .failure(error))
                    continue
                }
                requests.append(AppendRequest(stream: batch.stream, events: batch.events, expected: b.expected,
                                              payload: batch.payload, reply: .batch(replies, index: i),
                                              sequence: sequence, sequenceIndex: sequence == nil ? 0 : indices[i]))
            }
            if let rejected = enqueue(requests, writer) {
                for r in requests { r.reply.resume(throwing: rejected) }
            }
        }
    }

    /// `batch` as this log encodes and limits events: prepared again when
    /// another log, of other compression or event size limit, prepared it.
    private func preparedHere(_ batch: PreparedBatch) throws -> PreparedBatch {
        guard batch.compression != compression || batch.maxEventBytes != options.maxEventBytes else { return batch }
        return try prepare(to: batch.stream, batch.events)
    }

    /// Queues requests for the writer, scheduling a flush unless one is
    /// due; the error when the log takes none (closed, poisoned).
    private func enqueue(_ requests: [AppendRequest], _ writer: Writer) -> ChronikLogError? {
        guard !requests.isEmpty else { return nil }
        return state.withLock { s in
            if s.closed { return ChronikLogError(.closed, "log is closed", path: directory) }
            if let p = s.poisoned { return p }
            s.pending.append(contentsOf: requests)
            if s.flushScheduled { return nil }
            s.flushScheduled = true
            writer.slotForNextFlush().async { writer.flush() }
            return nil
        }
    }

    /// Appends one event; see `append(to:_:expected:)`.
    @discardableResult
    public func append(to stream: String, _ event: ProposedEvent, expected: ExpectedVersion = .any) async throws -> AppendResult {
        try await append(to: stream, [event], expected: expected)
    }

    /// Batches of up to this many events check their ids pairwise.
    static let pairwiseIDCheckLimit = 16

    /// Checks what can be checked without the log's state.
    func validate(stream: String, events: [ProposedEvent]) throws {
        try LogFormat.checkStreamName(stream, allowingControlCharacters: options.acceptsControlCharactersInNames)
        let n = stream.utf8.count
        guard !events.isEmpty else { throw ChronikLogError(.invalidBatch, "a batch needs at least one event") }
        guard events.count <= LogFormat.maxEventsPerBatch else {
            throw ChronikLogError(.invalidBatch, "a batch holds at most \(LogFormat.maxEventsPerBatch) events, got \(events.count)")
        }
        // An id twice in the batch: a table for a large batch; a small one
        // compares each id with those before it, and a single event has
        // nothing to compare (stop 51: the table's two arrays were ~1 %
        // of 64 single-event appenders' CPU).
        var seen = events.count > Self.pairwiseIDCheckLimit ? EventIDTable(minimumCapacity: events.count) : nil
        var total = 0
        for (i, e) in events.enumerated() {
            try LogFormat.checkEventType(e.type, index: i, allowingControlCharacters: options.acceptsControlCharactersInNames)
            let size = e.encodedSize
            guard size <= options.maxEventBytes else {
                throw ChronikLogError(.eventTooLarge, "event \(i) (\(e.type)) is \(size) bytes encoded, at most \(options.maxEventBytes) allowed", index: i)
            }
            let id = e.id
            let repeated = if seen != nil { seen!.insert(id, position: UInt64(i)) != nil } else {
                events.withUnsafeBufferPointer { b in (0..<i).contains { b[$0].id == id } }
            }
            guard !repeated else {
                throw ChronikLogError(.duplicateEventId, "event id \(e.id) appears twice in one batch")
            }
            total += size
        }
        guard total + n + 16 <= LogFormat.maxBatchPayloadBytes else {
            throw ChronikLogError(.invalidBatch, "batch of \(total) bytes exceeds \(LogFormat.maxBatchPayloadBytes)")
        }
    }
}

extension EventLog {
    /// Calls `observer` after each fdatasync of the active segment with its
    /// duration and the events and bytes it made durable (with `.fsync`,
    /// one call per group commit). It runs on the writer, between the
    /// fdatasync and the acknowledgement of the group, so it must be quick
    /// and must not call back into the log; it costs nothing per append.
    /// `nil` removes it. A read-only log never syncs and never calls it.
    public func observeSyncs(_ observer: (@Sendable (SyncReport) -> Void)?) {
        let boxed = observer.map(Writer.SyncObserver.init)
        writer?.syncObserver.withLock { $0 = boxed }
    }
}
