import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Proves that subscribers at the head, which share one read and encoding
/// of each new chunk of events, each still get every event once, in order,
/// byte for byte the JSON of `GET /events/{position}` — also one that joins
/// in the middle of a shared chunk — and that an event with personal data
/// is shared only within a scope: a subscriber without `pii` does not get
/// the clear text a `pii` subscriber at the same position got, and after
/// an erasure no subscriber gets it.
@Suite struct SubscribeFanOutTests {
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func subscribersAtTheHeadEachGetEveryEventOnceInOrder() async throws {
        try await withServer(.live) { server, client in
            let port = try #require(client.port)
            let early = try (0..<6).map { _ in try SSEClient(port: port, path: "/subscribe?from=0") }
            // Appends of 1–3 events while the subscribers (from 0 on an empty log) wait at the head.
            for i in 0..<12 {
                let batch = Array(repeating: Self.note, count: 1 + i % 3).joined(separator: ",")
                _ = try await client.post("/streams/s-\(i % 4)", "[\(batch)]")
                if i == 5 { try await Task.sleep(for: .milliseconds(50)) }
            }
            let total = Int(server.log.head.value)
            #expect(total == 24)
            // One that starts inside what the others read: from position 13.
            let late = try SSEClient(port: port, path: "/subscribe?from=13")
            let expected = try (0..<total).map { p in eventJSON(try #require(try server.log.event(at: Position(UInt64(p))))) }
            for sse in early {
                let got = await sse.events(total)
                #expect(got.map(\.id) == (0..<total).map { UInt64($0) })
                #expect(got.map(\.data) == expected)
                sse.close()
            }
            let tail = await late.events(total - 13)
            #expect(tail.map(\.id) == (13..<total).map { UInt64($0) })
            #expect(tail.map(\.data) == Array(expected[13...]))
            // Nothing more: no event is repeated after the shared chunks.
            _ = try await client.post("/streams/last", "[\(Self.note)]")
            #expect(await late.next()?.id == UInt64(total))
            late.close()
        }
    }

    /// How the customer is forgotten: the forget route, or a
    /// `CustomerForgotten` through `/commands` or `/streams`.
    enum Erasure: String, CaseIterable, Sendable { case forgetRoute, command, stream }

    @Test(arguments: Erasure.allCases)
    func anEventWithPersonalDataIsSharedOnlyWithinAScope(erasure: Erasure) async throws {
        let auditor = "auditor-0123456789abcdef"
        let reader = "reader-0123456789abcdef"
        let writer = "writer-0123456789abcdef"
        var config = ServerConfiguration()
        config.tokens = try TokenTable.parse("\(auditor) read,pii\n\(reader) read\n\(writer) append,pii\n")
        try await withServer(.live, configuration: config, models: true) { _, client in
            let port = try #require(client.port)
            let clear = try SSEClient(port: port, path: "/subscribe?from=0", headers: ["Authorization": "Bearer \(auditor)"])
            let registered = #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"a@example.com","name":"Ada","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#
            let r = try await client.post("/commands", registered, headers: [.authorization: "Bearer \(writer)"])
            #expect(r.status == .created)
            let opened = await clear.next()
            #expect(opened?.id == 0)
            #expect(opened?.data.contains("a@example.com") == true)
            // The same position, read right after by a subscriber without pii.
            let plain = try SSEClient(port: port, path: "/subscribe?from=0", headers: ["Authorization": "Bearer \(reader)"])
            let sealed = await plain.next()
            #expect(sealed?.id == 0)
            #expect(sealed?.data.contains("a@example.com") == false)
            // Another with pii at the same position: the same clear text.
            let second = try SSEClient(port: port, path: "/subscribe?from=0", headers: ["Authorization": "Bearer \(auditor)"])
            #expect(await second.next()?.data == opened?.data)
            // Once the customer is forgotten, no subscriber is sent the clear
            // text again, neither kept from before the erasure nor read. The
            // others leave first, so that no read of the new event replaces
            // the chunk kept with the clear text: only the erasure drops it.
            for sse in [clear, plain, second] { sse.close() }
            let forgotten = #"{"type":"CustomerForgotten","time":"2024-05-02T09:00:00Z","data":{"customerId":"c1"}}"#
            let forgot = switch erasure {
            case .forgetRoute: try await client.post("/customers/c1/forget", "", headers: [.authorization: "Bearer \(auditor)"])
            case .command: try await client.post("/commands", forgotten, headers: [.authorization: "Bearer \(writer)"])
            case .stream: try await client.post("/streams/customer-c1", "[\(forgotten)]", headers: [.authorization: "Bearer \(writer)"])
            }
            #expect(forgot.status == .created, "\(erasure): \(forgot.status)")
            let after = try SSEClient(port: port, path: "/subscribe?from=0", headers: ["Authorization": "Bearer \(auditor)"])
            let erased = await after.next()
            #expect(erased?.id == 0)
            #expect(erased?.data.contains("a@example.com") == false)
            after.close()
        }
    }
}
