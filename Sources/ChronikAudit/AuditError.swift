// ChronikAudit: what auditors need on top of the log — full verification
// (ChronikLog's LogVerifier), signed digests of the head, and audit exports
// that carry each event's batch chain hash. (Per-subject encryption of
// personal data comes later.)

/// A failure of an audit operation: a key or digest file that cannot be
/// used, or a digest that the log does not match.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A key file would be overwritten (without `force`).
        public static let fileExists = Code("fileExists")
        /// A key file is missing, unreadable or not a Chronik key.
        public static let badKey = Code("badKey")
        /// A digest file is unreadable or malformed.
        public static let badDigest = Code("badDigest")
        /// The digest's signature does not verify with the public key.
        public static let signatureInvalid = Code("signatureInvalid")
        /// The log does not hold the history the digest signs.
        public static let digestMismatch = Code("digestMismatch")
        /// The log is damaged: no digest is signed for it.
        public static let logDamaged = Code("logDamaged")
        /// Writing a file failed.
        public static let io = Code("io")
    }

    public var code: Code
    public var message: String
    /// The file concerned, when there is one.
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String { path.map { "\(message) (\($0))" } ?? message }
}
