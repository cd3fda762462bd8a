import Foundation
import Testing
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

// Hand-computed scenarios for each rule of EVENTS.md v1.2 ("Added in
// v1.2"): reconciliation, recommendations, supply chain, settings,
// campaigns, support.

extension History {
    mutating func settle(_ gateway: String = "stripe", payout: String, _ kind: SettlementKind, ref: String,
                         payment: String? = nil, refund: String? = nil, gross: Int64, fee: Int64,
                         paidOutAt: String, currency: String = "EUR") {
        add(.settlementLineReported(SettlementLineReported(
            gateway: gateway, payoutId: payout, paidOutAt: Timestamp(rfc3339: paidOutAt)!, kind: kind,
            gatewayRef: ref, paymentId: payment, refundId: refund, gross: gross, fee: fee, net: gross - fee,
            currency: currency)))
    }

    /// An order of one line of `amount`, authorized and captured at `capturedAt` as `payment`.
    mutating func paid(_ order: String, _ amount: Int64, payment: String, capturedAt: String = "2024-05-02T12:00:00Z",
                       currency: String = "EUR") {
        place(order, [("A", 1, amount)], currency: currency)
        authorize(order, amount, payment: payment)
        at(capturedAt)
        capture(order, amount, payment: payment)
    }

    mutating func placeInSession(_ order: String, session: String?, amount: Int64, customer: String = "c1",
                                 currency: String = "EUR") {
        add(.orderPlaced(OrderPlaced(orderId: order, customerId: customer, sessionId: session,
                                     lines: [OrderLine(sku: "A", qty: 1, unitPrice: amount)], currency: currency,
                                     shippingAddress: Self.address)))
    }

    mutating func session(_ id: String, customer: String? = nil, campaign: String? = nil) {
        add(.sessionStarted(SessionStarted(sessionId: id, customerId: customer, channel: "web", campaignId: campaign)))
    }
}

@Suite struct ReconciliationTests {
    /// The scenario of the status tests (hand-computed in the comments).
    static func history() -> History {
        var h = History()
        h.paid("o1", 1000, payment: "pay-m")                         // matched
        h.paid("o2", 2000, payment: "pay-mm")                        // mismatch: settled 1990
        h.paid("o3", 500, payment: "pay-dup")                        // duplicate: two charge lines
        h.paid("o4", 700, payment: "pay-un", capturedAt: "2024-04-20T00:00:00Z")   // unsettled, overdue
        h.paid("o5", 800, payment: "pay-un2", capturedAt: "2024-05-05T00:00:00Z")  // unsettled, 5.25 days
        h.paid("o8", 900, payment: "pay-edge", capturedAt: "2024-05-03T06:00:00Z") // exactly 7 days: not overdue
        h.paid("o6", 3000, payment: "pay-rf")                        // matched with a refund settled by refundId
        h.refund("o6", 1000, refund: "rf-6", payment: "pay-rf")
        h.paid("o7", 400, payment: "pay-rfun")                       // refund not settled yet: unsettled
        h.refund("o7", 100, refund: "rf-7", payment: "pay-rfun")
        h.paid("o9", 600, payment: "pay-cb")                         // matched, with a chargeback
        // Payout P1 (stripe), 2024-05-03: gross 7490, fees 174, net 7316.
        h.at("2024-05-03T06:00:00Z")
        let p1 = "2024-05-03T06:00:00Z"
        h.settle(payout: "P1", .charge, ref: "t1", payment: "pay-m", gross: 1000, fee: 44, paidOutAt: p1)
        h.settle(payout: "P1", .charge, ref: "t2", payment: "pay-mm", gross: 1990, fee: 40, paidOutAt: p1)
        h.settle(payout: "P1", .charge, ref: "t3", payment: "pay-dup", gross: 500, fee: 10, paidOutAt: p1)
        h.settle(payout: "P1", .charge, ref: "t4", payment: "pay-rf", gross: 3000, fee: 60, paidOutAt: p1)
        h.settle(payout: "P1", .charge, ref: "t5", payment: "pay-rfun", gross: 400, fee: 8, paidOutAt: p1)
        h.settle(payout: "P1", .charge, ref: "t6", payment: "pay-cb", gross: 600, fee: 12, paidOutAt: p1)
        // Payout P2 (stripe), 2024-05-10: gross −850, fees 1515, net −2365.
        h.at("2024-05-10T06:00:00Z")
        let p2 = "2024-05-10T06:00:00Z"
        h.settle(payout: "P2", .charge, ref: "t7", payment: "pay-dup", gross: 500, fee: 10, paidOutAt: p2)
        h.settle(payout: "P2", .charge, ref: "t8", payment: "pay-unk", gross: 250, fee: 5, paidOutAt: p2)
        h.settle(payout: "P2", .refund, ref: "t9", refund: "rf-6", gross: -1000, fee: 0, paidOutAt: p2)
        h.settle(payout: "P2", .chargeback, ref: "t10", payment: "pay-cb", gross: -600, fee: 1500, paidOutAt: p2)
        // Another gateway's later payout does not make stripe payments overdue; its fee line names no payment.
        h.at("2024-06-30T06:00:00Z")
        h.settle("adyen", payout: "A1", .fee, ref: "a1", gross: 0, fee: 300, paidOutAt: "2024-06-30T06:00:00Z")
        return h
    }

