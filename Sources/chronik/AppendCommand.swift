import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events read as JSON Lines from a file or stdin.",
        discussion: """
            One event per line:

              {"stream": "notes-1", "type": "NoteAdded", "data": {"text": "hi"}}

            The envelope is import's (EVENTS.md): type and data required; \
            stream (1-256 bytes), required for a type EVENTS.md does not \
            know; meta (an object of strings); id (a UUID); time (RFC 3339, \
            default now for an unknown type); expectedVersion (a number, \
            "any", "noStream" or "exists"). The keys read --json and export \
            add (position, version, recordedAt) are ignored. An unknown \
            type's data may be any JSON value. To copy a log, use \
            chronik export | chronik import.

            A type of EVENTS.md (OrderPlaced, PaymentCaptured, …) is parsed, \
            validated and run through the commerce guards exactly as import \
            does, with the same messages: a PaymentCaptured without \
            paymentId is refused, never written. Types with personal data \
            are refused here: they are stored only encrypted, by import. \
            So is CustomerForgotten: an erasure also destroys the \
            customer's key, which chronik forget (or import) does.

            Ids: a line whose id is already in the log with the same stream, \
            type, data and meta is an idempotent retry (skipped, counted); \
            a later line repeating an earlier line's id and content is a \
            retry too (skipped, counted). The same id with other content is \
            an error naming both lines (or the position in the log).

            Bad input writes nothing: every line is parsed and checked \
            against the log (ids, expected versions, guards) before the \
            first write; when any line is bad, each bad line is reported \
            with its number and nothing is appended. With --skip-invalid \
            the good lines are appended, the bad ones reported on stderr, \
            and the lines after a refused one are checked without it. A \
            failure while writing (a full disk) keeps the batches written \
            before it, each whole, and says their positions: run the same \
            input again, and the lines already in the log (by id) are \
            skipped as retries — give lines an id for that.

            Consecutive lines of a stream are appended as one atomic batch \
            (at most --batch events). A UTF-8 byte-order mark and CRLF line \
            endings are accepted.

            From a pipe that stays open (producer | chronik append, a FIFO, \
            a socket) the lines are appended as they arrive, like \
            kafka-console-producer: each group of lines that arrived \
            together (at most 10000) is checked and appended all or nothing, \
            a note on stderr gives its lines and positions, and the end of \
            the input ends the command. A group with a bad line is not \
            appended and the command stops there with exit 1, naming the \
            line, so the producer notices; the groups before it stay in the \
            log. With --skip-invalid the good lines go on. Ctrl-C or SIGTERM \
            ends it after the group being appended, saying what all groups \
            appended (exit 130 or 143). A file (FILE, or \
            stdin redirected from a file) is checked whole before anything \
            is appended.

            With --store the events go to a PostgreSQL store, shared with \
            other writers: every line is parsed and checked first (nothing \
            is appended when one is bad), then each batch goes through the \
            commerce guards as one atomic append (CommerceStore, optimistic \
            concurrency on the stream's version); a batch the guards refuse \
            stops the command there with exit 1 naming its line (with \
            --skip-invalid: is reported and skipped), and the batches before \
            it stay: another writer may append between two batches, so no \
            check before the first write could hold for the whole input. The \
            input (a file or a pipe) is read to its end before appending.

            Examples:
              $ chronik append --log shop events.jsonl
              $ echo '{"stream":"n-1","type":"Noted","data":{}}' | chronik append
              $ (cat events.jsonl; sleep 1; cat events.jsonl) | chronik append --log shop

            With a PostgreSQL server (ChronikPostgresTests runs this):
              chronik append --store postgres://chronik@db:5432/shop events.jsonl

            Exit status: 0 appended (or nothing to do; with --skip-invalid \
            even when lines were refused), 1 bad lines (nothing appended) or \
            failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions
    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: ArgumentHelp("JSON Lines to append; - or nothing reads stdin.", valueName: "file"))
    var file: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("At most this many events per batch.", valueName: "n"))
    var batch = 1000

    @Option(name: .customLong("max-event-bytes"), help: ArgumentHelp(
        "Refuse an event larger than this, encoded (type, id, time, meta, data).", valueName: "size"))
    var maxEventBytes = ByteSize(bytes: LogFormat.defaultMaxEventBytes)

    @Flag(name: .customLong("skip-invalid"), help: "Append the valid lines and report the rest.")
    var skipInvalid = false

    /// A batch is also cut when it would grow past this many encoded bytes,
    /// which bounds the memory of one write.
    static let maxBatchBytes = 32 << 20
    /// At most this many bad lines are listed; all are counted.
    static let maxReportedErrors = 1000

    func validate() throws {
        guard (1...LogFormat.maxEventsPerBatch).contains(batch) else {
            throw ValidationError("--batch must be 1...\(LogFormat.maxEventsPerBatch), got \(batch)")
        }
        guard (1...LogFormat.maxEventBytesCeiling).contains(maxEventBytes.bytes) else {
            throw ValidationError("--max-event-bytes must be 1...\(LogFormat.maxEventBytesCeiling), got \(maxEventBytes.bytes)")
        }
        try checkInputFile(file, holding: "a file of JSON Lines")
        // A store takes events up to its own limit (stop 35: a larger
        // --max-event-bytes was taken and ignored).
        try storeOptions.validate(with: options, notWith: [("--compression", creation.compression != nil),
                                                           ("--segment-size", creation.segmentSize != nil),
                                                           ("--max-event-bytes", maxEventBytes.bytes != LogFormat.defaultMaxEventBytes)])
    }

    func run() async throws {
        let input = try openInput()
        // A pipe, FIFO or socket may stay open for hours (`producer |
        // chronik append`): append what arrives, group by group.
        if storeOptions.store == nil, Self.isStream(input.fileDescriptor) {
            try await appendAsLinesArrive(from: input.fileDescriptor)
            return
        }
        var rejects = Rejects(limit: Self.maxReportedErrors)
        if let url = storeOptions.store {
            var items: [EventLineParser.Parsed] = []
            try readEvents(from: input, rejects: &rejects) { item, _ in items.append(item) }
            if !rejects.isEmpty && !skipInvalid { throw refusal(rejects) }
            // Looked at, not copied: a copy of every event line to see
            // whether there is one took 0.34 s of a 1 M-line append (stop 24).
            guard items.contains(where: { if case .event = $0 { true } else { false } }) else {
                return try nothingToAppend(rejects)
            }
            return try await appendToStore(url, items, rejects: &rejects)
        }
        // Each line is checked as it comes out of the parse workers, on the
        // thread that takes their results (stop 28: the check had run after
        // the whole input was parsed, 0.2 s of one core with the other idle).
        AppendInterrupt.shared.install()
        var summary = Summary()
        var checker: Checker?
        defer { checker?.close() }
        try readEvents(from: input, rejects: &rejects) { item, rejects in
            if checker == nil { checker = try Checker(for: self) }
            try checker!.take(item, rejects: &rejects, summary: &summary)
        }
        if !rejects.isEmpty && !skipInvalid { throw refusal(rejects) }
        // No event line: nothing to check against a log, none is opened.
        guard checker != nil else { return try nothingToAppend(rejects) }
        rejects.report()
        summary.rejects = rejects.count
        summary.rejected = rejects.sorted
        let log = try checker!.logToAppendTo()
        AppendInterrupt.shared.scratch(nil)
        AppendInterrupt.shared.appending(to: log)
        let batches = checker!.planner.batches
        // The events are freed by the exit, not one by one before it.
        LeftToExit.keep(batches as AnyObject)
        if let failure = try await append(batches, to: log, summary: &summary) {
            throw CommandFailure("line \(failure.line): \(describe(failure.error)); \(summary.soFar)")
        }
        try summary.print(json: options.json, head: log.head)
    }

    /// Bad lines refuse the whole input: with --json the report says so on
    /// stdout too, with the lines (stop 32: it printed nothing, and a script
    /// had to read stderr); the text goes to stderr as always.
    private func refusal(_ rejects: Rejects) -> CommandFailure {
        if options.json {
            var s = Summary()
            s.rejects = rejects.count
            s.rejected = rejects.sorted
            try? Output().line(encoding: s.report(head: nil))
        }
        return rejects.failure(verb: "appended")
    }

    /// The end of an input with no event line (blank, bad or repeated
    /// lines only): nothing was appended, no log opened or created.
    private func nothingToAppend(_ rejects: Rejects) throws {
        rejects.report()
        var s = Summary()
        s.rejects = rejects.count
        s.rejected = rejects.sorted
        if rejects.isEmpty { options.note("chronik: nothing to append: the input holds no event") }
        if options.json { try Output().line(encoding: s.report(head: nil)) } else if !rejects.isEmpty { Output().line(s.text) }
    }

    /// Batches kept in flight at once, so that they share the writer's
    /// group commits (one fdatasync for many) instead of waiting for one
    /// sync each.
    static let appendWindow = 64

    /// Appends the planned batches in order: started on a serial executor,
    /// so they reach the log's queue in plan order (log order = input
    /// order), up to `appendWindow` of them in flight. A failed write
    /// poisons the log, so every batch after a failed one fails too: the
    /// appended batches are a prefix of the plan. Returns the first
    /// failure (by line), after every started batch has finished.
    func append(_ batches: [PlannedBatch], to log: EventLog,
                summary: inout Summary) async throws -> (line: Int, error: ChronikLogError)? {
        struct Outcome: Sendable {
            var index: Int
            var result: Result<AppendResult, ChronikLogError>
        }
        let executor = SerialTaskExecutor()
        var results = [Result<AppendResult, ChronikLogError>?](repeating: nil, count: batches.count)
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var inFlight = 0
            for (i, b) in batches.enumerated() {
                if inFlight >= Self.appendWindow, let o = try await group.next() {
                    results[o.index] = o.result
                    inFlight -= 1
                }
                // Interrupted: nothing more is sent; those in flight finish.
                if AppendInterrupt.shared.stopRequested { break }
                let events = b.events
                let stream = b.stream
                let expected = b.expected
                inFlight += 1
                group.addTask(executorPreference: executor) {
                    // Runs on the serial executor up to its first suspension,
                    // which is after the log queued the request.
                    do {
                        return Outcome(index: i, result: .success(try await log.append(to: stream, events, expected: expected)))
                    } catch let e as ChronikLogError {
                        return Outcome(index: i, result: .failure(e))
                    }
                }
            }
            while let o = try await group.next() { results[o.index] = o.result }
        }
        if AppendInterrupt.shared.stopRequested { AppendInterrupt.shared.finishStopped(log) }
        var failure: (line: Int, error: ChronikLogError)?
        for (b, r) in zip(batches, results) {
            switch r {
            case .success(let result)?:
                summary.record(result, events: b.events.count, stream: b.stream)
            case .failure(let e)?:
                if failure == nil { failure = (b.firstLine, e) }
            case nil:
                break
            }
        }
        return failure
    }

    /// The input: FILE, or stdin for `-` or none.
    func openInput() throws -> FileHandle {
        if let file, file != "-" {
            do { return try FileHandle(forReadingFrom: URL(fileURLWithPath: file)) } catch {
                throw CommandFailure("cannot read \(file): \(error.localizedDescription)")
            }
        }
        if isatty(STDIN_FILENO) == 1 { options.note("chronik: reading JSON Lines from the terminal; end with Ctrl-D") }
        return FileHandle.standardInput
    }

    /// The line reader of append and import: bounded lines, CRLF, a
    /// byte-order mark.
    func lineReader(_ fd: Int32) -> BoundedLineReader {
        BoundedLineReader(fd: fd, maxLineBytes: Self.lineBytes(forEvent: maxEventBytes.bytes))
    }

    /// A line longer than an event may be, with its envelope.
    func tooLong(line n: Int, bytes: Int) -> CommerceError {
        CommerceError(.lineTooLong, line: n,
                      "line is \(bytes) bytes, longer than \(Self.lineBytes(forEvent: maxEventBytes.bytes)) (--max-event-bytes written with every character escaped, plus envelope)")
    }

    /// Parses one item of the reader into `items`, or `rejects`.
    func take(_ item: BoundedLineReader.Item, parser: inout EventLineParser, into items: inout [EventLineParser.Parsed],
              rejects: inout Rejects) {
        switch item {
        case .tooLong(let n, let bytes):
            rejects.add(tooLong(line: n, bytes: bytes))
        case .line(let n, let bytes):
            switch parser.admit(EventLineParser.parseAlone(bytes, line: n, maxEventBytes: maxEventBytes.bytes)) {
            case .success(let p)?: items.append(p)
            case .failure(let e)?: rejects.add(e)
            case nil: break
            }
        }
    }

    /// Reads and parses every line, and hands the events and retries to
    /// `take` in input order; bad lines go to `rejects`.
    private func readEvents(from handle: FileHandle, rejects: inout Rejects,
                            _ take: (EventLineParser.Parsed, inout Rejects) throws -> Void) throws {
        let reader = lineReader(handle.fileDescriptor)
        var parser = EventLineParser(maxEventBytes: maxEventBytes.bytes)
        // Parsed on every core, decided in line order.
        let maxEvent = maxEventBytes.bytes
        var lines = ParallelLineMap(reader: reader) { n, bytes in
            EventLineParser.parseAlone(bytes, line: n, maxEventBytes: maxEvent)
        }
        while true {
            let item: ParallelLineMap<Result<EventLine, CommerceError>?>.Item?
            do { item = try lines.next() } catch { throw CommandFailure(error.description) }
            guard let item else { return }
            switch item {
            case .tooLong(let n, let bytes):
                rejects.add(tooLong(line: n, bytes: bytes))
            case .line(_, let parsed):
                switch parser.admit(parsed) {
                case .success(let p)?: try take(p, &rejects)
                case .failure(let e)?: rejects.add(e)
                case nil: continue
                }
            }
        }
    }

    /// Room for the envelope around the largest event.
    static let envelopeBytes = 1 << 20

    /// The longest line for events of at most `eventBytes`: the event with
    /// every character escaped (`\u0001` is 6 bytes for 1; Python's default
    /// `ensure_ascii` writes "é" as 6 bytes for 2), plus the envelope (stop
    /// 39, an i18n review: a 2 MB event of accented text, 6.3 MB as Python
    /// wrote it, was `lineTooLong` for import and 201 over HTTP).
    static func lineBytes(forEvent eventBytes: Int) -> Int { eventBytes * 6 + envelopeBytes }

    /// Decides every line on a model of the log, in input order, before
    /// anything is written (`Checker`). Returns the accepted lines grouped
    /// into batches.
    func check(_ items: [EventLineParser.Parsed], in log: EventLog, rejects: inout Rejects,
               summary: inout Summary) throws -> [PlannedBatch] {
        var checker = Checker(log: log, batch: batch)
        for item in items { try checker.take(item, rejects: &rejects, summary: &summary) }
        return checker.planner.batches
    }

    /// Decides lines on a model of the log, in input order, before anything
    /// is written: ids against the log (retry or conflict), expected
    /// versions, and for EVENTS.md's types their guards. This process holds
    /// the writer lock, so the log cannot change meanwhile. The accepted
    /// lines are grouped into batches (`Planner`) as they are accepted: no
    /// list of them is built first.
    ///
    /// A log not created yet is modelled by an empty scratch log in the
    /// temporary directory, so that an input refused whole creates nothing
    /// (`logToAppendTo` creates the real one once the input is accepted).
    struct Checker {
        var model: GuardModel
        var planner: Planner
        /// The log the check reads: the real one, or the scratch stand-in.
        let log: EventLog
        /// The scratch log's directory, when the real log does not exist yet.
        private(set) var scratch: String?
        /// The real log, created after a check on the scratch log.
        private var created: EventLog?
        private let command: Append?

        init(log: EventLog, batch: Int) {
            self.init(log: log, batch: batch, scratch: nil, command: nil)
        }

        private init(log: EventLog, batch: Int, scratch: String?, command: Append?) {
            self.log = log
            model = GuardModel(store: CommerceStore(log: log))
            planner = Planner(log: log, batch: batch)
            self.scratch = scratch
            self.command = command
        }

        /// Opens the command's log when it exists, else an empty scratch log.
        init(for command: Append) throws {
            if FileManager.default.fileExists(atPath: command.options.directory() + "/" + LogFormat.metaFileName) {
                let log = try command.options.openForWriting(command.creation, maxEventBytes: command.maxEventBytes.bytes)
                self.init(log: log, batch: command.batch, scratch: nil, command: command)
            } else {
                var options = LogOptions()
                options.durability = .none
                options.maxEventBytes = command.maxEventBytes.bytes
                options.compression = command.creation.compression?.value ?? .lz4
                let (log, dir) = try Self.openScratch(options, beside: command.options.directory())
                self.init(log: log, batch: command.batch, scratch: dir, command: command)
            }
        }

        /// An empty scratch log in the temporary directory or, when that
        /// cannot hold one (not writable, missing), beside the log to be
        /// created (a hidden sibling: the log's parent must take a new
        /// directory anyway).
        static func openScratch(_ options: LogOptions, beside path: String) throws -> (EventLog, String) {
            removeAbandonedScratch(in: FileManager.default.temporaryDirectory.path)
            let name = "chronik-append-check-" + UUID().uuidString
            let tmp = FileManager.default.temporaryDirectory.path + "/" + name
            do { return (try AppendInterrupt.shared.creatingScratch(at: tmp) { try EventLog.open(at: tmp, options: options) }, tmp) } catch let inTemp {
                try? FileManager.default.removeItem(atPath: tmp)
                let parent = (path as NSString).deletingLastPathComponent
                let sibling = (parent.isEmpty ? "." : parent) + "/." + name
                do { return (try AppendInterrupt.shared.creatingScratch(at: sibling) { try EventLog.open(at: sibling, options: options) }, sibling) } catch {
                    try? FileManager.default.removeItem(atPath: sibling)
                    throw CommandFailure("cannot check the input against a new log: no scratch log could be created in \(tmp) (\(inTemp)) nor at \(sibling) (\(error)); nothing was appended")
                }
            }
        }

        /// Removes the scratch logs of checks killed with SIGKILL (which no
        /// handler sees; stop 35: 23 were found in /tmp): those whose writer
        /// lock nobody holds, made more than a minute ago (a check that just
        /// made its directory takes the lock at once).
        static func removeAbandonedScratch(in tmp: String) {
            let fm = FileManager.default
            guard let names = try? fm.contentsOfDirectory(atPath: tmp) else { return }
            let storage = PosixStorage()
            for name in names where name.hasPrefix("chronik-append-check-") {
                let dir = tmp + "/" + name
                guard let made = (try? fm.attributesOfItem(atPath: dir))?[.modificationDate] as? Date,
                      Date().timeIntervalSince(made) > 60,
                      !storage.isWriterActive(dir + "/" + LogFormat.lockFileName) else { continue }
                try? fm.removeItem(atPath: dir)
            }
        }

        mutating func take(_ item: EventLineParser.Parsed, rejects: inout Rejects, summary: inout Summary) throws {
            switch item {
            case .retry(let n, let first):
                if rejects.skipsRetry(line: n, repeating: first) { summary.retries += 1 }
            case .event(let l):
                do {
                    switch try model.admit(l.envelope, idWasGiven: l.hasExplicitID) {
                    case .alreadyInLog, .settlementAlreadyReported: summary.duplicateEvents += 1
                    case .settlementRepeated: summary.retries += 1
                    case .admitted: planner.add(l)
                    }
                } catch var e as CommerceError {
                    e.line = l.line
                    rejects.add(e)
                } catch let e as ChronikLogError where e.code == .wrongExpectedVersion {
                    rejects.add(CommerceError(.wrongExpectedVersion, field: "expectedVersion", line: l.line, e.message))
                }
            }
        }

        /// The log to append the planned batches to: the one checked, or —
        /// after a check on the scratch log — the real log, created now,
        /// which must still be empty (else nothing is appended: another
        /// process wrote it meanwhile, and the check did not see its events).
        /// `close()` closes it.
        mutating func logToAppendTo() throws -> EventLog {
            guard scratch != nil, let command else { return log }
            close()
            let real = try command.options.openForWriting(command.creation, maxEventBytes: command.maxEventBytes.bytes)
            guard real.head.value == 0 else {
                try? real.close()
                throw CommandFailure("the log at \(command.options.directory()) was created by another process while the input was checked; nothing was appended: run the command again")
            }
            created = real
            return real
        }

        /// Closes the logs this check opened and removes the scratch log.
        mutating func close() {
            try? (created ?? log).close()
            created = nil
            if let dir = scratch {
                try? log.close()
                try? FileManager.default.removeItem(atPath: dir)
                scratch = nil
            }
        }
    }

    /// One batch to append: the events of consecutive accepted lines of one
    /// stream.
    struct PlannedBatch {
        var stream: String
        /// `.exact` the stream's last version before the batch, or
        /// `.noStream`.
        var expected: ExpectedVersion
        var events: [ProposedEvent]
        /// The input line of the first event, for messages.
        var firstLine: Int
        var bytes: Int

        /// The stream's version after the batch.
        var lastVersion: UInt64 {
            guard case .exact(let v) = expected else { return UInt64(events.count - 1) }
            return v + UInt64(events.count)
        }
    }

    /// Groups accepted lines into batches — a new batch at a stream change,
    /// at --batch events, or when the batch would pass `maxBatchBytes` —
    /// each pinned to the version the check decided it on (each line's own
    /// expectedVersion was checked then), so that a log that differs after
    /// all fails the append instead of taking an undecided event.
    struct Planner {
        let log: EventLog
        let batch: Int
        private(set) var batches: [PlannedBatch] = []
        /// Each stream's last version after the batches closed so far; the
        /// open batch's stream is looked up only when a batch starts (a
        /// look-up per line hashed its stream name twice).
        private var lastVersions: [String: UInt64] = [:]

        init(log: EventLog, batch: Int) {
            self.log = log
            self.batch = batch
        }

        mutating func add(_ l: EventLine) {
            let size = l.event.encodedByteCount
            let n = batches.count
            // In place: a copy of the last batch would retain its events
            // and stream for each line.
            if n > 0, batches[n - 1].stream == l.stream, batches[n - 1].events.count < batch,
               batches[n - 1].bytes + size <= Append.maxBatchBytes {
                batches[n - 1].events.append(l.event)
                batches[n - 1].bytes += size
                return
            }
            if n > 0 { lastVersions[batches[n - 1].stream] = batches[n - 1].lastVersion }
            let current: UInt64? = lastVersions[l.stream] ?? log.lastVersion(of: l.stream).map(\.value)
            batches.append(PlannedBatch(stream: l.stream, expected: current.map { .exact($0) } ?? .noStream,
                                        events: [l.event], firstLine: l.line, bytes: size))
        }
    }

    /// What the append did.
    struct Summary {
        var appended = 0
        var batches = 0
        var duplicateEvents = 0
        var retries = 0
        var rejects = 0
        /// The bad lines kept (`Rejects.limit`), for the `--json` report.
        var rejected: [CommerceError] = []
        var streams: Set<String> = []
        var first: Position?
        var last: Position?

        var range: String {
            guard let first, let last else { return "" }
            if first == last { return "position \(first)" }
            // On a store other writers append between our batches (stop 43,
            // a helper: "600 events … positions 24949-25549" held 601).
            let among = last.value - first.value + 1 > UInt64(appended) ? ", with other writers' events among them" : ""
            return "positions \(first)-\(last)\(among)"
        }

        /// A batch of `events` events of `stream` stored as `result`.
        mutating func record(_ result: AppendResult, events: Int, stream: String) {
            appended += events
            batches += 1
            streams.insert(stream)
            first = first ?? result.firstPosition
            last = result.lastPosition
        }

        /// For an error midway: what is already in the log.
        var soFar: String {
            appended == 0 ? "nothing was appended" : "\(appended) event\(appended == 1 ? "" : "s") before it \(appended == 1 ? "was" : "were") appended (\(range))"
        }

        var text: String {
            var s = appended == 0
                ? "appended nothing"
                : "appended \(appended) event\(appended == 1 ? "" : "s") in \(batches) batch\(batches == 1 ? "" : "es") to \(streams.count) stream\(streams.count == 1 ? "" : "s"): \(range)"
            if retries > 0 { s += ", \(retries) retr\(retries == 1 ? "y" : "ies") skipped" }
            if duplicateEvents > 0 {
                s += "; \(duplicateEvents) event\(duplicateEvents == 1 ? " was" : "s were") already in the log (idempotent retry)"
            }
            if rejects > 0 { s += "; \(rejects) rejected" }
            return s
        }

        /// The `--json` summary: the log's head after the append (nil when
        /// nothing was opened).
        struct Report: Encodable {
            /// A bad line, as `import --json` lists them: its number and the
            /// error's code, field and message.
            struct Reject: Encodable {
                var line: Int
                var code: String
                var field: String?
                var message: String
            }
            var appended, batches, streams, duplicates, retries, rejects: Int
            var firstPosition, lastPosition, head: UInt64?
            var rejected: [Reject]
        }

        func report(head: Position?) -> Report {
            Report(appended: appended, batches: batches, streams: streams.count, duplicates: duplicateEvents,
                   retries: retries, rejects: rejects, firstPosition: first?.value, lastPosition: last?.value,
                   head: head?.value,
                   rejected: rejected.map { Report.Reject(line: $0.line ?? 0, code: $0.code.name, field: $0.field, message: $0.message) })
        }

        /// The summary line: the `--json` report, or the text.
        func print(json: Bool, head: Position?) throws {
            let out = Output()
            if json { try out.line(encoding: report(head: head)) } else { out.line(text) }
        }
    }
}

/// The bad lines of an input, for `append` and `import` alike: every one
/// counted, the first `limit` kept, reported as `line N: code [field]:
/// message`.
struct Rejects {
    let limit: Int
    private(set) var kept: [CommerceError] = []
    private(set) var count = 0
    private(set) var lines = Set<Int>()

    init(limit: Int) { self.limit = limit }

    var isEmpty: Bool { count == 0 }

    mutating func add(_ e: CommerceError) {
        count += 1
        if let n = e.line { lines.insert(n) }
        if kept.count < limit { kept.append(e) }
    }

    /// Line `n` repeats line `first` (same id, same content): refused too
    /// when `first` was refused, else a retry to skip (true).
    mutating func skipsRetry(line n: Int, repeating first: Int) -> Bool {
        guard lines.contains(first) else { return true }
        add(CommerceError(.duplicateEventId, field: "id", line: n, "this line repeats line \(first), which was refused"))
        return false
    }

    /// The bad lines kept, in line order.
    var sorted: [CommerceError] { kept.sorted { ($0.line ?? 0) < ($1.line ?? 0) } }

    /// The lines to print, in line order.
    var reportLines: [String] {
        var out = sorted.map(\.description)
        if count > kept.count { out.append("… and \(count - kept.count) more bad lines") }
        return out
    }

    /// Prints the bad lines on stderr (with --skip-invalid).
    func report() { for l in reportLines { printError(l) } }

    /// The failure when bad lines refuse the whole input.
    func failure(verb: String) -> CommandFailure {
        CommandFailure(lines: reportLines + ["\(count) bad line\(count == 1 ? "" : "s"); nothing was \(verb)"])
    }
}

extension Append {
    /// `append --store`: the parsed lines in batches (consecutive lines of
    /// one stream, at most --batch and `maxBatchBytes`, a line with its own expectedVersion
    /// starting a batch so that it is checked), each through
    /// `CommerceStore.append` on the store.
    func appendToStore(_ url: String, _ items: [EventLineParser.Parsed], rejects: inout Rejects) async throws {
        var summary = Summary()
        var batches: [[EventLine]] = []
        var batchBytes = 0
        for item in items {
            switch item {
            case .retry(let n, let first):
                if rejects.skipsRetry(line: n, repeating: first) { summary.retries += 1 }
            case .event(let l):
                let size = l.event.encodedByteCount
                if let last = batches.last?.last, last.stream == l.stream, batches[batches.count - 1].count < batch,
                   l.envelope.expectedVersion == .any, batchBytes + size <= Self.maxBatchBytes {
                    batches[batches.count - 1].append(l)
                    batchBytes += size
                } else {
                    batches.append([l])
                    batchBytes = size
                }
            }
        }
        if !rejects.isEmpty && !skipInvalid { throw refusal(rejects) }
        rejects.report()
        summary.rejected = rejects.sorted
        let parseRejects = rejects.count
        var refused = 0
        try await storeOptions.withStore(url) { store in
            let commerce = CommerceStore(store: store)
            let interrupt = AppendInterrupt.shared
            interrupt.install()
            interrupt.appendingToStore()
            for var b in batches {
                if interrupt.stopRequested {
                    let went = summary.appended == 0 ? "nothing was appended" : "\(summary.appended) event\(summary.appended == 1 ? " was" : "s were") appended (\(summary.range))"
                    interrupt.exitStopped("append stopped; \(went); the rest of the input was not. A re-run skips lines whose id is in the store; lines without an id would be appended again")
                }
                // Lines whose id the store holds with the same stream, type,
                // data and meta are retries, skipped one by one as on a log
                // (stop 43, a helper: a batch of which 2 of 3 lines were
                // stored was refused whole, "a retry must resend the same
                // batch"). Other content is left to the store to refuse.
                let given = b.filter(\.hasExplicitID).map(\.event.id)
                if !given.isEmpty {
                    let stored = Dictionary(try await store.events(withIDs: given).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                    let kept = b.filter { l in
                        guard let e = stored[l.event.id] else { return true }
                        return EventContent(stream: e.stream, type: e.type, data: e.data, metadata: e.metadata) != EventContent(l.envelope)
                    }
                    summary.duplicateEvents += b.count - kept.count
                    if kept.isEmpty { continue }
                    b = kept
                }
                let error: String
                let refusal: CommerceError
                do {
                    let r = try await commerce.append(b.map(\.envelope))
                    if r.wasDuplicate {
                        summary.duplicateEvents += b.count
                    } else {
                        summary.record(r, events: b.count, stream: b[0].stream)
                    }
                    continue
                } catch var e as CommerceError {
                    e.line = b[min(e.index ?? 0, b.count - 1)].line
                    error = e.description
                    refusal = e
                } catch let e as ChronikLogError where e.code != .io {
                    error = "line \(b[0].line): \(describe(e))"
                    let code: CommerceError.Code = switch e.code {
                    case .wrongExpectedVersion: .wrongExpectedVersion
                    case .duplicateEventId: .duplicateEventId
                    default: .appendFailed
                    }
                    refusal = CommerceError(code, field: e.code == .wrongExpectedVersion ? "expectedVersion" : nil, line: b[0].line, e.message)
                }
                // Listed in --json as a log lists its refusals (stop 43, a
                // helper: nothing on stdout, or "rejected":[] with a count).
                summary.rejected.append(refusal)
                guard skipInvalid else {
                    if options.json {
                        summary.rejects = parseRejects + refused + b.count
                        try summary.print(json: true, head: try? await store.headPosition())
                    }
                    throw CommandFailure("\(error); \(summary.soFar)")
                }
                printError(error)
                refused += b.count
            }
            summary.rejects = parseRejects + refused
            let head = try await store.headPosition()
            try summary.print(json: options.json, head: head)
        }
    }
}
