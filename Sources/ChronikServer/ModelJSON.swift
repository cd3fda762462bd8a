import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation

// The JSON of each read model, one object per item: what `chronik query
// --json` prints a line of and `GET /models/...` answers an array of.

public func money(_ amounts: CurrencyAmounts) -> JSONValue { .object(sortingKeys: amounts.mapValues { .int($0) }) }
public func counts(_ d: [String: Int64]) -> JSONValue { .object(sortingKeys: d.mapValues { .int($0) }) }

public func productJSON(_ p: CatalogProduct) -> String {
    var o = JSONObject()
    o.add("productId", p.productId)
    o.add("title", p.title)
    o.add("category", p.category)
    o.add("brand", p.brand)
    o.add("discontinued", p.discontinued)
    o.add("available", p.available)
    o.add("variants", p.variants.map { v in
        var vo = JSONObject()
        vo.add("sku", v.sku)
        vo.add("options", .object(sortingKeys: v.options.mapValues { .string($0) }))
        vo.add("price", v.price)
        vo.add("currency", v.currency)
        vo.add("available", v.available)
        return vo
    })
    return o.text
}

public func orderJSON(_ o: OrderRecord) -> String {
    var j = JSONObject()
    j.add("orderId", o.orderId)
    j.add("customerId", o.customerId)
    j.add("placedAt", o.placedAt.rfc3339)
    j.add("currency", o.currency)
    j.add("lines", o.lines.map { l in
        var lo = JSONObject()
        lo.add("sku", l.sku)
        lo.add("qty", l.qty)
        lo.add("unitPrice", l.unitPrice)
        return lo
    })
    j.add("discount", o.discount)
    j.add("shippingFee", o.shippingFee)
    j.add("total", o.total)
    j.add("captured", o.captured)
    j.add("refunded", o.refunded)
    j.add("financialStatus", o.financialStatus.rawValue)
    j.add("fulfillmentStatus", o.fulfillmentStatus.rawValue)
    j.add("shipped", counts(o.shipped))
    j.add("returned", counts(o.returned))
    return j.text
}

/// The profile of a customer read from its stream (never from a model).
public struct Profile: Sendable {
    public init(name: String? = nil, email: String? = nil, phone: String? = nil, erased: Bool = false) {
        self.name = name; self.email = email; self.phone = phone; self.erased = erased
    }
    public var name: String?
    public var email: String?
    public var phone: String?
    public var erased = false
}

/// The profile from the customer's stream, its personal data opened with
/// `protector` (docs/GDPR.md): erased when the key is destroyed.
public func readProfile(_ log: EventLog, _ id: String, protector: (any PIIProtector)?) -> Profile? {
    guard let events = try? log.read(stream: "customer-" + id).collect() else { return nil }
    return profile(of: events, protector: protector)
}

/// The profile folded from the events of a customer's stream, whichever
/// store they were read from.
public func profile(of events: [RecordedEvent], protector: (any PIIProtector)?) -> Profile? {
    var p = Profile()
    var seen = false
    for e in events {
        guard let (ce, pii) = try? CommerceEvent.decode(type: e.type, data: e.data, protector: protector) else { continue }
        if pii == .erased {
            seen = true
            p = Profile(erased: true)
            continue
        }
        switch ce {
        case .customerRegistered(let r):
            seen = true
            p.name = r.name; p.email = r.email; p.phone = r.phone
        case .customerUpdated(let u):
            if let v = u.name { p.name = v }
            if let v = u.email { p.email = v }
            if let v = u.phone { p.phone = v }
        case .customerForgotten:
            p = Profile(erased: true)
        default: break
        }
    }
    return seen || p.erased ? p : nil
}

public func customerJSON(_ c: CustomerRecord, profile: Profile?) -> String {
    var o = JSONObject()
    o.add("customerId", c.customerId)
    if let profile {
        o.add("name", profile.erased ? nil : profile.name)
        o.add("email", profile.erased ? nil : profile.email)
        o.add("phone", profile.erased ? nil : profile.phone)
    }
    o.add("registered", c.registered)
    o.add("orders", c.orders)
    o.add("lifetimeValue", money(c.lifetimeValue))
    o.add("firstOrderAt", c.firstOrderAt?.rfc3339)
    o.add("lastOrderAt", c.lastOrderAt?.rfc3339)
    o.add("orderIds", .array(c.orderIds.map { .string($0) }))
    o.add("interactions", c.interactions)
    o.add("marketingConsent", c.marketingConsent.map { JSONValue.bool($0) } ?? .null)
    o.add("forgotten", c.forgotten)
    var r = JSONObject()
    r.add("recency", c.rfm.recency)
    r.add("frequency", c.rfm.frequency)
    r.add("monetary", c.rfm.monetary)
    o.add("rfm", r)
    o.add("segment", c.rfm.segment)
    return o.text
}

public func stockLevelJSON(_ l: StockLevel) -> String {
    var o = JSONObject()
    o.add("sku", l.sku)
    o.add("warehouseId", l.warehouseId)
    o.add("onHand", l.onHand)
    o.add("reserved", l.reserved)
    o.add("available", l.available)
    o.add("reorderPoint", l.reorderPoint.map { JSONValue.int($0) } ?? .null)
    o.add("reorderQty", l.reorderQty.map { JSONValue.int($0) } ?? .null)
    o.add("low", l.isLow)
    return o.text
}

