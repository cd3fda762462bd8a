import ChronikLog

/// A read model that can be saved in a snapshot and restored from one.
///
/// The encoding must be deterministic: the same model gives the same bytes
/// (dictionaries are written in sorted key order — use the helpers below),
/// so that tests can compare models by their snapshot bytes, and a snapshot
/// holds no personal data in plaintext (PII is never kept in read models).
public protocol SnapshottableProjector: Projector {
    /// The version of this model's snapshot encoding; bump it when the
    /// encoding or the meaning of the model changes. A snapshot of another
    /// version is ignored (the model is rebuilt from the log).
    var snapshotVersion: UInt32 { get }
    /// Writes the whole model.
    func encodeSnapshot(into writer: inout SnapshotWriter)
    /// Replaces the whole model with the one read.
    func decodeSnapshot(from reader: inout SnapshotReader) throws(ProjectionError)
}

/// Compact little-endian binary writer for snapshots: LEB128 varints,
/// zig-zag signed integers, length-prefixed UTF-8 strings.
public struct SnapshotWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 4096) { bytes.reserveCapacity(capacity) }

    public mutating func uint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    public mutating func int(_ v: Int64) { uint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    public mutating func int(_ v: Int) { int(Int64(v)) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            uint(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }
    public mutating func optionalString(_ s: String?) {
        bool(s != nil)
        if let s { string(s) }
    }
    public mutating func timestamp(_ t: Timestamp) { int(t.microseconds) }
    public mutating func optionalTimestamp(_ t: Timestamp?) {
        bool(t != nil)
        if let t { timestamp(t) }
    }
    public mutating func raw(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }

    /// Writes a dictionary in ascending key order (deterministic bytes).
    public mutating func dictionary<K: Comparable, V>(_ d: [K: V], key: (inout SnapshotWriter, K) -> Void,
                                                     value: (inout SnapshotWriter, V) -> Void) {
        uint(UInt64(d.count))
        for k in d.keys.sorted() {
            key(&self, k)
            value(&self, d[k]!)
        }
    }

    public mutating func array<E>(_ a: [E], _ element: (inout SnapshotWriter, E) -> Void) {
        uint(UInt64(a.count))
        for e in a { element(&self, e) }
    }
}

/// Reads what `SnapshotWriter` wrote; every read is bounds-checked and a
/// short or malformed input throws `badSnapshot`, never traps.
public struct SnapshotReader {
    public let bytes: [UInt8]
    public private(set) var index: Int

    public init(_ bytes: [UInt8], index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    public var isAtEnd: Bool { index == bytes.count }

    @inline(never)
    static func bad(_ what: String) -> ProjectionError {
        ProjectionError(.badSnapshot, "snapshot ends or is malformed inside \(what)")
    }

    public mutating func uint() throws(ProjectionError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.count, shift < 64 else { throw Self.bad("a varint") }
            let b = bytes[index]
            index += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }
    public mutating func int64() throws(ProjectionError) -> Int64 {
        let u = try uint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }
    public mutating func int() throws(ProjectionError) -> Int {
        let v = try int64()
        guard let i = Int(exactly: v) else { throw Self.bad("an integer") }
        return i
    }
    /// A count of elements that follow; bounded by the bytes left (each
    /// element takes at least one byte), so a corrupt count cannot make a
    /// reader reserve gigabytes.
    public mutating func count() throws(ProjectionError) -> Int {
        let n = try uint()
        guard n <= UInt64(bytes.count - index) else { throw Self.bad("a count") }
        return Int(n)
    }
    public mutating func bool() throws(ProjectionError) -> Bool {
        guard index < bytes.count, bytes[index] <= 1 else { throw Self.bad("a boolean") }
        defer { index += 1 }
        return bytes[index] == 1
    }
    public mutating func string() throws(ProjectionError) -> String {
        let n = try count()
        // count() checked index + n ≤ bytes.count.
        let start = index
        let s = bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<(start + n)]), as: UTF8.self) }
        index += n
        return s
    }
    public mutating func optionalString() throws(ProjectionError) -> String? {
        try bool() ? try string() : nil
    }
    public mutating func timestamp() throws(ProjectionError) -> Timestamp { Timestamp(microseconds: try int64()) }
    public mutating func optionalTimestamp() throws(ProjectionError) -> Timestamp? {
        try bool() ? try timestamp() : nil
    }

    public mutating func dictionary<K: Hashable, V>(key: (inout SnapshotReader) throws(ProjectionError) -> K,
                                                    value: (inout SnapshotReader) throws(ProjectionError) -> V)
        throws(ProjectionError) -> [K: V] {
        let n = try count()
        var d: [K: V] = [:]
        d.reserveCapacity(n)
        for _ in 0..<n {
            let k = try key(&self)
            d[k] = try value(&self)
        }
        guard d.count == n else { throw Self.bad("a dictionary (repeated key)") }
        return d
    }

    public mutating func array<E>(_ element: (inout SnapshotReader) throws(ProjectionError) -> E)
        throws(ProjectionError) -> [E] {
        let n = try count()
        var a: [E] = []
        a.reserveCapacity(n)
        for _ in 0..<n { a.append(try element(&self)) }
        return a
    }
}
