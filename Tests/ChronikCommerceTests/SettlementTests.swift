import Foundation
import Testing
@testable import ChronikCommerce

// SettlementLineReported (EVENTS.md v1.2): its rules, the gatewayRef rule
// in the commerce API, the CSV reader and the two report layouts.

func line(_ ref: String, gateway: String = "stripe", payout: String = "po-1", gross: Int64 = 1000, fee: Int64 = 30,
          net: Int64? = nil, payment: String? = "pay-1") -> SettlementLineReported {
    SettlementLineReported(gateway: gateway, payoutId: payout, paidOutAt: Timestamp(rfc3339: "2024-05-03T00:00:00Z")!,
                           kind: .charge, gatewayRef: ref, paymentId: payment, gross: gross, fee: fee,
                           net: net ?? gross - fee, currency: "EUR")
}

@Suite struct SettlementEventTests {
    @Test func netMustBeGrossMinusFee() throws {
        // Proves net = gross − fee is enforced (field `net`), a negative fee is refused, and signed gross/net pass.
        #expect(throws: Never.self) { try CommerceEvent.settlementLineReported(line("t1")).validate() }
        #expect(throws: Never.self) { try CommerceEvent.settlementLineReported(line("t1", gross: -500, fee: 0)).validate() }
        do {
            try CommerceEvent.settlementLineReported(line("t1", net: 971)).validate()
            Issue.record("accepted net ≠ gross − fee")
        } catch { #expect(error.code == .invalidAmount && error.field == "net") }
        do {
            try CommerceEvent.settlementLineReported(line("t1", fee: -1)).validate()
            Issue.record("accepted a negative fee")
        } catch { #expect(error.code == .invalidAmount && error.field == "fee") }
    }

    @Test func gatewayRefIsIdempotentPerGateway() async throws {
        // Proves the same line again (another event id, another payout batch) is a no-op returning the original
        // position; other content with the same gatewayRef is refused and writes nothing; another gateway may
        // reuse the gatewayRef.
        let shop = try TempShop()
        defer { shop.close() }
        let first = try await shop.store.append(.settlementLineReported(line("t1")))
        #expect(!first.wasDuplicate)
        let again = try await shop.store.append(.settlementLineReported(line("t1")))
        #expect(again.wasDuplicate && again.firstPosition == first.firstPosition)
        #expect(shop.head == 1)
        await shop.refuses(.settlementLineReported(line("t1", gross: 999)), .duplicateGatewayRef)
        await shop.refuses(.settlementLineReported(line("t1", payout: "po-2")), .duplicateGatewayRef)
        try await shop.store.append(.settlementLineReported(line("t1", gateway: "adyen")))
        #expect(shop.head == 2)
        // Within one batch: the same line twice is kept once; different content is refused.
        let t = Timestamp(rfc3339: "2024-05-03T00:00:00Z")!
        let twice = try [line("t2"), line("t2")].map { try CommerceEnvelope(.settlementLineReported($0), time: t) }
        try await shop.store.append(twice)
        #expect(shop.head == 3)
        let clash = try [line("t3"), line("t3", gross: 5)].map { try CommerceEnvelope(.settlementLineReported($0), time: t) }
        await #expect(throws: CommerceError.self) { try await shop.store.append(clash) }
        #expect(shop.head == 3)
    }
}

@Suite struct CSVTests {
    @Test func quotesCommasNewlinesBOMAndCRLF() throws {
        // Proves RFC 4180: quoted fields with commas, doubled quotes and line ends, a BOM, CRLF and LF, an empty
        // last field, a missing final line end, blank lines skipped, and each record's starting line.
        let text = "\u{FEFF}a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n\r\n1,,\n2,3,4"
        let records = try CSV.parse(Array(text.utf8))
        #expect(records.map(\.fields) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\r\nlines"], ["1", "", ""], ["2", "3", "4"]])
        #expect(records.map(\.line) == [1, 2, 5, 6])
    }

    @Test func malformedFieldsNameLineAndColumn() {
        // Proves a stray quote, text after a closing quote, an unterminated quote and bad UTF-8 are refused with line and column.
        func error(_ s: [UInt8]) -> CSVError? {
            do { _ = try CSV.parse(s); return nil } catch { return error }
        }
        #expect(error(Array("a,b\nc,d\"e\n".utf8)).map { [$0.line, $0.column] } == [2, 2])
        #expect(error(Array("a,\"b\"x\n".utf8)).map { [$0.line, $0.column] } == [1, 2])
        #expect(error(Array("a\n\"b,c\n".utf8)).map { [$0.line, $0.column] } == [2, 1])
        #expect(error([0x61, 0x2C, 0xFF, 0x0A]).map { [$0.line, $0.column] } == [1, 2])
    }

    @Test func writerQuotesOnlyWhatNeedsIt() throws {
        // Proves the writer's output reads back to the same fields.
        let fields = ["plain", "a,b", "q\"q", "l\nl", ""]
        #expect(CSV.line(fields) == "plain,\"a,b\",\"q\"\"q\",\"l\nl\",\r\n")
        #expect(try CSV.parse(Array(CSV.line(fields).utf8)).first?.fields == fields)
    }
}

@Suite struct SettlementReportTests {
    @Test func majorUnitsByTheCurrencysDecimals() {
        // Proves major → minor units with 0, 2 and 3 decimals, signs, trailing zeros, and refusals.
        #expect(CurrencyDecimals.minorUnits("129.90", currency: "EUR") == 12990)
        #expect(CurrencyDecimals.minorUnits("-15", currency: "EUR") == -1500)
        #expect(CurrencyDecimals.minorUnits("4500", currency: "JPY") == 4500)
        #expect(CurrencyDecimals.minorUnits("4500.00", currency: "JPY") == 4500)
        #expect(CurrencyDecimals.minorUnits("1.250", currency: "KWD") == 1250)
        #expect(CurrencyDecimals.minorUnits("0.5", currency: "EUR") == 50)
        for bad in ["1.234", "12,50", "", "-", "1.2.3", "€5", "99999999999999999999"] {
            #expect(CurrencyDecimals.minorUnits(bad, currency: "EUR") == nil, "\(bad)")
        }
        #expect(CurrencyDecimals.minorUnits("4500.5", currency: "JPY") == nil)
        #expect(CurrencyDecimals.major(-1500, currency: "EUR") == "-15.00")
        #expect(CurrencyDecimals.major(4500, currency: "JPY") == "4500")
        #expect(CurrencyDecimals.major(5, currency: "KWD") == "0.005")
    }

    static let stripe = """
        net,currency,extra,automatic_payout_effective_at,reporting_category,gross,fee,automatic_payout_id,balance_transaction_id,payment_metadata[payment_id],refund_metadata[refund_id]\r
        127.83,eur,"x, y",2024-05-03 00:00:00,charge,129.90,2.07,po_1,txn_1,pay-1,\r
        -15.00,eur,,2024-05-04T00:00:00Z,refund,-15.00,0.00,po_2,txn_2,pay-1,rf-1\r
        -25.00,eur,,2024-05-04 00:00:00,dispute,-10.00,15.00,po_2,txn_3,pay-2,\r

        """

    @Test func stripeByHeaderName() throws {
        // Proves Stripe columns are found by name in any order, extra columns ignored, lower-case currency,
        // space-separated UTC times, dispute as chargeback, and that export reads back to the same lines.
        let parsed = try SettlementReport.parse(Array(Self.stripe.utf8), gateway: .stripe)
        let l = parsed.lines.map(\.event)
        #expect(parsed.lines.map(\.line) == [2, 3, 4])
        #expect(l[0] == SettlementLineReported(gateway: "stripe", payoutId: "po_1", paidOutAt: Timestamp(rfc3339: "2024-05-03T00:00:00Z")!,
                                               kind: .charge, gatewayRef: "txn_1", paymentId: "pay-1", gross: 12990, fee: 207,
                                               net: 12783, currency: "EUR"))
        #expect(l[1].kind == .refund && l[1].refundId == "rf-1" && l[1].gross == -1500)
        #expect(l[2].kind == .chargeback && l[2].fee == 1500 && l[2].net == -2500)
        let exported = SettlementReport.export(l, gateway: .stripe)
        #expect(try SettlementReport.parse(Array(exported.utf8), gateway: .stripe).lines.map(\.event) == l)
    }

