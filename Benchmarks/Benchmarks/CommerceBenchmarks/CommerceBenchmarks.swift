// ChronikCommerce on a realistic shop mix (ShopLines.swift): the typed
// decode of every event of a 1M-event log during a scan, the JSON Lines
// import end to end, and the JSON line parse + validation alone; each
// beside a baseline measured in the same run.
//
// Data: two 1M-line JSON Lines files (runs / interleaved layout, seeds 7
// and 8) written once into the benchmark data directory and reused; the
// 1M-event commerce log is the runs file imported once (durability .none)
// and kept, like CachedLog's logs.

import Benchmark
import ChronikBenchSupport
import ChronikAudit
import ChronikCommerce
import ChronikLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let lineCount = 1_000_000

/// The 1M-event commerce log: the runs file imported with durability
/// .none into the data directory, kept while its marker matches.
func ensureCommerceLog() async throws -> String {
    let file = ShopLines.ensureFile(count: lineCount, layout: .runs, seed: 7)
    let dir = benchmarkDataDirectory + "/commerce-log-runs-\(lineCount)-seed7"
    let marker = dir + ".ok"
    let recipe = "commerce log recipe \(ShopLines.recipeVersion) format \(LogFormat.version) lines \(lineCount)\n"
    if readWhole(marker).map({ String(decoding: $0, as: UTF8.self) }) == recipe {
        var options = LogOptions()
        options.readOnly = true
        options.createIfMissing = false
        if let log = try? EventLog.open(at: dir, options: options) {
            log.waitUntilIndexed()
            let head = log.head.value
            try? log.close()
            if head == UInt64(lineCount) { return dir }
        }
    }
    removeTree(dir)
    unlink(marker)
    let started = ContinuousClock.now
    var options = LogOptions()
    options.durability = .none
    let log = try EventLog.open(at: dir, options: options)
    let summary = try await CommerceImport.run(path: file, into: CommerceStore(log: log))
    try log.close()
    precondition(summary.appended == lineCount && summary.rejectCount == 0,
                 "import for the commerce log: \(summary.appended) appended, \(summary.rejects.first.map(\.description) ?? "")")
    if let f = fopen(marker, "w") { fputs(recipe, f); fclose(f) }
    note("built \(dir) in \(started.duration(to: .now))")
    return dir
}

func openReadOnly(_ dir: String) throws -> EventLog {
    var options = LogOptions()
    options.readOnly = true
    options.createIfMissing = false
    let log = try EventLog.open(at: dir, options: options)
    log.waitUntilIndexed()
    return log
}

/// A fold over a decoded event that the compiler cannot drop and that
/// reads something of every case.
@inline(__always)
func touch(_ e: CommerceEvent) -> Int {
    switch e {
    case .pageViewed(let v): v.path.utf8.count
    case .productViewed(let v): v.productId.utf8.count
    case .searchPerformed(let v): Int(truncatingIfNeeded: v.resultCount)
    case .cartItemAdded(let v): Int(truncatingIfNeeded: v.qty)
    case .sessionStarted(let v): v.sessionId.utf8.count
    case .stockReceived(let v): Int(truncatingIfNeeded: v.qty)
    case .stockReserved(let v): Int(truncatingIfNeeded: v.qty)
    case .stockShipped(let v): Int(truncatingIfNeeded: v.qty)
    case .orderPlaced(let v): v.lines.count
    case .paymentAuthorized(let v): Int(truncatingIfNeeded: v.amount)
    case .paymentCaptured(let v): Int(truncatingIfNeeded: v.amount)
    case .orderShipped(let v): v.lines.count
    case .orderDelivered(let v): v.shipmentId.utf8.count
    case .priceChanged(let v): Int(truncatingIfNeeded: v.price)
    default: 1
    }
}