    @Test func everyStatusAndOverdue() throws {
        // Proves each status in EVENTS.md's order (unknown, duplicate, mismatch, matched, unsettled), overdue
        // only past 7 days against the latest payout of the payment's own gateway, and the sums per payment.
        let r = try #require(try Self.history().project(only: ["reconciliation"]).reconciliation)
        let all = Dictionary(uniqueKeysWithValues: r.all().map { ($0.paymentId, $0) })
        #expect(all.count == 10)
        #expect(all["pay-m"]?.status == .matched)
        #expect(all["pay-m"]?.fees == 44)
        #expect(all["pay-mm"]?.status == .mismatch)
        #expect(all["pay-mm"]?.settled == 1990 && all["pay-mm"]?.captured == 2000)
        #expect(all["pay-dup"]?.status == .duplicate)
        #expect(all["pay-dup"]?.settled == 1000 && all["pay-dup"]?.fees == 20 && all["pay-dup"]?.payouts == ["P1", "P2"])
        let unknown = try #require(all["pay-unk"])
        #expect(unknown.status == .unknown && unknown.orderId == nil && unknown.currency == "EUR" && unknown.gateway == "stripe")
        #expect(all["pay-un"]?.status == .unsettled && all["pay-un"]?.overdue == true)
        #expect(all["pay-un2"]?.status == .unsettled && all["pay-un2"]?.overdue == false)
        #expect(all["pay-edge"]?.status == .unsettled && all["pay-edge"]?.overdue == false, "exactly 7 days is not more than 7")
        let rf = try #require(all["pay-rf"])
        #expect(rf.status == .matched && rf.refunded == 1000 && rf.refundSettled == 1000 && rf.fees == 60)
        let rfun = try #require(all["pay-rfun"])
        #expect(rfun.status == .unsettled && rfun.refunded == 100 && rfun.refundSettled == 0)
        #expect(rfun.overdue, "unsettled (its refund) and captured 7.75 days before the latest stripe payout")
        let cb = try #require(all["pay-cb"])
        #expect(cb.status == .matched && cb.chargebacks == 600 && cb.fees == 1512)
        for p in all.values where p.status != .unknown { #expect(p.gateway == "stripe" && p.currency == "EUR") }

        let s = r.summary()
        #expect(s.counts == [.unknown: 1, .duplicate: 1, .mismatch: 1, .matched: 3, .unsettled: 4])
        #expect(s.overdue == 2)
        #expect(s.fees == ["EUR": 174 + 1515 + 300])
        #expect(s.unattributedLines == 1)
        #expect(s.payouts == 3)
    }

    @Test func perPayoutAndPerDay() throws {
        // Proves the payout sums (gross, fees, net, lines, per currency) and fees and net per UTC day of paidOutAt.
        let r = try #require(try Self.history().project(only: ["reconciliation"]).reconciliation)
        let payouts = r.payoutList()
        #expect(payouts.map { "\($0.gateway)/\($0.payoutId)" } == ["adyen/A1", "stripe/P1", "stripe/P2"])
        let p1 = payouts[1], p2 = payouts[2]
        #expect(p1.gross == 7490 && p1.fees == 174 && p1.net == 7316 && p1.lines == 6)
        #expect(p2.gross == -850 && p2.fees == 1515 && p2.net == -2365 && p2.lines == 4)
        #expect(p2.byCurrency["EUR"] == SettlementTotals(gross: -850, fees: 1515, net: -2365, lines: 4))
        #expect(r.payouts(id: "P2") == [p2])
        let days = r.dayList().map { "\($0.day) \($0.currency) \($0.fees) \($0.net)" }
        #expect(days == ["2024-05-03 EUR 174 7316", "2024-05-10 EUR 1515 -2365", "2024-06-30 EUR 300 -300"])
    }

    @Test func refundLineBeforeItsRefundIssuedStillCounts() throws {
        // Proves a refund line naming only a refundId is resolved at the end of the log, whatever the order.
        var h = History()
        h.paid("o1", 1000, payment: "p1")
        h.settle(payout: "P1", .charge, ref: "t1", payment: "p1", gross: 1000, fee: 0, paidOutAt: "2024-05-03T00:00:00Z")
        h.settle(payout: "P1", .refund, ref: "t2", refund: "rf-1", gross: -300, fee: 0, paidOutAt: "2024-05-03T00:00:00Z")
        let before = try #require(try h.project(only: ["reconciliation"]).reconciliation)
        #expect(before.payment("p1")?.status == .matched, "the refund line belongs to no known payment yet")
        #expect(before.summary().unattributedLines == 1)
        h.refund("o1", 300, refund: "rf-1", payment: "p1")
        let after = try #require(try h.project(only: ["reconciliation"]).reconciliation)
        #expect(after.payment("p1")?.status == .matched && after.payment("p1")?.refundSettled == 300)
        #expect(after.summary().unattributedLines == 0)
    }

    @Test func aLineInAnotherCurrencyIsAMismatchWhateverComesFirst() throws {
        // Proves stop 35's finding: a USD charge line logged before its EUR order (which the guards cannot see)
        // "matched" the EUR capture, and a USD refund line before its RefundIssued matched a EUR refund. Lines in
        // another currency than the payment's order, or in several, make the payment a mismatch (Chronik's rule).
        var h = History()
        h.settle(payout: "P1", .charge, ref: "t1", payment: "p1", gross: 1000, fee: 0, paidOutAt: "2024-05-03T00:00:00Z", currency: "USD")
        h.paid("o1", 1000, payment: "p1")
        h.paid("o2", 1000, payment: "p2")
        h.settle(payout: "P1", .charge, ref: "t2", payment: "p2", gross: 1000, fee: 0, paidOutAt: "2024-05-03T00:00:00Z")
        h.settle(payout: "P1", .refund, ref: "t3", refund: "rf-2", gross: -300, fee: 0, paidOutAt: "2024-05-03T00:00:00Z", currency: "USD")
        h.refund("o2", 300, refund: "rf-2", payment: "p2")
        h.paid("o3", 1000, payment: "p3")
        h.settle(payout: "P1", .charge, ref: "t4", payment: "p3", gross: 1000, fee: 0, paidOutAt: "2024-05-03T00:00:00Z")
        let r = try #require(try h.project(only: ["reconciliation"]).reconciliation)
        #expect(r.payment("p1")?.status == .mismatch && r.payment("p1")?.currency == "EUR")
        #expect(r.payment("p2")?.status == .mismatch, "a refund line in USD for a EUR payment")
        #expect(r.payment("p3")?.status == .matched)
        // The snapshot keeps it.
        let set = try h.project(only: ["reconciliation"])
        var w = SnapshotWriter()
        set.reconciliation!.encodeSnapshot(into: &w)
        let copy = ReconciliationProjector(orders: set.orders!)
        var reader = SnapshotReader(w.bytes)
        try copy.decodeSnapshot(from: &reader)
        #expect(copy.payment("p2")?.status == .mismatch && copy.payment("p3")?.status == .matched)
    }
}

@Suite struct RecommendationTests {
    static func history() -> History {
        var h = History()
        for p in ["P1", "P2", "P3", "P4", "P5", "P6", "P7"] {
            h.product(p)
            h.variant(p, p + "-a")
            if p != "P5" { h.receive(p + "-a", "W1", 10) }     // P5: nothing available
        }
        h.add(.productDiscontinued(ProductDiscontinued(productId: "P6")))
        h.place("c1", customer: "C", [("P1-a", 1, 100)])
        h.place("c2", customer: "C", [("P2-a", 1, 100)]); h.cancel("c2")   // cancelled: P2 not bought
        h.place("x1", customer: "X", [("P1-a", 1, 100), ("P3-a", 1, 100)])
        h.place("x2", customer: "X", [("P1-a", 1, 100), ("P4-a", 1, 100)])
        h.place("x3", customer: "X", [("P1-a", 1, 100), ("P3-a", 1, 100), ("P6-a", 1, 100)])
        h.place("x4", customer: "X", [("P1-a", 1, 100), ("P5-a", 1, 100)])
        h.place("x5", customer: "X", [("P1-a", 1, 100), ("P4-a", 2, 100)]); h.cancel("x5")
        h.place("x6", customer: "X", [("P2-a", 1, 100), ("P4-a", 1, 100)])
        h.session("s1", customer: "C")
        h.add(.productViewed(ProductViewed(sessionId: "s1", productId: "P4")))
        h.add(.productViewed(ProductViewed(sessionId: "s1", productId: "P4")))   // one session, counted once
        h.add(.productViewed(ProductViewed(sessionId: "s1", productId: "P2")))
        h.session("s2", customer: "C")
        h.add(.productViewed(ProductViewed(sessionId: "s2", productId: "P4")))
        h.add(.productViewed(ProductViewed(sessionId: "s2", productId: "P1")))   // bought: never recommended
        h.add(.productViewed(ProductViewed(sessionId: "s2", productId: "P7")))
        h.session("s3")                                                          // anonymous
        h.add(.productViewed(ProductViewed(sessionId: "s3", productId: "P3")))
        h.session("s4", customer: "X")
        h.add(.productViewed(ProductViewed(sessionId: "s4", productId: "P2")))
        h.place("f1", customer: "F", [("P1-a", 1, 100)])
        h.add(.customerForgotten(CustomerForgotten(customerId: "F")))
        return h
    }

