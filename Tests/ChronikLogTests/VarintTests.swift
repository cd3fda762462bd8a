import Testing
@testable import ChronikLog

/// The one LEB128 varint reader and writer, shared by the log's records
/// and the commerce data codec.
@Suite("Varints: one reader and writer, strict past 64 bits")
struct VarintTests {
    static func read(_ bytes: [UInt8]) throws -> UInt64 {
        try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            let v = try r.readVarint()
            #expect(r.offset == bytes.count)
            return v
        }
    }

    @Test("every width round-trips, and the log's reader refuses a value past 64 bits instead of cutting it")
    func roundTripAndOverflow() throws {
        // Proves: before stop 22 ByteReader.readVarint took a 10th byte above 1 and dropped the bits past 64 (the commerce reader refused it).
        for shift in 0..<64 {
            for v in [UInt64(1) << shift, (UInt64(1) << shift) &- 1, UInt64.max >> shift] {
                var out: [UInt8] = []
                appendVarint(v, to: &out)
                #expect(out.count == max(1, (64 - v.leadingZeroBitCount + 6) / 7))
                #expect(try Self.read(out) == v)
            }
        }
        #expect(try Self.read([UInt8](repeating: 0xFF, count: 9) + [0x01]) == UInt64.max)
        #expect(throws: MalformedBytes.self) { _ = try Self.read([UInt8](repeating: 0xFF, count: 9) + [0x02]) }
        #expect(throws: MalformedBytes.self) { _ = try Self.read([UInt8](repeating: 0x80, count: 10) + [0x00]) }
        #expect(throws: MalformedBytes.self) { _ = try Self.read([0x80, 0x80]) }
    }
}
