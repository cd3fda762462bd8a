// The on-disk format, version 1. docs/FORMAT.md is the normative text; this
// file holds its constants so that no other file spells a magic number.
// All integers are little-endian.

/// Constants of the Chronik on-disk format (docs/FORMAT.md).
public enum LogFormat {
    /// The format version written into every file header and batch.
    public static let version: UInt16 = 1

    // MARK: Directory

    /// Name of the log's metadata file.
    public static let metaFileName = "chronik.meta"
    /// Name of the advisory lock file.
    public static let lockFileName = "LOCK"
    /// Suffix of segment files; the stem is the 20-digit base position.
    public static let segmentSuffix = ".log"
    /// Suffix of sealed-segment index files (checkpoints).
    public static let indexSuffix = ".idx"

    // MARK: Meta file (64 bytes)

    /// The metadata file's format version for a log of `compression`:
    /// 2 for LZ4 since stop 40 (its batches may be in LZ4 blocks, which a
    /// build that reads only 1 would call damage: FORMAT.md,
    /// "Versioning"), 1 without compression.
    static func metaVersion(for compression: Compression) -> UInt16 { compression == .lz4 ? 2 : 1 }
    /// The metadata versions this build reads.
    static let readableMetaVersions: ClosedRange<UInt16> = 1...2

    /// Refuses a `chronik.meta` version this build does not read (the
    /// open's and `verify`'s one check).
    static func checkMetaVersion(_ version: UInt16, path: String) throws {
        guard readableMetaVersions.contains(version) else {
            let readable = readableMetaVersions.map(String.init).joined(separator: " and ")
            throw ChronikLogError(.unsupportedVersion, "log format version \(version); this build reads \(readable)", path: path)
        }
    }

    static let metaMagic: [UInt8] = Array("CHRNKLOG".utf8)
    static let metaSize = 64

    // MARK: Segment header (32 bytes)

    public static let segmentMagic: [UInt8] = Array("CHRNKSEG".utf8)
    static let segmentHeaderSize = 32

    // MARK: Batch header (96 bytes)

    /// "CKBT": the first four bytes of every batch.
    static let batchMagic: UInt32 = 0x5442_4B43
    static let batchHeaderSize = 96
    /// Offsets of the batch header's fields.
    enum BatchField {
        static let magic = 0
        static let length = 4
        static let crc = 8
        static let version = 12  // UInt8; the checksum covers from here on
        static let flags = 13
        static let reserved = 14
        static let basePosition = 16
        static let count = 24
        static let rawPayloadLength = 28
        static let recordedAt = 32
        static let minOccurredAt = 40
        static let maxOccurredAt = 48
        static let firstStreamVersion = 56
        static let previousHash = 64
        static let payload = 96
    }
    /// Codec values in the low two bits of the batch flags.
    static let codecNone: UInt8 = 0
    static let codecLZ4: UInt8 = 1
    /// The payload in LZ4 blocks: a table (count, each block's raw and
    /// stored length), then the blocks (FORMAT.md "LZ4 in blocks").
    static let codecLZ4Blocks: UInt8 = 2
    /// Most blocks a `codecLZ4Blocks` payload may have.
    static let lz4BlocksMax = 64
    /// The writer's choice: a payload is split only into pieces of at
    /// least this many raw bytes.
    static let lz4BlocksPieceBytes = 64 * 1024
    static let codecMask: UInt8 = 0b11
    /// Batch flag: bytes before this batch were not yet synced when it was
    /// written (FORMAT.md, batch header; recovery rule 4).
    static let unsyncedPredecessorFlag: UInt8 = 0b100
    /// Page size of the crash model: a power cut persists an unsynced
    /// write's pages of this size in any order (recovery rule 4 (b)).
    static let pageBytes = 4096
    /// The smallest unit a write lands whole: a power cut persists whole
    /// sectors, a kill -9 stops a write at a page boundary. So a torn write
    /// over zeroed space ends at a multiple of this in the file (recovery
    /// rule 4 (c), stop 43).
    static let sectorBytes = 512

    /// The chain hash that the first batch of a log points back to.
    public static let genesisHash = [UInt8](repeating: 0, count: 32)

    /// Byte offsets of the segment header's fields (`segmentHeaderSize`
    /// bytes: magic, format version, base position, CRC32C of the bytes
    /// before it).
    enum SegmentField {
        static let formatVersion = 8
        static let base = 16
        static let checksum = 28
    }

    /// Byte offsets of `chronik.meta`'s fields (`metaSize` bytes: magic,
    /// format version, compression, creation time, CRC32C of the bytes
    /// before it; every other byte reserved, 0).
    enum MetaField {
        static let formatVersion = 8
        static let compression = 10
        static let createdAt = 16
        static let checksum = metaSize - 4
        static let reserved = Array(11..<16) + Array(24..<checksum)
    }

    // MARK: Index file

