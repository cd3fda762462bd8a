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
        var options = LogOptions()
        options.compression = .none
        do {
            let log = try EventLog.open(at: dir, options: options)
            for i in 0..<10 { try await log.append(to: "s", [event("E", "event number \(i)")]) }
            try log.close()
        }
        var ro = LogOptions()
        ro.readOnly = true
        let reader = try EventLog.open(at: dir, options: ro)
        defer { try? reader.close() }
        #expect(try reader.scan { _ in } == 10)
        // Damage a batch after the open accepted it: the scan must notice.
        let path = dir + "/" + LogFormat.segmentFileName(base: 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let at = bytes.count / 2
        bytes[at] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: path))
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
