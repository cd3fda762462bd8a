import ChronikTestSupport
import ChronikCommerce
import Foundation
import Testing
@testable import ChronikServer

/// Proves that the fast path of `POST /streams/{stream}`'s body
/// (`AppendBody.commonEvents`, events read straight from the bytes) gives
/// what the strict path (`AppendBody.parseStrict`, a `JSONValue` tree) gives:
/// the same events, or the same error, on generated bodies.
@Suite struct AppendBodyFastPathTests {

    static let items = [
        #"{"type":"Noted","data":{"note":"n","seq":1,"author":"agent-1","tags":["a","b"],"priority":2}}"#,
        #"{"stream":"s-1","type":"Noted","data":{"b":1,"a":{"d":[1,2.5e3,-0],"c":null}}}"#,
        #"{"stream":"s-2","type":"Noted","data":{"a":1}}"#,
        #" { "type" : "Noted" , "data" : { "z" : "tab\there" , "a" : true } } "#,
        #"{"type":"Noted","data":{"a":"\u0041"}}"#,
        #"{"type":"Noted","data":{"é":1}}"#,
        #"{"type":"Noted","data":{"a":1,"a":2}}"#,
        #"{"type":"Noted","data":{"note":"card 4111 1111 1111 1111"}}"#,
        #"{"type":"Noted","data":{"a":1},"meta":{"z":"1","a":"2"},"expectedVersion":"any"}"#,
        #"{"type":"Noted","data":{"a":1},"expectedVersion":3}"#,
        #"{"type":"Noted","data":{"a":1},"version":3}"#,
        #"{"type":"Noted","data":[1,2]}"#,
        #"{"type":"Noted"}"#,
        #"{"type":"","data":{}}"#,
        #"{"type":"CustomerRegistered","data":{"customerId":"c-1"}}"#,
        #"{"type":"OrderCancelled","data":{"orderId":"o-1","reason":"x"},"time":"2024-05-01T10:00:00Z"}"#,
        #"{"type":"Noted","data":{"a":01}}"#,
        #"[1]"#,
        #""x""#,
    ]

    static func body(_ rng: inout SplitMix64) -> [UInt8] {
        switch Int.random(in: 0..<50, using: &rng) {
        case 0: return Array("[]".utf8)
        case 1:
            let event = #"{"type":"Noted","id":"6f9619ff-8b86-d011-b42d-00c04fc96400","time":"2024-05-01T10:00:00Z","data":{}}"#
            return Array(#"{"events":[\#(event)],"expectedVersion":"any"}"#.utf8)
        case 2: return Array("[{\"type\":\"Noted\",\"data\":{}}".utf8)
        case 3: return Array("[{\"type\":\"Noted\",\"data\":{}}] x".utf8)
        default: break
        }
        let n = Int.random(in: 1...12, using: &rng)
        // Mostly good events, so that whole bodies take the fast path.
        let picked = (0..<n).map { i -> String in
            let k = Int.random(in: 0..<(items.count * 4), using: &rng)
            let item = k < items.count ? items[k] : items[k % 4]
            // Every event names its id and time: both are made up otherwise.
            let id = String(format: "6f9619ff-8b86-d011-b42d-00c04fc964%02x", i)
            guard item.hasPrefix("{") || item.hasPrefix(" {") else { return item }
            let open = item.firstIndex(of: "{")!
            return String(item[...open]) + #""id":"\#(id)","time":"2024-05-01T10:00:00Z","# + String(item[item.index(after: open)...])
        }
        return Array(("[" + picked.joined(separator: ",") + "]").utf8)
    }

    @Test func fastparseOfABodyGivesTheStrictEventsOrError() async {
        // Proves on 3,000 generated bodies (good and bad events, known types, card numbers, escapes, duplicate keys, If-Match) that parse gives parseStrict's events or error, and that most all-good bodies take the fast path.
        var rng = SplitMix64(seed: 19)
        var fast = 0, strictAccepted = 0, disagreements: [String] = []
        for i in 0..<3_000 {
            if i % 100 == 0 { await Task.yield() }  // the pool's other jobs run too (see EnvelopeFastPathTests)
            let bytes = Self.body(&rng)
            let ifMatch = [nil, nil, nil, "3", "*", "bogus"][Int.random(in: 0..<6, using: &rng)]
            let maxEvents = Bool.random(using: &rng) ? 1_000 : 8
            if AppendBody.commonEvents(bytes, stream: "s-1", maxEvents: maxEvents) != nil { fast += 1 }
            let a = Result { try AppendBody.parse(bytes, stream: "s-1", ifMatch: ifMatch, maxEvents: maxEvents) }
            let b = Result { try AppendBody.parseStrict(bytes, stream: "s-1", ifMatch: ifMatch, maxEvents: maxEvents) }
            let same: Bool
            switch (a, b) {
            case (.success(let x), .success(let y)): same = x == y; strictAccepted += 1
            case (.failure(let x), .failure(let y)): same = String(describing: x) == String(describing: y)
            default: same = false
            }
            if !same, disagreements.count < 5 { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
        #expect(strictAccepted > 100)
        #expect(fast > strictAccepted / 2, "fast \(fast) of \(strictAccepted) accepted")
    }

    @Test func fastparseOfTheBenchmarksBody() throws {
        // Proves a body of generic events (unsorted data, no stream) takes the fast path with the path's stream and sorted data.
        let event = #"{"type":"Noted","data":{"seq":1,"author":"a"}}"#
        let bytes = Array(("[" + Array(repeating: event, count: 1000).joined(separator: ",") + "]").utf8)
        let events = try #require(AppendBody.commonEvents(bytes, stream: "b-1", maxEvents: 1000))
        #expect(events.count == 1000)
        #expect(events.allSatisfy { $0.stream == "b-1" && $0.proposed.data == Array(#"{"author":"a","seq":1}"#.utf8) })
        #expect(AppendBody.commonEvents(bytes, stream: "b-1", maxEvents: 999) == nil)
    }
}