    @Test func scoresTiesAndExclusions() throws {
        // Proves score = Σ also-bought with the customer's products (non-cancelled orders) + sessions viewed,
        // without bought, discontinued (P6) or unavailable (P5) products, ties by productId, and --limit.
        let r = try #require(try Self.history().project(only: ["recommendations"]).recommendations)
        let list = r.recommendations(for: "C")
        // P4: x2 + s1 + s2 = 3; P3: x1 + x3 = 2; P2: s1 = 1; P7: s2 = 1 (tie with P2, after it).
        #expect(list.map { "\($0.productId) \($0.score)" } == ["P4 3", "P3 2", "P2 1", "P7 1"])
        #expect(list[0].boughtTogether == 1 && list[0].viewedSessions == 2)
        #expect(r.recommendations(for: "C", limit: 3).map(\.productId) == ["P4", "P3", "P2"])
        #expect(r.recommendations(for: "nobody").isEmpty)
    }

    @Test func aViewLoggedBeforeItsSessionStartedCounts() throws {
        // Proves stop 34's finding: viewed(C) is every session whose SessionStarted names C (EVENTS.md v1.2, no
        // order in the log), so a view appended before its session's SessionStarted counts; a session started
        // anonymously keeps its views waiting, before and after, and they count once a SessionStarted names C
        // (stop 37: they were dropped).
        var h = Self.history()
        h.add(.productViewed(ProductViewed(sessionId: "s9", productId: "P7")))   // before s9 started
        h.add(.productViewed(ProductViewed(sessionId: "s9", productId: "P7")))
        h.add(.productViewed(ProductViewed(sessionId: "s8", productId: "P3")))   // s8 starts anonymous
        h.session("s9", customer: "C")
        h.session("s8")
        let r = try #require(try h.project(only: ["recommendations"]).recommendations)
        // P7: s2 + s9 = 2 (was 1); P3 unchanged (s8 is anonymous).
        #expect(r.recommendations(for: "C").map { "\($0.productId) \($0.score)" } == ["P4 3", "P3 2", "P7 2", "P2 1"])
        #expect(r.pending == ["s3": ["P3"], "s8": ["P3"]], "\(r.pending)")
        // s8 named C later (a login): its views before and after count; s3 (anonymous) still waits.
        h.add(.productViewed(ProductViewed(sessionId: "s8", productId: "P2")))
        h.session("s8", customer: "C")
        let named = try #require(try h.project(only: ["recommendations"]).recommendations)
        #expect(named.recommendations(for: "C").map { "\($0.productId) \($0.score)" } == ["P3 3", "P4 3", "P2 2", "P7 2"])
        #expect(named.pending == ["s3": ["P3"]], "\(named.pending)")
    }

