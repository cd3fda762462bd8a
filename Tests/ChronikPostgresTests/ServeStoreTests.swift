import ChronikTestSupport
import ChronikCommerce
import ChronikLog
@testable import ChronikPostgres
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Two `chronik serve --store postgres://…` processes (the real binary) on
// one primary + synchronous standby, taking concurrent `POST /commands`
// that reserve the same SKUs: the sum reserved never exceeds the stock,
// every refused command is a 422 `insufficientStock` or a 409
// `concurrencyConflict`, each server's inventory model agrees with the
// log, and reads, subscriptions and the 501 routes answer as documented.
extension PostgresStoreTests {
    static let skus = ["P1-42": 20, "P2-7": 15]

    static func received(_ sku: String, _ qty: Int) -> String {
        #"{"type":"StockReceived","time":"2024-05-01T10:00:01Z","data":{"sku":"\#(sku)","warehouseId":"wh-1","qty":\#(qty)}}"#
    }

    static func reserve(_ sku: String, _ qty: Int, order: String) -> String {
        #"{"type":"StockReserved","time":"2024-05-02T10:00:01Z","data":{"sku":"\#(sku)","warehouseId":"wh-1","qty":\#(qty),"orderId":"\#(order)"}}"#
    }

    @Test func twoServersOnOneStoreNeverOversell() async throws {
        let (cluster, store) = try await freshStore("t_serve_two")
        let url = cluster.primary.url(database: "t_serve_two")
        let servers = try (0..<2).map { _ in try ServeProcess(store: url) }
        defer { for s in servers { s.stop() } }
        for s in servers { try await s.waitUntilReady() }

        for (sku, qty) in Self.skus {
            let r = await http(servers[0].port, "POST", "/commands", Self.received(sku, qty))
            #expect(r?.status == 201, "\(String(describing: r))")
        }
        // 8 clients × 12 orders, alternating servers: 96 reservations of 1–2
        // units, about 144 units wanted of the 35 in stock.
        let outcomes = Shared<[(sku: String, qty: Int, server: Int, status: Int, code: String?)]>([])
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for i in 0..<12 {
                        let sku = (client + i) % 2 == 0 ? "P1-42" : "P2-7"
                        let qty = 1 + (client * 7 + i) % 2
                        let r = await http(servers[(client + i) % 2].port, "POST", "/commands",
                                           Self.reserve(sku, qty, order: "o-\(client)-\(i)"))
                        outcomes.withLock { $0.append((sku, qty, (client + i) % 2, r?.status ?? -1, r?.errorCode)) }
                    }
                }
            }
        }
        let all = outcomes.withLock { $0 }
        #expect(all.count == 96)
        for server in 0..<2 {
            #expect(all.contains { $0.server == server && $0.status == 201 }, "server \(server) reserved stock")
            #expect(all.contains { $0.server == server && $0.status == 422 }, "server \(server) refused an oversell")
        }
        print("twoServersOnOneStoreNeverOversell: 201 × \(all.filter { $0.status == 201 }.count), 422 × \(all.filter { $0.status == 422 }.count), 409 × \(all.filter { $0.status == 409 }.count)")
        for o in all where o.status != 201 {
            let refused = (o.status == 422 && o.code == "insufficientStock") || (o.status == 409 && o.code == "concurrencyConflict")
            #expect(refused, "a refusal names its rule: \(o.status) \(o.code ?? "no code")")
        }
        for (sku, stock) in Self.skus {
            let acked = all.filter { $0.sku == sku && $0.status == 201 }.reduce(0) { $0 + $1.qty }
            let events = try await store.readStream("stock-" + sku, from: StreamVersion(0), limit: 10_000)
            var available = 0
            var reserved = 0
            for e in events {
                let qty = try Self.qty(of: e)
                if e.type == "StockReceived" { available += qty } else if e.type == "StockReserved" { available -= qty; reserved += qty }
                #expect(available >= 0, "\(sku): never below zero, at version \(e.version)")
            }
            #expect(reserved == acked, "\(sku): the log holds exactly the acknowledged reservations")
            #expect(reserved <= stock)
            #expect(stock - reserved <= 1, "\(sku): refusals only once stock ran out (\(stock - reserved) left)")
            // Each server's live model agrees with the log.
            let head = try await store.headPosition().value
            for s in servers {
                let r = await http(s.port, "GET", "/models/inventory?sku=\(sku)&waitFor=\(head - 1)")
                #expect(r?.status == 200, "\(String(describing: r))")
                let rows = (try? JSONSerialization.jsonObject(with: Data((r?.body ?? "").utf8))) as? [[String: Any]]
                #expect(rows?.count == 1)
                #expect(rows?.first?["onHand"] as? Int == stock)
                #expect(rows?.first?["reserved"] as? Int == reserved)
                #expect(rows?.first?["available"] as? Int == stock - reserved)
            }
        }
        for s in servers { #expect(s.stop() == 0, "clean shutdown: \(s.stderr)") }
        await store.close()
    }

    @Test func aServerOfAStoreReadsSubscribesAndNamesWhatItCannotDo() async throws {
        let (cluster, store) = try await freshStore("t_serve_routes")
        let server = try ServeProcess(store: cluster.primary.url(database: "t_serve_routes"))
        defer { server.stop() }
        try await server.waitUntilReady()
        let p = server.port
        func json(_ r: HTTPReply?) -> [String: Any] {
            ((try? JSONSerialization.jsonObject(with: Data((r?.body ?? "").utf8))) as? [String: Any]) ?? [:]
        }
        for i in 0..<3 {
            let r = await http(p, "POST", "/streams/notes-1", #"[{"type":"NoteAdded","data":{"text":"n\#(i)"}}]"#)
            #expect(r?.status == 201, "\(String(describing: r))")
        }
        // Resuming after position 2 waits at the head until the next append arrives.
        async let live = http(p, "GET", "/subscribe", headers: ["Last-Event-ID: 2"], untilBodyContains: "id: 3\n")
        try await Task.sleep(for: .milliseconds(200))
        let appended = await http(p, "POST", "/streams/notes-2", #"[{"type":"NoteAdded","data":{"text":"live"}}]"#)
        #expect(json(appended)["firstPosition"] as? Int == 3)
        let sse = await live
        #expect(sse?.body.contains("id: 3\ndata: ") == true, "\(String(describing: sse))")
        #expect(sse?.body.contains("id: 2\n") == false)
        let catchUp = await http(p, "GET", "/subscribe?from=0&stream=notes-1", untilBodyContains: "id: 2\n")
        let ids = (catchUp?.body ?? "").split(separator: "\n").filter { $0.hasPrefix("id: ") }
        #expect(ids == ["id: 0", "id: 1", "id: 2"], "\(String(describing: catchUp))")

        let page = json(await http(p, "GET", "/streams/notes-1?limit=2"))
        #expect((page["events"] as? [[String: Any]])?.map { $0["version"] as? Int } == [0, 1])
        #expect(page["next"] as? Int == 2)
        let back = json(await http(p, "GET", "/streams/notes-1?direction=backward&limit=2"))
        #expect((back["events"] as? [[String: Any]])?.map { $0["version"] as? Int } == [2, 1])
        #expect(back["next"] as? Int == 0)
        let all = json(await http(p, "GET", "/all?from=1&limit=2"))
        #expect((all["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [1, 2])
        #expect(all["next"] as? Int == 3)
        #expect(all["head"] as? Int == 4)
        #expect(json(await http(p, "GET", "/events/3"))["stream"] as? String == "notes-2")
        #expect(await http(p, "GET", "/events/9")?.errorCode == "eventNotFound")
        #expect(await http(p, "GET", "/streams/nope")?.status == 404)
        #expect(json(await http(p, "GET", "/ready"))["head"] as? Int == 4)
        #expect(json(await http(p, "GET", "/stats"))["events"] as? Int == 4)
        let metrics = await http(p, "GET", "/metrics")
        #expect(metrics?.status == 200)
        #expect(metrics?.body.contains("chronik_events_written_total 4") == true, "\(metrics?.body ?? "")")

        for (method, path, instead) in [("GET", "/verify", "chronik verify --store"), ("GET", "/export", "chronik export --store"),
                                        ("POST", "/digest", "use chronik mirror --store URL --log DIR (a mirror of the store), then chronik digest --log")] {
            let r = await http(p, method, path)
            #expect(r?.status == 501, "\(path)")
            #expect(r?.errorCode == "notAvailableWithStore", "\(path)")
            #expect(r?.body.contains(instead) == true, "\(path): \(r?.body ?? "")")
        }
        // Not logged as the server's failure (stop 43, a helper: each 501 was an error line).
        let logged = (try? String(contentsOfFile: server.errPath, encoding: .utf8)) ?? ""
        #expect(!logged.contains("notAvailableWithStore"), "\(logged)")
        let pii = await http(p, "POST", "/commands",
            #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"a@example.com","name":"Ada","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#)
        #expect(pii?.status == 503)
        #expect(pii?.errorCode == "noKeyStore")
        #expect(try await store.headPosition() == Position(4), "nothing written by the refused command")
        #expect(server.stop() == 0)
        await store.close()
    }

    /// Two servers started with one master key (--master-key): a customer
    /// registered on one and ordering on the other is sealed under one key
    /// (both show the profile), an erasure on one holds on the other, and a
    /// master key file others may read is refused.
    @Test func twoServersWithOneMasterKeySealAndEraseAlike() async throws {
        let (cluster, store) = try await freshStore("t_serve_keys")
        let url = cluster.primary.url(database: "t_serve_keys")
        let keyPath = NSTemporaryDirectory() + "chronik-pg-master-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: keyPath) }
        _ = FileManager.default.createFile(atPath: keyPath, contents: Data((0..<32).map { UInt8($0 * 3) }),
                                       attributes: [.posixPermissions: 0o644])
        let loose = try ServeProcess(store: url, extra: ["--master-key", keyPath])
        for _ in 0..<300 where loose.process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        let refused = loose.stderr
        #expect(loose.stop() == 1, "\(refused)")
        #expect(refused.contains("readable by others"), "\(refused)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)

        let servers = try (0..<2).map { _ in try ServeProcess(store: url, extra: ["--master-key", keyPath]) }
        defer { for s in servers { s.stop() } }
        for s in servers { try await s.waitUntilReady() }
        let registered = await http(servers[0].port, "POST", "/commands",
            #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"ada@example.com","name":"Ada","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#)
        #expect(registered?.status == 201, "\(registered?.body ?? "")")
        let order = await http(servers[1].port, "POST", "/commands",
            #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o1","customerId":"c1","lines":[{"sku":"P1-42","qty":2,"unitPrice":4500}],"currency":"EUR","shippingFee":490,"shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}"#)
        #expect(order?.status == 201, "\(order?.body ?? "")")
        let head = try await store.headPosition().value
        for s in servers {
            let c = await http(s.port, "GET", "/models/customers/c1?waitFor=\(head - 1)")
            #expect(c?.body.contains(#""email":"ada@example.com""#) == true, "port \(s.port): \(c?.body ?? "")")
        }
        // The stored data is sealed: the address is not in the database in clear.
        let stored = try await store.readAll(from: .start, limit: 10)
        #expect(stored.count == 2 && !stored.contains { String(decoding: $0.data, as: UTF8.self).contains("ada@example.com") })
        // Stop 38 (a DBA): export --store wrote null for every customer with exit 0, and could not open the data.
        let noKey = try await chronik(["export", "--store", url])
        #expect(noKey.status == 1 && noKey.stdout.isEmpty && noKey.stderr.contains("no --master-key was given"), "\(noKey)")
        let opened = try await chronik(["export", "--store", url, "--master-key", keyPath])
        #expect(opened.status == 0 && opened.stdout.contains(#""email":"ada@example.com""#), "\(opened)")
        let without = try await chronik(["export", "--store", url, "--without-personal-data"])
        #expect(without.status == 0 && without.stdout.contains(#""email":null"#) && !without.stdout.contains("ada@example.com"), "\(without)")
        // read --store opens no personal data, and says so once (stop 43, a helper: ‹erased› without a word).
        let read = try await chronik(["read", "--store", url])
        #expect(read.status == 0 && !read.stdout.contains("ada@example.com"), "\(read)")
        #expect(read.stderr.components(separatedBy: "read --store opens no personal data").count == 2, "\(read)")

        let forgot = await http(servers[1].port, "POST", "/customers/c1/forget")
        #expect(forgot?.status == 201, "\(forgot?.body ?? "")")
        let after = try await store.headPosition().value
        let c0 = await http(servers[0].port, "GET", "/models/customers/c1?waitFor=\(after - 1)")
        #expect(c0?.body.contains(#""email":null"#) == true, "\(c0?.body ?? "")")
        let again = await http(servers[0].port, "POST", "/commands",
            #"{"type":"CustomerUpdated","time":"2024-05-03T09:00:00Z","data":{"customerId":"c1","email":"new@example.com"}}"#)
        #expect(again.map { [409, 422, 503].contains($0.status) } == true, "personal data for a forgotten customer: \(again?.body ?? "")")
        #expect(try await store.headPosition().value == after, "nothing written for the forgotten customer")
        #expect(await http(servers[0].port, "GET", "/customers/c1/subject-export")?.status == 501)
        for s in servers { #expect(s.stop() == 0) }
        await store.close()
    }

    /// `qty` of a stored stock event, decoded by the library's codec.
    static func qty(of e: RecordedEvent) throws -> Int {
        switch try CommerceEvent.decode(type: e.type, data: e.data) {
        case .stockReceived(let r): return Int(r.qty)
        case .stockReserved(let r): return Int(r.qty)
        default: throw ClusterError(description: "unexpected \(e.type) at \(e.position)")
        }
    }
}

/// A `chronik serve --store` child on a port of its own.
final class ServeProcess: @unchecked Sendable {
    let port: Int
    let process: ChildProcess
    let errPath: String
    private var exit: Int32?

    init(store url: String, extra: [String] = []) throws {
        port = freePort()!
        errPath = NSTemporaryDirectory() + "chronik-pg-serve-" + UUID().uuidString + ".err"
        process = try ChildProcess(builtExecutable("chronik"),
                                   ["serve", "--store", url, "--listen", "127.0.0.1:\(port)"] + extra,
                                   stdout: "/dev/null", stderr: errPath)
    }

    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Until `GET /ready` answers 200 (at most 60 s).
    func waitUntilReady() async throws {
        for _ in 0..<600 {
            if await http(port, "GET", "/ready")?.status == 200 { return }
            if !process.isRunning { throw ClusterError(description: "chronik serve exited: \(stderr)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ClusterError(description: "chronik serve --store never became ready: \(stderr)")
    }

    /// SIGTERM, then the exit status (SIGKILL after 20 s).
    @discardableResult
    func stop() -> Int32 {
        if let exit { return exit }
        process.terminate()
        for _ in 0..<200 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.pid, SIGKILL) }
        let status = process.wait()
        exit = status
        try? FileManager.default.removeItem(atPath: errPath)
        return status
    }
}
