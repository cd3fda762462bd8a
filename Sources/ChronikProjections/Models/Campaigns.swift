import ChronikLog
import ChronikCommerce

/// One campaign and what it brought (EVENTS.md v1.2, attribution).
public struct CampaignRecord: Sendable, Equatable {
    public var campaignId: String
    /// nil for a campaign only sessions name (no CampaignLaunched).
    public var name: String?
    public var channel: String?
    public var budget: Int64?
    public var currency: String?
    /// Sessions whose SessionStarted names the campaign.
    public var sessions: Int
    /// Attributed OrderPlaced, cancelled ones included.
    public var orders: Int
    /// Σ (captured − refunded) of attributed orders, per currency.
    public var revenue: CurrencyAmounts
    /// orders / sessions, rounded to 4 decimals; nil without sessions.
    public var conversionRate: Double?
    /// Revenue in the campaign's currency / budget, rounded to 4
    /// decimals; nil when the budget is 0 (or unknown).
    public var roas: Double?
}

/// Campaigns: sessions, attributed orders and revenue per campaign.
///
/// An order is attributed when its `sessionId` names a session whose
/// SessionStarted names a campaign, resolved when asked (the session may
/// be logged after the order). Captured and refunded come from the orders
/// model (a dependency).
public final class CampaignsProjector: SnapshottableProjector {
    public let name = "campaigns"
    public let snapshotVersion: UInt32 = 1
    public let orders: OrdersProjector

    @exclusivity(unchecked)
    var campaigns: [String: (name: String, channel: String, budget: Int64, currency: String)] = [:]
    /// Sessions whose SessionStarted names a campaign (the latest that names one).
    @exclusivity(unchecked)
    var sessionCampaign: [String: String] = [:]
    /// Orders placed with a sessionId: the session (the first OrderPlaced counts).
    @exclusivity(unchecked)
    var orderSession: [String: String] = [:]

    public init(orders: OrdersProjector) { self.orders = orders }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .campaignLaunched(let c):
            // The latest CampaignLaunched of an id describes it.
            campaigns[c.campaignId] = (c.name, c.channel, c.budget, c.currency)
        case .sessionStarted(let s):
            // One naming no campaign changes nothing (no lookup for the
            // many sessions without one); a later one naming another
            // campaign replaces it.
            if let c = s.campaignId { sessionCampaign[s.sessionId] = c }
        case .orderPlaced(let o):
            if let s = o.sessionId, orderSession[o.orderId] == nil { orderSession[o.orderId] = s }
        default:
            break
        }
    }

    /// Every campaign launched or named by a session, by campaignId.
    public func list() -> [CampaignRecord] {
        var sessions: [String: Int] = [:]
        for c in sessionCampaign.values { sessions[c, default: 0] += 1 }
        var orderCount: [String: Int] = [:]
        var revenue: [String: CurrencyAmounts] = [:]
        for (orderId, session) in orderSession {
            guard let c = sessionCampaign[session], let o = orders.order(orderId) else { continue }
            orderCount[c, default: 0] += 1
            let net = saturatingSubtract(o.captured, o.refunded)
            revenue[c, default: [:]][o.currency] = saturatingAdd(revenue[c]?[o.currency] ?? 0, net)
        }
        let ids = Set(campaigns.keys).union(sessions.keys)
        return ids.sorted().map { id in
            let c = campaigns[id]
            let s = sessions[id] ?? 0
            let n = orderCount[id] ?? 0
            let r = revenue[id] ?? [:]
            var roas: Double?
            if let c, c.budget > 0 { roas = roundedRatio(r[c.currency] ?? 0, c.budget, places: 4) }
            return CampaignRecord(campaignId: id, name: c?.name, channel: c?.channel, budget: c?.budget,
                                  currency: c?.currency, sessions: s, orders: n, revenue: r,
                                  conversionRate: roundedRatio(Int64(n), Int64(s), places: 4), roas: roas)
        }
    }

    /// The campaign with the highest revenue in its own currency (ties by
    /// campaignId); nil when no campaign has revenue.
    public func top() -> CampaignRecord? {
        var best: (CampaignRecord, Int64)?
        for c in list() {
            let v = c.currency.flatMap { c.revenue[$0] } ?? 0
            if v > (best?.1 ?? 0) { best = (c, v) }
        }
        return best?.0
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(campaigns, key: { $0.string($1) }, value: { w, c in
            w.string(c.name); w.string(c.channel); w.int(c.budget); w.string(c.currency)
        })
        w.dictionary(sessionCampaign, key: { $0.string($1) }, value: { $0.string($1) })
        w.dictionary(orderSession, key: { $0.string($1) }, value: { $0.string($1) })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        campaigns = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in
            (name: try r.string(), channel: try r.string(), budget: try r.int64(), currency: try r.string())
        })
        sessionCampaign = try r.dictionary(key: str, value: str)
        orderSession = try r.dictionary(key: str, value: str)
    }
}

extension CampaignsProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.campaignLaunched, .sessionStarted, .orderPlaced] }
}
