import Foundation
import Subprocess
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Issue 9 points 6-8 and issue 10 points 10-11 through the binary: repair,
// tail -f on damage, reading up to damage, snapshots as a cache, and the
// key-store note.

@Suite("damage, repair and snapshots through the CLI")
struct DamageCLITests {
    /// A log of 20 events in 4 batches whose last batch has a flipped
    /// payload byte (a complete batch, bad checksum, no lost page):
    /// corruption the writer's open refuses. Returns the damaged offset.
    func damagedLog(_ dir: String) async throws -> Int {
        _ = try await makeLog(dir, count: 20, batch: 5)
        let table = try await batches(dir)
        try #require(table.count == 4)
        let victim = table[3]
        let path = dir + "/" + firstSegment
        var bytes = try fileBytes(path)
        bytes[victim.offset + 96 + 3] ^= 0x40
        try writeFile(path, bytes)
        return victim.offset
    }

    @Test("summaries keep every key: a log needing no repair prints the cut's fields as null, verify without --digest a null digest")
    func summariesKeepEveryKey() async throws {
        // Proves the --json summaries have one shape whatever happened (null, not a missing key), in declaration order.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        _ = try await makeLog(dir, count: 3, batch: 3)
        let repair = try await chronik(["repair", "--log", dir, "--json"])
        #expect(repair.exitCode == 0, "\(repair)")
        #expect(repair.stdout == #"{"log":"\#(dir)","damaged":false,"truncated":false,"file":null,"offset":null,"bytes":null,"#
            + #""reason":null,"lastGoodPosition":null,"firstCutPosition":null,"damagedBatchEvents":null,"wholeBatchesCut":null,"#
            + #""wholeEventsCut":null,"syncedEventsLost":null,"record":null,"damagedIndexes":[],"indexesRebuilt":false}"# + "\n", "\(repair)")
        let verify = try await chronik(["verify", "--log", dir, "--json"])
        #expect(verify.exitCode == 0, "\(verify)")
        let o = try #require(jsonObjects(verify.stdout).first)
        #expect(o["digest"] is NSNull && o["failure"] is NSNull && o["lastGoodPosition"] as? Int == 2, "\(verify)")
        #expect(verify.stdout.hasPrefix(#"{"clean":true,"log":"\#(dir)","compression":"#), "\(verify)")
        #expect(verify.stdout.hasSuffix(#","snapshotProblems":[],"failure":null,"damagedIndexes":[],"stoppedEarly":false,"warnings":[],"#
                                        + #""unverified":[],"digest":null}"# + "\n"),
                "\(verify)")
    }

    @Test("repair: dry run shows file, offset, bytes and positions and changes nothing; --truncate cuts, keeps a record, and verify passes")
    func repairDryRunThenTruncate() async throws {
        // Proves the operator's way out of a refused open, and that nothing is cut without --truncate.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let offset = try await damagedLog(dir)
        let path = dir + "/" + firstSegment
        let size = try fileBytes(path).count
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "x")).exitCode == 1)

        let dry = try await chronik(["repair", "--log", dir])
        #expect(dry.exitCode == 1, "\(dry)")
        #expect(dry.stdout.contains("\(path) at byte \(offset): "), "\(dry)")
        #expect(dry.stdout.contains("would cut \(size - offset) bytes"), "\(dry)")
        #expect(dry.stdout.contains("last good position: 14"), "\(dry)")
        #expect(dry.stdout.contains("positions cut: from 15 on (the damaged batch declares 5 events)"), "\(dry)")
        #expect(try fileBytes(path).count == size, "a dry run changed the segment")

        let cut = try await chronik(["repair", "--log", dir, "--truncate", "--json"])
        #expect(cut.exitCode == 0, "\(cut)")
        let o = try #require(jsonObjects(cut.stdout).first)
        #expect(o["truncated"] as? Bool == true && o["offset"] as? Int == offset && o["bytes"] as? Int == size - offset, "\(cut)")
        let record = try #require(o["record"] as? String)
        let text = try String(contentsOfFile: record, encoding: .utf8)
        #expect(text.contains("offset: \(offset)") && text.contains("positions cut: from 15 on"), "\(text)")
        let saved = try fileBytes(String(record.dropLast(4)) + ".cut")
        #expect(saved.count == size - offset)
        #expect(try fileBytes(path).count == offset)

        let verify = try await chronik(["verify", "--log", dir])
        #expect(verify.exitCode == 0, "\(verify)")
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "x")).exitCode == 0)
        let again = try await chronik(["repair", "--log", dir])
        #expect(again.exitCode == 0 && again.stdout.contains("nothing to repair"), "\(again)")
    }

    @Test("reading up to damage: stats, read and export of a log with a damaged active segment print the intact part, warn once, exit 1")
    func readUpToDamage() async throws {
        // Proves an operator can save what is intact, and a script still sees that the result stops early.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let offset = try await damagedLog(dir)
        let read = try await chronik(["read", "--json", "--log", dir])
        #expect(read.exitCode == 1, "\(read)")
        #expect(jsonObjects(read.stdout).count == 15, "\(read)")
        #expect(read.stderrLines.count == 1 && read.stderr.contains("\(firstSegment) at byte \(offset): "), "\(read)")
        #expect(read.stderr.contains("last good position is 14"), "\(read)")
        let stats = try await chronik(["stats", "--json", "--log", dir])
        #expect(stats.exitCode == 1, "\(stats)")
        let s = try #require(jsonObjects(stats.stdout).first)
        #expect(s["events"] as? Int == 15, "\(stats)")
        let damage = try #require(s["damage"] as? [String: Any], "\(stats)")
        #expect(damage["offset"] as? Int == offset)
        let text = try await chronik(["stats", "--log", dir])
        #expect(text.stdout.contains("damage") && text.stdout.contains("last good position"), "\(text)")
    }

    /// A log of 100 one-event batches in 100 streams, closed cleanly (its index file written); its segment's path.
    static func oneEventBatches(_ dir: String) async throws -> String {
        _ = try await makeLog(dir, count: 100, streams: 100, batch: 1)
        return dir + "/" + firstSegment
    }

    /// The byte offset of the batch that begins at `base` in the log's first segment (`chronik inspect --json`).
    static func offset(ofBatchAt base: Int, in dir: String) async throws -> Int {
        let inspect = try await chronik(["inspect", "--json", "--log", dir, dir + "/" + firstSegment])
        return try #require(jsonObjects(inspect.stdout).first { $0["basePosition"] as? Int == base }?["offset"] as? Int, "\(inspect)")
    }

    @Test("reading up to damage when the active segment lost synced batches: the batches before the loss read, as verify counts them")
    func readUpToSyncedLoss() async throws {
        // Proves stop 35's finding: an active segment cut at a batch boundary (its index file, written at a clean
        // close, describing more) was left out whole by read, export and stats — 0 events where verify counted 90.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let segment = try await Self.oneEventBatches(dir)
        let cut = try await Self.offset(ofBatchAt: 90, in: dir)
        #expect(truncate(segment, off_t(cut)) == 0)
        let verify = try await chronik(["verify", "--json", "--log", dir])
        #expect(verify.exitCode == 1 && verify.stdout.contains("\"lastGoodPosition\":89"), "\(verify)")
        let read = try await chronik(["read", "--json", "--log", dir])
        #expect(read.exitCode == 1 && jsonObjects(read.stdout).count == 90, "\(read)")
        #expect(read.stderr.contains("\(firstSegment) at byte \(cut): ") && read.stderr.contains("last good position is 89"), "\(read)")
        let export = try await chronik(["export", "--log", dir])
        #expect(export.exitCode == 1 && export.stdout.split(separator: "\n").count == 90, "\(export)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: segment)).count == cut, "a reader cut nothing")
        // repair says the loss (stop 35: "cut 0 bytes", and the 10 events went unsaid), and --truncate accepts it.
        let dry = try await chronik(["repair", "--log", dir])
        #expect(dry.exitCode == 1 && dry.stdout.contains("synced events already lost: 10 (positions 90–99)"), "\(dry)")
        let json = try await chronik(["repair", "--json", "--log", dir])
        #expect(jsonObjects(json.stdout).first?["syncedEventsLost"] as? Int == 10, "\(json)")
        let done = try await chronik(["repair", "--truncate", "--log", dir])
        #expect(done.exitCode == 0 && done.stdout.contains("their loss is accepted"), "\(done)")
        #expect(try await chronik(["verify", "--log", dir]).exitCode == 0)
        #expect(try await headPosition(dir) == 90)
    }

    @Test("an active segment cut inside a synced batch its index file describes: verify calls it lost synced data, not also a torn tail the open cuts")
    func aCutInsideASyncedBatchIsNotAlsoATornTail() async throws {
        // Proves a helper's finding (stop 42): verify warned "torn tail … a writer's open truncates it" and failed
        // "synced events are missing … an open does not cut acknowledged events" at the same byte.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let segment = try await Self.oneEventBatches(dir)
        let cut = try await Self.offset(ofBatchAt: 90, in: dir) + 40
        #expect(truncate(segment, off_t(cut)) == 0)
        let verify = try await chronik(["verify", "--log", dir])
        #expect(verify.exitCode == 1 && verify.stdout.contains("synced events are missing"), "\(verify)")
        #expect(!verify.stdout.contains("torn tail"), "\(verify)")
    }

    @Test("an active segment cut below its header, whose index file says it held synced batches: readers say so and exit 1, the writer refuses",
          arguments: [0, 20])
    func anActiveSegmentCutBelowItsHeader(size: Int) async throws {
        // Proves a helper's finding (stop 42): stats, read and export exit 0 and showed the log without the active
        // segment's synced events, as for a segment a writer is creating; verify and the writer refused.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        _ = try await makeLog(dir, count: 60, streams: 6, batch: 1, extraArguments: ["--segment-size", "4KiB", "--compression", "none"])
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(segments.count >= 2, "\(segments)")
        let active = segments[segments.count - 1]
        let base = try #require(UInt64(active.prefix(20)))
        #expect(FileManager.default.fileExists(atPath: dir + "/" + active.replacingOccurrences(of: ".log", with: ".idx")))
        #expect(truncate(dir + "/" + active, off_t(size)) == 0)
        for command in [["stats"], ["read", "--json"], ["export"]] {
            let r = try await chronik(command + ["--log", dir])
            #expect(r.exitCode == 1 && r.stderr.contains("\(active) at byte \(size)") && r.stderr.contains("synced"), "\(command): \(r)")
        }
        let read = try await chronik(["read", "--json", "--log", dir])
        #expect(jsonObjects(read.stdout).count == Int(base), "the events before the damage read: \(read)")
        let append = try await chronik(["append", "--log", dir], input: #"{"stream":"s","type":"T","data":{}}"# + "\n")
        #expect(append.exitCode == 1, "\(append)")
    }

    @Test("repair of damage in the middle of an intact active segment says what the cut removes, not that synced events are lost already")
    func repairDoesNotCallCutEventsLost() async throws {
        // Proves stop 40's finding (a helper): with the index file present, every event after the damage was
        // called "synced events already lost", though the file still held them and only the cut would remove them.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let segment = try await Self.oneEventBatches(dir)
        #expect(FileManager.default.fileExists(atPath: dir + "/00000000000000000000.idx"))
        let at = try await Self.offset(ofBatchAt: 50, in: dir)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[at + 100] ^= 0x20  // in its payload: the checksum no longer matches
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let dry = try await chronik(["repair", "--log", dir])
        #expect(dry.exitCode == 1 && dry.stdout.contains("positions cut: from 50 on"), "\(dry)")
        #expect(dry.stdout.contains("whole batches after the damage cut with it: 49 (49 events)"), "\(dry)")
        #expect(!dry.stdout.contains("already lost"), "\(dry)")
        let json = try await chronik(["repair", "--json", "--log", dir])
        #expect(jsonObjects(json.stdout).first.map { $0["syncedEventsLost"] is NSNull } == true, "\(json)")
    }

    @Test("tail -f on a log damaged while it follows: reports the corruption with file and offset and exits 1")
    func tailFollowReportsDamage() async throws {
        // Proves refresh no longer stops silently: the follower says what is wrong and where.
        let dir = try await makeLog(makeTempDir(), count: 3)
        defer { removeDir(dir) }
        let path = dir + "/" + firstSegment
        let errPath = makeTempDir() + ".stderr"
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let errFD = try FileDescriptor.open(FilePath(errPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        let result = try await Subprocess.run(
            .path(FilePath(chronikPath)), arguments: ["tail", "-f", "--json", "--poll-ms", "20", "--log", dir],
            input: .none, output: .sequence, error: .fileDescriptor(errFD, closeAfterSpawningProcess: true)
        ) { execution -> (lines: Int, end: Int) in
            try await withThrowingTaskGroup(of: (lines: Int, end: Int)?.self) { group in
                group.addTask {
                    var lines = 0
                    var end = 0
                    for try await line in execution.standardOutput.strings() where !line.isEmpty {
                        lines += 1
                        if lines == 3 {
                            // A complete batch with a bad checksum lands after the end.
                            var bytes = try fileBytes(path)
                            end = bytes.count
                            let first = try #require(try await batches(dir).first)
                            var copy = Array(bytes[first.offset..<(first.offset + first.length)])
                            copy[copy.count - 2] ^= 0x10
                            bytes += copy
                            try writeFile(path, bytes)
                        }
                    }
                    return (lines, end)
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(60))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                if first == nil { try? execution.send(signal: .terminate) }
                return first ?? (-1, -1)
            }
        }
        #expect(result.closureResult.lines == 3)
        let end = result.closureResult.end
        #expect(result.terminationStatus == .exited(1), "\(result.terminationStatus)")
        let stderr = try String(contentsOfFile: errPath, encoding: .utf8)
        #expect(stderr.contains("\(path) at byte \(end): "), "\(stderr)")
        #expect(stderr.contains("checksum"), "\(stderr)")
    }

    @Test("a damaged snapshot: verify reports it apart and exits 0 (1 with --strict-snapshots); snapshot removes it; simulate names the real reason")
    func damagedSnapshotIsACacheProblem() async throws {
        // Proves snapshots are a cache: their damage never makes the log corrupt, and the way to rebuild is given.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(shopLines.prefix(8).joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        #expect(try await chronik(["snapshot", "--log", dir]).exitCode == 0)
        let more = try writeTemp(shopLines[8] + "\n")
        #expect(try await chronik(["import", "--log", dir, more]).exitCode == 0)
        let snaps = dir + "/snapshots"
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: snaps).first { $0.hasSuffix(".snap") })
        var bytes = try fileBytes(snaps + "/" + name)
        bytes[bytes.count / 2] ^= 0x04
        try writeFile(snaps + "/" + name, bytes)

        let verify = try await chronik(["verify", "--log", dir])
        #expect(verify.exitCode == 0, "\(verify)")
        #expect(verify.stdout.contains("\nOK"), "\(verify)")
        #expect(verify.stdout.contains("SNAPSHOT INVALID: snapshots/\(name) at byte"), "\(verify)")
        #expect(verify.stdout.contains("chronik snapshot --log"), "\(verify)")
        let strict = try await chronik(["verify", "--log", dir, "--strict-snapshots", "--json"])
        #expect(strict.exitCode == 1, "\(strict)")
        #expect((jsonObjects(strict.stdout).first?["snapshotProblems"] as? [Any])?.count == 1, "\(strict)")
        #expect(jsonObjects(strict.stdout).first?["clean"] as? Bool == true, "\(strict)")

        let simulate = try await chronik(["simulate", "--log", dir, "--events", "10"])
        #expect(simulate.exitCode == 1, "\(simulate)")
        #expect(simulate.stderr.contains("the log holds 9 events"), "\(simulate)")
        #expect(!simulate.stderr.contains("it holds snapshots"), "\(simulate)")

        let snapshot = try await chronik(["snapshot", "--log", dir])
        #expect(snapshot.exitCode == 0, "\(snapshot)")
        #expect(snapshot.stdout.contains("removed invalid snapshot \(snaps)/\(name)"), "\(snapshot)")
        #expect(!FileManager.default.fileExists(atPath: snaps + "/" + name))
        let after = try await chronik(["verify", "--log", dir, "--strict-snapshots"])
        #expect(after.exitCode == 0 && !after.stdout.contains("SNAPSHOT INVALID"), "\(after)")
    }

    @Test("no key-store note on a log without personal data; the note stays where personal data reads as erased")
    func keyStoreNoteOnlyWithPersonalData() async throws {
        // Proves the note appears only where it changes what the reader sees.
        let plain = try await makeLog(makeTempDir(), count: 5)
        defer { removeDir(plain) }
        for args in [["export", "--log", plain], ["query", "customers", "--log", plain]] {
            let r = try await chronik(args)
            #expect(!r.stderr.contains("key store"), "\(args): \(r)")
        }
        let shop = makeTempDir()
        defer { removeDir(shop); removeDir(shop + ".keys") }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", shop, file]).exitCode == 0)
        let r = try await chronik(["export", "--log", shop, "--keys", shop + ".nokeys"])
        #expect(r.stderr.contains("no key store"), "\(r)")
    }
}

