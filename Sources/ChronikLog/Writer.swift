import Dispatch
import Synchronization

/// One fdatasync of the active segment, as `EventLog.observeSyncs` reports
/// it: how long it took and how much it made durable.
public struct SyncReport: Hashable, Sendable {
    /// Wall time of the fdatasync call alone.
    public var duration: Duration
    /// Events that this fdatasync made durable (0 for a sync at close or
    /// at a segment roll that found only bytes already counted).
    public var events: Int
    /// Batch bytes that this fdatasync made durable.
    public var bytes: Int

    public init(duration: Duration, events: Int, bytes: Int) {
        self.duration = duration
        self.events = events
        self.bytes = bytes
    }
}

/// The single writer: takes every pending append, encodes them into one
/// buffer, writes it with one pwrite and makes it durable with one
/// fdatasync (group commit), then acknowledges them all.
///
/// One flush runs these steps, each a function below:
/// 1. `takePending` — the queued requests, or nothing when poisoned;
/// 2. `stage` — per request: idempotency, expected version, then its batch
///    header and chain hash into `buffer` (rolling the segment on the way);
///    the last batch's chain hash waits for step 4 when it can (`defersHash`);
/// 3. `write` — one pwrite of `buffer`;
/// 4. `sync` — one fdatasync as the durability mode asks, with the last
///    batch's chain hash computed beside it on a helper, and a large
///    group's ids put in the id table there (`syncBeside`);
/// 5. `publish` and `acknowledge` — or, on a failure, `undo` (or `poison`)
///    and `fail`.
///
/// **Pipeline.** Steps 1–3 run under `stageLock`, steps 4–5 outside it, so
/// the next group is staged and written while this one's fdatasync runs.
/// Flushes run on two serial queues (`slots`), so at most two groups are
/// in flight: one syncing, the next staging or syncing too. Each group
/// waits for its predecessor (`Group.predecessor`) before it publishes,
/// fails or takes anything back, so groups become visible and are
/// acknowledged in log order, and an append is acknowledged only after the
/// fdatasync that covers it: a group's own fdatasync starts after its
/// pwrite returned. A failed fdatasync poisons the writer; the groups after
/// it (written, not acknowledged) then fail too. A failed write is taken
/// back under `stageLock` after the predecessor finished, so exactly that
/// group's bytes are cut and no later group is staged on top of them.
final class Writer: @unchecked Sendable {
    // MARK: State
    //
    // The writer state below (up to `previous`) is touched only while
    // holding `stageLock` (and at init); `log` is set once right after init.
    // What the sync step shares with staging is in `syncState`, which has
    // its own lock, as has `syncObserver`.

    /// The two flush slots; `queue` (the first) also runs `sync()` and
    /// `finish()`.
    let slots = [DispatchQueue(label: "chronik.writer.0", qos: .userInitiated),
                 DispatchQueue(label: "chronik.writer.1", qos: .userInitiated)]
    var queue: DispatchQueue { slots[0] }
    private let nextSlot = Atomic<Int>(0)
    /// Held while a flush takes its requests, stages and writes them.
    let stageLock = DispatchSemaphore(value: 1)
    unowned(unsafe) var log: EventLog!
    let directory: String
    let options: LogOptions
    let compression: Compression
    /// The segment batches are written to.
    var active: Segment
    /// Batches and ids of the active segment, for its index file at seal.
    var activeBatches: [BatchEntry]
    var activeIDs: [EventID]
    /// Segments rolled to in this flush; readers learn of them at publish.
    var pendingSegments: [Segment] = []
    /// What this flush's rolls left behind, for `undo`.
    var rollUndo = RollUndo()
    /// The bytes of this flush's batches (reused between flushes).
    var buffer: [UInt8] = []
    /// Ids staged in the current flush (reused between flushes).
    var stagedIDs = EventIDTable()
    /// Where the next write lands in the active segment, the position the
    /// next batch gets and its previous chain hash: ahead of the committed
    /// state while a written group waits for its fdatasync.
    var writtenEnd: Int64
    /// The end of the zeroed, synced space ahead of `writtenEnd` in the
    /// active segment (`LogOptions.zeroAheadBytes`); at most `writtenEnd`
    /// when there is none.
    var zeroedEnd: Int64
    /// Zeroing ahead failed in the active segment (a full disk): not tried
    /// again before the next segment.
    var zeroingFailed = false
    var stagedHead: UInt64
    var stagedHash: ChainHash
    /// The last group that staged batches, while it may still be in flight.
    var previous: PreviousGroup?
    /// The active segment's index file (FORMAT.md, "Index file"): written
    /// at a clean close so that the next open reads it instead of scanning
    /// the segment, removed before the segment grows.
    var activeIndex: ActiveIndex

    enum ActiveIndex {
        /// No index file for the active segment.
        case none
        /// One that describes exactly the segment's bytes.
        case current
        /// One that may not (an older close's, or one that did not load).
        case stale
    }

    /// What the sync step shares with staging.
    struct SyncState {
        /// pwrites of batches so far, and how many of them the last completed
        /// fdatasync covered: bytes are unsynced while `written > synced`.
        var writtenWrites = 0
        var syncedWrites = 0
        /// Events and bytes written and synced so far, for `SyncReport`.
        var writtenEvents = 0
        var writtenBytes = 0
        var syncedEvents = 0
        var syncedBytes = 0
        var lastSync = ContinuousClock.now
        var syncScheduled = false
        /// Set by finish(): the log is closing; deferred syncs must not run.
        var finished = false
        var unsynced: Bool { writtenWrites > syncedWrites }
    }
    let syncState = Mutex(SyncState())
    /// Called after each fdatasync of the active segment (server metrics).
    let syncObserver = Mutex<SyncObserver?>(nil)

