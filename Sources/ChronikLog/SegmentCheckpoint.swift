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
        var out = encodeTables(reserving: ids.count * LogFormat.indexIDEntrySize + 4)
        ids.appendHashOrdered(to: &out)
        out.appendLE(crc32c(out))
        return out
    }

    /// The file up to its id section: header, stream names, batch table.
    func encodeTables(reserving extra: Int = 0) -> [UInt8] {
        // Each batch's stream number found with one look-up (stop 28: two
        // look-ups and five appends per batch were about a fifth of closing
        // a log after importing a 500 k-event shop, 88 k batches).
        var streamIndex: [String: UInt32] = [:]
        var streams: [String] = []
        let numbers = [UInt32](unsafeUninitializedCapacity: batches.count) { numbers, initialized in
            batches.withUnsafeBufferPointer { batches in
                for i in batches.indices {
                    let next = UInt32(streams.count)
                    let n = Self.value(&streamIndex[batches[i].stream, default: next])
                    if n == next { streams.append(batches[i].stream) }
                    numbers[i] = n
                }
            }
            initialized = batches.count
        }
        var out: [UInt8] = []
        out.reserveCapacity(LogFormat.indexHeaderSize + batches.count * LogFormat.indexBatchEntrySize + streams.count * 24 + extra)
        out.append(contentsOf: LogFormat.indexMagic)
        out.appendLE(LogFormat.indexLayoutVersion)
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
        let size = LogFormat.indexBatchEntrySize
        let table = [UInt8](unsafeUninitializedCapacity: batches.count * size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            batches.withUnsafeBufferPointer { batches in
                for i in batches.indices {
                    let at = i * size
                    raw.storeBytes(of: UInt64(batches[i].offset).littleEndian, toByteOffset: at, as: UInt64.self)
                    raw.storeBytes(of: batches[i].basePosition.littleEndian, toByteOffset: at + 8, as: UInt64.self)
                    raw.storeBytes(of: batches[i].count.littleEndian, toByteOffset: at + 16, as: UInt32.self)
                    raw.storeBytes(of: numbers[i].littleEndian, toByteOffset: at + 20, as: UInt32.self)
                    raw.storeBytes(of: batches[i].firstStreamVersion.littleEndian, toByteOffset: at + 24, as: UInt64.self)
                }
            }
            initialized = batches.count * size
        }
        out.append(contentsOf: table)
        return out
    }

    /// The value at an `inout` place: with a dictionary's `default:`
    /// subscript, one look-up that inserts the default when the key is new.
    @inline(__always)
    private static func value(_ v: inout UInt32) -> UInt32 { v }

    /// Whether an index file's last 4 bytes are the CRC32C of the others.
    /// - Precondition: `bytes` holds at least 4 bytes.
    static func checksumMatches(_ bytes: [UInt8]) -> Bool {
        loadLE(bytes, bytes.count - 4, as: UInt32.self)
            == bytes.withUnsafeBytes { crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
    }

    /// Parses and checks an index file: checksum, magic, layout version and
    /// the consistency of its tables. Whether it belongs to the segment
    /// beside it is `EventLog.loadCheckpoint`'s question.
    static func decode(_ bytes: [UInt8]) throws -> SegmentCheckpoint {
        guard bytes.count >= LogFormat.indexHeaderSize + 4 else { throw MalformedBytes(reason: "index file truncated") }
        guard Array(bytes[0..<8]) == LogFormat.indexMagic else { throw MalformedBytes(reason: "bad index magic") }
        guard checksumMatches(bytes) else { throw MalformedBytes(reason: "index checksum mismatch") }
        let layout = loadLE(bytes, LogFormat.IndexField.layoutVersion, as: UInt16.self)
        guard layout == LogFormat.indexLayoutVersion else {
            throw MalformedBytes(reason: "index layout version \(layout), this build writes \(LogFormat.indexLayoutVersion)")
        }
        let base = loadLE(bytes, LogFormat.IndexField.base, as: UInt64.self)
        let eventCount = loadLE(bytes, LogFormat.IndexField.eventCount, as: UInt64.self)
        guard let segmentBytes = Int64(exactly: loadLE(bytes, LogFormat.IndexField.segmentBytes, as: UInt64.self)) else {
            throw MalformedBytes(reason: "index segment length out of range")
        }
        let batchCount = Int(loadLE(bytes, LogFormat.IndexField.batchCount, as: UInt32.self))
        let streamCount = Int(loadLE(bytes, LogFormat.IndexField.streamCount, as: UInt32.self))
        let lastHash = ChainHash(bytes: Array(bytes[LogFormat.IndexField.lastHash..<(LogFormat.IndexField.lastHash + 32)]))
        return try bytes.withUnsafeBytes { (raw) throws -> SegmentCheckpoint in
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[0..<(bytes.count - 4)]), offset: LogFormat.indexHeaderSize)
            var streams: [String] = []
            streams.reserveCapacity(min(streamCount, batchCount))
            for _ in 0..<streamCount { streams.append(try r.readString()) }
            guard r.remaining >= batchCount * LogFormat.indexBatchEntrySize else { throw MalformedBytes(reason: "index batch table truncated") }
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
            guard expected - base == eventCount, eventCount <= UInt64(UInt32.max),
                  r.remaining == Int(eventCount) * LogFormat.indexIDEntrySize else {
                throw MalformedBytes(reason: "index event count inconsistent")
            }
            // Ids stay as bytes: the index loader reads them in the background.
            let ids = IDList(hashOrdered: bytes, offset: r.offset, count: Int(eventCount))
            return SegmentCheckpoint(base: base, eventCount: eventCount, segmentBytes: segmentBytes, lastHash: lastHash, batches: batches, ids: ids)
        }
    }
}

