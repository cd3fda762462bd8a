import CLZ4
import Foundation
import Testing
@testable import ChronikLog

/// One-block payloads are compressed on LZ4 stream states kept for reuse
/// (stop 51): each compression starts a new chain, so what it writes is a
/// block with no dictionary, whatever the state compressed before.
@Suite("LZ4: one block on a reused stream state")
struct LZ4StreamReuseTests {
    /// Bytes that compress (repeats at varying distances) from a seed.
    static func payload(_ seed: UInt64, _ count: Int) -> [UInt8] {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            if x % 3 == 0, out.count > 16 {
                let back = Int(x >> 8) % min(out.count, 4096) + 1
                let length = min(Int(x >> 24) % 40 + 4, count - out.count)
                let from = out.count - back
                for k in 0..<length { out.append(out[from + k]) }
            } else {
                out.append(UInt8(truncatingIfNeeded: x >> 32) % 26 + 97)
            }
        }
        return out
    }

    static func decode(_ block: [UInt8], rawLength: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: rawLength)
        let n = block.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_decompress_safe(src.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(block.count), Int32(rawLength))
            }
        }
        return n == Int32(rawLength) ? out : nil
    }

    @Test("every block decodes alone to its input, and the same input gives the same bytes whatever came before, over 400 inputs of 64 B to 64 KiB")
    func blocksAreIndependentOfWhatCameBefore() {
        var first: [Int: [UInt8]] = [:]
        for round in 0..<2 {
            // The second round compresses the same inputs in reverse order,
            // on states that compressed other inputs before.
            let order = round == 0 ? Array(0..<200) : Array((0..<200).reversed())
            for i in order {
                let raw = Self.payload(UInt64(i), 64 + (i * 7919) % (64 << 10))
                let (block, n) = LZ4Blocks.compressOne(raw)
                #expect(n > 0 && n == block.count)
                let decodes = Self.decode(block, rawLength: raw.count) == raw
                #expect(decodes, "input \(i) of \(raw.count) bytes does not decode alone to itself")
                if let before = first[i] {
                    let same = before == block
                    #expect(same, "input \(i): other bytes on a reused state")
                } else {
                    first[i] = block
                }
            }
        }
    }

    @Test("compressions on 8 threads at once, each with its own state: every block decodes to its input")
    func concurrentCompressionsEachTakeAState() async throws {
        let failures = await withTaskGroup(of: Int.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var bad = 0
                    for i in 0..<300 {
                        let raw = Self.payload(UInt64(t * 1000 + i), 200 + (i * 131) % 5000)
                        let (block, n) = LZ4Blocks.compressOne(raw)
                        if n <= 0 || Self.decode(block, rawLength: raw.count) != raw { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }
}
