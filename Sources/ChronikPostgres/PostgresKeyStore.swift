import ChronikAudit
import ChronikLog
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Per-subject keys of personal data in the store's own database
/// (docs/POSTGRES.md, "Personal data on a shared store"): every server of
/// one store seals a customer's data under the same key, and an erasure on
/// one server holds on all of them.
///
/// - One row per subject in `chronik_subject_keys`: the 64-byte key sealed
///   with AES-256-GCM under a 32-byte master key that the servers hold (a
///   file, the same on each) and the database never sees, the subject as
///   associated data. A dump or a backup of the database alone opens no
///   personal data.
/// - Creation is `INSERT … ON CONFLICT DO NOTHING`, then a read: two
///   servers creating a subject's key at once both get the one committed.
///   It commits like an append (synchronous standby), so a key is durable
///   before the event sealed with it is appended.
/// - Destruction clears the sealed key in the same statement that notifies
///   `chronik_keys`; each store LISTENs and advances `revision`, so that
///   every `SubjectKeyVault` drops the keys it cached. A destroyed subject
///   can never get a key again.
///
/// Calls are synchronous (`SubjectKeyStore` is): each waits for one round
/// trip on PostgreSQL's own event loop, never on a Swift task, and only
/// when the vault has not cached the key.
public final class PostgresKeyStore: SubjectKeyStore, Sendable {
    public let location: PostgresStore.Location
    let master: SymmetricKey
    let logger: Logger
    /// A few connections, taken in turn: creating a key waits for a
    /// synchronous commit, and concurrent creations share the WAL flush
    /// only on separate connections.
    let pool: [ConnectionSlot]
    let nextSlot = Atomic<Int>(0)
    static let poolSize = 4
    let changes = Counter()
    let listener: Listener
    /// How long one query may go unanswered before the call fails.
    static let timeout: TimeAmount = .seconds(15)
    static let maxSubjectBytes = 512

    /// - Parameter masterKey: 32 bytes (`chronik serve --master-key FILE`).
    /// - Throws: `KeyStoreError` for a master key of another size.
    public init(location: PostgresStore.Location, masterKey: [UInt8]) throws {
        guard masterKey.count == 32 else {
            throw KeyStoreError("the master key must be 32 bytes, got \(masterKey.count)")
        }
        var logger = Logger(label: "chronik.postgres.keys")
        logger.logLevel = .critical
        self.location = location
        self.master = SymmetricKey(data: masterKey)
        self.logger = logger
        self.pool = (0..<Self.poolSize).map { _ in ConnectionSlot(location: location, logger: logger) }
        // Listening from its start on: what was sent before is assumed missed.
        let changes = self.changes
        listener = Listener(location: location, logger: logger, channel: "chronik_keys",
                            onListening: { changes.value.add(1, ordering: .releasing) },
                            onNotification: { changes.value.add(1, ordering: .releasing) })
    }

