import ChronikTestSupport
import Testing
import Foundation
import Synchronization
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

/// A big shop's history (issue 13's replay row): many customers and
/// orders, every order through its life (placed, paid, shipped, delivered,
/// some cancelled, refunded or returned), short sessions, support contacts,
/// searches, settings, purchase orders — several hundred distinct streams
/// per 1,000 events, and events for the models of both replay lanes.
func bigShopHistory(count: Int, seed: UInt64) -> [(Timestamp, CommerceEvent)] {
    var rng = SplitMix64(seed: seed)
    var out: [(Timestamp, CommerceEvent)] = []
    var time: Int64 = 1_714_521_600_000_000  // 2024-05-01
    let warehouses = ["W1", "W2", "W3"]
    let customers = max(50, count / 10)
    let addr = Address(line1: "x", city: "y", postalCode: "1", country: "DE")
    var open: [(id: String, sku: String, wh: String, qty: Int64, total: Int64)] = []
    var orderCount = 0, sessionCount = 0
    func n(_ upTo: Int) -> Int { Int(rng.next() % UInt64(upTo)) }
    func sku() -> String { "SKU-\(n(300))" }
    func add(_ e: CommerceEvent) { out.append((Timestamp(microseconds: time), e)) }
    for p in 0..<100 {
        add(.productCreated(ProductCreated(productId: "P\(p)", title: "t\(p)", category: "c\(p % 7)")))
        for v in 0..<3 { add(.variantAdded(VariantAdded(productId: "P\(p)", sku: "SKU-\(p * 3 + v)", price: Int64(1000 + v), currency: "EUR"))) }
        add(.stockReceived(StockReceived(sku: "SKU-\(p * 3)", warehouseId: warehouses[p % 3], qty: 50)))
    }
    while out.count < count {
        time += Int64(n(90_000_000))
        let customer = "C\(n(customers))"
        switch n(100) {
        case ..<25:
            sessionCount += 1
            let s = "S\(sessionCount)"
            add(.sessionStarted(SessionStarted(sessionId: s, customerId: n(2) == 0 ? customer : nil, channel: "web")))
            add(.productViewed(ProductViewed(sessionId: s, productId: "P\(n(100))")))
            if n(3) == 0 { add(.searchPerformed(SearchPerformed(sessionId: s, query: "q\(n(40))", resultCount: Int64(n(9))))) }
            if n(2) == 0 { add(.cartItemAdded(CartItemAdded(sessionId: s, sku: sku(), qty: 1))) }
        case ..<60:
            orderCount += 1
            let id = "O\(orderCount)", s = sku(), wh = warehouses[n(3)], qty = Int64(1 + n(3))
            let total = qty * 1200 + 490
            add(.orderPlaced(OrderPlaced(orderId: id, customerId: customer, sessionId: sessionCount > 0 ? "S\(n(sessionCount) + 1)" : nil,
                                         lines: [OrderLine(sku: s, qty: qty, unitPrice: 1200)], currency: n(8) == 0 ? "USD" : "EUR",
                                         shippingFee: 490, shippingAddress: addr, channel: .web)))
            add(.stockReserved(StockReserved(sku: s, warehouseId: wh, qty: qty, orderId: id)))
            add(.paymentAuthorized(PaymentAuthorized(orderId: id, paymentId: "pay-\(id)", amount: total, method: "card", gateway: "g")))
            if n(20) == 0 {
                add(.paymentFailed(PaymentFailed(orderId: id, paymentId: "pay-\(id)", amount: total, reason: "declined")))
            } else {
                add(.paymentCaptured(PaymentCaptured(orderId: id, paymentId: "pay-\(id)", amount: total)))
                open.append((id, s, wh, qty, total))
            }
        case ..<80 where !open.isEmpty:
            let i = n(open.count)
            open.swapAt(i, open.count - 1)
            let o = open.removeLast()
            if n(12) == 0 {
                add(.refundIssued(RefundIssued(orderId: o.id, refundId: "r-\(o.id)", paymentId: "pay-\(o.id)", amount: o.total, reason: "r")))
                add(.orderCancelled(OrderCancelled(orderId: o.id, reason: "customer")))
                add(.stockReleased(StockReleased(sku: o.sku, warehouseId: o.wh, qty: o.qty, orderId: o.id)))
            } else {
                add(.orderShipped(OrderShipped(orderId: o.id, shipmentId: "sh-\(o.id)", warehouseId: o.wh, carrier: "dhl",
                                               trackingNumber: "T", lines: [ShipmentLine(sku: o.sku, qty: o.qty)])))
                add(.stockShipped(StockShipped(sku: o.sku, warehouseId: o.wh, qty: o.qty, orderId: o.id)))
                add(.orderDelivered(OrderDelivered(orderId: o.id, shipmentId: "sh-\(o.id)")))
                if n(10) == 0 {
                    add(.returnReceived(ReturnReceived(orderId: o.id, returnId: "ret-\(o.id)", warehouseId: o.wh,
                                                       lines: [ShipmentLine(sku: o.sku, qty: 1)])))
                    add(.refundIssued(RefundIssued(orderId: o.id, refundId: "r-\(o.id)", paymentId: "pay-\(o.id)", amount: 1200, reason: "return")))
                }
            }
        case ..<88:
            add(.stockReceived(StockReceived(sku: sku(), warehouseId: warehouses[n(3)], qty: Int64(5 + n(40)))))
            if n(3) == 0 { add(.reorderPointSet(ReorderPointSet(sku: sku(), warehouseId: warehouses[n(3)], reorderPoint: Int64(n(10)), reorderQty: 20))) }
        case ..<94:
            switch n(4) {
            case 0: add(.customerRegistered(CustomerRegistered(customerId: customer, email: "e", name: "n", address: addr, marketingConsent: n(2) == 0)))
            case 1: add(.consentChanged(ConsentChanged(customerId: customer, marketingConsent: n(2) == 0)))
            case 2: add(.supportInteraction(SupportInteraction(customerId: customer, channel: .chat, summary: "s")))
            default: add(.priceChanged(PriceChanged(sku: sku(), price: Int64(500 + n(5000)), currency: "EUR")))
            }
        default:
            switch n(3) {
            case 0:
                let po = "PO\(out.count)"
                add(.purchaseOrderPlaced(PurchaseOrderPlaced(purchaseOrderId: po, supplierId: "sup\(n(4))", warehouseId: warehouses[n(3)],
                                                             lines: [PurchaseOrderLine(sku: sku(), qty: 20, unitCost: 300)],
                                                             currency: "EUR", expectedAt: Timestamp(microseconds: time + 86_400_000_000))))
                if n(2) == 0 { add(.purchaseOrderReceived(PurchaseOrderReceived(purchaseOrderId: po))) }
            case 1: add(.settingChanged(SettingChanged(key: "k\(n(5))", value: "v\(out.count)", actor: "a")))
            default: add(.campaignLaunched(CampaignLaunched(campaignId: "K\(n(4))", name: "k", channel: "email", budget: 1000, currency: "EUR")))
            }
        }
    }
    return out
}

