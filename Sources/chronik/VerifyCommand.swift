import ArgumentParser
import Foundation
import ChronikProjections
import ChronikAudit
import ChronikCommerce
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

            Snapshots (chronik snapshot) are a cache of the read models, \
            not the log: each is checked against the log (checksum, \
            structure, position, the chain hash it recorded, every model \
            decoding), and an invalid one is reported on its own line, \
            apart from the log's verdict. The log alone decides the exit \
            status unless --strict-snapshots is given. replay ignores an \
            invalid snapshot; chronik snapshot writes a new one and removes \
            the invalid ones. Files it does not check (anything unknown) are \
            listed as not verified.

            Damage is told once, on stdout, as FILE at byte N: REASON, \
            with the last good position (everything before it is sound).

            Examples:
              $ chronik verify
              $ chronik verify --log shop --json
              $ chronik verify --digest digest.json --public-key audit-key.pub
              $ chronik verify --strict-snapshots

            A PostgreSQL store (needs the server; ChronikPostgresTests runs it):
              chronik verify --store postgres://chronik@db:5432/shop

            Exit status: 0 clean (also with invalid snapshots, unless \
            --strict-snapshots), 1 corruption found (or the log cannot be \
            read, or the digest fails), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("Also check the log against this signed digest (chronik digest).", valueName: "file"))
    var digest: String?

    @Option(name: .customLong("public-key"), help: ArgumentHelp("The public key (PATH.pub of chronik keygen) that signed --digest.", valueName: "file"))
    var publicKey: String?

    @Flag(name: .customLong("strict-snapshots"), help: "Exit 1 when a snapshot is invalid too (default: snapshot problems are reported apart; the log's status decides).")
    var strictSnapshots = false

    @Option(help: ArgumentHelp("Verify a PostgreSQL store instead of a log directory (docs/POSTGRES.md).",
                               valueName: "postgres://user@host:port/db"))
    var store: String?

    func validate() throws {
        // With --store, what only a log directory has is a usage error here,
        // as in read and export (stop 43, a helper: --log was ignored, exit
        // 0, and --digest printed the top command's usage).
        try StoreOptions.validate(store, with: options, notWith: [("--digest", digest != nil || publicKey != nil),
                                                                  ("--strict-snapshots", strictSnapshots)])
        if (digest == nil) != (publicKey == nil) {
            throw ValidationError("--digest and --public-key go together")
        }
    }

    func run() async throws {
        if let store { return try await verifyStore(store) }
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
            try? log.close()
            // What the snapshots directory holds besides snapshots is listed,
            // never implied checked.
            let known = Set(snapshots.map { ($0.path as NSString).lastPathComponent })
            let others = ((try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? [])
                .filter { !known.contains($0) }.map { "snapshots/" + $0 }
            r.unverified = (r.unverified.filter { $0 != "snapshots" } + others).sorted()
        }
        // A snapshot is a cache: its problems are reported apart from the
        // log's verdict.
        let snapshotProblems = snapshots.compactMap { v in
            v.problem.map { VerificationIssue(code: .corruption, file: "snapshots/" + (v.path as NSString).lastPathComponent,
                                              offset: Int64($0.offset), reason: $0.reason) }
        }
        let out = Output()
        if options.json {
            try out.line(encoding: Report(r, check: check, snapshots: snapshots.count, snapshotProblems: snapshotProblems))
        } else {
            let scope = r.stoppedEarly ? " up to the damage" : ""
            out.line("verified \(r.directory)\(scope): \(r.segments.count) segment\(r.segments.count == 1 ? "" : "s"), \(r.batches) batches, "
                     + "\(r.events) events, \(formatBytes(r.bytes)) in \(formatDuration(r.duration))")
            out.line("  checksums, payloads, positions, stream versions, event ids, hash chain from genesis, \(r.indexesChecked) index file\(r.indexesChecked == 1 ? "" : "s"), \(snapshots.count) snapshot\(snapshots.count == 1 ? "" : "s")")
            out.line(!r.stoppedEarly ? "  head position \(r.headPosition), head hash \(r.headHash)"
                     : "  last good position \(r.headPosition.value > 0 ? "\(r.headPosition.value - 1)" : "none (no sound event)"), its chain hash \(r.headHash)")
            if !r.unverified.isEmpty {
                out.line("  not verified (no check for them yet): \(r.unverified.joined(separator: ", "))")
            }
            for w in r.warnings { out.line("  warning: \(w)") }
            if let c = check, c.problem == nil {
                out.line("digest holds: the log holds exactly the history signed at position \(c.digest.position) on \(c.digest.time.rfc3339) by key \(c.digest.keyID); \(c.appendedSince) event\(c.appendedSince == 1 ? "" : "s") appended since")
            }
            // The last line is the verdict (stop 32: a failing digest was
            // followed by "OK").
            if let f = r.failure {
                if let p = check?.problem { out.line("DIGEST FAILS: \(p.message)") }
                for i in r.damagedIndexes where i != f { out.line("  damaged index: \(i)") }
                if !r.damagedIndexes.isEmpty {
                    out.line("  an index file is a cache of its segment, and \(r.stoppedEarly ? "the segments before the damage" : "every segment") verified sound: "
                             + "`chronik repair --log \(r.directory) --truncate` rewrites \(r.damagedIndexes.count == 1 ? "it" : "them") from the segment\(r.damagedIndexes.count == 1 ? "" : "s")")
                }
                out.line("CORRUPT: \(f)")
            } else if let p = check?.problem {
                out.line("DIGEST FAILS: \(p.message)")
            } else {
                out.line(r.warnings.isEmpty ? "OK" : "OK (with \(r.warnings.count) warning\(r.warnings.count == 1 ? "" : "s"))")
            }
            for p in snapshotProblems { out.line("SNAPSHOT INVALID: \(p)") }
            if !snapshotProblems.isEmpty {
                out.line("  snapshots are a cache of the read models, not the log: replay ignores an invalid one; "
                         + "`chronik snapshot --log \(r.directory)` writes a new one and removes the invalid ones")
            }
        }
        out.flush()
        // Everything was said once, on stdout (the report is the result);
        // the exit status carries the verdict.
        // A failing digest keeps its line on stderr too (a script's reason).
        if let p = check?.problem { throw CommandFailure(lines: [p.message]) }
        let failed = r.failure != nil || (strictSnapshots && !snapshotProblems.isEmpty)
        if failed { throw CommandFailure(lines: []) }
    }

    /// The `--json` report.
    struct Report: Encodable {
        /// A failure, a warning or an invalid snapshot: where and what.
        struct Issue: Encodable {
            var code, file: String
            var offset: Int64
            var reason: String

            /// A warning's code is `warning`: what it found is not damage
            /// (stop 36: every warning said `corruption`).
            init(_ i: VerificationIssue, warning: Bool = false) {
                code = warning ? "warning" : i.code.name
                file = i.file
                offset = i.offset
                reason = i.reason
            }
        }

        /// The check of `--digest`.
        struct Digest: Encodable {
            var holds: Bool
            var position: UInt64
            var chainHash, time, keyId: String
            var appendedSince: UInt64
            var problem, code: String?
        }

        var clean: Bool
        var log: String
        var compression: String?
        var segments, batches: Int
        var events: UInt64
        var bytes: Int64
        var indexesChecked, snapshotsChecked: Int
        var durationMs: Double
        var headPosition: UInt64
        var headHash: String
        var lastGoodPosition: UInt64?
        var snapshotProblems: [Issue]
        var failure: Issue?
        /// Index files that do not describe their segment (verified sound).
        var damagedIndexes: [Issue]
        /// Whether the figures stop at `failure` (damage to the segments).
        var stoppedEarly: Bool
        var warnings: [Issue]
        var unverified: [String]
        /// Null unless `--digest` was given.
        var digest: Digest?

        init(_ r: VerificationReport, check: DigestCheck?, snapshots: Int, snapshotProblems: [VerificationIssue]) {
            clean = r.isClean
            log = r.directory
            compression = r.compression?.rawValue
            segments = r.segments.count
            batches = r.batches
            events = r.events
            bytes = r.bytes
            indexesChecked = r.indexesChecked
            snapshotsChecked = snapshots
            durationMs = milliseconds(r.duration)
            headPosition = r.headPosition.value
            headHash = r.headHash.description
            lastGoodPosition = r.headPosition.value > 0 ? r.headPosition.value - 1 : nil
            self.snapshotProblems = snapshotProblems.map { Issue($0) }
            failure = r.failure.map { Issue($0) }
            damagedIndexes = r.damagedIndexes.map { Issue($0) }
            stoppedEarly = r.stoppedEarly
            warnings = r.warnings.map { Issue($0, warning: true) }
            unverified = r.unverified
            digest = check.map { c in
                Digest(holds: c.holds, position: c.digest.position.value, chainHash: c.digest.chainHash.description,
                       time: c.digest.time.rfc3339, keyId: c.digest.keyID, appendedSince: c.appendedSince,
                       problem: c.problem?.message, code: c.problem?.code.name)
            }
        }
    }
}
