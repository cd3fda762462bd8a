import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventLog {
    /// Opens the log in `directory`, creating it when absent (and allowed).
    ///
    /// Recovery runs before this returns: sealed segments are checked
    /// against their index files (rebuilt when missing or stale), the last
    /// segment is scanned batch by batch, and a torn final batch that was
    /// never acknowledged is truncated — reported in `recovery`. Corruption
    /// anywhere else refuses the open with the file and byte offset.
    ///
    /// - Throws: `ChronikLogError` — `.notALog`, `.locked` (another writer),
    ///   `.corruption`, `.unsupportedVersion`, `.io`, `.invalidOption`.
    public static func open(at directory: String, options: LogOptions = LogOptions()) throws -> EventLog {
        guard options.segmentSizeBytes >= 4096 else {
            throw ChronikLogError(.invalidOption, "segment size must be at least 4096 bytes, got \(options.segmentSizeBytes)")
        }
        guard options.maxEventBytes >= 1, options.maxEventBytes <= LogFormat.maxEventBytesCeiling else {
            throw ChronikLogError(.invalidOption, "maximum event size must be 1...\(LogFormat.maxEventBytesCeiling) bytes, got \(options.maxEventBytes)")
        }
        var dir = directory
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        let storage = options.storage
        let metaPath = dir + "/" + LogFormat.metaFileName

        if !storage.exists(dir) {
            guard options.createIfMissing, !options.readOnly else {
                throw ChronikLogError(.notALog, "no log at this path", path: dir)
            }
            try storage.createDirectory(dir)
            let parent = parentDirectory(dir)
            if !parent.isEmpty { try? storage.syncDirectory(parent) }
        }
        guard storage.isDirectory(dir) else {
            throw ChronikLogError(.notALog, "not a directory", path: dir)
        }
        // Refuse a foreign directory before taking the lock creates LOCK in it.
        // So is a directory this open would not create a log in (stop 32:
        // `forget` in an empty directory left a LOCK behind).
        // What a creation killed before its chronik.meta leaves (LOCK, the
        // metadata's temporary file) is no log yet: created again (stop 35:
        // every command then called the directory "no Chronik log").
        let leftOfCreation: Set<String> = [LogFormat.lockFileName, LogFormat.metaFileName + ".tmp"]
        if !options.readOnly, !storage.exists(metaPath),
           try !options.createIfMissing || storage.listDirectory(dir).contains(where: { !leftOfCreation.contains($0) }) {
            // Another writer creating this log right now (its files before
            // its chronik.meta): said as the lock is (stop 34: "no
            // chronik.meta" to the second of two creating it at once).
            let free: Void? = Self.retryingPastAForkedChild(dir, storage: storage) {
                storage.isWriterActive(dir + "/" + LogFormat.lockFileName) ? nil : ()
            }
            if free == nil { throw Self.lockedError(dir, storage: storage) }
            throw Self.noMeta(dir, storage: storage)
        }
        var lock: (any StorageLock)?
        if !options.readOnly {
            guard let l = try Self.retryingPastAForkedChild(dir, storage: storage, { try storage.lockExclusive(dir + "/" + LogFormat.lockFileName) })
            else { throw Self.lockedError(dir, storage: storage) }
            lock = l
            Self.noteHolder(dir, storage: storage)
            writersHere.withLock { _ = $0.insert(dir) }
        }
        do {
            let compression: Compression
            let createdAt: Timestamp
            let version: UInt16
            if storage.exists(metaPath) {
                (compression, createdAt, version) = try readMeta(metaPath, storage: storage)
            } else {
                let entries = try storage.listDirectory(dir).filter { !leftOfCreation.contains($0) }
                guard entries.isEmpty, options.createIfMissing, !options.readOnly else {
                    throw Self.noMeta(dir, storage: storage)
                }
                createdAt = Timestamp.now()
                try writeMeta(metaPath, compression: options.compression, createdAt: createdAt, storage: storage)
                compression = options.compression
                version = LogFormat.metaVersion(for: compression)
            }
            return try recover(directory: dir, compression: compression, createdAt: createdAt, formatVersion: version, options: options,
                               lock: lock)
        } catch {
            if let lock {
                lock.release()
                _ = writersHere.withLock { $0.remove(dir) }
            }
            throw error
        }
    }

    /// A directory without chronik.meta: no log, or a log that lost it
    /// (segments beside it: said so, stop 35; it read as "no Chronik log").
    static func noMeta(_ dir: String, storage: any Storage) -> ChronikLogError {
        let segments = ((try? storage.listDirectory(dir)) ?? []).filter { $0.hasSuffix(LogFormat.segmentSuffix) }.count
        guard segments > 0 else {
            return ChronikLogError(.notALog, "directory holds no Chronik log (no \(LogFormat.metaFileName))", path: dir)
        }
        return ChronikLogError(.notALog, "\(LogFormat.metaFileName) is missing, beside \(segments) segment file\(segments == 1 ? "" : "s"): "
                               + "the log lost its metadata file (its format version and codec); restore it from a backup of the log", path: dir)
    }

    /// A chronik.meta without the metadata magic: with segment files beside
    /// it, a damaged one (stop 42, a helper: one flipped bit of the magic
    /// read as "not a Chronik log", no offset).
    static func badMetaMagic(_ path: String, storage: any Storage) -> ChronikLogError {
        let dir = parentDirectory(path)
        let segments = ((try? storage.listDirectory(dir)) ?? []).filter { $0.hasSuffix(LogFormat.segmentSuffix) }.count
        guard segments > 0 else {
            return ChronikLogError(.notALog, "\(LogFormat.metaFileName) is not a Chronik metadata file", path: path)
        }
        var e = ChronikLogError(.corruption, "\(LogFormat.metaFileName) does not begin with the metadata magic, beside \(segments) segment file\(segments == 1 ? "" : "s"): "
                                + "the log's metadata file is damaged; restore it from a backup of the log", path: path)
        e.offset = 0
        return e
    }

    static func writeMeta(_ path: String, compression: Compression, createdAt: Timestamp, storage: any Storage) throws {
        var m: [UInt8] = []
        m.append(contentsOf: LogFormat.metaMagic)
        // A new log states the version its batches may need from the start.
        m.appendLE(LogFormat.metaVersion(for: compression))
        m.append(compression == .lz4 ? LogFormat.codecLZ4 : LogFormat.codecNone)
        m.append(0)
        m.appendLE(UInt32(0))
        m.appendLE(createdAt.microseconds)
        m.append(contentsOf: [UInt8](repeating: 0, count: LogFormat.metaSize - 4 - m.count))
        m.appendLE(crc32c(m))
        try storage.writeFileDurably(path, bytes: m)
    }

    static func readMeta(_ path: String, storage: any Storage) throws -> (Compression, createdAt: Timestamp, version: UInt16) {
        let f = try storage.openFile(path, create: false, readOnly: true)
        defer { f.close() }
        let m = try f.readBytes(count: LogFormat.metaSize + 1, at: 0)
        guard m.count >= 8, Array(m[0..<8]) == LogFormat.metaMagic else {
            throw Self.badMetaMagic(path, storage: storage)
        }
        guard m.count == LogFormat.metaSize,
              loadLE(m, LogFormat.MetaField.checksum, as: UInt32.self) == crc32c(Array(m[0..<LogFormat.MetaField.checksum])) else {
            throw ChronikLogError.corrupt("metadata file checksum mismatch or wrong size", path: path, offset: 0)
        }
        let version = loadLE(m, LogFormat.MetaField.formatVersion, as: UInt16.self)
        try LogFormat.checkMetaVersion(version, path: path)
        let createdAt = Timestamp(microseconds: loadLE(m, LogFormat.MetaField.createdAt, as: Int64.self))
        let compression = m[LogFormat.MetaField.compression]
        switch compression {
        case LogFormat.codecNone: return (.none, createdAt, version)
        case LogFormat.codecLZ4: return (.lz4, createdAt, version)
        default:
            throw ChronikLogError.corrupt("unknown compression \(compression) in metadata", path: path,
                                          offset: Int64(LogFormat.MetaField.compression))
        }
    }

    /// Everything recovery learns about one segment.
    struct ScannedSegment {
        var table: Segment.Table
        var batches: [BatchEntry]
        var ids: IDList
    }

    static func recover(directory dir: String, compression: Compression, createdAt: Timestamp, formatVersion: UInt16,
                        options: LogOptions, lock: (any StorageLock)?) throws -> EventLog {
        let storage = options.storage
        let names = try storage.listDirectory(dir)
        var bases = names.compactMap(LogFormat.baseFromSegmentFileName).sorted()
        // A read-only opener reads a damaged final batch leniently only while
        // a writer may be copying it in; with no writer the rule is the
        // writer's: a complete batch that fails its checks is corruption.
        let besideWriter = options.readOnly && writerMayBeWriting(directory: dir, storage: storage)
        let readUpToDamage = options.readOnly && options.readUpToDamage
        var report = RecoveryReport(truncatedFile: nil, truncatedAtOffset: nil, bytesTruncated: 0, lastValidPosition: nil, rebuiltIndexes: [], segmentsScanned: 0)
        // Chronik never deletes a segment and indexes only segments that
        // exist: an index file without its segment is a lost segment. A
        // writer would otherwise append a new history where its events were
        // (stop 32: with the newest segment deleted, the log opened and
        // took appends at the old positions). Opening up to the damage reads
        // what is there.
        var missingSegment: ChronikLogError?
        if let orphan = Set(names.compactMap(LogFormat.baseFromIndexFileName)).subtracting(bases).min() {
            missingSegment = ChronikLogError.corrupt(LogFormat.missingSegment(base: orphan, newest: orphan > (bases.last ?? 0)),
                                                     path: dir + "/" + LogFormat.indexFileName(base: orphan), offset: 0)
            if !readUpToDamage { throw missingSegment! }
        }
        if bases.isEmpty {
            if options.readOnly {
                report.damage = missingSegment
                return EventLog(directory: dir, compression: compression, createdAt: createdAt, formatVersion: formatVersion, recovery: report,
                                options: options, lock: nil,
                                segments: [], head: 0, lastHash: .genesis, writer: nil, toIndex: [])
            }
            try createSegmentFile(directory: dir, base: 0, storage: storage).close()
            bases = [0]
        }
        var segments: [Segment] = []
        var head: UInt64 = bases[0]
        var lastHash = ChainHash.genesis
        guard bases[0] == 0 else {
            throw ChronikLogError.corrupt("first segment starts at position \(bases[0]), not 0: segments are missing", path: dir + "/" + LogFormat.segmentFileName(base: bases[0]), offset: 0)
        }
        var activeBatches: [BatchEntry] = []
        var activeIDs: [EventID] = []
        // Stream and id indexes are built in the background from these.
        var toIndex: [IndexRun] = []
        // Index files rebuilt for sealed segments, written only once every
        // segment has passed: an open that refuses the log writes nothing
        // (stop 35: a refused open had first rewritten the index of a
        // sealed segment cut short, the one file that still said so).
        var checkpoints: [(segment: ScannedSegment, base: UInt64)] = []
        var preloaded: IndexLoader?
        var activeIndex = Writer.ActiveIndex.none

        let nameSet = Set(names)
        let indexFiles = loadIndexFiles(directory: dir, bases: bases, names: nameSet, storage: storage)
        for (i, base) in bases.enumerated() {
            let isLast = i == bases.count - 1
            let path = dir + "/" + LogFormat.segmentFileName(base: base)
            guard base == head else {
                // The missing segment's own index names it best.
                let gap = missingSegment.flatMap { m in m.path == dir + "/" + LogFormat.indexFileName(base: head) ? m : nil }
                    ?? ChronikLogError.corrupt(LogFormat.segmentGap(base: base, previousEnd: head), path: path, offset: 0)
                // Reading up to the damage: the segments before the gap read
                // (stop 37: read, export and stats printed nothing).
                guard readUpToDamage else { throw gap }
                report.damage = gap
                break
            }
            let file = try storage.openFile(path, create: false, readOnly: options.readOnly || !isLast)
            do {
                let size = try file.size()
                // What the active segment's index file says was synced: the
                // segment may not hold less (stop 34: a cut or zeroed tail
                // of synced batches was taken for an interrupted write).
                let activeIndexed = isLast && nameSet.contains(LogFormat.indexFileName(base: base))
                // Reading up to the damage, the segment's intact batches are
                // read first and the loss reported after them (below).
                if activeIndexed, !readUpToDamage, let synced = syncedExtent(directory: dir, base: base, storage: storage, beyond: size) {
                    // Named where the whole batches end, as verify names it
                    // (stop 37: the open said the file's size, verify the
                    // end of the last whole batch, for one damage).
                    let scan = try? scanSegment(file: file, path: path, base: base, size: size, previousHash: lastHash, isLast: true,
                                                readOnly: true, stopAtDamage: true)
                    let end = scan?.tornAt ?? size
                    throw ChronikLogError.corrupt(Self.syncedDataLost(synced, base: base, endsAt: end), path: path, offset: end)
                }
                if isLast && size < Int64(LogFormat.segmentHeaderSize) && !options.readOnly {
                    // A segment whose creation was interrupted holds no event.
                    try file.truncate(to: 0)
                    try file.write(Segment.encodeHeader(base: base), at: 0)
                    try file.sync()
                    report.segmentsScanned += 1
                    segments.append(Segment(base: base, directory: dir, file: file, table: Segment.Table(
                        committedBytes: Int64(LogFormat.segmentHeaderSize), eventCount: 0, batchOffsets: [], batchBases: [], lastHash: lastHash, sealed: false)))
                    continue
                }
                let header = try file.readBytes(count: LogFormat.segmentHeaderSize, at: 0)
                if let problem = Segment.checkHeader(header, base: base) {
                    if isLast && options.readOnly && header.count < LogFormat.segmentHeaderSize {
                        file.close()
                        // Its index file says it held synced batches: not one
                        // a writer is creating, but one cut below its header
                        // (stop 42, a helper: stats, read and export showed
                        // the log without them, exit 0).
                        if activeIndexed, let synced = syncedExtent(directory: dir, base: base, storage: storage, beyond: size) {
                            let lost = ChronikLogError.corrupt(Self.syncedDataLost(synced, base: base, endsAt: size), path: path, offset: size)
                            guard readUpToDamage else { throw lost }
                            report.damage = lost
                        }
                        continue  // the writer is creating it right now
                    }
                    throw ChronikLogError.corrupt(problem, path: path, offset: 0)
                }
                var scanned: ScannedSegment?
                /// Where the active segment's last batch differs from the
                /// one a whole index file, written for exactly its size,
                /// describes (judged once the scan found it whole).
                var changedUnderIndex: Int64?
                // The active segment's index file, written at the last clean
                // close, serves only while it describes every byte of the
                // segment (FORMAT.md, "Index file"); once appends grew the
                // segment it is stale and the scan below decides.
                if !isLast || nameSet.contains(LogFormat.indexFileName(base: base)) {
                    let loaded: Result<ScannedSegment, IndexProblem>
                    if let early = indexFiles[i], early.size == size {
                        loaded = early.result
                    } else {
                        loaded = loadCheckpoint(directory: dir, base: base, segment: file, segmentSize: size, storage: storage, isActive: isLast)
                    }
                    switch loaded {
                    case .success(let s):
                        scanned = s
                        report.indexesLoaded += 1
                        if isLast { activeIndex = .current }
                    case .failure(let problem):
                        if isLast {
                            activeIndex = .stale
                            changedUnderIndex = problem.changedAt
                        } else if let note = problem.note {
                            report.indexNotes.append("\(LogFormat.indexFileName(base: base)): \(note)")
                        }
                    }
                    if let s = scanned {
                        // The checkpoint trusts the segment's bytes; still tie it to the chain.
                        if let first = s.batches.first {
                            let h = try file.readBytes(count: LogFormat.batchHeaderSize, at: first.offset)
                            let prev = Array(h.dropFirst(LogFormat.BatchField.previousHash).prefix(32))
                            guard prev == lastHash.bytes else {
                                throw ChronikLogError(.chainMismatch, "first batch does not chain to the previous segment's last batch", path: path, offset: first.offset)
                            }
                        }
                    }
                }
                if scanned == nil {
                    report.segmentsScanned += 1
                    let result = try scanSegment(file: file, path: path, base: base, size: size, previousHash: lastHash, isLast: isLast,
                                                 readOnly: besideWriter, stopAtDamage: readUpToDamage)
                    var damage = result.damage
                    let dataEnd = result.tornAt ?? size
                    if damage == nil, activeIndexed, result.tornAt != nil || readUpToDamage,
                       let synced = syncedExtent(directory: dir, base: base, storage: storage, beyond: dataEnd) {
                        let lost = ChronikLogError.corrupt(Self.syncedDataLost(synced, base: base, endsAt: dataEnd), path: path, offset: dataEnd)
                        guard readUpToDamage else { throw lost }
                        // Read-only, up to the damage: the batches before it
                        // read (stop 35: the whole segment was left out, 70
                        // intact events of 80).
                        damage = lost
                    }
                    if let damage {
                        report.damage = damage
                        var s = result.segment
                        s.table.sealed = true
                        toIndex.append(IndexRun(base: base, batches: s.batches, ids: s.ids))
                        head = base + s.table.eventCount
                        lastHash = s.table.lastHash
                        segments.append(Segment(base: base, directory: dir, file: file, table: s.table))
                        break
                    }
                    scanned = result.segment
                    if let at = changedUnderIndex, result.tornAt == nil {
                        // A whole index written at a clean close for exactly
                        // this many bytes, and the last batch is whole but
                        // not the one it describes: changed, not stale
                        // (stop 42, a helper: a last batch rewritten with
                        // its checksum recomputed was taken, the index
                        // dropped at the first append, and verify then
                        // passed). Damage, as verify calls it.
                        let changed = ChronikLogError.corrupt(
                            "the segment changed under its index file \(LogFormat.indexFileName(base: base)), written at a clean close "
                                + "for exactly its \(size) bytes: the batch at byte \(at) is not the one it describes", path: path, offset: at)
                        guard readUpToDamage else { throw changed }
                        if report.damage == nil { report.damage = changed }
                    }
                    if let torn = result.tornAt {
                        // Zeros to the end from a batch boundary hold no
                        // batch: the space a writer zeroes ahead of its
                        // writes (LogOptions.zeroAheadBytes), or a write none
                        // of whose pages reached the disk. Cut by a writer
                        // like a torn tail, but not called one. Beside a
                        // live writer, a batch whole there now is its
                        // latest append, read on the next refresh.
                        let tail = BatchScanner(file: file, path: path, start: torn, end: size)
                        let zerosFrom = try tail.trailingZerosStart(from: torn)
                        if besideWriter, try tail.isValidBatchNow(at: torn) {
                            // Nothing to report.
                        } else if zerosFrom == torn {
                            report.zeroedBytesCut = size - torn
                            report.zeroedFile = path
                        } else {
                            // The torn batch's bytes, and apart from them the
                            // zeros after them (stop 42: a 154-byte torn batch
                            // over zeroed space was "a torn tail of 673,988
                            // bytes").
                            let zeros = try tail.tornBatchEnd(at: torn, zerosFrom: zerosFrom)
                            report.truncatedFile = path
                            report.truncatedAtOffset = torn
                            report.bytesTruncated = zeros - torn
                            if zeros < size {
                                report.zeroedBytesCut = size - zeros
                                report.zeroedFile = path
                            }
                        }
                        if !options.readOnly {
                            try file.truncate(to: torn)
                            try file.sync()
                        }
                    }
                    if !isLast {
                        report.rebuiltIndexes.append(LogFormat.indexFileName(base: base))
                        if !options.readOnly { checkpoints.append((result.segment, base)) }
                    }
                }
                var s = scanned!
                s.table.sealed = !isLast
                toIndex.append(IndexRun(base: base, batches: s.batches, ids: s.ids))
                head = base + s.table.eventCount
                lastHash = s.table.lastHash
                segments.append(Segment(base: base, directory: dir, file: file, table: s.table))
                if isLast {
                    activeBatches = s.batches
                    activeIDs = s.ids.array
                }
            } catch let error as ChronikLogError where readUpToDamage && (error.code == .corruption || error.code == .chainMismatch) {
                // Stop before this segment; what came before reads.
                file.close()
                report.damage = error
                break
            } catch {
                file.close()
                for s in segments { s.file.close() }
                throw error
            }
        }
        for c in checkpoints { try? writeCheckpoint(directory: dir, segment: c.segment, base: c.base, storage: storage) }
        checkpoints = []
        if options.indexLoading != .onFirstUse, toIndex.contains(where: \.ids.isHashOrdered) {
            // The index files' id table, loaded once the gate is open.
            // Room for the ids scanned and for appends, without growing.
            let spare = 2 * toIndex.reduce(0) { max($0, $1.ids.count) } + toIndex.reduce(0) { $0 + ($1.ids.isHashOrdered ? 0 : $1.ids.count) }
            preloaded = IndexLoader(toIndex.filter(\.ids.isHashOrdered), spare: spare)
        }
        report.lastValidPosition = head > 0 ? Position(head - 1) : nil
        if report.damage == nil { report.damage = missingSegment }
        var writer: Writer?
        if !options.readOnly, let active = segments.last {
            writer = Writer(directory: dir, options: options, compression: compression, active: active,
                            activeBatches: activeBatches, activeIDs: activeIDs, activeIndex: activeIndex, head: head, lastHash: lastHash)
        }
        let log = EventLog(directory: dir, compression: compression, createdAt: createdAt, formatVersion: formatVersion, recovery: report,
                           options: options, lock: lock,
                           segments: segments, head: head, lastHash: lastHash, writer: writer, toIndex: toIndex,
                           preloaded: preloaded)
        writer?.log = log
        return log
    }

    /// The one rule for "a writer is still writing this": a live writer
    /// holds the write lock on `LOCK`, and may be copying the final batch
    /// in right now. A read-only open, `refresh()` and `LogVerifier` ask
    /// this before they decide a damaged final batch (FORMAT.md, rule 4).
    static func writerMayBeWriting(directory: String, storage: any Storage) -> Bool {
        storage.isWriterActive(directory + "/" + LogFormat.lockFileName)
    }

    static func createSegmentFile(directory: String, base: UInt64, storage: any Storage) throws -> any StorageFile {
        let path = directory + "/" + LogFormat.segmentFileName(base: base)
        let f = try storage.openFile(path, create: true, readOnly: false)
        do {
            try f.truncate(to: 0)
            try f.write(Segment.encodeHeader(base: base), at: 0)
            try f.sync()
            try storage.syncDirectory(directory)
        } catch {
            f.close()
            throw error
        }
        return f
    }

    /// Why a sealed segment's index file was not used.
    struct IndexProblem: Error {
        /// Nil when the file is simply absent (nothing to note).
        var note: String?
        /// Where the segment differs from a whole index file written for
        /// exactly its size: the segment changed under its index.
        var changedAt: Int64? = nil
    }

    /// The index files of `bases`' segments, each checked against its
    /// segment, loaded on every core (stop 21: one after another they were
    /// most of a 10 M-event log's reopen); by segment number, with the
    /// segment size each was checked against. Each file is independent:
    /// `recover` ties them into the chain in log order and loads any whose
    /// segment has changed size since, or that is missing here, itself.
    /// Nothing is loaded here when the storage asks for its reads in one
    /// order (`allowsConcurrentReads`): `recover` then loads each in turn.
    private static func loadIndexFiles(directory: String, bases: [UInt64], names: Set<String>, storage: any Storage)
        -> [Int: (size: Int64, result: Result<ScannedSegment, IndexProblem>)]
    {
        let loaded = Mutex<[Int: (size: Int64, result: Result<ScannedSegment, IndexProblem>)]>([:])
        let withIndex = bases.indices.filter { names.contains(LogFormat.indexFileName(base: bases[$0])) }
        guard withIndex.count > 1, storage.allowsConcurrentReads else { return [:] }
        DispatchQueue.concurrentPerform(iterations: withIndex.count) { k in
            let i = withIndex[k]
            guard let file = try? storage.openFile(directory + "/" + LogFormat.segmentFileName(base: bases[i]), create: false, readOnly: true) else { return }
            defer { file.close() }
            guard let size = try? file.size() else { return }
            let result = loadCheckpoint(directory: directory, base: bases[i], segment: file, segmentSize: size, storage: storage,
                                        isActive: i == bases.count - 1)
            loaded.withLock { $0[i] = (size, result) }
        }
        return loaded.withLock { $0 }
    }

    /// A segment's index file, checked against the segment: its base, its
    /// size and the chain hash of its last batch. For the active segment
    /// (`isActive`) also every batch's header and checksum, where the
    /// index file puts it: any difference and the index is not used
    /// (nothing noted), so the scan that follows decides, with the scan's
    /// errors (a damaged acknowledged batch refuses the open with file and
    /// offset, a torn tail is cut). Only the payloads' decoding and the
    /// chain hashes of the batches before the last are left to `verify`,
    /// as for sealed segments.
    static func loadCheckpoint(directory: String, base: UInt64, segment: any StorageFile, segmentSize: Int64,
                               storage: any Storage, isActive: Bool = false) -> Result<ScannedSegment, IndexProblem> {
        let result = readCheckpoint(directory: directory, base: base, segment: segment, segmentSize: segmentSize, storage: storage)
        guard isActive, case .success(let s) = result else { return result }
        var scanner = BatchScanner(file: segment, path: directory + "/" + LogFormat.segmentFileName(base: base),
                                   start: Int64(LogFormat.segmentHeaderSize), end: segmentSize)
        for expected in s.batches {
            guard case .success(true)? = try? scanner.next({ header, _, offset in
                offset == expected.offset && header.basePosition == expected.basePosition && header.count == Int(expected.count)
                    && header.firstStreamVersion == expected.firstStreamVersion
            }) else { return .failure(IndexProblem(note: nil)) }
        }
        guard scanner.offset == segmentSize else { return .failure(IndexProblem(note: nil)) }
        return result
    }

    /// Reads a sealed segment's index file and checks that it belongs to
    /// that exact segment: its base, the segment's length, and the chain
    /// hash of the segment's last batch, hashed from the segment's bytes.
    /// The index is a cache: any failure means it is rebuilt from the
    /// segment, never trusted over it.
    private static func readCheckpoint(directory: String, base: UInt64, segment: any StorageFile, segmentSize: Int64,
                                       storage: any Storage) -> Result<ScannedSegment, IndexProblem> {
        let path = directory + "/" + LogFormat.indexFileName(base: base)
        guard storage.exists(path) else { return .failure(IndexProblem(note: nil)) }
        let cp: SegmentCheckpoint
        do {
            let f = try storage.openFile(path, create: false, readOnly: true)
            defer { f.close() }
            let size = try f.size()
            guard size < Int64(Int32.max) else { return .failure(IndexProblem(note: "larger than any index file")) }
            cp = try SegmentCheckpoint.decode(try f.readBytes(count: Int(size), at: 0))
        } catch let e as MalformedBytes {
            return .failure(IndexProblem(note: e.reason))
        } catch {
            return .failure(IndexProblem(note: "unreadable (\(error))"))
        }
        guard cp.base == base, cp.segmentBytes == segmentSize else {
            return .failure(IndexProblem(note: "describes another segment (base \(cp.base), \(cp.segmentBytes) bytes; "
                                         + "the segment has base \(base), \(segmentSize) bytes)"))
        }
        guard let last = cp.batches.last, last.offset >= Int64(LogFormat.segmentHeaderSize), last.offset < segmentSize,
              let tail = try? segment.readBytes(count: Int(segmentSize - last.offset), at: last.offset),
              tail.count >= LogFormat.batchHeaderSize, tail.withUnsafeBytes({ chainHash(ofBatch: $0) }) == cp.lastHash else {
            return .failure(IndexProblem(note: "its last chain hash does not match the segment's last batch", changedAt: cp.batches.last?.offset))
        }
        return .success(ScannedSegment(
            table: Segment.Table(committedBytes: cp.segmentBytes, eventCount: cp.eventCount,
                                 batchOffsets: cp.batches.map(\.offset), batchBases: cp.batches.map(\.basePosition),
                                 lastHash: cp.lastHash, sealed: true),
            batches: cp.batches, ids: cp.ids))
    }

    /// The bytes and events an active segment's index file describes, when
    /// it is whole (its checksum matches) and of this segment: the index is
    /// written at a clean close after the segment's fdatasync, so those
    /// bytes were synced and acknowledged. Nil when it is absent or broken.
    ///
    /// Only an index that claims more than `end` bytes is of interest (a
    /// loss): its header's length is read first, and the whole file (to
    /// check its checksum) only then, so that a clean reopen, whose index
    /// describes the segment exactly, does not read it twice.
    static func syncedExtent(directory: String, base: UInt64, storage: any Storage,
                             beyond end: Int64) -> (bytes: Int64, events: UInt64)? {
        let path = directory + "/" + LogFormat.indexFileName(base: base)
        guard let f = try? storage.openFile(path, create: false, readOnly: true) else { return nil }
        defer { f.close() }
        let headerEnd = LogFormat.IndexField.segmentBytes + 8
        guard let header = try? f.readBytes(count: headerEnd, at: 0), header.count == headerEnd,
              // Compared unsigned: the header is read before the checksum, so
              // it may be damaged (stop 43's CI: a flipped top bit trapped in
              // the conversion to Int64 and crashed the open).
              loadLE(header, LogFormat.IndexField.segmentBytes, as: UInt64.self) > UInt64(max(end, 0)) else { return nil }
        guard let size = try? f.size(), size < Int64(Int32.max), let bytes = try? f.readBytes(count: Int(size), at: 0),
              let cp = try? SegmentCheckpoint.decode(bytes), cp.base == base, cp.segmentBytes > end else { return nil }
        return (cp.segmentBytes, cp.eventCount)
    }

    /// Why an active segment that holds less than its index file describes
    /// is refused: synced, acknowledged events are gone.
    static func syncedDataLost(_ synced: (bytes: Int64, events: UInt64), base: UInt64, endsAt end: Int64, sealed: Bool = false) -> String {
        "the segment's data ends at byte \(end), but its index file \(LogFormat.indexFileName(base: base)) (written after the segment was synced, "
            + (sealed ? "when it was sealed" : "at a clean close or when it was sealed") + ") describes \(synced.events) event\(synced.events == 1 ? "" : "s") in \(synced.bytes) bytes: "
            + "synced events are missing (restore the segment from a backup; an open does not cut acknowledged events)"
    }

    static func writeCheckpoint(directory: String, segment: ScannedSegment, base: UInt64, storage: any Storage) throws {
        let cp = SegmentCheckpoint(base: base, eventCount: segment.table.eventCount, segmentBytes: segment.table.committedBytes,
                                   lastHash: segment.table.lastHash, batches: segment.batches, ids: segment.ids)
        try storage.writeFileDurably(directory + "/" + LogFormat.indexFileName(base: base), bytes: cp.encode())
    }

    /// Reads every batch of a segment, checking checksums, positions and the
    /// hash chain. In the last segment a torn tail is reported (not thrown);
    /// anything else that fails is corruption.
    static func scanSegment(file: any StorageFile, path: String, base: UInt64, size: Int64, previousHash: ChainHash, isLast: Bool,
                            readOnly: Bool = false, stopAtDamage: Bool = false)
        throws -> (segment: ScannedSegment, tornAt: Int64?, damage: ChronikLogError?)
    {
        var scanner = BatchScanner(file: file, path: path, start: Int64(LogFormat.segmentHeaderSize), end: size)
        var batches: [BatchEntry] = []
        var offsets: [Int64] = []
        var bases: [UInt64] = []
        var ids: [EventID] = []
        ids.reserveCapacity(Int(min(size / 64, 1 << 20)))
        var expected = base
        var hash = previousHash
        var tornAt: Int64?
        var damage: ChronikLogError?
        scan: while true {
          do {
            let step = try scanner.next { header, bytes, offset -> Void in
                guard header.basePosition == expected else {
                    throw ChronikLogError.corrupt("batch base position \(header.basePosition), expected \(expected)", path: path, offset: offset)
                }
                guard header.chains(to: hash) else {
                    throw ChronikLogError(.chainMismatch, "batch does not chain to the previous batch (hash chain broken)", path: path, offset: offset)
                }
                do {
                    var decoded = try DecodedBatch(batch: bytes, header: header, verifyChecksum: false)
                    ids.append(contentsOf: try decoded.allIDs())
                    batches.append(BatchEntry(offset: offset, basePosition: header.basePosition, count: UInt32(header.count),
                                              stream: decoded.stream, firstStreamVersion: header.firstStreamVersion))
                } catch {
                    throw ChronikLogError.corrupt("batch payload does not decode: \(reason(error))", path: path, offset: offset)
                }
                offsets.append(offset)
                bases.append(header.basePosition)
                expected += UInt64(header.count)
                hash = chainHash(ofBatch: bytes)
            }
            switch step {
            case .success: continue
            case .failure(.end): break scan
            case .failure(let failure):
                // Only the last segment can have a torn tail; a read-only
                // opener may be looking at a batch the writer is copying in.
                let (offset, reason) = failure.location
                guard isLast else {
                    throw ChronikLogError.corrupt("sealed segment: \(reason)", path: path, offset: offset)
                }
                if let damage = try scanner.corruptionReason(for: failure, lenient: readOnly) {
                    throw ChronikLogError.corrupt(damage, path: path, offset: offset)
                }
                tornAt = offset
                break scan
            }
          } catch let error as ChronikLogError where stopAtDamage && (error.code == .corruption || error.code == .chainMismatch) {
            // Read-only, up to the damage: the batches before it stand.
            damage = error
            break scan
          }
        }
        let end = tornAt ?? scanner.offset
        return (ScannedSegment(table: Segment.Table(committedBytes: end, eventCount: expected - base, batchOffsets: offsets,
                                                   batchBases: bases, lastHash: hash, sealed: !isLast),
                               batches: batches, ids: IDList(ids)), tornAt, damage)
    }
}

