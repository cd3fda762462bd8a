import ChronikAudit
import ChronikLog
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
@testable import ChronikServer

/// Proves how subscribers at the head share their reads (`HeadFrames`):
/// within a scope one read serves every subscriber at any position inside
/// the kept chunk; the two scopes (personal data in clear or not) never
/// see each other's bytes; `clear()` (after an erasure) drops what was
/// kept; a chunk read while catching up is never kept. And, through a
/// server: subscribers that a burst leaves more than a catch-up chunk
/// behind still share one read of it when it is within `headChunk`.
@Suite struct HeadFramesTests {
    /// A chunk of positions `start..<end`, one frame per event, its bytes
    /// naming the position and `tag` (standing for what a scope reads).
    static func chunk(_ start: UInt64, _ end: UInt64, tag: String, shareable: Bool = true) -> SubscriptionChunk {
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        for p in start..<end {
            offsets.append(bytes.count)
            bytes += Array("id: \(p)\ndata: \(tag)\n\n".utf8)
        }
        return SubscriptionChunk(start: start, end: end, frames: ByteBuffer(bytes: bytes), offsets: offsets, shareable: shareable)
    }

    static func text(_ c: SubscriptionChunk?) -> String {
        guard let c else { return "nil" }
        return String(buffer: c.frames)
    }

    @Test func oneReadServesEverySubscriberOfAScopeInsideTheKeptChunk() throws {
        let frames = HeadFrames()
        let first = try frames.chunk(from: 10, scope: .personalData) { Self.chunk($0, 14, tag: "clear") }
        #expect(Self.text(first) == Self.text(Self.chunk(10, 14, tag: "clear")))
        // Others of the scope, at the start or inside: the kept bytes, no read.
        let again = try frames.chunk(from: 10, scope: .personalData) { _ in Issue.record("read again"); return nil }
        let inside = try frames.chunk(from: 12, scope: .personalData) { _ in Issue.record("read again"); return nil }
        #expect(Self.text(again) == Self.text(first))
        #expect(Self.text(inside) == Self.text(Self.chunk(12, 14, tag: "clear")))
        #expect(inside?.start == 12 && inside?.end == 14)
        #expect(frames.eventsRead == 4)
        // Past the kept chunk: a new read, kept in its place.
        let next = try frames.chunk(from: 14, scope: .personalData) { Self.chunk($0, 15, tag: "clear") }
        #expect(next?.start == 14)
        #expect(frames.eventsRead == 5)
    }

    /// Stop 49: a scope keeps up to `HeadFrames.slots` chunks, so a crowd
    /// at the head and a crowd behind it do not replace each other's chunk
    /// at every read (one kept chunk made every subscriber of both read).
    @Test func aCrowdBehindAndTheCrowdAtTheHeadKeepTheirOwnChunks() throws {
        let frames = HeadFrames()
        _ = try frames.chunk(from: 0, scope: .withoutPersonalData) { Self.chunk($0, 4, tag: "behind") }
        _ = try frames.chunk(from: 100, scope: .withoutPersonalData) { Self.chunk($0, 104, tag: "head") }
        let behind = try frames.chunk(from: 1, scope: .withoutPersonalData) { _ in Issue.record("read again"); return nil }
        let head = try frames.chunk(from: 102, scope: .withoutPersonalData) { _ in Issue.record("read again"); return nil }
        #expect(Self.text(behind) == Self.text(Self.chunk(1, 4, tag: "behind")))
        #expect(Self.text(head) == Self.text(Self.chunk(102, 104, tag: "head")))
        #expect(frames.eventsRead == 8)
        // Past `slots` chunks the oldest goes.
        for k in 1...HeadFrames.slots {
            let from = UInt64(1000 * k)
            _ = try frames.chunk(from: from, scope: .withoutPersonalData) { Self.chunk($0, from + 1, tag: "more") }
        }
        _ = try frames.chunk(from: 0, scope: .withoutPersonalData) { Self.chunk($0, 4, tag: "behind, again") }
        #expect(frames.eventsRead == 8 + HeadFrames.slots + 4)
    }

