#if canImport(Glibc)
import Glibc
#endif

/// What `LogRepair.truncate` would cut so that a log refused as corrupt
/// opens again: the damaged batch in the active segment and everything
/// after it.
public struct RepairPlan: Hashable, Sendable, CustomStringConvertible {
    /// The active segment file.
    public var file: String
    /// Where the cut starts: the damaged batch.
    public var offset: Int64
    /// How many bytes are cut (to the end of the file).
    public var bytes: Int64
    /// Why the batch at `offset` is damage (the verifier's words).
    public var reason: String
    /// The last good position: the last event that stays (nil: none stays).
    public var lastGoodPosition: Position?
    /// The first position the cut drops.
    public var firstLostPosition: Position
    /// Whole batches (checksum matching) found in the cut bytes after the
    /// damaged one, and their events: acknowledged data the cut drops too.
    public var intactBatchesCut: Int
    public var intactEventsCut: UInt64
    /// The damaged batch's own event count, when its header still parses.
    public var damagedBatchEvents: Int?
    /// Events of the batches the active segment's index file (written
    /// after the segment was synced) places past the segment's end: synced,
    /// acknowledged events already lost, which a cut accepts (stop 35: the
    /// plan said "cut 0 bytes" and the loss went unsaid). Events still in
    /// the file are the cut's, not counted here.
    public var syncedEventsLost: UInt64?

    public var description: String {
        "\(file) at byte \(offset): cut \(bytes) bytes (\(reason))"
    }
}

/// `chronik repair`: the operator's way out of a log whose open is
/// refused for damage in the active segment. Never automatic: corruption
/// refuses the open precisely because cutting it could drop acknowledged
/// data; an operator who decides to cut gets the plan first and the cut
/// bytes kept beside the log.
public enum LogRepair {
    /// What would have to be cut, or nil when the log opens as it is (a
    /// torn tail the writer's open truncates by itself is not a repair).
    ///
    /// - Throws: `ChronikLogError` — `.corruption` when the damage is not
    ///   in the active segment's batches (a sealed segment, a header, the
    ///   metadata file), which cutting cannot repair; `.notALog`, `.io`.
    public static func plan(directory: String, storage: any Storage = PosixStorage()) throws -> RepairPlan? {
        try plan(directory: directory, storage: storage, holdingWriterLock: false)
    }

    static func plan(directory: String, storage: any Storage, holdingWriterLock: Bool) throws -> RepairPlan? {
        let report = try LogVerifier.verify(directory: directory, anchor: nil, storage: storage, holdingWriterLock: holdingWriterLock)
        guard let failure = report.failure else { return nil }
        // A damaged index file is a cache, not data: the writer's open
        // ignores it and rebuilds it from its segment (FORMAT.md, "Index
        // file"), so the log opens as it is and nothing is cut.
        if failure.file.hasSuffix(LogFormat.indexSuffix) { return nil }
        var dir = directory
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        let bases = try storage.listDirectory(dir).compactMap(LogFormat.baseFromSegmentFileName).sorted()
        guard let last = bases.last, failure.file == dir + "/" + LogFormat.segmentFileName(base: last),
              failure.offset >= Int64(LogFormat.segmentHeaderSize) else {
            throw ChronikLogError(.corruption, "this damage (\(failure.reason)) is not in the active segment's batches: "
                                  + "cutting the end of the log cannot repair it; restore the log from a copy",
                                  path: failure.file, offset: failure.offset)
        }
        let file = try storage.openFile(failure.file, create: false, readOnly: true)
        defer { file.close() }
        let size = try file.size()
        let rest = try file.readBytes(count: Int(size - failure.offset), at: failure.offset)
        var plan = RepairPlan(file: failure.file, offset: failure.offset, bytes: size - failure.offset, reason: failure.reason,
                              lastGoodPosition: report.headPosition.value > 0 ? Position(report.headPosition.value - 1) : nil,
                              firstLostPosition: report.headPosition, intactBatchesCut: 0, intactEventsCut: 0)
        let index = String(failure.file.dropLast(LogFormat.segmentSuffix.count)) + LogFormat.indexSuffix
        if let f = try? storage.openFile(index, create: false, readOnly: true) {
            defer { f.close() }
            // Only the batches the index places where the file no longer
            // has bytes are lost already; those still in the file are cut
            // (stop 40, a helper: damage in the middle of an intact file
            // was called "15000 synced events already lost").
            if let n = try? f.size(), n < Int64(Int32.max), let bytes = try? f.readBytes(count: Int(n), at: 0),
               let cp = try? SegmentCheckpoint.decode(bytes), cp.base == last {
                let gone = cp.batches.reduce(UInt64(0)) { $0 + ($1.offset >= size ? UInt64($1.count) : 0) }
                if gone > 0 { plan.syncedEventsLost = gone }
            }
        }
        rest.withUnsafeBytes { raw in
            if raw.count >= LogFormat.batchHeaderSize,
               case .success(let h)? = BatchHeader.parse(UnsafeRawBufferPointer(rebasing: raw[0..<LogFormat.batchHeaderSize])) {
                plan.damagedBatchEvents = h.count
            }
            for (_, h) in wholeBatches(in: raw, from: 1) {
                plan.intactBatchesCut += 1
                plan.intactEventsCut += UInt64(h.count)
            }
        }
        return plan
    }

