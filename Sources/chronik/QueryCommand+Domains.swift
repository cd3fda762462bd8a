// The queries of EVENTS.md v1.2: reconciliation, recommendations, supply
// chain, settings, campaigns, and the support sections of `query order`
// and `query customer`.

import ArgumentParser
import ChronikLog
import ChronikCommerce
import ChronikProjections
import ChronikServer

/// `EUR 27.99, USD 3.00`, or `-` when empty.
func moneyList(_ amounts: CurrencyAmounts) -> String {
    amounts.isEmpty ? "-" : amounts.keys.sorted().map { money(amounts[$0]!, $0) }.joined(separator: ", ")
}


// MARK: Reconciliation

func reconciliationText(_ p: PaymentReconciliation) -> String {
    let c = p.currency ?? "???"
    return "\(pad(p.paymentId, 16)) \(pad(p.status.rawValue + (p.overdue ? " (overdue)" : ""), 20)) "
        + "captured \(money(p.captured, c))  settled \(money(p.settled, c))  refunded \(money(p.refunded, c))  "
        + "refundSettled \(money(p.refundSettled, c))  fees \(money(p.fees, c))"
        + (p.chargebacks != 0 ? "  chargebacks \(money(p.chargebacks, c))" : "")
}

func payoutText(_ p: PayoutSummary) -> String {
    let per = p.byCurrency.keys.sorted().map { c in
        let t = p.byCurrency[c]!
        return "gross \(money(t.gross, c))  fees \(money(t.fees, c))  net \(money(t.net, c))"
    }.joined(separator: "; ")
    return "payout \(p.gateway)/\(p.payoutId)  \(p.paidOutAt.rfc3339)  lines \(p.lines)  \(per)"
}

func reconciliationSummaryText(_ s: ReconciliationSummary) -> String {
    ReconciliationStatus.allCases.map { "\($0.rawValue) \(s.counts[$0] ?? 0)" }.joined(separator: "  ")
        + "  overdue \(s.overdue)  fees \(moneyList(s.fees))  payouts \(s.payouts)"
}

struct ReconciliationQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconciliation",
        abstract: "Payments against the gateways' settlement lines: status per payment, per payout, per day.",
        discussion: """
            Per payment (captured or settled): captured, settled, refunded, \
            refundSettled, fees, chargebacks and a status, the first that \
            holds: unknown (settled, never captured), duplicate (more charge \
            lines than captures), mismatch, matched, unsettled; `overdue` \
            marks an unsettled payment captured more than 7 days before its \
            gateway's latest payout. Then the payouts and the days (UTC day \
            of paidOutAt, per currency), then a summary. Under --json each \
            line has a `record` key: payment, payout, day or summary.

            Examples:
              chronik query reconciliation --log shop --status mismatch
              chronik query reconciliation --log shop --payout po_1PBb7Q --json
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: "Only payments with this status (unknown, duplicate, mismatch, matched, unsettled, or overdue).")
    var status: String?
    @Option(help: "Only this payout (its payoutId) and the payments with a line in it.") var payout: String?

    func validate() throws {
        let all = ReconciliationProjector.statusFilters
        if let status, !all.contains(status) {
            throw ValidationError("unknown status '\(status)'; one of: \(all.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["reconciliation"])
        defer { try? log.close() }
        guard let r = set.reconciliation else { return }
        var payments = r.all(status: status)
        var json: [String] = []
        var text: [String] = []
        if let payout {
            let found = r.payouts(id: payout)
            guard !found.isEmpty else { throw CommandFailure("no payout '\(payout)'") }
            payments = payments.filter { $0.payouts.contains(payout) }
            json += found.map(payoutJSON) + payments.map(reconciliationJSON)
            text += found.map(payoutText) + payments.map { "  " + reconciliationText($0) }
        } else {
            json += payments.map(reconciliationJSON)
            text += payments.map(reconciliationText)
            let payouts = r.payoutList()
            json += payouts.map(payoutJSON)
            text += payouts.map(payoutText)
            let days = r.dayList()
            json += days.map(dayJSON)
            text += days.map { "day \($0.day)  \($0.currency)  fees \(money($0.fees, $0.currency))  net \(money($0.net, $0.currency))  lines \($0.lines)" }
            let s = r.summary()
            json.append(try JSONValue(encoding: ReconciliationSummaryLine(s)).text)
            text.append(reconciliationSummaryText(s))
        }
        emit(options, json: json, text: text)
    }
}

// MARK: Recommendations

struct RecommendationsQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommendations",
        abstract: "Products to recommend to a customer, by score (also-bought with their purchases + sessions viewed).",
        discussion: """
            score(Q) = Σ over the customer's bought products P of the orders \
            containing both P and Q, + the customer's sessions in which Q was \
            viewed. Not listed: products already bought, discontinued, not \
            available, or with score 0. Ties by productId. A forgotten \
            customer gets none.

            Example:
              chronik query recommendations c-1 --log shop --limit 5
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Argument(help: "The customerId.") var customer: String
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("products", hasDefault: true)) var limit: Int = 10

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be ≥ 0, got \(limit)") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["recommendations"])
        defer { try? log.close() }
        let list = set.recommendations?.recommendations(for: customer, limit: limit) ?? []
        // An unknown customer is an error, not an empty list (stop 33).
        if list.isEmpty, log.lastVersion(of: "customer-" + customer) == nil, set.recommendations?.knows(customer) != true {
            throw CommandFailure("no customer \(customer) in this log (stream customer-\(customer) is empty, and no order or session names them)")
        }
        emit(options, json: list.map { recommendationJSON($0, customer: customer) }, text: list.isEmpty ? ["no recommendations for customer \(customer): no product scores above 0"]
            : list.map { "\(pad($0.productId, 16)) score \($0.score)  (bought together \($0.boughtTogether), viewed in \($0.viewedSessions) session\($0.viewedSessions == 1 ? "" : "s"))" })
    }
}

