import Testing
@testable import ChronikLog

@Suite("EventIDTable")
struct EventIDTableTests {
    @Test("agrees with a Dictionary for random, sequential and colliding-looking ids across growth", arguments: [1, 2, 3] as [UInt64])
    func matchesDictionary(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var table = EventIDTable()
        var model: [EventID: UInt64] = [:]
        for i in 0..<20_000 {
            let id: EventID
            switch i % 3 {
            case 0: id = EventID(high: rng.next(), low: rng.next())              // random (v4-like)
            case 1: id = EventID(high: 0x0190_0000_0000_7000, low: UInt64(i))    // sequential (v7-like)
            default: id = EventID(high: UInt64(i) << 32, low: 0)                 // only high bits differ
            }
            let position = UInt64(i)
            let prior = table.insert(id, position: position)
            #expect(prior == model[id], "insert \(i)")
            if model[id] == nil { model[id] = position }
            if i % 7 == 0 {
                // Re-inserting keeps the first position.
                #expect(table.insert(id, position: position + 1_000_000) == model[id])
            }
        }
        #expect(table.count == model.count)
        for (id, p) in model { #expect(table.position(of: id) == p) }
        for _ in 0..<1000 { #expect(table.position(of: EventID(high: rng.next(), low: rng.next())) == nil) }
        table.removeAll()
        #expect(table.count == 0)
        #expect(table.position(of: model.keys.first!) == nil)
    }
}
