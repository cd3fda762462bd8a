import Crypto

extension EventID {
    /// An id derived from another: the first 16 bytes of SHA-256(`base`'s
    /// 16 bytes ‖ `label` in UTF-8 ‖ 0 ‖ `index` as 4 bytes little-endian),
    /// with the version nibble 8 (RFC 9562's custom UUID) and the variant
    /// bits 10. A command that appends several events derives their ids
    /// from the one its caller gave, so a retry of the command (same id)
    /// resends the same ids and is an idempotent retry of each part.
    public static func derived(from base: EventID, _ label: String, _ index: Int) -> EventID {
        var input: [UInt8] = []
        input.reserveCapacity(16 + label.utf8.count + 5)
        for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: base.high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: base.low >> UInt64(shift))) }
        input.append(contentsOf: label.utf8)
        input.append(0)
        for shift in stride(from: 0, through: 24, by: 8) { input.append(UInt8(truncatingIfNeeded: UInt32(truncatingIfNeeded: index) >> UInt32(shift))) }
        let digest = Array(SHA256.hash(data: input))
        var high: UInt64 = 0, low: UInt64 = 0
        for k in 0..<8 { high = high << 8 | UInt64(digest[k]) }
        for k in 8..<16 { low = low << 8 | UInt64(digest[k]) }
        high = high & ~0xF000 | 0x8000
        low = low & ~(0b11 << 62) | (0b10 << 62)
        return EventID(high: high, low: low)
    }
}
