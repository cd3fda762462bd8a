// The data of a known event type read straight from the line's bytes into
// its typed value: no `JSONValue` tree between them (stop 50: the tree, its
// member arrays and the strings of the envelope it drops were ~12 % of an
// import's CPU). `CommerceEnvelope.parseLine` uses it for a line of an
// import.
//
// Like the fast path of the common line it may only say "the strict path
// reads exactly this" or "not sure" (nil): the members must come in the
// schema's order (as every export writes them) with plain ASCII keys; a
// `null`, a member out of order, an unknown or repeated key, a number that
// is not an integer within 64 bits, a value of another JSON type, a time
// with an escape — anything else goes to the strict path, which then gives
// the event or the error with its message. The values themselves are read
// by the strict parser's own functions (`JSONParser.string`, `number`,
// `Timestamp`'s RFC 3339), so a value read here is the value read there.

/// Reads the fields of one JSON object in schema order, from the bytes.
struct JSONBytesDecodingVisitor: FieldVisitor {
    var p: JSONParser
    /// The next member's key (the bytes between its quotes), `p.index` at
    /// its value; nil once the object's closing brace is read.
    private var key: Range<Int>?
    /// The object's nesting, as `JSONParser` counts it.
    private let depth: Int

    /// Thrown for anything the strict path must judge; never reaches a caller.
    static var unsure: CommerceError { CommerceError(.invalidJSON, "left to the strict parser") }

    /// The object whose opening brace is at `parser.index`.
    init(_ parser: JSONParser, depth: Int) throws(CommerceError) {
        p = parser
        self.depth = depth
        guard depth <= JSONParser.maxDepth, p.index < p.buf.count, p.buf[p.index] == UInt8(ascii: "{") else { throw Self.unsure }
        p.index += 1
        p.skipWhitespace()
        if p.index < p.buf.count, p.buf[p.index] == UInt8(ascii: "}") {
            p.index += 1
            key = nil
        } else {
            try readKey()
        }
    }

    private mutating func readKey() throws(CommerceError) {
        guard let end = plainKeyEnd(p.buf, at: p.index, below: 0x80) else { throw Self.unsure }
        key = (p.index + 1)..<end
        p.index = end + 1
        p.skipWhitespace()
        guard p.index < p.buf.count, p.buf[p.index] == UInt8(ascii: ":") else { throw Self.unsure }
        p.index += 1
        p.skipWhitespace()
        guard p.index < p.buf.count else { throw Self.unsure }
    }

    /// Past a member's value: to the next key, or past the closing brace.
    private mutating func next() throws(CommerceError) {
        p.skipWhitespace()
        guard p.index < p.buf.count else { throw Self.unsure }
        if p.buf[p.index] == UInt8(ascii: ",") {
            p.index += 1
            p.skipWhitespace()
            try readKey()
            return
        }
        guard p.buf[p.index] == UInt8(ascii: "}") else { throw Self.unsure }
        p.index += 1
        key = nil
    }

    /// Whether the next member is `name`; a `null` value is left to the
    /// strict path (absent, or an erased field an import decides on).
    private mutating func at(_ name: StaticString) throws(CommerceError) -> Bool {
        guard let key, name.matches(UnsafeBufferPointer(rebasing: p.buf[key])) else { return false }
        if p.buf[p.index] == UInt8(ascii: "n") { throw Self.unsure }
        return true
    }

    private mutating func required(_ name: StaticString) throws(CommerceError) {
        guard try at(name) else { throw Self.unsure }
    }

    /// Every member was read: none out of order, unknown or repeated.
    func finish() throws(CommerceError) {
        if key != nil { throw Self.unsure }
    }

    /// The string at `p.index` (not past the member).
    private mutating func rawString() throws(CommerceError) -> String {
        guard p.buf[p.index] == UInt8(ascii: "\"") else { throw Self.unsure }
        do { return try p.string() } catch { throw Self.unsure }
    }

    private mutating func string() throws(CommerceError) -> String {
        let s = try rawString()
        try next()
        return s
    }

    private mutating func requiredString(_ name: StaticString) throws(CommerceError) -> String {
        try required(name)
        return try string()
    }

    mutating func id(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        value = try requiredString(name)
    }

    mutating func optionalID(_ name: StaticString, _ value: inout String?) throws(CommerceError) {
        value = try at(name) ? try string() : nil
    }

    mutating func text(_ name: StaticString, _ value: inout String, pii: Bool) throws(CommerceError) {
        value = try requiredString(name)
    }

    mutating func optionalText(_ name: StaticString, _ value: inout String?, pii: Bool) throws(CommerceError) {
        value = try at(name) ? try string() : nil
    }

    mutating func currency(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        value = try requiredString(name)
    }

    mutating func country(_ name: StaticString, _ value: inout String) throws(CommerceError) {
        value = try requiredString(name)
    }

