import Foundation
import Testing

/// Proves stop 38's finding (a newcomer): `import --log shpo` (a typo)
/// and `append` created a second, empty shop without a word, while `serve`
/// warned. Each writing command now notes it created the log, once.
@Suite struct NewLogNoteTests {
    @Test(arguments: ["import", "append"])
    func aCommandThatCreatesItsLogSaysSo(_ command: String) async throws {
        let dir = makeTempDir() + "-" + command
        defer { removeDir(dir) }
        let line = command == "import" ? shopLines[1] : eventLine(stream: "s-1", type: "Note", data: "{}")
        let first = try await chronik([command, "--log", dir], input: line + "\n")
        #expect(first.exitCode == 0 && first.stderr.contains("there was no log at \(dir): created a new one"), "\(first)")
        let second = try await chronik([command, "--log", dir], input: (command == "import" ? shopLines[0] : line) + "\n")
        #expect(second.exitCode == 0 && !second.stderr.contains("there was no log"), "\(second)")
        let quiet = try await chronik([command, "--log", dir + "-q", "-q"], input: line + "\n")
        defer { removeDir(dir + "-q") }
        #expect(quiet.exitCode == 0 && !quiet.stderr.contains("there was no log"), "-q says nothing: \(quiet)")
    }
}

/// Proves stop 38's finding (a migration): `import` showed progress only
/// on a terminal, so a long import run by cron logged nothing until its
/// end. `--progress` writes whole lines on stderr away from a terminal.
@Suite struct ImportProgressLinesTests {
    @Test func progressLinesAwayFromATerminal() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + "-copy"); removeDir(dir + "-plain") }
        #expect(try await chronik(["simulate", "--events", "80000", "--seed", "4", "--log", dir, "-q"]).exitCode == 0)
        let export = try await chronik(["export", "--log", dir, "-q"])
        let file = try writeTemp(export.stdout)
        let shown = try await chronik(["import", "--log", dir + "-copy", "--progress", file])
        #expect(shown.exitCode == 0 && shown.stderr.contains("chronik: import: checked 65,536 lines ("), "\(shown.stderr)")
        let plain = try await chronik(["import", "--log", dir + "-plain", file])
        #expect(plain.exitCode == 0 && !plain.stderr.contains("chronik: import: checked"), "\(plain.stderr)")
    }
}

/// Proves stop 38's finding (a chaos test on a full disk): `simulate`
/// failed without saying how many events went in (93,583 had). A file
/// size limit (RLIMIT_FSIZE) stands in for the full disk: the segment's
/// write fails with EFBIG.
@Suite struct SimulateFailureTests {
    @Test func aFailedSimulationSaysWhatItAppended() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let script = #"""
            import resource, signal, subprocess, sys
            def limit():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
            r = subprocess.run([sys.argv[1], "simulate", "--events", "100000", "--seed", "1", "--log", sys.argv[2]],
                               preexec_fn=limit, capture_output=True, text=True)
            print(r.returncode)
            print(r.stderr.strip().splitlines()[-1])

            """#
        let r = try await run(.name("python3"), ["-c", script, chronikPath, dir])
        let lines = r.stdoutLines
        #expect(lines.first == "1", "\(r)")
        let said = try #require(lines.last.flatMap { $0.firstMatch(of: /; ([0-9,]+) events were appended before it and stay in the log \(positions 0–([0-9]+)\)/) },
                                "\(r)")
        let stats = try await chronik(["stats", "--log", dir, "--json"])
        let events = jsonObjects(stats.stdout).first?["events"] as? Int
        #expect(events != nil && events == Int(said.output.2).map { $0 + 1 }
                && events == Int(said.output.1.replacingOccurrences(of: ",", with: "")), "\(said.output.0) vs \(stats.stdout)")
    }
}

/// Proves stop 38's finding (an upgrade): `serve` rebuilt its models from
/// the whole log without a word when it could not use a snapshot (another
/// model version after an upgrade, or a damaged file); `replay` said why.
@Suite struct ServeSnapshotNoteTests {
    @Test func serveSaysWhyASnapshotWasNotUsed() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["simulate", "--events", "2000", "--seed", "2", "--log", dir, "-q"]).exitCode == 0)
        #expect(try await chronik(["snapshot", "--log", dir]).exitCode == 0)
        let snaps = try FileManager.default.contentsOfDirectory(atPath: dir + "/snapshots").filter { $0.hasSuffix(".snap") }
        let snap = dir + "/snapshots/" + (try #require(snaps.first))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: snap))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data([0xFF, 0x00, 0xFF]))
        try handle.close()
        let lines = try await serveStartLines(dir)
        #expect(lines.contains { $0.hasPrefix("chronik: note: ignoring snapshot \(snap)") }, "\(lines)")
    }
}

/// What `chronik serve --log dir` prints on stderr before it listens (up
/// to the line with its address); the server is then stopped, and its
/// exit status must be 0.
func serveStartLines(_ dir: String) async throws -> [String] {
    let script = #"""
        import subprocess, sys
        p = subprocess.Popen([sys.argv[1], "serve", "--log", sys.argv[2], "--listen", "127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while True:
            line = p.stderr.readline()
            if not line or "listening on" in line: break
            print(line, end="")
        p.terminate()
        p.communicate(timeout=60)
        print("exit", p.returncode)

        """#
    let r = try await run(.name("python3"), ["-c", script, chronikPath, dir])
    #expect(r.stdoutLines.last == "exit 0", "\(r)")
    return r.stdoutLines.dropLast().map { $0 }
}
