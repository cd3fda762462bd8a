import ChronikTestSupport
import Testing
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

// One crafted scenario per rule of EVENTS.md ("Read-model semantics" and
// "Precise rules → Read models"); every expected value is computed by hand
// in the comments.

@Suite struct OrdersModelTests {
    @Test func totalIsLinesMinusDiscountPlusShipping() throws {
        // Proves total = Σ qty × unitPrice − discount + shippingFee.
        var h = History()
        h.place("o1", [("A", 2, 1500), ("B", 1, 999)], discount: 500, shippingFee: 499)
        let o = try #require(try h.project(only: ["orders"]).orders?.order("o1"))
        #expect(o.total == 3000 + 999 - 500 + 499)  // 3998
    }

    @Test func financialStatusChecksInOrder() throws {
        // Proves each financialStatus value, and that the checks run in
        // EVENTS.md's order (the first that holds wins).
        var h = History()
        h.place("voided", [("A", 1, 1000)]); h.authorize("voided", 1000); h.cancel("voided")
        h.place("cancelledPaid", [("A", 1, 1000)]); h.authorize("cancelledPaid", 1000); h.capture("cancelledPaid", 1000)
        h.cancel("cancelledPaid")                         // captured > 0: not voided → paid
        h.place("refunded", [("A", 1, 1000)]); h.authorize("refunded", 1000); h.capture("refunded", 500)
        h.refund("refunded", 500)                         // refunded ≥ captured > 0
        h.place("partRefunded", [("A", 1, 1000)]); h.authorize("partRefunded", 1000); h.capture("partRefunded", 1000)
        h.refund("partRefunded", 300)
        h.place("paid", [("A", 1, 1000)]); h.authorize("paid", 1000); h.capture("paid", 600, payment: "p1")
        h.authorize("paid", 400, payment: "p2"); h.capture("paid", 400, payment: "p2")
        h.place("free", [("A", 1, 0)])                    // total 0: paid at once
        h.place("partPaid", [("A", 1, 1000)]); h.authorize("partPaid", 1000); h.capture("partPaid", 400)
        h.place("authorized", [("A", 1, 1000)]); h.fail("authorized", 1000, payment: "p0")
        h.authorize("authorized", 1000); h.fail("authorized", 1000, payment: "p2")  // any authorization wins over failed
        h.place("failed", [("A", 1, 1000)]); h.fail("failed", 1000)
        h.place("pending", [("A", 1, 1000)])
        h.place("voidedRefunded", [("A", 1, 1000)]); h.cancel("voidedRefunded")
        let orders = try #require(try h.project(only: ["orders"]).orders)
        let expected: [String: FinancialStatus] = [
            "voided": .voided, "cancelledPaid": .paid, "refunded": .refunded, "partRefunded": .partiallyRefunded,
            "paid": .paid, "free": .paid, "partPaid": .partiallyPaid, "authorized": .authorized, "failed": .failed,
            "pending": .pending, "voidedRefunded": .voided,
        ]
        for (id, status) in expected {
            #expect(orders.order(id)?.financialStatus == status, "order \(id)")
        }
        #expect(orders.order("paid")?.captured == 1000)
        #expect(orders.order("partRefunded")?.refunded == 300)
    }

    @Test func refundIsNotAPaymentEventForFailed() throws {
        // Proves RefundIssued does not count as "the last payment event": a
        // failure followed by a refund (raw log) still reads failed, and a
        // failure followed by a capture reads partially paid.
        var h = History()
        h.place("o1", [("A", 1, 1000)]); h.fail("o1", 1000)
        h.place("o2", [("A", 1, 1000)]); h.fail("o2", 1000); h.capture("o2", 100)
        let orders = try #require(try h.project(only: ["orders"]).orders)
        #expect(orders.order("o1")?.financialStatus == .failed)
        #expect(orders.order("o2")?.financialStatus == .partiallyPaid)
    }

