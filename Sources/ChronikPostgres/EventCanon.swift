import CChronikSupport
import ChronikLog
import Crypto

/// The canonical bytes of an event (docs/POSTGRES.md): what its CRC32C and
/// its SHA-256 digest cover, and so what the batch chain commits to. All
/// integers big-endian; every variable field length-prefixed.
enum EventCanon {
    static func bytes(stream: String, id: EventID, type: String, occurredAt: Timestamp,
                      metadata: [UInt8], data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(40 + stream.utf8.count + type.utf8.count + metadata.count + data.count)
        append(stream: stream, id: id, type: type, occurredAt: occurredAt, metadata: metadata, data: data, to: &out)
        return out
    }

    /// Appends the canonical bytes to `out` (a buffer reused from event to
    /// event by `GroupBatch`).
    static func append(stream: String, id: EventID, type: String, occurredAt: Timestamp,
                       metadata: [UInt8], data: [UInt8], to out: inout [UInt8]) {
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).bigEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) } }
        u32(stream.utf8.count); out.append(contentsOf: stream.utf8)
        u64(id.high); u64(id.low)
        u32(type.utf8.count); out.append(contentsOf: type.utf8)
        u64(UInt64(bitPattern: occurredAt.microseconds))
        u32(metadata.count); out.append(contentsOf: metadata)
        u32(data.count); out.append(contentsOf: data)
    }

    static func crc(_ canonical: [UInt8]) -> UInt32 {
        canonical.withUnsafeBytes { chronik_crc32c(0, $0.baseAddress, $0.count) }
    }

    static func digest(_ canonical: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: canonical))
    }

    /// Chain hash of a batch: SHA-256(previous chain ‖ first position ‖
    /// first version ‖ recorded-at ‖ count ‖ each event's digest). The same
    /// formula as `chronik_append` computes in SQL.
    static func chain(previous: [UInt8], firstPosition: UInt64, firstVersion: UInt64, recordedAt: Int64,
                      digests: [[UInt8]]) -> [UInt8] {
        var h = SHA256()
        h.update(data: previous)
        var head: [UInt8] = []
        for v in [firstPosition, firstVersion, UInt64(bitPattern: recordedAt)] {
            for s in stride(from: 56, through: 0, by: -8) { head.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) }
        }
        let n = UInt32(digests.count)
        for s in stride(from: 24, through: 0, by: -8) { head.append(UInt8(truncatingIfNeeded: n >> UInt32(s))) }
        h.update(data: head)
        for d in digests { h.update(data: d) }
        return Array(h.finalize())
    }
}
