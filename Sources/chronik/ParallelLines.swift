// `read --json` and `export` on every core (issue 13): the calling thread
// reads the events (the cursor, the range and the limit stay on one
// thread), workers format blocks of them into byte buffers, and the buffers
// are written in event order — so the bytes, the warnings and the first
// error are those of a loop over the events, while the next block is
// already being read.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ChronikCommerce
import ChronikLog
import Dispatch
import Synchronization

/// How many threads format output lines: the cores online, or
/// `CHRONIK_OUTPUT_WORKERS` when set (1: the loop on the calling thread,
/// the old path, which the tests compare with).
enum OutputWorkers {
    static let count: Int = {
        if let s = getenv("CHRONIK_OUTPUT_WORKERS"), let n = Int(String(cString: s)), n >= 1 { return Swift.min(n, 64) }
        #if canImport(Glibc)
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        #else
        let n = sysconf(_SC_NPROCESSORS_ONLN)
        #endif
        return Swift.max(1, Int(n))
    }()
}

/// Writes one line per event, each formatted by `makeFormatter`'s
/// formatter on a worker thread, to `emit` in event order.
///
/// - Parameters:
///   - next: the next event to write, nil at the end; called on the
///     calling thread only, in order (it holds the cursor, range and limit).
///   - workers: the formatting threads (≥ 2; 1 is the caller's own loop);
///     the calling thread also formats what they have not begun once it
///     has read the next block.
///   - blockEvents: events read per block; one block is formatted while
///     the next one is read.
///   - makeFormatter: a formatter for one slice of a block, given where
///     its notes (warnings) go; the formatter appends one event's line,
///     without the newline, and leaves nothing of it when it throws.
///   - note: a slice's notes, in event order, before its lines.
///   - emit: the bytes of whole lines, in event order, and where each
///     line ends in them (the offset after its newline).
/// - Throws: the first error in event order — a formatter's (the lines
///   before it are emitted) or `next`'s (every line of an event it returned
///   is emitted first).
func writeLinesInParallel(
    next: () throws -> RecordedEvent?,
    workers: Int = OutputWorkers.count,
    blockEvents: Int = 4096,
    makeFormatter: @escaping @Sendable (_ note: @escaping (String) -> Void) -> (RecordedEvent, inout JSONWriter) throws -> Void,
    note: (String) -> Void,
    emit: (_ bytes: [UInt8], _ lineEnds: [Int]) -> Void
) throws {
    precondition(workers >= 2 && blockEvents > 0)
    var pending: LineBlock?
    while true {
        var events: [RecordedEvent] = []
        events.reserveCapacity(blockEvents)
        var readError: (any Error)?
        do {
            while events.count < blockEvents, let e = try next() { events.append(e) }
        } catch {
            readError = error
        }
        let end = events.count < blockEvents || readError != nil
        let block = events.isEmpty ? nil : LineBlock(events, workers: workers, makeFormatter: makeFormatter)
        // Formatted while this block was read.
        if let pending { try pending.finish(note: note, emit: emit) }
        pending = block
        if end {
            try pending?.finish(note: note, emit: emit)
            if let readError { throw readError }
            return
        }
    }
}

/// A block of events and their lines, formatted in slices; read only
/// after `finish` has waited for them.
///
/// The slices are claimed one at a time (an atomic counter) by the
/// workers and, once it has read the next block, by the calling thread in
/// `finish`: on 2 cores the reading thread was idle most of the time while
/// one worker formatted the whole block (profile of `export`, stop 26:
/// formatting 62 % of all samples on one thread, reading 27 % on the
/// other), so it now formats what is left instead of waiting.
private final class LineBlock: @unchecked Sendable {
    // @unchecked: each slice's result is written by the one thread that
    // claimed it before it leaves `group`, and read only after
    // `group.wait()`.
    final class Slice {
        var w: JSONWriter
        var lineEnds: [Int] = []
        var notes: [String] = []
        var error: (any Error)?
        init(capacity: Int, lines: Int) {
            w = JSONWriter(capacity: capacity)
            lineEnds.reserveCapacity(lines)
        }
    }

    /// Slices per worker: small enough that the calling thread finds some
    /// left to format when it has read the next block.
    static let slicesPerWorker = 4

    let events: [RecordedEvent]
    let slices: [Slice]
    private let makeFormatter: @Sendable (@escaping (String) -> Void) -> (RecordedEvent, inout JSONWriter) throws -> Void
    private let claimed = Atomic<Int>(0)
    private let group = DispatchGroup()

    init(_ events: [RecordedEvent], workers: Int,
         makeFormatter: @escaping @Sendable (@escaping (String) -> Void) -> (RecordedEvent, inout JSONWriter) throws -> Void) {
        self.events = events
        self.makeFormatter = makeFormatter
        let n = Swift.max(1, Swift.min(workers * Self.slicesPerWorker, events.count / 64))
        slices = (0..<n).map { _ in Slice(capacity: events.count / n * 512 + 4096, lines: events.count / n + 1) }
        for _ in 0..<n { group.enter() }
        for _ in 0..<Swift.min(workers, n) {
            DispatchQueue.global().async { [self] in formatUnclaimed() }
        }
    }

    /// Formats slices until none is left unclaimed.
    private func formatUnclaimed() {
        while true {
            let s = claimed.wrappingAdd(1, ordering: .relaxed).oldValue
            guard s < slices.count else { return }
            format(slice: s)
            group.leave()
        }
    }

    private func format(slice s: Int) {
        let slice = slices[s]
        let format = makeFormatter { slice.notes.append($0) }
        let n = slices.count
        for i in (events.count * s / n)..<(events.count * (s + 1) / n) {
            let mark = slice.w.bytes.count
            do {
                try format(events[i], &slice.w)
            } catch {
                slice.w.bytes.removeSubrange(mark...)
                slice.error = error
                return
            }
            slice.w.byte(0x0A)
            slice.lineEnds.append(slice.w.bytes.count)
        }
    }

    /// Formats what the workers have not claimed yet, waits for the rest,
    /// then hands out the notes and lines of each slice in order, stopping
    /// at the first error.
    func finish(note: (String) -> Void, emit: ([UInt8], [Int]) -> Void) throws {
        formatUnclaimed()
        group.wait()
        for slice in slices {
            for n in slice.notes { note(n) }
            if !slice.w.bytes.isEmpty { emit(slice.w.bytes, slice.lineEnds) }
            if let error = slice.error { throw error }
        }
    }
}

/// Something opened once and shared by the formatting threads: the key
/// store of `read`, opened when the first event with sealed personal data
/// needs it (so a log without personal data never touches it).
final class OpenOnce<Value>: @unchecked Sendable {
    // @unchecked: `state` is only touched under `lock`; `open` runs under it.
    private let lock = PthreadLock()
    private var state: Result<Value, any Error>?
    private let open: (_ note: (String) -> Void) throws -> Value

    init(_ open: @escaping (_ note: (String) -> Void) throws -> Value) { self.open = open }

    /// The value, opened by the first caller (its notes go to `note`); a
    /// failure is kept (the first error ends the command).
    func get(note: (String) -> Void) throws -> Value {
        try lock.withLock {
            if let state { return try state.get() }
            let r = Result { try open(note) }
            state = r
            return try r.get()
        }
    }
}

/// A pthread mutex.
private final class PthreadLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    init() { pthread_mutex_init(m, nil) }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}