@Suite struct BigShopReplayTests {
    @Test func theTwoLaneReplayGivesTheModelsOfTheSerialOne() async throws {
        // Proves the replay on two threads (models folded on the decoding
        // thread and on the calling one, small chunks, shallow queue) gives
        // every model byte for byte as the serial replay and as folding
        // the events one by one, on a big shop's history: many customers
        // and orders, several hundred streams per 1,000 events.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = bigShopHistory(count: 20_000, seed: 13)
        let streams = Set(events.prefix(1000).compactMap { $0.1.derivedStream })
        #expect(streams.count >= 150, "the history has the big shop's shape")
        let log = try await makeLog(events, at: path)
        let expected = try inMemory(events).snapshotBytes()
        #expect(expected.count == Projections.allNames.count)
        // The replays on a thread of their own, not the task pool's.
        let serial = try await onOwnThread {
            let set = try Projections.standard()
            try Replayer.replay(log, into: set, parallel: false)
            return set.snapshotBytes()
        }
        let (count, position, latest, parallel, orders) = try await onOwnThread {
            let set = try Projections.standard()
            let stats = try Replayer.replay(log, into: set, chunkSize: 64, queueDepth: 2)
            return (stats.events, set.position, set.clock.latest, set.snapshotBytes(), set.orders?.orders.count ?? 0)
        }
        #expect(count == events.count)
        #expect(position == Position(UInt64(events.count)))
        #expect(latest == events.last?.0)
        for name in Projections.allNames {
            #expect(serial[name] == expected[name], "serial \(name)")
            #expect(parallel[name] == expected[name], "parallel \(name)")
        }
        // The models saw the big shop: thousands of orders.
        #expect(orders > 1_500)
    }

