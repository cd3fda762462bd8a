import Testing
import Foundation
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

/// How a replay sizes the models' tables ahead (`Reservations`,
/// `GrowsWithLog`) and how the models built on orders read the order just
/// folded instead of looking it up again (`OrdersProjector.lastFolded`):
/// both must leave every model exactly as it was.
@Suite struct ReplaySizingTests {
    @Test func tablesAreSizedAfterOneSixtyFourthOneSixteenthAndOneQuarter() {
        // Proves the checkpoints and the growth projected at each (the whole
        // log over what is folded, a snapshot's events included), and that a
        // small replay never sizes anything.
        let set = ProjectionSet()
        var small = Reservations(set, total: 6_400)
        #expect((1...6_400).allSatisfy { small.due(after: UInt64($0)) == nil })

        set.reservationMinimum = 1_000
        var r = Reservations(set, total: 6_400)
        var due: [UInt64: Double] = [:]
        for done in 1...6_400 { if let g = r.due(after: UInt64(done)) { due[UInt64(done)] = g } }
        #expect(due == [100: 64, 400: 16, 1_600: 4])

        set.position = Position(3_200)  // a snapshot's events, already folded
        var tail = Reservations(set, total: 6_400)
        var grown: [Double] = []
        for done in 1...6_400 { if let g = tail.due(after: UInt64(done)) { grown.append(g) } }
        let expected: [Double] = [9_600.0 / 3_300, 9_600.0 / 3_600, 9_600.0 / 4_800]
        #expect(grown == expected)
    }

    @Test func reservingChangesCapacityNeverContents() {
        // Proves a table grows to the projected size (5 % over), keeps its
        // entries, and is left alone when it would not grow.
        var d = Dictionary(uniqueKeysWithValues: (0..<100).map { ("k\($0)", $0) })
        let before = d
        d.reserve(growth: 10)
        #expect(d.capacity >= 1_050)
        #expect(d == before)
        let capacity = d.capacity
        d.reserve(growth: 1)
        d.reserve(growth: 0.5)
        #expect(d.capacity == capacity)
        var empty: [String: Int] = [:]
        empty.reserve(growth: 1_000)
        #expect(empty.capacity == 0)
        var a = Array(0..<10)
        a.reserve(growth: 3)
        #expect(a.capacity >= 32 && a == Array(0..<10))
    }

    @Test func aReplayThatSizesItsTablesGivesTheModelsOfOneWithout() async throws {
        // Proves serial and two-lane replays that size their tables at every
        // checkpoint give each model byte for byte as folding the events one
        // by one, on a big shop's history.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = bigShopHistory(count: 12_000, seed: 17)
        let log = try await makeLog(events, at: path)
        let expected = try inMemory(events).snapshotBytes()
        for parallel in [false, true] {
            let set = try Projections.standard()
            set.reservationMinimum = 1_000
            try Replayer.replay(log, into: set, parallel: parallel, chunkSize: 64, queueDepth: 2)
            #expect(set.position == Position(UInt64(events.count)))
            for name in Projections.allNames {
                #expect(set.snapshotBytes()[name] == expected[name], "\(name), parallel: \(parallel)")
            }
            // Sized ahead: the order table had room for the whole log early.
            let orders = try #require(set.orders)
            #expect(orders.slotCapacity >= orders.orders.count && orders.orders.count > 1_000)
        }
    }

    @Test func modelsBuiltOnOrdersReadTheOrderJustFoldedOrLookItUp() throws {
        // Proves CRM and finance answer as with a lookup of the order id when
        // the event right before was folded into another order, when the
        // order was never placed, and for a repeated OrderPlaced.
        var h = History()
        h.place("o1", customer: "c1", [("A", 1, 1_000)], currency: "USD")
        h.capture("ghost", 700)                              // right after o1 folded: not o1's currency
        h.place("o1", customer: "c2", [("B", 1, 50)])       // repeated id: ignored by CRM too
        h.place("o2", customer: "c2", [("A", 2, 100)])
        h.capture("o1", 1_000)                               // o1 again, right after o2 folded
        h.refund("o2", 50)
        h.refund("ghost", 10)
        let set = try h.project()
        #expect(set.crm?.customer("c1")?.orderIds == ["o1"])
        #expect(set.crm?.customer("c2")?.orderIds == ["o2"])
        let finance = try #require(set.finance).list()
        #expect(finance.map(\.currency) == ["EUR", "USD"])
        #expect(finance.first { $0.currency == "USD" }?.captured == 1_000)
        #expect(finance.first { $0.currency == "EUR" }?.refunded == 50)
        #expect(set.orders?.ignoredEvents == ["PaymentCaptured": 1, "OrderPlaced": 1, "RefundIssued": 1])

        // The same models from a snapshot, then the rest: the order just
        // folded before the snapshot is not taken for one folded after.
        let cut = 1
        let restored = try Projections.standard()
        let first = try Projections.standard()
        for e in h.events.prefix(cut) { try first.apply(e) }
        for p in restored.projectors {
            var w = SnapshotWriter()
            first.projector(named: p.name)!.encodeSnapshot(into: &w)
            var r = SnapshotReader(w.bytes)
            try p.decodeSnapshot(from: &r)
        }
        for e in h.events.dropFirst(cut) { try restored.apply(e) }
        #expect(restored.snapshotBytes() == set.snapshotBytes())
    }
}
