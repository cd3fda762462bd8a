import ChronikLog
import Foundation
import Hummingbird

extension LogServer {
    /// `GET /streams/{stream}?from=VERSION&limit=N&direction=forward|backward`:
    /// `{"stream", "events": […], "next": VERSION|null}`; `next` is the
    /// `from` of the following page (null: no more events now).
    func readStream(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        let stream = try context.streamPathParameter(forAppend: false)
        let q = try context.query(of: request, allowed: ["from", "limit", "direction"])
        let limit = try pageSize(q)
        let from = try number(q, "from")
        let direction = try readDirection(q)
        guard let last = try await eventStore.lastVersion(of: stream)?.value else {
            throw ServerError(.notFound, "streamNotFound", "no stream \(stream) in the log")
        }
        // One event more than the page, to tell where the next page starts.
        let (page, left) = try await streamPage(stream, from: from, direction: direction, last: last, count: limit + 1)
        var o = JSONObject()
        o.add("stream", stream)
        o.add("events", json: try eventsJSON(page.prefix(limit), context))
        let next = page.count > limit ? page[limit] : left
        o.add("next", next.map { .uint($0.version.value) } ?? .null)
        return jsonResponse(o.text)
    }

    /// Up to `count` events of `stream` (whose last version is `last`) from
    /// `from` in `direction`, and the event after them when the page ended
    /// early at `pageBytes`. A local log reads backward itself; another
    /// store reads the versions below `from` forward and reverses them.
    func streamPage(_ stream: String, from: UInt64?, direction: ReadDirection, last: UInt64,
                    count: Int) async throws -> (events: [RecordedEvent], left: RecordedEvent?) {
        if let log = localLog {
            return try Self.collect(log.read(stream: stream, from: from.map(StreamVersion.init), direction: direction), count: count)
        }
        let store = eventStore
        switch direction {
        case .forward:
            return try await Self.collect(count: count) { after, n in
                try await store.readStream(stream, from: StreamVersion(after.map { $0.version.value + 1 } ?? from ?? 0), limit: n)
            }
        case .backward:
            let top = min(from ?? last, last)
            return try await Self.collect(count: count) { after, n in
                let high = after.map { $0.version.value } ?? top + 1  // the versions below `high`, downward
                guard high > 0 else { return [] }
                let low = high >= UInt64(n) ? high - UInt64(n) : 0
                let chunk = try await store.readStream(stream, from: StreamVersion(low), limit: Int(high - low))
                return chunk.filter { $0.version.value < high }.reversed()
            }
        }
    }

    /// `GET /all?from=POSITION&limit=N`: `{"events": […], "next": POSITION,
    /// "head": POSITION}`; `next` is where to read on (the head when the
    /// page reached it, so polling with it never skips an event).
    func readAll(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        let q = try context.query(of: request, allowed: ["from", "limit"])
        let limit = try pageSize(q)
        let from = try number(q, "from") ?? 0
        let page: [RecordedEvent]
        if let log = localLog {
            page = try Self.collect(log.readAll(from: Position(from)), count: limit).events
        } else {
            let store = eventStore
            page = try await Self.collect(count: limit) { after, n in
                try await store.readAll(from: Position(after.map { $0.position.value + 1 } ?? from), limit: n)
            }.events
        }
        // Read after the page: the head is never below where the page ends.
        let head = try await eventStore.headPosition().value
        // A start past the head, as on /subscribe (stop 33: 200 with a `next`
        // ahead of the log): the client read another log, or this one was
        // restored from an older copy, and polling on would skip every event
        // up to its position. The head itself is where a poller waits.
        guard from <= head else {
            throw ServerError(.badRequest, "invalidPosition",
                              "from=\(from) is past the head: the next event will be at position \(head)", field: "from")
        }
        var o = JSONObject()
        o.add("events", json: try eventsJSON(page[...], context))
        o.add("next", page.last.map { $0.position.value + 1 } ?? max(from, head))
        o.add("head", head)
        return jsonResponse(o.text)
    }

    /// The bytes of events' data and metadata a page holds at most (beyond
    /// its first event): a page of 1,000 events of 4 MB each was one 4 GB
    /// answer, built in memory, for any client with `read` (stop 34). The
    /// page ends early and `next` says where to go on.
    static let pageBytes = 16 << 20

