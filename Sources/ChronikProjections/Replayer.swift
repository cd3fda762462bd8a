import ChronikLog
import ChronikCommerce
import Foundation

/// An event a replay with `skipUndecodable` left out: its data does not
/// decode (written by an older version, or through the engine with another
/// schema), so no model saw it.
public struct SkippedEvent: Sendable, Equatable {
    public var position: Position
    public var type: String
    /// Why it does not decode.
    public var reason: String
}

/// What one replay did.
public struct ReplayStats: Sendable {
    /// Events applied (skipped ones included: the models are past them).
    public var events: Int
    public var duration: Duration
    /// The events left out as undecodable, in log order (only with
    /// `skipUndecodable`; at most `Replayer.maxSkippedKept`).
    public var skipped: [SkippedEvent] = []
    /// How many were left out, all counted.
    public var skippedCount = 0
    /// How many times the `.either` projectors changed threads (a
    /// parallel replay's; tests).
    var eitherMoves = 0
    public var eventsPerSecond: Double {
        let s = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return s > 0 ? Double(events) / s : 0
    }
}

/// Reads the log once and feeds every event to a `ProjectionSet`.
///
/// With `parallel`, one thread scans, decodes and folds the models that
/// stand alone (`ProjectionSet.Lane.decoding`: fraud, search, supply chain,
/// settings, support) while the calling thread folds the others (inventory,
/// orders and the models built on them): decoded events cross in chunks of
/// `chunkSize` through a queue of at most `queueDepth` chunks (bounded
/// memory), so on two cores a rebuild runs at about the slower thread's
/// rate. Each model still sees every event once, in log order, so the
/// models are those of the serial replay, byte for byte.
public enum Replayer {
    /// Applies the events from `set.position` up to `end` (default: the
    /// head as of the call) to `set`.
    ///
    /// - Parameter progress: called on the calling thread after each chunk
    ///   with (events done, events to do).
    /// - Throws: `ProjectionError` — `invalidEvent` for an event that does
    ///   not decode or that a projector cannot fold (with its position and
    ///   type), `log` when reading the log fails. The set is then
    ///   partially updated and must be discarded.
    /// - Parameter skipUndecodable: an event whose data does not decode is
    ///   left out (every model skips it, as an unknown type) and listed in
    ///   the stats, instead of stopping the replay. A projector's error
    ///   still stops it.
    @discardableResult
    public static func replay(_ log: EventLog, into set: ProjectionSet, upTo end: Position? = nil,
                              parallel: Bool = true, chunkSize: Int = 4096, queueDepth: Int = 4,
                              skipUndecodable: Bool = false,
                              progress: ((UInt64, UInt64) -> Void)? = nil) throws(ProjectionError) -> ReplayStats {
        try replay(log, into: set, upTo: end, parallel: parallel, chunkSize: chunkSize, queueDepth: queueDepth,
                   skipUndecodable: skipUndecodable, eitherPolicy: .measured, progress: progress)
    }

    /// `replay`, with how the `.either` projectors are placed (tests: moved
    /// at every epoch).
    @discardableResult
    static func replay(_ log: EventLog, into set: ProjectionSet, upTo end: Position? = nil,
                       parallel: Bool = true, chunkSize: Int = 4096, queueDepth: Int = 4,
                       skipUndecodable: Bool = false, eitherPolicy: EitherPlacement.Policy,
                       progress: ((UInt64, UInt64) -> Void)? = nil) throws(ProjectionError) -> ReplayStats {
        let clock = ContinuousClock()
        let started = clock.now
        let from = set.position
        let end = min(end ?? log.head, log.head)
        guard from < end else { return ReplayStats(events: 0, duration: clock.now - started) }
        let total = end.value - from.value
        let skips = Skips(enabled: skipUndecodable)
        var moves = 0
        if parallel {
            moves = try replayParallel(log, set, from, end, chunkSize, queueDepth, total, skips, progress, eitherPolicy)
        } else {
            try replaySerial(log, set, from, end, chunkSize, total, skips, progress)
        }
        var stats = ReplayStats(events: Int(set.position.value - from.value), duration: clock.now - started,
                                skipped: skips.kept, skippedCount: skips.count)
        stats.eitherMoves = moves
        return stats
    }

    /// At most this many skipped events are listed (all are counted).
    public static let maxSkippedKept = 100_000