/// The event ids of a segment: decoded in position order, or still the
/// raw id section of an index file — (id, offset) entries in the order of
/// `EventIDTable.hash` (FORMAT.md, "Index file") — decoded when iterated.
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

    /// The id section of an index file: `count` entries from `offset`.
    init(hashOrdered raw: [UInt8], offset: Int, count: Int) {
        precondition(offset + count * LogFormat.indexIDEntrySize <= raw.count, "id bytes out of range")
        decoded = []
        self.raw = raw
        rawOffset = offset
        self.count = count
    }

    /// The first `n` ids of a list in position order (an index file's
    /// hash-ordered entries have no such prefix: empty).
    func prefix(_ n: Int) -> IDList {
        guard raw.isEmpty else { return IDList([]) }
        return IDList(Array(decoded.prefix(n)))
    }

    /// Whether the ids are an index file's hash-ordered entries.
    var isHashOrdered: Bool { !raw.isEmpty }

    /// Calls `body` with each id and its offset in the segment (position
    /// minus base), in stored order: position order, or hash order for an
    /// index file's entries. An offset is not checked against the segment.
    func forEachEntry(_ body: (UInt64, EventID) throws -> Void) rethrows {
        if raw.isEmpty {
            for (i, id) in decoded.enumerated() { try body(UInt64(i), id) }
            return
        }
        try raw.withUnsafeBytes { bytes in
            var at = rawOffset
            for _ in 0..<count {
                let id = EventID(uuidHigh: loadLE(bytes, at, as: UInt64.self), uuidLow: loadLE(bytes, at + 8, as: UInt64.self))
                try body(UInt64(loadLE(bytes, at + 16, as: UInt32.self)), id)
                at += LogFormat.indexIDEntrySize
            }
        }
    }

    /// The offset of `id` (whose `EventIDTable.hash` is `hash`) in an
    /// index file's hash-ordered entries: an interpolation search (hashes
    /// are uniform), a few probes for a segment of millions. Nil when
    /// absent or when the ids are not hash-ordered.
    func offset(of id: EventID, hash h: UInt64) -> UInt64? {
        guard !raw.isEmpty, count > 0 else { return nil }
        return raw.withUnsafeBytes { bytes -> UInt64? in
            let start = rawOffset, size = LogFormat.indexIDEntrySize
            func idAt(_ k: Int) -> EventID {
                EventID(uuidHigh: loadLE(bytes, start + k * size, as: UInt64.self), uuidLow: loadLE(bytes, start + k * size + 8, as: UInt64.self))
            }
            func hashAt(_ k: Int) -> UInt64 { EventIDTable.hash(idAt(k)) }
            var lo = 0, hi = count - 1
            var hlo = hashAt(lo), hhi = hashAt(hi)
            while lo <= hi {
                guard h >= hlo, h <= hhi else { return nil }
                var mid = lo
                if hhi > hlo {
                    mid = lo + Int(Double(h - hlo) / Double(hhi - hlo) * Double(hi - lo))
                    mid = min(max(mid, lo), hi)
                }
                let hm = hashAt(mid)
                if hm < h {
                    lo = mid + 1
                    if lo <= hi { hlo = hashAt(lo) }
                } else if hm > h {
                    hi = mid - 1
                    if lo <= hi { hhi = hashAt(hi) }
                } else {
                    // Equal hashes sit together: look at each of them.
                    var k = mid
                    while k > 0 && hashAt(k - 1) == h { k -= 1 }
                    while k < count && hashAt(k) == h {
                        if idAt(k) == id { return UInt64(loadLE(bytes, start + k * size + 16, as: UInt32.self)) }
                        k += 1
                    }
                    return nil
                }
            }
            return nil
        }
    }

    /// The ids in position order (an offset out of range or repeated in an
    /// index file's entries leaves a zero id there: such a file fails
    /// `LogVerifier`'s comparison).
    var array: [EventID] {
        if raw.isEmpty { return decoded }
        var out = [EventID](repeating: EventID(high: 0, low: 0), count: count)
        forEachEntry { offset, id in
            if offset < UInt64(count) { out[Int(offset)] = id }
        }
        return out
    }

    /// `(hash, offset)` of each id, sorted by hash, then offset: the order
    /// of an index file's id section. The hashes are uniform, so a
    /// counting sort on their top bits leaves a few entries per bucket,
    /// each bucket in offset order (stable), finished by an insertion sort
    /// on the hash (stable too); a bucket that caller-chosen ids made
    /// large is sorted by the library's sort instead. Stop 21: the
    /// comparison sort of a sealed segment's ~600 k pairs was ~4 % of a
    /// batched append's CPU; the result is the same order, byte for byte.
    static func hashOrder(_ ids: [EventID]) -> [(hash: UInt64, offset: UInt32)] {
        let n = ids.count
        guard n > 64 else {
            return ids.enumerated().map { (EventIDTable.hash($1), UInt32($0)) }
                .sorted { $0.hash != $1.hash ? $0.hash < $1.hash : $0.offset < $1.offset }
        }
        let bits = (n / 4).bitWidth - (n / 4).leadingZeroBitCount  // ~4 entries per bucket
        let shift = UInt64(64 - bits)
        var starts = [Int](repeating: 0, count: (1 << bits) + 1)
        let hashes = [UInt64](unsafeUninitializedCapacity: n) { buffer, initialized in
            for (i, id) in ids.enumerated() { buffer[i] = EventIDTable.hash(id) }
            initialized = n
        }
        for h in hashes { starts[Int(h >> shift) + 1] += 1 }
        for b in 1..<starts.count { starts[b] += starts[b - 1] }
        var next = starts
        var order = [(hash: UInt64, offset: UInt32)](repeating: (0, 0), count: n)
        order.withUnsafeMutableBufferPointer { order in
            for i in 0..<n {
                let b = Int(hashes[i] >> shift)
                order[next[b]] = (hashes[i], UInt32(i))
                next[b] += 1
            }
            for b in 0..<(starts.count - 1) {
                let lo = starts[b], hi = starts[b + 1]
                if hi - lo < 2 { continue }
                if hi - lo > 64 {
                    var bucket = UnsafeMutableBufferPointer(rebasing: order[lo..<hi])
                    bucket.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.offset < $1.offset }
                    continue
                }
                for k in (lo + 1)..<hi {
                    let e = order[k]
                    var j = k
                    while j > lo && order[j - 1].hash > e.hash {
                        order[j] = order[j - 1]
                        j -= 1
                    }
                    order[j] = e
                }
            }
        }
        return order
    }

    /// Appends the index file's id section: (UUID bytes, u32 offset) per
    /// id, sorted by `EventIDTable.hash` and then by offset, so that the
    /// loader fills the id table front to back.
    func appendHashOrdered(to out: inout [UInt8]) {
        if !raw.isEmpty {
            out.append(contentsOf: raw[rawOffset..<(rawOffset + count * LogFormat.indexIDEntrySize)])
            return
        }
        // Written through a pointer into an array of the section's size:
        // three appends per id (each checking capacity and uniqueness) were
        // a third of closing a log after a 500 k-event append (stop 28).
        let order = Self.hashOrder(decoded)
        let size = LogFormat.indexIDEntrySize
        let section = [UInt8](unsafeUninitializedCapacity: order.count * size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            decoded.withUnsafeBufferPointer { ids in
                for (k, e) in order.enumerated() {
                    let id = ids[Int(e.offset)]
                    raw.storeBytes(of: id.high.byteSwapped.littleEndian, toByteOffset: k * size, as: UInt64.self)
                    raw.storeBytes(of: id.low.byteSwapped.littleEndian, toByteOffset: k * size + 8, as: UInt64.self)
                    raw.storeBytes(of: e.offset.littleEndian, toByteOffset: k * size + 16, as: UInt32.self)
                }
            }
            initialized = order.count * size
        }
        out.append(contentsOf: section)
    }
}
