import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikCommerce

// Stop 50: a line of a known type read straight from its bytes
// (`CommerceEnvelope.parseLine`, `JSONBytesDecodingVisitor`), which
// `parseNotingID(line:)` — an import's parse — takes first. Like the fast
// path of the common line it may only say "the strict path gives exactly
// this" or "not sure": each test compares it with the strict path
// (`JSONValue.parse` + `parseNotingID(value:rules:)`).

@Suite struct KnownTypeFastPathTests {
    typealias Parsed = (envelope: CommerceEnvelope, idWasGiven: Bool)

    static func fast(_ line: [UInt8], _ rules: CommerceEnvelope.Rules) -> Result<Parsed, CommerceError>? {
        do throws(CommerceError) {
            let r = try line.withUnsafeBufferPointer { (b) throws(CommerceError) -> Parsed? in
                try CommerceEnvelope.parseLine(buffer: b, rules: rules)
            }
            return r.map { .success($0) }
        } catch {
            return .failure(error)
        }
    }

    /// nil when the fast path is not sure; else whether it agreed with the
    /// strict path (the id and time the line gives, so nothing is made up).
    static func agrees(_ line: [UInt8], _ rules: CommerceEnvelope.Rules) -> Bool? {
        guard let fast = fast(line, rules) else { return nil }
        switch (fast, EnvelopeFastPathTests.strict(line, rules)) {
        case (.success(let f), .success(let s)): return f.envelope == s && f.idWasGiven
        case (.failure(let f), .failure(let s)): return f == s
        default: return false
        }
    }