    static let indexMagic: [UInt8] = Array("CHRNKIDX".utf8)
    static let indexHeaderSize = 80
    /// The index file's own layout version (offset 8). 2: ids hash-ordered
    /// with their offsets; a file of another layout is rebuilt.
    static let indexLayoutVersion: UInt16 = 2
    /// Layouts that earlier builds wrote (1: ids in position order, the
    /// log's format version at offset 8). Only these are "an older build's
    /// cache" to verify; any other value there is damage.
    static let indexOlderLayouts: Set<UInt16> = [1]
    /// One batch-table entry: offset u64, base u64, count u32, stream u32,
    /// first stream version u64.
    static let indexBatchEntrySize = 32
    /// One id entry: UUID bytes (16), offset in the segment u32.
    static let indexIDEntrySize = 20

    /// Byte offsets of the index file header's fields.
    enum IndexField {
        static let layoutVersion = 8
        static let base = 16
        static let eventCount = 24
        static let segmentBytes = 32
        static let batchCount = 40
        static let streamCount = 44
        static let lastHash = 48
    }

    // MARK: Limits

    /// A stream name is 1...256 bytes of UTF-8.
    public static let maxStreamNameBytes = 256
    /// An event type is 1...256 bytes of UTF-8.
    public static let maxEventTypeBytes = 256
    /// Default and ceiling for the encoded size of one event.
    public static let defaultMaxEventBytes = 4 << 20
    public static let maxEventBytesCeiling = 64 << 20
    /// A batch may hold at most this many events.
    public static let maxEventsPerBatch = 1 << 20
    /// A batch's raw payload may not exceed this (fits UInt32, LZ4's bound).
    static let maxBatchPayloadBytes = 0x7E00_0000

    /// Segment file name for a base position: 20 digits, zero-padded.
    static func segmentFileName(base: UInt64) -> String {
        stem(base) + segmentSuffix
    }

    static func indexFileName(base: UInt64) -> String {
        stem(base) + indexSuffix
    }

    /// What an index file without its segment means, as the open and the
    /// verifier say it: Chronik never deletes a segment and indexes only
    /// segments that exist, so the segment was lost.
    /// `newest`: no segment of the log starts after it. Only then can the
    /// loss be accepted by moving the index file away; a segment missing in
    /// the middle leaves a gap no open accepts (stop 37: the advice to move
    /// the index away led to a second refusal, "gap or overlap").
    static func missingSegment(base: UInt64, newest: Bool) -> String {
        let advice = newest
            ? "restore the segment from a copy, or move this index file away to accept the loss"
            : "restore the segment from a copy (chronik backup makes them); the events after it cannot be read without it, read-only commands read those before it"
        return "segment missing: this is the index of the segment starting at position \(base), and \(segmentFileName(base: base)) is not there: its events are lost from this log (\(advice))"
    }

    /// Two segment files that do not follow each other: one message for the
    /// open and for verify (stop 37: "gap or overlap" and "a gap between
    /// segment files" for one damage).
    static func segmentGap(base: UInt64, previousEnd head: UInt64) -> String {
        if base > head {
            // Not only a missing file: a previous segment cut at a batch
            // boundary ends early too (stop 42, a helper: the message named
            // a file that never existed as the one to restore).
            return "segment starts at position \(base) but the previous one ends at \(head): a gap between segment files (events \(head)…\(base - 1) are not in this log: the previous segment was cut short, or a segment \(segmentFileName(base: head)) is missing; restore from a copy; read-only commands read the events before it)"
        }
        return "segment starts at position \(base) but the previous one ends at \(head): an overlap between segment files"
    }

    static func stem(_ base: UInt64) -> String {
        let digits = String(base)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    /// Parses a segment file name back to its base position.
    public static func baseFromSegmentFileName(_ name: String) -> UInt64? {
        base(fromFileName: name, suffix: segmentSuffix)
    }

    /// Parses an index file name back to its base position.
    static func baseFromIndexFileName(_ name: String) -> UInt64? {
        base(fromFileName: name, suffix: indexSuffix)
    }

    /// Whether `name` is a file a log keeps in its directory: the metadata
    /// file, the lock, a segment or an index — and, with `orTemporary`, the
    /// `.tmp` sibling of one of them (what an interrupted write leaves).
    public static func isLogFileName(_ name: String, orTemporary: Bool = false) -> Bool {
        if orTemporary, name.hasSuffix(".tmp") { return isLogFileName(String(name.dropLast(4))) }
        return name == metaFileName || name == lockFileName
            || baseFromSegmentFileName(name) != nil || baseFromIndexFileName(name) != nil
            || isRepairRecordName(name)
    }

    /// Files `chronik repair --truncate` leaves in the log directory:
    /// `repair-<time>.txt` (the record) and `repair-<time>.cut` (the bytes).
    public static func isRepairRecordName(_ name: String) -> Bool {
        name.hasPrefix("repair-") && (name.hasSuffix(".txt") || name.hasSuffix(".cut"))
    }

    /// The directory of read-model snapshots inside a log directory: a
    /// cache derived from the log (docs/PROJECTIONS.md).
    public static let snapshotsDirectoryName = "snapshots"

    /// Whether stored bytes start like a `chronik.meta` file.
    public static func hasMetaMagic(_ bytes: some Sequence<UInt8>) -> Bool {
        Array(bytes.prefix(metaMagic.count)) == metaMagic
    }

    private static func base(fromFileName name: String, suffix: String) -> UInt64? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }
}
