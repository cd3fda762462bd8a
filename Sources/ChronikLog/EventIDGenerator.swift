// Random event ids (`EventID.random()`, the default of every ProposedEvent).
// Foundation's UUID() on Linux opens, reads and closes /dev/urandom per id:
// three syscalls per event, the largest cost of the check pass in a profile
// of a 1M-line import. Ids must be unique, not secret, so a counter mixed
// by SplitMix64's finalizer under two secret seeds serves: the seeds come
// once per process from the system generator, and every id of a process
// mixes a counter value of its own (the mix is a bijection), so two ids
// meet only when 122 bits of two different mixes agree: as negligible as
// for random ids, within a process and across processes.
//
// Stop 28: a xoshiro256** state behind a lock served before; the parse
// workers of `chronik append` and `import` contended for it (a kernel
// priority-inheritance lock wait per clash). The counter is one atomic add.

import Synchronization

enum EventIDGenerator {
    private static let seeds: (UInt64, UInt64) = {
        var g = SystemRandomNumberGenerator()
        return (g.next(), g.next())
    }()
    private static let counter = Atomic<UInt64>(0)

    /// A random (version 4, RFC 4122 variant) event id.
    static func next() -> EventID {
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let (s0, s1) = seeds
        let a = mix(n &+ s0), b = mix(n ^ s1)
        // Version nibble 4 in byte 6, variant bits 10 in byte 8, as UUID().
        return EventID(high: (a & ~0xF000) | 0x4000, low: (b & ~(0xC0 << 56)) | (0x80 << 56))
    }

    /// SplitMix64's finalizer: a bijection of 64-bit values.
    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
