import Foundation
import Synchronization
import Testing
@_spi(Benchmarks) @testable import ChronikLog

/// The POSIX backend whose segment-file fdatasyncs wait at a gate while it
/// is closed, and whose next sync or write can be made to fail: a group
/// commit held in its fdatasync, to see what the writer does beside it.
final class GatedStorage: WrappingStorage, @unchecked Sendable {
    let inner = PosixStorage()
    struct Gate {
        var closed = false
        /// Syncs waiting at the gate now, and writes of segment files done.
        var waiting = 0
        var writes = 0
        var failNextSync = false
        var failNextWrite = false
    }
    let gate = Mutex(Gate())

    func close() { gate.withLock { $0.closed = true } }
    func open() { gate.withLock { $0.closed = false } }
    var waiting: Int { gate.withLock { $0.waiting } }
    var writes: Int { gate.withLock { $0.writes } }

    func wrap(_ file: any StorageFile, path: String) -> any StorageFile { GatedFile(inner: file, owner: self) }
}

struct InjectedFailure: Error {}

final class AcknowledgedCount: Sendable {
    let value = Atomic<Int>(0)
}

final class GatedFile: ForwardingFile, @unchecked Sendable {
    let owner: GatedStorage
    init(inner: any StorageFile, owner: GatedStorage) {
        self.owner = owner
        super.init(inner: inner)
    }
    override func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        let fail = owner.gate.withLock { g in
            defer { g.failNextWrite = false }
            return g.failNextWrite
        }
        if fail { throw InjectedFailure() }
        try inner.write(bytes, at: offset)
        owner.gate.withLock { $0.writes += 1 }
    }
    override func sync() throws {
        // The first sync to arrive after `failNextSync` was set fails.
        let fail = owner.gate.withLock { g in
            g.waiting += 1
            defer { g.failNextSync = false }
            return g.failNextSync
        }
        while owner.gate.withLock({ $0.closed }) { usleep(200) }
        owner.gate.withLock { $0.waiting -= 1 }
        // A failing fdatasync after the kernel wrote nothing: the real one
        // is not called.
        if fail { throw InjectedFailure() }
        try inner.sync()
    }
}

/// Waits (polling, bounded, without blocking a thread of the task pool)
/// until `condition` holds, for `seconds` of polling.
///
/// Only the time this task spent polling counts, at most 50 ms per poll: in
/// the whole suite on 2 cores the task pool can be held by other suites'
/// long synchronous tests for many seconds, and a wall-clock deadline then
/// expired before the awaited work (an append's task) had even run (CI of
/// stop 18: "timed out waiting for: the first group's fdatasync to start").
func eventually(_ what: String, seconds: Double = 20, _ condition: () -> Bool) async throws {
    var polled = Duration.zero
    var last = ContinuousClock.now
    while !condition() {
        let now = ContinuousClock.now
        polled += min(now - last, .milliseconds(50))
        last = now
        if polled > .seconds(seconds) { throw ChronikLogError(.io, "timed out waiting for: \(what)") }
        try await Task.sleep(for: .milliseconds(1))
    }
}

@Suite("Writer pipeline: the next group is written while one syncs, acknowledged only after its own fdatasync", .serialized)
struct PipelinedWriterTests {
    func openGated(_ dir: String) throws -> (EventLog, GatedStorage) {
        let storage = GatedStorage()
        var options = LogOptions()
        options.storage = storage
        options.pipelinedWrites = true
        return (try EventLog.open(at: dir, options: options), storage)
    }

    @Test("a group is staged and written while the previous one's fdatasync runs, neither is acknowledged before its fdatasync returns")
    func overlap() async throws {
        // Proves: pipelining (write N+1 during N's sync) and that no append is acknowledged before the fdatasync that covers it.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (log, storage) = try openGated(dir)
        defer { storage.open(); try? log.close() }  // a test that fails with the gate closed must not hang in close()
        storage.close()
        let acknowledged = AcknowledgedCount()
        let first = Task {
            let r = try await log.append(to: "s", event("E", "one"))
            acknowledged.value.add(1, ordering: .relaxed)
            return r
        }
        try await eventually("the first group's fdatasync to start") { storage.waiting == 1 }
        let writesBefore = storage.writes
        // Expected version 0: the first group's batch, not yet published.
        let second = Task {
            let r = try await log.append(to: "s", event("E", "two"), expected: .exact(0))
            acknowledged.value.add(1, ordering: .relaxed)
            return r
        }
        try await eventually("the second group to be written and to wait in its own fdatasync") { storage.waiting == 2 }
        #expect(storage.writes == writesBefore + 1, "the second group was written while the first synced")
        try await Task.sleep(for: .milliseconds(20))
        #expect(acknowledged.value.load(ordering: .relaxed) == 0, "nothing is acknowledged while its fdatasync waits")
        #expect(log.head == Position(0), "nothing is visible before its fdatasync")
        storage.open()
        let r1 = try await first.value, r2 = try await second.value
        #expect(r1.positions == [Position(0)] && r2.positions == [Position(1)])
        #expect(r2.versions == [StreamVersion(1)])
        let texts = try log.read(stream: "s").collect().map { String(decoding: $0.data, as: UTF8.self) }
        #expect(texts == ["one", "two"])
    }

