import ChronikLog
import ChronikCommerce

/// Money of one UTC day in one currency.
public struct FinanceEntry: Sendable, Equatable {
    public var day: Day
    public var currency: String
    /// Σ PaymentCaptured.amount on that day.
    public var captured: Int64
    /// Σ RefundIssued.amount on that day.
    public var refunded: Int64
    public var net: Int64 { saturatingSubtract(captured, refunded) }
}

/// Finance: captured, refunded and net per UTC day (of the capture's or
/// refund's own `time`) and currency. Payments carry no currency: they
/// are in their order's currency, read from the orders model (a
/// dependency). A capture or refund of an order never placed has no
/// currency and is not counted (the orders model counts it as ignored).
public final class FinanceProjector: SnapshottableProjector {
    public let name = "finance"
    public let snapshotVersion: UInt32 = 1
    public let orders: OrdersProjector

    struct Key: Hashable, Comparable {
        var day: Int64
        var currency: String
        static func < (a: Key, b: Key) -> Bool { a.day != b.day ? a.day < b.day : a.currency < b.currency }
    }
    @exclusivity(unchecked)
    var entries: [Key: (captured: Int64, refunded: Int64)] = [:]

    public init(orders: OrdersProjector) { self.orders = orders }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        switch e.event {
        case .paymentCaptured(let p):
            guard let cur = orders.currency(of: p.orderId, at: e.position.value) else { return }
            entries[Key(day: Day(e.occurredAt).daysSinceEpoch, currency: cur), default: (0, 0)].captured.addSaturating(p.amount)
        case .refundIssued(let r):
            guard let cur = orders.currency(of: r.orderId, at: e.position.value) else { return }
            entries[Key(day: Day(e.occurredAt).daysSinceEpoch, currency: cur), default: (0, 0)].refunded.addSaturating(r.amount)
        default: break
        }
    }

    /// Entries sorted by day then currency, optionally of one day.
    public func list(day: Day? = nil) -> [FinanceEntry] {
        entries.keys.sorted().compactMap { k in
            if let day, day.daysSinceEpoch != k.day { return nil }
            let v = entries[k]!
            return FinanceEntry(day: Day(daysSinceEpoch: k.day), currency: k.currency, captured: v.captured, refunded: v.refunded)
        }
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(entries, key: { w, k in
            w.int(k.day)
            w.string(k.currency)
        }, value: { w, v in
            w.int(v.captured)
            w.int(v.refunded)
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        entries = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in Key(day: try r.int64(), currency: try r.string()) },
                                   value: { (r: inout R) throws(ProjectionError) in (captured: try r.int64(), refunded: try r.int64()) })
    }
}

/// Sales of one UTC day.
public struct SalesDay: Sendable, Equatable {
    public var day: Day
    /// Σ captured − Σ refunded on that day, per currency.
    public var revenue: CurrencyAmounts
    /// Units per SKU of the orders placed that day and not cancelled at
    /// the end of the log (paid or not; returns not subtracted).
    public var units: [String: Int64]
}

/// Sales per day and per SKU. Revenue comes from the finance model, units
/// from the orders model (both dependencies): whether an order is
/// cancelled is known only at the end of the log, so units are summed
/// when asked, never folded early.
public final class SalesProjector: SnapshottableProjector {
    public let name = "sales"
    public let snapshotVersion: UInt32 = 1
    public let orders: OrdersProjector
    public let finance: FinanceProjector

    public init(orders: OrdersProjector, finance: FinanceProjector) {
        self.orders = orders
        self.finance = finance
    }

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {}

    /// Days sorted ascending (only days with revenue or units), or one day.
    public func list(day: Day? = nil) -> [SalesDay] {
        var byDay: [Int64: SalesDay] = [:]
        for f in finance.list(day: day) {
            byDay[f.day.daysSinceEpoch, default: SalesDay(day: f.day, revenue: [:], units: [:])].revenue[f.currency, default: 0].addSaturating(f.net)
        }
        for o in orders.orders.values where !o.cancelled {
            let d = Day(o.placedAt)
            if let day, day != d { continue }
            for l in o.lines {
                byDay[d.daysSinceEpoch, default: SalesDay(day: d, revenue: [:], units: [:])].units[l.sku, default: 0].addSaturating(l.qty)
            }
        }
        return byDay.keys.sorted().map { byDay[$0]! }
    }

    /// Units sold per SKU over the whole log.
    public func unitsPerSKU() -> [String: Int64] {
        var units: [String: Int64] = [:]
        for o in orders.orders.values where !o.cancelled {
            for l in o.lines { units[l.sku, default: 0].addSaturating(l.qty) }
        }
        return units
    }

    // The model is derived from its dependencies at query time: nothing of
    // its own to save.
    public func encodeSnapshot(into w: inout SnapshotWriter) {}
    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {}
}

extension FinanceProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.paymentCaptured, .refundIssued] }
}

extension SalesProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [] }
}
