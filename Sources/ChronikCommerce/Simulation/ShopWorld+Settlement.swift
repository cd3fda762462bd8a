// The simulated gateways' payouts (EVENTS.md v1.2): every day each gateway
// pays out the captures and refunds of its payments that are two days old,
// line by line with fees, a few chargebacks, and a small share of
// deliberate discrepancies so that reconciliation has something to find:
// a missing line (never settled), a wrong amount, a line for a payment
// the shop does not know, and a capture settled twice.

/// What the gateways still owe a payout line for.
struct SettlementBook {
    struct Item {
        var paymentId: String
        var refundId: String?
        var kind: SettlementKind
        var amount: Int64
        var currency: String
        /// When it was captured or refunded (µs).
        var at: Int64
    }

    /// paymentId → (gateway, currency), from PaymentAuthorized.
    var payments: [String: (gateway: String, currency: String)] = [:]
    /// orderId → currency, from OrderPlaced.
    var orderCurrency: [String: String] = [:]
    /// Per gateway, the items not paid out yet, in the order they happened.
    var pending: [String: [Item]] = [:]

    /// Records what a gateway will settle, as the events are emitted.
    mutating func note(_ e: CommerceEvent, at time: Int64) {
        switch e {
        case .orderPlaced(let o):
            orderCurrency[o.orderId] = o.currency
        case .paymentAuthorized(let a):
            if let c = orderCurrency[a.orderId] { payments[a.paymentId] = (a.gateway, c) }
        case .paymentCaptured(let c):
            guard let p = payments[c.paymentId] else { return }
            pending[p.gateway, default: []].append(Item(paymentId: c.paymentId, kind: .charge, amount: c.amount,
                                                        currency: p.currency, at: time))
        case .refundIssued(let r):
            guard let p = payments[r.paymentId] else { return }
            pending[p.gateway, default: []].append(Item(paymentId: r.paymentId, refundId: r.refundId,
                                                        kind: r.reason == "chargeback" ? .chargeback : .refund,
                                                        amount: r.amount, currency: p.currency, at: time))
        default:
            break
        }
    }
}

extension ShopWorld {
    /// Days a gateway waits before paying out a capture or refund.
    static let settlementDelayDays: Int64 = 2

    /// One payout per gateway with items due, gateways in name order.
    func payout() throws {
        for gateway in settlement.pending.keys.sorted() {
            let items = settlement.pending[gateway]!
            let cutoff = now - Self.settlementDelayDays * day
            let due = items.filter { $0.at <= cutoff }
            guard !due.isEmpty else { continue }
            settlement.pending[gateway] = items.filter { $0.at > cutoff }
            let payoutId = "po-" + String(next("payout"))
            let paidOutAt = Timestamp(microseconds: now)
            var lines: [CommerceEvent] = []
            func line(_ kind: SettlementKind, _ item: SettlementBook.Item, gross: Int64, fee: Int64) {
                let ref = gateway.prefix(2) + "-" + String(next("settlement-line"))
                // Adyen's report names a refund by its refundId only.
                let paymentId = gateway == "adyen" && kind == .refund ? nil : item.paymentId
                lines.append(.settlementLineReported(SettlementLineReported(
                    gateway: gateway, payoutId: payoutId, paidOutAt: paidOutAt, kind: kind, gatewayRef: String(ref),
                    paymentId: paymentId, refundId: item.refundId, gross: gross, fee: fee, net: gross - fee,
                    currency: item.currency)))
            }
            for item in due {
                // A missing line: the gateway never settles this one.
                if rng.chance(0.015) { continue }
                switch item.kind {
                case .charge:
                    var gross = item.amount
                    // A wrong amount, a little short.
                    if rng.chance(0.01) { gross = max(1, gross - Int64(1 + rng.below(500))) }
                    let fee = Self.fee(gross)
                    line(.charge, item, gross: gross, fee: fee)
                    // The same capture settled twice.
                    if rng.chance(0.01) { line(.charge, item, gross: gross, fee: fee) }
                case .refund:
                    line(.refund, item, gross: -item.amount, fee: 0)
                case .chargeback:
                    line(.chargeback, item, gross: -item.amount, fee: 1500)
                case .fee, .adjustment:
                    break
                }
            }
            // Now and then a line for a payment the shop does not know.
            if rng.chance(0.1), let any = due.first {
                var stranger = any
                stranger.paymentId = "pay-ext-" + String(next("external-payment"))
                stranger.refundId = nil
                let gross = Int64(500 + rng.below(20_000))
                line(.charge, stranger, gross: gross, fee: Self.fee(gross))
            }
            try emit(lines)
        }
    }

    /// A card-like fee: 1.4 % + 0.25, rounded down.
    static func fee(_ gross: Int64) -> Int64 { gross * 14 / 1000 + 25 }
}
