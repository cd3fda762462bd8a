import ArgumentParser
import ChronikAudit
import ChronikCommerce
import ChronikLog
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write events as JSON Lines (EVENTS.md export form) or CSV to stdout.",
        discussion: """
            Every event in log order, or those of --stream (repeatable), of \
            --type (repeatable), and from --from to --to (inclusive): a \
            position (an integer) or an RFC 3339 time, compared with the \
            event's time; --from-time/--to-time take a time only. Unknown \
            types are exported untouched. The JSON Lines output imports again \
            (chronik import) into the same events.

            For auditors: --audit adds to each JSON line a last key \
            "chainHash", the chain hash of the batch holding the event; the \
            line of the last event before a digest's position carries the \
            digest's chain hash (docs/AUDIT.md). --format csv (RFC 4180, CRLF \
            lines, a header line) always has the columns position, stream, \
            version, type, id, time, recordedAt, chainHash, data, meta (data \
            and meta as compact JSON). chronik import refuses the chainHash \
            key: import the plain export.

            Examples:
              chronik export --stream order-42
              chronik export --audit --from-time 2026-11-01T00:00:00Z --to-time 2026-11-30T23:59:59Z
              chronik export --format csv --type OrderPlaced > orders.csv

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

    @Option(name: .customLong("from-time"), help: ArgumentHelp("Only events at or after this RFC 3339 time.", valueName: "time"))
    var fromTime: String?

    @Option(name: .customLong("to-time"), help: ArgumentHelp("Only events at or before this RFC 3339 time.", valueName: "time"))
    var toTime: String?

    @Option(help: ArgumentHelp("Output format: jsonl or csv.", valueName: "format"))
    var format = "jsonl"

    @Flag(help: "Add the batch's chain hash (\"chainHash\") to each JSON line.")
    var audit = false

    func validate() throws {
        guard AuditExport.Format(rawValue: format) != nil else { throw ValidationError("--format must be jsonl or csv, got \(format)") }
        for (name, v) in [("--from", from), ("--to", to)] {
            if let v, ExportFilter.Bound(argument: v) == nil {
                throw ValidationError("\(name) must be a position (an integer ≥ 0) or an RFC 3339 time, got \(v)")
            }
        }
        for (name, v) in [("--from-time", fromTime), ("--to-time", toTime)] {
            if let v, Timestamp(rfc3339: v) == nil { throw ValidationError("\(name) must be an RFC 3339 time, got \(v)") }
        }
        if fromTime != nil, case .time? = from.flatMap(ExportFilter.Bound.init(argument:)) {
            throw ValidationError("give the start time once: --from TIME or --from-time TIME")
        }
        if toTime != nil, case .time? = to.flatMap(ExportFilter.Bound.init(argument:)) {
            throw ValidationError("give the end time once: --to TIME or --to-time TIME")
        }
        if audit && format == "csv" { throw ValidationError("--audit is for jsonl; csv always has the chainHash column") }
    }

    /// The audit form: CSV, chain hashes, or a time window given with
    /// --from-time/--to-time (the plain form keeps its old, byte-for-byte path).
    var auditExport: AuditExport? {
        guard format == "csv" || audit || fromTime != nil || toTime != nil else { return nil }
        var x = AuditExport(format: AuditExport.Format(rawValue: format) ?? .jsonl, chainHashes: audit,
                            streams: stream.isEmpty ? nil : Set(stream), types: type.isEmpty ? nil : Set(type))
        switch from.flatMap(ExportFilter.Bound.init(argument:)) {
        case .position(let p)?: x.fromPosition = p
        case .time(let t)?: x.fromTime = t
        case nil: break
        }
        switch to.flatMap(ExportFilter.Bound.init(argument:)) {
        case .position(let p)?: x.toPosition = p
        case .time(let t)?: x.toTime = t
        case nil: break
        }
        if let fromTime { x.fromTime = Timestamp(rfc3339: fromTime) }
        if let toTime { x.toTime = Timestamp(rfc3339: toTime) }
        return x
    }

    func run() throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let vault = try keyOptions.existingVault(for: log, note: options.note)
        if let x = auditExport {
            do {
                let n = try x.export(log, protector: vault) { bytes in writeStandardOutput(bytes) }
                options.note("chronik: exported \(n) event\(n == 1 ? "" : "s")")
            } catch let e as CommerceError {
                throw CommandFailure(e.description)
            }
            return
        }
        let filter = ExportFilter(streams: stream.isEmpty ? nil : Set(stream), types: type.isEmpty ? nil : Set(type),
                                  from: from.flatMap(ExportFilter.Bound.init(argument:)),
                                  to: to.flatMap(ExportFilter.Bound.init(argument:)))
        do {
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