    static let adyen = "\u{FEFF}Psp Reference,Type,Merchant Reference,Batch Number,Creation Date,TimeZone,Gross Currency,Gross Debit (GC),Gross Credit (GC),Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC)\r\n"
        + "881,Settled,pay-1,7,2024-05-03 02:00:00,CET,EUR,,249.00,EUR,,245.21,2.49,0.50,0.30,0.50\r\n"
        + "882,Refunded,rf-1,7,2024-05-03 02:00:00,UTC,EUR,10.00,,EUR,10.00,,,,,\r\n"
        + "883,Settled,pay-2,7,2024-05-03 02:00:00,CET,JPY,,4500,JPY,,4432,68,,,\r\n"
        + "FEE-1,Fee,,7,2024-05-03 02:00:00,CET,,,,EUR,12.50,,,,,\r\n"
        + "P-7,MerchantPayout,,7,2024-05-03 02:00:00,CET,,,,EUR,400.00,,,,,\r\n"

    @Test func adyenByHeaderName() throws {
        // Proves Adyen's mapping: gross = credit − debit, fee = commission + markup + scheme fees + interchange,
        // net = credit − debit, Merchant Reference as paymentId (refundId for Refunded), the TimeZone, JPY without
        // decimals, a Fee row carried as Net Debit, the payout row skipped; and export reads back the same lines.
        let parsed = try SettlementReport.parse(Array(Self.adyen.utf8), gateway: .adyen)
        let l = parsed.lines.map(\.event)
        #expect(parsed.skippedRows == 1 && l.count == 4)
        #expect(l[0].gross == 24900 && l[0].fee == 379 && l[0].net == 24521 && l[0].paymentId == "pay-1")
        #expect(l[0].paidOutAt == Timestamp(rfc3339: "2024-05-03T01:00:00Z"))
        #expect(l[1].kind == .refund && l[1].refundId == "rf-1" && l[1].paymentId == nil && l[1].gross == -1000 && l[1].net == -1000)
        #expect(l[1].paidOutAt == Timestamp(rfc3339: "2024-05-03T02:00:00Z"))
        #expect(l[2].currency == "JPY" && l[2].gross == 4500 && l[2].fee == 68 && l[2].net == 4432)
        #expect(l[3].kind == .fee && l[3].gross == 0 && l[3].fee == 1250 && l[3].net == -1250 && l[3].gatewayRef == "FEE-1")
        #expect(l.allSatisfy { $0.payoutId == "7" && $0.gateway == "adyen" })
        let exported = SettlementReport.export(l, gateway: .adyen)
        #expect(try SettlementReport.parse(Array(exported.utf8), gateway: .adyen).lines.map(\.event) == l)
        #expect(!l.contains(where: SettlementReport.adyenLoses))
    }

