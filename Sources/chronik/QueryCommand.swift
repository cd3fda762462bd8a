import ArgumentParser
import ChronikAudit
import ChronikLog
import ChronikCommerce
import ChronikProjections

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer questions from the read models.",
        discussion: """
            Builds the models a question needs from the newest valid \
            snapshot plus the events after it (nothing is written), then \
            answers: text tables by default, one JSON object per line with \
            --json (field names as in EVENTS.md). An id that is not in the \
            model is an error (exit 1).

            Examples:
              chronik query order o-1001 --json
              chronik query customers --top 10
              chronik query inventory --low
              chronik query also-bought P-42 --limit 5

            Exit status: 0 success, 1 failure (unknown id, replay stopped), 64 usage error.
            """,
        subcommands: [
            ProductQuery.self, CatalogQuery.self, OrderQuery.self, OrdersQuery.self, CustomerQuery.self,
            CustomersQuery.self, InventoryQuery.self, SalesQuery.self, SearchQuery.self, AlsoBoughtQuery.self,
            ReplenishmentQuery.self, FraudQuery.self, FinanceQuery.self,
            ReconciliationQuery.self, RecommendationsQuery.self, SuppliersQuery.self, PurchaseOrdersQuery.self,
            SettingsQuery.self, CampaignsQuery.self,
        ])
}

/// The models `only` names, built at the head (snapshot + tail).
func loadModels(_ options: GlobalOptions, _ only: [String], keys: KeyOptions = KeyOptions()) throws -> (EventLog, ProjectionSet) {
    let log = try options.openForReading()
    let vault: SubjectKeyVault?
    do { vault = try keys.vaultForModels(only, for: log, note: options.note) } catch {
        log.close()
        throw error
    }
    do {
        let (set, report) = try Replayer.rebuild(log, only: only, protector: vault)
        for m in report.messages { options.note("chronik: warning: \(m)") }
        return (log, set)
    } catch {
        log.close()
        throw CommandFailure("replay stopped: \(error.description)")
    }
}

/// Prints JSON lines or text lines.
func emit(_ options: GlobalOptions, json: [String], text: [String]) {
    let out = Output()
    for l in options.json ? json : text { out.line(l) }
    out.flush()
}

func money(_ amounts: CurrencyAmounts) -> JSONValue { .object(amounts.mapValues { .int($0) }) }
func counts(_ d: [String: Int64]) -> JSONValue { .object(d.mapValues { .int($0) }) }
func moneyText(_ amounts: CurrencyAmounts) -> String {
    amounts.isEmpty ? "-" : amounts.keys.sorted().map { "\(amounts[$0]!) \($0)" }.joined(separator: ", ")
}
func countsText(_ d: [String: Int64]) -> String {
    d.isEmpty ? "-" : d.keys.sorted().map { "\($0)×\(d[$0]!)" }.joined(separator: " ")
}

// MARK: Catalog

func productJSON(_ p: CatalogProduct) -> String {
    var o = JSONObject()
    o.add("productId", p.productId)
    o.add("title", p.title)
    o.add("category", p.category)
    o.add("brand", p.brand)
    o.add("discontinued", p.discontinued)
    o.add("available", p.available)
    o.add("variants", .array(p.variants.map { v in
        var vo = JSONObject()
        vo.add("sku", v.sku)
        vo.add("options", .object(v.options.mapValues { .string($0) }))
        vo.add("price", v.price)
        vo.add("currency", v.currency)
        vo.add("available", v.available)
        return .raw(vo.text)
    }))
    return o.text
}

func productText(_ p: CatalogProduct) -> [String] {
    ["\(p.productId)  \(p.title)  [\(p.category)]\(p.discontinued ? "  discontinued" : "")  available \(p.available)"]
        + p.variants.map { "  \(pad($0.sku, 16)) \($0.price) \($0.currency)  available \($0.available)" }
}

