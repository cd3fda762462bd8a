/// The one error type of ChronikLog: a code plus the context that explains it.
public struct ChronikLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a value callers can switch on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Expected version did not match the stream.
        public static let wrongExpectedVersion = Code("wrongExpectedVersion")
        /// An event id already in the log (or twice in one batch) with other content.
        public static let duplicateEventId = Code("duplicateEventId")
        /// Stream name empty, too long or not UTF-8.
        public static let invalidStreamName = Code("invalidStreamName")
        /// Event type empty or too long.
        public static let invalidEventType = Code("invalidEventType")
        /// An event larger than `maxEventBytes`.
        public static let eventTooLarge = Code("eventTooLarge")
        /// A batch with no events, or too many.
        public static let invalidBatch = Code("invalidBatch")
        /// Bytes on disk fail a checksum or do not parse.
        public static let corruption = Code("corruption")
        /// The directory exists but holds no Chronik log (or another format).
        public static let notALog = Code("notALog")
        /// The log was written by a newer format version.
        public static let unsupportedVersion = Code("unsupportedVersion")
        /// Another process holds the writer lock.
        public static let locked = Code("locked")
        /// Appending to a log opened read-only.
        public static let readOnly = Code("readOnly")
        /// An earlier fsync failed; appends are refused until reopen.
        public static let writerPoisoned = Code("writerPoisoned")
        /// The log was closed.
        public static let closed = Code("closed")
        /// An I/O error from the operating system (errno in context).
        public static let io = Code("io")
        /// Invalid option value.
        public static let invalidOption = Code("invalidOption")
        /// Digest or chain does not match.
        public static let chainMismatch = Code("chainMismatch")
        /// A batch of an `AppendSequence` after one that failed: not appended.
        public static let notAppended = Code("notAppended")
    }

    public var code: Code
    public var message: String
    public var path: String?
    public var offset: Int64?
    public var errno: Int32?
    public var stream: String?
    public var expectedVersion: ExpectedVersion?
    /// The stream's actual last version (nil: no stream).
    public var actualVersion: UInt64??
    /// The 0-based index, in the batch of an append, of the event refused
    /// (a type, a size, an id repeated in the batch); nil elsewhere.
    public var index: Int?

    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int64? = nil, errno: Int32? = nil, index: Int? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
        self.index = index
    }

    public var description: String {
        var s = "\(code): \(message)"
        if let path { s += " [file \(path)" + (offset.map { " at byte \($0)" } ?? "") + "]" }
        if let errno { s += " (errno \(errno))" }
        return s
    }

    /// The message of a `ChronikLogError` (its path is said by the
    /// caller), else the error's description: for a caller that wraps a
    /// storage failure in its own error type.
    public static func message(of error: any Error) -> String {
        (error as? ChronikLogError)?.message ?? "\(error)"
    }

    static func corrupt(_ message: String, path: String, offset: Int64) -> ChronikLogError {
        ChronikLogError(.corruption, message, path: path, offset: offset)
    }
}
