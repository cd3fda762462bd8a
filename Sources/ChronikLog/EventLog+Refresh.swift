extension EventLog {
    /// For a read-only opener: picks up batches and segments that the
    /// writing process committed since the last look. A batch still being
    /// written (incomplete or not yet checksummed) is left for next time.
    /// A no-op for the writer, whose state is always current.
    ///
    /// - Throws: `ChronikLogError(.io)` on read errors.
    public func refresh() throws {
        guard isReadOnly else { return }
        waitUntilIndexed()
        try state.withLock { st in
            while true {
                if let seg = st.segments.last {
                    let size = try seg.file.size()
                    var scanner = BatchScanner(file: seg.file, path: seg.path, start: seg.committedBytes, end: size)
                    var added: [(offset: Int64, base: UInt64, count: UInt32)] = []
                    var head = st.head
                    var hash = st.lastHash
                    scan: while true {
                        let step = try scanner.next { header, bytes, offset -> (BatchEntry, [EventID])? in
                            guard header.basePosition == head, header.previousHash == hash,
                                  var d = try? DecodedBatch(batch: bytes, header: header, verifyChecksum: false),
                                  let ids = try? d.allIDs() else { return nil }
                            hash = chainHash(ofBatch: bytes)
                            return (BatchEntry(offset: offset, basePosition: header.basePosition, count: UInt32(header.count),
                                               stream: d.stream, firstStreamVersion: header.firstStreamVersion), ids)
                        }
                        guard case .success(let found?) = step else { break scan }
                        let (b, ids) = found
                        st.index(stream: b.stream, firstVersion: b.firstStreamVersion, basePosition: b.basePosition, count: b.count, ids: ids)
                        added.append((b.offset, b.basePosition, b.count))
                        head += UInt64(b.count)
                    }
                    if !added.isEmpty {
                        seg.commit(batches: added, endOffset: scanner.offset, lastHash: hash)
                        st.head = head
                        st.lastHash = hash
                    }
                }
                // A segment starting at the head means the writer rolled.
                let nextPath = directory + "/" + LogFormat.segmentFileName(base: st.head)
                guard st.segments.last?.base != st.head || st.segments.isEmpty, storage.exists(nextPath) else { break }
                let file = try storage.openFile(nextPath, create: false, readOnly: true)
                let header = try file.readBytes(count: LogFormat.segmentHeaderSize, at: 0)
                guard Segment.checkHeader(header, base: st.head) == nil else {
                    file.close()
                    break
                }
                st.segments.last?.seal()
                st.segments.append(Segment(base: st.head, directory: directory, file: file, table: Segment.Table(
                    committedBytes: Int64(LogFormat.segmentHeaderSize), eventCount: 0, batchOffsets: [], batchBases: [],
                    lastHash: st.lastHash, sealed: false)))
            }
        }
        wakeWaiters()
    }
}
