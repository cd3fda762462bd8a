import ArgumentParser
import Foundation
import ChronikProjections
import ChronikAudit
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

            With --digest FILE --public-key KEY.pub (see chronik digest), it \
            also proves that the log still holds exactly the history the \
            digest signed, up to its position, with only appends after it: a \
            forged digest or the wrong key, a truncated log and a rewritten \
            history each fail with their reason.

            Files it does not check (snapshots, for now, and anything unknown) \
            are listed as not verified.

            Examples:
              $ chronik verify
              $ chronik verify --log shop --json
              $ chronik verify --digest digest.json --public-key audit-key.pub

            Exit status: 0 clean, 1 corruption found (or the log cannot be \
            read), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("Also check the log against this signed digest (chronik digest).", valueName: "file"))
    var digest: String?

    @Option(name: .customLong("public-key"), help: ArgumentHelp("The public key (PATH.pub of chronik keygen) that signed --digest.", valueName: "file"))
    var publicKey: String?

    func validate() throws {
        if (digest == nil) != (publicKey == nil) {
            throw ValidationError("--digest and --public-key go together")
        }
    }

    func run() async throws {
        var check: DigestCheck?
        var r: VerificationReport
        if let digest, let publicKey {
            let d = try LogDigest.load(digest)
            let key = try AuditKeys.loadPublicKey(publicKey)
            let c = try DigestCheck.check(d, publicKey: key, directory: options.directory())
            check = c
            r = c.report
        } else {
            r = try LogVerifier.verify(directory: options.directory())
        }
        // Snapshots (docs/PROJECTIONS.md) are checked against the log once
        // the log itself is sound: checksum, structure, position, the chain
        // hash they recorded, and every model decoding.
        var snapshots: [SnapshotVerdict] = []
        if r.isClean, FileManager.default.fileExists(atPath: options.directory() + "/snapshots") {
            let log = try options.openForReading()
            let store = SnapshotStore(logDirectory: options.directory())
            snapshots = store.verifyAll(against: log)
            log.close()
            // What the snapshots directory holds besides snapshots is listed,
            // never implied checked.
            let known = Set(snapshots.map { ($0.path as NSString).lastPathComponent })
            let others = ((try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? [])
                .filter { !known.contains($0) }.map { "snapshots/" + $0 }
            r.unverified = (r.unverified.filter { $0 != "snapshots" } + others).sorted()
            if let bad = snapshots.first(where: { $0.problem != nil }), let p = bad.problem {
                r.failure = VerificationIssue(code: .corruption, file: "snapshots/" + (bad.path as NSString).lastPathComponent,
                                              offset: Int64(p.offset), reason: "snapshot: " + p.reason)
            }
        }
        let out = Output()
        if options.json {
            out.line(Self.json(r, check: check, snapshots: snapshots.count))
        } else {
            let scope = r.isClean ? "" : " up to the damage"
            out.line("verified \(r.directory)\(scope): \(r.segments.count) segment\(r.segments.count == 1 ? "" : "s"), \(r.batches) batches, "
                     + "\(r.events) events, \(formatBytes(r.bytes)) in \(formatDuration(r.duration))")
            out.line("  checksums, payloads, positions, stream versions, event ids, hash chain from genesis, \(r.indexesChecked) index file\(r.indexesChecked == 1 ? "" : "s"), \(snapshots.count) snapshot\(snapshots.count == 1 ? "" : "s")")
            out.line("  head position \(r.headPosition), head hash \(r.headHash)")
            if !r.unverified.isEmpty {
                out.line("  not verified (no check for them yet): \(r.unverified.joined(separator: ", "))")
            }
            for w in r.warnings { out.line("  warning: \(w)") }
            if let c = check {
                if let p = c.problem {
                    out.line("DIGEST FAILS: \(p.message)")
                } else {
                    out.line("digest holds: the log holds exactly the history signed at position \(c.digest.position) on \(c.digest.time.rfc3339) by key \(c.digest.keyID); \(c.appendedSince) event\(c.appendedSince == 1 ? "" : "s") appended since")
                }
            }
            if let f = r.failure {
                out.line("CORRUPT: \(f)")
            } else {
                out.line(r.warnings.isEmpty ? "OK" : "OK (with \(r.warnings.count) warning\(r.warnings.count == 1 ? "" : "s"))")
            }
        }
        out.flush()
        for w in r.warnings { options.note("chronik: warning: \(w)") }
        var failures: [String] = []
        if let p = check?.problem { failures.append(p.message) }
        if let f = r.failure { failures.append("corruption found: \(f)") }
        if !failures.isEmpty { throw CommandFailure(lines: failures) }
    }

    static func json(_ r: VerificationReport, check: DigestCheck? = nil, snapshots: Int = 0) -> String {
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
        o.add("snapshotsChecked", snapshots)
        o.add("durationMs", milliseconds(r.duration))
        o.add("headPosition", r.headPosition.value)
        o.add("headHash", r.headHash.description)
        o.add("failure", r.failure.map { .raw(issue($0).text) } ?? .null)
        o.add("warnings", .raw("[" + r.warnings.map { issue($0).text }.joined(separator: ",") + "]"))
        o.add("unverified", .raw("[" + r.unverified.map { JSONValue.string($0).text }.joined(separator: ",") + "]"))
        if let c = check {
            var d = JSONObject()
            d.add("holds", c.holds)
            d.add("position", c.digest.position.value)
            d.add("chainHash", c.digest.chainHash.description)
            d.add("time", c.digest.time.rfc3339)
            d.add("keyId", c.digest.keyID)
            d.add("appendedSince", c.appendedSince)
            d.add("problem", c.problem.map { .string($0.message) } ?? .null)
            d.add("code", c.problem.map { .string($0.code.name) } ?? .null)
            o.add("digest", d)
        }
        return o.text
    }
}
