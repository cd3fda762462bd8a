import ChronikLog
import Foundation
import Subprocess
import SystemPackage
import Testing

/// Each case: exit 1, one line on stderr that names the problem (with the
/// input line number where there is one), and nothing written.
@Suite("chronik refuses bad input and writes nothing")
struct BadInputTests {
    /// Appends `input` to a log that already holds 2 events; checks the
    /// failure and that the head did not move.
    func expectRefused(_ input: String, arguments: [String] = [], stderrContains expected: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let dir = try await makeLog(makeTempDir(), count: 2)
        defer { removeDir(dir) }
        let r = try await chronik(["append", "--log", dir] + arguments, input: input)
        #expect(r.exitCode == 1, "\(r)", sourceLocation: sourceLocation)
        for text in expected {
            #expect(r.stderr.contains(text), "expected \"\(text)\" in stderr: \(r)", sourceLocation: sourceLocation)
        }
        #expect(r.stderrLines.allSatisfy { $0.hasPrefix("chronik: ") }, "\(r)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "\(r)", sourceLocation: sourceLocation)
        #expect(try await headPosition(dir, sourceLocation: sourceLocation) == 2, sourceLocation: sourceLocation)
    }

    @Test("an empty stream name is refused with its line number")
    func emptyStreamName() async throws {
        // Proves stream names are checked before anything is written.
        try await expectRefused(eventLine(stream: "ok") + "\n" + eventLine(stream: ""),
                                stderrContains: ["line 2: invalidStream [stream]: stream must be 1...256 bytes, got 0", "nothing was appended"])
    }

    @Test("a stream name over 256 bytes is refused with its size")
    func oversizeStreamName() async throws {
        // Proves the 256-byte limit is enforced (257 bytes fails).
        try await expectRefused(eventLine(stream: String(repeating: "s", count: 257)),
                                stderrContains: ["line 1: invalidStream [stream]: stream must be 1...256 bytes, got 257"])
    }

    @Test("an event over --max-event-bytes is refused with its encoded size")
    func oversizeEventOption() async throws {
        // Proves the size limit that the option sets.
        let big = "\"" + String(repeating: "x", count: 2000) + "\""
        try await expectRefused(eventLine(stream: "s", data: "1") + "\n" + eventLine(stream: "s", data: big),
                                arguments: ["--max-event-bytes", "1K"],
                                stderrContains: ["line 2: eventTooLarge: event is", "at most 1024 allowed"])
    }

    @Test("an event over the default 4 MiB limit is refused")
    func oversizeEventDefault() async throws {
        // Proves the default limit without any option (a 4 MiB string of data).
        let big = "\"" + String(repeating: "x", count: 4 << 20) + "\""
        try await expectRefused(eventLine(stream: "s", data: big), stderrContains: ["line 1: eventTooLarge: event is", "at most 4194304 allowed"])
    }