    /// The skipped events of one replay, filled by the decoding thread and
    /// read after it finished.
    final class Skips: @unchecked Sendable {
        // Written only by the one thread that decodes, read after it ended
        // (the replay waits on its semaphore: a happens-before edge).
        let enabled: Bool
        var kept: [SkippedEvent] = []
        var count = 0

        init(enabled: Bool) { self.enabled = enabled }

        /// The event as every model skips it (an unknown type), recorded;
        /// or the error, when skipping is off.
        func decode(_ view: EventView, _ decoder: Decoder) throws(ProjectionError) -> ProjectedEvent {
            do throws(ProjectionError) {
                return try Replayer.decode(view, decoder)
            } catch {
                guard enabled else { throw error }
                count += 1
                if kept.count < Replayer.maxSkippedKept {
                    kept.append(SkippedEvent(position: view.position, type: view.type, reason: error.message))
                }
                return ProjectedEvent(position: view.position, occurredAt: view.occurredAt,
                                      event: .unknown(type: view.type, data: []))
            }
        }
    }

    /// Stops `scan` once the end is reached or the consumer gave up.
    private struct Stop: Error {}

    /// How events are decoded for a set: in place from the borrowed view,
    /// and with their sealed personal data opened only for the types a
    /// model of the set reads it from. Used by one thread at a time (it
    /// keeps the types it has met): the decoding thread of a replay, or the
    /// one subscription task of `LiveProjections`.
    final class Decoder: @unchecked Sendable {
        let protector: (any PIIProtector)?
        /// Opened while decoding.
        let opened: Set<String>
        /// Kept sealed (their stored bytes ride along) for a model to open
        /// when it needs them.
        let deferred: Set<String>

        @exclusivity(unchecked)
        private var types = TypeCache()

        init(_ set: ProjectionSet) {
            protector = set.protector
            opened = set.protector == nil ? [] : set.typesNeedingPII
            deferred = set.protector == nil ? [] : set.typesOpenedLater
        }

        @inline(__always)
        func decode(type: String, bytes: UnsafeRawBufferPointer) throws -> (CommerceEvent, [UInt8]?) {
            // Only sealed data (first byte flagged) can need a protector: the
            // type lookups stay off the path of every other event, and so
            // does the copy of the protector (an existential) that binding
            // it makes (~2 % of the decoding thread when it came first).
            guard CommerceEvent.hasSealedPII(bytes), let protector else {
                guard let known = types.type(named: type) else { return (.unknown(type: type, data: Array(bytes)), nil) }
                return (try CommerceEvent.decode(known, bytes: bytes), nil)
            }
            if opened.contains(type) {
                return (try CommerceEvent.decode(type: type, bytes: bytes, protector: protector).event, nil)
            }
            return (try CommerceEvent.decode(type: type, bytes: bytes), deferred.contains(type) ? Array(bytes) : nil)
        }
    }

    /// The event types met by one decoding thread. The log hands out each
    /// type's name as one interned string, so a name is found by comparing
    /// it with the few names of its length met before (equal strings of
    /// one storage compare in one step) instead of hashing it per event.
    struct TypeCache {
        private var byLength: [[(name: String, type: CommerceEventType?)]] = Array(repeating: [], count: 64)

        @inline(__always)
        mutating func type(named name: String) -> CommerceEventType? {
            let slot = name.utf8.count & 63
            for entry in byLength[slot] where entry.name == name { return entry.type }
            let type = CommerceEventType(name: name)
            // Bounded: a log of many unknown types stops adding here.
            if byLength[slot].count < 16 { byLength[slot].append((name, type)) }
            return type
        }
    }

    @inline(__always)
    static func decode(_ view: EventView, _ decoder: Decoder) throws(ProjectionError) -> ProjectedEvent {
        do {
            let (event, sealed) = try decoder.decode(type: view.type, bytes: view.data)
            return ProjectedEvent(position: view.position, occurredAt: view.occurredAt, event: event, sealedData: sealed)
        } catch {
            throw ProjectionError(.invalidEvent, "event does not decode: \(error)", position: view.position,
                                  eventType: view.type)
        }
    }

    static func logError(_ error: any Error) -> ProjectionError {
        ProjectionError(.log, "reading the log failed: \(error)")
    }

