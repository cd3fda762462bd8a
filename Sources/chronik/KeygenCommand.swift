import ArgumentParser
import ChronikAudit

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an Ed25519 key pair for signing digests.",
        discussion: """
            Writes the private key to PATH (created mode 0600) and the public \
            key to PATH.pub (mode 0644), each one line: a tag and the base64 \
            of the raw 32-byte key (docs/AUDIT.md). An existing file at either \
            path is refused unless --force; nothing is written then.

            Keys belong to an auditor, not to a log: --log is accepted, as by \
            every command, and not used.

            Examples:
              $ chronik keygen --out my-audit-key
              $ chronik digest --key my-audit-key --out digest.json
              $ chronik verify --digest digest.json --public-key my-audit-key.pub

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("Path of the private key; the public key goes to PATH.pub.", valueName: "path"))
    var out: String

    @Flag(help: "Replace existing key files.")
    var force = false

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out must not be empty") }
    }

    func run() throws {
        let key = try AuditKeys.generate(at: out, force: force)
        let id = AuditKeys.keyID(key.publicKey)
        let o = Output()
        if options.json {
            struct Report: Encodable { var privateKey, publicKey, keyId: String }
            try o.line(encoding: Report(privateKey: out, publicKey: out + ".pub", keyId: id))
        } else {
            o.line("private key: \(out) (mode 0600; keep it secret)")
            o.line("public key:  \(out).pub (give it to auditors)")
            o.line("key id:      \(id)")
        }
        o.flush()
    }
}
