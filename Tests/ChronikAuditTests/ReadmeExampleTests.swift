import Foundation
import Testing
import ChronikLog
import ChronikCommerce
import ChronikProjections
@testable import ChronikAudit

/// The README's library example, run: if it stops compiling or answering,
/// the README is wrong.
@Suite struct ReadmeExampleTests {
    @Test func guardedAppendAndReadYourWrites() async throws {
        // Proves the README flow: a guarded reservation beyond stock is refused, one within passes, and a live
        // projection answers the payment the caller just appended (read-your-writes via waitUntil).
        let f = GDPRFixture()
        let log = try EventLog.open(at: f.logPath)
        let keys = try FileKeyStore(directory: f.keysPath)
        let shop = CommerceStore(log: log, protector: SubjectKeyVault(store: keys))
        let address = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")
        try await shop.append(.stockReceived(StockReceived(sku: "SKU-1", warehouseId: "BER", qty: 2)))
        try await shop.append(.orderPlaced(OrderPlaced(orderId: "o-1", customerId: "c-1",
                                                       lines: [OrderLine(sku: "SKU-1", qty: 2, unitPrice: 2000)],
                                                       currency: "EUR", shippingFee: 999, shippingAddress: address)))
        await #expect(throws: (any Error).self) {
            try await shop.append(.stockReserved(StockReserved(sku: "SKU-1", warehouseId: "BER", qty: 3, orderId: "o-1")))
        }
        try await shop.append(.stockReserved(StockReserved(sku: "SKU-1", warehouseId: "BER", qty: 2, orderId: "o-1")))
        try await shop.append(.paymentAuthorized(PaymentAuthorized(orderId: "o-1", paymentId: "p-1", amount: 4999,
                                                                   method: "card", gateway: "stripe")))

        let live = try LiveProjections.start(log: log, protector: shop.protector)
        let result = try await shop.append(.paymentCaptured(PaymentCaptured(orderId: "o-1", paymentId: "p-1", amount: 4999)))
        try await live.waitUntil(result.lastPosition)
        let status = live.read { $0.orders?.order("o-1")?.financialStatus }
        #expect(status == .paid)
        #expect(live.read { $0.inventory?.level(sku: "SKU-1", warehouseId: "BER")?.available } == 0)
        live.stop()
        try log.close()
    }
}
