import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation
import Hummingbird

extension LogServer {
    /// `GET /models/{name}` and `GET /models/{name}/{id}`: the live models,
    /// as `chronik query --json` prints them (an array of its lines; one
    /// object for a single item). `?waitFor=POSITION` first waits until
    /// the models have applied that position (read-your-writes after an
    /// append: pass its `lastPosition`), at most `maxWait` (then 503
    /// `waitTimeout`; `?timeoutMs=` shortens it).
    func model(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        guard let live else { throw ServerError(.serviceUnavailable, "noModels", "this server keeps no live models") }
        let name = try context.pathParameter("name")
        let id = try context.optionalPathParameter("id")
        let q = try context.query(of: request, allowed: Self.modelParameters(name, item: id != nil))
        if let wait = try number(q, "waitFor") {
            try await waitForModels(live, past: wait, timeout: try timeout(q))
        }
        let json: String = try live.read { set in try Self.modelJSON(name, id: id, q, set) }
        if name == "customers", let id, context.scopes.contains(.pii), localLog != nil || vault != nil {
            // The profile is personal data: read from the customer's stream
            // with the key store, as `chronik query customer`.
            let (c, channels) = live.read { set in (set.crm?.customer(id), set.support?.channels(customer: id) ?? [:]) }
            if let c {
                let found = if let log = localLog {
                    readProfile(log, id, protector: vault)
                } else {
                    (try? await eventStore.readStream("customer-" + id, from: StreamVersion(0), limit: 100_000))
                        .flatMap { profile(of: $0, protector: vault) }
                }
                // With the interactions per channel, as without pii and as
                // `query customer --json` (stop 34: missing here).
                return jsonResponse(customerDetailJSON(c, profile: found, channels: channels))
            }
        }
        return jsonResponse(json)
    }

    func timeout(_ q: Parameters) throws -> Duration {
        guard let ms = try number(q, "timeoutMs") else { return configuration.maxWait }
        return min(.milliseconds(Int64(min(ms, UInt64(Int64.max)))), configuration.maxWait)
    }

