// A seeded, reproducible shop as JSON Lines for CommerceImport: catalog
// stock first, then customer journeys. A journey is a session (SessionStarted
// and ~20 PageViewed / ProductViewed / SearchPerformed / CartItemAdded) and,
// for about half of them, an order (OrderPlaced, StockReserved per line,
// PaymentAuthorized, PaymentCaptured, StockShipped per line, OrderShipped,
// OrderDelivered); now and then a PriceChanged. Every line passes the
// guards of COMMANDS.md (stock is received before it is reserved, captures
// follow authorizations, order events follow OrderPlaced), so the import
// writes every line.
//
// Two layouts of the same kind of events:
// - runs: each journey's events one after another (a session's ~20 events
//   are consecutive lines of one stream, so import appends them as one
//   batch);
// - interleaved: 256 journeys in progress at once, the next line taken from
//   a random one (almost every line starts a new batch).

import ChronikBenchSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: small, fast, reproducible.
struct ShopRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

enum ShopLayout: String, Sendable {
    case runs
    case interleaved
}

struct ShopLines {
    static let skus = 2000
    static let warehouses = 4
    static let products = 500
    static let paths = ["/", "/shoes", "/shoes?sort=price&page=2", "/sale", "/account", "/cart", "/checkout",
                        "/help/shipping", "/brand/trailco", "/new-arrivals", "/women/jackets", "/men/socks"]
    static let queries = ["trail shoe", "rain jacket", "wool socks", "running", "backpack 30l", "gift card",
                          "sale", "merino", "headlamp", "tent"]
    static let cities = [("Berlin", "10115", "DE"), ("Hamburg", "20095", "DE"), ("Paris", "75001", "FR"),
                         ("Wien", "1010", "AT"), ("Zürich", "8001", "CH"), ("Amsterdam", "1012", "NL")]
    static let channels = ["web", "app", "email", "ads"]
    static let carriers = ["DHL", "UPS", "DPD", "GLS"]

    var rng: ShopRandom
    var clockMs: Int = 0
    var orderSeq = 0

    init(seed: UInt64) { rng = ShopRandom(seed: seed) }

    mutating func hex(_ digits: Int) -> String {
        var s = ""
        var v = rng.next()
        for i in 0..<digits {
            if i % 16 == 0 && i > 0 { v = rng.next() }
            let d = Int(v & 15)
            v >>= 4
            s.append(Character(Unicode.Scalar(UInt8(d < 10 ? 48 + d : 87 + d))))
        }
        return s
    }

    mutating func uuid() -> String {
        let h = hex(32)
        let u = Array(h.utf8)
        func part(_ r: Range<Int>) -> String { String(decoding: u[r], as: UTF8.self) }
        return part(0..<8) + "-" + part(8..<12) + "-4" + part(13..<16) + "-a" + part(17..<20) + "-" + part(20..<32)
    }

    /// `2026-11-01THH:MM:SS.mmmZ`, advancing 0–40 ms per event (1M events
    /// stay within the day).
    mutating func time() -> String {
        clockMs += rng.below(41)
        let ms = clockMs % 86_400_000
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let frac = ms % 1000
        let f = frac < 10 ? "00\(frac)" : frac < 100 ? "0\(frac)" : "\(frac)"
        return "2026-11-01T\(two(ms / 3_600_000)):\(two(ms / 60_000 % 60)):\(two(ms / 1000 % 60)).\(f)Z"
    }

    mutating func line(_ type: String, _ data: String) -> String {
        #"{"type":"\#(type)","id":"\#(uuid())","time":"\#(time())","data":\#(data),"meta":{"correlationId":"cor-\#(hex(16))","actor":"shop-web"}}"#
    }

    static func sku(_ n: Int) -> String { "SKU-\(10000 + n)" }
    static func warehouse(ofSku n: Int) -> String { "wh-\(n % warehouses)" }

