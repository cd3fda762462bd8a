import ChronikLog
import Foundation

/// What `FileKeyStore.copy(from:to:)` copied.
public struct KeyStoreCopyReport: Sendable {
    /// Files copied (the shards that exist, and the store's other files).
    public var files: Int
    /// Subjects whose key holds in the copy.
    public var keys: Int
    /// Subjects whose key is destroyed in the copy (`subject -`).
    public var destroyed: [String]
}

extension FileKeyStore {
    /// Copies the key store in `source` into `destination` (a new
    /// directory, mode 0700, files 0600) while a writer may add keys and
    /// destroy others: each shard up to its last complete line (a key being
    /// appended is left out, as in a crash before its event), each file
    /// synced, the directory made whole or not at all
    /// (`Storage.createDirectoryDurably`). Files a
    /// shard rewrite leaves for a moment (`.tmp`) are not copied. Every
    /// shard of the copy parses, or the copy fails.
    ///
    /// Copy the log first and its key store right after (`chronik
    /// backup`): every event of the copied log was sealed with a key made
    /// before it, so the copy holds them all; an erasure between the two
    /// copies shows as a destroyed key whose `CustomerForgotten` is not in
    /// the copied log (docs/GDPR.md, "Backups").
    public static func copy(from source: String, to destination: String, storage: any Storage = PosixStorage()) throws -> KeyStoreCopyReport {
        try storage.createDirectoryDurably(destination) { partial in
            var report = KeyStoreCopyReport(files: 0, keys: 0, destroyed: [])
            for name in try storage.listDirectory(source).sorted() where !name.hasSuffix(".tmp") && !name.contains(".tmp-") {
                let path = source + "/" + name
                guard !storage.isDirectory(path) else { continue }
                var bytes = try storage.readFile(path)
                if name.hasPrefix("keys-") {
                    // Up to the last complete line.
                    bytes.removeSubrange((bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0)...)
                    var shard = Shard()
                    try parse(bytes, into: &shard, path: path)
                    report.keys += shard.keys.count
                    report.destroyed += shard.destroyed
                }
                try storage.writeNewFile(partial + "/" + name, bytes: bytes)
                report.files += 1
            }
            report.destroyed.sort()
            return report
        }
    }
}
