import ArgumentParser
import ChronikAudit
import ChronikLog
import ChronikCommerce
import ChronikProjections
import ChronikServer

struct Query: AsyncParsableCommand, CommandGroup {
    static let configuration = CommandConfiguration(
        abstract: "Answer questions from the read models.",
        discussion: """
            Builds the models a question needs from the newest valid \
            snapshot plus the events after it (nothing is written), then \
            answers: text tables by default, one JSON object per line with \
            --json (field names as in EVENTS.md). An id that is not in the \
            model is an error (exit 1).

            Examples:
              $ chronik query order NW1000001 --json
              $ chronik query customers --top 10
              $ chronik query inventory --low
              $ chronik query also-bought p-1001 --limit 5

            Text shows money in the currency's units (EUR 1,234.56) and counts \
            with thousands separators; --json keeps integer minor units. \
            --limit N (or --top N) caps the rows of every list \
            (reconciliation, a report of payments, payouts and days, \
            filters by --status and --payout instead).

            Exit status: 0 success, 1 failure (unknown id or currency, replay \
            stopped), 64 usage error.
            """,
        subcommands: [
            ProductQuery.self, CatalogQuery.self, OrderQuery.self, OrdersQuery.self, CustomerQuery.self,
            CustomersQuery.self, InventoryQuery.self, SalesQuery.self, SearchQuery.self, AlsoBoughtQuery.self,
            ReplenishmentQuery.self, FraudQuery.self, FinanceQuery.self,
            ReconciliationQuery.self, RecommendationsQuery.self, SuppliersQuery.self, PurchaseOrdersQuery.self,
            SettingsQuery.self, CampaignsQuery.self,
        ])

    /// `chronik query --log shop orders` as well as `chronik query orders
    /// --log shop`: what a user types first.
    @OptionGroup var options: GlobalOptions
}

/// The models `only` names, built at the head (snapshot + tail).
func loadModels(_ options: GlobalOptions, _ only: [String], keys: KeyOptions = KeyOptions()) throws -> (EventLog, ProjectionSet) {
    let log = try options.openForReading()
    let vault: (any PIIProtector)?
    do { vault = try keys.vaultForModels(only, for: log, quiet: options.quiet) } catch {
        try? log.close()
        throw error
    }
    do {
        let (set, report) = try Replayer.rebuild(log, only: only, protector: vault)
        for m in report.messages { options.note("chronik: warning: \(m)") }
        LeftToExit.keep(set)
        return (log, set)
    } catch {
        try? log.close()
        throw CommandFailure("replay stopped: \(error.description)")
    }
}

/// Prints JSON lines or text lines.
func emit(_ options: GlobalOptions, json: [String], text: [String]) {
    let out = Output()
    for l in options.json ? json : text { out.line(l) }
    out.flush()
}

/// Amounts per currency as text: `EUR 1,234.56, PLN 90.00`.
func moneyText(_ amounts: CurrencyAmounts) -> String {
    amounts.isEmpty ? "-" : amounts.keys.sorted().map { money(amounts[$0]!, $0) }.joined(separator: ", ")
}
/// Quantities per SKU as text: `A×2 B×1`.
func countsText(_ d: [String: Int64]) -> String {
    d.isEmpty ? "-" : d.keys.sorted().map { "\($0)×\(group(d[$0]!))" }.joined(separator: " ")
}

/// The help of every `--limit` (alias `--top`); the argument parser adds
/// the default of an option that has one, so only "all" is written here.
func limitHelp(_ what: String, hasDefault: Bool = false) -> ArgumentHelp {
    ArgumentHelp("At most N \(what)\(hasDefault ? "." : " (default: all).")", valueName: "N")
}

/// `--limit` must be ≥ 0 (a usage error otherwise).
func checkLimit(_ limit: Int?) throws {
    if let limit, limit < 0 { throw ValidationError("--limit must be ≥ 0, got \(limit)") }
}

/// Says on stderr that a list shows `shown` of `total` (a model that cuts
/// the list itself, as `top` does).
func noteCut(shown: Int, of total: Int, _ options: GlobalOptions) {
    guard total > shown else { return }
    options.note("chronik: showing \(group(shown)) of \(group(total)); --limit N for more")
}

