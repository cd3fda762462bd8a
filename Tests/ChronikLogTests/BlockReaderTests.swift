import Foundation
import Testing
@testable import ChronikLog

@Suite("readBlocks: the log a block at a time, its events visited in ranges")
struct BlockReaderTests {
    /// Every event of `block`, visited as `parts` ranges in order.
    private func events(of block: EventBlock, parts: Int) throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        var types = EventTypeCache()
        for p in 0..<parts {
            let range = (block.eventCount * p / parts)..<(block.eventCount * (p + 1) / parts)
            try block.forEachEvent(in: range, types: &types) { out.append($0.materialize()) }
        }
        return out
    }

    @Test("blocks of any size and any limit, visited in any number of ranges, hand out exactly what readAll returns, from any position, with both codecs, across segments",
          arguments: Compression.allCases)
    func blocksMatchReadAll(codec: Compression) async throws {
        let dir = makeTempDir("blocks\(codec)")
        defer { removeDir(dir) }
        let log = try await openMixedLog(at: dir, codec: codec, seed: 12)
        defer { try? log.close() }
        let all = try log.readAll().collect()
        #expect(log.state.withLock { $0.segments.count } > 1)
        for start in [0, 1, 57, all.count / 2, all.count - 1, all.count] {
            for (size, limit) in [(1, Int.max), (4, Int.max), (7, 13), (1000, Int.max), (1000, 1), (5, 0)] {
                for parts in [1, 3, 8] {
                    let reader = log.readBlocks(from: Position(UInt64(start)))
                    var seen: [RecordedEvent] = []
                    var left = limit
                    while left > 0 {
                        let block = try reader.nextBlock(events: size, limit: left)
                        if block.eventCount == 0 { break }
                        #expect(block.eventCount <= left)
                        seen += try events(of: block, parts: parts)
                        left -= block.eventCount
                        #expect(reader.position == UInt64(start + seen.count), "start \(start), size \(size)")
                    }
                    let expected = Array(all.dropFirst(start).prefix(limit))
                    #expect(seen == expected, "start \(start), size \(size), limit \(limit), parts \(parts)")
                }
            }
        }
    }

    @Test("a reader reads up to the head of its creation")
    func headAtCreation() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        try await log.append(to: "a", (0..<5).map { event("E", "e\($0)") })
        let reader = log.readBlocks()
        try await log.append(to: "a", [event("E", "later")])
        let block = try reader.nextBlock()
        var data: [String] = []
        var types = EventTypeCache()
        try block.forEachEvent(types: &types) { data.append(String(decoding: $0.data, as: UTF8.self)) }
        #expect(data == ["e0", "e1", "e2", "e3", "e4"])
        #expect(reader.end == 5)
        #expect(try reader.nextBlock().eventCount == 0)
    }

    @Test("a damaged batch: the block before it is handed out whole, then the next call refuses it with file and offset")
    func damageIsReportedAfterTheIntactEvents() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (reader, path, at) = try await openThenDamage(at: dir)
        defer { try? reader.close() }
        let blocks = reader.readBlocks()
        let first = try blocks.nextBlock(events: 100)
        #expect(first.eventCount > 0 && first.eventCount < 10)
        var payloads: [String] = []
        var types = EventTypeCache()
        try first.forEachEvent(types: &types) { payloads.append(String(decoding: $0.data, as: UTF8.self)) }
        #expect(payloads == (0..<first.eventCount).map { "event number \($0)" })
        do {
            _ = try blocks.nextBlock(events: 100)
            Issue.record("the reader should refuse the damaged batch")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption)
            #expect(e.path == path)
            #expect(e.offset.map { $0 <= Int64(at) } == true, "offset \(String(describing: e.offset)) should be at or before byte \(at)")
        }
    }

    @Test("a closed log refuses the next block")
    func closedLog() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        try await log.append(to: "a", [event("E", "x")])
        let reader = log.readBlocks()
        try log.close()
        #expect(throws: ChronikLogError.self) { _ = try reader.nextBlock() }
    }
}
