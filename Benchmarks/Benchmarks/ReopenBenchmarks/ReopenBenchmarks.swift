// Reopening a large log (a process restart): EventLog.open until it
// returns, and until the background stream/id indexes are loaded (appends
// and stream reads wait for them); after a clean close (every segment's
// index file, the active one's too) and after a crash (the active segment
// scanned). At 10M events (the target) and 1M (for
// scaling), beside reading the files a reopen must read with read(2).
//
// Logs: built once by CachedLog (durability .none, 1000-event batches, LZ4,
// 64 MiB segments) and reused by later runs; the page cache is warm.

import Benchmark
import ChronikBenchSupport
import ChronikLog

let benchmarks: @Sendable () -> Void = {
    let timing: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal, .mallocCountTotal, .peakMemoryResident]

    for (events, label, seed) in [(10_000_000, "10M", UInt64(10)), (1_000_000, "1M", UInt64(1))] {
        let config = Benchmark.Configuration(metrics: timing, warmupIterations: 1, maxDuration: .seconds(20), maxIterations: 10)

        // Target (10M): ≤ 0.5 s. open() as a restarted writer would call it;
        // the index load it starts is awaited outside the measurement.
        let openOnly = SetupBox<String>()
        Benchmark("Reopen \(label)-event log: open() returns", configuration: config) { benchmark in
            benchmark.startMeasurement()
            let log = try EventLog.open(at: openOnly.unwrapped)
            benchmark.stopMeasurement()
            precondition(log.head.value == UInt64(events), "reopened log has \(log.head) events")
            log.waitUntilIndexed()
            try log.close()
        } setup: {
            openOnly.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: seed)
        }

        // open() plus the background index load: when the log can append.
        // Target (10M, issue 13): ≤ 0.3 s. The sealed segments' index files
        // (ids in hash order, FORMAT.md) load on a second core while open()
        // scans the active segment.
        let openIndexed = SetupBox<String>()
        Benchmark("Reopen \(label)-event log: open() + indexes loaded", configuration: config) { benchmark in
            benchmark.startMeasurement()
            let log = try EventLog.open(at: openIndexed.unwrapped)
            log.waitUntilIndexed()
            benchmark.stopMeasurement()
            precondition(log.head.value == UInt64(events), "reopened log has \(log.head) events")
            try log.close()
        } setup: {
            openIndexed.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: seed)
        }

        // The same after a crash: no index file of the active segment (a
        // clean close writes it, the first append removes it), so open()
        // scans that segment (LZ4, CRC32C, SHA-256 of every batch) as every
        // reopen did before stop 21.
        let openAfterCrash = SetupBox<String>()
        Benchmark("Reopen \(label)-event log after a crash (active segment scanned): open() + indexes loaded", configuration: config) { benchmark in
            let dir = openAfterCrash.unwrapped
            let active = listDirectory(dir).filter { $0.hasSuffix(LogFormat.segmentSuffix) }.max() ?? ""
            let activeIndex = dir + "/" + active.dropLast(LogFormat.segmentSuffix.count) + LogFormat.indexSuffix
            removeTree(activeIndex)
            benchmark.startMeasurement()
            let log = try EventLog.open(at: dir)
            log.waitUntilIndexed()
            benchmark.stopMeasurement()
            precondition(log.head.value == UInt64(events) && log.recovery.segmentsScanned == 1, "reopened log has \(log.head) events")
            try log.close()
        } setup: {
            openAfterCrash.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: seed)
        }

        // Baseline: read(2) the bytes a reopen reads — every sealed
        // segment's .idx file and the whole active (last) segment — and fold
        // them once.
        let rawFiles = SetupBox<String>()
        Benchmark("Baseline: read() .idx files + active segment (\(label) log)", configuration: config) { benchmark in
            let dir = rawFiles.unwrapped
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
            defer { buffer.deallocate() }
            let names = listDirectory(dir)
            let segments = names.filter { $0.hasSuffix(LogFormat.segmentSuffix) }.sorted()
            let files = names.filter { $0.hasSuffix(LogFormat.indexSuffix) }.sorted() + segments.suffix(1)
            var fold: UInt64 = 0
            benchmark.startMeasurement()
            for name in files {
                readFile(dir + "/" + name, chunk: buffer) { fold ^= foldBytes($0) }
            }
            benchmark.stopMeasurement()
            blackHole(fold)
        } setup: {
            let dir = try await CachedLog.ensure(events: events, batchSize: 1000, seed: seed)
            let names = listDirectory(dir)
            note("\(label) log: \(names.filter { $0.hasSuffix(LogFormat.segmentSuffix) }.count) segments, "
                 + "\(directoryBytes(dir, suffixes: [LogFormat.segmentSuffix])) segment bytes, "
                 + "\(directoryBytes(dir, suffixes: [LogFormat.indexSuffix])) index bytes")
            rawFiles.value = dir
        }
    }
}
