import ChronikTestSupport
import Foundation
import Subprocess
import SystemPackage
import Testing
@testable import ChronikLog

#if canImport(Glibc)
import Glibc
#endif

/// One acknowledged batch, as the child printed it.
private struct Ack: Hashable {
    var seed: UInt64
    var task: Int
    var batch: Int
    var firstPosition: UInt64
    var count: Int
    var firstVersion: UInt64
    var firstID: String
}

// The child's content scheme (Sources/ChronikCrashChild/main.swift), rebuilt
// here so that the test checks every byte; keep the two equal.
private func mix(_ v: UInt64) -> UInt64 {
    var z = v &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

private func crashBatchSize(seed: UInt64, task: Int, batch: Int) -> Int {
    1 + Int(mix(seed ^ UInt64(task) << 40 ^ UInt64(batch)) % 5)
}

private func crashEvent(seed: UInt64, task: Int, batch: Int, index: Int) -> ProposedEvent {
    let low = UInt64(task) << 48 | UInt64(batch) << 16 | UInt64(index)
    let x = mix(seed ^ low)
    var data = Array("s\(seed) t\(task) b\(batch) e\(index) ".utf8)
    for i in 0..<Int(x % 700) { data.append(UInt8(truncatingIfNeeded: (x >> UInt64((i % 8) * 8)) &+ UInt64(i))) }
    return ProposedEvent(id: EventID(high: seed, low: low), type: "Crash\(index % 3)", data: data,
                         metadata: Array("{\"task\":\(task)}".utf8),
                         occurredAt: Timestamp(microseconds: 1_700_000_000_000_000 + Int64(batch) * 1_000 + Int64(index)))
}

/// The crash child binary: built beside the test bundle.
private func childExecutable() throws -> String {
    var candidates: [String] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        candidates.append((exe as NSString).deletingLastPathComponent)
    }
    candidates.append(((CommandLine.arguments.first ?? "") as NSString).deletingLastPathComponent)
    candidates.append(Bundle.main.bundleURL.path)
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().path)
    for dir in candidates {
        let path = dir + "/ChronikCrashChild"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw ChronikLogError(.io, "ChronikCrashChild not found next to the test bundle (looked in \(candidates))")
}

/// Starts the child, kills it with SIGKILL `delay` after it starts (or
/// after it reports "ready"), and returns its stdout, how it ended, and
/// whether the 60 s watchdog had to kill it (a hang).
private func runAndKill(_ executable: String, arguments: [String], delay: Duration, countFromReady: Bool) async throws
    -> (output: [UInt8], status: TerminationStatus, stderr: String, hung: Bool)
{
    let hung = DoneFlag()
    // The child's stdout is a pipe read by a thread of its own, and the
    // kills are timers of Dispatch, not tasks: the task pool (2 threads
    // here) is shared with every test running in parallel, and a task
    // reading the pipe or sleeping could wait behind them long enough for
    // the watchdog to fire first (stop 19, at load 9: a child "hung" that
    // was only not killed yet; stop 44's CI: two replay tests held both
    // threads of the pool for over a minute, and the reading task saw the
    // child's "ready" only after the watchdog had killed it).
    // Close-on-exec: another test's child spawned while this one starts
    // must not inherit the write end, or the pipe never reaches its end
    // while that child lives (stop 44: a filtered run hung in the read).
    let pipe = try FileDescriptor.pipe(options: .closeOnExec)
    defer { try? pipe.readEnd.close() }
    let result = try await Subprocess.run(
        .path(FilePath(executable)), arguments: Arguments(arguments),
        input: .none, output: .fileDescriptor(pipe.writeEnd, closeAfterSpawningProcess: true), error: .string(limit: 1 << 16)
    ) { execution -> [UInt8] in
        @Sendable func kill(after: Duration, watchdog: Bool = false) -> DispatchWorkItem {
            let item = DispatchWorkItem {
                if watchdog { hung.set() }
                try? execution.send(signal: .kill)
            }
            let ms = Int(after / .milliseconds(1))
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms), execute: item)
            return item
        }
        let watchdog = kill(after: .seconds(60), watchdog: true)
        let killer = KillTimer(countFromReady ? nil : kill(after: delay))
        // Read until the pipe closes, which happens when the child is dead.
        let output = try await readToEnd(pipe.readEnd.rawValue) { output in
            if countFromReady, output.contains(0x0A) { killer.startOnce { kill(after: delay) } }
        }
        killer.cancel()
        watchdog.cancel()
        return output
    }
    return (result.closureResult, result.terminationStatus, result.standardError, hung.isSet)
}

