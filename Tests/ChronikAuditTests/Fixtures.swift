import ChronikTestSupport
import Foundation
@testable import ChronikLog

/// This test process's own directory (removed at exit).
let auditTestRunDirectory = makeTestRunDirectory("chronik-audit-tests")

/// A fresh temporary directory path (not created), one per test.
func makeTempDir(_ name: String = #function) -> String {
    let base = auditTestRunDirectory
    return base + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
}

func removeDir(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}


/// Options for a small test log: tiny segments, so that it has several
/// sealed segments with index files.
func smallLogOptions(compression: Compression = .lz4, segmentSize: Int = 4096) -> LogOptions {
    var o = LogOptions()
    o.segmentSizeBytes = segmentSize
    o.durability = .none
    o.compression = compression
    return o
}

/// The data of event `i`: a JSON object with an amount (the field a forger edits).
func amountData(_ i: Int) -> [UInt8] {
    Array("{\"amount\":\(1000 + i * 7),\"currency\":\"EUR\",\"note\":\"order line \(i % 5) of the audit fixture\"}".utf8)
}

/// Appends `count` events of unknown (pass-through) types to `log`, in
/// batches of 1…`maxBatch` events over `streams` streams; event i occurs
/// at `baseTime` + i seconds. Returns nothing; read the log to compare.
func appendFixture(_ log: EventLog, count: Int, from start: Int = 0, streams: Int = 5, maxBatch: Int = 9,
                   seed: UInt64 = 42) async throws {
    var rng = SplitMix64(seed: seed &+ UInt64(start))
    var i = start
    while i < start + count {
        let n = min(Int.random(in: 1...maxBatch, using: &rng), start + count - i)
        let stream = "order-\(Int.random(in: 0..<streams, using: &rng))"
        let events = (i..<(i + n)).map { k in
            ProposedEvent(type: k % 3 == 0 ? "AuditLineAdded" : "AuditPaid", data: amountData(k),
                          metadata: Array("{\"actor\":\"clerk-\(k % 4)\"}".utf8),
                          occurredAt: Timestamp(microseconds: baseTime + Int64(k) * 1_000_000))
        }
        _ = try await log.append(to: stream, events)
        i += n
    }
}

let baseTime: Int64 = 1_795_000_000_000_000  // 2026-11-18T…Z

/// A closed log of `count` events in `dir`.
func makeFixtureLog(_ dir: String, count: Int, compression: Compression = .lz4, segmentSize: Int = 4096) async throws {
    let log = try EventLog.open(at: dir, options: smallLogOptions(compression: compression, segmentSize: segmentSize))
    try await appendFixture(log, count: count)
    log.waitUntilIndexed()
    try log.close()
}

/// Every event of the log in `dir`, read through a read-only open.
func readEverything(_ dir: String) throws -> [RecordedEvent] {
    var o = LogOptions()
    o.readOnly = true
    o.createIfMissing = false
    let log = try EventLog.open(at: dir, options: o)
    defer { try? log.close() }
    return try log.readAll().collect()
}

/// The regular files of a directory, name → bytes.
func snapshotFiles(_ dir: String) throws -> [(name: String, bytes: [UInt8])] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { name in
        (name, Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))))
    }
}

/// Writes `files` into a fresh directory `dir` (replacing what was there).
func restoreFiles(_ files: [(name: String, bytes: [UInt8])], into dir: String) throws {
    removeDir(dir)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for f in files {
        try Data(f.bytes).write(to: URL(fileURLWithPath: dir + "/" + f.name))
    }
}

func fileBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
func writeFile(_ path: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// (offset, length) of every batch of a segment file, walked by length fields.
func batchLayout(_ segment: [UInt8]) -> [(offset: Int, length: Int)] {
    var out: [(Int, Int)] = []
    var off = LogFormat.segmentHeaderSize
    while off + 8 <= segment.count {
        let length = Int(segment[off + 4]) | Int(segment[off + 5]) << 8 | Int(segment[off + 6]) << 16 | Int(segment[off + 7]) << 24
        guard length > 0, off + length <= segment.count else { break }
        out.append((off, length))
        off += length
    }
    return out
}
