import Foundation
import Testing
@testable import ChronikCommerce

// The commerce invariants of EVENTS.md, each on a crafted history: the
// refused append throws its code and writes nothing.

/// A fresh log in a temporary directory, removed by `close`.
final class TempShop {
    let dir = NSTemporaryDirectory() + "chronik-guards-" + UUID().uuidString
    let log: EventLog
    let store: CommerceStore

    init() throws {
        var options = LogOptions()
        options.durability = .none
        log = try EventLog.open(at: dir, options: options)
        store = CommerceStore(log: log, forgetsInPlaintext: true)
    }

    func close() {
        try? log.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    var head: UInt64 { log.head.value }

    /// Appends and expects `code`, and that the log did not grow.
    func refuses(_ event: CommerceEvent, _ code: CommerceError.Code,
                 sourceLocation: SourceLocation = #_sourceLocation) async {
        let before = head
        do {
            try await store.append(event)
            Issue.record("appended; expected \(code)", sourceLocation: sourceLocation)
        } catch let e as CommerceError {
            #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
            #expect(e.field != nil, "the error names the field", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
        #expect(head == before, "nothing written", sourceLocation: sourceLocation)
    }
}

let berlin = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")

func placed(_ order: String = "o-1", customer: String = "c-1") -> CommerceEvent {
    .orderPlaced(OrderPlaced(orderId: order, customerId: customer, lines: [OrderLine(sku: "sku-1", qty: 2, unitPrice: 1000)],
                             currency: "EUR", shippingAddress: berlin))
}

func received(_ qty: Int64, wh: String = "wh-1") -> CommerceEvent {
    .stockReceived(StockReceived(sku: "sku-1", warehouseId: wh, qty: qty))
}

func reserved(_ qty: Int64, order: String = "o-1", wh: String = "wh-1") -> CommerceEvent {
    .stockReserved(StockReserved(sku: "sku-1", warehouseId: wh, qty: qty, orderId: order))
}

func authorized(_ amount: Int64, payment: String = "pay-1") -> CommerceEvent {
    .paymentAuthorized(PaymentAuthorized(orderId: "o-1", paymentId: payment, amount: amount, method: "card", gateway: "stripe"))
}

func captured(_ amount: Int64, payment: String = "pay-1") -> CommerceEvent {
    .paymentCaptured(PaymentCaptured(orderId: "o-1", paymentId: payment, amount: amount))
}

func refund(_ amount: Int64, payment: String = "pay-1") -> CommerceEvent {
    .refundIssued(RefundIssued(orderId: "o-1", refundId: "rf-\(amount)", paymentId: payment, amount: amount, reason: "return"))
}

func shipped(_ order: String = "o-1") -> CommerceEvent {
    .orderShipped(OrderShipped(orderId: order, shipmentId: "sh-1", warehouseId: "wh-1", carrier: "DHL",
                               trackingNumber: "T1", lines: [ShipmentLine(sku: "sku-1", qty: 1)]))
}

@Suite struct GuardTests {
    @Test func reservationAboveAvailableIsRefused() async throws {
        // Proves a reservation above onHand − reserved is refused and writes nothing, while one within it passes.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(5))
        try await shop.store.append(reserved(3, order: "o-a"))
        await shop.refuses(reserved(3, order: "o-b"), .insufficientStock)
        try await shop.store.append(reserved(2, order: "o-b"))
        guard case .stock(let s) = try shop.store.state(of: "stock-sku-1").state else { Issue.record("not stock"); return }
        #expect(s.available(in: "wh-1") == 0)
    }

    @Test func releaseAndShipmentAreBoundByTheOrdersReservationInThatWarehouse() async throws {
        // Proves release and StockShipped may not exceed what that order holds reserved in that warehouse.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(10))
        try await shop.store.append(received(10, wh: "wh-2"))
        try await shop.store.append(reserved(2, order: "o-1"))
        try await shop.store.append(reserved(5, order: "o-2"))
        await shop.refuses(.stockReleased(StockReleased(sku: "sku-1", warehouseId: "wh-1", qty: 3, orderId: "o-1")), .overRelease)
        await shop.refuses(.stockShipped(StockShipped(sku: "sku-1", warehouseId: "wh-1", qty: 3, orderId: "o-1")), .overShipment)
        // Reserved in wh-1, not in wh-2.
        await shop.refuses(.stockShipped(StockShipped(sku: "sku-1", warehouseId: "wh-2", qty: 1, orderId: "o-1")), .overShipment)
        try await shop.store.append(.stockShipped(StockShipped(sku: "sku-1", warehouseId: "wh-1", qty: 1, orderId: "o-1")))
        try await shop.store.append(.stockReleased(StockReleased(sku: "sku-1", warehouseId: "wh-1", qty: 1, orderId: "o-1")))
        await shop.refuses(.stockReleased(StockReleased(sku: "sku-1", warehouseId: "wh-1", qty: 1, orderId: "o-1")), .overRelease)
    }

    @Test func transferAndNegativeAdjustmentCannotTakeReservedUnits() async throws {
        // Proves a transfer or a negative adjustment may only take available units, never reserved or missing ones.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(10))
        try await shop.store.append(reserved(8))
        await shop.refuses(.stockTransferred(StockTransferred(sku: "sku-1", fromWarehouseId: "wh-1", toWarehouseId: "wh-2", qty: 3)),
                           .insufficientStock)
        await shop.refuses(.stockAdjusted(StockAdjusted(sku: "sku-1", warehouseId: "wh-1", delta: -3, reason: "damage")),
                           .insufficientStock)
        await shop.refuses(.stockAdjusted(StockAdjusted(sku: "sku-1", warehouseId: "wh-9", delta: -1, reason: "count")),
                           .insufficientStock)
        try await shop.store.append(.stockTransferred(StockTransferred(sku: "sku-1", fromWarehouseId: "wh-1", toWarehouseId: "wh-2", qty: 2)))
        try await shop.store.append(.stockAdjusted(StockAdjusted(sku: "sku-1", warehouseId: "wh-2", delta: -2, reason: "count")))
    }

    @Test func stockOnHandMustFitSixtyFourBits() async throws {
        // Proves stop 39's finding (a merchandiser): receipts of Int64.max in two warehouses went through the guards,
        // and a transfer there and back clipped the sum and lost 10 units; a receipt past Int64.max made a later
        // negative adjustment of available units fail. Units that would not fit are refused, as an order's total is.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(.stockReceived(StockReceived(sku: "sku-1", warehouseId: "A", qty: .max)))
        try await shop.store.append(.stockReceived(StockReceived(sku: "sku-1", warehouseId: "B", qty: .max)))
        await shop.refuses(.stockTransferred(StockTransferred(sku: "sku-1", fromWarehouseId: "A", toWarehouseId: "B", qty: 10)), .invalidQuantity)
        await shop.refuses(.stockReceived(StockReceived(sku: "sku-1", warehouseId: "A", qty: 5)), .invalidQuantity)
        await shop.refuses(.stockAdjusted(StockAdjusted(sku: "sku-1", warehouseId: "B", delta: 1, reason: "count")), .invalidQuantity)
        // A transfer within one warehouse nets to 0; a return into the other after units left it fits again.
        try await shop.store.append(.stockTransferred(StockTransferred(sku: "sku-1", fromWarehouseId: "A", toWarehouseId: "A", qty: 10)))
        try await shop.store.append(.stockAdjusted(StockAdjusted(sku: "sku-1", warehouseId: "A", delta: -10, reason: "count")))
        try await shop.store.append(.stockTransferred(StockTransferred(sku: "sku-1", fromWarehouseId: "B", toWarehouseId: "A", qty: 10)))
        let state = try shop.store.state(of: "stock-sku-1")
        guard case .stock(let stock) = state.state else { Issue.record("\(state)"); return }
        #expect(stock.onHand == ["A": .max, "B": .max - 10], "no unit lost: \(stock.onHand)")
    }

    @Test func captureNeedsAuthorizationAndStaysWithinIt() async throws {
        // Proves a capture needs an earlier authorization of its paymentId and Σ captured ≤ Σ authorized.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(placed())
        await shop.refuses(captured(100), .captureWithoutAuthorization)
        try await shop.store.append(authorized(1000))
        await shop.refuses(captured(100, payment: "pay-2"), .captureWithoutAuthorization)
        try await shop.store.append(captured(600))
        await shop.refuses(captured(401), .overCapture)
        try await shop.store.append(captured(400))
    }

    @Test func paymentAndOrderSumsMustFitSixtyFourBits() async throws {
        // Proves stop 35's finding: Σ authorized saturated, so a capture of Int64.max beside another passed
        // overCapture, and the orders model then trapped on every query and at the server's start, for good.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(placed())
        try await shop.store.append(authorized(.max))
        await shop.refuses(authorized(1), .invalidAmount)
        try await shop.store.append(captured(.max))
        try await shop.store.append(authorized(5, payment: "pay-2"))
        await shop.refuses(captured(1, payment: "pay-2"), .invalidAmount)
        try await shop.store.append(refund(.max))
        // The refusal names amounts in the currency's units, not minor units (stop 35: "capturing 600 EUR").
        let other = try TempShop()
        defer { other.close() }
        try await other.store.append(placed())
        try await other.store.append(authorized(1000))
        do {
            try await other.store.append(captured(1001))
            Issue.record("a capture above the authorization was appended")
        } catch let e as CommerceError {
            #expect(e.code == .overCapture && e.message.contains("EUR 10.01") && e.message.contains("EUR 10.00 authorized"), "\(e.message)")
        }
    }

    @Test func refundNeedsCapturesAndStaysWithinThem() async throws {
        // Proves a refund needs captures of its paymentId and Σ refunded ≤ Σ captured.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(placed())
        try await shop.store.append(authorized(1000))
        let refund = { (amount: Int64) in
            CommerceEvent.refundIssued(RefundIssued(orderId: "o-1", refundId: "rf-\(amount)", paymentId: "pay-1", amount: amount, reason: "return"))
        }
        await shop.refuses(refund(10), .refundWithoutCapture)
        try await shop.store.append(captured(500))
        await shop.refuses(refund(501), .overRefund)
        try await shop.store.append(refund(500))
        await shop.refuses(refund(1), .overRefund)
    }

    @Test func noShipmentOfACancelledOrder() async throws {
        // Proves OrderShipped after OrderCancelled is refused.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(placed())
        try await shop.store.append(.orderCancelled(OrderCancelled(orderId: "o-1", reason: "customer")))
        await shop.refuses(shipped(), .orderCancelled)
    }

    @Test func noCancellationOnceAnythingShipped() async throws {
        // Proves OrderCancelled after a shipment is refused.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(placed())
        try await shop.store.append(shipped())
        await shop.refuses(.orderCancelled(OrderCancelled(orderId: "o-1", reason: "late")), .orderAlreadyShipped)
    }

    @Test func nothingAfterCustomerForgotten() async throws {
        // Proves a forgotten customer id takes no further events: on its stream, OrderPlaced, SessionStarted.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(.customerRegistered(CustomerRegistered(customerId: "c-1", email: "a@example.org", name: "A",
                                                                            address: berlin, marketingConsent: false)))
        try await shop.store.append(placed("o-1"))
        try await shop.store.append(.customerForgotten(CustomerForgotten(customerId: "c-1")))
        await shop.refuses(.consentChanged(ConsentChanged(customerId: "c-1", marketingConsent: true)), .customerForgotten)
        await shop.refuses(.customerForgotten(CustomerForgotten(customerId: "c-1")), .customerForgotten)
        await shop.refuses(placed("o-2"), .customerForgotten)
        await shop.refuses(.sessionStarted(SessionStarted(sessionId: "s-1", customerId: "c-1", channel: "web")), .customerForgotten)
        // The rest of the history stays usable: payments of the old order still pass.
        try await shop.store.append(authorized(100))
        try await shop.store.append(placed("o-3", customer: "c-2"))
    }

    @Test func orderPlacedNeedsANewStreamAndEverythingElseAnOrder() async throws {
        // Proves OrderPlaced on an existing order and PaymentCaptured on a missing order are refused.
        let shop = try TempShop()
        defer { shop.close() }
        await shop.refuses(captured(100), .orderNotFound)
        await shop.refuses(.orderCancelled(OrderCancelled(orderId: "o-1", reason: "x")), .orderNotFound)
        try await shop.store.append(placed())
        await shop.refuses(placed(), .orderExists)
    }

    @Test func batchIsCheckedAsAWhole() async throws {
        // Proves a batch is decided event by event on the state its predecessors leave, and refused all-or-nothing.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(4))
        let ok = try [reserved(2, order: "o-a"), reserved(2, order: "o-b")].map { try CommerceEnvelope($0, time: .now()) }
        try await shop.store.append(ok)
        try await shop.store.append(received(3))
        let bad = try [reserved(2, order: "o-c"), reserved(2, order: "o-d")].map { try CommerceEnvelope($0, time: .now()) }
        let before = shop.head
        await #expect(throws: CommerceError.self) { try await shop.store.append(bad) }
        #expect(shop.head == before)
    }

    @Test func idempotentRetryIsNotCheckedAgain() async throws {
        // Proves re-sending an appended event (same id) is a no-op even when its guard would now refuse it.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(2))
        let id = EventID.random()
        let time = Timestamp.now()
        let first = try await shop.store.append(reserved(2), id: id, time: time)
        let again = try await shop.store.append(reserved(2), id: id, time: time)
        #expect(again.wasDuplicate)
        #expect(again.firstPosition == first.firstPosition)
    }

    @Test func eightTasksRaceForTheLastTenUnits() async throws {
        // Proves optimistic concurrency cannot oversell: 8 stores race 1-unit reservations for 10 units; exactly 10 land.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(10))
        let log = shop.log
        let outcomes = try await withThrowingTaskGroup(of: (won: Int, lastCode: CommerceError.Code?).self) { group in
            for t in 0..<8 {
                group.addTask {
                    // One store per task: separate caches, as separate processes would have.
                    let store = CommerceStore(log: log, maxRetries: 32)
                    var won = 0
                    while true {
                        do {
                            try await store.append(reserved(1, order: "o-\(t)"))
                            won += 1
                        } catch let e as CommerceError {
                            return (won, e.code)
                        }
                    }
                }
            }
            var all: [(won: Int, lastCode: CommerceError.Code?)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(outcomes.map(\.won).reduce(0, +) == 10)
        #expect(outcomes.allSatisfy { $0.lastCode == .insufficientStock }, "every task ends refused for stock: \(outcomes)")
        guard case .stock(let s) = try CommerceStore(log: log).state(of: "stock-sku-1").state else { Issue.record("not stock"); return }
        #expect(s.reserved(in: "wh-1") == 10)
        #expect(s.available(in: "wh-1") == 0)
    }

    @Test func eightTasksEachWantingFiveUnitsOfTen() async throws {
        // Proves exactly two of eight concurrent 5-unit reservations win and the six losers get insufficientStock.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(10))
        let log = shop.log
        let codes = await withTaskGroup(of: CommerceError.Code?.self) { group in
            for t in 0..<8 {
                group.addTask {
                    do {
                        try await CommerceStore(log: log).append(reserved(5, order: "o-\(t)"))
                        return nil
                    } catch let e as CommerceError { return e.code } catch { return CommerceError.Code.appendFailed }
                }
            }
            var all: [CommerceError.Code?] = []
            for await c in group { all.append(c) }
            return all
        }
        #expect(codes.filter { $0 == nil }.count == 2)
        #expect(codes.filter { $0 == .insufficientStock }.count == 6)
    }
}

/// A store that forwards to a local log, as a service's metrics or tracing
/// decorator would.
private struct ForwardingStore: EventStore {
    let base: EventLog
    func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult {
        try await base.append(to: stream, events, expected: expected)
    }
    func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
        try await base.readStream(stream, from: version, limit: limit)
    }
    func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] { try await base.readAll(from: position, limit: limit) }
    func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> { base.subscribeAll(from: position) }
    func headPosition() async throws -> Position { try await base.headPosition() }
    func lastVersion(of stream: String) async throws -> StreamVersion? { base.lastVersion(of: stream) }
    func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] { try await base.events(withIDs: ids) }
}

