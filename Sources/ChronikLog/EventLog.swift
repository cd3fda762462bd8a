import Dispatch
import Synchronization

/// Where one stream's events are: runs of consecutive versions that sit at
/// consecutive positions (one run per batch).
struct StreamRun: Hashable, Sendable {
    var firstVersion: UInt64
    var firstPosition: UInt64
    var count: UInt32
}

struct StreamEntry: Sendable {
    var runs: [StreamRun] = []
    var lastVersion: UInt64 {
        let r = runs[runs.count - 1]
        return r.firstVersion + UInt64(r.count) - 1
    }

    /// Position of the event with `version`, if the stream has it.
    func position(of version: UInt64) -> UInt64? {
        guard let last = runs.last, version < last.firstVersion + UInt64(last.count) else { return nil }
        var lo = 0, hi = runs.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if runs[mid].firstVersion <= version { lo = mid } else { hi = mid - 1 }
        }
        let r = runs[lo]
        guard version >= r.firstVersion else { return nil }
        return r.firstPosition + (version - r.firstVersion)
    }

    mutating func add(firstVersion: UInt64, firstPosition: UInt64, count: UInt32) {
        if var last = runs.last, last.firstVersion + UInt64(last.count) == firstVersion,
           last.firstPosition + UInt64(last.count) == firstPosition {
            last.count += count
            runs[runs.count - 1] = last
        } else {
            runs.append(StreamRun(firstVersion: firstVersion, firstPosition: firstPosition, count: count))
        }
    }
}

/// A segmented, checksummed, hash-chained, append-only event log.
///
/// One process writes (an advisory lock keeps others out); any number of
/// read-only openers may read, in this process or others. Appends from
/// many tasks are committed together: one write and one fdatasync
/// acknowledge a whole group (group commit).
///
/// ```swift
/// let log = try EventLog.open(at: "/var/lib/shop/log")
/// let r = try await log.append(to: "order-42", [ProposedEvent(type: "OrderPlaced", data: bytes)],
///                              expected: .noStream)
/// var cursor = log.read(stream: "order-42")
/// while let event = try cursor.next() { print(event.type) }
/// ```
public final class EventLog: Sendable {
    /// The log's directory.
    public let directory: String
    /// The compression recorded in the log when it was created.
    public let compression: Compression
    /// When the log was created (from `chronik.meta`): with the directory,
    /// what tells one log from another (digests, key stores).
    public let createdAt: Timestamp
    /// The format version `chronik.meta` states (FORMAT.md, "Versioning"):
    /// 1, or 2 once the log may hold batches in LZ4 blocks. A writer moves
    /// a version 1 log to 2 just before its first such batch.
    public var formatVersion: Int { Int(formatVersionValue.load(ordering: .relaxed)) }
    let formatVersionValue: Atomic<UInt16>
    /// What recovery did when the log was opened.
    public let recovery: RecoveryReport
    public let isReadOnly: Bool

    let options: LogOptions
    let storage: any Storage
    let state: Mutex<State>
    let writer: Writer?
    private let lock: (any StorageLock)?
    let indexGate = Gate()
    /// The sealed segments' id table loading in the background, if any.
    private let preloaded: IndexLoader?
    private let closedFlag = Atomic<Bool>(false)

    struct State: ~Copyable {
        var segments: [Segment]
        /// The position the next event gets.
        var head: UInt64
        var lastHash: ChainHash
        /// Stream and id indexes: complete only once `indexGate` is open.
        var streams: [String: StreamEntry] = [:]
        /// The streams the index load reserved room for
        /// (`IndexLoader.streamCount`), kept for tests.
        var streamsReserved = 0
        var ids = EventIDTable()
        var poisoned: ChronikLogError?
        var closed = false
        var pending: [AppendRequest] = []
        var flushScheduled = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID = 0

        /// The position of the event with `id` among those readers see
        /// (below the head): the writer puts a large group's ids in `ids`
        /// beside its fdatasync, before it publishes the group (stop 43,
        /// `Writer.insertsIDsBeside`).
        func visiblePosition(of id: EventID) -> UInt64? {
            guard let p = ids.position(of: id), p < head else { return nil }
            return p
        }

        /// Adds one committed batch to the stream and id indexes.
        mutating func index<IDs: Sequence<EventID>>(stream: String, firstVersion: UInt64, basePosition: UInt64, count: UInt32, ids: IDs) {
            streams[stream, default: StreamEntry()].add(firstVersion: firstVersion, firstPosition: basePosition, count: count)
            for (i, id) in ids.enumerated() { self.ids.insert(id, position: basePosition + UInt64(i)) }
        }
    }

