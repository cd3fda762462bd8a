import Foundation
import Testing
@testable import ChronikCommerce

// The shop simulator: every event through the guards, deterministic per
// seed, all 40 types, and a history whose read models make sense.

/// Simulates `events` events with `seed` into a fresh log; the caller closes it.
private func simulate(_ events: Int, seed: UInt64) async throws -> (shop: TempShop, summary: ShopSimulation.Summary) {
    let shop = try TempShop()
    do {
        let summary = try await ShopSimulation.run(into: shop.store, options: ShopSimulation.Options(events: events, seed: seed))
        return (shop, summary)
    } catch {
        shop.close()
        throw error
    }
}

/// What makes two histories the same: everything but recordedAt.
private struct Fingerprint: Equatable {
    var stream: String
    var version: UInt64
    var id: EventID
    var type: String
    var time: Timestamp
    var data: [UInt8]
    var meta: [UInt8]
}

private func fingerprints(_ log: EventLog) throws -> [Fingerprint] {
    let cursor = log.readAll()
    var out: [Fingerprint] = []
    while let e = try cursor.next() {
        out.append(Fingerprint(stream: e.stream, version: e.version.value, id: e.id, type: e.type, time: e.occurredAt,
                               data: e.data, meta: e.metadata))
    }
    return out
}

/// Every string value of a JSON value, keys included.
private func strings(_ v: JSONValue, into out: inout [String]) {
    switch v {
    case .string(let s): out.append(s)
    case .array(let a): for x in a { strings(x, into: &out) }
    case .object(let m): for x in m { out.append(x.key); strings(x.value, into: &out) }
    default: break
    }
}

@Suite("shop simulator")
struct SimulatorTests {
    @Test("the embedded seed data is data/catalog.json and data/world.json byte for byte, and decodes")
    func seedDataMatchesDataDirectory() throws {
        // Proves data/ stays the source: an edit there without `sh data/embed.sh` fails here.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let catalogFile = try String(contentsOf: root.appendingPathComponent("data/catalog.json"), encoding: .utf8)
        let worldFile = try String(contentsOf: root.appendingPathComponent("data/world.json"), encoding: .utf8)
        #expect(SeedData.catalogJSON + "\n" == catalogFile)
        #expect(SeedData.worldJSON + "\n" == worldFile)

        let catalog = SeedCatalog.embedded
        #expect((100...300).contains(catalog.products.count))
        let skus = catalog.products.flatMap { $0.variants.map(\.sku) }
        #expect(Set(skus).count == skus.count, "SKUs are unique")
        #expect(Set(catalog.products.map(\.productId)).count == catalog.products.count)
        for p in catalog.products {
            #expect(!p.variants.isEmpty && p.variants.allSatisfy { $0.price > 0 && Validation.isValidID($0.sku) }, "\(p.productId)")
            #expect(!p.images.isEmpty && p.images.allSatisfy { $0.hasPrefix("https://") }, "\(p.productId)")
            #expect(catalog.brands.contains { $0.name == p.brand }, "\(p.productId)")
            #expect(catalog.suppliers.contains { $0.brands.contains(p.brand) }, "every brand has a supplier: \(p.brand)")
        }
        let world = SeedWorld.embedded
        #expect(world.countries.count >= 8)
        for c in world.countries {
            #expect(Validation.isCountry(c.code) && Validation.isCurrency(c.currency), "\(c.code)")
            #expect(world.rates[c.currency] != nil, "a rate for \(c.currency)")
        }
    }

    @Test("the same seed gives the same history (ids, times, data, log order); another seed another")
    func deterministic() async throws {
        // Proves determinism through concurrent appends: appends run on many tasks, yet the logs are identical.
        let n = 30_000
        let (a, sa) = try await simulate(n, seed: 7)
        defer { a.close() }
        let (b, sb) = try await simulate(n, seed: 7)
        defer { b.close() }
        let (c, _) = try await simulate(n, seed: 8)
        defer { c.close() }
        // Nothing refused: the run would have thrown; exactly n events.
        #expect(sa.events == n && a.head == UInt64(n))
        #expect(b.head == UInt64(n) && c.head == UInt64(n))
        let fa = try fingerprints(a.log), fb = try fingerprints(b.log), fc = try fingerprints(c.log)
        #expect(fa == fb)
        #expect(sa.eventsByType == sb.eventsByType && sa.revenue == sb.revenue)
        #expect(fa != fc)
        #expect(Set(fa.map(\.id)).isDisjoint(with: fc.map(\.id)), "another seed, other event ids")
        #expect(fa.first?.time != fc.first?.time || fa.map(\.data) != fc.map(\.data))
    }

