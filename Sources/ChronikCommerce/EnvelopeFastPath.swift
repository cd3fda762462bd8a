// The fast path of the envelope parser for the common line of
// `chronik append` (and an event of `POST /streams/{stream}`): a type
// EVENTS.md does not know, its `data` read straight from the line's bytes
// into the stored compact form (keys sorted when the rules say so) without
// a `JSONValue` tree and without re-encoding.
//
// It may only say "the strict path gives exactly this" or "not sure"
// (nil): anything it does not recognise — a known type, an escape that is
// not the writer's own, a non-ASCII or escaped key in `data`, an export-only
// or unknown envelope key, invalid JSON of any kind — goes to the strict
// path (`JSONValue.parse` + `parseNotingID(value:rules:)`), which then gives
// the event or the error with its message. Once the line's members are read,
// both paths end in the same code (`finish`), so the envelope's own
// validation and its errors are the strict path's.

extension CommerceEnvelope {
    /// `parseNotingID(value: JSONValue.parse(line), rules: rules)` for a
    /// line of an unknown type whose every part the fast path recognises,
    /// or nil when the caller must take the strict path (which then gives
    /// the same event, or the error).
    ///
    /// - Throws: only what the strict path throws for the same line (the
    ///   envelope's validation after the members are read).
    public static func parseCommonLine(_ line: ArraySlice<UInt8>, rules: Rules) throws(CommerceError)
        -> (envelope: CommerceEnvelope, idWasGiven: Bool)? {
        let r = line.withUnsafeBufferPointer { buf in
            Result { () throws(CommerceError) -> (envelope: CommerceEnvelope, idWasGiven: Bool)? in
                try parseCommonLine(buffer: buf, rules: rules)
            }
        }
        return try r.get()
    }

    /// The envelope keys the fast path reads (the export-only ones go to the
    /// strict path).
    private enum FastKey: UInt16 {
        case type = 1, id = 2, time = 4, data = 8, meta = 16, stream = 32, expectedVersion = 64
        /// An export's; taken only with `knownTypes` (`parseLine`).
        case version = 128, position = 256, recordedAt = 512

        var exportOnly: Bool { rawValue >= FastKey.version.rawValue }
    }

    static func parseCommonLine(buffer: UnsafeBufferPointer<UInt8>, rules: Rules) throws(CommerceError)
        -> (envelope: CommerceEnvelope, idWasGiven: Bool)? {
        var p = JSONParser(buffer)
        p.skipWhitespace()
        var noScratch: CompactJSONCopier.Scratch? = nil
        guard let members = parseCommonEvent(&p, depth: 1, rules: rules, scratch: &noScratch) else { return nil }
        p.skipWhitespace()
        // The whole line first: the strict path refuses bytes after the
        // object before it looks at the members.
        guard p.index == buffer.count else { return nil }
        return try members.envelope(rules: rules, defaultStream: nil)
    }

    /// `parseNotingID(value: JSONValue.parse(line), rules: rules)` for a
    /// line the fast path recognises — of an unknown type as
    /// `parseCommonLine` reads it, or of a known type in an export's shape
    /// (its data's members in schema order, `JSONBytesDecodingVisitor`;
    /// `version`, `position` and `recordedAt` allowed) — or nil when the
    /// caller must take the strict path (which then gives the same event, or
    /// the error). `parseNotingID(line:)` takes it first (stop 50).
    ///
    /// - Throws: only what the strict path throws for the same line (the
    ///   envelope's validation after the members are read).
    static func parseLine(buffer: UnsafeBufferPointer<UInt8>, rules: Rules) throws(CommerceError)
        -> (envelope: CommerceEnvelope, idWasGiven: Bool)? {
        var p = JSONParser(buffer)
        p.skipWhitespace()
        var noScratch: CompactJSONCopier.Scratch? = nil
        guard let members = parseCommonEvent(&p, depth: 1, rules: rules, scratch: &noScratch, knownTypes: true) else { return nil }
        p.skipWhitespace()
        guard p.index == buffer.count else { return nil }
        return try members.envelope(rules: rules, defaultStream: nil)
    }