/// The first `limit` of `list`; says on stderr how many were left out.
func limited<T>(_ list: [T], _ limit: Int?, _ options: GlobalOptions) -> [T] {
    guard let limit, list.count > limit else { return list }
    options.note("chronik: showing \(group(limit)) of \(group(list.count)); --limit N for more")
    return Array(list.prefix(limit))
}

/// `code` as one of `known` (ISO codes are upper case; the user's case does
/// not matter), or an error listing the known ones.
func knownCurrency(_ code: String, _ known: [String]) throws -> String {
    let upper = code.uppercased()
    guard known.contains(upper) else {
        throw CommandFailure("no orders in currency '\(code)'; the currencies in this log: "
                             + (known.isEmpty ? "none" : known.joined(separator: ", ")))
    }
    return upper
}

// MARK: Catalog

func productText(_ p: CatalogProduct) -> [String] {
    var t = TextTable(["sku", "price", "available", "options"], right: ["price", "available"])
    for v in p.variants {
        t.add([v.sku, money(v.price, v.currency), group(v.available),
               v.options.keys.sorted().map { "\($0)=\(v.options[$0]!)" }.joined(separator: " ")])
    }
    return ["\(p.productId)  \(p.title)  [\(p.category)]\(p.discontinued ? "  discontinued" : "")  available \(group(p.available))"]
        + t.lines.map { "  " + $0 }
}

/// The catalog as one table, a row per variant.
func catalogText(_ list: [CatalogProduct]) -> [String] {
    var t = TextTable(["productId", "sku", "price", "available", "category", "title"], right: ["price", "available"])
    for p in list {
        let title = p.title + (p.discontinued ? " (discontinued)" : "")
        if p.variants.isEmpty { t.add([p.productId, "-", "-", group(p.available), p.category, title]) }
        for v in p.variants {
            t.add([p.productId, v.sku, money(v.price, v.currency), group(v.available), p.category, title])
        }
    }
    return t.lines
}

struct ProductQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "product", abstract: "One product: variants, prices, availability.",
        discussion: """
            Examples:
              $ chronik query product p-1001
              $ chronik query product p-1001 --json

            Exit status: 0 success, 1 failure (no such product), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Argument(help: "The productId.") var id: String

    func run() async throws {
        let (log, set) = try loadModels(options, ["catalog"])
        defer { try? log.close() }
        guard let p = set.catalog?.product(id) else { throw CommandFailure("no product '\(id)'") }
        emit(options, json: [productJSON(p)], text: productText(p))
    }
}

struct CatalogQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "Products, sorted by productId (text: a row per variant).",
        discussion: """
            Examples:
              $ chronik query catalog --category "Electronics > Speakers"
              $ chronik query catalog --limit 20 --json

            Exit status: 0 success, 1 failure (no product in that category), \
            64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: "Only this category, as the catalog names it (\"Electronics > Speakers\").") var category: String?
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("products")) var limit: Int?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["catalog"])
        defer { try? log.close() }
        let all = set.catalog?.list(category: category) ?? []
        if let category, all.isEmpty {
            // An unknown category is said, not answered with an empty table.
            let known = Set((set.catalog?.list() ?? []).map(\.category)).sorted()
            throw CommandFailure("no product in category '\(category)'; categories: \(known.joined(separator: ", "))")
        }
        let list = limited(all, limit, options)
        emit(options, json: list.map(productJSON), text: catalogText(list))
    }
}

// MARK: Orders

/// Orders as one table, a row per order.
func ordersText(_ list: [OrderRecord]) -> [String] {
    var t = TextTable(["orderId", "customerId", "placedAt", "total", "captured", "refunded", "financial", "fulfillment"],
                      right: ["total", "captured", "refunded"])
    for o in list {
        t.add([o.orderId, o.customerId, textTime(o.placedAt), money(o.total, o.currency), money(o.captured, o.currency),
               money(o.refunded, o.currency), o.financialStatus.rawValue, o.fulfillmentStatus.rawValue])
    }
    return t.lines
}