    /// Waits until the models have applied `position`, or throws 503 after `timeout`.
    func waitForModels(_ live: LiveProjections, past position: UInt64, timeout: Duration) async throws {
        if live.position.value > position { return }
        let head = try await eventStore.headPosition().value
        guard position < head else {
            throw ServerError(.badRequest, "invalidParameter",
                              "waitFor=\(position): no such event yet (\(head == 0 ? "the log is empty" : "the last is at position \(head - 1)"))", field: "waitFor")
        }
        let reached = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await live.waitUntil(Position(position)); return true }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        // Read once more: the models may have applied it between the
        // timer's end and here (stop 32: "reached 10033, not past 10032").
        let now = live.position.value
        guard reached || now > position else {
            throw ServerError(.serviceUnavailable, "waitTimeout",
                              "the models reached \(now), not past \(position), within \(timeout); ask again")
        }
    }

    /// Every query parameter of /models: the wait, and the filters of
    /// the models that have them.
    static let modelParameters: Set<String> = ["waitFor", "timeoutMs", "limit", "day", "customer", "status", "currency",
                                               "sku", "warehouse", "low", "category", "zeroResults", "at", "key", "open", "supplier"]

    /// The parameters `name`'s list (or, `item`, one of its items) reads,
    /// and waitFor / timeoutMs: another model's filter is refused, not
    /// answered as if absent (stop 33: `/models/customers?low=true`). An
    /// unknown model takes them all, so that its answer is 404.
    static func modelParameters(_ name: String, item: Bool) -> Set<String> {
        let wait: Set<String> = ["waitFor", "timeoutMs"]
        if item && name != "also-bought" && name != "recommendations" { return wait }
        let own: Set<String>? = switch name {
        case "orders": ["customer", "status", "limit"]
        case "customers": ["currency", "limit"]
        case "inventory": ["sku", "warehouse", "low", "limit"]
        case "catalog": ["category", "limit"]
        case "finance", "sales": ["day", "limit"]
        case "search": ["zeroResults", "limit"]
        case "fraud", "also-bought", "replenishment", "recommendations", "suppliers", "campaigns": ["limit"]
        case "settings": ["at", "key", "limit"]
        case "purchase-orders": ["open", "supplier", "limit"]
        case "reconciliation": ["status", "payout"]
        default: nil
        }
        return own.map { $0.union(wait) } ?? modelParameters
    }

    /// A boolean query parameter: true, false, or absent (false); anything
    /// else is 400 (stop 32: `low=yes` answered every item, as if absent).
    static func flag(_ q: Parameters, _ name: String) throws -> Bool {
        switch q[name[...]] {
        case nil, "false": return false
        case "true": return true
        case let other?: throw ServerError(.badRequest, "invalidParameter", "\(name) takes true or false, got \(other)", field: name)
        }
    }

    static let modelNames = ["orders", "customers", "inventory", "catalog", "fraud", "finance", "sales", "search",
                             "also-bought", "replenishment", "recommendations", "suppliers", "purchase-orders", "settings",
                             "campaigns", "reconciliation"]

    /// The JSON of one model (or one of its items).
    static func modelJSON(_ name: String, id: String?, _ q: Parameters, _ set: ProjectionSet) throws -> String {
        func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
        /// `limit`, or `d` when absent; a limit that is not a whole number
        /// from 1 up is refused (it defaulted to 10 without a word).
        func count(default d: Int) throws -> Int {
            guard let raw = q["limit"] else { return d }
            guard let n = Int(raw), n >= 1 else {
                throw ServerError(.badRequest, "invalidLimit", "limit must be a whole number from 1 to \(Int.max), got \(raw)", field: "limit")
            }
            return n
        }
        func limited<T>(_ list: [T]) throws -> [T] {
            guard q["limit"] != nil else { return list }
            return Array(list.prefix(try count(default: 0)))
        }
        func one(_ json: String?, _ what: String) throws -> String {
            guard let json else { throw ServerError(.notFound, "notFound", "no \(what) '\(id ?? "")'") }
            return json
        }
        // A status that is none is a typo, as for `query orders --status`
        // (stop 34: 200 with an empty list).
        func orderStatus(_ q: Parameters) throws -> String? {
            guard let raw = q["status"].map(String.init) else { return nil }
            let all = FinancialStatus.allCases.map(\.rawValue) + FulfillmentStatus.allCases.map(\.rawValue)
            guard all.contains(raw) else {
                throw ServerError(.badRequest, "invalidParameter", "unknown status '\(raw)'; one of: \(all.joined(separator: ", "))", field: "status")
            }
            return raw
        }
        func day() throws -> Day? {
            guard let raw = q["day"] else { return nil }
            guard let d = Day(string: String(raw)) else {
                throw ServerError(.badRequest, "invalidParameter", "day must be YYYY-MM-DD, got \(raw)", field: "day")
            }
            return d
        }
        func noItems() throws {
            if id != nil { throw ServerError(.notFound, "notFound", "the \(name) model has no single-item form") }
        }
        switch name {
        case "orders":
            if let id {
                return try one(set.orders?.order(id).map { orderDetailJSON($0, contacts: set.support?.contacts(order: id) ?? []) }, "order")
            }
            let customer = q["customer"].map(String.init)
            let all = set.orders?.list(customerId: customer, status: try orderStatus(q)) ?? []
            // An unknown value of a filter is said, as `chronik query` says
            // it (stop 35: 200 with an empty list where the CLI fails).
            if let customer, all.isEmpty, set.crm?.customer(customer) == nil,
               set.orders?.list(customerId: customer, status: nil).isEmpty ?? true {
                throw ServerError(.notFound, "customerNotFound", "no customer \(customer) in this log")
            }
            return array(try limited(all).map(orderJSON))
        case "customers":
            if let id {
                return try one(set.crm?.customer(id).map {
                    customerDetailJSON($0, profile: nil, channels: set.support?.channels(customer: id) ?? [:])
                }, "customer")
            }
            // Any case, as `query customers --currency` (stop 34: "sek" found none).
            let currency = q["currency"].map { $0.uppercased() }
            if let currency, let orders = set.orders {
                let known = orders.currencies
                guard known.contains(currency) else {
                    throw ServerError(.notFound, "notFound", "no orders in currency \(currency); the currencies in this log: "
                                      + (known.isEmpty ? "none" : known.joined(separator: ", ")))
                }
            }
            return array((set.crm?.top(try count(default: 10), currency: currency) ?? []).map { customerJSON($0, profile: nil) })
        case "inventory":
            try noItems()
            let sku = q["sku"].map(String.init), warehouse = q["warehouse"].map(String.init)
            let all = set.inventory?.levels(sku: sku, warehouseId: warehouse, lowOnly: try flag(q, "low")) ?? []
            if all.isEmpty, let inventory = set.inventory {
                if let sku, inventory.levels(sku: sku, warehouseId: nil, lowOnly: false).isEmpty {
                    throw ServerError(.notFound, "notFound", "no stock of SKU \(sku) in this log")
                }
                if let warehouse, inventory.levels(sku: nil, warehouseId: warehouse, lowOnly: false).isEmpty {
                    throw ServerError(.notFound, "notFound", "no stock in warehouse \(warehouse) in this log")
                }
            }
            return array(try limited(all).map(stockLevelJSON))
        case "catalog":
            if let id { return try one(set.catalog?.product(id).map(productJSON), "product") }
            let category = q["category"].map(String.init)
            let all = set.catalog?.list(category: category) ?? []
            if let category, all.isEmpty, let catalog = set.catalog {
                let known = Set(catalog.list().map(\.category)).sorted()
                throw ServerError(.notFound, "notFound", "no product in category \(category); categories: \(known.joined(separator: ", "))")
            }
            return array(try limited(all).map(productJSON))
        case "fraud":
            if let id { return try one(set.fraud?.score(order: id).map(fraudScoreJSON), "order") }
            return array((set.fraud?.top(try count(default: 10)) ?? []).map(fraudScoreJSON))
        case "finance":
            try noItems()
            return array(try limited(set.finance?.list(day: try day()) ?? []).map(financeDayJSON))
        case "sales":
            try noItems()
            return array(try limited(set.sales?.list(day: try day()) ?? []).map(salesDayJSON))
        case "search":
            try noItems()
            return array((set.search?.list(top: q["limit"] == nil ? nil : try count(default: 0), zeroResultsOnly: try flag(q, "zeroResults")) ?? [])
                .map(searchQueryJSON))
        case "also-bought":
            guard let id else {
                throw ServerError(.badRequest, "missingParameter", "also-bought takes a product: /models/also-bought/{productId}")
            }
            guard let model = set.alsoBought, model.knows(product: id) else {
                throw ServerError(.notFound, "notFound", "no product '\(id)' (no ProductCreated or VariantAdded names it)")
            }
            return array(model.alsoBought(id, limit: try count(default: 10)).map(alsoBoughtJSON))
        case "replenishment":
            try noItems()
            return array(try limited(set.replenishment?.suggestions() ?? []).map(replenishmentJSON))
        // EVENTS.md v1.2, as `chronik query` answers them (stop 34: not served).
        case "recommendations":
            guard let id else {
                throw ServerError(.badRequest, "missingParameter", "recommendations are per customer: /models/recommendations/{customerId}")
            }
            guard let model = set.recommendations else { return "[]" }
            let list = model.recommendations(for: id, limit: try count(default: 10))
            if list.isEmpty, !model.knows(id), set.crm?.customer(id) == nil {
                throw ServerError(.notFound, "customerNotFound", "no customer \(id) in this log")
            }
            return array(list.map { recommendationJSON($0, customer: id) })
        case "suppliers":
            try noItems()
            return array(try limited(set.supplyChain?.supplierList() ?? []).map(supplierJSON))
        case "purchase-orders":
            try noItems()
            let supplier = q["supplier"].map(String.init)
            let all = set.supplyChain?.purchaseOrderList(openOnly: try flag(q, "open"), supplierId: supplier) ?? []
            // As `chronik query purchase-orders --supplier` fails on it (stop
            // 39, a merchandiser: 200 [] here, exit 1 there).
            if let supplier, all.isEmpty, !(set.supplyChain?.supplierList().contains { $0.supplierId == supplier } ?? false) {
                throw ServerError(.notFound, "notFound", "no supplier '\(supplier)' in this log (no SupplierRegistered, no purchase order of it)")
            }
            return array(try limited(all).map(purchaseOrderJSON))
        case "settings":
            try noItems()
            var at: Timestamp?
            if let raw = q["at"] {
                guard let t = Timestamp(rfc3339: String(raw)) else {
                    throw ServerError(.badRequest, "invalidParameter", "at \(Timestamp.rfc3339Refusal(String(raw))): \(raw)", field: "at")
                }
                at = t
            }
            var list = set.settings?.list(at: at) ?? []
            if let key = q["key"].map(String.init) { list = list.filter { $0.key == key } }
            return array(try limited(list).map(settingJSON))
        case "campaigns":
            try noItems()
            return array(try limited(set.campaigns?.list() ?? []).map(campaignJSON))
        case "reconciliation":
            // The records of `query reconciliation --json`, one element each:
            // payments, then payouts, days and the summary (with `payout`,
            // that payout's records and its payments).
            guard let model = set.reconciliation else { return "[]" }
            if let id { return try one(model.payment(id).map(reconciliationJSON), "payment") }
            let status = q["status"].map(String.init)
            let filters = ReconciliationProjector.statusFilters
            if let status, !filters.contains(status) {
                throw ServerError(.badRequest, "invalidParameter", "unknown status '\(status)'; one of: \(filters.joined(separator: ", "))", field: "status")
            }
            let payments = model.all(status: status)
            if let payout = q["payout"].map(String.init) {
                let found = model.payouts(id: payout)
                guard !found.isEmpty else { throw ServerError(.notFound, "notFound", "no payout '\(payout)'") }
                return array(found.map(payoutJSON) + payments.filter { $0.payouts.contains(payout) }.map(reconciliationJSON))
            }
            return array(payments.map(reconciliationJSON) + model.payoutList().map(payoutJSON) + model.dayList().map(dayJSON)
                         + [try JSONValue(encoding: ReconciliationSummaryLine(model.summary())).text])
        default:
            throw ServerError(.notFound, "unknownModel", "no model \(name); models: \(modelNames.joined(separator: ", "))")
        }
    }
}