    /// An export's line of `event` (its data as `writeJSON` writes it, in
    /// schema order).
    static func exportLine(_ event: CommerceEvent, _ i: Int) -> [UInt8] {
        var w = JSONWriter()
        event.writeJSON(to: &w)
        let id = String(format: "6f9619ff-8b86-d011-b42d-%012x", i)
        return Array(#"{"type":"\#(event.type)","id":"\#(id)","time":"2024-05-01T10:00:00.123Z","stream":"\#(event.derivedStream ?? "s-1")","version":\#(i % 7),"position":\#(i),"recordedAt":"2024-05-01T10:00:00.500Z","data":"#.utf8)
            + w.bytes + Array("}".utf8)
    }

    @Test(arguments: ["importing", "commerce", "engine"])
    func everyExportLineTakesTheFastPathAndGivesTheStrictResult(_ name: String) async throws {
        // Proves on random instances of every type (escapes, non-ASCII, absent optionals, maps, nested objects and arrays) that the fast path answers for every export line and gives the strict path's envelope, or the strict path's validation error.
        let rules: CommerceEnvelope.Rules = name == "importing" ? .importing : name == "commerce" ? .commerce : .engine
        let seed = UInt64.random(in: 0...UInt64.max)
        let (lines, unsure, disagreements) = try await onOwnThread {
            var fill = RandomFill(rng: SplitMix64(seed: seed))
            var lines = 0, unsure = 0, disagreements: [String] = []
            for t in CommerceEventType.allCases {
                for _ in 0..<60 {
                    let line = Self.exportLine(try fill.make(t.payloadType), lines)
                    lines += 1
                    switch Self.agrees(line, rules) {
                    case nil: unsure += 1; if disagreements.count < 5 { disagreements.append("unsure: " + String(decoding: line, as: UTF8.self)) }
                    case false?: if disagreements.count < 5 { disagreements.append(String(decoding: line, as: UTF8.self)) }
                    case true?: break
                    }
                }
            }
            return (lines, unsure, disagreements)
        }
        #expect(lines == CommerceEventType.allCases.count * 60)
        #expect(unsure == 0 && disagreements.isEmpty, "seed \(seed), \(name): \(disagreements)")
    }

    @Test func changedExportLinesGiveTheStrictResultOrAreLeftToIt() async throws {
        // Proves on export lines of every type with one byte changed, inserted or removed (quotes, escapes, digits, signs, braces, null's letters, invalid UTF-8) that whenever the fast path answers, its envelope or error is the strict path's.
        let seed = UInt64.random(in: 0...UInt64.max)
        let (answered, disagreements) = try await onOwnThread {
            var fill = RandomFill(rng: SplitMix64(seed: seed))
            var rng = SplitMix64(seed: seed &+ 1)
            let bytes: [UInt8] = Array(#" "\,:{}[]0-1.eEnulltrfa"#.utf8) + [0x09, 0x0A, 0x00, 0x7F, 0xC3, 0xA9, 0xFF, 0x80]
            var answered = 0, disagreements: [String] = []
            var i = 0
            for t in CommerceEventType.allCases {
                for _ in 0..<150 {
                    var line = Self.exportLine(try fill.make(t.payloadType), i)
                    i += 1
                    let at = Int.random(in: 0..<line.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: line[at] = bytes.randomElement(using: &rng)!
                    case 1: line.insert(bytes.randomElement(using: &rng)!, at: at)
                    default: line.remove(at: at)
                    }
                    guard let ok = Self.agrees(line, .importing) else { continue }
                    answered += 1
                    if !ok, disagreements.count < 5 { disagreements.append(String(decoding: line, as: UTF8.self)) }
                }
            }
            return (answered, disagreements)
        }
        #expect(disagreements.isEmpty, "seed \(seed): \(disagreements)")
        // Most changes inside a value still read (a letter of a text).
        #expect(answered > 0)
    }

    @Test func whatTheFastPathLeavesToTheStrictPath() throws {
        // Proves the fast path says "not sure" for a null (an erased field), members out of schema order, an unknown or repeated member, a number the strict path reads otherwise (-0, 1.0, beyond 64 bits), an escaped key or time, the type after the data, and a known type without a time — and that the strict path then decides.
        let base = #"{"type":"StockReceived","id":"6f9619ff-8b86-d011-b42d-00c04fc96401","time":"2024-05-01T10:00:00Z","data":"#
        let fine = base + #"{"sku":"p-1","warehouseId":"wh-1","qty":5,"purchaseOrderId":"po-9"}}"#
        #expect(Self.agrees(Array(fine.utf8), .importing) == true)
        let unsure = [
            base + #"{"sku":"p-1","warehouseId":"wh-1","qty":5,"purchaseOrderId":null}}"#,
            base + #"{"warehouseId":"wh-1","sku":"p-1","qty":5}}"#,
            base + #"{"sku":"p-1","warehouseId":"wh-1","qty":5,"colour":"red"}}"#,
            base + #"{"sku":"p-1","sku":"p-2","warehouseId":"wh-1","qty":5}}"#,
            base + #"{"sku":"p-1","warehouseId":"wh-1","qty":-0}}"#,
            base + #"{"sku":"p-1","warehouseId":"wh-1","qty":5.0}}"#,
            base + #"{"sku":"p-1","warehouseId":"wh-1","qty":92233720368547758070}}"#,
            base + #"{"sku":"p-1","warehouse\u0049d":"wh-1","qty":5}}"#,
            base + #"{"sku":"p-1","warehouseId":"wh-1","qty":"5"}}"#,
            #"{"type":"StockReceived","time":"2024-05-01T10:00:00\u005a","data":{"sku":"p-1","warehouseId":"wh-1","qty":5}}"#,
            #"{"data":{"sku":"p-1","warehouseId":"wh-1","qty":5},"type":"StockReceived","time":"2024-05-01T10:00:00Z"}"#,
            #"{"type":"StockReceived","data":{"sku":"p-1","warehouseId":"wh-1","qty":5}}"#,
            #"{"type":"CustomerUpdated","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-7","email":null}}"#,
            #"{"type":"OrderShipped","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-1","shipmentId":"sh-1","warehouseId":"wh-1","carrier":"DHL","lines":[{"qty":2,"sku":"p-1"}]}}"#,
        ]
        for text in unsure {
            #expect(Self.fast(Array(text.utf8), .importing) == nil, "\(text)")
        }
        // Through `parseNotingID(line:)`, what the strict path says.
        let repeated = Array(unsure[3].utf8)
        #expect(throws: CommerceError.self) { try CommerceEnvelope.parseNotingID(line: repeated, rules: .importing) }
        let erased = try CommerceEnvelope.parseNotingID(line: Array(unsure[12].utf8), rules: .importing)
        #expect(erased.envelope.erasure != nil)
    }

    @Test func theSamplesOfEveryTypeTakeTheFastPathWithWhitespaceAndExportMembers() throws {
        // Proves each hand-written sample (EVENTS.md's shapes, escapes, non-ASCII) reads through the fast path as the strict path reads it, compact and with whitespace between every token, with an export's version, position and recordedAt.
        for (type, data) in sampleData {
            let compact = importLine(type, data, id: "6f9619ff-8b86-d011-b42d-00c04fc96401",
                                     extra: #","version":3,"position":12,"recordedAt":"2024-05-01T10:00:00.500Z""#)
            #expect(Self.agrees(Array(compact.utf8), .importing) == true, "\(type)")
            // Whitespace after every structural character outside strings.
            var spaced: [UInt8] = []
            var inString = false, escaped = false
            for b in compact.utf8 {
                spaced.append(b)
                if inString {
                    if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                } else if b == UInt8(ascii: "\"") {
                    inString = true
                } else if [UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(b) {
                    spaced.append(contentsOf: Array(" \t\r\n".utf8))
                }
            }
            #expect(Self.agrees(spaced, .importing) == true, "\(type) spaced")
        }
    }
}
