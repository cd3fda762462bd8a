import ChronikLog
import ChronikCommerce

/// The fraud read model: an explainable score from 0 to 100 per order
/// (docs/FRAUD.md).
///
/// Reads CustomerRegistered, PaymentMethodAdded, SessionStarted,
/// OrderPlaced, PaymentAuthorized, PaymentFailed, PaymentCaptured and
/// RefundIssued; every other event costs a test of its case. Windows run on a
/// clock that never goes backwards: the latest business `time` read so far.
/// The model keeps no personal data: IPs only as a 64-bit digest for 24 h
/// of business time, and no address at all.
public final class FraudProjector: SnapshottableProjector, FoldsOnEitherThread {
    public let name = "fraud"
    public var snapshotVersion: UInt32 { 2 }

    /// The whole model as one value: `apply` makes one access to it (class
    /// properties each pay a dynamic exclusivity check per access).
    @exclusivity(unchecked)
    var model = FraudModel()

    /// Opens a session's sealed IP when an order refers to the session
    /// (docs/GDPR.md); set by `ProjectionSet.protector`.
    public var protector: (any PIIProtector)? {
        get { model.protector }
        set { model.protector = newValue }
    }

    public init() {}

    public func apply(_ event: ProjectedEvent) throws(ProjectionError) { fold(event) }

    /// `apply`, which never fails (`FoldsOnEitherThread`).
    func fold(_ event: ProjectedEvent) {
        // Filter before touching `model`: the events this model ignores
        // (most of a log) then cost a tag test, not an exclusivity check.
        switch event.event {
        case .orderPlaced, .paymentAuthorized, .paymentFailed, .paymentCaptured, .refundIssued,
             .customerRegistered, .paymentMethodAdded, .sessionStarted:
            model.apply(event)
        default:
            return
        }
    }

    /// The number of orders scored.
    public var orderCount: Int { model.orders.count }

    /// The score of one order, nil if no `OrderPlaced` of it was read.
    public func score(order orderId: String) -> FraudScore? { model.score(order: orderId) }

    /// The `n` highest scores, highest first, ties by `orderId` ascending.
    ///
    /// - Complexity: O(orders + k log k), k the orders at or above the
    ///   n-th score.
    public func top(_ n: Int) -> [FraudScore] { model.top(n) }
}

/// The state of the fraud model and how events fold into it.
struct FraudModel {
    // MARK: State

    /// An entry of a window: when, and which customer or card (an index).
    struct TimedRef: Hashable {
        var time: Int64
        var ref: Int32
    }

    struct CurrencyHistory: Hashable {
        var currency: String
        var count: Int64
        var sum: Int64
    }

    struct CustomerState {
        var id: String
        /// The clock at the first CustomerRegistered.
        var registeredAt: Int64?
        var orders: Int64 = 0
        /// Orders with at least one capture / one refund.
        var capturedOrders: Int64 = 0
        var refundedOrders: Int64 = 0
        /// Count and sum of order totals in the customer's first currency,
        /// kept inline (one heap object less to reach per order) …
        var history: CurrencyHistory?
        /// … and in any other currency, in first-seen order.
        var otherHistory: [CurrencyHistory] = []
        var orderTimes: [Int64] = []
        var failureTimes: [Int64] = []
        /// Card uses (ref = card index), in clock order.
        var cardUses: [TimedRef] = []
        /// The card of the latest PaymentMethodAdded, −1 if none.
        var latestAddedCard: Int32 = -1

        init(id: String) { self.id = id }

        func history(in currency: String) -> CurrencyHistory? {
            if let h = history, h.currency == currency { return h }
            return otherHistory.first { $0.currency == currency }
        }

