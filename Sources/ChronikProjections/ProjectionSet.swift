import ChronikLog
import ChronikCommerce

/// The read models of one replay, in dependency order, and how far into
/// the log they are.
///
/// A model that needs another (the catalog's `available` needs inventory)
/// holds a reference to it; the set applies each event to the models in
/// an order where a dependency comes first.
///
/// Not thread-safe: one replayer or one `LiveProjections` owns a set.
public final class ProjectionSet {
    /// The projectors, dependencies first.
    public private(set) var projectors: [any SnapshottableProjector] = []
    /// Per `kindIndex`, the projectors that fold that type, in set order.
    @exclusivity(unchecked)
    private var byKind: [[any SnapshottableProjector]] = Array(repeating: [], count: kindCount)
    /// The same per lane (`Lane`: decoding, projecting), for the replay on
    /// two threads.
    @exclusivity(unchecked)
    private var laneByKind: [[[any SnapshottableProjector]]] = Array(repeating: Array(repeating: [], count: kindCount), count: 2)
    /// The projectors of lane `.either`, per `kindIndex`.
    @exclusivity(unchecked)
    private var eitherByKind: [[any FoldsOnEitherThread]] = Array(repeating: [], count: kindCount)
    /// Whether the set has a projector of lane `.either`.
    @exclusivity(unchecked)
    private(set) var hasEitherLane = false
    /// The next position to apply: every event before it has been folded.
    @exclusivity(unchecked)
    public internal(set) var position: Position = .start
    /// The `time` of the latest event folded (log order), for the models
    /// that need it (supply chain: `late` of an open purchase order). One
    /// store per event here instead of dispatching every event to them.
    public let clock = EventClock()
    /// Opens sealed personal data for the models that read some (fraud:
    /// the IP and the billing/shipping countries of OrderPlaced, the IP of
    /// SessionStarted; docs/GDPR.md). Without one — or once a subject's key
    /// is destroyed — those fields read as erased and the signals built on
    /// them stay silent. No model keeps personal data itself.
    public var protector: (any PIIProtector)? {
        didSet { fraud?.protector = protector }
    }

    public init() {}

    /// The event types whose personal data a model of the set reads as it
    /// folds them.
    var typesNeedingPII: Set<String> {
        fraud == nil ? [] : [OrderPlaced.typeName]
    }

    /// The event types whose personal data a model may read later: a
    /// session's IP matters to fraud only if an order names the session
    /// (a few percent of sessions), so it is opened then, not at replay.
    var typesOpenedLater: Set<String> {
        fraud == nil ? [] : [SessionStarted.typeName]
    }

    /// Adds a projector after those already in the set (its dependencies
    /// must be in already).
    public func add(_ p: any SnapshottableProjector) {
        precondition(projector(named: p.name) == nil, "two read models named \(p.name)")
        projectors.append(p)
        let lane = Lane.of(p)
        let kinds = (p as? FoldsOnlySomeTypes).map { $0.foldedTypes.map(kindIndex) } ?? Array(0..<kindCount)
        for k in kinds {
            byKind[k].append(p)
            if lane == .either, let e = p as? FoldsOnEitherThread {
                eitherByKind[k].append(e)
            } else {
                laneByKind[lane.rawValue][k].append(p)
            }
        }
        if lane == .either { hasEitherLane = true }
    }

    /// Where a replay on two threads folds a projector.
    enum Lane: Int {
        /// On the thread that decodes: models that read no other model and
        /// that no other model reads (search, supply chain, settings,
        /// support), so no other thread touches them until the replay ends.
        /// Supply chain holds `clock`, but reads it only when queried or
        /// snapshotted, never in `apply`.
        ///
        case decoding = 0
        /// On the calling thread, in set order: every other projector
        /// (inventory, orders and the models built on them; any projector
        /// the registry does not know). It also moves `clock` and
        /// `position`.
        case projecting = 1
        /// On either thread, a chunk at a time, each thread folding the
        /// share of the chunks that balances the two (`Replayer`'s
        /// `EitherPlacement`, stop 47): fraud, which reads no other model,
        /// is read by none and never fails a fold. Stop 28
        /// put it on the projecting thread, which was then the shorter one
        /// on the histories measured; by stop 44 which thread is shorter
        /// depends on the history: with fraud on the projecting thread a
        /// big shop's replay kept that thread ~60 % busier than the
        /// decoding one, and with fraud on the decoding thread a simulated
        /// shop's kept the decoding thread ~75 % busier
        /// (Benchmarks/README.md, stop 44).
        case either = 2

        static func of(_ p: any SnapshottableProjector) -> Lane {
            switch p {
            case is SearchProjector, is SupplyChainProjector, is SettingsProjector, is SupportProjector:
                return .decoding
            case is FoldsOnEitherThread:
                return .either
            default:
                return .projecting
            }
        }
    }