    @Test func fulfillmentPerSKUWithPartialShipmentsAndDeliveries() throws {
        // Proves quantities compare per SKU (two lines of A add up to 3),
        // partial → shipped → delivered only when every shipment is
        // delivered, and returns are reported but not subtracted.
        var h = History()
        h.place("o1", [("A", 2, 100), ("B", 1, 100), ("A", 1, 100)])
        var states: [FulfillmentStatus] = []
        func status(_ h: History) throws -> FulfillmentStatus {
            try #require(try h.project(only: ["orders"]).orders?.order("o1")).fulfillmentStatus
        }
        states.append(try status(h))                       // nothing shipped
        h.ship("o1", "s1", [("A", 2)])
        states.append(try status(h))                       // A 2 of 3
        h.ship("o1", "s2", [("A", 1), ("B", 1)])
        states.append(try status(h))                       // all shipped
        h.deliver("o1", "s1")
        states.append(try status(h))                       // s2 not delivered
        h.deliver("o1", "s2")
        states.append(try status(h))
        h.add(.returnReceived(ReturnReceived(orderId: "o1", returnId: "ret1", warehouseId: "W1",
                                             lines: [ShipmentLine(sku: "A", qty: 1)])))
        states.append(try status(h))                       // returns not subtracted
        #expect(states == [.unfulfilled, .partial, .shipped, .shipped, .delivered, .delivered])
        let o = try #require(try h.project(only: ["orders"]).orders?.order("o1"))
        #expect(o.returned == ["A": 1])
        #expect(o.shipped == ["A": 3, "B": 1])
    }

    @Test func cancelledWinsAndDeliveredNeedsAShipment() throws {
        // Proves `cancelled` comes first and that a delivery of an unknown
        // shipment does not make an unshipped order delivered.
        var h = History()
        h.place("o1", [("A", 1, 100)]); h.cancel("o1")
        h.place("o2", [("A", 1, 100)]); h.deliver("o2", "nope")
        let orders = try #require(try h.project(only: ["orders"]).orders)
        #expect(orders.order("o1")?.fulfillmentStatus == .cancelled)
        #expect(orders.order("o2")?.fulfillmentStatus == .unfulfilled)
    }

    @Test func eventsOfAnOrderNeverPlacedAreCountedNotFolded() throws {
        // Proves an orphan capture (raw log) creates no order, reaches no
        // finance figure, is counted by type, and does not stop the replay.
        var h = History()
        h.capture("ghost", 500)
        h.cancel("ghost")
        h.place("o1", [("A", 1, 100)])
        h.place("o1", [("B", 9, 100)])                     // repeated id: ignored
        let set = try h.project()
        #expect(set.orders?.order("ghost") == nil)
        #expect(set.orders?.ignoredEvents == ["PaymentCaptured": 1, "OrderCancelled": 1, "OrderPlaced": 1])
        #expect(set.orders?.order("o1")?.lines.map(\.sku) == ["A"])
        #expect(set.finance?.list().isEmpty == true)
        #expect(set.crm?.customer("c1")?.orders == 1)
    }

    @Test func listFiltersByCustomerAndStatusInLogOrder() throws {
        // Proves `orders --customer/--status` filtering (either status field).
        var h = History()
        h.place("o2", customer: "c1", [("A", 1, 100)])
        h.place("o1", customer: "c2", [("A", 1, 100)])
        h.place("o3", customer: "c1", [("A", 1, 100)]); h.cancel("o3")
        let orders = try #require(try h.project(only: ["orders"]).orders)
        #expect(orders.list(customerId: "c1").map(\.orderId) == ["o2", "o3"])
        #expect(orders.list(status: "cancelled").map(\.orderId) == ["o3"])
        #expect(orders.list(status: "pending").map(\.orderId) == ["o2", "o1"])
    }
}