    /// The events of a JSON array of lines — the body of
    /// `POST /streams/{stream}`, where an event without `stream` takes
    /// `defaultStream` (as if the member were added after its others) —
    /// when every one takes the fast path and passes the envelope's
    /// validation; nil for anything else (an empty array too): the strict
    /// path then gives the events or the error.
    public static func parseCommonArray(_ bytes: [UInt8], rules: Rules, defaultStream: String?) -> [CommerceEnvelope]? {
        bytes.withUnsafeBufferPointer { buffer -> [CommerceEnvelope]? in
            var p = JSONParser(buffer)
            p.skipWhitespace()
            guard p.index < buffer.count, buffer[p.index] == UInt8(ascii: "[") else { return nil }
            p.index += 1
            var events: [CommerceEnvelope] = []
            // One set of buffers for the copies of every event's data: each
            // event then allocates only its data's exact bytes.
            var scratch: CompactJSONCopier.Scratch? = CompactJSONCopier.Scratch()
            while true {
                p.skipWhitespace()
                // Depth 2: the array is depth 1 (`JSONParser` counts from the body).
                guard let members = parseCommonEvent(&p, depth: 2, rules: rules, scratch: &scratch) else { return nil }
                let envelope: CommerceEnvelope
                do { envelope = try members.envelope(rules: rules, defaultStream: defaultStream).envelope } catch { return nil }
                events.append(envelope)
                p.skipWhitespace()
                guard p.index < buffer.count else { return nil }
                if buffer[p.index] == UInt8(ascii: ",") { p.index += 1; continue }
                guard buffer[p.index] == UInt8(ascii: "]") else { return nil }
                p.index += 1
                break
            }
            p.skipWhitespace()
            return p.index == buffer.count ? events : nil
        }
    }

    /// What the fast path read of one event: an unknown type, its data in
    /// the stored form, or (`parseLine`) a known type, its data decoded.
    struct CommonMembers {
        var id: EventID?
        var time: Timestamp?
        var event: CommerceEvent
        var meta: [JSONMember]
        var stream: String?
        var expected: ExpectedVersion

        /// The envelope's own validation, as the strict path ends
        /// (`finish`); an event without `stream` takes `defaultStream`.
        func envelope(rules: Rules, defaultStream: String?) throws(CommerceError) -> (envelope: CommerceEnvelope, idWasGiven: Bool) {
            try CommerceEnvelope.finish(event, erasure: nil, id: id, time: time, meta: meta,
                       stream: stream ?? defaultStream, expected: expected, rules: rules)
        }
    }

