import ArgumentParser
import ChronikLog

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every checksum, the whole hash chain and every index of a log.",
        discussion: """
            Reads the log's files directly (it works where opening the log \
            would refuse, beside a running writer, and on a read-only \
            directory) and checks: the metadata file; every segment header; \
            every batch — checksum, header fields, payload decoding, positions \
            continuous within and across segments, stream versions continuous, \
            event ids unique; the SHA-256 hash chain from genesis to the head; \
            and every index file against its segment.

            An incomplete final batch in the last segment (a writer died \
            mid-append) is a warning, not corruption: it was never \
            acknowledged, and the next writer truncates it. Verification stops \
            at the first damage and names its file and byte offset.

            Examples:
              chronik verify
              chronik verify --log /var/lib/shop --json

            Exit status: 0 clean, 1 corruption found (or the log cannot be \
            read), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let r = try LogVerifier.verify(directory: options.directory())
        let out = Output()
        if options.json {
            out.line(Self.json(r))
        } else {
            let scope = r.isClean ? "" : " up to the damage"
            out.line("verified \(r.directory)\(scope): \(r.segments.count) segment\(r.segments.count == 1 ? "" : "s"), \(r.batches) batches, "
                     + "\(r.events) events, \(formatBytes(r.bytes)) in \(formatDuration(r.duration))")
            out.line("  checksums, payloads, positions, stream versions, event ids, hash chain from genesis, \(r.indexesChecked) index file\(r.indexesChecked == 1 ? "" : "s")")
            out.line("  head position \(r.headPosition), head hash \(r.headHash)")
            for w in r.warnings { out.line("  warning: \(w)") }
            if let f = r.failure {
                out.line("CORRUPT: \(f)")
            } else {
                out.line(r.warnings.isEmpty ? "OK" : "OK (with \(r.warnings.count) warning\(r.warnings.count == 1 ? "" : "s"))")
            }
        }
        out.flush()
        for w in r.warnings { options.note("chronik: warning: \(w)") }
        if let f = r.failure {
            throw CommandFailure("corruption found: \(f)")
        }
    }

    static func json(_ r: VerificationReport) -> String {
        func issue(_ i: VerificationIssue) -> JSONObject {
            var o = JSONObject()
            o.add("code", i.code.name)
            o.add("file", i.file)
            o.add("offset", i.offset)
            o.add("reason", i.reason)
            return o
        }
        var o = JSONObject()
        o.add("clean", r.isClean)
        o.add("log", r.directory)
        o.add("compression", r.compression?.rawValue)
        o.add("segments", r.segments.count)
        o.add("batches", r.batches)
        o.add("events", r.events)
        o.add("bytes", r.bytes)
        o.add("indexesChecked", r.indexesChecked)
        o.add("durationMs", milliseconds(r.duration))
        o.add("headPosition", r.headPosition.value)
        o.add("headHash", r.headHash.description)
        o.add("failure", r.failure.map { .raw(issue($0).text) } ?? .null)
        o.add("warnings", .raw("[" + r.warnings.map { issue($0).text }.joined(separator: ",") + "]"))
        return o.text
    }
}