extension EventLog {
    /// Writes who holds the writer lock into `LOCK` (its content is only a
    /// note: the lock is the fcntl lock), so that a second writer is told
    /// which process to stop (stop 37, an operator: "another process" named
    /// none). Best effort: a failure leaves the note out, not the open.
    static func noteHolder(_ dir: String, storage: any Storage) {
        let path = dir + "/" + LogFormat.lockFileName
        let command = CommandLine.arguments.prefix(4).map { $0.count > 120 ? String($0.prefix(120)) + "…" : $0 }.joined(separator: " ")
        let since = Timestamp(microseconds: Timestamp.now().microseconds / 1_000_000 * 1_000_000)
        let note = "pid \(getpid()), since \(since.rfc3339), \(command)\n"
        guard let file = try? storage.openFile(path, create: true, readOnly: false) else { return }
        defer { file.close() }
        let bytes = Array(note.utf8)
        try? file.truncate(to: 0)
        try? bytes.withUnsafeBytes { try file.write($0, at: 0) }
    }

    /// The logs this process holds as their writer (by directory).
    static let writersHere = Mutex<Set<String>>([])

    /// How long a lock that a child of this process may share is waited for.
    static let forkedChildWait: Duration = .seconds(5)

    /// Whether the lock on `dir` may be held only by a child this process
    /// forked: `LOCK`'s note names this process, and no log of this process
    /// holds it. A child another thread forks while a log is open shares
    /// its lock until it execs (the descriptor is close-on-exec), which on
    /// a loaded machine outlasts `PosixStorage.lockRetry` (stop 42: a test
    /// that reopened a log while others spawned processes failed one run
    /// in three, "lock held … by pid" of its own process).
    static func heldByAForkedChild(_ dir: String, storage: any Storage) -> Bool {
        guard case .running(let line)? = lockNote(dir, storage: storage), line.hasPrefix("pid \(getpid()),") else { return false }
        return !writersHere.withLock { $0.contains(dir) }
    }