    /// The members of the object at `p.index` (at nesting `depth`, as
    /// `JSONParser` counts it), `p.index` then past its closing brace; nil
    /// when not sure.
    ///
    /// - Parameter scratch: nil for one line: its data is copied into an
    ///   array reserved for the rest of the line, which the event keeps.
    ///   Buffers, for the events of one request body: the data is copied
    ///   into them and the event gets an array of exactly its bytes (an
    ///   array reserved for the rest of a 1,000-event body made each event
    ///   allocate and keep ~165 KB on average: Benchmarks/README.md, "Stop
    ///   20").
    /// - Parameter knownTypes: also a known type whose data the bytes visitor
    ///   reads (no `null` in it: an erased field is the strict path's), and
    ///   the export's members (`parseLine`).
    static func parseCommonEvent(_ p: inout JSONParser, depth: Int, rules: Rules,
                                 scratch: inout CompactJSONCopier.Scratch?, knownTypes: Bool = false) -> CommonMembers? {
        let buffer = p.buf
        guard p.index < buffer.count, buffer[p.index] == UInt8(ascii: "{") else { return nil }
        p.index += 1
        var type: String?
        /// `type`'s, when EVENTS.md knows it.
        var knownType: CommerceEventType?
        var id: EventID?
        var time: Timestamp?
        var data: [UInt8]?
        var known: CommerceEvent?
        var meta: [JSONMember] = []
        var stream: String?
        var expected = ExpectedVersion.any
        var seen: UInt16 = 0
        while true {
            p.skipWhitespace()
            guard let key = envelopeKey(&p), seen & key.rawValue == 0, knownTypes || !key.exportOnly else { return nil }
            seen |= key.rawValue
            p.skipWhitespace()
            guard p.index < buffer.count, buffer[p.index] == UInt8(ascii: ":") else { return nil }
            p.index += 1
            p.skipWhitespace()
            guard p.index < buffer.count else { return nil }
            switch key {
            case .type:
                guard buffer[p.index] == UInt8(ascii: "\""), let s = try? p.string() else { return nil }
                type = s
                knownType = CommerceEventType(name: s)
            case .id:
                guard buffer[p.index] == UInt8(ascii: "\"") else { return nil }
                // 36 bytes of hex digits and dashes between the quotes hold
                // no escape: read in place, no string made.
                if p.index + 37 < buffer.count, buffer[p.index + 37] == UInt8(ascii: "\""),
                   let parsed = EventIDText.parse(bytes: UnsafeBufferPointer(rebasing: buffer[(p.index + 1)..<(p.index + 37)])) {
                    p.index += 38
                    id = parsed
                } else {
                    guard let s = try? p.string(), let parsed = EventIDText.parse(s) else { return nil }
                    id = parsed
                }
            case .time:
                guard let t = JSONBytesDecodingVisitor.time(&p) else { return nil }
                time = t
            case .recordedAt:
                guard JSONBytesDecodingVisitor.time(&p) != nil else { return nil }
            case .version, .position:
                // An integer ≥ 0 within 64 bits, as the strict path takes it.
                guard buffer[p.index] &- 48 < 10, let v = try? p.number(), case .int = v else { return nil }
            case .stream:
                guard buffer[p.index] == UInt8(ascii: "\""), let s = try? p.string() else { return nil }
                stream = s
            case .data where knownTypes && knownType != nil:
                // The type came first (as an export writes it): its data read
                // into its value, no tree.
                guard let e = CommerceEvent.decodeInPlace(knownType!, &p, depth: depth + 1) else { return nil }
                known = e
            case .data:
                // On nil the whole parse answers nil: the buffers may go.
                var c = CompactJSONCopier(p, sortKeys: rules.sortedKeys, scratch: scratch.take())
                guard c.value(depth: depth) else { return nil }
                p.index = c.p.index
                // Moved, not copied (a copy of its buffers and a release of
                // each per event: stop 21's profile).
                let copied = (consume c).finish()
                data = copied.value
                scratch = copied.scratch
            case .meta:
                guard let v = try? p.value(depth: depth), case .object(let d) = v else { return nil }
                for x in d {
                    guard case .string = x.value else { return nil }
                }
                meta = d
            case .expectedVersion:
                guard let v = try? p.value(depth: depth), let e = try? expectedVersion(v) else { return nil }
                expected = e
            }
            p.skipWhitespace()
            guard p.index < buffer.count else { return nil }
            if buffer[p.index] == UInt8(ascii: ",") { p.index += 1; continue }
            guard buffer[p.index] == UInt8(ascii: "}") else { return nil }
            p.index += 1
            break
        }
        guard let type else { return nil }
        if let known {
            // The strict path refuses a known type without a time.
            guard time != nil else { return nil }
            return CommonMembers(id: id, time: time, event: known, meta: meta, stream: stream, expected: expected)
        }
        guard let data, knownType == nil else { return nil }
        // The stored form of an object starts with its brace, and only then.
        if !rules.unknownDataAnyValue, data.first != UInt8(ascii: "{") { return nil }
        return CommonMembers(id: id, time: time, event: .unknown(type: type, data: data), meta: meta, stream: stream,
                             expected: expected)
    }

