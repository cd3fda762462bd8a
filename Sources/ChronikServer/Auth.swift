import ChronikLog
import Foundation
import Hummingbird
import NIOCore

/// What a token may do.
public enum Scope: String, Sendable, CaseIterable, Hashable {
    /// Append events and send commands.
    case append
    /// Read events, subscribe, query models, metrics.
    case read
    /// Verify, digest, export.
    case audit
    /// See personal data in clear, export a subject's data, forget a customer.
    case pii
    /// `GET /metrics` only: a Prometheus scraper's token reads no event
    /// (stop 37; before, it needed `read`).
    case metrics
}

/// The bearer tokens of `--tokens FILE`: one token a line, then its
/// scopes separated by commas, then an optional name; `#` starts a comment.
///
///     # token                          scopes            name
///     3f6c1e0a9b7d4c2e8f1a5b6c7d8e9f00 append,read       checkout
///     9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d read,audit,pii    auditor
public struct TokenTable: Sendable {
    public struct Entry: Sendable, Hashable {
        public var scopes: Set<Scope>
        public var name: String
    }

    private var entries: [String: Entry]

    public init(_ entries: [String: Entry]) { self.entries = entries }

    /// The entry of `token`, or nil.
    public func entry(for token: String) -> Entry? { entries[token] }

    public var count: Int { entries.count }

    /// Tokens shorter than this are refused: guessable.
    public static let minimumTokenLength = 16