struct ProductQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "product", abstract: "One product: variants, prices, availability.")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The productId.") var id: String

    func run() async throws {
        let (log, set) = try loadModels(options, ["catalog"])
        defer { log.close() }
        guard let p = set.catalog?.product(id) else { throw CommandFailure("no product '\(id)'") }
        emit(options, json: [productJSON(p)], text: productText(p))
    }
}

struct CatalogQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "catalog", abstract: "Products, sorted by productId.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Only this category.") var category: String?

    func run() async throws {
        let (log, set) = try loadModels(options, ["catalog"])
        defer { log.close() }
        let list = set.catalog?.list(category: category) ?? []
        emit(options, json: list.map(productJSON), text: list.flatMap(productText))
    }
}

// MARK: Orders

func orderJSON(_ o: OrderRecord) -> String {
    var j = JSONObject()
    j.add("orderId", o.orderId)
    j.add("customerId", o.customerId)
    j.add("placedAt", o.placedAt.rfc3339)
    j.add("currency", o.currency)
    j.add("lines", .array(o.lines.map { l in
        var lo = JSONObject()
        lo.add("sku", l.sku)
        lo.add("qty", l.qty)
        lo.add("unitPrice", l.unitPrice)
        return .raw(lo.text)
    }))
    j.add("discount", o.discount)
    j.add("shippingFee", o.shippingFee)
    j.add("total", o.total)
    j.add("captured", o.captured)
    j.add("refunded", o.refunded)
    j.add("financialStatus", o.financialStatus.rawValue)
    j.add("fulfillmentStatus", o.fulfillmentStatus.rawValue)
    j.add("shipped", counts(o.shipped))
    j.add("returned", counts(o.returned))
    return j.text
}

func orderText(_ o: OrderRecord) -> String {
    "\(pad(o.orderId, 14)) \(pad(o.customerId, 12)) \(o.placedAt.rfc3339)  total \(o.total) \(o.currency)  captured \(o.captured)  refunded \(o.refunded)  \(o.financialStatus.rawValue)/\(o.fulfillmentStatus.rawValue)"
}

struct OrderQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "order", abstract: "One order: totals, payments, status, returns.")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The orderId.") var id: String

    func run() async throws {
        let (log, set) = try loadModels(options, ["orders", "support"])
        defer { log.close() }
        guard let o = set.orders?.order(id) else { throw CommandFailure("no order '\(id)'") }
        let contacts = set.support?.contacts(order: id) ?? []
        emit(options, json: [addingMember(orderJSON(o), "support", supportContactsJSON(contacts))],
             text: [orderText(o)] + o.lines.map { "  \(pad($0.sku, 16)) \($0.qty) × \($0.unitPrice)" }
             + (o.returned.isEmpty ? [] : ["  returned " + countsText(o.returned)]) + supportContactsText(contacts))
    }
}

