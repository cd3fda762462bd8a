import ChronikCommerce
import ChronikLog
import Foundation
import Hummingbird

extension LogServer {
    /// `POST /streams/{stream}`: a JSON array of events in the line format
    /// of `chronik append`, or `{"expectedVersion": …, "events": […]}`;
    /// the expected version may also come as `If-Match`. One atomic batch
    /// through `CommerceStore.append` (EVENTS.md's types through their
    /// guards); 201 with positions and the stream's new version, 200 for an
    /// idempotent retry (every id already in the log with the same content).
    func append(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.append)
        let stream = try context.streamPathParameter(forAppend: true)
        let body = try await body(of: request)
        let parsed = try AppendBody.parse(Array(body.readableBytesView), stream: stream,
                                          ifMatch: request.headers[.ifMatch],
                                          maxEvents: configuration.maxEventsPerRequest)
        try Self.requireErasureScope(parsed, context)
        let started = ContinuousClock.now
        let result = try await store.append(parsed)
        if !result.wasDuplicate { metrics.appended(events: parsed.map(\.proposed), duration: .now - started) }
        return Response(status: result.wasDuplicate ? .ok : .created, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.appendedJSON(stream: stream, result).bytes)))
    }

    /// A CustomerForgotten destroys the customer's key for good: it needs
    /// the `pii` scope, as `POST /customers/{id}/forget` does (stop 34: an
    /// `append`-only token erased a customer through `/commands`).
    static func requireErasureScope(_ envelopes: [CommerceEnvelope], _ context: ChronikContext) throws {
        guard let i = envelopes.firstIndex(where: { $0.event.knownType == .customerForgotten }) else { return }
        do { try context.require(.pii) } catch var e as ServerError {
            e.index = i
            e.message = "event \(i): a CustomerForgotten erases the customer's personal data for good: " + e.message
            throw e
        }
    }

    /// `{"stream":…,"positions":[…],"firstPosition":…,"lastPosition":…,"version":…,"duplicate":…}`
    /// and a newline, written straight into one buffer (a 1,000-event
    /// append answers 1,000 positions: no value tree, no string per number).
    static func appendedJSON(stream: String, _ result: AppendResult) -> JSONWriter {
        var w = JSONWriter(capacity: 128 + stream.utf8.count + result.positions.count * 8)
        w.raw("{\"stream\":")
        writeQuoted(stream, to: &w)
        w.raw(",\"positions\":[")
        for (i, p) in result.positions.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.uint(p.value)
        }
        w.raw("],\"firstPosition\":")
        w.uint(result.firstPosition.value)
        w.raw(",\"lastPosition\":")
        w.uint(result.lastPosition.value)
        w.raw(",\"version\":")
        w.uint(result.lastVersion.value)
        w.raw(result.wasDuplicate ? ",\"duplicate\":true}\n" : ",\"duplicate\":false}\n")
        return w
    }
}

/// The body of an append, checked: every event parsed as `chronik append`
/// parses a line, or the first bad one named by index and field.
enum AppendBody {
    static func parse(_ bytes: [UInt8], stream: String, ifMatch: String?, maxEvents: Int) throws -> [CommerceEnvelope] {
        if var events = commonEvents(bytes, stream: stream, maxEvents: maxEvents) {
            // The array form, every event accepted: only If-Match is left,
            // checked as below.
            if let expected = try ifMatch.map(expectedVersion(ifMatch:)) { try set(expected, on: &events) }
            try refuseRepeatedIDs(events)
            return events
        }
        let events = try parseStrict(bytes, stream: stream, ifMatch: ifMatch, maxEvents: maxEvents)
        try refuseRepeatedIDs(events)
        return events
    }

    /// One id twice in one body is a mistake of the request, named by its
    /// events (stop 32: it was 409 from the log, "appears twice in one
    /// batch", with no index to find it by in a batch of 1,000).
    static func refuseRepeatedIDs(_ events: [CommerceEnvelope]) throws {
        guard events.count > 1 else { return }
        var first: [EventID: Int] = [:]
        first.reserveCapacity(events.count)
        for (i, e) in events.enumerated() {
            if let j = first.updateValue(i, forKey: e.proposed.id) {
                throw ServerError(.badRequest, "duplicateEventId",
                                  "event \(i) repeats the id \(e.proposed.id) of event \(j): every event of a batch needs an id of its own",
                                  field: "id", index: i)
            }
        }
    }

    /// `parse` without its fast path: the body as a `JSONValue` tree, each
    /// event through `event`.
    static func parseStrict(_ bytes: [UInt8], stream: String, ifMatch: String?, maxEvents: Int) throws -> [CommerceEnvelope] {
        let value: ChronikCommerce.JSONValue
        do { value = try ChronikCommerce.JSONValue.parse(bytes) } catch {
            throw ServerError(.badRequest, error.code.description, "the body is not JSON: \(error.message)")
        }
        var items: [ChronikCommerce.JSONValue]
        var bodyExpected: ExpectedVersion?
        switch value {
        case .array(let a):
            items = a
        case .object(let members):
            guard case .array(let a)? = members.first(where: { $0.key == "events" })?.value else {
                throw ServerError(.badRequest, "missingField", "an object body needs \"events\": an array of events", field: "events")
            }
            items = a
            if let v = members.first(where: { $0.key == "expectedVersion" })?.value {
                bodyExpected = try expectedVersion(v, field: "expectedVersion")
            }
            if let unknown = members.first(where: { $0.key != "events" && $0.key != "expectedVersion" }) {
                throw ServerError(.badRequest, "unknownField", "unknown key \(unknown.key); the body holds events and expectedVersion",
                                  field: unknown.key)
            }
        default:
            throw ServerError(.badRequest, "wrongType", "the body must be a JSON array of events (or an object with events)")
        }
        guard !items.isEmpty else { throw ServerError(.badRequest, "invalidBatch", "an append needs at least one event") }
        guard items.count <= maxEvents else {
            throw ServerError(.contentTooLarge, "tooManyEvents", "\(items.count) events in one request, at most \(maxEvents) allowed")
        }
        let headerExpected = try ifMatch.map(expectedVersion(ifMatch:))
        if let headerExpected, let bodyExpected, headerExpected != bodyExpected {
            throw ServerError(.badRequest, "invalidExpectedVersion",
                              "If-Match says \(headerExpected) but the body's expectedVersion says \(bodyExpected)", field: "expectedVersion")
        }
        var envelopes: [CommerceEnvelope] = []
        for (i, item) in items.enumerated() {
            envelopes.append(try event(item, index: i, stream: stream))
        }
        if let expected = headerExpected ?? bodyExpected { try set(expected, on: &envelopes) }
        return envelopes
    }