let benchmarks: @Sendable () -> Void = {
    let timing: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal, .mallocCountTotal]

    // MARK: 1. Typed decode from the log

    // Baseline: the scan alone, every view's fields touched, no decoding.
    let scanLog = SetupBox<EventLog>()
    Benchmark(
        "Commerce baseline: scan, no decode (1M shop events)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(8), maxIterations: 15)
    ) { benchmark in
        var fold = 0
        let n = try scanLog.unwrapped.scan { e in
            fold &+= e.data.count &+ Int(e.data.first ?? 0) &+ e.type.utf8.count &+ Int(truncatingIfNeeded: e.position.value)
        }
        precondition(n == lineCount, "scanned \(n) events")
        blackHole(fold)
    } setup: {
        scanLog.value = try openReadOnly(try await ensureCommerceLog())
    } teardown: {
        try? scanLog.value?.close()
        scanLog.value = nil
    }

    // Diagnostic: the copy that decode's [UInt8] parameter forces.
    let copyLog = SetupBox<EventLog>()
    Benchmark(
        "Commerce scan + Array(view.data) copy only (1M shop events)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(8), maxIterations: 15)
    ) { benchmark in
        var fold = 0
        let n = try copyLog.unwrapped.scan { e in
            let data = Array(e.data)
            fold &+= data.count &+ Int(data.first ?? 0) &+ e.type.utf8.count
        }
        precondition(n == lineCount, "scanned \(n) events")
        blackHole(fold)
    } setup: {
        copyLog.value = try openReadOnly(try await ensureCommerceLog())
    } teardown: {
        try? copyLog.value?.close()
        copyLog.value = nil
    }

    // Target: ≥ 5,000,000 events/s on one core. The borrowed view's bytes
    // are decoded in place (decode(type:bytes:)), as a replay does.
    let decodeLog = SetupBox<EventLog>()
    Benchmark(
        "Commerce typed decode during scan (1M shop events)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(8), maxIterations: 15)
    ) { benchmark in
        var fold = 0
        var failures = 0
        let n = try decodeLog.unwrapped.scan { e in
            do {
                fold &+= touch(try CommerceEvent.decode(type: e.type, bytes: e.data))
            } catch {
                failures += 1
            }
        }
        precondition(n == lineCount && failures == 0, "scanned \(n) events, \(failures) failed to decode")
        blackHole(fold)
    } setup: {
        decodeLog.value = try openReadOnly(try await ensureCommerceLog())
    } teardown: {
        try? decodeLog.value?.close()
        decodeLog.value = nil
    }

    // MARK: 2. Import end to end

    let importMetrics: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal, .peakMemoryResident]
    for (layout, seed) in [(ShopLayout.runs, UInt64(7)), (ShopLayout.interleaved, UInt64(8))] {
        // Baseline: the same file's lines through the reader import uses
        // (BoundedLineReader, 1 MiB reads), no parsing.
        let readPath = SetupBox<String>()
        Benchmark(
            "Commerce baseline: read lines, no parsing (1M, \(layout.rawValue))",
            configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(8), maxIterations: 15)
        ) { benchmark in
            let fd = open(readPath.unwrapped, O_RDONLY | O_CLOEXEC)
            precondition(fd >= 0)
            defer { close(fd) }
            var reader = BoundedLineReader(fd: fd, maxLineBytes: CommerceImport.Options().maxLineBytes)
            var lines = 0, fold = 0
            while let item = try reader.next() {
                if case .line(_, let bytes) = item {
                    lines += 1
                    fold &+= bytes.count &+ Int(bytes.last ?? 0)
                }
            }
            precondition(lines == lineCount, "read \(lines) lines")
            blackHole(fold)
        } setup: {
            readPath.value = ShopLines.ensureFile(count: lineCount, layout: layout, seed: seed)
        }

        // Target: ≥ 300,000 events/s. As `chronik import` does it: a fresh
        // log with durability .interval(1 s), CommerceImport.run (both
        // passes), close (which syncs) — all inside the measurement.
        let importPath = SetupBox<String>()
        Benchmark(
            "Commerce import end to end (1M, \(layout.rawValue))",
            configuration: .init(metrics: importMetrics, warmupIterations: 0, scalingFactor: .mega,
                                 maxDuration: .seconds(20), maxIterations: 3)
        ) { benchmark in
            try await importOnce(importPath.unwrapped, scratch: "commerce-import-\(layout.rawValue)", benchmark)
        } setup: {
            importPath.value = ShopLines.ensureFile(count: lineCount, layout: layout, seed: seed)
        }
    }

    // Issue 5: encryption of personal data costs ≤ 25 % of import
    // throughput. The same runs file as "import end to end (1M, runs)",
    // with every PII field sealed (AES-256-GCM, one key per customer or
    // anonymous session in a FileKeyStore synced before the log closes, as
    // `chronik import` does). Compare with that benchmark in the same run.
    let sealedPath = SetupBox<String>()
    Benchmark(
        "Commerce import end to end (1M, runs, PII sealed)",
        configuration: .init(metrics: importMetrics, warmupIterations: 0, scalingFactor: .mega,
                             maxDuration: .seconds(20), maxIterations: 3)
    ) { benchmark in
        try await importOnce(sealedPath.unwrapped, scratch: "commerce-import-sealed", sealingPII: true, benchmark)
    } setup: {
        sealedPath.value = ShopLines.ensureFile(count: lineCount, layout: .runs, seed: 7)
    }

    // Diagnostic: the runs file without event ids (fresh ids from the
    // importer, no idempotency lookup in the log or the file).
    let noIDPath = SetupBox<String>()
    Benchmark(
        "Commerce import end to end (1M, runs, no ids)",
        configuration: .init(metrics: importMetrics, warmupIterations: 0, scalingFactor: .mega,
                             maxDuration: .seconds(20), maxIterations: 3)
    ) { benchmark in
        try await importOnce(noIDPath.unwrapped, scratch: "commerce-import-noids", benchmark)
    } setup: {
        noIDPath.value = ShopLines.ensureFileWithoutIDs(count: lineCount, layout: .runs, seed: 7)
    }

    // MARK: 3. Parse + validate only

    // CommerceEnvelope.parse on every line of the interleaved file, held in
    // memory (the line slices are what BoundedLineReader hands to import).
    let parseInput = SetupBox<(bytes: [UInt8], lines: [Range<Int>])>()
    Benchmark(
        "Commerce parse + validate, CommerceEnvelope.parse (1M lines, in memory)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(10), maxIterations: 10)
    ) { benchmark in
        let (bytes, lines) = parseInput.unwrapped
        var fold = 0
        for (i, r) in lines.enumerated() {
            let env = try CommerceEnvelope.parse(line: bytes[r], lineNumber: i + 1)
            fold &+= env.stream.utf8.count &+ env.proposed.data.count
        }
        blackHole(fold)
    } setup: {
        let path = ShopLines.ensureFile(count: lineCount, layout: .interleaved, seed: 8)
        guard let bytes = readWhole(path) else { preconditionFailure("cannot read \(path)") }
        var lines: [Range<Int>] = []
        lines.reserveCapacity(lineCount)
        var start = 0
        for i in bytes.indices where bytes[i] == 0x0A {
            lines.append(start..<i)
            start = i + 1
        }
        precondition(lines.count == lineCount)
        parseInput.value = (bytes, lines)
    } teardown: {
        parseInput.value = nil
    }
}

/// One `chronik import` as the CLI does it, measured: a fresh log with
/// durability .interval(1 s), both passes, keys synced (when sealing), the
/// close that syncs the log.
func importOnce(_ path: String, scratch name: String, sealingPII: Bool = false, _ benchmark: Benchmark) async throws {
    let scratch = ScratchDirectory(name)
    benchmark.startMeasurement()
    var options = LogOptions()
    options.durability = .interval(.seconds(1))
    let log = try EventLog.open(at: scratch.path + "/log", options: options)
    let keys = sealingPII ? try FileKeyStore(directory: scratch.path + "/keys", syncEachKey: false) : nil
    let store = CommerceStore(log: log, protector: keys.map { SubjectKeyVault(store: $0) })
    let summary = try await CommerceImport.run(path: path, into: store)
    try keys?.sync()
    try log.close()
    benchmark.stopMeasurement()
    precondition(summary.appended == lineCount && summary.rejectCount == 0,
                 "imported \(summary.appended), rejected \(summary.rejectCount): \(summary.rejects.first.map(\.description) ?? "")")
    scratch.remove()
}
