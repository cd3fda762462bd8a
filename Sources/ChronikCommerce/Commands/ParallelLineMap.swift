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
public struct ParallelLineMap<Output: Sendable> {
    /// One input line, mapped.
    public enum Item {
        /// A line (blank lines included) and what `transform` made of it.
        case line(number: Int, Output)
        /// A line longer than the reader's limit, never held in memory.
        case tooLong(number: Int, bytes: Int)
    }

    private var reader: BoundedLineReader
    private let transform: @Sendable (Int, ArraySlice<UInt8>) -> Output
    private let blockLines: Int
    private var current: Block?
    private var index = 0
    private var pending: Block?
    private var readerDone = false

    /// - Parameters:
    ///   - reader: the input's lines.
    ///   - blockLines: lines read and parsed per block; one block is
    ///     handed out while the next one is parsed.
    ///   - transform: a line's number and bytes to its result; called on
    ///     worker threads, each line once.
    public init(reader: BoundedLineReader, blockLines: Int = 2048,
                transform: @escaping @Sendable (Int, ArraySlice<UInt8>) -> Output) {
        precondition(blockLines > 0)
        self.reader = reader
        self.blockLines = blockLines
        self.transform = transform
    }

    /// The next line in input order, or nil at the end of the input.
    ///
    /// - Throws: the reader's `CommerceError` when read(2) fails; the lines
    ///   before it were handed out.
    public mutating func next() throws(CommerceError) -> Item? {
        while true {
            if let block = current, index < block.count {
                defer { index += 1 }
                return block.item(index)
            }
            if current == nil, pending == nil {
                // The first call: start the first block.
                pending = try start()
            }
            guard let block = pending else {
                current = nil
                return nil
            }
            block.wait()
            current = block
            index = 0
            // Parsed while the caller works through `block`.
            pending = try start()
        }
    }

    /// Reads the next block's lines and starts mapping them; nil at the end
    /// of the input.
    private mutating func start() throws(CommerceError) -> Block? {
        guard !readerDone else { return nil }
        var items: [BoundedLineReader.Item] = []
        items.reserveCapacity(blockLines)
        while items.count < blockLines {
            guard let item = try reader.next() else {
                readerDone = true
                break
            }
            items.append(item)
        }
        guard !items.isEmpty else { return nil }
        let block = Block(items)
        block.run(transform)
        return block
    }

    /// A block of lines and their results, filled by the workers; read only
    /// after `wait()`.
    private final class Block: @unchecked Sendable {
        // @unchecked: `results` is written by the workers, each index by
        // one, before `group` is left, and read only after `wait()`.
        let items: [BoundedLineReader.Item]
        private let results: UnsafeMutableBufferPointer<Output?>
        private let group = DispatchGroup()

        init(_ items: [BoundedLineReader.Item]) {
            self.items = items
            results = .allocate(capacity: items.count)
            results.initialize(repeating: nil)
        }

        deinit {
            results.deinitialize()
            results.deallocate()
        }

        var count: Int { items.count }

        /// Maps the lines on the workers, in as many slices as cores.
        func run(_ transform: @escaping @Sendable (Int, ArraySlice<UInt8>) -> Output) {
            guard ParseWorkers.count > 1 else {
                // One thread: mapped here, before the block is handed out.
                for (i, item) in items.enumerated() {
                    if case .line(let n, let bytes) = item { results[i] = transform(n, bytes) }
                }
                return
            }
            group.enter()
            let slices = Swift.max(1, Swift.min(ParseWorkers.count, items.count / 64))
            DispatchQueue.global().async { [self] in
                DispatchQueue.concurrentPerform(iterations: slices) { s in
                    let lo = items.count * s / slices
                    let hi = items.count * (s + 1) / slices
                    for i in lo..<hi {
                        if case .line(let n, let bytes) = items[i] { results[i] = transform(n, bytes) }
                    }
                }
                group.leave()
            }
        }

        func wait() { group.wait() }

        func item(_ i: Int) -> Item {
            switch items[i] {
            case .line(let n, _): .line(number: n, results[i]!)
            case .tooLong(let n, let bytes): .tooLong(number: n, bytes: bytes)
            }
        }
    }
}

/// How many threads map the lines: the cores online, or
/// `CHRONIK_PARSE_WORKERS` when set (1: everything on the calling thread,
/// in line order, no pipeline — the reference the tests compare with).
public enum ParseWorkers {
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
