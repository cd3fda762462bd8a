// Settlement events (EVENTS.md v1.2, "Added in v1.2"): what a payment
// gateway reports it paid out. The field order in `visit` is the stored
// binary order: see docs/EVENTS-CODEC.md before changing it.

/// The `kind` of a settlement line.
public enum SettlementKind: String, CommerceEnum {
    case charge
    case refund
    case fee
    case chargeback
    case adjustment
}

/// `SettlementLineReported`: one line of a gateway's settlement report.
/// Stream `payout-{gateway}-{payoutId}`.
///
/// `net` = `gross` − `fee` or the event is refused. A `gatewayRef` appears
/// once per gateway: `CommerceStore` treats the same line again as an
/// idempotent no-op and a line with other content as an error.
public struct SettlementLineReported: CommerceEventPayload {
    public static let typeName = "SettlementLineReported"
    public static let schemaVersion: UInt8 = 1

    public var gateway: String = ""
    public var payoutId: String = ""
    public var paidOutAt: Timestamp = Timestamp(microseconds: 0)
    public var kind: SettlementKind = .charge
    public var gatewayRef: String = ""
    public var paymentId: String?
    public var refundId: String?
    /// Signed, minor units: a charge is positive, a refund or chargeback negative.
    public var gross: Int64 = 0
    /// ≥ 0, minor units.
    public var fee: Int64 = 0
    /// Signed, minor units: `gross − fee`.
    public var net: Int64 = 0
    public var currency: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(gateway: String, payoutId: String, paidOutAt: Timestamp, kind: SettlementKind, gatewayRef: String,
                paymentId: String? = nil, refundId: String? = nil, gross: Int64, fee: Int64, net: Int64,
                currency: String) {
        self.gateway = gateway
        self.payoutId = payoutId
        self.paidOutAt = paidOutAt
        self.kind = kind
        self.gatewayRef = gatewayRef
        self.paymentId = paymentId
        self.refundId = refundId
        self.gross = gross
        self.fee = fee
        self.net = net
        self.currency = currency
    }

    public var stream: String { "payout-" + gateway + "-" + payoutId }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.id("gateway", &gateway)
        try v.id("payoutId", &payoutId)
        try v.timestamp("paidOutAt", &paidOutAt)
        try v.enumeration("kind", &kind)
        try v.id("gatewayRef", &gatewayRef)
        try v.optionalID("paymentId", &paymentId)
        try v.optionalID("refundId", &refundId)
        try v.int("gross", &gross, .signed)
        try v.int("fee", &fee, .money)
        try v.int("net", &net, .signed)
        try v.currency("currency", &currency)
    }

    /// `net` = `gross` − `fee` (EVENTS.md v1.2).
    public func validateRules() throws(CommerceError) {
        let (expected, overflow) = gross.subtractingReportingOverflow(fee)
        guard !overflow, net == expected else {
            throw CommerceError(.invalidAmount, field: "net",
                                "net \(net) must equal gross \(gross) − fee \(fee)\(overflow ? " (beyond 64 bits)" : " = \(expected)")")
        }
    }
}