    init(directory: String, compression: Compression, createdAt: Timestamp, formatVersion: UInt16, recovery: RecoveryReport,
         options: LogOptions, lock: (any StorageLock)?, segments: [Segment], head: UInt64, lastHash: ChainHash,
         writer: Writer?, toIndex: [IndexRun], preloaded: IndexLoader? = nil) {
        self.directory = directory
        self.compression = compression
        self.createdAt = createdAt
        self.formatVersionValue = Atomic(formatVersion)
        self.recovery = recovery
        self.options = options
        self.storage = options.storage
        self.isReadOnly = options.readOnly
        self.lock = lock
        self.writer = writer
        self.preloaded = preloaded
        self.state = Mutex(State(segments: segments, head: head, lastHash: lastHash))
        if options.indexLoading == .onFirstUse && preloaded == nil {
            deferredIndex.withLock { $0 = toIndex }
        } else {
            startIndexing(toIndex, after: preloaded)
        }
    }

    /// What `.onFirstUse` index loading has not started on yet.
    private let deferredIndex = Mutex<[IndexRun]?>(nil)

    // MARK: Background index loading

    /// Builds the stream and id indexes off the opening thread, so that
    /// opening a large log costs O(segments) plus the active segment's scan.
    /// Everything that needs them (appends, stream reads, stream counts)
    /// waits for `waitUntilIndexed()`; reading the whole log does not.
    ///
    /// With `full` (the sealed segments' index files), the gate opens as
    /// soon as the stream index and the other segments' ids are in: lookups
    /// search the index files' hash-ordered id sections
    /// (`EventIDTable.pendingRuns`) until the full table, whose load starts
    /// only then, is swapped in.
    private func startIndexing(_ segments: [IndexRun], after full: IndexLoader? = nil) {
        if full == nil && segments.allSatisfy({ $0.ids.count == 0 }) {
            indexGate.open()
            return
        }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let deferred = { (run: IndexRun) in full != nil && run.ids.isHashOrdered }
            do {
                var streams: [String: StreamEntry] = [:]
                let reserved = IndexLoader.streamCount(segments)
                streams.reserveCapacity(reserved)
                var ids = EventIDTable(minimumCapacity: segments.reduce(0) { $0 + (deferred($1) ? 0 : $1.ids.count) })
                for run in segments {
                    IndexLoader.addStreams(run, to: &streams)
                    if !deferred(run) { IndexLoader.addIDs(run, to: &ids) }
                }
                // The pending runs go in last: `position(of:)` and `insert`
                // search them before the slots, so an id they hold keeps its
                // earlier position all the same, and the ids above were
                // inserted without searching them (stop 18: searching every
                // sealed segment for each of the active segment's ids was
                // most of a reopen's time).
                ids.pendingRuns = segments.filter(deferred).map { ($0.base, $0.ids) }
                self.state.withLock { st in
                    st.streams = streams
                    st.streamsReserved = reserved
                    st.ids = ids
                }
            }
            indexGate.open()
            guard let full else { return }
            // Only now: the gate goes first, and the full table's 24 bytes
            // per id (page faults, zeroing) no longer compete with it.
            full.start()
            let end = segments.reduce(UInt64(0)) { max($0, $1.base + UInt64($1.ids.count)) }
            // Takes the loaded table when it is ready, without holding a
            // worker thread of the shared pool while it waits.
            let scanned = segments.filter { !deferred($0) }
            full.whenLoaded { [self] table in
                guard !isClosed else { return }
                for run in scanned { IndexLoader.addIDs(run, to: &table) }
                self.state.withLock { st in
                    // Only what was appended since the gate opened is not in `table` yet.
                    table.absorb(st.ids, from: end)
                    st.ids = table
                }
            }
        }
    }

    /// Blocks until the stream and id indexes are loaded (immediately once
    /// they are; they load in the background right after `open`).
    public func waitUntilIndexed() {
        if !indexGate.isOpen, let pending = deferredIndex.withLock({ d -> [IndexRun]? in
            defer { d = nil }
            return d
        }) {
            startIndexing(pending)
        }
        indexGate.wait()
    }

    /// How many streams the last index load reserved room for (tests).
    var streamsReserved: Int { state.withLock { $0.streamsReserved } }

    /// Whether the stream and id indexes are loaded.
    public var isIndexed: Bool { indexGate.isOpen }

    deinit {
        _ = shutDown()
    }

    /// The position the next appended event will get; also the number of
    /// events in the log.
    public var head: Position { Position(state.withLock { $0.head }) }

    /// The chain hash of the last batch (genesis for an empty log).
    public var headHash: ChainHash { state.withLock { $0.lastHash } }

    /// Why this writer takes no more appends (a failed fdatasync poisoned
    /// it: every append fails with this error until the log is reopened),
    /// or nil while it takes them.
    public var writerFailure: ChronikLogError? { state.withLock { $0.poisoned } }

    /// A writer's check of its files, for a health probe (`GET /ready`):
    /// when the newest segment was deleted while the log was open (the log
    /// directory removed), the writer is poisoned at once, before an append
    /// is written into a file no path names, and the failure is returned;
    /// else `writerFailure`. One fstat. A reader's log returns nil.
    public func checkFilesInPlace() -> ChronikLogError? {
        guard writer != nil else { return nil }
        if let failure = writerFailure { return failure }
        guard let newest = state.withLock({ $0.segments.last }), (try? newest.file.linkCount()) == 0 else { return nil }
        writer?.poison(Writer.segmentDeleted(newest.path))
        return writerFailure
    }

    /// The last version of a stream, or nil when the stream has no event.
    public func lastVersion(of stream: String) -> StreamVersion? {
        waitUntilIndexed()
        return state.withLock { $0.streams[stream].map { StreamVersion($0.lastVersion) } }
    }

    /// Names of all streams, unsorted. O(streams).
    public func streamNames() -> [String] {
        waitUntilIndexed()
        return state.withLock { Array($0.streams.keys) }
    }

    /// Counts and sizes of the log.
    public func stats() throws -> LogStats {
        waitUntilIndexed()
        let (segments, head, streams) = state.withLock { ($0.segments, $0.head, $0.streams.count) }
        var bytes: Int64 = Int64(LogFormat.metaSize)
        for s in segments {
            bytes += s.committedBytes
            let idx = directory + "/" + LogFormat.indexFileName(base: s.base)
            if storage.exists(idx), let f = try? storage.openFile(idx, create: false, readOnly: true) {
                bytes += (try? f.size()) ?? 0
                f.close()
            }
        }
        return LogStats(events: head, streams: streams, segments: segments.count, bytesOnDisk: bytes,
                        headPosition: Position(head), compression: compression)
    }

    /// Makes every append so far durable: one fdatasync of the active
    /// segment when anything was written since the last one (durabilities
    /// `interval` and `none`; with `fsync` every acknowledged append
    /// already is). Waits for appends queued before the call.
    ///
    /// - Throws: `ChronikLogError` — `.io` when the fdatasync fails (the
    ///   writer is then poisoned: what was unsynced may be lost),
    ///   `.writerPoisoned` after an earlier failure, `.closed`.
    public func sync() throws {
        guard let writer else { return }
        if isClosed { throw ChronikLogError(.closed, "log is closed", path: directory) }
        try writer.queue.sync {
            writer.flush()
            writer.drain()
            if let poisoned = state.withLock({ $0.poisoned }) { throw poisoned }
            try writer.syncNow()
        }
    }

    /// Waits for pending appends, syncs, releases the writer lock and
    /// closes files. Appends after close fail with `.closed`; every open
    /// cursor and subscription ends with `.closed` at its next step.
    /// Closing twice does nothing.
    ///
    /// - Throws: `ChronikLogError` when the final fdatasync failed
    ///   (durabilities `interval` and `none`): the appends since the last
    ///   completed sync may not be durable. The log is closed all the same.
    public func close() throws {
        if let failure = shutDown() { throw failure }
    }

    /// Closes the log; returns the final sync's failure instead of throwing
    /// it (deinit cannot throw).
    private func shutDown() -> ChronikLogError? {
        let already = state.withLock { s -> Bool in
            defer { s.closed = true }
            return s.closed
        }
        if already { return nil }
        closedFlag.store(true, ordering: .releasing)
        preloaded?.cancel()
        var failure: ChronikLogError?
        if let writer {
            // A flush queued on the second slot before the close runs first.
            writer.slots[1].sync {}
            failure = writer.queue.sync {
                writer.finish()
            }
        }
        let (segments, waiters) = state.withLock { s in
            let w = s.waiters
            s.waiters = [:]
            return (s.segments, w)
        }
        for w in waiters.values { w.resume() }
        for s in segments { s.file.close() }
        if let lock {
            lock.release()
            _ = Self.writersHere.withLock { $0.remove(directory) }
        }
        return failure
    }

    /// Whether `close()` was called (cheap: cursors ask at every step).
    public var isClosed: Bool { closedFlag.load(ordering: .acquiring) }

    /// The error every read after `close()` ends with.
    var closedError: ChronikLogError { ChronikLogError(.closed, "log is closed", path: directory) }

    // MARK: Head waiting (subscriptions)

    /// Returns once `head > position`, the log closes, or the task is cancelled.
    public func waitForHead(beyond position: UInt64) async {
        let id: Int? = state.withLock { s in
            if s.head > position || s.closed { return nil }
            let id = s.nextWaiterID
            s.nextWaiterID += 1
            return id
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.head > position || s.closed || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.waiters.removeValue(forKey: id) }
            c?.resume()
        }
    }

    /// Wakes every waiter; called after the head moved.
    func wakeWaiters() {
        let waiters = state.withLock { s in
            let w = s.waiters
            s.waiters = [:]
            return w
        }
        for w in waiters.values { w.resume() }
    }
}

