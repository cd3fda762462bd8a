import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikLog

/// `LogVerifier` checks batches on every core (chunks of whole batches read
/// and checked by workers) and ties them together on the calling thread;
/// `parallel: false` is the sequential scan it replaced. These tests prove
/// the two report the same thing, damage included.
@Suite("Parallel verify: same report as the sequential scan, failures at segment boundaries")
struct ParallelVerifyTests {
    /// The report without its duration (the only field allowed to differ).
    static func comparable(_ r: VerificationReport) -> VerificationReport {
        var r = r
        r.duration = .zero
        return r
    }

    /// The report, or the error thrown, of one verification, as text.
    static func outcome(_ dir: String, parallel: Bool, chunkBytes: Int64 = ChunkChecker.defaultChunkBytes) -> String {
        do {
            let r = try LogVerifier.verify(directory: dir, anchor: Position(137), storage: PosixStorage(), holdingWriterLock: false,
                                           parallel: parallel, chunkBytes: chunkBytes)
            return String(describing: comparable(r))
        } catch {
            return "threw \(error)"
        }
    }

    /// The segment files of `dir`, in log order.
    static func segmentPaths(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir)
            .compactMap { name in LogFormat.baseFromSegmentFileName(name).map { ($0, dir + "/" + name) } }
            .sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Recomputes the checksum of the batch at `offset` of `segment`.
    static func fixChecksum(_ segment: inout [UInt8], batchAt offset: Int, length: Int) {
        let crc = segment.withUnsafeBytes { batchChecksum(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
        for k in 0..<4 { segment[offset + LogFormat.BatchField.crc + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
    }

    /// An event id as the payload stores it (the UUID's bytes).
    static func storedBytes(_ id: EventID) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: id.high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: id.low >> (56 - 8 * UInt64($0))) }
    }

    @Test("random damage (bit flips, edited header fields with a valid checksum, torn tails): the parallel report equals the sequential one, for any chunk size")
    func sameReportAsSequential() async throws {
        let dir = makeTempDir()
        let work = makeTempDir("parallel-work")
        defer { removeDir(dir); removeDir(work) }
        try await makeFixtureLog(dir, count: 400)
        let files = try snapshotFiles(dir).filter { !$0.bytes.isEmpty }
        let segments = files.indices.filter { files[$0].name.hasSuffix(".log") }
        try #require(segments.count >= 4)
        let seed = ProcessInfo.processInfo.environment["CHRONIK_PARALLEL_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("sameReportAsSequential: seed \(seed) (CHRONIK_PARALLEL_SEED)")
        var rng = SplitMix64(seed: seed)
        // Header fields a forger edits (then fixes the checksum): base
        // position, stream version, previous hash, reserved, occurredAt.
        let fields = [LogFormat.BatchField.basePosition, LogFormat.BatchField.firstStreamVersion, LogFormat.BatchField.previousHash,
                      LogFormat.BatchField.reserved, LogFormat.BatchField.minOccurredAt, LogFormat.BatchField.maxOccurredAt]
        var failures = 0
        try restoreFiles(files, into: work)
        for trial in 0..<240 {
            // Lets the task pool's other jobs run between trials (this test
            // is ~45 s of work on one of the 2 pool threads otherwise).
            await Task.yield()
            var fi = Int.random(in: 0..<files.count, using: &rng)
            var bytes = files[fi].bytes
            let what: String
            switch trial % 4 {
            case 0:  // one bit anywhere in any file
                let offset = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[offset] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                what = "bit flip at \(offset) of \(files[fi].name)"
            case 1, 2:  // a header field of a batch, checksum recomputed
                fi = segments.randomElement(using: &rng)!
                bytes = files[fi].bytes
                let layout = batchLayout(bytes)
                let (off, len) = layout.randomElement(using: &rng)!
                let field = fields.randomElement(using: &rng)!
                bytes[off + field] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                Self.fixChecksum(&bytes, batchAt: off, length: len)
                what = "field \(field) of the batch at \(off) of \(files[fi].name), checksum fixed"
            default:  // the last segment cut short
                fi = segments.last!
                bytes = files[fi].bytes
                let cut = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.removeLast(cut)
                what = "last segment cut by \(cut) bytes"
            }
            let path = work + "/" + files[fi].name
            try writeFile(path, bytes)
            let sequential = Self.outcome(work, parallel: false)
            if !sequential.contains("failure: nil") { failures += 1 }
            for chunkBytes in [Int64(1), Int64.random(in: 1...3000, using: &rng), ChunkChecker.defaultChunkBytes] {
                let parallel = Self.outcome(work, parallel: true, chunkBytes: chunkBytes)
                #expect(parallel == sequential, "trial \(trial) (seed \(seed)), \(what), chunks of \(chunkBytes) bytes")
            }
            try writeFile(path, files[fi].bytes)
        }
        // The damage mostly is found (a cut at a batch boundary and flips in
        // unused bits may leave a clean log): the comparison is not vacuous.
        #expect(failures > 120, "only \(failures) of 240 trials failed verification")
    }

    @Test("an LZ4 batch whose header claims an empty raw payload (checksum fixed) is damage to verify and to a read, not a crash")
    func lz4BatchClaimingAnEmptyPayload() async throws {
        // Proves: the one LZ4 decode (Batch.swift) refuses a block whose output the header says is empty, for verify on both paths and for reads.
        let dir = makeTempDir("lz4-empty")
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        _ = try await log.append(to: "s", (0..<10).map { i in
            ProposedEvent(type: "T", data: Array("{\"text\":\"\(String(repeating: "abc", count: 40)) \(i)\"}".utf8))
        })
        try log.close()
        let path = try Self.segmentPaths(dir)[0]
        var seg = try fileBytes(path)
        let off = LogFormat.segmentHeaderSize
        try #require(seg[off + LogFormat.BatchField.flags] & LogFormat.codecMask == LogFormat.codecLZ4)
        let length = Int(loadLE(seg, off + LogFormat.BatchField.length, as: UInt32.self))
        for k in 0..<4 { seg[off + LogFormat.BatchField.rawPayloadLength + k] = 0 }
        Self.fixChecksum(&seg, batchAt: off, length: length)
        try writeFile(path, seg)
        for parallel in [false, true] {
            let outcome = Self.outcome(dir, parallel: parallel, chunkBytes: 1)
            #expect(!outcome.contains("failure: nil"), "parallel \(parallel): \(outcome)")
        }
        var o = LogOptions()
        o.readOnly = true
        do {
            let reader = try EventLog.open(at: dir, options: o)
            defer { try? reader.close() }
            #expect(throws: ChronikLogError.self) { _ = try reader.readAll().collect() }
            #expect(throws: ChronikLogError.self) { _ = try reader.read(stream: "s").collect() }
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption, "\(e)")
        }
    }

    @Test("a chain link edited in the first batch of a segment fails there, naming the previous segment's last batch, for any chunk size",
          arguments: [Int64(1), Int64(700), ChunkChecker.defaultChunkBytes])
    func chainBreakAtSegmentBoundary(chunkBytes: Int64) async throws {
        let dir = makeTempDir("chain-boundary-\(chunkBytes)")
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 400)
        let paths = try Self.segmentPaths(dir)
        try #require(paths.count >= 4)
        // Segment 2's first batch: its previous hash must be the chain hash
        // of segment 1's last batch, which a worker other than the one that
        // checks segment 2 may have computed.
        let k = 2
        var seg = try fileBytes(paths[k])
        let (off, len) = try #require(batchLayout(seg).first)
        #expect(off == LogFormat.segmentHeaderSize)
        seg[off + LogFormat.BatchField.previousHash + 5] ^= 0x10
        Self.fixChecksum(&seg, batchAt: off, length: len)
        try writeFile(paths[k], seg)
        let base = UInt64(loadLE(seg, LogFormat.BatchField.basePosition + off, as: UInt64.self))

        let report = try LogVerifier.verify(directory: dir, anchor: nil, storage: PosixStorage(), holdingWriterLock: false,
                                            chunkBytes: chunkBytes)
        let failure = try #require(report.failure)
        #expect(failure.code == .chainMismatch)
        #expect(failure.file == paths[k])
        #expect(failure.offset == Int64(off))
        #expect(failure.reason.contains("hash chain broken at position \(base)"), "\(failure.reason)")
        #expect(failure.reason.contains("the last batch of the previous segment (positions up to \(base - 1))"), "\(failure.reason)")
        #expect(report.headPosition.value == base)
        #expect(report.segments.count == k + 1)
        let sealedIndexesChecked = report.segments.prefix(k).allSatisfy { $0.indexChecked }
        #expect(sealedIndexesChecked)
        #expect(report.segments[k].batches == 0)
        let sequential = try LogVerifier.verify(directory: dir, anchor: nil, storage: PosixStorage(), holdingWriterLock: false,
                                                parallel: false)
        #expect(Self.comparable(report) == Self.comparable(sequential))
    }

