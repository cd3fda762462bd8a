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
        let block = Block(items)
        block.run(transform)
        return block
    }

    /// A block of lines and their results, filled by the workers; read only
    /// after `wait()`.
    @usableFromInline
    final class Block: @unchecked Sendable {
        // @unchecked: `results` is written by the workers, each index by
        // one, before `group` is left, and read only after `wait()`.
        @usableFromInline let items: [BoundedLineReader.Item]
        @usableFromInline let results: UnsafeMutableBufferPointer<Output?>
        @usableFromInline let group = DispatchGroup()

        @inlinable
        init(_ items: [BoundedLineReader.Item]) {
            self.items = items
            results = .allocate(capacity: items.count)
            results.initialize(repeating: nil)
        }

        deinit {
            results.deinitialize()
            results.deallocate()
        }

        @inlinable var count: Int { items.count }

        /// Maps the lines on the workers, in as many slices as cores.
        @inlinable
        func run(_ transform: @escaping @Sendable (Int, ArraySlice<UInt8>) -> Output) {
            guard ParseWorkers.count > 1 else {
                // One thread: mapped here, before the block is handed out.
                for (i, item) in items.enumerated() {
                    if case .line(let n, let bytes) = item { results[i] = transform(n, bytes) }
                }
                return
            }
            // One serial queue per slice: the global queue (and
            // `concurrentPerform` from it) ran every slice on one thread
            // here, as its pool counts the calling thread — a thread of
            // Swift's cooperative pool, blocked in `wait()` — as busy (perf
            // of `append`, stop 27: one parse thread at 100 % of a core,
            // the other core idle but for the reading thread's ~30 %).
            // Serial queues run on threads of their own.
            let slices = Swift.max(1, Swift.min(ParseWorkers.count, items.count / 64))
            for s in 0..<slices {
                group.enter()
                ParseWorkers.queues[s].async { [self] in
                    let lo = items.count * s / slices
                    let hi = items.count * (s + 1) / slices
                    for i in lo..<hi {
                        if case .line(let n, let bytes) = items[i] { results[i] = transform(n, bytes) }
                    }
                    group.leave()
                }
            }
        }

        @inlinable func wait() { group.wait() }

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
