import ChronikLog
import Foundation
import Testing

// Issues 9.1–9.3, 10.1, 10.8 and 10.9 through the real binary: retries in
// one input, export → import after an erasure, commerce validation in
// `append`, replay --skip-undecodable, all-or-nothing for import and append
// alike, byte-order marks and CRLF, FILE or stdin for both.

private let idA = "0190b1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2b"

private func stock(_ i: Int, qty: Int = 5, id: String? = nil) -> String {
    let idPart = id.map { #""id":"\#($0)","# } ?? ""
    return #"{"type":"StockReceived",\#(idPart)"time":"2024-05-01T10:00:00Z","data":{"sku":"sku-\#(i % 7)","warehouseId":"wh-1","qty":\#(qty)}}"#
}

private let longInput = (0..<300).map { stock($0) }

@Suite("import and append: retries, all or nothing, encodings")
struct ImportRetryCLITests {
    @Test func importSkipsAndCountsRetries() async throws {
        // Proves (9.1) a repeated line is skipped and counted in text ("retries skipped") and in --json ("retries").
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let input = [stock(1, id: idA), stock(2), stock(1, id: idA)].joined(separator: "\n")
        let r = try await chronik(["import", "--log", dir, "-"], input: input)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains("imported 2 events"), "\(r)")
        #expect(r.stdout.contains("1 retry skipped"), "\(r)")
        let again = try await chronik(["import", "--json", "--log", makeTempDir("retry-json")], input: input)
        #expect(jsonObjects(again.stdout).first?["retries"] as? Int == 1, "\(again)")
        #expect(jsonObjects(again.stdout).first?["events"] as? Int == 2)
    }

    @Test func importSameIDOtherContentNamesBothLines() async throws {
        // Proves (9.1) the same id with other content on a later line exits 1 naming both lines, nothing written.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["import", "--log", dir], input: [stock(1, id: idA), stock(1, qty: 6, id: idA)].joined(separator: "\n"))
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2: duplicateEventId [id]: event id \(idA) is also on line 1"), "\(r)")
        #expect(try await holdsNoEvent(dir))
    }

    @Test func appendSkipsAndCountsRetriesAndRefusesConflicts() async throws {
        // Proves (9.1) append treats a repeated line as a retry and the same id with other data as an error naming both lines.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let line = eventLine(stream: "notes-1", type: "NoteAdded", data: #"{"text":"hi"}"#, extra: #""id":"\#(idA)""#)
        let r = try await chronik(["append", "--json", "--log", dir], input: [line, line].joined(separator: "\n"))
        #expect(r.exitCode == 0, "\(r)")
        let o = jsonObjects(r.stdout).first ?? [:]
        #expect(o["appended"] as? Int == 1)
        #expect(o["retries"] as? Int == 1)
        let other = eventLine(stream: "notes-1", type: "NoteAdded", data: #"{"text":"ho"}"#, extra: #""id":"\#(idA)""#)
        let bad = try await chronik(["append", "--log", makeTempDir("append-conflict")], input: [line, other].joined(separator: "\n"))
        #expect(bad.exitCode == 1, "\(bad)")
        #expect(bad.stderr.contains("line 2: duplicateEventId [id]: event id \(idA) is also on line 1"), "\(bad)")
    }

    @Test func importIDInTheLogWithOtherContentAtTheEndWritesNothing() async throws {
        // Proves (10.1) import: two… three hundred new lines, then a line reusing a logged id with other content: exit 1, log unchanged.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["import", "--log", dir], input: stock(1, id: idA)).exitCode == 0)
        let r = try await chronik(["import", "--log", dir], input: (longInput + [stock(1, qty: 9, id: idA)]).joined(separator: "\n"))
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 301: duplicateEventId"), "\(r)")
        #expect(r.stderr.contains("nothing was imported"), "\(r)")
        #expect(try await headPosition(dir) == 1)
    }

    @Test func appendRefusalsAtTheEndOfALongInputWriteNothing() async throws {
        // Proves (10.1) append: an id reused with other content, a wrong expectedVersion and a guard, each on the last
        // of 301 lines, exit 1 and leave the log as it was.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["append", "--log", dir], input: stock(1, id: idA)).exitCode == 0)
        let endings: [(String, String)] = [
            (stock(1, qty: 9, id: idA), "duplicateEventId"),
            (#"{"type":"StockReceived","time":"2024-05-01T10:00:00Z","expectedVersion":7,"data":{"sku":"sku-0","warehouseId":"wh-1","qty":1}}"#, "expectedVersion"),
            (#"{"type":"StockReserved","time":"2024-05-01T10:00:00Z","data":{"sku":"sku-0","warehouseId":"wh-1","qty":100000,"orderId":"o-1"}}"#, "insufficientStock"),
        ]
        for (last, reason) in endings {
            let r = try await chronik(["append", "--log", dir], input: (longInput + [last]).joined(separator: "\n"))
            #expect(r.exitCode == 1, "\(reason): \(r)")
            #expect(r.stderr.contains("line 301: "), "\(reason): \(r)")
            #expect(r.stderr.contains(reason), "\(reason): \(r)")
            #expect(r.stderr.contains("nothing was appended"), "\(reason): \(r)")
            #expect(try await headPosition(dir) == 1, "\(reason)")
        }
    }

    @Test func appendValidatesCommerceTypesAsImportDoes() async throws {
        // Proves (9.3) a PaymentCaptured without paymentId is refused by append with import's message, and nothing is written.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let line = #"{"type":"PaymentCaptured","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-1","amount":5}}"#
        let appended = try await chronik(["append", "--log", dir], input: line)
        let imported = try await chronik(["import", "--log", dir], input: line)
        #expect(appended.exitCode == 1, "\(appended)")
        #expect(imported.exitCode == 1, "\(imported)")
        let expected = "line 1: missingField [data.paymentId]: required field paymentId is missing"
        #expect(appended.stderr.contains(expected), "\(appended)")
        #expect(imported.stderr.contains(expected), "\(imported)")
        #expect(try await holdsNoEvent(dir))
    }

    @Test func jsonErrorsReadTheSameInBoth() async throws {
        // Proves (10.9) one parser: a broken line gets the same message from import and append.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let broken = #"{"type":"StockReceived","data":{"sku":}"#
        let a = try await chronik(["append", "--log", dir], input: broken)
        let i = try await chronik(["import", "--log", dir], input: broken)
        let message = "line 1: invalidJSON: unexpected character at byte 38"
        #expect(a.stderr.contains(message), "\(a)")
        #expect(i.stderr.contains(message), "\(i)")
    }

    @Test func byteOrderMarkAndCRLFInBoth() async throws {
        // Proves (10.9) import and append accept a UTF-8 BOM and CRLF line endings, from a file and from stdin.
        let body = [stock(1), stock(2)].joined(separator: "\r\n") + "\r\n"
        let text = "\u{FEFF}" + body
        for command in ["import", "append"] {
            let dir = makeTempDir("bom-" + command)
            defer { removeDir(dir) }
            let file = try writeTemp(text)
            let r = try await chronik([command, "--log", dir, file])
            #expect(r.exitCode == 0, "\(command): \(r)")
            let piped = try await chronik([command, "--log", dir], input: text)
            #expect(piped.exitCode == 0, "\(command) stdin: \(piped)")
            #expect(try await headPosition(dir) == 4, "\(command)")
        }
    }

    @Test func aControlCharacterInAStreamNameRefusesTheWholeInput() async throws {
        // Proves stop 33's fix: the log's rule for names (no control characters, NFC) was met only at the write, so
        // append wrote the lines before and after the bad one and exited 1; now the check refuses the input whole,
        // and --skip-invalid appends the others and exits 0.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let input = [#"{"stream":"good","type":"Noted","data":{}}"#, #"{"stream":"a\u0007b","type":"Noted","data":{}}"#,
                     #"{"stream":"good2","type":"Noted","data":{}}"#, #"{"stream":"t","type":"No\u0085ted","data":{}}"#,
                     #"{"stream":"cafe\u0301","type":"Noted","data":{}}"#].joined(separator: "\n")
        var r = try await chronik(["append", "--log", dir], input: input)
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2: invalidStream [stream]: stream name holds the control character U+0007"), "\(r)")
        #expect(r.stderr.contains("line 4: invalidEventType [type]: type holds the control character U+0085"), "\(r)")
        #expect(r.stderr.contains("line 5: invalidStream [stream]") && r.stderr.contains("NFC"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/chronik.meta"), "nothing appended, no log created")
        r = try await chronik(["append", "--log", dir, "--skip-invalid", "--json"], input: input)
        #expect(r.exitCode == 0, "\(r)")
        #expect(try await headPosition(dir) == 2)
    }

    @Test func appendSkipInvalidAppendsTheRest() async throws {
        // Proves (10.8) append --skip-invalid appends the valid lines, lists the bad ones on stderr and exits 0.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let input = [stock(1), #"{"type":"StockReceived","data":"#, stock(2, qty: 0), stock(3)].joined(separator: "\n")
        let r = try await chronik(["append", "--skip-invalid", "--log", dir], input: input)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stderr.contains("line 2: invalidJSON"), "\(r)")
        #expect(r.stderr.contains("line 3: invalidQuantity [data.qty]"), "\(r)")
        #expect(r.stdout.contains("2 rejected"), "\(r)")
        #expect(try await headPosition(dir) == 2)
    }

    @Test func importReadsStdinWithoutAFileArgument() async throws {
        // Proves (10.8) import, like append, reads stdin when no FILE is given, and both take --max-event-bytes.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["import", "--log", dir, "--max-event-bytes", "100"], input: stock(1))
        #expect(r.exitCode == 0, "\(r)")
        let big = #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":"/\#(String(repeating: "x", count: 200))"}}"#
        for command in ["import", "append"] {
            let refused = try await chronik([command, "--log", dir, "--max-event-bytes", "100"], input: big)
            #expect(refused.exitCode == 1, "\(command): \(refused)")
            #expect(refused.stderr.contains("at most 100 allowed"), "\(command): \(refused)")
        }
        #expect(try await headPosition(dir) == 1)
    }
}

@Suite("export → import after an erasure")
struct ErasedImportCLITests {
    /// An export's lines without `recordedAt`, the one field an import changes.
    static func withoutRecordedAt(_ export: String) -> [String] {
        export.split(separator: "\n").map { line in
            line.replacingOccurrences(of: #","recordedAt":"[^"]*""#, with: "", options: .regularExpression)
        }
    }

    @Test func roundTripOfASimulatedShopWithErasures() async throws {
        // Proves (9.2) export → import → export of a simulated shop with forgotten customers is identical but for
        // recordedAt, the erased fields stay null, and verify passes on the copy.
        let dir = makeTempDir()
        let copy = makeTempDir("copy")
        defer { removeDir(dir); removeDir(copy) }
        let sim = try await chronik(["simulate", "--events", "20000", "--seed", "7", "--log", dir])
        #expect(sim.exitCode == 0, "\(sim)")
        let first = try await chronik(["export", "--log", dir])
        #expect(first.exitCode == 0)
        #expect(first.stdout.contains(#""type":"CustomerForgotten""#), "the simulation forgets customers")
        #expect(first.stdout.contains(#""email":null"#), "an erased field is exported as null")
        let file = try writeTemp(first.stdout)
        let imported = try await chronik(["import", "--log", copy, file])
        #expect(imported.exitCode == 0, "\(imported.stderr.prefix(2000))")
        let second = try await chronik(["export", "--log", copy])
        let a = Self.withoutRecordedAt(first.stdout)
        let b = Self.withoutRecordedAt(second.stdout)
        #expect(a.count == b.count)
        let firstDifference = zip(a, b).first { $0 != $1 }
        #expect(firstDifference == nil, "\(String(describing: firstDifference))")
        #expect(try await chronik(["verify", "--log", copy]).exitCode == 0)
    }

    @Test func nullPersonalDataOfACustomerNotForgottenIsRefused() async throws {
        // Proves (9.2) a null email of a customer with no CustomerForgotten stays an error, and with one later in the
        // input the same line imports and exports as null.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let registered = #"{"type":"CustomerRegistered","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-1","email":null,"name":null,"phone":null,"address":null,"marketingConsent":true}}"#
        let refused = try await chronik(["import", "--log", dir], input: registered)
        #expect(refused.exitCode == 1, "\(refused)")
        #expect(refused.stderr.contains("missingField [data.email]"), "\(refused)")
        #expect(refused.stderr.contains("customer c-1 is not forgotten"), "\(refused)")
        let forgotten = #"{"type":"CustomerForgotten","time":"2024-05-02T10:00:00Z","data":{"customerId":"c-1"}}"#
        let ok = try await chronik(["import", "--log", dir], input: registered + "\n" + forgotten)
        #expect(ok.exitCode == 0, "\(ok)")
        let export = try await chronik(["export", "--log", dir, "--type", "CustomerRegistered"])
        #expect(export.stdout.contains(#""email":null,"name":null"#), "\(export)")
        // A partly null line is not an erasure: the null field is missing, as before.
        let partial = #"{"type":"CustomerRegistered","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-2","email":null,"name":"Ana","address":{"line1":"a","city":"b","postalCode":"1","country":"DE"},"marketingConsent":true}}"#
        let mixed = try await chronik(["import", "--log", dir], input: partial)
        #expect(mixed.exitCode == 1, "\(mixed)")
        #expect(mixed.stderr.contains("missingField [data.email]: required field email is null: it needs a value"), "\(mixed)")
    }
}

@Suite("replay --skip-undecodable")
struct SkipUndecodableCLITests {
    @Test func undecodableEventIsListedAndExitsOneUnlessAllowed() async throws {
        // Proves (9.3) a PaymentCaptured written through the library with bad data stops replay; --skip-undecodable
        // lists its position, type and reason and exits 1; --allow-skipped exits 0; a snapshot cannot be taken past it.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["import", "--log", dir], input: [stock(1), stock(2)].joined(separator: "\n")).exitCode == 0)
        do {
            let log = try EventLog.open(at: dir)
            defer { try? log.close() }
            _ = try await log.append(to: "order-o-1", [ProposedEvent(type: "PaymentCaptured", data: Array(#"{"orderId":"o-1"}"#.utf8))])
        }
        #expect(try await chronik(["import", "--log", dir], input: stock(3)).exitCode == 0)

        let strict = try await chronik(["replay", "--log", dir])
        #expect(strict.exitCode == 1, "\(strict)")
        let skipping = try await chronik(["replay", "--skip-undecodable", "--log", dir])
        #expect(skipping.exitCode == 1, "\(skipping)")
        #expect(skipping.stdout.contains("position 2  PaymentCaptured: "), "\(skipping)")
        #expect(skipping.stderr.contains("1 undecodable event was skipped"), "\(skipping)")
        let allowed = try await chronik(["replay", "--allow-skipped", "--json", "--log", dir])
        #expect(allowed.exitCode == 0, "\(allowed)")
        let objects = jsonObjects(allowed.stdout)
        #expect(objects.first?["phase"] as? String == "skipped")
        #expect(objects.first?["position"] as? Int == 2)
        #expect(objects.first?["type"] as? String == "PaymentCaptured")
        #expect((objects.first?["reason"] as? String)?.isEmpty == false)
        #expect(objects.last?["skipped"] as? Int == 1)
        #expect(objects.last?["position"] as? Int == 4)
        // No snapshot hides it: none can be written past it, so every replay lists it.
        let snapshot = try await chronik(["snapshot", "--log", dir])
        #expect(snapshot.exitCode == 1, "\(snapshot)")
        let afterwards = try await chronik(["replay", "--skip-undecodable", "--log", dir])
        #expect(afterwards.stdout.contains("position 2  PaymentCaptured: "), "\(afterwards)")
    }
}
