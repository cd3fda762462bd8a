import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation

/// `chronik settle`: a payment gateway's settlement report in and out.
struct Settle: AsyncParsableCommand, CommandGroup {
    static let configuration = CommandConfiguration(
        abstract: "Import or export a payment gateway's settlement report (CSV) as SettlementLineReported events.",
        discussion: """
            Two layouts (EVENTS.md v1.2): Stripe's itemized payout \
            reconciliation and Adyen's settlement details. Columns are found \
            by header name, in any order; other columns are ignored.

            Examples:
              $ chronik settle import data/settlement-stripe.csv --gateway stripe
              $ chronik query reconciliation --status mismatch
              $ chronik settle export --gateway stripe > stripe.csv

            Exit status: 0 success, 1 failure, 64 usage error.
            """,
        subcommands: [SettleImport.self, SettleExport.self])

    /// `chronik settle --log shop import …` as well as after the subcommand.
    @OptionGroup var options: GlobalOptions
}

extension SettlementGateway: ExpressibleByArgument {}

struct SettleImport: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Append a settlement report's lines (checked all or nothing, then appended by payout).",
        discussion: """
            Stripe: balance_transaction_id → gatewayRef, automatic_payout_id \
            → payoutId, automatic_payout_effective_at → paidOutAt, \
            reporting_category → kind (charge, refund, dispute = chargeback, \
            fee; other_adjustment, dispute_reversal, refund_failure, \
            partial_capture_reversal and network_cost are adjustments), \
            gross/fee/net in major units, currency, \
            payment_metadata[payment_id], refund_metadata[refund_id].

            Adyen: Psp Reference → gatewayRef, Batch Number → payoutId, \
            Creation Date (with TimeZone) → paidOutAt, Type (Settled, \
            Refunded, Chargeback, Fee; MerchantPayout rows are skipped), \
            Gross Credit − Gross Debit → gross, Commission + Markup + Scheme \
            Fees + Interchange → fee, Net Credit − Net Debit → net, Merchant \
            Reference → paymentId (refundId for Refunded).

            Amounts are converted to minor units by the currency's decimals \
            (JPY 0, EUR 2, KWD 3). Every row is checked before anything is \
            written: a bad row is reported with its line and column and \
            nothing of the file is appended. A line whose gatewayRef the \
            gateway already reported with the same content is skipped (so a \
            report can be imported again); with other content it is an error. \
            The checked lines are then appended one payout (one stream) at a \
            time: interrupted then, it says which positions were appended, \
            and importing the file again appends the rest.

            Example:
              $ chronik settle import data/settlement-adyen.csv --gateway adyen

            Exit status: 0 imported, 1 bad file (nothing written) or failure, 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Settle
    @OptionGroup var creation: CreationOptions
    @Argument(help: ArgumentHelp("The settlement report (CSV); \"-\" reads it from stdin.", valueName: "file")) var file: String
    @Option(help: "Its layout: stripe or adyen.") var gateway: SettlementGateway

    func validate() throws {
        try checkInputFile(file, holding: "the gateway's CSV report")
    }

    func run() async throws {
        // The whole report is read before anything is checked or written (a
        // report is small: one line per transaction of a payout period), from
        // stdin as from a file.
        let bytes: [UInt8]
        do {
            bytes = file == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile())
                : Array(try Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw CommandFailure("cannot read \(file): \(error.localizedDescription)")
        }
        let parsed: SettlementReport.Parsed
        do { parsed = try SettlementReport.parse(bytes, gateway: gateway) } catch {
            throw CommandFailure("\(file): \(error.description); nothing was imported")
        }
        let log = try options.openForWriting(creation)
        defer { try? log.close() }
        let store = CommerceStore(log: log)
        // Pass 1: every line checked against the log and the file before
        // anything is written.
        var envelopes: [(line: Int, envelope: CommerceEnvelope)] = []
        var known = 0
        // Lines that repeat an earlier line of the file (stop 34: counted
        // as "already in the log").
        var repeated = 0
        do {
            for (n, line) in parsed.lines {
                let env: CommerceEnvelope
                do {
                    env = try CommerceEnvelope(.settlementLineReported(line), time: line.paidOutAt,
                                               meta: [(key: "source", value: "settle import \(gateway.rawValue)")])
                } catch { throw CommandFailure("\(file): line \(n): \(error.description); nothing was imported") }
                envelopes.append((n, env))
            }
            try store.settlements.refresh(log)
            var seen: [String: (line: Int, data: [UInt8])] = [:]
            var fresh: [(line: Int, envelope: CommerceEnvelope)] = []
            for (n, env) in envelopes {
                guard case .settlementLineReported(let l) = env.event else { continue }
                let verdict: SettlementIndex.Verdict
                do { verdict = try store.settlements.verdict(l, data: env.proposed.data) } catch {
                    throw CommandFailure("\(file): line \(n): \(error.message); nothing was imported")
                }
                if case .same = verdict {
                    known += 1
                    continue
                }
                do { try store.settlements.checkCurrency(l) } catch {
                    throw CommandFailure("\(file): line \(n): \(error.message); nothing was imported")
                }
                if let earlier = seen[l.gatewayRef] {
                    guard earlier.data == env.proposed.data else {
                        throw CommandFailure("\(file): line \(n): gatewayRef \(l.gatewayRef) is also on line \(earlier.line) with other content; nothing was imported")
                    }
                    repeated += 1
                    continue
                }
                seen[l.gatewayRef] = (n, env.proposed.data)
                fresh.append((n, env))
            }
            envelopes = fresh
            // A payout's totals per currency must fit in 64 bits, as an
            // order's do: the models would otherwise add them up saturated
            // and show a wrong total without a word (stop 33).
            var totals: [String: (gross: Int64, fee: Int64, net: Int64)] = [:]
            for (n, env) in envelopes {
                guard case .settlementLineReported(let l) = env.event else { continue }
                let key = l.stream + " " + l.currency
                let t = totals[key] ?? (0, 0, 0)
                let g = t.gross.addingReportingOverflow(l.gross), f = t.fee.addingReportingOverflow(l.fee),
                    x = t.net.addingReportingOverflow(l.net)
                guard !g.overflow, !f.overflow, !x.overflow else {
                    throw CommandFailure("\(file): line \(n): payout \(l.payoutId)'s \(l.currency) total does not fit in 64 bits of minor units; nothing was imported")
                }
                totals[key] = (g.partialValue, f.partialValue, x.partialValue)
            }
        }
        // A Ctrl-C or SIGTERM from here says what was appended (stop 34:
        // it ended silently with some payouts written).
        AppendInterrupt.shared.install()
        AppendInterrupt.shared.appending(to: log, stopsBetweenBatches: false, command: "settle import")
        // Pass 2: one append per payout (a payout is one stream), in file order.
        var order: [String] = []
        var byStream: [String: [CommerceEnvelope]] = [:]
        for (_, env) in envelopes {
            if byStream[env.stream] == nil { order.append(env.stream) }
            byStream[env.stream, default: []].append(env)
        }
        var appended = 0
        for stream in order {
            let batch = byStream[stream]!
            do { try await store.append(batch) } catch let e as CommerceError {
                throw CommandFailure("appending \(stream) failed after \(appended) lines: \(e.description); importing the file again appends the rest")
            }
            appended += batch.count
        }
        try log.close()
        let out = Output()
        if options.json {
            struct Report: Encodable {
                var gateway: String
                var lines, payouts, alreadyInLog, repeatedInFile, skippedRows: Int
            }
            try out.line(encoding: Report(gateway: gateway.rawValue, lines: appended, payouts: order.count,
                                          alreadyInLog: known, repeatedInFile: repeated, skippedRows: parsed.skippedRows))
        } else {
            var s = "imported \(appended) settlement line\(appended == 1 ? "" : "s") of \(order.count) payout\(order.count == 1 ? "" : "s") (\(gateway.rawValue))"
            if known > 0 { s += "; \(known) already in the log" }
            if repeated > 0 { s += "; \(repeated) repeated in the file, skipped" }
            if parsed.skippedRows > 0 { s += "; \(parsed.skippedRows) payout row\(parsed.skippedRows == 1 ? "" : "s") skipped" }
            out.line(s)
        }
        out.flush()
    }
}

struct SettleExport: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a gateway's settlement lines as its report (CSV on stdout), in log order.",
        discussion: """
            The columns `settle import` reads, in the gateway's layout, so an \
            exported report imports again unchanged — with one limit of \
            Adyen's layout: its one reference column holds a refund row's \
            refundId and any other row's paymentId, so a line that also \
            carries the other id loses it (the export says how many).

            Examples:
              $ chronik settle export --gateway stripe > stripe.csv
              $ chronik settle import data/settlement-stripe.csv --gateway stripe
              $ chronik settle export --gateway stripe --payout po_1PBb7Q

            Exit status: 0 success, 1 failure (--payout names no payout of \
            the gateway), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Settle
    @Option(help: "The layout and the gateway whose lines: stripe or adyen.") var gateway: SettlementGateway
    @Option(help: "Only this payout (its payoutId).") var payout: String?

    func validate() throws {
        // The report is CSV: --json asked for something this does not print
        // (stop 32: it was taken and ignored). In validate, so that the
        // usage shown is this command's.
        if options.json { throw ValidationError("settle export prints the gateway's CSV report; --json does not apply") }
    }

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        var lines: [SettlementLineReported] = []
        do {
            try log.scan { view in
                guard view.type == SettlementLineReported.typeName,
                      case .settlementLineReported(let l) = try CommerceEvent.decode(type: view.type, bytes: view.data),
                      l.gateway == gateway.rawValue, payout == nil || l.payoutId == payout else { return }
                lines.append(l)
            }
        } catch {
            throw CommandFailure("reading the log failed: \(error)")
        }
        if let payout, lines.isEmpty {
            // An unknown payout is said, not answered with an empty report.
            throw CommandFailure("no \(gateway.rawValue) payout '\(payout)' in the log")
        }
        let out = Output()
        // As is: its CRLFs are the format (`line` would escape the CRs).
        out.write(Array(SettlementReport.export(lines, gateway: gateway).utf8))
        out.flush()
        options.note("chronik: exported \(lines.count) settlement line\(lines.count == 1 ? "" : "s") (\(gateway.rawValue))")
        if gateway == .adyen {
            let lossy = lines.filter(SettlementReport.adyenLoses)
            if let first = lossy.first {
                options.note("chronik: warning: \(lossy.count) line\(lossy.count == 1 ? "" : "s") (the first gatewayRef \(first.gatewayRef)) carry an id Adyen's layout has no column for: Merchant Reference holds a refund's refundId and any other line's paymentId; imported again, they would differ from the log's")
            }
        }
    }
}