public func replenishmentJSON(_ s: ReplenishmentSuggestion) -> String {
    var o = JSONObject()
    o.add("sku", s.sku)
    o.add("warehouseId", s.warehouseId)
    o.add("available", s.available)
    o.add("reorderPoint", s.reorderPoint)
    o.add("reorderQty", s.reorderQty)
    return o.text
}

public func salesDayJSON(_ d: SalesDay) -> String {
    var o = JSONObject()
    o.add("day", d.day.description)
    o.add("revenue", money(d.revenue))
    o.add("units", counts(d.units))
    return o.text
}

public func financeDayJSON(_ f: FinanceEntry) -> String {
    var o = JSONObject()
    o.add("day", f.day.description)
    o.add("currency", f.currency)
    o.add("captured", f.captured)
    o.add("refunded", f.refunded)
    o.add("net", f.net)
    return o.text
}

public func searchQueryJSON(_ s: SearchQueryStats) -> String {
    var o = JSONObject()
    o.add("query", s.query)
    o.add("count", s.count)
    o.add("resultCount", s.lastResultCount)
    o.add("zeroResults", s.zeroResults)
    return o.text
}

public func alsoBoughtJSON(_ e: AlsoBoughtEntry) -> String {
    var o = JSONObject()
    o.add("productId", e.productId)
    o.add("count", e.count)
    return o.text
}

public func fraudScoreJSON(_ s: FraudScore) -> String {
    var o = JSONObject()
    o.add("orderId", s.orderId)
    o.add("customerId", s.customerId)
    o.add("score", s.score)
    o.add("reasons", s.reasons.map { r in
        var ro = JSONObject()
        ro.add("code", r.code.rawValue)
        ro.add("points", r.points)
        ro.add("detail", r.detail)
        return ro
    })
    return o.text
}

// MARK: Support contacts (EVENTS.md v1.2) beside an order and a customer

public func addingMember(_ json: String, _ key: String, _ value: JSONValue) -> String {
    guard json.hasSuffix("}") else { return json }
    let body = json.dropLast()
    return body + (body.hasSuffix("{") ? "" : ",") + JSONValue.quote(key) + ":" + value.text + "}"
}

/// The order's SupportInteraction events: channel and time (the summary
/// is personal data and stays in the log).
public func supportContactsJSON(_ contacts: [SupportContact]) -> JSONValue {
    .array(contacts.map { c in
        .object([JSONMember("customerId", .string(c.customerId)), JSONMember("channel", .string(c.channel.rawValue)),
                 JSONMember("time", .string(c.time.rfc3339))])
    })
}

public func supportChannelsJSON(_ d: [SupportChannel: Int]) -> JSONValue {
    .object(sortingKeys: Dictionary(uniqueKeysWithValues: d.map { ($0.key.rawValue, JSONValue.int(Int64($0.value))) }))
}

/// One order as `query order --json` and `GET /models/orders/{id}` answer:
/// the orders model's record and the order's support contacts.
public func orderDetailJSON(_ o: OrderRecord, contacts: [SupportContact]) -> String {
    addingMember(orderJSON(o), "support", supportContactsJSON(contacts))
}

/// One customer as `query customer --json` and `GET /models/customers/{id}`
/// answer: the CRM record, the profile when opened, interactions per channel.
public func customerDetailJSON(_ c: CustomerRecord, profile: Profile?, channels: [SupportChannel: Int]) -> String {
    addingMember(customerJSON(c, profile: profile), "interactionsByChannel", supportChannelsJSON(channels))
}

// MARK: EVENTS.md v1.2: supply chain, settings, campaigns, recommendations
// (as `chronik query … --json` prints them and `GET /models/…` answers).

/// A rate or an average, or null.
func optionalNumber(_ d: Double?) -> JSONValue { d.map(JSONValue.double) ?? .null }

/// One supplier as `query suppliers --json` and `GET /models/suppliers` answer.
public func supplierJSON(_ s: SupplierRecord) -> String {
    var o = JSONObject()
    o.add("supplierId", s.supplierId)
    o.add("name", s.name)
    o.add("leadTimeDays", s.leadTimeDays.map(JSONValue.int) ?? .null)
    o.add("openOrders", s.openOrders)
    o.add("receivedOrders", s.receivedOrders)
    o.add("onTimeRate", optionalNumber(s.onTimeRate))
    o.add("averageLeadDays", optionalNumber(s.averageLeadDays))
    o.add("unitsOnOrder", s.unitsOnOrder.map { u in
        var uo = JSONObject()
        uo.add("sku", u.sku)
        uo.add("warehouseId", u.warehouseId)
        uo.add("qty", u.qty)
        return uo
    })
    return o.text
}

