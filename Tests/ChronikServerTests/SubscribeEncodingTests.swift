import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Proves that a subscription's frames, encoded from events borrowed from
/// the log (`readViews`, no copy per event), are byte for byte the JSON of
/// `GET /events/{position}` for every kind of stored data — non-ASCII
/// text, escapes, numbers with fractions and exponents, whitespace, data
/// that is not JSON, metadata — whatever the chunk size and wherever a
/// subscription starts inside a batch.
@Suite struct SubscribeEncodingTests {
    /// Stored data of every shape the encoder treats differently.
    static let payloads: [(data: String, meta: String)] = [
        (#"{"a":1,"b":"plain","c":[true,false,null]}"#, ""),
        (#"{"name":"Zoë ☕ 日本","emoji":"🛒"}"#, ""),
        (#"{"q":"a\"b\\c\nd\t\u0001","slash":"x\/y"}"#, #"{"source":"tést"}"#),
        (#"{"price":12.50,"big":1.5e300,"neg":-2E-3,"zero":-0}"#, ""),
        (#"{ "spaced" : [ 1 , 2 ] }"#, #"{"k":"v"}"#),
        ("{\"multi\":\n\"line\"}", ""),
        ("not json at all \u{7F}", "\u{1}binary"),
        (#""just a string""#, ""),
        (#"{"huge":123456789012345678901234567890}"#, ""),
    ]

    @Test(arguments: [1, 4, 256])
    func framesAreTheEventJSONForEveryKindOfData(chunk: Int) async throws {
        var config = ServerConfiguration()
        config.subscriptionChunk = chunk
        config.headChunk = chunk
        try await withServer(.live, configuration: config) { server, client in
            // Batches of several events, so that chunks start inside them.
            for round in 0..<3 {
                let events = Self.payloads.map { p in
                    ProposedEvent(type: round == 1 ? "Odd Type \"ü\"" : "Noted", data: Array(p.data.utf8), metadata: Array(p.meta.utf8))
                }
                try await server.log.append(to: "s-\(round)", events)
            }
            let total = 3 * Self.payloads.count
            let port = try #require(client.port)
            for start in [0, 3, total - 2] {
                let sse = try SSEClient(port: port, path: "/subscribe?from=\(start)")
                let got = await sse.events(total - start)
                sse.close()
                #expect(got.map(\.id) == (start..<total).map { UInt64($0) })
                for e in got {
                    let position = try #require(e.id)
                    let recorded = try #require(try server.log.event(at: Position(position)))
                    #expect(e.data == eventJSON(recorded), "position \(position)")
                    let single = try await client.get("/events/\(position)")
                    #expect(e.data + "\n" == String(buffer: single.body), "position \(position)")
                    // What a client parses is what was stored (non-JSON data travels as base64).
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(e.data.utf8)) as? [String: Any])
                    #expect(object["position"] as? Int == Int(position))
                    let stored = Self.payloads[Int(position) % Self.payloads.count].data
                    if stored.hasPrefix("not json") {
                        #expect(object["dataBase64"] as? String == Data(stored.utf8).base64EncodedString())
                    } else if !stored.contains("\n") {
                        // Single-line JSON is sent as stored, byte for byte.
                        #expect(e.data.contains(#","data":"# + stored + ","), "position \(position)")
                    }
                }
            }
        }
    }
}
