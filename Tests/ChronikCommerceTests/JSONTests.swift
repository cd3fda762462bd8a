import Testing
@testable import ChronikCommerce

func json(_ s: String) throws(CommerceError) -> JSONValue { try JSONValue.parse(Array(s.utf8)) }
func jsonError(_ bytes: [UInt8]) -> CommerceError? {
    expectError { () throws(CommerceError) in _ = try JSONValue.parse(bytes) }
}

@Suite struct JSONTests {
    @Test func escapes() throws {
        // Proves every JSON escape decodes and the writer re-escapes only what it must.
        let v = try json(#""a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\u0000""#)
        #expect(v == .string("a\"b\\c/d\u{8}\u{c}\n\r\tAé€\u{0}"))
        #expect(String(decoding: v.compactBytes, as: UTF8.self) == #""a\"b\\c/d\b\f\n\r\tAé€\u0000""#)
    }

    @Test func surrogatePairs() throws {
        // Proves a \u surrogate pair becomes one scalar, and lone or reversed surrogates are refused.
        #expect(try json(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try json(#""\uD834\uDD1E""#) == .string("𝄞"))
        #expect(jsonError(Array(#""\ud83d""#.utf8))?.code == .invalidJSON)
        #expect(jsonError(Array(#""\ud83dx""#.utf8))?.code == .invalidJSON)
        #expect(jsonError(Array(#""\ude00\ud83d""#.utf8))?.code == .invalidJSON)
        #expect(jsonError(Array(#""\ud83d\u0041""#.utf8))?.code == .invalidJSON)
    }

    @Test func numbersBeyondADoubleAreRefusedWithTheirOffset() throws {
        // Proves stop 32's rule: a number literal is kept as written only within a double's range (1e309 was stored,
        // then read back as "not JSON": data null plus dataBase64); underflow and long exact integers stay accepted.
        let beyond = ["1e309", "-1e999", "1E400", "1" + String(repeating: "0", count: 400), "-" + String(repeating: "9", count: 310) + ".5"]
        for literal in beyond {
            let e = jsonError(Array(#"{"a":[1,"# .utf8) + Array(literal.utf8) + Array("]}".utf8))
            #expect(e?.code == .invalidJSON, "\(literal)")
            #expect(e?.message.contains("number out of range") == true && e?.message.contains("byte 8") == true, "\(literal): \(String(describing: e))")
        }
        for literal in ["1e308", "-1.7976931348623157e308", "1e-400", "123456789012345678901234567890", "0.0000001", "-0"] {
            #expect(try json(literal) == .number(literal), "\(literal)")
        }
        // The envelope's fast path leaves such a number to the strict parser, which refuses it.
        for literal in beyond {
            let line = Array(#"{"type":"Noted","stream":"s","data":{"x":"#.utf8) + Array(literal.utf8) + Array("}}".utf8)
            #expect(EnvelopeFastPathTests.agrees(line, hasTime: false, .engine) != false, "\(literal)")
        }
    }

    @Test func integersStayExact() throws {
        // Proves Int64 edges are exact ints and anything else keeps its literal.
        #expect(try json("9223372036854775807") == .int(.max))
        #expect(try json("-9223372036854775808") == .int(.min))
        #expect(try json("9223372036854775808") == .number("9223372036854775808"))
        #expect(try json("-9223372036854775809") == .number("-9223372036854775809"))
        #expect(try json("123456789012345678901234567890") == .number("123456789012345678901234567890"))
        #expect(try json("1.0") == .number("1.0"))
        #expect(try json("-0") == .number("-0"))
        #expect(try json("0") == .int(0))
        #expect(try json("2E-3") == .number("2E-3"))
        for bad in ["01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity", "0x10"] {
            #expect(jsonError(Array(bad.utf8))?.code == .invalidJSON, "\(bad)")
        }
    }

    @Test func invalidUTF8IsRejected() throws {
        // Proves ill-formed UTF-8 in strings (stray continuation, overlong, surrogate, truncated, > U+10FFFF) is refused.
        let q = UInt8(ascii: "\"")
        for bad: [UInt8] in [[0x80], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xFF]] {
            #expect(jsonError([q] + bad + [q])?.code == .invalidJSON, "\(bad)")
        }
        #expect(try JSONValue.parse([q, 0xE2, 0x82, 0xAC, q]) == .string("€"))
    }

    @Test func truncatedAndMalformed() {
        // Proves truncated documents and syntax errors are refused with invalidJSON.
        for bad in [#"{"a":1"#, #"{"a":"#, #"{"a""#, #""abc"#, "[1,2", #"{"a":1,}"#, "[1,]", "tru", #"{"a" 1}"#, "{1:2}", "", " ", "{} {}", #"{"a":"\x"}"#, #""a\u12""#, "\"a\u{1}\""] {
            #expect(jsonError(Array(bad.utf8))?.code == .invalidJSON, "\(bad)")
        }
        let e = jsonError(Array(#"{"type":"OrderPlaced""#.utf8))
        #expect(e?.message.contains("truncated") == true)
    }

    @Test func duplicateKeysAreRejected() {
        // Proves an object with the same key twice is an error (documented decision).
        #expect(jsonError(Array(#"{"a":1,"b":2,"a":3}"#.utf8))?.message.contains("duplicate key") == true)
    }

    @Test func nestingIsBounded() throws {
        // Proves nesting beyond 64 levels is refused rather than recursing without bound.
        _ = try json(String(repeating: "[", count: 64) + String(repeating: "]", count: 64))
        #expect(jsonError(Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8))?.code == .invalidJSON)
    }

    @Test func objectsKeepKeyOrderAndValuesRoundTrip() throws {
        // Proves parse → serialize is the identity on compact JSON, key order included.
        let s = #"{"z":[true,false,null],"a":{"y":-12,"x":"\u0001"},"m":1.25e-7,"e":{}, "f":[]}"#
        #expect(String(decoding: try json(s).compactBytes, as: UTF8.self) == s.replacingOccurrences(of: ", ", with: ","))
    }

    @Test("a duplicate key is found at any place of an object with many keys, and every key of one without is kept",
          arguments: [1, 15, 16, 17, 40, 5_000])
    func duplicateKeysInWideObjects(n: Int) throws {
        // Proves stop 36's set of seen keys (past 16 keys) finds what the linear look-up found: the finding was an
        // object of n keys costing n² (a 12 MB body of 1 M keys held a core for tens of minutes).
        let keys = (0..<n).map { "k\($0)" }
        let object = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
        guard case .object(let members) = try json(object) else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == keys)
        for repeatAt in Set([0, n / 2, n - 1]) {
            let withRepeat = "{" + (keys + [keys[repeatAt]]).map { "\"\($0)\":1" }.joined(separator: ",") + "}"
            #expect(throws: CommerceError.self) { _ = try json(withRepeat) }
        }
    }
}

