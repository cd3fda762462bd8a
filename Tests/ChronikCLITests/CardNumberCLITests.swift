import Foundation
import Testing

// Issue 10.13 through the binary: `import` and `append` refuse a card
// number inside free text, name the field and the line, and write nothing.

@Suite("card numbers in free text through the CLI")
struct CardNumberCLITests {
    static let registered = #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"a@example.com","name":"A","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#
    /// `import` of a support summary (personal data: only import stores it).
    static let support = (command: ["import", "-"], first: registered,
                          line: #"{"type":"SupportInteraction","time":"2024-05-01T10:00:00Z","data":{"customerId":"c1","channel":"email","summary":"SUMMARY"}}"#,
                          field: "summary")
    /// `append` of a stock adjustment's reason.
    static let stock = (command: ["append"],
                        first: #"{"stream":"stock-K1","type":"StockReceived","time":"2024-05-01T09:00:00Z","data":{"sku":"K1","warehouseId":"W1","qty":5}}"#,
                        line: #"{"stream":"stock-K1","type":"StockAdjusted","time":"2024-05-01T10:00:00Z","data":{"sku":"K1","warehouseId":"W1","delta":-1,"reason":"SUMMARY"}}"#,
                        field: "reason")

    @Test(arguments: [0, 1])
    func refusedWithTheFieldNamedAndNothingWritten(_ which: Int) async throws {
        // Proves a card number in the prose fails the whole input (exit 1), naming the field and line 2, and the log stays empty.
        let c = which == 0 ? Self.support : Self.stock
        let dir = makeTempDir("card-\(which)")
        defer { removeDir(dir) }
        let input = c.first + "\n" + c.line.replacingOccurrences(of: "SUMMARY", with: "my card is 4111-1111-1111-1111") + "\n"
        let r = try await chronik(c.command + ["--log", dir], input: input)
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2") && r.stderr.contains("data.\(c.field)") && r.stderr.contains("card number"), "\(r)")
        // Nothing written: no log at all (refused before opening one), or an empty one.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        if !entries.isEmpty { #expect(try await headPosition(dir) == 0) }
    }

    @Test(arguments: [0, 1])
    func phoneNumbersAndOrderIdsAreStored(_ which: Int) async throws {
        // Proves a phone number (short groups) and an order id whose digits pass Luhn are accepted in the same field.
        let c = which == 0 ? Self.support : Self.stock
        let dir = makeTempDir("phone-\(which)")
        defer { removeDir(dir) }
        let input = c.first + "\n" + c.line.replacingOccurrences(of: "SUMMARY", with: "call 0048 601 234 569 about NW-4111111111111111") + "\n"
        let r = try await chronik(c.command + ["--log", dir], input: input)
        #expect(r.exitCode == 0, "\(r)")
        #expect(try await headPosition(dir) == 2)
    }
}