    @Test func theScopesNeverShareAChunk() throws {
        let frames = HeadFrames()
        _ = try frames.chunk(from: 10, scope: .personalData) { Self.chunk($0, 14, tag: "clear") }
        // The same positions without pii: its own read, its own bytes.
        let sealed = try frames.chunk(from: 10, scope: .withoutPersonalData) { Self.chunk($0, 14, tag: "null") }
        #expect(Self.text(sealed) == Self.text(Self.chunk(10, 14, tag: "null")))
        #expect(frames.eventsRead == 8)
        // Each scope keeps its own: no more reads, and no clear text without pii.
        let sealedInside = try frames.chunk(from: 11, scope: .withoutPersonalData) { _ in Issue.record("read again"); return nil }
        let clearInside = try frames.chunk(from: 11, scope: .personalData) { _ in Issue.record("read again"); return nil }
        #expect(!Self.text(sealedInside).contains("clear"))
        #expect(!Self.text(clearInside).contains("null"))
        #expect(frames.eventsRead == 8)
    }

    @Test func clearDropsWhatWasKept() throws {
        let frames = HeadFrames()
        _ = try frames.chunk(from: 0, scope: .personalData) { Self.chunk($0, 3, tag: "opened before the erasure") }
        _ = try frames.chunk(from: 0, scope: .withoutPersonalData) { Self.chunk($0, 3, tag: "null") }
        frames.clear()
        let after = try frames.chunk(from: 1, scope: .personalData) { Self.chunk($0, 3, tag: "null after the erasure") }
        #expect(Self.text(after) == Self.text(Self.chunk(1, 3, tag: "null after the erasure")))
        _ = try frames.chunk(from: 1, scope: .withoutPersonalData) { Self.chunk($0, 3, tag: "null") }
        #expect(frames.eventsRead == 3 + 3 + 2 + 2)
    }

    @Test func aChunkThatIsNotShareableIsNotKept() throws {
        let frames = HeadFrames()
        _ = try frames.chunk(from: 0, scope: .personalData) { Self.chunk($0, 3, tag: "own", shareable: false) }
        let second = try frames.chunk(from: 0, scope: .personalData) { Self.chunk($0, 3, tag: "second") }
        #expect(Self.text(second).contains("second"))
        #expect(frames.eventsRead == 6)
    }

    /// A burst of 300 events in one append leaves ten subscribers at the
    /// head 300 events behind: more than a catch-up chunk (8 here), within
    /// `headChunk` (1,024). They share the reading of the burst (before,
    /// past a catch-up chunk each one read and encoded it alone) and each
    /// still gets every event once, in order.
    @Test func aBurstBeyondACatchUpChunkIsStillReadOnceForAll() async throws {
        var config = ServerConfiguration()
        config.subscriptionChunk = 8
        #expect(config.headChunk >= 300)
        // Read at the head (shared), not chunk by chunk on each
        // subscriber's own cursor, and not once per subscriber.
        let read = try await Self.sharedReads(ofBurst: 300, toTen: config)
        #expect(read >= 300, "only \(read) of the burst's 300 events were read at the head")
        #expect(read <= 600, "\(read) events read at the head for 10 subscribers of a 300-event burst")
    }

    /// Stop 49: ten subscribers that a burst leaves further behind than a
    /// head chunk (48 here; 150 events) but within `sharedChunks` of them
    /// still share their reads (before, each read the burst on its own: on
    /// a saturated machine a crowd that fell out of the head chunk never
    /// came back), and each gets every event once, in order.
    @Test func aCrowdFurtherBehindThanAHeadChunkStillShares() async throws {
        var config = ServerConfiguration()
        config.subscriptionChunk = 8
        config.headChunk = 48
        #expect(150 < config.headChunk * LogServer.sharedChunks)
        let read = try await Self.sharedReads(ofBurst: 150, toTen: config)
        #expect(read >= 150, "only \(read) of the burst's 150 events were read shared")
        #expect(read <= 450, "\(read) events read shared for 10 subscribers of a 150-event burst")
    }

