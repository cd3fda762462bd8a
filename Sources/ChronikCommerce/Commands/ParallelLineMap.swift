// Pass 1 of `import` and `append` on every core: one thread splits the
// input into lines (BoundedLineReader), workers map blocks of lines
// (parse and validate, each line on its own), and the caller takes the
// results one at a time in line order — so what comes after (ids, guards,
// the first bad line's message) is decided exactly as by a loop over the
// lines, while the next block is already being parsed.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// The lines of an input, each mapped by `transform` on worker threads,
/// handed out in line order.
///
/// Inlinable, so that a client module (the CLI's `append`) gets it
/// specialised for its own `Output`: unspecialised, the runtime's generic
/// metadata look-ups were about a quarter of the calling thread's work in
/// pass 1 (stop 24).
public struct ParallelLineMap<Output: Sendable> {
    /// One input line, mapped.
    public enum Item {
        /// A line (blank lines included) and what `transform` made of it.
        case line(number: Int, Output)
        /// A line longer than the reader's limit, never held in memory.
        case tooLong(number: Int, bytes: Int)
    }

    @usableFromInline var reader: BoundedLineReader
    @usableFromInline let transform: @Sendable (Int, ArraySlice<UInt8>) -> Output
    @usableFromInline let blockLines: Int
    @usableFromInline let depth: Int
    @usableFromInline var current: Block?
    @usableFromInline var index = 0
    /// Blocks started and not yet handed out, oldest first: up to `depth`.
    @usableFromInline var pending: [Block] = []
    @usableFromInline var readerDone = false
    /// The reader's failure, thrown after the lines read before it.
    @usableFromInline var readError: CommerceError?

    /// Reads and starts the first `depth` blocks.
    ///
    /// - Parameters:
    ///   - reader: the input's lines.
    ///   - blockLines: lines read and parsed per block.
    ///   - depth: blocks started ahead of the one handed out. With one,
    ///     the workers wait while the caller reads the next block's lines
    ///     and takes the results (stop 24: pass 1 of `append` then kept
    ///     1.3 of 2 cores busy); with more, a started block is always
    ///     queued behind the one being parsed.
    ///   - transform: a line's number and bytes to its result; called on
    ///     worker threads, each line once.
    @inlinable
    public init(reader: BoundedLineReader, blockLines: Int = 2048, depth: Int = 4,
                transform: @escaping @Sendable (Int, ArraySlice<UInt8>) -> Output) {
        precondition(blockLines > 0 && depth > 0)
        self.reader = reader
        self.blockLines = blockLines
        self.depth = ParseWorkers.count > 1 ? depth : 1
        self.transform = transform
        fill()
    }

    /// The next line in input order, or nil at the end of the input.
    ///
    /// - Throws: the reader's `CommerceError` when read(2) fails, once
    ///   every line read before the failure has been handed out.
    @inlinable
    public mutating func next() throws(CommerceError) -> Item? {
        while true {
            if let block = current, index < block.count {
                defer { index += 1 }
                return block.take(index)
            }
            current = nil  // its results are freed once all were taken
            guard !pending.isEmpty else {
                if let error = readError {
                    readError = nil
                    throw error
                }
                return nil
            }
            let block = pending.removeFirst()
            // Started before `block` is waited for, so that the workers
            // have it queued when they finish `block`.
            fill()
            block.wait()
            current = block
            index = 0
        }
    }

    /// Starts blocks until `depth` are pending or the input ends.
    @inlinable
    mutating func fill() {
        while pending.count < depth, let block = start() { pending.append(block) }
    }

    /// Reads the next block's lines and starts mapping them; nil at the end
    /// of the input. A failed read ends the input: the lines read before it
    /// still make a block, and `next` throws the error after them.
    @inlinable
    mutating func start() -> Block? {
        guard !readerDone else { return nil }
        var items: [BoundedLineReader.Item] = []
        items.reserveCapacity(blockLines)
        do {
            while items.count < blockLines {
                guard let item = try reader.next() else {
                    readerDone = true
                    break
                }
                items.append(item)
            }
        } catch {
            readError = error
            readerDone = true
        }
        guard !items.isEmpty else { return nil }
        let block = Block(items, transform)
        block.run()
        return block
    }

