// The simulated shop: its own model of catalog, stock, customers and open
// orders, and a timeline of jobs (sessions, checkouts, payments,
// shipments, purchase orders, back office) run in business-time order.
//
// Every job reads the model, proposes only actions the model says are
// valid (a reservation within available stock, a refund within what was
// captured, …), updates the model and queues the events as batches of one
// stream each. The guards of CommerceStore then confirm them; a refusal is
// a defect of this model and stops the simulation.
//
// Determinism: everything here runs on one task, in timeline order, from
// one generator seeded by the seed; event ids come from a second one. No
// wall clock and no scheduling decision reaches the history.

import Foundation

/// One timeline entry.
enum ShopJob {
    case session
    case checkout(Int)
    case pay(order: Int, attempt: Int)
    case ship(order: Int, warehouse: Int)
    case deliver(order: Int, shipment: Int)
    case cancel(order: Int, reason: String)
    case returnItems(Int)
    case goodwill(Int)
    case chargeback(Int)
    case receivePurchaseOrder(Int)
    case replenish
    case priceChange
    case catalogChange
    case stockCount
    case rebalance
    case customerCare
    case setting
    case campaign
    case reorderPoints
    case payout
}

/// A min-heap of jobs by (time, sequence): equal times run in the order
/// they were scheduled.
struct JobQueue {
    private var items: [(time: Int64, seq: UInt64, job: ShopJob)] = []
    private var seq: UInt64 = 0

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ time: Int64, _ job: ShopJob) {
        seq &+= 1
        items.append((time, seq, job))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard less(i, p) else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> (time: Int64, job: ShopJob)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && less(l, m) { m = l }
            if r < items.count && less(r, m) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return (top.time, top.job)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        items[a].time != items[b].time ? items[a].time < items[b].time : items[a].seq < items[b].seq
    }
}

let second: Int64 = 1_000_000
let minute: Int64 = 60 * second
let hour: Int64 = 60 * minute
let day: Int64 = 24 * hour

final class ShopWorld {
    // MARK: Model

    struct Product {
        var seed: SeedCatalog.Product
        var categorySlug: String
        var supplier: Int
        var skus: [Int] = []
        var live = false
        var discontinued = false
        var weight: Double
        var addedVariants = 0
        var sellable: Bool { live && !discontinued }
    }

    struct Sku {
        var sku: String
        var product: Int
        var basePrice: Int64
        var price: Int64
        var unitCost: Int64
        var warehouses: [Int]
    }

    struct Customer {
        var id: String
        var country: Int
        var email: String
        var name: String
        var phone: String?
        var address: Address
        var consent: Bool
        var ip: String
        var cards: [String] = []
        var forgotten = false
        var lastOrder: Int?
    }

    struct Shipment {
        var id: String
        var warehouse: Int
        var lines: [(sku: Int, qty: Int64)]
        var delivered = false
    }

    struct Order {
        var id: String
        var customer: Int
        var country: Int
        var currency: String
        var lines: [(sku: Int, qty: Int64, unitPrice: Int64)]
        var total: Int64
        /// What the order holds reserved, per (sku, warehouse).
        var reservations: [(sku: Int, warehouse: Int, qty: Int64)] = []
        var paymentId: String?
        var captureAtShipment = false
        var captured: Int64 = 0
        var refunded: Int64 = 0
        var shipments: [Shipment] = []
        var plannedShipments = 0
        var cancelled = false
        var shippedUnits: Int64 = 0
        var fraud: Bool
        var returned = false
    }

    struct Checkout {
        var session: String
        var customer: Int?
        var country: Int
        var ip: String
        var channel: OrderChannel
        var cart: [(sku: Int, qty: Int64)]
        var fraud: Bool
    }

    struct PurchaseOrder {
        var id: String
        var warehouse: Int
        var lines: [(sku: Int, qty: Int64)]
    }

    struct Query {
        var text: String
        var matches: [Int]
    }

    let catalog = SeedCatalog.embedded
    let world = SeedWorld.embedded
    var rng: SimulationRNG
    var idRNG: SimulationRNG
    let limit: Int
    private(set) var now: Int64
    let start: Int64

    var products: [Product] = []
    var skus: [Sku] = []
    let warehouseCount: Int
    // Per (sku, warehouse): index sku * warehouseCount + warehouse.
    var onHand: [Int64] = []
    var reserved: [Int64] = []
    var reorderPoint: [Int64] = []
    var reorderQty: [Int64] = []
    var openPurchaseOrder: [Bool] = []
    var homeWarehouse: [Int] = []   // per country
    var customers: [Customer] = []
    var orders: [Order] = []
    var checkouts: [Int: Checkout] = [:]
    var purchaseOrders: [PurchaseOrder] = []
    var campaigns: [String] = []
    var settings: [String: String] = [:]
    var queries: [Query] = []
    var typos: [Query] = []
    var countryWeights: [Int] = []
    var productCumulative: [(weight: Double, product: Int)] = []
    var supplierLeadDays: [Int] = []
    var heldBack: [Int] = []

    var counters: [String: Int] = [:]
    var jobs = JobQueue()
    /// What the gateways still have to pay out (ShopWorld+Settlement.swift).
    var settlement = SettlementBook()

    // MARK: Output

    /// Batches ready to append, in order; each is one stream.
    var pending: [[CommerceEnvelope]] = []
    var pendingHead = 0
    var emitted = 0
    var finished: Bool { emitted >= limit }
    var countsByType: [String: Int] = [:]

    // MARK: Figures for the summary
    var sessions = 0
    var searches = 0
    var zeroResultSearches = 0
    var ordersPlaced = 0
    var ordersCancelled = 0
    var fraudOrders = 0
    var shipmentsMade = 0
    var returns = 0
    var revenue: [String: Int64] = [:]
    var firstTime: Int64 = .max
    var lastTime: Int64 = .min

    init(seed: UInt64, events: Int) {
        rng = SimulationRNG(seed: seed)
        idRNG = SimulationRNG(seed: seed ^ 0x5EED_1D5E_ED1D_5EED)
        limit = events
        // 2025-01-06T00:00:00Z plus 0…182 whole days from the seed: a
        // Monday-ish start in the first half of 2025, the same for a seed.
        start = 1_736_121_600 * second + Int64(seed % 183) * day
        now = start
        warehouseCount = world.warehouses.count
    }

    // MARK: Emitting