@Suite struct DecoratedStoreTests {
    /// Stop 36 (a library user): a decorator around the log compiled, and
    /// `state(of:)` then trapped (`preconditionFailure`). It throws now,
    /// naming the async API; the guards work through the decorator.
    @Test func theSynchronousReadersThrowOnAnotherStore() async throws {
        let shop = try TempShop()
        defer { shop.close() }
        let decorated = CommerceStore(store: ForwardingStore(base: shop.log))
        try await decorated.append(.stockReceived(StockReceived(sku: "S", warehouseId: "W", qty: 1)))
        #expect { _ = try decorated.state(of: "stock-S") } throws: { error in
            (error as? ChronikLogError)?.code == .invalidOption && "\(error)".contains("currentState(of:)")
        }
        guard case .stock(let s) = try await decorated.currentState(of: "stock-S").state else { Issue.record("not stock"); return }
        #expect(s.available(in: "W") == 1)
    }
}


/// A store whose first id look-up answers as if none of the ids were in
/// the log: the look-up of a retry made just before its original landed.
private final class StaleFirstLookup: EventStore, @unchecked Sendable {
    // @unchecked: `stale` is read and cleared by the one test task.
    let base: EventLog
    var stale = true
    init(base: EventLog) { self.base = base }
    func storedCount(ofIDs ids: [EventID]) async throws -> Int {
        if stale { stale = false; return 0 }
        return try await base.storedCount(ofIDs: ids)
    }
    func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult {
        try await base.append(to: stream, events, expected: expected)
    }
    func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
        try await base.readStream(stream, from: version, limit: limit)
    }
    func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] { try await base.readAll(from: position, limit: limit) }
    func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> { base.subscribeAll(from: position) }
    func headPosition() async throws -> Position { try await base.headPosition() }
    func lastVersion(of stream: String) async throws -> StreamVersion? { base.lastVersion(of: stream) }
    func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] { try await base.events(withIDs: ids) }
}

