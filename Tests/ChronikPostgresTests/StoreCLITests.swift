import ChronikLog
@testable import ChronikPostgres
import Foundation
import Testing

// `chronik append`, `read` and `export` with `--store postgres://…` (the
// real binary): append runs the commerce guards and idempotent ids through
// the store, read prints what `read --log` prints, export writes the same
// lines as an export of the store's mirror; `digest --store` and options
// that only a log directory has are usage errors (exit 64).
extension PostgresStoreTests {
    static let cliLines = [
        #"{"id":"6f1c0c1e-0000-4000-8000-000000000001","type":"StockReceived","time":"2024-05-01T10:00:01Z","data":{"sku":"A-1","warehouseId":"wh-1","qty":5}}"#,
        #"{"id":"6f1c0c1e-0000-4000-8000-000000000002","type":"StockReserved","time":"2024-05-01T10:00:02Z","data":{"sku":"A-1","warehouseId":"wh-1","qty":3,"orderId":"o-1"}}"#,
        #"{"id":"6f1c0c1e-0000-4000-8000-000000000003","stream":"notes-1","type":"NoteAdded","time":"2024-05-01T10:00:03Z","data":{"text":"hi"}}"#,
    ]

    func writeLines(_ lines: [String]) throws -> String {
        let path = NSTemporaryDirectory() + "chronik-pg-lines-" + UUID().uuidString + ".jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func appendBesideAnotherWriterSaysItsPositionsHoldOthersEvents() async throws {
        // Stop 43, a helper: "600 events … were appended (positions 24949-25549)": 601 positions, one another writer's.
        let (cluster, store) = try await freshStore("t_cli_among")
        let url = cluster.primary.url(database: "t_cli_among")
        let lines = (0..<200).map { #"{"stream":"n-\#($0 % 2)","type":"NoteAdded","time":"2024-05-01T10:00:03Z","data":{"text":"\#($0)"}}"# }
        let file = try writeLines(lines)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let other = Task {
            for i in 0..<100 {
                _ = try await store.append(to: "other", [self.event("X", "{\"i\":\(i)}")], expected: .any)
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        let r = try await chronik(["append", "--store", url, file])
        try await other.value
        #expect(r.status == 0, "\(r)")
        let span = r.stdout.split(separator: "positions ").last.map { $0.split(whereSeparator: { ",;\n ".contains($0) })[0].split(separator: "-").compactMap { Int($0) } } ?? []
        #expect(span.count == 2, "\(r.stdout)")
        if span.count == 2 {
            #expect(span[1] - span[0] + 1 > 200, "another writer appended between the batches: \(r.stdout)")
            #expect(r.stdout.contains("with other writers' events among them"), "\(r.stdout)")
        }
        await store.close()
    }

    @Test func appendToAStoreStopsBetweenBatchesOnSIGTERMAndSaysWhatWentIn() async throws {
        // Stop 43, a helper: a signal ended `append --store` at once, without a word of what was stored.
        let (cluster, store) = try await freshStore("t_cli_stop")
        let url = cluster.primary.url(database: "t_cli_stop")
        let lines = (0..<3000).map { #"{"stream":"n-\#($0 % 2)","type":"NoteAdded","time":"2024-05-01T10:00:03Z","data":{"text":"\#($0)"}}"# }
        let file = try writeLines(lines)
        let err = file + ".err"
        defer { try? FileManager.default.removeItem(atPath: file); try? FileManager.default.removeItem(atPath: err) }
        let append = try ChildProcess(builtExecutable("chronik"), ["append", "--store", url, file], stdout: "/dev/null", stderr: err)
        defer { append.terminate(); _ = append.wait() }
        for _ in 0..<200 where try await store.headPosition().value < 20 { try await Task.sleep(for: .milliseconds(50)) }
        append.terminate()
        let status = try await append.exited(timeout: .seconds(60))
        let said = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        let head = try await store.headPosition().value
        #expect(status == 128 + SIGTERM && head > 0 && head < 3000, "\(status), head \(head): \(said)")
        #expect(said.contains("append stopped; \(head) events were appended (positions 0-\(head - 1))"), "head \(head): \(said)")
        await store.close()
    }

    @Test func appendReadAndExportWorkOnAStore() async throws {
        let (cluster, store) = try await freshStore("t_cli")
        let url = cluster.primary.url(database: "t_cli")
        let file = try writeLines(Self.cliLines)
        defer { try? FileManager.default.removeItem(atPath: file) }

        let first = try await chronik(["append", "--store", url, file, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains(#""appended":3,"batches":2,"streams":2"#), "\(first.stdout)")
        #expect(try await store.headPosition() == Position(3))
        // The same lines again: idempotent retries, nothing appended.
        let again = try await chronik(["append", "--store", url, file, "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains(#""appended":0"#) && again.stdout.contains(#""duplicates":3"#), "\(again.stdout)")
        // The same lines and one more in the note's stream: the stored ones skipped one by one, the new one appended, as on a
        // log (stop 43, a helper: the batch was refused whole, "a retry must resend the same batch").
        let more = try writeLines(Self.cliLines + [#"{"id":"6f1c0c1e-0000-4000-8000-000000000004","stream":"notes-1","type":"NoteAdded","time":"2024-05-01T10:00:05Z","data":{"text":"more"}}"#])
        defer { try? FileManager.default.removeItem(atPath: more) }
        let partial = try await chronik(["append", "--store", url, more, "--json"])
        #expect(partial.status == 0 && partial.stdout.contains(#""appended":1"#) && partial.stdout.contains(#""duplicates":3"#), "\(partial)")
        #expect(try await store.headPosition() == Position(4))
        // A reservation above what is available: refused by the guard, named, nothing written.
        let over = try writeLines([#"{"type":"StockReserved","time":"2024-05-01T10:00:04Z","data":{"sku":"A-1","warehouseId":"wh-1","qty":3,"orderId":"o-2"}}"#])
        defer { try? FileManager.default.removeItem(atPath: over) }
        let refused = try await chronik(["append", "--store", url, over])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("line 1") && refused.stderr.contains("insufficientStock"), "\(refused.stderr)")
        // With --json the refusal is on stdout as a log's is, skipped or not (stop 43, a helper: nothing on stdout,
        // or "rejects":1 with "rejected":[]).
        for skip in [false, true] {
            let r = try await chronik(["append", "--store", url, over, "--json"] + (skip ? ["--skip-invalid"] : []))
            #expect(r.status == (skip ? 0 : 1), "\(r)")
            #expect(r.stdout.contains(#""rejects":1"#) && r.stdout.contains(#""rejected":[{"line":1,"code":"insufficientStock""#), "\(skip): \(r)")
        }
        // A bad line refuses the input before anything is written.
        let bad = try writeLines([Self.cliLines[0].replacingOccurrences(of: "0001", with: "0009"), "{not json"])
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let badRun = try await chronik(["append", "--store", url, bad])
        #expect(badRun.status == 1)
        #expect(badRun.stderr.contains("line 2"), "\(badRun.stderr)")
        #expect(try await store.headPosition() == Position(4), "nothing written by the refused inputs")

        // read --store prints what read --log prints on the store's mirror.
        let dir = NSTemporaryDirectory() + "chronik-pg-cli-mirror-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try await chronik(["mirror", "--store", url, "--log", dir, "--quiet"]).status == 0)
        for args in [["read", "--json"], ["read", "--stream", "stock-A-1"], ["read", "--backward", "--limit", "2", "--json"],
                     ["read", "--stream", "stock-A-1", "--backward", "--from", "0"], ["read", "--from", "1", "--to", "1"],
                     ["export"], ["export", "--stream", "stock-A-1"], ["export", "--type", "NoteAdded", "--from", "1"]] {
            let fromStore = try await chronik(args + ["--store", url])
            let fromMirror = try await chronik(args + ["--log", dir])
            #expect(fromStore.status == 0, "\(args): \(fromStore.stderr)")
            #expect(!fromStore.stdout.isEmpty, "\(args)")
            // recordedAt is each side's own (docs/POSTGRES.md, "Mirror"); all else is equal.
            #expect(withoutRecordedAt(fromStore.stdout) == withoutRecordedAt(fromMirror.stdout), "\(args)")
        }
        let missing = try await chronik(["read", "--stream", "nope", "--store", url])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no stream nope"), "\(missing.stderr)")
        let unknownType = try await chronik(["export", "--type", "NoteAded", "--store", url])
        #expect(unknownType.status == 1)
        #expect(unknownType.stderr.contains("unknown event type NoteAded"), "\(unknownType.stderr)")
        await store.close()
    }

    @Test func aDatabaseWithoutTheSchemaIsSaidInWords() async throws {
        // Proves stop 35's finding: append, read and verify on a database no server had prepared dumped the
        // driver's error with its SQL text. It now says what to do.
        _ = removeAtExit
        let cluster = try sharedCluster.get()
        let url = try cluster.primary.createDatabase("t_no_schema")
        for args in [["read", "--store", url], ["verify", "--store", url]] {
            let r = try await chronik(args)
            #expect(r.status == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("has no Chronik schema") && r.stderr.contains("chronik serve --store URL once")
                    && !r.stderr.contains("PSQLError"), "\(args): \(r.stderr)")
        }
    }

    @Test func aChangedRowIsNamedByTableAndPosition() async throws {
        // Proves stop 35's finding: a changed row read "chronik_events at byte 1", a byte of no file.
        let (cluster, store) = try await freshStore("t_cli_tamper")
        for i in 0..<2 { _ = try await store.append(to: "s", [event("E", "{\"i\":\(i)}")], expected: .any) }
        await store.close()
        try cluster.primary.psql("UPDATE chronik_events SET data = convert_to('{\"i\":7}', 'UTF8') WHERE position = 1", database: "t_cli_tamper")
        let r = try await chronik(["read", "--store", cluster.primary.url(database: "t_cli_tamper")])
        #expect(r.status == 1 && r.stderr.contains("chronik_events position 1") && !r.stderr.contains("at byte"), "\(r.stderr)")
    }

    @Test func storeOptionUsageErrors() async throws {
        let url = "postgres://postgres@127.0.0.1:1/none"
        for (args, words) in [
            (["read", "--store", url, "--log", "x"], "exclusive"),
            (["export", "--store", url, "--audit"], "--audit"),
            (["export", "--store", url, "--format", "csv"], "csv"),
            (["append", "--store", url, "--segment-size", "1M", "/dev/null"], "--segment-size"),
            (["digest", "--store", url, "--key", "k"], "chronik verify --store"),
            (["serve", "--store", url, "--log", "x"], "exclusive"),
            (["serve", "--store", url, "--keys", "k"], "--keys goes with --log"),
            (["serve", "--store", "mysql://a@b/c"], "not a postgres:// URL"),
            // Stop 35: port 71139 reached 5603, and sslmode=require was taken and ignored.
            (["verify", "--store", "postgres://postgres@127.0.0.1:71139/db"], "port 71139 is not 1–65535"),
            (["read", "--store", "postgres://postgres@127.0.0.1:5432/db?sslmode=require"], "parameter 'sslmode' is not supported"),
            (["read", "--store", "postgres://postgres@127.0.0.1:5432/shop/extra"], "a database name holds no '/'"),
            (["append", "--store", url, "--max-event-bytes", "20M", "/dev/null"], "--max-event-bytes works on a log directory"),
            // Stop 43, a helper: verify --store took --log and ignored it (exit 0); --digest printed the top usage.
            (["verify", "--store", url, "--log", "x"], "exclusive"),
            (["verify", "--store", url, "--digest", "d", "--public-key", "k"], "--digest works on a log directory"),
            (["verify", "--store", url, "--strict-snapshots"], "--strict-snapshots works on a log directory"),
        ] {
            let r = try await chronik(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(words), "\(args): \(r.stderr)")
        }
    }
}

/// `text` with every `"recordedAt":"…"` member removed.
func withoutRecordedAt(_ text: String) -> String {
    text.replacingOccurrences(of: #","recordedAt":"[^"]*""#, with: "", options: .regularExpression)
}