    /// The key at `p.index` when it is one of `FastKey` written as plain
    /// ASCII (no escape), the index past its closing quote; else nil.
    private static func envelopeKey(_ p: inout JSONParser) -> FastKey? {
        let buf = p.buf
        let start = p.index + 1
        guard let i = plainKeyEnd(buf, at: p.index, below: 0x80) else { return nil }
        p.index = i + 1
        let key = UnsafeBufferPointer(rebasing: buf[start..<i])
        func equals(_ s: StaticString) -> Bool {
            key.count == s.utf8CodeUnitCount && memcmpEqual(s.utf8Start, key.baseAddress!, key.count)
        }
        switch key.count {
        case 2: return equals("id") ? .id : nil
        case 4: return equals("type") ? .type : equals("time") ? .time : equals("data") ? .data : equals("meta") ? .meta : nil
        case 6: return equals("stream") ? .stream : nil
        case 7: return equals("version") ? .version : nil
        case 8: return equals("position") ? .position : nil
        case 10: return equals("recordedAt") ? .recordedAt : nil
        case 15: return equals("expectedVersion") ? .expectedVersion : nil
        default: return nil
        }
    }
}

/// Copies one JSON value from the input into its stored compact form —
/// the bytes `JSONValue.parse` then `compactBytes` (or, with `sortKeys`,
/// `compactBytesSortingKeys`) would give — when it can be sure of them:
/// whitespace between tokens dropped, numbers and literals as written
/// (the strict parser keeps a number's literal, and an Int64 is written
/// back as it reads), strings copied when their escapes are the writer's
/// own (`\" \\ \b \f \n \r \t`, `\u00xx` lower-case for the other control
/// characters), object keys in printable ASCII without escapes (so byte
/// order is `String` order and byte equality is `String` equality).
/// `value` returns false for anything else, valid or not: the caller then
/// takes the strict path.
struct CompactJSONCopier {
    var p: JSONParser
    var out: [UInt8] = []
    let sortKeys: Bool
    /// The members of the objects being copied, innermost last: each key's
    /// range in the input and its member's range (`"key":value`) in `out`.
    private var members: [(keyStart: Int, keyEnd: Int, outStart: Int, outEnd: Int)] = []
    /// The members of an object as written, while they are put in key order.
    private var unsorted: [UInt8] = []

    /// A copier's buffers, emptied with their capacity kept, for the next
    /// copier (the next event of a request body).
    struct Scratch {
        fileprivate var out: [UInt8] = []
        fileprivate var members: [(keyStart: Int, keyEnd: Int, outStart: Int, outEnd: Int)] = []
        fileprivate var unsorted: [UInt8] = []

        /// Where `out` keeps its bytes (tests: one buffer serves every
        /// event of a body, none is allocated per event).
        var outStorage: UnsafeRawPointer? { out.withUnsafeBytes { $0.baseAddress } }
        /// How many bytes `out` holds without growing.
        var outCapacity: Int { out.capacity }
    }

    /// Whether `out` is a scratch buffer (`finish` copies it out).
    private let reused: Bool

    /// A copier writing into the buffers an earlier one left, or, without
    /// them (one line: the copy is most of it), into an `out` reserved for
    /// the rest of the input.
    ///
    /// The buffers are swapped in, not copied: a copy left each array
    /// shared with `scratch`, so emptying it "keeping its capacity" could
    /// allocate a new one of that capacity for every event of a body (it
    /// does in a debug build: `theCopiersBuffersAreReusedNotReallocated…`;
    /// in release no difference was measurable, Benchmarks/README.md,
    /// "Stop 21").
    init(_ parser: JSONParser, sortKeys: Bool, scratch: consuming Scratch? = nil) {
        p = parser
        self.sortKeys = sortKeys
        if var given = scratch.take() {
            reused = true
            swap(&out, &given.out)
            swap(&members, &given.members)
            swap(&unsorted, &given.unsorted)
            out.removeAll(keepingCapacity: true)
            members.removeAll(keepingCapacity: true)
        } else {
            reused = false
            out.reserveCapacity(parser.buf.count - parser.index)
        }
    }

    /// The copied value, and the buffers for the next copier when they
    /// were given: then the value is an array of exactly its bytes.
    consuming func finish() -> (value: [UInt8], scratch: Scratch?) {
        guard reused else { return (out, nil) }
        let value = Array(unsafeUninitializedCapacity: out.count) { into, count in count = into.initialize(fromContentsOf: out) }
        return (value, Scratch(out: out, members: members, unsorted: unsorted))
    }

