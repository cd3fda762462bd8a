/// A persisted, process-independent 64-bit digest of an IP address, so
/// that the fraud model can count per IP without keeping the IP (PII).
///
/// FNV-1a over a fixed domain-separation prefix and the IP's bytes
/// (ASCII letters lower-cased, so an IPv6 address written in either case
/// digests alike), finished with the SplitMix64 mixer so that nearby IPs
/// land far apart. Swift's `Hasher` is randomly seeded per process and must
/// not be used for anything written to a snapshot. See docs/FRAUD.md,
/// Personal data, for what this does and does not protect.
enum IPDigest {
    static let domain = "chronik.fraud.ip.v1\u{0}"
    static let fnvPrime: UInt64 = 0x100_0000_01b3

    /// The FNV-1a state after the domain prefix.
    static let seeded: UInt64 = {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in domain.utf8 { h = (h ^ UInt64(b)) &* fnvPrime }
        return h
    }()

    /// The digest of `ip`; never 0 (0 means "no IP" in the model).
    static func of(_ ip: String) -> UInt64 {
        var h = seeded
        for b in ip.utf8 {
            let lower = b &- 65 < 26 ? b | 0x20 : b  // 'A'...'Z' → 'a'...'z'
            h = (h ^ UInt64(lower)) &* fnvPrime
        }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        h ^= h >> 31
        return h == 0 ? 1 : h
    }
}