    @Test func everyModelFoldsOnExactlyOneLane() throws {
        // Proves the lanes split the set without loss or overlap, and that
        // the decoding lane and the lane of either thread hold only models
        // no other model reads.
        let set = try Projections.standard()
        let decoding = set.projectors.filter { ProjectionSet.Lane.of($0) == .decoding }.map(\.name)
        let either = set.projectors.filter { ProjectionSet.Lane.of($0) == .either }.map(\.name)
        #expect(Set(decoding) == ["search", "supply-chain", "settings", "support"])
        #expect(either == ["fraud"])
        #expect(set.hasEitherLane)
        for name in decoding + either {
            #expect(Projections.dependencies[name] == [])
            #expect(!Projections.dependencies.values.contains { $0.contains(name) })
        }
    }

    @Test func fraudsShareOfChunksOnTheDecodingThreadBalancesTheThreads() {
        // Times per chunk (ns) each thread works without fraud, and
        // fraud's; the answer is of 16 chunks per epoch.
        // An epoch of stop 47's big shop: decoding 1.404 ms, projecting
        // 1.525 ms, fraud 0.658 ms; the share x with 1.404 + 0.658x =
        // 1.525 + 0.658(1 − x) is 0.59, 9 of 16 chunks.
        #expect(EitherPlacement.decoderChunks(decoder: 1_404_000, projecting: 1_525_000, either: 658_000) == 9)
        #expect(EitherPlacement.decoderChunks(decoder: 30_462, projecting: 34_087, either: 7_578) == 12)
        // Equal without fraud: half each.
        #expect(EitherPlacement.decoderChunks(decoder: 2_000, projecting: 2_000, either: 500) == 8)
        // The decoding thread busier by more than fraud takes: none of it
        // there; the projecting one busier by more: all of it there.
        #expect(EitherPlacement.decoderChunks(decoder: 3_000, projecting: 2_500, either: 400) == 0)
        #expect(EitherPlacement.decoderChunks(decoder: 2_000, projecting: 3_200, either: 500) == 16)
        // Fraud that takes no measurable time goes to the less busy thread.
        #expect(EitherPlacement.decoderChunks(decoder: 2_000, projecting: 2_100, either: 0) == 16)
        #expect(EitherPlacement.decoderChunks(decoder: 2_200, projecting: 2_100, either: 0) == 0)
    }

    @Test func fraudsPlanMovesItAtMostOncePerEpochToTheDecodingThread() {
        // The last n chunks of each epoch on the decoding thread: a move
        // there at chunk 16 − n of each epoch, which waits for a hand-off,
        // and a move back at the epoch's end.
        var p = EitherPlacement(enabled: true, policy: .fixed(5))
        var mine: [Bool] = []
        var handOffs = 0
        for _ in 0..<(3 * EitherPlacement.epoch) {
            let m = p.assign(consumerTimes: { ChunkQueue.ConsumerTimes() })
            mine.append(m)
            #expect(p.owned == false || !p.awaitingHandOff)
            if p.awaitingHandOff {
                handOffs += 1
                p.handedOff()
            }
            #expect(p.owned == mine.last)
        }
        let epoch = (0..<EitherPlacement.epoch).map { $0 >= EitherPlacement.epoch - 5 }
        #expect(mine == epoch + epoch + epoch)
        #expect(handOffs == 3)
        #expect(p.moves == 5)

        // Chunks held for a hand-off that has not come yet still wait for
        // it when the next chunk is the projecting thread's: the decoding
        // thread must not fold them while the projecting one may.
        var q = EitherPlacement(enabled: true, policy: .fixed(5))
        for i in 0..<EitherPlacement.epoch {
            let mine = q.assign(consumerTimes: { ChunkQueue.ConsumerTimes() })
            #expect(mine == (i >= 11))
        }
        #expect(q.awaitingHandOff && !q.owned)
        let next = q.assign(consumerTimes: { ChunkQueue.ConsumerTimes() })
        #expect(!next)
        #expect(q.awaitingHandOff, "the held chunks' hand-off is still due")
        q.handedOff()
        #expect(!q.awaitingHandOff && !q.owned)
    }

