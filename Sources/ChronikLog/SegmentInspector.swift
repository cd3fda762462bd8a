// A batch-by-batch view of one segment file, for `chronik inspect` and for
// anyone debugging the format. Like the verifier it reads the file
// directly, so it works on a log that `EventLog.open` refuses.

/// The fixed header of a segment file, as found on disk.
public struct SegmentHeaderInfo: Hashable, Sendable {
    /// Format version in the header.
    public var formatVersion: UInt16
    /// Position of the segment's first event, from the header.
    public var basePosition: Position
    /// The header's stored CRC32C.
    public var checksum: UInt32
    /// Why the header is not valid (bad magic, checksum, base that does not
    /// match the file name), or nil.
    public var problem: String?
}

/// One batch of a segment: where it is, what it holds, how it is stored.
public struct BatchSummary: Hashable, Sendable {
    /// Byte offset of the batch in the segment file.
    public var offset: Int64
    /// Bytes the batch occupies: header and stored payload.
    public var length: Int
    /// Position of the batch's first event.
    public var basePosition: Position
    /// Events in the batch.
    public var count: Int
    /// How the payload is stored.
    public var compression: Compression
    /// Payload bytes before compression.
    public var rawPayloadBytes: Int
    /// Payload bytes as stored.
    public var storedPayloadBytes: Int
    /// The stream all events of the batch belong to.
    public var stream: String
    /// Version of the batch's first event in its stream.
    public var firstStreamVersion: StreamVersion
    /// When the writer committed the batch.
    public var recordedAt: Timestamp
    /// Earliest occurredAt of its events.
    public var minOccurredAt: Timestamp
    /// Latest occurredAt of its events.
    public var maxOccurredAt: Timestamp
    /// The stored CRC32C (verified before the batch is returned).
    public var checksum: UInt32
    /// The chain hash of the batch before it, as stored.
    public var previousHash: ChainHash
    /// This batch's chain hash (computed).
    public var chainHash: ChainHash
    /// The header's flags byte: the codec in the low two bits, bit 2
    /// "unsynced predecessor" (FORMAT.md, recovery rule 4).
    public var flags: UInt8 = 0
    /// Whether the payload is stored in LZ4 blocks (codec 2, FORMAT.md
    /// "LZ4 in blocks"), not in one block; `compression` is `.lz4` for both.
    public var isInLZ4Blocks: Bool { flags & LogFormat.codecMask == LogFormat.codecLZ4Blocks }
    /// Whether bytes before this batch were not yet synced when it was
    /// written (flag bit 2).
    public var unsyncedPredecessor: Bool { flags & LogFormat.unsyncedPredecessorFlag != 0 }
}

/// How the scan of a segment ended.
public enum SegmentEnd: Hashable, Sendable {
    /// Every byte was part of a valid batch.
    case clean(offset: Int64)
    /// A batch starts at `offset` but the file ends before it does, or only
    /// zero bytes follow: a write that never completed (in the last segment,
    /// a torn tail that a writer's open truncates).
    case incomplete(offset: Int64, reason: String)
    /// The bytes at `offset` are not a valid batch.
    case damaged(offset: Int64, reason: String)
    /// From `offset`, right after the last batch, to the end of the file
    /// every byte is zero: space a writer keeps zeroed ahead of its writes
    /// (`LogOptions.zeroAheadBytes`), or a write none of whose pages
    /// reached the disk. No batch is there (a writer's open cuts it).
    case zeroed(offset: Int64, bytes: Int64)
}

/// Reads one segment file batch by batch without opening the log.
///
/// ```swift
/// let inspector = try SegmentInspector(path: dir + "/00000000000000000000.log")
/// while let batch = try inspector.nextBatch() { print(batch.offset, batch.count) }
/// if case .damaged(let offset, let reason) = inspector.end { print(offset, reason) }
/// ```
///
/// Each `nextBatch()` reads, checksums and decompresses one batch. Not
/// thread-safe.
public final class SegmentInspector {
    /// Path of the segment file.
    public let path: String
    /// Size of the file when it was opened.
    public let fileBytes: Int64
    /// The header, or nil when the file is shorter than one.
    public let header: SegmentHeaderInfo?
    /// Set once `nextBatch()` has returned nil.
    public private(set) var end: SegmentEnd?

