import ChronikLog
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ed25519 signing keys for digests, and their files.
///
/// A key file is one line: a tag, a space, the base64 of the raw 32-byte
/// key (docs/AUDIT.md). The private key file is created mode 0600, the
/// public key file (`PATH.pub`) mode 0644.
public enum AuditKeys {
    static let privateTag = "chronik-ed25519-private-key"
    static let publicTag = "chronik-ed25519-public-key"

    /// The key id printed in digests: the first 16 bytes of SHA-256 of the
    /// raw public key, in hex (32 digits).
    public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
        hex(Array(SHA256.hash(data: key.rawRepresentation)).prefix(16))
    }

    /// Makes a new key pair and writes it: the private key at `path`, the
    /// public key at `path + ".pub"`.
    ///
    /// Each file is written whole and durably (`Storage.writeFileDurably`:
    /// a temporary file, fsync, rename, directory fsync), the private key
    /// first: a crash leaves no key file, the private one alone, or both,
    /// each complete.
    ///
    /// - Parameter force: Replace existing files; without it an existing
    ///   file at either path is refused and nothing is written.
    /// - Returns: the new private key.
    /// - Throws: `AuditError` `.fileExists`, `.io`.
    @discardableResult
    public static func generate(at path: String, force: Bool = false,
                                storage: any Storage = PosixStorage()) throws(AuditError) -> Curve25519.Signing.PrivateKey {
        let pub = path + ".pub"
        // A directory is never a key file to replace, with --force neither.
        for p in [path, pub] where storage.isDirectory(p) {
            throw AuditError(.fileExists, "\(p) is a directory: give the path of the key file to create in it", path: p)
        }
        if !force {
            for p in [path, pub] where storage.exists(p) {
                throw AuditError(.fileExists, "refusing to overwrite an existing key file (use --force to replace it)", path: p)
            }
        }
        let key = Curve25519.Signing.PrivateKey()
        for (p, text, mode) in [(path, "\(privateTag) \(key.rawRepresentation.base64EncodedString())\n", UInt16(0o600)),
                                (pub, "\(publicTag) \(key.publicKey.rawRepresentation.base64EncodedString())\n", UInt16(0o644))] {
            do {
                try storage.writeFileDurably(p, bytes: Array(text.utf8), mode: mode, concurrentWriters: true)
            } catch {
                throw AuditError(.io, "cannot write the key file: \(ChronikLogError.message(of: error))", path: p)
            }
        }
        return key
    }

    /// Reads a private key file written by `generate`.
    public static func loadPrivateKey(_ path: String) throws(AuditError) -> Curve25519.Signing.PrivateKey {
        // Whoever can read it can sign digests as the auditor: only its
        // owner may (as `serve` asks of its tokens file; stop 34: a key of
        // mode 644 was used without a word).
        // The file's kind first: a public key given here needs no chmod
        // (stop 35: the advice was to chmod it, then that it was public).
        let raw = try load(path, tag: privateTag, what: "private key")
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
            throw AuditError(.badKey, "the private key may be read by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 \(path)",
                             path: path)
        }
        do { return try Curve25519.Signing.PrivateKey(rawRepresentation: raw) } catch {
            throw AuditError(.badKey, "not a valid Ed25519 private key", path: path)
        }
    }

    /// Reads a public key file written by `generate`.
    public static func loadPublicKey(_ path: String) throws(AuditError) -> Curve25519.Signing.PublicKey {
        let raw = try load(path, tag: publicTag, what: "public key")
        do { return try Curve25519.Signing.PublicKey(rawRepresentation: raw) } catch {
            throw AuditError(.badKey, "not a valid Ed25519 public key", path: path)
        }
    }

    private static func load(_ path: String, tag: String, what: String) throws(AuditError) -> Data {
        guard let bytes = readSmallFile(path, limit: 4096) else {
            throw AuditError(.badKey, "cannot read the \(what) file", path: path)
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0] == tag else {
            let other = parts.first.map { $0 == privateTag || $0 == publicTag } ?? false
            throw AuditError(.badKey, other ? "this is a \(parts[0] == privateTag ? "private" : "public") key file, a \(what) is needed"
                                            : "not a Chronik \(what) file (expected a line '\(tag) <base64>')", path: path)
        }
        guard let raw = Data(base64Encoded: String(parts[1])), raw.count == 32 else {
            throw AuditError(.badKey, "the \(what) is not 32 bytes of base64", path: path)
        }
        return raw
    }
}

// MARK: Small file helpers

func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
    return String(decoding: out, as: UTF8.self)
}

/// The whole file, or nil when it cannot be read or exceeds `limit` bytes.
func readSmallFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return out }
        out += chunk[0..<n]
        if out.count > limit { return nil }
    }
}
