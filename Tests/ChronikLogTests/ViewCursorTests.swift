import Foundation
import Testing
@testable import ChronikLog

@Suite("readViews: borrowed reads that keep their place between steps")
struct ViewCursorTests {
    @Test("steps of any size hand out exactly what readAll returns, from any position, with both codecs, across segments",
          arguments: Compression.allCases)
    func stepsMatchReadAll(codec: Compression) async throws {
        let dir = makeTempDir("views\(codec)")
        defer { removeDir(dir) }
        let log = try await openMixedLog(at: dir, codec: codec, seed: 11)
        defer { try? log.close() }
        let all = try log.readAll().collect()
        for start in [0, 1, 57, all.count / 2, all.count - 1, all.count] {
            for step in [1, 4, 7, 1000] {
                let cursor = log.readViews(from: Position(UInt64(start)))
                var seen: [RecordedEvent] = []
                var steps = 0
                while case let n = try cursor.next(step, { seen.append($0.materialize()) }), n > 0 {
                    #expect(n <= step)
                    #expect(cursor.position == UInt64(start + seen.count))
                    steps += 1
                }
                #expect(cursor.isAtEnd)
                #expect(seen == Array(all.dropFirst(start)), "start \(start), step \(step)")
                #expect(steps == (all.count - start + step - 1) / step, "start \(start), step \(step)")
            }
        }
    }

    @Test("a cursor reads up to the head of its creation; a step that throws leaves it at that event")
    func headAtCreationAndThrowingStep() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        try await log.append(to: "a", (0..<5).map { event("E", "e\($0)") })
        let cursor = log.readViews()
        try await log.append(to: "a", [event("E", "later")])
        struct Stop: Error {}
        var count = 0
        #expect(throws: Stop.self) {
            _ = try cursor.next(10) { _ in
                if count == 2 { throw Stop() }
                count += 1
            }
        }
        #expect(cursor.position == 2)
        var rest: [String] = []
        #expect(try cursor.next(10) { rest.append(String(decoding: $0.data, as: UTF8.self)) } == 3)
        #expect(rest == ["e2", "e3", "e4"])
        #expect(cursor.end == 5)
        #expect(try cursor.next(10) { _ in } == 0)
    }

    @Test("a damaged batch is refused with file and offset; what came before it was intact")
    func damageIsReported() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let (reader, path, at) = try await openThenDamage(at: dir)
        defer { try? reader.close() }
        let cursor = reader.readViews()
        var payloads: [String] = []
        do {
            while try cursor.next(3, { payloads.append(String(decoding: $0.data, as: UTF8.self)) }) > 0 {}
            Issue.record("the cursor should refuse the damaged batch")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption)
            #expect(e.path == path)
            #expect(e.offset.map { $0 <= Int64(at) } == true, "offset \(String(describing: e.offset)) should be at or before byte \(at)")
        }
        #expect(payloads.count < 10)
        #expect(payloads == (0..<payloads.count).map { "event number \($0)" })
    }
}
