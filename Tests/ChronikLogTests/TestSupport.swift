import ChronikTestSupport
import Foundation
@testable import ChronikLog

/// This test process's own directory (removed at exit).
let logTestRunDirectory = makeTestRunDirectory("chronik-tests")

/// A fresh temporary directory, removed when the test ends (via `defer`).
func makeTempDir(_ name: String = #function) -> String {
    let base = logTestRunDirectory
    let dir = base + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
    return dir
}

func removeDir(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func event(_ type: String = "Tested", _ text: String, id: EventID = .random()) -> ProposedEvent {
    ProposedEvent(id: id, type: type, data: Array(text.utf8), metadata: Array("{\"actor\":\"test\"}".utf8),
                  occurredAt: Timestamp(microseconds: 1_700_000_000_000_000))
}

/// A log of 150 appends of 1–6 events (drawn with `seed`) over 5 streams,
/// three types and payloads of several sizes, in segments of 8 KiB: what
/// the readers' tests walk from any position, across segments.
func openMixedLog(at dir: String, codec: Compression, seed: UInt64) async throws -> EventLog {
    var options = LogOptions()
    options.segmentSizeBytes = 8192
    options.compression = codec
    options.durability = .none
    let log = try EventLog.open(at: dir, options: options)
    var rng = SplitMix64(seed: seed)
    for i in 0..<150 {
        let n = Int.random(in: 1...6, using: &rng)
        try await log.append(to: "s-\(i % 5)", (0..<n).map { k in
            event(["OrderPlaced", "PaymentAuthorizedWithALongName", "X"][k % 3], String(repeating: "p\(i)-\(k) ", count: k * 20))
        })
    }
    return log
}


/// A log at `dir` of ten one-event batches ("event number 0" …, stored
/// uncompressed), opened read-only, then one byte in the middle of its
/// segment flipped: damage a reader must refuse with file and offset.
/// `beforeDamage` sees the reader while the log is intact.
func openThenDamage(at dir: String, beforeDamage: (EventLog) throws -> Void = { _ in }) async throws
    -> (reader: EventLog, path: String, at: Int) {
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
    try beforeDamage(reader)
    let path = dir + "/" + LogFormat.segmentFileName(base: 0)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let at = bytes.count / 2
    bytes[at] ^= 0x20
    try bytes.write(to: URL(fileURLWithPath: path))
    return (reader, path, at)
}
