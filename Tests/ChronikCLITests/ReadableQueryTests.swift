import Foundation
import Testing

// Issue 10 (4–8, 14) through the binary: query text shows money in the
// currency's units, an order tells its whole story, tables line up, unknown
// ids and currencies are errors, every list takes --limit, and counts carry
// thousands separators. The shop is `projectionShop` (ReplayQueryTests)
// plus a PLN order with a failed payment, a shipment, a delivery, a return
// and a refund, and a JPY order (a zero-decimal currency).

let storyShop = projectionShop + "\n" + #"""
{"type":"CustomerRegistered","time":"2024-05-03T09:00:00Z","data":{"customerId":"c2","email":"bo@example.com","name":"Bo","address":{"line1":"ul. Długa 1","city":"Kraków","postalCode":"30-001","country":"PL"},"marketingConsent":false}}
{"type":"OrderPlaced","time":"2024-05-03T10:00:00.5Z","data":{"orderId":"o3","customerId":"c2","lines":[{"sku":"P1-42","qty":2,"unitPrice":45090},{"sku":"P2-S","qty":1,"unitPrice":1999}],"currency":"PLN","discount":1999,"shippingFee":1500,"shippingAddress":{"line1":"ul. Długa 1","city":"Kraków","postalCode":"30-001","country":"PL"}}}
{"type":"PaymentFailed","time":"2024-05-03T10:01:00Z","data":{"orderId":"o3","paymentId":"pay3","amount":91680,"reason":"insufficient_funds"}}
{"type":"PaymentAuthorized","time":"2024-05-03T10:02:00Z","data":{"orderId":"o3","paymentId":"pay4","amount":91680,"method":"card","gateway":"adyen"}}
{"type":"PaymentCaptured","time":"2024-05-03T10:03:00Z","data":{"orderId":"o3","paymentId":"pay4","amount":91680}}
{"type":"OrderShipped","time":"2024-05-04T08:00:00Z","data":{"orderId":"o3","shipmentId":"sh1","warehouseId":"W1","carrier":"dhl","trackingNumber":"JD014600001234","lines":[{"sku":"P1-42","qty":2},{"sku":"P2-S","qty":1}]}}
{"type":"OrderDelivered","time":"2024-05-05T12:00:00Z","data":{"orderId":"o3","shipmentId":"sh1"}}
{"type":"ReturnReceived","time":"2024-05-08T09:00:00Z","data":{"orderId":"o3","returnId":"ret1","warehouseId":"W1","lines":[{"sku":"P2-S","qty":1}]}}
{"type":"RefundIssued","time":"2024-05-08T10:00:00Z","data":{"orderId":"o3","refundId":"ref3","paymentId":"pay4","amount":1999,"reason":"returned socks"}}
{"type":"OrderPlaced","time":"2024-05-09T10:00:00Z","data":{"orderId":"o4","customerId":"c3","lines":[{"sku":"P2-S","qty":1,"unitPrice":123456}],"currency":"JPY","shippingAddress":{"line1":"1-1","city":"Tokyo","postalCode":"100-0001","country":"JP"}}}
"""#

@Suite("readable query output")
struct ReadableQueryTests {
    func shop(_ name: String = #function) async throws -> String {
        let dir = makeTempDir(name)
        let file = try writeTemp(storyShop)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let r = try await chronik(["import", "--log", dir, file])
        #expect(r.exitCode == 0, "\(r)")
        return dir
    }

    func text(_ dir: String, _ args: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> Run {
        let r = try await chronik(["query"] + args + ["--log", dir])
        #expect(r.exitCode == 0, "\(r)", sourceLocation: sourceLocation)
        return r
    }

    /// Whether every line of a table has a cell where `header` has it:
    /// starting in its first column (left-aligned) or, for a right-aligned
    /// column, ending in its last one.
    func aligned(_ lines: [String], column header: String, right: Bool = false) -> Bool {
        guard let head = lines.first, let range = head.range(of: header) else { return false }
        let start = head.distance(from: head.startIndex, to: range.lowerBound)
        let end = head.distance(from: head.startIndex, to: range.upperBound) - 1
        return lines.dropFirst().allSatisfy { line in
            let c = Array(line)
            if right { return c.count > end && c[end] != " " && (c.count == end + 1 || c[end + 1] == " ") }
            return c.count > start && c[start] != " " && (start == 0 || c[start - 1] == " ")
        }
    }

    @Test func anOrderTellsItsWholeStoryInCurrencyUnits() async throws {
        // Proves `query order` text shows lines, discount, shipping fee and total in PLN, the failed attempt with its
        // reason, the capture and the refund, the shipment with carrier, tracking and delivery, and the return;
        // --json keeps integer minor units.
        let dir = try await shop()
        defer { removeDir(dir) }
        let out = try await text(dir, ["order", "o3"]).stdout
        // 2 × 450.90 + 19.99 − 19.99 + 15.00 = 916.80
        for expected in ["order o3  customer c2  placed 2024-05-03T10:00:00.500Z", "PLN 450.90", "PLN 901.80",
                         "discount", "PLN -19.99", "shipping fee", "PLN 15.00", "PLN 916.80",
                         "FAILED", "reason: insufficient_funds", "authorized", "card via adyen", "captured",
                         "refunded", "refund ref3: returned socks", "dhl", "JD014600001234",
                         "2024-05-05T12:00:00.000Z", "P1-42×2 P2-S×1", "returns", "ret1", "partially_refunded / delivered"] {
            #expect(out.contains(expected), "missing \(expected) in\n\(out)")
        }
        #expect(!out.contains("91680"), "minor units leak into text:\n\(out)")
        let lines = out.split(separator: "\n").map(String.init)
        let payments = lines.drop { $0 != "payments" }.dropFirst().prefix { $0.hasPrefix("  ") }.map { String($0.dropFirst(2)) }
        #expect(payments.count == 5, "\(payments)")  // header, failed, authorized, captured, refunded, in log order
        #expect(payments.dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true)[1] }
                == ["FAILED", "authorized", "captured", "refunded"])
        #expect(aligned(payments, column: "amount", right: true) && aligned(payments.filter { !$0.contains("captured") }, column: "detail"), "\(payments)")
        let json = try await chronik(["query", "order", "o3", "--json", "--log", dir])
        let o = jsonObjects(json.stdout).first ?? [:]
        #expect(o["total"] as? Int == 91680 && o["refunded"] as? Int == 1999)
    }

    @Test func zeroDecimalCurrenciesHaveNoDecimals() async throws {
        // Proves JPY reads in yen (its minor unit has no decimals) with a thousands separator; an order without
        // payments says so.
        let dir = try await shop()
        defer { removeDir(dir) }
        let out = try await text(dir, ["order", "o4"]).stdout
        #expect(out.contains("JPY 123,456") && !out.contains("JPY 1,234.56"), "\(out)")
        #expect(out.contains("payments\n  none"), "\(out)")
    }

    @Test func moneyInEveryQuery() async throws {
        // Proves catalog, customers, finance, sales and the orders list show currency units, not minor units.
        let dir = try await shop()
        defer { removeDir(dir) }
        #expect(try await text(dir, ["catalog"]).stdout.contains("EUR 45.00"))
        #expect(try await text(dir, ["product", "P1"]).stdout.contains("EUR 45.00"))
        #expect(try await text(dir, ["customers", "--currency", "PLN"]).stdout.contains("PLN 896.81"))  // 916.80 − 19.99
        let finance = try await text(dir, ["finance"]).stdout
        #expect(finance.contains("EUR 99.90") && finance.contains("PLN 916.80") && finance.contains("EUR -9.90"), "\(finance)")
        #expect(try await text(dir, ["sales", "--day", "2024-05-03"]).stdout.contains("PLN 916.80"))
        let orders = try await text(dir, ["orders"]).stdout
        #expect(orders.contains("EUR 99.90") && orders.contains("JPY 123,456") && orders.contains("2024-05-01T10:00:00.000Z"), "\(orders)")
    }

    @Test func tablesLineUp() async throws {
        // Proves inventory, orders and finance columns are separated and aligned, and that sales for one day
        // lists one SKU per line, most sold first.
        let dir = try await shop()
        defer { removeDir(dir) }
        let inventory = try await text(dir, ["inventory"]).stdout.split(separator: "\n").map(String.init)
        #expect(inventory.count == 3)
        #expect(!inventory.contains { $0.contains("P1-42W1") }, "\(inventory)")
        #expect(aligned(inventory, column: "warehouse"), "\(inventory)")
        for column in ["onHand", "available"] { #expect(aligned(inventory, column: column, right: true), "\(column): \(inventory)") }
        #expect(!inventory.contains { $0.hasSuffix(" ") }, "no trailing blanks: \(inventory)")
        let orders = try await text(dir, ["orders"]).stdout.split(separator: "\n").map(String.init)
        for column in ["customerId", "placedAt", "financial"] { #expect(aligned(orders, column: column), "\(column): \(orders)") }
        #expect(!orders.contains { $0.hasSuffix(" ") }, "no trailing blanks")
        let sales = try await text(dir, ["sales", "--day", "2024-05-01"]).stdout.split(separator: "\n").map(String.init)
        let skuLines = sales.drop { !$0.hasPrefix("sku") }
        #expect(Array(skuLines.dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" }) == ["P1-42", "P2-S"], "\(sales)")
        #expect(sales.allSatisfy { $0.count < 120 })
    }

    @Test func unknownIdsAndCurrenciesAreErrors() async throws {
        // Proves also-bought of an unknown product exits 1 naming it; an unknown currency exits 1 listing the
        // shop's currencies; a currency code matches in any case.
        let dir = try await shop()
        defer { removeDir(dir) }
        let nope = try await chronik(["query", "also-bought", "nope", "--log", dir])
        #expect(nope.exitCode == 1 && nope.stderr.contains("no product 'nope'") && nope.stdout.isEmpty, "\(nope)")
        #expect(try await chronik(["query", "also-bought", "P1", "--log", dir]).exitCode == 0)
        let usd = try await chronik(["query", "customers", "--currency", "usd", "--log", dir])
        #expect(usd.exitCode == 1 && usd.stderr.contains("'usd'") && usd.stderr.contains("EUR, JPY, PLN"), "\(usd)")
        let lower = try await chronik(["query", "customers", "--currency", "eur", "--json", "--log", dir])
        #expect(lower.exitCode == 0 && jsonObjects(lower.stdout).map { $0["customerId"] as? String } == ["c1"], "\(lower)")
        let pln = try await chronik(["query", "customers", "--currency", "pLn", "--json", "--log", dir])
        #expect(jsonObjects(pln.stdout).map { $0["customerId"] as? String } == ["c2"], "\(pln)")
        // An unknown category is an error listing the known ones; a known one answers.
        let hats = try await chronik(["query", "catalog", "--category", "hats", "--log", dir])
        #expect(hats.exitCode == 1 && hats.stderr.contains("'hats'") && hats.stderr.contains("shoes, socks"), "\(hats)")
        #expect(try await chronik(["query", "catalog", "--category", "shoes", "--log", dir]).exitCode == 0)
    }

    @Test func everyListTakesLimit() async throws {
        // Proves --limit caps each list (with a note on stderr when rows were left out), --top is its alias,
        // and a negative limit is a usage error.
        let dir = try await shop()
        defer { removeDir(dir) }
        for list in [["orders"], ["catalog"], ["inventory"], ["sales"], ["finance"], ["search"], ["fraud"], ["customers"],
                     ["replenishment"], ["also-bought", "P1"]] {
            for name in ["--limit", "--top"] {
                let r = try await chronik(["query"] + list + [name, "1", "--json", "--log", dir])
                #expect(r.exitCode == 0, "\(list) \(name): \(r)")
                #expect(jsonObjects(r.stdout).count <= 1, "\(list) \(name): \(r)")
                // A cut list says so (stop 35: customers, fraud, search and also-bought said nothing).
                let all = try await chronik(["query"] + list + ["--limit", "1000", "--json", "--log", dir])
                let total = jsonObjects(all.stdout).count
                #expect(total <= 1 || r.stderr.contains("showing 1 of \(total)"), "\(list) \(name): \(total) rows, \(r.stderr)")
            }
            let bad = try await chronik(["query"] + list + ["--limit", "-1", "--log", dir])
            #expect(bad.exitCode == 64, "\(list): \(bad)")
        }
        let orders = try await chronik(["query", "orders", "--limit", "2", "--json", "--log", dir])
        #expect(jsonObjects(orders.stdout).map { $0["orderId"] as? String } == ["o1", "o2"])
        #expect(orders.stderr.contains("showing 2 of 4"), "\(orders)")
    }

    @Test func everyQueryHelpHasAnExampleAndExitStatuses() async throws {
        // Proves each query's --help shows an example and the exit statuses.
        for q in ["product", "catalog", "order", "orders", "customer", "customers", "inventory", "sales", "search",
                  "also-bought", "replenishment", "fraud", "finance"] {
            let r = try await chronik(["query", q, "--help"])
            #expect(r.exitCode == 0)
            #expect(r.stdout.contains("chronik query \(q)") && r.stdout.contains("Exit status:"), "\(q): \(r)")
            #expect(r.stdout.contains("--limit") || ["product", "order", "customer"].contains(q), "\(q): \(r)")
            // Each option's default is printed once.
            for option in r.stdout.components(separatedBy: "\n  -") {
                #expect(option.components(separatedBy: "(default").count <= 2, "\(q): \(option)")
            }
        }
    }

    @Test func aForgottenCustomerSaysSo() async throws {
        // Proves a forgotten customer's text says "forgotten", reads ‹erased› for personal data, and marks
        // consent and segment as stored.
        let dir = try await shop()
        defer { removeDir(dir) }
        let forget = try writeTemp(#"{"type":"CustomerForgotten","time":"2024-05-10T00:00:00Z","data":{"customerId":"c1"}}"# + "\n")
        defer { try? FileManager.default.removeItem(atPath: forget) }
        #expect(try await chronik(["import", "--log", dir, forget]).exitCode == 0)
        let out = try await text(dir, ["customer", "c1"]).stdout
        #expect(out.contains("forgotten") && out.contains("name ‹erased›") && !out.contains("Ann"), "\(out)")
        #expect(out.contains("marketing consent yes (as stored; customer forgotten)"), "\(out)")
        #expect(out.contains("EUR 90.00"), "\(out)")
        let live = try await text(dir, ["customer", "c2"]).stdout
        #expect(!live.contains("forgotten") && live.contains("name Bo"), "\(live)")
        #expect(try await text(dir, ["customers", "--currency", "EUR"]).stdout.contains("c1 (forgotten)"))
    }

    @Test func countsHaveThousandsSeparators() async throws {
        // Proves stats and replay text group digits (1,200 events), and replay's columns line up.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        _ = try await makeLog(dir, count: 1_200)
        let stats = try await chronik(["stats", "--log", dir])
        #expect(stats.stdout.contains("events         1,200") && stats.stdout.contains("head position  1,200"), "\(stats)")
        let replay = try await chronik(["replay", "--log", dir])
        #expect(replay.exitCode == 0, "\(replay)")
        let table = replay.stdout.split(separator: "\n").map(String.init).drop { !$0.hasPrefix("phase") }
        #expect(table.last?.contains("1,200") == true, "\(replay)")
        #expect(aligned(Array(table), column: "time", right: true) && aligned(Array(table), column: "events", right: true), "\(replay)")
    }

    @Test func theLogAndJSONOptionsMayComeBeforeTheQuestion() async throws {
        // `chronik query --log shop orders` is what a user types first; it was "Unknown option '--log'".
        // Before or after the question the answer is the same; one given after wins.
        let dir = try await shop()
        defer { removeDir(dir) }
        let after = try await chronik(["query", "orders", "--json", "--log", dir])
        let before = try await chronik(["query", "--log", dir, "--json", "orders"])
        #expect(after.exitCode == 0 && before.exitCode == 0, "\(before)")
        #expect(before.stdout == after.stdout && before.stdout.contains("\"orderId\":\"o3\""), "\(before)")
        let mixed = try await chronik(["query", "--json", "order", "o3", "--log", dir])
        #expect(mixed.exitCode == 0 && mixed.stdout.hasPrefix("{"), "\(mixed)")
        let overridden = try await chronik(["query", "--log", dir + "-missing", "orders", "--log", dir])
        #expect(overridden.exitCode == 0 && overridden.stdout.contains("o3"), "\(overridden)")
        let missing = try await chronik(["query", "--log", dir + "-missing", "orders"])
        #expect(missing.exitCode == 1 && missing.stderr.contains("-missing"), "\(missing)")
        let settle = try await chronik(["settle", "--log", dir, "export", "--gateway", "stripe"])
        #expect(settle.exitCode == 0, "\(settle)")
    }
}