    func nextID() -> EventID {
        // A version-4 UUID from the id generator.
        let hi = (idRNG.next() & ~0xF000) | 0x4000
        let lo = (idRNG.next() & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000
        return EventID(high: hi, low: lo)
    }

    /// Queues `events` (of one stream) as one batch at `time`, cut at the
    /// event limit.
    func emit(_ events: [CommerceEvent], at time: Int64? = nil, meta: [(key: String, value: String)] = []) throws {
        guard !events.isEmpty, !finished else { return }
        let t = time ?? now
        var batch: [CommerceEnvelope] = []
        batch.reserveCapacity(events.count)
        for (i, e) in events.enumerated() where emitted < limit {
            // Events of a batch are a few seconds apart at most.
            let at = Timestamp(microseconds: t + Int64(i) * 1000)
            batch.append(try CommerceEnvelope(e, id: nextID(), time: at, meta: meta))
            emitted += 1
            countsByType[e.type, default: 0] += 1
            settlement.note(e, at: at.microseconds)
            firstTime = min(firstTime, at.microseconds)
            lastTime = max(lastTime, at.microseconds)
        }
        pending.append(batch)
    }

    /// The next batch to append, running jobs until one produces events;
    /// nil when the limit is reached and everything is handed out.
    func nextBatch() throws -> [CommerceEnvelope]? {
        while pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
            guard !finished, let (time, job) = jobs.pop() else { return nil }
            now = max(now, time)
            try run(job)
        }
        defer { pendingHead += 1 }
        return pending[pendingHead]
    }

    func schedule(in delay: Int64, _ job: ShopJob) { jobs.push(now + max(delay, 0), job) }

    func next(_ counter: String) -> Int {
        let n = counters[counter, default: 0] + 1
        counters[counter] = n
        return n
    }

    // MARK: Random helpers

    func between(_ lo: Int64, _ hi: Int64) -> Int64 { lo + Int64(rng.below(Int(hi - lo) + 1)) }

    /// Exponentially distributed with mean `mean`.
    func exponential(_ mean: Double) -> Int64 {
        Int64(-log(1 - rng.unit()) * mean)
    }

    /// `{d}` digit, `{L}` letter, `{A}` letter or digit.
    func fill(_ format: String) -> String {
        var out = ""
        var it = format.makeIterator()
        while let c = it.next() {
            if c == "{", let k = it.next(), it.next() == "}" {
                switch k {
                case "d": out.append(Character(UnicodeScalar(UInt8(48 + rng.below(10)))))
                case "L": out.append(Character(UnicodeScalar(UInt8(65 + rng.below(26)))))
                default:
                    let n = rng.below(36)
                    out.append(Character(UnicodeScalar(UInt8(n < 10 ? 48 + n : 55 + n))))
                }
            } else {
                out.append(c)
            }
        }
        return out
    }

