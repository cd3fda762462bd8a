import ChronikAudit
import ChronikCommerce
import ChronikLog
@testable import ChronikPostgres
import Foundation
import PostgresNIO
import Testing

// Personal data on a shared store: the servers of one store (each its own
// PostgresKeyStore) seal a customer under one key even when they create it
// at the same moment; the database holds each key only sealed under the
// servers' master key; an erasure on one server holds on the others (their
// vaults drop what they cached); and a server with another master key is
// refused, never handed a key it would mis-seal with.
@Suite("PostgresKeyStore", .serialized, .enabled(if: postgresAvailable))
struct PostgresKeyStoreTests {
    static let master = (0..<32).map { UInt8($0 &* 7 &+ 1) }

    @Test func theServersOfOneStoreShareOneKeyPerSubjectSealedUnderTheMasterKey() async throws {
        let (_, store) = try await freshStore("t_keys_share")
        let servers = try (0..<4).map { _ in try PostgresKeyStore(location: store.location, masterKey: Self.master) }
        // Every server creates the same subject's key at once.
        let keys = await withTaskGroup(of: [UInt8]?.self) { group in
            for s in servers {
                for _ in 0..<3 {
                    group.addTask {
                        do { return try await Task.detached { try s.key(for: "customer-c0", create: true) }.value } catch {
                            Issue.record("key(for:create:) failed: \(error)")
                            return nil
                        }
                    }
                }
            }
            var all: [[UInt8]?] = []
            for await k in group { all.append(k) }
            return all
        }
        #expect(keys.count == 12 && keys.allSatisfy { $0?.count == 64 })
        #expect(Set(keys.compactMap { $0 }).count == 1, "one key per subject, whichever server created it")
        let key = try #require(keys.first ?? nil)

        // The row holds the key sealed, not the key.
        let sealed = try await store.readerConnection.read { conn -> [UInt8] in
            for try await b in try await conn.query("SELECT sealed FROM chronik_subject_keys WHERE subject = 'customer-c0'",
                                                    logger: store.logger).decode(ByteBuffer.self) {
                return Array(b.readableBytesView)
            }
            return []
        }
        #expect(sealed.count == 12 + 64 + 16)
        #expect(!sealed.indices.dropLast(63).contains { Array(sealed[$0..<($0 + 64)]) == key }, "the plaintext key is in the row")
        #expect(try servers[0].key(for: "customer-unknown", create: false) == nil)

        // Another master key opens nothing, and says why.
        let other = try PostgresKeyStore(location: store.location, masterKey: [UInt8](repeating: 9, count: 32))
        #expect(throws: KeyStoreError.self) { try other.key(for: "customer-c0", create: true) }
        let refused = #expect(throws: KeyStoreError.self) { try other.key(for: "customer-c0", create: false) }
        #expect(refused?.message.contains("master key") == true, "\(String(describing: refused))")
        #expect(throws: KeyStoreError.self) { try PostgresKeyStore(location: store.location, masterKey: [1, 2, 3]) }
        await store.close()
    }

