import CLZ4
import Synchronization
import Crypto

/// A SHA-256 chain hash: 32 bytes.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a chain hash is 32 bytes")
        self.bytes = bytes
    }
    public static let genesis = ChainHash(bytes: LogFormat.genesisHash)
    public var description: String { bytes.map { String($0, radix: 16).leftPad(2) }.joined() }
    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count == 64 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let v = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
        }
        bytes = out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// The parsed fixed header of a batch (docs/FORMAT.md, "Batch").
struct BatchHeader: Hashable, Sendable {
    var length: Int
    var crc: UInt32
    var version: UInt8
    var flags: UInt8
    var basePosition: UInt64
    var count: Int
    var rawPayloadLength: Int
    var recordedAt: Int64
    var minOccurredAt: Int64
    var maxOccurredAt: Int64
    var firstStreamVersion: UInt64
    /// The previous batch's chain hash, as stored (read as four words: a
    /// header is parsed for every batch a scan reads, and a `ChainHash`
    /// is an array, one allocation and one free per batch that only the
    /// chain checks need; ~1.5 % of a replay's samples, stop 47).
    var previousHashWords: HashWords

    /// The previous batch's chain hash.
    var previousHash: ChainHash { previousHashWords.chainHash }

    /// Whether the batch names `hash` as its predecessor's chain hash.
    func chains(to hash: ChainHash) -> Bool { previousHashWords == HashWords(hash) }

    /// 32 hash bytes as four little-endian words.
    struct HashWords: Hashable, Sendable {
        var w0, w1, w2, w3: UInt64

        init(_ raw: UnsafeRawBufferPointer, at offset: Int) {
            w0 = loadLE(raw, offset, as: UInt64.self)
            w1 = loadLE(raw, offset + 8, as: UInt64.self)
            w2 = loadLE(raw, offset + 16, as: UInt64.self)
            w3 = loadLE(raw, offset + 24, as: UInt64.self)
        }

        init(_ hash: ChainHash) {
            self = hash.bytes.withUnsafeBytes { HashWords($0, at: 0) }
        }

        var chainHash: ChainHash {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(32)
            for w in [w0, w1, w2, w3] { withUnsafeBytes(of: w.littleEndian) { bytes.append(contentsOf: $0) } }
            return ChainHash(bytes: bytes)
        }
    }

    var codec: UInt8 { flags & LogFormat.codecMask }
    /// Whether bytes before this batch were still unsynced when it was
    /// written (clear: everything before it was durable).
    var hasUnsyncedPredecessor: Bool { flags & LogFormat.unsyncedPredecessorFlag != 0 }

    /// Parses the fixed header; checks only what can be checked without the
    /// payload (magic, version, lengths). Returns nil on a short buffer.
    static func parse(_ raw: UnsafeRawBufferPointer) -> Result<BatchHeader, MalformedBytes>? {
        typealias F = LogFormat.BatchField
        guard raw.count >= LogFormat.batchHeaderSize else { return nil }
        guard loadLE(raw, F.magic, as: UInt32.self) == LogFormat.batchMagic else {
            return .failure(MalformedBytes(reason: "bad batch magic"))
        }
        let h = BatchHeader(
            length: Int(loadLE(raw, F.length, as: UInt32.self)),
            crc: loadLE(raw, F.crc, as: UInt32.self),
            version: raw[F.version],
            flags: raw[F.flags],
            basePosition: loadLE(raw, F.basePosition, as: UInt64.self),
            count: Int(loadLE(raw, F.count, as: UInt32.self)),
            rawPayloadLength: Int(loadLE(raw, F.rawPayloadLength, as: UInt32.self)),
            recordedAt: loadLE(raw, F.recordedAt, as: Int64.self),
            minOccurredAt: loadLE(raw, F.minOccurredAt, as: Int64.self),
            maxOccurredAt: loadLE(raw, F.maxOccurredAt, as: Int64.self),
            firstStreamVersion: loadLE(raw, F.firstStreamVersion, as: UInt64.self),
            previousHashWords: HashWords(raw, at: F.previousHash))
        guard h.length > LogFormat.batchHeaderSize else { return .failure(MalformedBytes(reason: "batch length \(h.length) too small")) }
        guard h.version == 1 else { return .failure(MalformedBytes(reason: "unknown batch format version \(h.version)")) }
        guard h.count >= 1, h.count <= LogFormat.maxEventsPerBatch else { return .failure(MalformedBytes(reason: "bad event count \(h.count)")) }
        guard h.codec <= LogFormat.codecLZ4Blocks, h.flags & ~(LogFormat.codecMask | LogFormat.unsyncedPredecessorFlag) == 0 else { return .failure(MalformedBytes(reason: "unknown batch flags \(h.flags)")) }
        guard h.rawPayloadLength <= LogFormat.maxBatchPayloadBytes else { return .failure(MalformedBytes(reason: "payload too large")) }
        return .success(h)
    }
}