    private static func replaySerial(_ log: EventLog, _ set: ProjectionSet, _ from: Position, _ end: Position,
                                     _ chunkSize: Int, _ total: UInt64, _ skips: Skips,
                                     _ progress: ((UInt64, UInt64) -> Void)?) throws(ProjectionError) {
        var failure: ProjectionError?
        var done: UInt64 = 0
        let decoder = Decoder(set)
        var reservations = Reservations(set, total: total)
        do {
            try log.scan(from: from) { view in
                guard view.position < end else { throw Stop() }
                do throws(ProjectionError) {
                    try set.apply(try skips.decode(view, decoder))
                } catch {
                    failure = error
                    throw Stop()
                }
                done += 1
                if let growth = reservations.due(after: done) { set.reserve(growth: growth, lane: nil) }
                if done % UInt64(chunkSize) == 0 { progress?(done, total) }
            }
        } catch is Stop {
        } catch {
            throw logError(error)
        }
        if let failure { throw failure }
        progress?(done, total)
    }

    private static func replayParallel(_ log: EventLog, _ set: ProjectionSet, _ from: Position, _ end: Position,
                                       _ chunkSize: Int, _ queueDepth: Int, _ total: UInt64, _ skips: Skips,
                                       _ progress: ((UInt64, UInt64) -> Void)?,
                                       _ eitherPolicy: EitherPlacement.Policy) throws(ProjectionError) -> Int {
        let queue = ChunkQueue(capacity: queueDepth)
        let finished = DispatchSemaphore(value: 0)
        let decoder = Decoder(set)
        let decodingLane = DecodingLane(set)
        // Both made before the thread starts: `position` moves after.
        let decodingReservations = Reservations(set, total: total)
        var reservations = decodingReservations
        // Set by the decoding thread before it signals `finished`.
        let moves = DecodingLane.Count()
        let thread = Thread {
            let set = decodingLane.set
            var reservations = decodingReservations
            var decoded: UInt64 = 0
            var chunk: [ProjectedEvent] = []
            chunk.reserveCapacity(chunkSize)
            var failure: ProjectionSet.LaneFailure?
            var either = EitherPlacement(enabled: set.hasEitherLane, policy: eitherPolicy)
            /// Decoded chunks whose `.either` folds are this thread's but
            /// must wait until the projecting thread has folded the chunks
            /// before (at most `queueDepth`): this thread decodes on
            /// meanwhile instead of waiting.
            var held: [[ProjectedEvent]] = []
            /// Hands a chunk over, the `.either` projectors folded into it
            /// first when `folded`; false once the consumer cancelled.
            func handOver(_ chunk: [ProjectedEvent], folded: Bool) -> Bool {
                if folded {
                    let t = EitherPlacement.now()
                    set.applyEither(chunk)
                    either.folded(nanos: EitherPlacement.now() &- t)
                }
                either.endBusy()
                defer { either.beginBusy() }
                return queue.push(Chunk(events: chunk, eitherFolded: folded))
            }
            /// Hands the held chunks over once the projecting thread is done
            /// with the `.either` projectors (waiting for it when `wait`).
            func flushHeld(wait: Bool) -> Bool {
                guard !held.isEmpty else { return true }
                if either.awaitingHandOff {
                    if wait {
                        either.endBusy()
                        defer { either.beginBusy() }
                        guard queue.waitUntilConsumed() else { return false }
                    } else if !queue.allConsumed() {
                        return true
                    }
                    either.handedOff()
                }
                for c in held { guard handOver(c, folded: true) else { return false } }
                held.removeAll()
                return true
            }
            /// A decoded chunk: handed over now, or held until this thread
            /// may fold the `.either` projectors into it.
            func complete(_ chunk: [ProjectedEvent]) -> Bool {
                guard either.assign(consumerTimes: queue.takeConsumerTimes) else {
                    // The projecting thread's: after every chunk before.
                    guard flushHeld(wait: true) else { return false }
                    return handOver(chunk, folded: false)
                }
                held.append(chunk)
                return flushHeld(wait: held.count > queueDepth)
            }
            do {
                try log.scan(from: from) { view in
                    guard view.position < end else { throw Stop() }
                    var event: ProjectedEvent
                    do throws(ProjectionError) {
                        event = try skips.decode(view, decoder)
                    } catch {
                        // No projector has seen this position: ordered
                        // before every projector error at it.
                        failure = ProjectionSet.LaneFailure(error: error, position: view.position.value, model: Int.min)
                        throw Stop()
                    }
                    do throws(ProjectionSet.LaneFailure) {
                        try set.apply(&event, lane: .decoding)
                    } catch {
                        // The event goes on to the projecting thread, which
                        // may fail on it (or before it) first.
                        failure = error
                        chunk.append(event)
                        _ = complete(chunk)
                        chunk = []
                        throw Stop()
                    }
                    // Last: the event moves into the chunk, not copied.
                    chunk.append(consume event)
                    decoded += 1
                    if let growth = reservations.due(after: decoded) {
                        set.reserve(growth: growth, lane: .decoding)
                        if either.owned { set.reserve(growth: growth, lane: .either) }
                    }
                    if chunk.count == chunkSize {
                        guard complete(chunk) else { throw Stop() }
                        // Reuse a chunk the projector is done with: its
                        // events are freed here, on the thread (and malloc
                        // arena) that allocated them.
                        chunk = queue.takeReturned() ?? []
                        chunk.removeAll(keepingCapacity: true)
                        if chunk.capacity < chunkSize { chunk.reserveCapacity(chunkSize) }
                    }
                }
            } catch is Stop {
            } catch {
                failure = ProjectionSet.LaneFailure(error: logError(error), position: UInt64.max, model: Int.min)
            }
            if !chunk.isEmpty { _ = complete(chunk) }
            _ = flushHeld(wait: true)
            moves.value = either.moves
            queue.finish(failure)
            finished.signal()
        }
        thread.name = "chronik-replay-decode"
        thread.start()
        var done: UInt64 = 0
        var failure: ProjectionSet.LaneFailure?
        while let chunk = queue.pop() {
            let started = EitherPlacement.now()
            var eitherNanos: UInt64 = 0
            do throws(ProjectionSet.LaneFailure) {
                try chunk.events.forEachInPlace { (e: inout ProjectedEvent) throws(ProjectionSet.LaneFailure) in
                    try set.apply(&e, lane: .projecting)
                }
            } catch {
                failure = error
                queue.cancel()
                break
            }
            if !chunk.eitherFolded, set.hasEitherLane {
                let t = EitherPlacement.now()
                set.applyEither(chunk.events)
                eitherNanos = EitherPlacement.now() &- t
            }
            done += UInt64(chunk.events.count)
            if let growth = reservations.due(after: done) {
                set.reserve(growth: growth, lane: .projecting)
                if !chunk.eitherFolded { set.reserve(growth: growth, lane: .either) }
            }
            queue.giveBack(chunk.events, busyNanos: EitherPlacement.now() &- started, eitherNanos: chunk.eitherFolded ? nil : eitherNanos)
            progress?(done, total)
        }
        finished.wait()
        // The error a serial replay would have met first: the earlier
        // position, then the model earlier in the set.
        if let f = ProjectionSet.LaneFailure.first(failure, queue.failure) { throw f.error }
        return moves.value
    }
}

