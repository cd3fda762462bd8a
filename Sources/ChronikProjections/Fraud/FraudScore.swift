// The public answers of the fraud read model (docs/FRAUD.md).

/// One fraud signal: a stable code that scripts may match on.
///
/// The raw values are the JSON `code`; the order of the cases is the order
/// of reasons with equal points in an answer.
public enum FraudSignal: String, CaseIterable, Codable, Hashable, Sendable {
    case failedPaymentVelocity
    case cardFailedPaymentVelocity
    case ipFailedPaymentVelocity
    case customerOrderVelocity
    case ipOrderVelocity
    case sharedIP
    case sharedCard
    case manyCards
    case amountAboveHistory
    case countryMismatch
    case newAccountHighOrder
    case refundRate

    /// The number of a signal in snapshots (its position in `allCases`;
    /// append new signals at the end and bump the snapshot version).
    var index: UInt8 { UInt8(Self.allCases.firstIndex(of: self)!) }
}

/// Why an order scored what it did: one signal that fired, the points it
/// added (before the cap at 100) and a human explanation with the numbers
/// that crossed the threshold.
public struct FraudReason: Codable, Hashable, Sendable {
    public var code: FraudSignal
    public var points: Int
    public var detail: String

    public init(code: FraudSignal, points: Int, detail: String) {
        self.code = code
        self.points = points
        self.detail = detail
    }
}

/// The fraud score of one order: 0 (nothing suspicious) to 100, with the
/// reasons that produced it, highest points first.
///
/// JSON (`Codable`): `{"orderId", "customerId", "score", "reasons":
/// [{"code", "points", "detail"}]}`.
public struct FraudScore: Codable, Hashable, Sendable {
    public var orderId: String
    public var customerId: String
    /// Σ points of `reasons`, capped at 100.
    public var score: Int
    public var reasons: [FraudReason]

    public init(orderId: String, customerId: String, score: Int, reasons: [FraudReason]) {
        self.orderId = orderId
        self.customerId = customerId
        self.score = score
        self.reasons = reasons
    }
}
