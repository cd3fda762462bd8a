import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation
import Hummingbird

extension LogServer {
    /// The paths of the dashboard's own files: open without a token (they
    /// hold no data; the page asks for a token and sends it to the API).
    static let dashboardPaths: Set<String> = ["/", "/dashboard.js", "/dashboard.css"]

    /// `GET /` (the page), `/dashboard.js`, `/dashboard.css`, and the two
    /// small JSON routes the page reads besides the models: `GET /stats`
    /// and `GET /stats/orders`.
    func addDashboardRoutes(to router: RecordingRouter) {
        router.get("/") { _, _ in Self.dashboardFile(Dashboard.html, type: "text/html; charset=utf-8") }
        router.get("dashboard.js") { _, _ in Self.dashboardFile(Dashboard.script, type: "text/javascript; charset=utf-8") }
        router.get("dashboard.css") { _, _ in Self.dashboardFile(Dashboard.style, type: "text/css; charset=utf-8") }
        // Their parameters as any route's (stop 34: /stats took any and
        // /stats/orders ignored the dashboard's waitFor).
        router.get("stats", use: noQuery { _, context in
            // A shared store has no segments or bytes on disk to count.
            self.localLog == nil ? try await self.storeStats(context) : try self.stats(context)
        })
        router.get("stats/orders") { request, context in try await self.orderStats(request, context) }
    }

    /// One of the dashboard's files, with a policy that lets it load
    /// nothing but itself and talk to nothing but this server.
    static func dashboardFile(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        headers[.init("Content-Security-Policy")!] =
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        headers[.init("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `GET /stats`: the figures of `chronik stats --json` for the open
    /// log (events, streams, segments, bytesOnDisk, headPosition,
    /// compression, headHash), and `modelsPosition`, the next position the
    /// live models apply (null without models). Damage in sealed segments
    /// is `GET /verify`'s to find: the figures are the open log's.
    func stats(_ context: ChronikContext) throws -> Response {
        try context.require(.read)
        var o = logStatsJSON(log, try log.stats())
        o.add("modelsPosition", live.map { .uint($0.position.value) } ?? .null)
        return jsonResponse(o.text)
    }

    /// `GET /stats/orders`: how many orders the orders model holds, by
    /// fulfillment status and by financial status (every status, 0 when
    /// none), and the models' position they reflect; `waitFor` and
    /// `timeoutMs` as on `/models` (the dashboard waits for what it saw).
    func orderStats(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        guard let live else { throw ServerError(.serviceUnavailable, "noModels", "this server keeps no live models") }
        let q = try context.query(of: request, allowed: ["waitFor", "timeoutMs"])
        if let wait = try number(q, "waitFor") {
            try await waitForModels(live, past: wait, timeout: try timeout(q))
        }
        let json: String = live.read { set in
            let orders = set.orders
            let (fulfillment, financial) = orders?.statusCounts() ?? ([:], [:])
            var o = JSONObject()
            o.add("orders", orders?.orders.count ?? 0)
            o.add("fulfillment", counts(fulfillment))
            o.add("financial", counts(financial))
            o.add("modelsPosition", set.position.value)  // (live.position would take the lock read holds)
            return o.text
        }
        return jsonResponse(json)
    }
}

/// A count per status, keyed by the status's JSON value; every status,
/// 0 when none (the orders model gives every status).
func counts<S: RawRepresentable>(_ d: [S: Int]) -> JSONValue where S.RawValue == String {
    .object(sortingKeys: Dictionary(uniqueKeysWithValues: d.map { ($0.key.rawValue, .int(Int64($0.value))) }))
}

/// The figures of a log as `chronik stats --json` and `GET /stats` give
/// them (one function, so the two keep the same keys): log, events,
/// streams, segments, bytesOnDisk, headPosition, compression, headHash.
///
/// - Parameter intactEvents: set when damage was found in a sealed segment
///   (`chronik stats`): the events before it, which `events` and
///   `headPosition` then count; `streams` and `headHash` are null, not the
///   whole log's (they are not known up to the damage without reading it;
///   stop 33: the undamaged log's figures were given beside the damage).
public func logStatsJSON(_ log: EventLog, _ s: LogStats, intactEvents: UInt64? = nil) -> JSONObject {
    var o = JSONObject()
    o.add("log", log.directory)
    o.add("events", intactEvents ?? UInt64(s.events))
    o.add("streams", intactEvents == nil ? JSONValue.uint(UInt64(s.streams)) : .null)
    o.add("segments", s.segments)
    o.add("bytesOnDisk", s.bytesOnDisk)
    o.add("headPosition", intactEvents ?? s.headPosition.value)
    o.add("compression", s.compression.rawValue)
    o.add("headHash", intactEvents == nil ? log.headHash.description : nil)
    return o
}