@Suite struct InventoryModelTests {
    @Test func onHandReservedAvailableAndTransfers() throws {
        // Proves the onHand / reserved / available sums, a transfer moving
        // stock between warehouses, and that OrderShipped moves nothing.
        var h = History()
        h.receive("S", "W1", 10)
        h.add(.stockReserved(StockReserved(sku: "S", warehouseId: "W1", qty: 3, orderId: "o1")))
        h.add(.stockReleased(StockReleased(sku: "S", warehouseId: "W1", qty: 1, orderId: "o1")))
        h.add(.stockShipped(StockShipped(sku: "S", warehouseId: "W1", qty: 2, orderId: "o1")))
        h.add(.stockReturned(StockReturned(sku: "S", warehouseId: "W1", qty: 1, orderId: "o1")))
        h.add(.stockAdjusted(StockAdjusted(sku: "S", warehouseId: "W1", delta: -2, reason: "damage")))
        h.add(.stockTransferred(StockTransferred(sku: "S", fromWarehouseId: "W1", toWarehouseId: "W2", qty: 4)))
        h.ship("o1", "s1", [("S", 5)])                    // moves no stock
        let inv = try #require(try h.project(only: ["inventory"]).inventory)
        // W1: onHand 10 + 1 − 2 − 2 − 4 = 3; reserved 3 − 1 − 2 = 0.
        #expect(inv.level(sku: "S", warehouseId: "W1") ==
                StockLevel(sku: "S", warehouseId: "W1", onHand: 3, reserved: 0, reorderPoint: nil, reorderQty: nil))
        #expect(inv.level(sku: "S", warehouseId: "W2")?.onHand == 4)
        #expect(inv.available(sku: "S") == 7)
    }

    @Test func lowUsesTheLatestReorderPoint() throws {
        // Proves low = a reorder point set there and available ≤ point,
        // with the latest ReorderPointSet winning, per warehouse.
        var h = History()
        h.receive("S", "W1", 3)
        h.receive("S", "W2", 4)
        h.receive("T", "W1", 1)                            // no reorder point: never low
        h.reorderPoint("S", "W1", point: 1, qty: 5)
        h.reorderPoint("S", "W1", point: 3, qty: 10)       // latest: 3 ≤ 3 → low
        h.reorderPoint("S", "W2", point: 3, qty: 10)       // 4 > 3
        let inv = try #require(try h.project(only: ["inventory"]).inventory)
        let low = inv.levels(lowOnly: true)
        #expect(low.map { "\($0.sku)/\($0.warehouseId)" } == ["S/W1"])
        #expect(low.first?.reorderQty == 10)
        #expect(inv.levels(warehouseId: "W1").map(\.sku) == ["S", "T"])
        #expect(inv.levels(sku: "S").map(\.warehouseId) == ["W1", "W2"])
    }

    @Test func aSkuInMoreWarehousesThanAreKeptInlineCountsEveryOne() throws {
        // Proves the cells of a SKU stocked in more warehouses than its
        // entry keeps inline (the rest in a table of their own) sum, list,
        // sort and survive a snapshot like the first ones, with transfers
        // both ways across that line; checked against a plain tally.
        let warehouses = (1...(InventoryProjector.Warehouses.inlineCount + 3)).map { "W\($0)" }.reversed().map { $0 }
        var h = History()
        var expected: [String: (onHand: Int64, reserved: Int64)] = [:]
        var rng = SplitMix64(seed: 46)
        for round in 0..<40 {
            let w = warehouses[Int(rng.next() % UInt64(warehouses.count))], v = warehouses[Int(rng.next() % UInt64(warehouses.count))]
            let qty = Int64(1 + rng.next() % 9)
            switch round % 4 {
            case 0: h.receive("S", w, qty); expected[w, default: (0, 0)].onHand += qty
            case 1: h.add(.stockReserved(StockReserved(sku: "S", warehouseId: w, qty: qty, orderId: "o\(round)")))
                    expected[w, default: (0, 0)].reserved += qty
            case 2: h.add(.stockTransferred(StockTransferred(sku: "S", fromWarehouseId: w, toWarehouseId: v, qty: qty)))
                    expected[w, default: (0, 0)].onHand -= qty
                    expected[v, default: (0, 0)].onHand += qty
            default: h.add(.stockAdjusted(StockAdjusted(sku: "S", warehouseId: w, delta: -qty, reason: "count")))
                     expected[w, default: (0, 0)].onHand -= qty
            }
        }
        h.reorderPoint("S", warehouses[0], point: 1_000, qty: 7)   // low there, and only there
        let inv = try #require(try h.project(only: ["inventory"]).inventory)
        let levels = inv.levels(sku: "S")
        #expect(levels.map(\.warehouseId) == expected.keys.sorted())
        #expect(expected.count > InventoryProjector.Warehouses.inlineCount)
        for l in levels {
            #expect(l.onHand == expected[l.warehouseId]?.onHand && l.reserved == expected[l.warehouseId]?.reserved, "\(l.warehouseId)")
            #expect(inv.level(sku: "S", warehouseId: l.warehouseId) == l)
        }
        #expect(inv.available(sku: "S") == expected.values.reduce(0) { $0 + $1.onHand - $1.reserved })
        #expect(inv.levels(lowOnly: true).map(\.warehouseId) == [warehouses[0]])
        #expect(inv.level(sku: "S", warehouseId: "W99") == nil)
        // A snapshot of it loads into the same model, byte for byte.
        var w = SnapshotWriter()
        inv.encodeSnapshot(into: &w)
        let loaded = InventoryProjector()
        var r = SnapshotReader(w.bytes)
        try loaded.decodeSnapshot(from: &r)
        #expect(loaded.levels() == inv.levels())
        var again = SnapshotWriter()
        loaded.encodeSnapshot(into: &again)
        #expect(again.bytes == w.bytes)
    }
}