    @Test func forgottenCustomerGetsNone() throws {
        // Proves a customer with CustomerForgotten gets no recommendations although its order scores products.
        var h = Self.history()
        h.place("f2", customer: "F2", [("P1-a", 1, 100)])
        let before = try #require(try h.project(only: ["recommendations"]).recommendations)
        #expect(!before.recommendations(for: "F2").isEmpty)
        #expect(before.recommendations(for: "F").isEmpty)
    }
}

@Suite struct SupplyChainTests {
    static func history() -> History {
        var h = History()
        h.at("2024-04-30T00:00:00Z")
        h.add(.supplierRegistered(SupplierRegistered(supplierId: "S1", name: "Alpha", leadTimeDays: 5)))
        h.add(.supplierRegistered(SupplierRegistered(supplierId: "S1", name: "Alpha GmbH", leadTimeDays: 7)))
        func po(_ id: String, _ supplier: String, placed: String, expected: String, _ lines: [(String, Int64)]) -> History {
            var x = h
            x.at(placed)
            x.add(.purchaseOrderPlaced(PurchaseOrderPlaced(
                purchaseOrderId: id, supplierId: supplier, warehouseId: "W1",
                lines: lines.map { PurchaseOrderLine(sku: $0.0, qty: $0.1, unitCost: 100) }, currency: "EUR",
                expectedAt: Timestamp(rfc3339: expected)!)))
            return x
        }
        h = po("PO1", "S1", placed: "2024-05-01T00:00:00Z", expected: "2024-05-06T00:00:00Z", [("A", 10)])
        h = po("PO2", "S1", placed: "2024-05-02T00:00:00Z", expected: "2024-05-04T00:00:00Z", [("A", 4)])
        h = po("PO3", "S1", placed: "2024-05-03T00:00:00Z", expected: "2024-05-20T00:00:00Z", [("A", 5), ("B", 3)])
        h = po("PO4", "S2", placed: "2024-05-03T00:00:00Z", expected: "2024-05-08T00:00:00Z", [("A", 2)])
        h.at("2024-05-05T12:00:00Z")
        h.add(.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: "PO1")))   // on time, 4.5 days
        h.at("2024-05-06T01:00:00Z")
        h.add(.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: "PO2")))   // late, 4.0417 days
        h.at("2024-05-09T00:00:00Z")
        h.add(.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: "PO1")))   // again: ignored
        h.at("2024-05-10T00:00:00Z")
        h.add(.pageViewed(PageViewed(sessionId: "s1", path: "/")))                     // the log's latest time
        return h
    }

    @Test func lateAndOpenPurchaseOrders() throws {
        // Proves placedAt, receivedAt (the first receipt), open, and late: received after expectedAt, or open
        // and the log's latest event time after expectedAt.
        let s = try #require(try Self.history().project(only: ["supply-chain"]).supplyChain)
        let all = s.purchaseOrderList()
        #expect(all.map(\.purchaseOrderId) == ["PO1", "PO2", "PO3", "PO4"])
        #expect(all.map(\.late) == [false, true, false, true])
        #expect(all.map(\.open) == [false, false, true, true])
        #expect(all[0].receivedAt == Timestamp(rfc3339: "2024-05-05T12:00:00Z"))
        #expect(all[0].placedAt == Timestamp(rfc3339: "2024-05-01T00:00:00Z"))
        #expect(s.purchaseOrderList(openOnly: true).map(\.purchaseOrderId) == ["PO3", "PO4"])
        #expect(s.purchaseOrderList(openOnly: true, supplierId: "S1").map(\.purchaseOrderId) == ["PO3"])
    }

    @Test func supplierFigures() throws {
        // Proves the latest registration's name and lead time, open/received counts, onTimeRate, the mean lead
        // in days rounded to 2 decimals, units on order from open orders, and nulls for a supplier with none received.
        let s = try #require(try Self.history().project(only: ["supply-chain"]).supplyChain)
        let list = s.supplierList()
        #expect(list.map(\.supplierId) == ["S1", "S2"])
        let s1 = list[0]
        #expect(s1.name == "Alpha GmbH" && s1.leadTimeDays == 7)
        #expect(s1.openOrders == 1 && s1.receivedOrders == 2)
        #expect(s1.onTimeRate == 0.5)
        #expect(s1.averageLeadDays == 4.27)   // (4.5 + 4.041667) / 2 = 4.2708
        #expect(s1.unitsOnOrder == [UnitsOnOrder(sku: "A", warehouseId: "W1", qty: 5), UnitsOnOrder(sku: "B", warehouseId: "W1", qty: 3)])
        let s2 = list[1]
        #expect(s2.name == nil && s2.openOrders == 1 && s2.receivedOrders == 0 && s2.onTimeRate == nil && s2.averageLeadDays == nil)
    }
}

