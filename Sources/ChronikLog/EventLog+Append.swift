import Dispatch

/// One append call waiting for the writer.
struct AppendRequest: Sendable {
    var stream: String
    var events: [ProposedEvent]
    var expected: ExpectedVersion
    /// Encoded and compressed by the appending task, before queueing.
    var payload: EncodedPayload
    var continuation: CheckedContinuation<AppendResult, any Error>
}

extension EventLog {
    /// Appends events to one stream as one atomic batch.
    ///
    /// Returns once the batch is durable as `durability` promises (with
    /// `.fsync`, on disk). Concurrent calls share writes and fdatasyncs.
    /// Event ids make retries idempotent: when every id is already in the
    /// log with the same stream, type, data and metadata, nothing is
    /// written and the original positions come back (`wasDuplicate`).
    ///
    /// - Parameters:
    ///   - stream: 1...256 bytes of UTF-8.
    ///   - events: 1 or more events, each at most `maxEventBytes` encoded.
    ///   - expected: the stream state this append is conditional on.
    /// - Throws: `ChronikLogError` — `.wrongExpectedVersion` (with stream,
    ///   expected and actual version), `.duplicateEventId`,
    ///   `.invalidStreamName`, `.invalidEventType`, `.eventTooLarge`,
    ///   `.invalidBatch`, `.io` (nothing was written), `.writerPoisoned`,
    ///   `.readOnly`, `.closed`. On any error nothing of the batch is visible.
    @discardableResult
    public func append(to stream: String, _ events: [ProposedEvent], expected: ExpectedVersion = .any) async throws -> AppendResult {
        try validate(stream: stream, events: events)
        guard let writer else { throw ChronikLogError(.readOnly, "log opened read-only", path: directory) }
        let payload = EncodedPayload(stream: stream, events: events, compression: compression)
        return try await withCheckedThrowingContinuation { c in
            let request = AppendRequest(stream: stream, events: events, expected: expected, payload: payload, continuation: c)
            let rejected: ChronikLogError? = state.withLock { s in
                if s.closed { return ChronikLogError(.closed, "log is closed", path: directory) }
                if let p = s.poisoned { return p }
                s.pending.append(request)
                if s.flushScheduled { return nil }
                s.flushScheduled = true
                writer.queue.async { writer.flush() }
                return nil
            }
            if let rejected { c.resume(throwing: rejected) }
        }
    }

    /// Appends one event; see `append(to:_:expected:)`.
    @discardableResult
    public func append(to stream: String, _ event: ProposedEvent, expected: ExpectedVersion = .any) async throws -> AppendResult {
        try await append(to: stream, [event], expected: expected)
    }

    /// Checks what can be checked without the log's state.
    func validate(stream: String, events: [ProposedEvent]) throws {
        let n = stream.utf8.count
        guard n >= 1, n <= LogFormat.maxStreamNameBytes else {
            throw ChronikLogError(.invalidStreamName, n == 0 ? "stream name is empty" : "stream name is \(n) bytes, at most \(LogFormat.maxStreamNameBytes) allowed")
        }
        guard !events.isEmpty else { throw ChronikLogError(.invalidBatch, "a batch needs at least one event") }
        guard events.count <= LogFormat.maxEventsPerBatch else {
            throw ChronikLogError(.invalidBatch, "a batch holds at most \(LogFormat.maxEventsPerBatch) events, got \(events.count)")
        }
        var seen = EventIDTable(minimumCapacity: events.count)
        var total = 0
        for (i, e) in events.enumerated() {
            let t = e.type.utf8.count
            guard t >= 1, t <= LogFormat.maxEventTypeBytes else {
                throw ChronikLogError(.invalidEventType, "event \(i): type must be 1...\(LogFormat.maxEventTypeBytes) bytes, got \(t)")
            }
            let size = e.encodedSize
            guard size <= options.maxEventBytes else {
                throw ChronikLogError(.eventTooLarge, "event \(i) (\(e.type)) is \(size) bytes encoded, at most \(options.maxEventBytes) allowed")
            }
            guard seen.insert(e.id, position: UInt64(i)) == nil else {
                throw ChronikLogError(.duplicateEventId, "event id \(e.id) appears twice in one batch")
            }
            total += size
        }
        guard total + n + 16 <= LogFormat.maxBatchPayloadBytes else {
            throw ChronikLogError(.invalidBatch, "batch of \(total) bytes exceeds \(LogFormat.maxBatchPayloadBytes)")
        }
    }
}