struct OrdersQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "orders", abstract: "Orders in log order, filtered.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Only this customer's orders.") var customer: String?
    @Option(help: "Only orders with this financialStatus or fulfillmentStatus.") var status: String?

    func validate() throws {
        let all = FinancialStatus.allCases.map(\.rawValue) + FulfillmentStatus.allCases.map(\.rawValue)
        if let status, !all.contains(status) {
            throw ValidationError("unknown status '\(status)'; one of: \(all.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["orders"])
        defer { log.close() }
        let list = set.orders?.list(customerId: customer, status: status) ?? []
        emit(options, json: list.map(orderJSON), text: list.map(orderText))
    }
}

// MARK: Customers

/// The profile of a customer read from its stream (never from a model).
struct Profile {
    var name: String?
    var email: String?
    var phone: String?
    var erased = false
}

/// The profile from the customer's stream, its personal data opened with
/// `protector` (docs/GDPR.md): erased when the key is destroyed.
func readProfile(_ log: EventLog, _ id: String, protector: (any PIIProtector)?) -> Profile? {
    guard let events = try? log.read(stream: "customer-" + id).collect() else { return nil }
    var p = Profile()
    var seen = false
    for e in events {
        guard let (ce, pii) = try? CommerceEvent.decode(type: e.type, data: e.data, protector: protector) else { continue }
        if pii == .erased {
            seen = true
            p = Profile(erased: true)
            continue
        }
        switch ce {
        case .customerRegistered(let r):
            seen = true
            p.name = r.name; p.email = r.email; p.phone = r.phone
        case .customerUpdated(let u):
            if let v = u.name { p.name = v }
            if let v = u.email { p.email = v }
            if let v = u.phone { p.phone = v }
        case .customerForgotten:
            p = Profile(erased: true)
        default: break
        }
    }
    return seen || p.erased ? p : nil
}

func customerJSON(_ c: CustomerRecord, profile: Profile?) -> String {
    var o = JSONObject()
    o.add("customerId", c.customerId)
    if let profile {
        o.add("name", profile.erased ? nil : profile.name)
        o.add("email", profile.erased ? nil : profile.email)
        o.add("phone", profile.erased ? nil : profile.phone)
    }
    o.add("registered", c.registered)
    o.add("orders", c.orders)
    o.add("lifetimeValue", money(c.lifetimeValue))
    o.add("firstOrderAt", c.firstOrderAt?.rfc3339)
    o.add("lastOrderAt", c.lastOrderAt?.rfc3339)
    o.add("orderIds", .array(c.orderIds.map { .string($0) }))
    o.add("interactions", c.interactions)
    o.add("marketingConsent", c.marketingConsent.map { JSONValue.bool($0) } ?? .null)
    o.add("forgotten", c.forgotten)
    var r = JSONObject()
    r.add("recency", c.rfm.recency)
    r.add("frequency", c.rfm.frequency)
    r.add("monetary", c.rfm.monetary)
    o.add("rfm", r)
    o.add("segment", c.rfm.segment)
    return o.text
}

func customerText(_ c: CustomerRecord) -> String {
    "\(pad(c.customerId, 14)) orders \(c.orders)  lifetimeValue \(moneyText(c.lifetimeValue))  segment \(c.rfm.segment)"
}

struct CustomerQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer", abstract: "One customer: profile (read from its stream), orders, value, consent, segment.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions
    @Argument(help: "The customerId.") var id: String

    func run() async throws {
        let (log, set) = try loadModels(options, ["crm", "support"])
        defer { log.close() }
        guard let c = set.crm?.customer(id) else { throw CommandFailure("no customer '\(id)'") }
        let channels = set.support?.channels(customer: id) ?? [:]
        let vault = try keyOptions.existingVault(for: log, note: options.note)
        let profile = readProfile(log, id, protector: vault)
        func shown(_ v: String?) -> String { profile?.erased == true ? "‹erased›" : (v ?? "-") }
        var text = [customerText(c)]
        if let profile {
            text.append("  name \(shown(profile.name))  email \(shown(profile.email))  phone \(shown(profile.phone))")
        }
        text.append("  first order \(c.firstOrderAt?.rfc3339 ?? "-")  last order \(c.lastOrderAt?.rfc3339 ?? "-")")
        text.append("  interactions \(c.interactions)  marketingConsent \(c.marketingConsent.map { "\($0)" } ?? "-")")
        text.append("  orders: " + (c.orderIds.isEmpty ? "-" : c.orderIds.joined(separator: " ")))
        text.append(supportChannelsText(channels))
        emit(options, json: [addingMember(customerJSON(c, profile: profile), "interactionsByChannel", supportChannelsJSON(channels))],
             text: text)
    }
}

struct CustomersQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers", abstract: "Top customers by lifetime value in one currency (ties by customerId).")
    @OptionGroup var options: GlobalOptions
    @Option(help: "How many.") var top: Int = 10
    @Option(help: "Rank by lifetime value in this currency (default: the currency of most orders).") var currency: String?

    func validate() throws {
        if top < 0 { throw ValidationError("--top must be ≥ 0") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["crm"])
        defer { log.close() }
        let list = set.crm?.top(top, currency: currency) ?? []
        emit(options, json: list.map { customerJSON($0, profile: nil) }, text: list.map(customerText))
    }
}

