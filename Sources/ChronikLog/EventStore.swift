/// The store contract that the embedded `EventLog` and ChronikPostgres's
/// `PostgresStore` both implement (docs/POSTGRES.md): what commerce
/// commands, live projections, the server and the CLI need from a log,
/// whichever machine or engine holds it.
///
/// Every implementation keeps the same rules (spec/EVENTS.md, "Precise
/// rules"): positions are global, dense and published in commit order, so a
/// reader never sees position n+1 before n; a batch is all-or-nothing; an
/// event id already stored with identical content is an idempotent retry
/// that returns the original positions, with other content
/// `duplicateEventId`; an expected version that does not hold is
/// `wrongExpectedVersion` with the actual version. Errors are
/// `ChronikLogError`s with the same codes on every backend.
public protocol EventStore: Sendable {
    /// Appends one batch to one stream; returns once it is durable as the
    /// backend promises (embedded: fdatasync; PostgreSQL: committed on the
    /// primary and flushed on the synchronous standby).
    func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult

    /// Up to `limit` events of one stream from `version` on, in version order.
    func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent]

    /// Up to `limit` events from `position` on, in position order.
    func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent]

    /// Every event from `position` on: those stored, then each new one as it
    /// is committed, with no gap and no duplicate. Ends when the consuming
    /// task is cancelled; throws when the store fails or is closed.
    func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error>

    /// The position the next appended event will get (= events stored).
    func headPosition() async throws -> Position

    /// The version of the last event of `stream`; nil when the stream holds
    /// none. What an optimistic-concurrency check compares with.
    func lastVersion(of stream: String) async throws -> StreamVersion?

    /// The stored events whose ids are in `ids`, in position order; an id
    /// not stored is left out. What an idempotent retry is decided on
    /// (spec/EVENTS.md: the same id with the same content is a no-op).
    func events(withIDs ids: [EventID]) async throws -> [RecordedEvent]

    /// How many of `ids` are stored (each counted once per time it is
    /// given): whether an append is a retry (all), new (none) or mixed,
    /// without reading the events. Defaults to `events(withIDs:)`.
    func storedCount(ofIDs ids: [EventID]) async throws -> Int
}

extension EventStore {
    public func storedCount(ofIDs ids: [EventID]) async throws -> Int {
        try await events(withIDs: ids).count
    }

    /// The event at `position`; nil at or past the head.
    public func readEvent(at position: Position) async throws -> RecordedEvent? {
        try await readAll(from: position, limit: 1).first { $0.position == position }
    }
}

extension EventLog: EventStore {
    public func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
        try read(stream: stream, from: version).collect(limit: limit)
    }

    public func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] {
        try readAll(from: Optional(position)).collect(limit: limit)
    }

    public func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> {
        subscribe(from: position)
    }

    public func headPosition() async throws -> Position { head }

    // `lastVersion(of:)` is the log's own (synchronous, from its index).

    public func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] {
        let positions = ids.compactMap { position(ofEventID: $0) }.sorted { $0.value < $1.value }
        return try positions.compactMap { try event(at: $0) }
    }

    /// One look at the id table for all of them (a 1,000-event request to
    /// `chronik serve` asked it 1,000 times, each under the lock: stop 21).
    public func storedCount(ofIDs ids: [EventID]) async throws -> Int {
        waitUntilIndexed()
        return state.withLock { s in ids.reduce(0) { $0 + (s.visiblePosition(of: $1) == nil ? 0 : 1) } }
    }
}

extension AppendResult {
    /// For other `EventStore` implementations, which report their appends
    /// with the same type.
    public static func stored(positions: [Position], versions: [StreamVersion], wasDuplicate: Bool) -> AppendResult {
        precondition(!positions.isEmpty && positions.count == versions.count, "one position and version per event")
        return AppendResult(positions: positions, versions: versions, wasDuplicate: wasDuplicate)
    }
}
