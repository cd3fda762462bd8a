import Hummingbird
import Synchronization

/// Which methods each route answers, recorded as the routes are added, so
/// that a known path asked with another method is 405 `methodNotAllowed`
/// with an `Allow` header (RFC 9110), not 404 as if the path did not
/// exist. Hummingbird's router answers both cases alike.
final class RouteMethods: Sendable {
    /// Per route: its segments (`nil` for a `{parameter}`), its method and
    /// its pattern as `/metrics` names it.
    private let routes = Mutex<[(segments: [Substring?], method: HTTPRequest.Method, pattern: String)]>([])

    func add(_ path: RouterPath, _ method: HTTPRequest.Method) {
        let segments = path.components.map { c -> Substring? in
            let s = Substring(c.description)
            return s.first == "{" || s.first == "*" ? nil : s
        }
        routes.withLock { $0.append((segments, method, "/" + path.components.map(\.description).joined(separator: "/"))) }
    }

    /// The routes, with any method, that `path` matches.
    private func matching(_ path: String) -> [(segments: [Substring?], method: HTTPRequest.Method, pattern: String)] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            routes.filter { r in
                r.segments.count == parts.count && zip(r.segments, parts).allSatisfy { pattern, part in pattern.map { $0 == part } ?? true }
            }
        }
    }

    /// The pattern of a route that matches `path` with some method (for a
    /// 405's metrics label: stop 32 counted them as "NotFound").
    func pattern(for path: String) -> String? { matching(path).first?.pattern }

    /// The methods of the routes that match `path`, HEAD with GET (the
    /// router answers HEAD for every GET route), in a fixed order.
    func methods(for path: String) -> [HTTPRequest.Method] {
        var found = Set<HTTPRequest.Method>()
        for r in matching(path) {
            found.insert(r.method)
            if r.method == .get { found.insert(.head) }
        }
        return [.get, .head, .post, .put, .patch, .delete].filter(found.contains)
    }
}

/// Registers routes on a router and records their methods in a
/// `RouteMethods`: `LogServer.router()` adds every route through it.
struct RecordingRouter: RouterMethods {
    typealias Context = ChronikContext
    let router: Router<ChronikContext>
    let methods: RouteMethods

    @discardableResult
    func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == ChronikContext {
        methods.add(path, method)
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, ChronikContext>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}

/// 405 with `Allow` for a path that exists under other methods; every
/// other "not found" passes through unchanged.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = ChronikContext
    let methods: RouteMethods

    func handle(_ request: Request, context: ChronikContext,
                next: (Request, ChronikContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = methods.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            var response = ServerError(.methodNotAllowed, "methodNotAllowed",
                                       "\(request.method.rawValue) is not a method of \(request.uri.path): it answers \(list)").response
            response.headers[.allow] = list
            return response
        }
    }
}

/// Refuses request targets the router would otherwise read as another path
/// (stop 39, an i18n review): `POST /streams//double` appended to stream
/// `double` (the router skips empty segments), and a raw `#` — a fragment,
/// which a client never sends (RFC 9110 §4.2.4) — became part of the
/// stream's name. A `#` or `/` inside a name is sent as `%23` or `%2F`.
struct RequestTargetMiddleware: RouterMiddleware {
    typealias Context = ChronikContext

    func handle(_ request: Request, context: ChronikContext,
                next: (Request, ChronikContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.utf8.contains(UInt8(ascii: "#")) {
            throw ServerError(.badRequest, "badRequest",
                              "the request target holds a fragment (#): a client sends none; a # in a stream name is sent as %23")
        }
        if path.count > 1, path.contains("//") {
            throw ServerError(.notFound, "notFound",
                              "no route for \(path.prefix(200)): it has an empty segment (//), and a stream name is never empty")
        }
        return try await next(request, context)
    }
}
