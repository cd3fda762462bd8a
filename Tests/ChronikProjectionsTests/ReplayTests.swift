import ChronikTestSupport
import Testing
import Foundation
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections


/// A random shop history touching every read model: products, prices,
/// stock moves, purchase orders, customers, orders with payments,
/// shipments, cancellations, refunds and returns, searches and clicks.
func randomHistory(count: Int, seed: UInt64) -> [(Timestamp, CommerceEvent)] {
    var rng = SplitMix64(seed: seed)
    var out: [(Timestamp, CommerceEvent)] = []
    var time: Int64 = 1_714_521_600_000_000  // 2024-05-01
    let skus = (0..<12).map { "SKU-\($0)" }
    let warehouses = ["W1", "W2", "W3"]
    let currencies = ["EUR", "USD"]
    var orders: [String] = []
    let addr = Address(line1: "x", city: "y", postalCode: "1", country: "DE")
    func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
    func n(_ upTo: Int64) -> Int64 { Int64(rng.next() % UInt64(upTo)) + 1 }
    for i in 0..<count {
        time += Int64(rng.next() % 7_200_000_000)
        let e: CommerceEvent
        switch rng.next() % 38 {
        case 0: e = .productCreated(ProductCreated(productId: "P\(rng.next() % 6)", title: "t\(i)", category: pick(["a", "b"])))
        case 1: e = .variantAdded(VariantAdded(productId: "P\(rng.next() % 6)", sku: pick(skus), price: n(5000), currency: "EUR"))
        case 2: e = .priceChanged(PriceChanged(sku: pick(skus), price: n(5000), currency: "EUR"))
        case 3: e = .stockReceived(StockReceived(sku: pick(skus), warehouseId: pick(warehouses), qty: n(20)))
        case 4: e = .stockReserved(StockReserved(sku: pick(skus), warehouseId: pick(warehouses), qty: n(3), orderId: "o"))
        case 5: e = .stockShipped(StockShipped(sku: pick(skus), warehouseId: pick(warehouses), qty: n(2), orderId: "o"))
        case 6: e = .stockTransferred(StockTransferred(sku: pick(skus), fromWarehouseId: pick(warehouses),
                                                     toWarehouseId: pick(warehouses), qty: n(4)))
        case 7: e = .reorderPointSet(ReorderPointSet(sku: pick(skus), warehouseId: pick(warehouses),
                                                   reorderPoint: n(10) - 1, reorderQty: n(30)))
        case 8: e = .purchaseOrderPlaced(PurchaseOrderPlaced(purchaseOrderId: "PO\(rng.next() % 8)", supplierId: "s",
                                                           warehouseId: pick(warehouses),
                                                           lines: [PurchaseOrderLine(sku: pick(skus), qty: n(9), unitCost: 1)],
                                                           currency: "EUR", expectedAt: Timestamp(microseconds: time)))
        case 9: e = .purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: "PO\(rng.next() % 8)"))
        case 10: e = .customerRegistered(CustomerRegistered(customerId: "C\(rng.next() % 5)", email: "e", name: "n",
                                                           address: addr, marketingConsent: rng.next() % 2 == 0))
        case 11: e = .consentChanged(ConsentChanged(customerId: "C\(rng.next() % 5)", marketingConsent: rng.next() % 2 == 0))
        case 12, 13:
            let id = "O\(orders.count)"
            orders.append(id)
            e = .orderPlaced(OrderPlaced(orderId: id, customerId: "C\(rng.next() % 5)", sessionId: "s\(rng.next() % 6)",
                                         lines: (0..<n(3)).map { _ in OrderLine(sku: pick(skus), qty: n(3), unitPrice: n(2000)) },
                                         currency: pick(currencies), discount: n(100) - 1, shippingAddress: addr))
        case 14 where !orders.isEmpty:
            e = .paymentAuthorized(PaymentAuthorized(orderId: pick(orders), paymentId: "p", amount: n(3000), method: "card", gateway: "g"))
        case 15 where !orders.isEmpty: e = .paymentCaptured(PaymentCaptured(orderId: pick(orders), paymentId: "p", amount: n(3000)))
        case 16 where !orders.isEmpty: e = .paymentFailed(PaymentFailed(orderId: pick(orders), paymentId: "p", amount: n(3000), reason: "r"))
        case 17 where !orders.isEmpty:
            e = .refundIssued(RefundIssued(orderId: pick(orders), refundId: "r", paymentId: "p", amount: n(1000), reason: "r"))
        case 18 where !orders.isEmpty: e = .orderCancelled(OrderCancelled(orderId: pick(orders), reason: "r"))
        case 19 where !orders.isEmpty:
            e = .orderShipped(OrderShipped(orderId: pick(orders), shipmentId: "S\(rng.next() % 3)", warehouseId: pick(warehouses),
                                           carrier: "c", trackingNumber: "t", lines: [ShipmentLine(sku: pick(skus), qty: n(3))]))
        case 20 where !orders.isEmpty: e = .orderDelivered(OrderDelivered(orderId: pick(orders), shipmentId: "S\(rng.next() % 3)"))
        case 21: e = .searchPerformed(SearchPerformed(sessionId: "s", query: pick(["Shoe", " shoe ", "HAT", "sock  s"]),
                                                     resultCount: Int64(rng.next() % 3)))
        case 22: e = .supportInteraction(SupportInteraction(customerId: "C\(rng.next() % 5)", channel: .chat, summary: "x"))
        case 23: e = .paymentMethodAdded(PaymentMethodAdded(customerId: "C\(rng.next() % 5)", token: "tok", brand: "visa", last4: "4242"))
        case 24: e = .customerForgotten(CustomerForgotten(customerId: "C\(rng.next() % 7)"))
        case 25: e = .stockReleased(StockReleased(sku: pick(skus), warehouseId: pick(warehouses), qty: n(2), orderId: "o"))
        case 26: e = .stockReturned(StockReturned(sku: pick(skus), warehouseId: pick(warehouses), qty: n(2), orderId: "o"))
        case 27: e = .stockAdjusted(StockAdjusted(sku: pick(skus), warehouseId: pick(warehouses), delta: n(5) - 3, reason: "count"))
        case 28: e = .productUpdated(ProductUpdated(productId: "P\(rng.next() % 6)", title: "u\(i)", category: pick(["a", "c"])))
        case 29: e = .productDiscontinued(ProductDiscontinued(productId: "P\(rng.next() % 6)"))
        case 30 where !orders.isEmpty:
            e = .returnReceived(ReturnReceived(orderId: pick(orders), returnId: "R", warehouseId: pick(warehouses),
                                               lines: [ShipmentLine(sku: pick(skus), qty: n(2))]))
        // EVENTS.md v1.2: settlement, sessions with customers and campaigns, settings, suppliers.
        case 32:
            let gross = Int64(rng.next() % 4000) - 1000
            let fee = Int64(rng.next() % 50)
            e = .settlementLineReported(SettlementLineReported(
                gateway: pick(["g", "h"]), payoutId: "PY\(rng.next() % 4)", paidOutAt: Timestamp(microseconds: time),
                kind: pick(SettlementKind.allCases), gatewayRef: "ref\(i)", paymentId: rng.next() % 4 == 0 ? nil : "p",
                refundId: rng.next() % 2 == 0 ? "r" : nil, gross: gross, fee: fee, net: gross - fee, currency: pick(currencies)))
        case 33:
            e = .sessionStarted(SessionStarted(sessionId: "s\(rng.next() % 6)", customerId: rng.next() % 3 == 0 ? nil : "C\(rng.next() % 5)",
                                               channel: "web", campaignId: rng.next() % 2 == 0 ? nil : "K\(rng.next() % 3)"))
        case 34: e = .productViewed(ProductViewed(sessionId: "s\(rng.next() % 6)", productId: "P\(rng.next() % 6)"))
        case 35: e = .campaignLaunched(CampaignLaunched(campaignId: "K\(rng.next() % 3)", name: "k", channel: "email",
                                                        budget: n(3) - 1, currency: "EUR"))
        case 36: e = .settingChanged(SettingChanged(key: "k\(rng.next() % 3)", value: "v\(i)", actor: "a"))
        case 37: e = .supplierRegistered(SupplierRegistered(supplierId: "s", name: "n\(i)", leadTimeDays: n(9)))
        default: e = .pageViewed(PageViewed(sessionId: "s", path: "/p\(i)"))
        }
        out.append((Timestamp(microseconds: time), e))
    }
    return out
}

