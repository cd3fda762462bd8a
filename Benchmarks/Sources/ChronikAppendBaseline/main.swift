// The library's own figure for the HTTP append benchmark
// (scripts/http-bench.py): 64 concurrent tasks, each appending one
// ~250-byte generic event per `EventLog.append` (durable: fsync, group
// commit), for a fixed time. Prints one JSON line: events/s and latency
// percentiles in ms. No HTTP, no JSON parse: what the engine allows.
//
// usage: ChronikAppendBaseline DIR [--tasks 64] [--seconds 10]
//        ChronikAppendBaseline DIR --prepare N
//        ChronikAppendBaseline DIR --writer N
import ChronikLog
import Foundation

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write("usage: ChronikAppendBaseline DIR [--tasks 64] [--seconds 10]\n".data(using: .utf8)!)
    exit(64)
}
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}
let directory = args[1]
let tasks = option("--tasks", 64)
let seconds = option("--seconds", 10)

/// The same shape as the wrk script's body: a generic type, ~250 bytes of data.
func payload(_ task: Int, _ n: Int) -> ProposedEvent {
    let text = #"{"note":"customer asked about delivery window and gift wrapping options","seq":\#(n),"#
        + #""author":"agent-\#(task)","tags":["support","delivery"],"channel":"email","text":"lorem ipsum dolor sit amet consectetur adipiscing"}"#
    return ProposedEvent(type: "Noted", data: Array(text.utf8))
}

/// `--prepare N` and `--writer N` below: 7 rounds on a log without fsync,
/// each timing `n` items; the median round's ns per item.
func medianNsPerItem(_ n: Int, _ round: (EventLog, Int) async throws -> Duration) async throws -> Int {
    var o = LogOptions()
    o.durability = .none
    let log = try EventLog.open(at: directory, options: o)
    var rounds: [Double] = []
    for r in 0..<7 {
        let t = try await round(log, r)
        rounds.append((Double(t.components.seconds) * 1e9 + Double(t.components.attoseconds) / 1e9) / Double(n))
    }
    try log.close()
    return Int(rounds.sorted()[3])
}

// `--prepare N`: only the appender's own part of an append, N times, one
// thread: `EventLog.prepare` of one such event (checks, records, LZ4), no
// writer and no disk. Prints the median of 7 rounds, ns per prepare.
if case let n = option("--prepare", 0), n > 0 {
    let events = (0..<1000).map { payload(0, $0) }
    let ns = try await medianNsPerItem(n) { log, _ in
        try ContinuousClock().measure { for k in 0..<n { _ = try log.prepare(to: "baseline-0", [events[k % 1000]]) } }
    }
    print(#"{"prepares":\#(n),"medianNsPerPrepare":\#(ns)}"#)
    exit(0)
}
// `--writer N`: the writer's own part: N one-event batches to 1,000
// streams, prepared beforehand (not timed), handed over in one
// `appendAll` (one group: staged, written, published, acknowledged; no
// fsync). Prints the median of 7 rounds, ns per batch.
if case let n = option("--writer", 0), n > 0 {
    let ns = try await medianNsPerItem(n) { log, r in
        let batches = try (0..<n).map { k in (batch: try log.prepare(to: "writer-\(k % 1000)", [payload(r, k)]), expected: ExpectedVersion.any) }
        let clock = ContinuousClock()
        let started = clock.now
        let results = await log.appendAll(batches)
        let t = started.duration(to: clock.now)
        precondition(results.allSatisfy { (try? $0.get()) != nil }, "every batch appended")
        return t
    }
    print(#"{"batches":\#(n),"medianNsPerBatch":\#(ns)}"#)
    exit(0)
}
var options = LogOptions()
options.durability = .fsync
let log = try EventLog.open(at: directory, options: options)
let started = ContinuousClock.now
let deadline = started + .seconds(seconds)
let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
    for t in 0..<tasks {
        group.addTask {
            var mine: [Double] = []
            var n = 0
            while ContinuousClock.now < deadline {
                let t0 = ContinuousClock.now
                _ = try await log.append(to: "baseline-\(t)", [payload(t, n)])
                let d = ContinuousClock.now - t0
                mine.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                n += 1
            }
            return mine
        }
    }
    var all: [Double] = []
    for try await part in group { all += part }
    return all.sorted()
}
let elapsed = ContinuousClock.now - started
let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
try log.close()
func percentile(_ p: Double) -> Double {
    latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
}
let rate = Double(latencies.count) / secs
print(#"{"events":\#(latencies.count),"seconds":\#(secs),"eventsPerSecond":\#(Int(rate)),"p50ms":\#(percentile(0.5)),"p99ms":\#(percentile(0.99))}"#)