    @Test func fraudMovingBetweenTheThreadsEveryEpochGivesTheModelsOfTheSerialReplay() async throws {
        // Proves that the projectors of either thread (fraud) see every
        // event once and in order while they move between the decoding
        // and the projecting thread (here at every epoch of 16 chunks, with
        // the wait for the projecting thread before each move to the
        // decoding one): every model, fraud's included, byte for byte as
        // the serial replay's. A replay that lost or repeated a chunk at a
        // move, or folded one on both threads at once, differs (or crashes).
        // The replays run on a thread of their own, not the task pool's.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = bigShopHistory(count: 12_000, seed: 29)
        let log = try await makeLog(events, at: path)
        let (serial, fraudOrders) = try await onOwnThread {
            let set = try Projections.standard()
            try Replayer.replay(log, into: set, parallel: false)
            return (set.snapshotBytes(), set.fraud?.orderCount ?? 0)
        }
        #expect(fraudOrders > 300, "fraud scored the big shop's orders")
        // The last cases slow the projecting thread down, so that the
        // decoding one holds chunks it decoded while it waits to fold
        // fraud into them, across the end of an epoch.
        for (chunkSize, depth, policy, slow) in [(16, 1, EitherPlacement.Policy.alternating, false), (16, 3, .alternating, false),
                                                 (37, 2, .alternating, false), (16, 1, .fixed(5), false), (37, 3, .fixed(11), false),
                                                 (16, 4, .fixed(2), true), (8, 3, .fixed(3), true), (16, 2, .fixed(9), true)] {
            let probe = OverlapProbe()
            let (count, moves, position, bytes) = try await onOwnThread {
                let set = try Projections.standard()
                set.add(probe)
                if slow { set.add(SlowProjector(nanosPerEvent: 3_000)) }
                let stats = try Replayer.replay(log, into: set, chunkSize: chunkSize, queueDepth: depth, eitherPolicy: policy)
                return (stats.events, stats.eitherMoves, set.position, set.snapshotBytes())
            }
            #expect(count == events.count)
            #expect(probe.folded.load(ordering: .relaxed) == events.count)
            #expect(probe.overlaps.load(ordering: .relaxed) == 0, "folded on both threads at once, \(policy), slow \(slow)")
            #expect(moves >= events.count / chunkSize / EitherPlacement.epoch - 1, "fraud moved at every epoch (\(moves) moves)")
            #expect(position == Position(UInt64(events.count)))
            for name in Projections.allNames {
                #expect(bytes[name] == serial[name], "\(name), chunks of \(chunkSize), queue \(depth), \(policy), slow \(slow)")
            }
        }
    }

