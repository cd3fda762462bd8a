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
    /// (rebuilt from the events). The directory is made whole or not at all
    /// (`Storage.createDirectoryDurably`): a crash leaves no half copy under
    /// the name.
    ///
    /// - Throws: `ChronikLogError` — `.invalidOption` when `destination`
    ///   exists; `.io` on a read or write failure (the partial directory is
    ///   removed).
    public func copy(to destination: String) throws -> LogCopyReport {
        // One instant: the segments, how far each is committed, the head.
        let (segments, head, headHash) = state.withLock { s in
            (s.segments.map { (base: $0.base, table: $0.snapshot) }, s.head, s.lastHash)
        }
        return try storage.createDirectoryDurably(destination) { partial in
            func copy(_ name: String, length: Int64? = nil) throws -> Int64 {
                try storage.copyFile(directory + "/" + name, to: partial + "/" + name, length: length)
            }
            var bytes = try copy(LogFormat.metaFileName)
            for (i, segment) in segments.enumerated() {
                bytes += try copy(LogFormat.segmentFileName(base: segment.base), length: segment.table.committedBytes)
                let index = LogFormat.indexFileName(base: segment.base)
                if i < segments.count - 1 && segment.table.sealed && storage.exists(directory + "/" + index) {
                    bytes += try copy(index)
                }
            }
            return LogCopyReport(head: Position(head), headHash: headHash, segments: segments.count, bytes: bytes)
        }
    }
}
