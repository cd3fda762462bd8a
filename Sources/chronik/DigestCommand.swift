import ArgumentParser
import ChronikAudit
import ChronikLog
import Foundation

struct Digest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the log and sign its head: position, chain hash, time.",
        discussion: """
            Verifies the whole log first (a damaged log is not signed), then \
            prints a digest: the log's creation time, the head position (the \
            number of events it covers), the chain hash there, the time and \
            the key id, with an Ed25519 signature over them (docs/AUDIT.md). \
            --out also writes it to FILE, as one JSON line. Later, \
            `chronik verify --digest FILE --public-key KEY.pub` proves that \
            the log still holds exactly that history (appends after it are \
            allowed).

            Examples:
              $ chronik digest --key audit-key --out digest-2026-11-25.json
              $ chronik verify --digest digest-2026-11-25.json --public-key audit-key.pub

            Exit status: 0 success, 1 failure (also: the log is damaged), 64 \
            usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("The private key file (chronik keygen).", valueName: "path"))
    var key: String

    @Option(help: ArgumentHelp("Also write the digest to this file (replaced if it exists).", valueName: "file"))
    var out: String?

    // Hidden: a store is refused with a pointer to what does it (stop 35:
    // the help offered --store, which was always refused).
    @OptionGroup(visibility: .hidden) var storeOptions: StoreOptions

    func validate() throws {
        guard storeOptions.store == nil else {
            // The store's chain is another function of the same history
            // (docs/POSTGRES.md); a digest signs a log directory's.
            throw ValidationError("digest signs a log directory's chain; a PostgreSQL store is checked with chronik verify --store URL, or mirrored (chronik mirror --store URL --log DIR) and the mirror signed with chronik digest --log DIR")
        }
    }

    func run() throws {
        let privateKey = try AuditKeys.loadPrivateKey(key)
        let (digest, report) = try LogDigest.make(directory: options.directory(), key: privateKey)
        let text = digest.json
        if let out {
            do {
                try PosixStorage().writeFileDurably(out, bytes: Array((text + "\n").utf8), mode: 0o644, concurrentWriters: true)
            } catch {
                throw CommandFailure("cannot write \(out): \(ChronikLogError.message(of: error))")
            }
        }
        for w in report.warnings { options.note("chronik: warning: \(w)") }
        let o = Output()
        if options.json {
            o.line(text)
        } else {
            o.line("log created at: \(digest.logCreatedAt.rfc3339)")
            o.line("position:       \(digest.position) (events 0…\(digest.position.value == 0 ? "none" : String(digest.position.value - 1)))")
            o.line("chain hash:     \(digest.chainHash)")
            o.line("time:           \(digest.time.rfc3339)")
            o.line("key id:         \(digest.keyID)")
            o.line("signature:      \(digest.signatureBase64)")
            if let out { o.line("written to \(out)") }
        }
        o.flush()
    }
}
