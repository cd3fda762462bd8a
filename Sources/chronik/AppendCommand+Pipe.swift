import ChronikCommerce
import ChronikLog
import Foundation

// `producer | chronik append`: on a pipe, FIFO or socket the input may
// never end, so waiting for it to end (the whole-input check of a file)
// would append nothing. Instead the lines are taken in groups — what has
// arrived when the reader catches up — and each group goes through the
// same parse, check and append as a file's whole input: all of it, or
// none of it.

extension Append {
    /// A group never holds more lines than this, which bounds its memory
    /// when a producer writes faster than the log appends.
    static let maxGroupLines = 10_000

    /// Whether `fd` is a pipe, a FIFO or a socket: input that arrives over
    /// time. A regular file (or a terminal) is read to its end first.
    static func isStream(_ fd: Int32) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        let kind = st.st_mode & mode_t(S_IFMT)
        return kind == mode_t(S_IFIFO) || kind == mode_t(S_IFSOCK)
    }

    /// Whether read(2) on `fd` would return at once (data or the end).
    static func isReadable(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }

    /// Appends the input group by group as it arrives, until its end. A
    /// group is the lines that arrived together: after the first line
    /// (waited for), every whole line already buffered or readable without
    /// waiting, at most `maxGroupLines`. A group with a bad line is refused
    /// whole, and the command stops there with exit 1 (the groups before it
    /// stay appended), so that a producer notices; with --skip-invalid the
    /// bad lines are reported and the rest goes on.
    func appendAsLinesArrive(from fd: Int32) async throws {
        var reader = lineReader(fd)
        var log: EventLog?
        defer { try? log?.close() }
        var total = Summary()
        var atEnd = false
        AppendInterrupt.shared.install()
        AppendInterrupt.shared.appendingFromPipe()
        while !atEnd {
            var rejects = Rejects(limit: Self.maxReportedErrors)
            // A parser per group: a repeated id of an earlier group is in
            // the log by now, where the check finds it.
            var parser = EventLineParser(maxEventBytes: maxEventBytes.bytes)
            var items: [EventLineParser.Parsed] = []
            var lines: ClosedRange<Int>?
            do {
                repeat {
                    guard let item = try reader.next() else { atEnd = true; break }
                    let n = item.lineNumber
                    lines = (lines?.lowerBound ?? n)...n
                    take(item, parser: &parser, into: &items, rejects: &rejects)
                } while lines!.count < Self.maxGroupLines && (reader.hasBufferedLine || Self.isReadable(fd))
            } catch {
                throw CommandFailure(error.description)
            }
            guard let lines else { break }
            if !rejects.isEmpty && !skipInvalid { throw refusal(rejects, lines: lines, total: total, head: log?.head) }
            var group = Summary()
            AppendInterrupt.shared.pipeGroup(inFlight: true)
            if items.contains(where: { if case .event = $0 { true } else { false } }) {
                if log == nil { log = try options.openForWriting(creation, maxEventBytes: maxEventBytes.bytes) }
                let planned = try check(items, in: log!, rejects: &rejects, summary: &group)
                if !rejects.isEmpty && !skipInvalid { throw refusal(rejects, lines: lines, total: total, head: log?.head) }
                if let failure = try await append(planned, to: log!, summary: &group) {
                    total.add(group)
                    if options.json { try? Output().line(encoding: total.report(head: log?.head)) }
                    throw CommandFailure("line \(failure.line): \(describe(failure.error)); \(total.soFar)")
                }
            } else {
                group.retries = items.count
            }
            rejects.report()
            group.rejects = rejects.count
            group.rejected = rejects.sorted
            total.add(group)
            options.note("chronik: note: \(Self.lineRange(lines)): \(group.text)")
            AppendInterrupt.shared.pipeGroup(inFlight: false, said: total.appended == 0 ? "nothing was appended" : total.text)
            AppendInterrupt.shared.stopAfterGroupIfAsked()
        }
        if total.appended == 0 && total.rejects == 0 && total.duplicateEvents == 0 && total.retries == 0 {
            options.note("chronik: nothing to append: the input holds no event")
        }
        try total.print(json: options.json, head: log?.head)
    }

    /// The failure of a group with bad lines: each named by its number,
    /// and what the groups before it appended.
    /// With --json the summary of what was appended, and the group's bad
    /// lines, goes to stdout first, as for a file (stop 38, a migration:
    /// stdout was empty, and a script could not tell that the lines before
    /// were in the log).
    private func refusal(_ rejects: Rejects, lines: ClosedRange<Int>, total: Summary, head: Position?) -> CommandFailure {
        if options.json {
            var s = total
            s.rejects += rejects.count
            s.rejected += rejects.sorted
            try? Output().line(encoding: s.report(head: head))
        }
        var last = "\(rejects.count) bad line\(rejects.count == 1 ? "" : "s"); nothing of \(Self.lineRange(lines)) was appended"
        if total.appended > 0 {
            last += "; the \(total.appended) event\(total.appended == 1 ? "" : "s") of the lines before \(total.appended == 1 ? "is" : "are") in the log (\(total.range))"
        }
        last += "; stopped reading"
        return CommandFailure(lines: rejects.reportLines + [last])
    }

    /// `line 4` or `lines 3-4`.
    static func lineRange(_ lines: ClosedRange<Int>) -> String {
        lines.count == 1 ? "line \(lines.lowerBound)" : "lines \(lines.lowerBound)-\(lines.upperBound)"
    }
}

extension BoundedLineReader.Item {
    var lineNumber: Int {
        switch self {
        case .line(let n, _), .tooLong(let n, _): n
        }
    }
}

extension Append.Summary {
    /// Adds what a later group did.
    mutating func add(_ other: Self) {
        appended += other.appended
        batches += other.batches
        duplicateEvents += other.duplicateEvents
        retries += other.retries
        rejects += other.rejects
        // As many bad lines as one input reports (stop 38: with
        // --skip-invalid, `rejected` stayed empty beside `rejects: 1`).
        rejected += other.rejected.prefix(max(0, Append.maxReportedErrors - rejected.count))
        streams.formUnion(other.streams)
        first = first ?? other.first
        last = other.last ?? last
    }
}