        mutating func addToHistory(_ total: Int64, in currency: String) {
            if history == nil {
                history = CurrencyHistory(currency: currency, count: 1, sum: total)
            } else if history!.currency == currency {
                history!.count += 1
                history!.sum = FraudModel.saturatingSum(history!.sum, total)
            } else if let i = otherHistory.firstIndex(where: { $0.currency == currency }) {
                otherHistory[i].count += 1
                otherHistory[i].sum = FraudModel.saturatingSum(otherHistory[i].sum, total)
            } else {
                otherHistory.append(CurrencyHistory(currency: currency, count: 1, sum: total))
            }
        }

        /// Every currency's history, the first currency first.
        var histories: [CurrencyHistory] { (history.map { [$0] } ?? []) + otherHistory }
    }

    struct CardState {
        var token: String
        var failureTimes: [Int64] = []
        /// Uses by customers (ref = customer index), in clock order.
        var users: [TimedRef] = []

        init(token: String) { self.token = token }
    }

    struct IPState {
        /// Orders from this IP (ref = customer index), in clock order.
        var orders: [TimedRef] = []
        var failureTimes: [Int64] = []
    }

    struct SessionLink: Hashable {
        /// The IP's digest; 0 while it is still sealed in `sealed`.
        var ip: UInt64
        var time: Int64
        /// The SessionStarted's stored data, until its IP is needed.
        var sealed: [UInt8]? = nil
    }

    /// Opens sealed session IPs (nil: they read as erased).
    var protector: (any PIIProtector)?

    /// The digest of a session's IP, opening it if it is still sealed; 0
    /// when it cannot be read (no key store, or the key is destroyed).
    func ipDigest(_ link: SessionLink) -> UInt64 {
        if link.ip != 0 { return link.ip }
        guard let data = link.sealed, let protector,
              let (event, pii) = try? CommerceEvent.decode(type: SessionStarted.typeName, data: data, protector: protector),
              pii == .revealed, case .sessionStarted(let s) = event, let ip = s.ip, !ip.isEmpty
        else { return 0 }
        return IPDigest.of(ip)
    }

    struct OrderState {
        /// The value of a slot no OrderPlaced has filled yet.
        static let unplaced = OrderState(customer: -1, placedAt: 0)
        static let captured: UInt8 = 1
        static let refunded: UInt8 = 2

        var customer: Int32
        /// The card of the order's latest PaymentAuthorized with a token, −1 if none.
        var card: Int32 = -1
        /// The IP digest, 0 if none; used only within 24 h of `placedAt`.
        var ip: UInt64 = 0
        var placedAt: Int64
        var flags: UInt8 = 0
        var score: UInt8 = 0
        var reasons: [StoredReason] = []
    }

    /// The clock: the latest business time read so far (µs); `Int64.min`
    /// before the first event.
    var now: Int64 = .min
    /// When the IP and session tables are next swept (not part of the
    /// model's meaning: sweeping drops only what no longer counts).
    var nextSweep: Int64 = .min
    var customerIndex: [IDKey: Int32] = [:]
    var customers: [CustomerState] = []
    var cardIndex: [IDKey: Int32] = [:]
    var cards: [CardState] = []
    var ips: [UInt64: IPState] = [:]
    var sessions: [IDKey: SessionLink] = [:]
    var orders: [IDKey: OrderState] = [:]
    /// Count and sum of the totals of every order placed so far, per
    /// currency in first-seen order: the shop's typical order in each
    /// currency (newAccountHighOrder judges "high" against it).
    var shopHistories: [CurrencyHistory] = []

    // MARK: Folding