    @Test("a 100,000-event shop uses all 40 types, through the guards, and its history adds up")
    func coverageAndCoherence() async throws {
        // Proves the acceptance points: every type, clickstream the bulk, and what a reader of the log checks.
        let n = 100_000
        let (shop, summary) = try await simulate(n, seed: 3)
        defer { shop.close() }
        #expect(shop.head == UInt64(n))

        var byType: [String: Int] = [:]
        var onHand: [String: Int64] = [:]          // sku|warehouse
        var captured: [String: Int64] = [:], refunded: [String: Int64] = [:]  // order
        var authorizedPayments: [String: Set<String>] = [:], failedPayments: [String: Set<String>] = [:]
        var shipmentWarehouses: [String: Set<String>] = [:]
        var orderCurrency: [String: String] = [:]
        var zeroResult = 0, mismatchedCountries = 0, lineCounts = Set<Int>()
        var cardLike: [String] = []
        let cursor = shop.log.readAll()
        while let e = try cursor.next() {
            byType[e.type, default: 0] += 1
            let event = try CommerceEvent.decode(type: e.type, data: e.data)
            var all: [String] = []
            var writer = JSONWriter()
            event.writeJSON(to: &writer)
            strings(try JSONValue.parse(writer.bytes), into: &all)
            cardLike += all.filter(Validation.looksLikeCardNumber)
            switch event {
            case .stockReceived(let s): onHand[s.sku + "|" + s.warehouseId, default: 0] += s.qty
            case .stockReturned(let s): onHand[s.sku + "|" + s.warehouseId, default: 0] += s.qty
            case .stockAdjusted(let s): onHand[s.sku + "|" + s.warehouseId, default: 0] += s.delta
            case .stockShipped(let s): onHand[s.sku + "|" + s.warehouseId, default: 0] -= s.qty
            case .stockTransferred(let s):
                onHand[s.sku + "|" + s.fromWarehouseId, default: 0] -= s.qty
                onHand[s.sku + "|" + s.toWarehouseId, default: 0] += s.qty
            case .orderPlaced(let o):
                orderCurrency[o.orderId] = o.currency
                lineCounts.insert(o.lines.count)
                if let b = o.billingAddress, b.country != o.shippingAddress.country { mismatchedCountries += 1 }
            case .paymentAuthorized(let p): authorizedPayments[p.orderId, default: []].insert(p.paymentId)
            case .paymentFailed(let p): failedPayments[p.orderId, default: []].insert(p.paymentId)
            case .paymentCaptured(let p): captured[p.orderId, default: 0] += p.amount
            case .refundIssued(let r): refunded[r.orderId, default: 0] += r.amount
            case .orderShipped(let s): shipmentWarehouses[s.orderId, default: []].insert(s.warehouseId)
            case .searchPerformed(let s) where s.resultCount == 0: zeroResult += 1
            default: break
            }
        }
        for t in CommerceEventType.allCases {
            #expect(byType[t.rawValue, default: 0] > 0, "\(t.rawValue) never appears")
        }
        #expect(byType == summary.eventsByType, "the summary counts what the log holds")

        // Clickstream is most of the volume, as in real shops.
        let clicks = ["SessionStarted", "PageViewed", "ProductViewed", "SearchPerformed", "CartItemAdded"]
            .reduce(0) { $0 + byType[$1, default: 0] }
        #expect(clicks * 2 > n)
        #expect(zeroResult > 0 && zeroResult < byType["SearchPerformed", default: 0] / 2)
        // Stock never negative; refunds within captures.
        #expect(onHand.values.allSatisfy { $0 >= 0 })
        #expect(refunded.allSatisfy { $0.value <= captured[$0.key, default: 0] })
        // Orders of 1–4 lines; retries with a new paymentId; split shipments;
        // fraud-looking orders with billing abroad; more than one currency.
        #expect(lineCounts.isSubset(of: 1...4) && lineCounts.count > 1)
        #expect(failedPayments.contains { id, failed in !(authorizedPayments[id] ?? []).isEmpty && (authorizedPayments[id] ?? []).isDisjoint(with: failed) })
        #expect(shipmentWarehouses.values.contains { $0.count >= 2 })
        #expect(mismatchedCountries > 0 && summary.fraudLookingOrders > 0)
        #expect(Set(orderCurrency.values).count > 1)
        #expect(cardLike.isEmpty, "card-number-like strings: \(cardLike.prefix(3))")
        // Business time comes from the seed, not the clock.
        let first = try #require(summary.firstTime)
        #expect(first < Timestamp(rfc3339: "2026-01-01T00:00:00Z")!)
    }

    @Test("the simulator's generator is a fixed sequence per seed, uniform enough in below(n)")
    func rng() {
        // Proves reproducibility of the generator itself (the basis of everything above).
        var a = SimulationRNG(seed: 42), b = SimulationRNG(seed: 42), c = SimulationRNG(seed: 43)
        let xa = (0..<100).map { _ in a.next() }, xb = (0..<100).map { _ in b.next() }, xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb && xa != xc)
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<10_000 { counts[a.below(10)] += 1 }
        #expect(counts.allSatisfy { (800...1200).contains($0) }, "\(counts)")
    }
}
