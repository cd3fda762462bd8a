import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Proves bearer tokens and scopes (401 without a known token, 403 without
/// the scope, personal data in clear only with `pii`), a tokens file
/// others may read is refused, and /health, /ready and /metrics answer.
@Suite struct SecurityOperationsTests {
    static let writer = "writer-0123456789abcdef"
    static let reader = "reader-0123456789abcdef"
    static let auditor = "auditor-0123456789abcdef"
    static let scraper = "scraper-0123456789abcdef"
    static let tokens = try! TokenTable.parse("""
        # token scopes name
        \(writer) append checkout
        \(reader) read dashboard
        \(auditor) read,audit,pii auditor
        \(scraper) metrics prometheus
        """)
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    @Test func noTokenIs401WrongScopeIs403() async throws {
        var config = ServerConfiguration()
        config.tokens = Self.tokens
        try await withServer(configuration: config, models: true) { server, client in
            let anonymous = try await client.post("/streams/n", "[\(Self.note)]")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.error["code"] as? String == "unauthorized")
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await client.post("/streams/n", "[\(Self.note)]", headers: Self.bearer("nope-0123456789abcdef")).status
                    == .unauthorized)
            let readerAppends = try await client.post("/streams/n", "[\(Self.note)]", headers: Self.bearer(Self.reader))
            #expect(readerAppends.status == .forbidden)
            #expect(readerAppends.error["code"] as? String == "forbidden")
            #expect(server.log.head.value == 0)
            #expect(try await client.post("/streams/n", "[\(Self.note)]", headers: Self.bearer(Self.writer)).status == .created)
            #expect(try await client.get("/events/0", headers: Self.bearer(Self.writer)).status == .forbidden)
            #expect(try await client.get("/events/0", headers: Self.bearer(Self.reader)).status == .ok)
            #expect(try await client.get("/health").status == .ok)
            #expect(try await client.get("/metrics").status == .unauthorized)
            // Stop 37: a scraper's token reads /metrics and no event.
            #expect(try await client.get("/metrics", headers: Self.bearer(Self.scraper)).status == .ok)
            #expect(try await client.get("/metrics", headers: Self.bearer(Self.reader)).status == .ok)
            #expect(try await client.get("/metrics", headers: Self.bearer(Self.writer)).status == .forbidden)
            for path in ["/events/0", "/all", "/streams/n", "/models/orders", "/subscribe"] {
                let r = try await client.get(path, headers: Self.bearer(Self.scraper))
                #expect(r.status == .forbidden, "\(path): \(r.text)")
            }
        }
    }

    @Test func aByteOrderMarkIsNotPartOfTheFirstToken() throws {
        // Proves stop 32's fix: a tokens file saved with a BOM loaded, but its first token never matched.
        let table = try TokenTable.parse("\u{FEFF}\(Self.writer) append checkout\n\(Self.reader) read dashboard\n")
        #expect(table.entry(for: Self.writer)?.name == "checkout")
        #expect(table.entry(for: Self.reader)?.name == "dashboard")
    }

    @Test func aCompressedBodyIs415AndWritesNothing() async throws {
        // Proves stop 32's fix: a gzip body was refused as broken JSON, and a plain body labelled br was accepted.
        try await withServer { server, client in
            for encoding in ["gzip", "br", "deflate"] {
                let r = try await client.post("/streams/n", "[\(Self.note)]", headers: [.contentEncoding: encoding])
                #expect(r.status == .unsupportedMediaType, "\(encoding): \(r.text)")
                #expect(r.error["code"] as? String == "unsupportedContentEncoding", "\(encoding): \(r.text)")
            }
            #expect(server.log.head.value == 0)
            #expect(try await client.post("/streams/n", "[\(Self.note)]", headers: [.contentEncoding: "identity"]).status == .created)
        }
    }

    @Test func personalDataIsInClearOnlyWithPII() async throws {
        var config = ServerConfiguration()
        config.tokens = Self.tokens
        try await withServer(configuration: config, models: true) { _, client in
            let registered = #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"a@example.com","name":"Ada","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#
            #expect(try await client.post("/commands", registered, headers: Self.bearer(Self.writer)).status == .created)
            let plain = try await client.get("/events/0", headers: Self.bearer(Self.reader))
            #expect(plain.status == .ok)
            #expect(!plain.text.contains("a@example.com"))
            let clear = try await client.get("/events/0", headers: Self.bearer(Self.auditor))
            #expect(clear.text.contains("a@example.com"))
        }
    }

    @Test func aTokensFileOthersMayReadIsRefused() throws {
        let path = makeTempDir() + ".tokens"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("\(Self.writer) append\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        #expect(throws: ServerError.self) { try TokenTable.load(path: path) }
        chmod(path, 0o600)
        #expect(try TokenTable.load(path: path).count == 1)
        #expect(throws: ServerError.self) { try TokenTable.parse("short append\n") }
        #expect(throws: ServerError.self) { try TokenTable.parse("\(Self.writer) append,root\n") }
    }

    @Test func healthReadyAndMetrics() async throws {
        try await withServer(models: true) { server, client in
            server.log.waitUntilIndexed()
            #expect(try await client.get("/health").status == .ok)
            let ready = try await client.get("/ready")
            #expect(ready.status == .ok)
            #expect(ready.json["status"] as? String == "ready")
            for _ in 0..<3 { _ = try await client.post("/streams/n", "[\(Self.note),\(Self.note)]") }
            _ = try await client.get("/events/99")
            let m = try await client.get("/metrics")
            #expect(m.status == .ok)
            let text = m.text
            #expect(text.contains("chronik_events_written_total 6"), "\(text)")
            #expect(text.contains("chronik_append_duration_seconds_count 3"))
            #expect(text.contains("chronik_append_batch_events_count 3"))
            #expect(text.contains("chronik_log_head_position 6"))
            #expect(text.contains(#"chronik_http_requests_total{route="/streams/{stream}",method="POST",status="201"} 3"#))
            #expect(text.contains(#"route="/events/{position}",method="GET",status="404"} 1"#))
            server.beginShutdown()
            #expect(try await client.get("/ready").status == .serviceUnavailable)
        }
    }
}
