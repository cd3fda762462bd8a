import ChronikLog
@testable import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Subprocess
import SystemPackage
import Testing

/// Proves a web page in a browser on the same machine cannot use the
/// server behind its user's back (stop 32: a cross-site `text/plain` POST
/// appended with 201, and a page under a name rebound to 127.0.0.1 could
/// read everything of a server without tokens): a foreign `Origin` or a
/// cross-site `Sec-Fetch-Site` is 403 and writes nothing; without tokens,
/// a `Host` that is not a loopback name is 403.
@Suite struct BrowserGuardTests {
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func anotherSitesRequestIsRefusedAndWritesNothing() async throws {
        try await withServer { server, client in
            for headers: HTTPFields in [[BrowserGuardMiddleware.origin: "http://evil.example", .contentType: "text/plain;charset=UTF-8"],
                                        [BrowserGuardMiddleware.origin: "null"],
                                        [BrowserGuardMiddleware.origin: "http://localhost:9999"],
                                        [BrowserGuardMiddleware.fetchSite: "cross-site"],
                                        [BrowserGuardMiddleware.fetchSite: "same-site"]] {
                let r = try await client.post("/streams/csrf", "[\(Self.note)]", headers: headers)
                #expect(r.status == .forbidden, "\(headers): \(r.text)")
                #expect(r.error["code"] as? String == "crossSiteRequest", "\(headers): \(r.text)")
                let verify = try await client.get("/verify?restart=true", headers: headers)
                #expect(verify.status == .forbidden, "\(headers): \(verify.text)")
            }
            #expect(server.log.head.value == 0)
            // The server's own origin (the test client addresses "localhost"),
            // and what a browser says of a same-origin request or one the
            // user typed, are let through.
            for headers: HTTPFields in [[BrowserGuardMiddleware.origin: "http://localhost"],
                                        [BrowserGuardMiddleware.fetchSite: "same-origin"],
                                        [BrowserGuardMiddleware.fetchSite: "none"], [:]] {
                let r = try await client.post("/streams/own", "[\(Self.note)]", headers: headers)
                #expect(r.status == .created, "\(headers): \(r.text)")
            }
            #expect(server.log.head.value == 4)
        }
    }

    @Test(arguments: [("localhost", true), ("localhost:7070", true), ("LOCALHOST:7070", true), ("app.localhost:80", true),
                      ("127.0.0.1", true), ("127.0.0.1:7070", true), ("127.1.2.3:1", true), ("[::1]", true), ("[::1]:7070", true),
                      ("localhost.:7070", true),
                      ("attacker.example", false), ("attacker.example:7070", false), ("127.0.0.1.attacker.example", false),
                      ("localhost.attacker.example:7070", false), ("128.0.0.1:7070", false), ("0.0.0.0:7070", false),
                      ("[::2]:7070", false), ("[::1", false), ("127.0.0:7070", false), ("127.0.0.256", false), ("", false),
                      // Stop 36 (a security review): these passed as loopback.
                      ("localhost:18102@evil.com", false), ("[::1]evil", false), ("127.0.0.1:evil", false), ("localhost:", false),
                      ("localhost:1234567", false), ("local host", false), ("localhost:80:80", false)])
    func loopbackNames(host: String, loopback: Bool) {
        #expect(BrowserGuardMiddleware.isLoopback(host: host) == loopback, "\(host)")
    }