    /// The observer in a class: a closure kept directly in the `Mutex` came
    /// back from each `withLock { $0 }` wrapped in two more reabstraction
    /// thunks (the `inout` written back through the generic), so every
    /// fdatasync called it through 2 more frames than the last
    /// (SyncObserverTests.observerDoesNotGrowPerCall).
    final class SyncObserver: Sendable {
        let call: @Sendable (SyncReport) -> Void
        init(_ call: @escaping @Sendable (SyncReport) -> Void) { self.call = call }
    }

    init(directory: String, options: LogOptions, compression: Compression, active: Segment,
         activeBatches: [BatchEntry], activeIDs: [EventID], activeIndex: ActiveIndex = .none, head: UInt64, lastHash: ChainHash) {
        self.directory = directory
        self.options = options
        self.compression = compression
        self.active = active
        self.activeBatches = activeBatches
        self.activeIDs = activeIDs
        self.activeIndex = activeIndex
        writtenEnd = active.committedBytes
        zeroedEnd = active.committedBytes
        stagedHead = head
        stagedHash = lastHash
    }

    /// The queue the next scheduled flush runs on: the slots in turn, so a
    /// flush scheduled while one syncs runs beside it.
    func slotForNextFlush() -> DispatchQueue {
        options.pipelinedWrites ? slots[nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue & 1] : slots[0]
    }

    /// The state of one flush: its requests, what each came to, and where
    /// staging stands.
    struct Group {
        let requests: [AppendRequest]
        var outcomes: [Outcome]
        var staged: [Staged] = []
        /// Each stream's version after the batches staged so far.
        var stagedVersions: [String: UInt64] = [:]
        /// The position and chain hash the next staged batch gets.
        var position: UInt64
        var hash: ChainHash
        /// File offset of `buffer[0]`.
        var bufferStart: Int64
        /// The active segment and its table sizes before the flush, for `undo`.
        let original: Segment
        let activeBatchCount: Int
        let activeIDCount: Int
        let recordedAt: Timestamp
        /// Left once this group is published, acknowledged or failed.
        let done: DispatchGroup
        /// The group staged before this one, while it may be in flight.
        var predecessor: PreviousGroup?
        /// Whether bytes written before this group's buffer are unsynced.
        var unsyncedBefore: Bool
        /// Events in `buffer`, for the sync report.
        var bufferEvents = 0
        /// Where in `buffer` the last staged batch is while its chain hash
        /// is not computed yet (`hash` and its `Staged.hash` are then
        /// placeholders): hashed when the next batch needs it as its
        /// previous hash, at a roll, at the end of staging, or beside the
        /// fdatasync (`defersHash`, `syncBeside`).
        var unhashed: Range<Int>?
        /// Set at the end of staging: the segments rolled to and the file
        /// the sync step makes durable.
        var newSegments: [Segment] = []
        var syncFile: (any StorageFile)?
    }

    /// The last group that staged batches: its ids and stream versions are
    /// not in the log's state until it publishes.
    struct PreviousGroup {
        let done: DispatchGroup
        let requests: [AppendRequest]
        let staged: [Staged]
        /// Each stream's version after the group.
        let versions: [String: UInt64]
        var isDone: Bool { done.wait(timeout: .now()) == .success }
        /// Waits until it is published, acknowledged or failed.
        func wait() { done.wait() }
    }

    /// A batch staged in this flush.
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

    /// What a flush's segment rolls left behind, for `undo`.
    struct RollUndo {
        /// The original active segment's tables, taken by the first roll.
        var tables: (batches: [BatchEntry], ids: [EventID])?
        /// Index and segment files the rolls wrote or began to write.
        var paths: [String] = []
    }

    /// An fsync that failed: the one failure a writer cannot take back.
    struct FsyncFailed: Error { let error: any Error }

    // MARK: One flush

    func flush() {
        log.waitUntilIndexed()
        stageLock.wait()
        guard let requests = takePending() else {
            stageLock.signal()
            return
        }
        var g = beginGroup(requests)
        let deferred: Bool
        do {
            try stage(&g)
            deferred = defersHash(g)
            if !deferred { hashLastBatch(&g) }
            if !buffer.isEmpty { try write(at: g.bufferStart, &g) }
        } catch {
            // Still under stageLock: no later group stages on top of the
            // bytes this one takes back.
            fail(g, error)
            stageLock.signal()
            g.done.leave()
            return
        }
        endStaging(&g)
        stageLock.signal()
        // From here on the next group may stage and write beside us.
        var syncFailure: (any Error)?
        let idsBeside = insertsIDsBeside(g)
        if !g.staged.isEmpty, let file = g.syncFile {
            do {
                if deferred || idsBeside { try syncBeside(file, &g, hashing: deferred, insertingIDs: idsBeside) } else { try sync(file) }
                try Self.checkInPlace(g.staged[g.staged.count - 1], file)
            } catch { syncFailure = FsyncFailed(error: error) }
        }
        g.predecessor?.wait()
        if let syncFailure {
            fail(g, syncFailure)
        } else if !g.staged.isEmpty, let poisoned = log.state.withLock({ $0.poisoned }) {
            // An earlier group's fdatasync failed after this one was
            // written: its bytes may follow lost ones, so it fails too.
            fail(g, poisoned)
        } else {
            publish(staged: g.staged, newSegments: g.newSegments, requests: requests, head: g.position, hash: g.hash,
                    idsInserted: idsBeside)
            acknowledge(g)
        }
        g.done.leave()
        // Let go of the group's requests now, not when the next group
        // begins: freeing a 1,000-event batch's events took ~60 µs of the
        // next append's path (stop 40).
        stageLock.wait()
        if previous?.done === g.done { previous = nil }
        // The appender, acknowledged, prepares its next batch meanwhile.
        if previous == nil && syncFailure == nil { zeroAhead() }
        stageLock.signal()
    }