/// The CRC32C that a batch stores: over bytes [12, length).
func batchChecksum(_ batch: UnsafeRawBufferPointer) -> UInt32 {
    crc32c(UnsafeRawBufferPointer(rebasing: batch[LogFormat.BatchField.version...]))
}

/// The chain hash of a batch: SHA-256 over bytes [12, length), which
/// include the previous batch's hash, so each hash commits to all history.
func chainHash(ofBatch batch: UnsafeRawBufferPointer) -> ChainHash {
    let digest = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: batch[LogFormat.BatchField.version...]))
    return ChainHash(bytes: Array(digest))
}

/// A batch's payload, encoded and (when it pays) compressed. It depends on
/// neither position nor stream version, so the appending task builds it
/// before queueing, and LZ4 runs on the callers' cores in parallel instead
/// of on the single writer thread.
struct EncodedPayload: Sendable {
    /// The stored payload: raw, one LZ4 block, or LZ4 in blocks (`codec`).
    var bytes: [UInt8]
    var codec: UInt8
    var rawLength: Int
    var count: Int
    var minOccurredAt: Int64
    var maxOccurredAt: Int64

    /// Bytes the whole batch will take on disk.
    var batchLength: Int { LogFormat.batchHeaderSize + bytes.count }

    /// Encodes the records of one batch.
    ///
    /// - Precondition: events were validated (sizes, names) by the caller.
    init(stream: String, events: [ProposedEvent], compression: Compression) {
        var minOcc = Int64.max, maxOcc = Int64.min
        var rawSize = varintSize(UInt64(stream.utf8.count)) + stream.utf8.count
        for e in events {
            minOcc = min(minOcc, e.occurredAt.microseconds)
            maxOcc = max(maxOcc, e.occurredAt.microseconds)
            rawSize += e.encodedSize
        }
        // Written through a pointer into an array of the bound's capacity:
        // `append(contentsOf:)` per field checked uniqueness and capacity
        // and took the type's UTF-8 through the string's slow path, ~40 %
        // of the encoding (stop 40).
        let raw = [UInt8](unsafeUninitializedCapacity: rawSize) { buffer, initialized in
            var w = RecordWriter(buffer.baseAddress!)
            w.string(stream)
            events.withUnsafeBufferPointer { events in
                for i in events.indices {
                    w.string(events[i].type)
                    w.uuid(events[i].id)
                    // occurredAt - minOcc is ≥ 0 and fits: both are Int64 in the same batch.
                    w.varint(UInt64(bitPattern: events[i].occurredAt.microseconds &- minOcc))
                    w.bytes(events[i].metadata)
                    w.bytes(events[i].data)
                }
            }
            precondition(w.count <= rawSize, "a payload beyond its encoded size's bound")
            initialized = w.count
        }
        rawLength = raw.count
        count = events.count
        minOccurredAt = minOcc
        maxOccurredAt = maxOcc
        codec = LogFormat.codecNone
        bytes = raw
        if compression == .lz4, raw.count >= 64 {
            let blocks = LZ4Blocks.count(rawLength: raw.count)
            let (compressed, n) = blocks > 1 ? LZ4Blocks.compress(raw, blocks: blocks) : LZ4Blocks.compressOne(raw)
            // Keep the compressed form only when it saves at least 1/8.
            if n > 0 && n < raw.count - raw.count / 8 {
                codec = blocks > 1 ? LogFormat.codecLZ4Blocks : LogFormat.codecLZ4
                bytes = compressed
            }
        }
    }
}

