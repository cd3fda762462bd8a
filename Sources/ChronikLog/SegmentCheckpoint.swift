/// The index file of a sealed segment (`{base}.idx`): everything opening
/// the log needs from that segment — its batch table, stream runs, event
/// ids and last chain hash — so that a reopen reads this file instead of
/// decompressing the segment. It is derived data: when missing, corrupt or
/// inconsistent with its segment, it is rebuilt by scanning the segment.
struct SegmentCheckpoint: Hashable, Sendable {
    var base: UInt64
    var eventCount: UInt64
    var segmentBytes: Int64
    var lastHash: ChainHash
    var batches: [BatchEntry]
    var ids: IDList

    func encode() -> [UInt8] {
        var streamIndex: [String: UInt32] = [:]
        var streams: [String] = []
        for b in batches where streamIndex[b.stream] == nil {
            streamIndex[b.stream] = UInt32(streams.count)
            streams.append(b.stream)
        }
        var out: [UInt8] = []
        out.reserveCapacity(LogFormat.indexHeaderSize + batches.count * 32 + ids.count * 16 + streams.count * 24)
        out.append(contentsOf: LogFormat.indexMagic)
        out.appendLE(LogFormat.version)
        out.appendLE(UInt16(0))
        out.appendLE(UInt32(0))
        out.appendLE(base)
        out.appendLE(eventCount)
        out.appendLE(UInt64(segmentBytes))
        out.appendLE(UInt32(batches.count))
        out.appendLE(UInt32(streams.count))
        out.append(contentsOf: lastHash.bytes)
        assert(out.count == LogFormat.indexHeaderSize)
        for s in streams {
            out.appendVarint(UInt64(s.utf8.count))
            out.append(contentsOf: s.utf8)
        }
        for b in batches {
            out.appendLE(UInt64(b.offset))
            out.appendLE(b.basePosition)
            out.appendLE(b.count)
            out.appendLE(streamIndex[b.stream]!)  // every batch's stream was added above
            out.appendLE(b.firstStreamVersion)
        }
        ids.forEach { _, id in
            out.appendUUID(id)
        }
        out.appendLE(crc32c(out))
        return out
    }

    /// Parses and checks an index file.
    static func decode(_ bytes: [UInt8]) throws -> SegmentCheckpoint {
        guard bytes.count >= LogFormat.indexHeaderSize + 4 else { throw MalformedBytes(reason: "index file truncated") }
        let stored = loadLE(bytes, bytes.count - 4, as: UInt32.self)
        let actual = bytes.withUnsafeBytes { crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        guard stored == actual else { throw MalformedBytes(reason: "index checksum mismatch") }
        guard Array(bytes[0..<8]) == LogFormat.indexMagic else { throw MalformedBytes(reason: "bad index magic") }
        guard loadLE(bytes, 8, as: UInt16.self) == LogFormat.version else { throw MalformedBytes(reason: "unsupported index version") }
        let base = loadLE(bytes, 16, as: UInt64.self)
        let eventCount = loadLE(bytes, 24, as: UInt64.self)
        let segmentBytes = Int64(loadLE(bytes, 32, as: UInt64.self))
        let batchCount = Int(loadLE(bytes, 40, as: UInt32.self))
        let streamCount = Int(loadLE(bytes, 44, as: UInt32.self))
        let lastHash = ChainHash(bytes: Array(bytes[48..<80]))
        return try bytes.withUnsafeBytes { (raw) throws -> SegmentCheckpoint in
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[0..<(bytes.count - 4)]), offset: LogFormat.indexHeaderSize)
            var streams: [String] = []
            streams.reserveCapacity(streamCount)
            for _ in 0..<streamCount { streams.append(try r.readString()) }
            guard r.remaining >= batchCount * 32 else { throw MalformedBytes(reason: "index batch table truncated") }
            var batches: [BatchEntry] = []
            batches.reserveCapacity(batchCount)
            var expected = base
            for _ in 0..<batchCount {
                let offset = Int64(try r.readLE(UInt64.self))
                let bbase = try r.readLE(UInt64.self)
                let count = try r.readLE(UInt32.self)
                let si = Int(try r.readLE(UInt32.self))
                let fsv = try r.readLE(UInt64.self)
                guard si < streams.count, bbase == expected, count > 0 else { throw MalformedBytes(reason: "index batch table inconsistent") }
                expected += UInt64(count)
                batches.append(BatchEntry(offset: offset, basePosition: bbase, count: count, stream: streams[si], firstStreamVersion: fsv))
            }
            guard expected - base == eventCount, r.remaining == Int(eventCount) * 16 else {
                throw MalformedBytes(reason: "index event count inconsistent")
            }
            // Ids stay as bytes: the index loader reads them in the background.
            let ids = IDList(raw: bytes, offset: r.offset, count: Int(eventCount))
            return SegmentCheckpoint(base: base, eventCount: eventCount, segmentBytes: segmentBytes, lastHash: lastHash, batches: batches, ids: ids)
        }
    }
}

/// The event ids of a segment in position order: decoded, or still the
/// raw bytes of an index file (16 bytes each), decoded when iterated.
struct IDList: Hashable, Sendable {
    private var decoded: [EventID]
    private var raw: [UInt8]
    private var rawOffset: Int
    let count: Int

    init(_ ids: [EventID]) {
        decoded = ids
        raw = []
        rawOffset = 0
        count = ids.count
    }

    init(raw: [UInt8], offset: Int, count: Int) {
        precondition(offset + count * 16 <= raw.count, "id bytes out of range")
        decoded = []
        self.raw = raw
        rawOffset = offset
        self.count = count
    }

    /// Calls `body` with each id's index and value.
    func forEach(_ body: (Int, EventID) throws -> Void) rethrows {
        if raw.isEmpty {
            for (i, id) in decoded.enumerated() { try body(i, id) }
            return
        }
        try raw.withUnsafeBytes { bytes in
            for i in 0..<count {
                let at = rawOffset + i * 16
                try body(i, EventID(uuidHigh: loadLE(bytes, at, as: UInt64.self), uuidLow: loadLE(bytes, at + 8, as: UInt64.self)))
            }
        }
    }

    var array: [EventID] {
        if raw.isEmpty { return decoded }
        var out: [EventID] = []
        out.reserveCapacity(count)
        forEach { _, id in out.append(id) }
        return out
    }
}
