import ChronikCommerce
import ChronikLog
import Foundation
import Hummingbird

extension LogServer {
    /// `POST /commands`: one commerce event of EVENTS.md (an object in the
    /// envelope of `chronik import`: type, data, optional id, time, meta,
    /// expectedVersion) or an array of them for one stream, appended as one
    /// batch through `CommerceStore` — the guards decide (409 for a
    /// conflict, 422 naming the rule that refused), personal data is sealed
    /// with the key store. Writing personal data needs only `append` (the
    /// writer has the data already; it is sealed before it is stored);
    /// reading it in clear needs `pii`.
    func command(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.append)
        let value = try await commerceJSON(of: request)
        let items: [ChronikCommerce.JSONValue]
        switch value {
        case .array(let a): items = a
        case .object: items = [value]
        default: throw ServerError(.badRequest, "wrongType", "the body must be an event object or an array of events")
        }
        guard !items.isEmpty else { throw ServerError(.badRequest, "invalidBatch", "a command needs at least one event") }
        guard items.count <= configuration.maxEventsPerRequest else {
            throw ServerError(.contentTooLarge, "tooManyEvents",
                              "\(items.count) events in one request, at most \(configuration.maxEventsPerRequest) allowed")
        }
        var envelopes: [CommerceEnvelope] = []
        for (i, item) in items.enumerated() {
            do throws(CommerceError) {
                let (env, _) = try CommerceEnvelope.parseNotingID(value: item, rules: .commerce)
                envelopes.append(env)
            } catch {
                var e = ServerError.from(commerce: error)
                e.index = i
                e.message = "event \(i): " + e.message
                throw e
            }
        }
        try Self.requireErasureScope(envelopes, context)
        if envelopes.contains(where: { !(CommerceEventType(name: $0.proposed.type)?.schema.piiFieldPaths.isEmpty ?? true) }) {
            guard vault != nil else {
                throw ServerError(.serviceUnavailable, "noKeyStore", localLog == nil
                    ? "personal data needs a key store to be sealed: start the servers of a shared store with --master-key FILE, the same file on each (docs/POSTGRES.md)"
                    : "personal data needs a key store (--keys) to be sealed")
            }
        }
        // If-Match as on `POST /streams/{stream}`: the batch's expected
        // version (stop 33: ignored here, even when not a version at all).
        if let header = request.headers[.ifMatch] {
            try AppendBody.set(try AppendBody.expectedVersion(ifMatch: header), on: &envelopes)
        }
        let started = ContinuousClock.now
        let result = try await store.append(envelopes)
        if !result.wasDuplicate { metrics.appended(events: envelopes.map(\.proposed), duration: .now - started) }
        var o = JSONObject()
        o.add("stream", envelopes[0].stream)
        o.add("positions", .array(result.positions.map { .uint($0.value) }))
        o.add("firstPosition", result.firstPosition.value)
        o.add("lastPosition", result.lastPosition.value)
        o.add("version", result.lastVersion.value)
        o.add("duplicate", result.wasDuplicate)
        return jsonResponse(o.text, status: result.wasDuplicate ? .ok : .created)
    }

    /// `POST /commands/ship`: one `OrderShipped` (the envelope of
    /// `POST /commands`), appended with one `StockShipped` per line, as
    /// EVENTS.md's "commerce command that ships" (`CommerceStore.ship`).
    /// 201 with the order's append and each stock stream's; 200 when every
    /// part was in the log already (a retry with the same id).
    func shipCommand(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.append)
        let value = try await commerceJSON(of: request)
        guard case .object = value else {
            throw ServerError(.badRequest, "wrongType", "the body must be one OrderShipped event object")
        }
        let envelope: CommerceEnvelope
        do throws(CommerceError) {
            envelope = try CommerceEnvelope.parseNotingID(value: value, rules: .commerce).envelope
        } catch {
            throw ServerError.from(commerce: error)
        }
        guard case .orderShipped = envelope.event else {
            throw ServerError(.badRequest, "invalidEventType", "POST /commands/ship takes one OrderShipped, got \(envelope.proposed.type); other events go to POST /commands",
                              field: "type")
        }
        guard case .any = envelope.expectedVersion, request.headers[.ifMatch] == nil else {
            throw ServerError(.badRequest, "invalidExpectedVersion",
                              "POST /commands/ship takes no expected version: it appends to several streams, each checked by the guards", field: "expectedVersion")
        }
        let started = ContinuousClock.now
        let result = try await store.ship(envelope)
        // Every event the command wrote (stop 38: the StockShipped were not
        // counted in chronik_events_written_total).
        let written = (result.order.wasDuplicate ? [] : [envelope.proposed])
            + zip(result.stock, result.stockEvents).filter { !$0.0.result.wasDuplicate }.map(\.1)
        if !written.isEmpty { metrics.appended(events: written, duration: .now - started) }
        var o = JSONObject()
        o.add("stream", envelope.stream)
        o.add("positions", .array(result.order.positions.map { .uint($0.value) }))
        o.add("version", result.order.lastVersion.value)
        o.add("stock", result.stock.map { part in
            var s = JSONObject()
            s.add("stream", part.stream)
            s.add("position", part.result.firstPosition.value)
            s.add("version", part.result.lastVersion.value)
            s.add("duplicate", part.result.wasDuplicate)
            return s
        })
        let last = ([result.order.lastPosition] + result.stock.map(\.result.lastPosition)).max()!
        o.add("lastPosition", last.value)
        o.add("duplicate", result.wasDuplicate)
        return jsonResponse(o.text, status: result.wasDuplicate ? .ok : .created)
    }

    /// The request body parsed as the commerce API's strict JSON.
    func commerceJSON(of request: Request) async throws -> ChronikCommerce.JSONValue {
        let body = try await body(of: request)
        do { return try ChronikCommerce.JSONValue.parse(body.readableBytesView) } catch {
            throw ServerError(.badRequest, error.code.description, "the body is not JSON: \(error.message)")
        }
    }
}
