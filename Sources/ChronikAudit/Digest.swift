import ChronikCommerce
import ChronikLog
import Crypto
import Foundation

/// A signed statement "this log held exactly this history up to this
/// position": the chain hash after the first `position` events, signed
/// with Ed25519. The file format and the signed bytes are in docs/AUDIT.md.
public struct LogDigest: Hashable, Sendable {
    /// The format tag, first line of the signed bytes and `format` in the file.
    public static let formatTag = "chronik-digest-v1"

    /// When the log was created (its metadata file): names the log.
    public var logCreatedAt: Timestamp
    /// How many events the digest covers: positions 0 ..< `position`
    /// (the log's head, "next position", when it was taken).
    public var position: Position
    /// The chain hash of the batch that ends at `position` (genesis, 32
    /// zero bytes, for 0): it commits to every byte of those batches.
    public var chainHash: ChainHash
    /// When the digest was made.
    public var time: Timestamp
    /// `AuditKeys.keyID` of the signing key.
    public var keyID: String
    /// Ed25519 signature (64 bytes) of `signedBytes`.
    public var signature: [UInt8]

    /// The canonical bytes that are signed: UTF-8 text, one `name: value`
    /// line each after the format tag, every line ending in LF.
    public var signedBytes: [UInt8] {
        Array("""
            \(Self.formatTag)
            log-created-at: \(logCreatedAt.rfc3339)
            position: \(position.value)
            chain-hash: \(chainHash)
            time: \(time.rfc3339)
            key-id: \(keyID)

            """.utf8)
    }

    /// Verifies the log in `directory` and signs its head.
    ///
    /// - Throws: `AuditError.logDamaged` when verification finds damage
    ///   (no digest vouches for a damaged log); `ChronikLogError` when the
    ///   directory is not a readable log; `AuditError.io` when signing fails.
    /// - Returns: the digest and the verification report behind it.
    public static func make(directory: String, key: Curve25519.Signing.PrivateKey,
                            time: Timestamp = .now()) throws -> (LogDigest, VerificationReport) {
        let report = try LogVerifier.verify(directory: directory)
        if let failure = report.failure {
            throw AuditError(.logDamaged, "refusing to sign a damaged log: \(failure)")
        }
        guard let created = report.createdAt else {
            throw AuditError(.logDamaged, "the log's metadata file holds no creation time")
        }
        var d = LogDigest(logCreatedAt: created, position: report.headPosition, chainHash: report.headHash, time: time,
                          keyID: AuditKeys.keyID(key.publicKey), signature: [])
        do { d.signature = Array(try key.signature(for: d.signedBytes)) } catch {
            throw AuditError(.io, "signing failed: \(error)")
        }
        return (d, report)
    }

    /// The signature in base64, as in the file.
    public var signatureBase64: String { Data(signature).base64EncodedString() }

    /// Whether `signature` is a valid signature of `signedBytes` by `key`.
    public func isSigned(by key: Curve25519.Signing.PublicKey) -> Bool {
        key.isValidSignature(signature, for: signedBytes)
    }

