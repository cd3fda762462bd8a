import Foundation
import Synchronization
import Testing
import ChronikLog
@testable import ChronikCommerce
@testable import ChronikAudit

// Issue 9.2 with the real key vault: personal data that arrives erased
// (null, as an export of a forgotten customer writes it) is stored erased —
// an empty sealed part — and reads as erased whether or not a key exists;
// the same input again is a retry; a null optional field of an anonymous
// session is still just absent.

private func importLines(_ lines: [String], into store: CommerceStore,
                         options: CommerceImport.Options = CommerceImport.Options()) async throws -> CommerceImport.Summary {
    let path = NSTemporaryDirectory() + "chronik-erased-" + UUID().uuidString + ".jsonl"
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await CommerceImport.run(path: path, into: store, options: options)
}

private let erasedLines = [
    #"{"type":"CustomerRegistered","id":"00000000-0000-4000-8000-000000000001","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-1","email":null,"name":null,"phone":null,"address":null,"marketingConsent":true}}"#,
    #"{"type":"OrderPlaced","id":"00000000-0000-4000-8000-000000000002","time":"2024-05-01T11:00:00Z","data":{"orderId":"o-1","customerId":"c-1","lines":[{"sku":"s-1","qty":1,"unitPrice":500}],"currency":"EUR","discount":0,"shippingFee":0,"shippingAddress":null,"billingAddress":null,"ip":null}}"#,
    #"{"type":"CustomerRegistered","id":"00000000-0000-4000-8000-000000000003","time":"2024-05-01T12:00:00Z","data":{"customerId":"c-2","email":"b@example.org","name":"Bo","address":{"line1":"a","city":"b","postalCode":"1","country":"SE"},"marketingConsent":false}}"#,
    #"{"type":"SessionStarted","id":"00000000-0000-4000-8000-000000000004","time":"2024-05-01T12:30:00Z","data":{"sessionId":"anon-1","channel":"web","ip":null}}"#,
    #"{"type":"CustomerForgotten","id":"00000000-0000-4000-8000-000000000005","time":"2024-05-02T10:00:00Z","data":{"customerId":"c-1"}}"#,
]

@Suite struct ErasedImportTests {
    @Test func erasedLinesAreStoredErasedAndTheRestAsUsual() async throws {
        // Proves erased lines of a customer forgotten later in the input import as erased (empty sealed part), a
        // living customer's data is sealed and opens, and an anonymous session's null ip stays plain (absent).
        let f = GDPRFixture()
        let (log, store, _) = try f.open()
        defer { try? log.close() }
        let s = try await importLines(erasedLines, into: store)
        #expect(s.rejectCount == 0, "\(s.rejects)")
        #expect(s.appended == 5)
        let events = try log.readAll().collect()
        let states = try events.map { try CommerceEvent.decode(type: $0.type, data: $0.data, protector: store.protector).pii }
        #expect(states == [.erased, .erased, .revealed, .plain, .plain])
        for e in events.prefix(2) {
            let sealed = try #require(e.data.withUnsafeBytes { try PIICodec.Sealed($0) }.map(\.sealed))
            #expect(sealed.isEmpty, "no ciphertext for erased data")
        }
        #expect(try CommerceExport.line(for: events[1], protector: store.protector).contains(#""shippingAddress":null"#))

        // The same input again: every line a retry of what is in the log, nothing written.
        let again = try await importLines(erasedLines, into: store)
        #expect(again.rejectCount == 0, "\(again.rejects)")
        #expect(again.duplicates == 5)
        #expect(log.head.value == 5)
    }

    @Test func secondPassFromTheFileStoresTheSameBytes() async throws {
        // Proves the pass that reads the file again (events too large to keep) stores erased lines, retries and the
        // rest as the pass from memory does (sealed data compared opened: each run has its own keys).
        var stored: [[String]] = []
        for keep in [1 << 30, 0] {
            let f = GDPRFixture()
            let (log, store, _) = try f.open()
            defer { try? log.close() }
            var options = CommerceImport.Options()
            options.keepParsedBytes = keep
            let s = try await importLines(erasedLines + [erasedLines[2], erasedLines[0]], into: store, options: options)
            #expect(s.rejectCount == 0, "\(s.rejects)")
            #expect(s.retries == 2)
            let events = try log.readAll().collect()
            #expect(events.count == 5)
            stored.append(try events.map { e in
                let (typed, pii) = try CommerceEvent.decode(type: e.type, data: e.data, protector: store.protector)
                return pii == .revealed ? "\(typed)" : "\(pii) \(e.data)"
            })
        }
        #expect(stored[0] == stored[1])
        #expect(stored[0].prefix(2).allSatisfy { $0.hasPrefix("erased") })
    }

