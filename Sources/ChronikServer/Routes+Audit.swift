import ChronikAudit
import ChronikCommerce
import ChronikLog
import Foundation
import Hummingbird
import Synchronization

/// The state of the server's one background verification.
final class VerifyJob: Sendable {
    enum State: Sendable {
        case idle
        case running(started: ContinuousClock.Instant, head: UInt64)
        case done(VerificationReport, at: Timestamp)
        case failed(String, at: Timestamp)
    }
    let state = Mutex<State>(.idle)
}

extension LogServer {
    /// `GET /verify`: starts a verification of the whole log in the
    /// background (`LogVerifier.verify`, as `chronik verify`) unless one
    /// runs, and reports its state: `running` (with the head when it began
    /// and the seconds so far), then `done` with the report (ok, events,
    /// segments, and the failure with file and offset). `?restart=true`
    /// starts a new one after a finished one. 202 while running, 200 done,
    /// with when it finished and how many events were appended since.
    /// HEAD reports the state's status and starts nothing.
    func verify(_ request: Request, _ context: ChronikContext) throws -> Response {
        try context.require(.audit)
        let restart = try Self.flag(context.query(of: request, allowed: ["restart"]), "restart")
        let directory = log.directory
        let head = log.head.value
        // HEAD asks for the answer's headers and starts nothing (stop 32:
        // `curl -I /verify` started a verification).
        let start: Bool = request.method == .head ? false : verifyJob.state.withLock { s in
            switch s {
            case .running: return false
            case .done, .failed: if !restart { return false }
            case .idle: break
            }
            s = .running(started: .now, head: head)
            return true
        }
        if start {
            let job = verifyJob
            startOwnThread("chronik-verify") {
                do {
                    let report = try LogVerifier.verify(directory: directory)
                    job.state.withLock { $0 = .done(report, at: .now()) }
                } catch {
                    job.state.withLock { $0 = .failed(String(describing: error), at: .now()) }
                }
            }
        }
        var o = JSONObject()
        let status: HTTPResponse.Status
        switch verifyJob.state.withLock({ $0 }) {
        case .idle:
            status = .accepted
            o.add("state", "idle")
        case .running(let started, let head):
            status = .accepted
            o.add("state", "running")
            o.add("head", head)
            o.add("seconds", Double((ContinuousClock.now - started).components.seconds))
        case .done(let r, let at):
            status = .ok
            o.add("state", "done")
            o.add("ok", r.failure == nil)
            // When it ran and what was appended since: a result is of the
            // log as it was then (stop 34: an old "ok" read as current).
            o.add("finishedAt", at.rfc3339)
            o.add("eventsSince", head >= r.headPosition.value ? head - r.headPosition.value : 0)
            o.add("events", r.events)
            o.add("batches", r.batches)
            o.add("segments", r.segments.count)
            o.add("bytes", r.bytes)
            o.add("headPosition", r.headPosition.value)
            o.add("headHash", r.headHash.description)
            if let f = r.failure {
                var fo = JSONObject()
                fo.add("code", f.code.name)
                fo.add("file", f.file)
                fo.add("offset", f.offset)
                fo.add("reason", f.reason)
                o.add("failure", fo)
            }
            o.add("warnings", .array(r.warnings.map { .string($0.description) }))
        case .failed(let message, let at):
            status = .ok
            o.add("state", "failed")
            o.add("finishedAt", at.rfc3339)
            o.add("ok", false)
            o.add("message", message)
        }
        return jsonResponse(o.text, status: status)
    }

    /// `POST /digest`: a signed digest of the log at its head (as `chronik
    /// digest --json`), with the key the server was started with.
    func digest(_ context: ChronikContext) throws -> Response {
        try context.require(.audit)
        guard let sign = configuration.signDigest else {
            throw ServerError(.serviceUnavailable, "noSigningKey", "start the server with --signing-key PATH (chronik keygen) to sign digests")
        }
        return jsonResponse(try sign(log.directory))
    }

