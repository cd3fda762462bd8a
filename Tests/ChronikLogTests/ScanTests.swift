import Foundation
import Testing
@testable import ChronikLog

@Suite("scan: borrowed, allocation-free reads")
struct ScanTests {
    @Test("scan visits exactly what readAll returns, from any position, with both codecs, across segments", arguments: Compression.allCases)
    func scanMatchesReadAll(codec: Compression) async throws {
        let dir = makeTempDir("scan\(codec)")
        defer { removeDir(dir) }
        let log = try await openMixedLog(at: dir, codec: codec, seed: 7)
        defer { try? log.close() }
        let all = try log.readAll().collect()
        for start in [0, 1, 57, all.count / 2, all.count - 1, all.count] {
            var seen: [RecordedEvent] = []
            let visited = try log.scan(from: Position(UInt64(start))) { seen.append($0.materialize()) }
            #expect(visited == all.count - start, "start \(start)")
            #expect(seen == Array(all.dropFirst(start)), "start \(start)")
        }
    }

    @Test("scan refuses a damaged batch with file and offset instead of returning altered data")
    func scanDetectsCorruption() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        // Damage a batch after the open accepted it: the scan must notice.
        let (reader, path, at) = try await openThenDamage(at: dir) { intact in
            let visited = try intact.scan { _ in }
            #expect(visited == 10)
        }
        defer { try? reader.close() }
        var payloads: [String] = []
        do {
            try reader.scan { payloads.append(String(decoding: $0.data, as: UTF8.self)) }
            Issue.record("scan should refuse the damaged batch")
        } catch let e as ChronikLogError {
            #expect(e.code == .corruption)
            #expect(e.path == path)
            #expect(e.offset.map { $0 <= Int64(at) } == true, "offset \(String(describing: e.offset)) should be at or before byte \(at)")
        }
        // Everything handed out before the damage was intact.
        #expect(payloads == (0..<payloads.count).map { "event number \($0)" })
    }

    @Test("a view from scan gives every stream's name, asked once or twice: short, long and non-ASCII names, across batches")
    func scanStreamNames() async throws {
        let dir = makeTempDir("scanstreams")
        defer { removeDir(dir) }
        var options = LogOptions()
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        // A String of up to 15 UTF-8 bytes is stored inline, a longer one on
        // the heap: both sides of that line, and names that are not ASCII.
        let names = ["s", "fifteen-bytes-1", "sixteen-bytes-12", "order-" + String(repeating: "x", count: 40),
                     "bestellung-zürich-größe", "注文-42", "🛒-cart-" + String(repeating: "é", count: 30)]
        for round in 0..<3 {
            for (k, name) in names.enumerated() {
                try await log.append(to: name, (0...(k % 3)).map { j in event("E", "\(name) \(round) \(j)") })
            }
        }
        let all = try log.readAll().collect()
        var seen: [(String, String)] = []
        let visited = try log.scan { view in seen.append((view.stream, view.stream)) }
        #expect(visited == all.count)
        #expect(seen.map(\.0) == all.map(\.stream))
        #expect(seen.map(\.1) == all.map(\.stream))
        #expect(Set(seen.map(\.0)) == Set(names))
    }

    @Test("the check of a stream name's bytes: ASCII and valid UTF-8 pass; a stray, truncated or overlong sequence does not")
    func streamNameUTF8Check() {
        func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { isValidUTF8($0) } }
        #expect(valid([]))
        #expect(valid(Array("order-ord-123456".utf8)))
        #expect(valid(Array("bestellung-zürich".utf8)))
        #expect(valid(Array("🛒".utf8)))
        #expect(!valid([0x6F, 0xFF, 0x6F]))           // never in UTF-8
        #expect(!valid(Array("z".utf8) + [0xC3]))     // a two-byte sequence cut short
        #expect(!valid([0xC0, 0xAF]))                 // an overlong "/"
        #expect(!valid([0xED, 0xA0, 0x80]))           // a UTF-16 surrogate
    }
    @Test("a parsed header gives back the previous hash it was written with, and chains only to that hash")
    func headerKeepsThePreviousHash() throws {
        // 32 distinct bytes, so a word read in the wrong order or place shows.
        let previous = ChainHash(bytes: (0..<32).map { UInt8(3 * $0 + 1) })
        var out: [UInt8] = []
        _ = BatchEncoder.encode(stream: "s", events: [ProposedEvent(type: "T", data: [1, 2, 3])], basePosition: 5,
                                firstStreamVersion: 0, recordedAt: Timestamp(microseconds: 1), previousHash: previous,
                                compression: .none, into: &out)
        let header = try #require(try out.withUnsafeBytes { try BatchHeader.parse($0)?.get() })
        #expect(header.previousHash == previous)
        #expect(header.chains(to: previous))
        #expect(!header.chains(to: .genesis))
        // One byte changed in each of the four words is another hash.
        for i in [0, 9, 18, 31] {
            var other = previous.bytes
            other[i] ^= 0x80
            #expect(!header.chains(to: ChainHash(bytes: other)), "byte \(i)")
        }
    }
    @Test("the scan's type names: every length, names alike but for one byte anywhere, and past the cache's bound")
    func typeInternerTellsNamesApart() {
        var interner = TypeInterner()
        var names: [String] = []
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 24, 40, 63, 64, 80] {
            let base = String((0..<n).map { Character(Unicode.Scalar(UInt8(65 + ($0 * 7 + n) % 26))) })
            names.append(base)
            // One byte changed at the start, in the middle (inside neither
            // the first nor the last eight bytes once n > 16) and at the end.
            for at in Set([0, n / 2, n - 1]) where n > 0 {
                var bytes = Array(base.utf8)
                bytes[at] = bytes[at] == 0x7A ? 0x61 : 0x7A
                names.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        names.append("Ünïcödé")
        // Past 256 names the interner stops caching but still answers.
        names += (0..<300).map { "Type\($0)" }
        #expect(Set(names).count == names.count)
        for round in 0..<2 {
            for name in names {
                let got = Array(name.utf8).withUnsafeBytes { interner.intern($0) }
                #expect(got == name, "round \(round): \(name)")
            }
        }
        #expect([0xFF, 0x41].withUnsafeBytes { interner.intern($0) } == nil)
    }
}
