import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation
import SystemPackage
import Synchronization

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate commerce events (JSON Lines) and append them through the guards of EVENTS.md.",
        discussion: """
            One event per line, as EVENTS.md describes the envelope, e.g.

            {"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":"/"}}

            Input: the file named, or stdin when it is "-" or absent (as for \
            append). A UTF-8 byte-order mark and CRLF line endings are \
            accepted.

            Ids: a line whose id and content (stream, type, data, meta) \
            repeat an earlier line is a retry from an at-least-once \
            producer: skipped and counted. The same id with other content \
            is an error naming both lines. An id already in the log with the \
            same content is an idempotent retry (counted, not appended \
            again); with other content, an error before anything is written.

            Erased personal data: an export writes the personal data of a \
            forgotten customer as null. Such a line imports where the \
            customer is forgotten (CustomerForgotten in the log or later in \
            the input) and stays erased; see docs/GDPR.md.

            Two passes. The first parses and validates every line and checks \
            the commerce invariants (stock, payments, orders, forgotten \
            customers) against the log and the lines before it, without \
            writing. The second appends, consecutive lines of a stream as one \
            batch.

            By default a file with any bad line writes nothing: every bad \
            line is listed on stderr with its number and reason. With \
            --skip-invalid the good lines are appended and the bad ones \
            reported; a line refused by a guard is skipped and the lines \
            after it are checked without it. An import that appends no \
            event leaves no new log behind (nor a new key store).

            An event larger than --max-event-bytes (default 4 MiB, the name \
            append uses too) is refused; a line longer than six times that \
            (every character escaped: \\u0001 is 6 bytes for 1) plus 1 MiB \
            of envelope, 25 MiB by default, is refused with its number \
            without being read into memory.

            Appends are synced to disk at least every second and once more \
            before the summary: when import reports, all of it is durable.

            Personal data (EVENTS.md PII fields) is stored encrypted under \
            a key per customer (or anonymous session) from the key store \
            (--keys, default: the log path + .keys); see docs/GDPR.md.

            Examples:
              $ chronik import --log shop-log shop.jsonl
              $ cat orders.jsonl | chronik import --log shop --json -
              $ chronik export --log shop | chronik import --log shop-copy

            Exit status: 0 imported (with --skip-invalid: even when lines \
            were refused), 1 bad lines (nothing imported) or failure, 64 \
            usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions
    @OptionGroup var keyOptions: KeyOptions

    @Argument(help: ArgumentHelp("JSON Lines to import; - or nothing reads stdin.", valueName: "file"))
    var file: String?

    @Flag(help: ArgumentHelp("Progress on stderr also when it is not a terminal (a log file, cron, CI): a line every 10 s. On a terminal it is shown anyway, in place."))
    var progress = false

    @Flag(name: .customLong("skip-invalid"), help: "Append the valid lines and report the rest.")
    var skipInvalid = false

    @Option(name: .customLong("max-event-bytes"), help: ArgumentHelp(
        "Refuse an event larger than this, encoded; a line may hold it with every character escaped (6 times), plus 1M.", valueName: "size"))
    var maxEventBytes = ByteSize(bytes: LogFormat.defaultMaxEventBytes)

    /// The name before `--max-event-bytes`, kept so scripts keep working.
    @Option(name: .customLong("max-line-bytes"), help: .hidden)
    var maxLineBytes: ByteSize?

    /// At most this many bad lines are listed; all are counted.
    static let maxListedRejects = 1000

    /// The longest line read: the largest event plus its envelope.
    var lineLimit: Int { maxLineBytes?.bytes ?? Append.lineBytes(forEvent: maxEventBytes.bytes) }

    func validate() throws {
        guard (1...LogFormat.maxEventBytesCeiling).contains(maxEventBytes.bytes) else {
            throw ValidationError("--max-event-bytes must be 1...\(LogFormat.maxEventBytesCeiling), got \(maxEventBytes.bytes)")
        }
        if let maxLineBytes, maxLineBytes.bytes < 1 || maxLineBytes.bytes > Append.lineBytes(forEvent: LogFormat.maxEventBytesCeiling) {
            throw ValidationError("--max-line-bytes must be 1...\(Append.lineBytes(forEvent: LogFormat.maxEventBytesCeiling))")
        }
        try checkInputFile(file, holding: "a file of JSON Lines")
    }

    func run() async throws {
        // An import that fails leaves no trace of itself: a log directory and
        // a key store it created are removed when nothing was appended to the
        // log (stop 33: a file of bad lines left an empty log and key store
        // behind, "nothing was imported").
        let logDir = options.directory()
        let created = !FileManager.default.fileExists(atPath: logDir + "/" + LogFormat.metaFileName)
        let keys = keyOptions.directory(forLog: logDir)
        let newLog = !FileManager.default.fileExists(atPath: logDir), newKeys = !FileManager.default.fileExists(atPath: keys)
        let appended = try await leavingNoTraceOnFailure(log: logDir, keys: keys) {
            try await importInput()
        }
        // Nor when it imports nothing (stop 43, a helper: an empty file made
        // an empty log, and a wrong path then opened it without a word).
        if appended == 0, removeIfLeftEmpty(log: logDir, newLog: newLog, keys: keys, newKeys: newKeys) {
            options.note("chronik: note: the input held no event to import: no log was created at \(logDir)")
            return
        }
        // After the import, which leaves no log when it fails (stop 38, a
        // newcomer: `import --log shpo`, a typo, made a second shop unsaid).
        if created { options.note(GlobalOptions.createdNote(logDir)) }
    }

    /// Imports the input; how many events it appended.
    func importInput() async throws -> Int {
        // Two passes need a file; stdin is spooled to a temporary one.
        var path = file ?? "-"
        var spooled: FileDescriptor?
        if path == "-" {
            if isatty(STDIN_FILENO) == 1 { options.note("chronik: reading JSON Lines from the terminal; end with Ctrl-D") }
            let fd = try Self.spoolStandardInput()
            spooled = fd
            path = "/proc/self/fd/\(fd.rawValue)"
        }
        defer { try? spooled?.close() }

        let log = try options.openForWriting(creation, maxEventBytes: maxEventBytes.bytes, durability: .interval(.seconds(1)),
                                             sayWhenCreated: false)
        defer { try? log.close() }
        let startHead = log.head
        // Keys are synced with the log, before the summary (docs/GDPR.md).
        let vault = try keyOptions.vault(for: log, syncEachKey: false)
        let store = CommerceStore(log: log, protector: vault)
        // A Ctrl-C or SIGTERM says what was appended (stop 34: import ended
        // silently with part of the input written), after syncing the keys
        // and the log, which an import syncs only at its end.
        AppendInterrupt.shared.install()
        AppendInterrupt.shared.appending(to: log, stopsBetweenBatches: false, command: "import") {
            try? vault.store.sync()
            try? log.sync()
        }
        var importOptions = CommerceImport.Options()
        importOptions.skipInvalid = skipInvalid
        importOptions.maxLineBytes = lineLimit
        importOptions.maxEventBytes = maxEventBytes.bytes
        importOptions.maxRejectsKept = Self.maxListedRejects

        let onTerminal = isatty(STDERR_FILENO) == 1
        let showProgress = !options.quiet && onTerminal
        // Stop 38, a migration: progress only on a terminal, none in the
        // log file of a long import run by cron.
        var report: (@Sendable (CommerceImport.Phase, Int) -> Void)? = showProgress ? Self.progress : nil
        if !options.quiet && !onTerminal && progress {
            let lines = ProgressLines(every: .seconds(10))
            report = { phase, n in lines.report(phase, n) }
        }
        let started = ContinuousClock.now
        let summary: CommerceImport.Summary
        do {
            summary = try await CommerceImport.run(path: path, into: store, options: importOptions, progress: report)
        } catch let e as CommerceError {
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            throw CommandFailure(e.description)
        }
        do { try vault.store.sync() } catch { throw CommandFailure("key store: \(error)") }
        // Syncs: the summary promises durability.
        try log.closeAfterWriting(appendedFrom: startHead)
        keyOptions.recordErasures(vault, log: log, note: options.note)
        let elapsed = ContinuousClock.now - started
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

        for r in summary.rejects { printError(r.description) }
        if summary.rejectCount > summary.rejects.count {
            printError("… and \(summary.rejectCount - summary.rejects.count) more bad lines")
        }
        let seconds = max(milliseconds(elapsed) / 1000, 1e-9)
        let rate = Double(summary.appended) / seconds
        let out = Output()
        if options.json {
            try out.line(encoding: Report(
                events: summary.appended, streams: summary.streams, rejects: summary.rejectCount,
                duplicates: summary.duplicates, retries: summary.retries, lines: summary.lines,
                seconds: (seconds * 1000).rounded() / 1000, eventsPerSecond: Int(rate), written: summary.wrote,
                rejected: summary.rejects.map(Report.Reject.init)))
        } else {
            var s = "imported \(group(summary.appended)) event\(summary.appended == 1 ? "" : "s") to \(group(summary.streams)) stream\(summary.streams == 1 ? "" : "s") in \(formatDuration(elapsed)) (\(group(Int(rate))) events/s)"
            if summary.retries > 0 { s += ", \(summary.retries) retr\(summary.retries == 1 ? "y" : "ies") skipped" }
            s += "; \(summary.rejectCount) rejected"
            if summary.duplicates > 0 { s += "; \(summary.duplicates) already in the log (idempotent retry)" }
            out.line(s)
        }
        out.flush()
        if summary.rejectCount > 0 && !skipInvalid {
            throw CommandFailure("\(summary.rejectCount) bad line\(summary.rejectCount == 1 ? "" : "s"); nothing was imported")
        }
        return summary.appended
    }

    /// The `--json` summary.
    struct Report: Encodable {
        /// A bad line: its number and the error's code, field and message.
        struct Reject: Encodable {
            var line: Int
            var code: String
            var field: String?
            var message: String

            init(_ r: CommerceImport.Reject) {
                line = r.line
                code = r.error.code.name
                field = r.error.field
                message = r.error.message
            }
        }

        var events, streams, rejects, duplicates, retries, lines: Int
        var seconds: Double
        var eventsPerSecond: Int
        var written: Bool
        var rejected: [Reject]
    }

    /// `--progress` away from a terminal: a whole line, at most every
    /// `every` (the first at once), with the time since the start.
    final class ProgressLines: Sendable {
        private let every: Duration
        private let started = ContinuousClock.now
        private let last = Mutex<ContinuousClock.Instant?>(nil)

        init(every: Duration) { self.every = every }

        func report(_ phase: CommerceImport.Phase, _ lines: Int) {
            let now = ContinuousClock.now
            let due = last.withLock { l -> Bool in
                if let t = l, now - t < every { return false }
                l = now
                return true
            }
            guard due else { return }
            let verb = phase == .checking ? "checked" : "appended"
            printError("chronik: import: \(verb) \(group(lines)) lines (\(formatDuration(now - started)))")
        }
    }

    @Sendable static func progress(_ phase: CommerceImport.Phase, _ lines: Int) {
        let verb = phase == .checking ? "checked" : "appended"
        FileHandle.standardError.write(Data("\r\u{1B}[Kchronik: \(verb) \(lines) lines…".utf8))
    }

    /// Copies stdin into a temporary file that has no name: created 0600
    /// in the temporary directory and unlinked at once, read back through
    /// `/proc/self/fd/N`. Stdin holds personal data in clear (the log seals
    /// it), so no copy of it may outlive the import, whatever ends it: a
    /// Ctrl-C or a kill -9 left a world-readable `chronik-import-…` with
    /// every e-mail and address of the input until stop 32.
    static func spoolStandardInput() throws -> FileDescriptor {
        let path = FileManager.default.temporaryDirectory.path + "/chronik-import-" + UUID().uuidString
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                                         permissions: [.ownerReadWrite])
        } catch {
            throw CommandFailure("cannot create a temporary file for stdin (\(path)): \(error)")
        }
        _ = unlink(path)
        do {
            while let chunk = try FileHandle.standardInput.read(upToCount: 1 << 20), !chunk.isEmpty {
                _ = try chunk.withUnsafeBytes { try fd.writeAll($0) }
            }
        } catch {
            try? fd.close()
            throw CommandFailure("cannot spool stdin to a temporary file: \(error)")
        }
        return fd
    }
}

/// Runs `body`, a command that creates the log at `dir` (and its key store
/// at `keys`) when they do not exist; when it fails having appended
/// nothing, removes what it created, so that "nothing was imported" leaves
/// no empty log or key store behind (stop 33: import and simulate did).
func leavingNoTraceOnFailure<T>(log dir: String, keys: String, _ body: () async throws -> T) async throws -> T {
    let fm = FileManager.default
    let newLog = !fm.fileExists(atPath: dir), newKeys = !fm.fileExists(atPath: keys)
    do {
        return try await body()
    } catch {
        // An interrupt that closed the log under `body` removes it and
        // exits itself (`simulate`, `demo`).
        AppendInterrupt.shared.parkIfDiscarding()
        removeIfLeftEmpty(log: dir, newLog: newLog, keys: keys, newKeys: newKeys)
        throw error
    }
}

/// Removes the log directory at `dir` when this command made it
/// (`newLog`) and it holds no event, with the key store it made
/// (`newKeys`); whether it did.
@discardableResult
func removeIfLeftEmpty(log dir: String, newLog: Bool, keys: String, newKeys: Bool) -> Bool {
    guard newLog, holdsNoEvent(dir) else { return false }
    try? FileManager.default.removeItem(atPath: dir)
    if newKeys { try? FileManager.default.removeItem(atPath: keys) }
    return true
}

/// Whether the log at `dir` opens and holds no event (read-only).
func holdsNoEvent(_ dir: String) -> Bool {
    var o = LogOptions()
    o.readOnly = true
    o.createIfMissing = false
    guard let log = try? EventLog.open(at: dir, options: o) else { return false }
    defer { try? log.close() }
    return log.head.value == 0
}
