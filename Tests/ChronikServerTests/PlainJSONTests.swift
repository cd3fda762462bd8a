import ChronikCommerce
import ChronikServer
import Testing

/// Proves that the fast check of stored data (`isPlainCompactJSON`, no
/// tree built) never says yes where the strict parser would not take the
/// bytes with integers only, so that what `isSingleLineJSON` decides, and
/// so every event's JSON, is unchanged; and that it does take the data
/// the benchmarks and `chronik append` store.
@Suite struct PlainJSONTests {
    /// The strict decision the fast check must agree with.
    static func strict(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty, !bytes.contains(0x0A), !bytes.contains(0x0D),
              let v = try? ChronikCommerce.JSONValue.parse(bytes) else { return false }
        return !hasNumber(v)
    }

    static func hasNumber(_ v: ChronikCommerce.JSONValue) -> Bool {
        switch v {
        case .number: true
        case .array(let items): items.contains(where: hasNumber)
        case .object(let members): members.contains { hasNumber($0.value) }
        case .null, .bool, .int, .string: false
        }
    }

    static let plain = [
        #"{"note":"customer asked about delivery window","seq":12,"author":"agent-3","tags":["support","delivery"],"channel":"email","text":"lorem ipsum"}"#,
        #"{}"#, #"[]"#, #"{"a":{}}"#, #"[[],{}]"#, #"0"#, #"-1"#, #"123456789012345678"#, #""x""#, #"true"#, #"false"#, #"null"#,
        #"{"a":1,"b":[1,2,{"c":null}],"d":{"a":true}}"#, #"{"text":"hi"}"#, #"[1,-2,0,"a",false]"#,
    ]

    static let others = [
        "", " ", "{", "}", "[", "]", "{]", "[}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1,]", "[,1]", #"{,"a":1}"#,
        #"{"a":1,"a":2}"#, #"{"a":{"b":1,"b":1}}"#, #"{"a":1} "#, #" {"a":1}"#, #"{"a": 1}"#, "[1 ,2]",
        "-0", "01", "-01", "1.5", "1e3", "1E3", "-", "1234567890123456789", "9223372036854775807", "9223372036854775808",
        #""a\"b""#, #""a\\b""#, #""a\u0041""#, "\"tab\there\"", "\"new\nline\"", "\"caf\u{E9}\"", "\"\u{7F}\"",
        "tru", "nul", "truex", "nullnull", "[true,fals]", #"{"a":1}{"b":2}"#, "[1][2]", #""unterminated"#,
        String(repeating: "[", count: 33) + String(repeating: "]", count: 33),
        String(repeating: "[", count: 70) + String(repeating: "]", count: 70),
        #"{"a":[1,2,3],"b":{"c":{"d":[{"e":"f"}]}}}"#,
    ]

    @Test func theFastCheckSaysYesOnlyWhereTheStrictParserDoes() {
        for text in Self.plain + Self.others {
            let bytes = Array(text.utf8)
            let fast = isPlainCompactJSON(bytes)
            #expect(!fast || Self.strict(bytes), "\(text)")
            #expect(isSingleLineJSON(bytes) == Self.strict(bytes), "\(text)")
        }
    }

    @Test func theFastCheckTakesCompactIntegerJSON() {
        for text in Self.plain { #expect(isPlainCompactJSON(Array(text.utf8)), "\(text)") }
        let deep = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(isPlainCompactJSON(Array(deep.utf8)))
        #expect(!isPlainCompactJSON(Array(#"{"a":1,"a":2}"#.utf8)))
        #expect(!isPlainCompactJSON(Array("1.5".utf8)))
    }

    @Test func theFastCheckJudgesEveryByteOfAStringAtEveryPlaceOfAWord() {
        // Proves the eight-bytes-at-a-time string scan (stop 20) says yes exactly for strings of printable ASCII without a quote or backslash: each special byte at each place of strings of 0–40 bytes, as a value and as a key, and never yes where the strict parser says no.
        let special: [UInt8] = [0x00, 0x09, 0x1F, 0x22, 0x5C, 0x7F, 0x80, 0xC3, 0xFF]
        let fine: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7E, 0x41]
        for length in 0...40 {
            let base = (0..<length).map { UInt8(0x61 + $0 % 26) }
            var cases = [base]
            for at in 0..<length {
                for c in special + fine {
                    var x = base
                    x[at] = c
                    cases.append(x)
                }
            }
            for content in cases {
                let plain = content.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C }
                let value = [0x22] + content + [0x22]
                let member = Array(#"{"k":"#.utf8) + value + [0x7D]
                let key = [0x7B] + value + Array(#":1}"#.utf8)
                for json in [value, member, key] {
                    let fast = isPlainCompactJSON(json)
                    #expect(fast == plain, "\(content) in \(String(decoding: json, as: UTF8.self))")
                    #expect(!fast || Self.strict(json))
                }
            }
        }
    }
}
