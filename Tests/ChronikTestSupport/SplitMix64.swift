// The seeded generator every test target uses (was six copies).

/// SplitMix64: a small deterministic generator, so that a failing seed
/// replays exactly. Tests print their seed; the same seed gives the same
/// values on every toolchain.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15  // wrapping by design
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A value in `range`, deterministic for the seed (and the same on every
    /// toolchain, unlike `Int.random(in:using:)`; the modulo bias is
    /// irrelevant for ranges this small).
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
    /// True with probability `numerator / denominator`.
    public mutating func chance(_ numerator: Int, in denominator: Int) -> Bool { int(1...denominator) <= numerator }
}
