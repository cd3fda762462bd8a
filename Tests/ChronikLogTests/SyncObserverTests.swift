import Foundation
import Synchronization
import Testing
@testable import ChronikLog

/// Proves `EventLog.observeSyncs` reports every fdatasync of the active
/// segment once, with the events and batch bytes it made durable — per
/// group commit with `.fsync`, at `sync()` with `.none`, across segment
/// rolls — and that removing the observer stops the calls.
@Suite("Writer: fdatasync observer")
struct SyncObserverTests {
    final class Reports: Sendable {
        let list = Mutex<[SyncReport]>([])
        var all: [SyncReport] { list.withLock { $0 } }
        func observe(_ log: EventLog) { log.observeSyncs { r in self.list.withLock { $0.append(r) } } }
    }

    @Test("with .fsync each awaited append is one report: its events, its batch bytes, one per fdatasync")
    func fsyncPerGroup() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let storage = CountingStorage()
        var options = LogOptions()
        options.storage = storage
        // Its own fdatasyncs are no group's, and its zeros count on disk:
        // `ZeroAheadTests` covers the writer that zeroes ahead.
        options.zeroAheadBytes = 0
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let reports = Reports()
        reports.observe(log)
        let before = storage.syncs.load(ordering: .relaxed)
        let sizeBefore = try log.stats().bytesOnDisk
        for n in [2, 3, 1] { try await log.append(to: "s", (0..<n).map { event("E", "\($0)") }) }
        let got = reports.all
        #expect(got.map(\.events) == [2, 3, 1])
        #expect(got.count == storage.syncs.load(ordering: .relaxed) - before)
        #expect(got.allSatisfy { $0.bytes > LogFormat.batchHeaderSize && $0.duration > .zero })
        #expect(Int64(got.reduce(0) { $0 + $1.bytes }) == (try log.stats().bytesOnDisk) - sizeBefore)
        log.observeSyncs(nil)
        try await log.append(to: "s", event("E", "after"))
        #expect(reports.all.count == 3)
    }

    @Test("the observer is called through the same frames at the 150th fdatasync as at the first")
    func observerDoesNotGrowPerCall() async throws {
        // Stop 20: the writer read the observer with `Mutex.withLock { $0 }`,
        // which wrote the closure back wrapped in two more reabstraction
        // thunks each time: the call went through 2 more frames per fdatasync
        // since `observeSyncs` (15 % of the server's CPU under 64 clients, a
        // stack overflow after enough group commits).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        let depths = Mutex<[Int]>([])
        log.observeSyncs { _ in
            let frames = Thread.callStackReturnAddresses.count
            depths.withLock { $0.append(frames) }
        }
        for i in 0..<150 { try await log.append(to: "s", event("E", "\(i)")) }
        let got = depths.withLock { $0 }
        #expect(got.count == 150)
        #expect(got.first == got.last, "frames at the first and last call: \(got.first ?? -1), \(got.last ?? -1)")
    }

    @Test("with .none nothing is reported until sync(), which reports every event since; close after it syncs nothing")
    func noneReportsAtSync() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        let reports = Reports()
        reports.observe(log)
        for i in 0..<5 { try await log.append(to: "s", [event("E", "\(i)"), event("E", "\(i)b")]) }
        #expect(reports.all.isEmpty)
        try log.sync()
        #expect(reports.all.map(\.events) == [10])
        try log.close()
        #expect(reports.all.count == 1)
    }

    @Test("across segment rolls the reports add up to every appended event and byte")
    func rollsCountOnce() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 4096
        options.compression = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let reports = Reports()
        reports.observe(log)
        let text = String(repeating: "x", count: 300)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask { for i in 0..<10 { try await log.append(to: "s-\(t)", event("E", "\(t).\(i).\(text)")) } }
            }
            try await group.waitForAll()
        }
        #expect(try log.stats().segments > 2)
        #expect(reports.all.reduce(0) { $0 + $1.events } == 80)
        let batchBytes = try log.stats().bytesOnDisk
        // Every byte reported is a batch byte: below what the files hold
        // (headers, meta, index files), and at least the events' bytes.
        let reported = reports.all.reduce(0) { $0 + $1.bytes }
        #expect(reported >= 80 * 300 && Int64(reported) < batchBytes)
    }
}
