import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikCommerce

// Stop 19: the fast path of the envelope parser (`parseCommonLine`) may only
// say "the strict path gives exactly this" or "not sure". Each test compares
// it with the strict path (`JSONValue.parse` + `parseNotingID(value:rules:)`)
// on generated lines: the same envelope (event, data and meta bytes, stream,
// expected version, id, time), or the same error, whenever it answers.


/// Lines of every shape the fast path must either get right or leave alone.
private struct LineGenerator {
    var rng: SplitMix64

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }

    /// Whitespace the strict parser skips (and, rarely, what it refuses).
    mutating func ws() -> String {
        guard chance(0.15) else { return "" }
        return pick([" ", "  ", "\t", "\r\n", "\n", " \u{0B}", "\u{A0}"])
    }

    mutating func key() -> String {
        pick(["a", "b", "note", "seq", "author", "tags", "channel", "priority", "text", "Z", "z", "a1", "a_", "A",
              "é", "ä", "K", "\u{212A}", "e\u{301}", "", "a b", "~", "key\\u0041", "n\\\"q", "x\\/y", "\\u00e9", "a\\tb"])
    }

    /// A JSON string literal (with quotes), canonical or not, valid or not.
    mutating func stringLiteral() -> String {
        pick(["\"plain text\"", "\"\"", "\"customer asked about delivery\"", "\"lorem ipsum dolor sit amet\"",
              "\"quote \\\" and backslash \\\\\"", "\"tab\\tnew\\nline\\r\\b\\f\"", "\"ctl \\u0001 \\u001f \\u0000\"",
              "\"upper \\u001F\"", "\"short as long \\u0008 \\u000a\"", "\"slash \\/\"", "\"A as \\u0041\"",
              "\"é as \\u00e9\"", "\"surrogates \\ud83d\\ude00\"", "\"lone \\ud83d\"", "\"bad \\x\"", "\"grüße 😀 日本\"",
              "\"raw\u{01}ctl\"", "\"card 4111 1111 1111 1111\"", "\"4111111111111111\"", "\"unterminated",
              "\"e\u{301}\"", "\"\u{212A}elvin\"", "\"trailing \\\""])
    }

    mutating func numberLiteral() -> String {
        pick(["0", "-0", "1", "-1", "42", "1.5", "-0.25", "1e3", "1E+3", "2.5e-7", "-1.0E10", "9223372036854775807",
              "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
              "00", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "1.2.3", "NaN", "Infinity", String(int(0...1_000_000))])
    }

    mutating func value(depth: Int) -> String {
        let r = int(0...99)
        if depth > 4 || r < 30 { return stringLiteral() }
        if r < 50 { return numberLiteral() }
        if r < 56 { return pick(["true", "false", "null", "tru", "nul", "True"]) }
        if r < 70 {
            let n = int(0...4)
            let items = (0..<n).map { _ in ws() + value(depth: depth + 1) + ws() }
            return "[" + items.joined(separator: ",") + (chance(0.02) ? ",]" : "]")
        }
        return object(depth: depth + 1)
    }

    /// An object: often sorted (as the stored form), else unsorted, with
    /// duplicates now and then.
    mutating func object(depth: Int) -> String {
        let n = int(0...6)
        var keys = (0..<n).map { _ in key() }
        if chance(0.5) { keys = Array(Set(keys)).sorted() }
        if chance(0.05), let k = keys.first { keys.append(k) }
        let members = keys.map { k in ws() + "\"" + k + "\"" + ws() + ":" + ws() + value(depth: depth) + ws() }
        return "{" + members.joined(separator: ",") + (chance(0.02) ? ",}" : "}")
    }

    /// The data of the benchmark (gen-generic.py), unsorted, compact.
    mutating func genericData() -> String {
        let i = int(0...1_000_000)
        return #"{"note":"customer asked about delivery window and gift wrapping options","seq":\#(i),"author":"agent-\#(i % 97)","tags":["support","delivery","wrap"],"channel":"email","priority":\#(i % 5),"text":"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"}"#
    }

    /// One line and whether it names a `time` (else the event's time is
    /// "now", which differs between two parses).
    mutating func line() -> (bytes: [UInt8], hasTime: Bool) {
        var members: [(String, String)] = []
        var hasTime = false
        if !chance(0.03) {
            members.append(("type", pick(["\"Noted\"", "\"Noted\"", "\"note.added\"", "\"x\"", "\"\"", "\"ProductCreated\"",
                                          "\"CustomerRegistered\"", "\"OrderCancelled\"", "\"No\\u0074ed\"", "\"Grüße\"", "3",
                                          "null", "\"" + String(repeating: "t", count: 257) + "\""])))
        }
        if !chance(0.03) {
            members.append(("data", chance(0.4) ? genericData() : chance(0.8) ? object(depth: 1) : value(depth: 1)))
        }
        if chance(0.6) { members.append(("stream", pick(["\"s-1\"", "\"s-2\"", "\"\"", "7", "\"order-o-1\"", "\"s\\u002d1\"",
                                                          "\"" + String(repeating: "s", count: 257) + "\""]))) }
        if chance(0.3) {
            members.append(("id", pick(["\"6f9619ff-8b86-d011-b42d-00c04fc96401\"", "\"6F9619FF-8B86-D011-B42D-00C04FC96402\"",
                                        "\"not-a-uuid\"", "12", "\"6f9619ff8b86d011b42d00c04fc96401\""])))
        }
        if chance(0.3) {
            hasTime = true
            members.append(("time", pick(["\"2024-05-01T10:00:00Z\"", "\"2024-05-01T10:00:00.123Z\"", "\"2024-05-01T12:00:00+02:00\"",
                                          "\"yesterday\"", "0"])))
        }
        if chance(0.25) {
            members.append(("meta", pick([#"{"actor":"ana","source":"import"}"#, #"{"source":"x","actor":"ana"}"#, "{}",
                                          #"{"actor":1}"#, "[]", #"{"note":"4111 1111 1111 1111"}"#, #"{"a":"x","a":"y"}"#,
                                          #"{"é":"\u00e9","b":"\n"}"#, #"{"4111111111111111":"x"}"#])))
        }
        if chance(0.15) {
            members.append(("expectedVersion", pick(["3", "0", "-1", "\"any\"", "\"noStream\"", "\"exists\"", "\"bogus\"", "1.5",
                                                     "1e2", "null", "99999999999999999999"])))
        }
        if chance(0.05) {
            members.append(pick([("version", "2"), ("position", "-1"), ("recordedAt", "\"2024-05-01T10:00:00Z\""), ("bogus", "1"),
                                 ("type", "\"Again\""), ("data", "{}"), ("ty\\u0070e", "\"Noted\""), ("stream", "\"s-9\"")]))
        }
        members.shuffle(using: &rng)
        var text = "{" + members.map { ws() + "\"" + $0.0 + "\"" + ws() + ":" + ws() + $0.1 + ws() }.joined(separator: ",") + "}"
        if chance(0.03) { text = ws() + text + pick([" ", "\r", "\t\r", "x", ",", "}", "\n{}"]) }
        if chance(0.01) { text = "\u{FEFF}" + text }
        if chance(0.01) { text = pick(["[1]", "\"x\"", "42", "", "{", "null"]) }
        var bytes = Array(text.utf8)
        if chance(0.01), !bytes.isEmpty { bytes[int(0...(bytes.count - 1))] = pick([0xFF, 0xC0, 0x80, 0xED]) }
        return (bytes, hasTime)
    }
}

@Suite struct EnvelopeFastPathTests {
    typealias Parsed = (envelope: CommerceEnvelope, idWasGiven: Bool)

    static func strict(_ line: [UInt8], _ rules: CommerceEnvelope.Rules) -> Result<CommerceEnvelope, CommerceError> {
        do throws(CommerceError) {
            return .success(try CommerceEnvelope.parseNotingID(value: JSONValue.parse(line), rules: rules).envelope)
        } catch {
            return .failure(error)
        }
    }

    /// nil when the fast path is not sure; else whether it agreed.
    static func agrees(_ line: [UInt8], hasTime: Bool, _ rules: CommerceEnvelope.Rules) -> Bool? {
        let fast: Result<Parsed, CommerceError>
        do throws(CommerceError) {
            guard let f = try CommerceEnvelope.parseCommonLine(line[...], rules: rules) else { return nil }
            fast = .success(f)
        } catch {
            fast = .failure(error)
        }
        switch (fast, strict(line, rules)) {
        case (.success(let f), .success(var s)):
            // What the parser makes up when the line does not say: a random
            // id, the time now.
            if !f.idWasGiven { s.proposed.id = f.envelope.proposed.id }
            if !hasTime { s.proposed.occurredAt = f.envelope.proposed.occurredAt }
            return f.envelope == s
        case (.failure(let f), .failure(let s)):
            return f == s
        default:
            return false
        }
    }

    @Test(arguments: ["engine", "commerce", "importing"])
    func fastparseGivesTheStrictResultOnGeneratedLines(_ name: String) async throws {
        // Proves on 30,000 generated lines (valid and invalid JSON, escapes, non-ASCII, exponents, huge numbers, duplicate and unsorted keys, nesting, whitespace, BOM/CR) that whenever the fast path answers, its envelope or error equals the strict path's, and that it answers for most lines of the common shape.
        let rules: CommerceEnvelope.Rules = name == "engine" ? .engine : name == "commerce" ? .commerce : .importing
        // On a thread of its own, not the task pool's: on 2 threads, the
        // cases of this test held both for ~28 s, and a live-server test
        // elsewhere timed out waiting for its handlers (stop 19's CI);
        // yielding every 500 lines still left the pool mostly theirs
        // (stop 44: the suite's first half-minute).
        let (answered, strictAccepted, disagreements) = try await onOwnThread {
            var g = LineGenerator(rng: SplitMix64(seed: 19))
            var answered = 0, strictAccepted = 0, disagreements: [String] = []
            for _ in 0..<30_000 {
                let (line, hasTime) = g.line()
                if case .success = Self.strict(line, rules) { strictAccepted += 1 }
                guard let ok = Self.agrees(line, hasTime: hasTime, rules) else { continue }
                answered += 1
                if !ok, disagreements.count < 5 { disagreements.append(String(decoding: line, as: UTF8.self)) }
            }
            return (answered, strictAccepted, disagreements)
        }
        #expect(disagreements.isEmpty, "\(name): \(disagreements)")
        // Most lines the strict path accepts are of the common shape.
        #expect(answered > strictAccepted / 2, "\(name): answered \(answered) of \(strictAccepted) accepted")
    }

    @Test func fastparseTakesTheBenchmarksLinesAndSortsTheirData() throws {
        // Proves the generic line of gen-generic.py (unsorted data) takes the fast path and is stored with sorted keys, as the strict path stores it.
        let line = Array(#"{"stream":"s-0","type":"Noted","data":{"note":"n","seq":7,"author":"agent-7","tags":["support","wrap"],"channel":"email","priority":2,"text":"t"}}"#.utf8)
        let fast = try #require(try CommerceEnvelope.parseCommonLine(line[...], rules: .engine))
        #expect(String(decoding: fast.envelope.proposed.data, as: UTF8.self)
            == #"{"author":"agent-7","channel":"email","note":"n","priority":2,"seq":7,"tags":["support","wrap"],"text":"t"}"#)
        #expect(fast.envelope.stream == "s-0")
        #expect(!fast.idWasGiven)
        // Without sorting (an import's rules) the order stays.
        let unsorted = try #require(try CommerceEnvelope.parseCommonLine(line[...], rules: .commerce))
        #expect(String(decoding: unsorted.envelope.proposed.data, as: UTF8.self).hasPrefix(#"{"note":"n","seq":7"#))
    }

    @Test func fastparseLeavesWhatItIsNotSureOfToTheStrictPath() throws {
        // Proves the fast path says "not sure" (nil) for a known type, a non-canonical escape, a non-ASCII key, a duplicate key and invalid JSON, so that the strict path gives the result or the error with its message.
        let unsure = [
            #"{"type":"OrderCancelled","data":{"orderId":"o-1","reason":"x"},"time":"2024-05-01T10:00:00Z"}"#,
            #"{"type":"Noted","stream":"s","data":{"a":"\u0041"}}"#,
            #"{"type":"Noted","stream":"s","data":{"é":1}}"#,
            #"{"type":"Noted","stream":"s","data":{"b":1,"a":2,"b":3}}"#,
            #"{"type":"Noted","stream":"s","data":{"a":01}}"#,
            #"{"type":"Noted","stream":"s","data":{"a":1},"version":3}"#,
            #"{"type":"Noted","stream":"s","data":{"a":1}"#,
        ]
        for text in unsure {
            #expect(try CommerceEnvelope.parseCommonLine(Array(text.utf8)[...], rules: .engine) == nil, "\(text)")
        }
        // The envelope's own validation throws the strict path's error.
        let noStream = Array(#"{"type":"Noted","data":{"a":1}}"#.utf8)
        #expect(Self.agrees(noStream, hasTime: false, .engine) == true)
        #expect(throws: CommerceError.self) { try CommerceEnvelope.parseCommonLine(noStream[...], rules: .engine) }
    }

    @Test func fastparseRefusesNestingTheStrictParserRefuses() {
        // Proves depth 64 is taken and 65 left to the strict path (which refuses it), as JSONParser counts depth.
        for depth in [62, 63, 64, 65, 66] {
            let data = String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1)
            let line = Array(#"{"type":"Noted","stream":"s","data":\#(data)}"#.utf8)
            #expect(Self.agrees(line, hasTime: false, .engine) == (depth <= 64 ? true : nil), "depth \(depth)")
            let strictOK: Bool = if case .success = Self.strict(line, .engine) { true } else { false }
            #expect(strictOK == (depth <= 64), "depth \(depth)")
        }
    }

    @Test func fastparseOfABodyGivesEachEventOnlyItsOwnBytes() throws {
        // Proves each event of a parsed body holds an array of about its data's size, not one reserved for the rest of the body (stop 20: a 1,000-event body made each event allocate and keep ~165 KB), and the same data as the line parse of the same event, sorted and unsorted.
        var rng = SplitMix64(seed: 20)
        let lines = (0..<200).map { n in
            #"{"type":"Noted","stream":"s","data":{"note":"n\#(n)","seq":\#(n),"author":"agent","tags":["a","\#(String(repeating: "x", count: Int.random(in: 0...300, using: &rng)))"],"text":"t"}}"#
        }
        let body = Array(("[" + lines.joined(separator: ",") + "]").utf8)
        for rules in [CommerceEnvelope.Rules.engine, .commerce] {
            let events = try #require(CommerceEnvelope.parseCommonArray(body, rules: rules, defaultStream: "s"))
            #expect(events.count == lines.count)
            for (event, line) in zip(events, lines) {
                let data = event.proposed.data
                #expect(data.capacity <= 2 * data.count + 64, "capacity \(data.capacity) for \(data.count) bytes")
                let alone = try #require(try CommerceEnvelope.parseCommonLine(Array(line.utf8)[...], rules: rules))
                #expect(data == alone.envelope.proposed.data)
            }
        }
    }

    @Test func fastparseJudgesEveryByteOfADataStringAtEveryPlaceOfAWord() {
        // Proves the copier's eight-bytes-at-a-time string scan (stop 21) gives the strict path's result for every special byte (control, quote, backslash and escapes, DEL, UTF-8 lead and invalid bytes) at every place of strings of 0–40 bytes in the data, or says "not sure".
        let special: [[UInt8]] = [[0x00], [0x09], [0x1F], [0x22], [0x5C], [0x5C, 0x22], [0x5C, 0x6E], [0x5C, 0x75, 0x30, 0x30, 0x30, 0x31],
                                  [0x5C, 0x75, 0x30, 0x30, 0x34, 0x31], [0x7F], [0x80], [0xC3, 0xA9], [0xC3], [0xE6, 0x97, 0xA5], [0xFF]]
        var answered = 0, checked = 0
        for length in 0...40 {
            let base = (0..<length).map { UInt8(0x61 + $0 % 26) }
            var cases = [base]
            for at in 0..<length {
                for c in special {
                    var x = base
                    x.replaceSubrange(at...at, with: c)
                    cases.append(x)
                }
            }
            for content in cases {
                let line = Array(#"{"type":"Noted","stream":"s","data":{"k":""#.utf8) + content + Array(#"","z":1}}"#.utf8)
                checked += 1
                guard let ok = Self.agrees(line, hasTime: false, .engine) else { continue }
                answered += 1
                #expect(ok, "\(content)")
            }
        }
        // The plain strings and the writer's own escapes take the fast path.
        #expect(answered > checked / 3, "answered \(answered) of \(checked)")
    }

    @Test func theCopiersBuffersAreReusedNotReallocatedFromEventToEvent() {
        // Proves stop 21's fix: a copier given the previous one's buffers writes into the same storage (they were copied, so emptying them "keeping capacity" allocated a new buffer for every event of a body), and still gives each value exactly its bytes.
        // A value longer than the capacity left may grow the buffer: Swift sizes an array from malloc_usable_size, so a larger chunk at one growth step can mean one doubling less and a smaller final capacity (the official CI run of stop 31 saw the 47-byte second value outgrow what the 35-byte first left). The promise is checked where it holds: a value that fits is written in place, and by the second round every value fits.
        let values = [#"{"b":1,"a":[true,null],"c":"x y z"}"#, #"{"note":"customer asked about delivery window"}"#, #"[1,2,{"z":0,"y":"w"}]"#]
        var scratch: CompactJSONCopier.Scratch? = CompactJSONCopier.Scratch()
        var storage: UnsafeRawPointer?
        var capacity = 0
        var inPlace = 0
        for (k, text) in (values + values).enumerated() {
            let bytes = Array(text.utf8)
            let expected = try! JSONValue.parse(bytes).compactBytesSortingKeys
            bytes.withUnsafeBufferPointer { buffer in
                var c = CompactJSONCopier(JSONParser(buffer), sortKeys: true, scratch: scratch.take())
                let ok = c.value(depth: 1)
                #expect(ok)
                let copied = (consume c).finish()
                #expect(copied.value == expected, "\(text)")
                #expect(copied.value.capacity <= copied.value.count + 32)
                scratch = copied.scratch
            }
            let now = scratch?.outStorage
            #expect(now != nil)
            if k > 0 && expected.count <= capacity {
                #expect(now == storage, "value \(k) (\(expected.count) bytes, capacity \(capacity)): the buffer was reallocated")
                inPlace += 1
            }
            storage = now
            capacity = scratch?.outCapacity ?? 0
        }
        #expect(inPlace >= values.count, "only \(inPlace) values were checked in place")
    }
}
