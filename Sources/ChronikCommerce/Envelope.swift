// The JSON Lines form (EVENTS.md, Envelope): one object per line.
//
// Import keys: type, id, time, data, meta, stream, expectedVersion; the
// export-only keys version, position and recordedAt are accepted (so an
// export imports again) and ignored. Any other key is refused.
//
// Export key order, fixed so exports are byte-identical:
//   type, id, time, stream, version, position, recordedAt, data, meta
// `meta` is left out when the event has none. Data fields come in schema
// order, absent optionals left out, defaulted integers always written,
// map keys sorted by UTF-8 bytes.

/// One validated event of the JSON Lines form, ready to append:
/// `log.append(to: e.stream, e.proposed, expected: e.expectedVersion)`.
public struct CommerceEnvelope: Hashable, Sendable {
    /// The typed event (or `.unknown`).
    public var event: CommerceEvent
    /// What the log stores: id, type, time, meta bytes, data bytes.
    public var proposed: ProposedEvent
    /// The derived stream, or the explicit one of an unknown type.
    public var stream: String
    /// `.any` when the line gave none.
    public var expectedVersion: ExpectedVersion
    /// Set when the line gives its personal data as erased (`null`, as an
    /// export of a forgotten customer writes it; `Rules.acceptsErasedPII`
    /// only): the PII fields are blank in `event`, and the import decides
    /// whether the subject is forgotten (docs/GDPR.md).
    public var erasure: PIIErasure?

    /// Validates a typed event and prepares it for appending.
    ///
    /// - Parameters:
    ///   - stream: must equal the derived stream when given; required for
    ///     an unknown type.
    ///   - meta: string keys and values, stored in this order.
    /// - Throws: `CommerceError` naming the field (`data.lines[0].qty`,
    ///   `stream`, `meta.actor`).
    public init(_ event: CommerceEvent, id: EventID = .random(), time: Timestamp,
                meta: [(key: String, value: String)] = [], stream: String? = nil,
                expectedVersion: ExpectedVersion = .any) throws(CommerceError) {
        try self.init(event, id: id, time: time, meta: meta, stream: stream, expectedVersion: expectedVersion, erasure: nil)
    }

    init(_ event: CommerceEvent, id: EventID, time: Timestamp, meta: [(key: String, value: String)], stream: String?,
         expectedVersion: ExpectedVersion, erasure: PIIErasure?) throws(CommerceError) {
        if event.knownType?.rejectsCardNumbers == true {
            for (k, v) in meta where Validation.looksLikeCardNumber(v) || Validation.looksLikeCardNumber(k) {
                throw CommerceError(.cardNumber, field: "meta." + k, "meta.\(k) looks like a card number; card numbers are never accepted")
            }
        }
        // Prose in meta (`meta.note`) is prose in every type (Validation.isFreeText).
        for (k, v) in meta where Validation.isFreeText(k) && Validation.containsCardNumber(inText: v) {
            throw CommerceError(.cardNumber, field: "meta." + k, "meta.\(k) contains a card number; card numbers are never accepted")
        }
        var metaBytes: [UInt8] = []
        if !meta.isEmpty {
            metaBytes = JSONValue.object(meta.map { JSONMember($0.key, .string($0.value)) }).compactBytes
        }
        try self.init(validating: event, id: id, time: time, metadata: metaBytes, stream: stream,
                      expectedVersion: expectedVersion, erasure: erasure)
    }