    @Test func adyenExportKeepsAChargebacksPayment() throws {
        // Proves stop 35's finding: a chargeback line carrying its payment and a refundId was exported with the
        // refundId as Merchant Reference, which the import reads as the paymentId of any row but a refund's: the
        // chargeback came back booked to a payment `rf-2` that does not exist. Now the reference is the id the import
        // reads for the row's kind, and the line that loses the other id is told apart.
        let t = Timestamp(rfc3339: "2024-05-03T00:00:00Z")!
        func line(_ kind: SettlementKind, _ ref: String, payment: String?, refund: String?, gross: Int64) -> SettlementLineReported {
            SettlementLineReported(gateway: "adyen", payoutId: "9", paidOutAt: t, kind: kind, gatewayRef: ref, paymentId: payment,
                                   refundId: refund, gross: gross, fee: 0, net: gross, currency: "EUR")
        }
        let lines = [line(.chargeback, "A3", payment: "p2", refund: "rf-2", gross: -100),
                     line(.refund, "A1", payment: "p2", refund: "rf-2", gross: -500),
                     line(.charge, "A4", payment: "p2", refund: nil, gross: 900)]
        let back = try SettlementReport.parse(Array(SettlementReport.export(lines, gateway: .adyen).utf8), gateway: .adyen).lines.map(\.event)
        #expect(back.map { $0.paymentId } == ["p2", nil, "p2"])
        #expect(back.map { $0.refundId } == [nil, "rf-2", nil])
        #expect(lines.map(SettlementReport.adyenLoses) == [true, true, false])
    }

