import ChronikTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

// A primary and a synchronous standby of Debian's PostgreSQL 15 on loopback,
// for the tests: created in a temporary directory owned by the `postgres`
// user (PostgreSQL refuses to run as root), started as that user on free
// ports, killed, promoted, stopped and started on demand, and always
// removed. The commands are the ones README.md's "PostgreSQL" section shows.

/// Where Debian puts the server binaries.
let postgresBin = ProcessInfo.processInfo.environment["CHRONIK_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"

/// Nil when the tests can run; else why not. In CI (`CI=true`) a missing
/// PostgreSQL fails the tests instead of skipping them.
let postgresMissing: String? = {
    guard FileManager.default.isExecutableFile(atPath: postgresBin + "/initdb") else {
        return "PostgreSQL 15 is not installed (\(postgresBin)/initdb missing; apt-get install postgresql)"
    }
    guard getpwnam("postgres") != nil else { return "no `postgres` user" }
    guard getuid() == 0 else { return "the tests start PostgreSQL as `postgres` through runuser, which needs root" }
    return nil
}()

/// Whether to run the PostgreSQL tests: yes when PostgreSQL is there; in CI
/// also when it is not, so that the first test fails loudly.
let postgresAvailable: Bool = {
    if postgresMissing == nil { return true }
    if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
    FileHandle.standardError.write(Data("ChronikPostgresTests skipped: \(postgresMissing!)\n".utf8))
    return false
}()

struct ClusterError: Error, CustomStringConvertible {
    var description: String
}

/// A child started with posix_spawn and reaped with waitpid by its id: no
/// Foundation `Process` (whose SIGCHLD/run-loop reaping never saw `runuser`
/// exit once `pg_ctl start` had left a postmaster behind) and no pipes
/// (a postmaster would hold their write ends). Stdin is /dev/null; stdout
/// and stderr go to files.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private var status: Int32?

    init(_ executable: String, _ arguments: [String], stdout: String, stderr: String? = nil, in directory: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let stderr {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Through env(1) for a working directory: portable across glibc versions.
        var argv = [executable] + arguments
        var path = executable
        if let directory { path = "/usr/bin/env"; argv = ["/usr/bin/env", "-C", directory, "--"] + argv }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let rc = cArgs.withUnsafeBufferPointer { buf in
            posix_spawn(&pid, path, &actions, nil, buf.baseAddress!, environ)
        }
        guard rc == 0 else { throw ClusterError(description: "posix_spawn \(path) failed: \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Nil while running; else the exit code (128 + signal after a signal).
    func poll() -> Int32? {
        if let status { return status }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        guard r == pid else { return nil }
        status = Self.decode(raw)
        return status
    }

    /// Blocks until the child exits; returns its exit code.
    @discardableResult
    func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1 {
            if errno != EINTR { status = -1; return -1 }
        }
        status = Self.decode(raw)
        return status!
    }

    var isRunning: Bool { poll() == nil }

    /// Waits for the child without holding a thread of the task pool (it
    /// polls): a blocked pool thread stalls every in-process server of the
    /// test run. SIGKILL after `timeout`; returns the exit code.
    func exited(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if isRunning { kill(pid, SIGKILL) }
        return wait()
    }

    func terminate() { kill(pid, SIGTERM) }

    private static func decode(_ raw: Int32) -> Int32 {
        raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }
}

/// Runs a command and returns its output; throws on a non-zero exit.
@discardableResult
func sh(_ executable: String, _ arguments: [String], asPostgres: Bool = false, in directory: String? = nil) throws -> String {
    let (path, args) = asPostgres
        ? ("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        : (executable, arguments)
    // Output to a file, not a pipe: `pg_ctl start` leaves the postmaster
    // holding the pipe's write end, and reading it to the end would hang.
    let outPath = NSTemporaryDirectory() + "chronik-pg-sh-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let status = try ChildProcess(path, args, stdout: outPath, in: directory).wait()
    let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw ClusterError(description: "\(executable) \(arguments.joined(separator: " ")) exited \(status): \(text)")
    }
    return text
}

/// One PostgreSQL server (a data directory and a port).
final class PostgresNode: @unchecked Sendable {
    let name: String
    let directory: String
    let port: Int
    let socketDirectory: String

    init(name: String, directory: String, port: Int, socketDirectory: String) {
        self.name = name; self.directory = directory; self.port = port; self.socketDirectory = socketDirectory
    }

    func url(database: String = "postgres") -> String { "postgres://postgres@127.0.0.1:\(port)/\(database)" }

    func pgctl(_ args: [String]) throws {
        try sh(postgresBin + "/pg_ctl", ["-D", directory, "-l", directory + ".log"] + args, asPostgres: true, in: socketDirectory)
    }

    func start() throws { try pgctl(["-w", "-t", "60", "start"]) }
    func stop() throws { try pgctl(["-w", "-m", "fast", "stop"]) }
    func promote() throws { try pgctl(["-w", "-t", "60", "promote"]) }

    /// SIGKILL to the postmaster: a machine that loses power, as far as
    /// clients can tell (its backends exit when they notice).
    func kill9() throws {
        let pidText = try String(contentsOfFile: directory + "/postmaster.pid", encoding: .utf8)
        guard let pid = Int32(pidText.split(separator: "\n").first ?? "") else { throw ClusterError(description: "no pid in postmaster.pid") }
        // The postmaster and every backend at once, by their ids, so that
        // no backend can answer a client after the "crash". The postmaster
        // is stopped first: listed while it runs, a backend it forked for a
        // client reconnecting between the listing and the kill survived it,
        // and that client waited on it (the failover test's appender child
        // that never finished).
        kill(pid, SIGSTOP)
        let children = ((try? sh("/usr/bin/pgrep", ["-P", String(pid)])) ?? "").split(separator: "\n").compactMap { Int32($0) }
        for child in children { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory + "/postmaster.pid")
        usleep(200_000)
    }

    /// Runs SQL through psql; returns its unaligned, tuples-only output.
    @discardableResult
    func psql(_ sql: String, database: String = "postgres") throws -> String {
        try sh("/usr/bin/psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port),
                                 "-U", "postgres", "-d", database, "-c", sql], in: socketDirectory)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates a database of its own for one test.
    func createDatabase(_ name: String) throws -> String {
        try psql("CREATE DATABASE \(name)")
        return url(database: name)
    }
}

/// A primary and a synchronous standby named `s1`.
final class PostgresCluster: @unchecked Sendable {
    let root: String
    let primary: PostgresNode
    let standby: PostgresNode

    /// initdb, configure, start the primary; pg_basebackup the standby and
    /// start it; wait until `pg_stat_replication` shows it as `sync`.
    init() throws {
        if let missing = postgresMissing { throw ClusterError(description: missing) }
        root = NSTemporaryDirectory() + "chronik-pg-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try sh("/bin/chown", ["postgres:postgres", root])
        try sh("/bin/chmod", ["700", root])
        primary = PostgresNode(name: "primary", directory: root + "/primary", port: freePort()!, socketDirectory: root)
        standby = PostgresNode(name: "standby", directory: root + "/standby", port: freePort()!, socketDirectory: root)
        do {
            try sh(postgresBin + "/initdb", ["-A", "trust", "-U", "postgres", "--no-sync", "-D", primary.directory], asPostgres: true, in: root)
            let conf = """

                listen_addresses = '127.0.0.1'
                port = \(primary.port)
                unix_socket_directories = '\(root)'
                wal_level = replica
                max_wal_senders = 8
                max_connections = 200
                shared_buffers = 64MB
                synchronous_standby_names = 'FIRST 1 (s1)'
                synchronous_commit = on
                wal_writer_delay = 1ms
                fsync = on
                """
            try append(conf, to: primary.directory + "/postgresql.conf")
            try append("\nhost replication all 127.0.0.1/32 trust\n", to: primary.directory + "/pg_hba.conf")
            try primary.start()
            try sh(postgresBin + "/pg_basebackup", ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres",
                                                    "-D", standby.directory, "-R", "-X", "stream", "--no-sync"],
                   asPostgres: true, in: root)
            try append("\nport = \(standby.port)\nprimary_conninfo = 'host=127.0.0.1 port=\(primary.port) user=postgres application_name=s1'\n",
                       to: standby.directory + "/postgresql.auto.conf")
            try standby.start()
            try waitForSyncStandby()
        } catch {
            remove()
            throw error
        }
    }

    func append(_ text: String, to path: String) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
    }

    /// Until the primary reports `s1|sync` (at most 30 s).
    func waitForSyncStandby() throws {
        for _ in 0..<300 {
            if (try? primary.psql("SELECT application_name || '|' || sync_state FROM pg_stat_replication")) == "s1|sync" { return }
            usleep(100_000)
        }
        throw ClusterError(description: "standby s1 never became synchronous")
    }

    /// Stops both servers (immediately: the tests need no clean shutdown)
    /// and deletes the directory.
    func remove() {
        for node in [primary, standby] where FileManager.default.fileExists(atPath: node.directory + "/postmaster.pid") {
            try? node.pgctl(["-w", "-m", "immediate", "stop"])
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    deinit { remove() }
}
