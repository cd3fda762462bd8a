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
}
