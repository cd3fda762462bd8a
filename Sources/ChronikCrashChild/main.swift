// The child process of the kill -9 crash test (Tests/ChronikLogTests/CrashTests.swift).
//
// Usage: ChronikCrashChild <logdir> <tasks> <seed>
//
// Opens the log with the POSIX backend and durability .fsync (small
// segments, so that kills land during rolls too), then runs <tasks>
// concurrent tasks, each appending batches of 1-5 events to its own
// stream "c<seed>-t<task>" with an exact expected version, until killed.
// Everything an event holds follows from (seed, task, batch, index), so
// the test can rebuild it. Output, one line per event of progress, each
// written with a single write(2) before the next append starts:
//
//     ready <head>
//     ack <task> <batch> <firstPosition> <count> <firstVersion> <idOfFirstEvent>
//
// An `ack` line is printed only after the append returned: every line the
// test reads names an acknowledged, durable batch.
import ChronikLog
#if canImport(Glibc)
import Glibc
#endif

/// Writes a whole line to stdout with write(2): no stdio buffer to lose
/// when the process is killed. Lines are far below PIPE_BUF, so a pipe
/// reader sees each one whole or not at all.
func emit(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    bytes.withUnsafeMutableBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(1, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                exit(3)
            }
            done += n
        }
    }
}

func fail(_ message: String, status: Int32) -> Never {
    var bytes = Array("ChronikCrashChild: \(message)\n".utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress!, $0.count) }
    exit(status)
}

// The content scheme; CrashTests.swift rebuilds it (keep the two equal).
func mix(_ v: UInt64) -> UInt64 {
    var z = v &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

func batchSize(seed: UInt64, task: Int, batch: Int) -> Int {
    1 + Int(mix(seed ^ UInt64(task) << 40 ^ UInt64(batch)) % 5)
}

func crashEvent(seed: UInt64, task: Int, batch: Int, index: Int) -> ProposedEvent {
    let low = UInt64(task) << 48 | UInt64(batch) << 16 | UInt64(index)
    let x = mix(seed ^ low)
    var data = Array("s\(seed) t\(task) b\(batch) e\(index) ".utf8)
    for i in 0..<Int(x % 700) { data.append(UInt8(truncatingIfNeeded: (x >> UInt64((i % 8) * 8)) &+ UInt64(i))) }
    return ProposedEvent(id: EventID(high: seed, low: low), type: "Crash\(index % 3)", data: data,
                         metadata: Array("{\"task\":\(task)}".utf8),
                         occurredAt: Timestamp(microseconds: 1_700_000_000_000_000 + Int64(batch) * 1_000 + Int64(index)))
}

func run() async {
    let args = CommandLine.arguments
    guard args.count == 4, let tasks = Int(args[2]), (1...64).contains(tasks), let seed = UInt64(args[3]) else {
        fail("usage: ChronikCrashChild <logdir> <tasks 1-64> <seed>", status: 64)
    }
    var options = LogOptions()
    options.durability = .fsync
    options.segmentSizeBytes = 64 << 10
    let log: EventLog
    do {
        log = try EventLog.open(at: args[1], options: options)
    } catch {
        fail("open failed: \(error)", status: 1)
    }
    emit("ready \(log.head.value)")

    await withTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            group.addTask {
                let stream = "c\(seed)-t\(task)"
                var lastVersion: UInt64?
                // Bounded; the test kills the process long before.
                for batch in 0..<100_000 {
                    let events = (0..<batchSize(seed: seed, task: task, batch: batch)).map {
                        crashEvent(seed: seed, task: task, batch: batch, index: $0)
                    }
                    do {
                        let r = try await log.append(to: stream, events, expected: lastVersion.map { .exact($0) } ?? .noStream)
                        lastVersion = r.lastVersion.value
                        emit("ack \(task) \(batch) \(r.firstPosition.value) \(events.count) \(r.versions[0].value) \(events[0].id)")
                    } catch {
                        fail("append failed: \(error)", status: 2)
                    }
                }
            }
        }
    }
    try? log.close()
}

await run()