/// Writes a raw payload's fields through a pointer into memory the caller
/// sized (`ProposedEvent.encodedSize` is each record's bound).
private struct RecordWriter {
    let base: UnsafeMutablePointer<UInt8>
    var count = 0
    init(_ base: UnsafeMutablePointer<UInt8>) { self.base = base }

    @inline(__always) mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            base[count] = UInt8(truncatingIfNeeded: v) | 0x80
            count += 1
            v >>= 7
        }
        base[count] = UInt8(v)
        count += 1
    }

    /// A varint length, then the bytes.
    @inline(__always) mutating func bytes(_ b: [UInt8]) {
        varint(UInt64(b.count))
        b.withUnsafeBufferPointer { b in
            guard let src = b.baseAddress else { return }
            (base + count).update(from: src, count: b.count)
        }
        count += b.count
    }

    /// A varint length, then the UTF-8 bytes.
    @inline(__always) mutating func string(_ s: String) {
        let n = s.utf8.count
        varint(UInt64(n))
        let copied: Void? = s.utf8.withContiguousStorageIfAvailable { u in
            if let src = u.baseAddress { (base + count).update(from: src, count: n) }
        }
        if copied == nil { for (k, byte) in s.utf8.enumerated() { base[count + k] = byte } }
        count += n
    }

    /// An event id's 16 bytes in RFC 4122 order.
    @inline(__always) mutating func uuid(_ id: EventID) {
        UnsafeMutableRawPointer(base + count).storeBytes(of: id.high.bigEndian, as: UInt64.self)
        UnsafeMutableRawPointer(base + count + 8).storeBytes(of: id.low.bigEndian, as: UInt64.self)
        count += 16
    }
}

/// Compression of a payload: one LZ4 block (`codecLZ4`), or, for a large
/// payload, pieces of `LogFormat.lz4BlocksPieceBytes` or more each
/// compressed as its own block on its own core (`codecLZ4Blocks`,
/// docs/FORMAT.md "LZ4 in blocks"; stop 40: one 284 KB batch's LZ4 was
/// ~40 % of a batched append).
enum LZ4Blocks {
    /// How many blocks a payload of `rawLength` bytes is compressed in:
    /// one per core, each at least `lz4BlocksPieceBytes` raw.
    static func count(rawLength: Int) -> Int {
        max(1, min(Helpers.cores, LogFormat.lz4BlocksMax, rawLength / LogFormat.lz4BlocksPieceBytes))
    }

    /// `raw` as one LZ4 block, and its length (0 when LZ4 failed).
    ///
    /// On a stream state kept for reuse (`LZ4_resetStream_fast`, then the
    /// first block of a new chain: a block with no dictionary, as
    /// `LZ4_compress_default` makes): `LZ4_compress_default` sets up a
    /// fresh 16 KiB state for every call, and for one event's payload that
    /// memset cost about as much as the compression itself (stop 51).
    static func compressOne(_ raw: [UInt8]) -> ([UInt8], Int) {
        let bound = Int(LZ4_compressBound(Int32(raw.count)))
        var n: Int32 = 0
        let stream = streams.take()
        defer { if let stream { streams.give(stream) } }
        let compressed = [UInt8](unsafeUninitializedCapacity: bound) { dst, initialized in
            n = raw.withUnsafeBytes { src in
                let from = src.baseAddress!.assumingMemoryBound(to: CChar.self)
                let to = UnsafeMutableRawPointer(dst.baseAddress!).assumingMemoryBound(to: CChar.self)
                // No state (out of memory): a fresh one on the stack.
                guard let stream else { return LZ4_compress_default(from, to, Int32(src.count), Int32(bound)) }
                LZ4_resetStream_fast(stream)
                return LZ4_compress_fast_continue(stream, from, to, Int32(src.count), Int32(bound), 1)
            }
            initialized = max(0, Int(n))
        }
        return (compressed, max(0, Int(n)))
    }