@Suite struct ReplenishmentModelTests {
    @Test func lowWithoutOpenPurchaseOrderSortedBySkuThenWarehouse() throws {
        // Proves a suggestion for each low (sku, warehouse) with no open PO
        // for that sku there; a received PO no longer counts; a PO for
        // another warehouse does not count; sorted by sku then warehouse.
        var h = History()
        let expected = Timestamp(rfc3339: "2024-06-01T00:00:00Z")!
        for (sku, wh) in [("S3", "W1"), ("S1", "W2"), ("S2", "W1"), ("S1", "W1"), ("S4", "W1")] {
            h.receive(sku, wh, 2)
            h.reorderPoint(sku, wh, point: 5, qty: 20)
        }
        h.add(.purchaseOrderPlaced(PurchaseOrderPlaced(purchaseOrderId: "po1", supplierId: "sup", warehouseId: "W1",
                                                       lines: [PurchaseOrderLine(sku: "S2", qty: 20, unitCost: 1)],
                                                       currency: "EUR", expectedAt: expected)))
        h.add(.purchaseOrderPlaced(PurchaseOrderPlaced(purchaseOrderId: "po2", supplierId: "sup", warehouseId: "W1",
                                                       lines: [PurchaseOrderLine(sku: "S3", qty: 20, unitCost: 1)],
                                                       currency: "EUR", expectedAt: expected)))
        h.add(.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: "po2")))
        h.add(.purchaseOrderPlaced(PurchaseOrderPlaced(purchaseOrderId: "po3", supplierId: "sup", warehouseId: "W9",
                                                       lines: [PurchaseOrderLine(sku: "S4", qty: 20, unitCost: 1)],
                                                       currency: "EUR", expectedAt: expected)))
        let r = try #require(try h.project(only: ["replenishment"]).replenishment)
        #expect(r.suggestions() == [
            ReplenishmentSuggestion(sku: "S1", warehouseId: "W1", available: 2, reorderPoint: 5, reorderQty: 20),
            ReplenishmentSuggestion(sku: "S1", warehouseId: "W2", available: 2, reorderPoint: 5, reorderQty: 20),
            ReplenishmentSuggestion(sku: "S3", warehouseId: "W1", available: 2, reorderPoint: 5, reorderQty: 20),
            ReplenishmentSuggestion(sku: "S4", warehouseId: "W1", available: 2, reorderPoint: 5, reorderQty: 20),
        ])
    }
}

