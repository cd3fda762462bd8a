import ArgumentParser
import ChronikLog

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the last events; with -f, keep printing new ones as they are appended.",
        discussion: """
            Prints the last --lines events (default 10), or every event from \
            --from on. With -f it then follows the log: it opens the log \
            read-only and polls for what the writing process commits, printing \
            each event as soon as it is durable, in position order, until \
            interrupted (Ctrl-C). Output is flushed after every event, so a \
            pipe sees it at once.

            Examples:
              chronik tail
              chronik tail -f --json | jq .type
              chronik tail -f --stream order-42 --from 0

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(name: [.customShort("n"), .long], help: ArgumentHelp("Print this many of the last events.", valueName: "n"))
    var lines = 10

    @Option(help: ArgumentHelp("Start at this position instead (with --stream: this stream version).", valueName: "n"))
    var from: UInt64?

    @Option(help: ArgumentHelp("Only this stream's events.", valueName: "name"))
    var stream: String?

    @Flag(name: [.customShort("f"), .long], help: "Keep running and print events as they are appended.")
    var follow = false

    @Option(name: .customLong("poll-ms"), help: ArgumentHelp("With -f: how often to look for new events, in milliseconds.",
                                                             valueName: "ms"))
    var pollMilliseconds = 100

    func validate() throws {
        guard lines >= 0 else { throw ValidationError("--lines must be 0 or more, got \(lines)") }
        guard (1...60_000).contains(pollMilliseconds) else { throw ValidationError("--poll-ms must be 1...60000") }
        if let stream, stream.isEmpty { throw ValidationError("--stream needs a stream name") }
    }

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let start = try startPosition(in: log)
        let out = Output()
        func emit(_ e: RecordedEvent) {
            out.line(options.json ? eventJSON(e) : eventText(e))
        }
        if !follow {
            let cursor = log.readAll(from: start)
            while let e = try cursor.next() {
                if stream == nil || e.stream == stream { emit(e) }
            }
            out.flush()
            return
        }
        for try await e in log.subscribe(from: start, pollInterval: .milliseconds(pollMilliseconds)) {
            guard stream == nil || e.stream == stream else { continue }
            emit(e)
            out.flush()
        }
    }

    /// The position to print from: --from, or far enough back for --lines.
    private func startPosition(in log: EventLog) throws -> Position {
        if let stream {
            if let from {
                // The position of that version, or the stream's end (then
                // only later events, which -f waits for).
                let at = try log.read(stream: stream, from: StreamVersion(from)).next()
                return at?.position ?? log.head
            }
            guard lines > 0 else { return log.head }
            let recent = try log.read(stream: stream, direction: .backward).collect(limit: lines)
            return recent.last?.position ?? log.head
        }
        if let from { return Position(from) }
        let head = log.head.value
        return Position(head - min(head, UInt64(lines)))
    }
}