    /// `attempt` (taking or testing the lock on `dir`), tried again while
    /// its refusal may come only from a forked child (`heldByAForkedChild`),
    /// for at most `forkedChildWait`; nil when it still refuses.
    static func retryingPastAForkedChild<T>(_ dir: String, storage: any Storage, _ attempt: () throws -> T?) rethrows -> T? {
        let deadline = ContinuousClock.now + forkedChildWait
        while true {
            if let done = try attempt() { return done }
            guard heldByAForkedChild(dir, storage: storage), ContinuousClock.now < deadline else { return nil }
            usleep(10_000)
        }
    }

    /// `.locked`, naming the holder as its note in `LOCK` says (when it
    /// left one).
    static func lockedError(_ dir: String, storage: any Storage) -> ChronikLogError {
        let holder: String
        switch lockNote(dir, storage: storage) {
        case .running(let line)?: holder = " by \(line)"
        // The note of an earlier writer outlives it; a holder from before
        // stop 37 writes none (stop 38, an upgrade: a stale note named a
        // process that had exited, one an operator might have killed once
        // its pid was reused).
        case .gone(let pid)?: holder = "; its holder left no note (the note there names pid \(pid), which is not running)"
        case nil: holder = ""
        }
        return ChronikLogError(.locked, "another process is writing this log (lock held on \(LogFormat.lockFileName)\(holder))", path: dir)
    }

    /// What the note in a log's `LOCK` says of its writer.
    enum LockNote {
        /// A running process: its note line (pid, since, command line).
        case running(String)
        /// A process no longer running, by pid.
        case gone(Substring)
    }

    static func lockNote(_ dir: String, storage: any Storage) -> LockNote? {
        guard let file = try? storage.openFile(dir + "/" + LogFormat.lockFileName, create: false, readOnly: true) else { return nil }
        defer { file.close() }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = (try? buffer.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }) ?? 0
        let text = String(decoding: buffer.prefix(n), as: UTF8.self)
        guard let line = text.split(separator: "\n").first, line.hasPrefix("pid "),
              line.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else { return nil }
        let pid = line.dropFirst(4).prefix { $0.isNumber }
        if let n = Int32(pid), kill(n, 0) == 0 || errno == EPERM { return .running(String(line)) }
        return .gone(pid)
    }

    /// The note line (pid, since, command line) of the running process that
    /// holds the log in `dir`, when it left one: a command refused by the
    /// lock can say what to do beside that holder (a server's API).
    public static func lockHolder(_ dir: String, storage: any Storage = PosixStorage()) -> String? {
        if case .running(let line)? = lockNote(dir, storage: storage) { return line }
        return nil
    }
}