    /// A projector's error in one lane, with what orders it against the
    /// other lane's: the event's position, then the projector's set index.
    struct LaneFailure: Error {
        var error: ProjectionError
        var position: UInt64
        var model: Int

        /// The one a serial replay would have met first.
        static func first(_ a: LaneFailure?, _ b: LaneFailure?) -> LaneFailure? {
            guard let a else { return b }
            guard let b else { return a }
            return (a.position, a.model) <= (b.position, b.model) ? a : b
        }
    }

    /// Folds one event into the projectors of one lane (the replay on two
    /// threads calls it once per lane, in log order on each); the
    /// projecting lane then moves `clock` and `position`. Both lanes
    /// together fold exactly what `apply(_:)` folds.
    ///
    /// `event` is `inout` only to be borrowed where it lies (a chunk's
    /// element, the decoding thread's local) rather than copied for the
    /// call: nothing here writes it.
    @inline(__always)
    func apply(_ event: inout ProjectedEvent, lane: Lane) throws(LaneFailure) {
        for p in laneByKind[lane.rawValue][kindIndex(event.event)] {
            do {
                try p.apply(event)
            } catch {
                throw LaneFailure(error: Self.located(error, event, p.name), position: event.position.value,
                                  model: projectors.firstIndex { $0 === p } ?? Int.max)
            }
        }
        if lane == .projecting {
            clock.latest = event.occurredAt
            position = Position(event.position.value + 1)
        }
    }

    /// Folds `events` into the projectors of lane `.either`, on the thread
    /// that holds them for this chunk; they never fail.
    func applyEither(_ events: [ProjectedEvent]) {
        events.forEachInPlace { foldEither(&$0) }
    }

    @inline(__always)
    private func foldEither(_ event: inout ProjectedEvent) {
        for p in eitherByKind[kindIndex(event.event)] { p.fold(event) }
    }

    /// A replay of fewer events than this does not size the tables ahead
    /// (`reserve(growth:lane:)`): doubling is cheap while they are small.
    var reservationMinimum: UInt64 = 65_536

    /// Sizes the tables of the projectors of `lane` (all with nil) that
    /// grow with the log for `growth` times the events folded so far
    /// (`GrowsWithLog`); called by a replay on the thread that folds them.
    func reserve(growth: Double, lane: Lane?) {
        for p in projectors where lane == nil || Lane.of(p) == lane {
            (p as? GrowsWithLog)?.reserve(growth: growth)
        }
    }

    public var names: [String] { projectors.map(\.name) }

    public func projector(named name: String) -> (any SnapshottableProjector)? {
        projectors.first { $0.name == name }
    }

    public var inventory: InventoryProjector? { projector(named: "inventory") as? InventoryProjector }
    public var catalog: CatalogProjector? { projector(named: "catalog") as? CatalogProjector }
    public var orders: OrdersProjector? { projector(named: "orders") as? OrdersProjector }
    public var crm: CRMProjector? { projector(named: "crm") as? CRMProjector }
    public var finance: FinanceProjector? { projector(named: "finance") as? FinanceProjector }
    public var sales: SalesProjector? { projector(named: "sales") as? SalesProjector }
    public var search: SearchProjector? { projector(named: "search") as? SearchProjector }
    public var alsoBought: AlsoBoughtProjector? { projector(named: "also-bought") as? AlsoBoughtProjector }
    public var replenishment: ReplenishmentProjector? { projector(named: "replenishment") as? ReplenishmentProjector }
    public var fraud: FraudProjector? { projector(named: "fraud") as? FraudProjector }
    public var reconciliation: ReconciliationProjector? { projector(named: "reconciliation") as? ReconciliationProjector }
    public var recommendations: RecommendationsProjector? { projector(named: "recommendations") as? RecommendationsProjector }
    public var supplyChain: SupplyChainProjector? { projector(named: "supply-chain") as? SupplyChainProjector }
    public var settings: SettingsProjector? { projector(named: "settings") as? SettingsProjector }
    public var campaigns: CampaignsProjector? { projector(named: "campaigns") as? CampaignsProjector }
    public var support: SupportProjector? { projector(named: "support") as? SupportProjector }

    /// Folds one event into every model, which must be the event at
    /// `position` (events are applied once each, in log order).
    ///
    /// - Throws: the first projector's `ProjectionError`, with the event's
    ///   position and type filled in; the set must then be discarded.
    @inline(__always)
    public func apply(_ event: ProjectedEvent) throws(ProjectionError) {
        for p in byKind[kindIndex(event.event)] {
            do {
                try p.apply(event)
            } catch {
                throw Self.located(error, event, p.name)
            }
        }
        clock.latest = event.occurredAt
        position = Position(event.position.value + 1)
    }