    /// Up to `count` events of `cursor`, fewer once they hold `pageBytes`;
    /// then also the first event left out.
    static func collect(_ cursor: EventCursor, count: Int) throws -> (events: [RecordedEvent], left: RecordedEvent?) {
        var page: [RecordedEvent] = []
        var bytes = 0
        while page.count < count, let e = try cursor.next() {
            bytes += e.data.count + e.metadata.count
            if !page.isEmpty && bytes > pageBytes { return (page, e) }
            page.append(e)
        }
        return (page, nil)
    }

    /// The same for a store read in pages (PostgreSQL): its events are
    /// fetched in chunks, the first of 8, the next sized by what the events
    /// so far weighed, so that a page of large events is never fetched whole
    /// (stop 34 capped only the local log's pages). `fetch(after, n)` gives
    /// up to n events following `after` (nil: from the page's start), in
    /// the page's order; fewer than n means there are no more.
    static func collect(count: Int, maxBytes: Int = pageBytes, fetch: (_ after: RecordedEvent?, _ n: Int) async throws -> [RecordedEvent])
        async throws -> (events: [RecordedEvent], left: RecordedEvent?) {
        var page: [RecordedEvent] = []
        var bytes = 0
        var n = min(count, 8)
        while page.count < count {
            let chunk = try await fetch(page.last, n)
            for e in chunk.prefix(count - page.count) {
                bytes += e.data.count + e.metadata.count
                if !page.isEmpty && bytes > maxBytes { return (page, e) }
                page.append(e)
            }
            if chunk.count < n { break }
            let average = max(1, bytes / max(1, page.count))
            n = max(1, min(count - page.count, (maxBytes - bytes) / average + 1))
        }
        return (page, nil)
    }

    /// `GET /events/{position}`: the event as `chronik read --json` prints it.
    func event(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        let raw = try context.pathParameter("position", code: "invalidPosition")
        guard let p = UInt64(raw) else {
            throw ServerError(.badRequest, "invalidPosition", "a position is a number (0 or more), got \(raw)", field: "position")
        }
        guard let e = try await eventStore.readEvent(at: Position(p)) else {
            throw ServerError(.notFound, "eventNotFound", "no event at position \(p); the head is \(try await eventStore.headPosition().value)")
        }
        return jsonResponse(try printer(context).line(e))
    }

    /// The JSON of `read --json`: commerce data decoded as `export` writes
    /// it, personal data opened with the key store when the caller has the
    /// `pii` scope (else it reads as null, as erased data does).
    func printer(_ context: ChronikContext) -> EventPrinter {
        let logger = self.logger
        let vault = context.scopes.contains(.pii) ? self.vault : nil
        return EventPrinter(json: true, note: { logger.warning("\($0)") }, openVault: { vault })
    }

    func eventsJSON(_ events: ArraySlice<RecordedEvent>, _ context: ChronikContext) throws -> String {
        let p = printer(context)
        return "[" + (try events.map { try p.line($0) }).joined(separator: ",") + "]"
    }

    func pageSize(_ q: Parameters) throws -> Int {
        // One code and one range for any bad limit (stop 35: -1 and "abc"
        // were invalidParameter "(0 or more)", 0 invalidLimit "1...1000").
        guard let raw = q["limit"] else { return 100 }
        guard let n = UInt64(raw) else {
            throw ServerError(.badRequest, "invalidLimit", "limit must be 1...\(configuration.maxPageSize), got \(raw)", field: "limit")
        }
        guard n >= 1, n <= configuration.maxPageSize else {
            throw ServerError(.badRequest, "invalidLimit", "limit must be 1...\(configuration.maxPageSize), got \(n)", field: "limit")
        }
        return Int(n)
    }

    func number(_ q: Parameters, _ name: String) throws -> UInt64? {
        guard let raw = q[name[...]] else { return nil }
        guard let n = UInt64(raw) else {
            // All digits but too large is past any position, not "not a number" (stop 35).
            let why = !raw.isEmpty && raw.allSatisfy(\.isASCII) && raw.allSatisfy(\.isNumber)
                ? "\(name) is past any position (at most \(UInt64.max)), got \(raw)" : "\(name) must be a number (0 or more), got \(raw)"
            throw ServerError(.badRequest, "invalidParameter", why, field: name)
        }
        return n
    }

    func readDirection(_ q: Parameters) throws -> ReadDirection {
        guard let raw = q["direction"] else { return .forward }
        guard let d = ReadDirection(rawValue: String(raw)) else {
            throw ServerError(.badRequest, "invalidParameter", "direction must be forward or backward, got \(raw)", field: "direction")
        }
        return d
    }
}
