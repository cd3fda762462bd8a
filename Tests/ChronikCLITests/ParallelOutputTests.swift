@_spi(Testing) import ChronikLog
import Foundation
import Subprocess
import SystemPackage
import Testing

// Issue 13: `read --json` and `export` format their lines on several
// threads (writeLinesInParallel). These runs of the real binary prove that
// the parallel path writes the same stdout, the same notes and warnings on
// stderr and the same exit status as the one-thread loop
// (CHRONIK_OUTPUT_WORKERS=1, the old path), on simulated shops of several
// seeds (sealed personal data, forgotten customers, with and without the key
// store), with generic events of every stored kind, with a commerce event
// that does not decode, and with a damaged batch in the middle of the log.

/// Runs `chronik` with CHRONIK_OUTPUT_WORKERS set to `workers`.
private func chronik(outputWorkers workers: Int, _ arguments: [String]) async throws -> Run {
    let r = try await Subprocess.run(.path(FilePath(chronikPath)), arguments: Arguments(arguments),
                                     environment: .inherit.updating(["CHRONIK_OUTPUT_WORKERS": String(workers)]),
                                     output: .string(limit: 256 << 20), error: .string(limit: 64 << 20))
    return Run(status: r.terminationStatus, stdout: r.standardOutput, stderr: r.standardError)
}

/// Runs each command with 1, 2 and 3 output workers and expects the same
/// stdout, stderr and exit status; returns the one-thread runs.
@discardableResult
private func expectSameOutput(_ commands: [[String]], log dir: String,
                              sourceLocation: SourceLocation = #_sourceLocation) async throws -> [Run] {
    var runs: [Run] = []
    for command in commands {
        let one = try await chronik(outputWorkers: 1, command + ["--log", dir])
        for workers in [2, 3] {
            let many = try await chronik(outputWorkers: workers, command + ["--log", dir])
            #expect(many.exitCode == one.exitCode, "\(command) with \(workers) workers: \(many.stderr.prefix(500))",
                    sourceLocation: sourceLocation)
            #expect(many.stdout == one.stdout,
                    "\(command) with \(workers) workers: \(many.stdout.utf8.count) vs \(one.stdout.utf8.count) bytes",
                    sourceLocation: sourceLocation)
            #expect(many.stderr == one.stderr, "\(command) with \(workers) workers: \(many.stderr.prefix(500))",
                    sourceLocation: sourceLocation)
        }
        runs.append(one)
    }
    return runs
}

