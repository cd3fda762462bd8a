import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikCommerce

/// One hand-written `data` object per event type of EVENTS.md, compact and
/// in schema order (so an export must reproduce it byte for byte).
let sampleData: [(type: String, data: String)] = [
    ("ProductCreated", #"{"productId":"p-1","title":"Trail shoe \"Ridge\"","description":"Light, 280 g","brand":"Nordkamm","category":"shoes","images":["https://img.example/p-1/a.jpg","https://img.example/p-1/b.jpg"],"attributes":{"material":"mesh","season":"all"}}"#),
    ("ProductUpdated", #"{"productId":"p-1","title":"Trail shoe Ridge 2","images":[]}"#),
    ("VariantAdded", #"{"productId":"p-1","sku":"p-1.42.blue","options":{"colour":"blue","size":"42"},"price":12990,"currency":"EUR"}"#),
    ("PriceChanged", #"{"sku":"p-1.42.blue","price":9990,"currency":"EUR"}"#),
    ("ProductDiscontinued", #"{"productId":"p-1"}"#),
    ("CustomerRegistered", #"{"customerId":"c-7","email":"ana@example.org","name":"Ana Müller","phone":"+49 30 1234567","address":{"line1":"Hauptstr. 1","line2":"3. OG","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":true}"#),
    ("CustomerUpdated", #"{"customerId":"c-7","email":"ana.m@example.org"}"#),
    ("AddressChanged", #"{"customerId":"c-7","address":{"line1":"Rue 2","city":"Paris","postalCode":"75001","country":"FR"}}"#),
    ("ConsentChanged", #"{"customerId":"c-7","marketingConsent":false}"#),
    ("PaymentMethodAdded", #"{"customerId":"c-7","token":"tok_9f8e7d","brand":"visa","last4":"4242"}"#),
    ("SupportInteraction", #"{"customerId":"c-7","orderId":"o-100","channel":"chat","summary":"Asked where the parcel is 📦"}"#),
    ("CustomerForgotten", #"{"customerId":"c-7"}"#),
    ("OrderPlaced", #"{"orderId":"o-100","customerId":"c-7","sessionId":"s-1","lines":[{"sku":"p-1.42.blue","qty":2,"unitPrice":9990},{"sku":"sock:3","qty":1,"unitPrice":500}],"currency":"EUR","discount":1000,"shippingFee":495,"shippingAddress":{"line1":"Hauptstr. 1","city":"Berlin","postalCode":"10115","country":"DE"},"billingAddress":{"line1":"Postfach 9","city":"Hamburg","postalCode":"20095","country":"DE"},"ip":"203.0.113.9","channel":"web"}"#),
    ("PaymentAuthorized", #"{"orderId":"o-100","paymentId":"pay-1","amount":19975,"method":"card","gateway":"stripe","cardToken":"tok_9f8e7d"}"#),
    ("PaymentCaptured", #"{"orderId":"o-100","paymentId":"pay-1","amount":19975}"#),
    ("PaymentFailed", #"{"orderId":"o-100","paymentId":"pay-0","amount":19975,"reason":"insufficient_funds"}"#),
    ("OrderShipped", #"{"orderId":"o-100","shipmentId":"sh-1","warehouseId":"wh-berlin","carrier":"DHL","trackingNumber":"JJD000390007","lines":[{"sku":"p-1.42.blue","qty":2}]}"#),
    ("OrderDelivered", #"{"orderId":"o-100","shipmentId":"sh-1"}"#),
    ("OrderCancelled", #"{"orderId":"o-101","reason":"customer request"}"#),
    ("RefundIssued", #"{"orderId":"o-100","refundId":"rf-1","paymentId":"pay-1","amount":9990,"reason":"return"}"#),
    ("ReturnReceived", #"{"orderId":"o-100","returnId":"ret-1","warehouseId":"wh-berlin","lines":[{"sku":"p-1.42.blue","qty":1}]}"#),
    ("StockReceived", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","qty":50,"purchaseOrderId":"po-9"}"#),
    ("StockReserved", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","qty":2,"orderId":"o-100"}"#),
    ("StockReleased", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","qty":1,"orderId":"o-100"}"#),
    ("StockShipped", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","qty":1,"orderId":"o-100"}"#),
    ("StockReturned", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","qty":1,"orderId":"o-100"}"#),
    ("StockAdjusted", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","delta":-3,"reason":"damage"}"#),
    ("StockTransferred", #"{"sku":"p-1.42.blue","fromWarehouseId":"wh-berlin","toWarehouseId":"wh-paris","qty":5}"#),
    ("ReorderPointSet", #"{"sku":"p-1.42.blue","warehouseId":"wh-berlin","reorderPoint":0,"reorderQty":40}"#),
    ("SupplierRegistered", #"{"supplierId":"sup-1","name":"Schuhwerk GmbH","leadTimeDays":14}"#),
    ("PurchaseOrderPlaced", #"{"purchaseOrderId":"po-9","supplierId":"sup-1","warehouseId":"wh-berlin","lines":[{"sku":"p-1.42.blue","qty":50,"unitCost":4100}],"currency":"EUR","expectedAt":"2024-06-01T08:00:00.250Z"}"#),
    ("PurchaseOrderReceived", #"{"purchaseOrderId":"po-9"}"#),
    ("SessionStarted", #"{"sessionId":"s-1","customerId":"c-7","channel":"email","campaignId":"cmp-spring","device":"mobile","ip":"2001:db8::1"}"#),
    ("PageViewed", #"{"sessionId":"s-1","path":"/shoes?sort=price&page=2"}"#),
    ("ProductViewed", #"{"sessionId":"s-1","productId":"p-1"}"#),
    ("SearchPerformed", #"{"sessionId":"s-1","query":"  Trail  Shoe ","resultCount":0}"#),
    ("CartItemAdded", #"{"sessionId":"s-1","sku":"p-1.42.blue","qty":2}"#),
    ("CampaignLaunched", #"{"campaignId":"cmp-spring","name":"Spring sale","channel":"email","budget":500000,"currency":"EUR"}"#),
    ("SettingChanged", #"{"key":"checkout.guest","value":"enabled","actor":"admin@example.org"}"#),
    ("SettlementLineReported", #"{"gateway":"stripe","payoutId":"po_1OaB","paidOutAt":"2024-05-03T00:00:00Z","kind":"charge","gatewayRef":"txn_3Pq1","paymentId":"pay-1","gross":19975,"fee":305,"net":19670,"currency":"EUR"}"#),
]

let sampleTime = "2024-05-01T10:00:00.123Z"

/// A full import line around a data object.
func importLine(_ type: String, _ data: String, id: String? = nil, time: String? = sampleTime,
                extra: String = "") -> String {
    var s = #"{"type":"\#(type)""#
    if let id { s += #","id":"\#(id)""# }
    if let time { s += #","time":"\#(time)""# }
    s += #","data":\#(data)"#
    s += extra
    return s + "}"
}

func parse(_ line: String, lineNumber: Int? = nil) throws(CommerceError) -> CommerceEnvelope {
    try CommerceEnvelope.parse(line: Array(line.utf8), lineNumber: lineNumber)
}

/// The error thrown by `body`, failing the test when there is none.
func expectError(_ body: () throws(CommerceError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> CommerceError? {
    do throws(CommerceError) {
        try body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// Expects parsing `line` to fail with `code` naming `field`.
func expectRejected(_ line: String, _ code: CommerceError.Code, field: String?,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    guard let e = expectError({ () throws(CommerceError) in _ = try parse(line, lineNumber: 7) }, sourceLocation: sourceLocation) else { return }
    #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
    #expect(e.field == field, "\(e)", sourceLocation: sourceLocation)
    #expect(e.line == 7, sourceLocation: sourceLocation)
}

/// A RecordedEvent as the log would return the envelope (for export tests
/// that do not need a real log).
func recorded(_ e: CommerceEnvelope, position: UInt64, version: UInt64,
              recordedAt: Timestamp = Timestamp(microseconds: 1_714_557_600_500_000)) -> RecordedEvent {
    RecordedEvent(position: Position(position), stream: e.stream, version: StreamVersion(version), id: e.proposed.id,
                  type: e.proposed.type, occurredAt: e.proposed.occurredAt, recordedAt: recordedAt,
                  metadata: e.proposed.metadata, data: e.proposed.data)
}


/// Fills every field with a random value that satisfies its rule, optional
/// fields present or absent at random: a random valid instance of any type.
struct RandomFill: FieldVisitor {
    var rng: SplitMix64

    mutating func randomID() -> String {
        let chars = Array("abcXYZ019-_.:")
        return String((0..<Int.random(in: 1...24, using: &rng)).map { _ in chars.randomElement(using: &rng)! })
    }

    mutating func randomText() -> String {
        let pieces = ["a", "Zürich", " ", "\"", "\\", "\n", "\u{1}", "/", "😀", "日本", "\u{7F}", "x y", "42"]
        return (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
    }

    mutating func coin() -> Bool { Bool.random(using: &rng) }

    mutating func id(_ name: StaticString, _ value: inout String) { value = randomID() }
    mutating func optionalID(_ name: StaticString, _ value: inout String?) { value = coin() ? randomID() : nil }
    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) { value = randomText() }
    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) { value = coin() ? randomText() : nil }
    mutating func currency(_ name: StaticString, _ value: inout String) { value = Validation.currencyCodes.randomElement(using: &rng)! }
    mutating func country(_ name: StaticString, _ value: inout String) { value = Validation.countryCodes.randomElement(using: &rng)! }

    mutating func randomInt(_ rule: IntRule) -> Int64 {
        let big = coin()
        let m: Int64 = big ? Int64.random(in: 0...(1 << 40), using: &rng) : Int64.random(in: 0...300, using: &rng)
        switch rule {
        case .quantity, .positiveAmount: return max(1, m)
        case .count, .money: return m
        case .delta: return (m == 0 ? 1 : m) * (coin() ? -1 : 1)
        case .signed: return m * (coin() ? -1 : 1)
        }
    }

    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { value = randomInt(rule) }
    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) { value = coin() ? 0 : randomInt(rule) }
    mutating func bool(_ name: StaticString, _ value: inout Bool) { value = coin() }

    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) {
        // 1970…2100, sometimes whole seconds or milliseconds.
        var us = Int64.random(in: 0...4_102_444_800_000_000, using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: us -= us % 1_000_000
        case 1: us -= us % 1000
        default: break
        }
        value = Timestamp(microseconds: us)
    }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) {
        value = coin() ? (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomText() } : nil
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) {
        guard coin() else { value = nil; return }
        var m: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...3, using: &rng) { m[randomText()] = randomText() }
        value = m
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) { value = E.allCases.randomElement(using: &rng)! }
    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) {
        value = coin() ? E.allCases.randomElement(using: &rng)! : nil
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        var t = T()
        try t.visit(&self)
        value = t
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        guard coin() else { value = nil; return }
        var t = T()
        try t.visit(&self)
        value = t
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        value = []
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            var t = T()
            try t.visit(&self)
            value.append(t)
        }
    }

    /// A random valid instance of `type`.
    mutating func make<T: CommerceEventPayload>(_ type: T.Type) throws(CommerceError) -> CommerceEvent {
        var t = T()
        try t.visit(&self)
        if var o = t as? OrderPlaced {
            // Keep the total ≥ 0 (and small enough for 64 bits).
            o.lines = o.lines.map { var l = $0; l.qty = l.qty % 1000 + 1; l.unitPrice %= 1_000_000; return l }
            o.discount = min(o.discount, o.lines.reduce(0) { $0 + $1.qty * $1.unitPrice })
            return .orderPlaced(o)
        }
        if var l = t as? SettlementLineReported {
            // net = gross − fee.
            l.net = l.gross - l.fee
            return .settlementLineReported(l)
        }
        return CommerceEvent(payload: t)!
    }
}
