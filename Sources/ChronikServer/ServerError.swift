import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation
import Hummingbird

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
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let e = ServerError.from(error)
            if e.status.code >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(e)"])
            }
            return e.response
        }
    }
}