    /// Reads a master key file: exactly 32 bytes, readable by its owner
    /// only (like `--tokens`).
    public static func readMasterKey(path: String) throws -> [UInt8] {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw KeyStoreError("cannot read the master key file", path: path)
        }
        if let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw KeyStoreError("the master key file is readable by others (mode \(String(mode, radix: 8))); chmod 600 it", path: path)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyStoreError("cannot read the master key file", path: path)
        }
        guard data.count == 32 else {
            throw KeyStoreError("a master key file holds exactly 32 bytes (head -c 32 /dev/urandom > FILE), this one \(data.count)", path: path)
        }
        return Array(data)
    }


    /// Advances whenever another server may have destroyed a key: on each
    /// notification, and each time the listening connection (re)connects,
    /// since notifications sent while it was away are lost.
    public var revision: UInt64 {
        listener.startIfNeeded()
        return changes.value.load(ordering: .acquiring)
    }

    public func key(for subject: String, create: Bool) throws -> [UInt8]? {
        try Self.check(subject)
        let revision = self.revision
        if let k = cached(subject, at: revision) { return k }
        if create {
            let fresh = try SubjectKeyMaterial.random()
            let sealed = ByteBuffer(bytes: try seal(fresh, subject: subject))
            // One round trip for a new subject: the read below only when
            // the subject already had a row (another server's key, or none).
            let inserted = try run { conn in
                conn.query("""
                    INSERT INTO chronik_subject_keys (subject, sealed) VALUES (\(subject), \(sealed))
                    ON CONFLICT (subject) DO NOTHING RETURNING 1
                    """, logger: self.logger).map { !$0.rows.isEmpty }
            }
            if inserted { return fresh }
        }
        let rows = try run { conn in
            conn.query("SELECT sealed FROM chronik_subject_keys WHERE subject = \(subject)", logger: self.logger).map(\.rows)
        }
        guard let row = rows.first, let sealed = try row.decode(ByteBuffer?.self) else { return nil }
        return try open(Array(sealed.readableBytesView), subject: subject)
    }

    // MARK: Every key at once

    /// The keys `preload()` read, valid while `revision` is unchanged (a
    /// key destroyed elsewhere empties it).
    let preloaded = Mutex<(revision: UInt64, keys: [String: [UInt8]])>((.max, [:]))

    func cached(_ subject: String, at revision: UInt64) -> [UInt8]? {
        preloaded.withLock { p in
            if p.revision != revision, !p.keys.isEmpty { p = (.max, [:]) }
            return p.keys[subject]
        }
    }

    /// Reads every live key in one query, so that a server's start — its
    /// models replaying the store, opening each order's session IP — makes
    /// no round trip per subject. Keys stay in memory (~150 bytes each, as
    /// `FileKeyStore` keeps the shards it read) until a key is destroyed
    /// anywhere, which empties the set. Waits (at most 10 s) until the
    /// store listens for destructions, so that none is missed.
    /// - Returns: how many keys were read.
    @discardableResult
    public func preload() throws -> Int {
        listener.startIfNeeded()
        let deadline = ContinuousClock.now + .seconds(10)
        while changes.value.load(ordering: .acquiring) == 0, ContinuousClock.now < deadline { usleep(5_000) }
        let revision = changes.value.load(ordering: .acquiring)
        guard revision > 0 else { throw KeyStoreError("PostgreSQL at \(location) did not take LISTEN in 10 s") }
        let check = Self.masterCheckSubject
        let rows = try run { conn in
            conn.query("SELECT subject, sealed FROM chronik_subject_keys WHERE sealed IS NOT NULL AND subject <> \(check)",
                       logger: self.logger).map(\.rows)
        }
        var keys: [String: [UInt8]] = [:]
        keys.reserveCapacity(rows.count)
        for row in rows {
            let (subject, sealed) = try row.decode((String, ByteBuffer).self)
            keys[subject] = try open(Array(sealed.readableBytesView), subject: subject)
        }
        // The store's master key, fixed by the first server that gets here
        // (after the keys it holds opened): a row sealed under it that
        // every later server must open (stop 35: on a fresh store two
        // servers with different master keys both started, each sealing
        // its customers under its own key).
        do { _ = try key(for: check, create: true) } catch {
            throw KeyStoreError("this master key is not the store's: \(location) was first used with another --master-key file (its check row does not open with this one)")
        }
        let count = keys.count
        preloaded.withLock { $0 = (revision, keys) }
        return count
    }

    /// The subject of the row that fixes a store's master key.
    static let masterCheckSubject = "chronik:master-key-check"

    public func destroy(subject: String) throws {
        try Self.check(subject)
        preloaded.withLock { _ = $0.keys.removeValue(forKey: subject) }
        try run { conn in
            conn.query("""
                WITH d AS (
                    INSERT INTO chronik_subject_keys (subject, sealed, destroyed_at) VALUES (\(subject), NULL, now())
                    ON CONFLICT (subject) DO UPDATE
                        SET sealed = NULL, destroyed_at = coalesce(chronik_subject_keys.destroyed_at, now())
                    RETURNING subject)
                SELECT pg_notify('chronik_keys', subject) FROM d
                """, logger: self.logger).map { _ in () }
        }
    }

    public func isDestroyed(subject: String) -> Bool {
        let rows = try? run { conn in
            conn.query("SELECT destroyed_at IS NOT NULL FROM chronik_subject_keys WHERE subject = \(subject)",
                       logger: self.logger).map(\.rows)
        }
        return (try? rows?.first?.decode(Bool.self)) == true
    }

    /// Nothing to do: each key is committed (and on the standby) before
    /// `key(for:create:)` returns.
    public func sync() throws {}

    // MARK: Sealing under the master key

    func seal(_ key: [UInt8], subject: String) throws -> [UInt8] {
        do {
            return Array(try AES.GCM.seal(key, using: master, authenticating: Array(subject.utf8)).combined!)
        } catch {
            throw KeyStoreError("sealing the key of \(subject) failed: \(error)")
        }
    }

    func open(_ sealed: [UInt8], subject: String) throws -> [UInt8] {
        let key: [UInt8]
        do {
            key = Array(try AES.GCM.open(try AES.GCM.SealedBox(combined: sealed), using: master, authenticating: Array(subject.utf8)))
        } catch {
            throw KeyStoreError("the key of \(subject) in \(location) does not open with this master key (another server's master key file, or an altered row)")
        }
        guard key.count == 64 else { throw KeyStoreError("the key of \(subject) in \(location) is \(key.count) bytes, not 64") }
        return key
    }

    static func check(_ subject: String) throws {
        let n = subject.utf8.count
        guard n >= 1, n <= maxSubjectBytes, !subject.utf8.contains(0) else {
            throw KeyStoreError("subject \"\(subject.prefix(80))\" is not a valid key name")
        }
    }

    // MARK: A few connections, waited on synchronously

    /// Runs `body` on the next connection and waits for it; after a failure on a
    /// closed connection (a restart, a failover) reconnects and runs it once
    /// more — every statement here may run twice.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) -> EventLoopFuture<T>) throws -> T {
        var attempt = 0
        let slot = pool[nextSlot.add(1, ordering: .relaxed).newValue % pool.count]
        while true {
            let conn: PostgresConnection
            do { conn = try slot.getWaiting() } catch let e as ChronikLogError { throw KeyStoreError(e.message) }
            let promise = conn.eventLoop.makePromise(of: T.self)
            body(conn).cascade(to: promise)
            // postgres-nio may never answer a query on a connection whose
            // server died (POSTGRES.md): the wait is bounded.
            let timer = conn.eventLoop.scheduleTask(in: Self.timeout) {
                promise.fail(KeyStoreError("PostgreSQL at \(self.location) did not answer in 15 s"))
            }
            do {
                let value = try promise.futureResult.wait()
                timer.cancel()
                return value
            } catch {
                timer.cancel()
                let closed = conn.isClosed || error is KeyStoreError
                if closed {
                    slot.connection.withLock { if $0 === conn { $0 = nil } }
                    ConnectionSlot.discard(conn)
                }
                attempt += 1
                guard closed, attempt < 2 else {
                    if let e = error as? KeyStoreError { throw e }
                    throw KeyStoreError("the key store in \(location) failed: \(String(reflecting: error))")
                }
            }
        }
    }
}

/// A counter the listening task shares without holding the store.
final class Counter: Sendable {
    let value = Atomic<UInt64>(0)
}
