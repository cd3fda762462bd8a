import ChronikLog
import Foundation
import HummingbirdTesting
import Synchronization
import Testing
@testable import ChronikServer

/// Proves the pacing of subscriptions at the head (stop 20): with a crowd
/// waiting, the watch wakes them at most once per `pace`, each wake
/// covering every append since, so a subscriber's wakes follow the clock
/// and not the appends; none is left behind when the appends stop; and
/// subscribers of a server that paces still get every event once, in order.
@Suite struct LivePaceTests {
    @Test func aCrowdAtTheHeadIsWokenOncePerPaceNotOncePerAppend() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let pace = Duration.milliseconds(20)
        let watch = HeadWatch(pace: pace)
        let appends = 600
        let waiters = 16
        let started = ContinuousClock.now
        let wakes = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<waiters {
                group.addTask {
                    var seen: UInt64 = 0
                    var wakes = 0
                    // As a subscription after each write: a paced wait
                    // beyond what it has sent.
                    while seen < UInt64(appends) {
                        await watch.wait(log, beyond: seen, atMost: .seconds(2), paced: true)
                        wakes += 1
                        seen = log.head.value
                    }
                    return wakes
                }
            }
            for i in 0..<appends {
                try await log.append(to: "s-\(i % 8)", [ProposedEvent(type: "Noted", data: Array(#"{"n":\#(i)}"#.utf8))])
                if i % 50 == 49 { try await Task.sleep(for: .milliseconds(5)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - started
        let paces = Int(elapsed / pace) + 1
        #expect(wakes.count == waiters)  // every waiter reached the last append
        #expect(watch.crowdWakes >= 1)
        #expect(watch.crowdWakes <= paces + 1, "\(watch.crowdWakes) crowd wakes in \(elapsed)")
        // Without the pace each waiter would be woken for (nearly) every append.
        let median = wakes.sorted()[waiters / 2]
        #expect(median <= 2 * paces + 10, "median \(median) wakes per waiter for \(appends) appends in \(elapsed) (\(paces) paces)")
    }

    @Test func aPacedServerStillSendsEveryEventOnceInOrder() async throws {
        var config = ServerConfiguration()
        config.livePace = .milliseconds(15)
        try await withServer(.live, configuration: config) { server, client in
            let port = try #require(client.port)
            let subscribers = try (0..<12).map { _ in try SSEClient(port: port, path: "/subscribe?from=0") }
            for i in 0..<40 {
                let batch = Array(repeating: #"{"type":"NoteAdded","data":{"text":"hi"}}"#, count: 1 + i % 3).joined(separator: ",")
                _ = try await client.post("/streams/s-\(i % 5)", "[\(batch)]")
            }
            let total = Int(server.log.head.value)
            for sse in subscribers {
                let got = await sse.events(total)
                #expect(got.map(\.id) == (0..<total).map { UInt64($0) })
                sse.close()
            }
        }
    }
}
