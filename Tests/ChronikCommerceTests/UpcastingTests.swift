import Foundation
import Testing
@testable import ChronikCommerce

// A type that lives in tests only, in two versions, the way a real type
// would evolve: version 1 had `amount`; version 2 renames it to `value` and
// adds `currency` with the default "EUR".

/// GiftCardIssued as first shipped (schema version 1).
struct GiftCardIssuedV1: CommerceEventPayload {
    static let typeName = "GiftCardIssued"
    static let schemaVersion: UInt8 = 1
    var cardId = ""
    var amount: Int64 = 0
    var stream: String { "giftcard-" + cardId }
    init() {}
    init(cardId: String, amount: Int64) { self.cardId = cardId; self.amount = amount }
    mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("cardId", &cardId)
        try v.int("amount", &amount, .money)
    }
}

/// GiftCardIssued today (schema version 2).
struct GiftCardIssued: CommerceEventPayload {
    static let typeName = "GiftCardIssued"
    static let schemaVersion: UInt8 = 2
    var cardId = ""
    var value: Int64 = 0
    var currency = ""
    var stream: String { "giftcard-" + cardId }
    init() {}
    mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("cardId", &cardId)
        try v.int("value", &value, .money)
        try v.currency("currency", &currency)
    }

    /// v1 → v2: `amount` is now `value` (same position, same encoding);
    /// `currency` is new, "EUR" for everything issued before.
    static let upcasters: UpcasterRegistry = {
        var r = UpcasterRegistry()
        r.register(type: typeName, from: 1) { (old, new) throws(CommerceError) in
            new.string(try old.string())  // cardId
            new.int(try old.int())        // amount → value
            new.string("EUR")             // currency, new
        }
        return r
    }()
}

@Suite struct UpcastingTests {
    @Test func versionOneEventInTheLogReadsAsVersionTwo() async throws {
        // Proves an event stored at v1 in a real log reads as v2 (renamed field, new field with default) via the registry.
        let dir = NSTemporaryDirectory() + "chronik-commerce-upcast-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        let old = GiftCardIssuedV1(cardId: "gc-1", amount: 2500)
        let stored = EventCodec.encode(old)
        #expect(stored.first == 1)
        try await log.append(to: old.stream, ProposedEvent(type: GiftCardIssued.typeName, data: stored))
        let read = try #require(try log.readAll().collect().first)
        try log.close()

        let current = try EventCodec.decode(GiftCardIssued.self, from: read.data, upcasters: GiftCardIssued.upcasters)
        #expect(current.cardId == "gc-1")
        #expect(current.value == 2500)
        #expect(current.currency == "EUR")
        // The upcast value is a valid current event, and encodes at version 2.
        try current.validate()
        #expect(EventCodec.encode(current).first == 2)

        // Without the upcaster the old bytes are refused, not misread.
        let e = expectError { () throws(CommerceError) in _ = try EventCodec.decode(GiftCardIssued.self, from: read.data) }
        #expect(e?.code == .missingUpcaster)
        // The JSON form uses the new name.
        #expect(String(decoding: EventCodec.json(current), as: UTF8.self) == #"{"cardId":"gc-1","value":2500,"currency":"EUR"}"#)
    }

    @Test func anUpcasterThatLeavesBytesUnreadIsAnError() {
        // Proves a transform that forgets an old field is caught instead of silently dropping data.
        var r = UpcasterRegistry()
        r.register(type: GiftCardIssued.typeName, from: 1) { (old, new) throws(CommerceError) in
            new.string(try old.string())
            new.int(0)
            new.string("EUR")
        }
        let stored = EventCodec.encode(GiftCardIssuedV1(cardId: "gc-1", amount: 2500))
        let e = expectError { () throws(CommerceError) in _ = try EventCodec.decode(GiftCardIssued.self, from: stored, upcasters: r) }
        #expect(e?.code == .invalidData)
    }
}
