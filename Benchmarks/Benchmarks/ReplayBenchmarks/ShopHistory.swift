import ChronikBenchSupport
import ChronikCommerce
import ChronikLog
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A simulated shop history written with the typed events straight into
/// a log (no guards: the generator keeps stock and payments consistent
/// enough for the models, and the models never need the guards).
///
/// Two mixes (`Mix`), both deterministic for a seed:
/// - `clickstream` (the simulator's shape), per ~100 events: ≈ 75
///   clickstream (sessions of page views, product views, searches, cart
///   adds), ≈ 15 order events (placed, payments, shipments, deliveries, some
///   cancellations and refunds), ≈ 8 stock moves, and the rest customers,
///   catalog, prices, purchase orders; ~50 distinct streams per 1,000 events.
/// - `bigShop` (issue 13's replay row: many customers and orders), per 100
///   draws: 30 short sessions (1–2 page views), 35 orders placed, 17
///   fulfilments, 6 stock moves, 12 customer/catalog/purchase-order events;
///   one customer per 10 events. About half the events are order events and
///   each 1,000 events touch ~300 distinct streams (printed when the log is
///   built).
struct ShopHistory {
    enum Mix: String, Sendable {
        case clickstream = "shop"
        case bigShop = "bigshop"
    }

    let mix: Mix
    var rng: SplitMix64
    var time: Int64 = 1_704_067_200_000_000  // 2024-01-01
    var orderCount = 0
    var sessionCount = 0
    let products = 5_000
    let customers: Int
    let warehouses = ["W1", "W2", "W3", "W4", "W5"]
    let queries = (0..<20_000).map { "query \($0)" }
    var openOrders: [(id: String, sku: String, wh: String, qty: Int64, captured: Int64)] = []
    let address = Address(line1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE")

    init(seed: UInt64, events: Int, mix: Mix = .clickstream) {
        self.mix = mix
        rng = SplitMix64(seed: seed)
        customers = max(1_000, mix == .bigShop ? events / 10 : events / 100)
    }

    /// The kind of the next draw, as a roll in the clickstream mix's ranges
    /// (session < 75 ≤ order < 87 ≤ fulfil < 93 ≤ stock < 97 ≤ other).
    mutating func roll() -> Int {
        let r = below(100)
        guard mix == .bigShop else { return r }
        switch r {
        case ..<30: return 0
        case ..<65: return 75
        case ..<82: return 87
        case ..<88: return 93
        default: return 97
        }
    }

    mutating func below(_ n: Int) -> Int { rng.below(n) }
    func sku(_ p: Int, _ v: Int) -> String { "SKU-\(p)-\(v)" }

    /// The next appends: (stream, events) in log order.
    mutating func next() -> [(String, [(Timestamp, CommerceEvent)])] {
        time += Int64(below(2_000_000))
        let t = Timestamp(microseconds: time)
        var out: [(String, [(Timestamp, CommerceEvent)])] = []
        func one(_ e: CommerceEvent) { out.append((e.derivedStream!, [(t, e)])) }
        let roll = roll()
        if roll < 75 {
            // A session.
            sessionCount += 1
            let s = "sess-\(sessionCount)"
            var evs: [(Timestamp, CommerceEvent)] = [(t, .sessionStarted(SessionStarted(sessionId: s, customerId: below(3) == 0 ? "cust-\(below(customers))" : nil, channel: "web")))]
            for _ in 0..<(mix == .bigShop ? 1 + below(2) : 3 + below(6)) { evs.append((t, .pageViewed(PageViewed(sessionId: s, path: "/p/\(below(products))")))) }
            for _ in 0..<(mix == .bigShop ? below(2) : 1 + below(3)) { evs.append((t, .productViewed(ProductViewed(sessionId: s, productId: "prod-\(below(products))")))) }
            if below(mix == .bigShop ? 4 : 2) == 0 {
                evs.append((t, .searchPerformed(SearchPerformed(sessionId: s, query: queries[below(queries.count)], resultCount: Int64(below(30))))))
            }
            for _ in 0..<below(3) { evs.append((t, .cartItemAdded(CartItemAdded(sessionId: s, sku: sku(below(products), below(3)), qty: 1)))) }
            out.append(("session-" + s, evs))
        } else if roll < 87 {
            // An order: placed + reserved + authorized + captured.
            orderCount += 1
            let id = "ord-\(orderCount)"
            let p = below(products), v = below(3)
            let qty = Int64(1 + below(3))
            let price = Int64(500 + below(20_000))
            let wh = warehouses[below(warehouses.count)]
            let lines = [OrderLine(sku: sku(p, v), qty: qty, unitPrice: price)]
                + (below(3) == 0 ? [OrderLine(sku: sku(below(products), 0), qty: 1, unitPrice: 999)] : [])
            let total = lines.reduce(Int64(0)) { $0 + $1.qty * $1.unitPrice } + 490
            out.append(("order-" + id, [
                (t, .orderPlaced(OrderPlaced(orderId: id, customerId: "cust-\(below(customers))", lines: lines, currency: below(10) == 0 ? "USD" : "EUR",
                                             shippingFee: 490, shippingAddress: address, channel: .web))),
                (t, .paymentAuthorized(PaymentAuthorized(orderId: id, paymentId: "pay-\(orderCount)", amount: total, method: "card", gateway: "stripe"))),
                (t, .paymentCaptured(PaymentCaptured(orderId: id, paymentId: "pay-\(orderCount)", amount: total))),
            ]))
            one(.stockReserved(StockReserved(sku: sku(p, v), warehouseId: wh, qty: qty, orderId: id)))
            openOrders.append((id, sku(p, v), wh, qty, total))
        } else if roll < 93, !openOrders.isEmpty {
            // Fulfil (or cancel, or refund) an open order.
            let i = below(openOrders.count)
            openOrders.swapAt(i, openOrders.count - 1)
            let o = openOrders.removeLast()
            switch below(20) {
            case 0:
                out.append(("order-" + o.id, [(t, .refundIssued(RefundIssued(orderId: o.id, refundId: "ref-" + o.id, paymentId: "pay", amount: o.captured, reason: "r"))),
                                              (t, .orderCancelled(OrderCancelled(orderId: o.id, reason: "customer")))]))
                one(.stockReleased(StockReleased(sku: o.sku, warehouseId: o.wh, qty: o.qty, orderId: o.id)))
            default:
                out.append(("order-" + o.id, [(t, .orderShipped(OrderShipped(orderId: o.id, shipmentId: "shp-" + o.id, warehouseId: o.wh, carrier: "dhl",
                                                                            trackingNumber: "T", lines: [ShipmentLine(sku: o.sku, qty: o.qty)]))),
                                              (t, .orderDelivered(OrderDelivered(orderId: o.id, shipmentId: "shp-" + o.id)))]))
                one(.stockShipped(StockShipped(sku: o.sku, warehouseId: o.wh, qty: o.qty, orderId: o.id)))
                if below(15) == 0 {
                    out.append(("order-" + o.id, [(t, .refundIssued(RefundIssued(orderId: o.id, refundId: "ref-" + o.id, paymentId: "pay", amount: o.captured / 2, reason: "r"))),
                                                  (t, .returnReceived(ReturnReceived(orderId: o.id, returnId: "ret-" + o.id, warehouseId: o.wh, lines: [ShipmentLine(sku: o.sku, qty: 1)])))]))
                }
            }
        } else if roll < 97 {
            let p = below(products), v = below(3), wh = warehouses[below(warehouses.count)]
            switch below(4) {
            case 0: one(.stockReceived(StockReceived(sku: sku(p, v), warehouseId: wh, qty: Int64(10 + below(100)))))
            case 1:
                var delta = Int64(below(5)) - 2
                if delta == 0 { delta = 1 }
                one(.stockAdjusted(StockAdjusted(sku: sku(p, v), warehouseId: wh, delta: delta, reason: "count")))
            case 2: one(.reorderPointSet(ReorderPointSet(sku: sku(p, v), warehouseId: wh, reorderPoint: Int64(below(20)), reorderQty: 50)))
            default: one(.stockTransferred(StockTransferred(sku: sku(p, v), fromWarehouseId: wh, toWarehouseId: warehouses[below(warehouses.count)], qty: 1)))
            }
        } else {
            let c = "cust-\(below(customers))"
            switch below(6) {
            case 0: one(.customerRegistered(CustomerRegistered(customerId: c, email: "x@y.z", name: "N", address: address, marketingConsent: below(2) == 0)))
            case 1: one(.consentChanged(ConsentChanged(customerId: c, marketingConsent: below(2) == 0)))
            case 2: one(.supportInteraction(SupportInteraction(customerId: c, channel: .chat, summary: "s")))
            case 3: one(.priceChanged(PriceChanged(sku: sku(below(products), below(3)), price: Int64(500 + below(20_000)), currency: "EUR")))
            case 4:
                let p = below(products)
                one(.productCreated(ProductCreated(productId: "prod-\(p)", title: "Product \(p)", category: "cat-\(p % 40)")))
                for v in 0..<3 { one(.variantAdded(VariantAdded(productId: "prod-\(p)", sku: sku(p, v), price: Int64(1000 + v), currency: "EUR"))) }
            default:
                let po = "po-\(time)"
                one(.purchaseOrderPlaced(PurchaseOrderPlaced(purchaseOrderId: po, supplierId: "sup", warehouseId: warehouses[below(5)],
                                                             lines: [PurchaseOrderLine(sku: sku(below(products), 0), qty: 50, unitCost: 100)],
                                                             currency: "EUR", expectedAt: t)))
                if below(2) == 0 { one(.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: po))) }
            }
        }
        return out
    }

    /// Builds (or reuses) a log of at least `events` events.
    static func ensureLog(events: Int, seed: UInt64 = 11, mix: Mix = .clickstream) async throws -> String {
        makeDirectories(benchmarkDataDirectory)
        let dir = benchmarkDataDirectory + "/replay-\(mix.rawValue)-\(events)ev-seed\(seed)"
        let marker = dir + ".ok"
        let recipe = "replay \(mix.rawValue) recipe 1 format \(LogFormat.version) events \(events) seed \(seed)\n"
        if let f = fopen(marker, "r") {
            var buf = [CChar](repeating: 0, count: 256)
            let ok = fgets(&buf, 256, f) != nil && cString(buf) == recipe
            fclose(f)
            if ok { return dir }
        }
        removeTree(dir)
        unlink(marker)
        let started = ContinuousClock.now
        note("building \(dir) ...")
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        var gen = ShopHistory(seed: seed, events: events, mix: mix)
        var written = 0
        // Distinct streams per 1,000 events (the shape issue 13 asks about).
        var window = Set<String>(), windows = 0, streamsInWindows = 0
        // One append in flight while the next is generated (log order stays
        // generation order: each waits for the previous).
        var inFlight: Task<AppendResult, any Error>?
        while written < events {
            for (stream, evs) in gen.next() {
                let batch = evs.map { ProposedEvent(type: $0.1.type, data: $0.1.encodedData(), occurredAt: $0.0) }
                if let inFlight { _ = try await inFlight.value }
                inFlight = Task { try await log.append(to: stream, batch) }
                written += evs.count
                window.insert(stream)
                if written / 1000 > windows {
                    windows += 1
                    streamsInWindows += window.count
                    window.removeAll(keepingCapacity: true)
                }
            }
        }
        if let inFlight { _ = try await inFlight.value }
        try log.close()
        if let f = fopen(marker, "w") { fputs(recipe, f); fclose(f) }
        note("built \(dir): \(written) events in \(started.duration(to: .now)), \(streamsInWindows / max(1, windows)) distinct streams per 1,000 events")
        return dir
    }
}