    @Test("a retry of an event still in its fdatasync is an idempotent duplicate, not a second copy")
    func retryWhileInFlight() async throws {
        // Proves: ids of a group in flight are seen by the next group (no event written twice).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (log, storage) = try openGated(dir)
        defer { storage.open(); try? log.close() }  // a test that fails with the gate closed must not hang in close()
        let e = event("E", "once")
        storage.close()
        let first = Task { try await log.append(to: "s", e) }
        try await eventually("the first group's fdatasync to start") { storage.waiting == 1 }
        let retry = Task { try await log.append(to: "s", e) }
        try await Task.sleep(for: .milliseconds(20))
        storage.open()
        let r1 = try await first.value, r2 = try await retry.value
        #expect(!r1.wasDuplicate && r2.wasDuplicate)
        #expect(r2.positions == r1.positions)
        #expect(log.head == Position(1))
    }

    @Test("a failed fdatasync fails its group and the group written behind it, poisons the writer, a reopen reads whole batches")
    func failedSyncFailsBoth() async throws {
        // Proves: an error during a pipelined sync fails every group not yet acknowledged.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (log, storage) = try openGated(dir)
        try await log.append(to: "s", event("E", "durable"))
        storage.close()
        storage.gate.withLock { $0.failNextSync = true }
        let first = Task { try await log.append(to: "s", event("E", "a")) }
        try await eventually("the first group's fdatasync to start") { storage.waiting == 1 }
        let second = Task { try await log.append(to: "t", event("E", "b")) }
        try await eventually("the second group to wait in its fdatasync") { storage.waiting == 2 }
        storage.open()
        await #expect(throws: (any Error).self) { try await first.value }
        await #expect(throws: (any Error).self) { try await second.value }
        do {
            try await log.append(to: "s", event("E", "after"))
            Issue.record("an append after a failed fdatasync must be refused")
        } catch let e as ChronikLogError {
            #expect(e.code == .writerPoisoned)
        }
        try? log.close()
        let reopened = try EventLog.open(at: dir)
        defer { try? reopened.close() }
        // The acknowledged event is there; the failed ones whole or absent.
        let texts = try reopened.readAll().collect().map { String(decoding: $0.data, as: UTF8.self) }
        #expect(texts.first == "durable")
        #expect(texts.count == 1 || texts == ["durable", "a", "b"])
    }

    @Test("a failed write behind a group in its fdatasync takes back exactly that group, the one before is acknowledged and the log goes on")
    func failedWriteTakesBackOnlyItsGroup() async throws {
        // Proves: an error during a pipelined write undoes only the groups not yet acknowledged.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (log, storage) = try openGated(dir)
        defer { storage.open(); try? log.close() }  // a test that fails with the gate closed must not hang in close()
        storage.close()
        let first = Task { try await log.append(to: "s", event("E", "a")) }
        try await eventually("the first group's fdatasync to start") { storage.waiting == 1 }
        storage.gate.withLock { $0.failNextWrite = true }
        let second = Task { try await log.append(to: "s", event("E", "b")) }
        try await Task.sleep(for: .milliseconds(20))
        storage.open()
        let r1 = try await first.value
        #expect(r1.positions == [Position(0)])
        await #expect(throws: InjectedFailure.self) { try await second.value }
        let r3 = try await log.append(to: "s", event("E", "c"), expected: .exact(0))
        #expect(r3.positions == [Position(1)] && r3.versions == [StreamVersion(1)])
        try log.close()
        let reopened = try EventLog.open(at: dir)
        defer { try? reopened.close() }
        #expect(reopened.recovery.bytesTruncated == 0)
        let texts = try reopened.readAll().collect().map { String(decoding: $0.data, as: UTF8.self) }
        #expect(texts == ["a", "c"])
    }
}