    /// Reads and checks `path`: only its owner may read or write it.
    public static func load(path: String) throws -> TokenTable {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ServerError(.internalServerError, "tokensFile", "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw ServerError(.internalServerError, "tokensFile",
                              "\(path) may be read by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServerError(.internalServerError, "tokensFile", "cannot read \(path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String = "tokens") throws -> TokenTable {
        var entries: [String: Entry] = [:]
        // A byte order mark some editors put first is not part of the first
        // token (stop 32: that token then never matched).
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            func fail(_ m: String) -> ServerError { ServerError(.internalServerError, "tokensFile", "\(path):\(n + 1): \(m)") }
            guard words.count >= 2 else { throw fail("a token needs its scopes: TOKEN append,read[,audit,pii,metrics] [name]") }
            let token = String(words[0])
            guard token.count >= minimumTokenLength else { throw fail("a token needs at least \(minimumTokenLength) characters") }
            var scopes = Set<Scope>()
            for s in words[1].split(separator: ",") {
                guard let scope = Scope(rawValue: String(s)) else {
                    throw fail("unknown scope \(s); scopes: \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                scopes.insert(scope)
            }
            guard entries[token] == nil else { throw fail("this token is listed twice") }
            entries[token] = Entry(scopes: scopes, name: words.count > 2 ? words[2...].joined(separator: " ") : "token \(n + 1)")
        }
        guard !entries.isEmpty else { throw ServerError(.internalServerError, "tokensFile", "\(path) holds no token") }
        return TokenTable(entries)
    }
}

/// The request context of every route: what the caller may do.
public struct ChronikContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Every scope without `--tokens`; a token's scopes with.
    public var scopes: Set<Scope> = Set(Scope.allCases)
    /// The token's name, for logs.
    public var caller = "anonymous"

    /// The request's connection (a subscription's is closed by a shutdown
    /// that it does not end by itself).
    public var channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Throws 403 unless the caller has `scope`.
    public func require(_ scope: Scope) throws {
        guard scopes.contains(scope) else {
            throw ServerError(.forbidden, "forbidden", "this token lacks the \(scope.rawValue) scope")
        }
    }

    /// Throws 403 unless the caller has one of `anyOf`.
    public func require(anyOf: [Scope]) throws {
        guard anyOf.contains(where: scopes.contains) else {
            throw ServerError(.forbidden, "forbidden", "this token lacks the \(anyOf.map(\.rawValue).joined(separator: " or ")) scope")
        }
    }
}

extension ChronikContext {
    /// A path parameter, percent-decoded (RFC 3986: clients encode "é", a
    /// space or a "/" in a stream name; the router matches the raw path,
    /// so "%2F" stays inside one segment). Hummingbird decodes query
    /// values but not path segments. A bad encoding (a lone "%", "%ZZ",
    /// bytes that are not UTF-8) is 400 with `code` and nothing done.
    func pathParameter(_ name: String, code: String = "invalidParameter") throws -> String {
        try optionalPathParameter(name, code: code) ?? parameters.require(name)
    }

    /// The `{stream}` of a path, decoded. `forAppend`: a name a new append
    /// may use (`LogFormat.checkStreamName`: 1...256 bytes, NFC, no control
    /// characters); else only one a log can hold (1...256 bytes: a reader
    /// still finds names written before the later rules). 400
    /// `invalidStreamName` with `field` "stream", before the body is read
    /// (stop 32: a 257-byte name was "event 0: stream must be 1...256
    /// bytes", and a GET of one was 404).
    func streamPathParameter(forAppend: Bool) throws -> String {
        let stream = try pathParameter("stream", code: "invalidStreamName")
        let n = stream.utf8.count
        do {
            if forAppend { try LogFormat.checkStreamName(stream) }
        } catch let e as ChronikLogError {
            throw ServerError(.badRequest, "invalidStreamName", e.message, field: "stream")
        }
        guard n <= LogFormat.maxStreamNameBytes else {
            throw ServerError(.badRequest, "invalidStreamName", "stream name is \(n) bytes, at most \(LogFormat.maxStreamNameBytes) allowed", field: "stream")
        }
        return stream
    }

    /// The request's query parameters, decoded as browsers and form
    /// encoders write them (application/x-www-form-urlencoded): `+` is a
    /// space and `%XX` a byte; a literal plus is `%2B`. Python's
    /// `urlencode`, Go's `url.Values`, Java's `URLEncoder` and HTML forms
    /// all write a space as `+`, and until stop 32 `?stream=sp+ace` read
    /// the stream "sp+ace". Refused with 400 `invalidParameter`, naming the
    /// parameter: a bad encoding (it was read as written), a parameter given
    /// twice (the first won), and, when the route says which it takes
    /// (`allowed`), any other (`?limt=5` or `direction` on /all answered as
    /// if absent).
    func query(of request: Request, allowed: Set<String>? = nil) throws -> Parameters {
        guard let query = request.uri.query, !query.isEmpty else { return .init() }
        var pairs: [(key: Substring, value: Substring)] = []
        var seen = Set<String>()
        for part in query.split(separator: "&") {
            let eq = part.firstIndex(of: "=")
            let rawKey = eq.map { part[..<$0] } ?? part
            let rawValue = eq.map { part[part.index(after: $0)...] } ?? ""
            func decode(_ s: Substring) throws -> String {
                guard let d = percentDecoded(s, plusIsSpace: true) else {
                    throw ServerError(.badRequest, "invalidParameter",
                                      "the query parameter \(rawKey)=\(rawValue) is not valid percent-encoded UTF-8", field: String(rawKey))
                }
                return d
            }
            let key = try decode(rawKey), value = try decode(rawValue)
            if let allowed, !allowed.contains(key) {
                throw ServerError(.badRequest, "invalidParameter", allowed.isEmpty
                    ? "\(request.uri.path) takes no query parameters, not '\(key)'"
                    : "\(request.uri.path) takes no parameter '\(key)'; it takes \(allowed.sorted().joined(separator: ", "))", field: key)
            }
            guard seen.insert(key).inserted else {
                throw ServerError(.badRequest, "invalidParameter", "the query parameter '\(key)' is given twice", field: key)
            }
            pairs.append((key: key[...], value: value[...]))
        }
        return .init(pairs)
    }

    /// Refuses any query parameter, for a route that takes none: 400
    /// `invalidParameter`, not a request answered as if it had none (stop
    /// 33: `POST /customers/{id}/forget?dryRun=true` erased the customer,
    /// `POST /streams/s?expectedVersion=5` appended unchecked).
    func refuseQuery(of request: Request) throws {
        _ = try query(of: request, allowed: [])
    }

    /// 400 `invalidParameter` for a filter given empty (`stream=`), which
    /// would match no event: an empty export, a subscription that never
    /// sends (stop 33).
    static func refuseEmptyFilters(_ q: Parameters, _ names: [String] = ["stream", "type"]) throws {
        for name in names where q[name[...]]?.isEmpty == true {
            throw ServerError(.badRequest, "invalidParameter", "\(name)= is empty: give a \(name), or leave the parameter out for every \(name)",
                              field: name)
        }
    }

    /// `pathParameter` for a parameter that some routes leave out.
    func optionalPathParameter(_ name: String, code: String = "invalidParameter") throws -> String? {
        guard let raw = parameters.get(name) else { return nil }
        guard raw.contains("%") else { return raw }
        guard let decoded = percentDecoded(raw[...], plusIsSpace: false) else {
            throw ServerError(.badRequest, code, "the \(name) in the path, '\(raw)', is not valid percent-encoded UTF-8", field: name)
        }
        return decoded
    }
}

/// 401 without a known bearer token (when there are tokens); the routes
/// then check their scope. `/health`, `/ready`, `/openapi.json` and the
/// dashboard's files (no data in them: the page asks for a token) are open.
struct AuthMiddleware: RouterMiddleware {
    let tokens: TokenTable?
    /// What a load balancer or a client generator asks before it has a
    /// token: liveness, readiness, the API's description.
    static let openPaths: Set<String> = ["/health", "/ready", "/openapi.json"]

    func handle(_ request: Request, context: ChronikContext,
                next: (Request, ChronikContext) async throws -> Response) async throws -> Response {
        guard let tokens, !Self.openPaths.contains(request.uri.path),
              !LogServer.dashboardPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw ServerError(.unauthorized, "unauthorized", "send Authorization: Bearer TOKEN")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let entry = tokens.entry(for: token) else {
            throw ServerError(.unauthorized, "unauthorized", "unknown token")
        }
        var context = context
        context.scopes = entry.scopes
        context.caller = entry.name
        return try await next(request, context)
    }
}

/// `%XX` decoded to bytes, which must be UTF-8; nil when an escape is bad
/// or the bytes are not UTF-8. Byte for byte: Foundation's
/// `removingPercentEncoding` dropped a leading byte-order mark, so
/// `/streams/%EF%BB%BFx` appended to the stream "x" (stop 33).
func percentDecoded(_ s: Substring, plusIsSpace: Bool) -> String? {
    guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else { return String(s) }
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count)
    var it = Array(s.utf8)[...]
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    while let c = it.popFirst() {
        if c == UInt8(ascii: "%") {
            guard let h = it.popFirst().flatMap(hex), let l = it.popFirst().flatMap(hex) else { return nil }
            out.append(h << 4 | l)
        } else if plusIsSpace && c == UInt8(ascii: "+") {
            out.append(UInt8(ascii: " "))
        } else {
            out.append(c)
        }
    }
    return String(validating: out, as: UTF8.self)
}
