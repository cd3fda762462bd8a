import Synchronization

/// One batch's entry in a segment's table: where it is and what it holds.
struct BatchEntry: Hashable, Sendable {
    var offset: Int64
    var basePosition: UInt64
    var count: UInt32
    var stream: String
    var firstStreamVersion: UInt64
}

/// A segment file: a header and a run of batches. Sealed segments never
/// change; the active one grows, and readers see it only up to the bytes
/// the writer has committed.
final class Segment: Sendable {
    let base: UInt64
    let path: String
    let name: String
    let file: any StorageFile

    struct Table: Sendable {
        /// Bytes readers may read (header included).
        var committedBytes: Int64
        var eventCount: UInt64
        /// Offsets and base positions of committed batches, ascending.
        var batchOffsets: [Int64]
        var batchBases: [UInt64]
        var lastHash: ChainHash
        var sealed: Bool
    }

    private let table: Mutex<Table>

    init(base: UInt64, directory: String, file: any StorageFile, table: Table) {
        self.base = base
        self.name = LogFormat.segmentFileName(base: base)
        self.path = directory + "/" + name
        // Shared with cursors on other threads: see ClosableFile.
        self.file = file as? ClosableFile ?? ClosableFile(file, path: directory + "/" + LogFormat.segmentFileName(base: base))
        self.table = Mutex(table)
    }

    var snapshot: Table { table.withLock { $0 } }
    var committedBytes: Int64 { table.withLock { $0.committedBytes } }
    var eventCount: UInt64 { table.withLock { $0.eventCount } }
    /// One past the last committed position in this segment.
    var endPosition: UInt64 { base + eventCount }

    /// Adds committed batches (writer only).
    func commit(batches: [(offset: Int64, base: UInt64, count: UInt32)], endOffset: Int64, lastHash: ChainHash) {
        table.withLock { t in
            for b in batches {
                t.batchOffsets.append(b.offset)
                t.batchBases.append(b.base)
                t.eventCount += UInt64(b.count)
            }
            t.committedBytes = endOffset
            t.lastHash = lastHash
        }
    }

    func seal() { table.withLock { $0.sealed = true } }

    /// The batch holding `position`: its index, offset and base position.
    func locate(_ position: UInt64) -> (index: Int, offset: Int64, base: UInt64)? {
        table.withLock { t in
            guard position >= base, position < base + t.eventCount else { return nil }
            // Largest batch base ≤ position.
            var lo = 0, hi = t.batchBases.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if t.batchBases[mid] <= position { lo = mid } else { hi = mid - 1 }
            }
            return (lo, t.batchOffsets[lo], t.batchBases[lo])
        }
    }

    /// Offset and base of the batch at `index`, if committed.
    func batch(at index: Int) -> (offset: Int64, base: UInt64)? {
        table.withLock { t in
            guard index >= 0, index < t.batchOffsets.count else { return nil }
            return (t.batchOffsets[index], t.batchBases[index])
        }
    }

    // MARK: Segment header

    static func encodeHeader(base: UInt64) -> [UInt8] {
        var h: [UInt8] = []
        h.append(contentsOf: LogFormat.segmentMagic)
        h.appendLE(LogFormat.version)
        h.appendLE(UInt16(0))
        h.appendLE(UInt32(0))
        h.appendLE(base)
        h.appendLE(UInt32(0))
        h.appendLE(crc32c(h))
        assert(h.count == LogFormat.segmentHeaderSize)
        return h
    }

    /// Checks a segment header; returns a reason when it is not valid.
    static func checkHeader(_ h: [UInt8], base: UInt64) -> String? {
        guard h.count == LogFormat.segmentHeaderSize else { return "segment header truncated (\(h.count) bytes)" }
        guard Array(h[0..<8]) == LogFormat.segmentMagic else { return "bad segment magic" }
        let sum = LogFormat.SegmentField.checksum
        guard loadLE(h, sum, as: UInt32.self) == crc32c(Array(h[0..<sum])) else { return "segment header checksum mismatch" }
        let v = loadLE(h, LogFormat.SegmentField.formatVersion, as: UInt16.self)
        guard v == LogFormat.version else { return "unsupported segment format version \(v)" }
        guard loadLE(h, LogFormat.SegmentField.base, as: UInt64.self) == base else { return "segment header base position does not match its file name" }
        return nil
    }
}