    mutating func apply(_ event: ProjectedEvent) {
        switch event.event {
        case .orderPlaced(let e):
            tick(event.occurredAt)
            place(e)
        case .paymentAuthorized(let e):
            tick(event.occurredAt)
            authorize(e)
        case .paymentFailed(let e):
            tick(event.occurredAt)
            fail(e)
        case .paymentCaptured(let e):
            tick(event.occurredAt)
            mark(e.orderId, OrderState.captured)
        case .refundIssued(let e):
            tick(event.occurredAt)
            mark(e.orderId, OrderState.refunded)
        case .customerRegistered(let e):
            tick(event.occurredAt)
            let c = customerSlot(e.customerId)
            if customers[c].registeredAt == nil { customers[c].registeredAt = now }
        case .paymentMethodAdded(let e):
            tick(event.occurredAt)
            addCard(e)
        case .sessionStarted(let e):
            tick(event.occurredAt)
            if let ip = e.ip, !ip.isEmpty {
                sessions[IDKey(e.sessionId)] = SessionLink(ip: IPDigest.of(ip), time: now)
            } else if let sealed = event.sealedData {
                sessions[IDKey(e.sessionId)] = SessionLink(ip: 0, time: now, sealed: sealed)
            }
        default:
            return
        }
    }

    @inline(__always)
    mutating func tick(_ t: Timestamp) {
        if t.microseconds > now { now = t.microseconds }
        if now >= nextSweep { sweep() }
    }

    /// Entries at or before this time are out of a window of `length`
    /// (saturating, so extreme clocks cannot trap).
    @inline(__always)
    func cutoff(_ length: Int64) -> Int64 {
        let (c, overflow) = now.subtractingReportingOverflow(length)
        return overflow ? .min : c
    }

    /// Drops IP counters and session links that no longer count (privacy
    /// and memory; see docs/FRAUD.md).
    mutating func sweep() {
        nextSweep = now >= Int64.max - FraudRules.sweepInterval ? .max : now + FraudRules.sweepInterval
        let short = cutoff(FraudRules.shortWindow)
        if !ips.isEmpty {
            ips = ips.filter { ($0.value.orders.last?.time ?? .min) > short || ($0.value.failureTimes.last ?? .min) > short }
        }
        if !sessions.isEmpty {
            sessions = sessions.filter { $0.value.time > short }
        }
    }

    mutating func customerSlot(_ id: String) -> Int {
        if let c = customerIndex[IDKey(id)] { return Int(c) }
        let c = customers.count
        customers.append(CustomerState(id: id))
        customerIndex[IDKey(id)] = Int32(c)
        return c
    }

    mutating func cardSlot(_ token: String) -> Int {
        if let k = cardIndex[IDKey(token)] { return Int(k) }
        let k = cards.count
        cards.append(CardState(token: token))
        cardIndex[IDKey(token)] = Int32(k)
        return k
    }

    mutating func place(_ e: OrderPlaced) {
        // One hash of the order id: the table is moved out of `self` (no
        // copy) so that its slot can be filled in place while the rest of
        // the model changes.
        var orders = self.orders
        self.orders = [:]
        place(e, into: &orders[IDKey(e.orderId), default: OrderState.unplaced])
        self.orders = orders
    }