/// When a replay sizes the models' tables (`ProjectionSet.reserve`):
/// after 1/64, 1/16 and 1/4 of the events it applies, each time for the
/// whole log as projected from the events folded so far (the tables of a
/// steady history grow in proportion to it; a later checkpoint corrects
/// an early guess upward, and growth past a guess is doubling as before).
struct Reservations {
    /// Events the models had folded before this replay (a snapshot's).
    private let base: UInt64
    private let total: UInt64
    private var divisor: UInt64 = 64
    private var next: UInt64

    init(_ set: ProjectionSet, total: UInt64) {
        base = set.position.value
        self.total = total
        next = total >= set.reservationMinimum ? max(1, total / divisor) : .max
    }

    /// The growth to reserve for once `done` events are applied, at a
    /// checkpoint; nil between them.
    @inline(__always)
    mutating func due(after done: UInt64) -> Double? {
        guard done >= next else { return nil }
        divisor /= 4
        next = divisor >= 4 ? max(done + 1, total / divisor) : .max
        return Double(base + total) / Double(base + done)
    }
}

/// The set as the decoding thread uses it: only `apply(_:lane: .decoding)`,
/// whose projectors no other thread touches until the replay has waited
/// for that thread to end.
private final class DecodingLane: @unchecked Sendable {
    let set: ProjectionSet
    init(_ set: ProjectionSet) { self.set = set }

    /// A number the decoding thread hands back (read after it ended).
    final class Count: @unchecked Sendable {
        var value = 0
    }
}

/// Decoded events on their way to the projecting thread, and whether the
/// `.either` projectors have folded them already (on the decoding thread).
struct Chunk {
    var events: [ProjectedEvent]
    var eitherFolded: Bool
}