/// The single writer: runs on a serial queue, takes every pending append,
/// encodes them into one buffer, writes it with one pwrite and makes it
/// durable with one fdatasync (group commit), then acknowledges them all.
final class Writer: @unchecked Sendable {
    // Everything below is touched only on `queue` (and at init), which
    // serialises it; `log` is set once right after init.
    let queue = DispatchQueue(label: "chronik.writer", qos: .userInitiated)
    unowned(unsafe) var log: EventLog!
    let directory: String
    let options: LogOptions
    let compression: Compression
    var active: Segment
    var activeFile: any StorageFile { active.file }
    /// Batches and ids of the active segment, for its index file at seal.
    var activeBatches: [BatchEntry]
    var activeIDs: [EventID]
    var buffer: [UInt8] = []
    var lastSync = ContinuousClock.now
    var syncScheduled = false
    /// Bytes written past the last fdatasync (interval and none modes).
    var unsynced = false
    /// Set by finish(): the log is closing; deferred syncs must not run.
    var finished = false

    init(directory: String, options: LogOptions, compression: Compression, active: Segment,
         activeBatches: [BatchEntry], activeIDs: [EventID]) {
        self.directory = directory
        self.options = options
        self.compression = compression
        self.active = active
        self.activeBatches = activeBatches
        self.activeIDs = activeIDs
    }

    /// A batch staged in this flush.
    /// Ids staged in the current flush (reused between flushes).
    var stagedIDs = EventIDTable()

