import Testing
import Foundation
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

// Issue 9.3: a log holding events that do not decode (another schema,
// written through the engine) rebuilds with `skipUndecodable`: the models
// equal those of the log without them, and each skip is listed.

@Suite struct SkipUndecodableTests {
    @Test(arguments: [false, true])
    func undecodableEventsAreSkippedAndListed(parallel: Bool) async throws {
        // Proves (serial and parallel) the skipped events are listed with position, type and reason, the models equal
        // a replay of the same history without them, and without the option the replay stops at the first one.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = randomHistory(count: 2000, seed: 11)
        let log = try await makeLog(events, at: path)
        let bad = [ProposedEvent(type: "PaymentCaptured", data: Array(#"{"orderId":"o-x"}"#.utf8)),
                   ProposedEvent(type: "StockReceived", data: [0x7A, 0x01])]
        let first = try await log.append(to: "order-o-x", [bad[0]]).firstPosition
        _ = try await log.append(to: "stock-x", [bad[1]])
        _ = try await log.append(to: "misc", [ProposedEvent(type: "Unrelated", data: [])])
        defer { try? log.close() }

        let strict = try Projections.standard()
        #expect(throws: ProjectionError.self) { try Replayer.replay(log, into: strict, parallel: parallel, chunkSize: 64) }

        let set = try Projections.standard()
        let stats = try Replayer.replay(log, into: set, parallel: parallel, chunkSize: 64, skipUndecodable: true)
        #expect(stats.skippedCount == 2)
        #expect(stats.skipped.map(\.position) == [first, Position(first.value + 1)])
        #expect(stats.skipped.map(\.type) == ["PaymentCaptured", "StockReceived"])
        #expect(stats.skipped.allSatisfy { !$0.reason.isEmpty })
        #expect(set.position == log.head)
        #expect(set.snapshotBytes() == (try inMemory(events).snapshotBytes()))
    }
}
