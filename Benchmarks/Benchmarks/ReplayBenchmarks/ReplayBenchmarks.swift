// ChronikProjections: rebuilding every read model from a simulated shop
// history (ShopHistory.swift: clickstream most of the volume) and from a
// big shop's (many customers and orders, ~300 distinct streams per 1,000
// events: issue 13's replay row), each beside the bare scan of the same log
// measured in the same run; a snapshot + 1 % tail against the full
// rebuild; the models' resident memory per event.
//
// Data: logs of `CHRONIK_REPLAY_EVENTS` events (default 2,000,000), built
// once into the benchmark data directory and reused; the clickstream log's
// snapshot at 99 % is written once into its snapshots/ directory.

import Benchmark
import ChronikBenchSupport
import ChronikCommerce
import ChronikLog
import ChronikProjections
#if canImport(Glibc)
import Glibc
#endif

let eventCount: Int = {
    if let s = getenv("CHRONIK_REPLAY_EVENTS"), let n = Int(String(cString: s)), n > 0 { return n }
    return 2_000_000
}()

func openLog(_ mix: ShopHistory.Mix = .clickstream) async throws -> EventLog {
    let dir = try await ShopHistory.ensureLog(events: eventCount, mix: mix)
    var options = LogOptions()
    options.readOnly = true
    options.createIfMissing = false
    let log = try EventLog.open(at: dir, options: options)
    log.waitUntilIndexed()
    return log
}

/// A snapshot at 99 % of the log, written once.
func ensureSnapshot(_ log: EventLog) throws {
    let store = SnapshotStore(logDirectory: log.directory)
    let at = Position(log.head.value - log.head.value / 100)
    // Reuse it only if it loads (a model version change makes it stale).
    if (try? store.loadNewest(log: log))?.loaded?.position == at { return }
    let set = try Projections.standard()
    try Replayer.replay(log, into: set, upTo: at)
    try store.write(set, log: log)
}

