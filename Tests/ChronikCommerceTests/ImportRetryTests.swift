import Foundation
import Testing
@testable import ChronikCommerce

// Issue 9.1 and 10.1: retries inside one import are skipped and counted;
// a reused id with other content — on an earlier line or in the log — and
// every other refusal at the end of a long input refuse the file before its
// first write. Issue 10.9: a byte-order mark and CRLF line endings.

private let idA = "0190b1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
private let idB = "0190b1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2c"

/// 300 valid lines on 7 stock streams: a long input before the line that matters.
private let longPrefix = (0..<300).map(stockLine)

private func runImport(_ lines: [String], into shop: TempShop, skipInvalid: Bool = false) async throws -> CommerceImport.Summary {
    let path = try tempFile(lines: lines)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var options = CommerceImport.Options()
    options.skipInvalid = skipInvalid
    return try await CommerceImport.run(path: path, into: shop.store, options: options)
}

@Suite struct ImportRetryTests {
    @Test func identicalLineLaterInTheInputIsARetry() async throws {
        // Proves a later line with the same id and content (other time, other key order) is skipped and counted, not refused.
        let shop = try TempShop()
        defer { shop.close() }
        let first = importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":5}"#, id: idA)
        let again = importLine("StockReceived", #"{"qty":5,"warehouseId":"wh-1","sku":"sku-r"}"#, id: idA,
                               time: "2024-05-01T11:00:00Z")
        let s = try await runImport([first, stockLine(1), first, again], into: shop)
        #expect(s.rejectCount == 0, "\(s.rejects)")
        #expect(s.appended == 2)
        #expect(s.retries == 2)
        #expect(try shop.log.readAll().collect().filter { $0.id == EventID(string: idA) }.count == 1)
    }

    @Test func sameIDOtherContentNamesBothLines() async throws {
        // Proves the same id with other data on a later line is refused, naming both lines, and nothing is written.
        let shop = try TempShop()
        defer { shop.close() }
        let lines = [importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":5}"#, id: idA), stockLine(1),
                     importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":6}"#, id: idA)]
        let s = try await runImport(lines, into: shop)
        #expect(s.rejects.map(\.line) == [3])
        #expect(s.rejects.first?.error.code == .duplicateEventId)
        #expect(s.rejects.first?.description.contains("line 1") == true, "\(s.rejects)")
        #expect(s.rejects.first?.description.hasPrefix("line 3: ") == true)
        #expect(shop.head == 0)
    }

    @Test func identicalEventAlreadyInTheLogIsANoOp() async throws {
        // Proves an id already in the log with the same content is counted as a duplicate and not appended again.
        let shop = try TempShop()
        defer { shop.close() }
        let line = importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":5}"#, id: idA)
        _ = try await runImport([line], into: shop)
        let s = try await runImport([stockLine(1), line], into: shop)
        #expect(s.rejectCount == 0, "\(s.rejects)")
        #expect(s.duplicates == 1)
        #expect(s.appended == 1)
        #expect(shop.head == 2)
    }

    @Test func idInTheLogWithOtherContentAtTheEndWritesNothing() async throws {
        // Proves (10.1) 300 good lines then a line reusing a logged id with other content: refused in pass 1, log unchanged.
        let shop = try TempShop()
        defer { shop.close() }
        _ = try await runImport([importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":5}"#, id: idA)], into: shop)
        let s = try await runImport(longPrefix + [importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":7}"#, id: idA)],
                                    into: shop)
        #expect(s.rejects.map(\.line) == [301])
        #expect(s.rejects.first?.error.code == .duplicateEventId)
        #expect(s.rejects.first?.error.message.contains("position 0") == true, "\(s.rejects)")
        #expect(s.appended == 0)
        #expect(shop.head == 1)
    }

    @Test func idOfAnUndecodableEventInTheLogIsNotARetry() async throws {
        // Proves a line reusing the id of a logged event whose data does not decode is refused in pass 1, not appended.
        let shop = try TempShop()
        defer { shop.close() }
        let bad = ProposedEvent(id: EventID(string: idA)!, type: "StockReceived", data: Array(#"{"sku":"sku-r"}"#.utf8))
        _ = try await shop.log.append(to: "stock-sku-r", [bad])
        let s = try await runImport([stockLine(1), importLine("StockReceived", #"{"sku":"sku-r","warehouseId":"wh-1","qty":5}"#, id: idA)],
                                    into: shop)
        #expect(s.rejects.map(\.line) == [2])
        #expect(s.rejects.first?.error.code == .duplicateEventId)
        #expect(s.rejects.first?.error.message.contains("does not decode") == true, "\(s.rejects)")
        #expect(shop.head == 1)
    }

    @Test func expectedVersionAtTheEndWritesNothing() async throws {
        // Proves (10.1) a wrong expectedVersion on the last of 301 lines refuses the file whole.
        let shop = try TempShop()
        defer { shop.close() }
        let bad = importLine("StockReceived", #"{"sku":"sku-0","warehouseId":"wh-1","qty":5}"#, extra: #","expectedVersion":3"#)
        let s = try await runImport(longPrefix + [bad], into: shop)
        #expect(s.rejects.map(\.line) == [301])
        #expect(s.appended == 0)
        #expect(shop.head == 0)
    }

    @Test func guardAtTheEndWritesNothing() async throws {
        // Proves (10.1) a guard refusal (reservation above available) on the last of 301 lines refuses the file whole.
        let shop = try TempShop()
        defer { shop.close() }
        let bad = importLine("StockReserved", #"{"sku":"sku-0","warehouseId":"wh-1","qty":100000,"orderId":"o-1"}"#)
        let s = try await runImport(longPrefix + [bad], into: shop)
        #expect(s.rejects.map(\.line) == [301])
        #expect(s.rejects.first?.error.code == .insufficientStock)
        #expect(shop.head == 0)
    }

    @Test func retryOfARefusedLineIsRefusedToo() async throws {
        // Proves with --skip-invalid a repeat of a refused line is refused as well, not counted as a retry of nothing.
        let shop = try TempShop()
        defer { shop.close() }
        let bad = importLine("StockReserved", #"{"sku":"sku-9","warehouseId":"wh-1","qty":1,"orderId":"o-1"}"#, id: idB)
        let s = try await runImport([stockLine(1), bad, bad], into: shop, skipInvalid: true)
        #expect(s.rejects.map(\.line) == [2, 3])
        #expect(s.retries == 0)
        #expect(s.appended == 1)
    }

    @Test func byteOrderMarkAndCRLFAreAccepted() async throws {
        // Proves a file with a UTF-8 BOM and CRLF line endings imports like its plain form.
        let shop = try TempShop()
        defer { shop.close() }
        let text = [stockLine(0), stockLine(1), stockLine(2)].joined(separator: "\r\n") + "\r\n"
        let path = try tempFile([0xEF, 0xBB, 0xBF] + Array(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejectCount == 0, "\(s.rejects)")
        #expect(s.appended == 3)
    }

    @Test func byteOrderMarkOnlyAtTheStart() async throws {
        // Proves a BOM is dropped only before the first line: inside the file it is still an error.
        let shop = try TempShop()
        defer { shop.close() }
        let path = try tempFile(Array((stockLine(0) + "\n").utf8) + [0xEF, 0xBB, 0xBF] + Array((stockLine(1) + "\n").utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CommerceImport.run(path: path, into: shop.store)
        #expect(s.rejects.map(\.line) == [2])
        #expect(s.rejects.first?.error.code == .invalidJSON)
    }
}
