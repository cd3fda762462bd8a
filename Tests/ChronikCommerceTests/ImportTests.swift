import Foundation
import Testing
@testable import ChronikCommerce

// CommerceImport: two passes, every bad line reported with its number,
// nothing written unless every line passes (or --skip-invalid).

/// Writes `bytes` to a fresh temporary file; returns its path.
func tempFile(_ bytes: [UInt8]) throws -> String {
    let path = NSTemporaryDirectory() + "chronik-import-" + UUID().uuidString + ".jsonl"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

func tempFile(lines: [String]) throws -> String {
    try tempFile(Array((lines.joined(separator: "\n") + "\n").utf8))
}

func stockLine(_ i: Int) -> String { importLine("StockReceived", #"{"sku":"sku-\#(i % 7)","warehouseId":"wh-1","qty":5}"#) }

@Suite struct ImportTests {
    @Test func validFileIsAppendedInOrder() async throws {
        // Proves a valid file lands whole, in file order, with a summary of events and streams.
        let shop = try TempShop()
        defer { shop.close() }
        let lines = (0..<50).map(stockLine) + [importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":3,"orderId":"o-1"}"#)]
        let path = try tempFile(lines: lines)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejectCount == 0)
        #expect(s.appended == 51)
        #expect(s.streams == 7)
        let types = try shop.log.readAll().collect().map(\.type)
        #expect(types.last == "StockReserved")
        #expect(types.count == 51)
    }

    @Test func everyBadLineIsListedAndNothingWritten() async throws {
        // Proves value-rule errors and guard rejections are all listed by line number and nothing is written.
        let shop = try TempShop()
        defer { shop.close() }
        let lines = [
            stockLine(0),                                                                                       // 1
            importLine("StockReceived", #"{"sku":"sku-0","warehouseId":"wh-1","qty":0}"#),                     // 2 qty
            importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":6,"orderId":"o-1"}"#),    // 3 > available
            #"{"type":"StockReceived","time":"2024-05-01T10:00:00Z","data":{"sku":"sku-0","warehouseId":"#,  // 4 truncated
            importLine("PaymentCaptured", #"{"orderId":"o-9","paymentId":"p","amount":5}"#),                   // 5 no order
            "",                                                                                                 // blank
            importLine("OrderPlaced", #"{"orderId":"o-1","customerId":"c-1","lines":[],"currency":"EUR","shippingAddress":{"line1":"a","city":"b","postalCode":"1","country":"DE"}}"#), // 7 empty
            importLine("PriceChanged", #"{"sku":"s-1","price":10,"currency":"XXY"}"#),                        // 8 currency
        ]
        let path = try tempFile(lines: lines)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejects.map(\.line) == [2, 3, 4, 5, 7, 8])
        #expect(s.rejects.map(\.error.code) == [.invalidQuantity, .insufficientStock, .invalidJSON, .orderNotFound, .emptyOrder, .invalidCurrency])
        #expect(s.appended == 0)
        #expect(shop.head == 0)
        #expect(s.rejects[0].description.hasPrefix("line 2: "))
    }

    @Test func skipInvalidAppendsTheValidLines() async throws {
        // Proves --skip-invalid appends every valid line and reports the others; guards see only accepted lines.
        let shop = try TempShop()
        defer { shop.close() }
        let lines = [
            importLine("StockReceived", #"{"sku":"sku-0","warehouseId":"wh-1","qty":4}"#),
            importLine("StockReceived", #"{"sku":"sku-0","warehouseId":"wh-1","qty":-4}"#),
            importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":5,"orderId":"o-1"}"#),
            importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":4,"orderId":"o-1"}"#),
        ]
        let path = try tempFile(lines: lines)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = CommerceImport.Options()
        options.skipInvalid = true
        let s = try await CommerceImport.run(path: path, into: shop.store, options: options)
        #expect(s.rejects.map(\.line) == [2, 3])
        #expect(s.appended == 2)
        #expect(try shop.log.readAll().collect().map(\.type) == ["StockReceived", "StockReserved"])
    }

    @Test func secondPassReadsTheFileAgainWhenTheEventsDoNotFitInMemory() async throws {
        // Proves the re-reading pass 2 (keepParsedBytes exceeded) appends exactly what pass 1 accepted, in order.
        let shop = try TempShop()
        defer { shop.close() }
        let lines = [
            importLine("StockReceived", #"{"sku":"sku-0","warehouseId":"wh-1","qty":4}"#),
            importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":5,"orderId":"o-1"}"#),
            importLine("PageViewed", #"{"sessionId":"s-1","path":"/"}"#),
            importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":4,"orderId":"o-1"}"#),
        ]
        let path = try tempFile(lines: lines)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = CommerceImport.Options()
        options.skipInvalid = true
        options.keepParsedBytes = 0
        let s = try await CommerceImport.run(path: path, into: shop.store, options: options)
        #expect(s.rejects.map(\.line) == [2])
        #expect(s.appended == 3)
        #expect(try shop.log.readAll().collect().map(\.type) == ["StockReceived", "PageViewed", "StockReserved"])
    }

    @Test func expectedVersionIsDecidedInTheFirstPass() async throws {
        // Proves a line whose expectedVersion does not hold (on a guarded and an unguarded stream) is a numbered reject and nothing is written.
        let shop = try TempShop()
        defer { shop.close() }
        let path = try tempFile(lines: [
            importLine("PageViewed", #"{"sessionId":"s-1","path":"/"}"#),
            importLine("PageViewed", #"{"sessionId":"s-1","path":"/a"}"#, extra: #","expectedVersion":0"#),
            importLine("PageViewed", #"{"sessionId":"s-1","path":"/b"}"#, extra: #","expectedVersion":0"#),
            importLine("StockReceived", #"{"sku":"a","warehouseId":"w","qty":1}"#, extra: #","expectedVersion":"exists""#),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejects.map(\.line) == [3, 4])
        #expect(shop.head == 0)
    }

    @Test func latin1LineIsRefused() async throws {
        // Proves a line in another encoding (Latin-1 é = 0xE9) is refused as not UTF-8, with its number.
        let shop = try TempShop()
        defer { shop.close() }
        var bytes = Array((stockLine(0) + "\n").utf8)
        bytes += Array(#"{"type":"SettingChanged","time":"2024-05-01T10:00:00Z","data":{"key":"k","value":"caf"#.utf8) + [0xE9]
            + Array(#"","actor":"a"}}"#.utf8) + [0x0A]
        let path = try tempFile(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejects.map(\.line) == [2])
        #expect(s.rejects.first?.error.code == .invalidJSON)
        #expect(shop.head == 0)
    }

    @Test func hugeLineIsRefusedWithoutHoldingIt() async throws {
        // Proves a 100 MB line is refused with its number by a reader whose buffer stays near the limit, and the lines around it still parse.
        let path = NSTemporaryDirectory() + "chronik-huge-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.write(contentsOf: Data((stockLine(0) + "\n").utf8))
        try h.write(contentsOf: Data(#"{"type":"SettingChanged","time":"2024-05-01T10:00:00Z","data":{"key":"k","actor":"a","value":""#.utf8))
        let chunk = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<100 { try h.write(contentsOf: chunk) }
        try h.write(contentsOf: Data("\"}}\n".utf8))
        try h.write(contentsOf: Data((stockLine(1) + "\n").utf8))
        try h.close()

        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var reader = BoundedLineReader(fd: fd, maxLineBytes: 5 << 20)
        var seen: [String] = []
        while let item = try reader.next() {
            switch item {
            case .line(let n, _): seen.append("line \(n)")
            case .tooLong(let n, let bytes): seen.append("long \(n) \(bytes > 100 << 20)")
            }
        }
        #expect(seen == ["line 1", "long 2 true", "line 3"])
        #expect(reader.peakBufferBytes <= (5 << 20) + (2 << 20), "never holds the long line")

        let shop = try TempShop()
        defer { shop.close() }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejects.map(\.line) == [2])
        #expect(s.rejects.first?.error.code == .lineTooLong)
        #expect(shop.head == 0)
    }

    @Test func millionLinesWithOneBadInTheMiddleWriteNothing() async throws {
        // Proves one bad line among 1,000,000 valid ones is found by number and nothing at all is written.
        let count = 1_000_000
        let bad = count / 2 + 1
        let path = NSTemporaryDirectory() + "chronik-million-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var buffer: [UInt8] = []
        for n in 1...count {
            let line = n == bad
                ? #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s 1","path":"/"}}"#
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

        let shop = try TempShop()
        defer { shop.close() }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.lines == count)
        #expect(s.rejects.map(\.line) == [bad])
        #expect(s.rejects.first?.error.code == .invalidId)
        #expect(shop.head == 0)
    }

    @Test func sameIdTwiceInAFileIsRefused() async throws {
        // Proves an event id used by two lines of one file is refused on the second line.
        let shop = try TempShop()
        defer { shop.close() }
        let id = "0190b1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
        let path = try tempFile(lines: [
            importLine("StockReceived", #"{"sku":"a","warehouseId":"w","qty":1}"#, id: id),
            importLine("StockReceived", #"{"sku":"b","warehouseId":"w","qty":1}"#, id: id),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejects.map(\.line) == [2])
        #expect(shop.head == 0)
    }

    @Test func importExportImportIsIdentical() async throws {
        // Proves an export imports into a fresh log and exports again byte for byte, recordedAt aside.
        let lines = sampleData.enumerated().map { i, s in
            importLine(s.type, s.data, id: String(format: "0190b1a2-3c4d-4e5f-8a6b-%012x", i))
        }
        // Exercise the samples through the plain log (they are not a consistent shop history).
        func exportOf(_ shop: TempShop) throws -> [String] {
            var out: [UInt8] = []
            try ExportFilter().export(shop.log) { out += $0 }
            return String(decoding: out, as: UTF8.self).split(separator: "\n").map {
                $0.replacingOccurrences(of: #""recordedAt":"[^"]*""#, with: "", options: .regularExpression)
            }
        }
        let a = try TempShop()
        defer { a.close() }
        for (i, l) in lines.enumerated() {
            let e = try CommerceEnvelope.parse(line: Array(l.utf8), lineNumber: i + 1)
            try await a.log.append(to: e.stream, e.proposed)
        }
        var firstExport: [UInt8] = []
        try ExportFilter().export(a.log) { firstExport += $0 }
        let path = try tempFile(firstExport)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let b = try TempShop()
        defer { b.close() }
        // The samples are not a consistent history (a capture before its
        // authorization…): import them around the guards' ordering rules
        // by checking only the parse, then append through the log.
        var reader = BoundedLineReader(fd: open(path, O_RDONLY), maxLineBytes: 1 << 20)
        defer { close(reader.fd) }
        while case .line(let n, let bytes)? = try reader.next() {
            let e = try CommerceEnvelope.parse(line: bytes, lineNumber: n)
            try await b.log.append(to: e.stream, e.proposed)
        }
        #expect(try exportOf(a) == exportOf(b))
        #expect(try exportOf(a).count == sampleData.count)
    }

    @Test func exportFilters() async throws {
        // Proves --stream, --type and --from/--to by position and by time select exactly the matching events.
        let shop = try TempShop()
        defer { shop.close() }
        let times = ["2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z", "2024-05-03T10:00:00Z", "2024-05-04T10:00:00Z"]
        for (i, t) in times.enumerated() {
            let e = try CommerceEnvelope.parse(line: Array(importLine(i % 2 == 0 ? "StockReceived" : "StockAdjusted",
                i % 2 == 0 ? #"{"sku":"s-\#(i % 3)","warehouseId":"w","qty":1}"# : #"{"sku":"s-\#(i % 3)","warehouseId":"w","delta":1,"reason":"count"}"#,
                time: t).utf8))
            try await shop.log.append(to: e.stream, e.proposed)
        }
        func positions(_ f: ExportFilter) throws -> [Int] {
            var out: [UInt8] = []
            try f.export(shop.log) { out += $0 }
            return String(decoding: out, as: UTF8.self).split(separator: "\n").map {
                let o = try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                return o?["position"] as? Int ?? -1
            }
        }
        #expect(try positions(ExportFilter()) == [0, 1, 2, 3])
        #expect(try positions(ExportFilter(streams: ["stock-s-0"])) == [0, 3])
        #expect(try positions(ExportFilter(types: ["StockAdjusted"])) == [1, 3])
        #expect(try positions(ExportFilter(from: .position(1), to: .position(2))) == [1, 2])
        #expect(try positions(ExportFilter(from: ExportFilter.Bound(argument: "2024-05-02T10:00:00Z"),
                                           to: ExportFilter.Bound(argument: "2024-05-03T12:00:00+02:00"))) == [1, 2])
        #expect(ExportFilter.Bound(argument: "yesterday") == nil)
    }
}