/// Generic events: JSON objects with escapes and non-ASCII, multi-line
/// JSON, number literals, meta (all of which export takes); with
/// `anyBytes` also what only read prints (duplicate keys, not JSON at all,
/// not an object, meta that is not JSON).
private func appendGenericEvents(_ dir: String, count: Int, anyBytes: Bool = false) async throws {
    let log = try EventLog.open(at: dir, options: .namesAsBeforeStop32)
    var datas = [#"{"text":"quote \" backslash \\ tab \t nl \n","name":"Zoë 東京 🛒"}"#,
                 "{\n  \"z\": 1,\n  \"a\": \"é\"\n}", #"{"price":1.5e3,"n":-0,"big":123456789012345678901}"#, "{}"]
    var metas = ["", #"{"actor":"ana","note":"ü\u0001"}"#]
    if anyBytes {
        datas += [#"{"a":1,"a":2}"#, "not json", "42"]
        metas += ["\u{1}"]
    }
    for i in 0..<count {
        _ = try await log.append(to: i % 3 == 0 ? "note-\"é\"\t\(i % 7)" : "generic-\(i % 5)",
                                 ProposedEvent(type: i % 4 == 0 ? "Noted\u{7F}" : "Noted", data: Array(datas[i % datas.count].utf8),
                                               metadata: Array(metas[i % metas.count].utf8),
                                               occurredAt: Timestamp(microseconds: 1_733_131_200_123_456 + Int64(i) * 1_000_001)))
    }
    try log.close()
}

/// A simulated shop of `events` events, then `generic` generic events.
private func shop(seed: Int, events: Int, generic: Int, extra: [String] = []) async throws -> String {
    let dir = makeTempDir("parallel-output-\(seed)")
    let sim = try await chronik(["simulate", "--events", String(events), "--seed", String(seed), "--log", dir] + extra)
    #expect(sim.exitCode == 0, "\(sim)")
    try await appendGenericEvents(dir, count: generic)
    return dir
}

@Suite("parallel read --json and export: the same bytes as one thread")
struct ParallelOutputCLITests {
    static let commands: [[String]] = [
        ["read", "--json"],
        ["read", "--json", "--limit", "4100"],
        ["read", "--json", "--backward"],
        ["read", "--json", "--from", "100", "--to", "8500"],
        ["read", "--json", "--from", "2025-01-06T00:00:00Z"],
        ["read", "--json", "--stream", "settings"],
        ["export"],
        ["export", "--limit", "4097"],
        ["export", "--type", "OrderPlaced", "--type", "CustomerRegistered"],
        ["export", "--from", "1000", "--to", "8000"],
        ["export", "--stream", "settings"],
    ]

    @Test("read --json and export print the same bytes, notes and status on 1, 2 and 3 threads", arguments: [3, 7, 19])
    func sameBytes(seed: Int) async throws {
        // Proves the parallel path prints exactly the old loop's output over blocks of events (more than two blocks of
        // 4,096), with personal data opened, forgotten customers' data as null, and without a key store (note, null).
        let dir = try await shop(seed: seed, events: 9000, generic: 300)
        defer {
            removeDir(dir)
            removeDir(dir + ".keys")
            removeDir(dir + ".keys-away")
        }
        // Two customers forgotten: their personal data reads as null (key destroyed).
        let registered = try await chronik(["export", "--type", "CustomerRegistered", "--limit", "2", "--log", dir])
        let ids = jsonObjects(registered.stdout).compactMap { ($0["data"] as? [String: Any])?["customerId"] as? String }
        try #require(ids.count == 2, "\(registered)")
        for id in ids {
            let forget = try await chronik(["forget", "customer", id, "--log", dir])
            #expect(forget.exitCode == 0, "\(forget)")
        }
        let runs = try await expectSameOutput(Self.commands, log: dir)
        let all = runs[0].stdoutLines
        // 9,300 events and a CustomerForgotten per customer not forgotten already.
        #expect(runs[0].exitCode == 0 && (9301...9302).contains(all.count), "\(all.count)")
        #expect(all.filter { $0.contains(#""type":"CustomerForgotten""#) }.count >= 2, "the forgotten customers")
        #expect(all.contains { $0.contains(#""type":"CustomerRegistered""#) && $0.contains(#""email":null"#) }, "erased")
        #expect(all.contains { $0.contains(#""email":"#) && !$0.contains(#""email":null"#) }, "personal data opened")
        #expect(all.contains { $0.contains("Zoë 東京 🛒") } && all.contains { $0.contains(#""price":1.5e3"#) })
        #expect(runs[6].exitCode == 0 && runs[6].stdoutLines.count == all.count, "\(runs[6].stderr)")

        // Without the key store: a note, and every personal field null (export says it means that, stop 38).
        try FileManager.default.moveItem(atPath: dir + ".keys", toPath: dir + ".keys-away")
        let erased = try await expectSameOutput([["read", "--json"], ["export", "--without-personal-data"]], log: dir)
        #expect(erased[0].stderr.contains("no key store"), "\(erased[0].stderr)")
        #expect(!erased[0].stdoutLines.contains { $0.contains(#""email":"#) && !$0.contains(#""email":null"#) })
        #expect(erased[1].stdoutLines.count == all.count, "\(erased[1].stderr)")
    }

    @Test("large batches: reads that start, stop and are cut inside a batch print the same bytes on 1, 2 and 3 threads")
    func insideLargeBatches() async throws {
        // The parallel path reads whole batches into blocks and formats ranges of their events: a start, a --to
        // and a --limit inside a 1,500-event batch, and blocks of 4,096 events ending inside one.
        let dir = makeTempDir("parallel-output-batches")
        defer { removeDir(dir) }
        do {
            let log = try EventLog.open(at: dir, options: .namesAsBeforeStop32)
            defer { try? log.close() }
            for b in 0..<4 {
                _ = try await log.append(to: "batch-\(b)", (0..<1500).map { i in
                    ProposedEvent(type: "Noted", data: Array(#"{"batch":\#(b),"i":\#(i)}"#.utf8))
                })
            }
        }
        let runs = try await expectSameOutput([
            ["read", "--json"], ["read", "--json", "--from", "1499", "--limit", "4100"],
            ["read", "--json", "--from", "700", "--to", "3001"], ["export"], ["export", "--from", "4095", "--limit", "3"],
        ], log: dir)
        #expect(runs[0].exitCode == 0 && runs[0].stdoutLines.count == 6000, "\(runs[0].stderr)")
        #expect(runs[1].stdoutLines.count == 4100 && runs[1].stdoutLines.first?.hasPrefix(#"{"position":1499,"#) == true)
        #expect(runs[2].stdoutLines.count == 2302 && runs[2].stdoutLines.last?.hasPrefix(#"{"position":3001,"#) == true)
        #expect(runs[3].exitCode == 0 && runs[3].stdoutLines.count == 6000, "\(runs[3].stderr)")
        #expect(runs[4].stdoutLines.count == 3 && runs[4].stdoutLines.first?.contains(#""position":4095"#) == true)
    }

    @Test("a commerce event that does not decode: the same warning for read, the same error and stdout bytes for export")
    func undecodableEvent() async throws {
        // Proves the first failing event ends export at the same byte as the one-thread export — after every line
        // before it (stop 33: the one-thread export left out those after its last 64 KiB chunk) — and that read's
        // warning and stored data come out in the same place, when the event lies in a later block.
        let dir = try await shop(seed: 5, events: 9000, generic: 20)
        defer {
            removeDir(dir)
            removeDir(dir + ".keys")
        }
        let log = try EventLog.open(at: dir, options: .namesAsBeforeStop32)
        _ = try await log.append(to: "order-broken", ProposedEvent(type: "PaymentCaptured", data: [0x01, 0x02, 0xFF]))
        try log.close()
        try await appendGenericEvents(dir, count: 10, anyBytes: true)
        let runs = try await expectSameOutput([["read", "--json"], ["export"], ["export", "--limit", "9010"]], log: dir)
        #expect(runs[0].exitCode == 0 && runs[0].stdoutLines.count == 9031, "\(runs[0].stderr)")
        #expect(runs[0].stderr.contains("position 9020") && runs[0].stderr.contains("printed as stored"), "\(runs[0].stderr)")
        #expect(runs[0].stdout.contains(#""dataBase64":"#) && runs[0].stdout.contains(#""metaBase64":"#))
        #expect(runs[1].exitCode == 1 && runs[1].stderr.contains("position 9020"), "\(runs[1].stderr)")
        #expect(runs[1].stdout.hasSuffix("\n") && runs[1].stdoutLines.count == 9020, "\(runs[1].stdoutLines.count) lines")
        #expect(runs[2].exitCode == 0 && runs[2].stdoutLines.count == 9010, "\(runs[2].stderr)")
    }

    @Test("a damaged batch in a sealed segment: the same lines before it, the same error with segment and offset")
    func damagedSegment() async throws {
        // Proves an error of the reader (met while the previous block is still being formatted) comes after every line
        // before it, with the same message (segment file and byte offset) and status as the one-thread loop.
        let dir = try await shop(seed: 9, events: 9000, generic: 0,
                                 extra: ["--segment-size", "256KiB", "--compression", "none"])
        defer {
            removeDir(dir)
            removeDir(dir + ".keys")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(names.count >= 4, "\(names)")
        let victim = dir + "/" + names[2]
        var bytes = try fileBytes(victim)
        let first = try #require(try await batches(dir, segment: String(Int(names[2].dropLast(4))!)).first)
        bytes[first.offset + first.length - 5] ^= 0x40
        try writeFile(victim, bytes)
        let runs = try await expectSameOutput([["read", "--json"], ["export"]], log: dir)
        for r in runs {
            #expect(r.exitCode == 1, "\(r.stderr)")
            #expect(r.stderr.contains(names[2]) && r.stderr.contains("\(first.offset)"), "\(r.stderr)")
        }
        // Every event before the damaged batch, by read and by export (stop 33: export left out the lines after
        // its last 64 KiB chunk), and by the audit export in both formats.
        let intact = Int(names[2].dropLast(4))!
        #expect(runs[0].stdoutLines.count == intact, "read --json")
        #expect(runs[1].stdoutLines.count == intact, "export")
        for (args, extra) in [(["export", "--audit"], 0), (["export", "--format", "csv"], 1)] {
            let r = try await chronik(args + ["--log", dir])
            #expect(r.exitCode == 1 && r.stderr.contains(names[2]), "\(args): \(r.stderr)")
            #expect(r.stdout.utf8.filter { $0 == 0x0A }.count == intact + extra, "\(args)")  // CSV ends rows with CRLF
        }
    }
}
