import ChronikLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Large logs that read and reopen benchmarks need, built once and kept in
/// `benchmarkDataDirectory` so that reruns reuse them (a 10M-event log takes
/// minutes to build). A log is reused only when its marker file matches the
/// recipe and the log opens with the expected head; anything else (a format
/// change, an interrupted build) rebuilds it.
public enum CachedLog {
    /// Bumped whenever the generator or the recipe changes meaning.
    static let recipeVersion = 2

    /// The directory of a log of `events` events appended in batches of
    /// `batchSize` to one stream each, from `CommerceEventGenerator(seed:)`.
    /// Builds it now (durability `.none`, one fdatasync at close) unless a
    /// valid copy is there.
    public static func ensure(events: Int, batchSize: Int, seed: UInt64) async throws -> String {
        makeDirectories(benchmarkDataDirectory)
        let name = "log-\(events)ev-\(batchSize)perbatch-seed\(seed)"
        let dir = benchmarkDataDirectory + "/" + name
        let marker = dir + ".ok"
        let recipe = "chronik-bench recipe \(recipeVersion) format \(LogFormat.version) events \(events) batch \(batchSize) seed \(seed)\n"
        if readText(marker) == recipe, valid(dir, events: events) { return dir }

        removeTree(dir)
        unlink(marker)
        let started = ContinuousClock.now
        note("building \(name) (\(events) events, \(batchSize) per batch, durability none) ...")
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        var generator = CommerceEventGenerator(seed: seed)
        // One append in flight while the next batch is generated: the two
        // cores split generating and encoding. Log order stays batch order.
        var inFlight: Task<AppendResult, any Error>?
        var appended = 0
        var reported = 0
        while appended < events {
            let n = min(batchSize, events - appended)
            let stream = generator.streamName()
            let batch = generator.events(n)
            if let inFlight { _ = try await inFlight.value }
            inFlight = Task { try await log.append(to: stream, batch) }
            appended += n
            if appended - reported >= 1_000_000 {
                reported = appended
                note("  \(appended) events, \(started.duration(to: .now))")
            }
        }
        if let inFlight { _ = try await inFlight.value }
        try log.close()
        writeText(marker, recipe)
        note("built \(name) in \(started.duration(to: .now))")
        return dir
    }

    private static func valid(_ dir: String, events: Int) -> Bool {
        var options = LogOptions()
        options.readOnly = true
        options.createIfMissing = false
        guard let log = try? EventLog.open(at: dir, options: options) else { return false }
        // Let the background index load finish so it does not run into
        // the first measurement.
        log.waitUntilIndexed()
        defer { try? log.close() }
        return log.head.value == UInt64(events)
    }
}

/// Progress and results that are not metrics go to stderr (stdout belongs
/// to the benchmark tool).
public func note(_ text: String) {
    let line = Array(("[chronik-bench] " + text + "\n").utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}

func readText(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n == 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

func writeText(_ path: String, _ text: String) {
    guard let f = fopen(path, "w") else { return }
    fputs(text, f)
    fflush(f)
    fsync(fileno(f))
    fclose(f)
}
