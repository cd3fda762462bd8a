import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write events as JSON Lines (EVENTS.md export form) to stdout.",
        discussion: """
            Every event in log order, or those of --stream (repeatable), of \
            --type (repeatable), and from --from to --to (inclusive): a \
            position (an integer) or an RFC 3339 time, compared with the \
            event's time. Unknown types are exported untouched. The output \
            imports again (chronik import) into the same events.

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    @Option(help: ArgumentHelp("Only this stream (repeatable).", valueName: "name"))
    var stream: [String] = []

    @Option(help: ArgumentHelp("Only this event type (repeatable).", valueName: "type"))
    var type: [String] = []

    @Option(help: ArgumentHelp("From this position or RFC 3339 time, inclusive.", valueName: "position|time"))
    var from: String?

    @Option(help: ArgumentHelp("Up to this position or RFC 3339 time, inclusive.", valueName: "position|time"))
    var to: String?

    @Option(help: ArgumentHelp("Output format: jsonl (csv is planned).", valueName: "format"))
    var format = "jsonl"

    func validate() throws {
        guard format == "jsonl" else { throw ValidationError("--format must be jsonl, got \(format)") }
        for (name, v) in [("--from", from), ("--to", to)] {
            if let v, ExportFilter.Bound(argument: v) == nil {
                throw ValidationError("\(name) must be a position (an integer ≥ 0) or an RFC 3339 time, got \(v)")
            }
        }
    }

    func run() throws {
        let log = try options.openForReading()
        defer { log.close() }
        let filter = ExportFilter(streams: stream.isEmpty ? nil : Set(stream), types: type.isEmpty ? nil : Set(type),
                                  from: from.flatMap(ExportFilter.Bound.init(argument:)),
                                  to: to.flatMap(ExportFilter.Bound.init(argument:)))
        do {
            let vault = try keyOptions.existingVault(forLog: options.directory(), note: options.note)
            let n = try filter.export(log, protector: vault) { bytes in writeStandardOutput(bytes) }
            options.note("chronik: exported \(n) event\(n == 1 ? "" : "s")")
        } catch let e as CommerceError {
            throw CommandFailure(e.description)
        }
    }
}

/// write(2) of every byte to stdout; stops silently when the reader is gone
/// (EPIPE: `chronik export | head`).
private func writeStandardOutput(_ bytes: [UInt8]) {
    var done = 0
    bytes.withUnsafeBytes { raw in
        while done < raw.count {
            let n = write(STDOUT_FILENO, raw.baseAddress! + done, raw.count - done)
            if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
}
