import ChronikLog
import ChronikCommerce

/// One SupportInteraction as queries show it: no summary (personal data).
public struct SupportContact: Sendable, Equatable {
    public var customerId: String
    public var orderId: String?
    public var channel: SupportChannel
    public var time: Timestamp
}

/// Support: the SupportInteraction events per order, and the count per
/// channel per customer (EVENTS.md v1.2). Keeps no personal data: the
/// summary stays in the log, sealed.
public final class SupportProjector: SnapshottableProjector {
    public let name = "support"
    public let snapshotVersion: UInt32 = 1

    /// Per order, its contacts in log order.
    @exclusivity(unchecked)
    var byOrder: [String: [SupportContact]] = [:]
    /// Per customer, interactions per channel.
    @exclusivity(unchecked)
    var byCustomer: [String: [SupportChannel: Int]] = [:]

    public init() {}

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        guard case .supportInteraction(let s) = e.event else { return }
        byCustomer[s.customerId, default: [:]][s.channel, default: 0] += 1
        if let o = s.orderId {
            byOrder[o, default: []].append(SupportContact(customerId: s.customerId, orderId: o, channel: s.channel,
                                                          time: e.occurredAt))
        }
    }

    /// The order's contacts, in log order.
    public func contacts(order orderId: String) -> [SupportContact] { byOrder[orderId] ?? [] }

    /// The customer's interactions per channel (every channel, 0 included).
    public func channels(customer customerId: String) -> [SupportChannel: Int] {
        var out: [SupportChannel: Int] = [:]
        for c in SupportChannel.allCases { out[c] = byCustomer[customerId]?[c] ?? 0 }
        return out
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(byOrder, key: { $0.string($1) }, value: { w, cs in
            w.array(cs) { w, c in w.string(c.customerId); w.string(c.channel.rawValue); w.timestamp(c.time) }
        })
        w.dictionary(byCustomer, key: { $0.string($1) }, value: { w, d in
            w.dictionary(Dictionary(uniqueKeysWithValues: d.map { ($0.key.rawValue, $0.value) }),
                         key: { $0.string($1) }, value: { $0.int($1) })
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        func channel(_ r: inout R) throws(ProjectionError) -> SupportChannel {
            guard let c = SupportChannel(rawValue: try r.string()) else {
                throw ProjectionError(.badSnapshot, "support: unknown channel in snapshot")
            }
            return c
        }
        var orders: [String: [SupportContact]] = [:]
        let raw = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in
            try r.array { (r: inout R) throws(ProjectionError) in
                (customerId: try r.string(), channel: try channel(&r), time: try r.timestamp())
            }
        })
        for (o, cs) in raw {
            orders[o] = cs.map { SupportContact(customerId: $0.customerId, orderId: o, channel: $0.channel, time: $0.time) }
        }
        byOrder = orders
        let customers = try r.dictionary(key: str, value: { (r: inout R) throws(ProjectionError) in
            try r.dictionary(key: { (r: inout R) throws(ProjectionError) in try channel(&r) },
                             value: { (r: inout R) throws(ProjectionError) in try r.int() })
        })
        byCustomer = customers
    }
}

extension SupportProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.supportInteraction] }
}
