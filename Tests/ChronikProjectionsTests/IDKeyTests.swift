import Testing
@testable import ChronikProjections

/// The models' id key (`IDKey`): `String`'s equality, a hash that agrees
/// with it for every string, and a spread good enough for a table.
@Suite struct IDKeyTests {
    private func hash(_ s: String, seed: Int = 12345) -> Int { IDKey(s)._rawHashValue(seed: seed) }

    @Test("equal ids hash alike however the strings were made; ids of every length up to 200 bytes hash apart")
    func equalIDsHashAlike() {
        var seen: [Int: String] = [:]
        for n in 0...200 {
            let id = String((0..<n).map { Character(Unicode.Scalar(UInt8(97 + ($0 * 7 + n) % 26))) })
            // The same bytes, made another way (a native copy, not a literal).
            let copy = String(decoding: Array(id.utf8), as: UTF8.self)
            #expect(IDKey(id) == IDKey(copy))
            #expect(hash(id) == hash(copy), "length \(n)")
            #expect(hash(id, seed: 1) != hash(id, seed: 2), "the seed changes the hash, length \(n)")
            if let other = seen[hash(id)] { Issue.record("\(id) and \(other) hash alike") }
            seen[hash(id)] = id
        }
        // Prefixes, a byte changed at each place, the length alone.
        let base = "ord-000123456789-abcdef"
        var hashes = Set<Int>()
        for i in base.utf8.indices {
            var bytes = Array(base.utf8)
            bytes[base.utf8.distance(from: base.utf8.startIndex, to: i)] ^= 1
            hashes.insert(hash(String(decoding: bytes, as: UTF8.self)))
            hashes.insert(hash(String(base[..<i])))
        }
        #expect(hashes.count == 2 * base.utf8.count)
        #expect(Set(["a", "aa", "aaa", "aaaa", "aaaaaaaa", "aaaaaaaaaaaaaaaa"].map { hash($0) }).count == 6)
    }

    @Test("a string and a canonically equivalent one are one key with one hash, ASCII or not")
    func canonicalEquivalence() {
        let pairs: [(String, String)] = [
            ("caf\u{E9}", "cafe\u{301}"),             // é precomposed and decomposed
            ("\u{212A}1", "K1"),                      // KELVIN SIGN is K
            ("a\u{37E}b\u{1FEF}", "a;b`"),            // GREEK QUESTION MARK, GREEK VARIA
            ("ord-\u{212A}\u{212A}\u{212A}-0000000000000000", "ord-KKK-0000000000000000"),
        ]
        for (a, b) in pairs {
            #expect(a == b)
            #expect(IDKey(a) == IDKey(b))
            #expect(hash(a) == hash(b), "\(a) / \(b)")
            var table: [IDKey: Int] = [IDKey(a): 1]
            table[IDKey(b), default: 0] += 1
            #expect(table.count == 1 && table[IDKey(a)] == 2)
        }
        #expect(IDKey("caf\u{E9}") != IDKey("cafe"))
        #expect(IDKey("\u{212A}") != IDKey("k"))
    }

    @Test("the scalars equal to an ASCII string are exactly the three the key maps (String's own equality, every scalar)")
    func asciiSingletonsAreComplete() {
        let ascii = Set((0..<128).map { String(Unicode.Scalar(UInt8($0))) })
        var found: [UInt32: String] = [:]
        for v in UInt32(0x80)...0x10FFFF {
            guard let scalar = Unicode.Scalar(v) else { continue }  // surrogates
            let s = String(scalar)
            if ascii.contains(s) { found[v] = s }
        }
        #expect(found == IDKey.asciiSingletons.mapValues { String($0) })
    }

    @Test("a table of 65,536 realistic ids: every one found, and their hashes fill the buckets about as random ones do")
    func spread() {
        let ids = (0..<65_536).map { "ord-\($0)" }
        var table: [IDKey: Int] = [:]
        for (i, id) in ids.enumerated() { table[IDKey(id)] = i }
        #expect(table.count == ids.count)
        #expect(ids.indices.allSatisfy { table[IDKey(ids[$0])] == $0 })
        #expect(table[IDKey("ord-65536")] == nil)
        // Random hashes fill 1 − 1/e ≈ 63 % of as many buckets; a weak mix
        // of these near-identical ids would fill far fewer.
        for seed in [0, 7, -1] {
            let buckets = Set(ids.map { hash($0, seed: seed) & 0xFFFF })
            #expect(buckets.count > 60_000 * 6 / 10, "seed \(seed): \(buckets.count) buckets")
        }
    }

    @Test("the key inside another hashable value, and in a set")
    func hashIntoAgrees() {
        struct Pair: Hashable { var key: IDKey; var n: Int }
        let a = Pair(key: IDKey("\u{212A}9"), n: 1), b = Pair(key: IDKey("K9"), n: 1)
        #expect(a == b && a.hashValue == b.hashValue)
        #expect(Set([IDKey("x"), IDKey("x"), IDKey("y")]).count == 2)
    }
}
