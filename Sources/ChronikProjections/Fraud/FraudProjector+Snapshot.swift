import ChronikLog

// Snapshot of the fraud model, version 1 (docs/FRAUD.md, Snapshot).
//
//   now                                   int
//   customers  [id string, registeredAt (bool, int), orders, captured,
//               refunded, history [currency string, count, sum],
//               orderTimes [int], failureTimes [int],
//               cardUses [(time, card)], latestAddedCard int]   index order
//   cards      [token string, failureTimes [int], users [(time, customer)]]
//   ips        {digest uint: orders [(time, customer)], failureTimes [int]}
//   sessions   {id string: ip uint, time int}
//   orders     {id string: customer, card, ip uint, placedAt, flags uint,
//               score uint, reasons [signal uint, points uint, a, b, c]}
//
// Window lists hold only the entries still inside their window at `now`,
// and the IP and session tables only keys with such entries, so the bytes
// do not depend on when pruning or sweeping last ran; an order's IP link
// is written as 0 once it is older than 24 h.

extension FraudProjector {
    public func encodeSnapshot(into w: inout SnapshotWriter) { model.encode(into: &w) }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        model = try FraudModel(decoding: &r)
    }
}

extension FraudModel {
    func encode(into w: inout SnapshotWriter) {
        let short = cutoff(FraudRules.shortWindow)
        let long = cutoff(FraudRules.longWindow)
        w.int(now)

        w.array(customers) { w, c in
            w.string(c.id)
            w.bool(c.registeredAt != nil)
            if let at = c.registeredAt { w.int(at) }
            w.int(c.orders)
            w.int(c.capturedOrders)
            w.int(c.refundedOrders)
            w.array(c.histories) { w, h in
                w.string(h.currency)
                w.int(h.count)
                w.int(h.sum)
            }
            Self.writeTimes(c.orderTimes, after: short, to: &w)
            Self.writeTimes(c.failureTimes, after: short, to: &w)
            Self.writeRefs(c.cardUses, after: long, to: &w)
            w.int(Int64(c.latestAddedCard))
        }

        w.array(cards) { w, k in
            w.string(k.token)
            Self.writeTimes(k.failureTimes, after: short, to: &w)
            Self.writeRefs(k.users, after: long, to: &w)
        }

        let liveIPs = ips.filter { ($0.value.orders.last?.time ?? .min) > short || ($0.value.failureTimes.last ?? .min) > short }
        w.dictionary(liveIPs, key: { $0.uint($1) }, value: { w, s in
            Self.writeRefs(s.orders, after: short, to: &w)
            Self.writeTimes(s.failureTimes, after: short, to: &w)
        })

        // Sealed IPs are opened here, so a snapshot holds what an eager
        // model would (digests), and one whose IP cannot be read is left
        // out, as an eager model never stored it.
        var liveSessions: [IDKey: SessionLink] = [:]
        for (id, link) in sessions where link.time > short {
            let ip = ipDigest(link)
            if ip != 0 { liveSessions[id] = SessionLink(ip: ip, time: link.time) }
        }
        w.dictionary(liveSessions, key: { $0.string($1.string) }, value: { w, s in
            w.uint(s.ip)
            w.int(s.time)
        })

        w.dictionary(orders, key: { $0.string($1.string) }, value: { w, o in
            w.int(Int64(o.customer))
            w.int(Int64(o.card))
            w.uint(o.placedAt > short ? o.ip : 0)
            w.int(o.placedAt)
            w.uint(UInt64(o.flags))
            w.uint(UInt64(o.score))
            w.array(o.reasons) { w, r in
                w.uint(UInt64(r.signal.index))
                w.uint(UInt64(r.points))
                w.int(r.a)
                w.int(r.b)
                w.int(r.c)
                w.string(r.currency)
            }
        })

        w.array(shopHistories) { w, h in
            w.string(h.currency)
            w.int(h.count)
            w.int(h.sum)
        }
    }

