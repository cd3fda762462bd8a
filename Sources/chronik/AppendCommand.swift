import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events read as JSON Lines from stdin or a file.",
        discussion: """
            One event per line:

              {"stream": "order-1", "type": "OrderPlaced", "data": {"total": 4999}}

            Required: stream (1-256 bytes), type (1-256 bytes), data (any JSON \
            value). Optional: meta (an object of strings), id (a UUID; \
            appending an id already in the log with the same content is an \
            idempotent no-op), time (RFC 3339, default now), expectedVersion \
            (a number, "any", "noStream" or "exists"). The extra keys that \
            read --json prints are ignored, so its output can be appended \
            again.

            Consecutive lines of the same stream form one atomic batch (at \
            most --batch events). A batch is checked against the \
            expectedVersion of its first line; a later line with its own \
            expectedVersion starts a new batch.

            Every line is checked before anything is written: when any line is \
            bad, each bad line is reported with its number and nothing is \
            appended. Expected versions are checked against the log before \
            the first write too.

            Examples:
              chronik append --log /var/lib/shop events.jsonl
              echo '{"stream":"s-1","type":"Opened","data":{}}' | chronik append

            Exit status: 0 appended (or nothing to do), 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions

    @Argument(help: ArgumentHelp("JSON Lines to append; - or nothing reads stdin.", valueName: "file"))
    var file: String?

    @Option(help: ArgumentHelp("At most this many events per batch.", valueName: "n"))
    var batch = 1000

    @Option(name: .customLong("max-event-bytes"), help: ArgumentHelp(
        "Refuse an event larger than this, encoded (type, id, time, meta, data).", valueName: "size"))
    var maxEventBytes = ByteSize(bytes: LogFormat.defaultMaxEventBytes)

    /// A batch is also cut when it would grow past this many encoded bytes,
    /// which bounds the memory of one write.
    static let maxBatchBytes = 32 << 20
    /// At most this many bad lines are listed.
    static let maxReportedErrors = 20

    func validate() throws {
        guard (1...LogFormat.maxEventsPerBatch).contains(batch) else {
            throw ValidationError("--batch must be 1...\(LogFormat.maxEventsPerBatch), got \(batch)")
        }
        guard (1...LogFormat.maxEventBytesCeiling).contains(maxEventBytes.bytes) else {
            throw ValidationError("--max-event-bytes must be 1...\(LogFormat.maxEventBytesCeiling), got \(maxEventBytes.bytes)")
        }
        if let file, file != "-", !FileManager.default.fileExists(atPath: file) {
            throw ValidationError("no such input file: \(file)")
        }
    }

    func run() async throws {
        let lines = try readEvents()
        if lines.isEmpty {
            options.note("chronik: nothing to append: the input holds no event")
            if options.json { Output().line(Summary().json(head: nil)) }
            return
        }
        // Personal data is only ever stored encrypted (docs/GDPR.md), which
        // takes the commerce codec: such types go through `import`.
        let personal = lines.filter { l in CommerceEventType(name: l.event.type).map { !$0.schema.piiFieldPaths.isEmpty } ?? false }
        if !personal.isEmpty {
            throw CommandFailure(lines: personal.prefix(20).map {
                "line \($0.line): \($0.event.type) carries personal data, which Chronik stores only encrypted: use `chronik import` for it"
            } + ["nothing was appended"])
        }
        let batches = plan(lines)
        let log = try options.openForWriting(creation, maxEventBytes: maxEventBytes.bytes)
        defer { try? log.close() }
        try precheck(batches, in: log)

        var summary = Summary()
        for b in batches {
            let result: AppendResult
            do {
                result = try await log.append(to: b.stream, b.lines.map(\.event), expected: b.expected)
            } catch let error as ChronikLogError {
                throw CommandFailure("line \(b.lines[0].line): \(describe(error)); \(summary.soFar)")
            }
            if result.wasDuplicate {
                summary.duplicateEvents += b.lines.count
            } else {
                summary.appended += b.lines.count
                summary.batches += 1
                summary.streams.insert(b.stream)
                summary.first = summary.first ?? result.firstPosition
                summary.last = result.lastPosition
            }
        }
        let out = Output()
        out.line(options.json ? summary.json(head: log.head) : summary.text)
    }

    /// Reads and checks every line; throws a report of all bad lines.
    private func readEvents() throws -> [EventLine] {
        let handle: FileHandle
        if let file, file != "-" {
            do { handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file)) } catch {
                throw CommandFailure("cannot read \(file): \(error.localizedDescription)")
            }
        } else {
            handle = FileHandle.standardInput
            if isatty(STDIN_FILENO) == 1 { options.note("chronik: reading JSON Lines from the terminal; end with Ctrl-D") }
        }
        var reader = LineReader(handle: handle)
        var parser = EventLineParser(maxEventBytes: maxEventBytes.bytes)
        var events: [EventLine] = []
        var errors: [LineError] = []
        var number = 0
        do {
            while let bytes = try reader.next() {
                number += 1
                switch parser.parse(bytes, line: number) {
                case .success(let e)?: events.append(e)
                case .failure(let e)?: errors.append(e)
                case nil: continue
                }
            }
        } catch {
            throw CommandFailure("cannot read the input after line \(number): \(error.localizedDescription)")
        }
        guard errors.isEmpty else {
            if errors.count == 1 { throw CommandFailure("\(errors[0]) (nothing was appended)") }
            var report = errors.prefix(Self.maxReportedErrors).map(\.description)
            if errors.count > Self.maxReportedErrors { report.append("… and \(errors.count - Self.maxReportedErrors) more bad lines") }
            report.append("\(errors.count) bad lines; nothing was appended")
            throw CommandFailure(lines: report)
        }
        return events
    }

    /// One batch to append: consecutive lines of one stream.
    struct PlannedBatch {
        var stream: String
        var expected: ExpectedVersion
        var lines: [EventLine]
        var bytes: Int
    }

    /// Groups lines into batches: a new batch starts at a stream change, at
    /// --batch events, at a line with its own expectedVersion, or when the
    /// batch would pass `maxBatchBytes`.
    func plan(_ lines: [EventLine]) -> [PlannedBatch] {
        var out: [PlannedBatch] = []
        for l in lines {
            let size = l.event.encodedByteCount
            if var current = out.last, current.stream == l.stream, l.expected == nil, current.lines.count < batch,
               current.bytes + size <= Self.maxBatchBytes {
                current.lines.append(l)
                current.bytes += size
                out[out.count - 1] = current
            } else {
                out.append(PlannedBatch(stream: l.stream, expected: l.expected ?? .any, lines: [l], bytes: size))
            }
        }
        return out
    }

    /// Checks expected versions and id reuse against the log before the
    /// first write (this process holds the writer lock, so the log cannot
    /// change meanwhile). A batch whose ids are all in the log is an
    /// idempotent retry: the log itself compares its content.
    private func precheck(_ batches: [PlannedBatch], in log: EventLog) throws {
        var versions: [String: UInt64?] = [:]
        for b in batches {
            let known = b.lines.map { $0.hasExplicitID ? log.position(ofEventID: $0.event.id) : nil }
            if known.allSatisfy({ $0 != nil }) { continue }
            if let k = known.firstIndex(where: { $0 != nil }), let position = known[k] {
                let missing = b.lines[known.firstIndex(where: { $0 == nil })!]
                throw CommandFailure(
                    "line \(b.lines[k].line): event id \(b.lines[k].event.id) is already in the log (position \(position)) but the id on line \(missing.line) of the same batch is not: a retry must resend the same batch (nothing was appended)")
            }
            let current: UInt64? = versions[b.stream] ?? log.lastVersion(of: b.stream).map(\.value)
            let ok: Bool
            switch b.expected {
            case .any: ok = true
            case .noStream: ok = current == nil
            case .exists: ok = current != nil
            case .exact(let v): ok = current == v
            }
            guard ok else {
                let actual = current.map { "version \($0)" } ?? "no event (noStream)"
                throw CommandFailure(
                    "line \(b.lines[0].line): wrong expected version for stream '\(b.stream)': expected \(b.expected), actual \(actual) (nothing was appended)")
            }
            versions[b.stream] = .some((current.map { $0 + 1 } ?? 0) + UInt64(b.lines.count) - 1)
        }
    }

    /// What the append did.
    struct Summary {
        var appended = 0
        var batches = 0
        var duplicateEvents = 0
        var streams: Set<String> = []
        var first: Position?
        var last: Position?

        var range: String {
            guard let first, let last else { return "" }
            return first == last ? "position \(first)" : "positions \(first)-\(last)"
        }

        /// For an error midway: what is already in the log.
        var soFar: String {
            appended == 0 ? "nothing was appended" : "\(appended) event\(appended == 1 ? "" : "s") before it \(appended == 1 ? "was" : "were") appended (\(range))"
        }

        var text: String {
            var s = appended == 0
                ? "appended nothing"
                : "appended \(appended) event\(appended == 1 ? "" : "s") in \(batches) batch\(batches == 1 ? "" : "es") to \(streams.count) stream\(streams.count == 1 ? "" : "s"): \(range)"
            if duplicateEvents > 0 {
                s += "; \(duplicateEvents) event\(duplicateEvents == 1 ? " was" : "s were") already in the log (idempotent retry)"
            }
            return s
        }

        func json(head: Position?) -> String {
            var o = JSONObject()
            o.add("appended", appended)
            o.add("batches", batches)
            o.add("streams", streams.count)
            o.add("duplicates", duplicateEvents)
            o.add("firstPosition", first.map { .uint($0.value) } ?? .null)
            o.add("lastPosition", last.map { .uint($0.value) } ?? .null)
            o.add("head", head.map { .uint($0.value) } ?? .null)
            return o.text
        }
    }
}
