import ChronikLog
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The Chronik log in PostgreSQL (docs/POSTGRES.md): the `EventStore`
/// contract with the same positions, versions, idempotent ids, CRCs and
/// hash chain as the embedded log, durable on the primary and its
/// synchronous standby when an append returns.
///
/// Concurrent `append` calls in one process are grouped: one writer task
/// sends everything queued as one `chronik_append` call in one transaction.
public final class PostgresStore: EventStore, Sendable {
    /// Where the database is: `postgres://user[:password]@host[:port]/database`.
    public struct Location: Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String

        public init(host: String, port: Int = 5432, user: String, password: String? = nil, database: String) {
            self.host = host; self.port = port; self.user = user; self.password = password; self.database = database
        }

        /// `url` with the password of its user info as `***` (stop 43, a
        /// helper: usage errors printed it).
        static func redacted(_ url: String) -> String {
            guard let scheme = url.range(of: "://") else { return url }
            let authorityEnd = url[scheme.upperBound...].firstIndex(where: { "/?#".contains($0) }) ?? url.endIndex
            guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@"),
                  let colon = url[scheme.upperBound..<at].firstIndex(of: ":") else { return url }
            return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
        }

        /// Parses a `postgres://` (or `postgresql://`) URL.
        public init(url: String) throws {
            func bad(_ why: String) -> ChronikLogError {
                ChronikLogError(.invalidOption, "store URL '\(Self.redacted(url))': \(why); expected postgres://user@host:port/database")
            }
            guard let c = URLComponents(string: url), let scheme = c.scheme, ["postgres", "postgresql"].contains(scheme) else {
                throw bad("not a postgres:// URL")
            }
            guard let host = c.host, !host.isEmpty else { throw bad("no host") }
            guard let user = c.user, !user.isEmpty else { throw bad("no user") }
            let db = String(c.path.drop(while: { $0 == "/" }))
            guard !db.isEmpty, !db.contains("/") else { throw bad(db.contains("/") ? "a database name holds no '/' (\(db))" : "no database") }
            // URLComponents takes any digits: 71139 reached port 5603
            // (stop 35). Parameters (sslmode, …) are not taken silently:
            // this build speaks plain TCP only.
            if let port = c.port, !(1...65535).contains(port) { throw bad("port \(port) is not 1–65535") }
            if let items = c.queryItems, let first = items.first {
                throw bad("parameter '\(first.name)' is not supported (no TLS or other connection options in this build: use a loopback or private network, or a TLS tunnel)")
            }
            // [::1]: the brackets are the URL's, not the address's.
            let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            self.init(host: bare, port: c.port ?? 5432, user: user, password: c.password, database: db)
        }