@Suite struct SettingsTests {
    @Test func valueAsOfATime() throws {
        // Proves the latest change per key (log order, not time), changes, and --at: between two changes, exactly
        // at one, before any (absent), and a change logged later with an earlier time.
        var h = History()
        func set(_ k: String, _ v: String, _ actor: String, _ t: String) {
            h.at(t)
            h.add(.settingChanged(SettingChanged(key: k, value: v, actor: actor)))
        }
        set("k1", "a", "u1", "2024-05-01T10:00:00Z")
        set("k2", "x", "u1", "2024-05-02T00:00:00Z")
        set("k1", "b", "u2", "2024-05-03T10:00:00Z")
        set("k3", "v1", "u1", "2024-05-05T00:00:00Z")
        set("k3", "v2", "u3", "2024-05-04T00:00:00Z")
        let s = try #require(try h.project(only: ["settings"]).settings)
        let now = s.list()
        #expect(now.map { "\($0.key)=\($0.value) \($0.actor) \($0.changes)" } == ["k1=b u2 2", "k2=x u1 1", "k3=v2 u3 2"])
        #expect(s.setting("k1")?.changedAt == Timestamp(rfc3339: "2024-05-03T10:00:00Z"))
        func at(_ t: String) -> [String] { s.list(at: Timestamp(rfc3339: t)!).map { "\($0.key)=\($0.value)/\($0.changes)" } }
        #expect(at("2024-05-02T12:00:00Z") == ["k1=a/1", "k2=x/1"])
        #expect(at("2024-05-03T10:00:00Z") == ["k1=b/2", "k2=x/1"])
        #expect(at("2024-04-30T00:00:00Z") == [])
        #expect(at("2024-05-04T12:00:00Z") == ["k1=b/2", "k2=x/1", "k3=v2/1"])
        #expect(at("2024-05-06T00:00:00Z") == ["k1=b/2", "k2=x/1", "k3=v2/2"])
    }
}