    mutating func place(_ e: OrderPlaced, into slot: inout OrderState) {
        guard slot.customer < 0 else { return }  // a repeated OrderPlaced: the first one counts
        let c = customerSlot(e.customerId)
        let total = Self.total(e)
        let short = cutoff(FraudRules.shortWindow)

        var ip: UInt64 = 0
        if let raw = e.ip, !raw.isEmpty {
            ip = IPDigest.of(raw)
        } else if let sid = e.sessionId.map({ IDKey($0) }), let link = sessions[sid], link.time > short {
            ip = ipDigest(link)
            if link.ip == 0 {
                // Opened once: remembered as a digest, the sealed bytes dropped.
                sessions[sid] = ip == 0 ? nil : SessionLink(ip: ip, time: link.time)
            }
        }

        var found: [StoredReason] = []
        @inline(__always) func add(_ signal: FraudSignal, _ points: UInt8, _ a: Int64, _ b: Int64 = 0, _ cc: Int64 = 0) {
            guard points > 0 else { return }
            let money = signal == .amountAboveHistory || signal == .newAccountHighOrder
            found.append(StoredReason(signal: signal, points: points, a: a, b: b, c: cc, currency: money ? e.currency : ""))
        }

        // Velocity of the customer's orders (this one included).
        Self.prune(&customers[c].orderTimes, after: short)
        customers[c].orderTimes.append(now)
        let recentOrders = Int64(customers[c].orderTimes.count)
        add(.customerOrderVelocity, FraudRules.points(recentOrders, FraudRules.customerOrders), recentOrders)

        // Orders and customers per IP (this one included).
        var ipFailures: Int64 = 0
        if ip != 0 {
            let (n, distinct, failures) = Self.recordOrder(&ips[ip, default: IPState()], at: now, by: Int32(c), after: short)
            ipFailures = failures
            add(.ipOrderVelocity, FraudRules.points(n, FraudRules.ipOrders), n)
            add(.sharedIP, FraudRules.points(distinct, FraudRules.ipCustomers), distinct)
        }

        // Amount against the customer's previous orders in this currency.
        if let h = customers[c].history(in: e.currency), h.count > 0,
           total >= FraudRules.amountFloor {
            let scaled = Self.saturatingProduct(total, h.count)
            let points: UInt8 =
                scaled > Self.saturatingProduct(h.sum, FraudRules.amountFactorHigh) ? FraudRules.amountPointsHigh
                : scaled > Self.saturatingProduct(h.sum, FraudRules.amountFactor) ? FraudRules.amountPoints
                : 0
            add(.amountAboveHistory, points, total, h.sum / h.count, h.count)
        }

        // Billing and shipping country (only the outcome is kept).
        if let billing = e.billingAddress, !billing.country.isEmpty, !e.shippingAddress.country.isEmpty,
           billing.country != e.shippingAddress.country,
           billing.country.uppercased() != e.shippingAddress.country.uppercased() {
            add(.countryMismatch, FraudRules.countryMismatchPoints, 1)
        }

        // A new account (by its age) with a first order high for its currency.
        let shop = shopHistories.firstIndex { $0.currency == e.currency }
        if customers[c].orders == 0, let at = customers[c].registeredAt {
            // at ≤ now (both are readings of the monotonic clock); saturate
            // anyway so that absurd clocks cannot trap.
            let (diff, overflow) = now.subtractingReportingOverflow(at)
            let age = overflow ? Int64.max : diff
            if age < FraudRules.newAccountWindow {
                let typical = shop.map { shopHistories[$0] }
                if let mean = Self.highFirstOrderMean(total, typical) {
                    add(.newAccountHighOrder, FraudRules.newAccountPoints, total, age / 60_000_000, mean)
                }
            }
        }

        // Refund rate over the previous orders (this one has no capture yet).
        let captured = customers[c].capturedOrders, refunded = customers[c].refundedOrders
        if captured >= FraudRules.refundMinCaptured, refunded * 100 >= FraudRules.refundPercent * captured {
            add(.refundRate, FraudRules.refundPoints, refunded, captured)
        }

        // This order joins the customer's and the shop's history.
        customers[c].orders += 1
        customers[c].addToHistory(total, in: e.currency)
        if let shop {
            shopHistories[shop].count += 1
            shopHistories[shop].sum = Self.saturatingSum(shopHistories[shop].sum, total)
        } else {
            shopHistories.append(CurrencyHistory(currency: e.currency, count: 1, sum: total))
        }

        slot = OrderState(customer: Int32(c), ip: ip, placedAt: now)
        paymentSignals(customer: c, card: slot.card, ipFailures: ipFailures, into: &found)
        Self.merge(found, into: &slot)
    }

    /// The shop's mean order in the currency when a first order of `total`
    /// is high for it (≥ factor × that mean), judged against `shop`, the
    /// shop's previous orders in that currency; nil when it is not, or when
    /// there are fewer than `newAccountMinOrders` of them (no typical order).
    static func highFirstOrderMean(_ total: Int64, _ shop: CurrencyHistory?) -> Int64? {
        guard total > 0, let shop, shop.count >= FraudRules.newAccountMinOrders else { return nil }
        // total ≥ factor/10 × sum/count, in integers (saturating).
        let high = saturatingProduct(saturatingProduct(total, shop.count), 10)
            >= saturatingProduct(shop.sum, FraudRules.newAccountFactorTenths)
        return high ? max(1, shop.sum / shop.count) : nil
    }