        /// The URL without the password.
        public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }
    }

    public let location: Location
    /// postgres-nio's own logger: its messages are the errors the store
    /// throws, so only critical ones show.
    let logger: Logger
    /// The store's own warnings (a standby's position unseen, a cancelled
    /// wait): shown (stop 38, a DBA: they were logged at `.warning` through
    /// the critical-only logger and never printed).
    let notices: Logger
    let writerConnection: ConnectionSlot
    let readerConnection: ConnectionSlot
    let queue = Mutex(WriteQueue())
    /// How often a subscriber reads again without a notification.
    let pollInterval: Duration

    /// Bounds of one group commit.
    static let maxBatchesPerGroup = 1024
    static let maxEventsPerGroup = 65_536
    /// The bytes (data, metadata and type of every event) one call sends:
    /// a group takes no further batch past this, a larger batch goes alone.
    static let maxBytesPerGroup = 64 << 20
    /// The bytes of one batch. Its data and metadata travel as two array
    /// parameters, and PostgreSQL refuses a value over 1 GB; a batch is
    /// refused (`invalidBatch`, nothing written) well before that.
    static let maxBatchBytes = 256 << 20

    /// What a batch costs a call: its events' data, metadata and type.
    static func byteCount(_ events: [ProposedEvent]) -> Int {
        events.reduce(0) { $0 + $1.data.count + $1.metadata.count + $1.type.utf8.count + 16 }
    }

    /// Connects lazily: nothing is sent before the first call. Call
    /// `migrate()` once to create the schema.
    public init(location: Location, pollInterval: Duration = .milliseconds(500)) {
        var logger = Logger(label: "chronik.postgres")
        logger.logLevel = .critical
        self.location = location
        self.logger = logger
        var notices = Logger(label: "chronik.postgres")
        notices.logLevel = .warning
        self.notices = notices
        self.pollInterval = pollInterval
        writerConnection = ConnectionSlot(location: location, logger: logger)
        readerConnection = ConnectionSlot(location: location, logger: logger)
    }

    public convenience init(url: String) throws {
        self.init(location: try Location(url: url))
    }

    /// Creates the tables, the head row and the append function (idempotent).
    ///
    /// - Returns: notes for the operator about the existing schema (an
    ///   older database's stream key compared by the locale: what it costs
    ///   and how to convert it); empty when there is nothing to say.
    @discardableResult
    public func migrate() async throws -> [String] {
        // On a connection of its own: the writer's may be in a transaction
        // begun for the next append (`beginNext`).
        let slot = ConnectionSlot(location: location, logger: logger)
        do {
            try await migrate(on: slot)
            let notes = try await schemaNotes(on: slot)
            await slot.close()
            return notes
        } catch {
            await slot.close()
            throw error
        }
    }

    /// The stream key's columns that a database created before stop 31
    /// left under the database's collation (docs/POSTGRES.md, "Text keys
    /// compare bytes"): `migrate()` does not rebuild their indexes itself.
    private func schemaNotes(on slot: ConnectionSlot) async throws -> [String] {
        let columns: [String] = try await slot.run { conn in
            var names: [String] = []
            let rows = try await conn.query("""
                SELECT table_name || '.' || column_name FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name IN ('chronik_events', 'chronik_streams')
                   AND column_name = 'stream' AND collation_name IS DISTINCT FROM 'C' ORDER BY 1
                """, logger: logger)
            for try await (name) in rows.decode(String.self) { names.append(name) }
            return names
        }
        guard !columns.isEmpty else { return [] }
        return ["\(columns.joined(separator: " and ")) compare by the database's locale, not as bytes (a database made before Chronik's stop 31): "
                + "1,000-event appends measured ~6 % slower; to convert, in a maintenance window (each rewrites that table's indexes): "
                + columns.map { "ALTER TABLE \($0.split(separator: ".")[0]) ALTER COLUMN stream TYPE text COLLATE \"C\";" }.joined(separator: " ")]
    }

    private func migrate(on slot: ConnectionSlot) async throws {
        try await slot.run { conn in
            // Two processes migrating at once must not race on CREATE.
            try await conn.query("SELECT pg_advisory_lock(7281)", logger: logger)
            do {
                for statement in Schema.statements {
                    try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(7281)", logger: logger)
                throw error
            }
            try await conn.query("SELECT pg_advisory_unlock(7281)", logger: logger)
            // What idempotency and the versions rest on: a table made by
            // hand, or altered, without them is refused (stop 35: without
            // the unique index on id a retry appended again).
            let rows = try await conn.query("""
                SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = 'chronik_events'::regclass AND i.indisunique GROUP BY i.indexrelid
                """, logger: logger)
            var unique: Set<String> = []
            for try await columns in rows.decode(String.self) { unique.insert(columns) }
            for (columns, add) in [("id", "ALTER TABLE chronik_events ADD UNIQUE (id)"),
                                   ("stream,version", "ALTER TABLE chronik_events ADD UNIQUE (stream, version)")]
            where !unique.contains(columns) {
                throw ChronikLogError(.corruption, "the table chronik_events has no unique index on (\(columns)), which Chronik's idempotency and versions rely on: restore it (\(add); it fails while values repeat: chronik verify --store names them)", path: "chronik_events")
            }
        }
    }

    /// Closes the connections; later calls reconnect.
    public func close() async {
        queue.withLock { $0.begun = nil }
        await writerConnection.close()
        await readerConnection.close()
    }

    // MARK: EventStore

    public func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult {
        try Self.validate(stream: stream, events: events)
        let batch = GroupBatch(stream: stream, expected: expected, events: events)
        return try await withCheckedThrowingContinuation { c in
            let request = PendingAppend(batch: batch, continuation: c)
            let start = queue.withLock { q -> Bool in
                q.pending.append(request)
                if q.draining { return false }
                q.draining = true
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    public func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
        try await readerConnection.read { [logger] conn in
            let rows = try await conn.query("""
                SELECT position, stream, version, id, type, occurred_at, recorded_at, meta, data, crc
                FROM chronik_events WHERE stream = \(stream) AND version >= \(Int64(version.value))
                ORDER BY version LIMIT \(Int64(limit))
                """, logger: logger)
            return try await Self.decode(rows)
        }
    }

    public func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] {
        try await readerConnection.read { [logger] conn in try await Self.readAll(on: conn, from: position, limit: limit, logger: logger) }
    }

    /// `readAll` on `conn` (`verify` reads in one snapshot on its own).
    static func readAll(on conn: PostgresConnection, from position: Position, limit: Int, logger: Logger) async throws -> [RecordedEvent] {
        let rows = try await conn.query("""
            SELECT position, stream, version, id, type, occurred_at, recorded_at, meta, data, crc
            FROM chronik_events WHERE position >= \(Int64(position.value))
            ORDER BY position LIMIT \(Int64(limit))
            """, logger: logger)
        let events = try await decode(rows)
        // Positions are dense by construction: a hole is a row deleted
        // outside Chronik, refused as a changed row is (stop 38, a DBA:
        // read, export, serve and subscriptions skipped it unsaid).
        for (i, e) in events.enumerated() where e.position.value != position.value + UInt64(i) {
            throw ChronikLogError(.corruption, "chronik_events position \(position.value + UInt64(i)) is missing (the next row is at "
                                  + "\(e.position.value)): a row was deleted outside Chronik; chronik verify --store names the damage")
        }
        return events
    }

    public func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> {
        PostgresSubscription(store: self, start: position.value)
    }

    public func headPosition() async throws -> Position {
        try await readerConnection.read { [logger, location] conn in
            let rows = try await conn.query("SELECT next_position FROM chronik_head WHERE id = 1", logger: logger)
            for try await n in rows.decode(Int64.self) { return Position(UInt64(n)) }
            throw ChronikLogError(.notALog, "\(location): no chronik_head row; run migrate first")
        }
    }

    // MARK: Appending

    /// Checks what can be checked before the database, with the embedded
    /// log's limits and messages.
    static func validate(stream: String, events: [ProposedEvent]) throws {
        try LogFormat.checkStreamName(stream)
        guard !events.isEmpty else { throw ChronikLogError(.invalidBatch, "a batch needs at least one event") }
        guard events.count <= maxEventsPerGroup else {
            throw ChronikLogError(.invalidBatch, "a batch holds at most \(maxEventsPerGroup) events on PostgreSQL, got \(events.count)")
        }
        let bytes = byteCount(events)
        guard bytes <= maxBatchBytes else {
            throw ChronikLogError(.invalidBatch, "a batch holds at most \(maxBatchBytes >> 20) MiB on PostgreSQL, got \(bytes) bytes: split it")
        }
        var seen = Set<EventID>(minimumCapacity: events.count)
        for (i, e) in events.enumerated() {
            try LogFormat.checkEventType(e.type, index: i)
            let size = e.metadata.count + e.data.count + e.type.utf8.count + 16
            guard size <= LogFormat.defaultMaxEventBytes else {
                throw ChronikLogError(.eventTooLarge, "event \(i) (\(e.type)) is \(size) bytes, at most \(LogFormat.defaultMaxEventBytes) allowed")
            }
            guard seen.insert(e.id).inserted else {
                throw ChronikLogError(.duplicateEventId, "event id \(e.id) appears twice in one batch")
            }
        }
    }

    /// The one writer task: sends groups until the queue is empty.
    func drain() async {
        while true {
            let group: [PendingAppend] = queue.withLock { q in
                let taken = Self.groupSize(q.pending.map(\.batch.events))
                let group = Array(q.pending.prefix(taken))
                q.pending.removeFirst(taken)
                if group.isEmpty { q.draining = false }
                return group
            }
            if group.isEmpty { return }
            do {
                let outcomes = try await commit(group.map(\.batch))
                for (request, outcome) in zip(group, outcomes) { request.continuation.resume(with: outcome) }
                await beginNext()
            } catch {
                for request in group { request.continuation.resume(throwing: error) }
            }
            await awaitReturning(group.count)
        }
    }

    /// How long the writer waits, after answering a group, for the
    /// appenders it answered to queue their next append.
    static let regroupWait = Duration.milliseconds(1)

    /// After answering `answered` appends: the appenders just woken are
    /// queued to run. Taken at once, the next group would hold the few that
    /// were quick and leave the rest a whole COMMIT (two fsyncs) behind:
    /// groups alternating small and large, or all small on a busy machine.
    /// So wait until as many appends are queued as were answered, at most
    /// `regroupWait` (PostgreSQL's `commit_delay` idea, on the client).
    /// A lone appender is never delayed.
    func awaitReturning(_ answered: Int) async {
        guard answered > 1 else { return }
        let deadline = ContinuousClock.now + Self.regroupWait
        await Task.yield()
        while queue.withLock({ $0.pending.count }) < answered, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .microseconds(100))
        }
    }

    /// How many of the queued batches, from the front, go into the next
    /// group: at most `maxBatchesPerGroup` batches, `maxEventsPerGroup`
    /// events and `maxBytesPerGroup` bytes (a larger single batch goes alone), and the group ends before a
    /// batch that shares an event id with an earlier batch of the group (a
    /// retry queued behind its original): `chronik_append` decides
    /// idempotency against committed rows, so such a batch waits for the next
    /// group, where it is an idempotent retry or a `duplicateEventId`.
    static func groupSize(_ pending: [[ProposedEvent]]) -> Int {
        var taken = 0
        var events = 0
        var bytes = 0
        var ids = Set<EventID>()
        while taken < pending.count, taken < maxBatchesPerGroup {
            let batch = pending[taken]
            let size = byteCount(batch)
            if taken > 0 {
                if events + batch.count > maxEventsPerGroup || bytes + size > maxBytesPerGroup { break }
                if taken == 1 { ids.formUnion(pending[0].lazy.map(\.id)) }
                if batch.contains(where: { ids.contains($0.id) }) { break }
                ids.formUnion(batch.lazy.map(\.id))
            }
            events += batch.count
            bytes += size
            taken += 1
        }
        return taken
    }

    /// One transaction: BEGIN, `chronik_append` with every batch, COMMIT.
    func commit(_ group: [GroupBatch]) async throws -> [Result<AppendResult, any Error>] {
        let arguments = AppendArguments(group)
        var (conn, begunEarlier) = try await begin()
        let rows: [AppendArguments.Row]
        let mark: SyncMark?
        while true {
            do {
                (rows, mark) = try await arguments.call(on: conn, logger: logger)
                break
            } catch {
                await writerConnection.drop(conn)
                guard begunEarlier else { throw Self.ioError("append refused, nothing written", error) }
                // A transaction begun after the previous group may have waited
                // long enough for its connection to break (a restart, a failover,
                // idle_in_transaction_session_timeout): nothing was committed
                // (no COMMIT was sent), so it is safe to run again once on a
                // new connection, as a failed BEGIN is.
                (conn, begunEarlier) = try await begin(reuse: false)
            }
        }
        do {
            // With synchronous_commit = on this returns once the standby has
            // flushed the WAL: the acknowledgement below means two disks.
            try await execute("COMMIT", on: conn)
        } catch {
            await writerConnection.drop(conn)
            throw Self.ioError("COMMIT did not complete: the group may or may not be stored; retrying with the same event ids is safe (idempotent)", error)
        }
        guard rows.count == group.count else {
            throw ChronikLogError(.io, "chronik_append answered \(rows.count) rows for \(group.count) batches")
        }
        let stored: Set<Int32> = [Schema.Status.appended.rawValue, Schema.Status.idempotentRetry.rawValue]
        if let mark, rows.contains(where: { stored.contains($0.0) }) {
            do {
                try await confirmReplicated(mark, on: conn)
            } catch {
                await writerConnection.drop(conn)
                throw Self.ioError("the group is committed on the primary, but its synchronous standby was not seen to have it: retrying with the same event ids is safe (idempotent) and waits for the standby", error)
            }
        }
        return zip(group, rows).map { r, row in Self.outcome(r, row) }
    }

    /// Returns once a synchronous standby has reached `mark` (for
    /// `synchronous_commit = on`, flushed it), as the COMMIT itself waits.
    /// A COMMIT whose wait was cancelled returns early, and what it stored
    /// is then on the primary's disk alone: a failover would lose it. So
    /// the writer reads the WAL senders' positions (`pg_stat_get_wal_senders()`,
    /// what `pg_stat_replication` shows without joining every backend's
    /// activity) after every COMMIT that stored events (one round trip a group), and when no synchronous standby has
    /// the commit yet it waits for one, polling, as PostgreSQL would have
    /// (with the standby down, as long as it is down). A role that may not
    /// see the standbys' positions (neither superuser nor `pg_monitor` /
    /// `pg_read_all_stats`) cannot check: the server logs it once and
    /// trusts the COMMIT.
    func confirmReplicated(_ mark: SyncMark, on conn: PostgresConnection) async throws {
        guard let column = mark.column else { return }
        let sql = """
            SELECT count(*), count(sync_state),
                   count(*) FILTER (WHERE sync_state IN ('sync', 'quorum') AND \(column) >= $1::pg_lsn)
            FROM pg_stat_get_wal_senders()
            """
        var warned = false
        while true {
            var binds = PostgresBindings()
            binds.append(mark.lsn)
            let query = PostgresQuery(unsafeSQL: sql, binds: binds)
            let logger = logger
            let (all, visible, reached) = try await ConnectionSlot.whileOpen(conn) {
                var counts = (0, 0, 0)
                for try await row in try await conn.query(query, logger: logger).decode((Int64, Int64, Int64).self) {
                    counts = (Int(row.0), Int(row.1), Int(row.2))
                }
                return counts
            }
            if reached > 0 { return }
            if all > 0, visible == 0 {
                if queue.withLock({ state in defer { state.replicationUnseenLogged = true }; return !state.replicationUnseenLogged }) {
                    notices.warning("cannot see the synchronous standby's position (pg_stat_replication needs superuser or pg_monitor): a COMMIT whose wait for the standby was cancelled cannot be detected; grant pg_monitor to the server's role")
                }
                return
            }
            if !warned {
                warned = true
                notices.warning("a COMMIT returned before a synchronous standby confirmed it (its wait was cancelled?): the append is acknowledged only once a standby has it", metadata: ["lsn": "\(mark.lsn)", "synchronous_commit": "\(mark.mode)"])
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The writer connection in a transaction: the one `beginNext` opened
    /// (`true`) or a new BEGIN. A connection that a restart or a failover
    /// broke fails at BEGIN, before anything of the group was sent, so one
    /// reconnect and retry is safe.
    func begin(reuse: Bool = true) async throws -> (PostgresConnection, Bool) {
        if reuse, let c = queue.withLock({ $0.begun.take() }) {
            if !c.isClosed, writerConnection.current === c { return (c, true) }
        }
        var attempt = 0
        while true {
            let conn = try await writerConnection.get()
            do {
                try await execute("BEGIN", on: conn)
                return (conn, false)
            } catch {
                await writerConnection.drop(conn)
                attempt += 1
                if attempt == 2 { throw Self.ioError("BEGIN failed, nothing written", error) }
            }
        }
    }

    /// Sends the next group's BEGIN right after a group was answered, while
    /// its appenders prepare their next batches: the round trip is then off
    /// the path of the next append. The connection waits between appends
    /// "idle in transaction" with nothing done in it yet: no snapshot, no
    /// lock, no transaction id (nothing that holds back vacuum). A failure
    /// here is left for `begin()` to meet again.
    func beginNext() async {
        guard let conn = try? await writerConnection.get() else { return }
        do {
            try await execute("BEGIN", on: conn)
            queue.withLock { $0.begun = conn }
        } catch {
            await writerConnection.drop(conn)
        }
    }

    /// A statement without parameters or rows (BEGIN, COMMIT) on `conn`.
    func execute(_ sql: StaticString, on conn: PostgresConnection) async throws {
        let logger = logger
        try await ConnectionSlot.whileOpen(conn) { _ = try await conn.query(PostgresQuery(unsafeSQL: "\(sql)"), logger: logger) }
    }

    static func outcome(_ r: GroupBatch, _ row: AppendArguments.Row) -> Result<AppendResult, any Error> {
        switch Schema.Status(rawValue: row.0) {
        case .appended:
            let p = UInt64(row.1 ?? 0), v = UInt64(row.2 ?? 0)
            let n = UInt64(r.events.count)
            return .success(AppendResult.stored(positions: (0..<n).map { Position(p + $0) },
                                         versions: (0..<n).map { StreamVersion(v + $0) }, wasDuplicate: false))
        case .idempotentRetry:
            return .success(AppendResult.stored(positions: (row.4 ?? []).map { Position(UInt64($0)) },
                                         versions: (row.5 ?? []).map { StreamVersion(UInt64($0)) }, wasDuplicate: true))
        case .duplicateId:
            return .failure(ChronikLogError(.duplicateEventId, "an event id of this batch (first \(r.events[0].id)) is already stored for other content, or only some of the batch's ids are: a retry must resend the same batch"))
        case .wrongExpectedVersion:
            var e = ChronikLogError(.wrongExpectedVersion, "stream '\(r.stream)' is at \(row.3.map(String.init) ?? "no stream"), expected \(r.expected)")
            e.stream = r.stream
            e.expectedVersion = r.expected
            e.actualVersion = .some(row.3.map { UInt64($0) })
            return .failure(e)
        case nil:
            return .failure(ChronikLogError(.io, "chronik_append answered unknown status \(row.0)"))
        }
    }

    static func ioError(_ what: String, _ error: any Error) -> ChronikLogError {
        if let e = error as? ChronikLogError { return e }
        if let said = plainly(error) { return ChronikLogError(.io, "PostgreSQL: \(what): \(said)") }
        return ChronikLogError(.io, "PostgreSQL: \(what): \(String(reflecting: error))")
    }

    /// What an operator can do about a server error, in words, for the
    /// SQLSTATEs a misplaced or unprepared store gives (stop 35: the
    /// driver's dump, SQL text included, for a database without the schema
    /// or a standby).
    static func plainly(_ error: any Error) -> String? {
        guard let e = error as? PSQLError, let info = e.serverInfo, let state = info[.sqlState] else { return nil }
        let message = info[.message] ?? ""
        switch state {
        case "42P01", "42883":
            return "the database has no Chronik schema (\(message)): start chronik serve --store URL once, which creates it"
        case "42703":
            return "a Chronik table lacks a column (\(message)): the schema was altered, or made by another version"
        case "25006":
            return "this PostgreSQL is read-only (\(message)): a standby; point --store at the primary"
        default:
            return nil
        }
    }

    // MARK: Reading

    typealias Row = (Int64, String, Int64, UUID, String, Int64, Int64, ByteBuffer, ByteBuffer, Int64)

    /// Decodes rows and checks each event's CRC: a changed row is reported
    /// with its position, never returned.
    static func decode(_ rows: PostgresRowSequence) async throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        for try await row in rows.decode(Row.self) {
            out.append(try event(row))
        }
        return out
    }

    static func event(_ row: Row) throws -> RecordedEvent {
        let (position, stream, version, id, type, occurred, recorded, meta, data, crc) = row
        let e = RecordedEvent(position: Position(UInt64(position)), stream: stream, version: StreamVersion(UInt64(version)),
                              id: EventID(id), type: type, occurredAt: Timestamp(microseconds: occurred),
                              recordedAt: Timestamp(microseconds: recorded),
                              metadata: Array(meta.readableBytesView), data: Array(data.readableBytesView))
        let actual = Int64(EventCanon.crc(EventCanon.canonical(e)))
        guard actual == crc else {
            throw ChronikLogError(.corruption, "chronik_events position \(position): CRC32C \(String(UInt32(truncatingIfNeeded: crc), radix: 16)) stored, \(String(UInt32(truncatingIfNeeded: actual), radix: 16)) computed: the row was changed outside Chronik",
                                  path: "chronik_events", offset: position)
        }
        return e
    }
}

extension EventCanon {
    static func canonical(_ e: RecordedEvent) -> [UInt8] {
        bytes(stream: e.stream, id: e.id, type: e.type, occurredAt: e.occurredAt, metadata: e.metadata, data: e.data)
    }
}

/// The arguments of one `chronik_append` call: a group's batches as
/// per-batch and per-event arrays.
struct AppendArguments: Sendable {
    /// Per batch: status, first position, first version, actual version
    /// (refused for its expected version), and a retry's original positions
    /// and versions.
    typealias Row = (Int32, Int64?, Int64?, Int64?, [Int64]?, [Int64]?)

    var streams: [String] = [], expected: [Int64] = [], counts: [Int32] = []
    var ids: [UUID] = [], types: [String] = [], occurred: [Int64] = [], crcs: [Int64] = []
    var metas: [ByteBuffer] = [], datas: [ByteBuffer] = []
    /// One element per batch: its events' digests, concatenated (the
    /// function chains them as they come).
    var digests: [ByteBuffer] = []

    init(_ group: [GroupBatch]) {
        let n = group.reduce(0) { $0 + $1.events.count }
        ids.reserveCapacity(n); types.reserveCapacity(n); occurred.reserveCapacity(n); crcs.reserveCapacity(n)
        // The bytea elements are slices of three buffers (one allocation
        // each, not one per element); postgres-nio copies each element's
        // readable bytes into the message.
        var metaBytes = ByteBuffer(), dataBytes = ByteBuffer(), digestBytes = ByteBuffer()
        metaBytes.reserveCapacity(group.reduce(0) { $0 + $1.events.reduce(0) { $0 + $1.metadata.count } })
        dataBytes.reserveCapacity(group.reduce(0) { $0 + $1.events.reduce(0) { $0 + $1.data.count } })
        var metaLengths: [Int] = [], dataLengths: [Int] = []
        metaLengths.reserveCapacity(n); dataLengths.reserveCapacity(n)
        digestBytes.reserveCapacity(32 * n)
        for r in group {
            streams.append(r.stream); expected.append(Schema.code(r.expected)); counts.append(Int32(r.events.count))
            crcs.append(contentsOf: r.crcs)
            digestBytes.writeBytes(r.digests)
            for e in r.events {
                ids.append(e.id.uuid); types.append(e.type); occurred.append(e.occurredAt.microseconds)
                metaLengths.append(metaBytes.writeBytes(e.metadata))
                dataLengths.append(dataBytes.writeBytes(e.data))
            }
        }
        // Sliced once every byte is written: a slice shares its buffer's
        // storage, so a write after it would copy the buffer.
        func slices(_ buffer: ByteBuffer, lengths: some Sequence<Int>) -> [ByteBuffer] {
            var start = 0
            return lengths.map { length in
                defer { start += length }
                return buffer.getSlice(at: start, length: length)!
            }
        }
        metas = slices(metaBytes, lengths: metaLengths)
        datas = slices(dataBytes, lengths: dataLengths)
        digests = slices(digestBytes, lengths: group.lazy.map { 32 * $0.events.count })
    }

    /// The call on `conn`, in its open transaction: one row per batch, and
    /// what the commit must reach on a synchronous standby (nil when no
    /// synchronous standby is configured).
    func call(on conn: PostgresConnection, logger: Logger) async throws -> ([Row], SyncMark?) {
        try await ConnectionSlot.whileOpen(conn) { [self] in
            var rows: [Row] = []
            var mark: SyncMark?
            // The WAL insert position is read after the function has inserted
            // every row (a PL/pgSQL set-returning function is run whole
            // first): the commit record comes after it, so a standby that
            // flushed the commit has flushed past it.
            let result = try await conn.query("""
                SELECT a.*, pg_current_wal_insert_lsn()::text,
                       CASE WHEN current_setting('synchronous_standby_names') = '' THEN NULL
                            ELSE current_setting('synchronous_commit') END
                FROM chronik_append(\(streams), \(expected), \(counts), \(ids), \(types), \(occurred),
                                    \(metas), \(datas), \(crcs), \(digests)) a
                """, logger: logger)
            for try await row in result.decode((Int32, Int64?, Int64?, Int64?, [Int64]?, [Int64]?, String, String?).self) {
                rows.append((row.0, row.1, row.2, row.3, row.4, row.5))
                if mark == nil, let mode = row.7 { mark = SyncMark(lsn: row.6, mode: mode) }
            }
            return (rows, mark)
        }
    }
}

/// What a group's COMMIT must have reached on a synchronous standby before
/// it is acknowledged: a WAL position and the `synchronous_commit` level.
/// A COMMIT whose wait for the standby was cancelled (`pg_cancel_backend`)
/// returns as if it had waited — PostgreSQL says otherwise only in a
/// WARNING, which postgres-nio drops — so the writer asks the standby's
/// position itself (`PostgresStore.confirmReplicated`).
struct SyncMark: Sendable, Equatable {
    var lsn: String
    var mode: String

    /// The `pg_stat_replication` column that `synchronous_commit` waits on,
    /// or nil for the levels that wait for no standby.
    var column: String? {
        switch mode {
        case "on": "flush_lsn"
        case "remote_apply": "replay_lsn"
        case "remote_write": "write_lsn"
        default: nil
        }
    }
}

/// One batch of a group, with what `chronik_append` needs besides the
/// events: each event's CRC32C and SHA-256 digest of its canonical bytes.
struct GroupBatch: Sendable {
    var stream: String
    var expected: ExpectedVersion
    var events: [ProposedEvent]
    var crcs: [Int64]
    /// The events' digests, 32 bytes each, one after the other.
    var digests: [UInt8]

    init(stream: String, expected: ExpectedVersion, events: [ProposedEvent]) {
        self.stream = stream
        self.expected = expected
        self.events = events
        crcs = []
        crcs.reserveCapacity(events.count)
        digests = []
        digests.reserveCapacity(32 * events.count)
        // One buffer for every event's canonical bytes, reused.
        var canon: [UInt8] = []
        for e in events {
            canon.removeAll(keepingCapacity: true)
            EventCanon.append(stream: stream, id: e.id, type: e.type, occurredAt: e.occurredAt,
                              metadata: e.metadata, data: e.data, to: &canon)
            crcs.append(Int64(EventCanon.crc(canon)))
            SHA256.hash(data: canon).withUnsafeBytes { digests.append(contentsOf: $0) }
        }
    }
}

/// One `append` call waiting for the writer task.
struct PendingAppend: Sendable {
    var batch: GroupBatch
    var continuation: CheckedContinuation<AppendResult, any Error>
}

struct WriteQueue {
    var pending: [PendingAppend] = []
    var draining = false
    /// The writer connection, in a transaction `beginNext` opened and no
    /// group has used yet.
    var begun: PostgresConnection?
    /// Whether the server said once that it cannot see the standbys'
    /// positions (`confirmReplicated`).
    var replicationUnseenLogged = false
}

/// One lazily opened connection, reopened after a failure.
final class ConnectionSlot: Sendable {
    let location: PostgresStore.Location
    let logger: Logger
    let connection = Mutex<PostgresConnection?>(nil)
    /// Held by `getWaiting` while it connects.
    let connecting = Mutex<Void>(())
    static let ids = Atomic<Int>(0)

    init(location: PostgresStore.Location, logger: Logger) {
        self.location = location
        self.logger = logger
    }

    /// A store dropped without `close()` still closes its connection (a
    /// PostgresConnection must be closed before it is released).
    deinit {
        if let c = connection.withLock({ $0 }) { Self.discard(c) }
    }

    func get() async throws -> PostgresConnection {
        if let c = connection.withLock({ $0 }), !c.isClosed { return c }
        do {
            return install(try await PostgresConnection.connect(configuration: configuration, id: Self.nextID(), logger: logger))
        } catch {
            throw unreachable(error)
        }
    }

    /// `get()` for a synchronous caller (`PostgresKeyStore`): waits on
    /// PostgreSQL's event loop, never on a Swift task. One connect at a
    /// time: two callers racing would each replace, and close, the
    /// connection the other is using.
    func getWaiting() throws -> PostgresConnection {
        try connecting.withLock { _ in
            if let c = connection.withLock({ $0 }), !c.isClosed { return c }
            do {
                return install(try PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                                                              id: Self.nextID(), logger: logger).wait())
            } catch {
                throw unreachable(error)
            }
        }
    }

    private var configuration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                         password: location.password, database: location.database, tls: .disable)
    }

    private static func nextID() -> Int { ids.add(1, ordering: .relaxed).newValue }

    private func unreachable(_ error: any Error) -> ChronikLogError {
        // A server that answered and refused is said as such, with its own
        // words (stop 43, a helper: a wrong password, user or database was
        // "cannot be reached" and a dump of the error value).
        if let e = error as? PSQLError {
            if e.code == .authMechanismRequiresPassword {
                return ChronikLogError(.io, "PostgreSQL at \(location) asks for a password: give it in the URL (postgres://user:password@host:port/database)")
            }
            if let info = e.serverInfo, let state = info[.sqlState] {
                let what = switch state {
                case "28P01", "28000": "refused the login"
                case "3D000": "has no such database"
                default: "refused the connection"
                }
                return ChronikLogError(.io, "PostgreSQL at \(location) \(what): \(info[.message] ?? "no message") (SQLSTATE \(state))")
            }
        }
        return ChronikLogError(.io, "PostgreSQL at \(location) cannot be reached: \(String(reflecting: error))")
    }

    /// Makes `c` the slot's connection, closing the one it replaces.
    private func install(_ c: PostgresConnection) -> PostgresConnection {
        let old = connection.withLock { slot -> PostgresConnection? in
            defer { slot = c }
            return slot
        }
        if let old { Self.discard(old) }
        return c
    }

    /// Awaits `body`, a query on `conn`, but not forever: once `conn` has
    /// been closed for half a second while `body` still waits, it fails
    /// with `io` (the query's outcome unknown: a COMMIT may or may not have
    /// happened, so the caller's message says to retry with the same ids).
    /// Under load, a query whose server was SIGKILLed sometimes never
    /// returned although its connection had closed (the failover test's
    /// appender child waited forever). A query that is only slow (COMMIT
    /// waiting for a stopped standby) is waited for as long as it takes.
    static func whileOpen<T: Sendable>(_ conn: PostgresConnection,
                                       _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let waiting = Once<T>()
        return try await withCheckedThrowingContinuation { c in
            waiting.set(c)
            let work = Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                waiting.take()?.resume(with: result)
            }
            // Polls rather than hooking `conn.closeFuture`: a future's
            // callbacks are never removed, so one per query would pile up
            // on a writer connection that lives for days.
            Task {
                var closedSince: ContinuousClock.Instant?
                while waiting.isWaiting {
                    try? await Task.sleep(for: .milliseconds(50))
                    guard conn.isClosed else { continue }
                    let since = closedSince ?? .now
                    closedSince = since
                    if ContinuousClock.now - since >= .milliseconds(500) {
                        waiting.take()?.resume(throwing: ChronikLogError(.io, "the connection closed and the query never answered"))
                        work.cancel()
                        return
                    }
                }
            }
        }
    }

    /// The continuation of `whileOpen`, resumed by whichever comes first.
    final class Once<T: Sendable>: Sendable {
        let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)
        func set(_ c: CheckedContinuation<T, any Error>) { continuation.withLock { $0 = c } }
        /// The continuation, once: nil after the first take.
        func take() -> CheckedContinuation<T, any Error>? { continuation.withLock { $0.take() } }
        var isWaiting: Bool { continuation.withLock { $0 != nil } }
    }

    /// Closes a connection without waiting for it to report closed: the
    /// close of a connection whose server died mid-query (the failover
    /// test's SIGKILL) sometimes never completed, and an append waiting on
    /// it never returned — every append queued behind it waited too.
    static func discard(_ c: PostgresConnection) {
        let closing: EventLoopFuture<Void> = c.close()
        // Kept alive until closed: a PostgresConnection released before its
        // close completes traps (postgres-nio's deinit assertion).
        closing.whenComplete { _ in withExtendedLifetime(c) {} }
    }

    /// Runs `body` on the connection; a failure closes it, so that the next
    /// call reconnects (after a restart or a failover).
    func run<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let c = try await get()
        do {
            return try await body(c)
        } catch {
            if let e = error as? ChronikLogError, e.code != .io { throw e }
            connection.withLock { if $0 === c { $0 = nil } }
            Self.discard(c)
            throw PostgresStore.ioError("query failed", error)
        }
    }

    /// The connection calls use now, if one is open.
    var current: PostgresConnection? { connection.withLock { $0 } }

    /// Forgets a broken connection, so that the next call reconnects.
    func drop(_ c: PostgresConnection) async {
        connection.withLock { if $0 === c { $0 = nil } }
        Self.discard(c)
    }

    /// `run` for reads, which are safe to repeat: one retry on a fresh
    /// connection after an I/O failure (a restart between two reads).
    ///
    /// Each try is bounded by `whileOpen`: a query on a connection that a
    /// restart closed never returned, and a subscription waiting on it
    /// froze for good, without heartbeats (stop 35: after `pg_ctl restart`).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let bounded: (PostgresConnection) async throws -> T = { c in try await Self.whileOpen(c) { try await body(c) } }
        do {
            return try await run(bounded)
        } catch let e as ChronikLogError where e.code == .io {
            return try await run(bounded)
        }
    }

    func close() async {
        let c = connection.withLock { slot -> PostgresConnection? in
            let c = slot
            slot = nil
            return c
        }
        guard let c else { return }
        // A healthy connection closes at once; one that broke may never
        // say so (see `discard`), so wait a little, not forever.
        Self.discard(c)
        let deadline = ContinuousClock.now + .seconds(2)
        while !c.isClosed, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }
}