@Suite struct CampaignTests {
    @Test func attributionThroughSessions() throws {
        // Proves an order is attributed through its session's campaign (cancelled ones counted, revenue 0),
        // revenue per currency, conversionRate and roas rounded to 4 decimals, null roas for a 0 budget,
        // null conversion without sessions, and the top campaign.
        var h = History()
        func launch(_ id: String, budget: Int64) {
            h.add(.campaignLaunched(CampaignLaunched(campaignId: id, name: "N-" + id, channel: "email", budget: budget, currency: "EUR")))
        }
        launch("cmp-a", budget: 10_000)
        launch("cmp-b", budget: 0)
        launch("cmp-c", budget: 5000)
        h.session("s1", customer: "c1", campaign: "cmp-a")
        h.session("s2", campaign: "cmp-a")
        for s in ["s3", "s5", "s6"] { h.session(s, campaign: "cmp-b") }
        h.session("s4")
        h.placeInSession("o1", session: "s1", amount: 3000)
        h.authorize("o1", 3000, payment: "p1"); h.capture("o1", 3000, payment: "p1"); h.refund("o1", 500, payment: "p1")
        h.placeInSession("o2", session: "s2", amount: 700); h.cancel("o2")
        h.placeInSession("o3", session: "s4", amount: 900)
        h.authorize("o3", 900, payment: "p3"); h.capture("o3", 900, payment: "p3")
        h.placeInSession("o4", session: "s3", amount: 1000)
        h.authorize("o4", 1000, payment: "p4"); h.capture("o4", 1000, payment: "p4")
        h.placeInSession("o5", session: "s1", amount: 2000, currency: "SEK")
        h.authorize("o5", 2000, payment: "p5"); h.capture("o5", 2000, payment: "p5")
        let c = try #require(try h.project(only: ["campaigns"]).campaigns)
        let list = c.list()
        #expect(list.map(\.campaignId) == ["cmp-a", "cmp-b", "cmp-c"])
        let a = list[0], b = list[1], cc = list[2]
        #expect(a.sessions == 2 && a.orders == 3 && a.revenue == ["EUR": 2500, "SEK": 2000])
        #expect(a.conversionRate == 1.5 && a.roas == 0.25)
        #expect(b.sessions == 3 && b.orders == 1 && b.revenue == ["EUR": 1000] && b.conversionRate == 0.3333 && b.roas == nil)
        #expect(cc.sessions == 0 && cc.orders == 0 && cc.conversionRate == nil && cc.roas == 0)
        #expect(c.top()?.campaignId == "cmp-a")
    }
}

