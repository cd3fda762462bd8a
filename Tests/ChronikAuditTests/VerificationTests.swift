import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikLog

@Suite("Verification: bit flips, forged rewrites, file modes")
struct VerificationTests {
    /// What one flipped bit led to, beyond verify's finding it.
    enum Outcome: Hashable { case openRefused, readRefused, readSame, readOnlyPrefixWriterRefused }

    @Test("every single-bit flip in segments, indexes and metadata is found by verify, and no read returns changed data")
    func randomBitFlips() async throws {
        // Proves: no byte of the log is unchecked. For each trial one random
        // bit of one file flips (on a copy); LogVerifier must report it (or
        // refuse the directory), and a reader must refuse or read exactly the
        // original events — never different data, never silently fewer.
        let dir = makeTempDir()
        let work = makeTempDir("flip-work")
        defer { removeDir(dir); removeDir(work) }
        try await makeFixtureLog(dir, count: 400)
        let original = try readEverything(dir)
        let clean = try LogVerifier.verify(directory: dir)
        try #require(clean.isClean && clean.warnings.isEmpty, "\(String(describing: clean.failure))")
        // LOCK holds no data of the log, only the last writer's note of who
        // held it (stop 37), which nothing reads as data.
        let files = try snapshotFiles(dir).filter { !$0.bytes.isEmpty && $0.name != LogFormat.lockFileName }
        let segments = files.filter { $0.name.hasSuffix(".log") }.count
        try #require(segments >= 4 && files.contains { $0.name.hasSuffix(".idx") } && files.contains { $0.name == "chronik.meta" })

        let env = ProcessInfo.processInfo.environment
        let trials = env["CHRONIK_FLIP_TRIALS"].flatMap(Int.init) ?? 1000
        let seed = env["CHRONIK_FLIP_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("randomBitFlips: seed \(seed) (CHRONIK_FLIP_SEED), \(trials) trials (CHRONIK_FLIP_TRIALS), files \(files.map { "\($0.name):\($0.bytes.count)" })")
        var rng = SplitMix64(seed: seed)
        let total = files.reduce(0) { $0 + $1.bytes.count }
        var outcomes: [Outcome: Int] = [:]
        var perFile: [String: Int] = [:]
        var verifyFound = 0
        try restoreFiles(files, into: work)
        for trial in 0..<trials {
            // Half the trials pick a file first (so the small files get
            // flips), half a byte of all bytes (so big files get more).
            var fi: Int, offset: Int
            if trial % 2 == 0 {
                fi = Int.random(in: 0..<files.count, using: &rng)
                offset = Int.random(in: 0..<files[fi].bytes.count, using: &rng)
            } else {
                var k = Int.random(in: 0..<total, using: &rng)
                fi = 0
                while k >= files[fi].bytes.count { k -= files[fi].bytes.count; fi += 1 }
                offset = k
            }
            let bit = UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            var flipped = files[fi].bytes
            flipped[offset] ^= bit
            let path = work + "/" + files[fi].name
            try writeFile(path, flipped)
            perFile[files[fi].name, default: 0] += 1
            let what = "trial \(trial) (seed \(seed)): bit \(bit) at byte \(offset) of \(files[fi].name)"

            var found: Bool
            do { found = try LogVerifier.verify(directory: work).failure != nil } catch { found = true }  // refused outright
            if found { verifyFound += 1 }
            // A reader (read-only: it writes nothing, so the copy stays as is).
            var outcome: Outcome
            var ro = LogOptions()
            ro.readOnly = true
            ro.createIfMissing = false
            if let reader = try? EventLog.open(at: work, options: ro) {
                defer { try? reader.close() }
                if let events = try? reader.readAll().collect() {
                    if events == original {
                        outcome = .readSame
                    } else if events.count < original.count, Array(original.prefix(events.count)) == events {
                        // A read-only opener stops before a final batch it cannot
                        // read (a writer may be copying it in); the writer's open
                        // must then refuse, not drop it.
                        var o = smallLogOptions()
                        o.createIfMissing = false
                        var refused = false
                        do { try EventLog.open(at: work, options: o).close() } catch { refused = true }
                        #expect(refused, "a flip made acknowledged events disappear: \(events.count) of \(original.count) read; \(what)")
                        outcome = .readOnlyPrefixWriterRefused
                        try restoreFiles(files, into: work)  // the writer's open may have written
                    } else {
                        Issue.record("a flip was read as valid, different data (\(events.count) events): \(what)")
                        outcome = .readSame
                    }
                } else {
                    outcome = .readRefused
                }
            } else {
                outcome = .openRefused
            }
            #expect(found, "verify did not find the flip: \(what); reader: \(outcome)")
            outcomes[outcome, default: 0] += 1
            try writeFile(path, files[fi].bytes)
        }
        print("randomBitFlips: verify found \(verifyFound) of \(trials); readers: \(outcomes); flips per file \(perFile.sorted { $0.key < $1.key })")
        #expect(verifyFound == trials)
    }

    @Test("a batch rewritten with a recomputed checksum passes plain reads but breaks the hash chain at the next batch")
    func forgedRewrite() async throws {
        // Proves the attack the chain exists for: an editor with write access
        // changes an old amount, re-compresses, fixes the CRC; the CRC checks
        // pass (a read returns the forged amount), verify names the break.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 300)
        let segPath = dir + "/" + LogFormat.segmentFileName(base: 0)
        var seg = try fileBytes(segPath)
        let layout = batchLayout(seg)
        try #require(layout.count >= 3)
        // The first LZ4 batch that is not the segment's last.
        let k = try #require(layout.indices.dropLast().first { seg[layout[$0].offset + 13] & 0b11 == LogFormat.codecLZ4 })
        let (off, len) = layout[k]
        let header = try seg.withUnsafeBytes { raw in
            try #require(try BatchHeader.parse(UnsafeRawBufferPointer(rebasing: raw[off..<(off + len)]))?.get())
        }
        var decoded = try seg.withUnsafeBytes { raw in
            try DecodedBatch(batch: UnsafeRawBufferPointer(rebasing: raw[off..<(off + len)]), header: header)
        }
        let events = try decoded.allRecords()
        let amountText = String(decoding: events[0].data, as: UTF8.self)
        // Change the amount's last digit to each other digit until the
        // re-compressed batch has the same length (so nothing after it moves).
        let digitIndex = try #require(events[0].data.firstIndex(of: UInt8(ascii: ","))) - 1
        var forged: [UInt8]?
        for d in UInt8(ascii: "0")...UInt8(ascii: "9") where d != events[0].data[digitIndex] {
            var proposed = events.map { ProposedEvent(id: $0.id, type: $0.type, data: $0.data, metadata: $0.metadata, occurredAt: $0.occurredAt) }
            proposed[0].data[digitIndex] = d
            var out: [UInt8] = []
            _ = BatchEncoder.encode(stream: events[0].stream, events: proposed, basePosition: header.basePosition,
                                    firstStreamVersion: header.firstStreamVersion, recordedAt: Timestamp(microseconds: header.recordedAt),
                                    previousHash: header.previousHash, compression: .lz4, into: &out)
            if out.count == len { forged = out; break }
        }
        let batch = try #require(forged, "no same-length forgery of \(amountText)")
        #expect(batch[13] & 0b11 == LogFormat.codecLZ4)
        seg.replaceSubrange(off..<(off + len), with: batch)
        try writeFile(segPath, seg)

        // Plain reads trust the checksum: the forged amount comes back.
        let read = try readEverything(dir)
        #expect(read[Int(events[0].position.value)].data != events[0].data)

        let report = try LogVerifier.verify(directory: dir)
        let failure = try #require(report.failure)
        #expect(failure.code == .chainMismatch)
        #expect(failure.file == segPath)
        #expect(failure.offset == Int64(layout[k + 1].offset))
        #expect(failure.reason.contains("hash chain broken"))
        #expect(failure.reason.contains("at byte \(off)"), "the rewritten batch is named: \(failure.reason)")
        #expect(report.headPosition.value == header.basePosition + UInt64(header.count))  // the forged batch passes its own checks
    }

    @Test("a reserved header byte set with a matching checksum is still refused by verify")
    func reservedBytes() async throws {
        // Proves reserved bytes are checked, not only checksummed: a batch
        // (the last, so no chain link follows) with byte 14 set and its CRC
        // recomputed, and a metadata file with a reserved byte set and its CRC recomputed.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 30, segmentSize: 1 << 20)
        let segPath = dir + "/" + LogFormat.segmentFileName(base: 0)
        var seg = try fileBytes(segPath)
        let last = try #require(batchLayout(seg).last)
        try #require(last.offset + last.length == seg.count)
        seg[last.offset + 14] = 1
        let crc = crc32c(Array(seg[(last.offset + 12)..<(last.offset + last.length)]))
        withUnsafeBytes(of: crc.littleEndian) { seg.replaceSubrange((last.offset + 8)..<(last.offset + 12), with: $0) }
        try writeFile(segPath, seg)
        let r = try LogVerifier.verify(directory: dir)
        #expect(r.failure?.offset == Int64(last.offset))
        #expect(r.failure?.reason.contains("reserved") == true, "\(String(describing: r.failure))")

        // Drop that batch: clean again once the active segment's index file,
        // which the clean close wrote for it, is gone too (with it, the
        // shorter segment is synced data lost: stop 34).
        try writeFile(segPath, try fileBytes(segPath).prefix(last.offset) + [])
        #expect(try LogVerifier.verify(directory: dir).failure?.reason.contains("synced events are missing") == true)
        try FileManager.default.removeItem(atPath: dir + "/" + LogFormat.indexFileName(base: 0))
        #expect(try LogVerifier.verify(directory: dir).isClean)
        var meta = try fileBytes(dir + "/chronik.meta")
        meta[30] = 7
        let metaCRC = crc32c(Array(meta[0..<60]))
        withUnsafeBytes(of: metaCRC.littleEndian) { meta.replaceSubrange(60..<64, with: $0) }
        try writeFile(dir + "/chronik.meta", meta)
        let m = try LogVerifier.verify(directory: dir)
        #expect(m.failure?.offset == 30)
        #expect(m.failure?.reason.contains("reserved") == true, "\(String(describing: m.failure))")
    }

    @Test("the log directory is created 0700 and every file in it 0600")
    func fileModes() async throws {
        // Proves the permissions of a new log, with a permissive umask.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let old = umask(0o022)
        defer { umask(old) }
        try await makeFixtureLog(dir, count: 200)
        var st = stat()
        try #require(stat(dir, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(names.contains("LOCK") && names.contains("chronik.meta") && names.contains { $0.hasSuffix(".idx") })
        for name in names {
            try #require(stat(dir + "/" + name, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600, "\(name) has mode \(String(st.st_mode & 0o777, radix: 8))")
        }
    }

    @Test("verify lists files it does not check (snapshots, strays) instead of implying it checked them")
    func unverifiedFiles() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 20)
        try FileManager.default.createDirectory(atPath: dir + "/snapshots", withIntermediateDirectories: false)
        try writeFile(dir + "/notes.txt", Array("x".utf8))
        let r = try LogVerifier.verify(directory: dir)
        #expect(r.isClean)
        #expect(r.unverified == ["notes.txt", "snapshots"])
    }
}