    @Test(arguments: [1, 3])
    func aFailureStopsAReplayWhoseFraudMovesEveryEpochAtTheSerialReplaysPosition(queueDepth: Int) async throws {
        // Proves a replay whose fraud moves between the threads stops, and
        // does not hang in the wait before a move, when a projector of the
        // projecting thread fails (the projecting thread cancels) or an
        // event does not decode (the decoding thread stops), with the
        // serial replay's error.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = bigShopHistory(count: 6_000, seed: 31)
        let log = try await makeLog(events, at: path)
        @Sendable func failure(_ extra: (any SnapshottableProjector & Sendable)?,
                               _ policy: EitherPlacement.Policy = .alternating) throws -> ProjectionError? {
            let set = try Projections.standard()
            if let extra { set.add(extra) }
            do {
                try Replayer.replay(log, into: set, chunkSize: 8, queueDepth: queueDepth, eitherPolicy: policy)
                return nil
            } catch {
                return error
            }
        }
        // Chunks of 8 events, a move every 16 chunks, to the decoding
        // thread at chunks 16, 48, 80, …: 370 and 380 are in the chunks
        // just before one (46 and 47), which the decoding thread waits
        // for when the projecting one fails on them.
        for failAt in [UInt64(5), 370, 380, 1_000, 4_321] {
            let error = try await onOwnThread { try failure(FailingProjector(at: failAt)) }
            #expect(error?.position == Position(failAt), "a projector failing at \(failAt)")
        }
        // The last 5 chunks of each epoch on the decoding thread: moves
        // there at chunks 11, 27, 43, …; 85 and 343 are in the chunks just
        // before two of them (10 and 42).
        for failAt in [UInt64(85), 343, 2_000] {
            let error = try await onOwnThread { try failure(FailingProjector(at: failAt), .fixed(5)) }
            #expect(error?.position == Position(failAt), "a projector failing at \(failAt), fraud's last 5 chunks of 16 on the decoding thread")
        }
        _ = try await log.append(to: "order-bad", ProposedEvent(type: "OrderPlaced", data: [0xFF, 0x00, 0x13]))
        let error = try await onOwnThread { try failure(nil) }
        #expect(error?.code == .invalidEvent)
        #expect(error?.position == Position(UInt64(events.count)))
    }
}

/// A test projector that keeps nothing a snapshot would hold.
protocol KeepsNothing: SnapshottableProjector {}

extension KeepsNothing {
    var snapshotVersion: UInt32 { 1 }
    func encodeSnapshot(into writer: inout SnapshotWriter) {}
    func decodeSnapshot(from reader: inout SnapshotReader) throws(ProjectionError) {}

    /// Busy for `nanos` (a fold that takes time, on whichever thread).
    func spin(_ nanos: UInt64) {
        let start = DispatchTime.now().uptimeNanoseconds
        while DispatchTime.now().uptimeNanoseconds - start < nanos {}
    }
}

/// A projector of lane `.either`, like fraud, that notices a fold while
/// another is under way (on the other thread), and takes a while for each
/// event so that such an overlap would be seen.
final class OverlapProbe: KeepsNothing, FoldsOnEitherThread, Sendable {
    let name = "overlap-probe"
    let inside = Atomic<Int>(0)
    let overlaps = Atomic<Int>(0)
    let folded = Atomic<Int>(0)
    func apply(_ event: ProjectedEvent) throws(ProjectionError) { fold(event) }
    func fold(_ event: ProjectedEvent) {
        if inside.add(1, ordering: .acquiringAndReleasing).newValue > 1 { overlaps.add(1, ordering: .relaxed) }
        spin(500)
        folded.add(1, ordering: .relaxed)
        inside.subtract(1, ordering: .acquiringAndReleasing)
    }
}

/// A model that takes a while for every event (on the projecting thread:
/// the registry does not know it), and keeps nothing.
final class SlowProjector: KeepsNothing, Sendable {
    let name = "slow"
    let nanosPerEvent: UInt64
    init(nanosPerEvent: UInt64) { self.nanosPerEvent = nanosPerEvent }
    func apply(_ event: ProjectedEvent) throws(ProjectionError) { spin(nanosPerEvent) }
}

/// A model that fails to fold the event at one position (on the projecting
/// thread: the registry does not know it).
final class FailingProjector: KeepsNothing, Sendable {
    let name = "failing"
    let position: UInt64
    init(at position: UInt64) { self.position = position }
    func apply(_ event: ProjectedEvent) throws(ProjectionError) {
        if event.position.value == position {
            throw ProjectionError(.invalidEvent, "cannot fold", position: event.position, eventType: "test")
        }
    }
}