// MARK: Supply chain

/// Purchase orders as an aligned table, times as every text column gives
/// them (stop 35: ragged lines, no header).
func purchaseOrdersText(_ list: [PurchaseOrderRecord]) -> [String] {
    var t = TextTable(["purchaseOrderId", "supplier", "warehouse", "placed", "expected", "received", "late", "lines", "units"],
                      right: ["lines", "units"])
    for p in list {
        let units = p.lines.reduce(Int64(0)) { $0 + $1.qty }
        t.add([p.purchaseOrderId, p.supplierId, p.warehouseId, textTime(p.placedAt), textTime(p.expectedAt),
               p.receivedAt.map(textTime) ?? "open", p.late ? "LATE" : "", group(Int64(p.lines.count)), group(units)])
    }
    return t.lines
}

struct SuppliersQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "suppliers",
        abstract: "Suppliers: lead time, open and received purchase orders, on-time rate, average lead days, units on order.",
        discussion: """
            onTimeRate = received not late / received (null when none \
            received); averageLeadDays = mean of receivedAt − placedAt in \
            days over received orders, rounded to 2 decimals.

            Example:
              chronik query suppliers --log shop --json
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("rows")) var limit: Int?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["supply-chain"])
        defer { try? log.close() }
        let list = limited(set.supplyChain?.supplierList() ?? [], limit, options)
        emit(options, json: list.map(supplierJSON), text: list.flatMap { s in
            ["\(pad(s.supplierId, 14)) \(pad(s.name ?? "-", 24)) lead \(s.leadTimeDays.map { "\($0) d" } ?? "-")  "
                + "open \(s.openOrders)  received \(s.receivedOrders)  "
                + "on time \(s.onTimeRate.map { "\(Int(($0 * 100).rounded())) %" } ?? "-")  "
                + "avg lead \(s.averageLeadDays.map { "\($0) d" } ?? "-")"]
                + s.unitsOnOrder.map { "  on order \(pad($0.sku, 16)) \(pad($0.warehouseId, 8)) \($0.qty)" }
        })
    }
}

struct PurchaseOrdersQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "purchase-orders",
        abstract: "Purchase orders by purchaseOrderId: placed, expected, received, open, late.",
        discussion: """
            late = received after expectedAt, or still open and the log's \
            latest event is after expectedAt.

            Examples:
              chronik query purchase-orders --log shop --open
              chronik query purchase-orders --log shop --supplier sup-1 --json
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Flag(help: "Only open (not received) orders.") var open = false
    @Option(help: "Only this supplier's orders.") var supplier: String?
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("rows")) var limit: Int?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["supply-chain"])
        defer { try? log.close() }
        let all = set.supplyChain?.purchaseOrderList(openOnly: open, supplierId: supplier) ?? []
        // An unknown supplier is an error, not an empty list (stop 33).
        if let supplier, all.isEmpty, log.lastVersion(of: "supplier-" + supplier) == nil,
           set.supplyChain?.purchaseOrderList(openOnly: false, supplierId: supplier).isEmpty ?? true {
            throw CommandFailure("no supplier '\(supplier)' in this log (no stream supplier-\(supplier), no purchase order of it)")
        }
        let list = limited(all, limit, options)
        emit(options, json: list.map(purchaseOrderJSON), text: purchaseOrdersText(list))
    }
}

// MARK: Settings