@Suite struct RetryRacingItsOriginalTests {
    /// Stop 38 (a checkout service, 8 threads sending one request): a retry
    /// whose id look-up ran before its original landed met the state the
    /// original left, and was refused — 422 insufficientStock for a
    /// reservation that was written, 409 orderExists for a placed order. It
    /// is the idempotent retry it is: the original's positions, nothing
    /// written twice.
    @Test(arguments: ["reserve", "place"])
    func aRetryThatLooksUpItsIdsTooEarlyIsStillARetry(_ kind: String) async throws {
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(1))
        let event = kind == "reserve" ? reserved(1) : placed()
        let id = EventID.random()
        let time = Timestamp(rfc3339: "2024-05-01T10:00:00Z")!
        let original = try await shop.store.append(event, id: id, time: time)
        let head = shop.head
        let retry = try await CommerceStore(store: StaleFirstLookup(base: shop.log), forgetsInPlaintext: true)
            .append(event, id: id, time: time)
        #expect(retry.wasDuplicate && retry.firstPosition == original.firstPosition && retry.lastVersion == original.lastVersion)
        #expect(shop.head == head, "nothing written twice")
        // The same id with other content is still refused as such, not by a guard.
        let other = kind == "reserve" ? reserved(1, order: "o-2") : placed("o-1", customer: "c-2")
        await #expect { try await CommerceStore(store: StaleFirstLookup(base: shop.log), forgetsInPlaintext: true).append(other, id: id, time: time) }
            throws: { error in "\(error)".contains("duplicate") || "\(error)".contains("other content") }
        #expect(shop.head == head)
    }
}