@Suite struct SupportTests {
    @Test func contactsPerOrderAndChannelsPerCustomer() throws {
        // Proves an order's SupportInteraction events in log order (channel, time) and the counts per channel.
        var h = History()
        func contact(_ c: String, _ o: String?, _ ch: SupportChannel, _ t: String) {
            h.at(t)
            h.add(.supportInteraction(SupportInteraction(customerId: c, orderId: o, channel: ch, summary: "s")))
        }
        contact("c1", "o1", .chat, "2024-05-02T00:00:00Z")
        contact("c1", "o1", .email, "2024-05-01T00:00:00Z")
        contact("c1", nil, .phone, "2024-05-03T00:00:00Z")
        contact("c2", "o2", .chat, "2024-05-03T00:00:00Z")
        contact("c1", "o3", .chat, "2024-05-04T00:00:00Z")
        let s = try #require(try h.project(only: ["support"]).support)
        #expect(s.contacts(order: "o1").map { "\($0.channel) \($0.time)" } == ["chat 2024-05-02T00:00:00Z", "email 2024-05-01T00:00:00Z"])
        #expect(s.channels(customer: "c1") == [.chat: 2, .email: 1, .phone: 1])
        #expect(s.channels(customer: "nobody") == [.chat: 0, .email: 0, .phone: 0])
    }
}