/// On which thread of a replay the projectors of lane `.either` (fraud)
/// fold, chunk by chunk, planned by the decoding thread every `epoch`
/// chunks: each thread measures the time it works on a chunk (not the time
/// it waits for the other) and the time the `.either` projectors took;
/// the plan gives the decoding thread the share of the next epoch's chunks
/// (its last ones, in one run) that leaves both threads about equally
/// busy. Held by the decoding thread.
///
/// Why a share and not the whole model: a big shop's fraud is ~20 % of the
/// replay's work (0.6–0.8 ms per chunk of 4,096 events, against ~1.4 ms
/// of each thread's other work; stop 47), so whichever thread folds it
/// whole is the busier by about half. Folding it on one thread for some
/// chunks and on the other for the rest splits it.
///
/// Cost: four clock reads and a lock per chunk of 4,096 events on each
/// thread, and at most one move per epoch to the decoding thread. After
/// one, it may fold them only once the projecting thread has folded the
/// chunks before: it decodes on meanwhile and holds what it decoded (at
/// most `queueDepth` chunks more, then it waits). Waiting at once cost
/// the decoding thread up to `queueDepth` chunks' time at every move,
/// ~18 % of the replay's wall time idle on both threads (stop 47). A move
/// to the projecting thread costs nothing: it folds a chunk's after those
/// of every chunk before.
struct EitherPlacement {
    enum Policy: Sendable {
        /// The share that balances the threads (the replay's).
        case measured
        /// All of an epoch on one thread, all of the next on the other
        /// (tests).
        case alternating
        /// The last `n` chunks of every epoch on the decoding thread: a
        /// move in the middle of each epoch and one at its end (tests).
        case fixed(Int)
    }
    let enabled: Bool
    let policy: Policy
    /// Whether the decoding thread folds them for the latest chunk assigned.
    private(set) var onDecoder = false
    /// Moved to the decoding thread, which may fold them only once the
    /// projecting thread has folded every chunk before (`handedOff()`).
    private(set) var awaitingHandOff = false
    /// Whether the decoding thread may touch them now.
    var owned: Bool { onDecoder && !awaitingHandOff }
    static let epoch = 16
    /// How many of the current epoch's chunks, its last ones, the decoding
    /// thread folds them for.
    private(set) var decoderChunks = 0
    private var chunks = 0
    private var busy: UInt64 = 0
    private var busySince: UInt64
    /// The time the `.either` projectors took on this thread in the epoch,
    /// and on how many chunks.
    private var eitherNanos: UInt64 = 0
    private var eitherChunks = 0
    /// How many times they changed threads.
    private(set) var moves = 0

    init(enabled: Bool, policy: Policy = .measured) {
        self.enabled = enabled
        self.policy = policy
        busySince = Self.now()
        if case .fixed(let n) = policy { decoderChunks = min(max(0, n), Self.epoch) }
    }

    /// The clock both threads measure with, in nanoseconds.
    @inline(__always)
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    mutating func beginBusy() { busySince = Self.now() }
    mutating func endBusy() { busy &+= Self.now() &- busySince }

    /// Counts a fold of the `.either` projectors on this thread.
    mutating func folded(nanos: UInt64) {
        eitherNanos &+= nanos
        eitherChunks += 1
    }

    /// The projecting thread has folded every chunk before the move.
    mutating func handedOff() { awaitingHandOff = false }

    /// Whose the next chunk's `.either` folds are, by the plan (planning
    /// the next epoch first at an epoch's start): true for this thread's.
    mutating func assign(consumerTimes: () -> ChunkQueue.ConsumerTimes) -> Bool {
        guard enabled else { return false }
        if chunks > 0, chunks % Self.epoch == 0 { plan(consumerTimes()) }
        let mine = chunks % Self.epoch >= Self.epoch - decoderChunks
        chunks += 1
        if mine != onDecoder {
            onDecoder = mine
            // Back to the projecting thread, the chunks this thread holds
            // still wait for their hand-off (`flushHeld` before this one).
            if mine { awaitingHandOff = true }
            moves += 1
        }
        return mine
    }

    /// How many of an epoch's chunks the decoding thread should fold the
    /// `.either` projectors of, from the time per chunk each thread works
    /// without them and the time they take per chunk: the share x where
    /// decoder + x·either = projecting + (1 − x)·either, within 0…1.
    static func decoderChunks(decoder: Double, projecting: Double, either: Double) -> Int {
        guard either > 0 else { return decoder <= projecting ? epoch : 0 }
        let share = (projecting - decoder + either) / (2 * either)
        return Int((min(1, max(0, share)) * Double(epoch)).rounded())
    }

