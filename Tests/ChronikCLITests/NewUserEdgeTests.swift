import Foundation
import Testing

// What a new user met at stop 33 (a helper exploring the CLI as one):
// each case failed, or said it unclearly, before that stop's fixes.
@Suite("a new user's edges (stop 33)")
struct NewUserEdgeTests {
    @Test func controlCharactersInTheDataAreEscapedInTextOutput() async throws {
        // Proves stop 34's finding: an escape sequence or a newline in a name reached the terminal raw
        // (tables broke, the terminal ran the escapes); text output now writes them as JSON would.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(#"""
            {"type":"SupplierRegistered","time":"2024-05-01T00:00:00Z","data":{"supplierId":"s1","name":"Bad\u001b[31m\nName\u0085","leadTimeDays":1}}
            {"type":"ProductCreated","time":"2024-05-01T00:00:00Z","data":{"productId":"p1","title":"Evil\u001b[2J\tTitle","category":"c"}}

            """#)
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        let suppliers = try await chronik(["query", "suppliers", "--log", dir])
        #expect(suppliers.exitCode == 0 && suppliers.stdoutLines.count == 1, "\(suppliers)")
        #expect(suppliers.stdout.contains(#"Bad\u001b[31m\u000aName\u0085"#), "\(suppliers)")
        let catalog = try await chronik(["query", "catalog", "--log", dir])
        #expect(catalog.stdout.contains(#"Evil\u001b[2J\u0009Title"#), "\(catalog)")
        for out in [suppliers.stdout, catalog.stdout] {
            #expect(!out.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) })
        }
    }

    @Test func emptyTextAnswersSaySoAndCountsAgree() async throws {
        // Proves stop 34's findings: settings --at before any change and recommendations with none printed
        // nothing in text; a customer named only by a session was "no customer"; a PO line read "1 units".
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(#"""
            {"type":"SettingChanged","time":"2024-05-02T00:00:00Z","data":{"key":"theme","value":"dark","actor":"ops"}}
            {"type":"SessionStarted","time":"2024-05-01T09:00:00Z","data":{"sessionId":"s1","customerId":"g1","channel":"web"}}
            {"type":"SupplierRegistered","time":"2024-05-01T00:00:00Z","data":{"supplierId":"sup","name":"Sup","leadTimeDays":3}}
            {"type":"PurchaseOrderPlaced","time":"2024-05-01T00:00:00Z","data":{"purchaseOrderId":"po1","supplierId":"sup","warehouseId":"w1","lines":[{"sku":"a","qty":1,"unitCost":10}],"currency":"EUR","expectedAt":"2024-05-05T00:00:00Z"}}

            """#)
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        let early = try await chronik(["query", "settings", "--at", "2024-05-01T00:00:00Z", "--log", dir])
        #expect(early.exitCode == 0 && early.stdout == "no setting was set at 2024-05-01T00:00:00Z\n", "\(early)")
        let json = try await chronik(["query", "settings", "--at", "2024-05-01T00:00:00Z", "--log", dir, "--json"])
        #expect(json.exitCode == 0 && json.stdout.isEmpty, "\(json)")
        let none = try await chronik(["query", "recommendations", "g1", "--log", dir])
        #expect(none.exitCode == 0 && none.stdout.hasPrefix("no recommendations for customer g1"), "\(none)")
        #expect(try await chronik(["query", "recommendations", "nobody", "--log", dir]).exitCode == 1)
        let pos = try await chronik(["query", "purchase-orders", "--log", dir])
        // An aligned table since stop 35: counts in their columns, no "1 units".
        let rows = pos.stdoutLines
        #expect(rows.count == 2 && rows[0].hasSuffix("lines  units") && rows[1].hasPrefix("po1") && rows[1].hasSuffix("1      1")
                && !pos.stdout.contains("1 units"), "\(pos)")
    }

    @Test func aDirectoryWhereAFileIsExpectedIsAUsageError() async throws {
        // Proves a directory as the input file is a usage error naming it (exit 64, as a missing file), not
        // "invalidData: cannot read the input after line 0: errno 21" (append, import) or an NSCocoaErrorDomain error
        // (settle import); and keygen --out DIR says it is a directory, not "an existing key file".
        let input = makeTempDir("input")
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
        let dir = makeTempDir()
        defer { removeDir(input); removeDir(dir) }
        for args in [["append", input], ["import", input], ["settle", "import", input, "--gateway", "stripe"]] {
            let r = try await chronik(args + ["--log", dir])
            #expect(r.exitCode == 64 && r.stderr.contains("\(input) is a directory"), "\(args): \(r)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir))
        for force in [false, true] {
            let r = try await chronik(["keygen", "--out", input] + (force ? ["--force"] : []))
            #expect(r.exitCode == 1 && r.stderr.contains("is a directory") && !r.stderr.contains("existing key file"), "\(r)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: input).isEmpty)
    }

    @Test func messagesSayWhatIsWrongInTheCommandsOwnWords() async throws {
        // Proves subject-export of an unknown customer says so as forget does (no library code and field), settle
        // export --json shows settle export's own usage, and simulate's summary says "1 event", not "1 events".
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        var r = try await chronik(["simulate", "--events", "1", "--seed", "1", "--log", dir])
        #expect(r.exitCode == 0 && r.stdout.contains("simulated 1 event (seed 1)") && r.stdout.contains("1 guarded append,"), "\(r)")
        r = try await chronik(["subject-export", "customer", "NOPE", "--log", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("no customer NOPE in this log") && !r.stderr.contains("invalidData"), "\(r)")
        r = try await chronik(["settle", "export", "--json", "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 64 && r.stderr.contains("Usage: chronik settle export"), "\(r)")
    }

    @Test func queriesTakeLimitAndRefuseUnknownIds() async throws {
        // Proves every list of query takes --limit / --top (suppliers, purchase-orders, settings, campaigns refused it
        // with exit 64; recommendations had no --top), and an unknown customer, supplier or warehouse is exit 1 naming
        // it, as --sku and --payout were, not an empty answer with exit 0.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        #expect(try await chronik(["simulate", "--events", "20000", "--seed", "1", "--log", dir, "--quiet"]).exitCode == 0)
        for q in [["suppliers"], ["purchase-orders"], ["settings"], ["campaigns"]] {
            let all = try await chronik(["query"] + q + ["--json", "--log", dir])
            #expect(all.exitCode == 0 && all.stdoutLines.count >= 2, "\(q): \(all)")
            for flag in ["--limit", "--top"] {
                let one = try await chronik(["query"] + q + [flag, "1", "--json", "--log", dir])
                #expect(one.exitCode == 0 && one.stdoutLines == Array(all.stdoutLines.prefix(1)), "\(q) \(flag): \(one)")
            }
        }
        let customer = try #require(jsonObjects(try await chronik(["query", "customers", "--json", "--log", dir]).stdout).first?["customerId"] as? String)
        let top = try await chronik(["query", "recommendations", customer, "--top", "1", "--log", dir])
        #expect(top.exitCode == 0 && top.stdoutLines.count <= 1, "\(top)")
        for (q, said) in [(["recommendations", "NOPE"], "no customer NOPE"), (["purchase-orders", "--supplier", "nope"], "no supplier 'nope'"),
                          (["inventory", "--warehouse", "NOPE"], "no stock in warehouse 'NOPE'")] {
            let r = try await chronik(["query"] + q + ["--log", dir])
            #expect(r.exitCode == 1 && r.stdout.isEmpty && r.stderr.contains(said), "\(q): \(r)")
        }
    }

    @Test func aRefusedSimulateLeavesNoLogBehind() async throws {
        // Proves a simulate refused for another log's key store removes the empty log it created (stop 33), as a
        // failed import does.
        let a = makeTempDir("a"), b = makeTempDir("b")
        defer { removeDir(a); removeDir(a + ".keys"); removeDir(b); removeDir(b + ".keys") }
        #expect(try await chronik(["simulate", "--events", "10", "--seed", "1", "--log", a, "--quiet"]).exitCode == 0)
        let r = try await chronik(["simulate", "--events", "10", "--seed", "1", "--log", b, "--keys", a + ".keys"])
        #expect(r.exitCode == 1 && r.stderr.contains("belongs to another log"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: b))
        #expect(try await headPosition(a) == 10)
    }

    @Test func repairOfDamageInASealedSegmentSaysWhereOnce() async throws {
        // Proves repair's refusal for damage it cannot cut names the file and offset once, then the reason (stop 33:
        // the whole damage text, file and offset included, was repeated inside the message).
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        #expect(try await chronik(["simulate", "--events", "5000", "--seed", "1", "--segment-size", "64KiB", "--log", dir, "--quiet"]).exitCode == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(names.count >= 3, "\(names)")
        let victim = dir + "/" + names[1]
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        let r = try await chronik(["repair", "--log", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("restore the log from a copy"), "\(r)")
        #expect(r.stderr.components(separatedBy: names[1]).count == 2, "the file named once: \(r.stderr)")
    }
}
