import Foundation
import Testing
import ChronikLog
import ChronikCommerce
import ChronikProjections
@testable import ChronikAudit

/// The README's library example, run: the code between the markers below
/// is the README's block (checked), so if it stops compiling or answering,
/// the README is wrong (stop 36: a library user found its first append
/// refused, `insufficientStock`, and its vault without GDPR.md's safeguards).
@Suite struct ReadmeExampleTests {
    @Test func guardedAppendAndReadYourWrites() async throws {
        let f = GDPRFixture()
        let logPath = f.logPath, keysPath = f.keysPath
        // README begin
        let log = try EventLog.open(at: logPath)              // LogOptions: segment size, durability, compression
        // Personal data is sealed per customer. The key store lives outside the log directory and is bound to
        // this log (docs/GDPR.md); SubjectKeyVault(store:) alone has none of those safeguards.
        let vault = try SubjectKeyVault.forLog(log, keyDirectory: keysPath)
        let shop = CommerceStore(log: log, protector: vault)

        // Guarded: each append reads its stream's state, refuses what breaks a rule of EVENTS.md
        // (a reservation above what is available: CommerceError insufficientStock), retries on conflict.
        try await shop.append(.stockReceived(StockReceived(sku: "SKU-1", warehouseId: "BER", qty: 2)))
        let address = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")
        try await shop.append(.orderPlaced(OrderPlaced(orderId: "o-1", customerId: "c-1",
                                                       lines: [OrderLine(sku: "SKU-1", qty: 2, unitPrice: 2000)],
                                                       currency: "EUR", shippingFee: 999, shippingAddress: address)))
        try await shop.append(.stockReserved(StockReserved(sku: "SKU-1", warehouseId: "BER", qty: 2, orderId: "o-1")))
        try await shop.append(.paymentAuthorized(PaymentAuthorized(orderId: "o-1", paymentId: "p-1", amount: 4999,
                                                                   method: "card", gateway: "stripe")))

        // Read models kept current by a subscription; read your own writes.
        let live = try LiveProjections.start(log: log, protector: shop.protector)
        let result = try await shop.append(.paymentCaptured(PaymentCaptured(orderId: "o-1", paymentId: "p-1", amount: 4999)))
        try await live.waitUntil(result.lastPosition)               // the event at that position is applied
        let status = live.read { $0.orders?.order("o-1")?.financialStatus }   // .paid

        // Shipping: the OrderShipped and one StockShipped per line (the reserved units leave stock).
        try await shop.ship(OrderShipped(orderId: "o-1", shipmentId: "s-1", warehouseId: "BER", carrier: "DHL",
                                         trackingNumber: "T-1", lines: [ShipmentLine(sku: "SKU-1", qty: 2)]))
        // README end
        #expect(status == .paid)
        try await live.waitUntil(Position(log.head.value - 1))
        #expect(live.read { $0.inventory?.level(sku: "SKU-1", warehouseId: "BER")?.onHand } == 0)
        #expect(live.read { $0.inventory?.level(sku: "SKU-1", warehouseId: "BER")?.available } == 0)
        // A reservation above what is available is refused, as the comment says.
        try await shop.append(.stockReceived(StockReceived(sku: "SKU-1", warehouseId: "BER", qty: 1)))
        await #expect(throws: CommerceError.self) {
            try await shop.append(.stockReserved(StockReserved(sku: "SKU-1", warehouseId: "BER", qty: 2, orderId: "o-1")))
        }
        live.stop()
        try log.close()
    }

    @Test func theREADMEShowsThisCode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let test = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let section = try #require(readme.range(of: "## Using the libraries\n\n```swift\n"))
        let block = readme[section.upperBound...].prefix { _ in true }
        let code = String(block[..<(try #require(block.range(of: "```\n"))).lowerBound])
        let shown = code.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("import ") }
            .map { $0.replacingOccurrences(of: "\"/var/lib/shop/log.keys\"", with: "keysPath").replacingOccurrences(of: "\"/var/lib/shop/log\"", with: "logPath") }
        let begin = try #require(test.range(of: "// README " + "begin\n")), end = try #require(test.range(of: "// README " + "end"))
        let run = test[begin.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func trimmed(_ lines: [String]) -> [String] { Array(lines.drop { $0.isEmpty }.reversed().drop { $0.isEmpty }.reversed()) }
        #expect(trimmed(shown) == trimmed(run), "README's block and the test's differ")
    }
}
