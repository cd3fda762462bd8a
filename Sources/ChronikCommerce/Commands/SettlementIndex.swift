// "A gatewayRef appears once per gateway: the same line again with the
// same content is an idempotent no-op, with other content an error"
// (EVENTS.md v1.2). The lines of one gateway are spread over its payout
// streams, so the rule needs an index across streams: every
// SettlementLineReported of the log by (gateway, gatewayRef), kept up to
// date by scanning only what was appended since the last look.

import Synchronization

/// The settlement lines of a log by (gateway, gatewayRef).
///
/// Like the forgotten-customer rule, this is checked, not locked: a line
/// appended by another process between the check and the append is not
/// seen (the CLI holds the log's writer lock, so it cannot happen there).
public final class SettlementIndex: Sendable {
    /// Where a line is and its stored data (the content compared).
    public struct Entry: Sendable, Hashable {
        public var position: Position
        public var data: [UInt8]
    }

    /// What a proposed line is, against the log.
    public enum Verdict: Sendable, Hashable {
        /// No line of the gateway has this gatewayRef.
        case new
        /// The same line is in the log already: appending it is a no-op.
        case same(Position)
    }

    private struct State {
        var scannedTo: Position = .start
        var lines: [String: Entry] = [:]
        /// What a line's currency is checked against (stop 34).
        var payments = PaymentCurrencies()
    }

    /// What a refresh found: lines by key, and the payments' currencies.
    private struct Found {
        var lines: [(String, Entry)] = []
        var payments = PaymentCurrencies()
    }

    /// The types a refresh decodes.
    static let indexedTypes: Set<String> = [SettlementLineReported.typeName, OrderPlaced.typeName,
                                            PaymentAuthorized.typeName, RefundIssued.typeName]

    private let state = Mutex(State())

    public init() {}

    static func key(_ gateway: String, _ gatewayRef: String) -> String { gateway + "\u{0}" + gatewayRef }

    /// Brings the index up to the log's head (reads only new events).
    public func refresh(_ log: EventLog) throws {
        let from = state.withLock { $0.scannedTo }
        var found = Found()
        var end = from
        try log.scan(from: from) { view in
            end = Position(view.position.value + 1)
            guard Self.indexedTypes.contains(view.type) else { return }
            try Self.note(type: view.type, data: Array(view.data), at: view.position, in: &found)
        }
        record(found, scannedFrom: from, to: end)
    }

    /// Brings the index up to the head of any store: a local log is
    /// scanned in place (no copy of the events that are not settlement
    /// lines), another store read in pages of `pageSize`.
    public func refresh(reading store: any EventStore) async throws {
        if let log = store as? EventLog { return try refresh(log) }
        let from = state.withLock { $0.scannedTo }
        var found = Found()
        var end = from
        while true {
            let page = try await store.readAll(from: end, limit: Self.pageSize)
            for e in page {
                end = Position(e.position.value + 1)
                if Self.indexedTypes.contains(e.type) { try Self.note(type: e.type, data: e.data, at: e.position, in: &found) }
            }
            if page.count < Self.pageSize { break }
        }
        record(found, scannedFrom: from, to: end)
    }

    /// Events read per round trip from a store other than a local log.
    static let pageSize = 4096

    private static func note(type: String, data: [UInt8], at position: Position, in found: inout Found) throws {
        let event = try CommerceEvent.decode(type: type, data: data)
        if case .settlementLineReported(let l) = event {
            found.lines.append((key(l.gateway, l.gatewayRef), Entry(position: position, data: data)))
        } else {
            found.payments.note(event)
        }
    }

    private func record(_ found: Found, scannedFrom from: Position, to end: Position) {
        state.withLock { s in
            guard s.scannedTo == from else { return } // another caller refreshed meanwhile
            for (k, e) in found.lines where s.lines[k] == nil { s.lines[k] = e }
            s.payments.merge(found.payments)
            s.scannedTo = end
        }
    }

