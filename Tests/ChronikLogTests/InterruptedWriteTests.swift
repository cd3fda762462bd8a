import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikLog

#if canImport(Glibc)
import Glibc
#endif

/// Issue 9 point 6: a power cut persists an unsynced write's pages in any
/// order. A final write that could never have been acknowledged is a torn
/// tail (truncated, reported); damage to synced bytes stays corruption
/// (FORMAT.md, recovery rule 4).
@Suite struct InterruptedWriteTests {
    static let path = "/disk/log/" + LogFormat.segmentFileName(base: 0)

    /// A log with `acked` small synced batches, then one final batch of
    /// about three pages; returns the final batch's offset and length.
    func logWithLargeFinalBatch(_ storage: FaultyStorage) async throws -> (offset: Int, length: Int) {
        var options = faultyOptions(storage)
        options.compression = .none
        options.segmentSizeBytes = 1 << 20
        let log = try EventLog.open(at: "/disk/log", options: options)
        for i in 0..<3 { try await log.append(to: "s", [event("A", "\(i)")]) }
        let start = log.state.withLock { $0.segments.last!.committedBytes }
        try await log.append(to: "s", [event("Big", String(repeating: "b", count: 11_000))])
        let end = log.state.withLock { $0.segments.last!.committedBytes }
        try log.close()
        // A crash, not a close: no index file describes the final batch
        // (one written at a clean close makes its bytes synced, and their
        // loss damage: IndexFileTests.syncedTailLossIsDamage).
        try storage.remove("/disk/log/" + LogFormat.indexFileName(base: 0))
        return (Int(start), Int(end - start))
    }

    @Test("interrupted final write: header page on disk, a later page still zero: the open truncates it as a torn tail and reports it")
    func interruptedFinalWriteLaterPageZero() async throws {
        // Proves: a final batch with a page that never reached the disk no longer refuses the open.
        let storage = FaultyStorage(seed: 61)
        let (offset, length) = try await logWithLargeFinalBatch(storage)
        var bytes = storage.contents(of: Self.path)!
        let page = LogFormat.pageBytes
        let lost = (offset / page + 1) * page  // the batch's second page
        for i in lost..<min(lost + page, offset + length) { bytes[i] = 0 }
        storage.setContents(of: Self.path, bytes)
        var options = faultyOptions(storage)
        options.compression = .none
        let reopened = try EventLog.open(at: "/disk/log", options: options)
        defer { try? reopened.close() }
        #expect(reopened.recovery.truncatedFile == Self.path)
        #expect(reopened.recovery.truncatedAtOffset == Int64(offset))
        #expect(reopened.recovery.bytesTruncated == Int64(length))
        #expect(reopened.head == Position(3))
        #expect(try LogVerifier.verify(directory: "/disk/log", storage: storage).isClean)
    }

