import ChronikLog
import ChronikCommerce

/// One event as projectors see it: decoded, with where it sits in the log
/// and its business time (`time` of EVENTS.md, UTC microseconds).
///
/// "Latest", "first" and "last" in EVENTS.md mean log order, so a projector
/// that needs an order uses `position`, never `occurredAt`.
public struct ProjectedEvent: Sendable {
    public let position: Position
    public let occurredAt: Timestamp
    public let event: CommerceEvent
    /// The stored data, kept only for an event with sealed personal data
    /// that a model may open later, and only if it needs to (the fraud
    /// model: a session's IP, once an order refers to the session).
    public let sealedData: [UInt8]?

    public init(position: Position, occurredAt: Timestamp, event: CommerceEvent, sealedData: [UInt8]? = nil) {
        self.position = position
        self.occurredAt = occurredAt
        self.event = event
        self.sealedData = sealedData
    }
}

/// Folds events into one read model.
///
/// A projector sees every event of the log exactly once, in log order, from
/// the replayer (full replay, chunked replay, snapshot + tail, or a live
/// subscription — all four must give the same model). Unknown event types
/// (`CommerceEvent.unknown`) are ignored. `apply` must not suspend or do
/// I/O: the replayer calls it on its projecting thread.
///
/// Projectors are reference types: the replayer owns them and mutates them
/// in place; a caller reads the model only when the replayer is not
/// applying (after `replay` returns, or through a `LiveProjections`
/// snapshot of the state).
public protocol Projector: AnyObject {
    /// The read model's name as `chronik replay --only` and snapshots use
    /// it: `catalog`, `orders`, `inventory`, `crm`, `fraud`, `sales`,
    /// `search`, `also-bought`, `replenishment`, `finance`, and (EVENTS.md
    /// v1.2) `reconciliation`, `recommendations`, `supply-chain`,
    /// `settings`, `campaigns`, `support`.
    var name: String { get }

    /// Folds one event into the model.
    ///
    /// - Throws: `ProjectionError` when the event contradicts the model in
    ///   a way the projector cannot fold (the replay stops and reports the
    ///   event's position and type; it never skips it silently).
    func apply(_ event: ProjectedEvent) throws(ProjectionError)
}

/// A projector cannot fold an event, or a snapshot cannot be used.
public struct ProjectionError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// An event the model cannot fold (e.g. a decode failure).
        public static let invalidEvent = Code("invalidEvent")
        /// A snapshot that fails its checksum, is truncated, or has another
        /// format or model version.
        public static let badSnapshot = Code("badSnapshot")
        /// Reading the log failed (corruption, I/O); the underlying error is
        /// in the message.
        public static let log = Code("log")
        /// A read model name that `Projections` does not know.
        public static let unknownModel = Code("unknownModel")
        /// Writing a snapshot failed (I/O).
        public static let io = Code("io")
    }

    public let code: Code
    public let message: String
    /// Where the replay stopped, when an event was being applied.
    public var position: Position?
    /// The type of that event.
    public var eventType: String?

    public init(_ code: Code, _ message: String, position: Position? = nil, eventType: String? = nil) {
        self.code = code
        self.message = message
        self.position = position
        self.eventType = eventType
    }

    public var description: String {
        var s = message
        if let position { s += " (at position \(position.value)" + (eventType.map { ", \($0)" } ?? "") + ")" }
        return s
    }
}