@Suite struct DomainSnapshotTests {
    @Test func newModelsSurviveTheirSnapshot() throws {
        // Proves each new model encodes to a snapshot that decodes to the same bytes and the same answers.
        var h = ReconciliationTests.history()
        h.events += RecommendationTests.history().events
        h.events += SupplyChainTests.history().events
        h.events = h.events.enumerated().map { ProjectedEvent(position: Position(UInt64($0.offset)), occurredAt: $0.element.occurredAt, event: $0.element.event) }
        let names = ["reconciliation", "recommendations", "supply-chain", "settings", "campaigns", "support"]
        let set = try h.project()
        let bytes = set.snapshotBytes()
        let fresh = try Projections.standard()
        for p in fresh.projectors {
            var r = SnapshotReader(bytes[p.name]!)
            try p.decodeSnapshot(from: &r)
            #expect(r.isAtEnd, "\(p.name)")
        }
        let again = fresh.snapshotBytes()
        for n in names { #expect(again[n] == bytes[n], "\(n)") }
        #expect(fresh.reconciliation?.all() == set.reconciliation?.all())
        #expect(fresh.reconciliation?.summary() == set.reconciliation?.summary())
        #expect(fresh.recommendations?.recommendations(for: "C") == set.recommendations?.recommendations(for: "C"))
        #expect(fresh.supplyChain?.supplierList() == set.supplyChain?.supplierList())
        #expect(fresh.supplyChain?.purchaseOrderList() == set.supplyChain?.purchaseOrderList())
    }
}

@Suite struct DomainLiveTests {
    @Test func liveProjectionsFoldSettlementLines() async throws {
        // Proves the live projections hold the v1.2 models: a settlement line appended through the commerce API
        // turns a captured payment from unsettled to matched once its position is applied, and a full replay agrees.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = ReconciliationTests.history()
        let log = try await makeLog(h.events.map { ($0.occurredAt, $0.event) }, at: path)
        let live = try LiveProjections.start(log: log)
        defer { live.stop() }
        #expect(live.read { $0.reconciliation?.payment("pay-un2")?.status } == .unsettled)
        let store = CommerceStore(log: log)
        let r = try await store.append(.settlementLineReported(SettlementLineReported(
            gateway: "stripe", payoutId: "P3", paidOutAt: Timestamp(rfc3339: "2024-05-11T06:00:00Z")!, kind: .charge,
            gatewayRef: "t11", paymentId: "pay-un2", gross: 800, fee: 10, net: 790, currency: "EUR")),
            time: Timestamp(rfc3339: "2024-05-11T06:00:00Z")!)
        try await live.waitUntil(r.lastPosition)
        #expect(live.read { $0.reconciliation?.payment("pay-un2")?.status } == .matched)
        let replayed = try Replayer.rebuild(log, useSnapshots: false).set
        #expect(live.read { $0.snapshotBytes() } == replayed.snapshotBytes())
    }
}
