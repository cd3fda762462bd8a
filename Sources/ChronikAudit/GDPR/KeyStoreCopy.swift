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
    /// synced, written under `destination.partial` and renamed. Files a
    /// shard rewrite leaves for a moment (`.tmp`) are not copied. Every
    /// shard of the copy parses, or the copy fails.
    ///
    /// Copy the log first and its key store right after (`chronik
    /// backup`): every event of the copied log was sealed with a key made
    /// before it, so the copy holds them all; an erasure between the two
    /// copies shows as a destroyed key whose `CustomerForgotten` is not in
    /// the copied log (docs/GDPR.md, "Backups").
    public static func copy(from source: String, to destination: String, storage: any Storage = PosixStorage()) throws -> KeyStoreCopyReport {
        guard !storage.exists(destination) else { throw KeyStoreError("\(destination) exists: a copy goes into a new directory", path: destination) }
        let partial = destination + ".partial"
        guard !storage.exists(partial) else {
            throw KeyStoreError("\(partial) exists (a copy that did not finish?): remove it first", path: partial)
        }
        try storage.createDirectory(partial)
        do {
            var report = KeyStoreCopyReport(files: 0, keys: 0, destroyed: [])
            for name in try storage.listDirectory(source).sorted() where !name.hasSuffix(".tmp") && !name.contains(".tmp-") {
                let path = source + "/" + name
                guard !storage.isDirectory(path) else { continue }
                var bytes = try storage.readFile(path)
                if name.hasPrefix("keys-") {
                    // Up to the last complete line.
                    let end = bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
                    bytes.removeSubrange(end...)
                    var shard = Shard()
                    try parse(bytes, into: &shard, path: path)
                    report.keys += shard.keys.count
                    report.destroyed += shard.destroyed
                }
                let f = try storage.openFile(partial + "/" + name, create: true, readOnly: false)
                do {
                    defer { f.close() }
                    try bytes.withUnsafeBytes { try f.write($0, at: 0) }
                    try f.sync()
                }
                report.files += 1
            }
            try storage.syncDirectory(partial)
            try storage.rename(partial, to: destination)
            let parent = (destination as NSString).deletingLastPathComponent
            try storage.syncDirectory(parent.isEmpty ? "." : parent)
            report.destroyed.sort()
            return report
        } catch {
            if let names = try? storage.listDirectory(partial) {
                for name in names { try? storage.remove(partial + "/" + name) }
            }
            try? storage.remove(partial)
            throw error
        }
    }
}
