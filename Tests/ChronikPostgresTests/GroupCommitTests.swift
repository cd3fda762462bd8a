import ChronikLog
@testable import ChronikPostgres
import Foundation
import NIOCore
import PostgresNIO
import Testing

// The set-based `chronik_append` decides a group of batches exactly as one
// batch after the other would: expected versions per stream see the
// earlier batches of the same call (a refused one does not advance its
// stream), idempotent retries and duplicate ids are found with one probe per
// call, positions and the chain run on across the group; and the writer
// never puts two batches sharing an id into one call.
@Suite("PostgresGroupCommit", .serialized, .enabled(if: postgresAvailable))
struct GroupCommitTests {
    func event(_ n: Int, id: EventID = .random()) -> ProposedEvent {
        ProposedEvent(id: id, type: "E", data: Array("{\"n\":\(n)}".utf8), metadata: Array("{\"a\":1}".utf8),
                      occurredAt: Timestamp(microseconds: 1_700_000_000_000_000 + Int64(n)))
    }

    func batch(_ stream: String, _ events: [ProposedEvent], _ expected: ExpectedVersion) -> GroupBatch {
        GroupBatch(stream: stream, expected: expected, events: events)
    }

    func code(_ r: Result<AppendResult, any Error>) -> ChronikLogError.Code? {
        if case .failure(let e) = r { return (e as? ChronikLogError)?.code }
        return nil
    }

