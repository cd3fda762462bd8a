import ChronikLog
import Foundation
import Testing

// Issue 10 points 2, 7 and 8: `read` and `tail` print commerce events
// decoded (as `export` does), unknown streams and types are errors, and the
// options share one vocabulary (--limit, --from/--to as position or time).

@Suite("readable events, unknown names, one option vocabulary")
struct ReadableEventsTests {
    /// A log of `shopLines` (c-1 with personal data, order o-1, one
    /// unknown-type event); returns its directory.
    func shop() async throws -> String {
        let dir = makeTempDir()
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        let r = try await chronik(["import", "--log", dir, file])
        #expect(r.exitCode == 0, "\(r)")
        return dir
    }

    @Test("read prints a commerce event decoded, with its personal data opened from the key store")
    func readDecodes() async throws {
        // Proves the stored binary form never reaches the reader: text and JSON show the EVENTS.md data.
        let dir = try await shop()
        defer { removeDir(dir) }
        let text = try await chronik(["read", "--stream", "order-o-1", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        let placed = try #require(text.stdoutLines.first { $0.contains("OrderPlaced") }, "\(text)")
        #expect(placed.contains(#""orderId":"o-1""#) && placed.contains(#""unitPrice":1000"#), "\(placed)")
        #expect(placed.contains("Hauptstr. 1"), "the address is opened with the key store: \(placed)")
        #expect(!text.stdout.contains("bytes>"), "\(text)")
        #expect(!text.stderr.contains("key store"), "\(text)")
        // The unknown-type event on the same stream keeps its stored JSON.
        #expect(text.stdout.contains(#"{"a":[1.5e3],"z":1}"#) || text.stdout.contains(#""z":1"#), "\(text)")

        let json = try await chronik(["read", "--json", "--stream", "order-o-1", "--log", dir])
        #expect(json.exitCode == 0, "\(json)")
        let events = jsonObjects(json.stdout)
        for e in events {
            #expect(Set(e.keys) == ["position", "stream", "version", "id", "type", "time", "recordedAt", "data", "meta"], "\(e)")
        }
        let order = try #require(events.first { $0["type"] as? String == "OrderPlaced" })
        let data = try #require(order["data"] as? [String: Any], "\(order)")
        #expect(data["currency"] as? String == "EUR")
        #expect((data["shippingAddress"] as? [String: Any])?["city"] as? String == "Berlin", "\(data)")
        let captured = try #require(events.first { $0["type"] as? String == "PaymentCaptured" })
        #expect((captured["data"] as? [String: Any])?["amount"] as? Int == 2000, "\(captured)")
    }

    @Test("read and tail print a forgotten customer's personal data as ‹erased› (JSON: null), the rest as before")
    func erasedData() async throws {
        // Proves read/tail use export's decode: after forget, no personal value is printed, amounts stay.
        let dir = try await shop()
        defer { removeDir(dir) }
        #expect(try await chronik(["forget", "--log", dir, "customer", "c-1"]).exitCode == 0)
        let text = try await chronik(["read", "--stream", "customer-c-1", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdoutLines.first?.contains(#""email":‹erased›"#) == true, "\(text)")
        #expect(!text.stdout.contains("a@example.org") && !text.stdout.contains("Ana"), "\(text)")
        let json = try await chronik(["read", "--json", "--log", dir])
        #expect(json.stdout.contains(#""email":null"#) && json.stdout.contains(#""shippingAddress":null"#), "\(json)")
        #expect(json.stdout.contains(#""unitPrice":1000"#), "\(json)")
        for v in ["a@example.org", "Hauptstr. 1"] { #expect(!json.stdout.contains(v)) }

        let tail = try await chronik(["tail", "--limit", "20", "--log", dir])
        #expect(tail.exitCode == 0, "\(tail)")
        #expect(tail.stdout.contains(#""shippingAddress":‹erased›"#) && tail.stdout.contains(#""amount":2000"#), "\(tail)")
    }

    @Test("without a key store, personal data reads as ‹erased› and a note says why")
    func noKeyStore() async throws {
        // Proves the reader never prints sealed bytes: no key store (the default LOG.keys absent) means erased,
        // with a note on stderr; a --keys that names none is refused (stop 34), not read as erased.
        let dir = try await shop()
        defer { removeDir(dir); removeDir(dir + ".moved") }
        try FileManager.default.moveItem(atPath: dir + ".keys", toPath: dir + ".moved")
        let r = try await chronik(["read", "--stream", "customer-c-1", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains(#""name":‹erased›"#) && r.stdout.contains(#""customerId":"c-1""#), "\(r)")
        #expect(r.stderr.contains("no key store"), "\(r)")
        let quiet = try await chronik(["read", "--stream", "customer-c-1", "--log", dir, "--quiet"])
        #expect(quiet.stderr.isEmpty, "\(quiet)")
        let wrong = try await chronik(["read", "--stream", "customer-c-1", "--log", dir, "--keys", dir + "-nokeys"])
        #expect(wrong.exitCode == 1 && wrong.stderr.contains("no key store at \(dir)-nokeys (--keys)") && wrong.stdout.isEmpty, "\(wrong)")
    }

    @Test("tail and tail -f print decoded events")
    func tailDecodes() async throws {
        // Proves the follow path uses the same printer: the first event tail -f prints is decoded.
        let dir = try await shop()
        defer { removeDir(dir) }
        let last = try await chronik(["tail", "-n", "1", "--json", "--stream", "customer-c-1", "--log", dir])
        #expect(last.exitCode == 0, "\(last)")
        #expect((jsonObjects(last.stdout).first?["data"] as? [String: Any])?["email"] as? String == "a@example.org", "\(last)")
        let follow = try await run(.path("/usr/bin/timeout"), ["3", chronikPath, "tail", "-f", "--from", "2", "--log", dir])
        #expect(follow.exitCode == 124, "\(follow)")
        #expect(follow.stdoutLines.first?.contains(#""orderId":"o-1""#) == true, "\(follow)")
        #expect(!follow.stdout.contains("bytes>"), "\(follow)")
    }

    @Test("a commerce event whose data does not decode is printed as stored, with a warning naming it")
    func undecodableEvent() async throws {
        // Proves read never hides an event it cannot decode (written through the library with other bytes).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        _ = try await log.append(to: "order-x", ProposedEvent(type: "PaymentCaptured", data: [0x01, 0x02, 0xFF]))
        _ = try await log.append(to: "note-1", ProposedEvent(type: "NoteAdded", data: Array(#"{"text":"hi"}"#.utf8)))
        try log.close()
        let text = try await chronik(["read", "--log", dir])
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdoutLines.count == 2, "\(text)")
        #expect(text.stdoutLines.first?.contains("PaymentCaptured  ") == true && text.stdout.contains("<3 bytes>"), "\(text)")
        #expect(text.stdoutLines.last?.hasSuffix(#"{"text":"hi"}"#) == true, "\(text)")
        #expect(text.stderr.contains("warning: event at position 0 (PaymentCaptured)"), "\(text)")
        let json = try await chronik(["read", "--json", "--log", dir])
        #expect(jsonObjects(json.stdout).first?["dataBase64"] as? String == "AQL/", "\(json)")
    }

    @Test("an unknown stream is an error for read, tail and export; tail -f waits for it")
    func unknownStream() async throws {
        // Proves a typo is not an empty answer with exit 0.
        let dir = try await shop()
        defer { removeDir(dir) }
        for args in [["read", "--stream", "nope"], ["tail", "--stream", "nope"], ["export", "--stream", "nope"],
                     ["export", "--stream", "order-o-1", "--stream", "nope"]] {
            let r = try await chronik(args + ["--log", dir])
            #expect(r.exitCode == 1, "\(args): \(r)")
            #expect(r.stderr.contains("no stream nope"), "\(args): \(r)")
            #expect(r.stdout.isEmpty, "\(args): \(r)")
        }
        let follow = try await run(.path("/usr/bin/timeout"), ["2", chronikPath, "tail", "-f", "--stream", "nope", "--log", dir])
        #expect(follow.exitCode == 124 && follow.stderr.contains("no events yet"), "\(follow)")
    }

    @Test("export --type of an unknown type is an error listing the known ones; a type in the log is known")
    func unknownType() async throws {
        // Proves the misspelt type is named, the closest known one suggested, and nothing is written.
        let dir = try await shop()
        defer { removeDir(dir) }
        let r = try await chronik(["export", "--type", "OrderPlacd", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("unknown event type OrderPlacd (did you mean OrderPlaced?)"), "\(r)")
        #expect(r.stderr.contains("known types: ") && r.stderr.contains("PaymentCaptured"), "\(r)")
        #expect(r.stderr.contains("in this log also: Custom.Note"), "\(r)")
        let audit = try await chronik(["export", "--format", "csv", "--type", "orderplaced", "--log", dir])
        #expect(audit.exitCode == 1 && audit.stderr.contains("did you mean OrderPlaced?"), "\(audit)")

        let custom = try await chronik(["export", "--type", "Custom.Note", "--log", dir])
        #expect(custom.exitCode == 0 && custom.stdoutLines.count == 1, "\(custom)")
        // A commerce type the log does not hold is known: an empty export.
        let none = try await chronik(["export", "--type", "PageViewed", "--log", dir])
        #expect(none.exitCode == 0 && none.stdout.isEmpty, "\(none)")
    }

    @Test("--limit caps read, tail and export; -n and --lines stay aliases of tail --limit")
    func limit() async throws {
        // Proves one name for how many rows.
        let dir = try await shop()
        defer { removeDir(dir) }
        for args in [["read", "--limit", "2"], ["tail", "--limit", "2"], ["tail", "-n", "2"], ["tail", "--lines", "2"],
                     ["export", "--limit", "2"], ["export", "--limit", "2", "--audit"]] {
            let r = try await chronik(args + ["--log", dir])
            #expect(r.exitCode == 0, "\(args): \(r)")
            #expect(r.stdoutLines.count == 2, "\(args): \(r)")
        }
        let csv = try await chronik(["export", "--format", "csv", "--limit", "3", "--log", dir])
        #expect(csv.stdout.split(separator: "\r\n").count == 4, "header and 3 rows: \(csv)")
        let help = try await chronik(["tail", "--help"])
        #expect(help.stdout.contains("--limit"), "\(help)")
    }

    @Test("--from and --to take a position or an RFC 3339 time in read, tail and export")
    func fromTo() async throws {
        // Proves the one rule: an integer is a position (a version with --stream), anything else a time.
        let dir = try await shop()
        defer { removeDir(dir) }
        func positions(_ args: [String]) async throws -> [Int] {
            let r = try await chronik(args + ["--json", "--log", dir])
            #expect(r.exitCode == 0, "\(args): \(r)")
            return jsonObjects(r.stdout).compactMap { $0["position"] as? Int }
        }
        #expect(try await positions(["read", "--from", "2", "--to", "4"]) == [2, 3, 4])
        #expect(try await positions(["read", "--from", "2024-05-02T00:00:00Z", "--to", "2024-05-03T10:00:00Z"]) == [2, 3, 4, 5])
        #expect(try await positions(["read", "--backward", "--from", "2024-05-03T10:00:00Z", "--to", "2024-05-02T10:00:01Z"]) == [5, 4, 3])
        #expect(try await positions(["read", "--backward", "--from", "6", "--to", "4"]) == [6, 5, 4])
        #expect(try await positions(["read", "--stream", "order-o-1", "--from", "1", "--to", "2"]) == [4, 5])
        #expect(try await positions(["tail", "--from", "2024-05-03T11:00:00Z"]) == [6, 7, 8])
        #expect(try await positions(["tail", "--from", "7"]) == [7, 8])
        let export = try await chronik(["export", "--from", "2024-05-03T00:00:00Z", "--to", "6", "--log", dir])
        #expect(export.stdoutLines.count == 2, "\(export)")
        let alias = try await chronik(["export", "--from-time", "2024-05-03T00:00:00Z", "--to", "6", "--log", dir])
        #expect(alias.stdout == export.stdout, "\(alias)")

        let reversed = try await chronik(["read", "--from", "5", "--to", "2", "--log", dir])
        #expect(reversed.exitCode == 64 && reversed.stderr.contains("--from must not be after --to"), "\(reversed)")
        let bad = try await chronik(["read", "--from", "yesterday", "--log", dir])
        #expect(bad.exitCode == 64, "\(bad)")
    }

    @Test("keygen takes --log and --quiet like every command")
    func keygenTakesGlobalOptions() async throws {
        // Proves issue 9.8: `--log` is accepted everywhere (keygen ignores it) and `--quiet` too.
        let dir = makeTempDir()
        defer { removeDir(dir); try? FileManager.default.removeItem(atPath: dir + "-key"); try? FileManager.default.removeItem(atPath: dir + "-key.pub") }
        let r = try await chronik(["keygen", "--log", dir, "--quiet", "--json", "--out", dir + "-key"])
        #expect(r.exitCode == 0, "\(r)")
        #expect(jsonObjects(r.stdout).first?["publicKey"] as? String == dir + "-key.pub", "\(r)")
        #expect(FileManager.default.fileExists(atPath: dir + "-key.pub"))
        #expect(!FileManager.default.fileExists(atPath: dir), "keygen creates no log")
    }

    @Test("an unknown subcommand exits 64 with a message naming it")
    func unknownSubcommand() async throws {
        // Proves `chronik bogus` (also with --help, or as `help bogus`) is a usage error, not the main help with exit 0.
        for args in [["bogus"], ["bogus", "--help"], ["help", "bogus"], ["query", "bogus", "--json"]] {
            let r = try await chronik(args)
            #expect(r.exitCode == 64, "\(args): \(r)")
            #expect(r.stderr.contains("unknown command 'bogus'"), "\(args): \(r)")
            #expect(r.stdout.isEmpty, "\(args): \(r)")
        }
        let listed = try await chronik(["bogus"])
        #expect(listed.stderr.contains("chronik commands: demo, simulate"), "\(listed)")
        let help = try await chronik(["--help"])
        #expect(help.exitCode == 0 && help.stdout.contains("SUBCOMMANDS"), "\(help)")
        let bare = try await chronik([])
        #expect(bare.exitCode == 0 && bare.stdout.contains("SUBCOMMANDS"), "\(bare)")
    }
}
