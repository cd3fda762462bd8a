import ChronikLog
import ChronikProjections
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
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
