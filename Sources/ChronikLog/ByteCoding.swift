import CChronikSupport

// Little-endian and varint encoding over [UInt8] buffers. The writer appends
// to a reused array (no per-event allocation once it has grown); the reader
// is a bounds-checked cursor that throws on truncated input instead of
// trapping, because its input comes from disk.

/// Why a varint could not be read (`readVarint`).
public enum VarintError: Error, Sendable {
    /// The bytes end inside it.
    case truncated
    /// More than 64 bits: an 11th byte, or a 10th above 1.
    case tooLong
}

/// The one LEB128 varint writer (1–10 bytes), for the log's records and
/// the commerce data codec alike.
@inlinable @inline(__always)
public func appendVarint(_ v: UInt64, to bytes: inout [UInt8]) {
    var v = v
    while v >= 0x80 {
        bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    bytes.append(UInt8(v))
}

/// The one LEB128 varint reader: the value at `index` of `raw` and the
/// index after it. Strict: a value past 64 bits is refused, never cut.
@inlinable @inline(__always)
public func readVarint(_ raw: UnsafeRawBufferPointer, at index: Int) throws(VarintError) -> (value: UInt64, end: Int) {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    var i = index
    while true {
        guard i < raw.count else { throw .truncated }
        let b = raw[i]
        i += 1
        // At shift 63 only the lowest bit still fits in 64 bits.
        guard shift < 63 || (shift == 63 && b <= 1) else { throw .tooLong }
        result |= UInt64(b & 0x7F) << shift
        if b < 0x80 { return (result, i) }
        shift += 7
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func appendVarint(_ v: UInt64) { ChronikLog.appendVarint(v, to: &self) }

    /// Appends an event id as its 16 UUID bytes in RFC 4122 order.
    @inline(__always)
    mutating func appendUUID(_ id: EventID) {
        appendLE(id.high.byteSwapped)
        appendLE(id.low.byteSwapped)
    }

    /// Overwrites a little-endian integer at `offset` (which must be in bounds).
    @inline(__always)
    mutating func storeLE<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeMutableBytes { raw in
            raw.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
        }
    }
}

@inline(__always)
func loadLE<T: FixedWidthInteger>(_ raw: UnsafeRawBufferPointer, _ offset: Int, as: T.Type) -> T {
    T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
}

func loadLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T {
    bytes.withUnsafeBytes { loadLE($0, offset, as: T.self) }
}

/// Thrown by `ByteReader` on input that ends early or does not parse; the
/// caller turns it into a corruption error with file and offset.
struct MalformedBytes: Error {
    let reason: String
}

/// A bounds-checked cursor over raw bytes.
struct ByteReader {
    let raw: UnsafeRawBufferPointer
    var offset: Int

    init(_ raw: UnsafeRawBufferPointer, offset: Int = 0) {
        self.raw = raw
        self.offset = offset
    }

    var remaining: Int { raw.count - offset }

    @inline(__always)
    mutating func readVarint() throws -> UInt64 {
        do {
            let (value, end) = try ChronikLog.readVarint(raw, at: offset)
            offset = end
            return value
        } catch .truncated {
            throw MalformedBytes(reason: "truncated varint")
        } catch {
            throw MalformedBytes(reason: "varint too long")
        }
    }

    @inline(__always)
    mutating func readLE<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard remaining >= MemoryLayout<T>.size else { throw MalformedBytes(reason: "truncated integer") }
        let v = loadLE(raw, offset, as: T.self)
        offset += MemoryLayout<T>.size
        return v
    }

    /// Returns the next `count` bytes as a slice of the underlying buffer.
    @inline(__always)
    mutating func readSlice(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw MalformedBytes(reason: "truncated field") }
        let s = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)])
        offset += count
        return s
    }

    mutating func readLengthPrefixed() throws -> UnsafeRawBufferPointer {
        let n = try readVarint()
        guard n <= UInt64(remaining) else { throw MalformedBytes(reason: "length past end") }
        return try readSlice(Int(n))
    }

    mutating func readString() throws -> String {
        let s = try readLengthPrefixed()
        guard let str = decodeUTF8(s) else { throw MalformedBytes(reason: "invalid UTF-8") }
        return str
    }
}

/// CRC32C (Castagnoli) of bytes; hardware-accelerated where available.
@inline(__always)
func crc32c(_ raw: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    chronik_crc32c(seed, raw.baseAddress, raw.count)
}

func crc32c(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { crc32c($0) }
}

/// Decodes UTF-8, or nil when the bytes are not valid UTF-8: the log's
/// names and the commerce codec's strings (`Validation.string(utf8:)`).
@inlinable
package func decodeUTF8(_ raw: UnsafeRawBufferPointer) -> String? {
    let bytes = raw.bindMemory(to: UInt8.self)
    // Fast path: pure ASCII is valid UTF-8.
    var ascii = true
    for b in bytes where b >= 0x80 { ascii = false; break }
    guard ascii else { return String(validating: bytes, as: UTF8.self) }
    // Up to 15 ASCII bytes make a small string, written in place by this
    // initializer with no second check of the bytes; through
    // `String(decoding:as:)` they went through the standard library's
    // UTF-8 validation and repair first (~8 % of a replay's decoding
    // thread, where most strings are ids of 9–12 bytes; stop 47).
    if bytes.count <= 15 {
        return String(unsafeUninitializedCapacity: bytes.count) { out in
            _ = out.initialize(fromContentsOf: bytes)
            return bytes.count
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Whether `raw` is valid UTF-8, without making a String of it when it is
/// ASCII (a stream's name, checked once per batch by `scan`).
func isValidUTF8(_ raw: UnsafeRawBufferPointer) -> Bool {
    for b in raw where b >= 0x80 { return decodeUTF8(raw) != nil }
    return true
}

/// The reason of a decoding failure, for error messages.
func reason(_ error: any Error) -> String {
    (error as? MalformedBytes)?.reason ?? "\(error)"
}

extension EventID {
    /// From the two words of 16 UUID bytes loaded as little-endian integers.
    @inline(__always)
    init(uuidHigh: UInt64, uuidLow: UInt64) {
        self.init(high: uuidHigh.byteSwapped, low: uuidLow.byteSwapped)
    }
}