    /// Plans the next epoch from this thread's times and the consumer's
    /// (`ChunkQueue.takeConsumerTimes`).
    private mutating func plan(_ consumer: ChunkQueue.ConsumerTimes) {
        defer { busy = 0; eitherNanos = 0; eitherChunks = 0 }
        switch policy {
        case .fixed:
            return
        case .alternating:
            decoderChunks = decoderChunks == 0 ? Self.epoch : 0
            return
        case .measured:
            break
        }
        guard consumer.chunks >= Self.epoch / 2 else { return }
        let eitherRuns = eitherChunks + consumer.eitherChunks
        guard eitherRuns > 0 else { return }
        let either = Double(eitherNanos &+ consumer.eitherNanos) / Double(eitherRuns)
        let mine = (Double(busy) - Double(eitherNanos)) / Double(Self.epoch)
        let theirs = (Double(consumer.busyNanos) - Double(consumer.eitherNanos)) / Double(consumer.chunks)
        decoderChunks = Self.decoderChunks(decoder: mine, projecting: theirs, either: either)
    }
}

/// A bounded hand-off of decoded chunks from the decoding thread to the
/// projecting one.
final class ChunkQueue: @unchecked Sendable {
    // Every field is guarded by `condition`.
    private let condition = NSCondition()
    private var chunks: [Chunk] = []
    private var head = 0
    private let capacity: Int
    private var ended = false
    private var cancelled = false
    private var _failure: ProjectionSet.LaneFailure?
    /// Chunks the consumer is done with, for the producer to free or reuse.
    private var returned: [[ProjectedEvent]] = []

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Chunks pushed, and chunks the consumer has given back.
    private var pushed = 0
    private var consumed = 0

    /// What the consumer measured since the producer last asked.
    struct ConsumerTimes {
        var chunks = 0
        /// The time it worked on them (not waiting for the next).
        var busyNanos: UInt64 = 0
        /// Of which the `.either` projectors, on this many of them.
        var eitherNanos: UInt64 = 0
        var eitherChunks = 0
    }
    private var consumerTimes = ConsumerTimes()

    /// Blocks while the queue is full; false once the consumer cancelled.
    func push(_ chunk: Chunk) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while chunks.count - head >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        chunks.append(chunk)
        pushed += 1
        condition.broadcast()
        return true
    }

    /// Blocks until the consumer has given back every chunk pushed; false
    /// once it cancelled.
    func waitUntilConsumed() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while consumed < pushed && !cancelled { condition.wait() }
        return !cancelled
    }

    /// Whether the consumer has given back every chunk pushed (or
    /// cancelled): no wait.
    func allConsumed() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return consumed >= pushed || cancelled
    }

    /// The consumer's times since the last call.
    func takeConsumerTimes() -> ConsumerTimes {
        condition.lock()
        defer { condition.unlock() }
        defer { consumerTimes = ConsumerTimes() }
        return consumerTimes
    }

    /// No more chunks will come; `failure` says why, if it is an error.
    func finish(_ failure: ProjectionSet.LaneFailure?) {
        condition.lock()
        ended = true
        _failure = failure
        condition.broadcast()
        condition.unlock()
    }

    /// The next chunk, or nil once the producer finished and all are taken.
    func pop() -> Chunk? {
        condition.lock()
        defer { condition.unlock() }
        while head == chunks.count && !ended { condition.wait() }
        guard head < chunks.count else { return nil }
        let c = chunks[head]
        chunks[head].events = []
        head += 1
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: true)
            head = 0
        }
        condition.broadcast()
        return c
    }

    /// Hands a finished chunk back (bounded: beyond `capacity`, dropped
    /// here) with the time the consumer worked on it, of which
    /// `eitherNanos` on the `.either` projectors when it folded them.
    func giveBack(_ chunk: [ProjectedEvent], busyNanos: UInt64, eitherNanos: UInt64?) {
        condition.lock()
        defer { condition.unlock() }
        if returned.count < capacity { returned.append(chunk) }
        consumed += 1
        consumerTimes.chunks += 1
        consumerTimes.busyNanos &+= busyNanos
        if let eitherNanos {
            consumerTimes.eitherNanos &+= eitherNanos
            consumerTimes.eitherChunks += 1
        }
        condition.broadcast()
    }

    /// A chunk handed back, if any.
    func takeReturned() -> [ProjectedEvent]? {
        condition.lock()
        defer { condition.unlock() }
        return returned.popLast()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    var failure: ProjectionSet.LaneFailure? {
        condition.lock()
        defer { condition.unlock() }
        return _failure
    }
}