    /// Over a real socket, as a browser's request arrives: the `Host`
    /// header decides, without tokens; with tokens any name may reach the
    /// server (behind a proxy), and the token decides.
    @Test func withoutTokensOnlyALoopbackHostIsAnswered() async throws {
        try await withServer(.live) { server, client in
            let port = try #require(client.port)
            let foreign = try await Self.curl(port: port, host: "rebind.attacker.example:\(port)", path: "/streams/x")
            #expect(foreign.status == "403", "\(foreign.body)")
            #expect(foreign.body.contains("\"hostNotAllowed\""), "\(foreign.body)")
            let appended = try await Self.curl(port: port, host: "rebind.attacker.example:\(port)", path: "/streams/x", post: "[\(Self.note)]")
            #expect(appended.status == "403", "\(appended.body)")
            #expect(server.log.head.value == 0)
            for host in ["localhost:\(port)", "127.0.0.1:\(port)"] {
                let own = try await Self.curl(port: port, host: host, path: "/streams/x", post: "[\(Self.note)]")
                #expect(own.status == "201", "\(host): \(own.body)")
            }
            #expect(server.log.head.value == 2)
        }
        var config = ServerConfiguration()
        config.tokens = try TokenTable.parse("reader-0123456789abcdef read dashboard")
        try await withServer(.live, configuration: config) { _, client in
            let port = try #require(client.port)
            let named = try await Self.curl(port: port, host: "chronik.shop.example", path: "/health")
            #expect(named.status == "200", "\(named.body)")
            let noToken = try await Self.curl(port: port, host: "chronik.shop.example", path: "/all")
            #expect(noToken.status == "401", "\(noToken.body)")
        }
    }

    /// Stop 37 (an SRE behind nginx): nginx's default proxy_pass sends
    /// `Host: 127.0.0.1:PORT`, so a server without tokens answered every
    /// client of the proxy — a subject export with personal data in clear.
    /// A request a proxy marked as forwarded is now refused without tokens
    /// (but /health and /ready), and served with them.
    @Test func withoutTokensAForwardedRequestIsRefused() async throws {
        try await withServer(.live) { server, client in
            let port = try #require(client.port)
            for header in ["X-Forwarded-For: 203.0.113.9", "X-Real-IP: 203.0.113.9", "Forwarded: for=203.0.113.9", "Via: 1.1 nginx",
                           "X-Forwarded-Proto: https", "X-Forwarded-Host: shop.example.com"] {
                let read = try await Self.curl(port: port, host: "127.0.0.1:\(port)", path: "/all", headers: [header])
                #expect(read.status == "403" && read.body.contains("\"proxiedWithoutTokens\""), "\(header): \(read.body)")
                let append = try await Self.curl(port: port, host: "127.0.0.1:\(port)", path: "/streams/x", post: "[\(Self.note)]", headers: [header])
                #expect(append.status == "403", "\(header): \(append.body)")
                for open in ["/health", "/ready"] {
                    #expect(try await Self.curl(port: port, host: "127.0.0.1:\(port)", path: open, headers: [header]).status == "200", "\(open) \(header)")
                }
            }
            #expect(server.log.head.value == 0)
            #expect(try await Self.curl(port: port, host: "127.0.0.1:\(port)", path: "/all").status == "200")
        }
        var config = ServerConfiguration()
        config.tokens = try TokenTable.parse("reader-0123456789abcdef read dashboard")
        try await withServer(.live, configuration: config) { _, client in
            let port = try #require(client.port)
            let proxied = try await Self.curl(port: port, host: "shop.example.com", path: "/all",
                                              headers: ["X-Forwarded-For: 203.0.113.9", "Authorization: Bearer reader-0123456789abcdef"])
            #expect(proxied.status == "200", "\(proxied.body)")
        }
    }

    static func curl(port: Int, host: String, path: String, post: String? = nil, headers: [String] = []) async throws -> (status: String, body: String) {
        var arguments = ["-s", "-w", "\n%{http_code}", "-H", "Host: \(host)", "http://127.0.0.1:\(port)\(path)"]
        for h in headers { arguments += ["-H", h] }
        if let post { arguments += ["-H", "Content-Type: application/json", "--data-binary", post] }
        let r = try await Subprocess.run(.name("curl"), arguments: Arguments(arguments), output: .string(limit: 1 << 20), error: .discarded)
        let out = r.standardOutput
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }
}
