import Foundation
import Synchronization
import Testing
@testable import ChronikLog

/// Wraps the POSIX backend and counts fdatasync calls on segment files.
final class CountingStorage: WrappingStorage, @unchecked Sendable {
    let inner = PosixStorage()
    let syncs = Atomic<Int>(0)
    func wrap(_ file: any StorageFile, path: String) -> any StorageFile { CountingFile(inner: file, owner: self) }
}

final class CountingFile: ForwardingFile, @unchecked Sendable {
    let owner: CountingStorage
    init(inner: any StorageFile, owner: CountingStorage) {
        self.owner = owner
        super.init(inner: inner)
    }
    override func sync() throws {
        owner.syncs.add(1, ordering: .relaxed)
        try inner.sync()
    }
}

@Suite("Writer: group commit, durability modes, compression")
struct WriterTests {
    @Test("64 concurrent single-event appenders share fdatasyncs (group commit) and all land")
    func groupCommit() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let storage = CountingStorage()
        var options = LogOptions()
        options.storage = storage
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let before = storage.syncs.load(ordering: .relaxed)
        let appenders = 64, each = 20
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<appenders {
                group.addTask {
                    for i in 0..<each { try await log.append(to: "a-\(t)", [event("E", "\(t):\(i)")]) }
                }
            }
            try await group.waitForAll()
        }
        let syncs = storage.syncs.load(ordering: .relaxed) - before
        #expect(log.head == Position(UInt64(appenders * each)))
        // Every durable append was acknowledged after a sync, but many shared one.
        #expect(syncs >= 1)
        #expect(syncs < appenders * each, "expected group commit to share fdatasyncs, got \(syncs) for \(appenders * each) appends")
        for t in 0..<appenders {
            let got = try log.read(stream: "a-\(t)").collect().map { String(decoding: $0.data, as: UTF8.self) }
            #expect(got == (0..<each).map { "\(t):\($0)" })
        }
    }

    @Test("durability .none and .interval do not fsync per append, and the data reads back after close and reopen")
    func durabilityModes() async throws {
        for mode in [Durability.none, .interval(.seconds(60))] {
            let dir = makeTempDir()
            defer { removeDir(dir) }
            let storage = CountingStorage()
            var options = LogOptions()
            options.storage = storage
            options.durability = mode
            let log = try EventLog.open(at: dir, options: options)
            let before = storage.syncs.load(ordering: .relaxed)
            for i in 0..<50 { try await log.append(to: "s", [event("E", "\(i)")]) }
            let during = storage.syncs.load(ordering: .relaxed) - before
            // .interval(60 s) syncs at most once here (the first append finds the clock past due or not).
            #expect(during <= 1, "mode \(mode): \(during) syncs for 50 appends")
            try log.close()
            let reopened = try EventLog.open(at: dir)
            defer { try? reopened.close() }
            #expect(try reopened.readAll().collect().map { String(decoding: $0.data, as: UTF8.self) } == (0..<50).map(String.init))
        }
    }

    @Test("the compression chosen at creation is kept on reopen, and both codecs round-trip")
    func compressionRecorded() async throws {
        for codec in Compression.allCases {
            let dir = makeTempDir()
            defer { removeDir(dir) }
            var options = LogOptions()
            options.compression = codec
            let big = String(repeating: "abcdefgh", count: 200)
            do {
                let log = try EventLog.open(at: dir, options: options)
                try await log.append(to: "s", (0..<20).map { event("E", big + "\($0)") })
                try log.close()
            }
            var other = LogOptions()
            other.compression = codec == .lz4 ? .none : .lz4
            let log = try EventLog.open(at: dir, options: other)
            defer { try? log.close() }
            #expect(log.compression == codec)
            let stats = try log.stats()
            // 20 × 1.6 KB of repetitive text: LZ4 must shrink it well below the raw size.
            if codec == .lz4 { #expect(stats.bytesOnDisk < 10_000) } else { #expect(stats.bytesOnDisk > 32_000) }
            #expect(try log.readAll().collect().map { String(decoding: $0.data, as: UTF8.self) } == (0..<20).map { big + "\($0)" })
        }
    }

    @Test("stream reads go forward and backward from any version; readAll backward from any position")
    func streamReads() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 4096
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        for i in 0..<60 {
            try await log.append(to: i % 3 == 0 ? "x" : "y", (0..<(i % 4 + 1)).map { event("E", "\(i).\($0)") })
        }
        let x = try log.read(stream: "x").collect()
        #expect(x.enumerated().allSatisfy { $0.element.version.value == UInt64($0.offset) })
        let fromFive = try log.read(stream: "x", from: StreamVersion(5)).collect()
        #expect(fromFive.map(\.id) == Array(x.dropFirst(5)).map(\.id))
        let back = try log.read(stream: "x", from: StreamVersion(7), direction: .backward).collect()
        #expect(back.map(\.id) == Array(x.prefix(8).reversed()).map(\.id))
        #expect(try log.read(stream: "nope").collect().isEmpty)
        let all = try log.readAll().collect()
        let backAll = try log.readAll(from: Position(40), direction: .backward).collect()
        #expect(backAll.map(\.id) == Array(all.prefix(41).reversed()).map(\.id))
        #expect(try log.readAll(from: Position(UInt64(all.count))).collect().isEmpty)
        #expect(try log.event(at: Position(17))?.id == all[17].id)
        #expect(try log.stats().segments > 2)
    }
}