    mutating func authorize(_ e: PaymentAuthorized) {
        guard let i = orders.index(forKey: IDKey(e.orderId)) else { return }
        let c = Int(orders.values[i].customer)
        if let token = e.cardToken, !token.isEmpty {
            let k = cardSlot(token)
            orders.values[i].card = Int32(k)
            use(card: k, by: c)
        }
        reevaluate(i)
    }

    mutating func fail(_ e: PaymentFailed) {
        guard let i = orders.index(forKey: IDKey(e.orderId)) else { return }
        let c = Int(orders.values[i].customer), ip = orders.values[i].ip, placedAt = orders.values[i].placedAt
        let short = cutoff(FraudRules.shortWindow)
        Self.prune(&customers[c].failureTimes, after: short)
        customers[c].failureTimes.append(now)
        let k = effectiveCard(customer: c, card: orders.values[i].card)
        if k >= 0 {
            Self.prune(&cards[Int(k)].failureTimes, after: short)
            cards[Int(k)].failureTimes.append(now)
        }
        if ip != 0, placedAt > short {
            Self.recordFailure(&ips[ip, default: IPState()], at: now, after: short)
        }
        reevaluate(i)
    }

    mutating func mark(_ orderId: String, _ flag: UInt8) {
        guard let i = orders.index(forKey: IDKey(orderId)) else { return }
        guard orders.values[i].flags & flag == 0 else { return }
        orders.values[i].flags |= flag
        let c = Int(orders.values[i].customer)
        if flag == OrderState.captured { customers[c].capturedOrders += 1 } else { customers[c].refundedOrders += 1 }
    }

    mutating func addCard(_ e: PaymentMethodAdded) {
        guard !e.token.isEmpty else { return }
        let c = customerSlot(e.customerId)
        let k = cardSlot(e.token)
        customers[c].latestAddedCard = Int32(k)
        use(card: k, by: c)
    }

    /// Records that customer `c` used card `k` now.
    mutating func use(card k: Int, by c: Int) {
        let long = cutoff(FraudRules.longWindow)
        Self.prune(&cards[k].users, after: long)
        Self.appendUse(&cards[k].users, TimedRef(time: now, ref: Int32(c)))
        Self.prune(&customers[c].cardUses, after: long)
        Self.appendUse(&customers[c].cardUses, TimedRef(time: now, ref: Int32(k)))
    }

    func effectiveCard(customer c: Int, card: Int32) -> Int32 {
        card >= 0 ? card : customers[c].latestAddedCard
    }

    /// Adds an order to an IP's window; returns the orders and distinct
    /// customers in it.
    static func recordOrder(_ state: inout IPState, at now: Int64, by c: Int32, after cutoff: Int64)
        -> (orders: Int64, customers: Int64, failures: Int64) {
        prune(&state.orders, after: cutoff)
        state.orders.append(TimedRef(time: now, ref: c))
        prune(&state.failureTimes, after: cutoff)
        return (Int64(state.orders.count), distinctRefs(state.orders), Int64(state.failureTimes.count))
    }

    /// Failures on orders from the order's IP within 24 h (0 without an IP
    /// or once the order is older than that).
    func ipFailures(ip: UInt64, placedAt: Int64) -> Int64 {
        let short = cutoff(FraudRules.shortWindow)
        guard ip != 0, placedAt > short, let state = ips[ip] else { return 0 }
        return Int64(state.failureTimes.reversed().prefix { $0 > short }.count)
    }

