// `chronik verify` of a whole log (LogVerifier: every CRC, every payload
// decoded, the SHA-256 chain, every index byte for byte) beside reading
// the same files with read(2) into a buffer — the `cat > /dev/null` floor —
// in the same run. Target: verify ≥ 80 % of the read speed.
//
// Log: 3M events, 1000 per batch, LZ4 (CachedLog, ≈ 350 MB), page cache warm.

import Benchmark
import ChronikBenchSupport
import ChronikLog
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let benchmarks: @Sendable () -> Void = {
    let timing: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal]
    let events = 3_000_000

    /// read(2) of every file of the log in 1 MiB chunks, nothing else: what
    /// `cat dir/* > /dev/null` does. Returns the bytes read.
    func readEveryFile(_ dir: String, buffer: UnsafeMutableRawBufferPointer) -> Int {
        var bytes = 0
        for name in listDirectory(dir).sorted() where name != LogFormat.lockFileName {
            bytes += readFile(dir + "/" + name, chunk: buffer) { _ in }
        }
        return bytes
    }

    let logDir = SetupBox<String>()

    Benchmark(
        "Verify whole log (3M events, 1000/batch)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 10)
    ) { benchmark in
        let r = try LogVerifier.verify(directory: logDir.unwrapped)
        precondition(r.isClean && r.events == UInt64(events), "verify: \(String(describing: r.failure))")
        blackHole(r.headHash)
    } setup: {
        logDir.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: 1)
    }

    Benchmark(
        "Baseline: read() every file of the same log (cat > /dev/null)",
        configuration: .init(metrics: timing, scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 10)
    ) { benchmark in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        blackHole(readEveryFile(logDir.unwrapped, buffer: buffer))
    } setup: {
        logDir.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: 1)
    }

    // Both in each iteration, back to back, so that the ratio compares the
    // same moment of a shared machine. Reported in per mille: 800 = 80 %.
    let ratio = BenchmarkMetric.custom("verify speed ‰ of read()", polarity: .prefersLarger, useScalingFactor: false)
    let verifyMBps = BenchmarkMetric.custom("verify MB/s", polarity: .prefersLarger, useScalingFactor: false)
    let readMBps = BenchmarkMetric.custom("read() MB/s", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark(
        "Paired: verify vs read() of the same files",
        configuration: .init(metrics: [ratio, verifyMBps, readMBps], warmupIterations: 1, maxDuration: .seconds(30), maxIterations: 5)
    ) { benchmark in
        let dir = logDir.unwrapped
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        let clock = ContinuousClock()
        let t0 = clock.now
        let bytes = readEveryFile(dir, buffer: buffer)
        let t1 = clock.now
        let r = try LogVerifier.verify(directory: dir)
        let t2 = clock.now
        precondition(r.isClean, "verify: \(String(describing: r.failure))")
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let read = seconds(t1 - t0), verify = seconds(t2 - t1)
        benchmark.measurement(ratio, Int(read / verify * 1000))
        benchmark.measurement(verifyMBps, Int(Double(r.bytes) / verify / 1e6))
        benchmark.measurement(readMBps, Int(Double(bytes) / read / 1e6))
    } setup: {
        logDir.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: 1)
    }

    // Issue 13's baseline: `openssl dgst -sha256` over the same files (the
    // machine's SHA-256 speed, SHA-NI here), timed back to back with verify
    // in each iteration. Target: verify ≥ 500 ‰ of openssl's bytes/s.
    let sslRatio = BenchmarkMetric.custom("verify speed ‰ of openssl sha256", polarity: .prefersLarger, useScalingFactor: false)
    let sslMBps = BenchmarkMetric.custom("openssl sha256 MB/s", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark(
        "Paired: verify vs openssl dgst -sha256 of the same files",
        configuration: .init(metrics: [sslRatio, verifyMBps, sslMBps], warmupIterations: 1, maxDuration: .seconds(40), maxIterations: 5)
    ) { benchmark in
        let dir = logDir.unwrapped
        let files = listDirectory(dir).sorted().filter { $0 != LogFormat.lockFileName }.map { dir + "/" + $0 }
        let bytes = files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        let clock = ContinuousClock()
        let t0 = clock.now
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["dgst", "-sha256"] + files
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let t1 = clock.now
        precondition(p.terminationStatus == 0, "openssl dgst failed")
        let r = try LogVerifier.verify(directory: dir)
        let t2 = clock.now
        precondition(r.isClean, "verify: \(String(describing: r.failure))")
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let ssl = seconds(t1 - t0), verify = seconds(t2 - t1)
        let verifyRate = Double(r.bytes) / verify, sslRate = Double(bytes) / ssl
        benchmark.measurement(sslRatio, Int(verifyRate / sslRate * 1000))
        benchmark.measurement(verifyMBps, Int(verifyRate / 1e6))
        benchmark.measurement(sslMBps, Int(sslRate / 1e6))
    } setup: {
        logDir.value = try await CachedLog.ensure(events: events, batchSize: 1000, seed: 1)
    }
}