@Suite struct CatalogModelTests {
    @Test func priceChangedBeforeOrAfterVariantAdded() throws {
        // Proves the current price is the last PriceChanged whether it came
        // before or after VariantAdded, else the VariantAdded price; only
        // VariantAdded SKUs are listed.
        var h = History()
        h.add(.priceChanged(PriceChanged(sku: "P1-a", price: 800, currency: "EUR")))   // before its variant
        h.add(.priceChanged(PriceChanged(sku: "ORPHAN", price: 1, currency: "EUR")))
        h.product("P1", title: "Shoe", category: "shoes")
        h.variant("P1", "P1-a", price: 1000)
        h.variant("P1", "P1-b", price: 1200)
        h.variant("P1", "P1-c", price: 1500)
        h.add(.priceChanged(PriceChanged(sku: "P1-c", price: 1400, currency: "EUR")))
        h.add(.priceChanged(PriceChanged(sku: "P1-c", price: 1300, currency: "EUR")))
        let p = try #require(try h.project(only: ["catalog"]).catalog?.product("P1"))
        #expect(p.variants.map(\.sku) == ["P1-a", "P1-b", "P1-c"])
        #expect(p.variants.map(\.price) == [800, 1200, 1300])
    }

    @Test func availableSumsSKUsOverWarehousesAndDiscontinuedUpdates() throws {
        // Proves `available` = Σ available of the product's SKUs over all
        // warehouses, `discontinued`, ProductUpdated fields, category filter.
        var h = History()
        h.product("P1", title: "Old", category: "shoes")
        h.product("P2", title: "Hat", category: "hats")
        h.variant("P1", "A")
        h.variant("P1", "B")
        h.receive("A", "W1", 5)
        h.receive("A", "W2", 2)
        h.receive("B", "W1", 4)
        h.add(.stockReserved(StockReserved(sku: "B", warehouseId: "W1", qty: 3, orderId: "o")))
        h.receive("X", "W1", 100)                          // not a variant of P1
        h.add(.productUpdated(ProductUpdated(productId: "P1", title: "New")))
        h.add(.productDiscontinued(ProductDiscontinued(productId: "P1")))
        let c = try #require(try h.project(only: ["catalog"]).catalog)
        let p = try #require(c.product("P1"))
        #expect(p.available == 5 + 2 + (4 - 3))
        #expect(p.title == "New" && p.category == "shoes" && p.discontinued)
        #expect(c.list(category: "hats").map(\.productId) == ["P2"])
        #expect(c.list().map(\.productId) == ["P1", "P2"])
    }
}

@Suite struct CRMModelTests {
    @Test func ordersLifetimeValuePerCurrencyAndFirstLastByLogOrder() throws {
        // Proves orders counts cancelled ones, lifetimeValue per currency is
        // Σ (captured − refunded), first/last order are by log position
        // (not by time), consent is the latest, interactions are counted.
        var h = History()
        h.add(.customerRegistered(CustomerRegistered(customerId: "c1", email: "a@b.c", name: "Ann",
                                                     address: History.address, marketingConsent: true)))
        h.at("2024-05-03T00:00:00Z")
        h.place("o1", [("A", 1, 1000)]); h.authorize("o1", 1000); h.capture("o1", 1000); h.refund("o1", 200)
        h.at("2024-05-01T00:00:00Z")                       // earlier time, later in the log
        h.place("o2", [("A", 1, 500)], currency: "USD"); h.authorize("o2", 500); h.capture("o2", 500)
        h.at("2024-05-02T00:00:00Z")
        h.place("o3", [("A", 1, 700)]); h.cancel("o3")
        h.add(.consentChanged(ConsentChanged(customerId: "c1", marketingConsent: false)))
        h.add(.supportInteraction(SupportInteraction(customerId: "c1", orderId: "o1", channel: .chat, summary: "late")))
        h.add(.supportInteraction(SupportInteraction(customerId: "c1", channel: .email, summary: "thanks")))
        let c = try #require(try h.project(only: ["crm"]).crm?.customer("c1"))
        #expect(c.orders == 3)
        #expect(c.lifetimeValue == ["EUR": 800, "USD": 500])
        #expect(c.firstOrderAt == Timestamp(rfc3339: "2024-05-03T00:00:00Z"))
        #expect(c.lastOrderAt == Timestamp(rfc3339: "2024-05-02T00:00:00Z"))
        #expect(c.orderIds == ["o1", "o2", "o3"])
        #expect(c.marketingConsent == false)
        #expect(c.interactions == 2)
        #expect(c.registered)
    }