    init(validating event: CommerceEvent, id: EventID, time: Timestamp, metadata: [UInt8], stream: String?,
         expectedVersion: ExpectedVersion, erasure: PIIErasure? = nil) throws(CommerceError) {
        let type = event.type
        guard (1...LogFormat.maxEventTypeBytes).contains(type.utf8.count) else {
            throw CommerceError(.invalidEventType, field: "type", "type must be 1...\(LogFormat.maxEventTypeBytes) bytes")
        }
        // The log's own rules for names (no control characters, NFC), here so
        // that an input is refused whole before anything of it is appended.
        if let problem = LogFormat.eventTypeProblem(type) { throw CommerceError(.invalidEventType, field: "type", problem) }
        if let stream {
            guard (1...LogFormat.maxStreamNameBytes).contains(stream.utf8.count) else {
                throw CommerceError(.invalidStream, field: "stream",
                                    "stream must be 1...\(LogFormat.maxStreamNameBytes) bytes, got \(stream.utf8.count)")
            }
        }
        let resolved: String
        if let derived = event.derivedStream {
            do throws(CommerceError) {
                if erasure != nil { try event.payload?.validate(skippingPII: true) } else { try event.validate() }
            } catch { throw error.prefixed("data.") }
            if let stream, stream != derived {
                throw CommerceError(.streamMismatch, field: "stream",
                                    "stream \"\(stream.prefix(80))\" differs from \"\(derived.prefix(80))\" derived from the data")
            }
            guard derived.utf8.count <= LogFormat.maxStreamNameBytes else {
                throw CommerceError(.invalidStream, field: "stream", "derived stream longer than \(LogFormat.maxStreamNameBytes) bytes")
            }
            resolved = derived
        } else {
            guard let stream else {
                // A typo of a type of EVENTS.md is named (stop 35: the advice
                // to give a stream stored the typo as a type of its own).
                let guess = type.count <= 80 ? closestName(to: type, among: CommerceEventType.allCases.map(\.rawValue)) : nil
                throw CommerceError(guess == nil ? .invalidStream : .invalidEventType, field: guess == nil ? "stream" : "type",
                                    guess.map { "unknown type \(type): did you mean \($0)? (a type outside EVENTS.md needs an explicit stream)" }
                                        ?? "an unknown type (\(type.prefix(80))) needs an explicit stream; it is then stored as given, "
                                            + "checked by no rule of EVENTS.md")
            }
            resolved = stream
        }
        if let problem = LogFormat.streamNameProblem(resolved) { throw CommerceError(.invalidStream, field: "stream", problem) }
        self.event = event
        self.stream = resolved
        self.expectedVersion = expectedVersion
        self.erasure = erasure
        self.proposed = ProposedEvent(id: id, type: type, data: event.encodedData(), metadata: metadata, occurredAt: time)
    }

    /// Parses and validates one line of the JSON Lines form.
    ///
    /// - Parameters:
    ///   - line: the line's bytes, without its newline (trailing whitespace
    ///     is allowed).
    ///   - lineNumber: 1-based, copied into every error.
    /// - Throws: `CommerceError` naming the field and the line.
    public static func parse(line: some Collection<UInt8>, lineNumber: Int? = nil) throws(CommerceError) -> CommerceEnvelope {
        do throws(CommerceError) {
            return try parse(value: JSONValue.parse(line))
        } catch {
            var e = error
            e.line = lineNumber
            throw e
        }
    }

    static func parse(value: JSONValue) throws(CommerceError) -> CommerceEnvelope {
        try parseNotingID(value: value).envelope
    }

    /// Where the one envelope parser is more lenient: `chronik append` is
    /// the engine-level door and takes what the engine takes for a type
    /// EVENTS.md does not know; a known type is parsed and validated the
    /// same way whatever the door.
    public struct Rules: Sendable {
        /// An unknown type's `data` may be any JSON value, not only an
        /// object.
        public var unknownDataAnyValue = false
        /// An unknown type's `data`, and every `meta`, are stored as compact
        /// JSON with object keys sorted, whatever their order on the line
        /// (so the same value always gives the same bytes).
        public var sortedKeys = false

        /// Personal data given as `null` everywhere (an export of a
        /// forgotten customer) parses as erased (`erasure`) instead of a
        /// missing field; the importer decides whether the subject is
        /// forgotten (docs/GDPR.md).
        public var acceptsErasedPII = false

