import ChronikLog
import ChronikCommerce

/// A product recommended to a customer, with its score.
public struct Recommendation: Sendable, Equatable {
    public var productId: String
    /// Σ over P in bought(C) of also-bought(P, Q) + the number of C's
    /// sessions in which Q was viewed.
    public var score: Int
    /// The also-bought part of the score.
    public var boughtTogether: Int
    /// The viewed part of the score (sessions).
    public var viewedSessions: Int
}

/// Recommendations for a customer C (EVENTS.md v1.2, personalisation).
///
/// bought(C) and the co-purchase counts come from the orders model at
/// query time ("not cancelled at the end of the log"); a variant's SKU
/// counts for its product through the catalog (a dependency, which also
/// decides `discontinued` and `available`). This model keeps only who
/// started which session and the products viewed in sessions that name a
/// customer.
///
/// A ProductViewed counts when its session's SessionStarted names the
/// customer, whether it came before or after the view in the log (stop 34:
/// a view logged before its session's first SessionStarted, as when the
/// clickstream service appends ahead of the session service, was lost).
/// Views of a session no SessionStarted has named a customer for yet wait
/// in `pending` — also those of a session started anonymously, which a
/// later SessionStarted may name (stop 37, a finance analyst's check of
/// EVENTS.md: "ProductViewed in sessions whose SessionStarted names C" —
/// such views were dropped, to save the memory they now take on the
/// replay path: the distinct products of each anonymous session).
public final class RecommendationsProjector: SnapshottableProjector {
    public let name = "recommendations"
    public let snapshotVersion: UInt32 = 3
    public let orders: OrdersProjector
    public let catalog: CatalogProjector

    /// A session whose SessionStarted names a customer.
    struct Session: Equatable {
        var customerId: String
        /// The distinct products viewed, in first-seen order.
        var viewed: [String] = []

        mutating func view(_ productId: String) {
            if !viewed.contains(productId) { viewed.append(productId) }
        }
    }

    /// Sessions whose SessionStarted names a customer (one dictionary, so
    /// a ProductViewed costs one lookup: most of a log is clickstream).
    @exclusivity(unchecked)
    var sessions: [IDKey: Session] = [:]
    /// Views of sessions no SessionStarted has named a customer for (not
    /// started yet, or started anonymously), by session (distinct products).
    @exclusivity(unchecked)
    var pending: [IDKey: [String]] = [:]
    @exclusivity(unchecked)
    var forgotten = Set<String>()

    public init(orders: OrdersProjector, catalog: CatalogProjector) {
        self.orders = orders
        self.catalog = catalog
    }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .sessionStarted(let s):
            // A SessionStarted naming a customer decides the session's
            // customer (a later one naming another replaces it; one naming
            // none changes nothing, and its views wait as before).
            guard let c = s.customerId else { return }
            let session = IDKey(s.sessionId)
            let early = pending.isEmpty ? nil : pending.removeValue(forKey: session)
            sessions[session, default: Session(customerId: c)].customerId = c
            for p in early ?? [] { sessions[session]?.view(p) }
        case .productViewed(let v):
            // One look-up for a customer's session, a second for another.
            let session = IDKey(v.sessionId)
            if sessions[session]?.view(v.productId) == nil {
                // No customer named yet: kept until a SessionStarted names
                // one (one lookup: the list is changed where it lies).
                Self.addView(v.productId, to: &pending[session, default: []])
            }
        case .customerForgotten(let f):
            forgotten.insert(f.customerId)
        default:
            break
        }
    }

    @inline(__always)
    private static func addView(_ productId: String, to views: inout [String]) {
        if !views.contains(productId) { views.append(productId) }
    }

    /// The products of an order (via the catalog's SKU → product map).
    func products(of o: OrderRecord) -> Set<String> {
        var s = Set<String>()
        for l in o.lines { if let p = catalog.productId(ofSKU: l.sku) { s.insert(p) } }
        return s
    }

    /// The top `limit` recommendations for `customerId`, by score
    /// descending, ties by productId ascending; none for a forgotten
    /// customer, none with score 0.
    ///
    /// - Complexity: O(orders + lines) per call.
    public func recommendations(for customerId: String, limit: Int = 10) -> [Recommendation] {
        guard !forgotten.contains(customerId) else { return [] }
        var live: [Set<String>] = []
        var bought = Set<String>()
        for o in orders.orders.values where !o.cancelled {
            let ps = products(of: o)
            guard !ps.isEmpty else { continue }
            live.append(ps)
            if o.customerId == customerId { bought.formUnion(ps) }
        }
        var together: [String: Int] = [:]
        if !bought.isEmpty {
            for ps in live {
                let mine = ps.intersection(bought).count
                guard mine > 0 else { continue }
                for q in ps where !bought.contains(q) { together[q, default: 0] += mine }
            }
        }
        var viewed: [String: Int] = [:]
        for session in sessions.values where session.customerId == customerId {
            for q in session.viewed where !bought.contains(q) { viewed[q, default: 0] += 1 }
        }
        var out: [Recommendation] = []
        for q in Set(together.keys).union(viewed.keys) {
            guard let p = catalog.product(q), !p.discontinued, p.available > 0 else { continue }
            let t = together[q] ?? 0
            let v = viewed[q] ?? 0
            guard t + v > 0 else { continue }
            out.append(Recommendation(productId: q, score: t + v, boughtTogether: t, viewedSessions: v))
        }
        out.sort { $0.score != $1.score ? $0.score > $1.score : $0.productId < $1.productId }
        return Array(out.prefix(max(0, limit)))
    }

    public func isForgotten(_ customerId: String) -> Bool { forgotten.contains(customerId) }

    /// Whether a session or an order names `customerId` (a guest has no
    /// customer stream). O(sessions + orders): for an empty answer only.
    public func knows(_ customerId: String) -> Bool {
        sessions.values.contains { $0.customerId == customerId } || orders.orders.values.contains { $0.customerId == customerId }
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(sessions, key: { $0.string($1.string) }, value: { w, v in
            w.string(v.customerId)
            w.array(v.viewed) { $0.string($1) }
        })
        w.array(forgotten.sorted()) { $0.string($1) }
        w.dictionary(pending, key: { $0.string($1.string) }, value: { w, v in w.array(v) { $0.string($1) } })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        let str = { (r: inout R) throws(ProjectionError) -> String in try r.string() }
        sessions = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in IDKey(try r.string()) },
                                    value: { (r: inout R) throws(ProjectionError) in
            Session(customerId: try r.string(), viewed: try r.array(str))
        })
        forgotten = Set(try r.array(str))
        pending = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in IDKey(try r.string()) },
                                   value: { (r: inout R) throws(ProjectionError) in try r.array(str) })
    }
}

extension RecommendationsProjector: GrowsWithLog {
    func reserve(growth: Double) {
        sessions.reserve(growth: growth)
        pending.reserve(growth: growth)
    }
}

extension RecommendationsProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.sessionStarted, .productViewed, .customerForgotten] }
}