    /// Cuts what `plan` finds, holding the writer lock: first writes the
    /// cut bytes to `repair-<stamp>.cut` and a record of the repair to
    /// `repair-<stamp>.txt` in the log directory (both synced, with the
    /// directory), then truncates the segment and syncs it.
    ///
    /// - Parameter stamp: names the record files (the CLI passes the UTC
    ///   time, e.g. `20261202T071500Z`).
    /// - Returns: the plan carried out and the record's path; nil plan when
    ///   there was nothing to cut.
    /// - Throws: `ChronikLogError` — `.locked` when a writer has the log
    ///   open, and what `plan` throws.
    public static func truncate(directory: String, stamp: String, storage: any Storage = PosixStorage()) throws
        -> (plan: RepairPlan, record: String)?
    {
        var dir = directory
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        // Not a log: said before the lock would create LOCK in the directory.
        guard storage.exists(dir + "/" + LogFormat.metaFileName) else {
            throw ChronikLogError(.notALog, "directory holds no Chronik log (no \(LogFormat.metaFileName))", path: dir)
        }
        guard let lock = try storage.lockExclusive(dir + "/" + LogFormat.lockFileName) else {
            throw ChronikLogError(.locked, "another process is writing this log (lock held on \(LogFormat.lockFileName)); stop it first", path: dir)
        }
        defer { lock.release() }
        guard let plan = try plan(directory: dir, storage: storage, holdingWriterLock: true) else { return nil }
        let segment = try storage.openFile(plan.file, create: false, readOnly: false)
        defer { segment.close() }
        let cut = try segment.readBytes(count: Int(plan.bytes), at: plan.offset)
        let base = dir + "/repair-" + stamp
        // Both durable (directory included) before the first byte is cut.
        try storage.writeFileDurably(base + ".cut", bytes: cut)
        try storage.writeFileDurably(base + ".txt", bytes: Array(record(plan, stamp: stamp).utf8))
        try segment.truncate(to: plan.offset)
        try segment.sync()
        // The active segment's index file (a clean close's) describes the
        // bytes before the cut; a cache, so it goes (the next close writes
        // one for what is left).
        if plan.file.hasSuffix(LogFormat.segmentSuffix) {
            try? storage.remove(String(plan.file.dropLast(LogFormat.segmentSuffix.count)) + LogFormat.indexSuffix)
        }
        return (plan, base + ".txt")
    }

    /// The repair record: what was cut, why, and where the bytes are.
    static func record(_ plan: RepairPlan, stamp: String) -> String {
        var lines = [
            "chronik repair \(stamp)",
            "file: \(plan.file)",
            "offset: \(plan.offset)",
            "bytes cut: \(plan.bytes) (saved in repair-\(stamp).cut)",
            "reason: \(plan.reason)",
            "last good position: \(plan.lastGoodPosition.map { "\($0.value)" } ?? "none (the log is empty)")",
            "positions cut: from \(plan.firstLostPosition.value) on",
        ]
        if let n = plan.damagedBatchEvents { lines.append("damaged batch declares \(n) event\(n == 1 ? "" : "s")") }
        lines.append("whole batches cut after it: \(plan.intactBatchesCut) (\(plan.intactEventsCut) events)")
        if let n = plan.syncedEventsLost {
            lines.append("synced events lost before the repair (the index file described them): \(n)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Complete batches that match their checksum, starting at any byte
    /// from `from` on.
    static func wholeBatches(in raw: UnsafeRawBufferPointer, from: Int) -> [(offset: Int, header: BatchHeader)] {
        let magic = withUnsafeBytes(of: LogFormat.batchMagic.littleEndian) { Array($0) }
        var found: [(Int, BatchHeader)] = []
        var i = from
        while i + LogFormat.batchHeaderSize <= raw.count {
            if raw[i] == magic[0] && raw[i + 1] == magic[1] && raw[i + 2] == magic[2] && raw[i + 3] == magic[3],
               case .success(let h)? = BatchHeader.parse(UnsafeRawBufferPointer(rebasing: raw[i..<(i + LogFormat.batchHeaderSize)])),
               i + h.length <= raw.count,
               batchChecksum(UnsafeRawBufferPointer(rebasing: raw[i..<(i + h.length)])) == h.crc {
                found.append((i, h))
                i += h.length
                continue
            }
            i += 1
        }
        return found
    }
}
