// A child process for the multi-process PostgreSQL tests: `appenders`
// concurrent tasks each append `events` single-event batches through one
// PostgresStore and print every acknowledgement as it arrives,
//     ack <event id> <position> <stream> <version>
// on stdout (one line, written at once), so that the test knows exactly
// what was acknowledged even when it kills the database mid-load. An
// appender whose append fails prints `err …` on stderr and stops; the child
// then exits 1.
//
// Usage: ChronikPostgresChild URL APPENDERS EVENTS STREAM-PREFIX
//        ChronikPostgresChild migrate URL   (creates the schema)
//        ChronikPostgresChild bench URL LOGDIR   (Benchmarks/postgres-bench.sh)
//        ChronikPostgresChild reserve URL SKU ATTEMPTS   (the multi-writer guard test)
//        ChronikPostgresChild preload-held URL MASTER-KEY-FILE   (PostgresKeyStoreTests)
import ChronikLog
import ChronikPostgres
import Foundation
import Synchronization

/// One line to stdout or stderr, whole, under a lock; remembers whether an
/// error line was said.
final class Lines: Sendable {
    let sawError = Mutex(false)
    func say(_ line: String, error: Bool = false) {
        sawError.withLock { saw in
            if error { saw = true }
            (error ? FileHandle.standardError : FileHandle.standardOutput).write(Data((line + "\n").utf8))
        }
    }
}

/// Returns whether every append was acknowledged.
func appendConcurrently(url: String, appenders: Int, perAppender: Int, prefix: String) async throws -> Bool {
    let store = try PostgresStore(url: url)
    let lines = Lines()
    await withTaskGroup(of: Void.self) { group in
        for a in 0..<appenders {
            group.addTask {
                let stream = "\(prefix)-\(a % 4)"
                for i in 0..<perAppender {
                    let event = ProposedEvent(type: "Tick", data: Array("{\"a\":\(a),\"i\":\(i)}".utf8))
                    do {
                        let r = try await store.append(to: stream, [event], expected: .any)
                        lines.say("ack \(event.id) \(r.firstPosition) \(stream) \(r.lastVersion)")
                    } catch {
                        lines.say("err \(a) \(error)", error: true)
                        return
                    }
                }
            }
        }
    }
    await store.close()
    return !lines.sawError.withLock { $0 }
}

let args = CommandLine.arguments
if (4...5).contains(args.count), args[1] == "bench", args.count == 4 || ["batches", "concurrent"].contains(args[4]) {
    try await Bench.run(url: args[2], logDirectory: args[3], only: args.count == 5 ? args[4] : nil)
} else if args.count == 3, args[1] == "migrate" {
    let store = try PostgresStore(url: args[2])
    try await store.migrate()
    await store.close()
} else if args.count == 4, args[1] == "preload-held" {
    try await PreloadHeld.run(url: args[2], masterKeyFile: args[3])
} else if args.count == 5, args[1] == "reserve", let attempts = Int(args[4]) {
    try await Reserve.run(url: args[2], sku: args[3], attempts: attempts)
} else if args.count == 5, let appenders = Int(args[2]), let perAppender = Int(args[3]) {
    if try await !appendConcurrently(url: args[1], appenders: appenders, perAppender: perAppender, prefix: args[4]) { exit(1) }
} else {
    FileHandle.standardError.write(Data("usage: ChronikPostgresChild URL APPENDERS EVENTS STREAM-PREFIX | migrate URL | bench URL LOGDIR [batches|concurrent] | reserve URL SKU ATTEMPTS | preload-held URL MASTER-KEY-FILE\n".utf8))
    exit(64)
}