@Suite struct ConcurrentShipsTests {
    /// Stop 38 (a checkout service): 4 concurrent ships of an order's one
    /// reserved unit each passed the check and appended an OrderShipped; 3
    /// were then refused 422 overShipment, and the orders model counted 4
    /// shipped of 1. Ships of one order now take turns: one ships, the
    /// other three are refused with nothing written.
    @Test func concurrentShipsOfOneReservationWriteOneShipment() async throws {
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(5))
        try await shop.store.append(placed())
        try await shop.store.append(reserved(1))
        let store = shop.store
        let outcomes = await withTaskGroup(of: String.self) { group in
            for t in 0..<4 {
                group.addTask {
                    var s = OrderShipped()
                    s.orderId = "o-1"
                    s.shipmentId = "s\(t)"
                    s.warehouseId = "wh-1"
                    s.carrier = "DHL"
                    s.trackingNumber = "T\(t)"
                    s.lines = [ShipmentLine(sku: "sku-1", qty: 1)]
                    do { try await store.ship(s); return "shipped" } catch let e as CommerceError { return e.code.name } catch { return "\(error)" }
                }
            }
            var all: [String] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.sorted() == ["overShipment", "overShipment", "overShipment", "shipped"], "\(outcomes)")
        let order = try await shop.log.readStream("order-o-1", from: StreamVersion(0), limit: 100)
        #expect(order.filter { $0.type == "OrderShipped" }.count == 1, "\(order.map(\.type))")
        let stock = try await shop.log.readStream("stock-sku-1", from: StreamVersion(0), limit: 100)
        #expect(stock.filter { $0.type == "StockShipped" }.count == 1)
    }
}