    /// LZ4 stream states for `compressOne`, each used by one compression
    /// at a time: as many as compressions ever ran at once (at most
    /// `StreamPool.maxKept` kept).
    static let streams = StreamPool()

    final class StreamPool: Sendable {
        /// The states not in use, as addresses (a pointer is not Sendable).
        private let free = Mutex<[UInt]>([])
        static let maxKept = 64

        /// A state ready for `LZ4_resetStream_fast`; nil when none can be made.
        func take() -> UnsafeMutablePointer<LZ4_stream_t>? {
            if let address = free.withLock({ $0.popLast() }), let p = UnsafeMutablePointer<LZ4_stream_t>(bitPattern: address) { return p }
            return LZ4_createStream()
        }

        func give(_ stream: UnsafeMutablePointer<LZ4_stream_t>) {
            let kept = free.withLock { f -> Bool in
                guard f.count < Self.maxKept else { return false }
                f.append(UInt(bitPattern: stream))
                return true
            }
            if !kept { LZ4_freeStream(stream) }
        }
    }

    /// `raw` in `blocks` pieces of (nearly) equal length, each compressed
    /// on its own thread: the block table (count, then each block's raw
    /// and stored length) and the blocks; and the stored length (0 when
    /// LZ4 failed on any piece).
    static func compress(_ raw: [UInt8], blocks: Int) -> ([UInt8], Int) {
        let piece = raw.count / blocks
        let starts = (0..<blocks).map { $0 * piece }
        let ends = (1...blocks).map { $0 == blocks ? raw.count : $0 * piece }
        let bounds = (0..<blocks).map { Int(LZ4_compressBound(Int32(ends[$0] - starts[$0]))) }
        let table = 4 + 8 * blocks
        var regions = [Int](repeating: table, count: blocks)
        for i in 1..<blocks { regions[i] = regions[i - 1] + bounds[i - 1] }
        let regionStart = regions
        let capacity = regionStart[blocks - 1] + bounds[blocks - 1]
        var stored = [Int32](repeating: 0, count: blocks)
        var total = 0
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { dst, initialized in
            raw.withUnsafeBytes { src in
                stored.withUnsafeMutableBufferPointer { lengths in
                    nonisolated(unsafe) let src = src, dst = dst, lengths = lengths
                    Helpers.inParallel(blocks) { i in
                        lengths[i] = LZ4_compress_default(
                            src.baseAddress!.advanced(by: starts[i]).assumingMemoryBound(to: CChar.self),
                            UnsafeMutableRawPointer(dst.baseAddress!.advanced(by: regionStart[i])).assumingMemoryBound(to: CChar.self),
                            Int32(ends[i] - starts[i]), Int32(bounds[i]))
                    }
                }
            }
            guard stored.allSatisfy({ $0 > 0 }) else { initialized = 0; return }
            // The table, then the blocks moved down to follow each other.
            let base = UnsafeMutableRawPointer(dst.baseAddress!)
            base.storeBytes(of: UInt32(blocks).littleEndian, toByteOffset: 0, as: UInt32.self)
            var at = table
            for i in 0..<blocks {
                base.storeBytes(of: UInt32(ends[i] - starts[i]).littleEndian, toByteOffset: 4 + 8 * i, as: UInt32.self)
                base.storeBytes(of: UInt32(stored[i]).littleEndian, toByteOffset: 8 + 8 * i, as: UInt32.self)
                if at != regionStart[i] { (base + at).copyMemory(from: base + regionStart[i], byteCount: Int(stored[i])) }
                at += Int(stored[i])
            }
            initialized = at
            total = at
        }
        return (out, total)
    }