    /// An integer literal within 64 bits (`-0`, fractions and exponents:
    /// the strict path).
    private mutating func integer() throws(CommerceError) -> Int64 {
        let c = p.buf[p.index]
        guard c == UInt8(ascii: "-") || c &- 48 < 10 else { throw Self.unsure }
        let v: JSONValue
        do { v = try p.number() } catch { throw Self.unsure }
        guard case .int(let n) = v else { throw Self.unsure }
        try next()
        return n
    }

    mutating func int(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        try required(name)
        value = try integer()
    }

    mutating func defaultedInt(_ name: StaticString, _ value: inout Int64, _ rule: IntRule) throws(CommerceError) {
        value = try at(name) ? try integer() : 0
    }

    mutating func bool(_ name: StaticString, _ value: inout Bool) throws(CommerceError) {
        try required(name)
        switch p.buf[p.index] {
        case UInt8(ascii: "t"): do { try p.literal("true") } catch { throw Self.unsure }; value = true
        case UInt8(ascii: "f"): do { try p.literal("false") } catch { throw Self.unsure }; value = false
        default: throw Self.unsure
        }
        try next()
    }

    mutating func timestamp(_ name: StaticString, _ value: inout Timestamp) throws(CommerceError) {
        try required(name)
        guard let t = Self.time(&p) else { throw Self.unsure }
        value = t
        try next()
    }

    /// The RFC 3339 time of the string at `p.index`, read in place when it
    /// has no escape; nil when not sure.
    static func time(_ p: inout JSONParser) -> Timestamp? {
        guard let end = plainKeyEnd(p.buf, at: p.index, below: 0x80),
              let t = Timestamp(rfc3339UTF8: UnsafeBufferPointer(rebasing: p.buf[(p.index + 1)..<end])) else { return nil }
        p.index = end + 1
        return t
    }

    /// The elements of the array or object at `p.index` (`open` … `close`,
    /// separated by commas), each read by `element` at its first byte; then
    /// past the closing bracket.
    private mutating func elements(_ open: Unicode.Scalar, _ close: Unicode.Scalar,
                                   _ element: (inout Self) throws(CommerceError) -> Void) throws(CommerceError) {
        let (open, close) = (UInt8(ascii: open), UInt8(ascii: close))
        guard p.buf[p.index] == open else { throw Self.unsure }
        p.index += 1
        p.skipWhitespace()
        if p.index < p.buf.count, p.buf[p.index] == close {
            p.index += 1
            return
        }
        while true {
            p.skipWhitespace()
            guard p.index < p.buf.count else { throw Self.unsure }
            try element(&self)
            p.skipWhitespace()
            guard p.index < p.buf.count else { throw Self.unsure }
            if p.buf[p.index] == UInt8(ascii: ",") { p.index += 1; continue }
            guard p.buf[p.index] == close else { throw Self.unsure }
            p.index += 1
            return
        }
    }

    mutating func optionalStrings(_ name: StaticString, _ value: inout [String]?) throws(CommerceError) {
        guard try at(name) else { value = nil; return }
        var out: [String] = []
        try elements("[", "]") { (v) throws(CommerceError) in out.append(try v.rawString()) }
        value = out
        try next()
    }

    mutating func optionalMap(_ name: StaticString, _ value: inout [String: String]?) throws(CommerceError) {
        guard try at(name) else { value = nil; return }
        var out: [String: String] = [:]
        try elements("{", "}") { (v) throws(CommerceError) in
            let k = try v.rawString()
            v.p.skipWhitespace()
            guard v.p.index < v.p.buf.count, v.p.buf[v.p.index] == UInt8(ascii: ":") else { throw Self.unsure }
            v.p.index += 1
            v.p.skipWhitespace()
            guard v.p.index < v.p.buf.count else { throw Self.unsure }
            // A repeated key (as `String` compares them, as the strict
            // parser does): its error is the strict path's.
            guard out.updateValue(try v.rawString(), forKey: k) == nil else { throw Self.unsure }
        }
        value = out
        try next()
    }

    private mutating func enumValue<E: CommerceEnum>() throws(CommerceError) -> E {
        guard let e = E(rawValue: try string()) else { throw Self.unsure }
        return e
    }

    mutating func enumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E) throws(CommerceError) {
        try required(name)
        value = try enumValue()
    }

    mutating func optionalEnumeration<E: CommerceEnum>(_ name: StaticString, _ value: inout E?) throws(CommerceError) {
        value = try at(name) ? try enumValue() as E : nil
    }

    /// The object at `p.index` read as a `T`, at nesting `depth`;
    /// `p.index` then past it (unchanged when it throws).
    static func read<T: FieldCodable>(_ p: inout JSONParser, depth: Int) throws(CommerceError) -> T {
        var v = try JSONBytesDecodingVisitor(p, depth: depth)
        var t = T()
        try t.visit(&v)
        try v.finish()
        p.index = v.p.index
        return t
    }

    private mutating func nested<T: FieldCodable>(depth: Int) throws(CommerceError) -> T {
        try Self.read(&p, depth: depth)
    }

    mutating func object<T: FieldCodable>(_ name: StaticString, _ value: inout T, pii: Bool) throws(CommerceError) {
        try required(name)
        value = try nested(depth: depth + 1)
        try next()
    }

    mutating func optionalObject<T: FieldCodable>(_ name: StaticString, _ value: inout T?, pii: Bool) throws(CommerceError) {
        guard try at(name) else { value = nil; return }
        value = try nested(depth: depth + 1) as T
        try next()
    }

    mutating func objects<T: FieldCodable>(_ name: StaticString, _ value: inout [T]) throws(CommerceError) {
        try required(name)
        var out: [T] = []
        let depth = depth
        try elements("[", "]") { (v) throws(CommerceError) in out.append(try v.nested(depth: depth + 2)) }
        value = out
        try next()
    }
}