    static func recordFailure(_ state: inout IPState, at now: Int64, after cutoff: Int64) {
        prune(&state.failureTimes, after: cutoff)
        state.failureTimes.append(now)
    }

    /// The payment signals of `order` now (docs/FRAUD.md: failures per
    /// customer, card and IP; customers per card; cards per customer).
    mutating func paymentSignals(customer c: Int, card: Int32, ipFailures n: Int64, into found: inout [StoredReason]) {
        let short = cutoff(FraudRules.shortWindow)
        let long = cutoff(FraudRules.longWindow)

        Self.prune(&customers[c].failureTimes, after: short)
        let failures = Int64(customers[c].failureTimes.count)
        let p = FraudRules.points(failures, FraudRules.customerFailures)
        if p > 0 { found.append(StoredReason(signal: .failedPaymentVelocity, points: p, a: failures)) }

        let k = effectiveCard(customer: c, card: card)
        if k >= 0 {
            Self.prune(&cards[Int(k)].failureTimes, after: short)
            let n = Int64(cards[Int(k)].failureTimes.count)
            let p = FraudRules.points(n, FraudRules.cardFailures)
            if p > 0 { found.append(StoredReason(signal: .cardFailedPaymentVelocity, points: p, a: n)) }
            Self.prune(&cards[Int(k)].users, after: long)
            let users = Self.distinctRefs(cards[Int(k)].users)
            let q = FraudRules.points(users, FraudRules.cardCustomers)
            if q > 0 { found.append(StoredReason(signal: .sharedCard, points: q, a: users)) }
        }

        let ipPoints = FraudRules.points(n, FraudRules.ipFailures)
        if ipPoints > 0 { found.append(StoredReason(signal: .ipFailedPaymentVelocity, points: ipPoints, a: n)) }

        Self.prune(&customers[c].cardUses, after: long)
        let distinctCards = Self.distinctRefs(customers[c].cardUses)
        let q = FraudRules.points(distinctCards, FraudRules.customerCards)
        if q > 0 { found.append(StoredReason(signal: .manyCards, points: q, a: distinctCards)) }
    }

    mutating func reevaluate(_ i: Dictionary<IDKey, OrderState>.Index) {
        var found: [StoredReason] = []
        paymentSignals(customer: Int(orders.values[i].customer), card: orders.values[i].card,
                       ipFailures: ipFailures(ip: orders.values[i].ip, placedAt: orders.values[i].placedAt), into: &found)
        if !found.isEmpty { Self.merge(found, into: &orders.values[i]) }
    }

    /// Sticky reasons: a new reason is added, a known one is replaced only
    /// by more points (or the same points on a larger number); then the
    /// score is recomputed.
    static func merge(_ found: [StoredReason], into order: inout OrderState) {
        guard !found.isEmpty else { return }
        for r in found {
            if let j = order.reasons.firstIndex(where: { $0.signal == r.signal }) {
                let old = order.reasons[j]
                if r.points > old.points || (r.points == old.points && r.a > old.a) { order.reasons[j] = r }
            } else {
                order.reasons.append(r)
            }
        }
        order.score = score(of: order.reasons)
    }

    static func score(of reasons: [StoredReason]) -> UInt8 {
        var sum = 0
        for r in reasons { sum += Int(r.points) }
        return UInt8(min(sum, FraudRules.maxScore))
    }

    // MARK: Helpers

    /// Removes the entries at or before `cutoff` from the front of a list
    /// kept in clock order.
    @inline(__always)
    static func prune(_ times: inout [Int64], after cutoff: Int64) {
        guard let first = times.first, first <= cutoff else { return }
        let keep = times.firstIndex { $0 > cutoff } ?? times.endIndex
        times.removeFirst(keep)
    }

    @inline(__always)
    static func prune(_ refs: inout [TimedRef], after cutoff: Int64) {
        guard let first = refs.first, first.time <= cutoff else { return }
        let keep = refs.firstIndex { $0.time > cutoff } ?? refs.endIndex
        refs.removeFirst(keep)
    }