/// The kill of one run, started once (by the thread reading the child's
/// output when it counts from "ready").
private final class KillTimer: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var item: DispatchWorkItem?
    init(_ item: DispatchWorkItem?) { self.item = item }
    func startOnce(_ start: () -> DispatchWorkItem) {
        lock.withLock { if item == nil { item = start() } }
    }
    func cancel() { lock.withLock { item?.cancel() } }
}

@Suite("Crash: kill -9 while appending durably")
struct CrashTests {
    @Test("kill -9 a child appending durably from several tasks, many times: every acknowledged event is present, intact, in order, exactly once")
    func killNineLoop() async throws {
        // Proves: a SIGKILL at any moment never costs an acknowledged append, and never leaves a partial batch.
        let env = ProcessInfo.processInfo.environment
        let iterations = env["CHRONIK_CRASH_ITERATIONS"].flatMap(Int.init) ?? 50
        let masterSeed = env["CHRONIK_CRASH_SEED"].flatMap(UInt64.init) ?? 0x5EED_C0DE
        print("crash test: \(iterations) kills, seed \(masterSeed) (set CHRONIK_CRASH_SEED to rerun the same delays; the kill moment itself is timing)")
        let child = try childExecutable()
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var rng = SplitMix64(seed: masterSeed)
        var acked: [Ack] = []
        var killedBeforeReady = 0, truncations = 0, batchesInLog = 0
        // The log as last checked: later checks compare it whole and
        // rebuild content only for what was added since.
        var checked = CheckedLog()
        for iteration in 0..<iterations {
            let runSeed = rng.next()
            let tasks = rng.int(2...6)
            let delay = rng.int(20...150)
            // Mostly count from "ready" (the kill lands among appends and
            // rolls); sometimes from the start (it may land in recovery).
            let fromReady = !rng.chance(1, in: 5)
            let label = "iteration \(iteration) (seed \(masterSeed), child seed \(runSeed), \(tasks) tasks, kill after \(delay) ms from \(fromReady ? "ready" : "spawn"))"
            let run = try await runAndKill(child, arguments: [dir, "\(tasks)", "\(runSeed)"], delay: .milliseconds(delay), countFromReady: fromReady)
            guard run.status == .signaled(SIGKILL), !run.hung else {
                Issue.record("\(label): the child ended with \(run.status)\(run.hung ? " (hung: killed by the watchdog)" : ""), not our SIGKILL: \(run.stderr)")
                return
            }
            // Whole lines only: a line is one write(2), but the last read may end mid-pipe.
            let lines = String(decoding: run.output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            if !lines.contains(where: { $0.hasPrefix("ready ") }) { killedBeforeReady += 1 }
            for line in lines {
                let f = line.split(separator: " ")
                guard f.first == "ack" else { continue }
                guard f.count == 7, let task = Int(f[1]), let batch = Int(f[2]), let pos = UInt64(f[3]), let count = Int(f[4]), let ver = UInt64(f[5]) else {
                    if line == lines.last && run.output.last != 0x0A { continue }  // cut by the kill
                    Issue.record("\(label): malformed line '\(line)'")
                    continue
                }
                acked.append(Ack(seed: runSeed, task: task, batch: batch, firstPosition: pos, count: count, firstVersion: ver, firstID: String(f[6])))
            }
            // Reopen (alternately writable, which recovers here, and
            // read-only, which leaves recovery to the next child) and check.
            var options = LogOptions()
            options.readOnly = iteration % 2 == 1
            let log: EventLog
            do {
                log = try EventLog.open(at: dir, options: options)
            } catch {
                Issue.record("\(label): reopen failed: \(error)")
                return
            }
            defer { try? log.close() }
            if log.recovery.didTruncate { truncations += 1 }
            let newAcks = acked.count - checked.acks
            let problems = try check(log, acked: acked, newAcks: newAcks, checked: &checked)
            batchesInLog = checked.batches
            for p in problems.prefix(10) { Issue.record("\(label): \(p)") }
            if !problems.isEmpty { return }
        }
        print("crash test: \(iterations) kills (\(killedBeforeReady) before the child was ready), \(acked.count) acknowledged batches checked; "
              + "\(batchesInLog - acked.count) unacknowledged batches were whole in the log, \(truncations) torn tails truncated")
    }

    /// What the previous check saw.
    struct CheckedLog {
        var events: [RecordedEvent] = []
        var batches = 0
        var acks = 0
    }

    /// Every acknowledged batch at its position with its exact content,
    /// exactly once, in order; every batch in the log whole. What the last
    /// check verified must be unchanged, record for record; only what was
    /// added since is rebuilt from the content scheme.
    private func check(_ log: EventLog, acked: [Ack], newAcks: Int, checked: inout CheckedLog) throws -> [String] {
        var problems: [String] = []
        let all = try log.readAll().collect()
        if all.count < checked.events.count || Array(all.prefix(checked.events.count)) != checked.events {
            problems.append("the \(checked.events.count) events checked before are no longer the log's first events, unchanged")
            return problems
        }
        if UInt64(all.count) != log.head.value { problems.append("readAll returned \(all.count) events, head is \(log.head)") }
        var seen = Set<EventID>()
        for (i, e) in all.enumerated() {
            if e.position.value != UInt64(i) { problems.append("position \(i) holds an event with position \(e.position)"); break }
            if !seen.insert(e.id).inserted { problems.append("event \(e.id) appears twice (again at \(i))") }
        }
        // Every batch in the log is whole (acknowledged or not).
        var i = checked.events.count, batches = checked.batches
        while i < all.count, problems.count < 10 {
            let id = all[i].id
            let task = Int(id.low >> 48), batch = Int((id.low >> 16) & 0xFFFF_FFFF), index = Int(id.low & 0xFFFF)
            let n = crashBatchSize(seed: id.high, task: task, batch: batch)
            guard index == 0, i + n <= all.count else {
                problems.append("position \(i): a partial batch (event \(index) of \(n) of task \(task) batch \(batch))")
                break
            }
            for j in 0..<n {
                let want = crashEvent(seed: id.high, task: task, batch: batch, index: j), got = all[i + j]
                if got.id != want.id || got.data != want.data || got.type != want.type || got.metadata != want.metadata
                    || got.occurredAt != want.occurredAt || got.stream != "c\(id.high)-t\(task)" {
                    problems.append("position \(i + j): event differs from task \(task) batch \(batch) event \(j)")
                }
            }
            i += n
            batches += 1
        }
        // Every acknowledged batch is where the acknowledgement said.
        var lastPerTask: [String: Int] = [:]
        for (n, a) in acked.enumerated() {
            let key = "\(a.seed)/\(a.task)"
            if let prev = lastPerTask[key], prev + 1 != a.batch { problems.append("task \(key): batch \(a.batch) acknowledged after \(prev)") }
            lastPerTask[key] = a.batch
            if n < acked.count - newAcks { continue }  // checked before, and that prefix is unchanged
            guard a.firstPosition + UInt64(a.count) <= UInt64(all.count) else {
                problems.append("acknowledged batch \(a.batch) of task \(key) at \(a.firstPosition)+\(a.count) is past the head \(all.count)")
                continue
            }
            for j in 0..<a.count {
                let got = all[Int(a.firstPosition) + j]
                let want = crashEvent(seed: a.seed, task: a.task, batch: a.batch, index: j)
                if got.id != want.id || got.data != want.data || got.version.value != a.firstVersion + UInt64(j) {
                    problems.append("acknowledged event \(j) of task \(key) batch \(a.batch) is not at \(a.firstPosition + UInt64(j)) (found \(got.id), version \(got.version))")
                }
            }
            if a.firstID != want0(a).id.description { problems.append("the child acknowledged id \(a.firstID), expected \(want0(a).id)") }
        }
        if problems.isEmpty { checked = CheckedLog(events: all, batches: batches, acks: acked.count) }
        return problems
    }

    private func want0(_ a: Ack) -> ProposedEvent { crashEvent(seed: a.seed, task: a.task, batch: a.batch, index: 0) }
}