extension CommerceEvent {
    /// The data of `type` from the object at `p.index` (nesting `depth`),
    /// `p.index` then past it; nil when not sure (`JSONBytesDecodingVisitor`).
    static func decodeInPlace(_ type: CommerceEventType, _ p: inout JSONParser, depth: Int) -> CommerceEvent? {
        func d<T: CommerceEventPayload>(_: T.Type) -> T? { try? JSONBytesDecodingVisitor.read(&p, depth: depth) }
        return switch type {
        case .productCreated: d(ProductCreated.self).map { .productCreated($0) }
        case .productUpdated: d(ProductUpdated.self).map { .productUpdated($0) }
        case .variantAdded: d(VariantAdded.self).map { .variantAdded($0) }
        case .priceChanged: d(PriceChanged.self).map { .priceChanged($0) }
        case .productDiscontinued: d(ProductDiscontinued.self).map { .productDiscontinued($0) }
        case .customerRegistered: d(CustomerRegistered.self).map { .customerRegistered($0) }
        case .customerUpdated: d(CustomerUpdated.self).map { .customerUpdated($0) }
        case .addressChanged: d(AddressChanged.self).map { .addressChanged($0) }
        case .consentChanged: d(ConsentChanged.self).map { .consentChanged($0) }
        case .paymentMethodAdded: d(PaymentMethodAdded.self).map { .paymentMethodAdded($0) }
        case .supportInteraction: d(SupportInteraction.self).map { .supportInteraction($0) }
        case .customerForgotten: d(CustomerForgotten.self).map { .customerForgotten($0) }
        case .orderPlaced: d(OrderPlaced.self).map { .orderPlaced($0) }
        case .paymentAuthorized: d(PaymentAuthorized.self).map { .paymentAuthorized($0) }
        case .paymentCaptured: d(PaymentCaptured.self).map { .paymentCaptured($0) }
        case .paymentFailed: d(PaymentFailed.self).map { .paymentFailed($0) }
        case .orderShipped: d(OrderShipped.self).map { .orderShipped($0) }
        case .orderDelivered: d(OrderDelivered.self).map { .orderDelivered($0) }
        case .orderCancelled: d(OrderCancelled.self).map { .orderCancelled($0) }
        case .refundIssued: d(RefundIssued.self).map { .refundIssued($0) }
        case .returnReceived: d(ReturnReceived.self).map { .returnReceived($0) }
        case .stockReceived: d(StockReceived.self).map { .stockReceived($0) }
        case .stockReserved: d(StockReserved.self).map { .stockReserved($0) }
        case .stockReleased: d(StockReleased.self).map { .stockReleased($0) }
        case .stockShipped: d(StockShipped.self).map { .stockShipped($0) }
        case .stockReturned: d(StockReturned.self).map { .stockReturned($0) }
        case .stockAdjusted: d(StockAdjusted.self).map { .stockAdjusted($0) }
        case .stockTransferred: d(StockTransferred.self).map { .stockTransferred($0) }
        case .reorderPointSet: d(ReorderPointSet.self).map { .reorderPointSet($0) }
        case .supplierRegistered: d(SupplierRegistered.self).map { .supplierRegistered($0) }
        case .purchaseOrderPlaced: d(PurchaseOrderPlaced.self).map { .purchaseOrderPlaced($0) }
        case .purchaseOrderReceived: d(PurchaseOrderReceived.self).map { .purchaseOrderReceived($0) }
        case .sessionStarted: d(SessionStarted.self).map { .sessionStarted($0) }
        case .pageViewed: d(PageViewed.self).map { .pageViewed($0) }
        case .productViewed: d(ProductViewed.self).map { .productViewed($0) }
        case .searchPerformed: d(SearchPerformed.self).map { .searchPerformed($0) }
        case .cartItemAdded: d(CartItemAdded.self).map { .cartItemAdded($0) }
        case .campaignLaunched: d(CampaignLaunched.self).map { .campaignLaunched($0) }
        case .settingChanged: d(SettingChanged.self).map { .settingChanged($0) }
        case .settlementLineReported: d(SettlementLineReported.self).map { .settlementLineReported($0) }
        }
    }
}