    /// The value at `p.index`, at nesting `depth` as `JSONParser.value`
    /// counts it; false when not sure.
    mutating func value(depth: Int) -> Bool {
        let buf = p.buf
        guard p.index < buf.count else { return false }
        switch buf[p.index] {
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "{"): return object(depth: depth + 1)
        case UInt8(ascii: "["): return array(depth: depth + 1)
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        default: return false
        }
    }

    private mutating func copy(from start: Int) {
        out.append(contentsOf: UnsafeBufferPointer(rebasing: p.buf[start..<p.index]))
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard p.index + n <= p.buf.count, memcmpEqual(word.utf8Start, p.buf.baseAddress! + p.index, n) else { return false }
        let start = p.index
        p.index += n
        copy(from: start)
        return true
    }

    /// RFC 8259's number grammar, as `JSONParser.number` checks it.
    private mutating func number() -> Bool {
        let buf = p.buf
        let start = p.index
        var i = p.index
        @inline(__always) func digit(_ i: Int) -> Bool { i < buf.count && buf[i] &- 48 < 10 }
        if buf[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { return false }
        if buf[i] == UInt8(ascii: "0") {
            i += 1
            if digit(i) { return false }
        } else {
            while digit(i) { i += 1 }
        }
        if i < buf.count, buf[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < buf.count, buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E") {
            // The strict parser decides whether it is within a double's range.
            return false
        }
        // So does it for a run of digits that might not be (a double holds
        // up to 309 integral digits).
        guard i - start <= 300 else { return false }
        p.index = i
        copy(from: start)
        return true
    }

    /// A string whose bytes are already those the writer gives for it.
    private mutating func string() -> Bool {
        let buf = p.buf
        let start = p.index
        var i = p.index + 1
        while i < buf.count {
            // Eight plain bytes at a time (stop 21: this scan, byte by
            // byte, was ~4 % of a 1,000-event request's server CPU).
            while buf.count - i >= 8, JSONWord.allPlain(UnsafeRawPointer(buf.baseAddress! + i).loadUnaligned(as: UInt64.self)) { i += 8 }
            guard i < buf.count else { break }
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                p.index = i + 1
                copy(from: start)
                return true
            }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < buf.count else { return false }
                switch buf[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                     UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    // Only `\u00xx` of a control character the writer
                    // spells that way (lower-case hex).
                    guard i + 5 < buf.count, buf[i + 2] == UInt8(ascii: "0"), buf[i + 3] == UInt8(ascii: "0") else { return false }
                    let high = buf[i + 4], low = buf[i + 5]
                    guard high == UInt8(ascii: "0") || high == UInt8(ascii: "1") else { return false }
                    let lowValue: UInt8
                    switch low {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): lowValue = low - 48
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): lowValue = low - 87
                    default: return false
                    }
                    let scalar = (high - 48) << 4 | lowValue
                    guard scalar != 0x08, scalar != 0x09, scalar != 0x0A, scalar != 0x0C, scalar != 0x0D else { return false }
                    i += 6
                default:
                    return false
                }
            } else if c < 0x20 {
                return false
            } else if c < 0x80 {
                i += 1
            } else {
                let n = p.utf8SequenceLength(at: i)
                guard n > 0 else { return false }
                i += n
            }
        }
        return false
    }

    private mutating func array(depth: Int) -> Bool {
        guard depth <= JSONParser.maxDepth else { return false }
        p.index += 1  // [
        out.append(UInt8(ascii: "["))
        p.skipWhitespace()
        if p.index < p.buf.count, p.buf[p.index] == UInt8(ascii: "]") {
            p.index += 1
            out.append(UInt8(ascii: "]"))
            return true
        }
        while true {
            p.skipWhitespace()
            guard value(depth: depth) else { return false }
            p.skipWhitespace()
            guard p.index < p.buf.count else { return false }
            let c = p.buf[p.index]
            p.index += 1
            out.append(c)
            if c == UInt8(ascii: ",") { continue }
            return c == UInt8(ascii: "]")
        }
    }

    private mutating func object(depth: Int) -> Bool {
        guard depth <= JSONParser.maxDepth else { return false }
        let buf = p.buf
        p.index += 1  // {
        out.append(UInt8(ascii: "{"))
        let contentStart = out.count
        let base = members.count
        defer { members.removeSubrange(base...) }
        p.skipWhitespace()
        if p.index < buf.count, buf[p.index] == UInt8(ascii: "}") {
            p.index += 1
            out.append(UInt8(ascii: "}"))
            return true
        }
        var ascending = true
        while true {
            p.skipWhitespace()
            // The key: printable ASCII without escapes.
            let keyStart = p.index + 1
            guard let keyEnd = plainKeyEnd(buf, at: p.index, below: 0x7F) else { return false }
            let outStart = out.count
            p.index = keyEnd + 1
            copy(from: keyStart - 1)
            p.skipWhitespace()
            guard p.index < buf.count, buf[p.index] == UInt8(ascii: ":") else { return false }
            p.index += 1
            out.append(UInt8(ascii: ":"))
            p.skipWhitespace()
            guard value(depth: depth) else { return false }
            if ascending, members.count > base {
                let last = members[members.count - 1]
                if !Self.less(buf, last.keyStart, last.keyEnd, keyStart, keyEnd) { ascending = false }
            }
            members.append((keyStart, keyEnd, outStart, out.count))
            p.skipWhitespace()
            guard p.index < buf.count else { return false }
            let c = buf[p.index]
            p.index += 1
            if c == UInt8(ascii: ",") { out.append(c); continue }
            guard c == UInt8(ascii: "}") else { return false }
            break
        }
        if !ascending {
            // Sorted to find duplicates (which the strict parser refuses),
            // and when asked, to write the members in key order.
            members[base...].sort { Self.less(buf, $0.keyStart, $0.keyEnd, $1.keyStart, $1.keyEnd) }
            for k in (base + 1)..<members.count
            where !Self.less(buf, members[k - 1].keyStart, members[k - 1].keyEnd, members[k].keyStart, members[k].keyEnd) {
                return false
            }
            if sortKeys {
                // Through buffer pointers: an `ArraySlice` per member was a
                // retain and a release each.
                unsorted.removeAll(keepingCapacity: true)
                out.withUnsafeBufferPointer { unsorted.append(contentsOf: UnsafeBufferPointer(rebasing: $0[contentStart...])) }
                out.removeSubrange(contentStart...)
                unsorted.withUnsafeBufferPointer { written in
                    for k in base..<members.count {
                        if k > base { out.append(UInt8(ascii: ",")) }
                        let m = members[k]
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: written[(m.outStart - contentStart)..<(m.outEnd - contentStart)]))
                    }
                }
            }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// Byte order of two keys in the input (ASCII: `String` order).
    @inline(__always)
    private static func less(_ buf: UnsafeBufferPointer<UInt8>, _ a0: Int, _ a1: Int, _ b0: Int, _ b1: Int) -> Bool {
        let n = min(a1 - a0, b1 - b0)
        var i = 0
        while i < n {
            let x = buf[a0 + i], y = buf[b0 + i]
            if x != y { return x < y }
            i += 1
        }
        return a1 - a0 < b1 - b0
    }
}

/// The index of the closing quote of the key whose opening quote is at
/// `index`, when every byte between is printable ASCII below `limit` and
/// not a backslash (no escapes); else nil (no quote at `index`, another
/// byte, or no closing quote). The envelope's keys take `0x80`, a data
/// member's key `0x7F` (where byte order is `String` order).
func plainKeyEnd(_ buf: UnsafeBufferPointer<UInt8>, at index: Int, below limit: UInt8) -> Int? {
    guard index < buf.count, buf[index] == UInt8(ascii: "\"") else { return nil }
    var i = index + 1
    while i < buf.count, buf[i] != UInt8(ascii: "\"") {
        let c = buf[i]
        guard c >= 0x20, c < limit, c != UInt8(ascii: "\\") else { return nil }
        i += 1
    }
    return i < buf.count ? i : nil
}
