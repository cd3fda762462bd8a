@_spi(Testing) import ChronikLog
import Foundation
import Testing

// Issue 13: read --json writes each line straight into the output buffer;
// these lines stay byte for byte what they were for stored data of every
// kind (single-line JSON as stored, multi-line JSON re-encoded, numbers
// JSONSerialization reads, non-JSON as base64) and for names that need
// escaping.

@Suite("read --json bytes")
struct ReadJSONBytesTests {
    @Test("read --json prints stored data and meta, and escaped names, byte for byte")
    func storedDataBytes() async throws {
        // Proves each kind of stored data takes its documented form in the exact bytes, after the exact escaped head.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir, options: .namesAsBeforeStop32)
        let id = try #require(EventID(string: "0123abcd-4567-89ef-0123-456789abcdef"))
        let cases: [(data: String, meta: String, printed: String)] = [
            (#"{"b":1,"a":[true,null,"x"]}"#, "", #""data":{"b":1,"a":[true,null,"x"]},"meta":{}}"#),
            (#"{"price":1.5e3,"n":-0}"#, #"{"k":"v"}"#, #""data":{"price":1.5e3,"n":-0},"meta":{"k":"v"}}"#),
            (#"{"a":1,"a":2}"#, "", #""data":{"a":1,"a":2},"meta":{}}"#),
            ("{\n  \"z\": 1,\n  \"a\": \"é\"\n}", "", #""data":{"a":"é","z":1},"meta":{}}"#),
            ("not json", "\u{1}", #""data":null,"dataBase64":"bm90IGpzb24=","meta":null,"metaBase64":"AQ=="}"#),
            ("42", "", #""data":42,"meta":{}}"#),
            // Multi-line JSON re-encoded by the strict parser: numbers as written.
            ("{\n \"p\": 1.50,\n \"b\": [1e3, true]\n}", "", #""data":{"b":[1e3,true],"p":1.50},"meta":{}}"#),
            // Multi-line JSON the strict parser refuses (a key twice): its
            // line breaks become spaces, nothing else changes.
            ("{\r\n\"a\": 1,\n\"a\": 2\n}", "", #""data":{  "a": 1, "a": 2 },"meta":{}}"#),
        ]
        for c in cases {
            _ = try await log.append(to: "s\"\\\t\u{7F}\u{1}é", ProposedEvent(type: "Noted\n", data: Array(c.data.utf8), metadata: Array(c.meta.utf8),
                                                                     occurredAt: Timestamp(microseconds: 1_733_131_200_123_456)))
        }
        _ = try await log.append(to: "plain", ProposedEvent(id: id, type: "Noted", data: Array("{}".utf8), occurredAt: Timestamp(microseconds: 1_000)))
        try log.close()
        let r = try await chronik(["read", "--json", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdoutLines.count == cases.count + 1, "\(r)")
        for (i, c) in cases.enumerated() {
            let line = r.stdoutLines[i]
            #expect(line.hasPrefix(#"{"position":\#(i),"stream":"s\"\\\t\u007f\u0001é","version":\#(i),"id":""#), "\(line)")
            #expect(line.contains(#","type":"Noted\n","time":"2024-12-02T09:20:00.123456Z","recordedAt":""#), "\(line)")
            #expect(line.hasSuffix(c.printed), "\(line)")
        }
        #expect(r.stdoutLines.last?.hasPrefix(
            #"{"position":\#(cases.count),"stream":"plain","version":0,"id":"0123abcd-4567-89ef-0123-456789abcdef","type":"Noted","time":"1970-01-01T00:00:00.001Z","recordedAt":""#) == true, "\(r)")
    }
}