/// glibc's malloc_trim (not in the Glibc module's headers): returns freed
/// heap memory to the system, so that an RSS difference measures what is
/// still allocated rather than what the allocator kept.
@_silgen_name("malloc_trim")
func glibcMallocTrim(_ pad: Int) -> Int32

/// Resident set size of this process, in bytes (/proc/self/statm).
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    guard fscanf_statm(f, &size, &resident) else { return 0 }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

private func fscanf_statm(_ f: UnsafeMutablePointer<FILE>, _ size: inout Int, _ resident: inout Int) -> Bool {
    var buf = [CChar](repeating: 0, count: 256)
    guard fgets(&buf, 256, f) != nil else { return false }
    let parts = cString(buf).split(separator: " ")
    guard parts.count >= 2, let s = Int(parts[0]), let r = Int(parts[1]) else { return false }
    size = s
    resident = r
    return true
}

/// The text of a NUL-terminated buffer.
func cString(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

@_silgen_name("malloc_stats")
func glibcMallocStats()

/// Heap bytes in use over all arenas and mmapped blocks, from glibc's
/// malloc_stats() (its "Total (incl. mmap)" "in use bytes" line; the
/// report goes to stderr, which is pointed at a temporary file meanwhile).
func heapInUseBytes() -> Int {
    let path = "/tmp/chronik-malloc-stats-\(getpid())"
    let fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0o600)
    guard fd >= 0 else { return 0 }
    defer { close(fd); unlink(path) }
    let saved = dup(2)
    dup2(fd, 2)
    glibcMallocStats()
    dup2(saved, 2)
    close(saved)
    var text: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    lseek(fd, 0, SEEK_SET)
    while true {
        let n = read(fd, &buf, buf.count)
        if n <= 0 { break }
        text += buf[0..<n]
    }
    let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
    guard let total = lines.lastIndex(where: { $0.hasPrefix("Total") }) else { return 0 }
    for line in lines[total...] where line.contains("in use bytes") {
        return Int(line.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") ?? 0
    }
    return 0
}