        public init(unknownDataAnyValue: Bool = false, sortedKeys: Bool = false, acceptsErasedPII: Bool = false) {
            self.unknownDataAnyValue = unknownDataAnyValue
            self.sortedKeys = sortedKeys
            self.acceptsErasedPII = acceptsErasedPII
        }

        /// The library's default: every PII field required by the schema
        /// must have a value.
        public static let commerce = Rules()
        /// `chronik import`, `CommerceImport`.
        public static let importing = Rules(acceptsErasedPII: true)
        /// `chronik append`.
        public static let engine = Rules(unknownDataAnyValue: true, sortedKeys: true)
    }

    /// Parses one line; `idWasGiven` is false when the id was generated
    /// (such an id cannot be in the log: import skips the lookup).
    ///
    /// - Throws: `CommerceError` naming the field and the line.
    public static func parseNotingID(line: some Collection<UInt8>, lineNumber: Int? = nil,
                                     rules: Rules = .commerce) throws(CommerceError)
        -> (envelope: CommerceEnvelope, idWasGiven: Bool) {
        do throws(CommerceError) {
            // A line the fast path recognises (every line of an export, of
            // any type) without a `JSONValue` tree; what the strict path
            // gives (EnvelopeFastPathTests).
            let fast = line.withContiguousStorageIfAvailable { buffer in
                Result { () throws(CommerceError) -> (envelope: CommerceEnvelope, idWasGiven: Bool)? in
                    try parseLine(buffer: buffer, rules: rules)
                }
            }
            if let fast, let parsed = try fast.get() { return parsed }
            return try parseNotingID(value: JSONValue.parse(line), rules: rules)
        } catch {
            var e = error
            e.line = lineNumber
            throw e
        }
    }

    /// `parseNotingID(line:lineNumber:rules:)` of a parsed line.
    public static func parseNotingID(value: JSONValue, rules: Rules = .commerce) throws(CommerceError)
        -> (envelope: CommerceEnvelope, idWasGiven: Bool) {
        guard case .object(let members) = value else {
            throw CommerceError(.invalidJSON, "a line must be a JSON object, got \(value.kindName)")
        }
        var type: String?
        var id: EventID?
        var time: Timestamp?
        var data: JSONValue?
        var meta: [JSONMember] = []
        var stream: String?
        var expected = ExpectedVersion.any
        for m in members {
            let v = m.value
            if m.key.equals("type") {
                type = try envelopeString("type", v)
            } else if m.key.equals("id") {
                let s = try envelopeString("id", v)
                guard let parsed = EventIDText.parse(s) else {
                    throw CommerceError(.invalidEventId, field: "id", "id must be a UUID in 8-4-4-4-12 form, got \"\(s.prefix(60))\"")
                }
                id = parsed
            } else if m.key.equals("time") {
                time = try envelopeTime("time", v)
            } else if m.key.equals("data") {
                data = v
            } else if m.key.equals("meta") {
                guard case .object(let d) = v else {
                    throw CommerceError(.invalidMeta, field: "meta", "meta must be an object of strings, got \(v.kindName)")
                }
                for x in d {
                    guard case .string = x.value else {
                        throw CommerceError(.invalidMeta, field: "meta." + x.key, "meta values must be strings; \(x.key) is \(x.value.kindName)")
                    }
                }
                meta = d
            } else if m.key.equals("stream") {
                stream = try envelopeString("stream", v)
            } else if m.key.equals("expectedVersion") {
                expected = try expectedVersion(v)
            } else if m.key.equals("version") || m.key.equals("position") {
                // Export-only; the log assigns them again.
                guard case .int(let n) = v, n >= 0 else {
                    throw CommerceError(.wrongType, field: m.key, "\(m.key) must be an integer ≥ 0")
                }
            } else if m.key.equals("recordedAt") {
                _ = try envelopeTime("recordedAt", v)
            } else {
                throw CommerceError(.unknownField, field: m.key, "unknown envelope field \(m.key)")
            }
        }
        guard let type else { throw CommerceError(.missingField, field: "type", "required field type is missing") }
        guard let data else { throw CommerceError(.missingField, field: "data", "required field data is missing") }
        let event: CommerceEvent
        var erasure: PIIErasure?
        if let known = CommerceEventType(name: type) {
            guard case .object(let d) = data else { throw wrongType("data", "an object", data) }
            if rules.acceptsErasedPII { erasure = PIIErasure.claim(known, d) }
            event = try CommerceEvent.decode(known, json: d, path: "data", nullPIIAsBlank: erasure != nil)
            guard time != nil else { throw CommerceError(.missingField, field: "time", "required field time is missing") }
        } else {
            if !rules.unknownDataAnyValue {
                guard case .object = data else { throw wrongType("data", "an object", data) }
            }
            event = .unknown(type: type, data: rules.sortedKeys ? data.compactBytesSortingKeys : data.compactBytes)
        }
        return try finish(event, erasure: erasure, id: id, time: time, meta: meta, stream: stream, expected: expected,
                          rules: rules)
    }

