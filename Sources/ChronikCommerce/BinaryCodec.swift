import ChronikLog

// The byte-level pieces of the `data` codec (docs/EVENTS-CODEC.md): LEB128
// varints, zigzag for signed integers, length-prefixed UTF-8, presence bytes
// for optionals, count-prefixed arrays and maps. No version byte here: the
// event codec writes it.

/// Appends codec primitives to a byte buffer.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    public mutating func byte(_ v: UInt8) { bytes.append(v) }

    /// An unsigned LEB128 varint (1–10 bytes).
    @inline(__always)
    public mutating func varint(_ v: UInt64) { appendVarint(v, to: &bytes) }

    /// A signed integer, zigzag-mapped so small magnitudes stay short
    /// (0 → 0, −1 → 1, 1 → 2, …).
    @inline(__always)
    public mutating func int(_ v: Int64) {
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }

    @inline(__always)
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }

    /// A varint byte count, then the UTF-8 bytes.
    @inline(__always)
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            varint(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }

    /// A string under personal-data protection. Today identical to
    /// `string(_:)`; the per-customer encryption of a later version hooks in
    /// here (and in `BinaryReader.piiString()`), so that every PII field
    /// already goes through this one door.
    @inline(__always)
    public mutating func piiString(_ s: String) { string(s) }

    /// Count, then each string.
    public mutating func strings(_ a: [String]) {
        varint(UInt64(a.count))
        for s in a { string(s) }
    }

    /// Count, then key/value pairs sorted by the keys' UTF-8 bytes, so that
    /// equal maps encode to equal bytes (idempotent appends compare bytes).
    public mutating func stringMap(_ m: [String: String]) {
        varint(UInt64(m.count))
        for (k, v) in m.sorted(by: { Validation.utf8Less($0.key, $1.key) }) {
            string(k)
            string(v)
        }
    }

    public mutating func append(contentsOf other: some Collection<UInt8>) {
        bytes.append(contentsOf: other)
    }
}

/// Reads codec primitives from a byte buffer; every read is bounds-checked
/// and throws `invalidData` instead of trapping, because the bytes come from
/// disk.
///
/// The buffer must outlive the reader: create it inside
/// `withUnsafeBufferPointer` and do not let it escape.
public struct BinaryReader {
    @usableFromInline let buffer: UnsafeBufferPointer<UInt8>
    @usableFromInline var index: Int

    public init(_ buffer: UnsafeBufferPointer<UInt8>, index: Int = 0) {
        self.buffer = buffer
        self.index = index
    }

    public var isAtEnd: Bool { index == buffer.count }
    public var remaining: Int { buffer.count - index }

    @inline(never)
    static func truncated(_ what: String) -> CommerceError {
        CommerceError(.invalidData, "stored data ends inside \(what)")
    }

    @inline(__always)
    public mutating func byte() throws(CommerceError) -> UInt8 {
        guard index < buffer.count else { throw Self.truncated("a byte") }
        defer { index += 1 }
        return buffer[index]
    }

    @inline(__always)
    public mutating func varint() throws(CommerceError) -> UInt64 {
        do {
            let (value, end) = try readVarint(UnsafeRawBufferPointer(buffer), at: index)
            index = end
            return value
        } catch .truncated {
            throw Self.truncated("a varint")
        } catch {
            throw CommerceError(.invalidData, "varint longer than 64 bits")
        }
    }

    @inline(__always)
    public mutating func int() throws(CommerceError) -> Int64 {
        let z = try varint()
        return Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    @inline(__always)
    public mutating func bool() throws(CommerceError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        case let b: throw CommerceError(.invalidData, "boolean byte \(b)")
        }
    }

    /// A count of items that each take at least one byte: bounded by what
    /// is left, so corrupt data cannot ask for a huge allocation.
    @inline(__always)
    public mutating func count() throws(CommerceError) -> Int {
        let n = try varint()
        guard n <= UInt64(remaining) else {
            throw CommerceError(.invalidData, "count \(n) exceeds the \(remaining) bytes left")
        }
        return Int(n)
    }

    @inline(__always)
    public mutating func string() throws(CommerceError) -> String {
        let n = try count()
        let start = index
        index += n  // n <= remaining, checked by count()
        let slice = UnsafeBufferPointer(rebasing: buffer[start..<index])
        guard let s = Validation.string(utf8: slice) else {
            throw CommerceError(.invalidData, "string is not UTF-8")
        }
        return s
    }

    /// See `BinaryWriter.piiString(_:)`.
    @inline(__always)
    public mutating func piiString() throws(CommerceError) -> String { try string() }

    public mutating func strings() throws(CommerceError) -> [String] {
        let n = try count()
        var a: [String] = []
        a.reserveCapacity(n)
        for _ in 0..<n { a.append(try string()) }
        return a
    }

    public mutating func stringMap() throws(CommerceError) -> [String: String] {
        let n = try count()
        var m: [String: String] = [:]
        m.reserveCapacity(n)
        for _ in 0..<n {
            let k = try string()
            m[k] = try string()
        }
        guard m.count == n else { throw CommerceError(.invalidData, "duplicate key in a stored map") }
        return m
    }

    /// Throws unless every byte was consumed.
    public func finish() throws(CommerceError) {
        guard index == buffer.count else {
            throw CommerceError(.invalidData, "\(buffer.count - index) unexpected trailing bytes")
        }
    }
}
