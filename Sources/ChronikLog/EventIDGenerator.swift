// Random event ids (`EventID.random()`, the default of every ProposedEvent).
// Foundation's UUID() on Linux opens, reads and closes /dev/urandom per id:
// three syscalls per event, the largest cost of the check pass in a profile
// of a 1M-line import. Ids must be unique, not secret, so
// a xoshiro256** stream seeded once per process from the system generator
// serves: 256 bits of random seed make two processes' streams meet with
// negligible probability.

import Synchronization

enum EventIDGenerator {
    private static let state = Mutex<(UInt64, UInt64, UInt64, UInt64)>({
        var g = SystemRandomNumberGenerator()
        var s = (g.next() as UInt64, g.next() as UInt64, g.next() as UInt64, g.next() as UInt64)
        if s == (0, 0, 0, 0) { s.0 = 1 } // xoshiro's one forbidden state
        return s
    }())

    /// A random (version 4, RFC 4122 variant) event id.
    static func next() -> EventID {
        let (a, b) = state.withLock { s -> (UInt64, UInt64) in
            (step(&s), step(&s))
        }
        // Version nibble 4 in byte 6, variant bits 10 in byte 8, as UUID().
        return EventID(high: (a & ~0xF000) | 0x4000, low: (b & ~(0xC0 << 56)) | (0x80 << 56))
    }

    @inline(__always)
    private static func step(_ s: inout (UInt64, UInt64, UInt64, UInt64)) -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9 // xoshiro256**: wrapping by definition
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