    /// The end of `parseNotingID(value:rules:)` once the line's members are
    /// read and its event is built, shared by the fast path
    /// (`parseCommonLine`): meta in its stored order, the envelope's own
    /// validation.
    static func finish(_ event: CommerceEvent, erasure: PIIErasure?, id: EventID?, time: Timestamp?, meta: [JSONMember],
                       stream: String?, expected: ExpectedVersion, rules: Rules) throws(CommerceError)
        -> (envelope: CommerceEnvelope, idWasGiven: Bool) {
        var meta = meta
        if rules.sortedKeys { meta.sort { $0.key < $1.key } }
        let metaPairs = meta.map { m -> (key: String, value: String) in
            guard case .string(let s) = m.value else { preconditionFailure("checked above") }
            return (m.key, s)
        }
        // An unknown type without `time` gets the engine's default: now.
        return (try CommerceEnvelope(event, id: id ?? .random(), time: time ?? .now(), meta: metaPairs,
                                     stream: stream, expectedVersion: expected, erasure: erasure), id != nil)
    }

    static func envelopeString(_ name: StaticString, _ v: JSONValue) throws(CommerceError) -> String {
        guard case .string(let s) = v else { throw wrongType(name, "a string", v) }
        return s
    }

    static func envelopeTime(_ name: StaticString, _ v: JSONValue) throws(CommerceError) -> Timestamp {
        let s = try envelopeString(name, v)
        guard let t = Timestamp(rfc3339: s) else {
            throw CommerceError(.invalidTime, field: name.text, "\(name) \(Timestamp.rfc3339Refusal(s)): \"\(s.prefix(60))\"")
        }
        return t
    }

    @inline(never)
    static func wrongType(_ name: StaticString, _ expected: String, _ v: JSONValue) -> CommerceError {
        CommerceError(.wrongType, field: name.text, "\(name) must be \(expected), got \(v.kindName)")
    }

    static func expectedVersion(_ v: JSONValue) throws(CommerceError) -> ExpectedVersion {
        switch v {
        case .int(let n) where n >= 0: return .exact(UInt64(n))
        case .string(let s) where s == "any": return .any
        case .string(let s) where s == "noStream": return .noStream
        case .string(let s) where s == "exists": return .exists
        default:
            let shown: String = switch v {
            case .string(let s): "\"\(s.prefix(40))\""
            case .int(let n): String(n)
            case .number(let s): s
            default: v.kindName
            }
            throw CommerceError(.invalidExpectedVersion, field: "expectedVersion",
                                "expectedVersion must be an integer ≥ 0, \"any\", \"noStream\" or \"exists\", got \(shown)")
        }
    }
}

