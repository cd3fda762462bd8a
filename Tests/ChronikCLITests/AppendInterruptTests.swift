import ChronikLog
import Foundation
import Testing

/// Proves a Ctrl-C during `chronik append` of a file is tidied and said
/// (stop 32: it ended silently, leaving the check's scratch log in the
/// temporary directory and part of the file appended unsaid): interrupted
/// while the input is checked for a new log, the scratch log is removed,
/// no log is created and stderr says nothing was appended.
@Suite struct AppendInterruptTests {
    @Test func anInterruptDuringTheCheckRemovesTheScratchLogAndSaysSo() async throws {
        let dir = makeTempDir()
        let tmp = dir + ".tmp"
        defer { removeDir(dir); removeDir(tmp); removeDir(dir + ".input") }
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + ".input", withIntermediateDirectories: true)
        let script = #"""
            T=$1; L=$2; IN=$3; BIN=$4; GEN=$5
            python3 "$GEN" 300000 "$IN" || exit 2
            TMPDIR="$T" "$BIN" append --log "$L" "$IN" 2>"$T/../stderr-$$" &
            P=$!
            for i in $(seq 600); do
              ls "$T" | grep -q '^chronik-append-check-' && break
              sleep 0.05
            done
            echo "scratch seen: $(ls "$T" | grep -c '^chronik-append-check-')"
            kill -INT $P; wait $P; echo "exit: $?"
            echo "left in TMPDIR: $(ls -A "$T" | wc -l)"
            echo "log created: $([ -e "$L" ] && echo yes || echo no)"
            cat "$T/../stderr-$$"; rm -f "$T/../stderr-$$"
            """#
        let generator = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/Benchmarks/scripts/gen-generic.py"
        let r = try await run(.path("/bin/sh"), ["-c", script, "sh", tmp, dir, dir + ".input/lines.jsonl", chronikPath, generator])
        #expect(Array(r.stdoutLines.prefix(4)) == ["scratch seen: 1", "exit: 130", "left in TMPDIR: 0", "log created: no"], "\(r)")
        #expect(r.stdout.contains("chronik: interrupted: nothing was appended"), "\(r)")
    }

    /// Proves stop 34's finding: interrupted while appending, the message
    /// named only the positions published so far, up to 64 events fewer
    /// than the log held (6 runs of 8), and a re-run "of the rest" appended
    /// those lines again. Now the batches in flight finish first and the
    /// message names exactly what the log holds.
    @Test func anInterruptWhileAppendingNamesExactlyWhatTheLogHolds() async throws {
        let (r, said, held) = try await interruptWhileWriting("append", saying: "were appended (")
        #expect(said == held, "said \(said); the log holds \(held)")
        #expect(held > 0 && held < 600_000, "\(r)")
    }

    /// Proves stop 34's finding: `import` interrupted while it appended
    /// ended silently (exit 130, part of the input written, nothing said).
    /// Now it says at least which positions are in the log, and the log
    /// holds at least those.
    @Test func anInterruptedImportSaysWhatItAppended() async throws {
        let (_, said, held) = try await interruptWhileWriting("import", saying: "import stopped; at least positions 0–")
        #expect(said <= held, "said \(said); the log holds \(held)")
    }

    /// Proves stop 35's finding: `simulate` interrupted ended silently (exit
    /// 130) and left a partial log that every later `simulate` refused. Now
    /// the unfinished simulation is removed and said; an empty directory
    /// given to it is left empty. Stop 39 (a CLI review): `demo` left its
    /// partial log and keys without a word, and ran on in a script's
    /// background, where SIGINT starts ignored; it does as simulate now.
    @Test(arguments: ["simulate", "demo"])
    func anInterruptedSimulationIsRemovedAndSaid(_ command: String) async throws {
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        let script = #"""
            L=$1; BIN=$2; PRE=$3; CMD=$4
            [ "$PRE" = yes ] && mkdir -p "$L"
            "$BIN" "$CMD" --events 5000000 --log "$L" 2>"$L.stderr" >/dev/null &
            P=$!
            for i in $(seq 1500); do
              [ "$(cat "$L"/*.log 2>/dev/null | wc -c)" -gt 1000000 ] && break
              sleep 0.01
            done
            kill -INT $P; wait $P; echo "exit: $?"
            cat "$L.stderr"; rm -f "$L.stderr"
            [ -e "$L" ] && echo "left: $(ls -A "$L" | wc -l) entries" || echo "left: nothing"
            [ -e "$L.keys" ] && echo "keys left" || echo "no keys"
            """#
        for (pre, left) in [("no", "left: nothing"), ("yes", "left: 0 entries")] {
            let r = try await run(.path("/bin/sh"), ["-c", script, "sh", dir, chronikPath, pre, command])
            #expect(r.stdoutLines.first == "exit: 130", "\(r)")
            let what = command == "demo" ? "the unfinished demo" : "the unfinished simulation"
            #expect(r.stdoutLines.contains { $0.hasPrefix("chronik: interrupted: \(what) was removed") }, "\(r)")
            #expect(r.stdoutLines.contains(left) && r.stdoutLines.contains("no keys"), "\(r)")
            removeDir(dir)
        }
    }

    /// Proves stop 35's finding: `producer | chronik append` interrupted
    /// ended with exit 130 and no word (only the earlier groups' notes). Now
    /// it says what all groups appended.
    @Test func anInterruptedPipeSaysWhatItAppended() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let script = #"""
            L=$1; BIN=$2
            mkfifo "$L.fifo"
            "$BIN" append --log "$L" < "$L.fifo" 2>"$L.stderr" >/dev/null &
            P=$!
            exec 3>"$L.fifo"
            for i in 1 2 3; do echo "{\"stream\":\"s\",\"type\":\"Noted\",\"data\":{\"i\":$i}}" >&3; done
            for i in $(seq 500); do grep -q "line 3" "$L.stderr" 2>/dev/null && break; sleep 0.01; done
            kill -INT $P; wait $P; echo "exit: $?"
            exec 3>&-
            cat "$L.stderr"; rm -f "$L.stderr" "$L.fifo"
            """#
        let r = try await run(.path("/bin/sh"), ["-c", script, "sh", dir, chronikPath])
        #expect(r.stdoutLines.first == "exit: 130", "\(r)")
        #expect(r.stdoutLines.contains { $0.hasPrefix("chronik: interrupted: appended 3 events") }, "\(r)")
        #expect(try await headPosition(dir) == 3)
    }

    /// Proves stop 35's finding: a check's scratch log left by a `kill -9`
    /// (no handler sees SIGKILL) stayed in the temporary directory for good
    /// (23 were found). The next check removes those whose lock nobody holds
    /// and that are over a minute old, and leaves a live one alone.
    @Test func abandonedScratchLogsAreRemovedByTheNextCheck() async throws {
        let tmp = FileManager.default.temporaryDirectory.path
        let stale = tmp + "/chronik-append-check-" + UUID().uuidString
        let young = tmp + "/chronik-append-check-" + UUID().uuidString
        let live = tmp + "/chronik-append-check-" + UUID().uuidString
        defer { for d in [stale, young, live] { removeDir(d) } }
        for d in [stale, young] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: d + "/LOCK", contents: Data())
        }
        let held = try EventLog.open(at: live)
        defer { try? held.close() }
        let old = Date().addingTimeInterval(-600)
        for d in [stale, live] { try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: d) }
        // "Just made", whatever the machine's load makes of the next minute (the full suite once took 70 s here).
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(3600)], ofItemAtPath: young)
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["append", "--log", dir], input: eventLine(stream: "s") + "\n")
        #expect(r.exitCode == 0, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: stale), "the abandoned scratch log is removed")
        #expect(FileManager.default.fileExists(atPath: young), "one made under a minute ago is left")
        #expect(FileManager.default.fileExists(atPath: live), "one whose lock is held is left")
    }

    /// Runs `chronik COMMAND` on 600,000 generated lines into a new log,
    /// sends SIGINT once 2 MB of segments are written, and expects exit
    /// 130; returns the run, the event count of the stderr line holding
    /// `saying`, and the events the log then holds (`stats`).
    func interruptWhileWriting(_ command: String, saying: String) async throws -> (run: Run, said: Int, held: Int) {
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".input") }
        try FileManager.default.createDirectory(atPath: dir + ".input", withIntermediateDirectories: true)
        let script = #"""
            L=$1; IN=$2; BIN=$3; GEN=$4; CMD=$5
            python3 "$GEN" 600000 "$IN" || exit 2
            "$BIN" "$CMD" --log "$L" "$IN" 2>"$L.stderr" >/dev/null &
            P=$!
            for i in $(seq 1500); do
              [ "$(cat "$L"/*.log 2>/dev/null | wc -c)" -gt 2000000 ] && break
              sleep 0.01
            done
            kill -INT $P; wait $P; echo "exit: $?"
            cat "$L.stderr"; rm -f "$L.stderr"
            "$BIN" stats --log "$L" --json
            """#
        let generator = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/Benchmarks/scripts/gen-generic.py"
        let r = try await run(.path("/bin/sh"), ["-c", script, "sh", dir, dir + ".input/lines.jsonl", chronikPath, generator, command])
        #expect(r.stdoutLines.first == "exit: 130", "\(r)")
        let line = try #require(r.stdoutLines.first { $0.contains(saying) }, "\(r)")
        let counted = line.split(separator: "(")[1].split(separator: " ")[0].replacingOccurrences(of: ",", with: "")
        let stats = try #require(jsonObjects(r.stdoutLines.last ?? "").first, "\(r)")
        return (r, try #require(Int(counted), "\(line)"), try #require(stats["events"] as? Int, "\(r)"))
    }
}
