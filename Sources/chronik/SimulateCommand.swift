import ArgumentParser
import ChronikCommerce
import ChronikLog
import ChronikServer
import Foundation

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a realistic shop history through the guards of EVENTS.md, the same for a seed.",
        discussion: """
            A mid-size European shop (docs/SIMULATOR.md): a catalog of real-\
            looking products from data/, suppliers and purchase orders, four \
            warehouses with reorder points, customers in ten EU countries, \
            sessions with page and product views, searches (some with no \
            result) and cart adds, orders with payments (failures and \
            retries), shipments, deliveries, cancellations, refunds and \
            returns, stock transfers and counts, price and setting changes, \
            support, consent changes and a small share of fraud-looking \
            orders. Every event goes through the commerce guards; none is \
            refused.

            The same --seed gives the same history: the same events, ids, \
            business times and log order (only recordedAt differs).

            The log must be new or empty: a history starts with the shop's \
            setup, and a second one on top would mix two shops.

            Durability: appends are synced at most every second and once \
            more at the end. A crash midway can lose the last second of \
            appends and leaves a partial history (a prefix in log order); \
            simulate again into a fresh directory.

            Examples:
              $ chronik simulate --events 100000 --seed 1 --log shop-log
              $ chronik simulate --events 5000 --seed 7 --log small --json

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions
    @OptionGroup var keyOptions: KeyOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("How many events to append, exactly (1...100000000).", valueName: "n"))
    var events = 1_000_000

    @Option(parsing: .unconditional, help: ArgumentHelp("The seed of the history, 0...18446744073709551615.", valueName: "s"))
    var seed: UInt64 = 1

    static let maxEvents = 100_000_000

    func validate() throws {
        guard (1...Self.maxEvents).contains(events) else {
            throw ValidationError("--events must be 1...\(Self.maxEvents), got \(events)")
        }
    }

    func run() async throws {
        let dir = options.directory()
        try FreshLog.require(dir)
        let run = try await SimulationRun.performRemovedIfStopped(
            directory: dir, events: events, seed: seed, options: options, creation: creation, keyOptions: keyOptions,
            segmentSize: CreationOptions.defaultSegmentSize, what: "the unfinished simulation")
        let out = Output()
        if options.json {
            try out.line(encoding: run.report(directory: dir, seed: seed))
        } else {
            for line in run.textLines(directory: dir, seed: seed) { out.line(line) }
        }
        out.flush()
    }
}

extension SimulationRun {
    /// `perform`, with the fresh log and the key store it made removed when
    /// it fails or is interrupted (Ctrl-C, SIGTERM: said, stop 35: silent,
    /// and a partial log left). `ownsKeys`: the key store is the caller's
    /// to remove even though its directory is there (the demo's, emptied).
    static func performRemovedIfStopped(directory dir: String, events: Int, seed: UInt64, options: GlobalOptions,
                                        creation: CreationOptions, keyOptions: KeyOptions, segmentSize: ByteSize,
                                        what: String, ownsKeys: Bool = false) async throws -> SimulationRun {
        let keysDir = keyOptions.directory(forLog: dir)
        var made = [dir]
        if ownsKeys || !FileManager.default.fileExists(atPath: keysDir) { made.append(keysDir) }
        AppendInterrupt.shared.install()
        AppendInterrupt.shared.discarding(made, keeping: FileManager.default.fileExists(atPath: dir) ? [dir] : [], what: what)
        return try await leavingNoTraceOnFailure(log: dir, keys: keysDir) {
            try await perform(directory: dir, events: events, seed: seed, options: options, creation: creation,
                              keyOptions: keyOptions, segmentSize: segmentSize)
        }
    }
}

/// One simulation into a fresh log, with what the summaries print.
struct SimulationRun {
    var summary: ShopSimulation.Summary
    var elapsed: Duration
    var stats: LogStats

    static func perform(directory dir: String, events: Int, seed: UInt64, options: GlobalOptions,
                        creation: CreationOptions, keyOptions: KeyOptions, segmentSize: ByteSize) async throws -> SimulationRun {
        let log = try options.openForWriting(creation, directory: dir, defaultSegmentSize: segmentSize,
                                             durability: .interval(.seconds(1)), sayWhenCreated: false)
        AppendInterrupt.shared.discardingWrites(of: log)
        defer { try? log.close() }
        let startHead = log.head
        // Personal data sealed per customer / session (docs/GDPR.md); keys
        // synced with the log at the end.
        let vault = try keyOptions.vault(for: log, syncEachKey: false)
        let store = CommerceStore(log: log, protector: vault)
        let showProgress = !options.quiet && isatty(STDERR_FILENO) == 1
        let total = events
        let started = ContinuousClock.now
        let summary: ShopSimulation.Summary
        do {
            let report: @Sendable (Int) -> Void = { n in
                let pct = Int(Double(n) / Double(total) * 100)
                FileHandle.standardError.write(Data("\r\u{1B}[Kchronik: simulated \(n) of \(total) events (\(pct)%)…".utf8))
            }
            summary = try await ShopSimulation.run(into: store, options: ShopSimulation.Options(events: events, seed: seed),
                                                   progress: showProgress ? report : nil)
        } catch let e as SimulationError {
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            // How much went in (stop 38, a chaos test on a full disk: it did
            // not say that 93,583 events had).
            let appended = log.head.value - startHead.value
            throw CommandFailure(e.description + (appended == 0 ? "; nothing was appended"
                : "; \(group(Int(appended))) events were appended before it and stay in the log (positions \(startHead.value)–\(log.head.value - 1))"))
        }
        do { try vault.store.sync() } catch { throw CommandFailure("key store: \(error)") }
        // Syncs: the summary promises durability.
        try log.closeAfterWriting(appendedFrom: startHead)
        keyOptions.recordErasures(vault, log: log, note: options.note)
        let elapsed = ContinuousClock.now - started
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let reopened = try EventLog.open(at: dir, options: {
            var o = LogOptions()
            o.readOnly = true
            o.createIfMissing = false
            return o
        }())
        defer { try? reopened.close() }
        return SimulationRun(summary: summary, elapsed: elapsed, stats: try reopened.stats())
    }

    var seconds: Double { max(milliseconds(elapsed) / 1000, 1e-9) }
    var rate: Double { Double(summary.events) / seconds }

    /// The `--json` summary of `simulate` (and the start of `demo`'s).
    struct Report: Encodable {
        var log: String
        var seed: UInt64
        var events, appends, streams: Int
        var rejected = 0
        var seconds: Double
        var eventsPerSecond: Int
        var bytesOnDisk: Int64
        var from, to: String?
        var eventsByGroup, eventsByType: ObjectMembers<Int>
        var products, skus, warehouses, suppliers, purchaseOrders, customers, forgottenCustomers: Int
        var sessions, searches, zeroResultSearches, orders, cancelledOrders, fraudLookingOrders, shipments, returns: Int
        var revenue: ObjectMembers<Int64>
    }

    func report(directory dir: String, seed: UInt64) -> Report {
        let s = summary
        return Report(
            log: dir, seed: seed, events: s.events, appends: s.appends, streams: stats.streams,
            seconds: (seconds * 1000).rounded() / 1000, eventsPerSecond: Int(rate), bytesOnDisk: stats.bytesOnDisk,
            from: s.firstTime?.rfc3339, to: s.lastTime?.rfc3339,
            eventsByGroup: ObjectMembers(s.eventsByGroup.map { ($0.group, $0.events) }),
            eventsByType: ObjectMembers(CommerceEventType.allCases.map { ($0.rawValue, s.eventsByType[$0.rawValue] ?? 0) }),
            products: s.products, skus: s.skus, warehouses: s.warehouses, suppliers: s.suppliers,
            purchaseOrders: s.purchaseOrders, customers: s.customers, forgottenCustomers: s.forgottenCustomers,
            sessions: s.sessions, searches: s.searches, zeroResultSearches: s.zeroResultSearches, orders: s.orders,
            cancelledOrders: s.cancelledOrders, fraudLookingOrders: s.fraudLookingOrders, shipments: s.shipments,
            returns: s.returns, revenue: ObjectMembers(sortingKeys: s.revenue))
    }

    func textLines(directory dir: String, seed: UInt64) -> [String] {
        let s = summary
        var lines: [String] = []
        lines.append("simulated \(group(s.events)) event\(s.events == 1 ? "" : "s") (seed \(seed)) into \(dir) in \(formatDuration(elapsed)) "
                     + "(\(group(Int(rate))) events/s): \(group(s.appends)) guarded append\(s.appends == 1 ? "" : "s"), 0 refused")
        if let from = s.firstTime, let to = s.lastTime {
            let days = Double(to.microseconds - from.microseconds) / 86_400e6
            lines.append("  business time  \(from.rfc3339) … \(to.rfc3339) (\(String(format: "%.1f", days)) days)")
        }
        lines.append("  events         " + s.eventsByGroup.filter { $0.events > 0 }.map { "\($0.group) \(group($0.events))" }
            .joined(separator: ", "))
        lines.append("  shop           \(s.products) products (\(s.skus) SKUs), \(s.warehouses) warehouses, "
                     + "\(s.suppliers) suppliers, \(group(s.purchaseOrders)) purchase orders")
        lines.append("  visitors       \(group(s.sessions)) sessions, \(group(s.searches)) searches "
                     + "(\(group(s.zeroResultSearches)) without result), \(group(s.customers)) customers "
                     + "(\(s.forgottenCustomers) forgotten)")
        lines.append("  orders         \(group(s.orders)) placed, \(group(s.shipments)) shipments, \(group(s.cancelledOrders)) cancelled, "
                     + "\(group(s.returns)) returns, \(s.fraudLookingOrders) fraud-looking")
        lines.append("  revenue        " + (s.revenue.isEmpty ? "none" : s.revenue.sorted { $0.key < $1.key }.map { money($0.value, $0.key) }
            .joined(separator: ", ")) + " (captured − refunded)")
        lines.append("  log            \(group(stats.streams)) streams, \(formatBytes(stats.bytesOnDisk)) on disk "
                     + "(\(s.events > 0 ? Int(stats.bytesOnDisk) / s.events : 0) B/event, \(stats.compression))")
        return lines
    }
}

/// The rule of simulate and demo --log: a history goes into a new log.
enum FreshLog {
    /// Accepts a directory that does not exist, is empty, or holds a
    /// Chronik log without events; refuses (exit 1) anything else, before
    /// writing anything.
    static func require(_ dir: String) throws {
        if try LogDirectory.logEntries(dir, refusingTo: "simulate into").isEmpty { return }
        var o = LogOptions()
        o.readOnly = true
        o.createIfMissing = false
        let log = try EventLog.open(at: dir, options: o)
        let events = try log.stats().events
        try? log.close()
        guard events == 0 else {
            throw CommandFailure("refusing to simulate into \(dir): the log holds \(events) event\(events == 1 ? "" : "s"); "
                                 + "a simulated history starts from an empty shop, so choose a new --log directory")
        }
    }
}