    @Test("an event id repeated in another segment is found, with both positions, for any chunk size",
          arguments: [Int64(1), Int64(700), ChunkChecker.defaultChunkBytes])
    func duplicateIDAcrossSegments(chunkBytes: Int64) async throws {
        let dir = makeTempDir("dup-across-\(chunkBytes)")
        defer { removeDir(dir) }
        // Uncompressed, so that an id can be edited in place.
        try await makeFixtureLog(dir, count: 400, compression: .none)
        let events = try readEverything(dir)
        let paths = try Self.segmentPaths(dir)
        try #require(paths.count >= 4)
        // The second event of segment 3 gets the id of event 1 (segment 0):
        // different chunks, checked by whichever worker takes each.
        let k = 3
        var seg = try fileBytes(paths[k])
        let base = Int(loadLE(seg, LogFormat.segmentHeaderSize + LogFormat.BatchField.basePosition, as: UInt64.self))
        let target = Self.storedBytes(events[base + 1].id)
        let original = Self.storedBytes(events[1].id)
        let at = try #require((0...(seg.count - 16)).first { Array(seg[$0..<($0 + 16)]) == target })
        let (off, len) = try #require(batchLayout(seg).first { $0.offset <= at && at < $0.offset + $0.length })
        seg.replaceSubrange(at..<(at + 16), with: original)
        Self.fixChecksum(&seg, batchAt: off, length: len)
        try writeFile(paths[k], seg)

        let report = try LogVerifier.verify(directory: dir, anchor: nil, storage: PosixStorage(), holdingWriterLock: false,
                                            chunkBytes: chunkBytes)
        let failure = try #require(report.failure)
        #expect(failure.code == .corruption)
        #expect(failure.file == paths[k])
        #expect(failure.offset == Int64(off))
        #expect(failure.reason == "event id \(events[1].id) appears at positions 1 and \(base + 1)")
        #expect(report.segments.count == k + 1)
        #expect(report.headPosition.value == UInt64(base) + (off == LogFormat.segmentHeaderSize ? 0 : 1))
        let sequential = try LogVerifier.verify(directory: dir, anchor: nil, storage: PosixStorage(), holdingWriterLock: false,
                                                parallel: false)
        #expect(Self.comparable(report) == Self.comparable(sequential))
    }
}