    /// The request's expected version (If-Match, or the body's) on the
    /// batch's first event; that event's own, when it gives one, must agree
    /// (stop 33: it was overridden without a word).
    static func set(_ expected: ExpectedVersion, on events: inout [CommerceEnvelope]) throws {
        if events[0].expectedVersion != .any, events[0].expectedVersion != expected {
            throw ServerError(.badRequest, "invalidExpectedVersion",
                              "event 0's expectedVersion says \(events[0].expectedVersion) but the request's says \(expected)",
                              field: "expectedVersion", index: 0)
        }
        events[0].expectedVersion = expected
    }

    /// The fast path of `parse` (`CommerceEnvelope.parseCommonArray`): an
    /// array of events of types EVENTS.md does not know, each read straight
    /// from the body's bytes, when every one passes what `event` checks;
    /// nil for anything else, and `parse` then gives the events or the
    /// error exactly as before (AppendBodyFastPathTests).
    static func commonEvents(_ bytes: [UInt8], stream: String, maxEvents: Int) -> [CommerceEnvelope]? {
        guard let events = CommerceEnvelope.parseCommonArray(bytes, rules: .engine, defaultStream: stream),
              !events.isEmpty, events.count <= maxEvents
        else { return nil }
        // By index: `contains(where:)` copied each envelope (a retain of
        // each of its arrays and strings) to look at two fields.
        for i in events.indices where events[i].stream != stream || Validation.cardNumberInFreeText(json: events[i].proposed.data) != nil {
            return nil
        }
        return events
    }

    /// One event, parsed as a line of `chronik append`; its stream is the
    /// path's (given in the event too, it must be the same).
    static func event(_ item: ChronikCommerce.JSONValue, index i: Int, stream: String) throws -> CommerceEnvelope {
        guard case .object(var members) = item else {
            throw ServerError(.badRequest, "wrongType", "event \(i) is not a JSON object", index: i)
        }
        if !members.contains(where: { $0.key == "stream" }) { members.append(JSONMember("stream", .string(stream))) }
        if let t = members.first(where: { $0.key == "type" }), case .string(let name) = t.value,
           let known = CommerceEventType(name: name), !known.schema.piiFieldPaths.isEmpty {
            throw ServerError(.badRequest, "invalidEventType",
                              "\(name) carries personal data, which Chronik stores only encrypted: send it to POST /commands",
                              field: "type", index: i)
        }
        do throws(CommerceError) {
            let (env, _) = try CommerceEnvelope.parseNotingID(value: .object(members), rules: .engine)
            if CommerceEventType(name: env.proposed.type) == nil,
               let field = Validation.cardNumberInFreeText(json: env.proposed.data) {
                throw CommerceError(.cardNumber, field: "data." + field,
                                    "data.\(field) contains a card number (13–19 digits passing Luhn); card numbers are never accepted")
            }
            guard env.stream == stream else {
                throw CommerceError(.streamMismatch, field: "stream", "event \(i) belongs to stream \(env.stream), not \(stream)")
            }
            return env
        } catch {
            var e = ServerError.from(commerce: error)
            e.index = i
            e.message = "event \(i): " + e.message
            throw e
        }
    }

    /// `3`, `"any"`, `"noStream"`, `"exists"`.
    static func expectedVersion(_ v: ChronikCommerce.JSONValue, field: String) throws -> ExpectedVersion {
        switch v {
        case .int(let n) where n >= 0: return .exact(UInt64(n))
        case .string("any"): return .any
        case .string("noStream"): return .noStream
        case .string("exists"): return .exists
        default:
            throw ServerError(.badRequest, "invalidExpectedVersion",
                              "expectedVersion must be a version (0 or more), \"any\", \"noStream\" or \"exists\"", field: field)
        }
    }

    /// `If-Match: 3` (quotes allowed, as an entity tag), `*` (the stream
    /// exists), or `any` / `noStream`.
    static func expectedVersion(ifMatch raw: String) throws -> ExpectedVersion {
        var s = raw.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("W/") { s.removeFirst(2) }
        if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { s = String(s.dropFirst().dropLast()) }
        switch s {
        case "*", "exists": return .exists
        case "any": return .any
        case "noStream": return .noStream
        default:
            guard let n = UInt64(s) else {
                throw ServerError(.badRequest, "invalidExpectedVersion",
                                  "If-Match must be a stream version, \"*\" (exists), \"any\" or \"noStream\", got \(raw)", field: "If-Match")
            }
            return .exact(n)
        }
    }
}