extension ConcurrentShipsTests {
    /// Stop 39 (a merchandiser): shipping an order that was never placed
    /// was refused as overShipment ("order nope holds 0 reserved there"),
    /// and orderNotFound only once some stock happened to be reserved for
    /// that id; a cancelled order with units still reserved was refused only
    /// by its OrderShipped's own guard. The order is checked first.
    @Test func shippingAnUnknownOrCancelledOrderIsRefusedByTheOrdersRule() async throws {
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(5))
        try await shop.store.append(reserved(1, order: "ghost"))
        try await shop.store.append(placed())
        try await shop.store.append(reserved(1))
        try await shop.store.append(.orderCancelled(OrderCancelled(orderId: "o-1", reason: "test")))
        func ship(_ order: String, qty: Int64) async -> CommerceError? {
            var s = OrderShipped()
            s.orderId = order
            s.shipmentId = "s-\(order)-\(qty)"
            s.warehouseId = "wh-1"
            s.carrier = "DHL"
            s.trackingNumber = "T1"
            s.lines = [ShipmentLine(sku: "sku-1", qty: qty)]
            do { try await shop.store.ship(s); return nil } catch let e as CommerceError { return e } catch { return nil }
        }
        let head = shop.head
        for (order, qty, code) in [("nope", Int64(1), CommerceError.Code.orderNotFound), ("ghost", 1, .orderNotFound),
                                   ("o-1", 1, .orderCancelled), ("o-1", 3, .orderCancelled)] {
            let refused = await ship(order, qty: qty)
            #expect(refused?.code == code && refused?.message.contains("nothing was written") == true, "\(order): \(String(describing: refused))")
        }
        #expect(shop.head == head, "nothing written")
    }
}