struct OrderQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "order", abstract: "One order's story: lines and total, payments, shipments, returns.",
        discussion: """
            Text tells the whole story: the lines, discount, shipping fee and \
            total; every payment attempt (failures with their reason), capture \
            and refund; shipments with carrier and tracking number; returns; a \
            cancellation. Totals and statuses come from the orders model, the \
            story from the order's stream. --json gives the model's record.

            Examples:
              $ chronik query order NW1000001
              $ chronik query order NW1000001 --json

            Exit status: 0 success, 1 failure (no such order), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Argument(help: "The orderId.") var id: String

    func run() async throws {
        let (log, set) = try loadModels(options, ["orders", "support"])
        defer { try? log.close() }
        guard let o = set.orders?.order(id) else { throw CommandFailure("no order '\(id)'") }
        let contacts = set.support?.contacts(order: id) ?? []
        if options.json {
            emit(options, json: [orderDetailJSON(o, contacts: contacts)], text: [])
        } else {
            emit(options, json: [], text: orderStory(o, events: try orderEvents(log, id)) + supportContactsText(contacts))
        }
    }
}

struct OrdersQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "orders", abstract: "Orders in log order, filtered.",
        discussion: """
            Examples:
              $ chronik query orders --customer C100001
              $ chronik query orders --status failed --limit 20

            Exit status: 0 success, 1 failure, 64 usage error (unknown status).
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: "Only this customer's orders.") var customer: String?
    @Option(help: "Only orders with this financialStatus or fulfillmentStatus.") var status: String?
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("orders, the first in log order")) var limit: Int?

    func validate() throws {
        try checkLimit(limit)
        let all = FinancialStatus.allCases.map(\.rawValue) + FulfillmentStatus.allCases.map(\.rawValue)
        if let status, !all.contains(status) {
            throw ValidationError("unknown status '\(status)'; one of: \(all.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["orders"])
        defer { try? log.close() }
        // An id the log does not know is an error, not an empty answer
        // (stop 32: a mistyped --customer printed an empty table, exit 0).
        let all = set.orders?.list(customerId: customer, status: status) ?? []
        if let customer, all.isEmpty, log.lastVersion(of: "customer-" + customer) == nil,
           set.orders?.list(customerId: customer, status: nil).isEmpty ?? true {
            throw CommandFailure("no customer '\(customer)' in this log")
        }
        let list = limited(all, limit, options)
        emit(options, json: list.map(orderJSON), text: ordersText(list))
    }
}

// MARK: Customers

/// Customers as one table, a row per customer.
func customersText(_ list: [CustomerRecord]) -> [String] {
    var t = TextTable(["customerId", "orders", "lifetimeValue", "segment"], right: ["orders"])
    for c in list {
        t.add([c.customerId + (c.forgotten ? " (forgotten)" : ""), group(c.orders), moneyText(c.lifetimeValue), c.rfm.segment])
    }
    return t.lines
}

/// One customer: the profile (erased after CustomerForgotten), the CRM
/// figures, consent and segment; a forgotten customer's text says so, and
/// marks consent and segment as what was stored before.
func customerText(_ c: CustomerRecord, profile: Profile?, keyStore: String? = nil) -> [String] {
    let erased = c.forgotten || profile?.erased == true
    func shown(_ v: String?) -> String { erased ? "‹erased›" : (v ?? "-") }
    let stored = c.forgotten ? " (as stored; customer forgotten)" : ""
    // Erased without a CustomerForgotten: the key store has no key for them
    // (stop 34: this said "forgotten … (CustomerForgotten)" while --json
    // said "forgotten": false and no such event was in the log).
    // Without a key store at all, that is what it says (stop 39: a log copied
    // without its .keys read "the key store holds no key for them").
    let why = c.forgotten ? "  forgotten: personal data erased (CustomerForgotten)"
        : erased ? (keyStore.map { "  personal data not shown: no key store at \($0) (not forgotten: no CustomerForgotten)" }
                    ?? "  personal data erased: the key store holds no key for them (not forgotten: no CustomerForgotten)") : ""
    var text = ["customer \(c.customerId)" + why]
    if profile != nil || erased {
        text.append("  name \(shown(profile?.name))  email \(shown(profile?.email))  phone \(shown(profile?.phone))")
    }
    text.append("  registered \(c.registeredAt.map(textTime) ?? "no")")
    text.append("  orders \(group(c.orders))  lifetime value \(moneyText(c.lifetimeValue))")
    text.append("  first order \(c.firstOrderAt.map(textTime) ?? "-")  last order \(c.lastOrderAt.map(textTime) ?? "-")")
    text.append("  interactions \(group(c.interactions))  payment methods \(group(c.paymentMethods))")
    text.append("  marketing consent \(c.marketingConsent.map { $0 ? "yes" : "no" } ?? "-")\(stored)")
    // Scores 1–3, not days (stop 35: "recency 3 d").
    text.append("  segment \(c.rfm.segment) (scores: recency \(c.rfm.recency), frequency \(c.rfm.frequency), "
                + "monetary \(c.rfm.monetary))\(stored)")
    text.append("  order ids:")
    text += c.orderIds.isEmpty ? ["    -"] : c.orderIds.map { "    " + $0 }
    return text
}

struct CustomerQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer", abstract: "One customer: profile (read from its stream), orders, value, consent, segment.",
        discussion: """
            A forgotten customer (CustomerForgotten) reads ‹erased› for personal \
            data and says "forgotten"; consent and segment are shown as stored.

            Examples:
              $ chronik query customer C100001
              $ chronik query customer C100001 --json

            Exit status: 0 success, 1 failure (no such customer), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @OptionGroup var keyOptions: KeyOptions
    @Argument(help: "The customerId.") var id: String

    func run() async throws {
        let (log, set) = try loadModels(options, ["crm", "support"])
        defer { try? log.close() }
        guard let c = set.crm?.customer(id) else { throw CommandFailure("no customer '\(id)'") }
        let channels = set.support?.channels(customer: id) ?? [:]
        let vault = try keyOptions.existingVault(for: log, note: options.note, quiet: options.quiet)
        let profile = readProfile(log, id, protector: vault)
        emit(options, json: [customerDetailJSON(c, profile: profile, channels: channels)],
             text: customerText(c, profile: profile, keyStore: vault == nil ? keyOptions.directory(forLog: log.directory) : nil)
                + [supportChannelsText(channels)])
    }
}

struct CustomersQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers", abstract: "Top customers by lifetime value in one currency (ties by customerId).",
        discussion: """
            Examples:
              $ chronik query customers --top 10
              $ chronik query customers --currency pln --limit 5 --json

            Exit status: 0 success, 1 failure (no orders in that currency), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("customers", hasDefault: true)) var limit: Int = 10
    @Option(help: "Rank by lifetime value in this currency, any case (default: the currency of most orders).") var currency: String?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["crm"])
        defer { try? log.close() }
        guard let crm = set.crm else { throw CommandFailure("the crm model was not built") }
        let code = try currency.map { try knownCurrency($0, crm.orders.currencies) }
        let (list, ranked) = crm.ranked(limit, currency: code)
        noteCut(shown: list.count, of: ranked, options)
        emit(options, json: list.map { customerJSON($0, profile: nil) }, text: customersText(list))
    }
}

