import Foundation
import Testing
@testable import ChronikLog

@Suite("scan: borrowed, allocation-free reads")
struct ScanTests {
    @Test("scan visits exactly what readAll returns, from any position, with both codecs, across segments", arguments: Compression.allCases)
    func scanMatchesReadAll(codec: Compression) async throws {
        let dir = makeTempDir("scan\(codec)")
        defer { removeDir(dir) }
        let log = try await openMixedLog(at: dir, codec: codec, seed: 7)
        defer { try? log.close() }
        let all = try log.readAll().collect()
        for start in [0, 1, 57, all.count / 2, all.count - 1, all.count] {
            var seen: [RecordedEvent] = []
            let visited = try log.scan(from: Position(UInt64(start))) { seen.append($0.materialize()) }
            #expect(visited == all.count - start, "start \(start)")
            #expect(seen == Array(all.dropFirst(start)), "start \(start)")
        }
    }

    @Test("scan refuses a damaged batch with file and offset instead of returning altered data")
    func scanDetectsCorruption() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        // Damage a batch after the open accepted it: the scan must notice.
        let (reader, path, at) = try await openThenDamage(at: dir) { intact in
            let visited = try intact.scan { _ in }
            #expect(visited == 10)
        }
        defer { try? reader.close() }
        var payloads: [String] = []
        do {
            try reader.scan { payloads.append(String(decoding: $0.data, as: UTF8.self)) }
            Issue.record("scan should refuse the damaged batch")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption)
            #expect(e.path == path)
            #expect(e.offset.map { $0 <= Int64(at) } == true, "offset \(String(describing: e.offset)) should be at or before byte \(at)")
        }
        // Everything handed out before the damage was intact.
        #expect(payloads == (0..<payloads.count).map { "event number \($0)" })
    }
}
