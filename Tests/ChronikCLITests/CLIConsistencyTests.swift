import Foundation
import Testing

// What a CLI consistency review met at stop 39: each case failed, or said
// something false, before that stop's fixes.
@Suite("the CLI's commands alike (stop 39)")
struct CLIConsistencyTests {
    @Test func aCustomerWithoutAKeyStoreSaysThereIsNone() async throws {
        // Proves stop 39's finding: on a log copied without its .keys, `query customer` said "the key store holds no
        // key for them" — there was no key store at all.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys"); removeDir(dir + ".copy") }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        try FileManager.default.copyItem(atPath: dir, toPath: dir + ".copy")
        let copy = try await chronik(["query", "customer", "c-1", "--log", dir + ".copy"])
        #expect(copy.exitCode == 0 && copy.stdout.contains("personal data not shown: no key store at \(dir).copy.keys"), "\(copy)")
        #expect(!copy.stdout.contains("the key store holds no key"), "\(copy)")
        let own = try await chronik(["query", "customer", "c-1", "--log", dir])
        #expect(own.exitCode == 0 && own.stdout.contains("a@example.org") && !own.stdout.contains("not shown"), "\(own)")
    }

    @Test func aMirrorThatCannotReachItsStoreLeavesNoLog() async throws {
        // Proves stop 39's finding: `mirror --log NEW` of an unreachable store exited 1 and left NEW with
        // chronik.meta, a segment and a LOCK file; every other refused writer leaves nothing.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["mirror", "--log", dir, "--store", "postgres://nobody@127.0.0.1:1/none"])
        #expect(r.exitCode == 1, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir), "a new log left behind: \(r)")
        // A log that was there stays.
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "s-1") + "\n").exitCode == 0)
        #expect(try await chronik(["mirror", "--log", dir, "--store", "postgres://nobody@127.0.0.1:1/none"]).exitCode == 1)
        #expect(try await headPosition(dir) == 1)
    }

    @Test func theDemosLastSuggestionRunsAsWritten() async throws {
        // Proves stop 39's finding: after the help's `chronik demo … --log ./shop-log`, the demo's last "Try next"
        // line, `chronik simulate … --log ./shop-log`, was refused (the log holds events). It names a fresh directory.
        let work = makeTempDir()
        defer { removeDir(work) }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work + "/big-shop", withIntermediateDirectories: true)
        let demo = try await chronik(["demo", "--events", "2000", "--seed", "7", "--log", "./shop-log"], in: work)
        #expect(demo.exitCode == 0, "\(demo)")
        let line = try #require(demo.stdoutLines.last { $0.contains("chronik simulate") }, "\(demo)")
        #expect(line.hasSuffix("--log ./big-shop-2"), "an existing directory is passed over: \(line)")
        let args = line.trimmingCharacters(in: .whitespaces).split(separator: " ").dropFirst().map(String.init)
            .map { $0 == "1000000" ? "3000" : $0 }  // the suggestion with fewer events
        let suggested = try await chronik(args, in: work)
        #expect(suggested.exitCode == 0, "\(args): \(suggested)")
    }

    @Test func forgetBesideAServerNamesTheServersOwnRoute() async throws {
        // Proves stop 39's finding: `forget` refused beside `serve` said "append through that server (POST
        // /streams/{stream}, POST /commands)"; its route is POST /customers/{id}/forget, and serve reapplies
        // erasures itself when it starts.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        let script = #"""
            L=$1; BIN=$2
            "$BIN" serve --log "$L" --listen 127.0.0.1:0 2>"$L.serve" >/dev/null &
            P=$!
            for i in $(seq 1500); do grep -q "listening" "$L.serve" && break; sleep 0.02; done
            "$BIN" forget --log "$L" customer c-1 2>&1; echo "exit: $?"
            "$BIN" forget --log "$L" --reapply 2>&1; echo "exit: $?"
            kill -TERM $P; wait $P; rm -f "$L.serve"
            """#
        let r = try await run(.path("/bin/sh"), ["-c", script, "sh", dir, chronikPath])
        #expect(r.stdoutLines.filter { $0 == "exit: 1" }.count == 2, "\(r)")
        #expect(r.stdout.contains("erase through that server (POST /customers/{id}/forget, scope pii)"), "\(r)")
        #expect(r.stdout.contains("restart that server (it destroys such keys when it starts)"), "\(r)")
        #expect(!r.stdout.contains("POST /commands"), "\(r)")
    }

    @Test func theDemoChecksItsKeyStoreBeforeEmptyingItsLog() async throws {
        // Proves stop 39's finding (a downgrade): the demo emptied its log, then refused its key store for a file
        // not its own, and left 256 key files beside a log of nothing but LOCK, which the next demo refused.
        let tmp = makeTempDir()
        defer { removeDir(tmp) }
        let script = #"""
            T=$1; BIN=$2
            mkdir -p "$T"; export TMPDIR="$T"
            "$BIN" demo --events 2000 >/dev/null 2>&1; echo "first: $?"
            touch "$T/chronik-demo.keys/not-a-key"
            "$BIN" demo --events 2000 >/dev/null 2>"$T/err"; echo "refused: $?"
            [ -e "$T/chronik-demo/chronik.meta" ] && echo "log kept" || echo "log emptied"
            cat "$T/err"
            rm "$T/chronik-demo.keys/not-a-key"
            for f in "$T"/chronik-demo/*; do [ "$(basename "$f")" = LOCK ] || rm -rf "$f"; done
            "$BIN" demo --events 2000 >/dev/null 2>"$T/err"; echo "after: $?"
            cat "$T/err"
            """#
        let r = try await run(.path("/bin/sh"), ["-c", script, "sh", tmp, chronikPath])
        #expect(r.stdoutLines.first == "first: 0", "\(r)")
        #expect(r.stdoutLines.contains("refused: 1") && r.stdoutLines.contains("log kept"), "\(r)")
        #expect(r.stdout.contains("holds files that are not a Chronik key store"), "\(r)")
        #expect(r.stdoutLines.contains("after: 0"), "a log of nothing but LOCK is taken as empty: \(r)")
    }
}