    func token() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var b = Array("tok_".utf8)
        for _ in 0..<24 { b.append(alphabet[rng.below(alphabet.count)]) }
        return String(decoding: b, as: UTF8.self)
    }

    func ipAddress() -> String {
        let first = [31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
                     109, 176, 178, 188, 193, 194, 195, 212, 213, 217]
        return "\(rng.pick(first)).\(rng.below(256)).\(rng.below(256)).\(1 + rng.below(254))"
    }

    func address(in country: Int) -> Address {
        let c = world.countries[country]
        let street = rng.pick(c.streets)
        let number = String(1 + rng.below(120))
        let line1 = c.streetFirst ? "\(street) \(number)" : "\(number) \(street)"
        let line2: String? = rng.chance(0.15) ? rng.pick(["Apt \(1 + rng.below(40))", "2nd floor", "c/o Reception", "Hinterhaus"]) : nil
        return Address(line1: line1, line2: line2, city: rng.pick(c.cities), postalCode: fill(c.postal), country: c.code)
    }

    static func asciiFold(_ s: String) -> String {
        let folded = s.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).lowercased()
        return String(folded.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.map(Character.init))
    }

    // MARK: Prices

    /// `eur` (cents) in `currency`, ending in .99 outside EUR.
    func price(_ eur: Int64, in currency: String) -> Int64 {
        let rate = world.rates[currency] ?? 100
        if rate == 100 { return eur }
        let converted = (eur * rate + 50) / 100
        return max(99, ((converted + 99) / 100) * 100 - 1)
    }

    func index(_ sku: Int, _ warehouse: Int) -> Int { sku * warehouseCount + warehouse }

    func available(_ sku: Int, _ warehouse: Int) -> Int64 {
        let i = index(sku, warehouse)
        return onHand[i] - reserved[i]
    }

    func totalAvailable(_ sku: Int) -> Int64 {
        skus[sku].warehouses.reduce(0) { $0 + available(sku, $1) }
    }

    // MARK: Setup

    func setUp() throws {
        countryWeights = world.countries.map(\.weight)
        homeWarehouse = world.countries.map { c in
            // The warehouse in the country, else the nearest by a fixed map.
            if let w = world.warehouses.firstIndex(where: { $0.country == c.code }) { return w }
            let near = ["AT": "DE", "BE": "NL", "FR": "NL", "IE": "NL", "ES": "IT", "SE": "PL"][c.code] ?? "DE"
            return world.warehouses.firstIndex(where: { $0.country == near }) ?? 0
        }
        supplierLeadDays = catalog.suppliers.map(\.leadTimeDays)
        var setupTime = start - 3 * day
        func tick(_ d: Int64 = 2 * second) -> Int64 { setupTime += d; return setupTime }

        for s in world.settings {
            let v = s.values[0]
            settings[s.key] = v
            try emit([.settingChanged(SettingChanged(key: s.key, value: v, actor: "system:deploy"))], at: tick())
        }
        for s in catalog.suppliers {
            try emit([.supplierRegistered(SupplierRegistered(supplierId: s.supplierId, name: s.name,
                                                             leadTimeDays: Int64(s.leadTimeDays)))], at: tick())
        }
        // Products: a Zipf-like popularity over a shuffled order; about one
        // in ten is held back and launched during the simulation.
        var ranks = Array(0..<catalog.products.count)
        ranks.shuffle(using: &rng)
        for (i, p) in catalog.products.enumerated() {
            let supplier = catalog.suppliers.firstIndex { $0.brands.contains(p.brand) } ?? 0
            let slug = Self.asciiFold(p.category.components(separatedBy: " > ").last ?? p.category)
            products.append(Product(seed: p, categorySlug: slug, supplier: supplier,
                                    weight: 1 / pow(Double(ranks[i]) + 4, 0.9)))
            for v in p.variants {
                let w = pickWarehouses()
                skus.append(Sku(sku: v.sku, product: i, basePrice: v.price, price: v.price,
                                unitCost: v.price * Int64(40 + rng.below(20)) / 100, warehouses: w))
                products[i].skus.append(skus.count - 1)
            }
        }
        let stockSlots = skus.count * warehouseCount
        onHand = Array(repeating: 0, count: stockSlots)
        reserved = onHand
        reorderPoint = onHand
        reorderQty = onHand
        openPurchaseOrder = Array(repeating: false, count: stockSlots)
        for i in products.indices {
            if i > 0 && rng.chance(0.1) { heldBack.append(i); continue }
            try launch(i, at: tick(minute))
        }
        for _ in 0..<3 { try launchCampaign(at: tick(hour)) }
        buildQueries()
        rebuildPopularity()

        now = start
        schedule(in: 0, .session)
        schedule(in: minute, .replenish)
        schedule(in: 7 * minute, .priceChange)
        schedule(in: 23 * minute, .catalogChange)
        schedule(in: 31 * minute, .stockCount)
        schedule(in: 2 * hour, .rebalance)
        schedule(in: 11 * minute, .customerCare)
        schedule(in: 5 * hour, .setting)
        schedule(in: 2 * day, .campaign)
        schedule(in: 9 * hour, .reorderPoints)
        schedule(in: day + 6 * hour, .payout)
    }

    func pickWarehouses() -> [Int] {
        var w = (0..<warehouseCount).filter { _ in rng.chance(0.6) }
        while w.count < 2 {
            let extra = rng.below(warehouseCount)
            if !w.contains(extra) { w.append(extra) }
        }
        return w.sorted()
    }

    /// ProductCreated with its variants, then opening stock per SKU.
    func launch(_ p: Int, at time: Int64) throws {
        products[p].live = true
        let s = products[p].seed
        var events: [CommerceEvent] = [.productCreated(ProductCreated(
            productId: s.productId, title: s.title, description: s.description, brand: s.brand, category: s.category,
            images: s.images, attributes: s.attributes))]
        for k in products[p].skus {
            events.append(.variantAdded(VariantAdded(productId: s.productId, sku: skus[k].sku,
                                                     options: s.variants.first { $0.sku == skus[k].sku }?.options,
                                                     price: skus[k].price, currency: "EUR")))
        }
        try emit(events, at: time)
        for k in products[p].skus { try openStock(k, at: time + minute) }
    }

    /// Opening stock and reorder points of a new SKU; a few start low, so
    /// that purchase orders run from the first day.
    func openStock(_ k: Int, at time: Int64) throws {
        var events: [CommerceEvent] = []
        let popular = products[skus[k].product].weight > 0.08
        for w in skus[k].warehouses {
            let i = index(k, w)
            reorderPoint[i] = Int64(popular ? 12 + rng.below(16) : 4 + rng.below(8))
            reorderQty[i] = Int64(popular ? 60 + rng.below(80) : 20 + rng.below(30))
            let qty = rng.chance(0.08) ? Int64(1 + rng.below(4)) : reorderPoint[i] + Int64(10 + rng.below(popular ? 90 : 40))
            onHand[i] += qty
            events.append(.stockReceived(StockReceived(sku: skus[k].sku, warehouseId: world.warehouses[w].warehouseId, qty: qty)))
        }
        for w in skus[k].warehouses {
            let i = index(k, w)
            events.append(.reorderPointSet(ReorderPointSet(sku: skus[k].sku, warehouseId: world.warehouses[w].warehouseId,
                                                           reorderPoint: reorderPoint[i], reorderQty: reorderQty[i])))
        }
        try emit(events, at: time, meta: [("actor", "ops:lisa.m")])
    }

    func rebuildPopularity() {
        productCumulative.removeAll(keepingCapacity: true)
        var sum = 0.0
        for (i, p) in products.enumerated() where p.sellable {
            sum += p.weight
            productCumulative.append((sum, i))
        }
    }

    func popularProduct() -> Int {
        let total = productCumulative.last!.weight
        let x = rng.unit() * total
        var lo = 0, hi = productCumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if productCumulative[mid].weight > x { hi = mid } else { lo = mid + 1 }
        }
        return productCumulative[lo].product
    }

    func buildQueries() {
        var texts: [String] = []
        var seen = Set<String>()
        func add(_ q: String) {
            let q = q.lowercased()
            if seen.insert(q).inserted { texts.append(q) }
        }
        for p in catalog.products {
            for k in p.keywords { add(k); if !k.hasSuffix("s") { add(k + "s") } }
            add(p.brand)
            add(p.brand + " " + (p.keywords.first ?? ""))
            add(String(p.title.split(separator: " ").dropFirst(p.brand.split(separator: " ").count).first ?? ""))
            if let colour = p.variants.first?.options["colour"] { add(colour + " " + (p.keywords.first ?? "")) }
        }
        for e in world.searchExtra { add(e) }
        let haystacks = catalog.products.map { p in
            ([p.title, p.brand, p.category] + p.variants.flatMap { $0.options.values }).joined(separator: " ").lowercased()
        }
        func matches(_ q: String) -> [Int] {
            let tokens = q.split(separator: " ")
            return haystacks.indices.filter { i in tokens.allSatisfy { haystacks[i].contains($0) } }
        }
        queries = texts.filter { !$0.isEmpty }.map { Query(text: $0, matches: matches($0)) }
        for q in queries {
            // A dropped or doubled letter, or two swapped: what people type.
            var chars = Array(q.text)
            guard chars.count >= 4 else { continue }
            let at = 1 + rng.below(chars.count - 2)
            switch rng.below(3) {
            case 0: chars.remove(at: at)
            case 1: chars.insert(chars[at], at: at)
            default: chars.swapAt(at, at + 1)
            }
            let t = String(chars)
            if t != q.text && !seen.contains(t) { typos.append(Query(text: t, matches: matches(t))) }
        }
    }

    // MARK: Running jobs

    func run(_ job: ShopJob) throws {
        switch job {
        case .session:
            try session()
            // Visitors by hour (UTC, ≈ CET − 1): quiet nights, busy evenings.
            let shape: [Double] = [0.35, 0.2, 0.12, 0.1, 0.1, 0.15, 0.35, 0.6, 0.9, 1.1, 1.2, 1.25,
                                   1.3, 1.25, 1.2, 1.2, 1.3, 1.5, 1.75, 1.9, 1.85, 1.5, 1.0, 0.6]
            let h = Int((now / hour) % 24)
            schedule(in: max(1, exponential(Double(day) / Double(Self.sessionsPerDay) / shape[h])), .session)
        case .checkout(let n): try checkout(n)
        case .pay(let o, let attempt): try pay(o, attempt: attempt)
        case .ship(let o, let w): try ship(o, from: w)
        case .deliver(let o, let s): try deliver(o, shipment: s)
        case .cancel(let o, let reason): try cancel(o, reason: reason)
        case .returnItems(let o): try returnItems(o)
        case .goodwill(let o): try goodwill(o)
        case .chargeback(let o): try chargeback(o)
        case .receivePurchaseOrder(let p): try receive(p)
        case .replenish:
            try replenish()
            schedule(in: 4 * hour, .replenish)
        case .priceChange:
            try priceChange()
            schedule(in: exponential(Double(12 * minute)), .priceChange)
        case .catalogChange:
            try catalogChange()
            schedule(in: exponential(Double(4 * hour)), .catalogChange)
        case .stockCount:
            try stockCount()
            schedule(in: exponential(Double(40 * minute)), .stockCount)
        case .rebalance:
            try rebalance()
            schedule(in: exponential(Double(3 * hour)), .rebalance)
        case .customerCare:
            try customerCare()
            schedule(in: exponential(Double(10 * minute)), .customerCare)
        case .setting:
            try changeSetting()
            schedule(in: exponential(Double(10 * hour)), .setting)
        case .campaign:
            try launchCampaign(at: now)
            schedule(in: exponential(Double(2 * day)), .campaign)
        case .reorderPoints:
            try adjustReorderPoints()
            schedule(in: exponential(Double(12 * hour)), .reorderPoints)
        case .payout:
            try payout()
            schedule(in: day, .payout)
        }
    }

    // MARK: Sessions

    /// Visits per day on average (a mid-size shop).
    static let sessionsPerDay = 1200

    func pickCustomer() -> Int? {
        guard customers.count >= 10 else { return nil }
        for _ in 0..<3 {
            // Earlier customers come back more often.
            let u = rng.unit()
            let c = Int(Double(customers.count) * u * u)
            if !customers[c].forgotten { return c }
        }
        return nil
    }

    func session() throws {
        sessions += 1
        let n = next("session")
        // Unique and random-looking: n times an odd constant is a bijection
        // modulo 2⁴⁸, so no two sessions share an id.
        let scrambled = String((UInt64(n) &* 0x9E37_79B9_7F4A_7C15) & 0xFFFF_FFFF_FFFF, radix: 36)
        let sid = "s" + String(repeating: "0", count: max(0, 10 - scrambled.count)) + scrambled
        let customer: Int? = rng.chance(0.38) ? pickCustomer() : nil
        let fraud = customer == nil && rng.chance(0.0025)
        let country = customer.map { customers[$0].country } ?? weightedCountry()
        let ip = fraud ? rng.pick(world.fraudIPs) : (customer.map { customers[$0].ip } ?? ipAddress())
        let app = !fraud && rng.chance(0.3)
        let campaign: String? = !campaigns.isEmpty && rng.chance(0.18) ? rng.pick(campaigns) : nil
        let device = app ? "mobile" : rng.pick(world.devices)
        var events: [CommerceEvent] = [.sessionStarted(SessionStarted(
            sessionId: sid, customerId: customer.map { customers[$0].id }, channel: app ? "app" : "web",
            campaignId: campaign, device: device, ip: ip))]
        var t = now
        var times: [Int64] = [t]
        func add(_ e: CommerceEvent) {
            t += between(8, 90) * second
            events.append(e)
            times.append(t)
        }
        var viewed: [Int] = []
        var cart: [(sku: Int, qty: Int64)] = []
        func view(_ p: Int) {
            add(.pageViewed(PageViewed(sessionId: sid, path: "/p/" + products[p].seed.slug)))
            add(.productViewed(ProductViewed(sessionId: sid, productId: products[p].seed.productId)))
            viewed.append(p)
        }
        func addToCart(_ p: Int, qty: Int64) {
            let options = products[p].skus.filter { totalAvailable($0) > 0 }
            guard !options.isEmpty, cart.count < 4 else { return }
            let k = rng.pick(options)
            if cart.contains(where: { $0.sku == k }) { return }
            cart.append((k, qty))
            add(.cartItemAdded(CartItemAdded(sessionId: sid, sku: skus[k].sku, qty: qty)))
        }
        // Landing page.
        switch rng.below(10) {
        case 0..<5: add(.pageViewed(PageViewed(sessionId: sid, path: campaign != nil ? "/sale" : "/")))
        case 5..<7: add(.pageViewed(PageViewed(sessionId: sid, path: "/c/" + products[popularProduct()].categorySlug)))
        default: view(popularProduct())
        }
        if fraud {
            // Expensive items in quantity, straight to checkout.
            let expensive = productCumulative.map(\.product).filter { p in products[p].skus.contains { skus[$0].price >= 15000 } }
            for _ in 0..<(2 + rng.below(2)) {
                guard let p = expensive.isEmpty ? nil : rng.pick(expensive) else { break }
                view(p)
                addToCart(p, qty: Int64(2 + rng.below(3)))
            }
        } else {
            let actions = 1 + rng.below(9)
            for _ in 0..<actions {
                switch rng.below(100) {
                case 0..<42: view(popularProduct())
                case 42..<58:
                    searches += 1
                    let typo = rng.chance(0.12) && !typos.isEmpty
                    let q = typo ? rng.pick(typos) : rng.pick(queries)
                    let results = q.matches.filter { products[$0].sellable }
                    if results.isEmpty { zeroResultSearches += 1 }
                    add(.searchPerformed(SearchPerformed(sessionId: sid, query: q.text, resultCount: Int64(results.count))))
                    if !results.isEmpty && rng.chance(0.6) { view(rng.pick(results)) }
                case 58..<78:
                    add(.pageViewed(PageViewed(sessionId: sid, path: "/c/" + products[popularProduct()].categorySlug)))
                case 78..<89:
                    add(.pageViewed(PageViewed(sessionId: sid, path: rng.pick(world.pages))))
                default:
                    if let p = viewed.last { addToCart(p, qty: rng.chance(0.9) ? 1 : Int64(2 + rng.below(2))) }
                }
            }
        }
        let converts = !cart.isEmpty && (fraud || rng.chance(customer != nil ? 0.34 : 0.22))
        if converts {
            add(.pageViewed(PageViewed(sessionId: sid, path: "/cart")))
            add(.pageViewed(PageViewed(sessionId: sid, path: "/checkout")))
            let marketplace = !fraud && rng.chance(0.04)
            checkouts[n] = Checkout(session: sid, customer: customer, country: country, ip: ip,
                                    channel: marketplace ? .marketplace : (app ? .app : .web), cart: cart, fraud: fraud)
            schedule(in: t - now + between(30, 240) * second, .checkout(n))
        }
        // Session events are one batch: a few minutes of clicks, appended
        // at once (the stream is the session's alone).
        var batch: [CommerceEnvelope] = []
        for (e, at) in zip(events, times) where emitted < limit {
            batch.append(try CommerceEnvelope(e, id: nextID(), time: Timestamp(microseconds: at)))
            emitted += 1
            countsByType[e.type, default: 0] += 1
            firstTime = min(firstTime, at)
            lastTime = max(lastTime, at)
        }
        if !batch.isEmpty { pending.append(batch) }
        // A newsletter sign-up without an order.
        if !converts && customer == nil && rng.chance(0.012) {
            try register(country: country, ip: ip, fraud: false, consent: true, at: t)
        }
    }

    func weightedCountry() -> Int {
        var x = rng.below(countryWeights.reduce(0, +))
        for (i, w) in countryWeights.enumerated() {
            if x < w { return i }
            x -= w
        }
        return 0
    }

    @discardableResult
    func register(country: Int, ip: String, fraud: Bool, consent: Bool, at time: Int64) throws -> Int {
        let c = world.countries[country]
        let first = rng.pick(c.first), last = rng.pick(c.last)
        let n = next("customer")
        let id = "C" + String(100_000 + n)
        let domain = fraud ? rng.pick(world.fraudDomains) : rng.pick(c.domains)
        let local = fraud ? "x" + String(rng.next() % 100_000_000, radix: 36)
            : Self.asciiFold(first) + "." + Self.asciiFold(last) + (rng.chance(0.4) ? String(rng.below(100)) : "")
        let customer = Customer(id: id, country: country, email: local + "@" + domain, name: first + " " + last,
                                phone: rng.chance(0.7) ? fill(c.phone) : nil, address: address(in: country),
                                consent: consent, ip: ip)
        customers.append(customer)
        try emit([.customerRegistered(CustomerRegistered(customerId: id, email: customer.email, name: customer.name,
                                                         phone: customer.phone, address: customer.address,
                                                         marketingConsent: consent))], at: time)
        return customers.count - 1
    }

    // MARK: Orders

    func checkout(_ n: Int) throws {
        guard let ctx = checkouts.removeValue(forKey: n) else { return }
        if let c = ctx.customer, customers[c].forgotten { return }
        var lines: [(sku: Int, qty: Int64, unitPrice: Int64)] = []
        let currency = world.countries[ctx.country].currency
        for item in ctx.cart where products[skus[item.sku].product].sellable {
            let qty = min(item.qty, totalAvailable(item.sku))
            if qty > 0 { lines.append((item.sku, qty, price(skus[item.sku].price, in: currency))) }
        }
        guard !lines.isEmpty else { return }  // sold out meanwhile: abandoned
        let customer: Int
        if let c = ctx.customer { customer = c } else {
            customer = try register(country: ctx.country, ip: ctx.ip, fraud: ctx.fraud, consent: rng.chance(0.35), at: now)
        }
        ordersPlaced += 1
        if ctx.fraud { fraudOrders += 1 }
        let subtotal = lines.reduce(Int64(0)) { $0 + $1.qty * $1.unitPrice }
        let discount = !ctx.fraud && rng.chance(0.08) ? subtotal / 10 : 0
        let shippingFee = subtotal < price(4900, in: currency) ? price(495, in: currency) : 0
        let total = subtotal - discount + shippingFee
        let id = "NW" + String(1_000_000 + next("order"))
        var billing: Address?
        if ctx.fraud {
            var other = rng.below(world.countries.count)
            if other == ctx.country { other = (other + 1) % world.countries.count }
            billing = address(in: other)
        } else if rng.chance(0.05) {
            billing = address(in: ctx.country)
        }
        let o = orders.count
        orders.append(Order(id: id, customer: customer, country: ctx.country, currency: currency, lines: lines,
                            total: total, fraud: ctx.fraud))
        customers[customer].lastOrder = o
        let meta = [(key: "correlationId", value: id)]
        try emit([.orderPlaced(OrderPlaced(
            orderId: id, customerId: customers[customer].id,
            sessionId: ctx.channel == .marketplace ? nil : ctx.session,
            lines: lines.map { OrderLine(sku: skus[$0.sku].sku, qty: $0.qty, unitPrice: $0.unitPrice) },
            currency: currency, discount: discount, shippingFee: shippingFee,
            shippingAddress: customers[customer].address, billingAddress: billing, ip: ctx.ip, channel: ctx.channel))],
            meta: meta)
        // Reserve: the home warehouse first, then the fullest others; a line
        // may come from two warehouses (a split shipment).
        let home = homeWarehouse[ctx.country]
        for line in lines {
            let k = line.sku
            var left = line.qty
            let order = skus[k].warehouses.sorted { a, b in
                if (a == home) != (b == home) { return a == home }
                return available(k, a) != available(k, b) ? available(k, a) > available(k, b) : a < b
            }
            var events: [CommerceEvent] = []
            for w in order where left > 0 {
                let take = min(left, available(k, w))
                guard take > 0 else { continue }
                reserved[index(k, w)] += take
                left -= take
                orders[o].reservations.append((k, w, take))
                events.append(.stockReserved(StockReserved(sku: skus[k].sku, warehouseId: world.warehouses[w].warehouseId,
                                                           qty: take, orderId: id)))
            }
            try emit(events, meta: meta)
        }
        schedule(in: between(5, 40) * second, .pay(order: o, attempt: 1))
    }

    static let immediateMethods: Set<String> = ["paypal", "ideal", "blik", "swish", "sofort"]

    func paymentMethod(country: String) -> String {
        let x = rng.below(100)
        if x < 55 { return "card" }
        if x < 77 { return "paypal" }
        if x < 88, ["DE", "AT", "NL", "SE", "BE"].contains(country) { return "invoice" }
        switch country {
        case "NL", "BE": return "ideal"
        case "PL": return "blik"
        case "SE": return "swish"
        case "DE", "AT": return "sofort"
        default: return "card"
        }
    }

    func pay(_ o: Int, attempt: Int) throws {
        guard !orders[o].cancelled else { return }
        let order = orders[o]
        let country = world.countries[order.country].code
        let method = order.fraud ? "card" : (attempt > 1 && rng.chance(0.4) ? "paypal" : paymentMethod(country: country))
        let paymentId = "pay-" + String(next("payment"))
        let meta = [(key: "correlationId", value: order.id)]
        var cardToken: String?
        let c = order.customer
        if method == "card" {
            if !order.fraud, let saved = customers[c].cards.last, rng.chance(0.7) {
                cardToken = saved
            } else {
                let t = token()
                cardToken = t
                if order.fraud || rng.chance(0.35) {
                    customers[c].cards.append(t)
                    if !customers[c].forgotten {
                        try emit([.paymentMethodAdded(PaymentMethodAdded(customerId: customers[c].id, token: t,
                                                                         brand: rng.pick(world.cardBrands),
                                                                         last4: String(1000 + rng.below(9000))))])
                    }
                }
            }
        }
        let failP = order.fraud ? 0.7 : (attempt == 1 ? 0.06 : 0.25)
        if rng.chance(failP) {
            let reason = method == "invoice" ? "credit_check_declined" : rng.pick(world.paymentFailures)
            try emit([.paymentFailed(PaymentFailed(orderId: order.id, paymentId: paymentId, amount: order.total, reason: reason))],
                     meta: meta)
            let maxAttempts = order.fraud ? 5 : 3
            if attempt < maxAttempts && !(attempt == 1 && rng.chance(0.15)) {
                schedule(in: between(40, 600) * second, .pay(order: o, attempt: attempt + 1))
            } else {
                schedule(in: between(20, 90) * minute, .cancel(order: o, reason: "payment_failed"))
            }
            return
        }
        var events: [CommerceEvent] = [.paymentAuthorized(PaymentAuthorized(
            orderId: order.id, paymentId: paymentId, amount: order.total, method: method,
            gateway: world.gateways[method] ?? "adyen", cardToken: cardToken))]
        orders[o].paymentId = paymentId
        if Self.immediateMethods.contains(method) {
            events.append(.paymentCaptured(PaymentCaptured(orderId: order.id, paymentId: paymentId, amount: order.total)))
            orders[o].captured = order.total
            revenue[order.currency, default: 0] += order.total
        } else {
            orders[o].captureAtShipment = true
        }
        try emit(events, meta: meta)
        // Ship from each warehouse that holds a reservation.
        var warehouses: [Int] = []
        for r in order.reservations where !warehouses.contains(r.warehouse) { warehouses.append(r.warehouse) }
        orders[o].plannedShipments = warehouses.count
        var delay = between(3 * hour / second, 30 * hour / second) * second
        for w in warehouses {
            schedule(in: delay, .ship(order: o, warehouse: w))
            delay += between(1, 24) * hour
        }
        if order.fraud && rng.chance(0.45) {
            schedule(in: between(20, 150) * minute, .cancel(order: o, reason: "fraud_suspected"))
        } else if rng.chance(0.03) {
            schedule(in: between(10, 360) * minute, .cancel(order: o, reason: rng.chance(0.8) ? "customer_request" : "duplicate_order"))
        }
    }

    func cancel(_ o: Int, reason: String) throws {
        let order = orders[o]
        guard !order.cancelled, order.shippedUnits == 0 else { return }
        orders[o].cancelled = true
        ordersCancelled += 1
        let meta = [(key: "correlationId", value: order.id)]
        var events: [CommerceEvent] = [.orderCancelled(OrderCancelled(orderId: order.id, reason: reason))]
        if let pid = order.paymentId, order.captured > order.refunded {
            let amount = order.captured - order.refunded
            events.append(.refundIssued(RefundIssued(orderId: order.id, refundId: "rf-" + String(next("refund")),
                                                     paymentId: pid, amount: amount, reason: "order_cancelled")))
            orders[o].refunded += amount
            revenue[order.currency, default: 0] -= amount
        }
        try emit(events, meta: meta)
        try release(o, meta: meta)
    }

    /// Releases what the order still holds, one batch per SKU.
    func release(_ o: Int, meta: [(key: String, value: String)]) throws {
        let order = orders[o]
        var bySku: [Int: [CommerceEvent]] = [:]
        var skuOrder: [Int] = []
        for r in order.reservations where r.qty > 0 {
            reserved[index(r.sku, r.warehouse)] -= r.qty
            if bySku[r.sku] == nil { skuOrder.append(r.sku) }
            bySku[r.sku, default: []].append(.stockReleased(StockReleased(
                sku: skus[r.sku].sku, warehouseId: world.warehouses[r.warehouse].warehouseId, qty: r.qty, orderId: order.id)))
        }
        orders[o].reservations.removeAll()
        for k in skuOrder { try emit(bySku[k]!, meta: meta) }
    }

    func ship(_ o: Int, from w: Int) throws {
        let order = orders[o]
        guard !order.cancelled else { return }
        let held = order.reservations.filter { $0.warehouse == w && $0.qty > 0 }
        guard !held.isEmpty else { return }
        let meta = [(key: "correlationId", value: order.id)]
        var events: [CommerceEvent] = []
        if order.captureAtShipment, order.captured == 0, let pid = order.paymentId {
            events.append(.paymentCaptured(PaymentCaptured(orderId: order.id, paymentId: pid, amount: order.total)))
            orders[o].captured = order.total
            revenue[order.currency, default: 0] += order.total
        }
        let country = world.countries[order.country].code
        let carriers = world.carriers.filter { $0.countries.contains(country) }
        let carrier = carriers.isEmpty ? world.carriers[0] : rng.pick(carriers)
        var tracking = fill(carrier.format)
        if Validation.looksLikeCardNumber(tracking) {
            // Never a string that reads as a card number, anywhere: the
            // last digit is not doubled by Luhn, so changing it breaks the check.
            let last = tracking.removeLast()
            tracking.append(Character(String(((last.wholeNumberValue ?? 0) + 1) % 10)))
        }
        let shipmentId = "sh-" + String(next("shipment"))
        let lines = held.map { (sku: $0.sku, qty: $0.qty) }
        events.append(.orderShipped(OrderShipped(orderId: order.id, shipmentId: shipmentId,
                                                 warehouseId: world.warehouses[w].warehouseId, carrier: carrier.name,
                                                 trackingNumber: tracking,
                                                 lines: lines.map { ShipmentLine(sku: skus[$0.sku].sku, qty: $0.qty) })))
        try emit(events, meta: meta)
        for r in held {
            let i = index(r.sku, w)
            reserved[i] -= r.qty
            onHand[i] -= r.qty
            orders[o].shippedUnits += r.qty
            try emit([.stockShipped(StockShipped(sku: skus[r.sku].sku, warehouseId: world.warehouses[w].warehouseId,
                                                 qty: r.qty, orderId: order.id))], meta: meta)
        }
        orders[o].reservations.removeAll { $0.warehouse == w }
        orders[o].shipments.append(Shipment(id: shipmentId, warehouse: w, lines: lines))
        shipmentsMade += 1
        schedule(in: between(20, 96) * hour + between(0, 3600) * second,
                 .deliver(order: o, shipment: orders[o].shipments.count - 1))
    }

    func deliver(_ o: Int, shipment s: Int) throws {
        let order = orders[o]
        try emit([.orderDelivered(OrderDelivered(orderId: order.id, shipmentId: order.shipments[s].id))],
                 meta: [("correlationId", order.id)])
        orders[o].shipments[s].delivered = true
        let all = orders[o].shipments.count == order.plannedShipments && orders[o].shipments.allSatisfy(\.delivered)
        guard all else { return }
        if order.fraud {
            if rng.chance(0.6) { schedule(in: between(10, 40) * day, .chargeback(o)) }
        } else if rng.chance(0.09) {
            // Most returns come within days of delivery, a few weeks later.
            schedule(in: 6 * hour + exponential(Double(4 * day)), .returnItems(o))
        } else if rng.chance(0.015) {
            schedule(in: between(1, 72) * hour, .goodwill(o))
        }
    }

    func returnItems(_ o: Int) throws {
        let order = orders[o]
        guard let pid = order.paymentId, !order.returned else { return }
        orders[o].returned = true
        returns += 1
        let shipped = order.shipments.flatMap(\.lines)
        guard let last = shipped.last else { return }
        var lines: [(sku: Int, qty: Int64)] = []
        for l in shipped where rng.chance(0.6) { lines.append((l.sku, Int64(1 + rng.below(Int(l.qty))))) }
        if lines.isEmpty { lines.append((last.sku, 1)) }
        // Merge lines of a SKU shipped in two parcels.
        var merged: [(sku: Int, qty: Int64)] = []
        for l in lines {
            if let i = merged.firstIndex(where: { $0.sku == l.sku }) { merged[i].qty += l.qty } else { merged.append(l) }
        }
        guard !merged.isEmpty else { return }
        let w = homeWarehouse[order.country]
        let meta = [(key: "correlationId", value: order.id)]
        let price = { (k: Int) in order.lines.first { $0.sku == k }?.unitPrice ?? 0 }
        let value = merged.reduce(Int64(0)) { $0 + $1.qty * price($1.sku) }
        let amount = min(value, order.captured - order.refunded)
        var events: [CommerceEvent] = [.returnReceived(ReturnReceived(
            orderId: order.id, returnId: "rt-" + String(next("return")), warehouseId: world.warehouses[w].warehouseId,
            lines: merged.map { ShipmentLine(sku: skus[$0.sku].sku, qty: $0.qty) }))]
        if amount > 0 {
            events.append(.refundIssued(RefundIssued(orderId: order.id, refundId: "rf-" + String(next("refund")),
                                                     paymentId: pid, amount: amount, reason: rng.pick(world.returnReasons))))
            orders[o].refunded += amount
            revenue[order.currency, default: 0] -= amount
        }
        try emit(events, meta: meta)
        for l in merged {
            // Returned goods go back on the shelf of the nearest warehouse
            // (which may not stock the SKU yet: it does from now on).
            if !skus[l.sku].warehouses.contains(w) { skus[l.sku].warehouses.append(w) }
            onHand[index(l.sku, w)] += l.qty
            try emit([.stockReturned(StockReturned(sku: skus[l.sku].sku, warehouseId: world.warehouses[w].warehouseId,
                                                   qty: l.qty, orderId: order.id))], meta: meta)
        }
        if !customers[order.customer].forgotten && rng.chance(0.3) {
            try emit([.supportInteraction(SupportInteraction(customerId: customers[order.customer].id, orderId: order.id,
                                                             channel: .email,
                                                             summary: "Size exchange requested; return label sent."))])
        }
    }

    func goodwill(_ o: Int) throws {
        let order = orders[o]
        guard let pid = order.paymentId, !customers[order.customer].forgotten else { return }
        let amount = min(max(order.total / 10, 100), order.captured - order.refunded)
        guard amount > 0 else { return }
        try emit([.supportInteraction(SupportInteraction(customerId: customers[order.customer].id, orderId: order.id,
                                                         channel: rng.chance(0.5) ? .phone : .chat,
                                                         summary: "Delivery late; apologised and offered a goodwill refund."))])
        orders[o].refunded += amount
        revenue[order.currency, default: 0] -= amount
        try emit([.refundIssued(RefundIssued(orderId: order.id, refundId: "rf-" + String(next("refund")), paymentId: pid,
                                             amount: amount, reason: "goodwill"))], meta: [("correlationId", order.id)])
    }

    func chargeback(_ o: Int) throws {
        let order = orders[o]
        guard let pid = order.paymentId else { return }
        let amount = order.captured - order.refunded
        guard amount > 0 else { return }
        orders[o].refunded += amount
        revenue[order.currency, default: 0] -= amount
        try emit([.refundIssued(RefundIssued(orderId: order.id, refundId: "rf-" + String(next("refund")), paymentId: pid,
                                             amount: amount, reason: "chargeback"))], meta: [("correlationId", order.id)])
    }

    // MARK: Supply chain

    func replenish() throws {
        // (supplier, warehouse) → lines.
        var groups: [Int: [(sku: Int, qty: Int64)]] = [:]
        var keys: [Int] = []
        for k in skus.indices where products[skus[k].product].sellable {
            for w in skus[k].warehouses {
                let i = index(k, w)
                guard !openPurchaseOrder[i], reorderQty[i] > 0, available(k, w) <= reorderPoint[i] else { continue }
                let key = products[skus[k].product].supplier * warehouseCount + w
                if groups[key] == nil { keys.append(key) }
                groups[key, default: []].append((k, reorderQty[i]))
                openPurchaseOrder[i] = true
            }
        }
        for key in keys {
            let supplier = key / warehouseCount, w = key % warehouseCount
            let lines = groups[key]!
            let id = "PO-" + String(20_000 + next("po"))
            let lead = Int64(catalog.suppliers[supplier].leadTimeDays) * day
            purchaseOrders.append(PurchaseOrder(id: id, warehouse: w, lines: lines))
            try emit([.purchaseOrderPlaced(PurchaseOrderPlaced(
                purchaseOrderId: id, supplierId: catalog.suppliers[supplier].supplierId,
                warehouseId: world.warehouses[w].warehouseId,
                lines: lines.map { PurchaseOrderLine(sku: skus[$0.sku].sku, qty: $0.qty, unitCost: skus[$0.sku].unitCost) },
                currency: "EUR", expectedAt: Timestamp(microseconds: now + lead)))], meta: [("actor", "system:replenishment")])
            schedule(in: lead + between(-3 * 3600, 10 * 3600) * second, .receivePurchaseOrder(purchaseOrders.count - 1))
        }
    }

    func receive(_ p: Int) throws {
        let po = purchaseOrders[p]
        let wid = world.warehouses[po.warehouse].warehouseId
        for l in po.lines {
            // Now and then the supplier delivers short.
            let qty = rng.chance(0.07) ? max(1, l.qty * Int64(75 + rng.below(20)) / 100) : l.qty
            onHand[index(l.sku, po.warehouse)] += qty
            openPurchaseOrder[index(l.sku, po.warehouse)] = false
            try emit([.stockReceived(StockReceived(sku: skus[l.sku].sku, warehouseId: wid, qty: qty, purchaseOrderId: po.id))],
                     meta: [("correlationId", po.id)])
        }
        try emit([.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: po.id))], meta: [("correlationId", po.id)])
    }

    func stockCount() throws {
        let k = rng.below(skus.count)
        let w = rng.pick(skus[k].warehouses)
        var delta = Int64(1 + rng.below(3))
        if rng.chance(0.6) && available(k, w) >= delta { delta = -delta }
        let reason = delta < 0 ? rng.pick(["count", "damage", "shrinkage"]) : rng.pick(["count", "found"])
        onHand[index(k, w)] += delta
        try emit([.stockAdjusted(StockAdjusted(sku: skus[k].sku, warehouseId: world.warehouses[w].warehouseId,
                                               delta: delta, reason: reason))], meta: [("actor", "ops:lisa.m")])
    }

    func rebalance() throws {
        var moved = 0
        for _ in 0..<60 where moved < 3 {
            let k = rng.below(skus.count)
            let ws = skus[k].warehouses
            guard ws.count >= 2, products[skus[k].product].sellable else { continue }
            guard let low = ws.min(by: { available(k, $0) < available(k, $1) }),
                  let high = ws.max(by: { available(k, $0) < available(k, $1) }), low != high else { continue }
            let spare = available(k, high) - reorderPoint[index(k, high)]
            let short = available(k, low) <= reorderPoint[index(k, low)]
            guard spare >= 4, short || moved == 0 && rng.chance(0.3) else { continue }
            let qty = max(1, min(spare / 2, reorderQty[index(k, low)] / 2))
            onHand[index(k, high)] -= qty
            onHand[index(k, low)] += qty
            moved += 1
            try emit([.stockTransferred(StockTransferred(sku: skus[k].sku, fromWarehouseId: world.warehouses[high].warehouseId,
                                                         toWarehouseId: world.warehouses[low].warehouseId, qty: qty))],
                     meta: [("actor", "ops:lisa.m")])
        }
    }

    func adjustReorderPoints() throws {
        for _ in 0..<5 {
            let k = rng.below(skus.count)
            let w = rng.pick(skus[k].warehouses)
            let i = index(k, w)
            reorderPoint[i] = max(0, reorderPoint[i] + Int64(rng.int(in: -3...5)))
            reorderQty[i] = max(10, reorderQty[i] + Int64(rng.int(in: -10...20)))
            try emit([.reorderPointSet(ReorderPointSet(sku: skus[k].sku, warehouseId: world.warehouses[w].warehouseId,
                                                       reorderPoint: reorderPoint[i], reorderQty: reorderQty[i]))],
                     meta: [("actor", "ops:lisa.m")])
        }
    }

    // MARK: Catalog and back office

    func priceChange() throws {
        let k = rng.below(skus.count)
        let factors = [70, 80, 85, 90, 100, 100, 105, 110]
        var p = skus[k].basePrice * Int64(rng.pick(factors)) / 100
        p = max(99, (p / 100) * 100 + 99 - 100)
        if p == skus[k].price { p = skus[k].basePrice }
        guard p != skus[k].price else { return }
        skus[k].price = p
        try emit([.priceChanged(PriceChanged(sku: skus[k].sku, price: p, currency: "EUR"))],
                 meta: [("actor", "system:pricing-bot")])
    }

    func catalogChange() throws {
        let live = products.indices.filter { products[$0].sellable }
        switch rng.below(100) {
        case 0..<40:
            let p = rng.pick(live)
            let s = products[p].seed
            let images = s.images + ["https://cdn.shop.example/img/\(s.productId)/\(s.images.count + 1 + rng.below(3)).jpg"]
            let description = rng.chance(0.5) ? s.description + " Now with free repairs for two years." : nil
            try emit([.productUpdated(ProductUpdated(productId: s.productId, description: description, images: images))],
                     meta: [("actor", "admin:anna.k")])
        case 40..<60 where !heldBack.isEmpty:
            let p = heldBack.removeFirst()
            try launch(p, at: now)
            rebuildPopularity()
        case 60..<82:
            let p = rng.pick(live)
            guard let first = products[p].skus.first else { return }
            products[p].addedVariants += 1
            let sku = skus[first].sku + "-LTD" + String(products[p].addedVariants)
            var options = products[p].seed.variants.first?.options ?? [:]
            options["edition"] = "Limited \(products[p].addedVariants)"
            let priceEUR = skus[first].basePrice + skus[first].basePrice / 10
            skus.append(Sku(sku: sku, product: p, basePrice: priceEUR, price: priceEUR,
                            unitCost: skus[first].unitCost, warehouses: pickWarehouses()))
            let k = skus.count - 1
            products[p].skus.append(k)
            onHand += Array(repeating: 0, count: warehouseCount)
            reserved += Array(repeating: 0, count: warehouseCount)
            reorderPoint += Array(repeating: 0, count: warehouseCount)
            reorderQty += Array(repeating: 0, count: warehouseCount)
            openPurchaseOrder += Array(repeating: false, count: warehouseCount)
            try emit([.variantAdded(VariantAdded(productId: products[p].seed.productId, sku: sku, options: options,
                                                 price: priceEUR, currency: "EUR"))], meta: [("actor", "admin:anna.k")])
            try openStock(k, at: now + minute)
        default:
            guard live.count * 10 > products.count * 8 else { return }
            let p = rng.pick(live)
            products[p].discontinued = true
            rebuildPopularity()
            try emit([.productDiscontinued(ProductDiscontinued(productId: products[p].seed.productId))],
                     meta: [("actor", "admin:tom.b")])
        }
    }

    func customerCare() throws {
        guard let c = pickCustomer() else { return }
        let id = customers[c].id
        switch rng.below(100) {
        case 0..<30:
            customers[c].consent.toggle()
            try emit([.consentChanged(ConsentChanged(customerId: id, marketingConsent: customers[c].consent))])
        case 30..<45:
            let phone = fill(world.countries[customers[c].country].phone)
            customers[c].phone = phone
            try emit([.customerUpdated(CustomerUpdated(customerId: id, phone: phone))])
        case 45..<57:
            let a = address(in: customers[c].country)
            customers[c].address = a
            try emit([.addressChanged(AddressChanged(customerId: id, address: a))])
        case 57..<72:
            let t = token()
            customers[c].cards.append(t)
            try emit([.paymentMethodAdded(PaymentMethodAdded(customerId: id, token: t, brand: rng.pick(world.cardBrands),
                                                             last4: String(1000 + rng.below(9000))))])
        case 72..<99:
            let s = rng.pick(world.support)
            let orderId = customers[c].lastOrder.map { orders[$0].id }
            try emit([.supportInteraction(SupportInteraction(customerId: id, orderId: orderId,
                                                             channel: SupportChannel(rawValue: s.channel) ?? .email,
                                                             summary: s.summary))])
        default:
            customers[c].forgotten = true
            try emit([.customerForgotten(CustomerForgotten(customerId: id))], meta: [("actor", "admin:tom.b")])
        }
    }

    func changeSetting() throws {
        let s = rng.pick(world.settings)
        let options = s.values.filter { $0 != settings[s.key] }
        guard !options.isEmpty else { return }
        let v = rng.pick(options)
        settings[s.key] = v
        try emit([.settingChanged(SettingChanged(key: s.key, value: v, actor: rng.pick(world.actors)))])
    }

    func launchCampaign(at time: Int64) throws {
        let id = "cmp-" + String(next("campaign"))
        campaigns.append(id)
        try emit([.campaignLaunched(CampaignLaunched(campaignId: id, name: rng.pick(world.campaignNames),
                                                     channel: rng.pick(world.campaignChannels),
                                                     budget: Int64(50 + rng.below(450)) * 10_000, currency: "EUR"))],
                 at: time, meta: [("actor", "admin:anna.k")])
    }
}
