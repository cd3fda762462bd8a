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
        // a replay of the same history with them read as unknown types, and without the option the replay stops at the first one.
        let path = tempLogPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = randomHistory(count: 2000, seed: 11)
        let log = try await makeLog(events, at: path)
        // The extra events carry times after the history's: models that
        // read the log's latest time (EVENTS.md v1.2) see them as any
        // event no model folds.
        let t = Timestamp(microseconds: events.last!.0.microseconds + 1_000_000)
        let bad = [ProposedEvent(type: "PaymentCaptured", data: Array(#"{"orderId":"o-x"}"#.utf8), occurredAt: t),
                   ProposedEvent(type: "StockReceived", data: [0x7A, 0x01], occurredAt: t)]
        let first = try await log.append(to: "order-o-x", [bad[0]]).firstPosition
        _ = try await log.append(to: "stock-x", [bad[1]])
        _ = try await log.append(to: "misc", [ProposedEvent(type: "Unrelated", data: [], occurredAt: t)])
        // The same history with the three read as unknown types.
        let expected = try inMemory(events + ["PaymentCaptured", "StockReceived", "Unrelated"].map {
            (t, CommerceEvent.unknown(type: $0, data: []))
        })
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
        #expect(set.snapshotBytes() == expected.snapshotBytes())
    }
}