    @Test("invalid JSON is refused with its line number")
    func invalidJSON() async throws {
        // Proves a syntax error names its line, and that one bad line stops every line.
        try await expectRefused([eventLine(stream: "s"), eventLine(stream: "s"), #"{"stream": "s", "type": }"#].joined(separator: "\n"),
                                stderrContains: ["line 3: invalidJSON: unexpected character at byte 24"])
    }

    @Test("a missing field is refused with line number and field name; every bad line is listed")
    func missingFields() async throws {
        // Proves all bad lines are reported at once, each by number.
        let input = [
            #"{"stream":"s","type":"A","data":1}"#,
            #"{"stream":"s","data":1}"#,
            #"{"type":"A","data":1}"#,
            #"{"stream":"s","type":"A"}"#,
            #"{"stream":"s","type":"A","data":1,"meta":{"n":1}}"#,
            #"{"stream":"s","type":"A","data":1,"expectedVersion":"someday"}"#,
            #"{"stream":"s","type":"A","data":1,"expectedversion":1}"#,
        ].joined(separator: "\n")
        try await expectRefused(input, stderrContains: [
            "line 2: missingField [type]: required field type is missing",
            "line 3: invalidStream [stream]: an unknown type (A) needs an explicit stream",
            "line 4: missingField [data]: required field data is missing",
            "line 5: invalidMeta [meta.n]: meta values must be strings",
            "line 6: invalidExpectedVersion [expectedVersion]: expectedVersion must be",
            "line 7: unknownField [expectedversion]: unknown envelope field expectedversion",
            "6 bad lines; nothing was appended",
        ])
    }

    @Test("a wrong expected version is refused before the first write, even in a later batch")
    func wrongExpectedVersion() async throws {
        // Proves the expected-version pre-check: batch 1 is fine, batch 2 is not, and neither is written.
        let input = [
            eventLine(stream: "order-1", extra: #""expectedVersion":"noStream""#),
            eventLine(stream: "s-0", extra: #""expectedVersion":0"#),  // s-0 is at version 1
        ].joined(separator: "\n")
        try await expectRefused(input, stderrContains: [
            "line 2: wrongExpectedVersion [expectedVersion]: wrong expected version for stream 's-0': expected 0, actual version 1",
            "nothing was appended",
        ])
    }

    @Test("a directory that is not a Chronik log is refused by every command and left untouched")
    func notALog() async throws {
        // Proves no command writes into (or deletes from) a foreign directory.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        // Stop 32: repair --truncate and forget left a LOCK behind.
        let commands: [[String]] = [["append"], ["read"], ["tail"], ["stats"], ["verify"], ["demo", "--events", "10"],
                                    ["repair", "--truncate"], ["forget", "customer", "c-1"]]
        for args in commands {
            let r = try await chronik(args + ["--log", dir], input: eventLine(stream: "s"))
            #expect(r.exitCode == 1, "\(args): \(r)")
            #expect(r.stderr.contains("not a Chronik log"), "\(args): \(r)")
            #expect(r.stderrLines.count == 1, "\(args): \(r)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["notes.txt"])
        // An empty directory is no log either, for a command that does not create one.
        let empty = makeTempDir("empty")
        defer { removeDir(empty) }
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for args in [["forget", "customer", "c-1"], ["repair", "--truncate"]] {
            let r = try await chronik(args + ["--log", empty])
            #expect(r.exitCode == 1 && r.stderr.contains("not a Chronik log"), "\(args): \(r)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty)
    }

    @Test("options that contradict each other or select nothing are usage errors, not silently ignored",
          arguments: [["tail", "--from", "3", "-n", "2"], ["replay", "--only", ""], ["replay", "--only", ","],
                      ["export", "--from", "5", "--to", "2"], ["export", "--format", "csv", "--json"],
                      ["settle", "export", "--gateway", "stripe", "--json"], ["stats", "--log", ""], ["read", "--log", ""]])
    func contradictoryOptions(_ args: [String]) async throws {
        // Proves stop 32's fixes: each of these exited 0 (or 1 with a path error) and printed something else than asked.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        #expect(try await chronik(["simulate", "--log", dir, "--events", "300", "-q"]).exitCode == 0)
        let withLog = args.contains("--log") ? args : args + ["--log", dir]
        let r = try await chronik(withLog)
        #expect(r.exitCode == 64, "\(args): \(r)")
        #expect(r.stdout.isEmpty, "\(args): \(r)")
    }

    @Test("a negative number is read as the option's value and refused with the option's range, not as a missing value",
          arguments: [(["query", "orders", "--limit", "-1"], "--limit must be ≥ 0, got -1"), (["read", "--limit", "-1"], "--limit must be 0 or more, got -1"),
                      (["tail", "-n", "-2"], "--limit must be 0 or more, got -2"), (["export", "--limit", "-3"], "--limit must be 0 or more, got -3"),
                      (["simulate", "--events", "-5"], "--events must be 1...100000000, got -5"), (["append", "--batch", "-1"], "--batch must be 1...1048576, got -1")])
    func negativeNumbers(_ args: [String], _ message: String) async throws {
        // Proves stop 36's finding: `--limit -1` said "Missing value for '--limit <N>'" (the parser took -1 for an option).
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        let r = try await chronik(args + ["--log", dir + "/log"], input: "")
        #expect(r.exitCode == 64, "\(args): \(r)")
        #expect(r.stderr.contains(message), "\(args): \(r)")
    }

    @Test("a query filter naming an id the log does not hold is an error, not an empty table")
    func unknownFilterIds() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        #expect(try await chronik(["simulate", "--log", dir, "--events", "3000", "-q"]).exitCode == 0)
        for (args, what) in [(["query", "orders", "--customer", "ZZZ"], "no customer 'ZZZ'"), (["query", "inventory", "--sku", "ZZZ"], "no stock of SKU 'ZZZ'")] {
            let r = try await chronik(args + ["--log", dir])
            #expect(r.exitCode == 1 && r.stderr.contains(what), "\(args): \(r)")
        }
    }

    @Test("without --log, a command that finds no log in the default directory says how to name one")
    func noLogInTheDefaultDirectory() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for args in [["stats"], ["read"], ["query", "orders"], ["verify"]] {
            let r = try await chronik(args, in: dir)
            #expect(r.exitCode == 1, "\(args): \(r)")
            #expect(r.stderr.contains("(./chronik-data, the default: name the log with --log DIR)"), "\(args): \(r)")
        }
        // A directory the user named gets no such hint.
        let named = try await chronik(["stats", "--log", dir + "/elsewhere"])
        #expect(named.exitCode == 1 && !named.stderr.contains("--log DIR"), "\(named)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "nothing created")
    }

    @Test("the writer keeps its lock when this process tries a second writer, opens a reader or asks whether a writer is active")
    func writerKeepsItsLockWhenThisProcessTouchesTheLockFile() async throws {
        // Proves: closing another descriptor of LOCK in the writer's process does not drop the writer's lock (POSIX record locks did: any close of the file released them), so another process is still refused.
        let dir = try await makeLog(makeTempDir(), count: 2)
        defer { removeDir(dir) }
        do {
            let writer = try EventLog.open(at: dir)
            defer { try? writer.close() }
            #expect(throws: ChronikLogError.self) { try EventLog.open(at: dir) }
            var readOnly = LogOptions()
            readOnly.readOnly = true
            try EventLog.open(at: dir, options: readOnly).close()
            #expect(PosixStorage().isWriterActive(dir + "/" + LogFormat.lockFileName))
            let r = try await chronik(["append", "--log", dir], input: eventLine(stream: "s"))
            #expect(r.exitCode == 1, "\(r)")
            #expect(r.stderr.contains("another process is writing this log"), "\(r)")
            let appended = try await writer.append(to: "s", [ProposedEvent(type: "T", data: Array("{}".utf8))])
            #expect(appended.positions.first?.value == 2)
        }
        #expect(try await headPosition(dir) == 3)
    }

    @Test("a second writer is refused while another process holds the log")
    func secondWriter() async throws {
        // Proves the writer lock reaches the CLI: this test process opens the log as its writer first.
        let dir = try await makeLog(makeTempDir(), count: 2)
        defer { removeDir(dir) }
        do {
            let writer = try EventLog.open(at: dir)
            defer { try? writer.close() }
            let r = try await chronik(["append", "--log", dir], input: eventLine(stream: "s"))
            #expect(r.exitCode == 1, "\(r)")
            #expect(r.stderr.contains("another process is writing this log"), "\(r)")
            #expect(r.stderrLines.count == 1, "\(r)")
            // Readers are not writers: they still work.
            let read = try await chronik(["read", "--log", dir])
            #expect(read.exitCode == 0, "\(read)")
        }
        #expect(try await headPosition(dir) == 2)
    }

    @Test("a read-only log directory refuses appends with a clear reason, and still reads, stats and verifies")
    func readOnlyDirectory() async throws {
        // Proves the read-only case for real: permission bits for a normal
        // user; as root (who ignores them) a read-only bind mount in a private
        // mount namespace, or else running chronik as the user nobody.
        let dir = try await makeLog(makeTempDir(), count: 2)
        defer { removeDir(dir) }
        let readOnly = try await ReadOnlyRunner.make(for: dir)
        let append = try await readOnly.chronik(["append", "--log", dir], input: eventLine(stream: "s"))
        #expect(append.exitCode == 1, "\(readOnly.method): \(append)")
        #expect(append.stderr.contains("not writable"), "\(readOnly.method): \(append)")
        #expect(append.stderrLines.count == 1, "\(readOnly.method): \(append)")
        for args in [["read"], ["stats"], ["verify"], ["tail", "-n", "1"], ["inspect", "0"]] {
            let r = try await readOnly.chronik(args + ["--log", dir])
            #expect(r.exitCode == 0, "\(readOnly.method) \(args): \(r)")
        }
        try readOnly.restore()
        #expect(try await headPosition(dir) == 2)
    }
}

/// Runs chronik so that a log directory is read-only to it, by the most
/// direct means available to this process.
struct ReadOnlyRunner {
    enum Method: String { case permissions, readOnlyBindMount, userNobody }
    let method: Method
    let dir: String

    static func make(for dir: String) async throws -> ReadOnlyRunner {
        if geteuid() != 0 {
            try setWritable(dir, false)
            return ReadOnlyRunner(method: .permissions, dir: dir)
        }
        let probe = ReadOnlyRunner(method: .readOnlyBindMount, dir: dir)
        let unshareAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        var touch: Run?
        if unshareAvailable { touch = try await probe.wrapped("/usr/bin/touch", [dir + "/probe"], input: nil) }
        if let touch, touch.exitCode != 97 {
            // The mount worked; the probe must have failed to write.
            #expect(touch.exitCode != 0 && touch.stderr.contains("Read-only file system"), "\(touch)")
            return probe
        }
        try setWritable(dir, false)
        return ReadOnlyRunner(method: .userNobody, dir: dir)
    }

    func chronik(_ arguments: [String], input: String? = nil) async throws -> Run {
        try await wrapped(chronikPath, arguments, input: input)
    }

    private func wrapped(_ path: String, _ arguments: [String], input: String?) async throws -> Run {
        let executable = Executable.path(FilePath(path))
        switch method {
        case .permissions:
            return try await run(executable, arguments, input: input)
        case .userNobody:
            var options = PlatformOptions()
            options.userID = 65534
            options.groupID = 65534
            options.supplementaryGroups = []
            return try await run(executable, arguments, input: input, platformOptions: options)
        case .readOnlyBindMount:
            // unshare makes mounts private to the new namespace: the bind
            // mount is gone when the command exits. 97: mounting failed.
            let script = #"d="$1"; shift; mount --bind "$d" "$d" || exit 97; mount -o remount,ro,bind "$d" "$d" || exit 97; exec "$@""#
            return try await run(.path("/usr/bin/unshare"), ["-m", "sh", "-c", script, "sh", dir, path] + arguments, input: input)
        }
    }

    func restore() throws {
        if method != .readOnlyBindMount { try Self.setWritable(dir, true) }
    }

    /// chmod the directory and its files: read-only (a-w) or writable again.
    static func setWritable(_ dir: String, _ writable: Bool) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            _ = chmod(dir + "/" + name, writable ? 0o644 : 0o444)
        }
        _ = chmod(dir, writable ? 0o755 : 0o555)
    }
}
