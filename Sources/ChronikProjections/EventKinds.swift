import ChronikCommerce

/// Which event types a projector folds, so that `ProjectionSet` skips it
/// for the others (most of a shop's log is clickstream that most models
/// ignore). A projector that does not conform sees every event.
protocol FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { get }
}

/// A dense index of an event's type: the position of its type in
/// `CommerceEventType.allCases`, or `allCases.count` for `.unknown`. A
/// switch (a jump table), no hashing on the replay path.
@inline(__always)
func kindIndex(_ e: CommerceEvent) -> Int {
    switch e {
        case .productCreated: 0
        case .productUpdated: 1
        case .variantAdded: 2
        case .priceChanged: 3
        case .productDiscontinued: 4
        case .customerRegistered: 5
        case .customerUpdated: 6
        case .addressChanged: 7
        case .consentChanged: 8
        case .paymentMethodAdded: 9
        case .supportInteraction: 10
        case .customerForgotten: 11
        case .orderPlaced: 12
        case .paymentAuthorized: 13
        case .paymentCaptured: 14
        case .paymentFailed: 15
        case .orderShipped: 16
        case .orderDelivered: 17
        case .orderCancelled: 18
        case .refundIssued: 19
        case .returnReceived: 20
        case .stockReceived: 21
        case .stockReserved: 22
        case .stockReleased: 23
        case .stockShipped: 24
        case .stockReturned: 25
        case .stockAdjusted: 26
        case .stockTransferred: 27
        case .reorderPointSet: 28
        case .supplierRegistered: 29
        case .purchaseOrderPlaced: 30
        case .purchaseOrderReceived: 31
        case .sessionStarted: 32
        case .pageViewed: 33
        case .productViewed: 34
        case .searchPerformed: 35
        case .cartItemAdded: 36
        case .campaignLaunched: 37
        case .settingChanged: 38
        case .settlementLineReported: 39
        case .unknown: 40
    }
}

/// The number of distinct `kindIndex` values.
let kindCount = CommerceEventType.allCases.count + 1

func kindIndex(_ t: CommerceEventType) -> Int { CommerceEventType.allCases.firstIndex(of: t)! }

/// A projector that reads no other model, that no other model reads, and
/// whose fold cannot fail: a replay on two threads may fold it on either
/// (`ProjectionSet.Lane.either`), a chunk at a time, so long as one thread
/// at a time does and each event once, in log order.
protocol FoldsOnEitherThread: SnapshottableProjector {
    /// `apply(_:)`, which for such a projector never throws.
    func fold(_ event: ProjectedEvent)
}

/// A projector whose tables grow with the log (one entry per order,
/// customer, payment…), so that a replay can size them once instead of
/// letting them double step by step: each doubling of a table of a million
/// orders moves (and rehashes) every entry, a fifth of a big shop's replay
/// before this existed (Benchmarks/README.md, stop 18).
protocol GrowsWithLog: AnyObject {
    /// The log will have about `growth` times the events folded so far:
    /// reserve what that many events need, in proportion to each table's
    /// size now (`Dictionary.reserve(growth:)`).
    func reserve(growth: Double)
}

/// The capacity `count` entries need when the log grows `growth` times
/// (and 5 % more); nil when none beyond `capacity` (or absurdly large).
func grownCapacity(count: Int, capacity: Int, growth: Double) -> Int? {
    guard growth > 1, count > 0 else { return nil }
    let wanted = (Double(count) * growth * 1.05).rounded(.up)
    guard wanted < Double(Int.max >> 8), Int(wanted) > capacity else { return nil }
    return Int(wanted)
}

extension Dictionary {
    /// Reserves room for `growth` times the entries it holds (and 5 % more),
    /// if that is beyond its capacity. Only the capacity changes: the
    /// entries, and so every answer, stay what they are.
    mutating func reserve(growth: Double) {
        if let n = grownCapacity(count: count, capacity: capacity, growth: growth) { reserveCapacity(n) }
    }
}

extension Array {
    /// See `Dictionary.reserve(growth:)`.
    mutating func reserve(growth: Double) {
        if let n = grownCapacity(count: count, capacity: capacity, growth: growth) { reserveCapacity(n) }
    }
}
