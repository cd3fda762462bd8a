import Foundation
import Testing

// `chronik import` and `chronik export`, run as a user would.


/// A consistent little shop: every line passes the guards.
let shopLines: [String] = [
    #"{"type":"CustomerRegistered","id":"00000000-0000-4000-8000-000000000001","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-1","email":"a@example.org","name":"Ana","address":{"line1":"Hauptstr. 1","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":true}}"#,
    #"{"type":"StockReceived","id":"00000000-0000-4000-8000-000000000002","time":"2024-05-01T10:00:01Z","data":{"sku":"sku-1","warehouseId":"wh-1","qty":10}}"#,
    #"{"type":"OrderPlaced","id":"00000000-0000-4000-8000-000000000003","time":"2024-05-02T10:00:00.5Z","data":{"orderId":"o-1","customerId":"c-1","lines":[{"sku":"sku-1","qty":2,"unitPrice":1000}],"currency":"EUR","shippingAddress":{"line1":"Hauptstr. 1","city":"Berlin","postalCode":"10115","country":"DE"}},"meta":{"actor":"web"}}"#,
    #"{"type":"StockReserved","id":"00000000-0000-4000-8000-000000000004","time":"2024-05-02T10:00:01Z","data":{"sku":"sku-1","warehouseId":"wh-1","qty":2,"orderId":"o-1"}}"#,
    #"{"type":"PaymentAuthorized","id":"00000000-0000-4000-8000-000000000005","time":"2024-05-02T10:00:02Z","data":{"orderId":"o-1","paymentId":"pay-1","amount":2000,"method":"card","gateway":"stripe"}}"#,
    #"{"type":"PaymentCaptured","id":"00000000-0000-4000-8000-000000000006","time":"2024-05-03T10:00:00Z","data":{"orderId":"o-1","paymentId":"pay-1","amount":2000}}"#,
    #"{"type":"StockShipped","id":"00000000-0000-4000-8000-000000000007","time":"2024-05-03T11:00:00Z","data":{"sku":"sku-1","warehouseId":"wh-1","qty":2,"orderId":"o-1"}}"#,
    #"{"type":"OrderShipped","id":"00000000-0000-4000-8000-000000000008","time":"2024-05-03T11:00:01Z","data":{"orderId":"o-1","shipmentId":"sh-1","warehouseId":"wh-1","carrier":"DHL","trackingNumber":"T1","lines":[{"sku":"sku-1","qty":2}]}}"#,
    #"{"type":"Custom.Note","id":"00000000-0000-4000-8000-000000000009","time":"2024-05-04T00:00:00Z","stream":"order-o-1","data":{"z":1,"a":[1.5e3]}}"#,
]

