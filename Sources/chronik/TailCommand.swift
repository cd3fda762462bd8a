import ArgumentParser
import ChronikLog

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the last events; with -f, keep printing new ones as they are appended.",
        discussion: """
            Prints the last --limit events, or every event from --from on (a \
            position, with --stream a stream version, or an RFC 3339 time \
            compared with the event's time). Commerce events are printed \
            decoded, as chronik read prints them. With -f it then follows \
            the log: it opens the log read-only and polls for what the \
            writing process commits, printing \
            each event as soon as it is durable, in position order, until \
            interrupted (Ctrl-C). Output is flushed after every event, so a \
            pipe sees it at once.

            Without -f, an unknown --stream is an error; with -f, tail waits \
            for the stream's first event.

            Examples:
              $ chronik tail
              $ chronik tail --limit 3 --json
              $ chronik tail -f --json | jq .type
              $ chronik tail -f --stream order-NW1000001 --from 0

            Exit status: 0 success, 1 failure (also: no such stream), 64 usage \
            error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    @Option(name: [.customLong("limit"), .customShort("n"), .customLong("lines")], parsing: .unconditional,
            help: ArgumentHelp("Print this many of the last events (default 10; -n and --lines are aliases).", valueName: "n"))
    var limitOption: Int?

    /// The events to print back from the head (default 10).
    var limit: Int { limitOption ?? 10 }

    @Option(help: ArgumentHelp("Start at this position (with --stream: stream version) or RFC 3339 time instead.",
                               valueName: "position|time"))
    var from: PositionOrTime?

    @Option(help: ArgumentHelp("Only this stream's events.", valueName: "name"))
    var stream: String?

    @Flag(name: [.customShort("f"), .long], help: "Keep running and print events as they are appended.")
    var follow = false

    @Option(name: .customLong("poll-ms"), parsing: .unconditional, help: ArgumentHelp("With -f: how often to look for new events, in milliseconds.",
                                                             valueName: "ms"))
    var pollMilliseconds = 100

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be 0 or more, got \(limit)") }
        if limitOption != nil, from != nil {
            // Stop 32: --from with -n printed everything from --from, -n unsaid.
            throw ValidationError("--from prints every event from there on and --limit counts back from the head: give one (a page from a position: chronik read --from X --limit N)")
        }
        guard (1...60_000).contains(pollMilliseconds) else { throw ValidationError("--poll-ms must be 1...60000") }
        if let stream, stream.isEmpty { throw ValidationError("--stream needs a stream name") }
    }

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        if let stream, log.lastVersion(of: stream) == nil {
            guard follow else { try requireStream(stream, in: log); return }
            options.note("chronik: note: stream \(stream) has no events yet; waiting for its first")
        }
        let start = try startPosition(in: log)
        let out = Output()
        let printer = EventPrinter(json: options.json, note: options.note) {
            try keyOptions.existingVault(for: log, note: options.note, quiet: options.quiet)
        }
        let since = from?.time
        func emit(_ e: RecordedEvent) throws {
            if let since, e.occurredAt < since { return }
            out.line(try printer.line(e))
        }
        if !follow {
            let cursor = log.readAll(from: start)
            while let e = try cursor.next() {
                if stream == nil || e.stream == stream { try emit(e) }
            }
            out.flush()
            return
        }
        for try await e in log.subscribe(from: start, pollInterval: .milliseconds(pollMilliseconds)) {
            guard stream == nil || e.stream == stream else { continue }
            try emit(e)
            out.flush()
        }
    }

    /// The position to print from: --from, or far enough back for --limit
    /// (from the start for a --from time: event times need not follow
    /// positions).
    private func startPosition(in log: EventLog) throws -> Position {
        if from?.time != nil { return .start }
        let from = from?.position
        if let stream {
            if let from {
                // The position of that version, or the stream's end (then
                // only later events, which -f waits for).
                let at = try log.read(stream: stream, from: StreamVersion(from)).next()
                return at?.position ?? log.head
            }
            guard limit > 0 else { return log.head }
            let recent = try log.read(stream: stream, direction: .backward).collect(limit: limit)
            return recent.last?.position ?? log.head
        }
        if let from { return Position(from) }
        let head = log.head.value
        return Position(head - min(head, UInt64(limit)))
    }
}
