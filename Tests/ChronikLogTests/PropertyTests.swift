import ChronikTestSupport
import Foundation
import Testing
@testable import ChronikLog

@Suite("Properties")
struct PropertyTests {
    static var seeds: [UInt64] {
        if let s = ProcessInfo.processInfo.environment["CHRONIK_PROPERTY_SEED"], let v = UInt64(s) { return [v] }
        let n = Int(ProcessInfo.processInfo.environment["CHRONIK_PROPERTY_RUNS"] ?? "") ?? 6
        return (0..<UInt64(n)).map { 0xC0FFEE &+ $0 &* 7919 }
    }

    @Test("random batches survive write, reopen and read: readAll, stream reads and positions match a model", arguments: seeds)
    func randomBatchesSurviveReopen(seed: UInt64) async throws {
        print("property seed \(seed) (replay with CHRONIK_PROPERTY_SEED=\(seed))")
        var rng = SplitMix64(seed: seed)
        let dir = makeTempDir("prop\(seed)")
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = [4096, 6000, 65536][Int.random(in: 0..<3, using: &rng)]
        options.compression = Bool.random(using: &rng) ? .lz4 : .none
        options.durability = .none
        options.maxEventBytes = 32 * 1024
        var model: [(stream: String, event: ProposedEvent)] = []
        var versions: [String: UInt64] = [:]
        var log = try EventLog.open(at: dir, options: options)
        for round in 0..<80 {
            let stream = "s-\(Int.random(in: 0..<9, using: &rng))"
            let count = [1, 1, 2, 3, 10, 40][Int.random(in: 0..<6, using: &rng)]
            let events = (0..<count).map { i -> ProposedEvent in
                let size = [0, 1, 17, 250, 4000, 9000][Int.random(in: 0..<6, using: &rng)]
                let data = (0..<size).map { _ in UInt8.random(in: 97...100, using: &rng) }
                let meta = Bool.random(using: &rng) ? [] : Array("m\(round).\(i)".utf8)
                return ProposedEvent(id: EventID(high: rng.next(), low: rng.next()), type: "T\(Int.random(in: 0..<4, using: &rng))",
                                     data: data, metadata: meta,
                                     occurredAt: Timestamp(microseconds: Int64.random(in: -1_000_000_000...4_000_000_000_000_000, using: &rng)))
            }
            let expected: ExpectedVersion = Bool.random(using: &rng) ? .any : (versions[stream].map { .exact($0) } ?? .noStream)
            let r = try await log.append(to: stream, events, expected: expected)
            #expect(r.firstPosition.value == UInt64(model.count), "round \(round)")
            for e in events { model.append((stream, e)) }
            versions[stream] = (versions[stream].map { $0 + 1 } ?? 0) + UInt64(count) - 1
            if Int.random(in: 0..<15, using: &rng) == 0 {
                try log.close()
                log = try EventLog.open(at: dir, options: options)
                #expect(log.head.value == UInt64(model.count), "reopen at round \(round)")
            }
        }
        defer { try? log.close() }
        let all = try log.readAll().collect()
        try #require(all.count == model.count)
        for (i, e) in all.enumerated() {
            let m = model[i]
            #expect(e.stream == m.stream && e.id == m.event.id && e.type == m.event.type && e.data == m.event.data
                    && e.metadata == m.event.metadata && e.occurredAt == m.event.occurredAt, "position \(i)")
        }
        for (stream, last) in versions {
            let evs = try log.read(stream: stream).collect()
            #expect(evs.count == Int(last) + 1, "stream \(stream)")
            #expect(evs.map(\.id) == model.filter { $0.stream == stream }.map(\.event.id), "stream \(stream)")
        }
        let start = Int.random(in: 0..<model.count, using: &rng)
        #expect(try log.readAll(from: Position(UInt64(start)), direction: .backward).collect().map(\.id)
                == model.prefix(start + 1).reversed().map(\.event.id))
    }
}
