import Foundation
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

/// A crafted history built in memory: each `add` gets the next position and
/// the current business time.
struct History {
    var events: [ProjectedEvent] = []
    var time = Timestamp(rfc3339: "2024-05-01T10:00:00Z")!

    mutating func at(_ t: String) { time = Timestamp(rfc3339: t)! }

    mutating func add(_ e: CommerceEvent) {
        events.append(ProjectedEvent(position: Position(UInt64(events.count)), occurredAt: time, event: e))
    }

    /// Folds every event into a fresh standard set (or the named models).
    func project(only: [String]? = nil) throws -> ProjectionSet {
        let set = try Projections.standard(only: only)
        for e in events { try set.apply(e) }
        return set
    }

    // Shorthands for the events the scenarios use most.

    static let address = Address(line1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE")

    mutating func place(_ orderId: String, customer: String = "c1", _ lines: [(String, Int64, Int64)],
                        currency: String = "EUR", discount: Int64 = 0, shippingFee: Int64 = 0) {
        add(.orderPlaced(OrderPlaced(orderId: orderId, customerId: customer,
                                     lines: lines.map { OrderLine(sku: $0.0, qty: $0.1, unitPrice: $0.2) },
                                     currency: currency, discount: discount, shippingFee: shippingFee,
                                     shippingAddress: Self.address)))
    }
    mutating func authorize(_ orderId: String, _ amount: Int64, payment: String = "p1") {
        add(.paymentAuthorized(PaymentAuthorized(orderId: orderId, paymentId: payment, amount: amount, method: "card",
                                                 gateway: "stripe")))
    }
    mutating func capture(_ orderId: String, _ amount: Int64, payment: String = "p1") {
        add(.paymentCaptured(PaymentCaptured(orderId: orderId, paymentId: payment, amount: amount)))
    }
    mutating func fail(_ orderId: String, _ amount: Int64, payment: String = "p1") {
        add(.paymentFailed(PaymentFailed(orderId: orderId, paymentId: payment, amount: amount, reason: "declined")))
    }
    mutating func refund(_ orderId: String, _ amount: Int64, refund: String = "r1", payment: String = "p1") {
        add(.refundIssued(RefundIssued(orderId: orderId, refundId: refund, paymentId: payment, amount: amount,
                                       reason: "customer")))
    }
    mutating func cancel(_ orderId: String) {
        add(.orderCancelled(OrderCancelled(orderId: orderId, reason: "customer")))
    }
    mutating func ship(_ orderId: String, _ shipment: String, _ lines: [(String, Int64)], warehouse: String = "W1") {
        add(.orderShipped(OrderShipped(orderId: orderId, shipmentId: shipment, warehouseId: warehouse, carrier: "dhl",
                                       trackingNumber: "T-" + shipment,
                                       lines: lines.map { ShipmentLine(sku: $0.0, qty: $0.1) })))
    }
    mutating func deliver(_ orderId: String, _ shipment: String) {
        add(.orderDelivered(OrderDelivered(orderId: orderId, shipmentId: shipment)))
    }
    mutating func product(_ id: String, title: String = "T", category: String = "shoes") {
        add(.productCreated(ProductCreated(productId: id, title: title, category: category)))
    }
    mutating func variant(_ productId: String, _ sku: String, price: Int64 = 1000, currency: String = "EUR") {
        add(.variantAdded(VariantAdded(productId: productId, sku: sku, price: price, currency: currency)))
    }
    mutating func receive(_ sku: String, _ wh: String, _ qty: Int64, po: String? = nil) {
        add(.stockReceived(StockReceived(sku: sku, warehouseId: wh, qty: qty, purchaseOrderId: po)))
    }
    mutating func reorderPoint(_ sku: String, _ wh: String, point: Int64, qty: Int64) {
        add(.reorderPointSet(ReorderPointSet(sku: sku, warehouseId: wh, reorderPoint: point, reorderQty: qty)))
    }
    mutating func search(_ query: String, results: Int64, session: String = "s1") {
        add(.searchPerformed(SearchPerformed(sessionId: session, query: query, resultCount: results)))
    }
}

/// A fresh temporary directory path (not created).
func tempLogPath(_ name: String = #function) -> String {
    FileManager.default.temporaryDirectory.path + "/chronik-proj-tests/" + name.filter { $0.isLetter || $0.isNumber }
        + "-" + UUID().uuidString.prefix(8)
}

/// Creates a log holding `events` (each on its derived stream), appended in
/// batches of consecutive events of the same stream.
func makeLog(_ events: [(Timestamp, CommerceEvent)], at path: String) async throws -> EventLog {
    var options = LogOptions()
    options.durability = .none
    options.segmentSizeBytes = 256 << 10
    let log = try EventLog.open(at: path, options: options)
    var i = 0
    while i < events.count {
        let stream = events[i].1.derivedStream ?? "misc"
        var batch: [ProposedEvent] = []
        while i < events.count, (events[i].1.derivedStream ?? "misc") == stream, batch.count < 64 {
            batch.append(ProposedEvent(type: events[i].1.type, data: events[i].1.encodedData(), occurredAt: events[i].0))
            i += 1
        }
        _ = try await log.append(to: stream, batch)
    }
    return log
}