    /// Appends a use to a list kept for distinct counting: a repeat of the
    /// last entry's ref only moves that entry's time to now (the list stays
    /// in clock order, the distinct refs in any window stay the same, and a
    /// customer paying with one card again and again keeps a list of one).
    @inline(__always)
    static func appendUse(_ refs: inout [TimedRef], _ use: TimedRef) {
        if let last = refs.indices.last, refs[last].ref == use.ref {
            refs[last].time = use.time
        } else {
            refs.append(use)
        }
    }

    /// The number of distinct `ref`s (lists are short: a window's uses).
    static func distinctRefs(_ refs: [TimedRef]) -> Int64 {
        if refs.count <= 16 {
            var n: Int64 = 0
            for (i, r) in refs.enumerated() where !refs[..<i].contains(where: { $0.ref == r.ref }) { n += 1 }
            return n
        }
        return Int64(Set(refs.map(\.ref)).count)
    }

    /// EVENTS.md's total, saturating at the ends of Int64 and never below 0.
    static func total(_ e: OrderPlaced) -> Int64 {
        var sum: Int64 = 0
        for line in e.lines { sum = saturatingSum(sum, saturatingProduct(line.qty, line.unitPrice)) }
        sum = saturatingSum(sum, e.shippingFee)
        let (net, overflow) = sum.subtractingReportingOverflow(e.discount)
        return overflow ? 0 : max(net, 0)
    }

    @inline(__always)
    static func saturatingProduct(_ a: Int64, _ b: Int64) -> Int64 {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? ((a < 0) != (b < 0) ? .min : .max) : p
    }

    @inline(__always)
    static func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b < 0 ? .min : .max) : s
    }

    // MARK: Queries

    func score(order orderId: String) -> FraudScore? {
        orders[IDKey(orderId)].map { makeScore(orderId, $0) }
    }

    func top(_ n: Int) -> [FraudScore] {
        guard n > 0, !orders.isEmpty else { return [] }
        var histogram = [Int](repeating: 0, count: FraudRules.maxScore + 1)
        for o in orders.values { histogram[Int(o.score)] += 1 }
        var threshold = FraudRules.maxScore
        var atOrAbove = histogram[threshold]
        while atOrAbove < n, threshold > 0 {
            threshold -= 1
            atOrAbove += histogram[threshold]
        }
        var picked: [(id: String, order: OrderState)] = []
        picked.reserveCapacity(atOrAbove)
        for (id, o) in orders where Int(o.score) >= threshold { picked.append((id.string, o)) }
        picked.sort { $0.order.score != $1.order.score ? $0.order.score > $1.order.score : $0.id < $1.id }
        return picked.prefix(n).map { makeScore($0.id, $0.order) }
    }

    func makeScore(_ orderId: String, _ o: OrderState) -> FraudScore {
        let sorted = o.reasons.sorted { $0.points != $1.points ? $0.points > $1.points : $0.signal.index < $1.signal.index }
        return FraudScore(orderId: orderId, customerId: customers[Int(o.customer)].id, score: Int(o.score),
                          reasons: sorted.map(\.reason))
    }
}

extension FraudProjector: GrowsWithLog {
    /// The tables of orders and customers (the IP and session windows are
    /// swept, so they do not grow with the log).
    func reserve(growth: Double) {
        model.orders.reserve(growth: growth)
        model.customerIndex.reserve(growth: growth)
        model.customers.reserve(growth: growth)
    }
}

extension FraudProjector: FoldsOnlySomeTypes {
    /// The types `apply` passes to the model (see its switch); the set skips
    /// this projector for every other event.
    var foldedTypes: [CommerceEventType] {
        [.orderPlaced, .paymentAuthorized, .paymentFailed, .paymentCaptured, .refundIssued,
         .customerRegistered, .paymentMethodAdded, .sessionStarted]
    }
}
