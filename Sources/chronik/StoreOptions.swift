import ArgumentParser
import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikPostgres

/// `--store postgres://user@host:port/db`: the commands that work on a
/// PostgreSQL store as on a log directory (serve, append, read, export;
/// docs/POSTGRES.md). Exclusive with `--log`.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Use a PostgreSQL store instead of a log directory (not with --log).",
                               valueName: "postgres://user@host:port/db"))
    var store: String?

    /// Usage errors (exit 64) before anything connects: `--log` with
    /// `--store`, a malformed URL, and `others`, the options of the
    /// command that only a log directory has.
    func validate(with options: GlobalOptions, notWith others: [(name: String, given: Bool)] = []) throws {
        try Self.validate(store, with: options, notWith: others)
    }

    /// The same for a command whose `--store` is its own option (`verify`).
    static func validate(_ store: String?, with options: GlobalOptions, notWith others: [(name: String, given: Bool)] = []) throws {
        guard let store else { return }
        if options.log != nil { throw ValidationError("--log and --store are exclusive: use a log directory or a PostgreSQL store") }
        for o in others where o.given {
            throw ValidationError("\(o.name) works on a log directory, not with --store")
        }
        do { _ = try PostgresStore.Location(url: store) } catch let e as ChronikLogError { throw ValidationError(e.message) }
    }

    /// Runs `body` with the store, closing it after (also on an error).
    func withStore<T>(_ url: String, _ body: (PostgresStore) async throws -> T) async throws -> T {
        let store = try PostgresStore(url: url)
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

/// An unknown stream is an error on a store as in a log (`requireStream`).
func requireStream(_ stream: String, in store: PostgresStore) async throws {
    guard try await store.lastVersion(of: stream) == nil else { return }
    throw CommandFailure("no stream \(stream) in \(store.location)")
}

/// Events of a store read newest first: pages of `pageSize` from `top`
/// (a stream version with `stream`, else a position) down to 0.
func readBackward(_ store: PostgresStore, stream: String?, from top: UInt64,
                  _ body: (RecordedEvent) throws -> Bool) async throws {
    let pageSize: UInt64 = 1024
    var high = top
    while true {
        let low = high >= pageSize - 1 ? high - (pageSize - 1) : 0
        let page = if let stream {
            try await store.readStream(stream, from: StreamVersion(low), limit: Int(high - low + 1))
        } else {
            try await store.readAll(from: Position(low), limit: Int(high - low + 1))
        }
        // The rows must reach the top the head row gave (stop 43, a helper:
        // rows deleted at the end were skipped unsaid).
        if stream == nil, high == top, page.count < Int(high - low + 1) {
            throw rowsEndBeforeHead(store, at: low + UInt64(page.count), head: top + 1)
        }
        for e in page.reversed() where (stream == nil ? e.position.value : e.version.value) <= high {
            guard try body(e) else { return }
        }
        if low == 0 { return }
        high = low - 1
    }
}

/// Events of a store read oldest first, in pages of 4,096, from `start`
/// (a stream version with `stream`, else a position), until `body` says stop.
func readForward(_ store: PostgresStore, stream: String?, from start: UInt64,
                 _ body: (RecordedEvent) throws -> Bool) async throws {
    let pageSize = 4096
    var next = start
    while true {
        let page = if let stream {
            try await store.readStream(stream, from: StreamVersion(next), limit: pageSize)
        } else {
            try await store.readAll(from: Position(next), limit: pageSize)
        }
        for e in page { guard try body(e) else { return } }
        guard let last = page.last, page.count == pageSize else {
            if stream == nil { try await checkRowsReachHead(store, from: page.last.map { $0.position.value + 1 } ?? next) }
            return
        }
        next = (stream == nil ? last.position.value : last.version.value) + 1
    }
}

/// Refuses a store whose rows end at `from` while its head row says more
/// (unless an append committed there since the read): rows deleted outside
/// Chronik at its end, which a read would otherwise take for the end (stop
/// 43, a helper: `read` and `export --store` returned 3 of 4 events, exit 0).
/// `head`: the head row's, when the caller has just read it.
func checkRowsReachHead(_ store: PostgresStore, from: UInt64, head known: UInt64? = nil) async throws {
    let head = if let known { known } else { try await store.headPosition().value }
    guard head > from, try await store.readAll(from: Position(from), limit: 1).isEmpty else { return }
    throw rowsEndBeforeHead(store, at: from, head: head)
}

/// Refuses a store whose head row names a last position that has no row:
/// rows deleted at its end (`checkRowsReachHead`). The head row and that
/// row are committed together, so no append in flight explains it.
func checkLastRowPresent(_ store: PostgresStore) async throws {
    let head = try await store.headPosition().value
    guard head > 0, try await store.readAll(from: Position(head - 1), limit: 1).isEmpty else { return }
    throw CommandFailure("\(store.location): its head row says \(head) events and position \(head - 1) has no row: rows were deleted outside Chronik; chronik verify --store names the damage")
}

func rowsEndBeforeHead(_ store: PostgresStore, at end: UInt64, head: UInt64) -> CommandFailure {
    CommandFailure("\(store.location): its rows end at position \(end), its head row says \(head) events: rows were deleted outside Chronik; chronik verify --store names the damage")
}

/// The key store of a PostgreSQL store, opened with the master key in the
/// file at `path` (`serve --store` and `export --store` take it as
/// --master-key).
func masterKeyStore(_ path: String, for store: PostgresStore) throws -> PostgresKeyStore {
    do {
        return try PostgresKeyStore(location: store.location, masterKey: try PostgresKeyStore.readMasterKey(path: path))
    } catch let e as KeyStoreError {
        throw CommandFailure("--master-key: \(e)")
    }
}
