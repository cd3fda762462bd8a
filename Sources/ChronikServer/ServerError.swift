import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation
import Hummingbird
import Logging
import Synchronization

/// The one error of ChronikServer: an HTTP status, a stable code, a
/// message, and what else a client needs to act (the field, the index of
/// the bad event, a stream's current version). Every error response is
/// this, as JSON: `{"error": {"code": …, "message": …, …}}`.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// The 0-based index of the event in the request it concerns.
    public var index: Int?
    /// More members of the error object (e.g. `currentVersion`).
    public var details: [(key: String, value: JSONValue)]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String,
                field: String? = nil, index: Int? = nil, details: [(key: String, value: JSONValue)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.index = index
        self.details = details
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body.
    public var json: String {
        var o = JSONObject()
        o.add("code", code)
        o.add("message", message)
        if let field { o.add("field", field) }
        if let index { o.add("index", index) }
        for d in details { o.add(d.key, d.value) }
        var outer = JSONObject()
        outer.add("error", o)
        return outer.text
    }

    public var response: Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json + "\n")))
    }

    /// The one place where library errors become statuses.
    public static func from(_ error: any Error) -> ServerError {
        switch error {
        case let e as ServerError: return e
        case let e as ChronikLogError: return from(log: e)
        case let e as CommerceError: return from(commerce: e)
        case let e as AuditError:
            return ServerError(e.code == .logDamaged ? .conflict : .internalServerError, e.code.name, e.description)
        case let e as ProjectionError:
            return ServerError(.serviceUnavailable, "projectionsStopped", e.description)
        case let e as HTTPError:
            let code: String = switch e.status {
            case .notFound: "notFound"
            case .contentTooLarge: "bodyTooLarge"
            case .methodNotAllowed: "methodNotAllowed"
            case .badRequest: "badRequest"
            default: "http\(e.status.code)"
            }
            return ServerError(e.status, code, e.body ?? e.status.reasonPhrase)
        default:
            return ServerError(.internalServerError, "internal", String(describing: error))
        }
    }

    static func from(log e: ChronikLogError) -> ServerError {
        let status: HTTPResponse.Status
        var details: [(key: String, value: JSONValue)] = []
        switch e.code {
        case .wrongExpectedVersion:
            status = .conflict
            if let s = e.stream { details.append(("stream", .string(s))) }
            // A number when it is one, as the request gave it and as
            // `currentVersion` is (stop 35: "0" beside 1).
            if let x = e.expectedVersion {
                if case .exact(let v) = x { details.append(("expectedVersion", .uint(v))) } else {
                    details.append(("expectedVersion", .string(x.description)))
                }
            }
            if let actual = e.actualVersion {
                details.append(("currentVersion", actual.map { .uint($0) } ?? .null))
            }
        case .duplicateEventId: status = .conflict
        case .invalidStreamName, .invalidEventType, .invalidBatch: status = .badRequest
        case .eventTooLarge: status = .contentTooLarge
        case .closed, .writerPoisoned: status = .serviceUnavailable
        default: status = .internalServerError
        }
        var message = e.message
        if let path = e.path, e.code == .corruption || e.code == .io {
            message += " (\(path)\(e.offset.map { " at offset \($0)" } ?? ""))"
        }
        return ServerError(status, e.code.name, message, index: e.index, details: details)
    }

    /// Input errors are 400; a refused rule of EVENTS.md is 422; a
    /// conflict with the log's state is 409.
    static func from(commerce e: CommerceError) -> ServerError {
        let status: HTTPResponse.Status
        switch e.code {
        case .duplicateEventId, .wrongExpectedVersion, .concurrencyConflict, .orderExists, .appendFailed:
            status = .conflict
        case .insufficientStock, .overRelease, .overShipment, .captureWithoutAuthorization, .overCapture,
             .refundWithoutCapture, .overRefund, .orderCancelled, .orderAlreadyShipped, .orderNotFound,
             .customerForgotten:
            status = .unprocessableContent
        case .eventTooLarge: status = .contentTooLarge
        case .erasureIncomplete: status = .internalServerError
        case .noProtector: status = .serviceUnavailable
        default: status = .badRequest
        }
        return ServerError(status, e.code.description, e.message, field: e.field, index: e.index ?? e.line.map { $0 - 1 })
    }
}

