import ChronikLog
import ChronikProjections
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// Proves a server of a shared store (`chronik serve --store`) answers what
/// docs/openapi.json says too: its reduced `/stats`, its reads and appends,
/// and the routes it cannot serve — 501 `notAvailableWithStore` naming what
/// does it, 503 `noKeyStore` for a command carrying personal data — each
/// validated against the document. The store is a local log behind a
/// forwarding `EventStore`, which the server cannot tell from PostgreSQL
/// (it serves a local log only when handed an `EventLog` itself), so the
/// test needs no database.
@Suite struct ContractStoreTests {
    @Test func aStoreServerAnswersWhatTheDocumentSays() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try EventLog.open(at: dir)
        let store = ForwardingStore(log: log)
        let live = try await LiveProjections.start(store: store)
        defer { live.stop() }
        var config = ServerConfiguration()
        config.tokens = ContractTests.tokens
        let server = LogServer(store: store, live: live, vault: nil, configuration: config, logLevel: "warning")
        #expect(server.localLog == nil, "the forwarding store must be served as a shared store")
        let recorder = ExchangeRecorder()
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            defer { server.beginShutdown() }
            let c = ContractClient(client: client, recorder: recorder)
            let note = #"[{"id":"3c0ffee0-3d2a-4c1b-9e8f-0a1b2c3d4e5f","type":"NoteAdded","data":{"text":"hi"}}]"#
            try await c.call(.post, "/streams/{stream}", "/streams/store-1", note, expect: .created)
            try await c.call(.post, "/streams/{stream}", "/streams/store-1", note, expect: .ok)
            try await c.call(.get, "/streams/{stream}", "/streams/store-1", expect: .ok)
            try await c.call(.get, "/all", "/all?from=0&limit=5", expect: .ok)
            try await c.call(.get, "/events/{position}", "/events/0", expect: .ok)
            try await c.call(.get, "/ready", "/ready", token: nil, expect: .ok)
            try await c.call(.get, "/stats", "/stats", expect: .ok)
            try await c.call(.get, "/models/{name}", "/models/orders?waitFor=0", expect: .ok)

            // What a shared store cannot do: the scope is checked first.
            for (method, path) in [(HTTPRequest.Method.get, "/verify"), (.get, "/export"), (.post, "/digest")] {
                let r = try await c.call(method, path, path, expect: .notImplemented)
                #expect(r.error["code"] as? String == "notAvailableWithStore")
                let instead = r.error["instead"] as? String ?? ""
                #expect(instead.contains("chronik"), "\(path): \(r.text)")
                try await c.call(method, path, path, token: ContractTests.reader, expect: .forbidden)
            }
            try await c.call(.get, "/customers/{id}/subject-export", "/customers/c-1/subject-export", expect: .notImplemented)
            try await c.call(.post, "/customers/{id}/forget", "/customers/c-1/forget", expect: .notImplemented)
            let order = #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o1","customerId":"c1","lines":[{"sku":"P1-42","qty":2,"unitPrice":4500}],"currency":"EUR","shippingFee":490,"shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}"#
            let refused = try await c.call(.post, "/commands", "/commands", order, expect: .serviceUnavailable)
            #expect(refused.text.contains("noKeyStore"), "\(refused.text)")
        }
        try log.close()
        let exchanges = recorder.exchanges.withLock { $0 }
        let report = try validate(exchanges, document: ContractTests.documentPath)
        #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))")
        #expect(report.checked == exchanges.count)
    }
}

/// An `EventStore` that forwards to a local log without being one: what a
/// server sees of PostgreSQL.
struct ForwardingStore: EventStore {
    let log: EventLog

    func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult {
        try await log.append(to: stream, events, expected: expected)
    }
    func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
        try await log.readStream(stream, from: version, limit: limit)
    }
    func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] {
        try await log.readAll(from: position, limit: limit)
    }
    func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> {
        log.subscribeAll(from: position)
    }
    func headPosition() async throws -> Position { try await log.headPosition() }
    func lastVersion(of stream: String) async throws -> StreamVersion? { log.lastVersion(of: stream) }
    func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] { try await log.events(withIDs: ids) }
}

