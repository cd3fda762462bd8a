import ChronikAudit
import ChronikTestSupport
import Foundation
import Testing

/// Proves `FileKeyStore.copy(from:to:)` (stop 37, `chronik backup`): a key
/// being appended when the copy reads its file is left out (as in a crash
/// before its event), every other key and every destruction is copied, and
/// the copy opens as a key store with the same keys.
@Suite struct KeyStoreCopyTests {
    @Test func aHalfWrittenKeyIsLeftOutAndTheRestIsCopied() throws {
        let dir = makeTempDir()
        let target = makeTempDir("keys-copy")
        defer { removeDir(dir); removeDir(target) }
        let store = try FileKeyStore(directory: dir)
        var keys: [String: [UInt8]] = [:]
        for i in 0..<300 { keys["customer:c-\(i)"] = try store.key(for: "customer:c-\(i)", create: true) }
        try store.destroy(subject: "customer:c-7")
        keys["customer:c-7"] = nil
        // A line being written: the subject and half its key, no newline.
        let shard = store.shardPath(for: "customer:c-1")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: shard))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("customer:new QUJD".utf8))
        try handle.close()

        let report = try FileKeyStore.copy(from: dir, to: target)
        #expect(report.keys == 299 && report.destroyed == ["customer:c-7"], "\(report)")
        #expect(!FileManager.default.fileExists(atPath: target + ".partial"))
        let copy = try FileKeyStore(directory: target, readOnly: true)
        for (subject, key) in keys { #expect(try copy.key(for: subject, create: false) == key, "\(subject)") }
        #expect(copy.isDestroyed(subject: "customer:c-7"))
        #expect(try copy.key(for: "customer:new", create: false) == nil)
        #expect(throws: (any Error).self) { try FileKeyStore.copy(from: dir, to: target) }  // exists: refused
    }
}
