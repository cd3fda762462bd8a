import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

// Helpers: a LogServer on a fresh log in a temporary directory, driven
// through HummingbirdTesting (in memory) or on a loopback port (live).

func makeTempDir(_ name: String = #function) -> String {
    let base = FileManager.default.temporaryDirectory.path + "/chronik-server-tests"
    try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    return base + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
}

/// Runs `body` with a server on a new log (closed and removed after).
func withServer(_ mode: TestingSetup = .router, configuration: ServerConfiguration = ServerConfiguration(),
                directory: String? = nil,
                _ body: @Sendable (LogServer, any TestClientProtocol) async throws -> Void) async throws {
    let dir = directory ?? makeTempDir()
    let log = try EventLog.open(at: dir)
    let server = LogServer(log: log, live: nil, vault: nil, configuration: configuration, logLevel: "warning")
    let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    do {
        try await app.test(mode) { client in
            defer { server.beginShutdown() }  // ends open subscriptions, as SIGTERM does
            try await body(server, client)
        }
    } catch {
        log.close()
        throw error
    }
    log.close()
    if directory == nil { try? FileManager.default.removeItem(atPath: dir) }
}

extension TestClientProtocol {
    /// POSTs `json` to `uri`.
    func post(_ uri: String, _ json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body as a JSON object (a failing expectation when it is not).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// The `error` object of an error response.
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
}
