extension EventLog {
    /// For a read-only opener: picks up batches and segments that the
    /// writing process committed since the last look. A batch still being
    /// written (incomplete or not yet checksummed) is left for next time.
    /// A no-op for the writer, whose state is always current.
    ///
    /// - Throws: `ChronikLogError` — `.io` on read errors; `.corruption` or
    ///   `.chainMismatch` (with file and offset) for damage after the
    ///   committed end that no writer can be in the middle of writing
    ///   (the open's rule, FORMAT.md recovery rule 4); `.closed`.
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
                        let step = try scanner.next { header, bytes, offset -> (BatchEntry, [EventID]) in
                            // A batch that matches its checksum is whole: if it
                            // does not continue the log, that is damage.
                            guard header.basePosition == head else {
                                throw ChronikLogError.corrupt("batch base position \(header.basePosition), expected \(head)", path: seg.path, offset: offset)
                            }
                            guard header.chains(to: hash) else {
                                throw ChronikLogError(.chainMismatch, "batch does not chain to the previous batch (hash chain broken)", path: seg.path, offset: offset)
                            }
                            var d: DecodedBatch
                            let ids: [EventID]
                            do {
                                d = try DecodedBatch(batch: bytes, header: header, verifyChecksum: false)
                                ids = try d.allIDs()
                            } catch {
                                throw ChronikLogError.corrupt("batch payload does not decode: \(reason(error))", path: seg.path, offset: offset)
                            }
                            hash = chainHash(ofBatch: bytes)
                            return (BatchEntry(offset: offset, basePosition: header.basePosition, count: UInt32(header.count),
                                               stream: d.stream, firstStreamVersion: header.firstStreamVersion), ids)
                        }
                        switch step {
                        case .success(let (b, ids)):
                            st.index(stream: b.stream, firstVersion: b.firstStreamVersion, basePosition: b.basePosition, count: b.count, ids: ids)
                            added.append((b.offset, b.basePosition, b.count))
                            head += UInt64(b.count)
                        case .failure(.end):
                            break scan
                        case .failure(let failure):
                            // The open's rule (FORMAT.md, rule 4): a batch the
                            // writer may still be writing is left for next
                            // time; anything else is damage, said, not waited on.
                            let besideWriter = EventLog.writerMayBeWriting(directory: directory, storage: storage)
                            if let damage = try scanner.corruptionReason(for: failure, lenient: besideWriter) {
                                throw ChronikLogError.corrupt(damage, path: seg.path, offset: failure.location.offset)
                            }
                            break scan
                        }
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