    /// StockReceived for every SKU: enough for every reservation of 1M lines.
    mutating func stockLines() -> [String] {
        (0..<Self.skus).map { n in
            line("StockReceived", #"{"sku":"\#(Self.sku(n))","warehouseId":"\#(Self.warehouse(ofSku: n))","qty":1000000,"purchaseOrderId":"po-\#(n)"}"#)
        }
    }

    /// One customer journey, in stream-consistent order.
    mutating func journey() -> [String] {
        var out: [String] = []
        let session = "s-" + hex(12)
        let customer = rng.chance(60) ? "c-\(rng.below(200_000))" : nil
        var d = #"{"sessionId":"\#(session)""#
        if let customer { d += #","customerId":"\#(customer)""# }
        d += #","channel":"\#(Self.channels[rng.below(Self.channels.count)])""#
        if rng.chance(30) { d += #","campaignId":"cmp-\#(rng.below(40))""# }
        d += #","device":"\#(rng.chance(55) ? "mobile" : "desktop")","ip":"203.0.\#(rng.below(256)).\#(rng.below(256))"}"#
        out.append(line("SessionStarted", d))
        var cart: [(sku: Int, qty: Int)] = []
        let views = 15 + rng.below(11)   // 15…25, ~20 on average
        for _ in 0..<views {
            let r = rng.below(100)
            if r < 45 {
                out.append(line("PageViewed", #"{"sessionId":"\#(session)","path":"\#(Self.paths[rng.below(Self.paths.count)])"}"#))
            } else if r < 75 {
                out.append(line("ProductViewed", #"{"sessionId":"\#(session)","productId":"prod-\#(rng.below(Self.products))"}"#))
            } else if r < 90 {
                out.append(line("SearchPerformed", #"{"sessionId":"\#(session)","query":"\#(Self.queries[rng.below(Self.queries.count)])","resultCount":\#(rng.below(300))}"#))
            } else {
                let sku = rng.below(Self.skus), qty = 1 + rng.below(3)
                cart.append((sku, qty))
                out.append(line("CartItemAdded", #"{"sessionId":"\#(session)","sku":"\#(Self.sku(sku))","qty":\#(qty)}"#))
            }
        }
        if rng.chance(5) {
            out.append(line("PriceChanged", #"{"sku":"\#(Self.sku(rng.below(Self.skus)))","price":\#(500 + rng.below(20000)),"currency":"EUR"}"#))
        }
        // About half of the sessions order (60 % of those with a cart, 15 % of the rest).
        guard rng.chance(cart.isEmpty ? 15 : 60) else { return out }
        if cart.isEmpty { cart.append((rng.below(Self.skus), 1)) }
        if cart.count > 3 { cart.removeLast(cart.count - 3) }
        // One warehouse per order: keep the lines of the first SKU's warehouse.
        let wh = Self.warehouse(ofSku: cart[0].sku)
        cart = cart.filter { Self.warehouse(ofSku: $0.sku) == wh }
        var merged: [(sku: Int, qty: Int)] = []
        for item in cart {
            if let i = merged.firstIndex(where: { $0.sku == item.sku }) { merged[i].qty += item.qty } else { merged.append(item) }
        }
        orderSeq += 1
        let order = "o-\(hex(10))"
        let payment = "pay-\(hex(10))"
        let shipment = "sh-\(hex(10))"
        var total = 0
        var lines: [String] = []
        for item in merged {
            let price = 990 + 100 * rng.below(200)
            total += price * item.qty
            lines.append(#"{"sku":"\#(Self.sku(item.sku))","qty":\#(item.qty),"unitPrice":\#(price)}"#)
        }
        let fee = total >= 5000 ? 0 : 495
        total += fee
        let (city, zip, country) = Self.cities[rng.below(Self.cities.count)]
        let buyer = customer ?? "c-guest-\(orderSeq)"
        out.append(line("OrderPlaced", #"{"orderId":"\#(order)","customerId":"\#(buyer)","sessionId":"\#(session)","lines":[\#(lines.joined(separator: ","))],"currency":"EUR","discount":0,"shippingFee":\#(fee),"shippingAddress":{"line1":"Hauptstr. \#(1 + rng.below(200))","city":"\#(city)","postalCode":"\#(zip)","country":"\#(country)"},"channel":"web"}"#))
        for item in merged {
            out.append(line("StockReserved", #"{"sku":"\#(Self.sku(item.sku))","warehouseId":"\#(wh)","qty":\#(item.qty),"orderId":"\#(order)"}"#))
        }
        out.append(line("PaymentAuthorized", #"{"orderId":"\#(order)","paymentId":"\#(payment)","amount":\#(total),"method":"card","gateway":"stripe","cardToken":"tok_\#(hex(12))"}"#))
        out.append(line("PaymentCaptured", #"{"orderId":"\#(order)","paymentId":"\#(payment)","amount":\#(total)}"#))
        for item in merged {
            out.append(line("StockShipped", #"{"sku":"\#(Self.sku(item.sku))","warehouseId":"\#(wh)","qty":\#(item.qty),"orderId":"\#(order)"}"#))
        }
        let shipLines = merged.map { #"{"sku":"\#(Self.sku($0.sku))","qty":\#($0.qty)}"# }.joined(separator: ",")
        out.append(line("OrderShipped", #"{"orderId":"\#(order)","shipmentId":"\#(shipment)","warehouseId":"\#(wh)","carrier":"\#(Self.carriers[rng.below(Self.carriers.count)])","trackingNumber":"JJD\#(hex(12).uppercased())","lines":[\#(shipLines)]}"#))
        out.append(line("OrderDelivered", #"{"orderId":"\#(order)","shipmentId":"\#(shipment)"}"#))
        return out
    }

    /// Writes `count` lines in `layout` to `path`; returns a count per type.
    static func write(count: Int, layout: ShopLayout, seed: UInt64, to path: String) -> [String: Int] {
        var gen = ShopLines(seed: seed)
        guard let f = fopen(path, "w") else { preconditionFailure("cannot create \(path)") }
        var written = 0
        var perType: [String: Int] = [:]
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        func emit(_ line: String) {
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            written += 1
            // "type":"X" starts at byte 9.
            let u = line.utf8
            let start = u.index(u.startIndex, offsetBy: 9)
            let end = u[start...].firstIndex(of: UInt8(ascii: "\""))!
            perType[String(line[start..<end]), default: 0] += 1
            if buffer.count >= 1 << 20 {
                _ = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
                buffer.removeAll(keepingCapacity: true)
            }
        }
        for l in gen.stockLines() where written < count { emit(l) }
        switch layout {
        case .runs:
            while written < count {
                for l in gen.journey() where written < count { emit(l) }
            }
        case .interleaved:
            var active: [[String]] = []
            var cursors: [Int] = []
            while written < count {
                while active.count < 256 {
                    active.append(gen.journey())
                    cursors.append(0)
                }
                let i = gen.rng.below(active.count)
                emit(active[i][cursors[i]])
                cursors[i] += 1
                if cursors[i] == active[i].count {
                    active.swapAt(i, active.count - 1)
                    cursors.swapAt(i, cursors.count - 1)
                    active.removeLast()
                    cursors.removeLast()
                }
            }
        }
        _ = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fflush(f)
        fclose(f)
        return perType
    }

    static let recipeVersion = 1

    /// The file of `count` lines in `layout`, written once into the
    /// benchmark data directory and reused while its marker matches.
    static func ensureFile(count: Int, layout: ShopLayout, seed: UInt64) -> String {
        makeDirectories(benchmarkDataDirectory)
        let path = benchmarkDataDirectory + "/shop-\(layout.rawValue)-\(count)lines-seed\(seed).jsonl"
        let marker = path + ".ok"
        let recipe = "shop lines recipe \(recipeVersion) layout \(layout.rawValue) count \(count) seed \(seed)\n"
        if readWhole(marker).map({ String(decoding: $0, as: UTF8.self) }) == recipe { return path }
        unlink(marker)
        let started = ContinuousClock.now
        let perType = write(count: count, layout: layout, seed: seed, to: path)
        let mix = perType.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        note("wrote \(path) in \(started.duration(to: .now)): \(mix)")
        if let f = fopen(marker, "w") { fputs(recipe, f); fclose(f) }
        return path
    }
}

extension ShopLines {
    /// The same file without the `"id":"…",` member of each line (lines
    /// then get fresh ids from the importer and no idempotency lookup), for
    /// the diagnostic import. Written once next to the original.
    static func ensureFileWithoutIDs(count: Int, layout: ShopLayout, seed: UInt64) -> String {
        let source = ensureFile(count: count, layout: layout, seed: seed)
        let path = source.replacingSuffix(".jsonl", with: "-noids.jsonl")
        let marker = path + ".ok"
        let recipe = "no ids of \(source) recipe \(recipeVersion)\n"
        if readWhole(marker).map({ String(decoding: $0, as: UTF8.self) }) == recipe { return path }
        guard let bytes = readWhole(source), let f = fopen(path, "w") else { preconditionFailure("cannot derive \(path)") }
        let idKey = Array(#","id":""#.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        bytes.withUnsafeBufferPointer { b in
            while i < b.count {
                // Each line starts {"type":"X","id":"<36>", ...
                var j = i + 9
                while b[j] != UInt8(ascii: "\"") { j += 1 }
                out.append(contentsOf: b[i...j])
                if Array(b[(j + 1)..<(j + 1 + idKey.count)]) == idKey { j += idKey.count + 36 + 1 }
                var k = j + 1
                while b[k] != 0x0A { k += 1 }
                out.append(contentsOf: b[(j + 1)...k])
                i = k + 1
            }
        }
        _ = out.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        if let m = fopen(marker, "w") { fputs(recipe, m); fclose(m) }
        return path
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with other: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + other : self + other
    }
}

/// A whole file as bytes (nil if it cannot be opened).
func readWhole(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}
