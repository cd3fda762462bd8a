// The closed set of shipped event types as one enum, plus `.unknown` for
// any other type (stored, read and exported untouched).

/// A known event type of EVENTS.md.
public enum CommerceEventType: String, CaseIterable, Hashable, Sendable {
    case productCreated = "ProductCreated"
    case productUpdated = "ProductUpdated"
    case variantAdded = "VariantAdded"
    case priceChanged = "PriceChanged"
    case productDiscontinued = "ProductDiscontinued"
    case customerRegistered = "CustomerRegistered"
    case customerUpdated = "CustomerUpdated"
    case addressChanged = "AddressChanged"
    case consentChanged = "ConsentChanged"
    case paymentMethodAdded = "PaymentMethodAdded"
    case supportInteraction = "SupportInteraction"
    case customerForgotten = "CustomerForgotten"
    case orderPlaced = "OrderPlaced"
    case paymentAuthorized = "PaymentAuthorized"
    case paymentCaptured = "PaymentCaptured"
    case paymentFailed = "PaymentFailed"
    case orderShipped = "OrderShipped"
    case orderDelivered = "OrderDelivered"
    case orderCancelled = "OrderCancelled"
    case refundIssued = "RefundIssued"
    case returnReceived = "ReturnReceived"
    case stockReceived = "StockReceived"
    case stockReserved = "StockReserved"
    case stockReleased = "StockReleased"
    case stockShipped = "StockShipped"
    case stockReturned = "StockReturned"
    case stockAdjusted = "StockAdjusted"
    case stockTransferred = "StockTransferred"
    case reorderPointSet = "ReorderPointSet"
    case supplierRegistered = "SupplierRegistered"
    case purchaseOrderPlaced = "PurchaseOrderPlaced"
    case purchaseOrderReceived = "PurchaseOrderReceived"
    case sessionStarted = "SessionStarted"
    case pageViewed = "PageViewed"
    case productViewed = "ProductViewed"
    case searchPerformed = "SearchPerformed"
    case cartItemAdded = "CartItemAdded"
    case campaignLaunched = "CampaignLaunched"
    case settingChanged = "SettingChanged"
    case settlementLineReported = "SettlementLineReported"

    /// The type named `name`, if it is one of EVENTS.md.
    ///
    /// Every event read or written looks its type up: the name is compared
    /// byte for byte with the names of its length (1–3 of them), no hash
    /// (a `Dictionary` look-up was ~2 % of `read --json`, stop 26).
    @inline(__always)
    public init?(name: String) {
        var name = name
        guard let t = name.withUTF8({ Self.named($0) }) else { return nil }
        self = t
    }

    /// The type whose name is these UTF-8 bytes.
    static func named(_ u: UnsafeBufferPointer<UInt8>) -> CommerceEventType? {
        guard u.count < byLength.count, let base = u.baseAddress else { return nil }
        for (bytes, t) in byLength[u.count] where memcmpEqual(bytes, base, u.count) { return t }
        return nil
    }

    /// The names' bytes, by length: allocated once and never changed or
    /// freed, so shared by every thread as they are.
    nonisolated(unsafe) private static let byLength: [[(UnsafePointer<UInt8>, CommerceEventType)]] = {
        var table = [[(UnsafePointer<UInt8>, CommerceEventType)]](repeating: [], count: allCases.map(\.rawValue.utf8.count).max()! + 1)
        for t in allCases {
            let name = Array(t.rawValue.utf8)
            let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: name.count)
            bytes.initialize(from: name, count: name.count)
            table[name.count].append((UnsafePointer(bytes), t))
        }
        return table
    }()

    /// The schema of this type (fields, kinds, PII marks).
    public var schema: EventSchema {
        switch self {
        case .productCreated: EventSchema(ProductCreated.self)
        case .productUpdated: EventSchema(ProductUpdated.self)
        case .variantAdded: EventSchema(VariantAdded.self)
        case .priceChanged: EventSchema(PriceChanged.self)
        case .productDiscontinued: EventSchema(ProductDiscontinued.self)
        case .customerRegistered: EventSchema(CustomerRegistered.self)
        case .customerUpdated: EventSchema(CustomerUpdated.self)
        case .addressChanged: EventSchema(AddressChanged.self)
        case .consentChanged: EventSchema(ConsentChanged.self)
        case .paymentMethodAdded: EventSchema(PaymentMethodAdded.self)
        case .supportInteraction: EventSchema(SupportInteraction.self)
        case .customerForgotten: EventSchema(CustomerForgotten.self)
        case .orderPlaced: EventSchema(OrderPlaced.self)
        case .paymentAuthorized: EventSchema(PaymentAuthorized.self)
        case .paymentCaptured: EventSchema(PaymentCaptured.self)
        case .paymentFailed: EventSchema(PaymentFailed.self)
        case .orderShipped: EventSchema(OrderShipped.self)
        case .orderDelivered: EventSchema(OrderDelivered.self)
        case .orderCancelled: EventSchema(OrderCancelled.self)
        case .refundIssued: EventSchema(RefundIssued.self)
        case .returnReceived: EventSchema(ReturnReceived.self)
        case .stockReceived: EventSchema(StockReceived.self)
        case .stockReserved: EventSchema(StockReserved.self)
        case .stockReleased: EventSchema(StockReleased.self)
        case .stockShipped: EventSchema(StockShipped.self)
        case .stockReturned: EventSchema(StockReturned.self)
        case .stockAdjusted: EventSchema(StockAdjusted.self)
        case .stockTransferred: EventSchema(StockTransferred.self)
        case .reorderPointSet: EventSchema(ReorderPointSet.self)
        case .supplierRegistered: EventSchema(SupplierRegistered.self)
        case .purchaseOrderPlaced: EventSchema(PurchaseOrderPlaced.self)
        case .purchaseOrderReceived: EventSchema(PurchaseOrderReceived.self)
        case .sessionStarted: EventSchema(SessionStarted.self)
        case .pageViewed: EventSchema(PageViewed.self)
        case .productViewed: EventSchema(ProductViewed.self)
        case .searchPerformed: EventSchema(SearchPerformed.self)
        case .cartItemAdded: EventSchema(CartItemAdded.self)
        case .campaignLaunched: EventSchema(CampaignLaunched.self)
        case .settingChanged: EventSchema(SettingChanged.self)
        case .settlementLineReported: EventSchema(SettlementLineReported.self)
        }
    }

    /// The Swift type of this event type's data.
    public var payloadType: any CommerceEventPayload.Type {
        switch self {
        case .productCreated: ProductCreated.self
        case .productUpdated: ProductUpdated.self
        case .variantAdded: VariantAdded.self
        case .priceChanged: PriceChanged.self
        case .productDiscontinued: ProductDiscontinued.self
        case .customerRegistered: CustomerRegistered.self
        case .customerUpdated: CustomerUpdated.self
        case .addressChanged: AddressChanged.self
        case .consentChanged: ConsentChanged.self
        case .paymentMethodAdded: PaymentMethodAdded.self
        case .supportInteraction: SupportInteraction.self
        case .customerForgotten: CustomerForgotten.self
        case .orderPlaced: OrderPlaced.self
        case .paymentAuthorized: PaymentAuthorized.self
        case .paymentCaptured: PaymentCaptured.self
        case .paymentFailed: PaymentFailed.self
        case .orderShipped: OrderShipped.self
        case .orderDelivered: OrderDelivered.self
        case .orderCancelled: OrderCancelled.self
        case .refundIssued: RefundIssued.self
        case .returnReceived: ReturnReceived.self
        case .stockReceived: StockReceived.self
        case .stockReserved: StockReserved.self
        case .stockReleased: StockReleased.self
        case .stockShipped: StockShipped.self
        case .stockReturned: StockReturned.self
        case .stockAdjusted: StockAdjusted.self
        case .stockTransferred: StockTransferred.self
        case .reorderPointSet: ReorderPointSet.self
        case .supplierRegistered: SupplierRegistered.self
        case .purchaseOrderPlaced: PurchaseOrderPlaced.self
        case .purchaseOrderReceived: PurchaseOrderReceived.self
        case .sessionStarted: SessionStarted.self
        case .pageViewed: PageViewed.self
        case .productViewed: ProductViewed.self
        case .searchPerformed: SearchPerformed.self
        case .cartItemAdded: CartItemAdded.self
        case .campaignLaunched: CampaignLaunched.self
        case .settingChanged: SettingChanged.self
        case .settlementLineReported: SettlementLineReported.self
        }
    }

    /// Whether strings of this type are checked for card numbers.
    public var rejectsCardNumbers: Bool {
        switch self {
        case .paymentMethodAdded, .paymentAuthorized, .paymentCaptured, .paymentFailed, .refundIssued: true
        default: false
        }
    }
}

