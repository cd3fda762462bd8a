import Foundation
import Testing

// `chronik settle import/export` and the queries of EVENTS.md v1.2, on the
// sample files of data/ (the README's settlement workflow).

/// A file of the repository's data/ directory.
func dataFile(_ name: String, file: StaticString = #filePath) -> String {
    URL(fileURLWithPath: "\(file)").deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("data/" + name).path
}

@Suite("settle import/export and the v1.2 queries")
struct SettleTests {
    /// The README's workflow: the sample shop, then both sample reports.
    func settledShop(_ name: String = #function) async throws -> String {
        let dir = makeTempDir(name)
        var r = try await chronik(["import", "--log", dir, dataFile("settlement-shop.jsonl")])
        #expect(r.exitCode == 0, "\(r)")
        r = try await chronik(["settle", "import", dataFile("settlement-stripe.csv"), "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout == "imported 5 settlement lines of 2 payouts (stripe)\n", "\(r)")
        r = try await chronik(["settle", "import", dataFile("settlement-adyen.csv"), "--gateway", "adyen", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout == "imported 5 settlement lines of 1 payout (adyen); 1 payout row skipped\n", "\(r)")
        return dir
    }

    @Test func aLineInAnotherCurrencyThanItsPaymentIsRefused() async throws {
        // Proves a settlement line in another currency than its payment's
        // order is refused, by settle import (payment in the log) and by
        // import (order earlier in the same input), with nothing written
        // (stop 34: a USD line "matched" a EUR capture and the text showed
        // the USD amount as EUR).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var r = try await chronik(["import", "--log", dir, dataFile("settlement-shop.jsonl")])
        #expect(r.exitCode == 0, "\(r)")
        let head = try await chronik(["stats", "--log", dir, "--json"]).stdout
        let csv = dir + ".usd.csv"
        defer { try? FileManager.default.removeItem(atPath: csv) }
        let stripe = try String(contentsOfFile: dataFile("settlement-stripe.csv"), encoding: .utf8).components(separatedBy: "\r\n")
        try (stripe[0] + "\r\n" + stripe[1].replacingOccurrences(of: ",charge,eur,", with: ",charge,usd,") + "\r\n")
            .write(toFile: csv, atomically: true, encoding: .utf8)
        r = try await chronik(["settle", "import", csv, "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 2: stripe line txn_3PAa01 is in USD but payment pay-1001 is in EUR (order o-1001)"), "\(r)")
        #expect(r.stderr.contains("nothing was imported"), "\(r)")
        #expect(try await chronik(["stats", "--log", dir, "--json"]).stdout == head)

        let fresh = makeTempDir("fresh")
        defer { removeDir(fresh) }
        let jsonl = dir + ".usd.jsonl"
        defer { try? FileManager.default.removeItem(atPath: jsonl) }
        let line = #"{"type":"SettlementLineReported","time":"2024-05-05T00:00:00Z","data":{"gateway":"stripe","payoutId":"po_B","paidOutAt":"2024-05-05T00:00:00Z","kind":"charge","gatewayRef":"ch1","paymentId":"pay-1001","gross":12990,"fee":30,"net":12960,"currency":"USD"}}"#
        try (String(contentsOfFile: dataFile("settlement-shop.jsonl"), encoding: .utf8) + line + "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        r = try await chronik(["import", "--log", fresh, jsonl])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("is in USD but payment pay-1001 is in EUR (order o-1001)"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: fresh + "/chronik.meta"), "\(r)")
    }

    @Test func aLineBeforeItsOrderInAnotherCurrencyIsRefusedToo() async throws {
        // Proves stop 35's finding: the currency check was skipped when the settlement line came before its order
        // (or its refund) in the input, and the USD line then "matched" the EUR capture. Now the PaymentAuthorized
        // (or RefundIssued) that makes the mismatch is refused, naming the line, and nothing is written; and a line
        // naming a payment and a refund of another payment is refused.
        let place = #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-1","customerId":"c-1","lines":[{"sku":"s","qty":1,"unitPrice":10000}],"currency":"EUR","shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}"#
        let auth = #"{"type":"PaymentAuthorized","time":"2024-05-01T10:01:00Z","data":{"orderId":"o-1","paymentId":"p1","amount":10000,"method":"card","gateway":"stripe"}}"#
        let capture = #"{"type":"PaymentCaptured","time":"2024-05-01T10:02:00Z","data":{"orderId":"o-1","paymentId":"p1","amount":10000}}"#
        let refund = #"{"type":"RefundIssued","time":"2024-05-02T10:00:00Z","data":{"orderId":"o-1","refundId":"r-1","paymentId":"p1","amount":500,"reason":"return"}}"#
        func line(_ ref: String, _ kind: String, payment: String?, refund: String?, gross: Int, currency: String) -> String {
            let ids = (payment.map { #","paymentId":"\#($0)""# } ?? "") + (refund.map { #","refundId":"\#($0)""# } ?? "")
            return #"{"type":"SettlementLineReported","time":"2024-05-03T00:00:00Z","data":{"gateway":"stripe","payoutId":"po","paidOutAt":"2024-05-03T00:00:00Z","kind":"\#(kind)","gatewayRef":"\#(ref)"\#(ids),"gross":\#(gross),"fee":0,"net":\#(gross),"currency":"\#(currency)"}}"#
        }
        for (lines, expected) in [
            ([line("t1", "charge", payment: "p1", refund: nil, gross: 10000, currency: "USD"), place, auth, capture],
             "line 3: invalidCurrency [data.orderId]: order o-1 is in EUR, but stripe settlement line t1 earlier in the input settles it in USD"),
            ([line("t2", "refund", payment: nil, refund: "r-1", gross: -500, currency: "USD"), place, auth, capture, refund],
             "line 5: invalidCurrency [data.orderId]: order o-1 is in EUR, but stripe settlement line t2 earlier in the input settles it in USD"),
            ([place, auth, capture, refund, line("t3", "refund", payment: "p9", refund: "r-1", gross: -500, currency: "EUR")],
             "line 5: invalidId [data.refundId]: stripe line t3 names payment p9 and refund r-1, but refund r-1 is of payment p1 (RefundIssued)"),
        ] {
            let dir = makeTempDir()
            defer { removeDir(dir) }
            let r = try await chronik(["import", "--log", dir], input: lines.joined(separator: "\n") + "\n")
            #expect(r.exitCode == 1 && r.stderr.contains(expected), "\(r)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/chronik.meta"), "nothing written: \(r)")
        }
        // In the right currency, the same orders import.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let ok = [line("t1", "charge", payment: "p1", refund: nil, gross: 10000, currency: "EUR"), place, auth, capture]
        #expect(try await chronik(["import", "--log", dir], input: ok.joined(separator: "\n") + "\n").exitCode == 0)
    }

    @Test func aLineRepeatedInTheInputIsNotCalledAlreadyInTheLog() async throws {
        // Proves stop 34's finding: a settlement line twice in one file (or JSON Lines input) was counted as
        // "already in the log"; it is a repeat of the input, skipped as a retry.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let rows = try String(contentsOfFile: dataFile("settlement-stripe.csv"), encoding: .utf8).components(separatedBy: "\r\n")
        let csv = dir + ".twice.csv"
        defer { try? FileManager.default.removeItem(atPath: csv) }
        try ([rows[0], rows[1], rows[2], rows[1]].joined(separator: "\r\n") + "\r\n").write(toFile: csv, atomically: true, encoding: .utf8)
        var r = try await chronik(["settle", "import", csv, "--gateway", "stripe", "--log", dir])
        #expect(r.stdout == "imported 2 settlement lines of 1 payout (stripe); 1 repeated in the file, skipped\n", "\(r)")
        r = try await chronik(["settle", "import", csv, "--gateway", "stripe", "--log", dir, "--json"])
        #expect(jsonObjects(r.stdout).first?["alreadyInLog"] as? Int == 3, "\(r)")
        let line = #"{"type":"SettlementLineReported","time":"2024-05-05T00:00:00Z","data":{"gateway":"stripe","payoutId":"po_B","paidOutAt":"2024-05-05T00:00:00Z","kind":"fee","gatewayRef":"fe1","gross":0,"fee":50,"net":-50,"currency":"EUR"}}"#
        let jsonl = try writeTemp(line + "\n" + line + "\n")
        r = try await chronik(["import", "--log", dir, jsonl])
        #expect(r.exitCode == 0 && r.stdout.contains("1 retry skipped") && !r.stdout.contains("already in the log"), "\(r)")
    }

    @Test func readmeWorkflowFindsEachDiscrepancy() async throws {
        // Proves the sample reports reconcile as the README says: each status once or more, by --status and --payout.
        let dir = try await settledShop()
        defer { removeDir(dir) }
        var r = try await chronik(["query", "reconciliation", "--log", dir, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        let all = jsonObjects(r.stdout)
        let payments = all.filter { $0["record"] as? String == "payment" }
        var status: [String: String] = [:]
        for p in payments { status[p["paymentId"] as! String] = p["status"] as? String }
        #expect(status == ["pay-1001": "matched", "pay-1002": "matched", "pay-1003": "mismatch", "pay-1004": "matched",
                           "pay-1005": "duplicate", "pay-1006": "matched", "pay-1007": "unsettled", "pay-9999": "unknown"])
        let jpy = try #require(payments.first { $0["paymentId"] as? String == "pay-1006" })
        #expect(jpy["currency"] as? String == "JPY" && jpy["settled"] as? Int == 4500 && jpy["fees"] as? Int == 68)
        let summary = try #require(all.last)
        #expect(summary["record"] as? String == "summary")
        #expect((summary["counts"] as? [String: Int]) == ["matched": 4, "mismatch": 1, "duplicate": 1, "unknown": 1, "unsettled": 1])
        #expect((summary["fees"] as? [String: Int]) == ["EUR": 207 + 102 + 150 + 53 + 379 + 2 * 144 + 1250, "JPY": 68])

        r = try await chronik(["query", "reconciliation", "--status", "mismatch", "--log", dir])
        #expect(r.exitCode == 0 && r.stdoutLines.first?.hasPrefix("pay-1003 ") == true, "\(r)")
        #expect(r.stdoutLines.first?.contains("captured EUR 89.90  settled EUR 89.00") == true, "\(r)")
        r = try await chronik(["query", "reconciliation", "--payout", "po_1PCc8R", "--log", dir, "--json"])
        let payout = jsonObjects(r.stdout)
        #expect(payout.first?["record"] as? String == "payout" && payout.first?["net"] as? Int == -1500)
        #expect(payout.dropFirst().map { $0["paymentId"] as? String } == ["pay-1002"])
        r = try await chronik(["query", "reconciliation", "--payout", "nope", "--log", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("no payout 'nope'"), "\(r)")
        r = try await chronik(["query", "reconciliation", "--status", "fine", "--log", dir])
        #expect(r.exitCode == 64, "\(r)")
        // An unknown payout is an error for settle export too, not an empty report.
        r = try await chronik(["settle", "export", "--gateway", "stripe", "--payout", "nope", "--log", dir])
        #expect(r.exitCode == 1 && r.stdout.isEmpty && r.stderr.contains("no stripe payout 'nope'"), "\(r)")
        r = try await chronik(["settle", "export", "--gateway", "stripe", "--payout", "po_1PCc8R", "--log", dir])
        #expect(r.exitCode == 0 && r.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 2 && r.stdout.contains("pay-1002"), "\(r)")
    }

    @Test func importingAgainIsANoOpAndExportRoundTrips() async throws {
        // Proves a report imported twice adds nothing, and export → import into a fresh shop (from a file, and
        // from stdin) → export gives the same file and the same reconciliation.
        let dir = try await settledShop()
        defer { removeDir(dir) }
        var r = try await chronik(["settle", "import", dataFile("settlement-stripe.csv"), "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 0 && r.stdout.contains("imported 0 settlement lines") && r.stdout.contains("5 already in the log"), "\(r)")
        let fresh = makeTempDir()
        defer { removeDir(fresh) }
        #expect(try await chronik(["import", "--log", fresh, dataFile("settlement-shop.jsonl")]).exitCode == 0)
        for gateway in ["stripe", "adyen"] {
            let exported = try await chronik(["settle", "export", "--gateway", gateway, "--log", dir])
            #expect(exported.exitCode == 0 && exported.stdout.hasSuffix("\r\n"), "\(exported)")
            // One report from a file, the other from stdin ("-").
            if gateway == "stripe" {
                let file = try writeTemp(exported.stdout)
                defer { try? FileManager.default.removeItem(atPath: file) }
                r = try await chronik(["settle", "import", file, "--gateway", gateway, "--log", fresh])
            } else {
                r = try await chronik(["settle", "import", "-", "--gateway", gateway, "--log", fresh], input: exported.stdout)
            }
            #expect(r.exitCode == 0 && r.stdout.hasPrefix("imported ") && !r.stdout.hasPrefix("imported 0 "), "\(r)")
            let again = try await chronik(["settle", "export", "--gateway", gateway, "--log", fresh])
            #expect(again.stdout == exported.stdout)
        }
        let a = try await chronik(["query", "reconciliation", "--log", dir, "--json"])
        let b = try await chronik(["query", "reconciliation", "--log", fresh, "--json"])
        #expect(a.stdout == b.stdout && !a.stdout.isEmpty)
    }

    @Test func aBadRowWritesNothing() async throws {
        // Proves a bad row is refused with file, line and column, and that no line of the file is appended; and a
        // gatewayRef already reported with other content is refused the same way.
        let dir = try await settledShop()
        defer { removeDir(dir) }
        let before = try await headPosition(dir)
        let header = "balance_transaction_id,automatic_payout_id,automatic_payout_effective_at,reporting_category,gross,fee,net,currency\r\n"
        let bad = try writeTemp(header + "txn_new1,po_9,2024-05-09 00:00:00,charge,10.00,0.30,9.70,eur\r\n"
                                + "txn_new2,po_9,2024-05-09 00:00:00,charge,ten,0.30,9.70,eur\r\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        var r = try await chronik(["settle", "import", bad, "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 3, column 5 (gross)") && r.stderr.contains("nothing was imported"), "\(r)")
        #expect(try await headPosition(dir) == before)
        let clash = try writeTemp(header + "txn_new3,po_9,2024-05-09 00:00:00,charge,10.00,0.30,9.70,eur\r\n"
                                  + "txn_3PAa01,po_9,2024-05-09 00:00:00,charge,129.90,2.07,127.83,eur\r\n")
        defer { try? FileManager.default.removeItem(atPath: clash) }
        r = try await chronik(["settle", "import", clash, "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("line 3") && r.stderr.contains("txn_3PAa01"), "\(r)")
        #expect(try await headPosition(dir) == before)
        r = try await chronik(["settle", "import", bad, "--gateway", "paypal", "--log", dir])
        #expect(r.exitCode == 64, "\(r)")
        // Two lines of one payout whose total does not fit in 64 bits (stop 33: the models added them saturated).
        let huge = try writeTemp(header + "txn_big1,po_9,2024-05-09 00:00:00,charge,92233720368547758.07,0.00,92233720368547758.07,eur\r\n"
                                 + "txn_big2,po_9,2024-05-09 00:00:00,charge,92233720368547758.07,0.00,92233720368547758.07,eur\r\n")
        defer { try? FileManager.default.removeItem(atPath: huge) }
        r = try await chronik(["settle", "import", huge, "--gateway", "stripe", "--log", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("line 3") && r.stderr.contains("does not fit in 64 bits"), "\(r)")
        #expect(try await headPosition(dir) == before)
    }

    @Test func supportContactsInOrderAndCustomer() async throws {
        // Proves query order lists the order's support contacts (channel and time, no summary) and query
        // customer counts interactions per channel, in text and JSON.
        let dir = try await settledShop()
        defer { removeDir(dir) }
        let lines = [
            #"{"type":"SupportInteraction","time":"2024-05-02T08:00:00Z","data":{"customerId":"c-1","orderId":"o-1001","channel":"chat","summary":"Where is my parcel?"}}"#,
            #"{"type":"SupportInteraction","time":"2024-05-02T09:00:00Z","data":{"customerId":"c-1","orderId":"o-1001","channel":"phone","summary":"Called again"}}"#,
            #"{"type":"SupportInteraction","time":"2024-05-02T10:00:00Z","data":{"customerId":"c-1","channel":"email","summary":"Newsletter"}}"#,
        ]
        let file = try writeTemp(lines.joined(separator: "\n") + "\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        var r = try await chronik(["query", "order", "o-1001", "--log", dir, "--json"])
        let order = try #require(jsonObjects(r.stdout).first)
        let support = try #require(order["support"] as? [[String: Any]])
        #expect(support.map { $0["channel"] as? String } == ["chat", "phone"])
        #expect(support.first?["time"] as? String == "2024-05-02T08:00:00Z" && support.first?["summary"] == nil)
        r = try await chronik(["query", "order", "o-1001", "--log", dir])
        #expect(r.stdout.contains("support contacts:") && r.stdout.contains("2024-05-02T09:00:00Z  phone") && !r.stdout.contains("parcel"), "\(r)")
        r = try await chronik(["query", "customer", "c-1", "--log", dir, "--json"])
        let customer = try #require(jsonObjects(r.stdout).first)
        #expect((customer["interactionsByChannel"] as? [String: Int]) == ["chat": 1, "phone": 1, "email": 1])
        #expect(customer["interactions"] as? Int == 3)
        r = try await chronik(["query", "customer", "c-1", "--log", dir])
        #expect(r.stdout.contains("interactions per channel: email 1  phone 1  chat 1"), "\(r)")
    }

    @Test func otherQueriesAnswerInTextAndJSON() async throws {
        // Proves recommendations, suppliers, purchase-orders, settings (with --at and --key) and campaigns run
        // on a simulated shop, in text and JSON, and their usage errors exit 64.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["simulate", "--events", "20000", "--seed", "3", "--log", dir, "--quiet"]).exitCode == 0)
        // A customer of the shop (an unknown one is an error since stop 33).
        let customers = jsonObjects(try await chronik(["query", "customers", "--json", "--log", dir]).stdout)
        let customer = try #require(customers.first?["customerId"] as? String)
        for args in [["recommendations", customer], ["suppliers"], ["purchase-orders", "--open"], ["settings"], ["campaigns"]] {
            let text = try await chronik(["query"] + args + ["--log", dir])
            #expect(text.exitCode == 0, "\(args) \(text)")
            let json = try await chronik(["query"] + args + ["--log", dir, "--json"])
            #expect(json.exitCode == 0, "\(args) \(json)")
            // purchase-orders, settings and campaigns are aligned tables with a header (stop 35: ragged lines).
            let header = ["purchase-orders", "settings", "campaigns"].contains(args[0]) ? 1 : 0
            #expect(jsonObjects(json.stdout).count + header == text.stdoutLines.count || args[0] == "suppliers", "\(args): \(text.stdout)")
            if header == 1, text.stdoutLines.count > 2 {
                // Aligned: the second column starts at the same place on every line.
                let starts = text.stdoutLines.map { line -> Int in
                    let chars = Array(line)
                    var i = 0
                    while i < chars.count, chars[i] != " " { i += 1 }
                    while i < chars.count, chars[i] == " " { i += 1 }
                    return i
                }
                #expect(Set(starts).count == 1, "\(args): \(text.stdout)")
            }
        }
        let settings = jsonObjects(try await chronik(["query", "settings", "--log", dir, "--json"]).stdout)
        let key = try #require(settings.first?["key"] as? String)
        var r = try await chronik(["query", "settings", "--key", key, "--at", "2000-01-01T00:00:00Z", "--log", dir])
        #expect(r.exitCode == 1 && r.stderr.contains("no setting"), "\(r)")
        r = try await chronik(["query", "settings", "--at", "yesterday", "--log", dir])
        #expect(r.exitCode == 64, "\(r)")
        r = try await chronik(["query", "recommendations", "x", "--limit", "-1", "--log", dir])
        #expect(r.exitCode == 64, "\(r)")
    }
}