// MARK: Inventory, replenishment

struct InventoryQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Stock per SKU and warehouse.",
        discussion: """
            Examples:
              $ chronik query inventory --low
              $ chronik query inventory --warehouse wh-berlin --limit 20

            Exit status: 0 success, 1 failure, 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: "Only this SKU.") var sku: String?
    @Option(help: "Only this warehouse.") var warehouse: String?
    @Flag(help: "Only low stock (available ≤ reorder point).") var low = false
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("rows")) var limit: Int?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["inventory"])
        defer { try? log.close() }
        let all = set.inventory?.levels(sku: sku, warehouseId: warehouse, lowOnly: low) ?? []
        if let sku, all.isEmpty, log.lastVersion(of: "stock-" + sku) == nil {
            throw CommandFailure("no stock of SKU '\(sku)' in this log (no stream stock-\(sku))")
        }
        // An unknown warehouse is an error, not an empty table (stop 33).
        if let warehouse, all.isEmpty, set.inventory?.levels(sku: nil, warehouseId: warehouse, lowOnly: false).isEmpty ?? true {
            throw CommandFailure("no stock in warehouse '\(warehouse)' in this log")
        }
        let list = limited(all, limit, options)
        emit(options, json: list.map(stockLevelJSON), text: inventoryText(list))
    }

    func inventoryText(_ list: [StockLevel]) -> [String] {
        var t = TextTable(["sku", "warehouse", "onHand", "reserved", "available", "reorderPoint", "low"],
                          right: ["onHand", "reserved", "available", "reorderPoint"])
        for l in list {
            t.add([l.sku, l.warehouseId, group(l.onHand), group(l.reserved), group(l.available),
                   l.reorderPoint.map { group($0) } ?? "-", l.isLow ? "LOW" : ""])
        }
        return t.lines
    }
}

struct ReplenishmentQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "replenishment", abstract: "Low stock with no open purchase order: what to reorder.",
        discussion: """
            Examples:
              $ chronik query replenishment
              $ chronik query replenishment --limit 10 --json

            Exit status: 0 success, 1 failure, 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("suggestions")) var limit: Int?

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["replenishment"])
        defer { try? log.close() }
        let list = limited(set.replenishment?.suggestions() ?? [], limit, options)
        var t = TextTable(["sku", "warehouse", "available", "reorderPoint", "order"], right: ["available", "reorderPoint", "order"])
        for s in list { t.add([s.sku, s.warehouseId, group(s.available), group(s.reorderPoint), group(s.reorderQty)]) }
        emit(options, json: list.map(replenishmentJSON), text: t.lines)
    }
}