    @inline(never)
    static func located(_ error: ProjectionError, _ event: ProjectedEvent, _ model: String) -> ProjectionError {
        var e = error
        e.position = e.position ?? event.position
        e.eventType = e.eventType ?? event.event.type
        if !e.message.hasPrefix(model) { e = ProjectionError(e.code, "\(model): \(e.message)", position: e.position, eventType: e.eventType) }
        return e
    }

    /// Each model's snapshot bytes, by name: deterministic, so two sets
    /// built from the same events compare equal byte for byte.
    public func snapshotBytes() -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for p in projectors {
            var w = SnapshotWriter()
            p.encodeSnapshot(into: &w)
            out[p.name] = w.bytes
        }
        return out
    }
}

/// The `time` of the latest event a set folded (log order).
public final class EventClock {
    @exclusivity(unchecked)
    public internal(set) var latest: Timestamp?
    public init() {}
}

/// The registry of read models: names, dependencies, construction.
public enum Projections {
    /// Every model name, in build order (a dependency before its users).
    public static let allNames = [
        "inventory", "orders", "fraud", "catalog", "crm", "finance", "sales", "search", "also-bought", "replenishment",
        // EVENTS.md v1.2
        "reconciliation", "recommendations", "supply-chain", "settings", "campaigns", "support",
    ]

    /// The models each model reads.
    public static let dependencies: [String: [String]] = [
        "inventory": [],
        "orders": [],
        "catalog": ["inventory"],
        "crm": ["orders"],
        "finance": ["orders"],
        "sales": ["orders", "finance"],
        "search": [],
        "also-bought": ["orders"],
        "replenishment": ["inventory"],
        "fraud": [],
        "reconciliation": ["orders"],
        "recommendations": ["orders", "catalog"],
        "supply-chain": [],
        "settings": [],
        "campaigns": ["orders"],
        "support": [],
    ]

    /// The names in `only` and everything they depend on, in build order.
    public static func closure(of only: [String]?) throws(ProjectionError) -> [String] {
        guard let only else { return allNames }
        var needed = Set<String>()
        var stack = only
        while let n = stack.popLast() {
            guard let deps = dependencies[n] else {
                throw ProjectionError(.unknownModel,
                                      "unknown read model '\(n)'; the models are: \(allNames.joined(separator: ", "))")
            }
            if needed.insert(n).inserted { stack += deps }
        }
        return allNames.filter(needed.contains)
    }

    /// A fresh set of every model (or those named and their dependencies).
    ///
    /// - Throws: `unknownModel` for a name not in `allNames`.
    public static func standard(only: [String]? = nil) throws(ProjectionError) -> ProjectionSet {
        let set = ProjectionSet()
        var inventory: InventoryProjector?
        var orders: OrdersProjector?
        var finance: FinanceProjector?
        var catalog: CatalogProjector?
        for name in try closure(of: only) {
            switch name {
            case "inventory":
                inventory = InventoryProjector()
                set.add(inventory!)
            case "orders":
                orders = OrdersProjector()
                set.add(orders!)
            case "catalog":
                catalog = CatalogProjector(inventory: inventory!)
                set.add(catalog!)
            case "crm": set.add(CRMProjector(orders: orders!))
            case "finance":
                finance = FinanceProjector(orders: orders!)
                set.add(finance!)
            case "sales": set.add(SalesProjector(orders: orders!, finance: finance!))
            case "search": set.add(SearchProjector())
            case "also-bought": set.add(AlsoBoughtProjector(orders: orders!))
            case "replenishment": set.add(ReplenishmentProjector(inventory: inventory!))
            case "fraud": set.add(FraudProjector())
            case "reconciliation": set.add(ReconciliationProjector(orders: orders!))
            case "recommendations": set.add(RecommendationsProjector(orders: orders!, catalog: catalog!))
            case "supply-chain": set.add(SupplyChainProjector(clock: set.clock))
            case "settings": set.add(SettingsProjector())
            case "campaigns": set.add(CampaignsProjector(orders: orders!))
            case "support": set.add(SupportProjector())
            default: preconditionFailure("no constructor for read model \(name)")
            }
        }
        return set
    }
}

extension Array where Element == ProjectedEvent {
    /// Hands each event to `body` where it lies in the array's buffer, in
    /// order. `for e in events` copied each one out (a retain and a release
    /// of its parts, ~2 % of a replay's samples, stop 45); `body` takes it
    /// `inout` only to borrow it, and must not write it (the buffer may be
    /// shared).
    @inline(__always)
    func forEachInPlace<E: Error>(_ body: (inout ProjectedEvent) throws(E) -> Void) throws(E) {
        try withUnsafeBufferPointer { events throws(E) in
            guard let base = events.baseAddress.map(UnsafeMutablePointer.init(mutating:)) else { return }
            for i in events.indices { try body(&base[i]) }
        }
    }
}
