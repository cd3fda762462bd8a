import ChronikLog

/// SplitMix64: a tiny, fast, seedable generator, so that every run appends
/// byte-for-byte the same events and runs compare with each other.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        // Wrapping arithmetic is the algorithm, not an overflow.
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<bound (bound > 0); the modulo bias is irrelevant here.
    @inline(__always)
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Generates realistic e-commerce events of about 250 bytes (data + metadata
/// JSON, as in docs/spec EVENTS.md): orders, payments, shipments, stock
/// reservations and cart events, with ids, SKUs, prices and addresses that
/// vary, so LZ4 sees what it would see in production — repeated keys and
/// vocabulary, unique ids and numbers — not a constant string.
///
/// Deterministic for a seed. Building an event allocates (the event owns its
/// byte arrays); benchmarks build them before `startMeasurement()`.
public struct CommerceEventGenerator: Sendable {
    private var rng: SplitMix64
    private var clockMicros: Int64
    private var nextOrder: Int

    /// 2026-11-25T12:00:00Z, so timestamps are realistic and reproducible.
    static let epochMicros: Int64 = 1_795_608_000_000_000

    public init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
        clockMicros = Self.epochMicros + Int64(seed % 1_000_000) * 1_000_000
        nextOrder = 100_000 + Int(seed % 7_000_000)
    }

    /// A stream name for a batch, e.g. `order-ord-0123456`.
    public mutating func streamName() -> String {
        nextOrder += 1 + rng.below(3)
        var b: [UInt8] = []
        b.reserveCapacity(20)
        b.append(contentsOf: "order-ord-".utf8)
        b.appendPadded(nextOrder, width: 7)
        return String(decoding: b, as: UTF8.self)
    }

    /// `count` events (for one batch).
    public mutating func events(_ count: Int) -> [ProposedEvent] {
        var out: [ProposedEvent] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(event()) }
        return out
    }

    /// One event.
    public mutating func event() -> ProposedEvent {
        // Business time moves forward 0..2 ms per event.
        clockMicros += Int64(rng.below(2000))
        // Version-4 UUID bits: random like `EventID.random()`, but seeded.
        let id = EventID(high: (rng.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000,
                         low: (rng.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000)
        var data: [UInt8] = []
        data.reserveCapacity(320)
        let type: String
        let roll = rng.below(100)
        if roll < 30 {
            type = "OrderPlaced"; orderPlaced(&data)
        } else if roll < 45 {
            type = "PaymentAuthorized"; paymentAuthorized(&data)
        } else if roll < 60 {
            type = "OrderShipped"; orderShipped(&data)
        } else if roll < 80 {
            type = "StockReserved"; stockReserved(&data)
        } else {
            type = "CartItemAdded"; cartItemAdded(&data)
        }
        var meta: [UInt8] = []
        meta.reserveCapacity(96)
        meta.append(contentsOf: #"{"correlationId":"cor-"#.utf8)
        meta.appendHex(rng.next())
        meta.append(contentsOf: #"","actor":""#.utf8)
        meta.append(contentsOf: Self.actors[rng.below(Self.actors.count)].utf8)
        meta.append(contentsOf: #""}"#.utf8)
        return ProposedEvent(id: id, type: type, data: data, metadata: meta,
                             occurredAt: Timestamp(microseconds: clockMicros))
    }

    // MARK: Event bodies

    private mutating func orderID(_ b: inout [UInt8]) {
        b.append(contentsOf: #""orderId":"ord-"#.utf8)
        b.appendPadded(nextOrder - rng.below(500), width: 7)
        b.append(UInt8(ascii: "\""))
    }

    private mutating func sku(_ b: inout [UInt8]) {
        b.append(contentsOf: #""sku":"SKU-"#.utf8)
        b.appendPadded(rng.below(5000), width: 4)
        b.append(UInt8(ascii: "-"))
        b.append(contentsOf: Self.colours[rng.below(Self.colours.count)].utf8)
        b.append(UInt8(ascii: "-"))
        b.append(contentsOf: Self.sizes[rng.below(Self.sizes.count)].utf8)
        b.append(UInt8(ascii: "\""))
    }

    private mutating func warehouse(_ b: inout [UInt8]) {
        b.append(contentsOf: #""warehouseId":""#.utf8)
        b.append(contentsOf: Self.warehouses[rng.below(Self.warehouses.count)].utf8)
        b.append(UInt8(ascii: "\""))
    }

    private mutating func orderPlaced(_ b: inout [UInt8]) {
        b.append(UInt8(ascii: "{"))
        orderID(&b)
        b.append(contentsOf: #","customerId":"cus-"#.utf8)
        b.appendPadded(rng.below(50_000), width: 5)
        b.append(contentsOf: #"","lines":["#.utf8)
        let lines = 1 + (rng.below(4) == 0 ? 1 : 0)
        for i in 0..<lines {
            if i > 0 { b.append(UInt8(ascii: ",")) }
            b.append(UInt8(ascii: "{"))
            sku(&b)
            b.append(contentsOf: #","qty":"#.utf8)
            b.appendDecimal(1 + rng.below(4))
            b.append(contentsOf: #","unitPrice":"#.utf8)
            b.appendDecimal(199 + rng.below(20_000))
            b.append(UInt8(ascii: "}"))
        }
        b.append(contentsOf: #"],"currency":""#.utf8)
        b.append(contentsOf: Self.currencies[rng.below(Self.currencies.count)].utf8)
        b.append(contentsOf: #"","shippingFee":"#.utf8)
        b.appendDecimal([0, 395, 495, 695][rng.below(4)])
        b.append(contentsOf: #","channel":""#.utf8)
        b.append(contentsOf: ["web", "app", "marketplace"][rng.below(3)].utf8)
        let city = rng.below(Self.cities.count)
        b.append(contentsOf: #"","shippingAddress":{"line1":""#.utf8)
        b.append(contentsOf: Self.streets[rng.below(Self.streets.count)].utf8)
        b.append(UInt8(ascii: " "))
        b.appendDecimal(1 + rng.below(180))
        b.append(contentsOf: #"","city":""#.utf8)
        b.append(contentsOf: Self.cities[city].name.utf8)
        b.append(contentsOf: #"","postalCode":""#.utf8)
        b.appendPadded(Self.cities[city].zip + rng.below(90), width: 5)
        b.append(contentsOf: #"","country":""#.utf8)
        b.append(contentsOf: Self.cities[city].country.utf8)
        b.append(contentsOf: #""}}"#.utf8)
    }

    private mutating func paymentAuthorized(_ b: inout [UInt8]) {
        b.append(UInt8(ascii: "{"))
        orderID(&b)
        b.append(contentsOf: #","paymentId":"pay-"#.utf8)
        b.appendPadded(rng.below(100_000_000), width: 8)
        b.append(contentsOf: #"","amount":"#.utf8)
        b.appendDecimal(199 + rng.below(60_000))
        b.append(contentsOf: #","method":""#.utf8)
        b.append(contentsOf: ["card", "card", "paypal", "invoice"][rng.below(4)].utf8)
        b.append(contentsOf: #"","gateway":""#.utf8)
        b.append(contentsOf: ["adyen", "stripe", "mollie"][rng.below(3)].utf8)
        b.append(contentsOf: #"","cardToken":"tok_"#.utf8)
        b.appendHex(rng.next())
        b.append(contentsOf: #""}"#.utf8)
    }

    private mutating func orderShipped(_ b: inout [UInt8]) {
        b.append(UInt8(ascii: "{"))
        orderID(&b)
        b.append(contentsOf: #","shipmentId":"shp-"#.utf8)
        b.appendPadded(rng.below(10_000_000), width: 7)
        b.append(contentsOf: #"","#.utf8)
        warehouse(&b)
        b.append(contentsOf: #","carrier":""#.utf8)
        b.append(contentsOf: ["DHL", "DPD", "UPS", "GLS", "PostNL"][rng.below(5)].utf8)
        b.append(contentsOf: #"","trackingNumber":"JD"#.utf8)
        b.appendPadded(rng.below(1_000_000_000), width: 9)
        b.appendPadded(rng.below(1_000_000_000), width: 9)
        b.append(contentsOf: #"","lines":[{"#.utf8)
        sku(&b)
        b.append(contentsOf: #","qty":"#.utf8)
        b.appendDecimal(1 + rng.below(4))
        b.append(contentsOf: "}]}".utf8)
    }

    private mutating func stockReserved(_ b: inout [UInt8]) {
        b.append(UInt8(ascii: "{"))
        sku(&b)
        b.append(UInt8(ascii: ","))
        warehouse(&b)
        b.append(contentsOf: #","qty":"#.utf8)
        b.appendDecimal(1 + rng.below(4))
        b.append(UInt8(ascii: ","))
        orderID(&b)
        b.append(contentsOf: #","reservationId":"res-"#.utf8)
        b.appendPadded(rng.below(100_000_000), width: 8)
        b.append(contentsOf: #"","expiresAt":"2026-11-25T"#.utf8)
        b.appendPadded(rng.below(24), width: 2)
        b.append(UInt8(ascii: ":"))
        b.appendPadded(rng.below(60), width: 2)
        b.append(contentsOf: #":00Z"}"#.utf8)
    }

    private mutating func cartItemAdded(_ b: inout [UInt8]) {
        b.append(contentsOf: #"{"sessionId":"ses-"#.utf8)
        b.appendHex(rng.next())
        b.append(contentsOf: #"","customerId":"cus-"#.utf8)
        b.appendPadded(rng.below(50_000), width: 5)
        b.append(contentsOf: #"","#.utf8)
        sku(&b)
        b.append(contentsOf: #","qty":"#.utf8)
        b.appendDecimal(1 + rng.below(3))
        b.append(contentsOf: #","unitPrice":"#.utf8)
        b.appendDecimal(199 + rng.below(20_000))
        b.append(contentsOf: #","currency":""#.utf8)
        b.append(contentsOf: Self.currencies[rng.below(Self.currencies.count)].utf8)
        b.append(contentsOf: #""}"#.utf8)
    }

    // MARK: Vocabulary

    static let colours = ["RED", "BLUE", "BLACK", "WHITE", "GREEN", "NAVY", "GREY", "BEIGE"]
    static let sizes = ["XS", "S", "M", "L", "XL", "XXL", "38", "40", "42", "44"]
    static let currencies = ["EUR", "EUR", "EUR", "EUR", "USD", "GBP", "CHF", "SEK"]
    static let warehouses = ["wh-berlin-1", "wh-berlin-2", "wh-rotterdam-1", "wh-lyon-1", "wh-poznan-1", "wh-milano-1"]
    static let actors = ["checkout-svc", "payment-svc", "fulfilment-svc", "inventory-svc", "storefront", "backoffice:jdoe"]
    static let streets = ["Hauptstrasse", "Bahnhofstrasse", "Rue de la Paix", "Keizersgracht", "Via Roma",
                          "Schillerstrasse", "Gartenweg", "Avenue Jean Jaures", "Marktplatz", "Lindenallee"]
    static let cities: [(name: String, zip: Int, country: String)] = [
        ("Berlin", 10115, "DE"), ("Hamburg", 20095, "DE"), ("Muenchen", 80331, "DE"), ("Koeln", 50667, "DE"),
        ("Amsterdam", 10111, "NL"), ("Paris", 75001, "FR"), ("Lyon", 69001, "FR"), ("Milano", 20121, "IT"),
        ("Wien", 10101, "AT"), ("Zuerich", 80011, "CH"), ("Stockholm", 11120, "SE"), ("Warszawa", 10001, "PL"),
    ]
}

extension Array where Element == UInt8 {
    /// Appends `v` (≥ 0) in decimal, zero-padded to `width` digits.
    @inline(__always)
    mutating func appendPadded(_ v: Int, width: Int) {
        var digits = 1, t = v
        while t >= 10 { t /= 10; digits += 1 }
        for _ in digits..<Swift.max(width, digits) { append(UInt8(ascii: "0")) }
        appendDecimal(v)
    }

    /// Appends `v` (≥ 0) in decimal.
    @inline(__always)
    mutating func appendDecimal(_ v: Int) {
        if v >= 10 { appendDecimal(v / 10) }
        append(UInt8(ascii: "0") + UInt8(v % 10))
    }

    /// Appends 16 lower-case hex digits.
    @inline(__always)
    mutating func appendHex(_ v: UInt64) {
        let hex: StaticString = "0123456789abcdef"
        for shift in stride(from: 60, through: 0, by: -4) {
            append(hex.utf8Start[Int((v >> UInt64(shift)) & 0xF)])
        }
    }
}

/// The JSON Lines form of an event, as an export would write it:
/// `{"stream":..,"type":..,"data":{...},"meta":{...},"id":..,"time":..}\n`.
/// Used only to size the same events as text; data and metadata are already
/// JSON objects, so they are embedded verbatim.
public func jsonLine(_ e: RecordedEvent) -> [UInt8] {
    var b: [UInt8] = []
    b.reserveCapacity(e.data.count + e.metadata.count + 160)
    b.append(contentsOf: #"{"stream":""#.utf8)
    b.append(contentsOf: e.stream.utf8)
    b.append(contentsOf: #"","type":""#.utf8)
    b.append(contentsOf: e.type.utf8)
    b.append(contentsOf: #"","data":"#.utf8)
    b.append(contentsOf: e.data)
    b.append(contentsOf: #","meta":"#.utf8)
    b.append(contentsOf: e.metadata.isEmpty ? Array("{}".utf8) : e.metadata)
    b.append(contentsOf: #","id":""#.utf8)
    b.append(contentsOf: e.id.description.utf8)
    b.append(contentsOf: #"","time":""#.utf8)
    b.append(contentsOf: e.occurredAt.rfc3339.utf8)
    b.append(contentsOf: "\"}\n".utf8)
    return b
}