// MARK: Sales, finance

struct SalesQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "sales", abstract: "Revenue and units per UTC day.",
        discussion: """
            Text: a row per day (revenue, units, SKUs sold); with --day, that \
            day's units per SKU below it, one SKU per line, most sold first \
            (--limit caps them). --json: one object per day with every SKU.

            Examples:
              $ chronik query sales
              $ chronik query sales --day 2025-01-08 --limit 10

            Exit status: 0 success, 1 failure, 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: ArgumentHelp("Only this UTC day.", valueName: "YYYY-MM-DD")) var day: String?
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional,
            help: limitHelp("rows: days, or with --day the SKUs of that day")) var limit: Int?

    func validate() throws {
        try checkLimit(limit)
        if let day, Day(string: day) == nil { throw ValidationError("--day must be a date YYYY-MM-DD, got '\(day)'") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["sales"])
        defer { try? log.close() }
        let all = set.sales?.list(day: day.flatMap { Day(string: $0) }) ?? []
        let list = day == nil ? limited(all, limit, options) : all
        emit(options, json: list.map(salesDayJSON), text: salesText(list))
    }

    func salesText(_ list: [SalesDay]) -> [String] {
        var t = TextTable(["day", "revenue", "units", "skus"], right: ["units", "skus"])
        for d in list { t.add([d.day.description, moneyText(d.revenue), group(d.units.values.reduce(0, +)), group(d.units.count)]) }
        guard day != nil, let d = list.first else { return t.lines }
        var skus = TextTable(["sku", "units"], right: ["units"])
        let ranked = d.units.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        for (sku, n) in limited(ranked, limit, options) { skus.add([sku, group(n)]) }
        return t.lines + [""] + skus.lines
    }
}

struct FinanceQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "finance", abstract: "Captured, refunded and net per UTC day and currency.",
        discussion: """
            Examples:
              $ chronik query finance
              $ chronik query finance --day 2025-01-08 --json

            Exit status: 0 success, 1 failure, 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(help: ArgumentHelp("Only this UTC day.", valueName: "YYYY-MM-DD")) var day: String?
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("rows, the earliest days first")) var limit: Int?

    func validate() throws {
        try checkLimit(limit)
        if let day, Day(string: day) == nil { throw ValidationError("--day must be a date YYYY-MM-DD, got '\(day)'") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["finance"])
        defer { try? log.close() }
        let list = limited(set.finance?.list(day: day.flatMap { Day(string: $0) }) ?? [], limit, options)
        var t = TextTable(["day", "currency", "captured", "refunded", "net"], right: ["captured", "refunded", "net"])
        for f in list {
            t.add([f.day.description, f.currency, money(f.captured, f.currency), money(f.refunded, f.currency), money(f.net, f.currency)])
        }
        emit(options, json: list.map(financeDayJSON), text: t.lines)
    }
}