    @Test func badRowsNameLineAndColumn() {
        // Proves a bad amount, net ≠ gross − fee, a negative fee, an unknown category, a bad id and a missing
        // column are refused with the line and the column (number and name).
        func error(_ text: String, _ g: SettlementGateway = .stripe) -> SettlementReportError? {
            do { _ = try SettlementReport.parse(Array(text.utf8), gateway: g); return nil } catch { return error }
        }
        let header = "balance_transaction_id,automatic_payout_id,automatic_payout_effective_at,reporting_category,gross,fee,net,currency\n"
        let good = "t1,po,2024-05-03 00:00:00,charge,10.00,0.30,9.70,eur\n"
        func at(_ e: SettlementReportError?) -> String { e.map { "\($0.line):\($0.column ?? 0):\($0.columnName ?? "")" } ?? "accepted" }
        #expect(at(error(header + good + "t2,po,2024-05-03 00:00:00,charge,10.001,0.30,9.70,eur\n")) == "3:5:gross")
        #expect(at(error(header + good + "t2,po,2024-05-03 00:00:00,charge,10.00,0.30,9.71,eur\n")) == "3:7:net")
        #expect(at(error(header + "t2,po,2024-05-03 00:00:00,charge,10.00,-0.30,10.30,eur\n")) == "2:6:fee")
        #expect(at(error(header + "t2,po,2024-05-03 00:00:00,payout,10.00,0.30,9.70,eur\n")) == "2:4:reporting_category")
        #expect(at(error(header + "t 2,po,2024-05-03 00:00:00,charge,10.00,0.30,9.70,eur\n")) == "2:1:balance_transaction_id")
        #expect(at(error(header + "t2,po,yesterday,charge,10.00,0.30,9.70,eur\n")) == "2:3:automatic_payout_effective_at")
        #expect(at(error(header + "t2,po,2024-05-03 00:00:00,charge,10.00,0.30,9.70,eu\n")) == "2:8:currency")
        #expect(at(error("balance_transaction_id,gross\n")) == "1:0:automatic_payout_id")
        #expect(at(error(header + good)) == "accepted")
        // Stripe's other per-transaction categories are adjustments (stop 34: they refused a real report).
        for category in ["refund_failure", "partial_capture_reversal", "network_cost", "dispute_reversal"] {
            let row = "t3,po,2024-05-03 00:00:00,\(category),-1.00,0.00,-1.00,eur\n"
            let parsed = try? SettlementReport.parse(Array((header + row).utf8), gateway: .stripe)
            #expect(parsed?.lines.first?.event.kind == .adjustment, "\(category)")
        }
    }
}

@Suite struct SettlementImportTests {
    @Test func jsonImportRefusesAGatewayRefClash() async throws {
        // Proves `import` (JSON Lines) refuses, in its first pass and so writing nothing, a settlement line whose
        // gatewayRef the log or an earlier line of the file holds with other content.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(.settlementLineReported(line("t1")))
        func jsonLine(_ ref: String, gross: Int) -> String {
            #"{"type":"SettlementLineReported","time":"2024-05-03T00:00:00Z","data":{"gateway":"stripe","payoutId":"po-1","paidOutAt":"2024-05-03T00:00:00Z","kind":"charge","gatewayRef":"\#(ref)","paymentId":"pay-1","gross":\#(gross),"fee":30,"net":\#(gross - 30),"currency":"EUR"}}"#
        }
        let path = NSTemporaryDirectory() + "chronik-settle-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try (jsonLine("t2", gross: 500) + "\n" + jsonLine("t1", gross: 999) + "\n" + jsonLine("t3", gross: 100) + "\n"
             + jsonLine("t3", gross: 200) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let summary = try await CommerceImport.run(path: path, into: shop.store)
        #expect(summary.rejects.map(\.line) == [2, 4])
        #expect(summary.rejects.allSatisfy { $0.error.code == .duplicateGatewayRef })
        #expect(!summary.wrote && shop.head == 1)
    }

    @Test func jsonImportSkipsTheSameLineAgain() async throws {
        // Proves a settlement line the log (or an earlier line of the file) holds with the same content is a
        // no-op in `import` too, whatever its event id: the log's counted as a duplicate, the file's own repeat
        // as a retry (stop 34: both were "already in the log"), neither appended.
        let shop = try TempShop()
        defer { shop.close() }
        try await shop.store.append(.settlementLineReported(line("t1")))
        let same = #"{"type":"SettlementLineReported","time":"2024-05-03T00:00:00Z","data":{"gateway":"stripe","payoutId":"po-1","paidOutAt":"2024-05-03T00:00:00Z","kind":"charge","gatewayRef":"t1","paymentId":"pay-1","gross":1000,"fee":30,"net":970,"currency":"EUR"}}"#
        let other = same.replacingOccurrences(of: "\"t1\"", with: "\"t2\"")
        let path = NSTemporaryDirectory() + "chronik-settle-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try [same, other, other].joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let summary = try await CommerceImport.run(path: path, into: shop.store)
        #expect(summary.rejectCount == 0 && summary.appended == 1 && summary.duplicates == 1 && summary.retries == 1)
        #expect(shop.head == 2)
    }
}
