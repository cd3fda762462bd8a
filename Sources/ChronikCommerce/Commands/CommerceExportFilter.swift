// `chronik export`: which recorded events an export writes.

/// A filter over recorded events: every condition given must hold.
public struct ExportFilter: Sendable {
    /// One end of a range: a global position or an event time.
    public enum Bound: Hashable, Sendable {
        case position(UInt64)
        /// Compared with the event's `time` (occurredAt), not recordedAt.
        case time(Timestamp)

        /// An integer is a position, anything else must be RFC 3339.
        public init?(argument: String) {
            if let n = UInt64(argument) { self = .position(n) } else if let t = Timestamp(rfc3339: argument) {
                self = .time(t)
            } else { return nil }
        }
    }

    /// Only these streams; nil: all.
    public var streams: Set<String>?
    /// Only these types; nil: all.
    public var types: Set<String>?
    /// Inclusive lower bound.
    public var from: Bound?
    /// Inclusive upper bound.
    public var to: Bound?
    /// At most this many events; nil: all.
    public var limit: Int?

    public init(streams: Set<String>? = nil, types: Set<String>? = nil, from: Bound? = nil, to: Bound? = nil) {
        self.streams = streams
        self.types = types
        self.from = from
        self.to = to
    }

    public func matches(_ e: RecordedEvent) -> Bool {
        if let streams, !streams.contains(e.stream) { return false }
        if let types, !types.contains(e.type) { return false }
        switch from {
        case .position(let p)?: if e.position.value < p { return false }
        case .time(let t)?: if e.occurredAt < t { return false }
        case nil: break
        }
        switch to {
        case .position(let p)?: if e.position.value > p { return false }
        case .time(let t)?: if e.occurredAt > t { return false }
        case nil: break
        }
        return true
    }

    /// Writes the export line of every matching event of `log`, in log
    /// order, each followed by a newline, to `sink` in chunks of about
    /// 64 KiB.
    ///
    /// - Returns: the number of events written.
    /// - Throws: `CommerceError` for an event that does not decode; errors
    ///   of the log's reader (damage). Every line of the events before the
    ///   failing one is handed to `sink` first: what is intact up to the
    ///   damage, not up to the last full chunk (stop 33: up to 64 KiB of
    ///   intact events were left out).
    @discardableResult
    public func export(_ log: EventLog, protector: (any PIIProtector)? = nil, to sink: ([UInt8]) throws -> Void) throws -> Int {
        var out = ExportLines(filter: self, protector: protector)
        let start: Position? = if case .position(let p)? = from { Position(p) } else { nil }
        let limit = limit ?? .max
        do {
            if let streams, streams.count == 1, let only = streams.first {
                let cursor = log.read(stream: only)
                while out.count < limit, let e = try cursor.next() {
                    if case .position(let p)? = to, e.position.value > p { break }
                    try out.emit(e, sink)
                }
            } else {
                let cursor = log.readAll(from: start)
                while out.count < limit, let e = try cursor.next() {
                    if case .position(let p)? = to, e.position.value > p { break }
                    try out.emit(e, sink)
                }
            }
        } catch {
            try out.finish(sink)
            throw error
        }
        try out.finish(sink)
        return out.count
    }

    /// `export` from any store (a PostgreSQL store: `chronik export
    /// --store`), read in pages of 4,096 events: the same lines.
    @discardableResult
    public func export(store: any EventStore, protector: (any PIIProtector)? = nil,
                       to sink: ([UInt8]) throws -> Void) async throws -> Int {
        var out = ExportLines(filter: self, protector: protector)
        let limit = limit ?? .max
        let pageSize = 4096
        let only: String? = if let streams, streams.count == 1 { streams.first } else { nil }
        var next: UInt64 = if only == nil, case .position(let p)? = from { p } else { 0 }
        do {
            reading: while out.count < limit {
                let page = if let only {
                    try await store.readStream(only, from: StreamVersion(next), limit: pageSize)
                } else {
                    try await store.readAll(from: Position(next), limit: pageSize)
                }
                for e in page {
                    if out.count >= limit { break reading }
                    if case .position(let p)? = to, e.position.value > p { break reading }
                    try out.emit(e, sink)
                }
                guard let last = page.last, page.count == pageSize else { break }
                next = (only == nil ? last.position.value : last.version.value) + 1
            }
        } catch {
            try out.finish(sink)
            throw error
        }
        try out.finish(sink)
        return out.count
    }
}

/// The export lines of matching events, handed to a sink in chunks of
/// about 64 KiB: one writer for every source an export reads.
private struct ExportLines {
    let filter: ExportFilter
    let protector: (any PIIProtector)?
    var w = JSONWriter(capacity: 1 << 17)
    var count = 0

    init(filter: ExportFilter, protector: (any PIIProtector)?) {
        self.filter = filter
        self.protector = protector
    }

    mutating func emit(_ e: RecordedEvent, _ sink: ([UInt8]) throws -> Void) throws {
        guard filter.matches(e) else { return }
        try CommerceExport.write(e, to: &w, protector: protector, upcasters: .standard)
        w.byte(0x0A)
        count += 1
        if w.bytes.count >= 1 << 16 {
            try sink(w.bytes)
            w.bytes.removeAll(keepingCapacity: true)
        }
    }

    /// The lines not handed on yet (whole lines only: a line that fails
    /// leaves nothing of itself).
    mutating func finish(_ sink: ([UInt8]) throws -> Void) throws {
        if !w.bytes.isEmpty { try sink(w.bytes) }
        w.bytes.removeAll(keepingCapacity: true)
    }
}
