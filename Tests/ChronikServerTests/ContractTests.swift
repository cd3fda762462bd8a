import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Subprocess
import Synchronization
import SystemPackage
import Testing

/// Proves the HTTP API answers what docs/openapi.json says: every route is
/// called on a simulated shop (success and each error status), and every
/// response — status, content type, body — is validated with python's
/// jsonschema against the schema the document gives for that route and
/// status; and the validator itself catches a response that drifted.
@Suite struct ContractTests {
    static let admin = "admin-0123456789abcdef"
    static let reader = "reader-0123456789abcdef"
    static let tokens = try! TokenTable.parse("\(admin) append,read,audit,pii admin\n\(reader) read reader\n")

    static var documentPath: String { packageRoot + "/docs/openapi.json" }

    @Test func everyResponseMatchesTheDocument() async throws {
        let dir = makeTempDir()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".keys")
        }
        let sim = try await Subprocess.run(.path(FilePath(chronikPath)),
                                           arguments: ["simulate", "--events", "12000", "--seed", "11", "--log", dir, "--quiet"],
                                           output: .discarded, error: .string(limit: 1 << 16))
        #expect(sim.terminationStatus == .exited(0), "\(sim.standardError)")
        var config = ServerConfiguration()
        config.tokens = Self.tokens
        config.maxBodyBytes = 1 << 20
        let recorder = ExchangeRecorder()
        try await withServer(.live, configuration: config, directory: dir, models: true) { server, client in
            try await Self.callEveryRoute(ContractClient(client: client, recorder: recorder), port: try #require(client.port))
            _ = server
        }
        let exchanges = recorder.exchanges.withLock { $0 }
        let report = try validate(exchanges, document: Self.documentPath)
        #expect(report.failures.isEmpty, "\(report.failures.joined(separator: "\n"))")
        #expect(report.checked == exchanges.count)
        #expect(report.unexercised.isEmpty, "operations no test calls: \(report.unexercised)")
    }

    /// Success and error statuses of every operation of the document.
    static func callEveryRoute(_ c: ContractClient, port: Int) async throws {
        let note = #"{"id":"6f1c9b1e-3d2a-4c1b-9e8f-0a1b2c3d4e5f","type":"NoteAdded","data":{"text":"hi"}}"#
        // Open routes.
        try await c.call(.get, "/health", "/health", token: nil, expect: .ok)
        try await c.call(.get, "/ready", "/ready", token: nil, expect: .ok)
        try await c.call(.get, "/openapi.json", "/openapi.json", token: nil, expect: .ok)
        try await c.call(.get, "/metrics", "/metrics", expect: .ok)
        // The dashboard: its files are open, its two figures routes need `read`.
        try await c.call(.get, "/", "/", token: nil, expect: .ok)
        try await c.call(.get, "/dashboard.js", "/dashboard.js", token: nil, expect: .ok)
        try await c.call(.get, "/dashboard.css", "/dashboard.css", token: nil, expect: .ok)
        try await c.call(.get, "/stats", "/stats", expect: .ok)
        try await c.call(.get, "/stats/orders", "/stats/orders", expect: .ok)
        try await c.call(.get, "/stats", "/stats", token: nil, expect: .unauthorized)

        // Append: 201, 200 (retry), 400, 401, 403, 409 (two codes), 413 (two codes).
        let s = "/streams/{stream}"
        let appended = try await c.call(.post, s, "/streams/contract-1", "[\(note)]", expect: .created)
        let at = appended.json["lastPosition"] as? Int ?? -1
        try await c.call(.post, s, "/streams/contract-1", "[\(note)]", expect: .ok)
        try await c.call(.post, s, "/streams/contract-1", note.replacingOccurrences(of: "hi", with: "other").wrapped, expect: .conflict)
        try await c.call(.post, s, "/streams/contract-1", #"{"expectedVersion":7,"events":[{"type":"NoteAdded","data":{}}]}"#,
                         expect: .conflict)
        try await c.call(.post, s, "/streams/contract-1", #"[{"type":"NoteAdded"}]"#, expect: .badRequest)
        try await c.call(.post, s, "/streams/contract-1", #"[{"type":"NoteAdded","data":{}}]"#, headers: [.ifMatch: "x"],
                         expect: .badRequest)
        try await c.call(.post, s, "/streams/contract-1", "[" + Array(repeating: #"{"type":"N","data":{}}"#, count: 1001)
            .joined(separator: ",") + "]", expect: .contentTooLarge)
        try await c.call(.post, s, "/streams/contract-1", #"[{"type":"N","data":""# + String(repeating: "x", count: 1 << 20) + #""}]"#,
                         expect: .contentTooLarge)
        try await c.call(.post, s, "/streams/contract-1", "[\(note)]", token: nil, expect: .unauthorized)
        try await c.call(.post, s, "/streams/contract-1", "[\(note)]", token: reader, expect: .forbidden)
        let oversell = #"{"type":"StockReserved","time":"2024-05-02T10:00:01Z","data":{"sku":"NO-SUCH-SKU","warehouseId":"wh-1","qty":2,"orderId":"o-contract"}}"#
        try await c.call(.post, "/commands", "/commands", oversell, expect: .unprocessableContent)

        // Read.
        try await c.call(.get, s, "/streams/contract-1?from=0&limit=10&direction=backward", expect: .ok)
        try await c.call(.get, s, "/streams/contract-1?limit=0", expect: .badRequest)
        try await c.call(.get, s, "/streams/no-such-stream", expect: .notFound)
        try await c.call(.get, "/all", "/all?from=0&limit=5", expect: .ok)
        try await c.call(.get, "/all", "/all?from=x", expect: .badRequest)
        let p = "/events/{position}"
        try await c.call(.get, p, "/events/\(at)", expect: .ok)
        try await c.call(.get, p, "/events/0", expect: .ok)
        try await c.call(.get, p, "/events/abc", expect: .badRequest)
        try await c.call(.get, p, "/events/99999999", expect: .notFound)
        try await c.call(.get, p, "/events/0", token: nil, expect: .unauthorized)

        // Subscribe: the first events of the stream, then a bad Last-Event-ID.
        let sse = try SSEClient(port: port, path: "/subscribe?from=0", headers: ["Authorization": "Bearer \(admin)"])
        let events = await sse.events(5)
        #expect(events.count == 5)
        c.recorder.add(Exchange(method: "get", path: "/subscribe", status: sse.status,
                                contentType: sse.headers["content-type"] ?? "",
                                body: events.map { "id: \($0.id.map(String.init) ?? "")\ndata: \($0.data)\n\n" }.joined()))
        sse.close()
        try await c.call(.get, "/subscribe", "/subscribe", headers: [.init("Last-Event-ID")!: "x"], expect: .badRequest)

        // Commands: 201, 200 (retry), 400, 409, 413.
        let variant = #"{"id":"0b5e7c1a-1111-4a2b-8c3d-4e5f6a7b8c9d","type":"VariantAdded","time":"2024-05-01T08:00:01Z","data":{"productId":"P-contract","sku":"PC-1","price":5000,"currency":"EUR"}}"#
        try await c.call(.post, "/commands", "/commands", variant, expect: .created)
        try await c.call(.post, "/commands", "/commands", variant, expect: .ok)
        try await c.call(.post, "/commands", "/commands", variant.replacingOccurrences(of: "5000", with: "5100"), expect: .conflict)
        try await c.call(.post, "/commands", "/commands", #"{"type":"NoteAdded","data":{}}"#, expect: .badRequest)
        try await c.call(.post, "/commands", "/commands", "[" + Array(repeating: variant, count: 1001).joined(separator: ",") + "]",
                         expect: .contentTooLarge)

        // The command that ships: 201, 200 (retry), 422 (more than reserved), 400 (not an OrderShipped).
        let received = #"{"type":"StockReceived","time":"2024-05-01T09:00:00Z","data":{"sku":"PC-1","warehouseId":"wh-c","qty":5}}"#
        let placed = #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-contract-ship","customerId":"c-contract","lines":[{"sku":"PC-1","qty":2,"unitPrice":5000}],"currency":"EUR","shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}"#
        let reserved = #"{"type":"StockReserved","time":"2024-05-01T10:00:01Z","data":{"sku":"PC-1","warehouseId":"wh-c","qty":2,"orderId":"o-contract-ship"}}"#
        for body in [received, placed, reserved] { try await c.call(.post, "/commands", "/commands", body, expect: .created) }
        let shipped = #"{"id":"0b5e7c1a-2222-4a2b-8c3d-4e5f6a7b8c9d","type":"OrderShipped","time":"2024-05-02T09:00:00Z","data":{"orderId":"o-contract-ship","shipmentId":"sh-c","warehouseId":"wh-c","carrier":"DHL","trackingNumber":"T-C","lines":[{"sku":"PC-1","qty":2}]}}"#
        let ship = "/commands/ship"
        try await c.call(.post, ship, ship, shipped, expect: .created)
        try await c.call(.post, ship, ship, shipped, expect: .ok)
        try await c.call(.post, ship, ship, shipped.replacingOccurrences(of: "2222", with: "3333"), expect: .unprocessableContent)
        try await c.call(.post, ship, ship, received, expect: .badRequest)

        // Models: every list, every single-item form, the errors.
        let head = try await c.call(.get, "/ready", "/ready", token: nil, expect: .ok).json["head"] as? Int ?? 1
        let m = "/models/{name}"
        var first: [String: [String: Any]] = [:]
        for name in ["orders", "customers", "inventory", "catalog", "fraud", "finance", "sales", "search", "replenishment"] {
            let r = try await c.call(.get, m, "/models/\(name)?waitFor=\(head - 1)&limit=3", expect: .ok)
            let items = (try? JSONSerialization.jsonObject(with: Data(r.text.utf8))) as? [[String: Any]] ?? []
            #expect(!items.isEmpty || ["replenishment", "search"].contains(name), "\(name) is empty on the simulated shop: \(r.text.prefix(300))")
            first[name] = items.first
        }
        try await c.call(.get, m, "/models/nope", expect: .notFound)
        try await c.call(.get, m, "/models/also-bought", expect: .badRequest)
        try await c.call(.get, m, "/models/orders?waitFor=999999999", expect: .badRequest)
        try await c.call(.get, m, "/models/orders", token: nil, expect: .unauthorized)
        let item = "/models/{name}/{id}"
        let orderId = try #require(first["orders"]?["orderId"] as? String)
        let customerId = try #require(first["customers"]?["customerId"] as? String)
        let productId = try #require(first["catalog"]?["productId"] as? String)
        try await c.call(.get, item, "/models/orders/\(orderId)", expect: .ok)
        try await c.call(.get, item, "/models/customers/\(customerId)", expect: .ok)
        try await c.call(.get, item, "/models/catalog/\(productId)", expect: .ok)
        let scored = try #require(first["fraud"]?["orderId"] as? String)
        try await c.call(.get, item, "/models/fraud/\(scored)", expect: .ok)
        try await c.call(.get, item, "/models/also-bought/\(productId)", expect: .ok)
        // EVENTS.md v1.2's models (stop 35: served since stop 34, their items not in the document).
        for name in ["suppliers", "purchase-orders", "settings", "campaigns", "reconciliation"] {
            let r = try await c.call(.get, m, "/models/\(name)", expect: .ok)
            let items = (try? JSONSerialization.jsonObject(with: Data(r.text.utf8))) as? [[String: Any]] ?? []
            first[name] = items.first
        }
        if let paymentId = first["reconciliation"]?["paymentId"] as? String {
            try await c.call(.get, item, "/models/reconciliation/\(paymentId)", expect: .ok)
        }
        try await c.call(.get, item, "/models/recommendations/\(customerId)", expect: .ok)
        try await c.call(.get, m, "/models/reconciliation?status=fine", expect: .badRequest)
        try await c.call(.get, item, "/models/orders/no-such-order", expect: .notFound)
        try await c.call(.get, item, "/models/orders/\(orderId)?waitFor=x", expect: .badRequest)

        // Audit.
        // 202 while it runs; on 12000 events it may be done (200) already.
        try await c.call(.get, "/verify", "/verify")
        for _ in 0..<200 {
            let r = try await c.call(.get, "/verify", "/verify", record: false)
            if r.status == .ok { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        try await c.call(.get, "/verify", "/verify", expect: .ok)
        try await c.call(.get, "/verify", "/verify", token: reader, expect: .forbidden)
        try await c.call(.post, "/digest", "/digest", expect: .serviceUnavailable)
        try await c.call(.get, "/export", "/export?to=20", expect: .ok)
        try await c.call(.get, "/export", "/export?from=x", expect: .badRequest)

        // Privacy.
        let se = "/customers/{id}/subject-export"
        try await c.call(.get, se, "/customers/\(customerId)/subject-export", expect: .ok)
        try await c.call(.get, se, "/customers/no-such-customer/subject-export", expect: .notFound)
        let f = "/customers/{id}/forget"
        try await c.call(.post, f, "/customers/\(customerId)/forget", expect: .created)
        try await c.call(.post, f, "/customers/\(customerId)/forget", expect: .ok)
        try await c.call(.post, f, "/customers/no-such-customer/forget", expect: .notFound)
        try await c.call(.post, f, "/customers/\(customerId)/forget", token: reader, expect: .forbidden)
    }

    @Test func theServedDocumentIsTheDocsFile() async throws {
        let file = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        #expect(openAPIDocument + "\n" == file,
                "docs/openapi.json and the binary's copy differ: run docs/openapi.embed.sh")
        try await withServer { _, client in
            let r = try await client.get("/openapi.json")
            #expect(r.status == .ok)
            #expect(r.text == file)
            #expect(r.json["openapi"] as? String == "3.1.0")
        }
    }

    @Test func theValidatorCatchesADriftedResponse() throws {
        // A document whose append result requires a key the server does not
        // send, and an error whose code must be a number: both must fail.
        let text = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        var doc = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        var components = doc["components"] as! [String: Any]
        var schemas = components["schemas"] as! [String: Any]
        var result = schemas["AppendResult"] as! [String: Any]
        result["required"] = (result["required"] as! [String]) + ["committedAt"]
        schemas["AppendResult"] = result
        components["schemas"] = schemas
        doc["components"] = components
        let broken = FileManager.default.temporaryDirectory.path + "/openapi-broken-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: broken))
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let ok = #"{"stream":"s","positions":[0],"firstPosition":0,"lastPosition":0,"version":0,"duplicate":false}"#
        let exchanges = [
            Exchange(method: "post", path: "/streams/{stream}", status: 201, contentType: "application/json", body: ok),
            Exchange(method: "get", path: "/events/{position}", status: 404, contentType: "application/json",
                     body: #"{"error":{"code":404,"message":"m"}}"#),
            Exchange(method: "get", path: "/events/{position}", status: 418, contentType: "application/json", body: "{}"),
        ]
        let report = try validate(exchanges, document: broken)
        #expect(report.failures.count == 3, "\(report.failures)")
        #expect(report.failures.contains { $0.contains("committedAt") })
        let good = try validate([exchanges[0]], document: Self.documentPath)
        #expect(good.failures.isEmpty, "\(good.failures)")
    }
}

extension String {
    /// `[self]`.
    fileprivate var wrapped: String { "[" + self + "]" }
}

/// The package root (for docs/ and README.md).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// One request and its response, as the validator reads them.
struct Exchange: Sendable, Codable {
    var method: String
    /// The document's path template, e.g. `/streams/{stream}`.
    var path: String
    var status: Int
    var contentType: String
    var body: String
}

final class ExchangeRecorder: Sendable {
    let exchanges = Mutex<[Exchange]>([])
    func add(_ e: Exchange) { exchanges.withLock { $0.append(e) } }
}

/// A test client that records every exchange and checks its status.
struct ContractClient {
    let client: any TestClientProtocol
    let recorder: ExchangeRecorder

    @discardableResult
    func call(_ method: HTTPRequest.Method, _ template: String, _ uri: String, _ body: String? = nil,
              token: String? = ContractTests.admin, headers extra: HTTPFields = [:],
              expect: HTTPResponse.Status? = nil, record: Bool = true,
              sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        let r = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        if let expect {
            #expect(r.status == expect, "\(method) \(uri): \(r.text.prefix(300))", sourceLocation: sourceLocation)
        }
        if record {
            recorder.add(Exchange(method: method.rawValue.lowercased(), path: template, status: Int(r.status.code),
                                  contentType: r.headers[.contentType] ?? "", body: r.text))
        }
        return r
    }
}

/// What the validator found.
struct ContractReport {
    var checked: Int
    var failures: [String]
    var unexercised: [String]
}

/// Validates `exchanges` against the OpenAPI document at `document` with
/// python3's jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1).
func validate(_ exchanges: [Exchange], document: String) throws -> ContractReport {
    let dir = FileManager.default.temporaryDirectory.path + "/chronik-contract-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try JSONEncoder().encode(exchanges).write(to: URL(fileURLWithPath: dir + "/exchanges.json"))
    try Data(contractValidator.utf8).write(to: URL(fileURLWithPath: dir + "/validate.py"))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", dir + "/validate.py", document, dir + "/exchanges.json"]
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0,
          let json = try? JSONSerialization.jsonObject(with: output) as? [String: Any] else {
        throw ContractError(message: "the validator failed (python3 with jsonschema is needed; .ci/run installs it): \(errors)")
    }
    return ContractReport(checked: json["checked"] as? Int ?? -1, failures: json["failures"] as? [String] ?? ["no report"],
                          unexercised: json["unexercised"] as? [String] ?? [])
}

struct ContractError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Checks the document (openapi-spec-validator), then each exchange: the
/// operation and its status are in the
/// document, the content type is one the document gives for that status,
/// and the body (JSON; each `data:` of an event stream and each line of
/// JSON Lines against the media type's `x-item-schema`) is valid against
/// its schema. Prints a JSON report.
let contractValidator = #"""
import json, sys
import jsonschema
from jsonschema import Draft202012Validator

doc = json.load(open(sys.argv[1]))
exchanges = json.load(open(sys.argv[2]))
failures, seen = [], set()
try:
    # The document itself first: valid OpenAPI 3.1.
    from openapi_spec_validator import validate as validate_spec
    validate_spec(doc)
except Exception as e:
    failures.append("the document is not valid OpenAPI: %s" % str(e).split("\n")[0])

def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)

def check(instance, ptr, what):
    # The schema is reached through the whole document, so that its $refs resolve.
    schema = dict(doc)
    schema["$ref"] = ptr
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    for e in sorted(Draft202012Validator(schema).iter_errors(instance), key=lambda e: list(e.path)):
        failures.append("%s: %s at %s" % (what, e.message, "/".join(map(str, e.absolute_path)) or "(root)"))

for x in exchanges:
    what = "%s %s %d" % (x["method"].upper(), x["path"], x["status"])
    op = doc["paths"].get(x["path"], {}).get(x["method"])
    if op is None:
        failures.append(what + ": no such operation in the document"); continue
    seen.add((x["path"], x["method"]))
    responses = op.get("responses", {})
    status = str(x["status"])
    if status not in responses:
        failures.append(what + ": status not documented (documented: %s)" % ", ".join(responses)); continue
    response, rptr = responses[status], pointer("paths", x["path"], x["method"], "responses", status)
    if "$ref" in response:
        rptr = response["$ref"]
        response = doc
        for part in rptr[2:].split("/"):
            response = response[part.replace("~1", "/").replace("~0", "~")]
    ctype = x["contentType"].split(";")[0].strip()
    content = response.get("content", {})
    if ctype not in content:
        failures.append(what + ": content type %r not documented (documented: %s)" % (ctype, ", ".join(content))); continue
    media = rptr + "/content/" + ctype.replace("/", "~1")
    body = x["body"]
    try:
        if ctype == "application/json":
            check(json.loads(body), media + "/schema", what)
        elif ctype == "text/event-stream":
            items = [l[len("data: "):] for l in body.split("\n") if l.startswith("data: ")]
            if not items: failures.append(what + ": no data: lines")
            for i, item in enumerate(items): check(json.loads(item), media + "/x-item-schema", "%s event %d" % (what, i))
        elif ctype == "application/x-ndjson":
            lines = [l for l in body.split("\n") if l.strip()]
            if not lines: failures.append(what + ": no lines")
            for i, line in enumerate(lines): check(json.loads(line), media + "/x-item-schema", "%s line %d" % (what, i + 1))
    except ValueError as e:
        failures.append("%s: not JSON: %s" % (what, e))

every = {(p, m) for p, item in doc["paths"].items() for m in item if m in ("get", "post", "put", "delete", "patch")}
print(json.dumps({"checked": len(exchanges), "failures": failures,
                  "unexercised": sorted("%s %s" % (m.upper(), p) for p, m in every - seen)}))
"""#