    /// Keeps zeroed, synced space ahead of the writes in the active
    /// segment (`LogOptions.zeroAheadBytes`): a group written over it
    /// changes no file size, so its fdatasync writes no inode (stop 41).
    /// Called under `stageLock` with no group in flight, so no write of a
    /// batch runs beside it: the space past `writtenEnd` holds no batch,
    /// and nothing acknowledged is at stake if it fails. A failure (a full
    /// disk) cuts the file back to `writtenEnd`, so that no half-written
    /// block follows the log's end, and stops zeroing until the next
    /// segment; when even that cut fails, the writer is poisoned (what
    /// follows the end is then unknown).
    private func zeroAhead() {
        let ahead = Int64(min(max(0, options.zeroAheadBytes), Self.maxZeroAhead))
        guard ahead > 0, !zeroingFailed, case .fsync = options.durability, !options.pipelinedWrites else { return }
        guard max(zeroedEnd, writtenEnd) - writtenEnd < ahead / 2, log.state.withLock({ $0.poisoned == nil }) else { return }
        // A segment cut under the writer, as before a write (stop 38): zeros
        // written past the cut would make the file long again, and the next
        // group's check would pass over the hole (stop 52: an append was
        // acknowledged after one when the cut came between a group's
        // acknowledgement and this). Zeros cut away are written again.
        guard let size = try? active.file.size() else { return }  // nothing written; the next write checks again
        if size < writtenEnd { return poison(segmentCut(size: size, written: writtenEnd)) }
        zeroedEnd = min(zeroedEnd, size)
        let from = max(zeroedEnd, writtenEnd)
        let to = min(from + max(ahead / 4, 4096), writtenEnd + ahead, Int64(options.segmentSizeBytes))
        guard to > from else { return }
        do {
            var at = from
            while at < to {
                let n = Int(min(to - at, Int64(Self.zeros.count)))
                try Self.zeros.withUnsafeBytes { try active.file.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: at) }
                at += Int64(n)
            }
            try active.file.sync()
            zeroedEnd = to
        } catch {
            zeroingFailed = true
            do {
                try active.file.truncate(to: writtenEnd)
                try active.file.sync()
                zeroedEnd = writtenEnd
            } catch {
                poison(ChronikLogError(.io, "zeroing ahead of the writes failed and the segment could not be cut back to its end: \(error)",
                                       path: active.path))
            }
        }
    }

    /// The space past the log's end in the active segment, cut (sealing,
    /// a clean close): the segment is then exactly its batches, as its
    /// index file says. Whether there was any.
    @discardableResult
    private func cutZeroedSpace(at end: Int64) throws -> Bool {
        guard zeroedEnd > end else { return false }
        try active.file.truncate(to: end)
        zeroedEnd = end
        return true
    }

    static let maxZeroAhead = 16 << 20
    private static let zeros = [UInt8](repeating: 0, count: 256 << 10)

    /// Waits until every group staged so far is published, acknowledged or
    /// failed (`sync()`, `close()`).
    func drain() {
        stageLock.wait()
        let last = previous
        stageLock.signal()
        last?.wait()
    }

    /// Step 1: every queued request, or nil when there is none or the
    /// writer is poisoned (then each request has been failed).
    private func takePending() -> [AppendRequest]? {
        let (requests, poisoned) = log.state.withLock { s in
            let p = s.pending
            s.pending = []
            s.flushScheduled = false
            return (p, s.poisoned)
        }
        if requests.isEmpty { return nil }
        if let poisoned {
            for r in requests { r.reply.resume(throwing: poisoned) }
            return nil
        }
        return requests
    }

    private func beginGroup(_ requests: [AppendRequest]) -> Group {
        let predecessor = previous.flatMap { $0.isDone ? nil : $0 }
        if predecessor == nil {
            // Nothing in flight: the writer's view is the committed state
            // (unless a failed fdatasync just poisoned the writer).
            assert(log.state.withLock { $0.poisoned != nil || ($0.head, $0.lastHash) == (stagedHead, stagedHash) },
                   "writer ahead of a finished group")
            assert(writtenEnd == active.committedBytes || log.state.withLock { $0.poisoned != nil }, "write offset off the committed end")
            previous = nil
        }
        stagedIDs.removeAll()
        // Only a later request of the same flush looks ids up here.
        if requests.count > 1 { stagedIDs.reserve(requests.reduce(0) { $0 + $1.events.count }) }
        buffer.removeAll(keepingCapacity: true)
        rollUndo = RollUndo()
        let done = DispatchGroup()
        done.enter()
        var g = Group(requests: requests, outcomes: [Outcome](repeating: .pending, count: requests.count),
                     position: stagedHead, hash: stagedHash, bufferStart: writtenEnd, original: active,
                     activeBatchCount: activeBatches.count, activeIDCount: activeIDs.count, recordedAt: Timestamp.now(),
                     done: done, predecessor: predecessor, unsyncedBefore: syncState.withLock { $0.unsynced })
        // Grown from empty, it was rehashed at every doubling: ~0.5 % of an
        // import's writer (stop 51).
        if requests.count > 1 { g.stagedVersions.reserveCapacity(requests.count) }
        return g
    }

    /// Step 2: decides each request's outcome and stages the batches of
    /// those that will be written. Throws only for a failed write, roll or
    /// fsync while rolling the segment.
    private func stage(_ g: inout Group) throws {
        // A request whose ids the group in flight holds waits until that
        // group is published: then the committed state below decides (the
        // rare path of a retry racing its original).
        if let p = g.predecessor, Self.anyID(of: g.requests, in: p) {
            p.wait()
            g.predecessor = nil
        }
        try upgradeFormatIfNeeded(for: g.requests)
        // One look at the committed state for the whole group: whether any
        // of a request's ids is already in the log, and its stream's version.
        // Only the writer changes that state, and a group still in flight
        // (`predecessor`) adds its stream versions below.
        let committed: [(anyKnown: Bool, version: UInt64?)] = log.state.withLock { s in
            g.requests.map { req in
                (req.events.withUnsafeBufferPointer { e in s.ids.containsAny(count: e.count) { e[$0].id } }, s.streams[req.stream]?.lastVersion)
            }
        }
        let inFlight = g.predecessor?.versions ?? [:]
        for ri in g.requests.indices {
            let req = g.requests[ri]
            // A sequence that failed earlier takes nothing after the failure.
            if let s = req.sequence {
                guard s.admits(req.sequenceIndex) else {
                    var e = ChronikLogError(.notAppended, "not appended: an earlier batch of the same sequence failed", path: directory)
                    e.stream = req.stream
                    g.outcomes[ri] = .failed(e)
                    continue
                }
            }
            defer { if let s = req.sequence, case .failed = g.outcomes[ri] { s.stop(at: req.sequenceIndex) } }
            // Idempotency: ids already in the log (or staged) decide first.
            // The per-event arrays are built only on that rare path.
            if committed[ri].anyKnown || (ri > 0 && req.events.contains(where: { stagedIDs.position(of: $0.id) != nil })) {
                g.outcomes[ri] = resolveKnownIDs(req, g)
                continue
            }
            // Optimistic concurrency.
            let current: UInt64? = g.stagedVersions[req.stream] ?? inFlight[req.stream] ?? committed[ri].version
            if let mismatch = check(req.expected, current: current, stream: req.stream) {
                g.outcomes[ri] = .failed(mismatch)
                continue
            }
            try stageBatch(ri, firstVersion: current.map { $0 + 1 } ?? 0, &g)
        }
    }

    /// Moves a version 1 log to version 2 in `chronik.meta` (durably)
    /// before the first batch in LZ4 blocks is staged, so that an older
    /// build refuses the log instead of reading that batch as damage
    /// (FORMAT.md, "Versioning"; stop 40: at open, a writer that then
    /// wrote nothing, or refused the log as damaged, had upgraded it). A
    /// failure fails the group with nothing written.
    private func upgradeFormatIfNeeded(for requests: [AppendRequest]) throws {
        let needed = LogFormat.metaVersion(for: compression)
        guard log.formatVersion < needed, requests.contains(where: { $0.payload.codec == LogFormat.codecLZ4Blocks }) else { return }
        try EventLog.writeMeta(directory + "/" + LogFormat.metaFileName, compression: compression, createdAt: log.createdAt,
                               storage: options.storage)
        log.formatVersionValue.store(needed, ordering: .relaxed)
    }

    /// Whether any event of `requests` has an id that group `p` staged.
    private static func anyID(of requests: [AppendRequest], in p: PreviousGroup) -> Bool {
        var ids = EventIDTable(minimumCapacity: p.staged.reduce(0) { $0 + Int($1.count) })
        for s in p.staged {
            for (i, e) in p.requests[s.request].events.enumerated() { ids.insert(e.id, position: s.base + UInt64(i)) }
        }
        return requests.contains { r in r.events.contains { ids.position(of: $0.id) != nil } }
    }

    /// The end of steps 1–3: what the sync step needs, and the writer's
    /// view moved past this group for the next one.
    private func endStaging(_ g: inout Group) {
        g.newSegments = pendingSegments
        pendingSegments = []
        g.syncFile = active.file
        guard !g.staged.isEmpty else { return }
        stagedHead = g.position
        stagedHash = g.hash
        previous = PreviousGroup(done: g.done, requests: g.requests, staged: g.staged, versions: g.stagedVersions)
    }

    /// The outcome of a request some of whose ids are already in the log
    /// or staged earlier in this flush.
    private func resolveKnownIDs(_ req: AppendRequest, _ g: Group) -> Outcome {
        let known: [UInt64?] = log.state.withLock { s in req.events.map { s.ids.position(of: $0.id) } }
        var prior = [UInt64?](repeating: nil, count: req.events.count)
        var priorStaged = [(Int, Int)?](repeating: nil, count: req.events.count)
        for (i, e) in req.events.enumerated() {
            if let k = known[i] { prior[i] = k } else if let p = stagedIDs.position(of: e.id) {
                prior[i] = p
                priorStaged[i] = stagedRequest(containing: p, g.staged)
            }
        }
        return resolveDuplicate(req, prior: prior, priorStaged: priorStaged, requests: g.requests, outcomes: g.outcomes)
    }

    /// Encodes request `ri`'s batch header and chain hash into `buffer`
    /// behind its payload, rolling the segment first when it would overflow.
    private func stageBatch(_ ri: Int, firstVersion: UInt64, _ g: inout Group) throws {
        hashLastBatch(&g)
        let req = g.requests[ri]
        let estimate = req.payload.batchLength
        let activeHasData = g.bufferStart + Int64(buffer.count) > Int64(LogFormat.segmentHeaderSize)
        if activeHasData && g.bufferStart + Int64(buffer.count) + Int64(estimate) > Int64(options.segmentSizeBytes) {
            // Sealing writes the segment's index from its committed table:
            // the group in flight must be in it first.
            if let p = g.predecessor {
                p.wait()
                g.predecessor = nil
                if let poisoned = log.state.withLock({ $0.poisoned }) { throw poisoned }
            }
            try write(at: g.bufferStart, &g)
            try roll(sealedEnd: g.bufferStart + Int64(buffer.count), lastHash: g.hash, stagedHere: g.staged.filter { $0.segment === active })
            g.bufferStart = Int64(LogFormat.segmentHeaderSize)
            buffer.removeAll(keepingCapacity: true)
            g.unsyncedBefore = syncState.withLock { $0.unsynced }
        }
        let offset = g.bufferStart + Int64(buffer.count)
        let start = buffer.count
        // Recovery tells an interrupted write from damage to synced
        // bytes by this bit (FORMAT.md, recovery rule 4).
        _ = BatchEncoder.append(req.payload, basePosition: g.position, firstStreamVersion: firstVersion,
                                recordedAt: g.recordedAt, previousHash: g.hash,
                                unsyncedPredecessor: g.unsyncedBefore || !buffer.isEmpty, hashing: false, into: &buffer)
        let newHash = g.hash  // a placeholder until `hashLastBatch`
        g.unhashed = start..<buffer.count
        let count = req.events.count
        g.staged.append(Staged(request: ri, segment: active, offset: offset, end: g.bufferStart + Int64(buffer.count),
                               base: g.position, count: UInt32(count), firstVersion: firstVersion, hash: newHash))
        activeBatches.append(BatchEntry(offset: offset, basePosition: g.position, count: UInt32(count),
                                        stream: req.stream, firstStreamVersion: firstVersion))
        // Only a later request of the same flush looks staged ids up.
        // Read through a pointer: a loop over the events copied each one,
        // a retain and a release of its type, data and metadata (stop 28).
        let later = ri < g.requests.count - 1
        let position = g.position
        req.events.withUnsafeBufferPointer { events in
            if later { for i in events.indices { stagedIDs.insert(events[i].id, position: position + UInt64(i)) } }
            for i in events.indices { activeIDs.append(events[i].id) }
        }
        g.bufferEvents += count
        g.stagedVersions[req.stream] = firstVersion + UInt64(count) - 1
        g.outcomes[ri] = .done(AppendResult(
            positions: (0..<count).map { Position(g.position + UInt64($0)) },
            versions: (0..<count).map { StreamVersion(firstVersion + UInt64($0)) },
            wasDuplicate: false))
        g.position += UInt64(count)
        g.hash = newHash
    }

    /// The chain hash of the last staged batch, when it is not computed
    /// yet: into the group and its `Staged` entry.
    private func hashLastBatch(_ g: inout Group) {
        guard let range = g.unhashed else { return }
        let hash = buffer.withUnsafeBytes { chainHash(ofBatch: UnsafeRawBufferPointer(rebasing: $0[range])) }
        setLastHash(hash, &g)
    }

    private func setLastHash(_ hash: ChainHash, _ g: inout Group) {
        g.unhashed = nil
        g.hash = hash
        g.staged[g.staged.count - 1].hash = hash
    }

    /// Whether the group's ids go into the log's id table beside its
    /// fdatasync, on a helper, rather than in `publish` after it (stop 43):
    /// a 1,000-event batch's inserts in a table of a million took ~70 µs of
    /// cache misses between the fdatasync and the acknowledgement. Readers
    /// take an id only below the head (`EventLog.State.visiblePosition`); the
    /// writer stages no id of a group in flight (a request holding one waits
    /// for it, `stage`), and a failed fdatasync poisons the writer, so an id
    /// in the table above the head is never one the log holds or accepts.
    /// For groups of many events only: one event's insert costs less than
    /// the hand-off.
    private func insertsIDsBeside(_ g: Group) -> Bool {
        guard !options.pipelinedWrites, case .fsync = options.durability else { return false }
        return g.staged.reduce(0) { $0 + Int($1.count) } >= 256
    }

    private static func insertIDs(of events: [ProposedEvent], at base: UInt64, into ids: inout EventIDTable) {
        events.withUnsafeBufferPointer { e in ids.insertAll(count: e.count, from: base) { e[$0].id } }
    }

    /// Whether the last batch's chain hash waits for the sync step, to be
    /// computed on a helper beside the fdatasync (stop 40: ~60–90 µs of a
    /// 1,000-event batch's SHA-256 off its path). Only for a batch of 64 KiB
    /// or more (a small one's hash costs less than waking the helper: with
    /// every batch deferred, 64 single-event appenders lost ~10 %), with
    /// one group in flight and an fdatasync per group: then no other group
    /// stages before this flush has set `stagedHash`.
    private func defersHash(_ g: Group) -> Bool {
        guard let range = g.unhashed, range.count >= 64 << 10, !options.pipelinedWrites,
              case .fsync = options.durability else { return false }
        return true
    }

    /// Step 3: one pwrite of the staged bytes.
    private func write(at offset: Int64, _ g: inout Group) throws {
        if activeIndex != .none {
            // Stale from this write on: a later open would not use it (the
            // sizes differ) but `verify` would warn about it. Not synced: a
            // crash that brings it back leaves the same harmless file.
            try? options.storage.remove(directory + "/" + LogFormat.indexFileName(base: active.base))
            activeIndex = .none
        }
        // The segment must still hold what was written before: a file cut
        // under the writer would take this write after a hole of zeros
        // (stop 38, a chaos test: acknowledged, while the batches cut away
        // were gone). One fstat a group; it poisons the writer like a
        // failed fdatasync, and takes nothing back (a cut back to the
        // committed end would fill the hole with zeros).
        let size = try active.file.size()
        if size < offset { throw FsyncFailed(error: segmentCut(size: size, written: offset)) }
        try buffer.withUnsafeBytes { try active.file.write($0, at: offset) }
        writtenEnd = offset + Int64(buffer.count)
        syncState.withLock { s in
            s.writtenWrites += 1
            s.writtenEvents += g.bufferEvents
            s.writtenBytes += buffer.count
        }
        g.bufferEvents = 0
    }

    /// What the writer says of its segment cut under it, shorter than the
    /// `written` bytes it holds (stop 38).
    private func segmentCut(size: Int64, written: Int64) -> ChronikLogError {
        ChronikLogError(.io, "the segment file is \(size) bytes, shorter than the \(written) already written to it: it was cut while "
                        + "the log was open; nothing more is acknowledged, and the next open names the damage", path: active.path)
    }

    /// After step 4, before anything is acknowledged: the segment the
    /// group's last batch went to must still be a file of the log (stop
    /// 38, a chaos test: with the log directory deleted under a running
    /// server, appends were acknowledged into files no path named, and
    /// lost at exit). One fstat a group. A failure poisons the writer like
    /// a failed fdatasync: what was acknowledged before is gone too, which
    /// only a copy can bring back.
    private static func checkInPlace(_ last: Staged, _ file: any StorageFile) throws {
        guard last.segment.file === file else { return }
        if try file.linkCount() == 0 { throw segmentDeleted(last.segment.path) }
    }

    /// What a writer says of a segment deleted under it (also a probe's
    /// `EventLog.checkFilesInPlace`).
    static func segmentDeleted(_ path: String) -> ChronikLogError {
        ChronikLogError(.io, "the segment file was deleted while the log was open: the appends written to it are in no file "
                        + "(was the log directory removed?); nothing more is acknowledged, restore the log from a copy", path: path)
    }

    /// Step 4: makes the write durable as the durability mode promises.
    /// Runs outside `stageLock`, beside the next group's staging.
    private func sync(_ file: any StorageFile) throws {
        switch options.durability {
        case .fsync:
            try syncActive(file)
        case .interval(let d):
            let (due, delay): (Bool, Duration?) = syncState.withLock { s in
                let since = ContinuousClock.now - s.lastSync
                if since >= d { return (true, nil) }
                if s.syncScheduled { return (false, nil) }
                s.syncScheduled = true
                return (false, d - since)
            }
            if due {
                try syncActive(file)
            } else if let delay {
                let nanos = max(0, Int(delay.components.seconds) * 1_000_000_000 + Int(delay.components.attoseconds / 1_000_000_000))
                queue.asyncAfter(deadline: .now() + .nanoseconds(nanos)) { [self] in
                    // After finish() the log (and its files) may be gone.
                    let run = syncState.withLock { s in
                        s.syncScheduled = false
                        return s.unsynced && !s.finished
                    }
                    if run { syncQuietly() }
                }
            }
        case .none:
            break
        }
    }

    /// Step 4 with work beside the fdatasync on a helper: with `hashing`,
    /// the last batch's chain hash (`defersHash`), then set where staging
    /// left placeholders: the group, its last `Staged`, and `stagedHash` for
    /// the next group; with `insertingIDs`, the group's ids into the log's
    /// id table (`insertsIDsBeside`).
    private func syncBeside(_ file: any StorageFile, _ g: inout Group, hashing: Bool, insertingIDs: Bool) throws {
        let range = hashing ? g.unhashed! : 0..<0
        let hash = Mutex<ChainHash?>(nil)
        let runs = insertingIDs ? g.staged.map { ($0.base, g.requests[$0.request].events) } : []
        let log: EventLog = self.log
        // The fdatasync stays on the writer's thread (the sync observer
        // runs there); the hash and the ids go to a helper.
        let synced: Result<Void, any Error> = buffer.withUnsafeBytes { all in
            nonisolated(unsafe) let batch = UnsafeRawBufferPointer(rebasing: all[range])
            return Helpers.beside({
                if hashing { hash.withLock { $0 = chainHash(ofBatch: batch) } }
                if !runs.isEmpty {
                    log.state.withLock { st in for (base, events) in runs { Self.insertIDs(of: events, at: base, into: &st.ids) } }
                }
            }) { Result { try sync(file) } }
        }
        if hashing {
            setLastHash(hash.withLock { $0 }!, &g)
            stageLock.wait()
            stagedHash = g.hash
            stageLock.signal()
        }
        try synced.get()
    }

    /// The one fdatasync of the active segment after writes: timed and
    /// reported to the observer, which runs here on the writer (once per
    /// fdatasync, not per append). It covers every write that returned
    /// before it started; two of them may run at once (a group's, and the
    /// next group's or a roll's), so what each reports is counted once.
    private func syncActive(_ file: any StorageFile) throws {
        let (writes, events, bytes) = syncState.withLock { ($0.writtenWrites, $0.writtenEvents, $0.writtenBytes) }
        let started = ContinuousClock.now
        try file.sync()
        let duration = ContinuousClock.now - started
        let report: SyncReport = syncState.withLock { s in
            let r = SyncReport(duration: duration, events: max(0, events - s.syncedEvents), bytes: max(0, bytes - s.syncedBytes))
            s.syncedWrites = max(s.syncedWrites, writes)
            s.syncedEvents = max(s.syncedEvents, events)
            s.syncedBytes = max(s.syncedBytes, bytes)
            s.lastSync = .now
            return r
        }
        if let observer = syncObserver.withLock({ $0 }) { observer.call(report) }
    }

    /// A deferred sync; a failure poisons the writer like any failed fsync.
    private func syncQuietly() {
        stageLock.wait()
        defer { stageLock.signal() }
        do {
            try syncActive(active.file)
        } catch {
            let poison = ChronikLogError(.writerPoisoned, "a deferred fsync failed (\(error)); reopen the log to recover", path: directory)
            log.state.withLock { $0.poisoned = poison }
        }
    }

    /// Step 5a: makes the flushed batches visible: tables, stream index,
    /// ids, head.
    private func publish(staged: [Staged], newSegments: [Segment], requests: [AppendRequest], head: UInt64, hash: ChainHash,
                         idsInserted: Bool = false) {
        guard !staged.isEmpty || !newSegments.isEmpty else { return }
        log.state.withLock { st in
            // Staged batches are in segment order: each segment commits its
            // run of them.
            var start = staged.startIndex
            while start < staged.endIndex {
                let seg = staged[start].segment
                let end = staged[start...].firstIndex { $0.segment !== seg } ?? staged.endIndex
                let run = staged[start..<end]
                seg.commit(batches: run.map { ($0.offset, $0.base, $0.count) }, endOffset: run.last!.end, lastHash: run.last!.hash)
                start = end
            }
            if !newSegments.isEmpty {
                // Every segment but the newest is now sealed.
                st.segments.last?.seal()
                for s in newSegments.dropLast() { s.seal() }
                st.segments.append(contentsOf: newSegments)
            }
            for s in staged {
                let req = requests[s.request]
                st.streams[req.stream, default: StreamEntry()].add(firstVersion: s.firstVersion, firstPosition: s.base, count: s.count)
                if !idsInserted { Self.insertIDs(of: req.events, at: s.base, into: &st.ids) }
            }
            st.head = head
            st.lastHash = hash
        }
        log.wakeWaiters()
    }

    /// Step 5a, continued: resumes every request with its outcome.
    private func acknowledge(_ g: Group) {
        for (i, r) in g.requests.enumerated() {
            switch g.outcomes[i] {
            case .done(let result): r.reply.resume(returning: result)
            case .failed(let e): r.reply.resume(throwing: e)
            case .pending: preconditionFailure("every request gets an outcome")
            }
        }
    }

    /// Step 5b: a flush that failed. Takes the group back (or poisons the
    /// writer when that is impossible) and fails every request that would
    /// have been written. Waits for the group in flight before it first:
    /// what is taken back is then exactly this group. Only a failed fsync
    /// or a writer already poisoned reach it outside `stageLock`, and
    /// neither takes anything back.
    private func fail(_ g: Group, _ error: any Error) {
        g.predecessor?.wait()
        let failure: any Error
        if let f = error as? FsyncFailed {
            // A failed fsync leaves the disk state unknown: the kernel
            // may have dropped the dirty pages, and a later fsync would
            // not say so. Refuse appends until a reopen recovers from
            // what is actually there.
            failure = f.error
            poison(f.error)
        } else if log.state.withLock({ $0.poisoned != nil }) {
            // An earlier fsync failed: the disk state is unknown already,
            // there is nothing this group could take back reliably.
            failure = error
        } else if undo(to: g.original, committedBytes: g.original.committedBytes, batchCount: g.activeBatchCount, idCount: g.activeIDCount) {
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
        for (i, r) in g.requests.enumerated() {
            r.sequence?.stop(at: r.sequenceIndex)
            if case .failed(let e) = g.outcomes[i] { r.reply.resume(throwing: e) } else { r.reply.resume(throwing: failure) }
        }
    }

    func poison(_ error: any Error) {
        let poison = ChronikLogError(.writerPoisoned, "an earlier write or fsync failed (\(error)); reopen the log to recover", path: directory)
        log.state.withLock { $0.poisoned = poison }
    }

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
            syncState.withLock { s in
                s.writtenWrites = s.syncedWrites
                s.writtenEvents = s.syncedEvents
                s.writtenBytes = s.syncedBytes
            }
            writtenEnd = committedBytes
            zeroedEnd = committedBytes
            (stagedHead, stagedHash) = log.state.withLock { ($0.head, $0.lastHash) }
            previous = nil
            return true
        } catch {
            return false
        }
    }

    // MARK: Rules of one request

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

    /// What differs between an id's event and a new one with the same id:
    /// the stream alone is said as such (stop 34: a retry sent to another
    /// stream read "for other content" while type and data were the same).
    static func otherContent(_ stream: String, to newStream: String, sameEvent: Bool) -> String {
        stream != newStream && sameEvent
            ? "in another stream: an id names one event of one stream; this append is to '\(newStream)'"
            : "for other content"
    }

    /// An append whose ids are already known: the same content everywhere
    /// is an idempotent retry; anything else is `duplicateEventId`.
    func resolveDuplicate(_ req: AppendRequest, prior: [UInt64?], priorStaged: [(Int, Int)?], requests: [AppendRequest], outcomes: [Outcome]) -> Outcome {
        // `index`: the event of the batch the refusal is about (stop 36: a
        // service saw only the message name it).
        func dup(_ why: String, _ index: Int) -> Outcome { .failed(ChronikLogError(.duplicateEventId, why, index: index)) }
        var versions: [StreamVersion] = []
        for (i, e) in req.events.enumerated() {
            guard let pos = prior[i] else {
                return dup("event id \(req.events[0].id) of this batch is already in the log but \(e.id) is not: a retry must resend the same batch", i)
            }
            if let (r, k) = priorStaged[i] {
                guard case .done(let res) = outcomes[r] else { return dup("event id \(e.id) is used by a failed append in the same group", i) }
                let o = requests[r]
                guard o.stream == req.stream, o.events[k].type == e.type, o.events[k].data == e.data, o.events[k].metadata == e.metadata else {
                    return dup("event id \(e.id) is already used (position \(pos)) " + Self.otherContent(o.stream, to: req.stream, sameEvent: o.events[k].type == e.type && o.events[k].data == e.data && o.events[k].metadata == e.metadata), i)
                }
                versions.append(res.versions[k])
            } else {
                do {
                    guard let original = try log.event(at: Position(pos)) else { return dup("event id \(e.id) points past the head", i) }
                    guard original.stream == req.stream, original.type == e.type, original.data == e.data, original.metadata == e.metadata else {
                        return dup("event id \(e.id) is already used at position \(pos) (stream '\(original.stream)', type \(original.type)) "
                                   + Self.otherContent(original.stream, to: req.stream, sameEvent: original.type == e.type && original.data == e.data && original.metadata == e.metadata), i)
                    }
                    versions.append(original.version)
                } catch {
                    return .failed(error)
                }
            }
        }
        // The same batch: its events where they were written, one after
        // another (stop 34: a batch resent in another order was taken for
        // a retry and answered firstPosition after lastPosition).
        let positions = prior.map { $0! }
        for i in positions.indices.dropFirst() where positions[i] != positions[0] + UInt64(i) {
            return dup("event id \(req.events[i].id) is in the log at position \(positions[i]), not right after event \(i - 1)'s "
                       + "(\(positions[i - 1])): a retry must resend the same batch, in its order", i)
        }
        return .done(AppendResult(positions: positions.map { Position($0) }, versions: versions, wasDuplicate: true))
    }

    // MARK: Segments

    /// Seals the active segment (fsync, index file) and starts a new one.
    private func roll(sealedEnd: Int64, lastHash: ChainHash, stagedHere: [Staged]) throws {
        try cutZeroedSpace(at: sealedEnd)
        do { try syncActive(active.file) } catch { throw FsyncFailed(error: error) }
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
        zeroedEnd = next.committedBytes
        zeroingFailed = false
    }

    // MARK: Close and explicit sync

    /// Final sync at close (interval and none modes leave data unsynced);
    /// returns its failure, which `close()` throws. Waits for the group in
    /// flight first.
    func finish() -> ChronikLogError? {
        drain()
        stageLock.wait()
        defer {
            syncState.withLock { $0.finished = true }
            stageLock.signal()
        }
        do {
            try syncActiveIfUnsynced()
        } catch {
            return error as? ChronikLogError ?? ChronikLogError(.io, "final fdatasync failed: \(error)", path: directory)
        }
        // The unused zeroed space: a closed log's segment ends at its last
        // batch. If the cut fails, the next open finds the zeros and cuts
        // them (FORMAT.md, recovery rule 4).
        if log.state.withLock({ $0.poisoned == nil }), (try? cutZeroedSpace(at: writtenEnd)) == true {
            try? active.file.sync()
        }
        writeActiveIndex()
        return nil
    }

    /// At a clean close, the active segment's index file, so that the next
    /// open loads it like a sealed segment's instead of decompressing and
    /// hashing the whole segment (stop 21: 135 of a 10 M-event log's
    /// ~390 ms reopen). Derived data: a failure here only costs the next
    /// open its scan, so it is not the close's failure.
    private func writeActiveIndex() {
        guard activeIndex != .current, log.state.withLock({ $0.poisoned == nil }) else { return }
        let table = active.snapshot
        guard !activeBatches.isEmpty, activeBatches.count == table.batchOffsets.count,
              UInt64(activeIDs.count) == table.eventCount, table.committedBytes == writtenEnd else { return }
        let scanned = EventLog.ScannedSegment(table: table, batches: activeBatches, ids: IDList(activeIDs))
        if (try? EventLog.writeCheckpoint(directory: directory, segment: scanned, base: active.base, storage: options.storage)) != nil {
            activeIndex = .current
        }
    }

    /// An fdatasync now when anything is unsynced, after the group in
    /// flight; a failure poisons the writer (the kernel may have dropped
    /// the dirty pages) and is thrown.
    func syncNow() throws {
        drain()
        stageLock.wait()
        defer { stageLock.signal() }
        try syncActiveIfUnsynced()
    }

    private func syncActiveIfUnsynced() throws {
        guard syncState.withLock({ $0.unsynced }) else { return }
        do {
            try syncActive(active.file)
        } catch {
            poison(error)
            throw error
        }
    }
}
