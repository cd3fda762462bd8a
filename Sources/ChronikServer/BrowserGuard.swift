import HTTPTypes
import Hummingbird

/// Refuses what a web page open in a browser on the same machine could
/// send to the server without its user meaning it (stop 32: found by
/// acting as a new user).
///
/// - **Another site's request** (cross-site request forgery): an `Origin`
///   header that is not the server's own origin, or `Sec-Fetch-Site`
///   `cross-site` or `same-site` (another port of localhost is the same
///   site), is 403 `crossSiteRequest`. A page can send a "simple" POST
///   (`text/plain`, a form) to any address without asking first, and the
///   API answers no cross-origin browser requests (no CORS). Clients that
///   are not browsers send neither header; the dashboard's own requests
///   are same-origin.
/// - **DNS rebinding**, without `--tokens` only: a page whose name its
///   owner points at 127.0.0.1 would be same-origin with itself and read
///   the API, which then grants every scope. So a request must be
///   addressed to a loopback name (`Host` `localhost`, `*.localhost`,
///   `127.x.x.x` or `[::1]`, any port), else 403 `hostNotAllowed`. With
///   tokens a page cannot get in without one, and the server may sit
///   behind a proxy under any name.
struct BrowserGuardMiddleware: RouterMiddleware {
    /// Whether `Host` must be a loopback name (the server has no tokens).
    let loopbackHostOnly: Bool

    static let origin = HTTPField.Name("Origin")!
    static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!
    /// Headers a reverse proxy adds to what it forwards.
    static let proxyHeaders = ["Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Via"]
        .map { HTTPField.Name($0)! }

    func handle(_ request: Request, context: ChronikContext,
                next: (Request, ChronikContext) async throws -> Response) async throws -> Response {
        let host = request.head.authority
        if loopbackHostOnly, let host, !Self.isLoopback(host: host) {
            throw ServerError(.forbidden, "hostNotAllowed",
                              "without --tokens the server answers only requests addressed to a loopback name (localhost, 127.0.0.1, [::1]), not '\(host)': this keeps a web page whose name points at this machine (DNS rebinding) out; serve with --tokens to be reached under other names")
        }
        // Without tokens every caller has every scope, which is safe only
        // while every caller is on this machine. A reverse proxy on this
        // machine makes any client a local one (nginx's default even sends
        // Host: 127.0.0.1:PORT, so the check above passes; stop 37, behind a
        // proxy a subject export answered personal data to anyone). A
        // request a proxy marked as forwarded is refused; /health, /ready
        // and /openapi.json hold no data and stay open for load balancers.
        if loopbackHostOnly, let header = Self.proxyHeaders.first(where: { request.headers[$0] != nil }),
           !AuthMiddleware.openPaths.contains(request.uri.path) {
            throw ServerError(.forbidden, "proxiedWithoutTokens",
                              "this server has no --tokens, so it serves only clients on this machine, and this request came through a proxy (\(header)): behind a reverse proxy, serve with --tokens FILE (docs/SERVER.md, \"Behind a reverse proxy\")")
        }
        if let origin = request.headers[Self.origin], !Self.isSameOrigin(origin, host: host) {
            throw ServerError(.forbidden, "crossSiteRequest",
                              "a request from another web origin (Origin: \(origin)) is refused: the API answers no cross-origin browser requests; call it from a service, or serve the page from this server's own origin")
        }
        if let site = request.headers[Self.fetchSite]?.lowercased(), site == "cross-site" || site == "same-site" {
            throw ServerError(.forbidden, "crossSiteRequest",
                              "a request a browser made for another site (Sec-Fetch-Site: \(site)) is refused: the API answers no cross-origin browser requests")
        }
        return try await next(request, context)
    }

    /// `Origin` names the origin the request is addressed to: the same
    /// host and port as `Host`, over http or https (a TLS proxy in front).
    /// "null" (a sandboxed page, a file) is never the server's.
    static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host else { return false }
        let o = origin.lowercased(), h = host.lowercased()
        return o == "http://" + h || o == "https://" + h
    }

    /// `host` (an authority: a name or address and an optional port) is a
    /// loopback name. Anything after the name but a port (`:` and 1–5
    /// digits) is not one (stop 36: `localhost:7070@evil.com`, `[::1]evil`
    /// and `127.0.0.1:evil` passed).
    static func isLoopback(host authority: String) -> Bool {
        let a = Substring(authority.lowercased())
        var name: Substring, rest: Substring
        let bracketed = a.hasPrefix("[")
        if bracketed {
            guard let end = a.firstIndex(of: "]") else { return false }
            name = a[a.index(after: a.startIndex)..<end]
            rest = a[a.index(after: end)...]
        } else if let colon = a.firstIndex(of: ":") {
            name = a[..<colon]
            rest = a[colon...]
        } else {
            name = a
            rest = ""
        }
        if !rest.isEmpty {
            guard rest.first == ":", (2...6).contains(rest.count),
                  rest.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        }
        if bracketed { return name == "::1" }
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else { return false }
        if name == "localhost" || name.hasSuffix(".localhost") { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { !$0.isEmpty && UInt8($0) != nil }
    }
}
