import Foundation
import Testing
@testable import ChronikCommerce
import ChronikLog

@Suite struct EnvelopeTests {
    /// The canonical 8-4-4-4-12 form, digit by digit: the reference for
    /// `EventIDText.parse`.
    static func referenceID(_ s: String) -> EventID? {
        let b = Array(s.utf8)
        guard b.count == 36 else { return nil }
        var nibbles: [UInt64] = []
        for (i, c) in b.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return nil }
            } else if let d = Int(String(UnicodeScalar(c)), radix: 16) {
                nibbles.append(UInt64(d))
            } else {
                return nil
            }
        }
        return EventID(high: nibbles[0..<16].reduce(0) { $0 << 4 | $1 }, low: nibbles[16..<32].reduce(0) { $0 << 4 | $1 })
    }

    @Test func eventIdTextParsesExactlyTheCanonicalForm() {
        // Proves the table-driven id parse: random ids written and read back in both cases (and equal to Foundation's
        // UUID for them), and every single byte of a valid id replaced by each of the 256 byte values, accepted exactly
        // when a digit-by-digit reference accepts it and then to the same id.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let id = EventID(high: rng.next(), low: rng.next())
            var text: [UInt8] = []
            EventIDText.write(id, to: &text)
            let s = String(decoding: text, as: UTF8.self)
            #expect(EventIDText.parse(s) == id && EventIDText.parse(s.uppercased()) == id, "\(s)")
            #expect(UUID(uuidString: s).map(EventID.init) == id)
        }
        let valid = Array("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".utf8)
        var accepted = 0
        for i in valid.indices {
            for b in 0...255 {
                var bytes = valid
                bytes[i] = UInt8(b)
                let s = String(decoding: bytes, as: UTF8.self)
                let expected = Self.referenceID(s)
                #expect(EventIDText.parse(s) == expected, "byte \(i) = \(b): \(s)")
                if expected != nil { accepted += 1 }
            }
        }
        #expect(accepted == 32 * 22 + 4, "22 digit bytes at each of 32 places, the dash at 4")
        #expect(EventIDText.parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f") == nil && EventIDText.parse("0f1e2d3c4b5a-6978-8796-a5b4c3d2e1f0a") == nil)
    }

    @Test func everyTypeParsesEncodesDecodesAndExports() throws {
        // Proves for each type: JSON line → typed → binary → typed → export line with the data object unchanged and the export fields.
        var versions: [String: UInt64] = [:]
        for (i, (type, data)) in sampleData.enumerated() {
            let id = "6F9619FF-8B86-D011-B42D-00C04FC964\(String(format: "%02X", i))"
            let env = try parse(importLine(type, data, id: id, extra: #","meta":{"actor":"ana","source":"import"}"#), lineNumber: i + 1)
            #expect(try CommerceEvent.decode(type: type, data: env.proposed.data) == env.event, "\(type)")
            let version = versions[env.stream, default: 0]
            versions[env.stream] = version + 1
            let line = try CommerceExport.line(for: recorded(env, position: UInt64(i), version: version))
            let expected = #"{"type":"\#(type)","id":"\#(id.lowercased())","time":"2024-05-01T10:00:00.123Z","stream":"\#(env.stream)","version":\#(version),"position":\#(i),"recordedAt":"2024-05-01T10:00:00.500Z","data":\#(data),"meta":{"actor":"ana","source":"import"}}"#
            #expect(line == expected)
        }
        #expect(versions["order-o-100"] == 8)
        #expect(versions["settings"] == 1)
    }

    @Test func writeDataIsTheDataOfTheExportLineAndAFailedLineWritesNothing() throws {
        // Proves read/tail's decode (writeData) equals the export line's data, and that a line that fails leaves the writer as it was.
        for (i, (type, data)) in sampleData.enumerated() {
            let e = recorded(try parse(importLine(type, data)), position: UInt64(i), version: 0)
            var w = JSONWriter()
            try CommerceExport.writeData(of: e, to: &w)
            #expect(String(decoding: w.bytes, as: UTF8.self) == data, "\(type)")
        }
        let good = recorded(try parse(importLine("OrderCancelled", #"{"orderId":"o-1","reason":"x"}"#)), position: 0, version: 0)
        let bad = RecordedEvent(position: Position(1), stream: "order-o-1", version: StreamVersion(1), id: good.id, type: "PaymentCaptured",
                                occurredAt: good.occurredAt, recordedAt: good.recordedAt, metadata: [], data: [0x01, 0x02])
        var w = JSONWriter()
        try CommerceExport.write(good, to: &w)
        let before = w.bytes
        #expect(throws: CommerceError.self) { try CommerceExport.write(bad, to: &w) }
        #expect(w.bytes == before)
        #expect(throws: CommerceError.self) { try CommerceExport.writeData(of: bad, to: &w) }
    }

    @Test func streamsAreDerivedPerTheStreamsTable() throws {
        // Proves the derivation of each stream family of EVENTS.md.
        let expected: [String: String] = [
            "ProductCreated": "product-p-1", "VariantAdded": "product-p-1", "PriceChanged": "price-p-1.42.blue",
            "CustomerRegistered": "customer-c-7", "PaymentMethodAdded": "customer-c-7", "OrderPlaced": "order-o-100",
            "RefundIssued": "order-o-100", "StockTransferred": "stock-p-1.42.blue", "ReorderPointSet": "stock-p-1.42.blue",
            "SupplierRegistered": "supplier-sup-1", "PurchaseOrderPlaced": "po-po-9", "PurchaseOrderReceived": "po-po-9",
            "CartItemAdded": "session-s-1", "CampaignLaunched": "campaign-cmp-spring", "SettingChanged": "settings",
            "SettlementLineReported": "payout-stripe-po_1OaB",
        ]
        for (type, data) in sampleData {
            guard let stream = expected[type] else { continue }
            #expect(try parse(importLine(type, data)).stream == stream, "\(type)")
        }
        // A given stream equal to the derived one is accepted.
        _ = try parse(importLine("OrderCancelled", #"{"orderId":"o-1","reason":"x"}"#, extra: #","stream":"order-o-1""#))
    }

    @Test func importExportImportIsByteIdenticalThroughARealLog() async throws {
        // Proves export(import(export(import(lines)))) == export(import(lines)) through two real logs (recordedAt aside).
        var lines = sampleData.map { importLine($0.type, $0.data, extra: #","meta":{"correlationId":"k-1"}"#) }
        lines.append(#"{"type":"LoyaltyPointsEarned","stream":"loyalty-c-7","time":"2024-05-02T00:00:00+02:00","data":{"points": 120 , "ratio":1.50,"big":123456789012345678901234567890,"nested":{"a":[true,null,"\u00e9"]}}}"#)
        let first = try await roundTrip(lines)
        let second = try await roundTrip(first)
        #expect(first.count == lines.count)
        func withoutRecordedAt(_ s: String) -> String {
            s.replacingOccurrences(of: #","recordedAt":"[^"]*""#, with: "", options: .regularExpression)
        }
        #expect(first.map(withoutRecordedAt) == second.map(withoutRecordedAt))
        // And with recordedAt kept equal (as the log would give the same clock), fully byte-identical.
        let a = try lines.enumerated().map { (i, l) in try CommerceExport.line(for: recorded(parse(l), position: UInt64(i), version: 0)) }
        let b = try a.enumerated().map { (i, l) in try CommerceExport.line(for: recorded(parse(l), position: UInt64(i), version: 0)) }
        #expect(a == b)
    }

    /// Imports lines into a fresh log and returns its export.
    func roundTrip(_ lines: [String]) async throws -> [String] {
        let dir = NSTemporaryDirectory() + "chronik-commerce-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        for (i, l) in lines.enumerated() {
            let e = try parse(l, lineNumber: i + 1)
            try await log.append(to: e.stream, e.proposed, expected: e.expectedVersion)
        }
        return try log.readAll().collect().map { try CommerceExport.line(for: $0) }
    }

    @Test func unknownTypesPassThroughUntouched() throws {
        // Proves an unknown type keeps its JSON (key order, number literals, strings) through store, read and export.
        let data = #"{"z":1,"a":{"deep":[1.5e3,-0,9223372036854775808]},"s":"é\n\"","t":true,"n":null}"#
        let env = try parse(#"{"type":"Custom.Thing","stream":"order-o-100","time":"2024-05-01T10:00:00Z","data":\#(data)}"#)
        #expect(env.stream == "order-o-100")
        #expect(env.proposed.data == Array(data.utf8))
        guard case .unknown(let type, let stored) = try CommerceEvent.decode(type: "Custom.Thing", data: env.proposed.data) else {
            Issue.record("not unknown"); return
        }
        #expect(type == "Custom.Thing")
        #expect(stored == Array(data.utf8))
        let line = try CommerceExport.line(for: recorded(env, position: 3, version: 0))
        #expect(line.contains(#","data":\#(data)}"#))
        // Insignificant whitespace goes; everything else stays.
        let spaced = try parse(#"{ "type" : "Custom.Thing" , "stream":"x", "data" : { "z" : 1 , "s" : "a b" } }"#)
        #expect(String(decoding: spaced.proposed.data, as: UTF8.self) == #"{"z":1,"s":"a b"}"#)
    }

    @Test func unknownTypeWithoutStreamIsRejected() {
        // Proves an unknown type needs an explicit stream.
        expectRejected(#"{"type":"Custom.Thing","time":"2024-05-01T10:00:00Z","data":{}}"#, .invalidStream, field: "stream")
        expectRejected(#"{"type":"Payment","time":"2024-05-01T10:00:00Z","data":{}}"#, .invalidStream, field: "stream")
    }

    @Test func aTypoOfACommerceTypeIsNamed() {
        // Proves stop 35's finding: "PageVeiwed" was told it needs an explicit stream, and following that advice
        // stored the typo as a type of its own. A type two edits (or a case) away from one of EVENTS.md is named.
        // Stop 38 (a newcomer): the start of one type's name too ("PaymentAuth"); "Payment" starts three, so none.
        for (typo, meant) in [("PageVeiwed", "PageViewed"), ("StockRecieved", "StockReceived"), ("orderplaced", "OrderPlaced"),
                              ("PaymentAuth", "PaymentAuthorized")] {
            let line = #"{"type":"\#(typo)","time":"2024-05-01T10:00:00Z","data":{}}"#
            guard let e = expectError({ () throws(CommerceError) in _ = try parse(line, lineNumber: 7) }) else { continue }
            #expect(e.code == .invalidEventType && e.field == "type" && e.message.contains("did you mean \(meant)?"), "\(e)")
        }
    }

    @Test func timesAreConvertedToUTCAndExportedPerTheFractionRule() throws {
        // Proves offsets convert to UTC and the export writes 0, 3 or 6 fractional digits.
        let data = #"{"orderId":"o-1","shipmentId":"s"}"#
        let cases = [
            ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
            ("2024-05-01T10:00:00.120000Z", "2024-05-01T10:00:00.120Z"),
            ("2024-05-01T10:00:00.000001Z", "2024-05-01T10:00:00.000001Z"),
            ("2024-04-30T23:30:00.5-10:30", "2024-05-01T10:00:00.500Z"),
        ]
        for (given, exported) in cases {
            let env = try parse(importLine("OrderDelivered", data, time: given))
            #expect(try CommerceExport.line(for: recorded(env, position: 0, version: 0)).contains(#""time":"\#(exported)""#), "\(given)")
        }
        // A time whose UTC form would leave the years 0000–9999 is refused, named (stop 34: stored and exported as
        // 10000-01-01…, which no import takes back); the edges themselves are kept.
        for given in ["9999-12-31T23:59:59.999999-23:59", "0000-01-01T00:00:00+00:01"] {
            expectRejected(importLine("OrderDelivered", data, time: given), .invalidTime, field: "time")
            #expect(Timestamp.rfc3339Refusal(given).contains("outside the years 0000–9999"), "\(given)")
        }
        for (given, exported) in [("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"), ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z")] {
            let env = try parse(importLine("OrderDelivered", data, time: given))
            #expect(try CommerceExport.line(for: recorded(env, position: 0, version: 0)).contains(#""time":"\#(exported)""#), "\(given)")
        }
    }

    @Test func absentIdIsGeneratedAndGivenIdIsKept() throws {
        // Proves the id rule: generated when absent, either case accepted, exported lower-case.
        let data = #"{"productId":"p"}"#
        let a = try parse(importLine("ProductDiscontinued", data))
        let b = try parse(importLine("ProductDiscontinued", data))
        #expect(a.proposed.id != b.proposed.id)
        let c = try parse(importLine("ProductDiscontinued", data, id: "ABCDEF01-2345-6789-abcd-ef0123456789"))
        #expect(try CommerceExport.line(for: recorded(c, position: 0, version: 0)).contains(#""id":"abcdef01-2345-6789-abcd-ef0123456789""#))
        #expect(c.proposed.id.description == "abcdef01-2345-6789-abcd-ef0123456789")
    }

    @Test func expectedVersionForms() throws {
        // Proves each accepted expectedVersion form maps to the engine's value.
        let base = #"{"type":"ProductDiscontinued","time":"2024-05-01T10:00:00Z","data":{"productId":"p"},"expectedVersion":"#
        #expect(try parse(base + "3}").expectedVersion == .exact(3))
        #expect(try parse(base + #""any"}"#).expectedVersion == .any)
        #expect(try parse(base + #""noStream"}"#).expectedVersion == .noStream)
        #expect(try parse(base + #""exists"}"#).expectedVersion == .exists)
        #expect(try parse(importLine("ProductDiscontinued", #"{"productId":"p"}"#)).expectedVersion == .any)
    }

    @Test func defaultsOfOptionalMoneyFieldsAreFilledAndExported() throws {
        // Proves discount and shippingFee default to 0 and are always exported.
        let data = #"{"orderId":"o-1","customerId":"c-1","lines":[{"sku":"s","qty":1,"unitPrice":100}],"currency":"USD","shippingAddress":{"line1":"1 Main St","city":"Springfield","postalCode":"12345","country":"US"}}"#
        let env = try parse(importLine("OrderPlaced", data))
        guard case .orderPlaced(let o) = env.event else { Issue.record("type"); return }
        #expect(o.discount == 0 && o.shippingFee == 0 && o.total == 100)
        let line = try CommerceExport.line(for: recorded(env, position: 0, version: 0))
        #expect(line.contains(#""currency":"USD","discount":0,"shippingFee":0,"shippingAddress""#))
    }

    @Test func exportOfForeignDataIsATypedError() {
        // Proves export refuses (instead of emitting broken JSON) data an engine-level append left as non-JSON.
        let e = RecordedEvent(position: Position(0), stream: "x", version: StreamVersion(0), id: .random(), type: "Raw",
                              occurredAt: Timestamp(microseconds: 0), recordedAt: Timestamp(microseconds: 0),
                              metadata: [], data: Array("hello".utf8))
        #expect(expectError { () throws(CommerceError) in _ = try CommerceExport.line(for: e) }?.code == .invalidData)
        var m = e
        m.data = Array("{}".utf8)
        m.metadata = Array(#"{"n":1}"#.utf8)
        #expect(expectError { () throws(CommerceError) in _ = try CommerceExport.line(for: m) }?.code == .invalidMeta)
    }

    @Test func typedEventsBuiltInSwiftGoThroughTheSameValidation() throws {
        // Proves CommerceEnvelope(event:) validates and derives like the import.
        let ok = try CommerceEnvelope(.cartItemAdded(CartItemAdded(sessionId: "s-1", sku: "k", qty: 2)),
                                      time: Timestamp(microseconds: 0), meta: [("actor", "api")])
        #expect(ok.stream == "session-s-1")
        #expect(String(decoding: ok.proposed.metadata, as: UTF8.self) == #"{"actor":"api"}"#)
        let e = expectError { () throws(CommerceError) in
            _ = try CommerceEnvelope(.cartItemAdded(CartItemAdded(sessionId: "s-1", sku: "k", qty: 0)), time: Timestamp(microseconds: 0))
        }
        #expect(e?.code == .invalidQuantity && e?.field == "data.qty")
    }
}