// MARK: Inventory, replenishment

struct InventoryQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inventory", abstract: "Stock per SKU and warehouse.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Only this SKU.") var sku: String?
    @Option(help: "Only this warehouse.") var warehouse: String?
    @Flag(help: "Only low stock (available ≤ reorder point).") var low = false

    func run() async throws {
        let (log, set) = try loadModels(options, ["inventory"])
        defer { log.close() }
        let list = set.inventory?.levels(sku: sku, warehouseId: warehouse, lowOnly: low) ?? []
        emit(options, json: list.map { l in
            var o = JSONObject()
            o.add("sku", l.sku)
            o.add("warehouseId", l.warehouseId)
            o.add("onHand", l.onHand)
            o.add("reserved", l.reserved)
            o.add("available", l.available)
            o.add("reorderPoint", l.reorderPoint.map { JSONValue.int($0) } ?? .null)
            o.add("reorderQty", l.reorderQty.map { JSONValue.int($0) } ?? .null)
            o.add("low", l.isLow)
            return o.text
        }, text: [pad("sku", 16) + pad("warehouse", 12) + pad("onHand", 9) + pad("reserved", 9) + pad("available", 10) + "reorderPoint"]
            + list.map { l in
                pad(l.sku, 16) + pad(l.warehouseId, 12) + pad("\(l.onHand)", 9) + pad("\(l.reserved)", 9)
                    + pad("\(l.available)", 10) + (l.reorderPoint.map { "\($0)" } ?? "-") + (l.isLow ? "  LOW" : "")
            })
    }
}

struct ReplenishmentQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replenishment", abstract: "Low stock with no open purchase order: what to reorder.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let (log, set) = try loadModels(options, ["replenishment"])
        defer { log.close() }
        let list = set.replenishment?.suggestions() ?? []
        emit(options, json: list.map { s in
            var o = JSONObject()
            o.add("sku", s.sku)
            o.add("warehouseId", s.warehouseId)
            o.add("available", s.available)
            o.add("reorderPoint", s.reorderPoint)
            o.add("reorderQty", s.reorderQty)
            return o.text
        }, text: list.map { "\(pad($0.sku, 16)) \(pad($0.warehouseId, 12)) available \($0.available) ≤ \($0.reorderPoint): order \($0.reorderQty)" })
    }
}

// MARK: Sales, finance

struct SalesQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sales", abstract: "Revenue and units per UTC day.")
    @OptionGroup var options: GlobalOptions
    @Option(help: ArgumentHelp("Only this UTC day.", valueName: "YYYY-MM-DD")) var day: String?

    func validate() throws {
        if let day, Day(string: day) == nil { throw ValidationError("--day must be a date YYYY-MM-DD, got '\(day)'") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["sales"])
        defer { log.close() }
        let list = set.sales?.list(day: day.flatMap { Day(string: $0) }) ?? []
        emit(options, json: list.map { d in
            var o = JSONObject()
            o.add("day", d.day.description)
            o.add("revenue", money(d.revenue))
            o.add("units", counts(d.units))
            return o.text
        }, text: list.map { "\($0.day)  revenue \(moneyText($0.revenue))  units \(countsText($0.units))" })
    }
}