    /// Refuses a line in another currency than its payment's (the order's:
    /// "Payments and refunds are in the order's currency", EVENTS.md):
    /// a gateway settles a payment in the currency it was taken in, and a
    /// line in another would be summed into the payment's settled amount
    /// as if it were in the payment's (stop 34: a USD line "matched" a EUR
    /// capture). The payment is looked up in `input` (the events of an
    /// import before the line), then in the log; a line whose payment is
    /// in neither is not checked.
    ///
    /// A line naming both a paymentId and a refundId whose RefundIssued is
    /// of another payment is refused as well (stop 35: it was booked to the
    /// payment it named, and the refund's own payment never settled).
    ///
    /// - Returns: whether the line's payment and its order were found (in
    ///   `input` or the log), so that the currency was checked.
    @discardableResult
    public func checkCurrency(_ line: SettlementLineReported, input: PaymentCurrencies = PaymentCurrencies()) throws(CommerceError) -> Bool {
        if let payment = line.paymentId, let refund = line.refundId {
            let owners = state.withLock { s in Set(input.refundPayments[refund, default: []] + s.payments.refundPayments[refund, default: []]) }
            if !owners.isEmpty, !owners.contains(payment) {
                throw CommerceError(.invalidId, field: "data.refundId",
                                    "\(line.gateway) line \(line.gatewayRef) names payment \(payment) and refund \(refund), but refund \(refund) is of payment \(owners.sorted().joined(separator: ", ")) (RefundIssued)")
            }
        }
        guard let found = state.withLock({ s in input.currency(of: line, else: s.payments) }) else { return false }
        guard found.currency != line.currency else { return true }
        throw CommerceError(.invalidCurrency, field: "data.currency",
                            "\(line.gateway) line \(line.gatewayRef) is in \(line.currency) but payment \(found.payment) is in \(found.currency) (order \(found.order)): a gateway settles a payment in its currency")
    }

    /// Decides one line against the log (after `refresh`).
    ///
    /// - Throws: `duplicateGatewayRef` when the gateway reported the
    ///   gatewayRef with other content.
    public func verdict(_ line: SettlementLineReported, data: [UInt8]) throws(CommerceError) -> Verdict {
        guard let e = state.withLock({ $0.lines[Self.key(line.gateway, line.gatewayRef)] }) else { return .new }
        guard e.data == data else {
            throw CommerceError(.duplicateGatewayRef, field: "data.gatewayRef",
                                "\(line.gateway) already reported gatewayRef \(line.gatewayRef) (position \(e.position)) with other content")
        }
        return .same(e.position)
    }
}

/// Each order's currency, the order of each payment and the payment of
/// each refund: what a settlement line's currency is checked against. The
/// first of each wins, as the guards keep it (a second OrderPlaced of an
/// order is refused; the first is the order).
public struct PaymentCurrencies: Sendable {
    var orderCurrency: [String: String] = [:]
    var paymentOrder: [String: String] = [:]
    /// Every payment a RefundIssued with the refundId named, the first first
    /// (EVENTS.md does not make refundIds unique across orders).
    var refundPayments: [String: [String]] = [:]

    public init() {}

    /// Notes what `event` says of an order's currency, a payment's order or
    /// a refund's payment.
    public mutating func note(_ event: CommerceEvent) {
        switch event {
        case .orderPlaced(let o): if orderCurrency[o.orderId] == nil { orderCurrency[o.orderId] = o.currency }
        case .paymentAuthorized(let p): if paymentOrder[p.paymentId] == nil { paymentOrder[p.paymentId] = p.orderId }
        case .refundIssued(let r):
            if refundPayments[r.refundId]?.contains(r.paymentId) != true { refundPayments[r.refundId, default: []].append(r.paymentId) }
        default: break
        }
    }

    mutating func merge(_ other: PaymentCurrencies) {
        orderCurrency.merge(other.orderCurrency) { old, _ in old }
        paymentOrder.merge(other.paymentOrder) { old, _ in old }
        refundPayments.merge(other.refundPayments) { old, new in old + new.filter { !old.contains($0) } }
    }

    /// The payment of `line`, its order and the order's currency, each
    /// step looked up here and then in `other`; nil when one is unknown.
    func currency(of line: SettlementLineReported, else other: PaymentCurrencies) -> (payment: String, order: String, currency: String)? {
        let payment = line.paymentId ?? line.refundId.flatMap { refundPayments[$0]?.first ?? other.refundPayments[$0]?.first }
        guard let payment, let order = paymentOrder[payment] ?? other.paymentOrder[payment],
              let currency = orderCurrency[order] ?? other.orderCurrency[order] else { return nil }
        return (payment, order, currency)
    }
}