let benchmarks: @Sendable () -> Void = {
    let timing: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal, .peakMemoryResident]
    let config = Benchmark.Configuration(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 7)
    let logBox = SetupBox<EventLog>()
    let setup: @Sendable () async throws -> Void = {
        if logBox.value == nil { logBox.value = try await openLog() }
    }

    // Issue 13's replay row: the big shop's history, rebuilt on two threads
    // and on one, beside the bare scan of the same log.
    let bigShop = SetupBox<EventLog>()
    let bigSetup: @Sendable () async throws -> Void = {
        if bigShop.value == nil { bigShop.value = try await openLog(.bigShop) }
    }
    Benchmark("Replay baseline: bare scan (\(eventCount / 1_000_000)M big-shop events)", configuration: config) { _ in
        var fold = 0
        let n = try bigShop.unwrapped.scan { e in
            fold &+= e.data.count &+ e.type.utf8.count &+ Int(truncatingIfNeeded: e.position.value)
        }
        precondition(n == Int(bigShop.unwrapped.head.value))
        blackHole(fold)
    } setup: { try await bigSetup() }

    // Target: ≥ 2,000,000 events/s (issue 13).
    Benchmark("Replay: full rebuild, all models, parallel (\(eventCount / 1_000_000)M big shop)", configuration: config) { benchmark in
        let (set, _) = try Replayer.rebuild(bigShop.unwrapped, useSnapshots: false)
        benchmark.stopMeasurement()
        precondition(set.position == bigShop.unwrapped.head)
        blackHole(set)
    } setup: { try await bigSetup() }

    Benchmark("Replay: full rebuild, all models, serial (\(eventCount / 1_000_000)M big shop)", configuration: config) { benchmark in
        let (set, _) = try Replayer.rebuild(bigShop.unwrapped, useSnapshots: false, parallel: false)
        benchmark.stopMeasurement()
        blackHole(set)
    } setup: { try await bigSetup() }

    // Baseline: the bare scan, every view touched, nothing decoded.
    Benchmark("Replay baseline: bare scan (\(eventCount / 1_000_000)M shop events)", configuration: config) { _ in
        var fold = 0
        let n = try logBox.unwrapped.scan { e in
            fold &+= e.data.count &+ e.type.utf8.count &+ Int(truncatingIfNeeded: e.position.value)
        }
        precondition(n == Int(logBox.unwrapped.head.value))
        blackHole(fold)
    } setup: { try await setup() }

    // Diagnostic: scan + typed decode on one thread, no projection.
    Benchmark("Replay: scan + decode only (\(eventCount / 1_000_000)M)", configuration: config) { _ in
        var fold = 0
        try logBox.unwrapped.scan { e in
            if case .orderPlaced = try CommerceEvent.decode(type: e.type, data: Array(e.data)) { fold += 1 }
        }
        blackHole(fold)
    } setup: { try await setup() }

    // Target: ≥ 1,500,000 events/s. Every read model, from a cold start
    // (fresh models, log on disk, no snapshot), decode and project on two threads.
    // Rebuilds measure until the models are ready; freeing them afterwards
    // (which a `chronik` process never waits for) is outside.
    Benchmark("Replay: full rebuild, all models, parallel (\(eventCount / 1_000_000)M)", configuration: config) { benchmark in
        let (set, _) = try Replayer.rebuild(logBox.unwrapped, useSnapshots: false)
        benchmark.stopMeasurement()
        precondition(set.position == logBox.unwrapped.head)
        blackHole(set)
    } setup: { try await setup() }

    // Diagnostic: the same on one thread.
    Benchmark("Replay: full rebuild, all models, serial (\(eventCount / 1_000_000)M)", configuration: config) { benchmark in
        let (set, _) = try Replayer.rebuild(logBox.unwrapped, useSnapshots: false, parallel: false)
        benchmark.stopMeasurement()
        blackHole(set)
    } setup: { try await setup() }

    // Target: ≥ 20 × faster than the full rebuild. Load the 99 % snapshot,
    // apply the 1 % tail.
    Benchmark("Replay: snapshot + 1% tail, all models (\(eventCount / 1_000_000)M)", configuration: config) { benchmark in
        let (set, report) = try Replayer.rebuild(logBox.unwrapped)
        benchmark.stopMeasurement()
        precondition(report.snapshot != nil && set.position == logBox.unwrapped.head)
        blackHole(set)
    } setup: {
        try await setup()
        try ensureSnapshot(logBox.unwrapped)
    }

    // Diagnostic: where a snapshot load goes, model by model (printed).
    Benchmark("Replay: snapshot decode per model (\(eventCount / 1_000_000)M)",
              configuration: .init(metrics: [.wallClock], maxIterations: 1)) { _ in
        let full = try Projections.standard()
        try Replayer.replay(logBox.unwrapped, into: full)
        let bytes = full.snapshotBytes()
        let fresh = try Projections.standard()
        for p in fresh.projectors {
            let clock = ContinuousClock()
            let started = clock.now
            var r = SnapshotReader(bytes[p.name]!)
            try p.decodeSnapshot(from: &r)
            note("  \(p.name): \(bytes[p.name]!.count) bytes decoded in \(started.duration(to: clock.now))")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let (_, info, _) = try SnapshotStore(logDirectory: logBox.unwrapped.directory).loadNewest(log: logBox.unwrapped)
        note("  loadNewest (file \(info?.sizeBytes ?? 0) bytes): \(started.duration(to: clock.now))")
    } setup: {
        try await setup()
        try ensureSnapshot(logBox.unwrapped)
    }

    // Memory: resident growth while the models of the whole log are alive
    // (measured once, printed; the RSS includes what the allocator keeps).
    Benchmark("Replay: models' resident memory (\(eventCount / 1_000_000)M)",
              configuration: .init(metrics: [.peakMemoryResident, .wallClock], maxIterations: 1)) { _ in
        _ = glibcMallocTrim(0)
        let rssBefore = residentBytes()
        let heapBefore = heapInUseBytes()
        let (set, _) = try Replayer.rebuild(logBox.unwrapped, useSnapshots: false)
        let heap = heapInUseBytes() - heapBefore
        _ = glibcMallocTrim(0)
        let rss = residentBytes()
        let bytes = set.snapshotBytes().values.reduce(0) { $0 + $1.count }
        let n = Int(set.position.value)
        note("models of \(n) events: heap in use +\(heap >> 20) MiB = \(heap / n) bytes/event; process RSS \(rss >> 20) MiB (was \(rssBefore >> 20) MiB); snapshot \(bytes >> 20) MiB = \(bytes / n) bytes/event")
        blackHole(set)
    } setup: { try await setup() }
}