/// Turns every thrown error into its JSON response, and counts requests.
/// Server errors are logged, the same code at most once per
/// `WriteHealth.logEvery` with the count of those not logged (stop 36, an
/// operator: a full disk logged 43,316 lines in 13 s); a failed write is
/// noted for `/ready`.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let health: WriteHealth
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            if request.method == .post, response.status == .created { health.succeeded() }
            return response
        } catch {
            var e = ServerError.from(error)
            if e.code == "notFound", error is HTTPError { e.message = Self.noRoute(request) }
            // Health probes answer 503 by design while not ready; counted,
            // they would read as client errors (stop 38, a chaos test).
            let probe = request.uri.path == "/ready" || request.uri.path == "/health"
            if !probe { metrics.error(code: e.code) }
            if e.code == "io", request.method == .post {
                health.failed(e.message)
                // A failed write or fdatasync leaves the outcome open (stop
                // 38, a chaos test: after a read-only remount the events of
                // three 500s were in the log).
                e.message += "; what this request wrote may or may not be in the log: retry it with the same event ids "
                    + "(a retry of what went in answers with its positions)"
            }
            // 501 is an answer about this server (a route a store's server
            // leaves to a command), not its failure (stop 43, a helper: each
            // was logged at error level).
            if e.status.code >= 500, e.status != .notImplemented, let suppressed = health.shouldLog(code: e.code) {
                var metadata: Logger.Metadata = ["path": "\(request.uri.path)", "error": "\(e)"]
                if suppressed > 0 { metadata["notLogged"] = "\(suppressed) more \(e.code) errors in the last \(WriteHealth.logEvery)" }
                context.logger.error("request failed", metadata: metadata)
            }
            return e.response
        }
    }
}

extension ErrorMiddleware {
    /// The first path segment of every route (`GET /openapi.json` has them all).
    static var routeRoots: [String] {
        ["all", "commands", "customers", "digest", "events", "export", "health", "metrics", "models", "openapi.json",
         "ready", "stats", "streams", "subscribe", "verify"]
    }

    /// A 404 of the router in words (stop 38, a newcomer: `GET /stream/x`
    /// was answered "Not Found" alone): the route asked for, the nearest
    /// one when a segment is near, and where the routes are listed.
    static func noRoute(_ request: Request) -> String {
        let path = request.uri.path
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var said = "no route \(request.method) \(path.prefix(200))"
        if let first = segments.first, !routeRoots.contains(first), let near = closestName(to: first, among: routeRoots) {
            said += ": did you mean /\(([near] + segments.dropFirst()).joined(separator: "/").prefix(200))?"
        }
        return said + " (the routes: GET /openapi.json, or docs/SERVER.md)"
    }
}

/// Whether appends are failing (an I/O error, say a full disk) since the
/// last one that went in, for `/ready`; and how often each error code was
/// logged.
public final class WriteHealth: Sendable {
    static let logEvery = Duration.seconds(10)
    /// How long after the last failed append `/ready` still says so
    /// (`ServerConfiguration.appendsFailingFor`).
    let failingFor: Duration
    private struct State {
        var failingSince: ContinuousClock.Instant?
        var lastFailureAt: ContinuousClock.Instant?
        var lastFailure = ""
        var logged: [String: (at: ContinuousClock.Instant, suppressed: Int)] = [:]
    }
    private let state = Mutex(State())

    public init(failingFor: Duration = .seconds(10)) { self.failingFor = failingFor }

    func failed(_ message: String) {
        state.withLock { s in
            if s.failingSince == nil { s.failingSince = .now }
            s.lastFailureAt = .now
            s.lastFailure = message
        }
    }

    func succeeded() {
        state.withLock { s in if s.failingSince != nil { s.failingSince = nil } }
    }

    /// The failure appends keep meeting, and since when; nil while they go
    /// in, or once `failingFor` passed without another failure.
    public var failing: (since: ContinuousClock.Instant, message: String)? {
        state.withLock { s in
            guard let since = s.failingSince, let last = s.lastFailureAt, ContinuousClock.now - last < failingFor else { return nil }
            return (since, s.lastFailure)
        }
    }

    /// nil when `code` was logged within `logEvery`; else how many were not
    /// logged since the last one.
    func shouldLog(code: String) -> Int? {
        state.withLock { s in
            let now = ContinuousClock.now
            if let last = s.logged[code], now - last.at < Self.logEvery {
                s.logged[code]!.suppressed += 1
                return nil
            }
            let suppressed = s.logged[code]?.suppressed ?? 0
            s.logged[code] = (now, 0)
            return suppressed
        }
    }
}
