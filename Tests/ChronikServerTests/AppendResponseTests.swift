import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Proves the body of a stored append, now written straight into one
/// buffer, is byte for byte what it was: keys in the same order, compact,
/// a newline at the end, the 200 of an idempotent retry, and the
/// positions of a 1,000-event batch all listed.
@Suite struct AppendResponseTests {
    @Test func theBodyOfAnAppendOfItsRetryAndOfABigBatch() async throws {
        try await withServer { _, client in
            let one = #"[{"id":"9b2f8e1c-3d4a-4b5c-8d6e-7f8091a2b3c4","type":"NoteAdded","data":{"text":"hi"}}]"#
            let first = try await client.post("/streams/a", one)
            #expect(first.status == .created)
            #expect(first.text == #"{"stream":"a","positions":[0],"firstPosition":0,"lastPosition":0,"version":0,"duplicate":false}"# + "\n")
            #expect(first.headers[.contentType] == "application/json")

            let retry = try await client.post("/streams/a", one)
            #expect(retry.status == .ok)
            #expect(retry.text == #"{"stream":"a","positions":[0],"firstPosition":0,"lastPosition":0,"version":0,"duplicate":true}"# + "\n")

            let events = (0..<1000).map { #"{"type":"NoteAdded","data":{"n":\#($0)}}"# }
            let batch = try await client.post("/streams/notes-7", "[" + events.joined(separator: ",") + "]")
            #expect(batch.status == .created, "\(batch.text)")
            let positions = (1...1000).map(String.init).joined(separator: ",")
            #expect(batch.text == #"{"stream":"notes-7","positions":["# + positions
                + #"],"firstPosition":1,"lastPosition":1000,"version":999,"duplicate":false}"# + "\n")
        }
    }
}