struct SettingsQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Site settings: value, actor, changedAt, changes; or as they were at a time.",
        discussion: """
            --at TIME gives each key's value as of the latest SettingChanged \
            (log order) with time ≤ TIME; keys not set then are absent, and \
            `changes` counts the changes up to then.

            Examples:
              chronik query settings --log shop
              chronik query settings --log shop --at 2024-05-01T12:00:00Z
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: "As of this RFC 3339 time.") var at: String?
    @Option(help: "Only this key.") var key: String?
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("rows")) var limit: Int?

    func validate() throws {
        try checkLimit(limit)
        if let at, Timestamp(rfc3339: at) == nil {
            throw ValidationError("--at '\(at)' is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z)")
        }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["settings"])
        defer { try? log.close() }
        let time = at.flatMap { Timestamp(rfc3339: $0) }
        var list = set.settings?.list(at: time) ?? []
        if let key {
            list = list.filter { $0.key == key }
            if list.isEmpty {
                throw CommandFailure("no setting '\(key)'" + (at.map { " at \($0)" } ?? ""))
            }
        }
        list = limited(list, limit, options)
        var t = TextTable(["key", "value", "actor", "changedAt", "changes"], right: ["changes"])
        for s in list { t.add([s.key, s.value, s.actor, textTime(s.changedAt), group(Int64(s.changes))]) }
        emit(options, json: list.map(settingJSON), text: list.isEmpty ? ["no setting was set" + (at.map { " at \($0)" } ?? "")] : t.lines)
    }
}

// MARK: Campaigns

func campaignsText(_ list: [CampaignRecord]) -> [String] {
    var t = TextTable(["campaignId", "name", "channel", "budget", "sessions", "orders", "revenue", "conversion", "roas"],
                      right: ["budget", "sessions", "orders", "conversion", "roas"])
    for c in list {
        t.add([c.campaignId, c.name ?? "-", c.channel ?? "-", c.budget.map { money($0, c.currency ?? "???") } ?? "-",
               group(Int64(c.sessions)), group(Int64(c.orders)), moneyList(c.revenue),
               c.conversionRate.map { "\($0)" } ?? "-", c.roas.map { "\($0)" } ?? "-"])
    }
    return t.lines
}

struct CampaignsQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaigns",
        abstract: "Campaigns: sessions, attributed orders, revenue, conversion rate, ROAS.",
        discussion: """
            An order is attributed to a campaign when its sessionId names a \
            session whose SessionStarted names the campaign. revenue = Σ \
            (captured − refunded) of attributed orders per currency; \
            conversionRate = orders / sessions; roas = revenue in the \
            campaign's currency / budget (both rounded to 4 decimals, null \
            when the divisor is 0).

            Example:
              chronik query campaigns --log shop --json
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("rows")) var limit: Int?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["campaigns"])
        defer { try? log.close() }
        let list = limited(set.campaigns?.list() ?? [], limit, options)
        emit(options, json: list.map(campaignJSON), text: campaignsText(list))
    }
}

// MARK: Support sections of `query order` and `query customer`

/// `json` (an object's text) with `key: value` added as its last member.
func supportContactsText(_ contacts: [SupportContact]) -> [String] {
    contacts.isEmpty ? [] : ["  support contacts:"] + contacts.map { "    \($0.time.rfc3339)  \($0.channel.rawValue)" }
}

func supportChannelsText(_ d: [SupportChannel: Int]) -> String {
    "  interactions per channel: " + SupportChannel.allCases.map { "\($0.rawValue) \(d[$0] ?? 0)" }.joined(separator: "  ")
}

// MARK: The demo's dashboard

/// The dashboard lines of the v1.2 models: reconciliation and the top campaign.
func domainDashboard(_ m: ProjectionSet) -> [String] {
    var lines: [String] = []
    if let r = m.reconciliation {
        let s = r.summary()
        func n(_ st: ReconciliationStatus) -> Int { s.counts[st] ?? 0 }
        lines.append("reconciliation \(n(.matched)) matched, \(n(.mismatch)) mismatched, \(n(.unsettled)) unsettled "
                     + "(\(s.overdue) overdue), \(n(.unknown)) unknown, \(n(.duplicate)) settled twice; "
                     + "\(s.payouts) payouts, fees \(moneyList(s.fees))")
    }
    if let c = m.campaigns {
        if let top = c.top() {
            let revenue = top.currency.flatMap { cur in top.revenue[cur].map { money($0, cur) } } ?? "-"
            lines.append("campaigns      top: \(top.campaignId) \(top.name ?? "") (\(top.channel ?? "-")), revenue \(revenue), "
                         + "\(top.orders) orders from \(top.sessions) sessions, roas \(top.roas.map { "\($0)" } ?? "-")")
        } else {
            lines.append("campaigns      no attributed revenue yet")
        }
    }
    return lines
}
