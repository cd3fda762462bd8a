import Foundation
import Testing
@testable import ChronikCommerce

// ParallelLineMap (pass 1 of import and append on every core): every line
// mapped once and handed out in input order, across many small blocks,
// long lines and blank lines in their places, as a plain loop over the
// reader would see them.

@Suite("ParallelLineMap")
struct ParallelLineMapTests {
    @Test(arguments: [1, 2, 4, 7])
    func handsOutEveryLineOnceInInputOrder(depth: Int) throws {
        // Proves that across 40+ blocks of 97 lines, with a too-long line and blank lines, the items come in line
        // order with each line's own mapped value, exactly the sequence a loop over BoundedLineReader gives —
        // with one block started ahead and with several (depth).
        var text = ""
        for i in 1...4000 {
            switch i {
            case 1234: text += String(repeating: "x", count: 300) + "\n"
            case let i where i % 500 == 0: text += "\n"
            default: text += "line-\(i)\n"
            }
        }
        let path = try tempFile(Array(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }

        func describe(_ n: Int, _ bytes: ArraySlice<UInt8>) -> String { "\(n):" + String(decoding: bytes, as: UTF8.self) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var plain = BoundedLineReader(fd: fd, maxLineBytes: 200, chunkBytes: 1000)
        var expected: [String] = []
        while let item = try plain.next() {
            switch item {
            case .line(let n, let bytes): expected.append(describe(n, bytes))
            case .tooLong(let n, let bytes): expected.append("\(n): long \(bytes)")
            }
        }

        let fd2 = open(path, O_RDONLY)
        defer { close(fd2) }
        var map = ParallelLineMap(reader: BoundedLineReader(fd: fd2, maxLineBytes: 200, chunkBytes: 1000),
                                  blockLines: 97, depth: depth) {
            n, bytes in "\(n):" + String(decoding: bytes, as: UTF8.self)
        }
        var seen: [String] = []
        while let item = try map.next() {
            switch item {
            case .line(let n, let mapped):
                #expect(mapped.hasPrefix("\(n):"))
                seen.append(mapped)
            case .tooLong(let n, let bytes): seen.append("\(n): long \(bytes)")
            }
        }
        #expect(expected.count == 4000)
        #expect(expected.contains("1234: long 300"))
        #expect(seen == expected)
        #expect(try map.next() == nil, "stays at the end")
    }

    @Test(arguments: [1, 4])
    func aFailedReadComesAfterEveryLineReadBeforeIt(depth: Int) throws {
        // Proves that when read(2) fails midway (a socket whose receive timeout runs out: EAGAIN), every line
        // read before the failure is handed out in order, then the reader's error is thrown once, then the end.
        // Before stop 24 the lines of the block being read and of the block before it were dropped.
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let text = (1...300).map { "line-\($0)\n" }.joined()
        let sent = text.utf8.withContiguousStorageIfAvailable { write(fds[1], $0.baseAddress!, $0.count) }
        #expect(sent == text.utf8.count)
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        #expect(setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0)

        var map = ParallelLineMap(reader: BoundedLineReader(fd: fds[0], maxLineBytes: 200, chunkBytes: 1000),
                                  blockLines: 97, depth: depth) { n, bytes in "\(n):" + String(decoding: bytes, as: UTF8.self) }
        var seen: [String] = []
        var failure: CommerceError?
        do throws(CommerceError) {
            while let item = try map.next() {
                if case .line(_, let mapped) = item { seen.append(mapped) }
            }
        } catch {
            failure = error
        }
        #expect(seen == (1...300).map { "\($0):line-\($0)" })
        #expect(failure?.code == .invalidData)
        #expect(failure?.message.contains("after line 300") == true, "\(String(describing: failure))")
        #expect(try map.next() == nil, "the error is thrown once; then the end")
    }
}