    /// The digest file: one JSON object on one line, keys in this order.
    public var json: String {
        var w = JSONWriter()
        w.raw("{\"format\":"); w.string(Self.formatTag)
        w.raw(",\"logCreatedAt\":"); w.string(logCreatedAt.rfc3339)
        w.raw(",\"position\":"); w.int(Int64(bitPattern: position.value))
        w.raw(",\"chainHash\":"); w.string(chainHash.description)
        w.raw(",\"time\":"); w.string(time.rfc3339)
        w.raw(",\"keyId\":"); w.string(keyID)
        w.raw(",\"signature\":"); w.string(signatureBase64)
        w.raw("}")
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Parses a digest file (`json`, surrounding whitespace allowed).
    ///
    /// - Throws: `AuditError.badDigest` naming what is wrong.
    public init(parsing bytes: [UInt8]) throws(AuditError) {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            throw AuditError(.badDigest, "digest is not JSON: \(error.message)")
        }
        guard case .object(let members) = value else { throw AuditError(.badDigest, "digest is not a JSON object") }
        var fields: [String: JSONValue] = [:]
        for m in members { fields[m.key] = m.value }
        let known: Set = ["format", "logCreatedAt", "position", "chainHash", "time", "keyId", "signature"]
        if let extra = members.first(where: { !known.contains($0.key) }) {
            throw AuditError(.badDigest, "digest has an unknown field '\(extra.key)'")
        }
        func string(_ name: String) throws(AuditError) -> String {
            guard case .string(let s)? = fields[name] else { throw AuditError(.badDigest, "digest field '\(name)' is missing or not a string") }
            return s
        }
        func time(_ name: String) throws(AuditError) -> Timestamp {
            guard let t = Timestamp(rfc3339: try string(name)) else { throw AuditError(.badDigest, "digest field '\(name)' is not an RFC 3339 time") }
            return t
        }
        guard try string("format") == Self.formatTag else {
            throw AuditError(.badDigest, "digest format is not \(Self.formatTag)")
        }
        guard case .int(let p)? = fields["position"], p >= 0 else {
            throw AuditError(.badDigest, "digest field 'position' is missing or not an integer ≥ 0")
        }
        guard let hash = ChainHash(hex: try string("chainHash")) else {
            throw AuditError(.badDigest, "digest field 'chainHash' is not 64 hex digits")
        }
        let key = try string("keyId")
        guard key.utf8.count == 32, key.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw AuditError(.badDigest, "digest field 'keyId' is not 32 lowercase hex digits")
        }
        guard let sig = Data(base64Encoded: try string("signature")), sig.count == 64 else {
            throw AuditError(.badDigest, "digest field 'signature' is not 64 bytes of base64")
        }
        self.init(logCreatedAt: try time("logCreatedAt"), position: Position(UInt64(p)), chainHash: hash,
                  time: try time("time"), keyID: key, signature: Array(sig))
    }

    /// Reads and parses a digest file.
    public static func load(_ path: String) throws(AuditError) -> LogDigest {
        guard let bytes = readSmallFile(path, limit: 1 << 16) else {
            throw AuditError(.badDigest, "cannot read the digest file", path: path)
        }
        do { return try LogDigest(parsing: bytes) } catch {
            throw AuditError(error.code, error.message, path: path)
        }
    }

    public init(logCreatedAt: Timestamp, position: Position, chainHash: ChainHash, time: Timestamp, keyID: String,
                signature: [UInt8]) {
        self.logCreatedAt = logCreatedAt
        self.position = position
        self.chainHash = chainHash
        self.time = time
        self.keyID = keyID
        self.signature = signature
    }
}

/// The outcome of checking a log against a digest.
public struct DigestCheck: Sendable {
    /// The digest checked.
    public var digest: LogDigest
    /// The full verification of the log that the check ran.
    public var report: VerificationReport
    /// Nil when the log holds exactly the signed history (possibly with
    /// appends after it); else why not, in words (docs/AUDIT.md).
    public var problem: AuditError?

    /// True when the digest holds for this log.
    public var holds: Bool { problem == nil }
    /// Events appended after the digest's position.
    public var appendedSince: UInt64 {
        report.headPosition.value > digest.position.value ? report.headPosition.value - digest.position.value : 0
    }

    /// Checks the digest's signature with `publicKey`, then verifies the
    /// whole log in `directory` and compares its chain hash at the digest's
    /// position with the signed one.
    ///
    /// - Throws: `ChronikLogError` when the directory is not a readable log.
    public static func check(_ digest: LogDigest, publicKey: Curve25519.Signing.PublicKey,
                             directory: String) throws -> DigestCheck {
        let report = try LogVerifier.verify(directory: directory, anchor: digest.position)
        var check = DigestCheck(digest: digest, report: report, problem: nil)
        let p = digest.position.value
        if !digest.isSigned(by: publicKey) {
            let theirs = AuditKeys.keyID(publicKey)
            let which = theirs == digest.keyID ? "" : "; the digest names key \(digest.keyID), the public key is \(theirs)"
            check.problem = AuditError(.signatureInvalid, "digest signature invalid (forged or wrong key)\(which)")
        } else if let created = report.createdAt, created != digest.logCreatedAt {
            check.problem = AuditError(.digestMismatch, "digest is for another log: created at \(digest.logCreatedAt.rfc3339), this log was created at \(created.rfc3339)")
        } else if let found = report.anchorHash {
            if found != digest.chainHash {
                check.problem = AuditError(.digestMismatch, "history rewritten before position \(p): the chain hash there is \(found), the digest signed \(digest.chainHash)")
            }
        } else if report.headPosition.value < p {
            if let failure = report.failure {
                check.problem = AuditError(.digestMismatch, "history damaged before position \(p): \(failure)")
            } else {
                check.problem = AuditError(.digestMismatch, "log truncated: digest covers \(p) events, log has \(report.headPosition.value)")
            }
        } else {
            check.problem = AuditError(.digestMismatch, "history rewritten before position \(p): no batch of this log ends at position \(p)")
        }
        return check
    }
}
