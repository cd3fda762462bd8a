import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// Proves `GET /subscribe` is one cursor from disk into live appends: ids
/// are positions, Last-Event-ID resumes right after (across a restart of
/// the server too), no event is skipped or repeated at the switch, and a
/// stalled consumer leaves the events on disk instead of in the server.
@Suite struct SubscribeTests {
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func catchUpThenLiveWithoutGapOrRepeat() async throws {
        try await withServer(.live) { server, client in
            for _ in 0..<3 { _ = try await client.post("/streams/a", "[\(Self.note)]") }
            let sse = try SSEClient(port: try #require(client.port), path: "/subscribe?from=0")
            let first = await sse.events(3)
            #expect(first.map(\.id) == [0, 1, 2])
            #expect(sse.status == 200)
            #expect(sse.headers["content-type"] == "text/event-stream")
            #expect(sse.headers["x-accel-buffering"] == "no")
            #expect(sse.headers["cache-control"] == "no-cache, no-transform", "no proxy may compress it (stop 37: HAProxy's gzip held each event back)")
            // Appends while the subscriber is at the head arrive live, in order.
            for _ in 0..<4 { _ = try await client.post("/streams/b", "[\(Self.note),\(Self.note)]") }
            let live = await sse.events(8)
            #expect(live.map(\.id) == (3...10).map { UInt64($0) })
            let recorded = try #require(try server.log.event(at: Position(3)))
            #expect(live.first?.data == eventJSON(recorded))
            sse.close()
        }
    }

    @Test func lastEventIDResumesRightAfterAndFiltersApply() async throws {
        try await withServer(.live) { _, client in
            for i in 0..<6 { _ = try await client.post("/streams/s-\(i % 2)", "[\(Self.note)]") }
            let port = try #require(client.port)
            let resumed = try SSEClient(port: port, path: "/subscribe?from=0", headers: ["Last-Event-ID": "2"])
            #expect(await resumed.events(3).map(\.id) == [3, 4, 5])
            let filtered = try SSEClient(port: port, path: "/subscribe?stream=s-1")
            #expect(await filtered.events(3).map(\.id) == [1, 3, 5])
            let bad = try SSEClient(port: port, path: "/subscribe", headers: ["Last-Event-ID": "x"])
            #expect(await bad.next(timeout: .seconds(2)) == nil)
            #expect(bad.status == 400)
        }
    }

    /// A start past the head is refused, not waited for (stop 32: a client
    /// holding a position of another log, or of a log restored from an older
    /// copy, waited in silence and would have skipped every event up to it;
    /// Last-Event-ID 2^64-1 would have overflowed).
    @Test func aStartPastTheHeadIsRefused() async throws {
        try await withServer { server, client in
            for _ in 0..<3 { _ = try await client.post("/streams/s", "[\(Self.note)]") }
            for id in ["3", "99", "18446744073709551615"] {
                let r = try await client.get("/subscribe", headers: [.init("Last-Event-ID")!: id])
                #expect(r.status == .badRequest, "\(id): \(r.text)")
                #expect(r.error["code"] as? String == "invalidLastEventID" && (r.error["message"] as? String)?.contains("head is 3") == true, "\(id): \(r.text)")
            }
            let past = try await client.get("/subscribe?from=4")
            #expect(past.status == .badRequest && past.error["code"] as? String == "invalidPosition", "\(past.text)")
            let word = try await client.get("/subscribe?from=END")
            #expect(word.status == .badRequest && (word.error["message"] as? String)?.contains("or end") == true, "\(word.text)")
            // A bad `from` beside a Last-Event-ID that wins is still refused
            // (stop 36, a service author: it passed unread).
            for query in ["from=abc", "from=-1", "from=END"] {
                let r = try await client.get("/subscribe?" + query, headers: [.init("Last-Event-ID")!: "1"])
                #expect(r.status == .badRequest && r.error["field"] as? String == "from", "\(query): \(r.text)")
            }
            // A name no append can write waits forever: 400 (stop 35: 200 and heartbeats).
            for (query, code) in [("stream=a%0Ab", "invalidStreamName"), ("stream=" + String(repeating: "x", count: 300), "invalidStreamName"),
                                  ("type=a%0Ab", "invalidEventType")] {
                let r = try await client.get("/subscribe?" + query)
                #expect(r.status == .badRequest && r.error["code"] as? String == code, "\(query): \(r.text)")
            }
            #expect(server.log.head.value == 3)
        }
    }

    @Test func idleSubscriptionsGetHeartbeatsAndFromEndIsLiveOnly() async throws {
        var config = ServerConfiguration()
        config.heartbeat = .milliseconds(300)
        try await withServer(.live, configuration: config) { server, client in
            for _ in 0..<3 { _ = try await client.post("/streams/a", "[\(Self.note)]") }
            let sse = try SSEClient(port: try #require(client.port), path: "/subscribe?from=end")
            // Heartbeats every 300 ms; a loaded machine gets a few seconds.
            for _ in 0..<20 where !sse.comments.contains(where: { $0.hasPrefix(": heartbeat 3") }) {
                #expect(await sse.next(timeout: .milliseconds(500)) == nil)
            }
            #expect(sse.comments.contains { $0.hasPrefix(": heartbeat 3") }, "\(sse.comments)")
            #expect(server.subscriptionPositions() == [3])
            _ = try await client.post("/streams/a", "[\(Self.note)]")
            #expect(await sse.next()?.id == 3)
            sse.close()
        }
    }

    @Test func resumeAcrossAServerRestart() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seen = Mutex<[UInt64]>([])
        try await withServer(.live, directory: dir) { _, client in
            for _ in 0..<5 { _ = try await client.post("/streams/a", "[\(Self.note)]") }
            let sse = try SSEClient(port: try #require(client.port), path: "/subscribe?from=0")
            let got = await sse.events(3)
            seen.withLock { $0 = got.compactMap(\.id) }
            sse.close()
        }
        #expect(seen.withLock { $0 } == [0, 1, 2])
        try await withServer(.live, directory: dir) { _, client in
            let sse = try SSEClient(port: try #require(client.port), path: "/subscribe", headers: ["Last-Event-ID": "2"])
            _ = try await client.post("/streams/a", "[\(Self.note)]")
            #expect(await sse.events(3).map(\.id) == [3, 4, 5])
        }
    }

    @Test func aStalledSubscriberLeavesTheEventsOnDisk() async throws {
        var config = ServerConfiguration()
        config.subscriptionChunk = 64
        try await withServer(.live, configuration: config) { server, client in
            // ~12 MB of events: more than the socket buffers hold.
            let payload = String(repeating: "x", count: 200)
            let total = 48_000
            for b in 0..<(total / 1000) {
                let events = (0..<1000).map { _ in ProposedEvent(type: "Filled", data: Array(#"{"p":"\#(payload)"}"#.utf8)) }
                try await server.log.append(to: "fill-\(b)", events)
            }
            let sse = try SSEClient(port: try #require(client.port), path: "/subscribe?from=0", receiveBuffer: 4096)
            _ = await sse.next()
            try await Task.sleep(for: .milliseconds(700))
            // The server read only as far as the socket took: far behind the head.
            let cursors = server.subscriptionPositions()
            #expect(cursors.count == 1)
            #expect((cursors.first ?? .max) < UInt64(total / 2), "cursor \(cursors) of head \(total)")
            // Then every event arrives, in order, none twice.
            var next: UInt64 = 1
            while next < UInt64(total), let e = await sse.next(timeout: .seconds(10)) {
                #expect(e.id == next)
                if e.id != next { break }
                next += 1
            }
            #expect(next == UInt64(total))
            sse.close()
        }
    }
}
