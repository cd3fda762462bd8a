import Foundation
import Testing
@testable import ChronikLog

/// Codec 2, "LZ4 in blocks" (FORMAT.md, stop 40): a large payload is cut in
/// pieces compressed on several cores; readers put them back together and
/// refuse any block table that does not describe the payload exactly.
@Suite("LZ4 in blocks: large payloads compressed in pieces")
struct LZ4BlocksTests {
    /// 1,000 commerce-like events of ~300 B: ~300 KB raw, compressible but
    /// not trivially (ids, amounts and SKUs vary).
    static func largeBatch(_ seed: Int) -> [ProposedEvent] {
        (0..<1000).map { i in
            let k = seed &* 1000 &+ i
            let text = "{\"orderId\":\"ord-\((k &* 7919) % 1_000_003)\",\"customerId\":\"cus-\((k &* 104_729) % 50_021)\","
                + "\"lines\":[{\"sku\":\"SKU-\(String((k &* 31) % 9973).leftPad(5))\",\"quantity\":\(k % 5 + 1),"
                + "\"unitPrice\":{\"amount\":\"\((k &* 37) % 99_991).\(k % 100)\",\"currency\":\"EUR\"}}],"
                + "\"placedAt\":\"2026-12-0\(k % 6 + 1)T1\(k % 10):\(String(k % 60).leftPad(2)):00.\(String(k % 999_983).leftPad(6))Z\"}"
            return ProposedEvent(id: .random(), type: i % 3 == 0 ? "OrderPlaced" : "CartItemAdded", data: Array(text.utf8),
                                 metadata: Array("{\"actor\":\"svc-\(k % 7)\",\"correlationId\":\"c-\(k)\"}".utf8),
                                 occurredAt: Timestamp(microseconds: 1_765_000_000_000_000 + Int64(k) * 1_000))
        }
    }