    @Test func anErasureOnOneServerHoldsOnTheOthers() async throws {
        let (_, store) = try await freshStore("t_keys_erase")
        let a = SubjectKeyVault(store: try PostgresKeyStore(location: store.location, masterKey: Self.master))
        let b = SubjectKeyVault(store: try PostgresKeyStore(location: store.location, masterKey: Self.master))
        let subject = PIISubject.customer("c1")
        let context = Array("email".utf8)
        // B seals (its vault caches the key) and A opens it: one key.
        let sealed = try await Task.detached { try b.seal(Array("ada@example.com".utf8), subject: subject, context: context) }.value
        #expect(try a.open(sealed, subject: subject, context: context) == Array("ada@example.com".utf8))
        #expect(try b.open(sealed, subject: subject, context: context) != nil)

        try a.destroyKey(subject: subject)
        #expect(a.store.isDestroyed(subject: subject))
        #expect(b.store.isDestroyed(subject: subject), "the destruction is in the shared table")
        // B's vault drops its cached key once the notification arrives.
        var stillOpens = true
        for _ in 0..<100 where stillOpens {
            stillOpens = try b.open(sealed, subject: subject, context: context) != nil
            if stillOpens { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(!stillOpens, "server B still opened erased data 5 s after the erasure on server A")
        #expect(throws: KeyStoreError.self) { try b.seal(Array("new".utf8), subject: subject, context: context) }
        #expect(try b.store.key(for: subject, create: true) == nil, "a destroyed subject never gets a key again")
        try a.destroyKey(subject: subject)  // again: idempotent
        // A subject destroyed before it ever had a key cannot get one either.
        try b.destroyKey(subject: PIISubject.customer("never"))
        #expect(try a.store.key(for: PIISubject.customer("never"), create: true) == nil)
        await store.close()
    }

    /// `preload()` reads every live key in one query and answers from
    /// memory after (a row removed behind its back still answers), until a
    /// key is destroyed anywhere: then it reads the database again.
    /// Stop 18's CI: `preload()` failed with "did not take LISTEN in 10 s"
    /// when the task pool's threads were all held (its own caller blocked in
    /// the wait, the other thread by another suite's long test), because the
    /// listener that had to take the LISTEN was a task of that same pool.
    @Test func theListenerTakesItsLISTENWhileEveryThreadOfTheTaskPoolIsHeld() async throws {
        // In a child process (ChronikPostgresChild preload-held): holding
        // every thread of this process's pool stalled other suites' servers
        // past their timeouts (stop 31's CI: an SSE test).
        let (_, store) = try await freshStore("t_keys_pool")
        let writer = try PostgresKeyStore(location: store.location, masterKey: Self.master)
        _ = try writer.key(for: "customer:held", create: true)
        let keyFile = NSTemporaryDirectory() + "chronik-preload-held-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        #expect(FileManager.default.createFile(atPath: keyFile, contents: Data(Self.master), attributes: [.posixPermissions: 0o600]))
        let child = try await runBuilt("ChronikPostgresChild", ["preload-held", "\(store.location)", keyFile])
        #expect(child.status == 0, "\(child.stdout) \(child.stderr)")
        #expect(child.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "loaded 1", "\(child.stdout)")
        await store.close()
    }

    @Test func preloadedKeysAnswerFromMemoryUntilAKeyIsDestroyedAnywhere() async throws {
        let (_, store) = try await freshStore("t_keys_preload")
        let writer = try PostgresKeyStore(location: store.location, masterKey: Self.master)
        var created: [String: [UInt8]] = [:]
        for i in 0..<50 { created["customer:p\(i)"] = try writer.key(for: "customer:p\(i)", create: true) }
        try writer.destroy(subject: "customer:p49")
        let server = try PostgresKeyStore(location: store.location, masterKey: Self.master)
        #expect(try await Task.detached { try server.preload() }.value == 49, "the destroyed key is not read")
        _ = try await store.readerConnection.read { conn in
            try await conn.query("DELETE FROM chronik_subject_keys WHERE subject = 'customer:p0'", logger: store.logger)
        }
        #expect(try server.key(for: "customer:p0", create: false) == created["customer:p0"], "answered from memory")
        #expect(try server.key(for: "customer:p1", create: false) == created["customer:p1"])
        #expect(try server.key(for: "customer:p49", create: false) == nil)

        try writer.destroy(subject: "customer:p2")
        var p2: [UInt8]? = created["customer:p2"]
        for _ in 0..<200 where p2 != nil {
            p2 = try server.key(for: "customer:p2", create: false)
            if p2 != nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(p2 == nil, "a key destroyed on another server still answered 10 s later")
        #expect(try server.key(for: "customer:p0", create: false) == nil, "the memory was dropped: the removed row is gone")
        #expect(try server.key(for: "customer:p1", create: false) == created["customer:p1"])
        await store.close()
    }

    @Test func aFreshStoreTakesTheMasterKeyOfItsFirstServer() async throws {
        // Proves stop 35's finding: on a store without keys, two servers with different master keys both started and
        // each sealed its customers under its own key. The first to start fixes the store's key; another is refused.
        let (_, store) = try await freshStore("t_keys_master")
        let first = try PostgresKeyStore(location: store.location, masterKey: Self.master)
        #expect(try await Task.detached { try first.preload() }.value == 0, "the check row is not counted as a key")
        let other = try PostgresKeyStore(location: store.location, masterKey: [UInt8](repeating: 7, count: 32))
        await #expect(throws: KeyStoreError.self) { try await Task.detached { try other.preload() }.value }
        let again = try PostgresKeyStore(location: store.location, masterKey: Self.master)
        #expect(try await Task.detached { try again.preload() }.value == 0)
        await store.close()
    }
}