    /// Decodes a `codecLZ4Blocks` payload into all of `dst`.
    static func decode(_ stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
        guard stored.count >= 4 else { throw MalformedBytes(reason: "LZ4 block table truncated") }
        let n = Int(stored.loadUnaligned(fromByteOffset: 0, as: UInt32.self).littleEndian)
        guard n >= 2, n <= LogFormat.lz4BlocksMax else { throw MalformedBytes(reason: "LZ4 block count \(n) out of 2…\(LogFormat.lz4BlocksMax)") }
        let table = 4 + 8 * n
        guard stored.count >= table else { throw MalformedBytes(reason: "LZ4 block table truncated") }
        var at = table, out = 0
        for i in 0..<n {
            let rawLength = Int(stored.loadUnaligned(fromByteOffset: 4 + 8 * i, as: UInt32.self).littleEndian)
            let length = Int(stored.loadUnaligned(fromByteOffset: 8 + 8 * i, as: UInt32.self).littleEndian)
            guard rawLength > 0, length > 0, length <= stored.count - at, rawLength <= dst.count - out else {
                throw MalformedBytes(reason: "LZ4 block \(i) of \(n) does not fit the payload")
            }
            try decodeLZ4(UnsafeRawBufferPointer(rebasing: stored[at..<(at + length)]),
                          into: UnsafeMutableRawBufferPointer(rebasing: dst[out..<(out + rawLength)]))
            at += length
            out += rawLength
        }
        guard at == stored.count, out == dst.count else { throw MalformedBytes(reason: "LZ4 blocks do not cover the payload") }
    }
}

enum BatchEncoder {
    /// Appends one batch (header + payload) to `out` and returns its chain hash.
    static func append(
        _ payload: EncodedPayload, basePosition: UInt64, firstStreamVersion: UInt64,
        recordedAt: Timestamp, previousHash: ChainHash, unsyncedPredecessor: Bool = false, into out: inout [UInt8]
    ) -> ChainHash {
        append(payload, basePosition: basePosition, firstStreamVersion: firstStreamVersion, recordedAt: recordedAt,
               previousHash: previousHash, unsyncedPredecessor: unsyncedPredecessor, hashing: true, into: &out)!
    }

    /// Appends one batch (header + payload) to `out` and returns its chain
    /// hash, or nil when not `hashing` (the writer's last batch of a group:
    /// `chainHash(ofBatch:)` of its bytes later, beside the fdatasync).
    static func append(
        _ payload: EncodedPayload, basePosition: UInt64, firstStreamVersion: UInt64,
        recordedAt: Timestamp, previousHash: ChainHash, unsyncedPredecessor: Bool, hashing: Bool, into out: inout [UInt8]
    ) -> ChainHash? {
        let start = out.count
        let length = payload.batchLength
        out.reserveCapacity(start + length)
        out.appendLE(LogFormat.batchMagic)
        out.appendLE(UInt32(length))
        out.appendLE(UInt32(0))  // crc, filled below
        out.append(UInt8(LogFormat.version))
        out.append(payload.codec | (unsyncedPredecessor ? LogFormat.unsyncedPredecessorFlag : 0))
        out.appendLE(UInt16(0))
        out.appendLE(basePosition)
        out.appendLE(UInt32(payload.count))
        out.appendLE(UInt32(payload.rawLength))
        out.appendLE(recordedAt.microseconds)
        out.appendLE(payload.minOccurredAt)
        out.appendLE(payload.maxOccurredAt)
        out.appendLE(firstStreamVersion)
        out.append(contentsOf: previousHash.bytes)
        out.append(contentsOf: payload.bytes)
        let (crc, hash) = out.withUnsafeBytes { all in
            let batch = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
            return (batchChecksum(batch), hashing ? chainHash(ofBatch: batch) : nil)
        }
        out.storeLE(crc, at: start + LogFormat.BatchField.crc)
        return hash
    }