    /// The batches of every segment of the log at `dir`, in order.
    static func batches(_ dir: String) throws -> [BatchSummary] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(LogFormat.segmentSuffix) }.sorted()
        var all: [BatchSummary] = []
        for name in names {
            let inspector = try SegmentInspector(path: dir + "/" + name)
            while let b = try inspector.nextBatch() { all.append(b) }
        }
        return all
    }

    @Test("a 1,000-event batch of ~300 KB is stored in blocks, reads back byte for byte, verifies and reopens")
    func largeBatchRoundTrips() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let batches = (0..<3).map { Self.largeBatch($0) }
        do {
            let log = try EventLog.open(at: dir)
            for (i, b) in batches.enumerated() { try await log.append(to: "orders-\(i)", b) }
            // A small batch between them keeps one block.
            try await log.append(to: "small", [event("E", String(repeating: "abcdefgh", count: 100))])
            #expect(try log.readAll().collect().map(\.data) == batches.flatMap { $0.map(\.data) } + [Array(String(repeating: "abcdefgh", count: 100).utf8)])
            try log.close()
        }
        let summaries = try Self.batches(dir)
        #expect(summaries.count == 4)
        for s in summaries.prefix(3) {
            #expect(s.rawPayloadBytes >= 2 * LogFormat.lz4BlocksPieceBytes, "\(s.rawPayloadBytes)")
            // One piece per core: a single-core machine writes one block.
            #expect(s.flags & LogFormat.codecMask == (Helpers.cores > 1 ? LogFormat.codecLZ4Blocks : LogFormat.codecLZ4), "flags \(s.flags)")
            #expect(s.compression == .lz4)
            #expect(s.storedPayloadBytes < s.rawPayloadBytes / 2, "\(s.storedPayloadBytes) of \(s.rawPayloadBytes)")
        }
        #expect(summaries[3].flags & LogFormat.codecMask == LogFormat.codecLZ4)
        let report = try LogVerifier.verify(directory: dir)
        #expect(report.failure == nil, "\(report)")
        let reopened = try EventLog.open(at: dir)
        defer { try? reopened.close() }
        let events = try reopened.readAll().collect()
        #expect(events.map(\.id) == batches.flatMap { $0.map(\.id) } + [events.last!.id])
        #expect(events.prefix(3000).map(\.metadata) == batches.flatMap { $0.map(\.metadata) })
        #expect(events.prefix(3000).map(\.type) == batches.flatMap { $0.map(\.type) })
        #expect(events.prefix(3000).map(\.occurredAt) == batches.flatMap { $0.map(\.occurredAt) })
        // The chain the writer hashed beside its fdatasync is the chain a reader computes.
        for (a, b) in zip(summaries, summaries.dropFirst()) { #expect(b.previousHash == a.chainHash) }
        try await reopened.append(to: "after", [event("E", "after reopen")])
        #expect(try reopened.readAll(from: Position(3001)).collect().map { String(decoding: $0.data, as: UTF8.self) } == ["after reopen"])
    }

    @Test("pieces decode back to the payload, and every malformed block table is refused")
    func decoderIsStrict() throws {
        let raw = Self.largeBatch(7).flatMap(\.data)
        let (stored, n) = LZ4Blocks.compress(raw, blocks: 3)
        #expect(n == stored.count && n > 0)
        func decode(_ bytes: [UInt8], rawLength: Int = raw.count) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: rawLength)
            try bytes.withUnsafeBytes { src in try out.withUnsafeMutableBytes { try LZ4Blocks.decode(src, into: $0) } }
            return out
        }
        #expect(try decode(stored) == raw)

        func with(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var b = stored
            change(&b)
            return b
        }
        func store(_ v: UInt32, at offset: Int, in b: inout [UInt8]) {
            withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { b[offset + k] = $0[k] } }
        }
        let bad: [(String, [UInt8], Int)] = [
            ("one block", with { store(1, at: 0, in: &$0) }, raw.count),
            ("65 blocks", with { store(65, at: 0, in: &$0) }, raw.count),
            ("table cut short", Array(stored.prefix(10)), raw.count),
            ("nothing at all", [], raw.count),
            ("a raw length of 0", with { store(0, at: 4, in: &$0) }, raw.count),
            ("a stored length of 0", with { store(0, at: 8, in: &$0) }, raw.count),
            ("a stored length past the end", with { store(UInt32(stored.count), at: 16, in: &$0) }, raw.count),
            ("a trailing byte", stored + [0], raw.count),
            ("one byte missing", Array(stored.dropLast()), raw.count),
            ("raw lengths short of the header's", stored, raw.count + 1),
            ("raw lengths past the header's", stored, raw.count - 1),
            ("a block boundary moved by one byte", with { b in
                let first = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) }
                let second = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self) }
                store(first - 1, at: 8, in: &b)
                store(second + 1, at: 16, in: &b)
            }, raw.count),
            ("pieces swapped in the table", with { b in
                let first = Array(b[4..<12]), second = Array(b[12..<20])
                b.replaceSubrange(4..<12, with: second)
                b.replaceSubrange(12..<20, with: first)
            }, raw.count),
        ]
        for (what, bytes, rawLength) in bad {
            #expect(throws: MalformedBytes.self, "\(what)") { _ = try decode(bytes, rawLength: rawLength) }
        }
    }

    @Test("a block table that is wrong under a valid CRC is corruption named with segment and offset, not events")
    func damagedTableUnderValidChecksum() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        do {
            let log = try EventLog.open(at: dir)
            try await log.append(to: "first", [event("E", "before")])
            try await log.append(to: "orders", Self.largeBatch(3))
            try log.close()
        }
        let summaries = try Self.batches(dir)
        let target = try #require(summaries.last)
        try #require(target.flags & LogFormat.codecMask == LogFormat.codecLZ4Blocks || Helpers.cores == 1)
        guard Helpers.cores > 1 else { return }
        // Swap the two blocks' stored lengths (the CRC recomputed): the
        // table still covers the payload, but each block is cut in the
        // wrong place.
        let segment = dir + "/" + LogFormat.segmentFileName(base: 0)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        let payload = Int(target.offset) + LogFormat.batchHeaderSize
        let a = Array(bytes[(payload + 8)..<(payload + 12)]), b = Array(bytes[(payload + 16)..<(payload + 20)])
        try #require(a != b, "blocks of equal stored length: nothing to swap")
        bytes.replaceSubrange((payload + 8)..<(payload + 12), with: b)
        bytes.replaceSubrange((payload + 16)..<(payload + 20), with: a)
        let start = Int(target.offset), end = start + target.length
        let crc = bytes.withUnsafeBytes { batchChecksum(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { bytes[start + LogFormat.BatchField.crc + k] = $0[k] } }
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        // The index file describes the old bytes' hash; remove it so the open scans.
        try? FileManager.default.removeItem(atPath: dir + "/" + LogFormat.indexFileName(base: 0))

        let report = try LogVerifier.verify(directory: dir)
        let failure = try #require(report.failure, "verify passed a damaged block table")
        #expect(failure.offset == target.offset, "\(failure)")
        #expect(failure.file.hasSuffix(LogFormat.segmentFileName(base: 0)), "\(failure)")
        // A writer's open refuses it, naming the segment and the batch's offset.
        do {
            let log = try EventLog.open(at: dir)
            try log.close()
            Issue.record("a writer opened a log whose last batch's block table is wrong")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption, "\(e)")
            #expect(e.path?.hasSuffix(LogFormat.segmentFileName(base: 0)) == true && e.offset == target.offset, "\(e)")
        }
    }

    /// The metadata file's version field, and a copy with another version (CRC recomputed).
    static func metaVersion(_ dir: String) throws -> UInt16 {
        let m = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + LogFormat.metaFileName)))
        return UInt16(m[LogFormat.MetaField.formatVersion]) | UInt16(m[LogFormat.MetaField.formatVersion + 1]) << 8
    }

    static func setMetaVersion(_ dir: String, _ version: UInt16) throws {
        let path = dir + "/" + LogFormat.metaFileName
        var m = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        m[LogFormat.MetaField.formatVersion] = UInt8(version & 0xFF)
        m[LogFormat.MetaField.formatVersion + 1] = UInt8(version >> 8)
        let crc = crc32c(Array(m[0..<LogFormat.MetaField.checksum]))
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { m[LogFormat.MetaField.checksum + k] = $0[k] } }
        try Data(m).write(to: URL(fileURLWithPath: path))
    }

    @Test("an LZ4 log's chronik.meta says version 2, so that older builds refuse it instead of calling its blocks damage; a version 1 log moves to 2 only with its first batch in blocks")
    func metaVersionTellsOlderBuilds() async throws {
        let lz4 = makeTempDir("lz4"), plain = makeTempDir("plain")
        defer { removeDir(lz4); removeDir(plain) }
        try EventLog.open(at: lz4).close()
        var none = LogOptions()
        none.compression = .none
        try EventLog.open(at: plain, options: none).close()
        #expect(try Self.metaVersion(lz4) == 2)
        // No batch of a log without compression is ever in blocks: older builds still read it.
        #expect(try Self.metaVersion(plain) == 1)

        // A log an older build made (version 1): readers leave it as it is, the first writer upgrades it.
        try Self.setMetaVersion(lz4, 1)
        var readOnly = LogOptions()
        readOnly.readOnly = true
        try EventLog.open(at: lz4, options: readOnly).close()
        #expect(try LogVerifier.verify(directory: lz4).failure == nil)
        #expect(try Self.metaVersion(lz4) == 1)
        // A writer that writes nothing, or only batches in one block, leaves it readable by older builds
        // (stop 40's helper: an open that appended nothing, or refused the log as damaged, had upgraded it).
        let log = try EventLog.open(at: lz4)
        #expect(log.formatVersion == 1)
        try await log.append(to: "small", [event("E", "one block")])
        #expect(try Self.metaVersion(lz4) == 1 && log.formatVersion == 1)
        try await log.append(to: "orders", Self.largeBatch(1))
        #expect(log.formatVersion == (Helpers.cores > 1 ? 2 : 1))
        try log.close()
        #expect(try Self.metaVersion(lz4) == (Helpers.cores > 1 ? 2 : 1))
        #expect(try LogVerifier.verify(directory: lz4).failure == nil)
        #expect(try LogVerifier.verify(directory: lz4).warnings.isEmpty)
        if Helpers.cores > 1 {
            // A saved version 1 chronik.meta put back over the log: readable here, a trap for older builds: said.
            try Self.setMetaVersion(lz4, 1)
            let report = try LogVerifier.verify(directory: lz4)
            #expect(report.failure == nil, "\(report)")
            #expect(report.warnings.count == 1 && report.warnings[0].reason.contains("says format version 1"), "\(report.warnings)")
            let firstInBlocks = try Self.batches(lz4).first { $0.flags & LogFormat.codecMask == LogFormat.codecLZ4Blocks }
            #expect(report.warnings.first?.offset == firstInBlocks?.offset)
            try Self.setMetaVersion(lz4, 2)
        }

        // A version this build does not know is refused by name, by readers, writers and verify alike.
        try Self.setMetaVersion(lz4, 3)
        for options in [LogOptions(), readOnly] {
            do {
                try EventLog.open(at: lz4, options: options).close()
                Issue.record("a version 3 log was opened")
            } catch let e as ChronikLogError {
                #expect(e.code == .unsupportedVersion && e.message.contains("version 3") && e.message.contains("1 and 2"), "\(e)")
            }
        }
        #expect(throws: ChronikLogError.self) { _ = try LogVerifier.verify(directory: lz4) }
    }

    @Test("a failed rewrite of chronik.meta before the first batch in blocks fails that append with nothing written; the next one upgrades")
    func failedUpgradeWritesNothing() async throws {
        guard Helpers.cores > 1 else { return }
        let storage = FaultyStorage(seed: 40)
        var options = LogOptions()
        options.storage = storage
        options.segmentSizeBytes = 8 << 20
        try EventLog.open(at: "/disk/log", options: options).close()
        // Made by an older build: version 1.
        let meta = "/disk/log/" + LogFormat.metaFileName
        var m = try #require(storage.contents(of: meta))
        m[LogFormat.MetaField.formatVersion] = 1
        let crc = crc32c(Array(m[0..<LogFormat.MetaField.checksum]))
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { m[LogFormat.MetaField.checksum + k] = $0[k] } }
        try storage.writeFileDurably(meta, bytes: m)

        let log = try EventLog.open(at: "/disk/log", options: options)
        defer { try? log.close() }
        try await log.append(to: "small", [event("E", "before")])
        storage.arm([.init(kind: .sync, nth: 1, errno: EIO, pathSuffix: ".tmp")])
        let batch = Self.largeBatch(2)
        do {
            try await log.append(to: "orders", batch)
            Issue.record("the append whose format upgrade failed was acknowledged")
        } catch let e as ChronikLogError {
            #expect(e.code == .io, "\(e)")
        }
        #expect(storage.firedFaults.count == 1)
        #expect(log.head == Position(1) && log.formatVersion == 1)
        #expect(try log.readAll().collect().count == 1)
        // Not poisoned: the retry upgrades, then appends.
        try await log.append(to: "orders", batch)
        #expect(log.formatVersion == 2 && log.head == Position(1001))
        #expect(storage.contents(of: meta)?[LogFormat.MetaField.formatVersion] == 2)
    }
}