    @Test("interrupted final write: a damaged batch followed by one written after a completed sync is corruption, lost page or not")
    func damageBeforeSyncedBatchIsCorruption() async throws {
        // Proves: bytes a later sync-start batch vouches for are never cut off as a torn tail.
        let storage = FaultyStorage(seed: 62)
        var options = faultyOptions(storage)
        options.compression = .none
        options.segmentSizeBytes = 1 << 20
        let log = try EventLog.open(at: "/disk/log", options: options)
        try await log.append(to: "s", [event("A", "0")])
        let start = Int(log.state.withLock { $0.segments.last!.committedBytes })
        try await log.append(to: "s", [event("Big", String(repeating: "b", count: 11_000))])
        try await log.append(to: "s", [event("C", "after a sync")])
        try log.close()
        var bytes = storage.contents(of: Self.path)!
        let page = LogFormat.pageBytes
        let lost = (start / page + 1) * page
        for i in lost..<(lost + page) { bytes[i] = 0 }
        storage.setContents(of: Self.path, bytes)
        do {
            let reopened = try EventLog.open(at: "/disk/log", options: options)
            try reopened.close()
            Issue.record("open cut acknowledged data: \(reopened.recovery)")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption, "\(e)")
            #expect(e.offset == Int64(start))
        }
    }

    @Test("interrupted final write: unsynced batches written after the damaged one (same group, or durability none) are cut with it")
    func unsyncedFollowersAreTorn() async throws {
        // Proves: whole later batches of an unsynced write do not turn a lost page into corruption.
        let storage = FaultyStorage(seed: 63)
        var options = faultyOptions(storage)
        options.compression = .none
        options.durability = .none
        options.segmentSizeBytes = 1 << 20
        let log = try EventLog.open(at: "/disk/log", options: options)
        try await log.append(to: "s", [event("A", "0")])
        try log.sync()
        let start = Int(log.state.withLock { $0.segments.last!.committedBytes })
        try await log.append(to: "s", [event("Big", String(repeating: "b", count: 11_000))])
        try await log.append(to: "s", [event("C", "unsynced too")])
        // Power cut: everything but the big batch's second page reached the disk.
        var bytes = storage.contents(of: Self.path)!
        let page = LogFormat.pageBytes
        let lost = (start / page + 1) * page
        for i in lost..<(lost + page) { bytes[i] = 0 }
        storage.crash(.keepUnsynced)
        storage.restart()
        storage.setContents(of: Self.path, bytes)
        let reopened = try EventLog.open(at: "/disk/log", options: options)
        defer { try? reopened.close() }
        #expect(reopened.recovery.truncatedAtOffset == Int64(start))
        #expect(try reopened.readAll().collect().map(\.type) == ["A"])
    }

    @Test("1,000 seeded crash schedules with page reordering: no acknowledged event lost, no open refused for an unacknowledged tail")
    func seededCrashSchedulesWithReordering() async throws {
        // Proves: recovery rule 4 against the page-reordering crash model, over many random schedules.
        var stats: [String: Int] = [:]
        for seed in UInt64(0)..<1000 {
            var rng = SplitMix64(seed: seed &* 7919 &+ 17)
            let storage = FaultyStorage(seed: seed)
            var options = faultyOptions(storage)
            let fsync = rng.chance(1, in: 2)
            options.durability = fsync ? .fsync : .none
            options.compression = rng.chance(1, in: 2) ? .none : .lz4
            options.segmentSizeBytes = [16_384, 65_536, 1 << 20][rng.int(0...2)]
            let log = try EventLog.open(at: "/disk/log", options: options)
            storage.crash(atCall: rng.int(1...30), mode: .reorderPages)
            var appended: [ProposedEvent] = []  // in position order, acknowledged or not
            var acknowledged = 0  // a prefix of `appended`
            attempts: for round in 0..<16 {
                let events = (0..<rng.int(1...3)).map { i in
                    ProposedEvent(id: EventID(high: seed, low: UInt64(round * 8 + i)), type: "T\(i)",
                                  data: (0..<rng.int(0...6000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ round) },
                                  occurredAt: Timestamp(microseconds: 1_700_000_000_000_000))
                }
                // A failed append may still have reached the disk whole.
                appended += events
                do {
                    try await log.append(to: "s\(rng.int(0...2))", events)
                    if fsync { acknowledged = appended.count }
                    if !fsync, rng.chance(1, in: 4) {
                        try log.sync()
                        acknowledged = appended.count
                    }
                } catch {
                    break attempts
                }
            }
            if !storage.isHalted { storage.crash(.reorderPages) }
            try? log.close()
            storage.restart()
            let context = "seed \(seed) (\(fsync ? "fsync" : "none"), \(options.compression), segments of \(options.segmentSizeBytes))"
            let reopened: EventLog
            do {
                reopened = try EventLog.open(at: "/disk/log", options: options)
            } catch {
                Issue.record("\(context): open refused: \(error)")
                continue
            }
            let found = try reopened.readAll().collect()
            #expect(found.count >= acknowledged, "\(context): \(found.count) events, \(acknowledged) acknowledged")
            #expect(found.count <= appended.count, "\(context): more events than appended")
            for (e, p) in zip(found, appended) where e.id != p.id || e.data != p.data || e.type != p.type {
                Issue.record("\(context): position \(e.position) holds another event")
                break
            }
            if reopened.recovery.didTruncate { stats["torn tails truncated", default: 0] += 1 }
            stats[found.count > acknowledged ? "unacknowledged events kept" : "exactly the acknowledged events", default: 0] += 1
            try reopened.close()
            let verified = try LogVerifier.verify(directory: "/disk/log", storage: storage)
            #expect(verified.isClean, "\(context): verify after recovery: \(String(describing: verified.failure))")
        }
        print("crash schedules with page reordering: \(stats.sorted { $0.key < $1.key })")
    }
}

/// Issue 10 point 10: damage told precisely, and the intact part readable.
@Suite struct DamageReportTests {
    @Test("a flipped byte in a sealed segment: verify calls it a damaged batch, not a segment that ends inside a batch; a read-only open reads up to it")
    func flippedByteInSealedSegment() async throws {
        // Proves the verifier's wording for sealed damage and the read-only open up to the damage.
        let storage = FaultyStorage(seed: 71)
        var options = faultyOptions(storage)
        options.segmentSizeBytes = 4096
        options.compression = .none
        let log = try EventLog.open(at: "/disk/log", options: options)
        for i in 0..<60 { try await log.append(to: "s", [event("A", "\(i) " + String(repeating: "q", count: 80))]) }
        let first = log.state.withLock { $0.segments[0].snapshot }
        try log.close()
        let path = "/disk/log/" + LogFormat.segmentFileName(base: 0)
        let victim = first.batchOffsets[3]
        storage.flipBit(path: path, offset: Int(victim) + LogFormat.BatchField.payload + 5, bit: 2)
        try storage.remove("/disk/log/" + LogFormat.indexFileName(base: 0))

        let report = try LogVerifier.verify(directory: "/disk/log", storage: storage)
        let failure = try #require(report.failure)
        #expect(failure.file == path && failure.offset == victim)
        #expect(failure.reason.contains("damaged batch in a sealed segment"), "\(failure)")
        #expect(!failure.reason.contains("ends inside a batch"), "\(failure)")

        var readOnly = options
        readOnly.readOnly = true
        readOnly.createIfMissing = false
        #expect(throws: ChronikLogError.self) { try EventLog.open(at: "/disk/log", options: readOnly) }
        readOnly.readUpToDamage = true
        let opened = try EventLog.open(at: "/disk/log", options: readOnly)
        defer { try? opened.close() }
        let damage = try #require(opened.recovery.damage)
        #expect(damage.path == path && damage.offset == victim, "\(damage)")
        #expect(opened.head == Position(first.batchBases[3]))
        #expect(opened.recovery.lastValidPosition == Position(first.batchBases[3] - 1))
        #expect(try opened.readAll().collect().count == Int(first.batchBases[3]))
    }
}