func inMemory(_ events: [(Timestamp, CommerceEvent)]) throws -> ProjectionSet {
    let set = try Projections.standard()
    for (i, e) in events.enumerated() {
        try set.apply(ProjectedEvent(position: Position(UInt64(i)), occurredAt: e.0, event: e.1))
    }
    return set
}

@Suite struct ReplayerTests {
    @Test func parallelSerialAndInMemoryAgree() async throws {
        // Proves the two-thread replay (small chunks, shallow queue) and
        // the serial one give the same models as folding the events directly.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = randomHistory(count: 3000, seed: 7)
        let log = try await makeLog(events, at: path)
        let expected = try inMemory(events).snapshotBytes()
        let serial = try Projections.standard()
        try Replayer.replay(log, into: serial, parallel: false)
        let parallel = try Projections.standard()
        var calls = 0
        let stats = try Replayer.replay(log, into: parallel, chunkSize: 100, queueDepth: 2) { done, total in
            calls += 1
            #expect(done <= total && total == 3000)
        }
        #expect(stats.events == 3000)
        #expect(calls >= 30)
        #expect(serial.snapshotBytes() == expected)
        #expect(parallel.snapshotBytes() == expected)
        #expect(parallel.position == Position(3000))
    }

    @Test(arguments: [false, true])
    func anEventThatDoesNotDecodeStopsTheReplayWithItsPosition(parallel: Bool) async throws {
        // Proves a bad event is never skipped: the replay throws with its
        // position and type, whichever mode.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try await makeLog(randomHistory(count: 50, seed: 1), at: path)
        _ = try await log.append(to: "order-bad", ProposedEvent(type: "OrderPlaced", data: [0xFF, 0x00, 0x13]))
        _ = try await log.append(to: "x", ProposedEvent(type: "PageViewed", data: PageViewed(sessionId: "s", path: "/").encodedData()))
        let set = try Projections.standard()
        let error = try #require(throws: ProjectionError.self) {
            try Replayer.replay(log, into: set, parallel: parallel, chunkSize: 8)
        }
        #expect(error.code == .invalidEvent)
        #expect(error.position == Position(50))
        #expect(error.eventType == "OrderPlaced")
    }
}

