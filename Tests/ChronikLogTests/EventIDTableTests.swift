import ChronikTestSupport
import Testing
@testable import ChronikLog

@Suite("EventIDTable")
struct EventIDTableTests {
    @Test("EventIDIndex (the public face, InputIDs' map) keeps the first value of an id and finds every id after growth")
    func publicIndex() {
        var rng = SplitMix64(seed: 9)
        var index = EventIDIndex()
        var ids: [EventID] = []
        for i in 0..<5_000 {
            let id = EventID(high: rng.next(), low: rng.next())
            ids.append(id)
            #expect(index.insert(id, value: UInt64(i)) == nil)
        }
        for (i, id) in ids.enumerated() where i % 3 == 0 {
            #expect(index.insert(id, value: 99_999) == UInt64(i), "the first value is kept")
        }
        #expect(index.count == 5_000)
        #expect(ids.enumerated().allSatisfy { index.value(of: $1) == UInt64($0) })
        #expect(index.value(of: EventID(high: rng.next(), low: rng.next())) == nil)
    }

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

    @Test("a batch insert stops at the first id already present and leaves the table as inserts one by one do", arguments: [4, 5] as [UInt64])
    func batchInsertMatchesOneByOne(seed: UInt64) {
        // Proves: `insert(_:from:)` (prefetching, verify's path) answers and
        // fills exactly as `insert(_:position:)` does, duplicates included.
        var rng = SplitMix64(seed: seed)
        var batched = EventIDTable()
        var single = EventIDTable()
        var seen: [EventID] = []
        var position: UInt64 = 0
        for b in 0..<300 {
            var ids = (0..<Int(rng.next() % 40 + 1)).map { i in
                i % 4 == 1 ? EventID(high: 0x0190_0000_0000_7000, low: rng.next() % 5000) : EventID(high: rng.next(), low: rng.next())
            }
            if b % 5 == 0, let old = seen.randomElement(using: &rng) { ids.insert(old, at: Int(rng.next() % UInt64(ids.count + 1))) }
            var expected: (index: Int, prior: UInt64)?
            for (k, id) in ids.enumerated() {
                if let prior = single.insert(id, position: position + UInt64(k)) { expected = (k, prior); break }
            }
            let found = batched.insert(ids[...], from: position)
            #expect(found?.index == expected?.index && found?.prior == expected?.prior, "batch \(b)")
            #expect(batched.count == single.count)
            seen += ids.prefix((expected?.index ?? ids.count))
            position += UInt64(ids.count)
        }
        for id in seen { #expect(batched.position(of: id) == single.position(of: id)) }
    }

    @Test("the writer's prefetching lookup and insert of a batch's ids answer and fill as one by one, with ids present, repeated and in pending runs", arguments: [6, 7] as [UInt64])
    func prefetchingLookupAndInsertMatchOneByOne(seed: UInt64) {
        // Proves: containsAny and insertAll (the writer's stage and publish) agree with position(of:) and insert(_:position:).
        var rng = SplitMix64(seed: seed)
        var fast = EventIDTable(), single = EventIDTable()
        var seen: [EventID] = []
        var position: UInt64 = 0
        for b in 0..<400 {
            var ids = (0..<Int(rng.next() % 30 + 1)).map { _ in EventID(high: rng.next(), low: rng.next()) }
            if b % 4 == 0, let old = seen.randomElement(using: &rng) { ids[Int(rng.next() % UInt64(ids.count))] = old }
            if b % 9 == 0, ids.count > 2 { ids[ids.count - 1] = ids[0] }  // repeated within the batch
            let expected = ids.contains { single.position(of: $0) != nil }
            #expect(fast.containsAny(count: ids.count) { ids[$0] } == expected, "batch \(b)")
            for (k, id) in ids.enumerated() { single.insert(id, position: position + UInt64(k)) }
            fast.insertAll(count: ids.count, from: position) { ids[$0] }
            #expect(fast.count == single.count)
            seen += ids
            position += UInt64(ids.count)
        }
        for id in seen { #expect(fast.position(of: id) == single.position(of: id)) }
        // With pending runs (right after a reopen) both take the one-by-one path.
        var bytes: [UInt8] = []
        IDList(Array(seen.prefix(50))).appendHashOrdered(to: &bytes)
        var pending = EventIDTable()
        pending.pendingRuns = [(base: 0, ids: IDList(hashOrdered: bytes, offset: 0, count: 50))]
        #expect(pending.containsAny(count: 1) { _ in seen[10] })
        #expect(!pending.containsAny(count: 1) { _ in EventID(high: 1, low: 2) })
    }

    @Test("a table whose zeroing is cancelled is not made; one that is not cancelled is empty and whole")
    func cancelledInit() throws {
        // Proves: the background id-table load of a closed log stops while zeroing (IndexLoader), and the cancellable init builds the same table otherwise.
        var asked = 0
        #expect(EventIDTable(minimumCapacity: 1 << 22, unless: { asked += 1; return true }) == nil)
        #expect(asked == 1, "asked after the first 4 MiB")
        var table = try #require(EventIDTable(minimumCapacity: 1 << 20, unless: { false }))
        #expect(table.count == 0 && table.position(of: EventID(high: 0, low: 0)) == nil)
        for i in 0..<1000 { table.insert(EventID(high: UInt64(i), low: 7), position: UInt64(i)) }
        #expect(table.position(of: EventID(high: 999, low: 7)) == 999)
    }
}