    /// Ten subscribers wait at the head of a server with `config`; one
    /// append of `count` events; each must get every event once, in order.
    /// Returns the events read into shared chunks meanwhile.
    static func sharedReads(ofBurst count: Int, toTen config: ServerConfiguration) async throws -> Int {
        let read = Atomic<Int>(0)
        try await withServer(.live, configuration: config) { server, client in
            let port = try #require(client.port)
            _ = try await client.post("/streams/warm", #"[{"type":"Noted","data":{"n":0}}]"#)
            let subscribers = try (0..<10).map { _ in try SSEClient(port: port, path: "/subscribe?from=1") }
            try await Task.sleep(for: .milliseconds(300))  // all ten wait at the head
            let before = server.headFrames.eventsRead
            let events = (0..<count).map { i in ProposedEvent(type: "Noted", data: Array(#"{"n":\#(i)}"#.utf8)) }
            try await server.log.append(to: "burst", events)
            for sse in subscribers {
                let got = await sse.events(count)
                #expect(got.map(\.id) == (1...count).map { UInt64($0) })
                sse.close()
            }
            read.store(server.headFrames.eventsRead - before, ordering: .relaxed)
        }
        return read.load(ordering: .relaxed)
    }

    /// Commerce events with sealed personal data, to eight subscribers of
    /// one scope (no tokens: every subscriber may read personal data): each
    /// gets the clear text, and the events are read about once for all of
    /// them, not once per subscriber (40; before, a chunk holding personal
    /// data was never shared).
    @Test func personalDataIsReadOnceForTheSubscribersOfAScope() async throws {
        try await withServer(.live, models: true) { server, client in
            let port = try #require(client.port)
            let subscribers = try (0..<8).map { _ in try SSEClient(port: port, path: "/subscribe?from=0") }
            try await Task.sleep(for: .milliseconds(300))
            let before = server.headFrames.eventsRead
            for i in 0..<5 {
                let registered = #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c\#(i)","email":"c\#(i)@example.com","name":"Ada","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#
                #expect(try await client.post("/commands", registered).status == .created)
            }
            for sse in subscribers {
                let got = await sse.events(5)
                #expect(got.map(\.id) == [0, 1, 2, 3, 4])
                for (i, e) in got.enumerated() { #expect(e.data.contains("c\(i)@example.com"), "\(e.data)") }
                sse.close()
            }
            let read = server.headFrames.eventsRead - before
            #expect(read >= 5)
            #expect(read <= 20, "\(read) events read at the head for 8 subscribers of 5 events")
        }
    }

    @Test("the server's store destroys keys through ErasingProtector: the key goes, and the kept chunks with it")
    func erasureThroughTheStoreDropsTheKeptChunks() throws {
        // The routes leave the dropping to the store's protector (any route that forgets a customer goes through
        // it); this proves the wiring: destroying a key calls back, also when the key was destroyed already.
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = SubjectKeyVault(store: try FileKeyStore(directory: dir + "/keys"))
        let frames = HeadFrames()
        let protector = ErasingProtector(vault: vault) { frames.clear() }
        let sealed = try protector.seal(Array("a@example.com".utf8), subject: "customer:c1", context: [])
        _ = try frames.chunk(from: 0, scope: .personalData) { _ in Self.chunk(0, 2, tag: "clear") }
        #expect(Self.text(try frames.chunk(from: 1, scope: .personalData) { _ in nil }).contains("clear"))
        try protector.destroyKey(subject: "customer:c1")
        #expect(try protector.open(sealed, subject: "customer:c1", context: []) == nil, "the key is destroyed")
        #expect(try frames.chunk(from: 1, scope: .personalData) { _ in nil } == nil, "nothing kept from before")
        _ = try frames.chunk(from: 0, scope: .personalData) { _ in Self.chunk(0, 2, tag: "again") }
        try protector.destroyKey(subject: "customer:c1")
        #expect(try frames.chunk(from: 1, scope: .personalData) { _ in nil } == nil, "dropped again")
    }
}