/// The JSON Lines export of recorded events.
public enum CommerceExport {
    /// The export line of `event` (without the newline).
    ///
    /// - Throws: `CommerceError` — `invalidData` when the data of a known
    ///   type does not decode, or the data of an unknown type is not a JSON
    ///   object; `invalidMeta` when the stored meta is not an object of
    ///   strings.
    public static func line(for event: RecordedEvent, protector: (any PIIProtector)? = nil,
                            upcasters: UpcasterRegistry = .standard) throws(CommerceError) -> String {
        var w = JSONWriter(capacity: 256 + event.data.count * 2)
        try write(event, to: &w, protector: protector, upcasters: upcasters)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Appends the export line of `event`, without the newline, to `writer`.
    ///
    /// Sealed personal data is opened with `protector`; when the subject's
    /// key is destroyed (or no protector is given) every PII field is
    /// written as `null`.
    public static func write<E: EventFields>(_ event: E, to w: inout JSONWriter, protector: (any PIIProtector)? = nil,
                                             upcasters: UpcasterRegistry = .standard) throws(CommerceError) {
        let start = w.bytes.count
        w.raw("{\"type\":")
        w.string(event.type)
        w.raw(",\"id\":\"")
        EventIDText.write(event.id, to: &w.bytes)
        w.raw("\",\"time\":")
        w.time(event.occurredAt)
        w.raw(",\"stream\":")
        w.string(event.stream)
        w.raw(",\"version\":")
        w.int(Int64(bitPattern: event.version.value))
        w.raw(",\"position\":")
        w.int(Int64(bitPattern: event.position.value))
        w.raw(",\"recordedAt\":")
        w.time(event.recordedAt)
        w.raw(",\"data\":")
        do {
            try writeData(of: event, knownType: CommerceEventType(name: event.type), to: &w, protector: protector,
                          upcasters: upcasters)
        } catch {
            w.bytes.removeSubrange(start...)  // nothing of a line that fails
            throw error
        }
        let hasMeta = event.withStoredBytes { _, metadata in !metadata.isEmpty }
        if hasMeta {
            let metadata = event.withStoredBytes { _, metadata in Array(metadata) }
            guard let v = try? JSONValue.parse(metadata), case .object(let members) = v,
                  members.allSatisfy({ if case .string = $0.value { true } else { false } })
            else {
                throw CommerceError(.invalidMeta, field: "meta", "event at position \(event.position): stored meta is not a JSON object of strings")
            }
            w.raw(",\"meta\":")
            w.value(v)
        }
        w.byte(UInt8(ascii: "}"))
    }

    /// Appends the `data` of `event`'s export line to `writer`: the decoded
    /// data of a commerce event, its sealed personal data opened with
    /// `protector` (when the key is destroyed or no protector is given,
    /// every PII field is written as `erasedAs`), or the stored JSON object
    /// of an unknown type. `chronik read` and `tail` print events with it.
    ///
    /// - Throws: `CommerceError` (`invalidData`), naming the event's position
    ///   and type, when the data does not decode.
    public static func writeData(of event: RecordedEvent, to w: inout JSONWriter, protector: (any PIIProtector)? = nil,
                                 upcasters: UpcasterRegistry = .standard, erasedAs: StaticString = "null") throws(CommerceError) {
        try writeData(of: event, knownType: CommerceEventType(name: event.type), to: &w, protector: protector,
                      upcasters: upcasters, erasedAs: erasedAs)
    }

    /// `writeData(of:to:protector:upcasters:erasedAs:)` when the caller has
    /// looked the event's type up already (`CommerceEventType(name:)`).
    /// A view is copied out only for data that is not transcoded.
    public static func writeData<E: EventFields>(of view: E, knownType: CommerceEventType?, to w: inout JSONWriter,
                                                 protector: (any PIIProtector)? = nil, upcasters: UpcasterRegistry = .standard,
                                                 erasedAs: StaticString = "null") throws(CommerceError) {
        // Data at the current schema version, or sealed personal data that
        // opens (most events): straight from the stored bytes, no typed value.
        if let known = knownType, view.withStoredBytes({ data, _ in known.transcodeJSON(data, protector: protector, to: &w) }) {
            return
        }
        let event = view.owned
        let typed: CommerceEvent
        let pii: PIIState
        do {
            (typed, pii) = try CommerceEvent.decode(type: event.type, data: event.data, protector: protector, upcasters: upcasters)
        } catch let error as CommerceError {
            var e = error
            e.message = "event at position \(event.position) (\(event.type)): " + e.message
            throw e
        } catch {
            throw CommerceError(.invalidData, "event at position \(event.position) (\(event.type)): personal data cannot be opened: \(error)")
        }
        if case .unknown = typed {
            // Compact form of the stored JSON: the same as stored for what
            // the import wrote, and always a single line. Any JSON value:
            // `chronik append` and `POST /streams` take one that is not an
            // object for a type EVENTS.md does not know, and an export that
            // stopped at it left the rest of the log unexported (stop 33).
            guard let v = try? JSONValue.parse(event.data) else {
                throw CommerceError(.invalidData, "event at position \(event.position) (\(event.type)): data of an unknown type is not JSON")
            }
            w.value(v)
        } else if pii == .erased {
            typed.writeJSONErasingPII(to: &w, erasedAs: erasedAs)
        } else {
            typed.writeJSON(to: &w)
        }
    }
}

/// What an event's JSON is written from: an owned `RecordedEvent`, or an
/// `EventView` borrowed during a read (a subscription's catch-up, `read
/// --json` and `export` encode views: no copy of the data per event).
public protocol EventFields {
    var position: Position { get }
    var stream: String { get }
    var version: StreamVersion { get }
    var id: EventID { get }
    var type: String { get }
    var occurredAt: Timestamp { get }
    var recordedAt: Timestamp { get }
    /// Calls `body` with the stored data and metadata bytes.
    func withStoredBytes<R>(_ body: (_ data: UnsafeRawBufferPointer, _ metadata: UnsafeRawBufferPointer) throws -> R) rethrows -> R
    /// The event as an owned value.
    var owned: RecordedEvent { get }
}

extension RecordedEvent: EventFields {
    public func withStoredBytes<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try data.withUnsafeBytes { d in try metadata.withUnsafeBytes { m in try body(d, m) } }
    }

