// Lines of a file descriptor with a bound on their length, so that a
// 100 MB line costs at most `maxLineBytes` + one chunk of memory: the rest
// of it is read and dropped while looking for its newline (EVENTS.md,
// "Maximum event … refused with its line number, without reading it all
// into memory").

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads `\n`-terminated lines from a file descriptor; a trailing `\r` is
/// dropped (CRLF files read as LF ones), a UTF-8 byte-order mark at the
/// start of the input is dropped (editors on Windows write one), a last
/// line without a newline counts.
public struct BoundedLineReader {
    /// One line, or the number of a line that was too long.
    public enum Item {
        /// `bytes` shares the reader's buffer: use it before the next call.
        case line(number: Int, bytes: ArraySlice<UInt8>)
        /// A line longer than `maxLineBytes`; `bytes` is its full length.
        case tooLong(number: Int, bytes: Int)
    }

    public let fd: Int32
    public let maxLineBytes: Int
    private let chunkBytes: Int
    private var buffer: [UInt8] = []
    /// One read(2)'s worth, reused.
    private var chunk: [UInt8] = []
    private var start = 0
    private var searchFrom = 0
    private var atEnd = false
    private var number = 0
    /// The most bytes the reader ever buffered: at most `maxLineBytes` +
    /// 2 × `chunkBytes`, whatever the input.
    public private(set) var peakBufferBytes = 0

    /// - Parameters:
    ///   - fd: open for reading; not closed by the reader.
    ///   - maxLineBytes: longer lines are reported, not returned.
    public init(fd: Int32, maxLineBytes: Int, chunkBytes: Int = 1 << 20) {
        precondition(maxLineBytes > 0 && chunkBytes > 0)
        self.fd = fd
        self.maxLineBytes = maxLineBytes
        self.chunkBytes = chunkBytes
    }

    /// The next line, or nil at the end of the input.
    ///
    /// - Throws: `CommerceError` `invalidData` (with errno) when read(2)
    ///   fails.
    public mutating func next() throws(CommerceError) -> Item? {
        while true {
            if let nl = findNewline() {
                number += 1
                var end = nl
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[start..<end]
                start = nl + 1
                searchFrom = start
                if line.count > maxLineBytes {
                    return .tooLong(number: number, bytes: line.count)
                }
                return .line(number: number, bytes: withoutBOM(line))
            }
            searchFrom = buffer.count
            if buffer.count - start > maxLineBytes {
                // Too long already: drop it and skip to its newline.
                number += 1
                var length = buffer.count - start
                buffer.removeAll(keepingCapacity: true)
                start = 0
                searchFrom = 0
                while true {
                    // Read into the scratch chunk only: the long line's
                    // bytes never reach `buffer`.
                    let n = try readChunk()
                    guard n > 0 else { atEnd = true; return .tooLong(number: number, bytes: length) }
                    if let nl = chunk.withUnsafeBufferPointer({ p in memchr(p.baseAddress!, 0x0A, n).map { p.baseAddress!.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } }) {
                        length += nl
                        buffer.append(contentsOf: chunk[(nl + 1)..<n])
                        return .tooLong(number: number, bytes: length)
                    }
                    length += n
                }
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                number += 1
                var end = buffer.count
                if buffer[end - 1] == 0x0D { end -= 1 }
                let line = buffer[start..<end]
                start = buffer.count
                searchFrom = start
                return .line(number: number, bytes: withoutBOM(line))
            }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                searchFrom -= start
                start = 0
            }
            if !(try fill()) { atEnd = true }
        }
    }

    /// The first line without a leading UTF-8 byte-order mark (EF BB BF).
    private func withoutBOM(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard number == 1, line.starts(with: Self.byteOrderMark) else { return line }
        return line.dropFirst(Self.byteOrderMark.count)
    }

    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Whether the next `next()` returns a line without reading: a whole
    /// line is already buffered. `chronik append` on a pipe uses it (with
    /// poll(2)) to take what has arrived as one group.
    public var hasBufferedLine: Bool { findNewline() != nil }

    private func findNewline() -> Int? {
        guard searchFrom < buffer.count else { return nil }
        return buffer.withUnsafeBufferPointer { p -> Int? in
            guard let base = p.baseAddress,
                  let hit = memchr(base + searchFrom, 0x0A, p.count - searchFrom) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Appends one chunk; false at the end of the input.
    private mutating func fill() throws(CommerceError) -> Bool {
        let n = try readChunk()
        buffer.append(contentsOf: chunk[0..<n])
        peakBufferBytes = max(peakBufferBytes, buffer.count)
        return n > 0
    }

    /// read(2) into `chunk`; the byte count, 0 at the end of the input.
    private mutating func readChunk() throws(CommerceError) -> Int {
        if chunk.isEmpty { chunk = [UInt8](repeating: 0, count: chunkBytes) }
        var n = 0
        repeat {
            n = chunk.withUnsafeMutableBufferPointer { p in read(fd, p.baseAddress!, p.count) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else {
            throw CommerceError(.invalidData, "cannot read the input after line \(number): errno \(errno)")
        }
        return n
    }
}