/// A decoded event: one case per type of EVENTS.md, or `.unknown`.
///
/// The cases whose payload is larger than 56 bytes are `indirect`, which
/// keeps the enum at the size of the common small events (stock moves,
/// page views, captures) instead of OrderPlaced's 266 bytes: every decode
/// returns, and every array of events stores, one value of this size.
public enum CommerceEvent: Hashable, Sendable {
    indirect case productCreated(ProductCreated)
    indirect case productUpdated(ProductUpdated)
    indirect case variantAdded(VariantAdded)
    case priceChanged(PriceChanged)
    case productDiscontinued(ProductDiscontinued)
    indirect case customerRegistered(CustomerRegistered)
    indirect case customerUpdated(CustomerUpdated)
    indirect case addressChanged(AddressChanged)
    case consentChanged(ConsentChanged)
    indirect case paymentMethodAdded(PaymentMethodAdded)
    indirect case supportInteraction(SupportInteraction)
    case customerForgotten(CustomerForgotten)
    indirect case orderPlaced(OrderPlaced)
    indirect case paymentAuthorized(PaymentAuthorized)
    case paymentCaptured(PaymentCaptured)
    case paymentFailed(PaymentFailed)
    indirect case orderShipped(OrderShipped)
    case orderDelivered(OrderDelivered)
    case orderCancelled(OrderCancelled)
    indirect case refundIssued(RefundIssued)
    indirect case returnReceived(ReturnReceived)
    case stockReceived(StockReceived)
    case stockReserved(StockReserved)
    case stockReleased(StockReleased)
    case stockShipped(StockShipped)
    case stockReturned(StockReturned)
    case stockAdjusted(StockAdjusted)
    case stockTransferred(StockTransferred)
    case reorderPointSet(ReorderPointSet)
    case supplierRegistered(SupplierRegistered)
    indirect case purchaseOrderPlaced(PurchaseOrderPlaced)
    case purchaseOrderReceived(PurchaseOrderReceived)
    indirect case sessionStarted(SessionStarted)
    case pageViewed(PageViewed)
    case productViewed(ProductViewed)
    case searchPerformed(SearchPerformed)
    case cartItemAdded(CartItemAdded)
    indirect case campaignLaunched(CampaignLaunched)
    case settingChanged(SettingChanged)
    indirect case settlementLineReported(SettlementLineReported)
    /// A type this code does not know: its data as stored (the compact
    /// JSON of its import), untouched.
    case unknown(type: String, data: [UInt8])

    /// The event type's name.
    public var type: String {
        switch self {
        case .productCreated: ProductCreated.typeName
        case .productUpdated: ProductUpdated.typeName
        case .variantAdded: VariantAdded.typeName
        case .priceChanged: PriceChanged.typeName
        case .productDiscontinued: ProductDiscontinued.typeName
        case .customerRegistered: CustomerRegistered.typeName
        case .customerUpdated: CustomerUpdated.typeName
        case .addressChanged: AddressChanged.typeName
        case .consentChanged: ConsentChanged.typeName
        case .paymentMethodAdded: PaymentMethodAdded.typeName
        case .supportInteraction: SupportInteraction.typeName
        case .customerForgotten: CustomerForgotten.typeName
        case .orderPlaced: OrderPlaced.typeName
        case .paymentAuthorized: PaymentAuthorized.typeName
        case .paymentCaptured: PaymentCaptured.typeName
        case .paymentFailed: PaymentFailed.typeName
        case .orderShipped: OrderShipped.typeName
        case .orderDelivered: OrderDelivered.typeName
        case .orderCancelled: OrderCancelled.typeName
        case .refundIssued: RefundIssued.typeName
        case .returnReceived: ReturnReceived.typeName
        case .stockReceived: StockReceived.typeName
        case .stockReserved: StockReserved.typeName
        case .stockReleased: StockReleased.typeName
        case .stockShipped: StockShipped.typeName
        case .stockReturned: StockReturned.typeName
        case .stockAdjusted: StockAdjusted.typeName
        case .stockTransferred: StockTransferred.typeName
        case .reorderPointSet: ReorderPointSet.typeName
        case .supplierRegistered: SupplierRegistered.typeName
        case .purchaseOrderPlaced: PurchaseOrderPlaced.typeName
        case .purchaseOrderReceived: PurchaseOrderReceived.typeName
        case .sessionStarted: SessionStarted.typeName
        case .pageViewed: PageViewed.typeName
        case .productViewed: ProductViewed.typeName
        case .searchPerformed: SearchPerformed.typeName
        case .cartItemAdded: CartItemAdded.typeName
        case .campaignLaunched: CampaignLaunched.typeName
        case .settingChanged: SettingChanged.typeName
        case .settlementLineReported: SettlementLineReported.typeName
        case .unknown(let type, _): type
        }
    }

