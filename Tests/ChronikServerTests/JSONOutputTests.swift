import ChronikCommerce
import ChronikServer
import Testing

// The CLI and the server print ChronikCommerce's JSONValue (issue 13: one
// JSON value type). What output adds to it must print the bytes the old
// output type printed.

@Suite("JSON output")
struct JSONOutputTests {
    @Test("unsigned integers print their digits, also above Int64.max")
    func unsignedIntegers() {
        #expect(JSONValue.uint(0).text == "0")
        #expect(JSONValue.uint(UInt64(Int64.max)).text == "9223372036854775807")
        #expect(JSONValue.uint(UInt64.max).text == "18446744073709551615")
        #expect(JSONValue.uint(UInt64.max) == .number("18446744073709551615"))
    }

    @Test("doubles print as Swift writes them; NaN and infinities print null")
    func doubles() {
        #expect(JSONValue.double(0.5).text == "0.5")
        #expect(JSONValue.double(2).text == "2.0")
        #expect(JSONValue.double(.nan).text == "null")
        #expect(JSONValue.double(-.infinity).text == "null")
    }

    @Test("a dictionary prints its keys in order; an object its members in theirs")
    func memberOrder() {
        let d: [String: JSONValue] = ["b": .int(2), "a": .int(1), "B": .bool(true), "é": .null]
        #expect(JSONValue.object(sortingKeys: d).text == #"{"B":true,"a":1,"b":2,"é":null}"#)
        #expect(JSONValue.object([JSONMember("z", .int(1)), JSONMember("a", .array([.string("x"), .number("1.50")]))]).text
            == #"{"z":1,"a":["x",1.50]}"#)
    }

    @Test("strings escape quotes, backslashes, control characters and DEL, nothing else")
    func strings() {
        let s = "q\"b\\n\nr\rt\t\u{1}\u{7F}é/"
        #expect(JSONValue.quote(s) == #""q\"b\\n\nr\rt\t\u0001\u007fé/""#)
        #expect(JSONValue.string(s).text == JSONValue.quote(s))
        var o = JSONObject()
        o.add("k\"", s)
        #expect(o.text == "{" + JSONValue.quote("k\"") + ":" + JSONValue.quote(s) + "}")
    }

    @Test("the builder nests objects, arrays of objects and JSON text as given")
    func builder() {
        var inner = JSONObject()
        inner.add("n", Int64(-3))
        var o = JSONObject()
        o.add("one", inner)
        o.add("many", [inner, JSONObject()])
        o.add("text", json: "[1,2]")
        o.add("none", nil as String?)
        o.add("big", UInt64.max)
        #expect(o.text == #"{"one":{"n":-3},"many":[{"n":-3},{}],"text":[1,2],"none":null,"big":18446744073709551615}"#)
    }

    struct Issue: Encodable {
        var code: String
        var offset: Int64
    }

    enum Verdict: String, Encodable { case clean, damaged }

    struct Summary: Encodable {
        var zeta: Int = 1
        var alpha: String? = nil
        var verdict = Verdict.damaged
        var failure: Issue? = Issue(code: "corruption", offset: 4096)
        var warnings: [Issue] = []
        var rate: Double? = 0.25
        var head: UInt64 = .max
        var perType = ObjectMembers(sortingKeys: ["b": 2, "a": 1])
        var perGroup = ObjectMembers([(key: "z", value: 1), (key: "a", value: 2)])
        var flags: [Bool?] = [true, nil]
    }

    @Test("an Encodable summary prints its members in declaration order, absent optionals as null")
    func encodableSummary() throws {
        #expect(try JSONValue(encoding: Summary()).text
            == #"{"zeta":1,"alpha":null,"verdict":"damaged","failure":{"code":"corruption","offset":4096},"#
            + #""warnings":[],"rate":0.25,"head":18446744073709551615,"perType":{"a":1,"b":2},"perGroup":{"z":1,"a":2},"flags":[true,null]}"#)
        var s = Summary()
        s.alpha = "x\u{7F}"
        s.failure = nil
        s.rate = .nan
        #expect(try JSONValue(encoding: s).text
            == #"{"zeta":1,"alpha":"x\u007f","verdict":"damaged","failure":null,"#
            + #""warnings":[],"rate":null,"head":18446744073709551615,"perType":{"a":1,"b":2},"perGroup":{"z":1,"a":2},"flags":[true,null]}"#)
        #expect(try JSONValue(encoding: [Int8(-1), 2]) == .array([.int(-1), .int(2)]))
        #expect(try JSONValue(encoding: "s") == .string("s"))
    }
}
