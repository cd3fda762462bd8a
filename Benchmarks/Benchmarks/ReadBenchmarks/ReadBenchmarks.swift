// Reading the whole log forward with every record decoded, beside reading
// the same segment files with read(2); and the size of the log on disk
// against the same events as JSON Lines.
//
// Logs: built once by CachedLog (durability .none, LZ4, 64 MiB segments)
// and reused by later runs; the page cache is warm in every iteration.

import Benchmark
import ChronikBenchSupport
import ChronikLog

let benchmarks: @Sendable () -> Void = {
    let timing: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal, .mallocCountTotal]

    /// Opens a cached log read-only with its indexes loaded (so the
    /// background index build does not overlap a measurement).
    func openCached(events: Int, batchSize: Int, seed: UInt64) async throws -> EventLog {
        let dir = try await CachedLog.ensure(events: events, batchSize: batchSize, seed: seed)
        var options = LogOptions()
        options.readOnly = true
        options.createIfMissing = false
        let log = try EventLog.open(at: dir, options: options)
        log.waitUntilIndexed()
        return log
    }

    /// Reads every event through the public cursor; returns a checksum of
    /// what was decoded so nothing can be skipped.
    func readAllForward(_ log: EventLog, expecting count: Int) throws -> Int {
        let cursor = log.readAll()
        var events = 0
        var fold = 0
        while let e = try cursor.next() {
            events += 1
            // Touch the decoded fields the way a projection would.
            fold &+= e.data.count &+ e.metadata.count &+ e.type.utf8.count &+ Int(truncatingIfNeeded: e.position.value)
        }
        precondition(events == count, "read \(events) events, expected \(count)")
        return fold
    }

    // MARK: Read all forward

    // Target: ≥ 5,000,000 events/s. 1M events in 1000-event batches.
    let big = SetupBox<EventLog>()
    Benchmark(
        "Read all forward, decoded (1M events, 1000/batch)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(10), maxIterations: 20)
    ) { benchmark in
        blackHole(try readAllForward(big.unwrapped, expecting: 1_000_000))
    } setup: {
        big.value = try await openCached(events: 1_000_000, batchSize: 1000, seed: 1)
    } teardown: {
        try? big.value?.close()
        big.value = nil
    }

    // The same 1M log through `scan`: views borrowed from the batch buffer,
    // no allocation per event (the replay path).
    let scanned = SetupBox<EventLog>()
    Benchmark(
        "Scan all forward, borrowed views (1M events, 1000/batch)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(10), maxIterations: 20)
    ) { benchmark in
        var fold = 0
        let events = try scanned.unwrapped.scan { e in
            fold &+= e.data.count &+ e.metadata.count &+ e.type.utf8.count &+ Int(truncatingIfNeeded: e.position.value)
        }
        precondition(events == 1_000_000, "scanned \(events) events")
        blackHole(fold)
    } setup: {
        scanned.value = try await openCached(events: 1_000_000, batchSize: 1000, seed: 1)
    } teardown: {
        try? scanned.value?.close()
        scanned.value = nil
    }

    // Baseline: read(2) every segment file of the same log in 1 MiB chunks
    // and fold every byte: the floor for a forward scan from page cache.
    let rawRead = SetupBox<String>()
    Benchmark(
        "Baseline: read() segment files + one pass (same 1M log)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(10), maxIterations: 20)
    ) { benchmark in
        let dir = rawRead.unwrapped
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let files = listDirectory(dir).filter { $0.hasSuffix(LogFormat.segmentSuffix) }.sorted()
        var fold: UInt64 = 0
        var bytes = 0
        benchmark.startMeasurement()
        for name in files {
            bytes += readFile(dir + "/" + name, chunk: buffer) { fold ^= foldBytes($0) }
        }
        benchmark.stopMeasurement()
        blackHole(fold)
        blackHole(bytes)
    } setup: {
        rawRead.value = try await CachedLog.ensure(events: 1_000_000, batchSize: 1000, seed: 1)
    }

    // The same read on small batches (10 events each): the per-batch costs
    // (header, checksum-free decode, LZ4 call, allocations) weigh 100× more.
    let small = SetupBox<EventLog>()
    Benchmark(
        "Read all forward, decoded (1M events, 10/batch)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(10), maxIterations: 10)
    ) { benchmark in
        blackHole(try readAllForward(small.unwrapped, expecting: 1_000_000))
    } setup: {
        small.value = try await openCached(events: 1_000_000, batchSize: 10, seed: 2)
    } teardown: {
        try? small.value?.close()
        small.value = nil
    }

    // MARK: Size on disk

    // Target: bytes on disk ≤ 40 % of the same events as JSON Lines.
    // stats().bytesOnDisk (meta, segments, .idx files) against the summed
    // length of each event's JSON line, for three batch shapes. Reported
    // as custom metrics (one iteration; the values do not vary).
    let perMille1000 = BenchmarkMetric.custom("disk ‰ of JSONL, 1000/batch", polarity: .prefersSmaller, useScalingFactor: false)
    let perMille10 = BenchmarkMetric.custom("disk ‰ of JSONL, 10/batch", polarity: .prefersSmaller, useScalingFactor: false)
    let perMille1 = BenchmarkMetric.custom("disk ‰ of JSONL, 1/batch", polarity: .prefersSmaller, useScalingFactor: false)
    let diskPerEvent = BenchmarkMetric.custom("disk B/event, 1000/batch", polarity: .prefersSmaller, useScalingFactor: false)
    let jsonPerEvent = BenchmarkMetric.custom("JSONL B/event", polarity: .prefersSmaller, useScalingFactor: false)
    let payloadPerEvent = BenchmarkMetric.custom("data+meta B/event", polarity: .prefersSmaller, useScalingFactor: false)
    Benchmark(
        "Bytes on disk vs JSON Lines",
        configuration: .init(
            metrics: [.throughput, perMille1000, perMille10, perMille1, diskPerEvent, jsonPerEvent, payloadPerEvent],
            warmupIterations: 0, maxDuration: .seconds(1), maxIterations: 1)
    ) { benchmark in
        func measure(events: Int, batchSize: Int, seed: UInt64) async throws -> (disk: Int64, json: Int, payload: Int) {
            let log = try await openCached(events: events, batchSize: batchSize, seed: seed)
            defer { try? log.close() }
            let disk = try log.stats().bytesOnDisk
            var json = 0, payload = 0, count = 0
            let cursor = log.readAll()
            while let e = try cursor.next() {
                json += jsonLine(e).count
                payload += e.data.count + e.metadata.count
                count += 1
            }
            precondition(count == events, "read \(count) events, expected \(events)")
            note("size \(batchSize)/batch: \(events) events, \(disk) bytes on disk (\(Double(disk) / Double(events)) B/event), "
                 + "JSONL \(json) bytes (\(Double(json) / Double(events)) B/event), data+meta \(Double(payload) / Double(events)) B/event, "
                 + "disk/JSONL = \(Double(disk) * 100 / Double(json)) %")
            return (disk, json, payload)
        }
        let b1000 = try await measure(events: 1_000_000, batchSize: 1000, seed: 1)
        let b10 = try await measure(events: 1_000_000, batchSize: 10, seed: 2)
        let b1 = try await measure(events: 100_000, batchSize: 1, seed: 3)
        benchmark.measurement(perMille1000, Int(b1000.disk * 1000 / Int64(b1000.json)))
        benchmark.measurement(perMille10, Int(b10.disk * 1000 / Int64(b10.json)))
        benchmark.measurement(perMille1, Int(b1.disk * 1000 / Int64(b1.json)))
        benchmark.measurement(diskPerEvent, Int(b1000.disk / 1_000_000))
        benchmark.measurement(jsonPerEvent, b1000.json / 1_000_000)
        benchmark.measurement(payloadPerEvent, b1000.payload / 1_000_000)
    } setup: {
        _ = try await CachedLog.ensure(events: 1_000_000, batchSize: 1000, seed: 1)
        _ = try await CachedLog.ensure(events: 1_000_000, batchSize: 10, seed: 2)
        _ = try await CachedLog.ensure(events: 100_000, batchSize: 1, seed: 3)
    }
}