struct FinanceQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finance", abstract: "Captured, refunded and net per UTC day and currency.")
    @OptionGroup var options: GlobalOptions
    @Option(help: ArgumentHelp("Only this UTC day.", valueName: "YYYY-MM-DD")) var day: String?

    func validate() throws {
        if let day, Day(string: day) == nil { throw ValidationError("--day must be a date YYYY-MM-DD, got '\(day)'") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["finance"])
        defer { log.close() }
        let list = set.finance?.list(day: day.flatMap { Day(string: $0) }) ?? []
        emit(options, json: list.map { f in
            var o = JSONObject()
            o.add("day", f.day.description)
            o.add("currency", f.currency)
            o.add("captured", f.captured)
            o.add("refunded", f.refunded)
            o.add("net", f.net)
            return o.text
        }, text: [pad("day", 12) + pad("currency", 10) + pad("captured", 12) + pad("refunded", 12) + "net"]
            + list.map { pad($0.day.description, 12) + pad($0.currency, 10) + pad("\($0.captured)", 12) + pad("\($0.refunded)", 12) + "\($0.net)" })
    }
}

// MARK: Search, also-bought

struct SearchQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Normalised search queries by count; zero-result ones.")
    @OptionGroup var options: GlobalOptions
    @Option(help: "Only the N most frequent.") var top: Int?
    @Flag(name: .customLong("zero-results"), help: "Only queries whose latest search found nothing.") var zeroResults = false

    func validate() throws {
        if let top, top < 0 { throw ValidationError("--top must be ≥ 0") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["search"])
        defer { log.close() }
        let list = set.search?.list(top: top, zeroResultsOnly: zeroResults) ?? []
        emit(options, json: list.map { s in
            var o = JSONObject()
            o.add("query", s.query)
            o.add("count", s.count)
            o.add("resultCount", s.lastResultCount)
            o.add("zeroResults", s.zeroResults)
            return o.text
        }, text: list.map { "\(pad("\($0.count)", 8)) \($0.query)\($0.zeroResults ? "  (zero results)" : "")" })
    }
}

struct AlsoBoughtQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "also-bought", abstract: "Products bought with a product, by number of orders (ties by productId).")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "The productId.") var product: String
    @Option(help: "How many (default 10).") var limit: Int = 10

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be ≥ 0") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["also-bought"])
        defer { log.close() }
        let list = set.alsoBought?.alsoBought(product, limit: limit) ?? []
        emit(options, json: list.map { e in
            var o = JSONObject()
            o.add("productId", e.productId)
            o.add("count", e.count)
            return o.text
        }, text: list.map { "\(pad("\($0.count)", 8)) \($0.productId)" })
    }
}

// MARK: Fraud

struct FraudQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fraud", abstract: "Fraud scores (0–100) per order with their reasons (docs/FRAUD.md).",
        discussion: """
            Without ORDER: the highest scores first (ties by orderId), --top N of them (default 10).
            With ORDER: that order's score and every reason with its points.
            """)
    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions
    @Option(help: "The N highest scores (default 10).") var top: Int = 10
    @Argument(help: "One order.") var order: String?

    func validate() throws {
        if top < 0 { throw ValidationError("--top must be ≥ 0") }
    }

    func run() async throws {
        let (log, set) = try loadModels(options, ["fraud"], keys: keyOptions)
        defer { log.close() }
        guard let fraud = set.fraud else { throw CommandFailure("the fraud model was not built") }
        let scores: [FraudScore]
        if let order {
            guard let s = fraud.score(order: order) else { throw CommandFailure("no order \(order) in this log") }
            scores = [s]
        } else {
            scores = fraud.top(top)
        }
        emit(options, json: scores.map { s in
            var o = JSONObject()
            o.add("orderId", s.orderId)
            o.add("customerId", s.customerId)
            o.add("score", s.score)
            o.add("reasons", .raw("[" + s.reasons.map { r in
                var ro = JSONObject()
                ro.add("code", r.code.rawValue)
                ro.add("points", r.points)
                ro.add("detail", r.detail)
                return ro.text
            }.joined(separator: ",") + "]"))
            return o.text
        }, text: scores.flatMap { s in
            ["\(pad("\(s.score)", 4)) \(s.orderId)  customer \(s.customerId)"]
                + s.reasons.map { "       +\($0.points) \($0.code.rawValue): \($0.detail)" }
        })
    }
}
