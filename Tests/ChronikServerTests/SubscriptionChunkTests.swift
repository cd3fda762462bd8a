import ChronikLog
import Foundation
import NIOCore
import Testing
@testable import ChronikServer

/// Proves stop 35's finding: a subscription's chunk was 256 events
/// whatever their size, and a chunk waits whole in the socket's buffers
/// while its subscriber is slow: with events of 4 MB a stalled subscriber
/// held about 100 MB and 24 of them took the server to 2.2 GB. A chunk now
/// ends once its frames hold 1 MiB (at least one event), and the next goes
/// on exactly where it ended.
@Suite struct SubscriptionChunkTests {
    @Test func aChunkOfLargeEventsEndsAtAMebibyte() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        let big = String(repeating: "x", count: 600_000)
        for i in 0..<10 {
            _ = try await log.append(to: "s", [ProposedEvent(type: "Big", data: Array("{\"i\":\(i),\"b\":\"\(big)\"}".utf8))])
        }
        for i in 0..<300 { _ = try await log.append(to: "t", [ProposedEvent(type: "Small", data: Array("{\"i\":\(i)}".utf8))]) }
        let printer = EventPrinter(json: true, note: { _ in }, openVault: { nil })
        var reader = SubscriptionReader()
        var next: UInt64 = 0
        var sizes: [(events: UInt64, bytes: Int)] = []
        while let chunk = try reader.chunk(log, from: next, limit: 256, filter: SubscriptionFilter(), printer: printer) {
            #expect(chunk.start == next)
            sizes.append((chunk.end - chunk.start, chunk.frames.readableBytes))
            next = chunk.end
        }
        #expect(next == 310, "every event once, in order")
        // Two events of 600 KB pass a mebibyte: each chunk of them holds two.
        #expect(sizes.prefix(5).allSatisfy { $0.events == 2 && $0.bytes < 2 * SubscriptionReader.chunkBytes },
                "\(sizes.map { "\($0.events):\($0.bytes)" })")
        // Small events still come 256 at a time.
        #expect(sizes.dropFirst(5).first?.events == 256, "\(sizes.map { "\($0.events):\($0.bytes)" })")
    }
}
