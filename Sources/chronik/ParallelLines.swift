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
    var readError: (any Error)?
    var end = false
    try writeBlocksInParallel(
        next: { () throws -> [RecordedEvent]? in
            if let readError { throw readError }
            guard !end else { return nil }
            var events: [RecordedEvent] = []
            events.reserveCapacity(blockEvents)
            do {
                while events.count < blockEvents, let e = try next() { events.append(e) }
            } catch {
                // The events before it are written first.
                if events.isEmpty { throw error }
                readError = error
            }
            end = events.count < blockEvents
            return events.isEmpty ? nil : events
        },
        units: { $0.count },
        workers: workers,
        makeFormatter: { note in
            let format = makeFormatter(note)
            return { events, range, lines in
                for i in range { try lines.line { try format(events[i], &$0) } }
            }
        },
        note: note, emit: emit)
}

/// `writeLinesInParallel` for the events from position `start` through
/// `last` (inclusive; nil: to the head), at most `limit`, read a block of
/// decoded batches at a time (`EventLog.readBlocks`): the workers format
/// each event from the stored bytes as a view — no `RecordedEvent`, no
/// array per event.
///
/// - Returns: the number of events handed to the formatters.
func writeLinesInParallel(
    _ log: EventLog, from start: UInt64, through last: UInt64?, limit: Int?,
    makeFormatter: @escaping @Sendable (_ note: @escaping (String) -> Void) -> (EventView, inout JSONWriter) throws -> Void,
    note: (String) -> Void,
    emit: (_ bytes: [UInt8], _ lineEnds: [Int]) -> Void
) throws -> Int {
    let reader = log.readBlocks(from: Position(start))
    var left = limit ?? .max
    if let last { left = Swift.min(left, last >= start ? Int(clamping: last - start + 1) : 0) }
    var count = 0
    try writeBlocksInParallel(
        next: { () throws -> EventBlock? in
            guard left > 0 else { return nil }
            let block = try reader.nextBlock(limit: left)
            left -= block.eventCount
            count += block.eventCount
            return block.eventCount == 0 ? nil : block
        },
        units: { $0.eventCount },
        makeFormatter: { note in
            let format = makeFormatter(note)
            var types = EventTypeCache()
            return { block, events, lines in
                try block.forEachEvent(in: events, types: &types) { e in try lines.line { try format(e, &$0) } }
            }
        },
        note: note, emit: emit)
    return count
}

/// The lines of one slice of a block: formatted bytes and where each line
/// ends.
struct LineSink {
    var w: JSONWriter
    var lineEnds: [Int] = []

    /// One line written by `body`, then its newline; nothing of it when
    /// `body` throws.
    mutating func line(_ body: (inout JSONWriter) throws -> Void) throws {
        try w.allOrNothing(body)
        w.byte(0x0A)
        lineEnds.append(w.bytes.count)
    }
}

/// `writeLinesInParallel` for events read a block at a time: each block's
/// events are formatted in slices on the workers while the next block is
/// read.
///
/// - Parameters:
///   - next: the next block, nil at the end; called on the calling thread
///     only. An error it throws is thrown after every line of the blocks
///     it returned before.
///   - units: how many events a block has; a slice is a range of them.
///   - makeFormatter: a formatter for one slice of a block: it writes the
///     lines of the events in the range through `LineSink.line`, in order,
///     and stops at its first error (the lines before it are kept).
func writeBlocksInParallel<Block: Sendable>(
    next: () throws -> Block?,
    units: (Block) -> Int,
    workers: Int = OutputWorkers.count,
    makeFormatter: @escaping @Sendable (_ note: @escaping (String) -> Void) -> (Block, Range<Int>, inout LineSink) throws -> Void,
    note: (String) -> Void,
    emit: (_ bytes: [UInt8], _ lineEnds: [Int]) -> Void
) throws {
    precondition(workers >= 2)
    var pending: LineBlock<Block>?
    while true {
        let read: Block?
        do {
            read = try next()
        } catch {
            try pending?.finish(note: note, emit: emit)
            throw error
        }
        let block = read.flatMap { units($0) == 0 ? nil : LineBlock($0, units: units($0), workers: workers, makeFormatter: makeFormatter) }
        // Formatted while this block was read.
        if let pending { try pending.finish(note: note, emit: emit) }
        pending = block
        if read == nil {
            return
        }
    }
}

/// A block and its lines, formatted in slices; read only after `finish`
/// has waited for them.
///
/// The slices are claimed one at a time (an atomic counter) by the
/// workers and, once it has read the next block, by the calling thread in
/// `finish`: on 2 cores the reading thread was idle most of the time while
/// one worker formatted the whole block (profile of `export`, stop 26:
/// formatting 62 % of all samples on one thread, reading 27 % on the
/// other), so it now formats what is left instead of waiting.
private final class LineBlock<Block: Sendable>: @unchecked Sendable {
    // @unchecked: each slice's result is written by the one thread that
    // claimed it before it leaves `group`, and read only after
    // `group.wait()`.
    final class Slice {
        var lines: LineSink
        var notes: [String] = []
        var error: (any Error)?
        init(capacity: Int, lines count: Int) {
            lines = LineSink(w: JSONWriter(capacity: capacity))
            lines.lineEnds.reserveCapacity(count)
        }
    }

    /// Slices per worker: small enough that the calling thread finds some
    /// left to format when it has read the next block.
    static var slicesPerWorker: Int { 4 }

    let block: Block
    let units: Int
    let slices: [Slice]
    private let makeFormatter: @Sendable (@escaping (String) -> Void) -> (Block, Range<Int>, inout LineSink) throws -> Void
    private let claimed = Atomic<Int>(0)
    private let group = DispatchGroup()

    init(_ block: Block, units: Int, workers: Int,
         makeFormatter: @escaping @Sendable (@escaping (String) -> Void) -> (Block, Range<Int>, inout LineSink) throws -> Void) {
        self.block = block
        self.units = units
        self.makeFormatter = makeFormatter
        let n = Swift.max(1, Swift.min(workers * Self.slicesPerWorker, units / 64))
        slices = (0..<n).map { _ in Slice(capacity: units / n * 512 + 4096, lines: units / n + 1) }
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
        do {
            try format(block, (units * s / n)..<(units * (s + 1) / n), &slice.lines)
        } catch {
            slice.error = error
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
            if !slice.lines.w.bytes.isEmpty { emit(slice.lines.w.bytes, slice.lines.lineEnds) }
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
