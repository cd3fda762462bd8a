import ArgumentParser
import ChronikAudit
import ChronikLog
import ChronikPostgres

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events: the whole log, or one stream.",
        discussion: """
            Text prints one event per line: position, stream@version, type, \
            time (occurredAt) and data. --json prints one object per line with \
            the keys position, stream, version, id, type, time, recordedAt, \
            data and meta.

            A commerce event's data is printed decoded, as chronik export \
            writes it; its personal data is opened with the key store \
            (--keys), and reads as ‹erased› (JSON: null) when the customer \
            is forgotten or there is no key store. Other events' data is \
            printed as stored. read is for looking; to copy a log, use \
            chronik export | chronik import.

            --from and --to take a position (with --stream: a stream version) \
            or an RFC 3339 time, compared with the event's time. Both are \
            inclusive and follow the reading direction: --backward --from 20 \
            --to 10 prints 20 down to 10.

            Opens the log read-only: it works beside a running writer and on a \
            read-only directory.

            Examples:
              $ chronik read --stream order-NW1000001
              $ chronik read --from 1000 --limit 20 --json
              $ chronik read --backward --limit 5
              $ chronik read --from 2025-01-05T00:00:00Z --limit 3

            With a PostgreSQL server (ChronikPostgresTests runs this):
              chronik read --store postgres://chronik@db:5432/shop --stream stock-P1-42 --json

            Exit status: 0 success, 1 failure (also: no such stream), 64 usage \
            error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions
    @OptionGroup var storeOptions: StoreOptions

    @Option(help: ArgumentHelp("Read only this stream.", valueName: "name"))
    var stream: String?

    @Option(help: ArgumentHelp(
        "Start at this position (with --stream: stream version) or time; backward reads start at the last event.",
        valueName: "position|time"))
    var from: PositionOrTime?

    @Option(help: ArgumentHelp("Stop after this position (with --stream: stream version) or time.",
                               valueName: "position|time"))
    var to: PositionOrTime?

    @Option(parsing: .unconditional, help: ArgumentHelp("Print at most this many events.", valueName: "n"))
    var limit: Int?

    @Flag(help: "Read from newest to oldest.")
    var backward = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, got \(limit)") }
        if let stream, stream.isEmpty { throw ValidationError("--stream needs a stream name") }
        try validateRange(from: from, to: to, backward: backward)
        try storeOptions.validate(with: options, notWith: [("--keys", keyOptions.keys != nil)])
    }

    func run() async throws {
        if let url = storeOptions.store { return try await readStore(url) }
        let log = try options.openForReading()
        defer { try? log.close() }
        if let stream { try requireStream(stream, in: log) }
        // Keys lost, not destroyed: said once, at the end (stop 35).
        let missing = MissingKeys()
        defer { if let w = missing.warning { options.note("chronik: warning: \(w)") } }
        let direction: ReadDirection = backward ? .backward : .forward
        let start = from?.position
        let cursor = if let stream {
            log.read(stream: stream, from: start.map(StreamVersion.init), direction: direction)
        } else {
            log.readAll(from: start.map(Position.init), direction: direction)
        }
        let range = ReadRange(from: from, to: to, backward: backward, byVersion: stream != nil)
        let out = Output()
        if options.json && OutputWorkers.count > 1 {
            if stream == nil, !backward, from?.time == nil, to?.time == nil {
                try readJSONBlocksInParallel(log, out, missing)
            } else {
                try readJSONInParallel(log, cursor, range, out, missing)
            }
            return
        }
        let printer = EventPrinter(json: options.json, note: options.note) {
            try keyOptions.existingVault(for: log, note: options.note, missing: missing, quiet: options.quiet)
        }
        var printed = 0
        let max = limit ?? .max
        while printed < max, let e = try cursor.next() {
            if range.isPast(e) { break }
            guard range.contains(e) else { continue }
            try printer.print(e, on: out)
            printed += 1
        }
        out.flush()
    }
}

extension Read {
    /// The loop of `run` for `--json` on every core (`writeLinesInParallel`):
    /// the cursor, range and limit on this thread, the lines formatted by
    /// the workers, each with its own `EventPrinter` and one key store
    /// opened for all; the same bytes, notes and first error.
    func readJSONInParallel(_ log: EventLog, _ cursor: EventCursor, _ range: ReadRange, _ out: Output, _ missing: MissingKeys) throws {
        let keyOptions = keyOptions, options = options
        let vault = OpenOnce { note in try keyOptions.existingVault(for: log, note: note, missing: missing, quiet: options.quiet) }
        var printed = 0
        var done = false
        let max = limit ?? .max
        defer { out.flush() }
        try writeLinesInParallel(
            next: {
                while !done, printed < max, let e = try cursor.next() {
                    if range.isPast(e) { break }
                    guard range.contains(e) else { continue }
                    printed += 1
                    return e
                }
                done = true
                return nil
            },
            makeFormatter: { note in
                let printer = EventPrinter(json: true, note: note) { try vault.get(note: note) }
                return { e, w in try printer.write(e, to: &w) }
            },
            note: options.note,
            emit: { lines, _ in out.write(lines) })
    }
}

extension Read {
    /// `readJSONInParallel` of the whole log forward, between positions:
    /// blocks of decoded batches go to the workers, which format straight
    /// from the stored bytes (no `RecordedEvent`, no array per event).
    func readJSONBlocksInParallel(_ log: EventLog, _ out: Output, _ missing: MissingKeys) throws {
        let keyOptions = keyOptions
        let vault = OpenOnce { note in try keyOptions.existingVault(for: log, note: note, missing: missing, quiet: options.quiet) }
        defer { out.flush() }
        // --to is inclusive; the limit counts the events printed.
        _ = try writeLinesInParallel(
            log, from: from?.position ?? 0, through: to?.position, limit: limit,
            makeFormatter: { note in
                let printer = EventPrinter(json: true, note: note) { try vault.get(note: note) }
                return { e, w in try printer.write(e, to: &w) }
            },
            note: options.note,
            emit: { lines, _ in out.write(lines) })
    }
}

/// An unknown stream is an error, not an empty answer (a typo would
/// otherwise look like a stream without events).
func requireStream(_ stream: String, in log: EventLog) throws {
    guard log.lastVersion(of: stream) == nil else { return }
    throw CommandFailure("no stream \(stream) in this log (\(log.directory))")
}

/// --from after --to in the reading direction selects nothing: a usage
/// error. `backward`: nil for a command that reads forward only.
func validateRange(from: PositionOrTime?, to: PositionOrTime?, backward: Bool?) throws {
    let reversed: Bool
    let back = backward ?? false
    switch (from?.bound, to?.bound) {
    case (.position(let f)?, .position(let t)?): reversed = back ? f < t : f > t
    case (.time(let f)?, .time(let t)?): reversed = back ? f < t : f > t
    default: reversed = false
    }
    if reversed {
        throw ValidationError(back ? "with --backward, --from is the later end: --from must not be before --to"
                                   : "--from must not be after --to" + (backward == nil ? "" : " (use --backward to read newest first)"))
    }
}

/// Which events --from and --to select, in the reading direction: a
/// position bound (a stream version with --stream) ends the read, a time
/// bound filters by the event's time.
struct ReadRange {
    var from: PositionOrTime?
    var to: PositionOrTime?
    var backward: Bool
    /// Position bounds are stream versions.
    var byVersion: Bool

    private func index(_ e: RecordedEvent) -> UInt64 { byVersion ? e.version.value : e.position.value }

    /// Whether `e` and every later event of the read lie past the --to position.
    func isPast(_ e: RecordedEvent) -> Bool {
        guard let end = to?.position else { return false }
        return backward ? index(e) < end : index(e) > end
    }

    /// Whether `e`'s time lies within the time bounds.
    func contains(_ e: RecordedEvent) -> Bool {
        let t = e.occurredAt
        if let start = from?.time, backward ? t > start : t < start { return false }
        if let end = to?.time, backward ? t < end : t > end { return false }
        return true
    }
}

extension Read {
    /// `read --store`: the same selection and output, read from a
    /// PostgreSQL store in pages. No key store: personal data reads as
    /// erased, as in a log without one.
    func readStore(_ url: String) async throws {
        try await storeOptions.withStore(url) { store in
            if let stream { try await requireStream(stream, in: store) }
            // Said once, at the first sealed field (stop 43, a helper: a
            // customer not erased read as ‹erased› without a word).
            let printer = EventPrinter(json: options.json, note: options.note) { [options] in
                options.note("chronik: note: read --store opens no personal data: it reads as erased here; "
                             + "chronik export --store URL --master-key FILE writes it in clear")
                return nil
            }
            let range = ReadRange(from: from, to: to, backward: backward, byVersion: stream != nil)
            let out = Output()
            var printed = 0
            let max = limit ?? .max
            guard max > 0 else { return }
            let visit: (RecordedEvent) throws -> Bool = { e in
                if range.isPast(e) { return false }
                guard range.contains(e) else { return true }
                try printer.print(e, on: out)
                printed += 1
                return printed < max
            }
            if backward {
                let last: UInt64? = if let stream {
                    try await store.lastVersion(of: stream)?.value
                } else {
                    try await store.headPosition().value.checkedPredecessor
                }
                if let last { try await readBackward(store, stream: stream, from: Swift.min(from?.position ?? last, last), visit) }
            } else {
                try await readForward(store, stream: stream, from: from?.position ?? 0, visit)
            }
            out.flush()
        }
    }
}

extension UInt64 {
    /// `self - 1`, nil for 0.
    var checkedPredecessor: UInt64? { self == 0 ? nil : self - 1 }
}
