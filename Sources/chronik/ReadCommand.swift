import ArgumentParser
import ChronikLog

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events: the whole log, or one stream.",
        discussion: """
            Text prints one event per line: position, stream@version, type, \
            time (occurredAt) and data. --json prints one object per line with \
            the keys position, stream, version, id, type, time, recordedAt, \
            data and meta — the same shape append reads, so

              chronik read --json --log a | chronik append --log b

            copies a log's events (keeping their ids and times).

            Opens the log read-only: it works beside a running writer and on a \
            read-only directory.

            Examples:
              chronik read --stream order-42
              chronik read --from 1000 --limit 20 --json
              chronik read --backward --limit 5

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("Read only this stream.", valueName: "name"))
    var stream: String?

    @Option(help: ArgumentHelp(
        "Start at this position (or, with --stream, this stream version); backward reads start at the last event.",
        valueName: "n"))
    var from: UInt64?

    @Option(help: ArgumentHelp("Print at most this many events.", valueName: "n"))
    var limit: Int?

    @Flag(help: "Read from newest to oldest.")
    var backward = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, got \(limit)") }
        if let stream, stream.isEmpty { throw ValidationError("--stream needs a stream name") }
    }

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let direction: ReadDirection = backward ? .backward : .forward
        let cursor = if let stream {
            log.read(stream: stream, from: from.map(StreamVersion.init), direction: direction)
        } else {
            log.readAll(from: from.map(Position.init), direction: direction)
        }
        let out = Output()
        var printed = 0
        let max = limit ?? .max
        while printed < max, let e = try cursor.next() {
            out.line(options.json ? eventJSON(e) : eventText(e))
            printed += 1
        }
        out.flush()
    }
}