@Suite("stats checks the sealed segments")
struct StatsSealedDamageTests {
    @Test("a damaged index file, of a sealed segment or of the active one: verify checks every segment past it and fails, repair names it (exit 1), --truncate rebuilds it from its segment, verify passes",
          arguments: [false, true])
    func repairRebuildsADamagedIndexFile(active: Bool) async throws {
        // Proves stop 34's finding: verify failed on it while repair said "nothing to repair (the log opens as it is)";
        // and stop 42's (two helpers): verify stopped at a sealed segment's damaged index and said the log was sound
        // only up to it, and for the active segment's index repair said "nothing to repair" again.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        _ = try await makeLog(dir, count: 200, streams: 20, batch: 10, extraArguments: ["--segment-size", "4KiB", "--compression", "none"])
        let indexes = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".idx") }.sorted()
        try #require(indexes.count >= 3, "\(indexes)")
        let name = active ? indexes[indexes.count - 1] : indexes[1]
        let victim = dir + "/" + name
        let head = try await chronik(["stats", "--json", "--log", dir]).stdout
        var bytes = try fileBytes(victim)
        if active { bytes = Array(bytes.prefix(10)) } else { bytes[bytes.count / 2] ^= 0x10 }
        try writeFile(victim, bytes)
        let damaged = try await chronik(["verify", "--log", dir, "--json"])
        #expect(damaged.exitCode == 1)
        let v = try #require(jsonObjects(damaged.stdout).first)
        #expect(v["clean"] as? Bool == false && v["stoppedEarly"] as? Bool == false && v["events"] as? Int == 200
                && v["segments"] as? Int == indexes.count, "\(damaged)")
        let named = (v["damagedIndexes"] as? [[String: Any]])?.map { $0["file"] as? String }
        #expect(named == [victim] && (v["failure"] as? [String: Any])?["file"] as? String == victim, "\(damaged)")
        let text = try await chronik(["verify", "--log", dir])
        #expect(!text.stdout.contains("up to the damage") && text.stdout.contains("repair --log \(dir) --truncate"), "\(text)")
        let dry = try await chronik(["repair", "--log", dir])
        #expect(dry.exitCode == 1 && dry.stdout.contains(name) && dry.stdout.contains("chronik repair --truncate --log \(dir) rebuilds it"), "\(dry)")
        #expect(try fileBytes(victim) == bytes, "a dry run changes nothing")
        let fixed = try await chronik(["repair", "--truncate", "--log", dir, "--json"])
        #expect(fixed.exitCode == 0, "\(fixed)")
        let report = try #require(jsonObjects(fixed.stdout).first)
        #expect(report["indexesRebuilt"] as? Bool == true && (report["damagedIndexes"] as? [String])?.count == 1, "\(fixed)")
        let verify = try await chronik(["verify", "--log", dir])
        #expect(verify.exitCode == 0, "\(verify)")
        #expect(try await chronik(["stats", "--json", "--log", dir]).stdout == head)
    }

    @Test("stats on a log with a flipped byte in a sealed segment says so, with file, offset and last good position, and exits 1")
    func statsReportsDamageInASealedSegment() async throws {
        // Proves issue 10.10: the open trusts a sealed segment's index and never reads its batches; stats now does.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        _ = try await makeLog(dir, count: 200, streams: 20, batch: 10,
                              extraArguments: ["--segment-size", "4KiB", "--compression", "none"])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(names.count >= 3, "\(names)")
        let intact = try await chronik(["stats", "--json", "--log", dir])
        #expect(intact.exitCode == 0 && intact.stderr.isEmpty, "\(intact)")
        #expect(jsonObjects(intact.stdout).first?["damage"] is NSNull, "\(intact)")

        // A payload byte of the second sealed segment's first batch.
        let victim = dir + "/" + names[1]
        let base = Int(names[1].dropLast(4))!
        var bytes = try fileBytes(victim)
        let first = try #require(try await batches(dir, segment: String(base)).first)
        bytes[first.offset + first.length - 5] ^= 0x40
        try writeFile(victim, bytes)

        let text = try await chronik(["stats", "--log", dir])
        #expect(text.exitCode == 1, "\(text)")
        #expect(text.stdout.contains("damage") && text.stdout.contains("\(victim) at byte \(first.offset): damaged batch in a sealed segment"), "\(text)")
        #expect(text.stdout.contains("last good position \(base - 1)\n"), "\(text)")
        #expect(text.stderrLines.count == 1 && text.stderr.contains("last good position is \(base - 1)"), "\(text)")
        let json = try await chronik(["stats", "--json", "--log", dir])
        #expect(json.exitCode == 1, "\(json)")
        let object = try #require(jsonObjects(json.stdout).first, "\(json)")
        let damage = try #require(object["damage"] as? [String: Any], "\(json)")
        #expect(damage["offset"] as? Int == first.offset && damage["lastGoodPosition"] as? Int == base - 1, "\(json)")
        // The counts are what is intact (stop 33: the whole log's events, streams and head hash were given beside
        // the damage); what is not known up to it is null, and said so in the text.
        #expect(object["events"] as? Int == base && object["headPosition"] as? Int == base, "\(json)")
        #expect(object["streams"] is NSNull && object["headHash"] is NSNull, "\(json)")
        let digits = Array(String(base))
        let grouped = String(digits.enumerated().flatMap { i, c in (i > 0 && (digits.count - i) % 3 == 0) ? [",", c] : [c] })
        #expect(text.stdout.contains("events         \(grouped)\n") && text.stdout.contains("head hash      not known up to the damage"), "\(text)")
    }
}