    /// `GET /export[?stream=…&type=…&from=…&to=…]`: the log as JSON Lines,
    /// as `chronik export --audit` writes it (with chain hashes), streamed in chunks; personal data in
    /// clear with `pii`, else null.
    func export(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.audit)
        let q = try context.query(of: request, allowed: ["stream", "type", "from", "to"])
        // As `chronik export`: from and to are positions or RFC 3339 times,
        // an unknown stream is an error and not an empty export, and a
        // range that ends before it starts is refused (stop 33: all three
        // answered 200 with nothing).
        func bound(_ name: String) throws -> (position: UInt64?, time: Timestamp?) {
            guard let raw = q[name[...]] else { return (nil, nil) }
            if let p = UInt64(raw) { return (p, nil) }
            if let t = Timestamp(rfc3339: String(raw)) { return (nil, t) }
            throw ServerError(.badRequest, "invalidParameter",
                              "\(name) must be a position (0 or more) or an RFC 3339 time, got \(raw)", field: name)
        }
        let from = try bound("from"), to = try bound("to")
        if let a = from.position, let b = to.position, a > b {
            throw ServerError(.badRequest, "invalidParameter", "from (\(a)) is after to (\(b))", field: "from")
        }
        if let a = from.time, let b = to.time, a > b {
            throw ServerError(.badRequest, "invalidParameter", "from (\(a.rfc3339)) is after to (\(b.rfc3339))", field: "from")
        }
        try ChronikContext.refuseEmptyFilters(q)
        if let stream = q["stream"], log.lastVersion(of: String(stream)) == nil {
            throw ServerError(.notFound, "streamNotFound", "no stream \(stream) in the log")
        }
        // A type that is neither a commerce type nor in the log is a typo,
        // as `chronik export` says (stop 34: 200 with nothing). The log is
        // read until the type's first event, on a thread of its own.
        if let type = q["type"].map(String.init), CommerceEventType(name: type) == nil {
            let log = self.log
            let found = try await onOwnThread("chronik-export-type") { try Self.holds(type: type, log) }
            guard found else {
                throw ServerError(.badRequest, "invalidParameter",
                                  "no event of type \(type) in the log, and it is not a commerce type (EVENTS.md)", field: "type")
            }
        }
        let filter = AuditExport(format: .jsonl, chainHashes: true,
                                 streams: q["stream"].map { [String($0)] }, types: q["type"].map { [String($0)] },
                                 fromPosition: from.position, toPosition: to.position, fromTime: from.time, toTime: to.time)
        let protector = context.scopes.contains(.pii) ? vault : nil
        let log = self.log
        // The export runs on a thread of its own and hands chunks over a
        // bounded stream: a slow reader stops the export, not memory. An
        // export that fails (damage) after the headers went out ends the
        // response without its last chunk, so that the client sees a cut
        // transfer, not a complete export (stop 33: it ended cleanly, and an
        // auditor read a short export as the whole).
        let (stream, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream(bufferingPolicy: .bufferingOldest(4))
        let logger = self.logger
        let body = ResponseBody { writer in
            // The producer waits for room on its own thread (stop 36: as a
            // detached task it slept on a pool thread, and two exports at
            // once froze the whole server on 2 cores).
            let cancelled = Atomic<Bool>(false)
            startOwnThread("chronik-export") {
                do {
                    _ = try filter.export(log, protector: protector) { bytes in
                        while true {
                            if cancelled.load(ordering: .relaxed) { throw CancellationError() }
                            switch continuation.yield(ByteBuffer(bytes: bytes)) {
                            case .enqueued: return
                            case .dropped: Thread.sleep(forTimeInterval: 0.002)
                            case .terminated: throw CancellationError()
                            @unknown default: return
                            }
                        }
                    }
                    continuation.finish()
                } catch is CancellationError {
                    continuation.finish()
                } catch {
                    logger.error("export failed, response cut: \(error)")
                    continuation.finish(throwing: error)
                }
            }
            defer { cancelled.store(true, ordering: .relaxed) }
            for try await chunk in stream { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    /// Whether `log` holds an event of `type` (read up to the first).
    static func holds(type: String, _ log: EventLog) throws -> Bool {
        struct Found: Error {}
        do { _ = try log.scan { view in if view.type == type { throw Found() } } } catch is Found { return true }
        return false
    }

    /// `GET /customers/{id}/subject-export`: everything the log holds about
    /// a customer (`SubjectAccess.export`, as `chronik subject-export`).
    func subjectExport(_ request: Request, _ context: ChronikContext) throws -> Response {
        try context.require(.pii)
        let id = try context.pathParameter("id")
        // A guest (orders, no customer stream) is a data subject too (stop
        // 34: 404); the export says when the log holds nothing about them.
        let doc: JSONValue
        do {
            doc = try SubjectAccess.export(customerId: id, from: log, protector: vault)
        } catch let e as CommerceError where e.field == "customerId" {
            throw ServerError(.notFound, "customerNotFound", "no customer \(id) in this log")
        }
        return jsonResponse(String(decoding: doc.compactBytes, as: UTF8.self))
    }

    /// `POST /customers/{id}/forget`: appends CustomerForgotten through the
    /// guards and destroys the customer's key (as `chronik forget`); for a
    /// customer forgotten already, destroys the key again (idempotent).
    func forget(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.pii)
        guard let vault else { throw ServerError(.serviceUnavailable, "noKeyStore", "this server has no key store") }
        let id = try context.pathParameter("id")
        let stream = "customer-" + id
        let subject = PIISubject.customer(id)
        // A guest (orders, no customer stream) is forgotten too when the key
        // store holds their key (stop 34: 404).
        guard try await eventStore.lastVersion(of: stream) != nil || vault.store.knows(subject: subject) else {
            throw ServerError(.notFound, "customerNotFound", "no customer \(id) in this log")
        }
        var o = JSONObject()
        o.add("customerId", id)
        if case .customer(let c) = try await store.currentState(of: stream).state, c.isForgotten {
            // Through the store's protector: the kept frames go too.
            try store.protector?.destroyKey(subject: subject)
            o.add("alreadyForgotten", true)
            o.add("keyDestroyed", true)
            return jsonResponse(o.text)
        }
        let result = try await store.append(.customerForgotten(CustomerForgotten(customerId: id)))
        o.add("alreadyForgotten", false)
        o.add("position", result.firstPosition.value)
        o.add("keyDestroyed", vault.store.isDestroyed(subject: subject))
        return jsonResponse(o.text, status: .created)
    }
}
