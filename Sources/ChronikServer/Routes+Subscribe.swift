import ChronikAudit
import ChronikCommerce
import ChronikLog
import Foundation
import Hummingbird
import NIOCore
import Synchronization

extension LogServer {
    /// `GET /subscribe?from=POSITION[&stream=S][&type=T]` as Server-Sent
    /// Events. Each event is `id: POSITION` and `data:` the JSON of
    /// `GET /events/{position}`; `Last-Event-ID` (what browsers send on
    /// reconnect) resumes right after that position and wins over `from`.
    ///
    /// One cursor: it reads the log from disk in chunks of
    /// `subscriptionChunk` events and, at the head, waits for the next
    /// append, so catch-up and live are the same loop and no event is
    /// skipped or repeated at the switch. A slow consumer holds at most one
    /// chunk: the next is read only when the socket took the last one.
    /// Idle, a `: heartbeat` comment line goes out every `heartbeat`.
    /// The same loop serves another store (`--store`): it reads through
    /// `EventStore` and waits on the store's subscription.
    func subscribe(_ request: Request, _ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        let q = try context.query(of: request, allowed: ["from", "stream", "type"])
        try ChronikContext.refuseEmptyFilters(q)
        let start = try await subscriptionStart(q, lastEventID: request.headers[.init("Last-Event-ID")!])
        let filter = SubscriptionFilter(stream: q["stream"].map(String.init), type: q["type"].map(String.init))
        // A name no append can write and the log does not hold would wait
        // forever: said (stop 35: 200 and heartbeats for "a\nb").
        if let stream = filter.stream {
            do { try LogFormat.checkStreamName(stream) } catch let e as ChronikLogError {
                if try await eventStore.lastVersion(of: stream) == nil {
                    throw ServerError(.badRequest, "invalidStreamName", e.message, field: "stream")
                }
            }
        }
        if let type = filter.type {
            do { try LogFormat.checkEventType(type, index: 0) } catch let e as ChronikLogError {
                throw ServerError(.badRequest, "invalidEventType", e.message.replacingOccurrences(of: "event 0: ", with: ""), field: "type")
            }
        }
        if let refusal = FileDescriptors.refusalOfASubscription() {
            throw ServerError(.serviceUnavailable, "tooManyOpenFiles", refusal)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache, no-transform"  // no-transform: a proxy must not compress it (HAProxy held each event back until the next write; stop 37)
        headers[.init("X-Accel-Buffering")!] = "no"
        let scope = HeadFrames.Scope(context)
        let body = ResponseBody { writer in
            // The subscription's reads, encoding and writes run on the
            // fan-out threads, below the appends (FanOutExecutor).
            try await withTaskExecutorPreference(FanOutExecutor.shared) {
                try await self.stream(from: start, filter: filter, printer: self.printer(context), scope: scope,
                                      channel: context.channel, to: &writer)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Where a subscription starts: after `Last-Event-ID`, else `from`
    /// (`end`: the head, live events only), else the start of the log.
    /// A position past the head is refused, not waited for (stop 32): a
    /// client that saw an event this log does not have was reading another
    /// log, or this one was restored from an older copy, and waiting would
    /// skip every event up to its position without a word.
    func subscriptionStart(_ q: Parameters, lastEventID: String?) async throws -> UInt64 {
        let head = try await eventStore.headPosition().value
        // `from` is checked whether or not the header wins: a request with a
        // bad parameter is refused, not half read (stop 36, a service
        // author: `from=abc` passed beside a Last-Event-ID).
        let fromEnd = q["from"] == "end"
        let from: UInt64?
        do { from = fromEnd ? nil : try number(q, "from") } catch let e as ServerError {
            throw ServerError(e.status, e.code, e.message + ", or end (the head: new events only)", field: "from")
        }
        if let raw = lastEventID?.trimmingCharacters(in: .whitespaces), !raw.isEmpty {
            guard let p = UInt64(raw) else {
                throw ServerError(.badRequest, "invalidLastEventID", "Last-Event-ID must be a position, got \(raw)", field: "Last-Event-ID")
            }
            guard p < head else {
                throw ServerError(.badRequest, "invalidLastEventID",
                                  "Last-Event-ID \(p) is not an event of this log (its head is \(head)): the client read another log, or this one was restored from an older copy; resume after a position below \(head)",
                                  field: "Last-Event-ID")
            }
            return p + 1
        }
        if fromEnd { return head }
        guard let from else { return 0 }
        guard from <= head else {
            throw ServerError(.badRequest, "invalidPosition",
                              "from=\(from) is past the head: the next event will be at position \(head); from=end subscribes to new events only",
                              field: "from")
        }
        return from
    }

    func stream(from start: UInt64, filter: SubscriptionFilter, printer p: EventPrinter, scope: HeadFrames.Scope,
                channel: (any Channel)? = nil, to writer: inout any ResponseBodyWriter) async throws {
        var next = start
        var idleSince = ContinuousClock.now
        var reader = SubscriptionReader()
        let id = openSubscription(at: start, channel: channel)
        defer { closeSubscription(id) }
        try await writer.write(ByteBuffer(string: ": chronik subscription from \(start)\nretry: 1000\n\n"))
        while !isStopping && !Task.isCancelled {
            let found: SubscriptionChunk?
            do {
                found = try await nextChunk(from: next, filter: filter, printer: p, scope: scope, reader: &reader)
            } catch let e as ChronikLogError where e.code == .io && localLog == nil {
                // A store that is away (a restart, a failover) is waited
                // for, with heartbeats, as the promise says ("delays, never
                // drops"; stop 35: the subscription ended, under load).
                found = nil
                try? await Task.sleep(for: .seconds(1))
            }
            if let chunk = found {
                next = chunk.end
                moveSubscription(id, to: next)
                if chunk.frames.readableBytes > 0 {
                    try await writer.write(chunk.frames)
                    idleSince = .now
                    // Near the head of a local log the next chunk waits for
                    // the watch's next wake while it paces (many
                    // subscribers): one write for the events of several
                    // group commits.
                    if let log = localLog, isNearHead(log, next) {
                        await headWatch.wait(log, beyond: next, atMost: .milliseconds(250), paced: true)
                    }
                    continue
                }
            } else if localLog?.isClosed == true {
                return
            } else {
                await waitForHead(beyond: next, atMost: .milliseconds(250))
            }
            if ContinuousClock.now - idleSince >= configuration.heartbeat {
                try await writer.write(ByteBuffer(string: ": heartbeat \(next)\n\n"))
                idleSince = .now
            }
        }
    }

    /// The frames of the events from `next` on (at most a chunk); nil when
    /// there is none yet. Near the head of a local log (within
    /// `sharedChunks` × `headChunk`), an unfiltered subscription shares them through
    /// `headFrames`: with many subscribers of its `scope` there, one reads
    /// and encodes up to `headChunk` new events and the others send the
    /// same bytes. Further back (catching up) or filtered, it reads
    /// `subscriptionChunk` events at a time through its own `reader`,
    /// which keeps its place between chunks. Another store is read through
    /// `EventStore`, unshared.
    func nextChunk(from next: UInt64, filter: SubscriptionFilter, printer p: EventPrinter, scope: HeadFrames.Scope,
                   reader: inout SubscriptionReader) async throws -> SubscriptionChunk? {
        let limit = configuration.subscriptionChunk
        guard let log = localLog else {
            let store = eventStore
            let events = try await Self.collect(count: limit, maxBytes: SubscriptionReader.chunkBytes) { after, n in
                try await store.readAll(from: Position(after.map { $0.position.value + 1 } ?? next), limit: n)
            }.events
            guard let last = events.last else { return nil }
            var frames = FrameEncoder(forSharing: false)
            for e in events { try frames.add(e, filter: filter, printer: p) }
            return frames.chunk(start: next, end: last.position.value + 1)
        }
        guard filter.isEmpty, isSharing(log, next) else {
            return try reader.chunk(log, from: next, limit: limit, filter: filter, printer: p)
        }
        reader = SubscriptionReader()  // at the head: its window and buffers are let go
        let atHead = configuration.headChunk
        return try headFrames.chunk(from: next, scope: scope) { from in
            var fresh = SubscriptionReader()
            return try fresh.chunk(log, from: from, limit: atHead, filter: filter, printer: p, forSharing: true)
        }
    }

    /// Whether `next` is within `headChunk` of the head: where
    /// subscriptions share their reads (`headFrames`) and wait paced.
    func isNearHead(_ log: EventLog, _ next: UInt64) -> Bool {
        log.head.value <= next + UInt64(configuration.headChunk)
    }

    /// Whether `next` is within `sharedChunks` head chunks of the head:
    /// where an unfiltered subscription takes its frames from `headFrames`.
    /// Wider than where it waits paced: a crowd that fell a little behind
    /// together (a saturated machine starving the fan-out) catches up
    /// sharing its reads. Stop 49: with sharing only within one chunk of
    /// the head, 100 subscribers that fell out of it each read and encoded
    /// the same events on its own, 4 M reads in 8 s, and never came back
    /// (their delay grew to seconds).
    func isSharing(_ log: EventLog, _ next: UInt64) -> Bool {
        log.head.value <= next + UInt64(configuration.headChunk * Self.sharedChunks)
    }

    /// How many head chunks behind the head subscriptions still share: as
    /// many as `HeadFrames` keeps per scope, one for each crowd in the span.
    static var sharedChunks: Int { HeadFrames.slots }

    /// Appends the event `e` of a subscription to `w`: `id: POSITION`, a
    /// `data:` line with the JSON of `GET /events/{position}` (one line:
    /// JSON escapes newlines) and a blank line. Written straight into the
    /// chunk's buffer: no string per event.
    static func writeEvent<E: EventFields>(_ e: E, printer p: EventPrinter, to w: inout JSONWriter) throws {
        w.raw("id: ")
        w.uint(e.position.value)
        w.raw("\ndata: ")
        try p.write(e, to: &w)
        w.raw("\n\n")
    }

    /// Returns when the log's head passes `position`, or after `limit`
    /// (through `headWatch`: no task per wait, no wake-up from the log's
    /// writer per subscriber).
    /// On another store, `storeHeadWatch` (the store's own subscription)
    /// wakes it.
    func waitForHead(beyond position: UInt64, atMost limit: Duration) async {
        if let log = localLog {
            await headWatch.wait(log, beyond: position, atMost: limit)
        } else {
            await storeHeadWatch?.wait(beyond: position, atMost: limit)
        }
    }
}

/// A subscription's reading of a local log: the cursor that keeps its
/// place (read-ahead window, decoded batch) from one chunk to the next, and
/// the buffer its frames are encoded into, reused.
///
/// Why (profile of `sse-catchup`, Benchmarks/README.md "Stop 18"): a new
/// cursor per chunk of 256 events read a fresh 1 MiB window (zero-filled,
/// then filled from the file), decompressed the whole batch again and
/// copied out every event before the chunk's first as a `RecordedEvent`.
struct SubscriptionReader {
    private var cursor: EventViewCursor?
    private var frames = FrameEncoder(forSharing: false)

    /// The frames of the events from `from` on, up to `limit` read, that
    /// `filter` lets through; nil when there is no event yet.
    mutating func chunk(_ log: EventLog, from: UInt64, limit: Int, filter: SubscriptionFilter, printer p: EventPrinter,
                        forSharing: Bool = false) throws -> SubscriptionChunk? {
        if cursor == nil || cursor!.position != from || cursor!.isAtEnd { cursor = log.readViews(from: Position(from)) }
        let c = cursor!
        frames.reset(forSharing: forSharing)
        // At most `limit` events, and no more once the frames hold
        // `chunkBytes` (at least one event): a chunk waits whole in the
        // socket's buffers while its subscriber is slow (stop 35: 256
        // events of 4 MB were a gigabyte per stalled subscriber).
        var read = 0, step = 1
        while read < limit, frames.bytes < Self.chunkBytes {
            let before = frames.bytes
            let n = try c.next(min(step, limit - read)) { v in try frames.add(v, filter: filter, printer: p) }
            if n == 0 { break }
            read += n
            // As many more as the frames so far say fit (at most `step`).
            let each = max(1, (frames.bytes - before) / n)
            step = max(1, min(Self.step, (Self.chunkBytes - frames.bytes) / each))
        }
        return read == 0 ? nil : frames.chunk(start: from, end: c.position)
    }

    /// The bytes of frames after which a chunk ends (one event may pass it).
    static let chunkBytes = 1 << 20
    /// Events read between two looks at the chunk's size.
    static let step = 32
}

/// Encodes a chunk's SSE frames into one buffer; for a chunk `forSharing`
/// (read at the head without a filter) it notes where each frame starts:
/// a catch-up chunk is sent once and dropped.
struct FrameEncoder {
    private var out = JSONWriter(capacity: 0)
    private var offsets: [Int] = []
    private var forSharing: Bool

    init(forSharing: Bool) { self.forSharing = forSharing }

    /// The bytes of frames added since the last reset.
    var bytes: Int { out.bytes.count }

    /// Empties the buffer, keeping its capacity unless a chunk of large
    /// events grew it past a few chunks' worth.
    mutating func reset(forSharing: Bool) {
        out.bytes.removeAll(keepingCapacity: out.bytes.capacity <= 4 * SubscriptionReader.chunkBytes)
        offsets = []
        self.forSharing = forSharing
    }

    /// Appends the frame of `e` when `filter` lets it through.
    mutating func add<E: EventFields>(_ e: E, filter: SubscriptionFilter, printer p: EventPrinter) throws {
        guard filter.matches(e) else { return }
        if forSharing { offsets.append(out.bytes.count) }
        try LogServer.writeEvent(e, printer: p, to: &out)
    }

    /// The chunk of positions `start..<end` holding the frames added.
    func chunk(start: UInt64, end: UInt64) -> SubscriptionChunk {
        SubscriptionChunk(start: start, end: end, frames: ByteBuffer(bytes: out.bytes), offsets: offsets,
                          shareable: forSharing)
    }
}

/// Which events a subscription delivers: all, or those of one stream
/// and/or one type.
struct SubscriptionFilter: Sendable {
    var stream: String?
    var type: String?

    var isEmpty: Bool { stream == nil && type == nil }

    func matches<E: EventFields>(_ e: E) -> Bool {
        (stream == nil || e.stream == stream) && (type == nil || e.type == type)
    }
}

/// Consecutive events of the log encoded as SSE frames: positions
/// `start..<end`; for a shareable chunk (read without a filter) the frame
/// of each at `offsets`.
struct SubscriptionChunk: Sendable {
    var start: UInt64
    var end: UInt64
    var frames: ByteBuffer
    var offsets: [Int]
    /// Whether other subscribers of the same scope may be sent these
    /// bytes: read at the head without a filter.
    var shareable: Bool

    /// The frames from `position` (in `start..<end`) to the end, sharing
    /// the bytes (without offsets: only sent, never kept).
    func suffix(from position: UInt64) -> SubscriptionChunk {
        let at = offsets[Int(position - start)]
        return SubscriptionChunk(start: position, end: end,
                                 frames: frames.getSlice(at: frames.readerIndex + at, length: frames.readableBytes - at)!,
                                 offsets: [], shareable: false)
    }
}

/// The server's key store as its `CommerceStore` uses it: sealing and
/// opening go to the vault; destroying a key also calls `destroyed` (the
/// server drops the frames kept for subscribers at the head).
struct ErasingProtector: PIIProtector {
    let vault: SubjectKeyVault
    let destroyed: @Sendable () -> Void

    func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
        try vault.seal(plaintext, subject: subject, context: context)
    }

    func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
        try vault.open(sealed, subject: subject, context: context)
    }

    func destroyKey(subject: String) throws {
        defer { destroyed() }
        try vault.destroyKey(subject: subject)
    }
}

/// The last chunk read at the head of the log by an unfiltered
/// subscription, per scope, for the others there: the frames of an event
/// are the same bytes for every subscriber of a scope, so N subscribers at
/// the head cost one read and one encoding of each new event per scope,
/// not N. The scope is whether the subscriber may read personal data
/// (`pii`): a commerce event with sealed personal data reads as its clear
/// text with it and as null without, so the two never share a chunk. Holds
/// one chunk per scope at most; `clear()` after an erasure drops the clear
/// text a kept chunk may hold.
final class HeadFrames: Sendable {
    /// Who may be sent a kept chunk: subscribers that read personal data in
    /// clear, or those that do not.
    enum Scope: Sendable {
        case personalData, withoutPersonalData

        init(_ context: ChronikContext) {
            self = context.scopes.contains(.pii) ? .personalData : .withoutPersonalData
        }
    }

    /// How many chunks a scope keeps: the crowd at the head and a crowd
    /// that fell behind it (`LogServer.isSharing`) read into chunks of
    /// their own instead of each replacing the other's (stop 49).
    static let slots = 4

    private struct Kept {
        /// Oldest first.
        var personalData: [SubscriptionChunk] = []
        var withoutPersonalData: [SubscriptionChunk] = []
        /// Events read (not taken from a kept chunk), for tests.
        var eventsRead = 0

        subscript(scope: Scope) -> [SubscriptionChunk] {
            get { scope == .personalData ? personalData : withoutPersonalData }
            set { if scope == .personalData { personalData = newValue } else { withoutPersonalData = newValue } }
        }
    }

    private let kept = Mutex(Kept())

    /// How many events were read here (not taken from a kept chunk), for
    /// tests.
    var eventsRead: Int { kept.withLock { $0.eventsRead } }

    /// The chunk kept for `scope` that holds `position`, if any, else the
    /// one `read` makes (kept for the next subscribers of `scope` when
    /// shareable, in place of the oldest of `slots`). One subscriber reads
    /// at a time, so the others wait for its chunk instead of reading the
    /// same events.
    func chunk(from position: UInt64, scope: Scope, read: (UInt64) throws -> SubscriptionChunk?) throws -> SubscriptionChunk? {
        try kept.withLock { kept in
            if let k = kept[scope].last(where: { $0.start <= position && position < $0.end }) { return k.suffix(from: position) }
            guard let fresh = try read(position) else { return nil }
            kept.eventsRead += Int(fresh.end - fresh.start)
            if fresh.shareable {
                var chunks = kept[scope]
                if chunks.count >= Self.slots { chunks.removeFirst(chunks.count - Self.slots + 1) }
                chunks.append(fresh)
                kept[scope] = chunks
            }
            return fresh
        }
    }

    /// Drops the kept chunks: after a customer's key is destroyed, no
    /// subscriber is sent frames opened before.
    func clear() {
        kept.withLock { kept in
            kept.personalData = []
            kept.withoutPersonalData = []
        }
    }
}

/// Wakes the subscriptions waiting at the head of the log, for the whole
/// server: one task waits on the log and, when the head moves, resumes in
/// one pass every subscription waiting for that; another resumes, every
/// `tick`, those whose wait is over (heartbeat, shutdown) and ends when
/// none waits.
///
/// Why (profile of `sse-live`, Benchmarks/README.md "Stop 17"): before,
/// each wait of each subscription made two tasks (the log's wait and a
/// timer, raced in a task group) and the log's writer resumed every
/// subscription itself, so 100 subscribers at the head cost 200 tasks
/// and 100 resumptions on the writer's thread per group commit, between
/// two group commits of the appends.
///
/// Pacing (stop 20): with `HeadWatch.crowd` or more subscriptions woken at
/// once, the next wake comes `pace` later at the earliest, and a
/// subscription that has just sent a chunk near the head waits for it
/// (`paced`) even when newer events are there: 100 subscribers then make
/// 100 writes per `pace`, not 100 per group commit.
///
/// Rounds (stop 49): a crowd is woken in a round that lasts `pace`, or
/// longer when the crowd is large: `wakesPerSecond` bounds the wakes (each
/// a read of the shared frames and a socket write) the crowd costs the
/// server per second, so 100 subscribers cost what 20 did, each woken
/// less often. A round never lasts so long that the appends of a round
/// (at the rate measured over the one before) pass `window` events, nor
/// longer than `maxRound`; the first round of a crowd, the rate unknown,
/// lasts `pace`. In a round longer than twice the pace the crowd is woken
/// `crowd` at a time, the slices spread evenly over it: their writes no
/// longer reach the event loops in one burst, in front of the appends'
/// answers (stop 30: a 50 ms pace took the append p99 +235 %).
final class HeadWatch: Sendable {
    /// How often waits that are over are ended: the most a wait lasts
    /// beyond its `atMost`.
    static let tick: Duration = .milliseconds(50)
    /// How many subscriptions woken at once make the next wake wait `pace`.
    static let crowd = 8

    /// The longest round, whatever the crowd: how late an event reaches a
    /// subscriber at the head at most, beyond the group commit.
    static let maxRound: Duration = .milliseconds(100)

    /// The least time between two wakes of a crowd; zero: no pacing.
    let pace: Duration
    /// The wakes per second a crowd may cost at most (rounds grow with it);
    /// zero: rounds of `pace` whatever the crowd.
    let wakesPerSecond: Int
    /// The most events a round may let the head move, at the append rate of
    /// the round before: a subscriber stays within the shared chunk.
    let window: Int

    init(pace: Duration = .zero, wakesPerSecond: Int = 0, window: Int = 512) {
        self.pace = pace
        self.wakesPerSecond = wakesPerSecond
        self.window = window
    }

    /// Rounds that woke a crowd (and so paced the next), for tests.
    var crowdWakes: Int { state.withLock { $0.crowdWakes } }
    /// The most subscriptions resumed at once in a sliced round, for tests.
    var largestSlice: Int { state.withLock { $0.largestSlice } }

    /// How long a round of `woken` subscriptions lasts, the head having
    /// moved at `eventsPerSecond` (0: not known) over the round before.
    func round(woken: Int, eventsPerSecond: Double) -> Duration {
        // Without the append rate (the first round of a crowd) a round
        // cannot be sized against the window: the pace alone.
        guard eventsPerSecond > 0, wakesPerSecond > 0 else { return pace }
        var r = max(pace, .nanoseconds(Int64(woken) * 1_000_000_000 / Int64(wakesPerSecond)))
        let nanoseconds = min(Double(window) / eventsPerSecond * 1e9, 1e12).rounded()
        r = min(r, max(pace, .nanoseconds(Int64(nanoseconds))))
        return min(r, max(pace, Self.maxRound))
    }

    private struct Waiter {
        var beyond: UInt64
        var until: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var nextID = 0
        var waiters: [Int: Waiter] = [:]
        var following = false
        var ticking = false
        /// The follower is waiting `pace` after waking a crowd: a paced
        /// wait then waits for it even when the head is beyond.
        var pacing = false
        var crowdWakes = 0
        var largestSlice = 0
    }

    private let state = Mutex(State())

    /// Returns once `log.head > position`, after `limit` (within a tick),
    /// when the log closes or when the task is cancelled. `paced`: while
    /// the watch paces, it returns at its next wake even when the head is
    /// beyond `position` already.
    func wait(_ log: EventLog, beyond position: UInt64, atMost limit: Duration, paced: Bool = false) async {
        let until = ContinuousClock.now + limit
        // Nothing to wait for: the log is closed, or the head is beyond and
        // no paced wait is due.
        func goesNow(_ s: borrowing State) -> Bool {
            (log.head.value > position && !(paced && s.pacing)) || log.isClosed
        }
        let id: Int? = state.withLock { s in
            if goesNow(s) { return nil }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // The head is read under the lock the follower wakes under:
                // an append published before this is seen here, one after
                // it finds the waiter.
                let start: (follow: Bool, tick: Bool)? = state.withLock { s in
                    if goesNow(s) || Task.isCancelled { return nil }
                    s.waiters[id] = Waiter(beyond: position, until: until, continuation: c)
                    let start = (follow: !s.following, tick: !s.ticking)
                    s.following = true
                    s.ticking = true
                    return start
                }
                guard let start else { return c.resume() }
                if start.follow { follow(log) }
                if start.tick { tick(log) }
            }
        } onCancel: {
            let c = state.withLock { $0.waiters.removeValue(forKey: id)?.continuation }
            c?.resume()
        }
    }

    /// Ends every wait now (the server is stopping, the log closed).
    func wakeAll() { wake { _ in true } }

    /// Resumes (outside the lock) the waiters `done` picks; how many.
    @discardableResult
    private func wake(_ done: (Waiter) -> Bool) -> Int {
        let ready = take(done)
        for c in ready { c.resume() }
        return ready.count
    }

    /// Takes the waiters `done` picks out of the watch, in the order they
    /// began to wait.
    private func take(_ done: (Waiter) -> Bool) -> [CheckedContinuation<Void, Never>] {
        state.withLock { s in
            var ready: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []
            s.waiters = s.waiters.filter { id, w in
                if done(w) { ready.append((id, w.continuation)) }
                return !done(w)
            }
            return ready.sorted { $0.id < $1.id }.map(\.continuation)
        }
    }

    /// One task for the server: waits for each new head and wakes the
    /// subscriptions it lets read; a crowd in a round (`round`), a slice at
    /// a time; ends when the log closes (waking all).
    private func follow(_ log: EventLog) {
        Task.detached {
            var lastRound: (head: UInt64, at: ContinuousClock.Instant)?
            while !log.isClosed {
                // Read before waking: a subscription that registers after
                // this wake finds the head at `seen` or beyond.
                let seen = log.head.value
                let ready = self.take { $0.beyond < seen }
                guard ready.count >= Self.crowd, self.pace > .zero else {
                    for c in ready { c.resume() }
                    lastRound = nil
                    await log.waitForHead(beyond: seen)
                    continue
                }
                let now = ContinuousClock.now
                var rate = 0.0
                if let last = lastRound, now > last.at, seen >= last.head {
                    rate = Double(seen - last.head) / ((now - last.at) / .seconds(1))
                }
                lastRound = (seen, now)
                let round = self.round(woken: ready.count, eventsPerSecond: rate)
                // Sliced only in a round longer than twice the pace (a large
                // crowd at a moderate append rate): on a saturated machine
                // the rounds shrink to the pace (`window`) and a crowd
                // woken a slice at a time fell behind the head (stop 49).
                let slices = round > self.pace * 2 ? (ready.count + Self.crowd - 1) / Self.crowd : 1
                self.state.withLock { $0.pacing = true; $0.crowdWakes += 1 }
                // Each slice at its own instant of the round: a follower
                // that wakes late (a saturated pool) catches up at once
                // instead of stretching the round.
                var start = 0
                var slice = 0
                while start < ready.count {
                    let end = log.isClosed || slices == 1 ? ready.count : min(start + Self.crowd, ready.count)
                    if slices > 1 { self.state.withLock { $0.largestSlice = max($0.largestSlice, end - start) } }
                    for c in ready[start..<end] { c.resume() }
                    start = end
                    slice += 1
                    try? await Task.sleep(until: now + round * slice / slices, clock: .continuous)
                }
                self.state.withLock { $0.pacing = false }
                // Those that waited paced behind `seen` are woken now.
            }
            self.wakeAll()
        }
    }

    /// Ends the waits that are over, every `tick`, while any waits.
    private func tick(_ log: EventLog) {
        Task.detached {
            while true {
                try? await Task.sleep(for: Self.tick)
                let now = ContinuousClock.now
                let closed = log.isClosed
                self.wake { closed || $0.until <= now }
                let stop = self.state.withLock { s in
                    if s.waiters.isEmpty { s.ticking = false }
                    return !s.ticking
                }
                if stop { return }
            }
        }
    }
}
