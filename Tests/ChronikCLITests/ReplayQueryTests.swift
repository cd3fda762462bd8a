import ChronikLog
import Foundation
import Testing

// `chronik replay`, `query` and `snapshot`, run as a user would, on a small
// shop imported from a crafted JSON Lines file; the expected figures are
// worked out by hand next to each check.

/// 19 events: two products (a price change), stock with a reorder point,
/// a customer, a paid and partly refunded order o1 (total 2 × 4500 + 500 +
/// 490 = 9990), a cancelled order o2, three searches.
let projectionShop = #"""
{"type":"ProductCreated","time":"2024-05-01T08:00:00Z","data":{"productId":"P1","title":"Shoe","category":"shoes"}}
{"type":"VariantAdded","time":"2024-05-01T08:00:01Z","data":{"productId":"P1","sku":"P1-42","price":5000,"currency":"EUR"}}
{"type":"PriceChanged","time":"2024-05-01T08:00:02Z","data":{"sku":"P1-42","price":4500,"currency":"EUR"}}
{"type":"ProductCreated","time":"2024-05-01T08:00:03Z","data":{"productId":"P2","title":"Sock","category":"socks"}}
{"type":"VariantAdded","time":"2024-05-01T08:00:04Z","data":{"productId":"P2","sku":"P2-S","price":500,"currency":"EUR"}}
{"type":"StockReceived","time":"2024-05-01T08:01:00Z","data":{"sku":"P1-42","warehouseId":"W1","qty":10}}
{"type":"StockReceived","time":"2024-05-01T08:01:01Z","data":{"sku":"P2-S","warehouseId":"W1","qty":3}}
{"type":"ReorderPointSet","time":"2024-05-01T08:01:02Z","data":{"sku":"P2-S","warehouseId":"W1","reorderPoint":5,"reorderQty":20}}
{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"ann@example.com","name":"Ann","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":true}}
{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o1","customerId":"c1","lines":[{"sku":"P1-42","qty":2,"unitPrice":4500},{"sku":"P2-S","qty":1,"unitPrice":500}],"currency":"EUR","shippingFee":490,"shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}
{"type":"StockReserved","time":"2024-05-01T10:00:01Z","data":{"sku":"P1-42","warehouseId":"W1","qty":2,"orderId":"o1"}}
{"type":"PaymentAuthorized","time":"2024-05-01T10:00:02Z","data":{"orderId":"o1","paymentId":"pay1","amount":9990,"method":"card","gateway":"stripe"}}
{"type":"PaymentCaptured","time":"2024-05-01T10:00:03Z","data":{"orderId":"o1","paymentId":"pay1","amount":9990}}
{"type":"OrderPlaced","time":"2024-05-01T11:00:00Z","data":{"orderId":"o2","customerId":"c1","lines":[{"sku":"P2-S","qty":1,"unitPrice":500}],"currency":"EUR","shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}
{"type":"OrderCancelled","time":"2024-05-01T11:05:00Z","data":{"orderId":"o2","reason":"changed mind"}}
{"type":"SearchPerformed","time":"2024-05-01T12:00:00Z","data":{"sessionId":"s1","query":"Red Shoes","resultCount":0}}
{"type":"SearchPerformed","time":"2024-05-01T12:00:01Z","data":{"sessionId":"s1","query":" red  shoes","resultCount":3}}
{"type":"SearchPerformed","time":"2024-05-01T12:00:02Z","data":{"sessionId":"s2","query":"hat","resultCount":0}}
{"type":"RefundIssued","time":"2024-05-02T09:00:00Z","data":{"orderId":"o1","refundId":"ref1","paymentId":"pay1","amount":990,"reason":"damaged"}}
"""#

@Suite("replay, query and snapshot through the CLI")
struct ReplayQueryTests {
    /// A fresh log holding `projectionShop`.
    func shopLog(_ name: String = #function) async throws -> String {
        let dir = makeTempDir(name)
        let file = try writeTemp(projectionShop)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let r = try await chronik(["import", "--log", dir, file])
        #expect(r.exitCode == 0, "\(r)")
        return dir
    }

    func query(_ dir: String, _ args: [String]) async throws -> [[String: Any]] {
        let r = try await chronik(["query"] + args + ["--log", dir, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        return jsonObjects(r.stdout)
    }

    @Test func replayReportsPhasesAndUsesTheSnapshot() async throws {
        // Proves replay prints events per phase; after `snapshot`, replay
        // starts from it and applies only the tail (one more event).
        let dir = try await shopLog()
        defer { removeDir(dir) }
        var r = try await chronik(["replay", "--log", dir, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        var phases = jsonObjects(r.stdout)
        #expect(phases.map { $0["phase"] as? String } == ["snapshot", "tail", "total"])
        #expect(phases.map { $0["events"] as? Int } == [0, 19, 19])
        r = try await chronik(["snapshot", "--log", dir, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        let snap = jsonObjects(r.stdout).first ?? [:]
        #expect(snap["position"] as? Int == 19)
        let path = try #require(snap["path"] as? String)
        #expect(path.hasSuffix("/snapshots/snapshot-00000000000000000019.snap"))
        let more = try writeTemp(#"{"type":"PaymentFailed","time":"2024-05-03T09:00:00Z","data":{"orderId":"o1","paymentId":"pay2","amount":100,"reason":"x"}}"# + "\n")
        defer { try? FileManager.default.removeItem(atPath: more) }
        #expect(try await chronik(["import", "--log", dir, more]).exitCode == 0)
        r = try await chronik(["replay", "--log", dir, "--json", "--only", "orders"])
        phases = jsonObjects(r.stdout)
        #expect(phases.map { $0["events"] as? Int } == [19, 1, 20], "\(r)")
        #expect(phases.last?["models"] as? [String] == ["orders"])
        r = try await chronik(["replay", "--log", dir, "--json", "--no-snapshot"])
        #expect(jsonObjects(r.stdout).map { $0["events"] as? Int } == [0, 20, 20])
    }

    @Test func corruptSnapshotIsIgnoredWithAWarning() async throws {
        // Proves a snapshot with a flipped byte is never trusted: replay warns
        // on stderr, rebuilds from the log, and the answers stay right.
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let s = try await chronik(["snapshot", "--log", dir, "--json"])
        let path = try #require(jsonObjects(s.stdout).first?["path"] as? String)
        var bytes = try fileBytes(path)
        bytes[bytes.count / 2] ^= 0x01
        try writeFile(path, bytes)
        let r = try await chronik(["replay", "--log", dir, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stderr.contains("ignoring snapshot") && r.stderr.contains("checksum mismatch"), "\(r)")
        #expect(jsonObjects(r.stdout).map { $0["events"] as? Int } == [0, 19, 19])
        let o = try await query(dir, ["order", "o1"]).first ?? [:]
        #expect(o["total"] as? Int == 9990)
    }

    @Test func anEventThatDoesNotDecodeStopsReplayAndQuery() async throws {
        // Proves a bad event (a PaymentCaptured without its fields, written
        // through the library: `append` now refuses it, issue 9.3) is never
        // skipped silently: replay and query fail with its position and type.
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let bad = try writeTemp(#"{"stream": "order-9", "type": "PaymentCaptured", "data": {"total": 4999}}"# + "\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect(try await chronik(["append", "--log", dir, bad]).exitCode == 1, "append validates commerce types")
        do {
            let log = try EventLog.open(at: dir)
            defer { try? log.close() }
            _ = try await log.append(to: "order-9", [ProposedEvent(type: "PaymentCaptured", data: Array(#"{"total":4999}"#.utf8))])
        }
        for args in [["replay"], ["query", "orders"]] {
            let r = try await chronik(args + ["--log", dir])
            #expect(r.exitCode == 1, "\(r)")
            #expect(r.stderr.contains("replay stopped") && r.stderr.contains("(at position 19, PaymentCaptured)"), "\(r)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func forgottenCustomerProfileReadsAsErased() async throws {
        // Proves the profile comes from the customer's stream at query time:
        // after CustomerForgotten it reads null / ‹erased›, while the CRM
        // figures (orders, lifetime value) stay.
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let forget = try writeTemp(#"{"type":"CustomerForgotten","time":"2024-05-05T00:00:00Z","data":{"customerId":"c1"}}"# + "\n")
        defer { try? FileManager.default.removeItem(atPath: forget) }
        #expect(try await chronik(["import", "--log", dir, forget]).exitCode == 0)
        let c = try await query(dir, ["customer", "c1"]).first ?? [:]
        #expect(c["name"] is NSNull && c["email"] is NSNull)
        #expect(c["forgotten"] as? Bool == true && c["orders"] as? Int == 2)
        let text = try await chronik(["query", "customer", "c1", "--log", dir])
        #expect(text.stdout.contains("name ‹erased›") && !text.stdout.contains("Ann"), "\(text)")
    }

    @Test func unknownModelIsAUsageError() async throws {
        // Proves --only rejects a name that is not a model, before any work.
        let r = try await chronik(["replay", "--log", makeTempDir(), "--only", "catalog,nope"])
        #expect(r.exitCode == 64, "\(r)")
        #expect(r.stderr.contains("unknown read model 'nope'"))
    }

    @Test func ordersAndCustomers() async throws {
        // Proves order totals and statuses, the orders filter, and the CRM
        // answer (cancelled order counted; lifetimeValue 9990 − 990; the
        // name read from the customer's stream, not from a model).
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let o1 = try await query(dir, ["order", "o1"]).first ?? [:]
        #expect(o1["total"] as? Int == 9990)
        #expect(o1["captured"] as? Int == 9990 && o1["refunded"] as? Int == 990)
        #expect(o1["financialStatus"] as? String == "partially_refunded")
        #expect(o1["fulfillmentStatus"] as? String == "unfulfilled")
        let cancelled = try await query(dir, ["orders", "--customer", "c1", "--status", "cancelled"])
        #expect(cancelled.map { $0["orderId"] as? String } == ["o2"])
        #expect(cancelled.first?["financialStatus"] as? String == "voided")
        let c = try await query(dir, ["customer", "c1"]).first ?? [:]
        #expect(c["orders"] as? Int == 2)
        #expect(c["lifetimeValue"] as? [String: Int] == ["EUR": 9000])
        #expect(c["name"] as? String == "Ann")
        #expect(c["marketingConsent"] as? Bool == true)
        #expect(c["firstOrderAt"] as? String == "2024-05-01T10:00:00Z")
        #expect(c["lastOrderAt"] as? String == "2024-05-01T11:00:00Z")
        let top = try await query(dir, ["customers", "--top", "5"])
        #expect(top.map { $0["customerId"] as? String } == ["c1"])
        let missing = try await chronik(["query", "order", "nope", "--log", dir])
        #expect(missing.exitCode == 1)
        #expect(missing.stderr.contains("no order 'nope'"))
    }

    @Test func stockCatalogAndReplenishment() async throws {
        // Proves inventory (P1-42: 10 on hand, 2 reserved, 8 available; P2-S
        // 3 ≤ reorder point 5 → low), the replenishment suggestion, and the
        // catalog price (the PriceChanged 4500) and availability.
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let inv = try await query(dir, ["inventory", "--sku", "P1-42"])
        #expect(inv.first?["available"] as? Int == 8 && inv.first?["reserved"] as? Int == 2)
        let low = try await query(dir, ["inventory", "--low"])
        #expect(low.map { $0["sku"] as? String } == ["P2-S"])
        let rep = try await query(dir, ["replenishment"])
        #expect(rep.count == 1)
        #expect(rep.first?["reorderQty"] as? Int == 20 && rep.first?["available"] as? Int == 3)
        let p = try await query(dir, ["product", "P1"]).first ?? [:]
        let variants = p["variants"] as? [[String: Any]] ?? []
        #expect(variants.first?["price"] as? Int == 4500)
        #expect(p["available"] as? Int == 8)
        let socks = try await query(dir, ["catalog", "--category", "socks"])
        #expect(socks.map { $0["productId"] as? String } == ["P2"])
    }

    @Test func fraudScoresEveryOrderAndExplainsIt() async throws {
        // Proves `query fraud` lists every order once, highest score first (ties by orderId), each score within
        // 0...100 and equal to the sum of its reasons' points capped at 100; `query fraud ORDER` gives that same
        // entry; an unknown order is an error naming it.
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let all = try await query(dir, ["fraud", "--top", "5"])
        #expect(Set(all.compactMap { $0["orderId"] as? String }) == ["o1", "o2"])
        let keys = all.map { (-(($0["score"] as? Int) ?? -1), ($0["orderId"] as? String) ?? "") }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 }, "\(keys)")
        for o in all {
            let score = try #require(o["score"] as? Int)
            let reasons = try #require(o["reasons"] as? [[String: Any]])
            #expect((0...100).contains(score))
            #expect(score == min(100, reasons.compactMap { $0["points"] as? Int }.reduce(0, +)), "\(o)")
            #expect(reasons.allSatisfy { ($0["code"] as? String)?.isEmpty == false && $0["detail"] is String })
            #expect(o["customerId"] as? String == "c1")
        }
        let one = try await query(dir, ["fraud", "o1"])
        #expect(one.count == 1 && one.first?["score"] as? Int == all.first { $0["orderId"] as? String == "o1" }?["score"] as? Int)
        let missing = try await chronik(["query", "fraud", "o-404", "--log", dir])
        #expect(missing.exitCode == 1 && missing.stderr.contains("o-404"), "\(missing)")
    }

    @Test func salesFinanceSearchAlsoBought() async throws {
        // Proves sales (units of the non-cancelled order on its day; the
        // refund on its own day), finance per day, zero-result searches
        // after normalisation, and also-bought.
        let dir = try await shopLog()
        defer { removeDir(dir) }
        let sales = try await query(dir, ["sales"])
        #expect(sales.map { $0["day"] as? String } == ["2024-05-01", "2024-05-02"])
        #expect(sales.first?["units"] as? [String: Int] == ["P1-42": 2, "P2-S": 1])
        #expect(sales.last?["revenue"] as? [String: Int] == ["EUR": -990])
        let fin = try await query(dir, ["finance", "--day", "2024-05-02"])
        #expect(fin.count == 1 && fin.first?["refunded"] as? Int == 990 && fin.first?["net"] as? Int == -990)
        let zero = try await query(dir, ["search", "--zero-results"])
        #expect(zero.map { $0["query"] as? String } == ["hat"])
        let all = try await query(dir, ["search", "--top", "1"])
        #expect(all.first?["query"] as? String == "red shoes" && all.first?["count"] as? Int == 2)
        let ab = try await query(dir, ["also-bought", "P1"])
        #expect(ab.map { $0["productId"] as? String } == ["P2"])
    }
}
