import ChronikLog
@testable import ChronikPostgres
import Foundation
import Synchronization
import Testing

// The PostgreSQL store against a real primary + synchronous standby: the
// contract's rules (expected versions, idempotent retries, duplicate ids),
// gap-free positions under appenders in several processes, subscriptions
// that resume after restarts, tampering caught by verify, and appends that
// wait for a stopped standby instead of being acknowledged without it.
@Suite("PostgresStore", .serialized, .enabled(if: postgresAvailable))
struct PostgresStoreTests {
    func event(_ type: String, _ json: String, id: EventID = .random()) -> ProposedEvent {
        ProposedEvent(id: id, type: type, data: Array(json.utf8), metadata: Array("{\"actor\":\"t\"}".utf8),
                      occurredAt: Timestamp(microseconds: 1_700_000_000_123_456))
    }

    /// Expects `body` to throw a ChronikLogError with `code`; returns it.
    @discardableResult
    func expectCode(_ code: ChronikLogError.Code, _ body: () async throws -> Void) async -> ChronikLogError? {
        do {
            try await body()
            Issue.record("expected \(code), nothing thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == code, "\(e)")
            return e
        } catch {
            Issue.record("expected \(code), got \(error)")
        }
        return nil
    }

    @Test func appendReadExpectedVersionAndIdempotentIds() async throws {
        let (_, store) = try await freshStore("t_basic")
        try await store.migrate()  // a second migrate changes nothing
        let first = [event("OrderPlaced", #"{"n":1}"#), event("OrderPaid", #"{"n":2}"#)]
        let r1 = try await store.append(to: "order-1", first, expected: .noStream)
        #expect(r1.positions == [Position(0), Position(1)])
        #expect(r1.versions == [StreamVersion(0), StreamVersion(1)])
        #expect(!r1.wasDuplicate)
        let r2 = try await store.append(to: "order-2", [event("OrderPlaced", #"{"n":3}"#)], expected: .any)
        #expect(r2.positions == [Position(2)] && r2.versions == [StreamVersion(0)])

        let conflict = await expectCode(.wrongExpectedVersion) {
            _ = try await store.append(to: "order-1", [self.event("X", "{}")], expected: .exact(0))
        }
        #expect(conflict?.actualVersion == .some(1))
        await expectCode(.wrongExpectedVersion) { _ = try await store.append(to: "order-1", [self.event("X", "{}")], expected: .noStream) }
        await expectCode(.wrongExpectedVersion) { _ = try await store.append(to: "nope", [self.event("X", "{}")], expected: .exists) }
        let r3 = try await store.append(to: "order-1", [event("OrderShipped", "{}")], expected: .exact(1))
        #expect(r3.positions == [Position(3)] && r3.versions == [StreamVersion(2)])

        // An idempotent retry: same ids, same content -> original positions, nothing written.
        let retry = try await store.append(to: "order-1", first, expected: .noStream)
        #expect(retry.wasDuplicate)
        #expect(retry.positions == r1.positions && retry.versions == r1.versions)
        // The same id for other content, or a batch only partly known: refused.
        await expectCode(.duplicateEventId) {
            _ = try await store.append(to: "order-1", [self.event("OrderPlaced", #"{"n":99}"#, id: first[0].id)], expected: .any)
        }
        await expectCode(.duplicateEventId) {
            _ = try await store.append(to: "order-1", [first[0], self.event("New", "{}")], expected: .any)
        }
        await expectCode(.duplicateEventId) {
            let e = self.event("A", "{}")
            _ = try await store.append(to: "order-1", [e, e], expected: .any)
        }
        await expectCode(.invalidStreamName) { _ = try await store.append(to: "", [self.event("A", "{}")], expected: .any) }
        await expectCode(.invalidBatch) { _ = try await store.append(to: "s", [], expected: .any) }
        #expect(try await store.headPosition() == Position(4), "refused appends wrote nothing")

        let stream = try await store.readStream("order-1", from: StreamVersion(0), limit: 10)
        #expect(stream.map(\.type) == ["OrderPlaced", "OrderPaid", "OrderShipped"])
        #expect(stream[0].data == first[0].data && stream[0].metadata == first[0].metadata)
        #expect(stream[0].id == first[0].id && stream[0].occurredAt == first[0].occurredAt)
        let all = try await store.readAll(from: Position(1), limit: 2)
        #expect(all.map(\.position) == [Position(1), Position(2)])
        let report = try await store.verify()
        #expect(report.events == 4 && report.batches == 3)
        await store.close()
    }

    /// `verify` beside appends checks one snapshot (stop 43, a helper: about
    /// half the runs of `chronik verify --store` during `append --store`
    /// failed with chainMismatch, the head row read after the rows).
    @Test func verifyBesideAppendsChecksOneSnapshot() async throws {
        let (cluster, store) = try await freshStore("t_verify_live")
        let writer = try PostgresStore(url: cluster.primary.url(database: "t_verify_live"))
        for i in 0..<20 { _ = try await writer.append(to: "s-\(i % 7)", (0..<20).map { self.event("A", "{\"i\":\($0)}") }, expected: .any) }
        let appends = Task {
            for i in 0..<300 { _ = try await writer.append(to: "live-\(i % 11)", [self.event("B", "{\"i\":\(i)}")], expected: .any) }
        }
        var verified: [UInt64] = []
        while !appends.isCancelled, verified.count < 40 {
            // Small pages: many reads, each a chance for an append to commit between them.
            let report = try await store.verify(pageSize: 7)
            verified.append(report.events)
            if report.events >= 700 { break }
        }
        try await appends.value
        #expect(verified.count >= 2, "verify ran beside the appends: \(verified)")
        #expect(verified == verified.sorted() && verified.first! >= 400, "\(verified)")
        #expect(try await store.verify().events == 700)
        await writer.close()
        await store.close()
    }

    /// Stream names and subjects are keys compared as bytes (`COLLATE "C"`),
    /// whatever locale the database has (this one: the cluster's, from the
    /// environment).
    @Test func textKeysCompareBytesWhateverTheDatabaseLocale() async throws {
        let (cluster, store) = try await freshStore("t_collate")
        let collations = try cluster.primary.psql("""
            SELECT table_name || '.' || column_name || '=' || coalesce(collation_name, 'default')
              FROM information_schema.columns
             WHERE table_name IN ('chronik_events', 'chronik_streams', 'chronik_subject_keys')
               AND column_name IN ('stream', 'subject') ORDER BY 1
            """, database: "t_collate")
        #expect(collations.split(separator: "\n") == ["chronik_events.stream=C", "chronik_streams.stream=C", "chronik_subject_keys.subject=C"])
        // Case variants are streams of their own; a decomposed name is refused as on the embedded log
        // (LogFormat.checkStreamName), so both backends agree on what one stream is.
        for name in ["caf\u{E9}", "Caf\u{E9}", "cafe", "Cafe"] {
            let r = try await store.append(to: name, [event("A", "{}")], expected: .noStream)
            #expect(r.versions == [StreamVersion(0)], "\(name)")
        }
        await expectCode(.invalidStreamName) { _ = try await store.append(to: "cafe\u{301}", [self.event("A", "{}")], expected: .any) }
        await expectCode(.invalidEventType) { _ = try await store.append(to: "s", [self.event("Cafe\u{301}Visited", "{}")], expected: .any) }
        #expect(try await store.headPosition() == Position(4))
        #expect(try await store.readStream("caf\u{E9}", from: StreamVersion(0), limit: 10).count == 1)
        await store.close()
    }

    /// A database made before the stream key was `COLLATE "C"` keeps its
    /// columns (`migrate()` rebuilds no index behind the operator's back)
    /// and says so with the statements that convert it; those statements
    /// work, and the history stays readable and verifiable through them.
    @Test func anOlderDatabasesStreamKeyIsNamedWithTheStatementsThatConvertIt() async throws {
        let (cluster, store) = try await freshStore("t_collate_old")
        #expect(try await store.migrate().isEmpty, "a new database has nothing to convert")
        _ = try await store.append(to: "order-1", [event("A", "{}"), event("B", "{}")], expected: .noStream)
        for table in ["chronik_events", "chronik_streams"] {
            try cluster.primary.psql("ALTER TABLE \(table) ALTER COLUMN stream TYPE text COLLATE \"default\"", database: "t_collate_old")
        }
        let notes = try await store.migrate()
        #expect(notes.count == 1)
        let note = try #require(notes.first)
        #expect(note.hasPrefix("chronik_events.stream and chronik_streams.stream compare by the database's locale"), "\(note)")
        let statements = note.components(separatedBy: "each rewrites that table's indexes): ").last ?? ""
        #expect(statements.components(separatedBy: ";").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count == 2, "\(note)")
        try cluster.primary.psql(statements, database: "t_collate_old")
        #expect(try await store.migrate().isEmpty)
        _ = try await store.append(to: "order-1", [event("C", "{}")], expected: .exact(1))
        #expect(try await store.readStream("order-1", from: StreamVersion(0), limit: 10).map(\.type) == ["A", "B", "C"])
        #expect(try await store.verify().events == 3)
        await store.close()
    }

    @Test func concurrentAppendersInSeveralProcessesGetGapFreePositions() async throws {
        let (cluster, store) = try await freshStore("t_procs")
        let url = cluster.primary.url(database: "t_procs")
        let children = try (0..<3).map { try AppenderProcess(url: url, appenders: 8, events: 40, prefix: "p\($0)") }
        var acks: [Ack] = []
        for child in children {
            let (a, errors, status) = try await child.finish()
            #expect(status == 0 && errors.isEmpty, "\(errors)")
            acks += a
        }
        #expect(acks.count == 3 * 8 * 40)
        #expect(Set(acks.map(\.position)).count == acks.count, "no position acknowledged twice")
        try await expectAcksStored(acks, in: store, allAcked: true)
        await store.close()
    }

    @Test func subscriptionResumesAfterARestartOfEitherSide() async throws {
        let (cluster, store) = try await freshStore("t_sub")
        for i in 0..<10 { _ = try await store.append(to: "s-\(i % 3)", [event("E", "{\"i\":\(i)}")], expected: .any) }
        let seen = Shared<[RecordedEvent]>([])
        let subscriber = Task {
            for try await e in store.subscribeAll(from: .start) {
                seen.withLock { $0.append(e) }
            }
        }
        func waitForSeen(_ n: Int) async throws {
            for _ in 0..<400 where seen.withLock({ $0.count }) < n { try await Task.sleep(for: .milliseconds(25)) }
            #expect(seen.withLock { $0.count } == n)
        }
        try await waitForSeen(10)
        // The server restarts under the subscriber and the writer.
        try cluster.primary.stop()
        try cluster.primary.start()
        try cluster.waitForSyncStandby()
        for i in 10..<20 { _ = try await store.append(to: "s-\(i % 3)", [event("E", "{\"i\":\(i)}")], expected: .any) }
        try await waitForSeen(20)
        // The consumer restarts: it resumes after the last position it saw.
        subscriber.cancel()
        _ = await subscriber.result
        let last = seen.withLock { $0.last!.position }
        for i in 20..<30 { _ = try await store.append(to: "s-\(i % 3)", [event("E", "{\"i\":\(i)}")], expected: .any) }
        let resumed = Task {
            for try await e in store.subscribeAll(from: Position(last.value + 1)) {
                let n = seen.withLock { $0.append(e); return $0.count }
                if n == 30 { return }
            }
        }
        try await waitForSeen(30)
        resumed.cancel()
        let positions = seen.withLock { $0.map(\.position.value) }
        #expect(positions == Array(0..<30), "every event once, in order, across both restarts")
        await store.close()
    }

    @Test func aRowChangedBehindChroniksBackIsCaught() async throws {
        let (cluster, store) = try await freshStore("t_tamper")
        for i in 0..<5 { _ = try await store.append(to: "o-\(i)", [event("E", "{\"i\":\(i)}"), event("F", "{}")], expected: .any) }
        _ = try await store.verify()
        // Batches hold 2 events: positions 4 and 5 are the third batch.
        var forged = try await store.readAll(from: Position(4), limit: 1)[0]
        forged.data = Array("{\"i\":7}".utf8)
        // Changed data: the CRC no longer matches; reads and verify refuse position 4.
        try cluster.primary.psql("UPDATE chronik_events SET data = convert_to('{\"i\":7}', 'UTF8') WHERE position = 4", database: "t_tamper")
        let crcError = await expectCode(.corruption) { _ = try await store.verify() }
        #expect(crcError?.offset == 4)
        await expectCode(.corruption) { _ = try await store.readAll(from: .start, limit: 100) }
        // The same change with a recomputed CRC: the chain catches it at that batch.
        let crc = Int64(EventCanon.crc(EventCanon.canonical(forged)))
        try cluster.primary.psql("UPDATE chronik_events SET crc = \(crc) WHERE position = 4", database: "t_tamper")
        #expect(try await store.readAll(from: Position(4), limit: 1)[0].data == forged.data, "the forged row now reads")
        let chainError = await expectCode(.chainMismatch) { _ = try await store.verify() }
        #expect(chainError?.offset == 4, "the batch holding positions 4-5")
        await store.close()
    }

    @Test func aRowDeletedBehindChroniksBackIsRefusedByReaders() async throws {
        // Proves stop 38's finding (a DBA): with a row deleted in SQL, verify named it but read, export, serve and
        // subscriptions skipped it without a word (positions 198, 199, 201).
        let (cluster, store) = try await freshStore("t_deleted_row")
        for i in 0..<5 { _ = try await store.append(to: "d-\(i)", [event("E", "{\"i\":\(i)}")], expected: .any) }
        #expect(try await store.readAll(from: .start, limit: 100).count == 5)
        try cluster.primary.psql("DELETE FROM chronik_events WHERE position = 2", database: "t_deleted_row")
        let error = await expectCode(.corruption) { _ = try await store.readAll(from: .start, limit: 100) }
        #expect(error?.message.contains("position 2 is missing (the next row is at 3)") == true, "\(String(describing: error))")
        await expectCode(.corruption) { _ = try await store.readAll(from: Position(2), limit: 10) }
        #expect(try await store.readAll(from: Position(3), limit: 10).map(\.position.value) == [3, 4], "after the hole reads as before")
        await store.close()
    }

    @Test func aBadURLHidesItsPasswordAndARefusalSaysWhatRefused() async throws {
        // Stop 43, a helper: usage errors printed the URL's password, and an unknown database (or a wrong password)
        // was "cannot be reached" with a dump of the error value.
        for url in ["http://chronik:s3cretpw@127.0.0.1:5432/shop", "postgres://chronik:s3cretpw@127.0.0.1:70000/shop",
                    "postgres://chronik:s3cretpw@127.0.0.1:5432/shop?sslmode=disable"] {
            let e = try #require(throws: ChronikLogError.self) { _ = try PostgresStore.Location(url: url) }
            #expect(!e.message.contains("s3cretpw") && e.message.contains("chronik:***@127.0.0.1"), "\(e.message)")
        }
        let (cluster, store) = try await freshStore("t_refusals")
        await store.close()
        let missing = try PostgresStore(url: cluster.primary.url(database: "t_no_such_database"))
        let e = await expectCode(.io) { _ = try await missing.headPosition() }
        #expect(e?.message.contains("has no such database") == true && e?.message.contains("SQLSTATE 3D000") == true, "\(String(describing: e))")
        await missing.close()
    }

    @Test func rowsDeletedAtTheEndAreRefusedByTheCLIsReaders() async throws {
        // Stop 43, a helper: with the last row deleted in SQL (the head row still saying 4), read and export --store
        // returned 3 events, exit 0; only verify flagged it.
        let (cluster, store) = try await freshStore("t_deleted_end")
        let url = cluster.primary.url(database: "t_deleted_end")
        for i in 0..<4 { _ = try await store.append(to: "d-\(i)", [event("E", "{\"i\":\(i)}")], expected: .any) }
        #expect(try await chronik(["read", "--store", url]).status == 0)
        try cluster.primary.psql("DELETE FROM chronik_events WHERE position = 3; DELETE FROM chronik_batches WHERE first_position = 3",
                                 database: "t_deleted_end")
        for args in [["read"], ["read", "--backward"], ["export", "--without-personal-data"]] {
            let r = try await chronik(args + ["--store", url])
            #expect(r.status == 1 && r.stderr.contains("head row says 4 events") && r.stderr.contains("rows were deleted outside Chronik")
                    && (args[0] != "export" || r.stdout.isEmpty), "\(args): \(r)")
        }
        // A stream's read is not a read to the head: it reads as before.
        #expect(try await chronik(["read", "--store", url, "--stream", "d-1"]).status == 0)
        await store.close()
    }

    @Test func theStreamsTableAndTheUniqueIdsAreCheckedToo() async throws {
        // Proves stop 35's findings: an edited chronik_streams row went unseen by verify (the next append wrote a
        // version gap, or every append failed); with the unique index on id dropped a server started, retries
        // appended again and verify passed.
        let (cluster, store) = try await freshStore("t_streams_ids")
        for i in 0..<3 { _ = try await store.append(to: "m-\(i % 2)", [event("E", "{\"i\":\(i)}")], expected: .any) }
        _ = try await store.verify()
        try cluster.primary.psql("UPDATE chronik_streams SET last_version = 20 WHERE stream = 'm-1'", database: "t_streams_ids")
        let streams = await expectCode(.corruption) { _ = try await store.verify() }
        #expect(streams?.message.contains("chronik_streams row 'm-1': last version 20, its events end at version 0") == true, "\(String(describing: streams))")
        try cluster.primary.psql("UPDATE chronik_streams SET last_version = 0 WHERE stream = 'm-1'", database: "t_streams_ids")
        _ = try await store.verify()
        try cluster.primary.psql("ALTER TABLE chronik_events DROP CONSTRAINT chronik_events_id_key", database: "t_streams_ids")
        let refused = await expectCode(.corruption) { _ = try await store.migrate() }
        #expect(refused?.message.contains("no unique index on (id)") == true, "\(String(describing: refused))")
        // Without the index, a retry of one event is stored twice (as the finding saw); verify names it.
        let again = event("E", "{\"again\":1}")
        _ = try? await store.append(to: "dup", [again], expected: .any)
        _ = try? await store.append(to: "dup-2", [again], expected: .any)
        let stored = try await store.readAll(from: .start, limit: 100).filter { $0.id == again.id }.count
        #expect(stored == 2, "without the index the same id went in twice")
        if stored > 1 {
            let twice = await expectCode(.corruption) { _ = try await store.verify() }
            #expect(twice?.message.contains("is stored again here") == true, "\(String(describing: twice))")
        }
        await store.close()
    }

    /// One append, then the standby stopped and a second append begun
    /// (COMMIT waits for the standby): its task, and whether it returned.
    func appendWithStandbyStopped(_ store: PostgresStore, _ cluster: PostgresCluster) async throws
        -> (Task<AppendResult, any Error>, Shared<Bool>) {
        _ = try await store.append(to: "s", [event("E", "{}")], expected: .any)
        try cluster.standby.stop()
        let done = Shared(false)
        let pending = Task {
            let r = try await store.append(to: "s", [event("E", "{\"late\":1}")], expected: .any)
            done.withLock { $0 = true }
            return r
        }
        return (pending, done)
    }

    /// Stop 35's finding: a COMMIT waiting for a stopped standby that an
    /// operator cancels (`pg_cancel_backend`) commits on the primary alone
    /// and returns as if replicated (PostgreSQL says otherwise only in a
    /// WARNING the driver drops). The append was acknowledged, and a
    /// failover then lost it. Now the writer sees that no synchronous
    /// standby has the commit and acknowledges only once one has.
    @Test func aCancelledWaitForTheStandbyIsNotAnAcknowledgement() async throws {
        let (cluster, store) = try await freshStore("t_cancelled_wait")
        let (pending, done) = try await appendWithStandbyStopped(store, cluster)
        var cancelled = "0"
        for _ in 0..<200 where cancelled == "0" {
            try await Task.sleep(for: .milliseconds(100))
            cancelled = try cluster.primary.psql("""
                SELECT count(*) FROM (SELECT pg_cancel_backend(pid) AS c FROM pg_stat_activity
                                      WHERE wait_event = 'SyncRep' AND datname = 't_cancelled_wait') x WHERE c
                """)
        }
        #expect(cancelled == "1", "the writer's COMMIT waited for the standby and was cancelled")
        let other = try PostgresStore(url: cluster.primary.url(database: "t_cancelled_wait"))
        var head = try await other.headPosition()
        for _ in 0..<100 where head != Position(2) {
            try await Task.sleep(for: .milliseconds(50))
            head = try await other.headPosition()
        }
        #expect(head == Position(2), "the cancelled COMMIT committed on the primary alone")
        try await Task.sleep(for: .seconds(1))
        #expect(!done.withLock { $0 }, "not acknowledged while only the primary has it")
        try cluster.standby.start()
        try cluster.waitForSyncStandby()
        let r = try await pending.value
        #expect(r.positions == [Position(1)])
        #expect(try cluster.standby.psql("SELECT count(*) FROM chronik_events", database: "t_cancelled_wait") == "2")
        await other.close()
        await store.close()
    }

    @Test func appendsWaitForAStoppedStandbyAndContinueWhenItIsBack() async throws {
        let (cluster, store) = try await freshStore("t_standby")
        let (pending, done) = try await appendWithStandbyStopped(store, cluster)
        try await Task.sleep(for: .seconds(2))
        #expect(!done.withLock { $0 }, "never acknowledged without the standby")
        let other = try PostgresStore(url: cluster.primary.url(database: "t_standby"))
        #expect(try await other.headPosition() == Position(1), "not visible to readers either")
        try cluster.standby.start()
        try cluster.waitForSyncStandby()
        let r = try await pending.value
        #expect(r.positions == [Position(1)])
        #expect(try await other.readAll(from: .start, limit: 10).count == 2)
        // The standby has it too.
        #expect(try cluster.standby.psql("SELECT count(*) FROM chronik_events", database: "t_standby") == "2")
        _ = try await other.verify()
        await other.close()
        await store.close()
    }
}
