import Foundation
import Testing
@testable import ChronikLog

@Suite struct ReadOnlyDamageTests {
    @Test func readOnlyOpenRefusesADamagedFinalBatchWhenNoWriterIsActive() async throws {
        // Proves: with no writer holding the lock, a complete final batch that fails its checksum is corruption
        // for a read-only opener too (named with file and offset) — not a torn tail quietly skipped; and the
        // writer's rule is unchanged. (With a writer active the reader stays lenient: it may see a batch mid-copy.)
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var o = LogOptions()
        o.compression = .none
        let log = try EventLog.open(at: dir, options: o)
        for i in 0..<3 { try await log.append(to: "s-\(i)", [event("Tested", "payload number \(i) of the test")]) }
        try log.close()
        let segment = dir + "/" + LogFormat.segmentFileName(base: 0)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        let at = try #require(bytes.lastIndex(of: UInt8(ascii: "2")))  // inside the last event's data
        bytes[at] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: segment))

        var ro = LogOptions()
        ro.readOnly = true
        ro.createIfMissing = false
        do {
            let opened = try EventLog.open(at: dir, options: ro)
            try opened.close()
            Issue.record("read-only open served a log whose final batch is damaged")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption, "\(e)")
            #expect(e.path?.hasSuffix(LogFormat.segmentFileName(base: 0)) == true && e.offset != nil, "\(e)")
        }
        #expect(throws: ChronikLogError.self) { _ = try EventLog.open(at: dir) }
    }
}

@Suite struct IndexLoadingTests {
    @Test func onFirstUseBuildsIndexesOnlyWhenAStreamOrIdIsAsked() async throws {
        // Proves: with `.onFirstUse`, a whole-log scan runs without the stream and id indexes, and the first stream
        // read builds them and answers exactly as a background-indexed open does.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var small = LogOptions()
        small.segmentSizeBytes = 4096
        let log = try EventLog.open(at: dir, options: small)
        var ids: [EventID] = []
        for i in 0..<60 {
            let e = event("Tested", "event \(i) with some text to fill segments")
            ids.append(e.id)
            try await log.append(to: "s-\(i % 3)", [e])
        }
        try log.close()
        var lazy = LogOptions()
        lazy.readOnly = true
        lazy.createIfMissing = false
        lazy.indexLoading = .onFirstUse
        let reader = try EventLog.open(at: dir, options: lazy)
        defer { try? reader.close() }
        #expect(try reader.scan { _ in } == 60)
        #expect(!reader.isIndexed)
        var versions: [UInt64] = []
        let cursor = reader.read(stream: "s-1")
        while let e = try cursor.next() { versions.append(e.version.value) }
        #expect(versions == Array(0..<20))
        #expect(reader.isIndexed)
        #expect(reader.position(ofEventID: ids[59]) == Position(59))
        #expect(reader.lastVersion(of: "s-2")?.value == 19)
    }
}