extension PageViewed {
    func encodedData() -> [UInt8] { CommerceEvent.pageViewed(self).encodedData() }
}

@Suite struct SnapshotTests {
    @Test func fullPassEqualsRandomChunksEqualsSnapshotPlusTail() async throws {
        // Property (seeded loop, seed printed on failure): for random
        // histories, one full pass == the log replayed in random chunks ==
        // a snapshot at a random position + the tail, byte for byte.
        for seed: UInt64 in 1...6 {
            let path = tempLogPath("prop\(seed)")
            defer { try? FileManager.default.removeItem(atPath: path) }
            var rng = SplitMix64(seed: seed &* 1000)
            let count = 200 + Int(rng.next() % 800)
            let log = try await makeLog(randomHistory(count: count, seed: seed), at: path)
            let full = try Projections.standard()
            try Replayer.replay(log, into: full)
            let expected = full.snapshotBytes()

            let chunked = try Projections.standard()
            while chunked.position < log.head {
                let step = 1 + rng.next() % UInt64(count / 3)
                try Replayer.replay(log, into: chunked, upTo: Position(chunked.position.value + step),
                                    parallel: rng.next() % 2 == 0, chunkSize: 1 + Int(rng.next() % 64))
            }
            #expect(chunked.snapshotBytes() == expected, "seed \(seed): chunks")

            let cut = Position(rng.next() % UInt64(count + 1))
            let partial = try Projections.standard()
            try Replayer.replay(log, into: partial, upTo: cut)
            let store = SnapshotStore(logDirectory: path)
            try store.write(partial, log: log)
            let (resumed, info, messages) = try store.loadNewest(log: log)
            #expect(info?.position == cut && messages.isEmpty, "seed \(seed)")
            try Replayer.replay(log, into: resumed)
            #expect(resumed.snapshotBytes() == expected, "seed \(seed): snapshot at \(cut) + tail")
        }
    }

    @Test func corruptOtherVersionAndBeyondHeadAreSkippedWithAMessage() async throws {
        // Proves the newest *valid* snapshot wins: a flipped byte, another
        // model version and a position beyond the head are each skipped
        // with a message naming the reason, and the older valid one is used.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try await makeLog(randomHistory(count: 300, seed: 3), at: path)
        let store = SnapshotStore(logDirectory: path)
        let set = try Projections.standard()
        try Replayer.replay(log, into: set, upTo: Position(100))
        let valid = try store.write(set, log: log)              // valid, at 100
        // Mode 0600, as every file of a log (stop 36, an operator: 0644).
        let mode = (try FileManager.default.attributesOfItem(atPath: valid.path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        try Replayer.replay(log, into: set, upTo: Position(200))
        let corrupt = try store.write(set, log: log)             // at 200, then corrupted
        var bytes = Array(FileManager.default.contents(atPath: corrupt.path)!)
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt.path))
        try Replayer.replay(log, into: set, upTo: Position(250))
        var versioned = SnapshotStore.encode(set, chainHash: nil)  // at 250, inventory version bumped
        let nameAt = try #require(versioned.indices.first { Array(versioned[$0..<($0 + 9)]) == Array("inventory".utf8) })
        versioned[nameAt + 9] = 99
        let sum = SnapshotStore.checksum(versioned[..<(versioned.count - 4)])
        withUnsafeBytes(of: sum.littleEndian) { versioned.replaceSubrange((versioned.count - 4)..., with: $0) }
        try Data(versioned).write(to: URL(fileURLWithPath: store.directory + "/" + SnapshotStore.fileName(Position(250))))
        try Data(versioned).write(to: URL(fileURLWithPath: store.directory + "/" + SnapshotStore.fileName(Position(9999))))

        let (loaded, info, messages) = try store.loadNewest(log: log)
        #expect(info?.position == Position(100))
        #expect(loaded.position == Position(100))
        #expect(messages.count == 3)
        #expect(messages[0].contains("beyond the log's head"))
        #expect(messages[1].contains("version 99"))
        #expect(messages[2].contains("checksum mismatch"))
        let (rebuilt, report) = try Replayer.rebuild(log)
        #expect(report.snapshot?.position == Position(100) && report.tail.events == 200)
        #expect(rebuilt.snapshotBytes() == (try inMemory(randomHistory(count: 300, seed: 3)).snapshotBytes()))
    }