    /// The known type, nil for `.unknown`.
    public var knownType: CommerceEventType? {
        switch self {
        case .productCreated: .productCreated
        case .productUpdated: .productUpdated
        case .variantAdded: .variantAdded
        case .priceChanged: .priceChanged
        case .productDiscontinued: .productDiscontinued
        case .customerRegistered: .customerRegistered
        case .customerUpdated: .customerUpdated
        case .addressChanged: .addressChanged
        case .consentChanged: .consentChanged
        case .paymentMethodAdded: .paymentMethodAdded
        case .supportInteraction: .supportInteraction
        case .customerForgotten: .customerForgotten
        case .orderPlaced: .orderPlaced
        case .paymentAuthorized: .paymentAuthorized
        case .paymentCaptured: .paymentCaptured
        case .paymentFailed: .paymentFailed
        case .orderShipped: .orderShipped
        case .orderDelivered: .orderDelivered
        case .orderCancelled: .orderCancelled
        case .refundIssued: .refundIssued
        case .returnReceived: .returnReceived
        case .stockReceived: .stockReceived
        case .stockReserved: .stockReserved
        case .stockReleased: .stockReleased
        case .stockShipped: .stockShipped
        case .stockReturned: .stockReturned
        case .stockAdjusted: .stockAdjusted
        case .stockTransferred: .stockTransferred
        case .reorderPointSet: .reorderPointSet
        case .supplierRegistered: .supplierRegistered
        case .purchaseOrderPlaced: .purchaseOrderPlaced
        case .purchaseOrderReceived: .purchaseOrderReceived
        case .sessionStarted: .sessionStarted
        case .pageViewed: .pageViewed
        case .productViewed: .productViewed
        case .searchPerformed: .searchPerformed
        case .cartItemAdded: .cartItemAdded
        case .campaignLaunched: .campaignLaunched
        case .settingChanged: .settingChanged
        case .settlementLineReported: .settlementLineReported
        case .unknown: nil
        }
    }

    /// The stream derived from the data (EVENTS.md, Streams); nil for an
    /// unknown type, which needs an explicit stream.
    public var derivedStream: String? {
        switch self {
        case .productCreated(let e): e.stream
        case .productUpdated(let e): e.stream
        case .variantAdded(let e): e.stream
        case .priceChanged(let e): e.stream
        case .productDiscontinued(let e): e.stream
        case .customerRegistered(let e): e.stream
        case .customerUpdated(let e): e.stream
        case .addressChanged(let e): e.stream
        case .consentChanged(let e): e.stream
        case .paymentMethodAdded(let e): e.stream
        case .supportInteraction(let e): e.stream
        case .customerForgotten(let e): e.stream
        case .orderPlaced(let e): e.stream
        case .paymentAuthorized(let e): e.stream
        case .paymentCaptured(let e): e.stream
        case .paymentFailed(let e): e.stream
        case .orderShipped(let e): e.stream
        case .orderDelivered(let e): e.stream
        case .orderCancelled(let e): e.stream
        case .refundIssued(let e): e.stream
        case .returnReceived(let e): e.stream
        case .stockReceived(let e): e.stream
        case .stockReserved(let e): e.stream
        case .stockReleased(let e): e.stream
        case .stockShipped(let e): e.stream
        case .stockReturned(let e): e.stream
        case .stockAdjusted(let e): e.stream
        case .stockTransferred(let e): e.stream
        case .reorderPointSet(let e): e.stream
        case .supplierRegistered(let e): e.stream
        case .purchaseOrderPlaced(let e): e.stream
        case .purchaseOrderReceived(let e): e.stream
        case .sessionStarted(let e): e.stream
        case .pageViewed(let e): e.stream
        case .productViewed(let e): e.stream
        case .searchPerformed(let e): e.stream
        case .cartItemAdded(let e): e.stream
        case .campaignLaunched(let e): e.stream
        case .settingChanged(let e): e.stream
        case .settlementLineReported(let e): e.stream
        case .unknown: nil
        }
    }