/// Reads batches from a file through a read-ahead window, so that a scan
/// over many small batches costs one pread per window, not per batch.
struct BatchScanner {
    let file: any StorageFile
    let path: String
    /// Scan stops here (file size, or the committed length).
    let end: Int64
    private(set) var offset: Int64
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0
    private var windowCount: Int = 0
    /// Reads made into the window so far.
    private var windowReads = 0
    static let windowBytes = 1 << 20

    init(file: any StorageFile, path: String, start: Int64, end: Int64) {
        self.file = file
        self.path = path
        self.offset = start
        self.end = end
    }

    enum Step: Error {
        /// Where the scan stopped and why (the end: its offset is unknown here).
        var location: (offset: Int64, reason: String) {
            switch self {
            case .end: (-1, "end of segment")
            case .incomplete(let offset, let reason), .bad(let offset, let reason, _): (offset, reason)
            }
        }

        case end
        /// A batch starts here but the file ends first (or the header is short).
        case incomplete(offset: Int64, reason: String)
        /// Bytes here are not a valid batch; `length` is the declared length
        /// when the header could be read.
        case bad(offset: Int64, reason: String, declaredLength: Int?)
    }

    /// Ensures [from, from+count) is in the window; false at end of file.
    private mutating func fill(from: Int64, count: Int) throws -> Bool {
        if from >= windowStart && from + Int64(count) <= windowStart + Int64(windowCount) { return true }
        let want = max(count, Self.windowBytes)
        let readable = Int(min(Int64(want), end - from))
        guard readable >= count else { return false }
        if window.count < readable { window = [UInt8](repeating: 0, count: readable) }
        let n = try window.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<readable]), at: from) }
        windowStart = from
        windowCount = n
        windowReads += 1
        return n >= count
    }

    /// Moves to the next batch. On success calls `body` with its header,
    /// its bytes (valid only inside `body`) and its offset; the checksum is
    /// verified first.
    mutating func next<R>(_ body: (BatchHeader, UnsafeRawBufferPointer, Int64) throws -> R) throws -> Result<R, Step> {
        guard offset < end else { return .failure(.end) }
        let start = offset
        let remaining = end - start
        guard remaining >= Int64(LogFormat.batchHeaderSize), try fill(from: start, count: LogFormat.batchHeaderSize) else {
            return .failure(.incomplete(offset: start, reason: "\(remaining) bytes left, less than a batch header"))
        }
        let rel = Int(start - windowStart)
        let parsed = window.withUnsafeBytes { BatchHeader.parse(UnsafeRawBufferPointer(rebasing: $0[rel..<(rel + LogFormat.batchHeaderSize)])) }
        var header: BatchHeader
        switch parsed {
        case .none:
            return .failure(.incomplete(offset: start, reason: "short header"))
        case .failure(let e)?:
            let declared = window.withUnsafeBytes { Int(loadLE($0, rel + 4, as: UInt32.self)) }
            return .failure(.bad(offset: start, reason: e.reason, declaredLength: declared))
        case .success(let h)?:
            header = h
        }
        guard Int64(header.length) <= remaining else {
            return .failure(.incomplete(offset: start, reason: "batch of \(header.length) bytes, \(remaining) left in file"))
        }
        let readsBefore = windowReads
        guard try fill(from: start, count: header.length) else {
            return .failure(.incomplete(offset: start, reason: "file shorter than its size"))
        }
        let r2 = Int(start - windowStart)
        if windowReads != readsBefore {
            // The window was refilled: use the header inside the bytes the
            // checksum covers, not the copy parsed from the earlier read.
            let reparsed = window.withUnsafeBytes { BatchHeader.parse(UnsafeRawBufferPointer(rebasing: $0[r2..<(r2 + LogFormat.batchHeaderSize)])) }
            guard case .success(let h)? = reparsed, h.length == header.length else {
                return .failure(.bad(offset: start, reason: "batch header changed between two reads", declaredLength: header.length))
            }
            header = h
        }
        let checksumOK = window.withUnsafeBytes { batchChecksum(UnsafeRawBufferPointer(rebasing: $0[r2..<(r2 + header.length)])) == header.crc }
        guard checksumOK else {
            return .failure(.bad(offset: start, reason: "batch checksum mismatch", declaredLength: header.length))
        }
        let result = try window.withUnsafeBytes { try body(header, UnsafeRawBufferPointer(rebasing: $0[r2..<(r2 + header.length)]), start) }
        offset = start + Int64(header.length)
        return .success(result)
    }

    /// FORMAT.md recovery rule 4 in one place: for a scan of the last
    /// segment that stopped at `failure`, nil when the rest of the file is a
    /// torn tail (a write that never completed, safe to cut off), else why
    /// it is corruption. Recovery and `LogVerifier` both decide with this.
    ///
    /// - Parameter lenient: a reader beside a live writer, which may be
    ///   copying the final batch in right now: a bad final batch is then torn
    ///   unless a batch written after a completed sync follows it. Callers
    ///   decide it with `EventLog.writerMayBeWriting` (one rule for the
    ///   open, `refresh()` and `LogVerifier`).
    func corruptionReason(for failure: Step, lenient: Bool = false) throws -> String? {
        guard let damage = try judge(failure, lenient: lenient) else { return nil }
        // Beside a live writer the bytes read may be stale: zeros it has
        // overwritten with a batch since (its zeroed space, stop 41; a
        // helper: `read`, `tail -f`, `stats` beside a writer called a
        // healthy log damaged, "a batch written after a completed sync
        // follows it"). A batch whole there now is no damage; the next
        // look reads it. (The writer copies a group in offset order: a
        // later batch whole means this one is whole, unless damaged.)
        if lenient, try isValidBatchNow(at: failure.location.offset) { return nil }
        return damage
    }

    private func judge(_ failure: Step, lenient: Bool) throws -> String? {
        if case .end = failure { return nil }
        let offset = failure.location.offset
        // Where the zeros that end the file begin. From `offset` on: no
        // batch can start there (a writer's zeroed space, or pages that
        // never reached the disk), what the checks below would decide.
        let zerosFrom = try trailingZerosStart(from: offset)
        if zerosFrom == offset { return nil }
        switch failure {
        case .end:
            return nil
        case .incomplete(_, let reason):
            // Cut short by the end of the file: a torn write — unless a valid
            // batch follows somewhere, or the rest of the file is that batch
            // whole and matching its checksum (followed, perhaps, by zeroed
            // space); either way its length field was damaged and
            // truncating would drop acknowledged data.
            if try anyValidBatch(after: offset) {
                return "batch cut short (\(reason)) with valid data after it: its length field is damaged"
            }
            if let length = try completeBatchBeforeTrailingZeros(at: offset, zerosFrom: zerosFrom, limit: end) {
                return "batch length field damaged: the \(length) bytes from here are a complete batch that matches its checksum (\(reason))"
            }
            return nil
        case .bad(_, let reason, let declared):
            // (a) A later batch written after a completed sync proves the
            // bytes here were synced, so acknowledged: damage.
            if try anyValidBatch(after: offset, syncedPredecessorOnly: true) {
                return "\(reason), and a batch written after a completed sync follows it: damage to synced data"
            }
            // Beside a live writer the batch may be one it is copying in.
            if lenient { return nil }
            // (d) Its declared end reaches into the zeros that end the file
            // (zeroed space, stop 41): as for a batch that the end of the
            // file cuts short, a valid batch inside it, or its bytes up to
            // a point in those zeros matching its checksum, mean its length
            // field is damaged (a helper: one flipped bit of a length cut
            // acknowledged batches as torn).
            if let declared, offset + Int64(declared) > zerosFrom {
                if try anyValidBatch(after: offset) {
                    return "\(reason), with a valid batch inside its declared length: its length field is damaged"
                }
                if let length = try completeBatchBeforeTrailingZeros(at: offset, zerosFrom: zerosFrom, limit: offset + Int64(declared)) {
                    return "batch length field damaged: the \(length) bytes from here are a complete batch that matches its checksum (\(reason))"
                }
            }
            // (e) (stop 42) A length no batch has, under a whole magic
            // number, with bytes of the batch after the length field on
            // disk: a write that lands a prefix lands the length field
            // before them, and the page holding the magic number and the
            // length field landed whole; the length was damaged after it
            // landed (a helper: one bit took a final batch's 126 to 62, and
            // over zeroed space the open cut it, acknowledged, as torn).
            if let declared, declared <= LogFormat.batchHeaderSize, try lengthFieldLanded(batchAt: offset, zerosFrom: zerosFrom) {
                return "\(reason), with the batch's bytes after its length field: its length field is damaged"
            }
            // (b) Only pages that never reached the disk make a torn write.
            if try hasLostPage(batchAt: offset, declaredLength: declared, zerosFrom: zerosFrom) { return nil }
            // (c) A write that landed a prefix over zeroed space: the
            // batch's last byte (by its declared length, or the header's
            // when that does not parse) lies in the zeros that end the file,
            // as the end of the file cuts it short in a file that grows.
            // A write lands whole sectors, so the sector holding the last
            // byte that is not zero landed whole: the batch must go on past
            // it (stop 43: a final batch's last bytes zeroed at rest, inside
            // one sector, were cut as torn).
            let last = offset + Int64(max(declared ?? LogFormat.batchHeaderSize, LogFormat.batchHeaderSize)) - 1
            let sector = Int64(LogFormat.sectorBytes)
            let landedEnd = (zerosFrom + sector - 1) / sector * sector
            if last < end && last >= landedEnd { return nil }
            return reason
        }
    }

    /// Whether the length field of the batch at `start` reached the disk
    /// whole, as a write lands it: bytes after it are not the zeros that
    /// end the file (`zerosFrom`; a write landing a prefix lands the field
    /// before them), and each page it is on holds a byte that is not zero
    /// from the batch on (a page that did not land reads as zeros).
    /// Recovery rule 4 (e).
    func lengthFieldLanded(batchAt start: Int64, zerosFrom: Int64) throws -> Bool {
        let fieldStart = start + Int64(LogFormat.BatchField.length)
        let fieldEnd = fieldStart + 4
        guard zerosFrom > fieldEnd else { return false }
        // Every page the field is on landed: a page that did not reads as
        // zeros from the batch's first byte on it (stop 42, a helper: with
        // the field on the page after the magic number's, the old test
        // left it to rule (b), which cut the batch).
        let page = Int64(LogFormat.pageBytes)
        var p = fieldStart / page
        while p <= (fieldEnd - 1) / page {
            let from = max(start, p * page), to = min((p + 1) * page, zerosFrom)
            let bytes = try file.readBytes(count: Int(to - from), at: from)
            if Self.allZero(bytes) { return false }
            p += 1
        }
        return true
    }

    /// Whether one page of the batch at `start` reads as all zeros: the
    /// part of a `LogFormat.pageBytes` page of the file from `start` (or
    /// its page boundary) to the next boundary, the batch's declared end
    /// or the end of the file, whichever comes first (recovery rule 4 (b)).
    func hasLostPage(batchAt start: Int64, declaredLength: Int?, zerosFrom: Int64) throws -> Bool {
        // With no length to go by, the batch ends at the latest where the
        // zeros that end the file begin: they are no page of it (stop 42, a
        // helper: a batch whose first bytes were zeroed, over a writer's
        // zeroed space, was cut as torn for the zeroed pages after it).
        var batchEnd = min(end, zerosFrom)
        if let declaredLength, declaredLength >= LogFormat.batchHeaderSize, start + Int64(declaredLength) < end {
            batchEnd = start + Int64(declaredLength)
        }
        let page = Int64(LogFormat.pageBytes)
        var at = start
        while at < batchEnd {
            let next = min((at / page + 1) * page, batchEnd)
            let bytes = try file.readBytes(count: Int(next - at), at: at)
            if !bytes.isEmpty && !bytes.contains(where: { $0 != 0 }) { return true }
            at = next
        }
        return false
    }

    /// Whether every byte from `from` to the end is zero (a preallocated or
    /// lost tail, not corruption).
    func isZero(from: Int64) throws -> Bool {
        try trailingZerosStart(from: from) == from
    }

    /// Where the zeros that run to the end of the file begin, at or after
    /// `from` (the end of the file when its last byte is not zero). Bytes
    /// past the file's actual end, when it is shorter than `end`, count as
    /// zeros.
    func trailingZerosStart(from: Int64) throws -> Int64 {
        var at = end
        while at > from {
            let start = max(from, at - Int64(1 << 20))
            let chunk = try file.readBytes(count: Int(at - start), at: start)
            if !Self.allZero(chunk), let i = chunk.lastIndex(where: { $0 != 0 }) { return start + Int64(i) + 1 }
            at = start
        }
        return from
    }

    /// Where the bytes of a torn final batch at `start` end: its declared
    /// end (cut at the end of the file) when its length field landed, at
    /// least to the last byte that is not zero. What follows is zeros a
    /// writer had zeroed ahead of its writes, not the batch (stop 42: a
    /// torn batch over zeroed space was reported with every zero after it).
    /// `zeros` is `trailingZerosStart(from: start)`, which the caller has.
    func tornBatchEnd(at start: Int64, zerosFrom zeros: Int64) throws -> Int64 {
        let field = Int64(LogFormat.BatchField.length)
        // A file that ends inside the length field holds no zeroed space.
        guard end - start >= field + 4 else { return end }
        let bytes = try file.readBytes(count: 4, at: start + field)
        guard bytes.count == 4 else { return zeros }
        let declared = Int64(bytes.withUnsafeBytes { loadLE($0, 0, as: UInt32.self) })
        guard declared >= Int64(LogFormat.batchHeaderSize) else { return zeros }
        return max(zeros, min(end, start + declared))
    }

    /// Whether every byte is zero, eight at a time: a writer's zeroed
    /// space (up to `LogOptions.zeroAheadBytes`) is read by every
    /// `refresh()` of a reader beside it.
    static func allZero(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            let words = raw.count / 8
            var any: UInt64 = 0
            for i in 0..<words { any |= raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
            for i in (words * 8)..<raw.count { any |= UInt64(raw[i]) }
            return any == 0
        }
    }

    /// Whether a complete batch with a valid checksum starts anywhere after
    /// `from` (at any byte offset): if one does, damage at `from` cannot be
    /// a torn tail. Only used on the failure path; reads at most what is
    /// left of the segment.
    ///
    /// - Parameter syncedPredecessorOnly: count only batches whose
    ///   *unsynced predecessor* flag is clear (written after a sync).
    func anyValidBatch(after from: Int64, syncedPredecessorOnly: Bool = false) throws -> Bool {
        let start = from + 1
        guard start < end else { return false }
        let rest = try file.readBytes(count: Int(end - start), at: start)
        let magic = withUnsafeBytes(of: LogFormat.batchMagic.littleEndian) { Array($0) }
        return rest.withUnsafeBytes { raw -> Bool in
            var i = 0
            while i + LogFormat.batchHeaderSize <= raw.count {
                if raw[i] == magic[0] && raw[i + 1] == magic[1] && raw[i + 2] == magic[2] && raw[i + 3] == magic[3],
                   case .success(let h)? = BatchHeader.parse(UnsafeRawBufferPointer(rebasing: raw[i..<(i + LogFormat.batchHeaderSize)])),
                   i + h.length <= raw.count,
                   !(syncedPredecessorOnly && h.hasUnsyncedPredecessor),
                   batchChecksum(UnsafeRawBufferPointer(rebasing: raw[i..<(i + h.length)])) == h.crc {
                    return true
                }
                i += 1
            }
            return false
        }
    }

    /// The length of a complete batch at `start` that matches its checksum
    /// although its length field says otherwise (a torn write cannot do
    /// this, since a cut-off batch does not match its checksum): its bytes
    /// run to some point from `zerosFrom` (where the zeros that end the
    /// file begin, `trailingZerosStart`) up to `limit`, and only zeros
    /// follow it — the file's end, or zeroed space (stop 41). The checksum
    /// does not cover the length field, so it still matches; it is
    /// extended one zero at a time, and the zeros are not read.
    func completeBatchBeforeTrailingZeros(at start: Int64, zerosFrom: Int64, limit: Int64) throws -> Int? {
        let count = Int(min(limit, end) - start)
        guard count > LogFormat.batchHeaderSize, count <= LogFormat.maxBatchPayloadBytes + LogFormat.batchHeaderSize else { return nil }
        var length = min(max(Int(zerosFrom - start), LogFormat.batchHeaderSize), count)
        let bytes = try file.readBytes(count: length, at: start)
        guard bytes.count == length else { return nil }
        let stored = loadLE(bytes, LogFormat.BatchField.crc, as: UInt32.self)
        var crc = bytes.withUnsafeBytes { crc32c(UnsafeRawBufferPointer(rebasing: $0[LogFormat.BatchField.version...])) }
        var zero: UInt8 = 0
        while true {
            if crc == stored { return length }
            guard length < count else { return nil }
            crc = withUnsafeBytes(of: &zero) { crc32c($0, seed: crc) }
            length += 1
        }
    }

    /// Whether a complete batch that matches its checksum is at `start`
    /// now, read again from the file past this scan's end: beside a live
    /// writer, bytes the scan read as zeros may since hold a batch.
    func isValidBatchNow(at start: Int64) throws -> Bool {
        let head = try file.readBytes(count: LogFormat.batchHeaderSize, at: start)
        guard head.count == LogFormat.batchHeaderSize,
              case .success(let h)? = head.withUnsafeBytes({ BatchHeader.parse($0) }) else { return false }
        let bytes = try file.readBytes(count: h.length, at: start)
        guard bytes.count == h.length else { return false }
        return bytes.withUnsafeBytes { batchChecksum($0) == h.crc }
    }
}