    /// Encodes and appends one batch in one step (tests, tools).
    static func encode(
        stream: String, events: [ProposedEvent], basePosition: UInt64, firstStreamVersion: UInt64,
        recordedAt: Timestamp, previousHash: ChainHash, compression: Compression, into out: inout [UInt8]
    ) -> ChainHash {
        append(EncodedPayload(stream: stream, events: events, compression: compression), basePosition: basePosition,
               firstStreamVersion: firstStreamVersion, recordedAt: recordedAt, previousHash: previousHash, into: &out)
    }
}

/// One batch read from disk, checksum verified, payload decompressed.
/// Records decode sequentially with `nextRecord()`.
struct DecodedBatch {
    let header: BatchHeader
    let stream: String
    /// The raw (decompressed) payload.
    let payload: [UInt8]
    private var cursor: Int
    private var index: Int = 0

    /// Verifies and decodes a whole batch held in `batch`.
    ///
    /// - Throws: `MalformedBytes` when the checksum fails or the payload
    ///   does not parse.
    init(batch: UnsafeRawBufferPointer, header: BatchHeader, verifyChecksum: Bool = true) throws {
        guard batch.count == header.length else { throw MalformedBytes(reason: "batch truncated") }
        if verifyChecksum {
            let actual = batchChecksum(batch)
            guard actual == header.crc else {
                throw MalformedBytes(reason: "checksum mismatch: stored \(hex32(header.crc)), computed \(hex32(actual))")
            }
        }
        self.header = header
        // No zero-fill: the decode writes every byte or throws.
        let length = header.rawPayloadLength
        payload = try [UInt8](unsafeUninitializedCapacity: length) { dst, initialized in
            try decodePayload(header: header, batch: batch, into: UnsafeMutableRawBufferPointer(dst))
            initialized = length
        }
        var r = ByteReader(UnsafeRawBufferPointer(start: nil, count: 0))
        var streamName = ""
        var off = 0
        try payload.withUnsafeBytes { (raw) throws in
            r = ByteReader(raw)
            streamName = try r.readString()
            off = r.offset
        }
        stream = streamName
        cursor = off
    }

    var isExhausted: Bool { index >= header.count }

    /// Decodes the next record, or nil after the last.
    mutating func nextRecord() throws -> RecordedEvent? {
        guard index < header.count else {
            if cursor != payload.count { throw MalformedBytes(reason: "trailing bytes in payload") }
            return nil
        }
        var off = cursor
        let event: RecordedEvent = try payload.withUnsafeBytes { (raw) throws in
            var r = ByteReader(raw, offset: off)
            let record = try r.readRecord()
            guard let type = decodeUTF8(record.type) else { throw MalformedBytes(reason: "invalid UTF-8") }
            off = r.offset
            return EventView(header: header, index: index, stream: stream, type: type, record: record).materialize()
        }
        cursor = off
        index += 1
        return event
    }

    /// Decodes every record.
    mutating func allRecords() throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        out.reserveCapacity(header.count - index)
        while let e = try nextRecord() { out.append(e) }
        return out
    }

    /// Only the event ids, for rebuilding the id index.
    mutating func allIDs() throws -> [EventID] {
        var out: [EventID] = []
        out.reserveCapacity(header.count)
        var off = cursor
        let count = header.count
        try payload.withUnsafeBytes { (raw) throws in
            var r = ByteReader(raw, offset: off)
            for _ in 0..<count { out.append(try r.readRecord().id) }
            off = r.offset
        }
        guard off == payload.count else { throw MalformedBytes(reason: "trailing bytes in payload") }
        return out
    }
}