    /// Reads a model; everything is checked before it is used, so a bad
    /// snapshot throws and the projector keeps the model it had.
    init(decoding r: inout SnapshotReader) throws(ProjectionError) {
        let now = try r.int64()

        let customers: [CustomerState] = try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
            var c = CustomerState(id: try r.string())
            if try r.bool() { c.registeredAt = try Self.time(&r, now: now) }
            c.orders = try Self.nonNegative(&r)
            c.capturedOrders = try Self.nonNegative(&r)
            c.refundedOrders = try Self.nonNegative(&r)
            // Bounded so that no later count or product can overflow.
            guard c.orders <= Self.maxCount, c.capturedOrders <= c.orders, c.refundedOrders <= c.orders else {
                throw Self.bad("a customer's order counts")
            }
            var histories = try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
                CurrencyHistory(currency: try r.string(), count: try Self.nonNegative(&r), sum: try r.int64())
            }
            guard histories.allSatisfy({ $0.count <= c.orders }) else { throw Self.bad("a customer's history") }
            guard Set(histories.map(\.currency)).count == histories.count else { throw Self.bad("a customer's history") }
            if !histories.isEmpty { c.history = histories.removeFirst() }
            c.otherHistory = histories
            c.orderTimes = try Self.readTimes(&r, now: now)
            c.failureTimes = try Self.readTimes(&r, now: now)
            c.cardUses = try Self.readRefs(&r, now: now)
            c.latestAddedCard = try Self.index(&r, below: Int.max, orNone: true)
            return c
        }
        let cards: [CardState] = try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
            var k = CardState(token: try r.string())
            k.failureTimes = try Self.readTimes(&r, now: now)
            k.users = try Self.readRefs(&r, now: now)
            return k
        }
        let ips: [UInt64: IPState] = try r.dictionary(
            key: { (r: inout SnapshotReader) throws(ProjectionError) in try r.uint() },
            value: { (r: inout SnapshotReader) throws(ProjectionError) in
                IPState(orders: try Self.readRefs(&r, now: now), failureTimes: try Self.readTimes(&r, now: now))
            })
        let sessions: [IDKey: SessionLink] = try r.dictionary(
            key: { (r: inout SnapshotReader) throws(ProjectionError) in IDKey(try r.string()) },
            value: { (r: inout SnapshotReader) throws(ProjectionError) in
                SessionLink(ip: try r.uint(), time: try Self.time(&r, now: now))
            })
        let orders: [IDKey: OrderState] = try r.dictionary(
            key: { (r: inout SnapshotReader) throws(ProjectionError) in IDKey(try r.string()) },
            value: { (r: inout SnapshotReader) throws(ProjectionError) in
                let customer = try Self.index(&r, below: customers.count, orNone: false)
                let card = try Self.index(&r, below: cards.count, orNone: true)
                let ip = try r.uint()
                var o = OrderState(customer: customer, card: card, ip: ip, placedAt: try Self.time(&r, now: now))
                let flags = try r.uint()
                let score = try r.uint()
                guard flags <= 3, score <= UInt64(FraudRules.maxScore) else { throw Self.bad("an order's flags or score") }
                o.flags = UInt8(flags)
                o.score = UInt8(score)
                o.reasons = try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
                    let signal = try r.uint()
                    let points = try r.uint()
                    guard signal < UInt64(FraudSignal.allCases.count), points <= UInt64(FraudRules.maxScore) else {
                        throw Self.bad("a reason")
                    }
                    return StoredReason(signal: FraudSignal.allCases[Int(signal)], points: UInt8(points),
                                        a: try r.int64(), b: try r.int64(), c: try r.int64(), currency: try r.string())
                }
                guard Self.score(of: o.reasons) == o.score,
                      Set(o.reasons.map(\.signal)).count == o.reasons.count else {
                    throw Self.bad("an order's reasons")
                }
                return o
            })

        // The shop's history per currency: one entry per currency, one count per order.
        let shopHistories = try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
            CurrencyHistory(currency: try r.string(), count: try Self.nonNegative(&r), sum: try r.int64())
        }
        guard Set(shopHistories.map(\.currency)).count == shopHistories.count,
              shopHistories.reduce(0, { $0 + $1.count }) == Int64(orders.count) else {
            throw Self.bad("the shop's history per currency")
        }

        // Cross references.
        var customerIndex: [IDKey: Int32] = [:]
        customerIndex.reserveCapacity(customers.count)
        for (i, c) in customers.enumerated() {
            guard customerIndex.updateValue(Int32(i), forKey: IDKey(c.id)) == nil,
                  c.latestAddedCard < cards.count,
                  c.cardUses.allSatisfy({ $0.ref >= 0 && $0.ref < cards.count }) else {
                throw Self.bad("a customer (repeated id or card out of range)")
            }
        }
        var cardIndex: [IDKey: Int32] = [:]
        cardIndex.reserveCapacity(cards.count)
        for (i, k) in cards.enumerated() {
            guard cardIndex.updateValue(Int32(i), forKey: IDKey(k.token)) == nil,
                  k.users.allSatisfy({ $0.ref >= 0 && $0.ref < customers.count }) else {
                throw Self.bad("a card (repeated token or customer out of range)")
            }
        }
        for s in ips.values where !s.orders.allSatisfy({ $0.ref >= 0 && $0.ref < customers.count }) {
            throw Self.bad("an IP counter (customer out of range)")
        }

        self.now = now
        self.nextSweep = .min
        self.customerIndex = customerIndex
        self.customers = customers
        self.cardIndex = cardIndex
        self.cards = cards
        self.ips = ips
        self.sessions = sessions
        self.orders = orders
        self.shopHistories = shopHistories
    }

    // MARK: Pieces

    /// More orders than any one customer can have placed (2⁴⁰).
    static let maxCount: Int64 = 1 << 40

    static func writeTimes(_ times: [Int64], after cutoff: Int64, to w: inout SnapshotWriter) {
        let start = times.firstIndex { $0 > cutoff } ?? times.endIndex
        w.uint(UInt64(times.count - start))
        for t in times[start...] { w.int(t) }
    }

    static func writeRefs(_ refs: [TimedRef], after cutoff: Int64, to w: inout SnapshotWriter) {
        let start = refs.firstIndex { $0.time > cutoff } ?? refs.endIndex
        w.uint(UInt64(refs.count - start))
        for e in refs[start...] {
            w.int(e.time)
            w.int(Int64(e.ref))
        }
    }

    /// A list of times in clock order, none after `now`.
    static func readTimes(_ r: inout SnapshotReader, now: Int64) throws(ProjectionError) -> [Int64] {
        var previous = Int64.min
        return try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
            let t = try time(&r, now: now)
            guard t >= previous else { throw bad("a window (times out of order)") }
            previous = t
            return t
        }
    }

    static func readRefs(_ r: inout SnapshotReader, now: Int64) throws(ProjectionError) -> [TimedRef] {
        var previous = Int64.min
        return try r.array { (r: inout SnapshotReader) throws(ProjectionError) in
            let t = try time(&r, now: now)
            guard t >= previous else { throw bad("a window (times out of order)") }
            previous = t
            return TimedRef(time: t, ref: try index(&r, below: Int.max, orNone: false))
        }
    }

    static func time(_ r: inout SnapshotReader, now: Int64) throws(ProjectionError) -> Int64 {
        let t = try r.int64()
        guard t <= now else { throw bad("a time after the model's clock") }
        return t
    }

    static func nonNegative(_ r: inout SnapshotReader) throws(ProjectionError) -> Int64 {
        let v = try r.int64()
        guard v >= 0 else { throw bad("a count") }
        return v
    }

    /// An index below `bound` (and within Int32), or −1 when `orNone`.
    static func index(_ r: inout SnapshotReader, below bound: Int, orNone: Bool) throws(ProjectionError) -> Int32 {
        let v = try r.int64()
        guard (orNone ? v >= -1 : v >= 0), v < Int64(min(bound, Int(Int32.max))) else { throw bad("an index") }
        return Int32(v)
    }

    @inline(never)
    static func bad(_ what: String) -> ProjectionError {
        ProjectionError(.badSnapshot, "fraud snapshot: malformed \(what)")
    }
}