    @Test func twoThreadModelDecodeEqualsTheModels() throws {
        // Proves the load's two-thread decode (largest model on a helper
        // thread) restores every model byte for byte, and reports a bad one.
        let full = try inMemory(randomHistory(count: 2000, seed: 13))
        let bytes = full.snapshotBytes()
        let fresh = try Projections.standard()
        try SnapshotStore.decode(fresh.projectors.map { ($0, bytes[$0.name]!) }, parallelFrom: 0)
        #expect(fresh.snapshotBytes() == bytes)
        let broken = try Projections.standard()
        let jobs = broken.projectors.map { p in (p, p.name == "orders" ? Array(bytes[p.name]!.dropLast()) : bytes[p.name]!) }
        #expect(throws: ProjectionError.self) { try SnapshotStore.decode(jobs, parallelFrom: 0) }
    }

    @Test func onlySubsetLoadsFromAFullSnapshot() async throws {
        // Proves `--only catalog` takes catalog and inventory from a full
        // snapshot and replays just the tail.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = randomHistory(count: 200, seed: 5)
        let log = try await makeLog(events, at: path)
        let set = try Projections.standard()
        try Replayer.replay(log, into: set, upTo: Position(150))
        try SnapshotStore(logDirectory: path).write(set, log: log)
        let (only, report) = try Replayer.rebuild(log, only: ["catalog"])
        #expect(only.names == ["inventory", "catalog"])
        #expect(report.snapshot?.position == Position(150) && report.tail.events == 50)
        let expected = try inMemory(events).snapshotBytes()
        #expect(only.snapshotBytes()["catalog"] == expected["catalog"])
        #expect(only.snapshotBytes()["inventory"] == expected["inventory"])
    }
}

@Suite struct LiveProjectionTests {
    @Test func readsItsOwnWrite() async throws {
        // Proves read-your-writes: after an append, waitUntil(its position)
        // returns and the models show the new order.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try await makeLog(randomHistory(count: 100, seed: 9), at: path)
        let live = try LiveProjections.start(log: log)
        defer { live.stop() }
        let placed = CommerceEvent.orderPlaced(OrderPlaced(orderId: "live-1", customerId: "C-live",
                                                          lines: [OrderLine(sku: "A", qty: 2, unitPrice: 300)],
                                                          currency: "EUR", shippingAddress: History.address))
        let r = try await log.append(to: placed.derivedStream!, ProposedEvent(type: placed.type, data: placed.encodedData()))
        try await live.waitUntil(r.lastPosition)
        let total = live.read { $0.orders?.order("live-1")?.total }
        #expect(total == 600)
        #expect(live.position.value == r.lastPosition.value + 1)
        let orders = live.read { $0.crm?.customer("C-live")?.orders }
        #expect(orders == 1)
        // Re-entrant (stop 36: a library user's read that asked the position inside it hung for good).
        let inside = live.read { set in (set.position, live.position, live.stoppedBecause == nil) }
        #expect(inside.0 == inside.1 && inside.2)
    }
}

@Suite struct DispatchTests {
    @Test func typeFilteredDispatchEqualsFeedingEveryProjectorEverything() throws {
        // Proves the per-type dispatch of ProjectionSet skips nothing a
        // model folds: every projector fed every event directly ends with
        // the same bytes as the set; and kindIndex agrees with the type.
        let events = randomHistory(count: 4000, seed: 21)
        let viaSet = try inMemory(events).snapshotBytes()
        let direct = try Projections.standard()
        for (i, e) in events.enumerated() {
            let pe = ProjectedEvent(position: Position(UInt64(i)), occurredAt: e.0, event: e.1)
            #expect(kindIndex(e.1) == kindIndex(e.1.knownType!))
            for p in direct.projectors { try p.apply(pe) }
            direct.clock.latest = pe.occurredAt   // what the set does for every event (supply chain's `late`)
        }
        #expect(direct.snapshotBytes() == viaSet)
    }
}
