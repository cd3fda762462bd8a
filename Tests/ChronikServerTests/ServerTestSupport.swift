import ChronikAudit
import ChronikLog
import ChronikProjections
import ChronikServer
import ChronikTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Subprocess
import SystemPackage
import Testing

// Helpers: a LogServer on a fresh log in a temporary directory, driven
// through HummingbirdTesting (in memory) or on a loopback port (live).

/// This test process's own directory (removed at exit).
let serverTestRunDirectory = makeTestRunDirectory("chronik-server-tests")

func makeTempDir(_ name: String = #function) -> String {
    let base = serverTestRunDirectory
    return base + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
}

/// Runs `body` with a server on a new log (closed and removed after).
func withServer(_ mode: TestingSetup = .router, configuration: ServerConfiguration = ServerConfiguration(),
                directory: String? = nil, models: Bool = false,
                _ body: @Sendable (LogServer, any TestClientProtocol) async throws -> Void) async throws {
    let dir = directory ?? makeTempDir()
    let log = try EventLog.open(at: dir)
    // The key store beside the log, as `chronik serve` keeps it.
    let vault = models ? SubjectKeyVault(store: try FileKeyStore(directory: dir + ".keys")) : nil
    let live = models ? try LiveProjections.start(log: log, protector: vault) : nil
    defer { live?.stop() }
    let server = LogServer(log: log, live: live, vault: vault, configuration: configuration, logLevel: "warning")
    let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    do {
        try await app.test(mode) { client in
            defer { server.beginShutdown() }  // ends open subscriptions, as SIGTERM does
            try await body(server, client)
        }
    } catch {
        try? log.close()
        throw error
    }
    try log.close()
    if directory == nil {
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.removeItem(atPath: dir + ".keys")
    }
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

/// The `chronik` executable SwiftPM built next to this test bundle.
let chronikPath: String = {
    var dirs: [String] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        dirs.append((exe as NSString).deletingLastPathComponent)
    }
    dirs.append((CommandLine.arguments[0] as NSString).deletingLastPathComponent)
    dirs.append((Bundle.main.bundlePath as NSString).deletingLastPathComponent)
    for dir in dirs where FileManager.default.isExecutableFile(atPath: dir + "/chronik") { return dir + "/chronik" }
    return (dirs.first ?? ".") + "/chronik"
}()

/// Runs `chronik` to completion; its exit status.
func chronikStatus(_ arguments: [String]) async throws -> TerminationStatus {
    try await Subprocess.run(.path(FilePath(chronikPath)), arguments: Arguments(arguments),
                             output: .discarded, error: .discarded).terminationStatus
}

/// Runs `chronik` to completion; its stdout.
func chronikOutput(_ arguments: [String]) async throws -> String {
    let r = try await Subprocess.run(.path(FilePath(chronikPath)), arguments: Arguments(arguments),
                                     output: .string(limit: 16 << 20), error: .string(limit: 1 << 20))
    return r.standardOutput
}
