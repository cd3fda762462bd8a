import ChronikLog
@testable import ChronikPostgres
import Foundation
import Synchronization
import Testing

/// The cluster pair that `PostgresStoreTests` share (each test uses a
/// database of its own on it); removed when the test process exits.
let sharedCluster: Result<PostgresCluster, any Error> = Result { try PostgresCluster() }
let removeAtExit: Void = { atexit { removeSharedCluster() } }()
func removeSharedCluster() { if case .success(let c) = sharedCluster { c.remove() } }

/// A store on a new database of the shared primary, migrated.
func freshStore(_ name: String) async throws -> (PostgresCluster, PostgresStore) {
    _ = removeAtExit
    let cluster = try sharedCluster.get()
    let url = try cluster.primary.createDatabase(name)
    let store = try PostgresStore(url: url)
    try await store.migrate()
    return (cluster, store)
}

/// A built executable next to this test bundle.
func builtExecutable(_ name: String) -> String {
    var dirs: [String] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        dirs.append((exe as NSString).deletingLastPathComponent)
    }
    dirs.append((CommandLine.arguments[0] as NSString).deletingLastPathComponent)
    dirs.append((Bundle.main.bundlePath as NSString).deletingLastPathComponent)
    for dir in dirs where FileManager.default.isExecutableFile(atPath: dir + "/" + name) { return dir + "/" + name }
    return (dirs.first ?? ".") + "/" + name
}

/// One acknowledged append, as a child process printed it.
struct Ack: Hashable {
    var id: EventID
    var position: UInt64
    var stream: String
    var version: UInt64
}

/// A running `ChronikPostgresChild`; its stdout goes to a file (a pipe
/// would fill up and stall it).
final class AppenderProcess: @unchecked Sendable {
    let process: ChildProcess
    let outPath: String
    let errPath: String

    init(url: String, appenders: Int, events: Int, prefix: String) throws {
        let base = NSTemporaryDirectory() + "chronik-pg-child-" + UUID().uuidString
        outPath = base + ".out"
        errPath = base + ".err"
        process = try ChildProcess(builtExecutable("ChronikPostgresChild"), [url, String(appenders), String(events), prefix],
                                   stdout: outPath, stderr: errPath)
    }

    /// Waits for the child (at most `timeout`), then returns its acks.
    func finish(timeout: Duration = .seconds(120)) async throws -> (acks: [Ack], errors: String, status: Int32) {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            process.terminate()
            process.wait()
            throw ClusterError(description: "appender child did not finish in \(timeout)")
        }
        let out = try String(contentsOfFile: outPath, encoding: .utf8)
        let err = try String(contentsOfFile: errPath, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
        var acks: [Ack] = []
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 5, f[0] == "ack", let id = EventID(string: String(f[1])), let p = UInt64(f[2]), let v = UInt64(f[4]) else {
                throw ClusterError(description: "unreadable child line: \(line)")
            }
            acks.append(Ack(id: id, position: p, stream: String(f[3]), version: v))
        }
        return (acks, err, process.wait())
    }

    /// Acks printed so far.
    var acksSoFar: Int {
        ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}

/// Checks acknowledged appends against the store: each acked id exactly
/// once, at its acked position, stream and version; positions from 0 to the
/// head dense; each stream's versions dense and in position order; the
/// chain verifies. Returns the events read.
@discardableResult
func expectAcksStored(_ acks: [Ack], in store: PostgresStore, allAcked: Bool) async throws -> [RecordedEvent] {
    let head = try await store.headPosition()
    let events = try await store.readAll(from: .start, limit: Int(head.value) + 10)
    #expect(events.count == Int(head.value))
    #expect(events.map(\.position.value) == Array(0..<head.value), "positions are dense from 0")
    let byID = Dictionary(events.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    #expect(byID.count == events.count, "each event id once")
    for ack in acks {
        let e = byID[ack.id]
        #expect(e?.position.value == ack.position, "acked \(ack.id) at \(ack.position)")
        #expect(e?.stream == ack.stream)
        #expect(e?.version.value == ack.version)
    }
    if allAcked { #expect(Set(acks.map(\.id)) == Set(byID.keys), "nothing stored that was not acknowledged") }
    var versions: [String: UInt64] = [:]
    for e in events {
        let expected = versions[e.stream].map { $0 + 1 } ?? 0
        #expect(e.version.value == expected, "stream \(e.stream) version \(e.version) at \(e.position)")
        versions[e.stream] = e.version.value
    }
    let report = try await store.verify()
    #expect(report.events == head.value)
    return events
}

/// Runs an executable built next to this test bundle; returns exit status,
/// stdout and stderr. Waits without holding a thread of the task pool
/// (`ChildProcess.exited`).
func runBuilt(_ name: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    let base = NSTemporaryDirectory() + "chronik-pg-run-" + UUID().uuidString
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".err")
    }
    let status = try await ChildProcess(builtExecutable(name), arguments, stdout: base + ".out", stderr: base + ".err").exited()
    return (status, try String(contentsOfFile: base + ".out", encoding: .utf8),
            try String(contentsOfFile: base + ".err", encoding: .utf8))
}

/// Runs the real `chronik` binary (`runBuilt`).
func chronik(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runBuilt("chronik", arguments)
}

/// A value shared with tasks (a Mutex cannot be captured by them itself).
final class Shared<T: Sendable>: Sendable {
    let mutex: Mutex<T>
    init(_ value: T) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout T) -> R) -> R { mutex.withLock { body(&$0) } }
}
