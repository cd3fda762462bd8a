import Foundation
import Testing

@Suite("chronik verify and inspect")
struct VerifyInspectTests {
    @Test("inspect says what a file is when it is not a segment: an index file, an empty or a foreign file, exit 1")
    func inspectRefusesWhatIsNotASegment() async throws {
        // Proves stop 32's fix: an empty file was "INCOMPLETE final batch (torn tail)" with exit 0, and an index file
        // "header DAMAGED: bad segment magic".
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        #expect(try await chronik(["demo", "--events", "500", "--log", dir, "--quiet"]).exitCode == 0)
        let index = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".idx") })
        try Data().write(to: URL(fileURLWithPath: dir + "/empty.txt"))
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir + "/junk.log"))
        for (file, what) in [(index, "is an index file"), ("empty.txt", "is not a Chronik segment file: it is empty"),
                             ("junk.log", "does not begin with the segment magic")] {
            let r = try await chronik(["inspect", dir + "/" + file])
            #expect(r.exitCode == 1 && r.stderr.contains(what) && r.stdout.isEmpty, "\(file): \(r)")
        }
    }

    @Test("verify on a sound multi-segment log exits 0 and counts every segment, batch, event and index")
    func verifyClean() async throws {
        // Proves a clean log passes and the summary matches what was written.
        let dir = try await makeLog(makeTempDir(), count: 300, streams: 6, batch: 7, extraArguments: ["--segment-size", "4K"])
        defer { removeDir(dir) }
        let r = try await chronik(["verify", "--json", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first)
        #expect(report["clean"] as? Bool == true)
        #expect(report["events"] as? Int == 300)
        #expect(report["headPosition"] as? Int == 300)
        let segments = try #require(report["segments"] as? Int)
        #expect(segments > 1)
        // Every sealed segment has one, and the active segment since the append's clean close.
        #expect(report["indexesChecked"] as? Int == segments)
        #expect((report["warnings"] as? [Any])?.isEmpty == true)
        let stats = try await chronik(["stats", "--json", "--log", dir])
        #expect(report["headHash"] as? String == jsonObjects(stats.stdout).first?["headHash"] as? String)

        let text = try await chronik(["verify", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdoutLines.last == "OK")
    }

    @Test("verify lists what it does not check (stray files, also in the snapshots directory), as text and JSON, and stays clean")
    func verifyListsUnverified() async throws {
        // Proves verify never implies it checked files it does not know.
        let dir = try await makeLog(makeTempDir(), count: 10)
        defer { removeDir(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/snapshots", withIntermediateDirectories: false)
        try writeFile(dir + "/snapshots/orders.snap", Array("x".utf8))
        try writeFile(dir + "/README", Array("x".utf8))
        let r = try await chronik(["verify", "--json", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first)
        #expect(report["unverified"] as? [String] == ["README", "snapshots/orders.snap"])
        let text = try await chronik(["verify", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdout.contains("not verified (no check for them yet): README, snapshots/orders.snap"), "\(text)")
    }

    @Test("verify after one flipped byte in a batch exits 1 and names the file and the batch's offset")
    func verifyFlippedByte() async throws {
        // Proves a bit flip in acknowledged data is found and located.
        let dir = try await makeLog(makeTempDir(), count: 40, batch: 5)
        defer { removeDir(dir) }
        let table = try await batches(dir)
        try #require(table.count == 8)
        let victim = table[3]
        let path = dir + "/" + firstSegment
        var bytes = try fileBytes(path)
        bytes[victim.offset + 96 + 3] ^= 0x40  // inside the payload
        try writeFile(path, bytes)

        let r = try await chronik(["verify", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stdout.contains("CORRUPT: \(path) at byte \(victim.offset): "), "\(r)")
        #expect(r.stdout.contains("checksum"), "\(r)")
        // Told once (issue 10 point 10): the report is the result, on stdout.
        #expect(r.stderr.isEmpty, "\(r)")
        #expect(r.stdout.contains("last good position 14"), "\(r)")
        // What was sound before the damage is reported as verified.
        #expect(r.stdout.contains("3 batches, 15 events"), "\(r)")
    }

    @Test("verify finds a batch rewritten with a valid checksum: the next batch's hash chain link breaks")
    func verifyBrokenChain() async throws {
        // Proves the SHA-256 chain catches what a checksum alone cannot.
        let dir = try await makeLog(makeTempDir(), count: 30, batch: 5, extraArguments: ["--compression", "none"])
        defer { removeDir(dir) }
        let table = try await batches(dir)
        try #require(table.count == 6)
        let path = dir + "/" + firstSegment
        var bytes = try fileBytes(path)
        let b = table[2]
        // The forging CRC must agree with the writer's before it is trusted.
        #expect(crc32c(bytes[(b.offset + 12)..<(b.offset + b.length)]) == readUInt32LE(bytes, at: b.offset + 8))
        // The payload ends with the last event's data, {"i":14}: make it 15.
        let digit = b.offset + b.length - 2
        try #require(bytes[digit] == UInt8(ascii: "4"))
        bytes[digit] = UInt8(ascii: "5")
        writeUInt32LE(crc32c(bytes[(b.offset + 12)..<(b.offset + b.length)]), into: &bytes, at: b.offset + 8)
        try writeFile(path, bytes)

        let r = try await chronik(["verify", "--json", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first)
        let failure = try #require(report["failure"] as? [String: Any])
        #expect(failure["code"] as? String == "chainMismatch")
        #expect(failure["offset"] as? Int == table[3].offset)
        #expect(failure["file"] as? String == path)
        #expect((failure["reason"] as? String)?.contains("hash chain") == true)
        // The rewritten batch is named too, by its offset and positions.
        #expect((failure["reason"] as? String)?.contains("(at byte \(b.offset), positions 10…14)") == true, "\(failure)")
        #expect(report["events"] as? Int == 15)  // batches 0...2 pass every check of their own
    }

    @Test("verify compares each index file with its segment and names a damaged one")
    func verifyIndexMismatch() async throws {
        // Proves index files are checked, not just present.
        let dir = try await makeLog(makeTempDir(), count: 200, streams: 2, batch: 4, extraArguments: ["--segment-size", "4K"])
        defer { removeDir(dir) }
        let index = dir + "/00000000000000000000.idx"
        var bytes = try fileBytes(index)
        try #require(bytes.count > 120)
        bytes[100] ^= 0x01
        try writeFile(index, bytes)
        let r = try await chronik(["verify", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stdout.contains("00000000000000000000.idx at byte 100"), "\(r)")
    }

    @Test("a torn final batch is a warning for verify, shown by read, and truncated (and reported) by the next writer")
    func tornTail() async throws {
        // Proves the recovery report reaches the user and verify tells torn from corrupt.
        let dir = try await makeLog(makeTempDir(), count: 20, batch: 5)
        defer { removeDir(dir) }
        let path = dir + "/" + firstSegment
        var bytes = try fileBytes(path)
        let sound = bytes.count
        let first = try #require(try await batches(dir).first)
        // Half a copy of the first batch: its length runs past the end of the file.
        bytes += bytes[first.offset..<(first.offset + first.length / 2)]
        try writeFile(path, bytes)

        let verify = try await chronik(["verify", "--log", dir])
        #expect(verify.exitCode == 0, "\(verify)")
        #expect(verify.stdout.contains("warning"), "\(verify)")
        #expect(verify.stdout.contains("torn tail"), "\(verify)")
        #expect(verify.stdout.contains("at byte \(sound)"), "\(verify)")
        // --json: a warning's code says warning (stop 36: an auditor's consumer read `corruption` in every warning).
        let json = try #require(jsonObjects(try await chronik(["verify", "--json", "--log", dir]).stdout).first)
        let warnings = try #require(json["warnings"] as? [[String: Any]])
        // The torn tail, and the clean close's index file (written for the whole batches before it).
        #expect(json["clean"] as? Bool == true && warnings.count == 2, "\(json)")
        #expect(warnings.allSatisfy { $0["code"] as? String == "warning" }, "\(json)")
        #expect(warnings.first?["offset"] as? Int == sound, "\(json)")

        let read = try await chronik(["read", "--log", dir])
        #expect(read.exitCode == 0, "\(read)")
        #expect(read.stdoutLines.count == 20)
        #expect(read.stderr.contains("recovery: ignoring a torn tail of \(first.length / 2) bytes"), "\(read)")
        #expect(read.stderr.contains("last valid position 19"), "\(read)")

        let append = try await chronik(["append", "--log", dir], input: eventLine(stream: "s-0"))
        #expect(append.exitCode == 0, "\(append)")
        #expect(append.stderr.contains("recovery: truncated a torn tail of \(first.length / 2) bytes in \(path) at byte \(sound)"), "\(append)")
        let after = try await chronik(["verify", "--log", dir])
        #expect(after.exitCode == 0, "\(after)")
        #expect(!after.stderr.contains("warning"), "\(after)")
        #expect(try await headPosition(dir) == 21)
    }

    @Test("a final batch whose length field points past the end is corruption, not a torn tail")
    func damagedLengthOfFinalBatch() async throws {
        // Proves verify does not excuse an acknowledged batch as torn: the
        // length field lies outside the checksum, so only the whole-batch
        // check can tell a damaged length from a write cut short.
        let dir = try await makeLog(makeTempDir(), count: 12, batch: 4)
        defer { removeDir(dir) }
        let last = try #require(try await batches(dir).last)
        let path = dir + "/" + firstSegment
        var bytes = try fileBytes(path)
        try #require(last.offset + last.length == bytes.count)
        writeUInt32LE(UInt32(last.length + 40), into: &bytes, at: last.offset + 4)
        try writeFile(path, bytes)
        let r = try await chronik(["verify", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stdout.contains("at byte \(last.offset): batch length field damaged"), "\(r)")
        #expect(!r.stdout.contains("torn tail"), "\(r)")
    }

    @Test("verify exits 64 on a usage error and 1 on a directory that is not a log")
    func verifyExitCodes() async throws {
        // Proves verify's documented exit statuses other than 0.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let unknown = try await chronik(["verify", "--no-such-option"])
        #expect(unknown.exitCode == 64, "\(unknown)")
        let extra = try await chronik(["verify", "--log", dir, "surplus"])
        #expect(extra.exitCode == 64, "\(extra)")
        let missing = try await chronik(["verify", "--log", dir])
        #expect(missing.exitCode == 1, "\(missing)")
        #expect(missing.stderr.contains("not a Chronik log"), "\(missing)")
    }

    @Test("a damaged magic of chronik.meta beside segments is a damaged metadata file (verify reports it, --json too), a missing one is said alike by verify and the open")
    func damagedOrMissingMetadata() async throws {
        // Proves a helper's findings (stop 42): one flipped bit of the magic read as "not a Chronik log" with no
        // offset and verify --json printed nothing; with chronik.meta deleted verify said "directory holds no
        // Chronik log" and stats "missing, beside 3 segment files".
        let dir = try await makeLog(makeTempDir(), count: 20, streams: 2, batch: 4)
        defer { removeDir(dir) }
        let meta = dir + "/chronik.meta"
        let original = try fileBytes(meta)
        var bytes = original
        bytes[2] ^= 0x04
        try writeFile(meta, bytes)
        let verify = try await chronik(["verify", "--json", "--log", dir])
        let report = try #require(jsonObjects(verify.stdout).first, "\(verify)")
        let failure = try #require(report["failure"] as? [String: Any], "\(verify)")
        #expect(verify.exitCode == 1 && failure["file"] as? String == meta && failure["offset"] as? Int == 0, "\(verify)")
        #expect((failure["reason"] as? String)?.contains("does not begin with the metadata magic") == true, "\(verify)")
        let stats = try await chronik(["stats", "--log", dir])
        #expect(stats.exitCode == 1 && stats.stderr.contains("does not begin with the metadata magic, beside 1 segment file"), "\(stats)")
        try FileManager.default.removeItem(atPath: meta)
        let missing = try await chronik(["verify", "--log", dir])
        #expect(missing.exitCode == 1 && missing.stderr.contains("chronik.meta is missing, beside 1 segment file"), "\(missing)")
    }

    @Test("inspect calls a sealed segment that ends inside a batch, and a batch out of position order, damage (exit 1), as verify does")
    func inspectKnowsSealedSegmentsAndPositions() async throws {
        // Proves a helper's findings (stop 42): for a sealed segment cut inside its last batch inspect said
        // "INCOMPLETE final batch (torn tail)", exit 0, and for a copy of the active segment's last batch appended
        // after it "end of segment"; verify and the open refuse both.
        let dir = try await makeLog(makeTempDir(), count: 200, streams: 2, batch: 4, extraArguments: ["--segment-size", "4K", "--compression", "none"])
        defer { removeDir(dir) }
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(segments.count >= 2)
        let sealed = dir + "/" + segments[0]
        let size = try fileBytes(sealed).count
        #expect(truncate(sealed, off_t(size - 10)) == 0)
        let cut = try await chronik(["inspect", "--log", dir, segments[0]])
        #expect(cut.exitCode == 1 && cut.stderr.contains("a sealed segment (a later one follows it) ends inside a batch"), "\(cut)")

        let active = dir + "/" + segments[segments.count - 1]
        let batches = jsonObjects(try await chronik(["inspect", "--json", "--log", dir, segments[segments.count - 1]]).stdout)
            .filter { $0["kind"] as? String == "batch" }
        let last = try #require(batches.last)
        let (offset, length) = (try #require(last["offset"] as? Int), try #require(last["length"] as? Int))
        var bytes = try fileBytes(active)
        bytes += Array(bytes[offset..<(offset + length)])
        try writeFile(active, bytes)
        let copied = try await chronik(["inspect", "--log", dir, segments[segments.count - 1]])
        #expect(copied.exitCode == 1 && copied.stderr.contains("at byte \(offset + length)") && copied.stderr.contains("expected"), "\(copied)")
    }

    @Test("inspect prints the header and one line per batch, as text and JSON, and exits 1 on damage")
    func inspect() async throws {
        // Proves inspect shows every batch with its fields and reports where a segment is damaged.
        let dir = try await makeLog(makeTempDir(), count: 12, streams: 2, batch: 4)
        defer { removeDir(dir) }
        let json = try await chronik(["inspect", "--json", "--log", dir, firstSegment])
        #expect(json.exitCode == 0, "\(json)")
        let objects = jsonObjects(json.stdout)
        #expect(objects.map { $0["kind"] as? String } == ["segment", "batch", "batch", "batch", "batch", "end"])
        #expect(objects[0]["basePosition"] as? Int == 0)
        #expect(objects[0]["headerProblem"] is NSNull)
        let batchObjects = objects.filter { $0["kind"] as? String == "batch" }
        #expect(batchObjects.compactMap { $0["basePosition"] as? Int } == [0, 4, 6, 10])
        #expect(batchObjects.compactMap { $0["count"] as? Int } == [4, 2, 4, 2])
        #expect(batchObjects.compactMap { $0["stream"] as? String } == ["s-0", "s-0", "s-1", "s-1"])
        #expect(batchObjects.compactMap { $0["firstVersion"] as? Int } == [0, 4, 0, 4])
        // Each batch points back to the one before it.
        for i in 1..<batchObjects.count {
            #expect(batchObjects[i]["previousHash"] as? String == batchObjects[i - 1]["chainHash"] as? String)
        }
        #expect(objects.last?["status"] as? String == "clean")
        #expect(objects.last?["events"] as? Int == 12)

        let text = try await chronik(["inspect", "--log", dir, "0"])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdoutLines.count == 7)  // header, column names, 4 batches, end
        #expect(text.stdoutLines[0].contains("base 0, format 1"))
        #expect(text.stdoutLines[2].hasPrefix("32 "))
        #expect(text.stdoutLines.last?.contains("end of segment; 4 batches, 12 events") == true)

        let path = dir + "/" + firstSegment
        var bytes = try fileBytes(path)
        let third = try #require(batchObjects[2]["offset"] as? Int)
        bytes[third + 100] ^= 0xFF
        try writeFile(path, bytes)
        let damaged = try await chronik(["inspect", "--log", dir, path])
        #expect(damaged.exitCode == 1, "\(damaged)")
        #expect(damaged.stdout.contains("\(third): DAMAGED"), "\(damaged)")
        #expect(damaged.stderr.contains("at byte \(third)"), "\(damaged)")

        let none = try await chronik(["inspect", "--log", dir, "99"])
        #expect(none.exitCode == 1, "\(none)")
        #expect(none.stderr.contains("no segment file"), "\(none)")
    }
}
