import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikLog

/// Stop 41: with durability `.fsync` the writer keeps the active segment
/// zeroed and synced ahead of its writes (`LogOptions.zeroAheadBytes`), so
/// that a group's fdatasync commits no new file size. The segment's end is
/// then its last batch, not its file size: a clean close and sealing cut
/// the zeros, a reopen after a stop without close finds and cuts them
/// (`RecoveryReport.zeroedBytesCut`, not a torn tail), and a reader beside
/// the writer reads past none of them.
@Suite struct ZeroAheadTests {
    static func fileSize(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    static func segments(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
    }

    @Test("the open log's active segment runs on in zeros; a clean close cuts them; a copy taken while it was open opens with every event and no torn tail")
    func zerosAheadAndTheirCut() async throws {
        let dir = makeTempDir()
        let copy = dir + "-as-left"
        defer { removeDir(dir); removeDir(copy) }
        var options = LogOptions()
        options.zeroAheadBytes = 256 << 10
        let log = try EventLog.open(at: dir, options: options)
        var ids: [EventID] = []
        for i in 0..<20 {
            let e = event("E", "\(i) " + String(repeating: "x", count: i * 37))
            try await log.append(to: "s\(i % 3)", [e])
            ids.append(e.id)
        }
        let path = dir + "/" + LogFormat.segmentFileName(base: 0)
        let committed = Int(log.state.withLock { $0.segments.last!.committedBytes })
        let size = try Self.fileSize(path)
        #expect(size > committed, "the writer keeps zeroed space ahead: \(size) bytes, batches end at \(committed)")
        let bytes = try #require(FileManager.default.contents(atPath: path))
        #expect(bytes[committed...].allSatisfy { $0 == 0 })
        // What a kill -9 leaves: the files as they are, the zeros included.
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        try? FileManager.default.removeItem(atPath: copy + "/LOCK")
        // A reader beside the writer reads every event and reports nothing cut.
        var readOnly = LogOptions()
        readOnly.readOnly = true
        let reader = try EventLog.open(at: dir, options: readOnly)
        #expect(try reader.readAll().collect().map(\.id) == ids)
        #expect(!reader.recovery.didTruncate && reader.recovery.damage == nil)
        let more = event("E", "more")
        try await log.append(to: "s0", [more])
        try reader.refresh()
        #expect(try reader.readAll().collect().map(\.id) == ids + [more.id])
        try reader.close()
        try log.close()
        #expect(try Self.fileSize(path) == Int(log.state.withLock { $0.segments.last!.committedBytes }), "a clean close cuts the zeros")
        #expect(try LogVerifier.verify(directory: dir).isClean)

        let reopened = try EventLog.open(at: copy)
        defer { try? reopened.close() }
        let r = reopened.recovery
        #expect(!r.didTruncate && r.damage == nil, "\(r)")
        #expect(r.zeroedBytesCut == Int64(size - committed) && r.zeroedFile == copy + "/" + LogFormat.segmentFileName(base: 0))
        #expect(try reopened.readAll().collect().map(\.id) == ids)
        #expect(try Self.fileSize(copy + "/" + LogFormat.segmentFileName(base: 0)) == committed)
        let next = try await reopened.append(to: "s0", [event("E", "after")])
        #expect(next.firstPosition == Position(20))
    }

    @Test("inspect: zeros after the last batch are no batch (not a torn tail); a batch whose end landed as zeros is incomplete, not damaged")
    func inspectorTellsZerosFromBatches() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (bytes, offsets, committed) = try await Self.crashImage(dir)
        func end(of bytes: [UInt8]) throws -> SegmentEnd? {
            let copy = dir + "/copy.bin"
            _ = FileManager.default.createFile(atPath: copy, contents: Data(bytes))
            defer { try? FileManager.default.removeItem(atPath: copy) }
            let inspector = try SegmentInspector(path: copy)
            var n = 0
            while try inspector.nextBatch() != nil { n += 1 }
            return inspector.end
        }
        #expect(bytes.count > Int(committed))
        #expect(try end(of: bytes) == .zeroed(offset: committed, bytes: Int64(bytes.count) - committed))
        // The last batch's sectors after its first never landed: zeros, like the space after it.
        let lastBatch = try #require(offsets.last)
        let boundary = Self.lastSectorBoundary(in: lastBatch, committed)
        try #require(boundary > Int(lastBatch) + LogFormat.batchHeaderSize, "the final batch should span a sector boundary")
        var torn = bytes
        for i in boundary..<Int(committed) { torn[i] = 0 }
        guard case .incomplete(let offset, _)? = try end(of: torn) else {
            Issue.record("a batch whose end is zeros: \(String(describing: try end(of: torn)))")
            return
        }
        #expect(offset == lastBatch)
        // A byte flipped inside the batch, its end intact: damage.
        var flipped = bytes
        flipped[Int(lastBatch) + 150] ^= 0x40
        guard case .damaged(let at, _)? = try end(of: flipped) else {
            Issue.record("a flipped byte: \(String(describing: try end(of: flipped)))")
            return
        }
        #expect(at == lastBatch)
    }