    /// Whose key protects the PII fields; nil when there are none.
    public var piiSubject: String? {
        switch self {
        case .productCreated(let e): e.piiSubject
        case .productUpdated(let e): e.piiSubject
        case .variantAdded(let e): e.piiSubject
        case .priceChanged(let e): e.piiSubject
        case .productDiscontinued(let e): e.piiSubject
        case .customerRegistered(let e): e.piiSubject
        case .customerUpdated(let e): e.piiSubject
        case .addressChanged(let e): e.piiSubject
        case .consentChanged(let e): e.piiSubject
        case .paymentMethodAdded(let e): e.piiSubject
        case .supportInteraction(let e): e.piiSubject
        case .customerForgotten(let e): e.piiSubject
        case .orderPlaced(let e): e.piiSubject
        case .paymentAuthorized(let e): e.piiSubject
        case .paymentCaptured(let e): e.piiSubject
        case .paymentFailed(let e): e.piiSubject
        case .orderShipped(let e): e.piiSubject
        case .orderDelivered(let e): e.piiSubject
        case .orderCancelled(let e): e.piiSubject
        case .refundIssued(let e): e.piiSubject
        case .returnReceived(let e): e.piiSubject
        case .stockReceived(let e): e.piiSubject
        case .stockReserved(let e): e.piiSubject
        case .stockReleased(let e): e.piiSubject
        case .stockShipped(let e): e.piiSubject
        case .stockReturned(let e): e.piiSubject
        case .stockAdjusted(let e): e.piiSubject
        case .stockTransferred(let e): e.piiSubject
        case .reorderPointSet(let e): e.piiSubject
        case .supplierRegistered(let e): e.piiSubject
        case .purchaseOrderPlaced(let e): e.piiSubject
        case .purchaseOrderReceived(let e): e.piiSubject
        case .sessionStarted(let e): e.piiSubject
        case .pageViewed(let e): e.piiSubject
        case .productViewed(let e): e.piiSubject
        case .searchPerformed(let e): e.piiSubject
        case .cartItemAdded(let e): e.piiSubject
        case .campaignLaunched(let e): e.piiSubject
        case .settingChanged(let e): e.piiSubject
        case .settlementLineReported(let e): e.piiSubject
        case .unknown: nil
        }
    }

    /// Wraps typed data in its case; nil for a payload type not in
    /// EVENTS.md (one defined outside this module).
    public init?(payload: any CommerceEventPayload) {
        switch payload {
        case let p as ProductCreated: self = .productCreated(p)
        case let p as ProductUpdated: self = .productUpdated(p)
        case let p as VariantAdded: self = .variantAdded(p)
        case let p as PriceChanged: self = .priceChanged(p)
        case let p as ProductDiscontinued: self = .productDiscontinued(p)
        case let p as CustomerRegistered: self = .customerRegistered(p)
        case let p as CustomerUpdated: self = .customerUpdated(p)
        case let p as AddressChanged: self = .addressChanged(p)
        case let p as ConsentChanged: self = .consentChanged(p)
        case let p as PaymentMethodAdded: self = .paymentMethodAdded(p)
        case let p as SupportInteraction: self = .supportInteraction(p)
        case let p as CustomerForgotten: self = .customerForgotten(p)
        case let p as OrderPlaced: self = .orderPlaced(p)
        case let p as PaymentAuthorized: self = .paymentAuthorized(p)
        case let p as PaymentCaptured: self = .paymentCaptured(p)
        case let p as PaymentFailed: self = .paymentFailed(p)
        case let p as OrderShipped: self = .orderShipped(p)
        case let p as OrderDelivered: self = .orderDelivered(p)
        case let p as OrderCancelled: self = .orderCancelled(p)
        case let p as RefundIssued: self = .refundIssued(p)
        case let p as ReturnReceived: self = .returnReceived(p)
        case let p as StockReceived: self = .stockReceived(p)
        case let p as StockReserved: self = .stockReserved(p)
        case let p as StockReleased: self = .stockReleased(p)
        case let p as StockShipped: self = .stockShipped(p)
        case let p as StockReturned: self = .stockReturned(p)
        case let p as StockAdjusted: self = .stockAdjusted(p)
        case let p as StockTransferred: self = .stockTransferred(p)
        case let p as ReorderPointSet: self = .reorderPointSet(p)
        case let p as SupplierRegistered: self = .supplierRegistered(p)
        case let p as PurchaseOrderPlaced: self = .purchaseOrderPlaced(p)
        case let p as PurchaseOrderReceived: self = .purchaseOrderReceived(p)
        case let p as SessionStarted: self = .sessionStarted(p)
        case let p as PageViewed: self = .pageViewed(p)
        case let p as ProductViewed: self = .productViewed(p)
        case let p as SearchPerformed: self = .searchPerformed(p)
        case let p as CartItemAdded: self = .cartItemAdded(p)
        case let p as CampaignLaunched: self = .campaignLaunched(p)
        case let p as SettingChanged: self = .settingChanged(p)
        case let p as SettlementLineReported: self = .settlementLineReported(p)
        default: return nil
        }
    }

    /// The typed data; nil for `.unknown`.
    public var payload: (any CommerceEventPayload)? {
        switch self {
        case .productCreated(let e): e
        case .productUpdated(let e): e
        case .variantAdded(let e): e
        case .priceChanged(let e): e
        case .productDiscontinued(let e): e
        case .customerRegistered(let e): e
        case .customerUpdated(let e): e
        case .addressChanged(let e): e
        case .consentChanged(let e): e
        case .paymentMethodAdded(let e): e
        case .supportInteraction(let e): e
        case .customerForgotten(let e): e
        case .orderPlaced(let e): e
        case .paymentAuthorized(let e): e
        case .paymentCaptured(let e): e
        case .paymentFailed(let e): e
        case .orderShipped(let e): e
        case .orderDelivered(let e): e
        case .orderCancelled(let e): e
        case .refundIssued(let e): e
        case .returnReceived(let e): e
        case .stockReceived(let e): e
        case .stockReserved(let e): e
        case .stockReleased(let e): e
        case .stockShipped(let e): e
        case .stockReturned(let e): e
        case .stockAdjusted(let e): e
        case .stockTransferred(let e): e
        case .reorderPointSet(let e): e
        case .supplierRegistered(let e): e
        case .purchaseOrderPlaced(let e): e
        case .purchaseOrderReceived(let e): e
        case .sessionStarted(let e): e
        case .pageViewed(let e): e
        case .productViewed(let e): e
        case .searchPerformed(let e): e
        case .cartItemAdded(let e): e
        case .campaignLaunched(let e): e
        case .settingChanged(let e): e
        case .settlementLineReported(let e): e
        case .unknown: nil
        }
    }

