// The thresholds, windows and points of docs/FRAUD.md, in one place, and
// the text of each reason. Change a number here and in FRAUD.md together
// (and bump `FraudProjector.snapshotVersion` when stored scores would
// mean something else).

import ChronikCommerce

/// The numbers of the fraud model (docs/FRAUD.md, Signals).
enum FraudRules {
    static let hour: Int64 = 3_600_000_000
    static let day: Int64 = 24 * hour
    /// Velocity windows (orders, failures, IP sharing).
    static let shortWindow: Int64 = day
    /// Card windows (distinct cards per customer, customers per card).
    static let longWindow: Int64 = 30 * day
    /// How long a new account counts as new.
    static let newAccountWindow: Int64 = day
    /// How often (business time) the IP and session tables are swept of
    /// entries older than 24 h. Sweeping rebuilds the tables, so a week
    /// rehashes each entry about once per seven sweeps instead of once per
    /// sweep; expired entries never count and are never written to a
    /// snapshot in between.
    static let sweepInterval: Int64 = 7 * day

    /// `(at least, points)`, highest first: the points of the first tier reached.
    typealias Tiers = [(atLeast: Int64, points: UInt8)]

    static let customerOrders: Tiers = [(5, 20), (3, 10)]
    static let customerFailures: Tiers = [(5, 30), (3, 20), (2, 10)]
    static let cardFailures: Tiers = [(3, 15)]
    static let ipFailures: Tiers = [(3, 15)]
    static let ipOrders: Tiers = [(5, 10)]
    static let ipCustomers: Tiers = [(3, 15)]
    static let cardCustomers: Tiers = [(3, 25), (2, 15)]
    static let customerCards: Tiers = [(5, 20), (3, 10)]

    /// amountAboveHistory: total > 3 × mean → 15, > 10 × mean → 25, and
    /// only from this total on (minor units of the order's currency).
    static let amountFactor: Int64 = 3
    static let amountFactorHigh: Int64 = 10
    static let amountPoints: UInt8 = 15
    static let amountPointsHigh: UInt8 = 25
    static let amountFloor: Int64 = 10_000

    static let countryMismatchPoints: UInt8 = 15

    /// newAccountHighOrder: "high" is judged per currency, against the
    /// shop's typical order in that currency: a first order of at least
    /// `newAccountFactorTenths` / 10 × the mean total of the shop's previous
    /// orders in the order's currency (all customers, log order). Without
    /// `newAccountMinOrders` previous orders in the currency there is no
    /// typical order and the signal does not fire: no fixed amount means
    /// the same in every currency (docs/FRAUD.md, High per currency).
    static let newAccountFactorTenths: Int64 = 30
    static let newAccountMinOrders: Int64 = 3
    static let newAccountPoints: UInt8 = 20

    /// refundRate: at least this many previous orders with a capture, and
    /// refunded × 100 ≥ percent × captured.
    static let refundMinCaptured: Int64 = 2
    static let refundPercent: Int64 = 50
    static let refundPoints: UInt8 = 15

    static let maxScore = 100

    @inline(__always)
    static func points(_ value: Int64, _ tiers: Tiers) -> UInt8 {
        for t in tiers where value >= t.atLeast { return t.points }
        return 0
    }
}

/// A reason as the model keeps it: the signal, its points and the numbers
/// of its explanation (the text is made when asked for).
struct StoredReason: Hashable, Sendable {
    var signal: FraudSignal
    var points: UInt8
    /// The measured value (a count, the order total, refunded orders).
    var a: Int64
    /// A second number (the mean, the minutes since registration or −1,
    /// the captured orders).
    var b: Int64 = 0
    /// A third number (the number of previous orders, the shop's mean).
    var c: Int64 = 0
    /// The order's currency, for the reasons about amounts ("" otherwise).
    var currency: String = ""

    /// The explanation with the numbers.
    var detail: String {
        switch signal {
        case .failedPaymentVelocity: "\(a) failed payments by the customer within 24 h"
        case .cardFailedPaymentVelocity: "\(a) failed payments on the order's card within 24 h"
        case .ipFailedPaymentVelocity: "\(a) failed payments on orders from the order's IP within 24 h"
        case .customerOrderVelocity: "\(a) orders by the customer within 24 h"
        case .ipOrderVelocity: "\(a) orders from the order's IP within 24 h"
        case .sharedIP: "\(a) distinct customers ordered from the order's IP within 24 h"
        case .sharedCard: "the order's card was used by \(a) distinct customers within 30 days"
        case .manyCards: "the customer used \(a) distinct cards within 30 days"
        case .amountAboveHistory:
            if b > 0 {
                "total \(money(a)) is \(Self.ratio(a, b)) × the customer's mean of \(money(b)) over \(Money.grouped(c)) previous orders in \(currency)"
            } else {
                "total \(money(a)) against a mean of \(money(0)) over \(Money.grouped(c)) previous orders in \(currency)"
            }
        case .countryMismatch: "billing country differs from shipping country"
        case .newAccountHighOrder:
            "first order of \(money(a)), \(Self.ratio(a, c)) × the shop's mean \(currency) order of \(money(c)), "
                + (b < 60 ? "from an account registered \(b) min before" : "from an account registered \(b / 60) h before")
        case .refundRate:
            "\(a) of \(b) previous paid orders were refunded (\(Self.percent(a, b)) %)"
        }
    }

    var reason: FraudReason { FraudReason(code: signal, points: Int(points), detail: detail) }

    /// Minor units of the order's currency as people read them.
    func money(_ minor: Int64) -> String { Money.text(minor, currency) }

    /// `a × 100 / b`, rounded down; 0 when b ≤ 0 (saturating: a restored
    /// snapshot's numbers are not trusted to be small).
    static func percent(_ a: Int64, _ b: Int64) -> Int64 {
        guard b > 0 else { return 0 }
        let (p, overflow) = a.multipliedReportingOverflow(by: 100)
        return overflow ? a / b * 100 : p / b
    }

    /// `a / b` with one decimal, rounded down (b > 0).
    static func ratio(_ a: Int64, _ b: Int64) -> String {
        let tenths = a.multipliedReportingOverflow(by: 10).overflow ? Int64.max / b : a * 10 / b
        return "\(tenths / 10).\(tenths % 10)"
    }
}