    public var owned: RecordedEvent { self }
}

extension EventView: EventFields {
    public func withStoredBytes<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(data, metadata)
    }

    public var owned: RecordedEvent { materialize() }
}

extension RecordedEvent {
    /// The typed event (see `CommerceEvent.decode(type:data:)`).
    public var commerce: CommerceEvent {
        get throws(CommerceError) { try CommerceEvent.decode(type: type, data: data) }
    }
}

/// The canonical text of event ids: 8-4-4-4-12 hex digits.
enum EventIDText {
    /// Parses either case; nil unless exactly the canonical form.
    static func parse(_ s: String) -> EventID? {
        var s = s
        return s.withUTF8 { parse(bytes: $0) }
    }

    /// `parse` of the text's UTF-8 bytes. Each digit is looked up in a
    /// table rather than classified by comparisons (stop 48: a UUID's
    /// digits and letters come in no pattern a branch predictor learns;
    /// the parse was 1.7 % of an import).
    static func parse(bytes u: UnsafeBufferPointer<UInt8>) -> EventID? {
        let dash = UInt8(ascii: "-")
        guard u.count == 36, u[8] == dash, u[13] == dash, u[18] == dash, u[23] == dash else { return nil }
        return hexValues.withUnsafeBufferPointer { t -> EventID? in
            var bad: UInt8 = 0
            func digits(_ range: Range<Int>, into v: inout UInt64) {
                for i in range {
                    let d = t[Int(u[i])]
                    bad |= d
                    v = v << 4 | UInt64(d & 0x0F)
                }
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            digits(0..<8, into: &high)
            digits(9..<13, into: &high)
            digits(14..<18, into: &high)
            digits(19..<23, into: &low)
            digits(24..<36, into: &low)
            return bad & 0xF0 == 0 ? EventID(high: high, low: low) : nil
        }
    }

    /// Each byte's hex value, or 0xFF for a byte that is not a hex digit.
    private static let hexValues: [UInt8] = (0..<256).map { c -> UInt8 in
        switch c {
        case 0x30...0x39: UInt8(c - 0x30)
        case 0x61...0x66: UInt8(c - 0x61 + 10)
        case 0x41...0x46: UInt8(c - 0x41 + 10)
        default: 0xFF
        }
    }

    /// Appends the lower-case canonical form: the 32 digits made eight at
    /// a time (`hex8`), stored into a stack buffer with the dashes, then
    /// appended at once.
    static func write(_ id: EventID, to out: inout [UInt8]) {
        let h1 = hex8(UInt32(truncatingIfNeeded: id.high >> 32)), h2 = hex8(UInt32(truncatingIfNeeded: id.high))
        let l1 = hex8(UInt32(truncatingIfNeeded: id.low >> 32)), l2 = hex8(UInt32(truncatingIfNeeded: id.low))
        let dash = UInt8(ascii: "-")
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { b in
            let p = UnsafeMutableRawPointer(b.baseAddress!)
            // 8-4-4-4-12: h1 | h2's first and last four | l1's first four,
            // then l1's last four and l2.
            p.storeBytes(of: h1.littleEndian, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: dash, toByteOffset: 8, as: UInt8.self)
            p.storeBytes(of: UInt32(truncatingIfNeeded: h2).littleEndian, toByteOffset: 9, as: UInt32.self)
            p.storeBytes(of: dash, toByteOffset: 13, as: UInt8.self)
            p.storeBytes(of: UInt32(truncatingIfNeeded: h2 >> 32).littleEndian, toByteOffset: 14, as: UInt32.self)
            p.storeBytes(of: dash, toByteOffset: 18, as: UInt8.self)
            p.storeBytes(of: UInt32(truncatingIfNeeded: l1).littleEndian, toByteOffset: 19, as: UInt32.self)
            p.storeBytes(of: dash, toByteOffset: 23, as: UInt8.self)
            p.storeBytes(of: UInt32(truncatingIfNeeded: l1 >> 32).littleEndian, toByteOffset: 24, as: UInt32.self)
            p.storeBytes(of: l2.littleEndian, toByteOffset: 28, as: UInt64.self)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[0..<36]))
        }
    }

    /// The eight lower-case hex digits of `v` as ASCII bytes, the first
    /// digit in the lowest byte: each nibble spread to a byte, the bytes
    /// put in reading order, then `0`–`9` or `a`–`f` by adding 0x30 and,
    /// for a digit above 9, 0x27 more.
    @inline(__always)
    static func hex8(_ v: UInt32) -> UInt64 {
        var x = UInt64(v)
        x = (x | x << 16) & 0x0000_FFFF_0000_FFFF
        x = (x | x << 8) & 0x00FF_00FF_00FF_00FF
        x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F
        x = x.byteSwapped
        let aboveNine = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return x &+ 0x3030_3030_3030_3030 &+ aboveNine &* 0x27
    }
}

/// The name in `names` a typo of `word` most likely meant: equal but for
/// case, or at most two edits away; nil when none is that close.
public func closestName(to word: String, among names: [String]) -> String? {
    if let same = names.first(where: { $0.lowercased() == word.lowercased() }) { return same }
    let best = names.map { ($0, editDistance(Array(word.lowercased()), Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    if let best, best.1 <= 2 { return best.0 }
    // The start of one name only (stop 38, a newcomer: "PaymentAuth" was
    // told to add a stream, which stores it unguarded).
    guard word.count >= 5 else { return nil }
    let started = names.filter { $0.lowercased().hasPrefix(word.lowercased()) }
    return started.count == 1 ? started[0] : nil
}

/// Levenshtein distance.
public func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    guard !a.isEmpty else { return b.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return row[b.count]
}
