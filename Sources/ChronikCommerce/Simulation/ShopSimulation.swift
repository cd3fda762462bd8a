// `ShopSimulation.run`: a realistic shop history appended through the
// guards (CommerceStore), deterministic per seed, fast enough for a
// million events in seconds.
//
// One task runs the shop's timeline (ShopWorld) and hands out batches of
// one stream each. Each batch is appended by its own task, started on a
// serial executor: tasks start in the order they were created, and each
// reaches the log's queue before it first suspends, so the log order is
// the timeline's order — the same for a seed, whatever the scheduling —
// while up to `window` batches share the writer's group commits. A batch
// waits until the previous append to its stream has finished, so the
// guard reads a settled stream: it never loses a race and never retries.

import ChronikLog

/// Simulates a shop into a log through the commerce guards.
public enum ShopSimulation {
    public struct Options: Sendable {
        /// Exactly this many events are appended (the history is cut there,
        /// possibly in the middle of a business operation).
        public var events: Int
        public var seed: UInt64
        /// Appends in flight at most.
        public var window: Int = 512

        public init(events: Int, seed: UInt64) {
            self.events = events
            self.seed = seed
        }
    }

    /// What a simulation appended.
    public struct Summary: Sendable {
        public var events = 0
        /// Atomic appends (batches of one stream).
        public var appends = 0
        /// Events per type name.
        public var eventsByType: [String: Int] = [:]
        public var sessions = 0
        public var searches = 0
        public var zeroResultSearches = 0
        public var customers = 0
        public var forgottenCustomers = 0
        public var orders = 0
        public var cancelledOrders = 0
        public var fraudLookingOrders = 0
        public var shipments = 0
        public var returns = 0
        public var products = 0
        public var skus = 0
        public var warehouses = 0
        public var suppliers = 0
        public var purchaseOrders = 0
        /// Σ captured − Σ refunded, minor units per currency.
        public var revenue: [String: Int64] = [:]
        /// Business time (`time`) of the first and last event.
        public var firstTime: Timestamp?
        public var lastTime: Timestamp?

        /// Events per group of EVENTS.md (catalog, customers, orders,
        /// inventory, supply chain, clickstream, marketing, site).
        public var eventsByGroup: [(group: String, events: Int)] {
            let groups: [(String, [CommerceEventType])] = [
                ("clickstream", [.sessionStarted, .pageViewed, .productViewed, .searchPerformed, .cartItemAdded]),
                ("orders", [.orderPlaced, .paymentAuthorized, .paymentCaptured, .paymentFailed, .orderShipped,
                            .orderDelivered, .orderCancelled, .refundIssued, .returnReceived]),
                ("inventory", [.stockReceived, .stockReserved, .stockReleased, .stockShipped, .stockReturned,
                               .stockAdjusted, .stockTransferred, .reorderPointSet]),
                ("customers", [.customerRegistered, .customerUpdated, .addressChanged, .consentChanged,
                               .paymentMethodAdded, .supportInteraction, .customerForgotten]),
                ("catalog", [.productCreated, .productUpdated, .variantAdded, .priceChanged, .productDiscontinued]),
                ("supply chain", [.supplierRegistered, .purchaseOrderPlaced, .purchaseOrderReceived]),
                ("marketing", [.campaignLaunched]),
                ("site", [.settingChanged]),
                ("settlement", [.settlementLineReported]),
            ]
            return groups.map { g in (g.0, g.1.reduce(0) { $0 + (eventsByType[$1.rawValue] ?? 0) }) }
        }
    }

