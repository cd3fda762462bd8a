// "Is this line a retry?" — one rule for `import` and `append`, for an id
// already in the log and for an id seen on an earlier line of the same
// input (EVENTS.md, Precise rules: an id already appended with identical
// stream, type, data and meta is a no-op; anything else is an error).
//
// Both commands decide it before their first write, so that a conflicting
// id at the end of a long input refuses the input whole instead of being
// found by the log after the lines before it were appended.

/// What an event's id stands for: the parts a retry must repeat. The time
/// is not one of them (EVENTS.md compares stream, type, data and meta).
public struct EventContent: Hashable, Sendable {
    public var stream: String
    public var type: String
    /// The data as the line encodes it (plain, before any sealing).
    public var data: [UInt8]
    public var metadata: [UInt8]

    public init(stream: String, type: String, data: [UInt8], metadata: [UInt8]) {
        self.stream = stream
        self.type = type
        self.data = data
        self.metadata = metadata
    }

    public init(_ env: CommerceEnvelope) {
        self.init(stream: env.stream, type: env.proposed.type, data: env.proposed.data, metadata: env.proposed.metadata)
    }
}

/// A fingerprint of a line's content (what `EventContent` holds): one
/// 64-bit keyed hash per part.
///
/// `Hasher` is SipHash-1-3 under a key drawn at random per process, so an
/// input cannot be crafted to collide; by accident two different contents
/// match with probability 2^-64 per part compared. An export of 10 M events
/// (every line has an id) keeps 10 M of these, not 10 M copies of the data.
///
/// Computed where a line is parsed (a parse worker: stop 44, it was ~4 %
/// of the thread that sets the pace of import's first pass), and handed
/// to `InputIDs.admit` with the line.
public struct ContentDigest: Hashable, Sendable {
    var stream: UInt64
    var type: UInt64
    var data: UInt64
    var metadata: UInt64

    /// The digest of `env`'s content: its stream, type, data and meta (as
    /// `EventContent(env)` holds them).
    public init(_ env: CommerceEnvelope) {
        func h<T: Hashable>(_ v: T) -> UInt64 {
            var hasher = Hasher()
            hasher.combine(v)
            return UInt64(bitPattern: Int64(hasher.finalize()))
        }
        stream = h(env.stream)
        type = h(env.proposed.type)
        data = h(env.proposed.data)
        metadata = h(env.proposed.metadata)
    }

    /// Which parts differ, for messages.
    func difference(_ other: ContentDigest) -> String {
        var parts: [String] = []
        if stream != other.stream { parts.append("stream") }
        if type != other.type { parts.append("type") }
        if data != other.data { parts.append("data") }
        if metadata != other.metadata { parts.append("meta") }
        return parts.joined(separator: ", ") + (parts.count == 1 ? " differs" : " differ")
    }
}

/// The ids seen so far in one input, with a fingerprint of their first
/// line's content.
///
/// Memory: one entry per line that carries an id (id, line number and a
/// 32-byte `ContentDigest`); a line without an id gets a fresh one and is
/// not kept.
public struct InputIDs: Sendable {
    /// Each id's index into `firsts`.
    private var index = EventIDIndex()
    private var firsts: [(line: Int, content: ContentDigest)] = []

    public init() {}

    /// What an id on a later line means.
    public enum Verdict: Equatable, Sendable {
        /// Not seen before in this input.
        case new
        /// The same content as `line`: a retry, to be skipped.
        case retry(of: Int)
    }

    /// Records `id` for `line`, or decides the line against the first one
    /// with that id, by the digest of the line's content (computed where
    /// the line was parsed).
    ///
    /// - Throws: `CommerceError` `duplicateEventId` naming both lines when
    ///   the content differs.
    public mutating func admit(_ id: EventID, digest: ContentDigest, line: Int) throws(CommerceError) -> Verdict {
        guard let at = index.insert(id, value: UInt64(firsts.count)) else {
            firsts.append((line, digest))
            return .new
        }
        let earlier = firsts[Int(at)]
        guard earlier.content == digest else {
            throw CommerceError(.duplicateEventId, field: "id",
                                "event id \(id) is also on line \(earlier.line) with other content (\(earlier.content.difference(digest))); a retry must repeat stream, type, data and meta")
        }
        return .retry(of: earlier.line)
    }
}

/// Comparing a line with the event already in the log under its id.
public enum IdempotentRetry {
    static func conflict(_ id: EventID, _ original: RecordedEvent) -> CommerceError {
        CommerceError(.duplicateEventId, field: "id",
                      "event id \(id) is already in the log at position \(original.position) (stream \(original.stream), type \(original.type)) with other content; a retry must repeat stream, type, data and meta")
    }
}

extension CommerceStore {
    /// Whether `env` repeats the event already in the log under its id;
    /// false when the id is not in the log.
    ///
    /// Compares the typed events, personal data opened with the store's
    /// protector: sealing is deterministic, but a line for a subject whose
    /// key is destroyed cannot be sealed again, and an erased line
    /// (docs/GDPR.md) stores no sealed data. When the original's personal
    /// data reads as erased, only the other fields are compared.
    ///
    /// - Throws: `CommerceError` `duplicateEventId` when the content
    ///   differs; a read or decode error of the original.
    public func checkRetry(_ env: CommerceEnvelope) throws -> Bool {
        let log = try localLog("checkRetry")
        guard let position = log.position(ofEventID: env.proposed.id),
              let original = try log.event(at: position) else { return false }
        guard original.stream == env.stream, original.type == env.proposed.type,
              original.metadata == env.proposed.metadata else {
            throw IdempotentRetry.conflict(env.proposed.id, original)
        }
        if original.data == env.proposed.data { return true }
        let decoded: CommerceEvent
        let pii: PIIState
        do {
            (decoded, pii) = try CommerceEvent.decode(type: original.type, data: original.data, protector: protector)
        } catch let e as CommerceError {
            throw CommerceError(.duplicateEventId, field: "id",
                                "event id \(env.proposed.id) is already in the log at position \(original.position), whose data does not decode (\(e.message)): not comparable, so not a retry")
        }
        // Compared as encoded bytes, not as Swift values: `String ==` takes
        // "café" in NFC and in NFD as equal, while the log, the server's
        // retries and a line against an earlier line compare bytes (stop 39,
        // an i18n review: the same retry was a no-op here and 409 there).
        let same = pii == .erased ? decoded.blankingPII().encodedData() == env.event.blankingPII().encodedData()
            : decoded.encodedData() == env.event.encodedData()
        guard same else { throw IdempotentRetry.conflict(env.proposed.id, original) }
        return true
    }
}