    /// Decodes stored data of the event type `type`.
    ///
    /// Sealed personal data is not opened here: its fields read blank (`""`
    /// or nil), as genuinely blank ones do. To read personal data, or to
    /// know whether it was sealed, erased or plain, use
    /// `decode(type:data:protector:)`, which returns the `PIIState`.
    /// A type not in EVENTS.md decodes to `.unknown` with the data as is.
    /// - Throws: `CommerceError` (`invalidData`, `unsupportedSchemaVersion`,
    ///   `missingUpcaster`).
    public static func decode(type: String, data: [UInt8],
                              upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> CommerceEvent {
        guard let known = CommerceEventType(name: type) else { return .unknown(type: type, data: data) }
        return try decode(known, data: data, upcasters: upcasters)
    }

    /// Decodes stored data of a known type.
    public static func decode(_ type: CommerceEventType, data: [UInt8],
                              upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> CommerceEvent {
        try data.withUnsafeBufferPointer { (buf) throws(CommerceError) -> CommerceEvent in
            try decode(type, bytes: UnsafeRawBufferPointer(buf), upcasters: upcasters)
        }
    }

    /// Decodes stored data of the event type `type` from borrowed bytes —
    /// an `EventView.data` during `EventLog.scan` — without copying them
    /// (only an unknown type's data is copied, into `.unknown`).
    public static func decode(type: String, bytes: UnsafeRawBufferPointer,
                              upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> CommerceEvent {
        guard let known = CommerceEventType(name: type) else { return .unknown(type: type, data: Array(bytes)) }
        return try decode(known, bytes: bytes, upcasters: upcasters)
    }

    /// Decodes stored data of a known type from borrowed bytes.
    public static func decode(_ type: CommerceEventType, bytes data: UnsafeRawBufferPointer,
                              upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> CommerceEvent {
        switch type {
        case .productCreated: .productCreated(try EventCodec.decode(ProductCreated.self, bytes: data, upcasters: upcasters))
        case .productUpdated: .productUpdated(try EventCodec.decode(ProductUpdated.self, bytes: data, upcasters: upcasters))
        case .variantAdded: .variantAdded(try EventCodec.decode(VariantAdded.self, bytes: data, upcasters: upcasters))
        case .priceChanged: .priceChanged(try EventCodec.decode(PriceChanged.self, bytes: data, upcasters: upcasters))
        case .productDiscontinued: .productDiscontinued(try EventCodec.decode(ProductDiscontinued.self, bytes: data, upcasters: upcasters))
        case .customerRegistered: .customerRegistered(try EventCodec.decode(CustomerRegistered.self, bytes: data, upcasters: upcasters))
        case .customerUpdated: .customerUpdated(try EventCodec.decode(CustomerUpdated.self, bytes: data, upcasters: upcasters))
        case .addressChanged: .addressChanged(try EventCodec.decode(AddressChanged.self, bytes: data, upcasters: upcasters))
        case .consentChanged: .consentChanged(try EventCodec.decode(ConsentChanged.self, bytes: data, upcasters: upcasters))
        case .paymentMethodAdded: .paymentMethodAdded(try EventCodec.decode(PaymentMethodAdded.self, bytes: data, upcasters: upcasters))
        case .supportInteraction: .supportInteraction(try EventCodec.decode(SupportInteraction.self, bytes: data, upcasters: upcasters))
        case .customerForgotten: .customerForgotten(try EventCodec.decode(CustomerForgotten.self, bytes: data, upcasters: upcasters))
        case .orderPlaced: .orderPlaced(try EventCodec.decode(OrderPlaced.self, bytes: data, upcasters: upcasters))
        case .paymentAuthorized: .paymentAuthorized(try EventCodec.decode(PaymentAuthorized.self, bytes: data, upcasters: upcasters))
        case .paymentCaptured: .paymentCaptured(try EventCodec.decode(PaymentCaptured.self, bytes: data, upcasters: upcasters))
        case .paymentFailed: .paymentFailed(try EventCodec.decode(PaymentFailed.self, bytes: data, upcasters: upcasters))
        case .orderShipped: .orderShipped(try EventCodec.decode(OrderShipped.self, bytes: data, upcasters: upcasters))
        case .orderDelivered: .orderDelivered(try EventCodec.decode(OrderDelivered.self, bytes: data, upcasters: upcasters))
        case .orderCancelled: .orderCancelled(try EventCodec.decode(OrderCancelled.self, bytes: data, upcasters: upcasters))
        case .refundIssued: .refundIssued(try EventCodec.decode(RefundIssued.self, bytes: data, upcasters: upcasters))
        case .returnReceived: .returnReceived(try EventCodec.decode(ReturnReceived.self, bytes: data, upcasters: upcasters))
        case .stockReceived: .stockReceived(try EventCodec.decode(StockReceived.self, bytes: data, upcasters: upcasters))
        case .stockReserved: .stockReserved(try EventCodec.decode(StockReserved.self, bytes: data, upcasters: upcasters))
        case .stockReleased: .stockReleased(try EventCodec.decode(StockReleased.self, bytes: data, upcasters: upcasters))
        case .stockShipped: .stockShipped(try EventCodec.decode(StockShipped.self, bytes: data, upcasters: upcasters))
        case .stockReturned: .stockReturned(try EventCodec.decode(StockReturned.self, bytes: data, upcasters: upcasters))
        case .stockAdjusted: .stockAdjusted(try EventCodec.decode(StockAdjusted.self, bytes: data, upcasters: upcasters))
        case .stockTransferred: .stockTransferred(try EventCodec.decode(StockTransferred.self, bytes: data, upcasters: upcasters))
        case .reorderPointSet: .reorderPointSet(try EventCodec.decode(ReorderPointSet.self, bytes: data, upcasters: upcasters))
        case .supplierRegistered: .supplierRegistered(try EventCodec.decode(SupplierRegistered.self, bytes: data, upcasters: upcasters))
        case .purchaseOrderPlaced: .purchaseOrderPlaced(try EventCodec.decode(PurchaseOrderPlaced.self, bytes: data, upcasters: upcasters))
        case .purchaseOrderReceived: .purchaseOrderReceived(try EventCodec.decode(PurchaseOrderReceived.self, bytes: data, upcasters: upcasters))
        case .sessionStarted: .sessionStarted(try EventCodec.decode(SessionStarted.self, bytes: data, upcasters: upcasters))
        case .pageViewed: .pageViewed(try EventCodec.decode(PageViewed.self, bytes: data, upcasters: upcasters))
        case .productViewed: .productViewed(try EventCodec.decode(ProductViewed.self, bytes: data, upcasters: upcasters))
        case .searchPerformed: .searchPerformed(try EventCodec.decode(SearchPerformed.self, bytes: data, upcasters: upcasters))
        case .cartItemAdded: .cartItemAdded(try EventCodec.decode(CartItemAdded.self, bytes: data, upcasters: upcasters))
        case .campaignLaunched: .campaignLaunched(try EventCodec.decode(CampaignLaunched.self, bytes: data, upcasters: upcasters))
        case .settingChanged: .settingChanged(try EventCodec.decode(SettingChanged.self, bytes: data, upcasters: upcasters))
        case .settlementLineReported: .settlementLineReported(try EventCodec.decode(SettlementLineReported.self, bytes: data, upcasters: upcasters))
        }
    }

    /// Decodes the JSON form of a known type's data (JSON types, presence,
    /// enumerations, times, unknown fields; not the value rules).
    ///
    /// - Parameter nullPIIAsBlank: a required PII field given as `null`
    ///   reads as blank instead of missing (an erased field, for import).
    public static func decode(_ type: CommerceEventType, json members: [JSONMember],
                              path: String = "data", nullPIIAsBlank: Bool = false) throws(CommerceError) -> CommerceEvent {
        switch type {
        case .productCreated: .productCreated(try EventCodec.decode(ProductCreated.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .productUpdated: .productUpdated(try EventCodec.decode(ProductUpdated.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .variantAdded: .variantAdded(try EventCodec.decode(VariantAdded.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .priceChanged: .priceChanged(try EventCodec.decode(PriceChanged.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .productDiscontinued: .productDiscontinued(try EventCodec.decode(ProductDiscontinued.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .customerRegistered: .customerRegistered(try EventCodec.decode(CustomerRegistered.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .customerUpdated: .customerUpdated(try EventCodec.decode(CustomerUpdated.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .addressChanged: .addressChanged(try EventCodec.decode(AddressChanged.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .consentChanged: .consentChanged(try EventCodec.decode(ConsentChanged.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .paymentMethodAdded: .paymentMethodAdded(try EventCodec.decode(PaymentMethodAdded.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .supportInteraction: .supportInteraction(try EventCodec.decode(SupportInteraction.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .customerForgotten: .customerForgotten(try EventCodec.decode(CustomerForgotten.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .orderPlaced: .orderPlaced(try EventCodec.decode(OrderPlaced.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .paymentAuthorized: .paymentAuthorized(try EventCodec.decode(PaymentAuthorized.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .paymentCaptured: .paymentCaptured(try EventCodec.decode(PaymentCaptured.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .paymentFailed: .paymentFailed(try EventCodec.decode(PaymentFailed.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .orderShipped: .orderShipped(try EventCodec.decode(OrderShipped.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .orderDelivered: .orderDelivered(try EventCodec.decode(OrderDelivered.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .orderCancelled: .orderCancelled(try EventCodec.decode(OrderCancelled.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .refundIssued: .refundIssued(try EventCodec.decode(RefundIssued.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .returnReceived: .returnReceived(try EventCodec.decode(ReturnReceived.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockReceived: .stockReceived(try EventCodec.decode(StockReceived.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockReserved: .stockReserved(try EventCodec.decode(StockReserved.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockReleased: .stockReleased(try EventCodec.decode(StockReleased.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockShipped: .stockShipped(try EventCodec.decode(StockShipped.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockReturned: .stockReturned(try EventCodec.decode(StockReturned.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockAdjusted: .stockAdjusted(try EventCodec.decode(StockAdjusted.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .stockTransferred: .stockTransferred(try EventCodec.decode(StockTransferred.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .reorderPointSet: .reorderPointSet(try EventCodec.decode(ReorderPointSet.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .supplierRegistered: .supplierRegistered(try EventCodec.decode(SupplierRegistered.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .purchaseOrderPlaced: .purchaseOrderPlaced(try EventCodec.decode(PurchaseOrderPlaced.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .purchaseOrderReceived: .purchaseOrderReceived(try EventCodec.decode(PurchaseOrderReceived.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .sessionStarted: .sessionStarted(try EventCodec.decode(SessionStarted.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .pageViewed: .pageViewed(try EventCodec.decode(PageViewed.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .productViewed: .productViewed(try EventCodec.decode(ProductViewed.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .searchPerformed: .searchPerformed(try EventCodec.decode(SearchPerformed.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .cartItemAdded: .cartItemAdded(try EventCodec.decode(CartItemAdded.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .campaignLaunched: .campaignLaunched(try EventCodec.decode(CampaignLaunched.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .settingChanged: .settingChanged(try EventCodec.decode(SettingChanged.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        case .settlementLineReported: .settlementLineReported(try EventCodec.decode(SettlementLineReported.self, json: members, path: path, nullPIIAsBlank: nullPIIAsBlank))
        }
    }

    /// The bytes to store as the event's data: the binary codec for known
    /// types, the data as is for `.unknown`.
    public func encodedData() -> [UInt8] {
        switch self {
        case .productCreated(let e): EventCodec.encode(e)
        case .productUpdated(let e): EventCodec.encode(e)
        case .variantAdded(let e): EventCodec.encode(e)
        case .priceChanged(let e): EventCodec.encode(e)
        case .productDiscontinued(let e): EventCodec.encode(e)
        case .customerRegistered(let e): EventCodec.encode(e)
        case .customerUpdated(let e): EventCodec.encode(e)
        case .addressChanged(let e): EventCodec.encode(e)
        case .consentChanged(let e): EventCodec.encode(e)
        case .paymentMethodAdded(let e): EventCodec.encode(e)
        case .supportInteraction(let e): EventCodec.encode(e)
        case .customerForgotten(let e): EventCodec.encode(e)
        case .orderPlaced(let e): EventCodec.encode(e)
        case .paymentAuthorized(let e): EventCodec.encode(e)
        case .paymentCaptured(let e): EventCodec.encode(e)
        case .paymentFailed(let e): EventCodec.encode(e)
        case .orderShipped(let e): EventCodec.encode(e)
        case .orderDelivered(let e): EventCodec.encode(e)
        case .orderCancelled(let e): EventCodec.encode(e)
        case .refundIssued(let e): EventCodec.encode(e)
        case .returnReceived(let e): EventCodec.encode(e)
        case .stockReceived(let e): EventCodec.encode(e)
        case .stockReserved(let e): EventCodec.encode(e)
        case .stockReleased(let e): EventCodec.encode(e)
        case .stockShipped(let e): EventCodec.encode(e)
        case .stockReturned(let e): EventCodec.encode(e)
        case .stockAdjusted(let e): EventCodec.encode(e)
        case .stockTransferred(let e): EventCodec.encode(e)
        case .reorderPointSet(let e): EventCodec.encode(e)
        case .supplierRegistered(let e): EventCodec.encode(e)
        case .purchaseOrderPlaced(let e): EventCodec.encode(e)
        case .purchaseOrderReceived(let e): EventCodec.encode(e)
        case .sessionStarted(let e): EventCodec.encode(e)
        case .pageViewed(let e): EventCodec.encode(e)
        case .productViewed(let e): EventCodec.encode(e)
        case .searchPerformed(let e): EventCodec.encode(e)
        case .cartItemAdded(let e): EventCodec.encode(e)
        case .campaignLaunched(let e): EventCodec.encode(e)
        case .settingChanged(let e): EventCodec.encode(e)
        case .settlementLineReported(let e): EventCodec.encode(e)
        case .unknown(_, let data): data
        }
    }

    /// Checks the rules of EVENTS.md that need only this event (see
    /// `CommerceEventPayload.validate()`); `.unknown` has none.
    public func validate() throws(CommerceError) {
        switch self {
        case .productCreated(let e): try e.validate()
        case .productUpdated(let e): try e.validate()
        case .variantAdded(let e): try e.validate()
        case .priceChanged(let e): try e.validate()
        case .productDiscontinued(let e): try e.validate()
        case .customerRegistered(let e): try e.validate()
        case .customerUpdated(let e): try e.validate()
        case .addressChanged(let e): try e.validate()
        case .consentChanged(let e): try e.validate()
        case .paymentMethodAdded(let e): try e.validate()
        case .supportInteraction(let e): try e.validate()
        case .customerForgotten(let e): try e.validate()
        case .orderPlaced(let e): try e.validate()
        case .paymentAuthorized(let e): try e.validate()
        case .paymentCaptured(let e): try e.validate()
        case .paymentFailed(let e): try e.validate()
        case .orderShipped(let e): try e.validate()
        case .orderDelivered(let e): try e.validate()
        case .orderCancelled(let e): try e.validate()
        case .refundIssued(let e): try e.validate()
        case .returnReceived(let e): try e.validate()
        case .stockReceived(let e): try e.validate()
        case .stockReserved(let e): try e.validate()
        case .stockReleased(let e): try e.validate()
        case .stockShipped(let e): try e.validate()
        case .stockReturned(let e): try e.validate()
        case .stockAdjusted(let e): try e.validate()
        case .stockTransferred(let e): try e.validate()
        case .reorderPointSet(let e): try e.validate()
        case .supplierRegistered(let e): try e.validate()
        case .purchaseOrderPlaced(let e): try e.validate()
        case .purchaseOrderReceived(let e): try e.validate()
        case .sessionStarted(let e): try e.validate()
        case .pageViewed(let e): try e.validate()
        case .productViewed(let e): try e.validate()
        case .searchPerformed(let e): try e.validate()
        case .cartItemAdded(let e): try e.validate()
        case .campaignLaunched(let e): try e.validate()
        case .settingChanged(let e): try e.validate()
        case .settlementLineReported(let e): try e.validate()
        case .unknown: return
        }
    }

    /// Writes the JSON object of the data. For `.unknown`, the stored bytes
    /// are written as they are; the caller checks they are JSON.
    public func writeJSON(to writer: inout JSONWriter) {
        switch self {
        case .productCreated(let e): EventCodec.writeJSON(e, to: &writer)
        case .productUpdated(let e): EventCodec.writeJSON(e, to: &writer)
        case .variantAdded(let e): EventCodec.writeJSON(e, to: &writer)
        case .priceChanged(let e): EventCodec.writeJSON(e, to: &writer)
        case .productDiscontinued(let e): EventCodec.writeJSON(e, to: &writer)
        case .customerRegistered(let e): EventCodec.writeJSON(e, to: &writer)
        case .customerUpdated(let e): EventCodec.writeJSON(e, to: &writer)
        case .addressChanged(let e): EventCodec.writeJSON(e, to: &writer)
        case .consentChanged(let e): EventCodec.writeJSON(e, to: &writer)
        case .paymentMethodAdded(let e): EventCodec.writeJSON(e, to: &writer)
        case .supportInteraction(let e): EventCodec.writeJSON(e, to: &writer)
        case .customerForgotten(let e): EventCodec.writeJSON(e, to: &writer)
        case .orderPlaced(let e): EventCodec.writeJSON(e, to: &writer)
        case .paymentAuthorized(let e): EventCodec.writeJSON(e, to: &writer)
        case .paymentCaptured(let e): EventCodec.writeJSON(e, to: &writer)
        case .paymentFailed(let e): EventCodec.writeJSON(e, to: &writer)
        case .orderShipped(let e): EventCodec.writeJSON(e, to: &writer)
        case .orderDelivered(let e): EventCodec.writeJSON(e, to: &writer)
        case .orderCancelled(let e): EventCodec.writeJSON(e, to: &writer)
        case .refundIssued(let e): EventCodec.writeJSON(e, to: &writer)
        case .returnReceived(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockReceived(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockReserved(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockReleased(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockShipped(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockReturned(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockAdjusted(let e): EventCodec.writeJSON(e, to: &writer)
        case .stockTransferred(let e): EventCodec.writeJSON(e, to: &writer)
        case .reorderPointSet(let e): EventCodec.writeJSON(e, to: &writer)
        case .supplierRegistered(let e): EventCodec.writeJSON(e, to: &writer)
        case .purchaseOrderPlaced(let e): EventCodec.writeJSON(e, to: &writer)
        case .purchaseOrderReceived(let e): EventCodec.writeJSON(e, to: &writer)
        case .sessionStarted(let e): EventCodec.writeJSON(e, to: &writer)
        case .pageViewed(let e): EventCodec.writeJSON(e, to: &writer)
        case .productViewed(let e): EventCodec.writeJSON(e, to: &writer)
        case .searchPerformed(let e): EventCodec.writeJSON(e, to: &writer)
        case .cartItemAdded(let e): EventCodec.writeJSON(e, to: &writer)
        case .campaignLaunched(let e): EventCodec.writeJSON(e, to: &writer)
        case .settingChanged(let e): EventCodec.writeJSON(e, to: &writer)
        case .settlementLineReported(let e): EventCodec.writeJSON(e, to: &writer)
        case .unknown(_, let data): writer.bytes.append(contentsOf: data)
        }
    }
}

extension CommerceEventType {
    /// Appends the JSON object of stored data of this type to `writer`
    /// straight from its bytes (`EventCodec.transcodeJSON`): true when the
    /// data is at the current schema version, or sealed and opened by
    /// `protector`, and decodes; false, `writer` unchanged, otherwise.
    func transcodeJSON(_ data: UnsafeRawBufferPointer, protector: (any PIIProtector)? = nil, to w: inout JSONWriter) -> Bool {
        switch self {
        case .productCreated: EventCodec.transcodeJSON(ProductCreated.self, typeName: rawValue, data, protector: protector, to: &w)
        case .productUpdated: EventCodec.transcodeJSON(ProductUpdated.self, typeName: rawValue, data, protector: protector, to: &w)
        case .variantAdded: EventCodec.transcodeJSON(VariantAdded.self, typeName: rawValue, data, protector: protector, to: &w)
        case .priceChanged: EventCodec.transcodeJSON(PriceChanged.self, typeName: rawValue, data, protector: protector, to: &w)
        case .productDiscontinued: EventCodec.transcodeJSON(ProductDiscontinued.self, typeName: rawValue, data, protector: protector, to: &w)
        case .customerRegistered: EventCodec.transcodeJSON(CustomerRegistered.self, typeName: rawValue, data, protector: protector, to: &w)
        case .customerUpdated: EventCodec.transcodeJSON(CustomerUpdated.self, typeName: rawValue, data, protector: protector, to: &w)
        case .addressChanged: EventCodec.transcodeJSON(AddressChanged.self, typeName: rawValue, data, protector: protector, to: &w)
        case .consentChanged: EventCodec.transcodeJSON(ConsentChanged.self, typeName: rawValue, data, protector: protector, to: &w)
        case .paymentMethodAdded: EventCodec.transcodeJSON(PaymentMethodAdded.self, typeName: rawValue, data, protector: protector, to: &w)
        case .supportInteraction: EventCodec.transcodeJSON(SupportInteraction.self, typeName: rawValue, data, protector: protector, to: &w)
        case .customerForgotten: EventCodec.transcodeJSON(CustomerForgotten.self, typeName: rawValue, data, protector: protector, to: &w)
        case .orderPlaced: EventCodec.transcodeJSON(OrderPlaced.self, typeName: rawValue, data, protector: protector, to: &w)
        case .paymentAuthorized: EventCodec.transcodeJSON(PaymentAuthorized.self, typeName: rawValue, data, protector: protector, to: &w)
        case .paymentCaptured: EventCodec.transcodeJSON(PaymentCaptured.self, typeName: rawValue, data, protector: protector, to: &w)
        case .paymentFailed: EventCodec.transcodeJSON(PaymentFailed.self, typeName: rawValue, data, protector: protector, to: &w)
        case .orderShipped: EventCodec.transcodeJSON(OrderShipped.self, typeName: rawValue, data, protector: protector, to: &w)
        case .orderDelivered: EventCodec.transcodeJSON(OrderDelivered.self, typeName: rawValue, data, protector: protector, to: &w)
        case .orderCancelled: EventCodec.transcodeJSON(OrderCancelled.self, typeName: rawValue, data, protector: protector, to: &w)
        case .refundIssued: EventCodec.transcodeJSON(RefundIssued.self, typeName: rawValue, data, protector: protector, to: &w)
        case .returnReceived: EventCodec.transcodeJSON(ReturnReceived.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockReceived: EventCodec.transcodeJSON(StockReceived.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockReserved: EventCodec.transcodeJSON(StockReserved.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockReleased: EventCodec.transcodeJSON(StockReleased.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockShipped: EventCodec.transcodeJSON(StockShipped.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockReturned: EventCodec.transcodeJSON(StockReturned.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockAdjusted: EventCodec.transcodeJSON(StockAdjusted.self, typeName: rawValue, data, protector: protector, to: &w)
        case .stockTransferred: EventCodec.transcodeJSON(StockTransferred.self, typeName: rawValue, data, protector: protector, to: &w)
        case .reorderPointSet: EventCodec.transcodeJSON(ReorderPointSet.self, typeName: rawValue, data, protector: protector, to: &w)
        case .supplierRegistered: EventCodec.transcodeJSON(SupplierRegistered.self, typeName: rawValue, data, protector: protector, to: &w)
        case .purchaseOrderPlaced: EventCodec.transcodeJSON(PurchaseOrderPlaced.self, typeName: rawValue, data, protector: protector, to: &w)
        case .purchaseOrderReceived: EventCodec.transcodeJSON(PurchaseOrderReceived.self, typeName: rawValue, data, protector: protector, to: &w)
        case .sessionStarted: EventCodec.transcodeJSON(SessionStarted.self, typeName: rawValue, data, protector: protector, to: &w)
        case .pageViewed: EventCodec.transcodeJSON(PageViewed.self, typeName: rawValue, data, protector: protector, to: &w)
        case .productViewed: EventCodec.transcodeJSON(ProductViewed.self, typeName: rawValue, data, protector: protector, to: &w)
        case .searchPerformed: EventCodec.transcodeJSON(SearchPerformed.self, typeName: rawValue, data, protector: protector, to: &w)
        case .cartItemAdded: EventCodec.transcodeJSON(CartItemAdded.self, typeName: rawValue, data, protector: protector, to: &w)
        case .campaignLaunched: EventCodec.transcodeJSON(CampaignLaunched.self, typeName: rawValue, data, protector: protector, to: &w)
        case .settingChanged: EventCodec.transcodeJSON(SettingChanged.self, typeName: rawValue, data, protector: protector, to: &w)
        case .settlementLineReported: EventCodec.transcodeJSON(SettlementLineReported.self, typeName: rawValue, data, protector: protector, to: &w)
        }
    }
}