    @Test func topCustomersByLifetimeValueTiesById() throws {
        // Proves `customers --top N`: by lifetime value in the main
        // currency, ties by customerId ascending; RFM segments.
        var h = History()
        for (c, amount) in [("c3", 300), ("c1", 500), ("c2", 500), ("c4", 100)] as [(String, Int64)] {
            h.place("o-" + c, customer: c, [("A", 1, amount)]); h.authorize("o-" + c, amount); h.capture("o-" + c, amount)
        }
        let crm = try #require(try h.project(only: ["crm"]).crm)
        #expect(crm.top(3).map(\.customerId) == ["c1", "c2", "c3"])
        #expect(crm.customer("c1")?.rfm.segment == "new")
        #expect(crm.customer("nobody") == nil)
    }
}

@Suite struct SalesFinanceModelTests {
    @Test func unitsOnPlacementDayRevenueOnCaptureAndRefundDays() throws {
        // Proves units count on the UTC day of OrderPlaced for orders not
        // cancelled at the end of the log (paid or not, returns not
        // subtracted), revenue on the day of each capture and refund per
        // currency, and that an offset time falls on its UTC day.
        var h = History()
        h.at("2024-05-01T23:30:00-02:00")                  // = 2024-05-02T01:30Z
        h.place("o1", [("A", 2, 1000), ("B", 1, 500)])
        h.place("o2", [("A", 5, 1000)])                     // cancelled at the end
        h.place("o3", [("A", 1, 100)], currency: "USD")     // never paid: still counted
        h.at("2024-05-03T12:00:00Z")
        h.authorize("o1", 2500); h.capture("o1", 2500)
        h.authorize("o2", 5000); h.capture("o2", 5000)
        h.add(.returnReceived(ReturnReceived(orderId: "o1", returnId: "r", warehouseId: "W1",
                                             lines: [ShipmentLine(sku: "A", qty: 1)])))
        h.at("2024-05-04T08:00:00Z")
        h.refund("o1", 1000)
        h.refund("o2", 5000)
        h.cancel("o2")
        let set = try h.project(only: ["sales"])
        let days = try #require(set.sales).list()
        #expect(days == [
            SalesDay(day: Day(string: "2024-05-02")!, revenue: [:], units: ["A": 3, "B": 1]),
            SalesDay(day: Day(string: "2024-05-03")!, revenue: ["EUR": 7500], units: [:]),
            SalesDay(day: Day(string: "2024-05-04")!, revenue: ["EUR": -6000], units: [:]),
        ])
        #expect(try #require(set.finance).list() == [
            FinanceEntry(day: Day(string: "2024-05-03")!, currency: "EUR", captured: 7500, refunded: 0),
            FinanceEntry(day: Day(string: "2024-05-04")!, currency: "EUR", captured: 0, refunded: 6000),
        ])
        #expect(set.sales?.list(day: Day(string: "2024-05-03")).count == 1)
        #expect(set.sales?.unitsPerSKU() == ["A": 3, "B": 1])
    }

    @Test func financeInTheOrdersCurrency() throws {
        // Proves payments are booked in their order's currency.
        var h = History()
        h.place("e", [("A", 1, 100)], currency: "EUR"); h.capture("e", 100)
        h.place("u", [("A", 1, 300)], currency: "USD"); h.capture("u", 300); h.refund("u", 50)
        let f = try #require(try h.project(only: ["finance"]).finance).list()
        #expect(f.map(\.currency) == ["EUR", "USD"])
        #expect(f.map(\.net) == [100, 250])
    }

    @Test func dayParsesAndPrints() {
        // Proves the civil-date conversion both ways, around the epoch.
        #expect(Day(string: "1970-01-01")?.daysSinceEpoch == 0)
        #expect(Day(string: "2024-02-29")?.description == "2024-02-29")
        #expect(Day(string: "2023-02-29") == nil)
        #expect(Day(Timestamp(microseconds: -1)).description == "1969-12-31")
    }
}