/// One record's fields as they stand in a raw payload; the byte fields
/// point into it. The one parser of the record layout (FORMAT.md,
/// "Payload"): the cursor, the id scan and `EventLog.scan` all use it.
struct RawRecord {
    var type: UnsafeRawBufferPointer
    var id: EventID
    /// occurredAt minus the batch's minimum occurredAt, in µs.
    var occurredAtDelta: UInt64
    var metadata: UnsafeRawBufferPointer
    var data: UnsafeRawBufferPointer
}

extension ByteReader {
    /// Reads one record.
    @inline(__always)
    mutating func readRecord() throws -> RawRecord {
        let type = try readLengthPrefixed()
        let high = try readLE(UInt64.self)
        let low = try readLE(UInt64.self)
        let delta = try readVarint()
        let metadata = try readLengthPrefixed()
        let data = try readLengthPrefixed()
        return RawRecord(type: type, id: EventID(uuidHigh: high, uuidLow: low), occurredAtDelta: delta, metadata: metadata, data: data)
    }
}

func hex32(_ v: UInt32) -> String { "0x" + String(v, radix: 16).leftPad(8) }

/// The one LZ4 decode of a batch payload: `block` into all of `dst` (the
/// header's raw payload length), or `MalformedBytes`. The writer never
/// compresses an empty payload, so an empty block or output is damage.
func decodeLZ4(_ block: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
    guard let src = block.baseAddress, let out = dst.baseAddress, !block.isEmpty, !dst.isEmpty,
          LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self), out.assumingMemoryBound(to: CChar.self),
                              Int32(block.count), Int32(dst.count)) == Int32(dst.count)
    else { throw MalformedBytes(reason: "LZ4 payload does not decompress") }
}

/// Writes the raw payload of a checksummed batch into `dst` (exactly
/// `header.rawPayloadLength` bytes): the stored bytes, or the LZ4 block
/// decompressed.
func decodePayload(header: BatchHeader, batch: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
    let stored = UnsafeRawBufferPointer(rebasing: batch[LogFormat.batchHeaderSize...])
    if header.codec == LogFormat.codecLZ4 {
        try decodeLZ4(stored, into: dst)
    } else if header.codec == LogFormat.codecLZ4Blocks {
        try LZ4Blocks.decode(stored, into: dst)
    } else {
        guard stored.count == dst.count else { throw MalformedBytes(reason: "payload length mismatch") }
        dst.copyMemory(from: stored)
    }
}

/// Hands `body` the raw payload of a checksummed batch: the stored bytes,
/// or the LZ4 block decompressed into `buffer`, which is reused from batch
/// to batch (grown, and zero-filled, only when too small). Scans and
/// `verify` read payloads through it.
func withRawPayload<R>(header: BatchHeader, batch: UnsafeRawBufferPointer, buffer: inout [UInt8],
                       _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    let stored = UnsafeRawBufferPointer(rebasing: batch[LogFormat.batchHeaderSize...])
    let rawLength = header.rawPayloadLength
    guard header.codec != LogFormat.codecNone else {
        guard stored.count == rawLength else { throw MalformedBytes(reason: "payload length mismatch") }
        return try body(stored)
    }
    if buffer.count < rawLength { buffer = [UInt8](repeating: 0, count: max(rawLength, buffer.count * 2)) }
    return try buffer.withUnsafeMutableBytes { all in
        let dst = UnsafeMutableRawBufferPointer(rebasing: all[0..<rawLength])
        if header.codec == LogFormat.codecLZ4Blocks { try LZ4Blocks.decode(stored, into: dst) } else { try decodeLZ4(stored, into: dst) }
        return try body(UnsafeRawBufferPointer(dst))
    }
}
