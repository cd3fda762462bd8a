import ArgumentParser
import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikPostgres
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write events as JSON Lines (EVENTS.md export form) or CSV to stdout.",
        discussion: """
            Every event in log order, or those of --stream (repeatable), of \
            --type (repeatable), and from --from to --to (inclusive): a \
            position (an integer) or an RFC 3339 time, compared with the \
            event's time (--from-time/--to-time are aliases that take a time \
            only); at most --limit events. A --stream the log does not hold \
            is an error, and so is a --type that is neither a commerce type \
            (EVENTS.md) nor in the log (it lists the known types). Events of types \
            Chronik does not know are exported untouched. The JSON Lines \
            output imports again (chronik import) into the same events \
            (but for an unknown type's data that is not a JSON object, which \
            chronik append takes and import refuses: chronik backup copies \
            such a log).

            For auditors: --audit adds to each JSON line a last key \
            "chainHash", the chain hash of the batch holding the event; the \
            line of the last event before a digest's position carries the \
            digest's chain hash (docs/AUDIT.md). --format csv (RFC 4180, CRLF \
            lines, a header line) always has the columns position, stream, \
            version, type, id, time, recordedAt, chainHash, data, meta (data \
            and meta as compact JSON). chronik import refuses the chainHash \
            key: import the plain export.

            Personal data is opened with the log's key store (--keys, default \
            the log's path + .keys). A log holding sealed personal data without \
            its key store is refused (nothing written): an export is a backup. \
            --without-personal-data writes it as null instead, for a reader who \
            must not see it.

            Examples:
              $ chronik export --stream order-NW1000001
              $ chronik export --type OrderPlaced --limit 3
              $ chronik export --audit --from 2025-01-05T00:00:00Z --to 20000
              $ chronik export --format csv --type OrderPlaced > orders.csv
              $ chronik export --log shop > shop.jsonl
              $ chronik import --log shop-copy shop.jsonl

            With --store the events come from a PostgreSQL store, in the \
            same JSON Lines (--audit and --format csv need a log \
            directory's chain hashes: mirror the store first, chronik \
            mirror). With a PostgreSQL server (ChronikPostgresTests runs it):
              chronik export --store postgres://chronik@db:5432/shop > shop.jsonl

            Exit status: 0 success, 1 failure (also: an unknown stream or \
            type), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions
    @OptionGroup var storeOptions: StoreOptions

    @Option(help: ArgumentHelp("Only this stream (repeatable).", valueName: "name"))
    var stream: [String] = []

    @Option(help: ArgumentHelp("Only this event type (repeatable).", valueName: "type"))
    var type: [String] = []

    @Option(help: ArgumentHelp("From this position or RFC 3339 time, inclusive.", valueName: "position|time"))
    var from: String?

    @Option(help: ArgumentHelp("Up to this position or RFC 3339 time, inclusive.", valueName: "position|time"))
    var to: String?

    @Option(name: .customLong("from-time"), help: ArgumentHelp("Alias of --from with a time.", valueName: "time"))
    var fromTime: String?

    @Option(name: .customLong("to-time"), help: ArgumentHelp("Alias of --to with a time.", valueName: "time"))
    var toTime: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Write at most this many events.", valueName: "n"))
    var limit: Int?

    @Option(help: ArgumentHelp("Output format: jsonl or csv.", valueName: "format"))
    var format = "jsonl"

    @Flag(help: "Add the batch's chain hash (\"chainHash\") to each JSON line.")
    var audit = false

    @Option(name: .customLong("master-key"), help: ArgumentHelp(
        "With --store: the master key file that opens personal data (as serve --store --master-key).", valueName: "file"))
    var masterKey: String?

    @Flag(name: .customLong("without-personal-data"), help: ArgumentHelp(
        "Write every customer's personal data as null, with or without a key store (for a reader who must not see it; such an export does not import again)."))
    var withoutPersonalData = false

    func validate() throws {
        guard AuditExport.Format(rawValue: format) != nil else { throw ValidationError("--format must be jsonl or csv, got \(format)") }
        for (name, v) in [("--from", from), ("--to", to)] {
            if let v, ExportFilter.Bound(argument: v) == nil {
                // A time refused for a reason of its own says it (stop 39: a
                // 7-digit fraction read "must be … an RFC 3339 time").
                let why = v.contains("T") || v.contains("t") ? ": it " + Timestamp.rfc3339Refusal(v) : ""
                throw ValidationError("\(name) must be a position (an integer ≥ 0) or an RFC 3339 time, got \(v)\(why)")
            }
        }
        for (name, v) in [("--from-time", fromTime), ("--to-time", toTime)] {
            if let v, Timestamp(rfc3339: v) == nil {
                throw ValidationError("\(name) must be an RFC 3339 time, got \(v): it \(Timestamp.rfc3339Refusal(v))")
            }
        }
        if fromTime != nil, case .time? = from.flatMap(ExportFilter.Bound.init(argument:)) {
            throw ValidationError("give the start time once: --from TIME or --from-time TIME")
        }
        if toTime != nil, case .time? = to.flatMap(ExportFilter.Bound.init(argument:)) {
            throw ValidationError("give the end time once: --to TIME or --to-time TIME")
        }
        if audit && format == "csv" { throw ValidationError("--audit is for jsonl; csv always has the chainHash column") }
        if options.json && format == "csv" { throw ValidationError("--json is for jsonl; --format csv prints CSV") }
        // Two positions, or two times, in the wrong order select nothing:
        // said, as `read` says it (stop 32: `export --from 5 --to 2` printed
        // "exported 0 events").
        try validateRange(from: from.flatMap(PositionOrTime.init(argument:)), to: to.flatMap(PositionOrTime.init(argument:)),
                          backward: nil)
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, got \(limit)") }
        if masterKey != nil, storeOptions.store == nil {
            throw ValidationError("--master-key goes with --store; a log directory's keys are --keys DIR")
        }
        if masterKey != nil, withoutPersonalData { throw ValidationError("--master-key opens personal data, --without-personal-data leaves it out: give one") }
        try storeOptions.validate(with: options, notWith: [("--keys", keyOptions.keys != nil), ("--audit", audit),
                                                           ("--format csv", format == "csv")])
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
        x.limit = limit
        return x
    }

    func run() async throws {
        if let url = storeOptions.store { return try await exportStore(url) }
        let log = try options.openForReading()
        defer { try? log.close() }
        try checkFilters(log)
        let vault = try personalDataVault(log)
        if let x = auditExport {
            do {
                let n = try x.export(log, protector: vault) { bytes in writeStandardOutput(bytes) }
                options.note("chronik: exported \(n) event\(n == 1 ? "" : "s")")
            } catch let e as CommerceError {
                throw CommandFailure(e.description)
            }
            try Self.refuseMissingKeys(vault, log: log)
            return
        }
        var filter = ExportFilter(streams: stream.isEmpty ? nil : Set(stream), types: type.isEmpty ? nil : Set(type),
                                  from: from.flatMap(ExportFilter.Bound.init(argument:)),
                                  to: to.flatMap(ExportFilter.Bound.init(argument:)))
        filter.limit = limit
        do {
            let n = if OutputWorkers.count > 1 {
                try exportInParallel(filter, from: log, protector: vault)
            } else {
                try filter.export(log, protector: vault) { bytes in writeStandardOutput(bytes) }
            }
            options.note("chronik: exported \(n) event\(n == 1 ? "" : "s")")
        } catch let e as CommerceError {
            throw CommandFailure(e.description)
        }
        try Self.refuseMissingKeys(vault, log: log)
    }

    /// The key store that opens the personal data. A log that holds
    /// sealed personal data and has no key store is refused before a line
    /// is written, unless --without-personal-data says that null is meant
    /// (stop 38, a migration: a log copied without its .keys exported null
    /// for every customer with exit 0, a backup that did not import).
    func personalDataVault(_ log: EventLog) throws -> SubjectKeyVault? {
        if withoutPersonalData {
            noteWithoutPersonalData()
            return nil
        }
        var noKeyStore: String?
        let vault = try keyOptions.existingVault(for: log, note: { noKeyStore = $0 }, quiet: options.quiet)
        if vault == nil, noKeyStore != nil {
            throw Self.nullRefusal("no key store at \(keyOptions.directory(forLog: log.directory)), and this log holds sealed personal data",
                                   give: "the log's key store (--keys DIR)")
        }
        return vault
    }

    func noteWithoutPersonalData() {
        options.note("chronik: note: personal data is written as null (--without-personal-data): this export will not import again")
    }

    /// An export refused because its personal data would be null: `why`,
    /// and what opens it.
    static func nullRefusal(_ why: String, give: String) -> CommandFailure {
        CommandFailure("\(why): every customer's would be written as null, an export that does not import again; nothing was written. "
                       + "Give \(give), or --without-personal-data for an export without it")
    }

    /// An export is a backup: one whose personal data is null for lack of
    /// a key (not an erasure) fails, after writing, naming the subjects.
    /// So does one with a customer's key destroyed whose `CustomerForgotten`
    /// is not in the log (a key store newer than the log, or an erasure
    /// between a backup's two copies): the export would not import again
    /// (stop 37, an operator's restores: it exited 0).
    static func refuseMissingKeys(_ vault: SubjectKeyVault?, log: EventLog) throws {
        if let warning = vault?.missing?.warning {
            throw CommandFailure("the export is incomplete: \(warning)")
        }
        let unsaid = try customersErasedWithoutEvent(vault?.missing?.erased ?? [], in: log)
        guard !unsaid.isEmpty else { return }
        let named = unsaid.prefix(5).joined(separator: ", ") + (unsaid.count > 5 ? " and \(unsaid.count - 5) more" : "")
        throw CommandFailure("the export will not import: the key store has destroyed the keys of \(unsaid.count) customer\(unsaid.count == 1 ? "" : "s") "
                             + "whose CustomerForgotten is not in the log (\(named)): a key store newer than the log? "
                             + "chronik forget customer ID for each writes the event, or use the key store that goes with this log")
    }
}

/// `ExportFilter.export(_:protector:to:)` on every core
/// (`writeLinesInParallel`): the same events read on this thread, their
/// lines formatted by the workers, and the same bytes on stdout — also
/// when an event fails (`ExportChunks`).
///
/// - Returns: the number of events written.
func exportInParallel(_ filter: ExportFilter, from log: EventLog, protector: SubjectKeyVault?) throws -> Int {
    let start: Position? = if case .position(let p)? = filter.from { Position(p) } else { nil }
    // The vault as the protocol once: a `SubjectKeyVault` does not fit an
    // existential's inline buffer, so converting it for every event
    // allocated a box per line (profile of `export`, stop 26).
    let opener: (any PIIProtector)? = protector
    var out = ExportChunks()
    defer { out.finish() }  // also when an event fails: every line before it
    let byTime = { (b: ExportFilter.Bound?) -> Bool in if case .time? = b { true } else { false } }
    if filter.streams == nil, filter.types == nil, !byTime(filter.from), !byTime(filter.to) {
        // Between positions: blocks of decoded batches to the workers,
        // which write each line from the stored bytes (no `RecordedEvent`).
        let last: UInt64? = if case .position(let p)? = filter.to { p } else { nil }
        return try writeLinesInParallel(
            log, from: start?.value ?? 0, through: last, limit: filter.limit,
            makeFormatter: { _ in { e, w in try CommerceExport.write(e, to: &w, protector: opener, upcasters: .standard) } },
            note: { _ in },
            emit: { lines, ends in out.add(lines, lineEnds: ends) })
    }
    let cursor = if let streams = filter.streams, streams.count == 1, let only = streams.first {
        log.read(stream: only)
    } else {
        log.readAll(from: start)
    }
    let limit = filter.limit ?? .max
    var count = 0
    var done = false
    try writeLinesInParallel(
        next: {
            while !done, count < limit, let e = try cursor.next() {
                if case .position(let p)? = filter.to, e.position.value > p { break }
                guard filter.matches(e) else { continue }
                count += 1
                return e
            }
            done = true
            return nil
        },
        makeFormatter: { _ in
            { e, w in try CommerceExport.write(e, to: &w, protector: opener, upcasters: .standard) }
        },
        note: { _ in },
        emit: { lines, ends in out.add(lines, lineEnds: ends) })
    return count
}

/// The stdout of `ExportFilter.export`, which hands its lines on in chunks
/// of at least 64 KiB (and the rest at the end, also when an event fails):
/// lines given in larger pieces are written up to the last point where
/// that export would have flushed, the rest is kept for `finish` — so
/// stdout gets the same writes as from the one-thread export.
struct ExportChunks {
    /// The lines after the last flush point.
    private var carry: [UInt8] = []
    private static let chunk = 1 << 16

    init() { carry.reserveCapacity(Self.chunk * 2) }

    /// Whole lines, `lineEnds` the offset after each newline.
    mutating func add(_ lines: [UInt8], lineEnds: [Int]) {
        var buffered = carry.count
        var start = 0
        var flushed = 0
        for end in lineEnds where buffered + (end - start) >= Self.chunk {
            flushed = end
            start = end
            buffered = 0
        }
        if flushed > 0 {
            writeStandardOutput(carry)
            carry.removeAll(keepingCapacity: true)
            lines.withUnsafeBytes { writeStandardOutput(UnsafeRawBufferPointer(rebasing: $0[0..<flushed])) }
        }
        carry.append(contentsOf: lines[flushed...])
    }

    /// The rest, after the last event.
    mutating func finish() {
        writeStandardOutput(carry)
        carry.removeAll()
    }
}

extension Export {
    /// Every --stream must be in the log, and every --type a commerce type
    /// or in the log: a typo is an error, not an empty export.
    func checkFilters(_ log: EventLog) throws {
        for s in stream { try requireStream(s, in: log) }
        let asked = Set(type.filter { CommerceEventType(name: $0) == nil })
        guard !asked.isEmpty else { return }
        let inLog = try eventTypes(in: log, until: asked)
        guard let unknown = type.first(where: { asked.contains($0) && !inLog.contains($0) }) else { return }
        let commerce = CommerceEventType.allCases.map(\.rawValue).sorted()
        let others = inLog.subtracting(commerce).sorted()
        let guess = closestName(to: unknown, among: commerce + others).map { " (did you mean \($0)?)" } ?? ""
        throw CommandFailure(lines: [
            "unknown event type \(unknown)\(guess)",
            "known types: " + commerce.joined(separator: ", ")
                + (others.isEmpty ? "" : "; in this log also: " + others.joined(separator: ", ")),
        ])
    }
}

/// The event types in `log`: a scan that stops once every type of `wanted`
/// was seen (else it reads the whole log). At most 1,000 types are kept.
func eventTypes(in log: EventLog, until wanted: Set<String>) throws -> Set<String> {
    struct Found: Error {}
    var seen = Set<String>()
    var missing = wanted
    do {
        _ = try log.scan { view in
            guard seen.count < 1000, !seen.contains(view.type) else { return }
            seen.insert(view.type)
            missing.remove(view.type)
            if missing.isEmpty { throw Found() }
        }
    } catch is Found {}
    return seen
}

/// write(2) of every byte to stdout; stops silently when the reader is gone
/// (EPIPE: `chronik export | head`).
private func writeStandardOutput(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { writeStandardOutput($0) }
}

private func writeStandardOutput(_ raw: UnsafeRawBufferPointer) {
    var done = 0
    while done < raw.count {
        let n = write(STDOUT_FILENO, raw.baseAddress! + done, raw.count - done)
        if n > 0 { done += n } else if n < 0 && errno == EINTR { continue } else { return }
    }
}

extension Export {
    /// `export --store`: the plain JSON Lines of the events a PostgreSQL
    /// store holds, with the same filters and checks. No key store:
    /// personal data is written as erased (null), as from a log without one.
    func exportStore(_ url: String) async throws {
        try await storeOptions.withStore(url) { store in
            for s in stream { try await requireStream(s, in: store) }
            try await checkTypes(in: store)
            var filter = ExportFilter(streams: stream.isEmpty ? nil : Set(stream), types: type.isEmpty ? nil : Set(type),
                                      from: from.flatMap(ExportFilter.Bound.init(argument:)),
                                      to: to.flatMap(ExportFilter.Bound.init(argument:)))
            // One bound a side on a store (the audit form takes a position and a time).
            if let t = fromTime.flatMap(Timestamp.init(rfc3339:)) {
                if filter.from != nil { throw ValidationError("with --store, give one start: --from or --from-time") }
                filter.from = .time(t)
            }
            if let t = toTime.flatMap(Timestamp.init(rfc3339:)) {
                if filter.to != nil { throw ValidationError("with --store, give one end: --to or --to-time") }
                filter.to = .time(t)
            }
            filter.limit = limit
            // Personal data opened with the master key, or left out on
            // purpose; a store that holds some is not exported as null by
            // default (stop 38, a DBA: exit 0, every customer null, and no
            // way to export it whole).
            var vault: SubjectKeyVault?
            if let masterKey {
                vault = SubjectKeyVault(store: try masterKeyStore(masterKey, for: store))
            } else if withoutPersonalData {
                noteWithoutPersonalData()
            } else if try await Self.holdsSealedPersonalData(store) {
                throw Self.nullRefusal("this store holds sealed personal data and no --master-key was given",
                                       give: "--master-key FILE (the servers')")
            }
            try await checkLastRowPresent(store)
            do {
                let n = try await filter.export(store: store, protector: vault) { bytes in writeStandardOutput(bytes) }
                options.note("chronik: exported \(n) event\(n == 1 ? "" : "s")")
            } catch let e as CommerceError {
                throw CommandFailure(e.description)
            }
        }
    }

    /// Whether any event of `store` holds sealed personal data: read up to
    /// the first (a shop's first customer comes early), the whole store
    /// only when it holds none.
    static func holdsSealedPersonalData(_ store: PostgresStore) async throws -> Bool {
        var next = Position(0)
        while true {
            let page = try await store.readAll(from: next, limit: 4096)
            if page.contains(where: { e in e.data.withUnsafeBytes { CommerceEvent.hasSealedPII($0) } }) { return true }
            guard let last = page.last, page.count == 4096 else { return false }
            next = Position(last.position.value + 1)
        }
    }

    /// `checkFilters`' type rule on a store: a --type that is not a
    /// commerce type must be in the store (read until each is found).
    func checkTypes(in store: PostgresStore) async throws {
        var missing = Set(type.filter { CommerceEventType(name: $0) == nil })
        guard !missing.isEmpty else { return }
        try await readForward(store, stream: nil, from: 0) { e in
            missing.remove(e.type)
            return !missing.isEmpty
        }
        guard let unknown = type.first(where: missing.contains) else { return }
        let commerce = CommerceEventType.allCases.map(\.rawValue).sorted()
        let guess = closestName(to: unknown, among: commerce).map { " (did you mean \($0)?)" } ?? ""
        throw CommandFailure(lines: ["unknown event type \(unknown)\(guess)", "known types: " + commerce.joined(separator: ", ")])
    }
}