@Suite struct SearchModelTests {
    @Test func normalisesWhitespaceAndCaseAndTracksLatestResult() throws {
        // Proves trimming and collapsing Unicode whitespace (NBSP, tab, ideographic
        // space), Unicode lower-casing, counts, and zero-result = the latest
        // SearchPerformed had resultCount 0.
        var h = History()
        h.search("  Red   Shoes ", results: 4)
        h.search("red shoes", results: 2)
        h.search("RED\u{00A0}SHOES\t", results: 0)          // latest: 0 → zero-result
        h.search("\u{3000}ÄPFEL", results: 0)
        h.search("boots", results: 0)
        h.search("Boots", results: 7)                        // latest 7: not zero-result
        let s = try #require(try h.project(only: ["search"]).search)
        #expect(s.list() == [
            SearchQueryStats(query: "red shoes", count: 3, lastResultCount: 0),
            SearchQueryStats(query: "boots", count: 2, lastResultCount: 7),
            SearchQueryStats(query: "äpfel", count: 1, lastResultCount: 0),
        ])
        #expect(s.list(zeroResultsOnly: true).map(\.query) == ["red shoes", "äpfel"])
        #expect(s.list(top: 1).map(\.query) == ["red shoes"])
        #expect(SearchProjector.normalise("a  b") == "a b")
        #expect(SearchProjector.normalise("İ") == "İ".lowercased())
        // Unicode's default lower-casing: Σ at a word's end is ς (stop 35: "ΟΔΟΣ" and "οδος" were two queries).
        #expect(SearchProjector.normalise("ΟΔΟΣ") == "οδος")
        #expect(SearchProjector.normalise("ΣΟΦΟΣ ΟΔΟΣ.") == "σοφος οδος.")
        #expect(SearchProjector.normalise("Σ") == "σ", "a Σ alone has no cased letter before it")
    }

    @Test func ratiosRoundTheirExactHalvesAwayFromZero() {
        // Proves stop 35's finding: rounding through a Double took 3/20000 (0.00015) to 0.0001 and 1.005 to 1.0.
        #expect(roundedRatio(3, 20000, places: 4) == 0.0002)
        #expect(roundedRatio(86_832_000_000, 86_400_000_000, places: 2) == 1.01)
        #expect(roundedRatio(1, 3, places: 4) == 0.3333 && roundedRatio(2, 3, places: 4) == 0.6667)
        #expect(roundedRatio(-3, 20000, places: 4) == -0.0002)
        #expect(roundedRatio(5, 0, places: 2) == nil)
        #expect(roundedRatio(.max, 1, places: 4) == Double(Int64.max))
    }
}

@Suite struct AlsoBoughtModelTests {
    @Test func aProductOfTheCatalogIsKnownThoughItsSKUMoved() throws {
        // Proves stop 35's finding: a product whose only SKU moved to another product was "no product" to
        // also-bought, though the catalog listed it; a ProductCreated makes it known (an empty answer).
        var h = History()
        h.product("p1")
        h.variant("p1", "A")
        h.variant("p2", "A")
        let set = try h.project(only: ["also-bought"])
        let m = try #require(set.alsoBought)
        #expect(m.knows(product: "p1") && m.knows(product: "p2") && !m.knows(product: "p3"))
        #expect(m.alsoBought("p1").isEmpty)
        var w = SnapshotWriter()
        m.encodeSnapshot(into: &w)
        let copy = AlsoBoughtProjector(orders: set.orders!)
        var r = SnapshotReader(w.bytes)
        try copy.decodeSnapshot(from: &r)
        #expect(copy.knows(product: "p1"))
    }