/// One setting as `query settings --json` and `GET /models/settings` answer.
public func settingJSON(_ s: SettingRecord) -> String {
    var o = JSONObject()
    o.add("key", s.key)
    o.add("value", s.value)
    o.add("actor", s.actor)
    o.add("changedAt", s.changedAt.rfc3339)
    o.add("changes", s.changes)
    return o.text
}

/// One recommendation as `query recommendations --json` and
/// `GET /models/recommendations/{customerId}` answer.
public func recommendationJSON(_ r: Recommendation, customer: String) -> String {
    var o = JSONObject()
    o.add("customerId", customer)
    o.add("productId", r.productId)
    o.add("score", r.score)
    o.add("boughtTogether", r.boughtTogether)
    o.add("viewedSessions", r.viewedSessions)
    return o.text
}

public func purchaseOrderJSON(_ p: PurchaseOrderRecord) -> String {
    var o = JSONObject()
    o.add("purchaseOrderId", p.purchaseOrderId)
    o.add("supplierId", p.supplierId)
    o.add("warehouseId", p.warehouseId)
    o.add("lines", p.lines.map { l in
        var lo = JSONObject()
        lo.add("sku", l.sku)
        lo.add("qty", l.qty)
        lo.add("unitCost", l.unitCost)
        return lo
    })
    o.add("currency", p.currency)
    o.add("placedAt", p.placedAt.rfc3339)
    o.add("expectedAt", p.expectedAt.rfc3339)
    o.add("receivedAt", p.receivedAt?.rfc3339)
    o.add("open", p.open)
    o.add("late", p.late)
    return o.text
}

public func campaignJSON(_ c: CampaignRecord) -> String {
    var o = JSONObject()
    o.add("campaignId", c.campaignId)
    o.add("name", c.name)
    o.add("channel", c.channel)
    o.add("budget", c.budget.map(JSONValue.int) ?? .null)
    o.add("currency", c.currency)
    o.add("sessions", c.sessions)
    o.add("orders", c.orders)
    o.add("revenue", money(c.revenue))
    o.add("conversionRate", optionalNumber(c.conversionRate))
    o.add("roas", optionalNumber(c.roas))
    return o.text
}

// MARK: EVENTS.md v1.2: reconciliation (as `query reconciliation --json`
// prints its records and `GET /models/reconciliation` answers them).

public func reconciliationJSON(_ p: PaymentReconciliation) -> String {
    var o = JSONObject()
    o.add("record", "payment")
    o.add("paymentId", p.paymentId)
    o.add("orderId", p.orderId)
    o.add("gateway", p.gateway)
    o.add("currency", p.currency)
    o.add("status", p.status.rawValue)
    o.add("overdue", p.overdue)
    o.add("captured", p.captured)
    o.add("settled", p.settled)
    o.add("refunded", p.refunded)
    o.add("refundSettled", p.refundSettled)
    o.add("fees", p.fees)
    o.add("chargebacks", p.chargebacks)
    o.add("captures", p.captures)
    o.add("chargeLines", p.chargeLines)
    o.add("refundLines", p.refundLines)
    o.add("lines", p.lines)
    o.add("firstCapturedAt", p.firstCapturedAt?.rfc3339)
    o.add("payouts", .array(p.payouts.map { .string($0) }))
    return o.text
}

public func totalsJSON(_ d: [String: SettlementTotals]) -> JSONValue {
    .object(sortingKeys: d.mapValues { t in
        .object([JSONMember("gross", .int(t.gross)), JSONMember("fees", .int(t.fees)), JSONMember("net", .int(t.net)),
                 JSONMember("lines", .int(Int64(t.lines)))])
    })
}

public func payoutJSON(_ p: PayoutSummary) -> String {
    var o = JSONObject()
    o.add("record", "payout")
    o.add("gateway", p.gateway)
    o.add("payoutId", p.payoutId)
    o.add("paidOutAt", p.paidOutAt.rfc3339)
    o.add("gross", p.gross)
    o.add("fees", p.fees)
    o.add("net", p.net)
    o.add("lines", p.lines)
    o.add("currencies", totalsJSON(p.byCurrency))
    return o.text
}

public func dayJSON(_ d: SettlementDay) -> String {
    var o = JSONObject()
    o.add("record", "day")
    o.add("day", d.day.description)
    o.add("currency", d.currency)
    o.add("fees", d.fees)
    o.add("net", d.net)
    o.add("lines", d.lines)
    return o.text
}

/// The summary line of `query reconciliation --json` (and `demo --json`'s
/// `reconciliation`): payments per status, overdue, fees and net per
/// currency, payouts, unattributed settlement lines.
public struct ReconciliationSummaryLine: Encodable {
    var record = "summary"
    var counts: ObjectMembers<Int>
    var overdue: Int
    var fees, net: ObjectMembers<Int64>
    var payouts, unattributedLines: Int

    public init(_ s: ReconciliationSummary) {
        counts = ObjectMembers(ReconciliationStatus.allCases.map { ($0.rawValue, s.counts[$0] ?? 0) })
        overdue = s.overdue
        fees = ObjectMembers(sortingKeys: s.fees)
        net = ObjectMembers(sortingKeys: s.net)
        payouts = s.payouts
        unattributedLines = s.unattributedLines
    }
}
