import Foundation
import Testing
@testable import ChronikCommerce

// ParallelLineMap (pass 1 of import and append on every core): every line
// mapped once and handed out in input order, across many small blocks,
// long lines and blank lines in their places, as a plain loop over the
// reader would see them.

@Suite("ParallelLineMap")
struct ParallelLineMapTests {
    @Test func handsOutEveryLineOnceInInputOrder() throws {
        // Proves that across 40+ blocks of 97 lines, with a too-long line and blank lines, the items come in line
        // order with each line's own mapped value, exactly the sequence a loop over BoundedLineReader gives.
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
        var map = ParallelLineMap(reader: BoundedLineReader(fd: fd2, maxLineBytes: 200, chunkBytes: 1000), blockLines: 97) {
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
}
