import Foundation
@testable import ChronikLog
import Subprocess
import SystemPackage
import Testing

@Suite("chronik append, read, stats")
struct AppendReadTests {
    @Test("append --json that refuses its input says so on stdout too, with the bad lines, and writes nothing")
    func jsonRefusal() async throws {
        // Proves stop 32's fix: a refusal printed no JSON, so a script had to read stderr.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let input = #"{"stream":"s","type":"Noted","data":{}}"# + "\nnope\n" + #"{"stream":"s","type":"Noted","data":{"n":1e999}}"#
        let r = try await chronik(["append", "--json", "--log", dir], input: input)
        #expect(r.exitCode == 1, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first)
        #expect(report["appended"] as? Int == 0 && report["rejects"] as? Int == 2, "\(r)")
        let rejected = try #require(report["rejected"] as? [[String: Any]])
        #expect(rejected.map { $0["line"] as? Int } == [2, 3] && rejected.allSatisfy { $0["code"] as? String == "invalidJSON" }, "\(r)")
        #expect(r.stderr.contains("nothing was appended"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir))
        let fine = try await chronik(["append", "--json", "--log", dir], input: #"{"stream":"s","type":"Noted","data":{}}"#)
        #expect((jsonObjects(fine.stdout).first?["rejected"] as? [Any])?.isEmpty == true, "\(fine)")
    }

    @Test("append then read prints every event in order, as text and as JSON with stable keys")
    func roundTrip() async throws {
        // Proves the JSON Lines → log → text/JSON path keeps every field.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let input = [
            #"{"stream":"order-1","type":"OrderNoted","data":{"total":4999,"paid":false,"items":[1,2.5,null]},"meta":{"actor":"alice"},"expectedVersion":"noStream"}"#,
            #"{"stream":"order-1","type":"OrderPaid","data":"cash","id":"0190B1A2-3C4D-4E5F-8A6B-7C8D9E0F1A2B","time":"2026-11-25T12:00:00+02:00"}"#,
            "",
            #"{"stream":"order-2","type":"OrderNoted","data":7}"#,
        ].joined(separator: "\n")
        let append = try await chronik(["append", "--log", dir], input: input)
        #expect(append.exitCode == 0, "\(append)")
        #expect(append.stdout.contains("appended 3 events in 2 batches to 2 streams"))

        let text = try await chronik(["read", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdoutLines.count == 3)
        #expect(text.stdoutLines[0].hasPrefix("0  order-1@0  OrderNoted  "))
        #expect(text.stdoutLines[0].contains(#"{"items":[1,2.5,null],"paid":false,"total":4999}"#))
        #expect(text.stdoutLines[0].contains(#"meta={"actor":"alice"}"#))
        #expect(text.stdoutLines[1].hasPrefix("1  order-1@1  OrderPaid  2026-11-25T10:00:00Z  \"cash\""))
        #expect(text.stdoutLines[2].hasPrefix("2  order-2@0  OrderNoted  "))

        let json = try await chronik(["read", "--json", "--log", dir])
        #expect(json.exitCode == 0, "\(json)")
        let events = jsonObjects(json.stdout)
        try #require(events.count == 3)
        for e in events {
            #expect(Set(e.keys) == ["position", "stream", "version", "id", "type", "time", "recordedAt", "data", "meta"])
        }
        #expect(events.map { $0["position"] as? Int } == [0, 1, 2])
        #expect(events.map { $0["version"] as? Int } == [0, 1, 0])
        #expect(events[1]["id"] as? String == "0190b1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2b")
        #expect(events[1]["time"] as? String == "2026-11-25T10:00:00Z")
        #expect(events[1]["data"] as? String == "cash")
        #expect(events[2]["data"] as? Int == 7)
        let data = try #require(events[0]["data"] as? [String: Any])
        #expect(data["total"] as? Int == 4999)
        #expect((events[0]["meta"] as? [String: String]) == ["actor": "alice"])
        #expect((events[2]["meta"] as? [String: Any])?.isEmpty == true)
    }

    @Test("read --stream, --from, --limit and --backward select the right events")
    func readOptions() async throws {
        // Proves each read option against a log of 3 streams × 10 events.
        let dir = try await makeLog(makeTempDir(), count: 30, streams: 3)
        defer { removeDir(dir) }
        func positions(_ args: [String]) async throws -> [Int] {
            let r = try await chronik(["read", "--json", "--log", dir] + args)
            #expect(r.exitCode == 0, "\(r)")
            return jsonObjects(r.stdout).compactMap { $0["position"] as? Int }
        }
        #expect(try await positions([]) == Array(0..<30))
        #expect(try await positions(["--from", "25"]) == Array(25..<30))
        #expect(try await positions(["--limit", "4"]) == [0, 1, 2, 3])
        #expect(try await positions(["--backward", "--limit", "3"]) == [29, 28, 27])
        #expect(try await positions(["--backward", "--from", "5", "--limit", "2"]) == [5, 4])
        #expect(try await positions(["--stream", "s-1"]) == Array(10..<20))
        #expect(try await positions(["--stream", "s-1", "--from", "7"]) == [17, 18, 19])
        #expect(try await positions(["--stream", "s-2", "--backward", "--limit", "2"]) == [29, 28])
        // Issue 10.7: an unknown stream is an error (it was an empty answer with exit 0).
        let unknown = try await chronik(["read", "--json", "--log", dir, "--stream", "no-such-stream"])
        #expect(unknown.exitCode == 1 && unknown.stdout.isEmpty && unknown.stderr.contains("no stream no-such-stream"), "\(unknown)")
    }

    /// 1,000 events of ~300 B for one stream: one batch of ~300 KB, stored in LZ4 blocks on a multi-core machine.
    static let largeBatchInput = (0..<1000).map { i in
        eventLine(stream: "orders", data: "{\"orderId\":\"ord-\(i &* 7919 % 100_003)\",\"note\":\"" + String(repeating: "gift wrap \(i % 97) ", count: 14) + "\"}")
    }.joined(separator: "\n")

    @Test("export of a log whose batch does not decode under a valid CRC names the corruption, not a missing key store")
    func exportNamesUndecodableBatch() async throws {
        guard ProcessInfo.processInfo.activeProcessorCount > 1 else { return }
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "first", data: "{}")).exitCode == 0)
        #expect(try await chronik(["append", "--log", dir], input: Self.largeBatchInput).exitCode == 0)
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "after", data: "{}")).exitCode == 0)
        // Swap the two blocks' stored lengths in the block table of the batch in the middle and recompute the
        // CRC (the helper's case: not the last batch, which an open checks more closely).
        let segment = dir + "/" + LogFormat.segmentFileName(base: 0)
        let inspector = try SegmentInspector(path: segment)
        var batches: [BatchSummary] = []
        while let b = try inspector.nextBatch() { batches.append(b) }
        try #require(batches.count == 3)
        let target = batches[1]
        try #require(target.flags & 3 == 2)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        let payload = Int(target.offset) + 96
        let a = Array(bytes[(payload + 8)..<(payload + 12)]), b = Array(bytes[(payload + 16)..<(payload + 20)])
        try #require(a != b)
        bytes.replaceSubrange((payload + 8)..<(payload + 12), with: b)
        bytes.replaceSubrange((payload + 16)..<(payload + 20), with: a)
        let start = Int(target.offset), end = start + target.length
        let crc = crc32c(Array(bytes[(start + 12)..<end]))
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { bytes[start + 8 + k] = $0[k] } }
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        // The segment's index file stays: the open trusts it and decodes no payload, so the first to meet the
        // damage was the check for sealed personal data.
        #expect(FileManager.default.fileExists(atPath: dir + "/" + LogFormat.indexFileName(base: 0)))

        let r = try await chronik(["export", "--log", dir])
        #expect(r.exitCode != 0, "\(r)")
        #expect(r.stderr.contains("corruption") && r.stderr.contains("\(target.offset)"), "\(r.stderr)")
        #expect(!r.stderr.contains("key store"), "\(r.stderr)")
    }

    @Test("a batch of 128 KiB or more shows as lz4b in inspect, and stats names the format version it gave the log")
    func largeBatchCodecAndFormatVersion() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let small = try await chronik(["append", "--log", dir], input: eventLine(stream: "first", data: "{}"))
        #expect(small.exitCode == 0, "\(small)")
        let r = try await chronik(["append", "--log", dir], input: Self.largeBatchInput)
        #expect(r.exitCode == 0, "\(r)")
        let inspect = try await chronik(["inspect", "--json", "--log", dir, "0"])
        let batches = jsonObjects(inspect.stdout).filter { $0["kind"] as? String == "batch" }
        let large = try #require(batches.last)
        #expect((large["rawPayloadBytes"] as? Int ?? 0) >= 128 << 10, "\(large)")
        let multiCore = ProcessInfo.processInfo.activeProcessorCount > 1
        #expect(large["codec"] as? String == (multiCore ? "lz4b" : "lz4") && (large["flags"] as? Int ?? 0) & 3 == (multiCore ? 2 : 1), "\(large)")
        #expect(batches.first?["codec"] as? String == "none", "\(batches.first ?? [:])")
        let stats = try await chronik(["stats", "--json", "--log", dir])
        #expect(jsonObjects(stats.stdout).first?["formatVersion"] as? Int == 2, "\(stats.stdout)")
        let text = try await chronik(["stats", "--log", dir])
        #expect(text.stdout.contains("format version 2 (releases before stop 40 do not read it)"), "\(text.stdout)")
    }

    @Test("consecutive lines of one stream form one batch, cut at --batch N and at a line with its own expectedVersion")
    func batching() async throws {
        // Proves the batching rule by reading the batch table back with inspect.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var lines: [String] = []
        for i in 0..<5 { lines.append(eventLine(stream: "a", data: "\(i)")) }  // a×5, --batch 2 → 2+2+1
        lines.append(eventLine(stream: "b", data: "0"))  // stream change → new batch
        lines.append(eventLine(stream: "b", data: "1"))
        lines.append(eventLine(stream: "b", data: "2", extra: #""expectedVersion":1"#))  // own expectedVersion → new batch
        lines.append(eventLine(stream: "b", data: "3"))
        let r = try await chronik(["append", "--batch", "2", "--log", dir], input: lines.joined(separator: "\n"))
        #expect(r.exitCode == 0, "\(r)")
        let inspect = try await chronik(["inspect", "--json", "--log", dir, "0"])
        let batches = jsonObjects(inspect.stdout).filter { $0["kind"] as? String == "batch" }
        let batchCounts = batches.compactMap { $0["count"] as? Int }
        #expect(batchCounts == [2, 2, 1, 2, 2])
        // The header's flags (stop 36: an auditor could not see bit 2, which recovery rule 4 turns on): the codec in
        // the low bits, bit 2 spelt out; the log's first batch had nothing before it to be unsynced.
        for b in batches {
            let flags = try #require(b["flags"] as? Int, "\(b)")
            #expect(flags & 3 == (b["codec"] as? String == "lz4" ? 1 : 0) && flags & ~7 == 0, "\(b)")
            #expect(b["unsyncedPredecessor"] as? Bool == (flags & 4 != 0), "\(b)")
        }
        #expect(batches.first?["unsyncedPredecessor"] as? Bool == false)
        let text = try await chronik(["inspect", "--log", dir, "0"])
        #expect(text.stdout.contains(" flags "), "\(text.stdout)")
        for b in batches {
            let flags = b["flags"] as! Int, offset = b["offset"] as! Int
            let shown = "0x0\(flags)" + (flags & 4 != 0 ? "u" : "")
            #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("\(offset) ") && $0.split(separator: " ").contains(Substring(shown)) },
                    "batch at \(offset): \(shown) in \(text.stdout)")
        }
    }

    @Test("batches of interleaved streams are pinned to each stream's version: the log's, then the batches before")
    func batchVersionsAcrossInterleavedStreams() async throws {
        // Proves the plan's version bookkeeping (stop 24: a stream's version is looked up when a batch starts,
        // not per line): stream a already holds 3 events; the input's batches a,a | a | b | a | b | a each carry
        // the exact version before them, so the append succeeds and every event gets the next version in order.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let first = try await chronik(["append", "--log", dir], input: (0..<3).map { eventLine(stream: "a", data: "\($0)") }.joined(separator: "\n"))
        #expect(first.exitCode == 0, "\(first)")
        let streams = ["a", "a", "a", "b", "a", "b", "a"]
        let input = streams.enumerated().map { i, s in eventLine(stream: s, data: "\(i)") }.joined(separator: "\n")
        let r = try await chronik(["append", "--batch", "2", "--log", dir], input: input)
        #expect(r.exitCode == 0, "\(r)")
        let inspect = try await chronik(["inspect", "--json", "--log", dir, "0"])
        let batchCounts = jsonObjects(inspect.stdout).filter { $0["kind"] as? String == "batch" }.compactMap { $0["count"] as? Int }
        #expect(batchCounts == [3, 2, 1, 1, 1, 1, 1])
        let read = jsonObjects(try await chronik(["read", "--json", "--log", dir]).stdout)
        #expect(read.compactMap { $0["stream"] as? String } == ["a", "a", "a"] + streams)
        #expect(read.compactMap { $0["version"] as? Int } == [0, 1, 2, 3, 4, 5, 0, 6, 1, 7])
        #expect(read.compactMap { ($0["data"] as? Int) } == [0, 1, 2, 0, 1, 2, 3, 4, 5, 6])
    }

    @Test("append to a new log: checked on a scratch log, which is removed; the log is created only when the input is accepted")
    func newLogCheckedOnScratch() async throws {
        // Proves stop 28's check during the parse for a log not created yet: the lines are checked against an
        // empty scratch log in TMPDIR (same duplicate-id and expectedVersion rules as an empty log), the log
        // itself appears only after the whole input was accepted, and no scratch log is left either way.
        let tmp = makeTempDir("scratch-tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let dir = makeTempDir()
        defer { removeDir(tmp); removeDir(dir) }
        func append(_ input: String, _ extra: [String] = [], tmpdir: String? = nil, log: String? = nil) async throws -> Run {
            let path = tmp + "-input.jsonl"
            try Data(input.utf8).write(to: URL(fileURLWithPath: path))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let r = try await Subprocess.run(.path(FilePath(chronikPath)), arguments: Arguments(["append", "--log", log ?? dir] + extra + [path]),
                                             environment: .inherit.updating(["TMPDIR": tmpdir ?? tmp]),
                                             output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
            return Run(status: r.terminationStatus, stdout: r.standardOutput, stderr: r.standardError)
        }
        // A line expecting a version the (empty) log does not have: refused, nothing created.
        let bad = try await append([eventLine(stream: "a", data: "0"),
                                    eventLine(stream: "a", data: "1", extra: #""expectedVersion":5"#)].joined(separator: "\n"))
        #expect(bad.exitCode == 1, "\(bad)")
        #expect(bad.stderr.contains("line 2: wrongExpectedVersion"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir), "a refused input creates no log")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "no scratch log left")
        // The same stream's versions decided as on an empty log: 0 then 1 (expectedVersion 0 holds).
        let good = try await append([eventLine(stream: "a", data: "0"),
                                     eventLine(stream: "a", data: "1", extra: #""expectedVersion":0"#)].joined(separator: "\n"),
                                    ["--compression", "none"])
        #expect(good.exitCode == 0, "\(good)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "no scratch log left")
        #expect(try await headPosition(dir) == 2)
        let stats = jsonObjects(try await chronik(["stats", "--json", "--log", dir]).stdout).first
        #expect(stats?["compression"] as? String == "none", "the created log has the asked compression: \(String(describing: stats))")
        // A temporary directory that cannot hold the scratch log: it goes beside the new log instead, and is removed.
        let other = makeTempDir("scratch-sibling")
        let notADirectory = tmp + "-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: notADirectory))
        defer { removeDir(other); try? FileManager.default.removeItem(atPath: notADirectory) }
        let parent = (other as NSString).deletingLastPathComponent
        func scratchSiblings() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.hasPrefix(".chronik-append-check-") }
        }
        let refusedBeside = try await append(eventLine(stream: "a", data: "0", extra: #""expectedVersion":3"#),
                                             tmpdir: notADirectory, log: other)
        #expect(refusedBeside.exitCode == 1 && refusedBeside.stderr.contains("wrongExpectedVersion"), "\(refusedBeside)")
        #expect(!FileManager.default.fileExists(atPath: other), "a refused input creates no log")
        let beside = try await append(eventLine(stream: "a", data: "0"), tmpdir: notADirectory, log: other)
        #expect(beside.exitCode == 0, "\(beside)")
        #expect(try await headPosition(other) == 1)
        #expect(try scratchSiblings().isEmpty, "no scratch log left beside the log")
        // An existing log is checked directly: a line expecting the wrong version is refused, nothing appended.
        let stale = try await append(eventLine(stream: "a", data: "2", extra: #""expectedVersion":0"#))
        #expect(stale.exitCode == 1 && stale.stderr.contains("wrongExpectedVersion"), "\(stale)")
        #expect(try await headPosition(dir) == 2)
    }

    @Test("re-appending input with ids is an idempotent no-op; read --json output appends into another log unchanged")
    func idempotentRetryAndCopy() async throws {
        // Proves retries are safe and that read --json is valid append input.
        let dir = makeTempDir(), copy = makeTempDir()
        defer { removeDir(dir); removeDir(copy) }
        let input = (0..<4).map { i in
            eventLine(stream: "order-9", data: "{\"n\":\(i)}", extra: "\"id\":\"00000000-0000-4000-8000-00000000000\(i)\"")
        }.joined(separator: "\n")
        let first = try await chronik(["append", "--log", dir], input: input)
        #expect(first.exitCode == 0, "\(first)")
        let again = try await chronik(["append", "--json", "--log", dir], input: input)
        #expect(again.exitCode == 0, "\(again)")
        let summary = try #require(jsonObjects(again.stdout).first)
        #expect(summary["appended"] as? Int == 0)
        #expect(summary["duplicates"] as? Int == 4)
        #expect(try await headPosition(dir) == 4)

        let exported = try await chronik(["read", "--json", "--log", dir])
        let imported = try await chronik(["append", "--log", copy], input: exported.stdout)
        #expect(imported.exitCode == 0, "\(imported)")
        let reexported = try await chronik(["read", "--json", "--log", copy])
        func withoutRecordedAt(_ s: String) -> [NSDictionary] {
            jsonObjects(s).map { var o = $0; o["recordedAt"] = nil; return o as NSDictionary }
        }
        #expect(withoutRecordedAt(reexported.stdout) == withoutRecordedAt(exported.stdout))
        // Appending the export to the log it came from changes nothing either.
        let selfImport = try await chronik(["append", "--log", dir], input: exported.stdout)
        #expect(selfImport.exitCode == 0, "\(selfImport)")
        #expect(try await headPosition(dir) == 4)
    }

    @Test("stats reports events, streams, segments, bytes, head and compression, as text and JSON")
    func stats() async throws {
        // Proves stats against a log whose shape the test chose (4 KiB segments force several).
        let dir = try await makeLog(makeTempDir(), count: 200, streams: 4, batch: 10,
                                    extraArguments: ["--segment-size", "4K", "--compression", "none"])
        defer { removeDir(dir) }
        let json = try await chronik(["stats", "--json", "--log", dir])
        #expect(json.exitCode == 0, "\(json)")
        let s = try #require(jsonObjects(json.stdout).first)
        #expect(s["events"] as? Int == 200)
        #expect(s["streams"] as? Int == 4)
        #expect(s["headPosition"] as? Int == 200)
        #expect(s["compression"] as? String == "none")
        let segmentFiles = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }
        #expect(s["segments"] as? Int == segmentFiles.count)
        #expect(segmentFiles.count > 1)
        #expect((s["bytesOnDisk"] as? Int ?? 0) > 200 * 20)
        #expect((s["headHash"] as? String)?.count == 64)

        let text = try await chronik(["stats", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdout.contains("events         200"))
        #expect(text.stdout.contains("compression    none"))
    }

    @Test("every command's --help teaches: an example and the exit statuses")
    func help() async throws {
        // Proves the help text of each subcommand carries what STYLE.md asks for.
        for command in ["demo", "append", "read", "tail", "stats", "inspect", "verify"] {
            let r = try await chronik([command, "--help"])
            #expect(r.exitCode == 0, "\(command): \(r)")
            #expect(r.stdout.contains("Example"), "\(command)")
            #expect(r.stdout.contains("Exit status"), "\(command)")
            #expect(r.stdout.contains("--log"), "\(command)")
        }
    }
}
