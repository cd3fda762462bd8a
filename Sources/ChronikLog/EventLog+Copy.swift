/// What `EventLog.copy(to:)` copied.
public struct LogCopyReport: Sendable, Hashable {
    /// The copy's head: it holds every event before it, no other.
    public var head: Position
    /// The chain hash of the copy's last batch (the log's at `head`).
    public var headHash: ChainHash
    public var segments: Int
    /// Bytes copied: the metadata, the segments and their index files.
    public var bytes: Int64
}

extension EventLog {
    /// Copies the log as it stands now into `destination`, a new directory,
    /// while the writer (this process's or another's) goes on appending: a
    /// point-in-time copy that opens as a log of its own and verifies.
    ///
    /// What a file copier cannot promise (stop 37, an operator's backups
    /// during appends: a copier that reads the directory while it copies
    /// missed 114 segments in the middle; `*.log` then `*.idx` copied an
    /// index whose segment was created between the two): the segment list
    /// and the head are taken at one instant; every segment is copied up to
    /// the bytes committed then (sealed segments and the batches before the
    /// head never change again); a sealed segment's index file goes with it
    /// (written once, at sealing), the active segment's does not (the copy's
    /// open scans it); `chronik.meta` is copied, so the copy is the same log
    /// (digests, key stores) up to its head. `snapshots/` is not copied
    /// (rebuilt from the events). The copy is written into
    /// `destination.partial`, each file synced, then renamed to
    /// `destination` and the parent directory synced: a crash leaves no
    /// half copy under the name.
    ///
    /// - Throws: `ChronikLogError` — `.invalidOption` when `destination`
    ///   exists; `.io` on a read or write failure (the partial directory is
    ///   removed).
    public func copy(to destination: String) throws -> LogCopyReport {
        guard !storage.exists(destination) else {
            throw ChronikLogError(.invalidOption, "\(destination) exists: a copy goes into a new directory", path: destination)
        }
        let partial = destination + ".partial"
        if storage.exists(partial) {
            throw ChronikLogError(.invalidOption, "\(partial) exists (a copy that did not finish?): remove it first", path: partial)
        }
        // One instant: the segments, how far each is committed, the head.
        let (segments, head, headHash) = state.withLock { s in
            (s.segments.map { (base: $0.base, table: $0.snapshot) }, s.head, s.lastHash)
        }
        try storage.createDirectory(partial)
        do {
            var bytes: Int64 = 0
            bytes += try copyFile(LogFormat.metaFileName, from: directory, to: partial, length: nil)
            for (i, segment) in segments.enumerated() {
                bytes += try copyFile(LogFormat.segmentFileName(base: segment.base), from: directory, to: partial,
                                      length: segment.table.committedBytes)
                let index = LogFormat.indexFileName(base: segment.base)
                if i < segments.count - 1 && segment.table.sealed && storage.exists(directory + "/" + index) {
                    bytes += try copyFile(index, from: directory, to: partial, length: nil)
                }
            }
            try storage.syncDirectory(partial)
            try storage.rename(partial, to: destination)
            let parent = parentDirectory(destination)
            try storage.syncDirectory(parent.isEmpty ? "." : parent)
            return LogCopyReport(head: Position(head), headHash: headHash, segments: segments.count, bytes: bytes)
        } catch {
            if let names = try? storage.listDirectory(partial) {
                for name in names { try? storage.remove(partial + "/" + name) }
            }
            try? storage.remove(partial)
            throw error
        }
    }

    /// Copies `name` (its first `length` bytes, or all of it) in 1 MiB
    /// steps and syncs the copy; returns the bytes copied.
    private func copyFile(_ name: String, from source: String, to target: String, length: Int64?) throws -> Int64 {
        let input = try storage.openFile(source + "/" + name, create: false, readOnly: true)
        defer { input.close() }
        let total = try length ?? input.size()
        let output = try storage.openFile(target + "/" + name, create: true, readOnly: false)
        defer { output.close() }
        var offset: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < total {
            let want = Int(min(Int64(buffer.count), total - offset))
            let got = try buffer.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), at: offset) }
            guard got == want else {
                throw ChronikLogError(.io, "\(name) ended at byte \(offset + Int64(got)) while copying \(total) bytes", path: source + "/" + name)
            }
            try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<want]), at: offset) }
            offset += Int64(want)
        }
        try output.sync()
        return total
    }
}