    @Test func ranksByNonCancelledOrdersTiesByProductId() throws {
        // Proves: variants count for their product (once per order),
        // cancelled orders do not count, ties by productId ascending,
        // discontinued products included, a VariantAdded after the order
        // still maps its SKU, the limit.
        var h = History()
        for p in ["P1", "P2", "P3", "P4", "P5"] { h.product(p) }
        h.variant("P1", "P1-a"); h.variant("P1", "P1-b")
        h.variant("P2", "P2-a"); h.variant("P3", "P3-a"); h.variant("P4", "P4-a")
        h.add(.productDiscontinued(ProductDiscontinued(productId: "P4")))
        h.place("o1", [("P1-a", 1, 1), ("P2-a", 1, 1)])
        h.place("o2", [("P1-b", 1, 1), ("P3-a", 1, 1)])
        h.place("o3", [("P1-a", 1, 1), ("P1-b", 1, 1), ("P2-a", 1, 1)])
        h.place("o4", [("P4-a", 1, 1), ("P1-a", 1, 1)])
        h.place("o5", [("P1-a", 1, 1), ("P3-a", 3, 1)]); h.cancel("o5")
        h.place("o6", [("P1-a", 1, 1), ("P5-a", 1, 1)])
        h.place("o7", [("P2-a", 1, 1), ("P3-a", 1, 1)])   // no P1
        h.variant("P5", "P5-a")                            // after the order
        let ab = try #require(try h.project(only: ["also-bought"]).alsoBought)
        #expect(ab.alsoBought("P1") == [
            AlsoBoughtEntry(productId: "P2", count: 2), AlsoBoughtEntry(productId: "P3", count: 1),
            AlsoBoughtEntry(productId: "P4", count: 1), AlsoBoughtEntry(productId: "P5", count: 1),
        ])
        #expect(ab.alsoBought("P1", limit: 2).map(\.productId) == ["P2", "P3"])
        #expect(ab.alsoBought("P3").map(\.productId) == ["P1", "P2"])
    }
}

@Suite struct RegistryTests {
    @Test func onlyBuildsDependencies() throws {
        // Proves `--only catalog` also builds inventory, and an unknown name fails.
        #expect(try Projections.standard(only: ["catalog"]).names == ["inventory", "catalog"])
        #expect(try Projections.standard(only: ["sales"]).names == ["orders", "finance", "sales"])
        #expect(try Projections.standard().names == Projections.allNames)
        #expect(throws: ProjectionError.self) { try Projections.standard(only: ["nope"]) }
    }

    @Test func unknownEventTypesAreIgnored() throws {
        // Proves an unknown type passes through every model untouched.
        var h = History()
        h.add(.unknown(type: "LoyaltyPointsGranted", data: Array("{}".utf8)))
        h.place("o1", [("A", 1, 1)])
        let set = try h.project()
        #expect(set.position == Position(2))
        #expect(set.orders?.orders.count == 1)
    }

    @Test func everyModelSnapshotRoundTrips() throws {
        // Proves each model's encode → decode → encode gives the same bytes
        // on a history touching every model.
        var h = History()
        h.product("P1"); h.variant("P1", "A"); h.receive("A", "W1", 3); h.reorderPoint("A", "W1", point: 5, qty: 9)
        h.add(.customerRegistered(CustomerRegistered(customerId: "c1", email: "e", name: "n", address: History.address,
                                                     marketingConsent: true)))
        h.place("o1", [("A", 2, 100)]); h.authorize("o1", 200); h.capture("o1", 200); h.ship("o1", "s1", [("A", 1)])
        h.refund("o1", 50); h.search("Hello", results: 0)
        let set = try h.project()
        let bytes = set.snapshotBytes()
        let fresh = try Projections.standard()
        for p in fresh.projectors {
            var r = SnapshotReader(bytes[p.name]!)
            try p.decodeSnapshot(from: &r)
            #expect(r.isAtEnd, "\(p.name)")
        }
        #expect(fresh.snapshotBytes() == bytes)
    }
}
