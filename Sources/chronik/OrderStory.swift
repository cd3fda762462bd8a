import ChronikCommerce
import ChronikLog
import ChronikProjections

// `query order ID` in text: the order's whole story. Totals and statuses
// come from the orders model; what happened (each payment attempt and its
// reason, carriers, tracking numbers, returns, a cancellation) is read from
// the order's stream, which holds every order event: the model keeps only
// what its statuses need, and the stream is the record anyway. Each section
// is one function returning its lines (none when it has nothing to tell),
// so a section is added by adding a function to `orderStory`.

/// One event of the order's stream with its time.
struct OrderStoryEvent {
    var time: Timestamp
    var event: CommerceEvent
}

/// The events of `order-{orderId}` the story tells (OrderPlaced, which
/// carries personal data, is not read: the model has its lines and totals).
func orderEvents(_ log: EventLog, _ orderId: String) throws -> [OrderStoryEvent] {
    let told: Set<String> = [PaymentAuthorized.typeName, PaymentCaptured.typeName, PaymentFailed.typeName,
                             RefundIssued.typeName, OrderShipped.typeName, OrderDelivered.typeName,
                             ReturnReceived.typeName, OrderCancelled.typeName]
    var out: [OrderStoryEvent] = []
    for e in try log.read(stream: "order-" + orderId).collect() where told.contains(e.type) {
        do {
            out.append(OrderStoryEvent(time: e.occurredAt, event: try CommerceEvent.decode(type: e.type, data: e.data)))
        } catch {
            throw CommandFailure("event at position \(e.position) (\(e.type)) of order \(orderId) does not decode: \(error)")
        }
    }
    return out
}

/// The order's story, section by section.
func orderStory(_ o: OrderRecord, events: [OrderStoryEvent]) -> [String] {
    orderHeader(o) + orderLinesSection(o) + paymentsSection(o, events) + shipmentsSection(events)
        + returnsSection(events) + cancellationSection(events)
}

/// A section: its title and its lines indented, or nothing when empty.
func section(_ title: String, _ lines: [String]) -> [String] {
    lines.isEmpty ? [] : [title] + lines.map { "  " + $0 }
}

func orderHeader(_ o: OrderRecord) -> [String] {
    ["order \(o.orderId)  customer \(o.customerId)  placed \(textTime(o.placedAt))",
     "  \(o.financialStatus.rawValue) / \(o.fulfillmentStatus.rawValue)  total \(money(o.total, o.currency))  "
        + "captured \(money(o.captured, o.currency))  refunded \(money(o.refunded, o.currency))"]
}

/// Lines, then discount, shipping fee and total in the amount column.
func orderLinesSection(_ o: OrderRecord) -> [String] {
    var t = TextTable(["sku", "qty", "unit price", "amount"], right: ["qty", "unit price", "amount"])
    var subtotal: Int64 = 0
    for l in o.lines {
        let (amount, overflow) = l.qty.multipliedReportingOverflow(by: l.unitPrice)
        subtotal &+= amount  // the model's total is computed the same way; overflow was refused on append
        t.add([l.sku, group(l.qty), money(l.unitPrice, o.currency), overflow ? "-" : money(amount, o.currency)])
    }
    t.add(["subtotal", "", "", money(subtotal, o.currency)])
    if o.discount != 0 { t.add(["discount", "", "", money(-o.discount, o.currency)]) }
    t.add(["shipping fee", "", "", money(o.shippingFee, o.currency)])
    t.add(["total", "", "", money(o.total, o.currency)])
    return section("lines", t.lines)
}

/// Every payment attempt, capture and refund in log order.
func paymentsSection(_ o: OrderRecord, _ events: [OrderStoryEvent]) -> [String] {
    var t = TextTable(["time", "event", "paymentId", "amount", "detail"], right: ["amount"])
    for e in events {
        switch e.event {
        case .paymentAuthorized(let p):
            t.add([textTime(e.time), "authorized", p.paymentId, money(p.amount, o.currency), "\(p.method) via \(p.gateway)"])
        case .paymentFailed(let p):
            t.add([textTime(e.time), "FAILED", p.paymentId, money(p.amount, o.currency), "reason: \(p.reason)"])
        case .paymentCaptured(let p):
            t.add([textTime(e.time), "captured", p.paymentId, money(p.amount, o.currency), ""])
        case .refundIssued(let r):
            t.add([textTime(e.time), "refunded", r.paymentId, money(r.amount, o.currency), "refund \(r.refundId): \(r.reason)"])
        default: continue
        }
    }
    return t.rows.isEmpty ? ["payments", "  none"] : section("payments", t.lines)
}

/// Shipments with carrier, tracking number, items and delivery.
func shipmentsSection(_ events: [OrderStoryEvent]) -> [String] {
    var delivered: [String: Timestamp] = [:]
    for e in events {
        if case .orderDelivered(let d) = e.event, delivered[d.shipmentId] == nil { delivered[d.shipmentId] = e.time }
    }
    var t = TextTable(["shipped", "shipmentId", "warehouse", "carrier", "tracking", "delivered", "items"])
    for e in events {
        guard case .orderShipped(let s) = e.event else { continue }
        t.add([textTime(e.time), s.shipmentId, s.warehouseId, s.carrier, s.trackingNumber,
               delivered[s.shipmentId].map(textTime) ?? "-", items(s.lines)])
    }
    return section("shipments", t.lines)
}

/// Returns received, with what came back.
func returnsSection(_ events: [OrderStoryEvent]) -> [String] {
    var t = TextTable(["received", "returnId", "warehouse", "items"])
    for e in events {
        guard case .returnReceived(let r) = e.event else { continue }
        t.add([textTime(e.time), r.returnId, r.warehouseId, items(r.lines)])
    }
    return section("returns", t.lines)
}

func cancellationSection(_ events: [OrderStoryEvent]) -> [String] {
    events.compactMap { e in
        guard case .orderCancelled(let c) = e.event else { return nil }
        return "cancelled \(textTime(e.time)): \(c.reason)"
    }
}

/// `SKU×2 SKU×1`, in the event's order.
func items(_ lines: [ShipmentLine]) -> String {
    lines.map { "\($0.sku)×\(group($0.qty))" }.joined(separator: " ")
}