@Suite struct HotStreamTests {
    /// Stop 38 (a checkout service): 32 threads reserving one unit each of a
    /// SKU with plenty of stock, and a quarter of them got 409
    /// concurrencyConflict after losing every retry. Appends to one stream
    /// through one store take turns now: with no retry at all
    /// (`maxRetries: 0`) every reservation goes in.
    @Test func concurrentReservationsOfOneSKUAllGoIn() async throws {
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(received(1_000))
        let store = CommerceStore(log: shop.log, maxRetries: 0, forgetsInPlaintext: true)
        let failures = await withTaskGroup(of: String?.self) { group in
            for t in 0..<32 {
                group.addTask {
                    do { try await store.append(reserved(1, order: "o-\(t)")); return nil } catch { return "\(error)" }
                }
            }
            var all: [String] = []
            for await f in group { if let f { all.append(f) } }
            return all
        }
        #expect(failures.isEmpty, "\(failures)")
        guard case .stock(let s) = try await store.currentState(of: "stock-sku-1").state else { Issue.record("not stock"); return }
        #expect(s.available(in: "wh-1") == 1_000 - 32)
    }
}

@Suite struct KeyStoreAwayTests {
    struct Away: Error {}
    struct Refused: PIIKeyRefusal {}
    /// A protector whose key store fails in the way `failure` says.
    struct Failing: PIIProtector {
        let refuses: Bool
        func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
            if refuses { throw Refused() } else { throw Away() }
        }
        func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? { nil }
        func destroyKey(subject: String) throws {}
    }

    /// Stop 38 (a DBA): with PostgreSQL out of connections, sealing failed and
    /// the command was 409 appendFailed, which a client takes as a final
    /// refusal. A key store that does not answer is an I/O failure of the
    /// moment now; one that refuses stays appendFailed. Nothing is written.
    @Test func aKeyStoreThatDoesNotAnswerIsNotARefusal() async throws {
        let shop = try TempShop()
        defer { shop.close() }
        let registered = CommerceEvent.customerRegistered(CustomerRegistered(customerId: "c-1", email: "a@example.org", name: "A",
                                                                            address: berlin, marketingConsent: false))
        await #expect { try await CommerceStore(log: shop.log, protector: Failing(refuses: false)).append(registered) } throws: { error in
            (error as? ChronikLogError)?.code == .io && "\(error)".contains("the key store did not answer")
        }
        await #expect { try await CommerceStore(log: shop.log, protector: Failing(refuses: true)).append(registered) } throws: { error in
            (error as? CommerceError)?.code == .appendFailed
        }
        #expect(shop.head == 0)
    }
}