    private let file: any StorageFile
    private var scanner: BatchScanner?

    /// Opens a segment file for inspection.
    ///
    /// - Parameters:
    ///   - path: The segment file; its name gives the expected base position
    ///     when it follows the `{20 digits}.log` pattern.
    ///   - storage: The file layer.
    /// - Throws: `ChronikLogError(.io)` when the file cannot be opened.
    public init(path: String, storage: any Storage = PosixStorage()) throws {
        self.path = path
        file = try storage.openFile(path, create: false, readOnly: true)
        do {
            fileBytes = try file.size()
            let raw = try file.readBytes(count: LogFormat.segmentHeaderSize, at: 0)
            if raw.count < LogFormat.segmentHeaderSize {
                header = nil
                end = .incomplete(offset: 0, reason: "file of \(raw.count) bytes is shorter than a segment header")
                return
            }
            let base = loadLE(raw, LogFormat.SegmentField.base, as: UInt64.self)
            let name = String(path.split(separator: "/").last ?? "")
            let expectedBase = LogFormat.baseFromSegmentFileName(name) ?? base
            let problem = Segment.checkHeader(raw, base: expectedBase)
            header = SegmentHeaderInfo(formatVersion: loadLE(raw, LogFormat.SegmentField.formatVersion, as: UInt16.self), basePosition: Position(base),
                                       checksum: loadLE(raw, LogFormat.SegmentField.checksum, as: UInt32.self), problem: problem)
            if let problem {
                end = .damaged(offset: 0, reason: problem)
            } else {
                scanner = BatchScanner(file: file, path: path, start: Int64(LogFormat.segmentHeaderSize), end: fileBytes)
            }
        } catch {
            file.close()
            throw error
        }
    }

    deinit { file.close() }

    private struct UndecodableBatch: Error {
        let offset: Int64
        let reason: String
    }

    /// The next batch, or nil at the end of the file or at the first bytes
    /// that are not a valid batch (then `end` says which and where).
    ///
    /// - Throws: `ChronikLogError(.io)` on read errors.
    public func nextBatch() throws -> BatchSummary? {
        guard end == nil, var s = scanner else { return nil }
        defer { scanner = s }
        let step = try s.next { header, bytes, offset -> Result<BatchSummary, UndecodableBatch> in
            do {
                let decoded = try DecodedBatch(batch: bytes, header: header, verifyChecksum: false)
                return .success(BatchSummary(
                    offset: offset, length: header.length, basePosition: Position(header.basePosition), count: header.count,
                    compression: header.codec == LogFormat.codecNone ? .none : .lz4,
                    rawPayloadBytes: header.rawPayloadLength, storedPayloadBytes: header.length - LogFormat.batchHeaderSize,
                    stream: decoded.stream, firstStreamVersion: StreamVersion(header.firstStreamVersion),
                    recordedAt: Timestamp(microseconds: header.recordedAt),
                    minOccurredAt: Timestamp(microseconds: header.minOccurredAt),
                    maxOccurredAt: Timestamp(microseconds: header.maxOccurredAt),
                    checksum: header.crc, previousHash: header.previousHash, chainHash: chainHash(ofBatch: bytes),
                    flags: header.flags))
            } catch {
                return .failure(UndecodableBatch(offset: offset, reason: reason(error)))
            }
        }
        switch step {
        case .success(.success(let summary)):
            return summary
        case .success(.failure(let e)):
            end = .damaged(offset: e.offset, reason: "batch payload does not decode: \(e.reason)")
            return nil
        case .failure(.end):
            end = .clean(offset: s.offset)
            return nil
        case .failure(let failure):
            // As recovery decides it (FORMAT.md, rule 4), with no writer
            // assumed; except that a batch whole there now was written while
            // this read (a live writer over its zeroed space, stop 41: a
            // helper saw DAMAGED for a healthy live log).
            let (offset, reason) = failure.location
            if try s.isZero(from: offset) {
                end = .zeroed(offset: offset, bytes: fileBytes - offset)
            } else if try s.isValidBatchNow(at: offset) {
                end = .clean(offset: offset)
            } else if let damage = try s.corruptionReason(for: failure) {
                end = .damaged(offset: offset, reason: damage)
            } else {
                end = .incomplete(offset: offset, reason: reason)
            }
            return nil
        }
    }
}
