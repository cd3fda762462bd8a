import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikLog

@Suite("Generated event ids")
struct EventIDGeneratorTests {
    @Test("a generated id is a version 7 UUID whose first 48 bits are the Unix time in milliseconds when it was made")
    func versionSevenWithTime() throws {
        let before = Timestamp.now().microseconds / 1000
        let ids = (0..<1_000).map { _ in EventID.random() }
        let after = Timestamp.now().microseconds / 1000
        for id in ids {
            #expect((id.high >> 12) & 0xF == 7, "version nibble of \(id)")
            #expect(id.low >> 62 == 0b10, "RFC 9562 variant of \(id)")
            let ms = Int64(id.high >> 16)
            #expect(ms >= before && ms <= after, "time \(ms) of \(id) outside [\(before), \(after)]")
        }
        // Foundation reads the same fields back from the text form.
        let text = ids[0].description
        #expect(Array(text)[14] == "7", "version digit of \(text)")
        #expect("89ab".contains(Array(text)[19]), "variant digit of \(text)")
        #expect(EventID(string: text) == ids[0])
        #expect(EventID(ids[0].uuid) == ids[0])
    }

    @Test("ids made in later milliseconds sort after earlier ones, as text and as UUID bytes")
    func timeOrdered() {
        let earlier = (0..<100).map { _ in EventIDGenerator.next(unixMilliseconds: 1_733_400_000_000) }
        let later = (0..<100).map { _ in EventIDGenerator.next(unixMilliseconds: 1_733_400_000_001) }
        for e in earlier {
            for l in later {
                #expect(e.description < l.description)
                #expect(e.high < l.high)
            }
        }
    }

    @Test("200,000 ids in one millisecond, from four threads, are all distinct")
    func distinctWithinOneMillisecond() async {
        let ms: UInt64 = 1_733_400_000_000
        let chunks = await withTaskGroup(of: [EventID].self) { group in
            for _ in 0..<4 { group.addTask { (0..<50_000).map { _ in EventIDGenerator.next(unixMilliseconds: ms) } } }
            var all: [[EventID]] = []
            for await c in group { all.append(c) }
            return all
        }
        let all = chunks.flatMap { $0 }
        #expect(all.count == 200_000)
        #expect(Set(all).count == 200_000)
        // The 74 mixed bits vary: not a constant, not only the low bits.
        #expect(Set(all.map { $0.high & 0xFFF }).count > 4_000)
        #expect(Set(all.map { $0.low >> 40 }).count > 150_000)
    }

    @Test("EventID and Foundation's UUID convert both ways without changing a bit")
    func uuidRoundTrip() {
        var rng = SplitMix64(seed: 29)
        for _ in 0..<1_000 {
            let id = EventID(high: rng.next(), low: rng.next())
            let u = id.uuid
            #expect(EventID(u) == id)
            #expect(u.uuidString.lowercased() == id.description)
            let bytes = withUnsafeBytes(of: u.uuid) { Array($0) }
            #expect(bytes[0] == UInt8(id.high >> 56) && bytes[7] == UInt8(truncatingIfNeeded: id.high))
            #expect(bytes[8] == UInt8(id.low >> 56) && bytes[15] == UInt8(truncatingIfNeeded: id.low))
        }
    }

    @Test("a derived id is a version 8 UUID of the RFC variant, the same for the same base, label and index, and different otherwise")
    func derivedIDs() {
        let base = EventID(string: "0b5e7c1a-2222-4a2b-8c3d-4e5f6a7b8c9d")!
        let a = EventID.derived(from: base, "StockShipped", 0)
        #expect(a == EventID.derived(from: base, "StockShipped", 0))
        let u = a.uuid.uuidString.lowercased()
        #expect(Array(u)[14] == "8" && "89ab".contains(Array(u)[19]), "\(u)")
        var seen: Set<EventID> = [a, base]
        for i in 1..<1_000 { seen.insert(.derived(from: base, "StockShipped", i)) }
        seen.insert(.derived(from: base, "StockShippeD", 0))
        seen.insert(.derived(from: EventID(high: base.high, low: base.low ^ 1), "StockShipped", 0))
        #expect(seen.count == 1_003)
    }
}