/// The batches of a log's segments in log order, from the one holding a
/// position: the forward walk of `EventCursor`, `EventViewCursor` and
/// `EventBlockReader` (each decodes the batches its own way).
struct ForwardBatches {
    let segments: [Segment]
    /// The segment of the last batch handed out.
    private var segmentIndex = 0
    private var scanner: BatchScanner?

    /// The file of the last batch handed out.
    var path: String { segments[segmentIndex].path }

    init(_ segments: [Segment]) { self.segments = segments }

    /// The index of the segment that holds `position`: the last one
    /// starting at or before it.
    func segmentIndex(of position: UInt64) -> Int? {
        var lo = 0, hi = segments.count - 1
        guard hi >= 0, position >= segments[0].base else { return nil }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if segments[mid].base <= position { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// Forgets the open segment: the next call starts at the batch holding
    /// its `position` again.
    mutating func restart() { scanner = nil }

    /// Calls `body` with the next batch — the one holding `position` when
    /// no segment is open — its checksum verified: header, bytes (valid
    /// only inside `body`), offset and file. nil when there is none.
    ///
    /// - Throws: `ChronikLogError(.corruption)` with file and offset for a
    ///   batch that is incomplete or bad; what `body` throws.
    mutating func next<R>(at position: UInt64,
                          _ body: (BatchHeader, UnsafeRawBufferPointer, Int64, _ path: String) throws -> R) throws -> R? {
        while true {
            if scanner == nil {
                guard let si = segmentIndex(of: position), let loc = segments[si].locate(position) else { return nil }
                segmentIndex = si
                scanner = BatchScanner(file: segments[si].file, path: segments[si].path, start: loc.offset,
                                       end: segments[si].committedBytes)
            }
            let seg = segments[segmentIndex]
            switch try scanner!.next({ header, bytes, offset in try body(header, bytes, offset, seg.path) }) {
            case .success(let r):
                return r
            case .failure(.end):
                scanner = nil
                if segmentIndex + 1 >= segments.count || seg.endPosition > position { return nil }
            case .failure(.incomplete(let offset, let reason)), .failure(.bad(let offset, let reason, _)):
                throw ChronikLogError.corrupt(reason, path: seg.path, offset: offset)
            }
        }
    }
}
