import ChronikCommerce
import ChronikLog
@testable import ChronikProjections
import Testing

/// Proves stop 35's finding: a history whose money or stock sums leave 64
/// bits (written around the guards, or sums across orders that no guard
/// bounds) trapped the read models: every money query, `replay` and the
/// server's start died with "arithmetic overflow", for good, since the log
/// cannot change. Every model now folds and answers it, its sums held at
/// the largest (or smallest) 64-bit value.
@Suite struct OverflowTests {
    @Test func sumsBeyondSixtyFourBitsFoldAndAnswer() throws {
        var h = History()
        h.product("P1")
        h.variant("P1", "S1")
        h.receive("S1", "W1", .max)
        h.receive("S1", "W1", 5)
        h.add(.stockAdjusted(StockAdjusted(sku: "S1", warehouseId: "W2", delta: .min, reason: "count")))
        h.add(.stockAdjusted(StockAdjusted(sku: "S1", warehouseId: "W2", delta: -5, reason: "count")))
        h.place("o1", [("S1", .max, 2)])
        h.authorize("o1", .max)
        h.capture("o1", .max)
        h.authorize("o1", 5, payment: "p2")
        h.capture("o1", 5, payment: "p2")
        h.refund("o1", .max)
        h.refund("o1", 7, refund: "r2")
        h.place("o2", [("S1", 1, .max)], shippingFee: .max)
        h.authorize("o2", .max, payment: "p3")
        h.capture("o2", .max, payment: "p3")
        h.ship("o2", "sh1", [("S1", .max), ("S1", .max)])
        let day = "2024-05-02T00:00:00Z"
        h.settle(payout: "X", .charge, ref: "t1", payment: "p1", gross: .max, fee: 0, paidOutAt: day)
        h.settle(payout: "X", .charge, ref: "t2", payment: "p1", gross: 5, fee: 0, paidOutAt: day)

        let set = try h.project()
        let o1 = try #require(set.orders?.order("o1"))
        #expect(o1.captured == .max && o1.total == .max)
        #expect(set.orders?.order("o2")?.total == .max)
        let finance = try #require(set.finance?.list(day: nil))
        #expect(finance.first?.captured == .max, "\(finance)")
        let sales = set.sales?.list(day: nil) ?? []
        #expect(sales.first?.units["S1"] == .max, "\(sales)")
        #expect(set.crm?.customer("c1")?.lifetimeValue["EUR"] == .max)
        let top = set.crm?.top(10, currency: "EUR") ?? []
        #expect(top.count == 1, "\(top)")
        #expect(set.inventory?.available(sku: "S1") != nil)
        #expect(set.catalog?.product("P1") != nil)
        let p1 = try #require(set.reconciliation?.payment("p1"))
        #expect(p1.settled == .max)
        _ = set.reconciliation?.summary()
        _ = set.reconciliation?.payoutList()
        _ = set.fraud?.top(10)
        _ = set.replenishment?.suggestions()
        _ = set.campaigns?.list()
    }
}