    /// Simulates `options.events` events into `store`'s log.
    ///
    /// The log should be empty: the history starts with the shop's setup
    /// (settings, suppliers, catalog, opening stock).
    ///
    /// - Parameter progress: called with the number of events appended,
    ///   every 65,536 events, from the simulating task.
    /// - Throws: `SimulationError` when a guard refuses an event (a defect
    ///   of the simulator's model; appends in flight finish first) or the
    ///   log fails.
    public static func run(into store: CommerceStore, options: Options,
                           progress: (@Sendable (Int) -> Void)? = nil) async throws -> Summary {
        precondition(options.events > 0 && options.window > 0)
        let world = ShopWorld(seed: options.seed, events: options.events)
        try rethrowing { try world.setUp() }
        let executor = SerialTaskExecutor()
        var appends = 0
        var failure: (index: Int, error: SimulationError)?

        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var inFlight = 0
            var busy: [String: Int] = [:]   // stream → appends in flight
            var done = 0
            var reported = 0
            func collect(_ o: Outcome) {
                inFlight -= 1
                if let n = busy[o.stream], n > 1 { busy[o.stream] = n - 1 } else { busy[o.stream] = nil }
                if let e = o.error, failure.map({ o.index < $0.index }) ?? true { failure = (o.index, e) }
                done += o.count
                if let progress, done - reported >= 1 << 16 {
                    reported = done
                    progress(done)
                }
            }
            while failure == nil, let batch = try rethrowing({ try world.nextBatch() }) {
                let stream = batch[0].stream
                while inFlight >= options.window || busy[stream] != nil, let o = try await group.next() { collect(o) }
                let index = appends
                appends += 1
                inFlight += 1
                busy[stream, default: 0] += 1
                group.addTask(executorPreference: executor) {
                    // Runs on the serial executor up to its first
                    // suspension, which is after the log queued the batch.
                    do {
                        try await store.append(batch)
                        return Outcome(index: index, stream: stream, count: batch.count, error: nil)
                    } catch {
                        return Outcome(index: index, stream: stream, count: batch.count,
                                       error: SimulationError(stream: stream, types: batch.map(\.event.type),
                                                              reason: "\(error)"))
                    }
                }
            }
            while let o = try await group.next() { collect(o) }
        }
        if let failure { throw failure.error }

        var s = Summary()
        s.events = world.emitted
        s.appends = appends
        s.eventsByType = world.countsByType
        // What was written, from the events themselves: the world's own
        // counters include what it planned past the event budget (stop 32:
        // 10 events claimed "192 products (703 SKUs), 8 suppliers", none
        // written).
        func written(_ type: String) -> Int { world.countsByType[type] ?? 0 }
        s.sessions = written("SessionStarted")
        s.searches = written("SearchPerformed")
        s.zeroResultSearches = min(world.zeroResultSearches, s.searches)
        s.customers = written("CustomerRegistered")
        s.forgottenCustomers = written("CustomerForgotten")
        s.orders = written("OrderPlaced")
        s.cancelledOrders = written("OrderCancelled")
        s.fraudLookingOrders = min(world.fraudOrders, s.orders)
        s.shipments = written("OrderShipped")
        s.returns = written("ReturnReceived")
        s.products = max(0, written("ProductCreated") - written("ProductDiscontinued"))
        s.skus = written("VariantAdded")
        s.warehouses = world.warehouseCount
        s.suppliers = written("SupplierRegistered")
        s.purchaseOrders = written("PurchaseOrderPlaced")
        s.revenue = world.revenue
        if world.emitted > 0 {
            s.firstTime = Timestamp(microseconds: world.firstTime)
            s.lastTime = Timestamp(microseconds: world.lastTime)
        }
        return s
    }

    private struct Outcome: Sendable {
        var index: Int
        var stream: String
        var count: Int
        var error: SimulationError?
    }

    /// A validation error of an event the simulator built is its own defect:
    /// reported like a refusal.
    private static func rethrowing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SimulationError { throw e } catch {
            throw SimulationError(stream: "", types: [], reason: "the simulator built an invalid event: \(error)")
        }
    }
}

/// The simulator proposed something the guards (or the log) refused: a
/// defect of its model, never expected.
public struct SimulationError: Error, CustomStringConvertible, Sendable {
    public var stream: String
    public var types: [String]
    public var reason: String

    public var description: String {
        stream.isEmpty ? "simulation failed: \(reason)"
            : "simulation failed: an append of \(types.joined(separator: ", ")) to \(stream) was refused: \(reason)"
    }
}
