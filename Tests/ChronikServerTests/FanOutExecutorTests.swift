import CChronikSupport
import ChronikLog
import Foundation
import Synchronization
import Testing
@testable import ChronikServer

/// Proves that subscriptions run below the appends: the fan-out executor's
/// threads carry a higher nice value than the rest of the process, run
/// their jobs in the order they come, and a live subscription's work (its
/// reads, encoding and writes) is done on them.
@Suite struct FanOutExecutorTests {
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func codePreferringTheFanOutExecutorRunsOnItsLowPriorityThreads() async {
        let here = chronik_thread_nice()
        let there = await withTaskExecutorPreference(FanOutExecutor.shared) {
            (nice: chronik_thread_nice(), name: threadName())
        }
        #expect(there.nice == FanOutExecutor.nice)
        #expect(there.nice > here, "fan-out \(there.nice), caller \(here)")
        #expect(there.name.hasPrefix("chronik-fanout"), "\(there.name)")
    }

    @Test func oneThreadRunsJobsInTheOrderTheyCome() async {
        let executor = FanOutExecutor(threads: 1, name: "test-ordered")
        let order = Order()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask(executorPreference: executor) { order.seen.withLock { $0.append(i) } }
            }
        }
        #expect(order.seen.withLock { $0 } == Array(0..<200))
    }

    @Test func aSubscriptionIsServedByTheFanOutThreads() async throws {
        try await withServer(.live) { server, client in
            let batch = "[" + Array(repeating: Self.note, count: 500).joined(separator: ",") + "]"
            for i in 0..<10 { _ = try await client.post("/streams/s-\(i)", batch) }
            #expect(server.log.head.value == 5_000)
            let before = fanOutCPUTicks()
            let sse = try SSEClient(port: try #require(client.port), path: "/subscribe?from=0")
            let got = await sse.events(5_000)
            sse.close()
            #expect(got.map(\.id) == (0..<5_000).map { UInt64($0) })
            // Reading and encoding 5,000 events took CPU on those threads
            // (clock ticks of 10 ms; a debug build spends far more).
            #expect(fanOutCPUTicks() > before)
        }
    }

    final class Order: Sendable { let seen = Mutex<[Int]>([]) }

    /// The calling thread's name, from /proc.
    func threadName() -> String {
        let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        return comm.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// utime + stime of this process's fan-out threads, from /proc.
    func fanOutCPUTicks() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var ticks = 0
        for tid in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                  comm.hasPrefix("chronik-fanout"),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the command: state is field 3, utime 14, stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            ticks += (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
        }
        return ticks
    }
}