/// Proves stop 34's page cap holds for a shared store too (stop 35: it
/// held for a local log only; a store's page was fetched whole, 1,000
/// events of any size in one query): `/all` and `/streams/{s}` pages of
/// a store end at 16 MiB, `next` goes on from there, and no fetch from
/// the store asks for much more than that; a page of small events is
/// still whole, in a few fetches.
@Suite struct StorePageTests {
    /// The forwarding store, noting the bytes and calls of each fetch.
    final class Counting: EventStore {
        let inner: ForwardingStore
        let fetches = Mutex<[Int]>([])
        init(inner: ForwardingStore) { self.inner = inner }
        func note(_ events: [RecordedEvent]) -> [RecordedEvent] {
            fetches.withLock { $0.append(events.reduce(0) { $0 + $1.data.count + $1.metadata.count }) }
            return events
        }
        func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult {
            try await inner.append(to: stream, events, expected: expected)
        }
        func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
            note(try await inner.readStream(stream, from: version, limit: limit))
        }
        func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] {
            note(try await inner.readAll(from: position, limit: limit))
        }
        func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> { inner.subscribeAll(from: position) }
        func headPosition() async throws -> Position { try await inner.headPosition() }
        func lastVersion(of stream: String) async throws -> StreamVersion? { try await inner.lastVersion(of: stream) }
        func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] { try await inner.events(withIDs: ids) }
    }

    @Test func aStorePageEndsAtSixteenMebibytes() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try EventLog.open(at: dir)
        let store = Counting(inner: ForwardingStore(log: log))
        let server = LogServer(store: store, live: nil, vault: nil, configuration: ServerConfiguration(), logLevel: "warning")
        #expect(server.localLog == nil)
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.router) { client in
            defer { server.beginShutdown() }
            let big = String(repeating: "x", count: 2_000_000)
            for _ in 0..<10 {
                let r = try await client.post("/streams/big", "[{\"type\":\"Blob\",\"data\":{\"b\":\"\(big)\"}}]")
                try #require(r.status == .created, "\(r.text)")
            }
            let small = (0..<300).map { _ in #"{"type":"Note","data":{"t":"hi"}}"# }.joined(separator: ",")
            #expect(try await client.post("/streams/small", "[\(small)]").status == .created)
            func page(_ uri: String) async throws -> (count: Int, next: Int?, largestFetch: Int) {
                store.fetches.withLock { $0 = [] }
                let r = try await client.get(uri)
                #expect(r.status == .ok, "\(uri): \(r.text.prefix(300))")
                let largest = store.fetches.withLock { $0.max() ?? 0 }
                return ((r.json["events"] as? [[String: Any]])?.count ?? -1, r.json["next"] as? Int, largest)
            }
            let all = try await page("/all?limit=1000")
            #expect(all.count == 8 && all.next == 8, "\(all)")
            #expect(all.largestFetch <= 17_000_000, "\(all)")
            let rest = try await page("/all?from=8&limit=1000")
            #expect(rest.count == 302 && rest.next == 310, "\(rest)")
            let stream = try await page("/streams/big?limit=100")
            #expect(stream.count == 8 && stream.next == 8 && stream.largestFetch <= 17_000_000, "\(stream)")
            let back = try await page("/streams/big?limit=100&direction=backward")
            #expect(back.count == 8 && back.next == 1 && back.largestFetch <= 17_000_000, "\(back)")
            let smallBack = try await page("/streams/small?limit=1000&direction=backward&from=299")
            #expect(smallBack.count == 300 && smallBack.next == nil, "\(smallBack)")
            let smallPage = try await page("/streams/small?limit=250")
            #expect(smallPage.count == 250 && smallPage.next == 250, "\(smallPage)")
            #expect(store.fetches.withLock { $0.count } <= 3, "a page of small events in a few fetches")
        }
        try log.close()
    }
}

/// Proves stop 38's finding (a DBA): with the database of a `--store`
/// server down, `/ready` answered 503 while `chronik_ready` said 1. The
/// gauge now asks the store as `/ready` does, and a store that does not
/// answer at all (a table locked) reads 0 after 2 s instead of holding
/// the scrape.
@Suite struct StoreReadyGaugeTests {
    final class Switchable: EventStore, Sendable {
        let inner: ForwardingStore
        let mode = Mutex("up")  // "up", "down" (fails at once), "hung" (never answers)
        init(inner: ForwardingStore) { self.inner = inner }
        func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion) async throws -> AppendResult {
            try await inner.append(to: stream, events, expected: expected)
        }
        func readStream(_ stream: String, from version: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
            try await inner.readStream(stream, from: version, limit: limit)
        }
        func readAll(from position: Position, limit: Int) async throws -> [RecordedEvent] { try await inner.readAll(from: position, limit: limit) }
        func subscribeAll(from position: Position) -> any AsyncSequence<RecordedEvent, any Error> { inner.subscribeAll(from: position) }
        func headPosition() async throws -> Position {
            switch mode.withLock({ $0 }) {
            case "down": throw ChronikLogError(.io, "connection refused")
            case "hung": try await Task.sleep(for: .seconds(30)); return try await inner.headPosition()
            default: return try await inner.headPosition()
            }
        }
        func lastVersion(of stream: String) async throws -> StreamVersion? { try await inner.lastVersion(of: stream) }
        func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] { try await inner.events(withIDs: ids) }
    }

    @Test func theReadyGaugeFollowsTheStore() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        let store = Switchable(inner: ForwardingStore(log: log))
        let server = LogServer(store: store, live: nil, vault: nil, configuration: ServerConfiguration(), logLevel: "warning")
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.router) { client async throws in
            defer { server.beginShutdown() }
            func gauge() async throws -> String? {
                let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                return text.split(separator: "\n").first { $0.hasPrefix("chronik_ready ") }.map(String.init)
            }
            #expect(try await gauge() == "chronik_ready 1.0")
            store.mode.withLock { $0 = "down" }
            #expect(try await client.execute(uri: "/ready", method: .get).status == .serviceUnavailable)
            #expect(try await gauge() == "chronik_ready 0.0")
            store.mode.withLock { $0 = "hung" }
            let started = ContinuousClock.now
            #expect(try await gauge() == "chronik_ready 0.0")
            #expect(ContinuousClock.now - started < .seconds(20), "the scrape waited for the hung store")
            store.mode.withLock { $0 = "up" }
            #expect(try await gauge() == "chronik_ready 1.0")
        }
    }
}
