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
    /// `waiters` tasks waiting on `watch` as subscriptions do after each
    /// write (a paced wait beyond what they have sent) while `appends`
    /// events are appended, a pause of 5 ms after every `pauseEvery`; each
    /// one's wakes until it saw the last append, and the time it all took.
    static func crowd(of waiters: Int, on watch: HeadWatch, appends: Int, pauseEvery: Int) async throws
        -> (wakes: [Int], elapsed: Duration) {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let started = ContinuousClock.now
        let wakes = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<waiters {
                group.addTask {
                    var seen: UInt64 = 0
                    var wakes = 0
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
                if i % pauseEvery == pauseEvery - 1 { try await Task.sleep(for: .milliseconds(5)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        return (wakes, ContinuousClock.now - started)
    }

    @Test func aCrowdAtTheHeadIsWokenOncePerPaceNotOncePerAppend() async throws {
        let pace = Duration.milliseconds(20)
        let watch = HeadWatch(pace: pace)
        let appends = 600
        let waiters = 16
        let (wakes, elapsed) = try await Self.crowd(of: waiters, on: watch, appends: appends, pauseEvery: 50)
        let paces = Int(elapsed / pace) + 1
        #expect(wakes.count == waiters)  // every waiter reached the last append
        #expect(watch.crowdWakes >= 1)
        #expect(watch.crowdWakes <= paces + 1, "\(watch.crowdWakes) crowd wakes in \(elapsed)")
        // Without the pace each waiter would be woken for (nearly) every append.
        let median = wakes.sorted()[waiters / 2]
        #expect(median <= 2 * paces + 10, "median \(median) wakes per waiter for \(appends) appends in \(elapsed) (\(paces) paces)")
    }

    /// Stop 49: a crowd larger than the wake budget allows at the pace is
    /// woken in longer rounds (40 waiters at 1,000 wakes/s: every 40 ms,
    /// not every 5, once the append rate is known), `HeadWatch.crowd` at a
    /// time; every waiter still reaches the last append.
    @Test func aLargeCrowdIsWokenInLongerRoundsASliceAtATime() async throws {
        let watch = HeadWatch(pace: .milliseconds(5), wakesPerSecond: 1000, window: 1 << 20)
        let (wakes, elapsed) = try await Self.crowd(of: 40, on: watch, appends: 400, pauseEvery: 10)
        #expect(wakes.count == 40)
        #expect(watch.crowdWakes >= 1)
        // Rounds of 40 ms once the append rate is known (the first at the
        // pace): at the 5 ms pace alone there would be 8 times more.
        let rounds = Int(elapsed / .milliseconds(40)) + 3
        #expect(watch.crowdWakes <= rounds, "\(watch.crowdWakes) rounds in \(elapsed)")
        #expect(watch.largestSlice >= 1)
        #expect(watch.largestSlice <= HeadWatch.crowd, "\(watch.largestSlice) subscriptions resumed at once")
    }

    /// A round's length: the pace, longer for a crowd beyond the wake
    /// budget, never past `window` events at the measured append rate (but
    /// never below the pace), never past `maxRound`; the pace while the
    /// rate is not known.
    @Test func aRoundGrowsWithTheCrowdWithinTheWindowAndTheCap() {
        let watch = HeadWatch(pace: .milliseconds(10), wakesPerSecond: 2000, window: 512)
        #expect(watch.round(woken: 8, eventsPerSecond: 0) == .milliseconds(10))
        #expect(watch.round(woken: 20, eventsPerSecond: 4000) == .milliseconds(10))
        #expect(watch.round(woken: 100, eventsPerSecond: 4000) == .milliseconds(50))
        #expect(watch.round(woken: 100, eventsPerSecond: 0) == .milliseconds(10))
        // 512 events at 20,000/s: 25.6 ms.
        #expect(watch.round(woken: 100, eventsPerSecond: 20000) == .microseconds(25600))
        #expect(watch.round(woken: 100, eventsPerSecond: 1_000_000) == .milliseconds(10))
        #expect(watch.round(woken: 1000, eventsPerSecond: 1000) == HeadWatch.maxRound)
        let flat = HeadWatch(pace: .milliseconds(10), wakesPerSecond: 0, window: 512)
        #expect(flat.round(woken: 1000, eventsPerSecond: 0) == .milliseconds(10))
    }

    @Test(arguments: [2000, 100])
    func aPacedServerStillSendsEveryEventOnceInOrder(wakesPerSecond: Int) async throws {
        var config = ServerConfiguration()
        config.livePace = .milliseconds(15)
        // 100: the 12 subscribers are woken in rounds of 100 ms, 8 then 4.
        config.liveWakesPerSecond = wakesPerSecond
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