func writeTemp(_ text: String) throws -> String {
    let path = makeTempDir() + ".jsonl"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite("import and export through the CLI")
struct ImportExportTests {
    @Test func validFileImportsWithSummary() async throws {
        // Proves a valid file is imported whole and the text summary counts events, streams and rejects.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        let r = try await chronik(["import", "--log", dir, file])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.hasPrefix("imported 9 events to 3 streams"), "\(r)")
        #expect(r.stdout.contains("0 rejected"))
        #expect(r.stdout.contains("events/s"))
        #expect(try await headPosition(dir) == 9)
    }

    @Test func jsonSummary() async throws {
        // Proves --json prints one object with stable keys for events, streams, rejects and events/s.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["import", "--json", "--log", dir, "-"], input: shopLines.joined(separator: "\n"))
        #expect(r.exitCode == 0, "\(r)")
        let o = jsonObjects(r.stdout).first ?? [:]
        #expect(o["events"] as? Int == 9)
        #expect(o["streams"] as? Int == 3)
        #expect(o["rejects"] as? Int == 0)
        #expect(o["eventsPerSecond"] is Int)
        #expect(o["written"] as? Bool == true)
    }

    @Test func badLinesWriteNothingAndAreAllListed() async throws {
        // Proves a file with bad lines (value rules and guards) writes nothing and lists every bad line number and reason.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var lines = shopLines
        lines[1] = lines[1].replacingOccurrences(of: #""qty":10"#, with: #""qty":0"#)          // line 2: qty 0
        lines[5] = lines[5].replacingOccurrences(of: #""amount":2000"#, with: #""amount":2001"#) // line 6: over capture
        lines.append(#"{"type":"PriceChanged","time":"2024-05-01T10:00:00Z","data":{"sku":"s","price":-1,"currency":"EUR"}}"#) // 10
        let file = try writeTemp(lines.joined(separator: "\n") + "\n")
        let r = try await chronik(["import", "--log", dir, file])
        #expect(r.exitCode == 1, "\(r)")
        let listed = r.stderrLines.filter { $0.hasPrefix("chronik: line ") }
        // Line 4 reserves stock line 2 would have received: refused too.
        #expect(listed.map { $0.split(separator: ":")[1] } == [" line 2", " line 4", " line 6", " line 7", " line 10"], "\(r)")
        #expect(r.stderr.contains("invalidQuantity"))
        #expect(r.stderr.contains("overCapture"))
        #expect(r.stderr.contains("invalidAmount"))
        #expect(r.stderrLines.last?.contains("nothing was imported") == true)
        #expect(try await holdsNoEvent(dir))
        // Nor a new log or key store left behind (stop 33).
        #expect(!FileManager.default.fileExists(atPath: dir) && !FileManager.default.fileExists(atPath: dir + ".keys"))
    }

    @Test("an import of no event (an empty file, blank lines, only bad lines skipped) creates no log and says so; into a log that exists it changes nothing",
          arguments: ["", "\n\n", "{\"type\":\"PriceChanged\",\"data\":{}}\n"])
    func importOfNoEventCreatesNoLog(input: String) async throws {
        // Stop 43, a helper: an empty file made an empty log (exit 0), which a mistyped --log then opened unsaid.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        let file = try writeTemp(input)
        let r = try await chronik(["import", "--skip-invalid", "--log", dir, file])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains("imported 0 events"), "\(r)")
        #expect(r.stderr.contains("no log was created at \(dir)") && !r.stderr.contains("created a new one"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir) && !FileManager.default.fileExists(atPath: dir + ".keys"))
        // A log that exists stays, with what it held.
        let seeded = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, seeded]).exitCode == 0)
        let again = try await chronik(["import", "--skip-invalid", "--log", dir, file])
        #expect(again.exitCode == 0 && !again.stderr.contains("no log was created"), "\(again)")
        #expect(FileManager.default.fileExists(atPath: dir + "/chronik.meta"))
        #expect(try await !holdsNoEvent(dir))
    }

    @Test func skipInvalidAppendsTheRest() async throws {
        // Proves --skip-invalid appends the valid lines, reports the bad ones and exits 0.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let lines = shopLines + [#"{"type":"OrderCancelled","time":"2024-05-05T00:00:00Z","data":{"orderId":"o-1","reason":"late"}}"#]
        let file = try writeTemp(lines.joined(separator: "\n") + "\n")
        let r = try await chronik(["import", "--skip-invalid", "--log", dir, file])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stderr.contains("line 10: orderAlreadyShipped"), "\(r)")
        #expect(r.stdout.contains("1 rejected"))
        #expect(try await headPosition(dir) == 9)
    }

    @Test func truncatedLastLine() async throws {
        // Proves a truncated last line (cut mid-object, no newline) is refused with its number and nothing is written.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(shopLines[0] + "\n" + String(shopLines[1].prefix(60)))
        let r = try await chronik(["import", "--log", dir, file])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2: invalidJSON"), "\(r)")
        #expect(try await holdsNoEvent(dir))
    }

    @Test func latin1Line() async throws {
        // Proves a line in Latin-1 (not UTF-8) is refused with its number.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let path = makeTempDir() + ".jsonl"
        var bytes = Array((shopLines[0] + "\n").utf8)
        bytes += Array(#"{"type":"SettingChanged","time":"2024-05-01T10:00:00Z","data":{"key":"k","value":"caf"#.utf8) + [0xE9]
            + Array(#"","actor":"a"}}"#.utf8) + [0x0A]
        try writeFile(path, bytes)
        let r = try await chronik(["import", "--log", dir, path])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2: invalidJSON"), "\(r)")
    }

    @Test func hundredMegabyteLine() async throws {
        // Proves a 100 MB line is refused with its number (the maximum event rule) and the import stays within a small memory bound.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let path = makeTempDir() + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.write(contentsOf: Data((shopLines[0] + "\n").utf8))
        try h.write(contentsOf: Data(#"{"type":"SettingChanged","time":"2024-05-01T10:00:00Z","data":{"key":"k","actor":"a","value":""#.utf8))
        let chunk = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<100 { try h.write(contentsOf: chunk) }
        try h.write(contentsOf: Data("\"}}\n".utf8))
        try h.close()
        let r = try await chronik(["import", "--log", dir, path])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2: lineTooLong"), "\(r)")
        #expect(try await holdsNoEvent(dir))
    }

    @Test func millionLinesWithOneBadLineWriteNothing() async throws {
        // Proves one bad line in the middle of 1,000,000 valid ones is listed by number and nothing is written.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let path = makeTempDir() + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let count = 1_000_000
        let bad = count / 2 + 1
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var buffer: [UInt8] = []
        for n in 1...count {
            let line = n == bad
                ? #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":"/","extra":1}}"#
                : #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-\#(n % 1000)","path":"/p"}}"#
            buffer += line.utf8
            buffer.append(0x0A)
            if buffer.count > 1 << 20 {
                try h.write(contentsOf: Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try h.write(contentsOf: Data(buffer))
        try h.close()
        let r = try await chronik(["import", "--json", "--log", dir, path])
        #expect(r.exitCode == 1, "\(r.stderr.prefix(2000))")
        #expect(r.stderr.contains("line \(bad): unknownField"), "\(r.stderr.prefix(2000))")
        let o = jsonObjects(r.stdout).first ?? [:]
        #expect(o["lines"] as? Int == count)
        #expect(o["events"] as? Int == 0)
        #expect(try await holdsNoEvent(dir))
    }

    @Test func importExportImportIsByteIdentical() async throws {
        // Proves import → export → import → export gives the same bytes except recordedAt.
        let a = makeTempDir()
        let b = makeTempDir()
        defer { removeDir(a); removeDir(b) }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "-q", "--log", a, file]).exitCode == 0)
        let first = try await chronik(["export", "-q", "--log", a])
        #expect(first.exitCode == 0, "\(first)")
        let exported = try writeTemp(first.stdout)
        let again = try await chronik(["import", "-q", "--log", b, exported])
        #expect(again.exitCode == 0, "\(again)")
        let second = try await chronik(["export", "-q", "--log", b])
        let strip = { (s: String) in s.replacingOccurrences(of: #""recordedAt":"[^"]*","#, with: "", options: .regularExpression) }
        #expect(first.stdoutLines.count == 9)
        #expect(strip(first.stdout) == strip(second.stdout))
        #expect(first.stdout.contains(#""data":{"z":1,"a":[1.5e3]}"#), "unknown types export untouched")
    }

    @Test func exportFilters() async throws {
        // Proves --stream, --type (repeatable) and --from/--to by position and by time select exactly the matching events.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "-q", "--log", dir, file]).exitCode == 0)
        func positions(_ args: [String]) async throws -> [Int] {
            let r = try await chronik(["export", "-q", "--log", dir] + args)
            #expect(r.exitCode == 0, "\(r)")
            return jsonObjects(r.stdout).map { $0["position"] as? Int ?? -1 }
        }
        #expect(try await positions(["--stream", "stock-sku-1"]) == [1, 3, 6])
        #expect(try await positions(["--type", "OrderPlaced", "--type", "OrderShipped"]) == [2, 7])
        #expect(try await positions(["--from", "2", "--to", "4"]) == [2, 3, 4])
        #expect(try await positions(["--from", "2024-05-03T00:00:00Z", "--to", "2024-05-03T12:00:00+01:00"]) == [5, 6])
        let bad = try await chronik(["export", "--log", dir, "--from", "yesterday"])
        #expect(bad.exitCode == 64, "\(bad)")
    }
}
