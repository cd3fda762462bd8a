/// The key of a read model's table of ids (orders, customers, SKUs,
/// sessions): an id `String`, equal exactly when the strings are, hashed
/// by a seeded multiply-mix of its UTF-8 bytes instead of the standard
/// library's SipHash.
///
/// Why: a replay looks ids up ~10 times per event across the models, and
/// hashing a short id through `Hasher` (set up, absorb, three rounds of
/// finalisation) was ~6 % of a big shop's replay (stop 47), more than the
/// table probes' own arithmetic. Ids are short (EVENTS.md: at most 128
/// bytes, ASCII letters, digits and `-_.:`; the big shop's are 9–12), so
/// one 128-bit multiply of their first and last eight bytes mixes them.
///
/// Equality is `String`'s (canonical equivalence), and the hash agrees
/// with it for every string, not only valid ids: ASCII bytes are hashed
/// as they are; a non-ASCII string is hashed as its canonical ASCII form
/// when it has one (`asciiEquivalent`), and otherwise through `Hasher`,
/// like `String` itself. The seed is the table's (per process and table),
/// so the order of a table's entries is no more predictable than with a
/// `String` key; nothing that must be deterministic (snapshots, query
/// output) iterates a table unsorted.
///
/// Ids come from the services that append, so the hash must not let them
/// choose collisions: a multiply-mix collapses when one factor is zero,
/// and each factor is an id word xor'ed with a constant whose bytes are
/// not all ASCII (`p1`) or with the unknown seed, so no ASCII id zeroes
/// one.
struct IDKey: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    let string: String

    @inline(__always)
    init(_ string: String) { self.string = string }

    init(stringLiteral string: String) { self.string = string }

    var description: String { string }

    /// `String`'s order.
    static func < (a: IDKey, b: IDKey) -> Bool { a.string < b.string }

    @inline(__always)
    static func == (a: IDKey, b: IDKey) -> Bool { a.string == b.string }

    func hash(into hasher: inout Hasher) { hasher.combine(_rawHashValue(seed: 0)) }

    @inline(__always)
    func _rawHashValue(seed: Int) -> Int {
        var s = string
        let hash = s.withUTF8 { Self.hashASCII($0, seed: UInt64(truncatingIfNeeded: seed)) }
        if let hash { return Int(truncatingIfNeeded: hash) }
        return Self.hashNonASCII(string, seed: seed)
    }

    private static let p0: UInt64 = 0xa076_1d64_78bd_642f
    private static let p1: UInt64 = 0xe703_7ed1_a0b4_28db
    private static let p2: UInt64 = 0x8ebc_6af0_9c88_c6e3

    /// The high and low halves of the 128-bit product, folded.
    @inline(__always)
    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (high, low) = a.multipliedFullWidth(by: b)
        return high ^ low
    }

    /// The hash of ASCII `bytes`; nil when a byte is not ASCII.
    @inline(__always)
    static func hashASCII(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt64) -> UInt64? {
        let n = bytes.count
        let raw = UnsafeRawBufferPointer(bytes)
        @inline(__always) func load64(_ i: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) }
        @inline(__always) func load32(_ i: Int) -> UInt64 { UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt32.self))) }
        var state = seed ^ p0
        var a: UInt64, b: UInt64
        var high: UInt64  // every byte's top bit, or'ed: not ASCII when set
        if n <= 16 {
            if n >= 8 {
                a = load64(0)
                b = load64(n - 8)
                high = a | b
            } else if n >= 4 {
                a = load32(0)
                b = load32(n - 4)
                high = a | b
            } else if n > 0 {
                // Each of up to three bytes lands in `a` (the first, the
                // middle and the last may coincide; the length tells apart).
                a = UInt64(bytes[0]) << 16 | UInt64(bytes[n >> 1]) << 8 | UInt64(bytes[n - 1])
                b = 0
                high = a
            } else {
                a = 0
                b = 0
                high = 0
            }
        } else {
            high = 0
            var i = 0
            while i + 16 < n {
                let x = load64(i), y = load64(i + 8)
                high |= x | y
                state = mix(x ^ p1, y ^ state)
                i += 16
            }
            a = load64(n - 16)
            b = load64(n - 8)
            high |= a | b
        }
        guard high & 0x8080_8080_8080_8080 == 0 else { return nil }
        return mix(p1 ^ UInt64(n), mix(a ^ p1, b ^ state) ^ p2)
    }

    /// The hash of a string with a byte that is not ASCII: that of its
    /// canonical ASCII form when it has one, so that it equals the hash of
    /// the ASCII string it is equal to; else `String`'s own.
    @inline(never)
    static func hashNonASCII(_ string: String, seed: Int) -> Int {
        if var ascii = asciiEquivalent(string) {
            return Int(truncatingIfNeeded: ascii.withUTF8 { hashASCII($0, seed: UInt64(truncatingIfNeeded: seed))! })
        }
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(string)
        return hasher.finalize()
    }

    /// The ASCII string `string` is canonically equivalent to, if any.
    ///
    /// Canonical equivalence never removes a combining mark and composes
    /// only into characters beyond ASCII, so a string equals an ASCII
    /// string only when each of its scalars is ASCII or one of the three
    /// whose canonical decomposition is a single ASCII scalar (KELVIN SIGN
    /// → K, GREEK QUESTION MARK → ;, GREEK VARIA → `). A test checks that
    /// list against `String`'s own equality over every scalar.
    static func asciiEquivalent(_ string: String) -> String? {
        var out = String.UnicodeScalarView()
        for scalar in string.unicodeScalars {
            if scalar.isASCII {
                out.append(scalar)
            } else if let a = asciiSingletons[scalar.value] {
                out.append(a)
            } else {
                return nil
            }
        }
        return String(out)
    }

    static let asciiSingletons: [UInt32: Unicode.Scalar] = [0x212A: "K", 0x037E: ";", 0x1FEF: "`"]
}