    @Test func erasedDataReadsErasedEvenWhileTheKeyExists() throws {
        // Proves the empty sealed part never asks the key: a subject with a live key still reads it as erased.
        let f = GDPRFixture()
        let (log, store, _) = try f.open()
        defer { try? log.close() }
        var living = CustomerRegistered()
        living.customerId = "c-3"
        living.email = "c@example.org"
        living.name = "Cy"
        living.address = Address(line1: "a", city: "b", postalCode: "1", country: "DE")
        let sealed = try CommerceEvent.customerRegistered(living).encodedData(protector: store.protector)
        #expect(try CommerceEvent.decode(type: CustomerRegistered.typeName, data: sealed, protector: store.protector).pii == .revealed)
        let erased = CommerceEvent.customerRegistered(living).encodedErasedData()
        let (event, pii) = try CommerceEvent.decode(type: CustomerRegistered.typeName, data: erased, protector: store.protector)
        #expect(pii == .erased)
        guard case .customerRegistered(let back) = event else { Issue.record("\(event)"); return }
        #expect(back.email.isEmpty && back.customerId == "c-3")
    }
}

/// The vault, with the destruction of one subject's key refused, and the
/// order of the destructions asked recorded.
private final class RefusingOneErasure: PIIProtector {
    let vault: SubjectKeyVault
    let refused: String?
    let asked = Mutex<[String]>([])
    init(_ vault: SubjectKeyVault, refusing refused: String?) {
        self.vault = vault
        self.refused = refused
    }
    func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
        try vault.seal(plaintext, subject: subject, context: context)
    }
    func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
        try vault.open(sealed, subject: subject, context: context)
    }
    func destroyKey(subject: String) throws {
        asked.withLock { $0.append(subject) }
        if subject == refused { throw KeyStoreError("refused by the test") }
        try vault.destroyKey(subject: subject)
    }
    func holdNewKeys() { vault.holdNewKeys() }
    func writeHeldKeys() throws { try vault.writeHeldKeys() }
}

@Suite struct ImportErasureTests {
    static func lines(forgetting forgotten: [Int]) -> [String] {
        var lines = (1...4).map { c in
            #"{"type":"CustomerRegistered","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-\#(c)","email":"c\#(c)@example.org","name":"C","address":{"line1":"a","city":"b","postalCode":"1","country":"SE"},"marketingConsent":false}}"#
        }
        for c in forgotten {
            // Chunks of appends between the erasures.
            lines += (0..<700).map { i in #"{"type":"StockReceived","time":"2024-05-01T11:00:00Z","data":{"sku":"s-\#(i % 50)","warehouseId":"wh-1","qty":1}}"# }
            lines.append(#"{"type":"CustomerForgotten","time":"2024-05-02T10:00:00Z","data":{"customerId":"c-\#(c)"}}"#)
        }
        return lines
    }

    @Test func everyImportedErasureDestroysItsKeyInLineOrder() async throws {
        // Proves pass 2's key destructions (run beside the appends) all happen before the import returns, in line
        // order, and only for the customers forgotten.
        let f = GDPRFixture()
        let (log, plain, keys) = try f.open()
        defer { try? log.close() }
        let protector = RefusingOneErasure(plain.protector as! SubjectKeyVault, refusing: nil)
        let store = CommerceStore(log: log, protector: protector)
        let s = try await importLines(Self.lines(forgetting: [3, 1, 4]), into: store)
        #expect(s.rejectCount == 0 && s.appended == 4 + 3 * 701, "\(s.rejects)")
        #expect(protector.asked.withLock { $0 } == ["customer:c-3", "customer:c-1", "customer:c-4"])
        #expect(keys.isDestroyed(subject: "customer:c-1") && keys.isDestroyed(subject: "customer:c-3") && keys.isDestroyed(subject: "customer:c-4"))
        #expect(try keys.key(for: "customer:c-2", create: false) != nil)
    }

    @Test func aFailedErasureFailsTheImportAtItsLine() async throws {
        // Proves a key destruction that fails in pass 2 is the import's error, erasureIncomplete at the line of its
        // CustomerForgotten (which is in the log), the erasures before it done.
        let f = GDPRFixture()
        let (log, plain, keys) = try f.open()
        defer { try? log.close() }
        let store = CommerceStore(log: log, protector: RefusingOneErasure(plain.protector as! SubjectKeyVault, refusing: "customer:c-2"))
        let lines = Self.lines(forgetting: [1, 2, 3])
        let line = lines.firstIndex(of: lines.first { $0.contains(#""CustomerForgotten""#) && $0.contains("c-2") }!)! + 1
        await #expect { _ = try await importLines(lines, into: store) } throws: { error in
            guard let e = error as? CommerceError else { return false }
            return e.code == .erasureIncomplete && e.line == line && e.message.contains("refused by the test")
        }
        #expect(keys.isDestroyed(subject: "customer:c-1") && !keys.isDestroyed(subject: "customer:c-2"))
        let forgotten = try log.readAll().collect().filter { $0.type == "CustomerForgotten" }
        #expect(forgotten.count >= 2)
    }
}