    /// A log of three single-event batches (each its own group: the last two
    /// have the unsynced-predecessor bit clear), its active segment followed
    /// by zeroed space, as a kill -9 leaves it; and the batches' offsets.
    static func crashImage(_ dir: String) async throws -> (bytes: [UInt8], offsets: [Int64], committed: Int64) {
        var options = LogOptions()
        options.compression = .none
        options.zeroAheadBytes = 64 << 10
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        for i in 0..<3 { try await log.append(to: "s", [event("E", "\(i) " + String(repeating: "q", count: 200))]) }
        let table = log.state.withLock { $0.segments.last!.snapshot }
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: dir + "/" + LogFormat.segmentFileName(base: 0))))
        #expect(bytes.count > Int(table.committedBytes))
        return (bytes, table.batchOffsets, table.committedBytes)
    }

    /// The last multiple of `LogFormat.sectorBytes` inside the batch from
    /// `start` to `end`, before its last byte (its start when none is).
    static func lastSectorBoundary(in start: Int64, _ end: Int64) -> Int {
        let sector = Int64(LogFormat.sectorBytes)
        return Int(max(start, (end - 1) / sector * sector))
    }

    @Test("an acknowledged final batch whose last bytes were zeroed at rest inside one sector, over zeroed space, is corruption; zeros from a sector boundary are a torn write")
    func zeroedLastBytesInsideASectorAreDamage() async throws {
        // Proves a helper's finding (stop 42): one zeroed final `}` of an acknowledged final batch was cut as torn by
        // rule (c). A write lands whole sectors, so the sector holding a torn batch's last landed byte is whole.
        let dir = makeTempDir()
        defer { removeDir(dir); for k in 0..<4 { removeDir(dir + "-copy\(k)") } }
        let (bytes, offsets, committed) = try await Self.crashImage(dir)
        let last = Int(offsets[2]), end = Int(committed)
        let boundary = Self.lastSectorBoundary(in: offsets[2], committed)
        try #require(boundary > last + LogFormat.batchHeaderSize && bytes[end - 1] != 0 && bytes[boundary] != 0)
        for (k, zeroed) in [1, 2, end - boundary - 1].enumerated() {
            var damaged = bytes
            for i in (end - zeroed)..<end { damaged[i] = 0 }
            let copy = dir + "-copy\(k)"
            try Self.copyAsACrashLeavesIt(dir, to: copy, segment: damaged)
            let error = try #require(throws: ChronikLogError.self, "last \(zeroed) bytes zeroed") { try EventLog.open(at: copy).close() }
            #expect(error.offset == offsets[2], "\(error)")
            #expect(try LogVerifier.verify(directory: copy).failure?.offset == offsets[2], "last \(zeroed) bytes zeroed")
            #expect(try Self.fileSize(copy + "/" + LogFormat.segmentFileName(base: 0)) == bytes.count, "nothing was cut")
        }
        // From the sector boundary on: a write that landed the sectors before it, torn, cut on open.
        var torn = bytes
        for i in boundary..<end { torn[i] = 0 }
        let copy = dir + "-copy3"
        try Self.copyAsACrashLeavesIt(dir, to: copy, segment: torn)
        let reopened = try EventLog.open(at: copy)
        defer { try? reopened.close() }
        #expect(reopened.recovery.truncatedAtOffset == offsets[2], "\(reopened.recovery)")
        #expect(try reopened.readAll().collect().count == 2)
    }

    /// `dir` copied to `copy` as a kill -9 leaves it: no LOCK, no index file
    /// of the active segment (its first write after an open removes it),
    /// and segment 0 holding `segment`.
    static func copyAsACrashLeavesIt(_ dir: String, to copy: String, segment: [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name != "LOCK" && !name.hasSuffix(".idx") {
            try FileManager.default.copyItem(atPath: dir + "/" + name, toPath: copy + "/" + name)
        }
        _ = FileManager.default.createFile(atPath: copy + "/" + LogFormat.segmentFileName(base: 0), contents: Data(segment))
    }

    @Test("a torn final batch over zeroed space is counted apart from the zeros after it: the open and verify name its own bytes, then the zeros")
    func aTornBatchIsCountedApartFromTheZeros() async throws {
        // Stop 42: a 154-byte torn batch over zeroed space was "a torn tail of 673,988 bytes" (the zeros counted in).
        let dir = makeTempDir()
        let copy = dir + "-torn"
        defer { removeDir(dir); removeDir(copy) }
        let (bytes, offsets, committed) = try await Self.crashImage(dir)
        // The last batch's write landed only a prefix, up to a sector boundary; the rest of its bytes are still the
        // zeros it was written over.
        var torn = bytes
        let last = Int(offsets[2])
        let boundary = Self.lastSectorBoundary(in: offsets[2], committed)
        try #require(boundary > last + LogFormat.batchHeaderSize, "the final batch should span a sector boundary")
        for i in boundary..<Int(committed) { torn[i] = 0 }
        // The torn batch is its declared length (its header landed); the zeros after it are the writer's.
        let batch = Int(committed) - last
        try Self.copyAsACrashLeavesIt(dir, to: copy, segment: torn)
        let segment = copy + "/" + LogFormat.segmentFileName(base: 0)
        let zeros = torn.count - Int(committed)
        #expect(zeros > 0)

        let verified = try LogVerifier.verify(directory: copy)
        #expect(verified.isClean)
        let warning = try #require(verified.warnings.first { $0.reason.hasPrefix("torn tail") })
        #expect(warning.offset == Int64(last))
        #expect(warning.reason.hasPrefix("torn tail: \(batch) bytes of "), "\(warning.reason)")
        #expect(warning.reason.contains("then \(zeros) bytes of zeros"), "\(warning.reason)")

        let reopened = try EventLog.open(at: copy)
        defer { try? reopened.close() }
        let r = reopened.recovery
        #expect(r.truncatedAtOffset == Int64(last) && r.bytesTruncated == Int64(batch), "\(r)")
        #expect(r.zeroedBytesCut == Int64(zeros) && r.zeroedFile == segment, "\(r)")
        #expect(try reopened.readAll().collect().count == 2)
        #expect(try Self.fileSize(segment) == last)
    }

    @Test("a final batch whose length field says less than a header, with its bytes after the field and zeroed space after it, is corruption (rule 4 (e))",
          arguments: [0, 62, 96])
    func aLengthNoBatchHasIsDamage(length: Int) async throws {
        // Proves a helper's finding (stop 42): one bit took the final batch's length 126 to 62; rule (b) then read
        // the zeroed space after it as a lost page of the batch, and the open cut the acknowledged batch as torn.
        let dir = makeTempDir() + "-\(length)"
        let copy = dir + "-damaged"
        defer { removeDir(dir); removeDir(copy) }
        let (bytes, offsets, _) = try await Self.crashImage(dir)
        var damaged = bytes
        let at = Int(offsets[2]) + LogFormat.BatchField.length
        withUnsafeBytes(of: UInt32(length).littleEndian) { for (i, b) in $0.enumerated() { damaged[at + i] = b } }
        try Self.copyAsACrashLeavesIt(dir, to: copy, segment: damaged)
        let error = try #require(throws: ChronikLogError.self, "length \(length)") { try EventLog.open(at: copy).close() }
        #expect(error.offset == offsets[2] && error.message.contains("length field is damaged"), "\(error)")
        let verified = try LogVerifier.verify(directory: copy)
        #expect(verified.failure?.offset == offsets[2], "\(verified)")
        #expect(try Self.fileSize(copy + "/" + LogFormat.segmentFileName(base: 0)) == bytes.count, "nothing was cut")
    }

    /// A crashed log (zeroed space after it) whose last batch starts `into`
    /// bytes into a 4 KiB page; its bytes and that batch's offset.
    static func crashImage(_ dir: String, lastBatchInto into: Int64) async throws -> (bytes: [UInt8], last: Int64) {
        var padding = 200
        for attempt in 0..<6 {
            let d = dir + "-\(attempt)"
            defer { removeDir(d) }
            var options = LogOptions()
            options.compression = .none
            options.zeroAheadBytes = 64 << 10
            let log = try EventLog.open(at: d, options: options)
            try await log.append(to: "s", [event("P", String(repeating: "p", count: padding))])
            try await log.append(to: "s", [event("E", "{\"i\":1}")])
            let last = log.state.withLock { $0.segments.last!.snapshot.batchOffsets.last! }
            let bytes = [UInt8](try #require(FileManager.default.contents(atPath: d + "/" + LogFormat.segmentFileName(base: 0))))
            try log.close()
            if last % 4096 == into { return (bytes, last) }
            padding += Int((into - last % 4096 + 4096) % 4096)
            if attempt > 2 { padding -= 1 }
        }
        Issue.record("could not place the last batch \(into) bytes into a page")
        return ([], 0)
    }

    /// Opens a copy of `bytes` as segment 0 of a new log (no index file, as a kill -9 leaves it).
    static func openCopy(_ bytes: [UInt8], _ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var options = LogOptions()
        options.compression = .none
        let log = try EventLog.open(at: dir, options: options)  // writes chronik.meta and an empty segment
        try log.close()
        _ = FileManager.default.createFile(atPath: dir + "/" + LogFormat.segmentFileName(base: 0), contents: Data(bytes))
        try? FileManager.default.removeItem(atPath: dir + "/" + LogFormat.indexFileName(base: 0))
        try EventLog.open(at: dir).close()
    }

    @Test("rule 4 (e) wherever the length field falls on its page, and a batch whose first bytes were zeroed, over zeroed space, are corruption",
          arguments: [Int64(4092), 4089, 4095, 100])
    func aDamagedHeaderIsDamageAtAnyPagePosition(into: Int64) async throws {
        // Proves a helper's findings (stop 42): with the length field on the page after the magic number's, a length
        // of 50 (or one flipped bit) was still cut as torn; and a batch whose first 6 bytes were zeroed was cut as
        // torn for the zeroed pages after it, at any page position.
        let dir = makeTempDir() + "-\(into)"
        defer { removeDir(dir); for k in 0..<3 { removeDir(dir + "-copy\(k)") } }
        let (bytes, last) = try await Self.crashImage(dir, lastBatchInto: into)
        try #require(!bytes.isEmpty && bytes.count > Int(last) + 200 && bytes[(Int(last) + 150)...].allSatisfy { $0 == 0 })
        // (At 4089 the zeroed bytes and the length's zero high bytes are all of the batch's first page: a page that
        // did not land reads so, and the batch is torn by rule (b), as it must be for a write whose first page was lost.)
        let cases = [(0, "length 50"), (1, "length 0")] + (into == 4089 ? [] : [(2, "first 6 bytes zeroed")])
        for (k, damage) in cases {
            var damaged = bytes
            let at = Int(last)
            switch k {
            case 0: withUnsafeBytes(of: UInt32(50).littleEndian) { for (i, b) in $0.enumerated() { damaged[at + 4 + i] = b } }
            case 1: for i in 4..<8 { damaged[at + i] = 0 }
            default: for i in 0..<6 { damaged[at + i] = 0 }
            }
            #expect(throws: ChronikLogError.self, "\(damage) at \(into) into a page") {
                try Self.openCopy(damaged, dir + "-copy\(k)")
            }
        }
    }

    @Test("a damaged length field of one of the last batches, over zeroed space, is corruption: not cut as a torn write",
          arguments: [(2, 1), (2, 4000), (2, 1 << 24), (1, 1 << 16)])
    func aDamagedLengthIsNotATornWrite(batch: Int, added: Int) async throws {
        // Proves a helper's finding (stop 41): one flipped bit of a length field made the open cut acknowledged
        // batches as torn (rules (b) and (c) in the zeros), where a file without zeroed space refused the open.
        let dir = makeTempDir() + "-\(batch)-\(added)"
        let copy = dir + "-damaged"
        defer { removeDir(dir); removeDir(copy) }
        let (bytes, offsets, _) = try await Self.crashImage(dir)
        var damaged = bytes
        let at = Int(offsets[batch]) + LogFormat.BatchField.length
        let length = Int(loadLE(damaged, at, as: UInt32.self))
        withUnsafeBytes(of: UInt32(length + added).littleEndian) { for (i, b) in $0.enumerated() { damaged[at + i] = b } }
        try Self.copyAsACrashLeavesIt(dir, to: copy, segment: damaged)
        let error = try #require(throws: ChronikLogError.self, "batch \(batch), length + \(added)") { try EventLog.open(at: copy).close() }
        let verified = try LogVerifier.verify(directory: copy)
        #expect(!verified.isClean, "batch \(batch), length + \(added)")
        // verify (and repair, which takes its finding) gives the open's reason (stop 43, a helper: "batch checksum
        // mismatch" where the open said the length field was damaged).
        let reason = try #require(verified.failure?.reason)
        #expect(error.message.contains(reason) && reason.contains("length"), "open: \(error.message); verify: \(reason)")
    }

    @Test("beside a live writer, zeros read at a batch boundary that a batch (and synced ones after it) have since replaced are no damage")
    func staleZerosBesideAWriterAreNoDamage() async throws {
        // Proves a helper's finding (stop 41): `read`, `stats`, `tail -f` beside a writer failed 33 of 60 times with
        // "bad batch magic, and a batch written after a completed sync follows it": the scan read the zeroed space,
        // then the writer wrote its next groups there before the check re-read the file.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (bytes, offsets, committed) = try await Self.crashImage(dir)
        let path = dir + "/file.log"
        var first = bytes
        for i in Int(offsets[1])..<Int(committed) { first[i] = 0 }  // as the scan saw it: one batch, then zeros
        _ = FileManager.default.createFile(atPath: path, contents: Data(first))
        let file = try PosixStorage().openFile(path, create: false, readOnly: false)
        defer { file.close() }
        var scanner = BatchScanner(file: file, path: path, start: offsets[0], end: Int64(first.count))
        guard case .success = try scanner.next({ _, _, _ in () }), case .failure(let failure) = try scanner.next({ _, _, _ in () }) else {
            Issue.record("the scan should read one batch, then stop at the zeros")
            return
        }
        #expect(failure.location.offset == offsets[1])
        // The writer's next two groups land where the zeros were.
        try bytes.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[Int(offsets[1])..<Int(committed)]), at: offsets[1]) }
        #expect(try scanner.corruptionReason(for: failure, lenient: true) == nil)
        // Without a writer (not lenient) the same bytes are judged as recovery judges them: here, whole batches.
        #expect(try scanner.isValidBatchNow(at: offsets[1]))
    }

    @Test("beside a live writer a damaged final batch is not judged (it may be one being copied in); without one it is damage")
    func aDamagedFinalBatchBesideAWriterIsNotJudged() async throws {
        // Proves the second helper's finding (stop 41): the fix for stale zeros had dropped the live-writer rule,
        // so readers beside a writer judged its final batch by rules (b)-(d), as if no writer could be copying it.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (bytes, offsets, _) = try await Self.crashImage(dir)
        var flipped = bytes
        flipped[Int(offsets[2]) + 120] ^= 0x10
        let path = dir + "/file.log"
        _ = FileManager.default.createFile(atPath: path, contents: Data(flipped))
        let file = try PosixStorage().openFile(path, create: false, readOnly: true)
        defer { file.close() }
        var scanner = BatchScanner(file: file, path: path, start: offsets[0], end: Int64(flipped.count))
        var failure: BatchScanner.Step?
        while failure == nil {
            if case .failure(let f) = try scanner.next({ _, _, _ in () }) { failure = f }
        }
        let f = try #require(failure)
        #expect(f.location.offset == offsets[2])
        #expect(try scanner.corruptionReason(for: f, lenient: true) == nil)
        #expect(try scanner.corruptionReason(for: f, lenient: false) != nil)
    }

    @Test("every sealed segment ends at its last batch, as its index file says; the log verifies")
    func sealingCutsTheZeros() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 64 << 10
        options.compression = .none
        let log = try EventLog.open(at: dir, options: options)
        for i in 0..<60 {
            try await log.append(to: "s", (0..<4).map { event("E", "\(i).\($0) " + String(repeating: "y", count: 700)) })
        }
        let tables = log.state.withLock { $0.segments.map { ($0.base, Int($0.committedBytes)) } }
        #expect(tables.count > 2)
        for (base, committed) in tables.dropLast() {
            #expect(try Self.fileSize(dir + "/" + LogFormat.segmentFileName(base: base)) == committed, "segment \(base)")
        }
        let (activeBase, activeEnd) = tables.last!
        #expect(try Self.fileSize(dir + "/" + LogFormat.segmentFileName(base: activeBase)) > activeEnd)
        try log.close()
        let verified = try LogVerifier.verify(directory: dir)
        #expect(verified.isClean, "\(String(describing: verified.failure))")
        let reopened = try EventLog.open(at: dir)
        defer { try? reopened.close() }
        #expect(reopened.recovery.rebuiltIndexes.isEmpty && reopened.recovery.zeroedBytesCut == 0)
        #expect(reopened.head == Position(240))
    }

    @Test("a full disk stops the zeroing, not the appends: they go on at the end of the file until the disk is full, nothing is poisoned")
    func zeroingAheadOnAFullDisk() async throws {
        let storage = FaultyStorage(seed: 11)
        var options = faultyOptions(storage)
        options.segmentSizeBytes = 1 << 20
        options.zeroAheadBytes = 256 << 10
        let log = try EventLog.open(at: "/disk/log", options: options)
        // Room for some appends, not for zeroing 64 KiB ahead.
        storage.setCapacity(storage.usedBytes + 4000)
        var acked: [EventID] = []
        let failures = try await appendOnAFullDisk(log, count: 40, acked: &acked)
        #expect(acked.count > 10 && failures > 0, "\(acked.count) acknowledged, \(failures) failed")
        #expect(log.state.withLock { $0.poisoned } == nil)
        #expect(try log.readAll().collect().map(\.id) == acked)
        let path = "/disk/log/" + LogFormat.segmentFileName(base: 0)
        #expect(storage.contents(of: path)!.count == Int(log.state.withLock { $0.segments.last!.committedBytes }),
                "the failed zeroing was cut back")
        storage.setCapacity(nil)
        let later = event("C", "space back")
        try await log.append(to: "s", [later])
        try log.close()
        let reopened = try EventLog.open(at: "/disk/log", options: options)
        defer { try? reopened.close() }
        #expect(try reopened.readAll().collect().map(\.id) == acked + [later.id])
    }
}