    /// The request and event index of a position staged in this flush.
    func stagedRequest(containing position: UInt64, _ staged: [Staged]) -> (Int, Int) {
        // Staged batches are in position order.
        var lo = 0, hi = staged.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if staged[mid].base <= position { lo = mid } else { hi = mid - 1 }
        }
        return (staged[lo].request, Int(position - staged[lo].base))
    }

    struct Staged {
        var request: Int
        var segment: Segment
        var offset: Int64
        var end: Int64
        var base: UInt64
        var count: UInt32
        var firstVersion: UInt64
        var hash: ChainHash
    }

    enum Outcome {
        case pending
        case done(AppendResult)
        case failed(any Error)
    }

    func flush() {
        log.waitUntilIndexed()
        let (requests, head0, hash0) = log.state.withLock { s in
            let p = s.pending
            s.pending = []
            s.flushScheduled = false
            return (p, s.head, s.lastHash)
        }
        if requests.isEmpty { return }
        if let poisoned = log.state.withLock({ $0.poisoned }) {
            for r in requests { r.continuation.resume(throwing: poisoned) }
            return
        }
        var outcomes = [Outcome](repeating: .pending, count: requests.count)
        var staged: [Staged] = []
        stagedIDs.removeAll()
        stagedIDs.reserve(requests.reduce(0) { $0 + $1.events.count })
        var stagedVersions: [String: UInt64] = [:]
        var position = head0
        var hash = hash0
        buffer.removeAll(keepingCapacity: true)
        var bufferStart = active.committedBytes
        let original = active
        let activeBatchCount = activeBatches.count
        let activeIDCount = activeIDs.count
        rollUndo = RollUndo()
        let recordedAt = Timestamp.now()

        do {
            for (ri, req) in requests.enumerated() {
                // One look at the committed state per request: whether any id
                // is already in the log, and the stream's version.
                let (anyKnown, committedVersion) = log.state.withLock { s in
                    (req.events.contains { s.ids.position(of: $0.id) != nil }, s.streams[req.stream]?.lastVersion)
                }
                // Idempotency: ids already in the log (or staged) decide first.
                // The per-event arrays are built only on that rare path.
                if anyKnown || req.events.contains(where: { stagedIDs.position(of: $0.id) != nil }) {
                    let known: [UInt64?] = log.state.withLock { s in req.events.map { s.ids.position(of: $0.id) } }
                    var prior = [UInt64?](repeating: nil, count: req.events.count)
                    var priorStaged = [(Int, Int)?](repeating: nil, count: req.events.count)
                    for (i, e) in req.events.enumerated() {
                        if let k = known[i] { prior[i] = k } else if let p = stagedIDs.position(of: e.id) {
                            prior[i] = p
                            priorStaged[i] = stagedRequest(containing: p, staged)
                        }
                    }
                    outcomes[ri] = resolveDuplicate(req, prior: prior, priorStaged: priorStaged, requests: requests, outcomes: outcomes)
                    continue
                }
                // Optimistic concurrency.
                let current: UInt64? = stagedVersions[req.stream] ?? committedVersion
                if let mismatch = check(req.expected, current: current, stream: req.stream) {
                    outcomes[ri] = .failed(mismatch)
                    continue
                }
                let firstVersion = current.map { $0 + 1 } ?? 0
                // Roll the segment when this batch would overflow it.
                let estimate = req.payload.batchLength
                let activeHasData = bufferStart + Int64(buffer.count) > Int64(LogFormat.segmentHeaderSize)
                if activeHasData && bufferStart + Int64(buffer.count) + Int64(estimate) > Int64(options.segmentSizeBytes) {
                    try writeBuffer(at: bufferStart)
                    try roll(sealedEnd: bufferStart + Int64(buffer.count), lastHash: hash, stagedHere: staged.filter { $0.segment === active })
                    bufferStart = Int64(LogFormat.segmentHeaderSize)
                    buffer.removeAll(keepingCapacity: true)
                }
                let offset = bufferStart + Int64(buffer.count)
                // Recovery tells an interrupted write from damage to synced
                // bytes by this bit (FORMAT.md, recovery rule 4).
                let newHash = BatchEncoder.append(req.payload, basePosition: position, firstStreamVersion: firstVersion,
                                                  recordedAt: recordedAt, previousHash: hash,
                                                  unsyncedPredecessor: unsynced || !buffer.isEmpty, into: &buffer)
                staged.append(Staged(request: ri, segment: active, offset: offset, end: bufferStart + Int64(buffer.count),
                                     base: position, count: UInt32(req.events.count),
                                     firstVersion: firstVersion, hash: newHash))
                activeBatches.append(BatchEntry(offset: offset, basePosition: position, count: UInt32(req.events.count),
                                                stream: req.stream, firstStreamVersion: firstVersion))
                for (i, e) in req.events.enumerated() {
                    stagedIDs.insert(e.id, position: position + UInt64(i))
                    activeIDs.append(e.id)
                }
                stagedVersions[req.stream] = firstVersion + UInt64(req.events.count) - 1
                outcomes[ri] = .done(AppendResult(
                    positions: (0..<req.events.count).map { Position(position + UInt64($0)) },
                    versions: (0..<req.events.count).map { StreamVersion(firstVersion + UInt64($0)) },
                    wasDuplicate: false))
                position += UInt64(req.events.count)
                hash = newHash
            }
            if !buffer.isEmpty { try writeBuffer(at: bufferStart) }
            if !staged.isEmpty {
                do { try syncIfDue() } catch { throw FsyncFailed(error: error) }
            }
        } catch {
            let failure: any Error
            if let f = error as? FsyncFailed {
                // A failed fsync leaves the disk state unknown: the kernel
                // may have dropped the dirty pages, and a later fsync would
                // not say so. Refuse appends until a reopen recovers from
                // what is actually there.
                failure = f.error
                poison(f.error)
            } else if undo(to: original, committedBytes: original.committedBytes, batchCount: activeBatchCount, idCount: activeIDCount) {
                // A failed write, create or rename (ENOSPC, EIO), also while
                // sealing: nothing of the group is on disk any more and the
                // log stays usable.
                failure = error
            } else {
                // Even taking the group back failed: only a reopen can tell
                // what is on disk.
                failure = error
                poison(error)
            }
            for (i, r) in requests.enumerated() {
                if case .failed(let e) = outcomes[i] { r.continuation.resume(throwing: e) } else { r.continuation.resume(throwing: failure) }
            }
            return
        }
        publish(staged: staged, requests: requests, head: position, hash: hash)
        for (i, r) in requests.enumerated() {
            switch outcomes[i] {
            case .done(let result): r.continuation.resume(returning: result)
            case .failed(let e): r.continuation.resume(throwing: e)
            case .pending: preconditionFailure("every request gets an outcome")
            }
        }
    }

    /// An fsync that failed: the one failure a writer cannot take back.
    struct FsyncFailed: Error { let error: any Error }

    func poison(_ error: any Error) {
        let poison = ChronikLogError(.writerPoisoned, "an earlier write or fsync failed (\(error)); reopen the log to recover", path: directory)
        log.state.withLock { $0.poisoned = poison }
    }

    /// What a flush's segment rolls left behind, for `undo`.
    struct RollUndo {
        /// The original active segment's tables, taken by the first roll.
        var tables: (batches: [BatchEntry], ids: [EventID])?
        /// Index and segment files the rolls wrote or began to write.
        var paths: [String] = []
    }

    var rollUndo = RollUndo()

    /// Takes back a flush that failed before its fsync: removes the files
    /// its rolls created (then syncs the directory), cuts the original
    /// active segment back to its committed end and fdatasyncs that, so the
    /// disk holds exactly what readers see and a later write can never land
    /// in front of stale bytes. Returns false when any of it fails: the disk
    /// state is then unknown.
    private func undo(to original: Segment, committedBytes: Int64, batchCount: Int, idCount: Int) -> Bool {
        if let t = rollUndo.tables {
            activeBatches = t.batches
            activeIDs = t.ids
        }
        activeBatches.removeLast(activeBatches.count - batchCount)
        activeIDs.removeLast(activeIDs.count - idCount)
        active = original
        for s in pendingSegments { s.file.close() }
        pendingSegments = []
        let paths = rollUndo.paths
        rollUndo = RollUndo()
        let storage = options.storage
        do {
            if !paths.isEmpty {
                for p in paths where storage.exists(p) { try storage.remove(p) }
                try storage.syncDirectory(directory)
            }
            try original.file.truncate(to: committedBytes)
            try original.file.sync()
            unsynced = false
            return true
        } catch {
            return false
        }
    }

    func check(_ expected: ExpectedVersion, current: UInt64?, stream: String) -> ChronikLogError? {
        let ok: Bool
        switch expected {
        case .any: ok = true
        case .noStream: ok = current == nil
        case .exists: ok = current != nil
        case .exact(let v): ok = current == v
        }
        if ok { return nil }
        var e = ChronikLogError(.wrongExpectedVersion,
                                "stream '\(stream)': expected version \(expected), actual \(current.map(String.init) ?? "noStream (no events)")")
        e.stream = stream
        e.expectedVersion = expected
        e.actualVersion = .some(current)
        return e
    }

    /// An append whose ids are already known: the same content everywhere
    /// is an idempotent retry; anything else is `duplicateEventId`.
    func resolveDuplicate(_ req: AppendRequest, prior: [UInt64?], priorStaged: [(Int, Int)?], requests: [AppendRequest], outcomes: [Outcome]) -> Outcome {
        func dup(_ why: String) -> Outcome { .failed(ChronikLogError(.duplicateEventId, why)) }
        var versions: [StreamVersion] = []
        for (i, e) in req.events.enumerated() {
            guard let pos = prior[i] else {
                return dup("event id \(req.events[0].id) of this batch is already in the log but \(e.id) is not: a retry must resend the same batch")
            }
            if let (r, k) = priorStaged[i] {
                guard case .done(let res) = outcomes[r] else { return dup("event id \(e.id) is used by a failed append in the same group") }
                let o = requests[r]
                guard o.stream == req.stream, o.events[k].type == e.type, o.events[k].data == e.data, o.events[k].metadata == e.metadata else {
                    return dup("event id \(e.id) is already used (position \(pos)) for other content")
                }
                versions.append(res.versions[k])
            } else {
                do {
                    guard let original = try log.event(at: Position(pos)) else { return dup("event id \(e.id) points past the head") }
                    guard original.stream == req.stream, original.type == e.type, original.data == e.data, original.metadata == e.metadata else {
                        return dup("event id \(e.id) is already used at position \(pos) (stream '\(original.stream)', type \(original.type)) for other content")
                    }
                    versions.append(original.version)
                } catch {
                    return .failed(error)
                }
            }
        }
        return .done(AppendResult(positions: prior.map { Position($0!) }, versions: versions, wasDuplicate: true))
    }

    private func writeBuffer(at offset: Int64) throws {
        try buffer.withUnsafeBytes { try activeFile.write($0, at: offset) }
        unsynced = true
    }

    /// Makes the write durable as the durability mode promises.
    private func syncIfDue() throws {
        switch options.durability {
        case .fsync:
            try activeFile.sync()
            unsynced = false
            lastSync = .now
        case .interval(let d):
            if ContinuousClock.now - lastSync >= d {
                try activeFile.sync()
                unsynced = false
                lastSync = .now
            } else if !syncScheduled {
                syncScheduled = true
                let delay = d - (ContinuousClock.now - lastSync)
                let nanos = max(0, Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000))
                queue.asyncAfter(deadline: .now() + .nanoseconds(nanos)) { [self] in
                    syncScheduled = false
                    // After finish() the log (and its files) may be gone.
                    if unsynced && !finished { syncQuietly() }
                }
            }
        case .none:
            break
        }
    }

    /// A deferred sync; a failure poisons the writer like any failed fsync.
    private func syncQuietly() {
        do {
            try activeFile.sync()
            unsynced = false
            lastSync = .now
        } catch {
            let poison = ChronikLogError(.writerPoisoned, "a deferred fsync failed (\(error)); reopen the log to recover", path: directory)
            log.state.withLock { $0.poisoned = poison }
        }
    }

    /// Seals the active segment (fsync, index file) and starts a new one.
    private func roll(sealedEnd: Int64, lastHash: ChainHash, stagedHere: [Staged]) throws {
        do { try activeFile.sync() } catch { throw FsyncFailed(error: error) }
        unsynced = false
        let committed = active.snapshot
        var table = committed
        for s in stagedHere {
            table.batchOffsets.append(s.offset)
            table.batchBases.append(s.base)
            table.eventCount += UInt64(s.count)
        }
        table.committedBytes = sealedEnd
        table.lastHash = lastHash
        let scanned = EventLog.ScannedSegment(table: table, batches: activeBatches, ids: IDList(activeIDs))
        // From here on a failure is taken back by `undo`, which needs the
        // original segment's tables and the names of the files made here.
        if rollUndo.tables == nil { rollUndo.tables = (activeBatches, activeIDs) }
        let index = directory + "/" + LogFormat.indexFileName(base: active.base)
        rollUndo.paths += [index, index + ".tmp"]
        try EventLog.writeCheckpoint(directory: directory, segment: scanned, base: active.base, storage: options.storage)
        let newBase = active.base + table.eventCount
        rollUndo.paths.append(directory + "/" + LogFormat.segmentFileName(base: newBase))
        let file = try EventLog.createSegmentFile(directory: directory, base: newBase, storage: options.storage)
        let next = Segment(base: newBase, directory: directory, file: file, table: Segment.Table(
            committedBytes: Int64(LogFormat.segmentHeaderSize), eventCount: 0, batchOffsets: [], batchBases: [], lastHash: lastHash, sealed: false))
        // Readers learn of the new segment only at publish.
        pendingSegments.append(next)
        active = next
        activeBatches = []
        activeIDs = []
    }

    var pendingSegments: [Segment] = []

    /// Makes the flushed batches visible: tables, stream index, ids, head.
    private func publish(staged: [Staged], requests: [AppendRequest], head: UInt64, hash: ChainHash) {
        let newSegments = pendingSegments
        pendingSegments = []
        guard !staged.isEmpty || !newSegments.isEmpty else { return }
        // Staged batches grouped by segment, in order.
        var groups: [(Segment, [Staged])] = []
        for s in staged {
            if let last = groups.last, last.0 === s.segment { groups[groups.count - 1].1.append(s) } else { groups.append((s.segment, [s])) }
        }
        log.state.withLock { st in
            for (seg, list) in groups {
                seg.commit(batches: list.map { ($0.offset, $0.base, $0.count) }, endOffset: list.last!.end, lastHash: list.last!.hash)
            }
            if !newSegments.isEmpty {
                // Every segment but the newest is now sealed.
                st.segments.last?.seal()
                for s in newSegments.dropLast() { s.seal() }
                st.segments.append(contentsOf: newSegments)
            }
            for s in staged {
                let req = requests[s.request]
                st.index(stream: req.stream, firstVersion: s.firstVersion, basePosition: s.base, count: s.count, ids: req.events.lazy.map(\.id))
            }
            st.head = head
            st.lastHash = hash
        }
        log.wakeWaiters()
    }

    /// Final sync at close (interval and none modes leave data unsynced);
    /// returns its failure, which `close()` throws.
    func finish() -> ChronikLogError? {
        defer { finished = true }
        guard unsynced else { return nil }
        do {
            try syncNow()
            return nil
        } catch {
            return error as? ChronikLogError ?? ChronikLogError(.io, "final fdatasync failed: \(error)", path: directory)
        }
    }

    /// An fdatasync now when anything is unsynced; a failure poisons the
    /// writer (the kernel may have dropped the dirty pages) and is thrown.
    func syncNow() throws {
        guard unsynced else { return }
        do {
            try activeFile.sync()
            unsynced = false
            lastSync = .now
        } catch {
            poison(error)
            throw error
        }
    }
}