    @Test func oneCallDecidesEachBatchAsIfAppendedOneAfterTheOther() async throws {
        let (_, store) = try await freshStore("t_group")
        let a = [event(0), event(1)]
        let group = [
            batch("A", a, .noStream),              // A 0-1 at 0-1
            batch("A", [event(2)], .exact(1)),     // sees the batch before it: A 2 at 2
            batch("A", [event(3)], .exact(5)),     // refused, A is at 2
            batch("X", [event(4)], .noStream),     // X 0 at 3
            batch("A", [event(5)], .exact(2)),     // the refused batch did not advance A: A 3 at 4
            batch("X", [event(6)], .noStream),     // refused, X exists since batch 4
        ]
        let first = try await store.commit(group)
        let ok = first.map { try? $0.get() }
        #expect(ok[0]?.positions == [Position(0), Position(1)] && ok[0]?.versions == [StreamVersion(0), StreamVersion(1)])
        #expect(ok[1]?.positions == [Position(2)] && ok[1]?.versions == [StreamVersion(2)])
        #expect(code(first[2]) == .wrongExpectedVersion)
        if case .failure(let e as ChronikLogError) = first[2] { #expect(e.actualVersion == .some(2)) }
        #expect(ok[3]?.positions == [Position(3)] && ok[3]?.versions == [StreamVersion(0)])
        #expect(ok[4]?.positions == [Position(4)] && ok[4]?.versions == [StreamVersion(3)])
        #expect(code(first[5]) == .wrongExpectedVersion)
        if case .failure(let e as ChronikLogError) = first[5] { #expect(e.actualVersion == .some(0)) }
        #expect(ok.allSatisfy { $0?.wasDuplicate != true })

        let second = try await store.commit([
            batch("A", a, .noStream),                              // a retry: original positions, no version check
            batch("A", [a[0], event(7)], .any),                    // partly known: refused
            batch("A", [event(8, id: a[1].id)], .any),             // a known id with other content: refused
            batch("A", [event(9), event(10)], .exact(3)),          // A 4-5 at 5-6
        ])
        let retry = try second[0].get()
        #expect(retry.wasDuplicate && retry.positions == [Position(0), Position(1)] && retry.versions == [StreamVersion(0), StreamVersion(1)])
        #expect(code(second[1]) == .duplicateEventId)
        #expect(code(second[2]) == .duplicateEventId)
        let last = try second[3].get()
        #expect(last.positions == [Position(5), Position(6)] && last.versions == [StreamVersion(4), StreamVersion(5)])

        // A retry whose stream has moved on is still a retry (ids before versions),
        // next to a real conflict and with nothing to insert in the call.
        let third = try await store.commit([batch("A", a, .exact(0)), batch("X", [event(11)], .exact(7))])
        #expect((try? third[0].get())?.positions == [Position(0), Position(1)])
        #expect((try? third[0].get())?.wasDuplicate == true)
        #expect(code(third[1]) == .wrongExpectedVersion)

        #expect(try await store.headPosition() == Position(7), "refused batches wrote nothing")
        let all = try await store.readAll(from: .start, limit: 100)
        #expect(all.map(\.stream) == ["A", "A", "A", "X", "A", "A", "A"])
        #expect(all.map(\.version.value) == [0, 1, 2, 0, 3, 4, 5])
        #expect(all.map { String(decoding: $0.data, as: UTF8.self) } == [0, 1, 2, 4, 5, 9, 10].map { "{\"n\":\($0)}" })
        let report = try await store.verify()
        #expect(report.events == 7 && report.batches == 5, "the chain runs on across the batches of a call")
        await store.close()
    }

    @Test func aGroupEndsBeforeABatchSharingAnIdWithAnEarlierOne() {
        let e = (0..<6).map { event($0) }
        #expect(PostgresStore.groupSize([[e[0]], [e[1], e[2]], [e[3]]]) == 3)
        #expect(PostgresStore.groupSize([[e[0], e[1]], [e[2]], [e[1]], [e[4]]]) == 2, "e1 again: the retry waits for the next group")
        #expect(PostgresStore.groupSize([[e[0]], [e[0]]]) == 1)
        #expect(PostgresStore.groupSize([]) == 0)
        let big = (0..<PostgresStore.maxEventsPerGroup).map { event($0) }
        #expect(PostgresStore.groupSize([big, [e[5]]]) == 1, "the event bound")
        #expect(PostgresStore.groupSize(Array(repeating: [], count: PostgresStore.maxBatchesPerGroup + 5)) == PostgresStore.maxBatchesPerGroup)
    }

    /// Large batches that fit one call each are never refused together:
    /// a group ends at `maxBytesPerGroup`, and a batch PostgreSQL could not
    /// take in one parameter is refused before the database, naming why.
    @Test func aGroupEndsAtItsByteBoundAndAnOversizedBatchIsRefused() throws {
        let mib = [UInt8](repeating: 0x61, count: 1 << 20)  // shared storage: no copy per event
        func large(_ n: Int) -> [ProposedEvent] {
            (0..<n).map { _ in ProposedEvent(id: .random(), type: "E", data: mib, metadata: [], occurredAt: Timestamp(microseconds: 1)) }
        }
        let half = PostgresStore.maxBytesPerGroup >> 20 / 2
        #expect(PostgresStore.groupSize([large(half), large(half)]) == 1, "the byte bound (with each event's overhead)")
        #expect(PostgresStore.groupSize([large(20), large(20), large(20), large(20)]) == 3)
        #expect(PostgresStore.groupSize([large(PostgresStore.maxBytesPerGroup >> 20), [event(0)]]) == 1)
        let over = large(PostgresStore.maxBatchBytes >> 20)
        do {
            try PostgresStore.validate(stream: "s", events: over)
            Issue.record("a batch of \(PostgresStore.byteCount(over)) bytes was accepted")
        } catch let error as ChronikLogError {
            #expect(error.code == .invalidBatch)
            #expect(error.message.contains("MiB on PostgreSQL"), "\(error.message)")
        }
        try PostgresStore.validate(stream: "s", events: large(PostgresStore.maxBatchBytes >> 20 - 1))
    }

    @Test func theSameBatchAppendedConcurrentlyIsStoredOnce() async throws {
        let (_, store) = try await freshStore("t_group_retry")
        let batch = [event(0), event(1)]
        // Queued together, the copies would share one call; the writer splits them.
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for _ in 0..<8 { group.addTask { try await store.append(to: "s", batch, expected: .any) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { !$0.wasDuplicate }.count == 1)
        #expect(Set(results.map(\.positions)) == [[Position(0), Position(1)]])
        #expect(try await store.headPosition() == Position(2))
        await store.close()
    }

    /// The client sends one digests element per batch (its events' digests
    /// concatenated); a client of before that sends one per event, and the
    /// function concatenates them itself. Both chain to the same values, so
    /// `verify` accepts a history written by both; a digests argument that
    /// fits neither is refused and writes nothing.
    @Test func digestsPerBatchOrPerEventChainTheSameAndOtherShapesAreRefused() async throws {
        let (_, store) = try await freshStore("t_digests")
        // One batch of three and one of one, as today's client sends them.
        let first = try await store.commit([batch("A", [event(0), event(1), event(2)], .noStream), batch("B", [event(3)], .noStream)])
        #expect(first.allSatisfy { (try? $0.get()) != nil })

        // The same shapes as an older client sends them: one digest per event.
        func call(_ batches: [GroupBatch], digests: [ByteBuffer]) async throws -> [Int32] {
            var arguments = AppendArguments(batches)
            arguments.digests = digests
            return try await store.writerConnection.run { conn in try await arguments.call(on: conn, logger: store.logger).0.map(\.0) }
        }
        func perEvent(_ batches: [GroupBatch]) -> [ByteBuffer] {
            batches.flatMap { b in stride(from: 0, to: b.digests.count, by: 32).map { ByteBuffer(bytes: b.digests[$0 ..< $0 + 32]) } }
        }
        let old = [batch("A", [event(4), event(5)], .exact(2)), batch("C", [event(6)], .noStream)]
        #expect(try await call(old, digests: perEvent(old)) == [0, 0])

        // Neither one per batch nor one per event, or a batch's element of
        // the wrong length: refused whole.
        let refused = [batch("A", [event(7), event(8)], .exact(4)), batch("D", [event(9)], .noStream)]
        await #expect(throws: (any Error).self) { try await call(refused, digests: Array(perEvent(refused).prefix(2))) }
        let short = [ByteBuffer(bytes: refused[0].digests.prefix(32)), ByteBuffer(bytes: refused[1].digests)]
        await #expect(throws: (any Error).self) { try await call(refused, digests: short) }

        #expect(try await store.headPosition() == Position(7), "the refused calls wrote nothing")
        let report = try await store.verify()
        #expect(report.events == 7 && report.batches == 4, "batches written with digests per batch and per event verify alike")
        await store.close()
    }

    /// After answering a group the writer begins the next transaction, so
    /// that the next append does not wait for BEGIN. Between appends its
    /// connection is idle in a transaction that holds no snapshot (nothing
    /// held back from vacuum); if that connection is gone when the next
    /// append comes (terminated here, as idle_in_transaction_session_timeout
    /// or a restart would), the append runs on a new connection: nothing was
    /// committed on the old one.
    @Test func aTransactionBegunBetweenAppendsHoldsNoSnapshotAndABrokenOneIsReplaced() async throws {
        let (_, store) = try await freshStore("t_begun")
        let first = try await store.append(to: "A", [event(0), event(1)], expected: .noStream)
        #expect(first.positions == [Position(0), Position(1)])
        func writers() async throws -> [(pid: Int32, xmin: String?)] {
            try await store.readerConnection.read { conn in
                var found: [(Int32, String?)] = []
                let rows = try await conn.query("""
                    SELECT pid, backend_xmin::text FROM pg_stat_activity
                     WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()
                    """, logger: store.logger)
                for try await (pid, xmin) in rows.decode((Int32, String?).self) { found.append((pid, xmin)) }
                return found
            }
        }
        var idle: [(pid: Int32, xmin: String?)] = []
        for _ in 0..<100 where idle.isEmpty {
            idle = try await writers()
            if idle.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(idle.count == 1, "the writer waits in a transaction it began for the next append")
        #expect(idle.first?.xmin == nil, "that transaction holds no snapshot")
        // Nor a lock: an index built concurrently (which waits for every
        // transaction holding a lock on the table or an older snapshot) is
        // not held up by it.
        try await store.readerConnection.read { conn in
            try await conn.query("SET statement_timeout = '10s'", logger: store.logger)
            try await conn.query("CREATE INDEX CONCURRENTLY t_begun_type ON chronik_events (type)", logger: store.logger)
            try await conn.query("DROP INDEX t_begun_type", logger: store.logger)
            try await conn.query("SET statement_timeout = 0", logger: store.logger)
        }

        if let pid = idle.first?.pid {
            _ = try await store.readerConnection.read { conn in
                try await conn.query("SELECT pg_terminate_backend(\(pid))", logger: store.logger)
            }
        }
        let second = try await store.append(to: "A", [event(2)], expected: .exact(1))
        #expect(second.positions == [Position(2)] && second.versions == [StreamVersion(2)])

        // A begun transaction that fails where the client cannot see it
        // coming (here: made to fail by a statement on it, as a connection
        // broken after the check would): the append's call fails on it, and
        // runs again on a new connection.
        var begun: PostgresConnection?
        for _ in 0..<100 where begun == nil {
            begun = store.queue.withLock { $0.begun }
            if begun == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let spoilt = try #require(begun)
        await #expect(throws: (any Error).self) { try await spoilt.query("SELECT 1 / 0", logger: store.logger) }
        let third = try await store.append(to: "A", [event(3)], expected: .exact(2))
        #expect(third.positions == [Position(3)] && third.versions == [StreamVersion(3)])
        #expect(try await store.readAll(from: .start, limit: 10).count == 4)
        #expect(try await store.verify().events == 4)
        await store.close()
    }
}