    /// A block of lines and their results, filled by the workers; read only
    /// after `wait()`.
    ///
    /// Its lines are mapped in chunks that whoever is free claims: each
    /// worker, and the caller while it waits for the block. A fixed slice
    /// per worker left a core a third idle (stop 28: three threads on two
    /// cores, the worker that shared a core with the caller paced every
    /// block while the other ran ahead and slept).
    @usableFromInline
    final class Block: @unchecked Sendable {
        // @unchecked: `results` is written by the workers and the caller,
        // each index by the one that claimed its chunk, before `group` is
        // left (or by the caller itself), and read only after `wait()`.
        @usableFromInline let items: [BoundedLineReader.Item]
        @usableFromInline let results: UnsafeMutableBufferPointer<Output?>
        @usableFromInline let transform: @Sendable (Int, ArraySlice<UInt8>) -> Output
        @usableFromInline let group = DispatchGroup()
        /// Chunks claimed so far (some may be claimed past the last).
        @usableFromInline let claimed = Atomic<Int>(0)
        /// Lines per chunk: small enough that the threads finish a block
        /// together, large enough that claiming costs nothing.
        @usableFromInline static var chunkLines: Int { 64 }

        @inlinable
        init(_ items: [BoundedLineReader.Item], _ transform: @escaping @Sendable (Int, ArraySlice<UInt8>) -> Output) {
            self.items = items
            self.transform = transform
            results = .allocate(capacity: items.count)
            results.initialize(repeating: nil)
        }

        deinit {
            results.deinitialize()
            results.deallocate()
        }

        @inlinable var count: Int { items.count }

        /// Starts mapping the lines on every worker (one serial queue each:
        /// the global queue, and `concurrentPerform` from it, ran every
        /// slice on one thread here, as its pool counts the calling thread —
        /// a thread of Swift's cooperative pool, blocked in `wait()` — as
        /// busy; stop 27). With one worker the lines are mapped here, before
        /// the block is handed out.
        @inlinable
        func run() {
            guard ParseWorkers.count > 1 else { return work() }
            for queue in ParseWorkers.queues {
                group.enter()
                queue.async { [self] in
                    work()
                    group.leave()
                }
            }
        }

        /// Maps chunks of lines until none is left to claim.
        @inlinable
        func work() {
            let chunk = Self.chunkLines
            let chunks = (items.count + chunk - 1) / chunk
            while true {
                let c = claimed.wrappingAdd(1, ordering: .relaxed).oldValue
                guard c < chunks else { return }
                for i in (c * chunk)..<Swift.min(items.count, (c + 1) * chunk) {
                    if case .line(let n, let bytes) = items[i] { results[i] = transform(n, bytes) }
                }
            }
        }

        /// Helps map what is left, then waits for the workers' chunks.
        @inlinable func wait() {
            work()
            group.wait()
        }

        /// Line `i` and its result, moved out (each index is taken once;
        /// copying it cost a retain and a release of each of its arrays
        /// and strings).
        @inlinable
        func take(_ i: Int) -> Item {
            switch items[i] {
            case .line(let n, _): .line(number: n, results[i].take()!)
            case .tooLong(let n, let bytes): .tooLong(number: n, bytes: bytes)
            }
        }
    }
}

/// How many threads map the lines: the cores online, or
/// `CHRONIK_PARSE_WORKERS` when set (1: everything on the calling thread,
/// in line order, no pipeline — the reference the tests compare with).
public enum ParseWorkers {
    /// One serial queue per worker (`Block.run`).
    @usableFromInline
    static let queues: [DispatchQueue] = (0..<count).map { DispatchQueue(label: "chronik.parse.\($0)") }

    public static let count: Int = {
        if let s = getenv("CHRONIK_PARSE_WORKERS"), let n = Int(String(cString: s)), n >= 1 { return Swift.min(n, 64) }
        #if canImport(Glibc)
        let n = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        #else
        let n = sysconf(_SC_NPROCESSORS_ONLN)
        #endif
        return Swift.max(1, Int(n))
    }()
}
