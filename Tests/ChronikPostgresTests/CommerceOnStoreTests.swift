import ChronikCommerce
import ChronikLog
@testable import ChronikPostgres
import ChronikProjections
import Foundation
import Testing

// The commerce API and the live models on the PostgreSQL store, in
// process: `lastVersion(of:)` and `events(withIDs:)` on both backends;
// `CommerceStore(store:)` runs the guards, idempotent retries and the
// gatewayRef rule (its index read from the store in pages), a second store
// object (another server) decides on what the first wrote; and
// `LiveProjections.start(store:)` catches up and then follows the store.
extension PostgresStoreTests {
    @Test func theLookUpsAnswerAlikeOnBothBackends() async throws {
        let (_, pg) = try await freshStore("t_lookups")
        let dir = NSTemporaryDirectory() + "chronik-pg-lookups-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let local = try EventLog.open(at: dir)
        defer { try? local.close() }
        let ids = (0..<3).map { _ in EventID.random() }
        for store in [pg as any EventStore, local] {
            #expect(try await store.lastVersion(of: "s-1") == nil)
            _ = try await store.append(to: "s-0", [event("A", "{}", id: ids[0])], expected: .noStream)
            _ = try await store.append(to: "s-1", [event("B", "{}", id: ids[1]), event("C", "{}", id: ids[2])], expected: .noStream)
            #expect(try await store.lastVersion(of: "s-1") == StreamVersion(1))
            let found = try await store.events(withIDs: [ids[2], .random(), ids[0]])
            #expect(found.map(\.id) == [ids[0], ids[2]], "stored ones, in position order: \(type(of: store))")
            #expect(found.map(\.position.value) == [0, 2])
            #expect(try await store.events(withIDs: []).isEmpty)
            #expect(try await store.readEvent(at: Position(1))?.type == "B")
            #expect(try await store.readEvent(at: Position(3)) == nil)
        }
        await pg.close()
    }

    @Test func commerceStoreAndLiveModelsTakeTheStore() async throws {
        let (_, store) = try await freshStore("t_commerce")
        let shop = CommerceStore(store: store)
        #expect(shop.log == nil)
        try await shop.append(.stockReceived(StockReceived(sku: "A", warehouseId: "wh-1", qty: 5)))
        let id = EventID.random()
        let first = try await shop.append(.stockReserved(StockReserved(sku: "A", warehouseId: "wh-1", qty: 3, orderId: "o-1")), id: id)
        // The same id and content again: the original positions, nothing written.
        let retry = try await shop.append(.stockReserved(StockReserved(sku: "A", warehouseId: "wh-1", qty: 3, orderId: "o-1")), id: id)
        #expect(retry.wasDuplicate && retry.positions == first.positions)
        // Another server's store object decides on what this one wrote.
        let other = CommerceStore(store: store)
        do {
            try await other.append(.stockReserved(StockReserved(sku: "A", warehouseId: "wh-1", qty: 3, orderId: "o-2")))
            Issue.record("reserved 3 of 2 available")
        } catch let e as CommerceError {
            #expect(e.code == .insufficientStock, "\(e)")
        }
        guard case .stock(let s) = try await other.currentState(of: "stock-A").state else { Issue.record("not stock"); return }
        #expect(s.available(in: "wh-1") == 2)

        // The gatewayRef rule through the store: the same line is a no-op at its position, other content refused.
        let line = SettlementLineReported(gateway: "stripe", payoutId: "po-1", paidOutAt: Timestamp(rfc3339: "2024-05-03T00:00:00Z")!,
                                          kind: .charge, gatewayRef: "t1", paymentId: "pay-1", gross: 1000, fee: 30, net: 970,
                                          currency: "EUR")
        let reported = try await shop.append(.settlementLineReported(line))
        let again = try await other.append(.settlementLineReported(line))
        #expect(again.positions == reported.positions)
        var changed = line
        changed.gross = 999
        changed.net = 969
        do {
            try await other.append(.settlementLineReported(changed))
            Issue.record("a gatewayRef reported twice with other content was stored")
        } catch let e as CommerceError {
            #expect(e.code == .duplicateGatewayRef, "\(e)")
        }
        #expect(try await store.headPosition() == Position(3))

        // Live models: caught up from the store, then following it.
        let live = try await LiveProjections.start(store: store, only: ["inventory"])
        defer { live.stop() }
        #expect(live.position == Position(3))
        #expect(live.read { $0.inventory?.levels(sku: "A").first?.reserved } == 3)
        let more = try await other.append(.stockReceived(StockReceived(sku: "A", warehouseId: "wh-1", qty: 4)))
        try await live.waitUntil(more.lastPosition)
        #expect(live.read { $0.inventory?.levels(sku: "A").first?.onHand } == 9)
        #expect(live.read { $0.inventory?.levels(sku: "A").first?.available } == 6)
        await store.close()
    }
}