// MARK: Search, also-bought

struct SearchQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Normalised search queries by count; zero-result ones.",
        discussion: """
            Examples:
              $ chronik query search --top 20
              $ chronik query search --zero-results --json

            Exit status: 0 success, 1 failure, 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("queries, the most frequent first")) var limit: Int?
    @Flag(name: .customLong("zero-results"), help: "Only queries whose latest search found nothing.") var zeroResults = false

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["search"])
        defer { try? log.close() }
        let list = limited(set.search?.list(zeroResultsOnly: zeroResults) ?? [], limit, options)
        var t = TextTable(["count", "results", "query"], right: ["count", "results"])
        for q in list { t.add([group(q.count), q.zeroResults ? "none" : group(q.lastResultCount), q.query]) }
        emit(options, json: list.map(searchQueryJSON), text: t.lines)
    }
}

struct AlsoBoughtQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "also-bought", abstract: "Products bought with a product, by number of orders (ties by productId).",
        discussion: """
            Examples:
              $ chronik query also-bought p-1001
              $ chronik query also-bought p-1001 --limit 5 --json

            Exit status: 0 success, 1 failure (no such product), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @Argument(help: "The productId.") var product: String
    @Option(name: [.customLong("limit"), .customLong("top")], parsing: .unconditional, help: limitHelp("products", hasDefault: true)) var limit: Int = 10

    func validate() throws { try checkLimit(limit) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["also-bought"])
        defer { try? log.close() }
        guard let model = set.alsoBought, model.knows(product: product) else {
            throw CommandFailure("no product '\(product)' (no ProductCreated or VariantAdded names it)")
        }
        let list = limited(model.alsoBought(product, limit: .max), limit, options)
        var t = TextTable(["orders", "productId"], right: ["orders"])
        for e in list { t.add([group(e.count), e.productId]) }
        emit(options, json: list.map(alsoBoughtJSON), text: t.lines)
    }
}

// MARK: Fraud

struct FraudQuery: AsyncParsableCommand, GroupedCommand {
    static let configuration = CommandConfiguration(
        commandName: "fraud", abstract: "Fraud scores (0–100) per order with their reasons (docs/FRAUD.md).",
        discussion: """
            Without ORDER: the highest scores first (ties by orderId), --top N \
            of them (default 10). With ORDER: that order's score and every \
            reason with its points. Amounts in reasons read in the order's \
            currency (PLN 2,910.74).

            Examples:
              $ chronik query fraud --top 20
              $ chronik query fraud NW1000001
              $ chronik query fraud --limit 1000 --json

            Exit status: 0 success, 1 failure (no such order), 64 usage error.
            """)
    @OptionGroup var ownOptions: GlobalOptions
    @ParentCommand var parent: Query
    @OptionGroup var keyOptions: KeyOptions
    @Option(name: [.customLong("top"), .customLong("limit")], parsing: .unconditional, help: limitHelp("orders, the highest scores first", hasDefault: true))
    var top: Int = 10
    @Argument(help: "One order.") var order: String?

    func validate() throws { try checkLimit(top) }

    func run() async throws {
        let (log, set) = try loadModels(options, ["fraud"], keys: keyOptions)
        defer { try? log.close() }
        guard let fraud = set.fraud else { throw CommandFailure("the fraud model was not built") }
        let scores: [FraudScore]
        if let order {
            guard let s = fraud.score(order: order) else { throw CommandFailure("no order \(order) in this log") }
            scores = [s]
        } else {
            scores = fraud.top(top)
            noteCut(shown: scores.count, of: fraud.orderCount, options)
        }
        emit(options, json: scores.map(fraudScoreJSON), text: scores.flatMap { s in
            ["\(pad("\(s.score)", 4)) \(s.orderId)  customer \(s.customerId)"]
                + s.reasons.map { "       +\(pad("\($0.points)", 3)) \($0.code.rawValue): \($0.detail)" }
        })
    }
}
