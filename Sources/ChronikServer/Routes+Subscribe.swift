import ChronikLog
import Foundation

import Hummingbird

extension LogServer {
    /// `GET /subscribe?from=POSITION[&stream=S][&type=T]` as Server-Sent
    /// Events. Each event is `id: POSITION` and `data:` the JSON of
    /// `GET /events/{position}`; `Last-Event-ID` (what browsers send on
    /// reconnect) resumes right after that position and wins over `from`.
    ///
    /// One cursor: it reads the log from disk in chunks of
    /// `subscriptionChunk` events and, at the head, waits for the next
    /// append, so catch-up and live are the same loop and no event is
    /// skipped or repeated at the switch. A slow consumer holds at most one
    /// chunk: the next is read only when the socket took the last one.
    /// Idle, a `: heartbeat` comment line goes out every `heartbeat`.
    func subscribe(_ request: Request, _ context: ChronikContext) throws -> Response {
        try context.require(.read)
        let q = request.uri.queryParameters
        let start = try subscriptionStart(q, lastEventID: request.headers[.init("Last-Event-ID")!])
        let filter = SubscriptionFilter(stream: q["stream"].map(String.init), type: q["type"].map(String.init))
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.init("X-Accel-Buffering")!] = "no"
        let body = ResponseBody { writer in
            try await self.stream(from: start, filter: filter, printer: self.printer(context), to: &writer)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Where a subscription starts: after `Last-Event-ID`, else `from`
    /// (`end`: the head, live events only), else the start of the log.
    func subscriptionStart(_ q: Parameters, lastEventID: String?) throws -> UInt64 {
        if let raw = lastEventID?.trimmingCharacters(in: .whitespaces), !raw.isEmpty {
            guard let p = UInt64(raw) else {
                throw ServerError(.badRequest, "invalidLastEventID", "Last-Event-ID must be a position, got \(raw)", field: "Last-Event-ID")
            }
            return p + 1
        }
        if q["from"] == "end" { return log.head.value }
        return try number(q, "from") ?? 0
    }

    func stream(from start: UInt64, filter: SubscriptionFilter, printer p: EventPrinter,
                to writer: inout any ResponseBodyWriter) async throws {
        var next = start
        var idleSince = ContinuousClock.now
        let id = openSubscription(at: start)
        defer { closeSubscription(id) }
        try await writer.write(ByteBuffer(string: ": chronik subscription from \(start)\nretry: 1000\n\n"))
        while !isStopping && !Task.isCancelled {
            let chunk = try log.readAll(from: Position(next)).collect(limit: configuration.subscriptionChunk)
            if let last = chunk.last {
                var out = ByteBuffer()
                for e in chunk where filter.matches(e) {
                    out.writeString("id: \(e.position.value)\ndata: \(try p.line(e))\n\n")
                }
                next = last.position.value + 1
                moveSubscription(id, to: next)
                if out.readableBytes > 0 {
                    try await writer.write(out)
                    idleSince = .now
                    continue
                }
            } else if log.isClosed {
                return
            } else {
                await waitForHead(beyond: next, atMost: .milliseconds(250))
            }
            if ContinuousClock.now - idleSince >= configuration.heartbeat {
                try await writer.write(ByteBuffer(string: ": heartbeat \(next)\n\n"))
                idleSince = .now
            }
        }
    }

    /// Returns when the log's head passes `position`, or after `limit`.
    func waitForHead(beyond position: UInt64, atMost limit: Duration) async {
        let log = self.log
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await log.waitForHead(beyond: position) }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }
}

/// Which events a subscription delivers: all, or those of one stream
/// and/or one type.
struct SubscriptionFilter: Sendable {
    var stream: String?
    var type: String?

    func matches(_ e: RecordedEvent) -> Bool {
        (stream == nil || e.stream == stream) && (type == nil || e.type == type)
    }
}