/// One segment's share of the stream and id indexes, as recovery found it.
struct IndexRun: Sendable {
    /// The position of the segment's first event.
    var base: UInt64
    var batches: [BatchEntry]
    var ids: IDList
}

/// Builds the id table of the sealed segments' index files in the
/// background once the log accepts appends (FORMAT.md, "Index file";
/// `EventLog.startIndexing`): until then the gate has the cores.
final class IndexLoader: @unchecked Sendable {
    // Written once by the background block before `done.leave()`, read
    // only after it (`whenLoaded`, `result`).
    private var ids = EventIDTable()
    private let done = DispatchGroup()
    /// Set when the log closes: the load stops at the next segment.
    private let cancelled = Atomic<Bool>(false)

    private let runs: [IndexRun]
    private let spare: Int

    /// Will load the ids of `runs` (`start`); `spare` more ids fit in the
    /// table before it grows.
    init(_ runs: [IndexRun], spare: Int) {
        self.runs = runs
        self.spare = spare
    }

    /// Starts the load on a background thread; called once, before
    /// `whenLoaded` or `result`.
    func start() {
        done.enter()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            defer { done.leave() }
            guard !cancelled.load(ordering: .relaxed),
                  var ids = EventIDTable(minimumCapacity: runs.reduce(spare) { $0 + $1.ids.count },
                                         unless: { cancelled.load(ordering: .relaxed) }) else { return }
            for run in runs {
                if cancelled.load(ordering: .relaxed) { return }
                Self.addIDs(run, to: &ids)
            }
            self.ids = ids
        }
    }

    /// Stops the load (the log closed): a closed log's table is never used,
    /// and the load would only take a core from whatever runs next.
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Calls `body` with the loaded table on a background thread once it
    /// is loaded (not when cancelled); nothing waits meanwhile.
    func whenLoaded(_ body: @escaping @Sendable (inout EventIDTable) -> Void) {
        done.notify(queue: .global(qos: .userInitiated)) { [self] in
            guard !cancelled.load(ordering: .relaxed) else { return }
            var table = result()
            body(&table)
        }
    }

    /// The loaded table (waits for it); moved out, so it is called once.
    func result() -> EventIDTable {
        done.wait()
        var table = EventIDTable()
        swap(&table, &ids)
        return table
    }

    /// How many streams `runs` hold, without hashing a name: each stream's
    /// first batch, and only that one, starts at version 0. Reserving it
    /// up front (stop 20): growing the stream dictionary from empty, every
    /// doubling rehashing every name, was 19 % of a reopen's CPU on a
    /// shop of 1 M streams.
    static func streamCount(_ runs: [IndexRun]) -> Int {
        runs.reduce(0) { n, run in n + run.batches.reduce(0) { $0 + ($1.firstStreamVersion == 0 ? 1 : 0) } }
    }

    /// Adds a segment's batches to the stream index.
    static func addStreams(_ run: IndexRun, to streams: inout [String: StreamEntry]) {
        for b in run.batches {
            streams[b.stream, default: StreamEntry()].add(firstVersion: b.firstStreamVersion, firstPosition: b.basePosition, count: b.count)
        }
    }

    /// Adds a segment's ids; called in log order, so that a repeated id
    /// keeps its first position.
    static func addIDs(_ run: IndexRun, to ids: inout EventIDTable) {
        if run.ids.isHashOrdered {
            ids.insert(hashOrdered: run.ids, base: run.base)
        } else {
            ids.reserve(run.ids.count)
            run.ids.forEachEntry { offset, id in ids.insert(id, position: run.base + offset) }
        }
    }
}

/// A one-shot gate: closed until `open()`, then every `wait()` returns at once.
final class Gate: Sendable {
    private let opened = Atomic<Bool>(false)
    private let group = DispatchGroup()

    init() { group.enter() }

    var isOpen: Bool { opened.load(ordering: .acquiring) }

    func open() {
        if opened.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged { group.leave() }
    }

    func wait() {
        if isOpen { return }
        group.wait()
    }
}
