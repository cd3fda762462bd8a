import ChronikTestSupport
import Foundation
@testable import ChronikLog

#if canImport(Glibc)
import Glibc
#endif


/// An in-memory `Storage` that injects the faults a real disk and kernel
/// can produce, deterministically from a seed.
///
/// The model:
/// - A file (inode) has *current* content (what reads see) and *durable*
///   content (as of its last successful `sync`). Writes and truncates since
///   then are kept, in order, as pending operations.
/// - Directory entries (creates, renames, removes) are durable only once
///   `syncDirectory` of their parent directory succeeds. Directories
///   themselves are durable as soon as they are created (simplification:
///   the log only ever creates its own directory, before anything else).
/// - `crash()` is a power loss: every name reverts to its durable entry and
///   every file to its durable content plus a prefix of its pending
///   operations (none, all, or a random prefix whose last write may be torn:
///   only a prefix of its bytes lands, up to a sector boundary of the file,
///   `LogFormat.sectorBytes`: a disk persists whole sectors), or (`reorderPages`) any subset of
///   the 4 KiB pages the unsynced writes changed. Open handles die; the lock table
///   empties (the process is gone). The storage then refuses every call
///   with EIO until `restart()`, so the dead log cannot touch the new state.
/// - A failed `sync` drops the file's unsynced data, as Linux may after a
///   failed writeback (the dirty pages are marked clean and then evicted).
/// - Faults are armed as "fail the Nth call of this kind" and fire once.
///   Errors are `ChronikLogError(.io, ..., errno:)` as the POSIX backend
///   throws them.
final class FaultyStorage: Storage, @unchecked Sendable {
    // Everything below is guarded by `lock`.
    private let lock = NSLock()
    private var rng: SplitMix64
    private var names: [String: Inode] = [:]
    private var durableNames: [String: Inode] = [:]
    private var directories: Set<String> = ["/"]
    private var locks: [String: FaultyLock] = [:]
    private var generation = 0
    private var halted = false
    private var faults: [Fault] = []
    private var counts: [Fault.Kind: Int] = [:]
    private var mutatingCalls = 0
    private var crashAtCall: Int?
    private var crashMode: CrashMode = .random
    private var crashLanding: Int?
    private var flipOnRead: (nth: Int, pathSuffix: String, at: (offset: Int, bit: Int)?)?
    private var readCount = 0
    private var capacity: Int?
    private var fired: [String] = []
    private var firedKinds: Set<Fault.Kind> = []

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
    }

    final class Inode {
        var current: [UInt8] = []
        var durable: [UInt8] = []
        var pending: [Op] = []
        enum Op {
            case write(offset: Int, bytes: [UInt8])
            case truncate(size: Int)
        }
    }

    /// A fault that fires on the first call of its kind (on a path ending in
    /// `pathSuffix`) at or after the `nth` call of that kind since arming.
    struct Fault: Sendable, CustomStringConvertible {
        enum Kind: String, Hashable, Sendable, CaseIterable {
            case write, sync, syncDirectory, create, rename, truncate, remove, read
        }
        var kind: Kind
        var nth: Int
        var errno: Int32 = EIO
        /// For writes: a random prefix of the bytes lands before the error
        /// (up to a sector boundary of the file, as a kernel's buffered
        /// write stops at a page; none when the write crosses none).
        var partial = false
        /// Only calls on paths with this suffix count ("" = all).
        var pathSuffix = ""
        /// For syncs: the kernel kept the dirty pages (they may still reach
        /// the disk) instead of dropping them.
        var keepsData = false

        var description: String {
            "\(kind)#\(nth) \(errno == ENOSPC ? "ENOSPC" : errno == EIO ? "EIO" : "errno \(errno)")"
                + (partial ? " partial" : "") + (keepsData ? " keeping data" : "")
                + (pathSuffix.isEmpty ? "" : " on *\(pathSuffix)")
        }
    }

    /// What a power loss keeps of the data written since the last sync.
    enum CrashMode: String, Sendable, CaseIterable {
        /// Nothing: every file is exactly its durable content.
        case dropUnsynced
        /// Everything written reached the disk (only names need a dir sync).
        case keepUnsynced
        /// A random prefix of the pending operations; the last one kept may
        /// be a torn write.
        case random
        /// Page cache writeback in any order: each 4 KiB page
        /// (`LogFormat.pageBytes`) that unsynced writes changed reaches the
        /// disk or not, independently (the header page of a batch on disk,
        /// a later page still zero); the file's length is its new one or
        /// only as far as the durable data and the pages kept.
        case reorderPages
    }

    // MARK: Test controls

    /// Arms faults; each fires once, on its `nth` matching call from now on.
    func arm(_ new: [Fault]) {
        lock.withLock {
            for f in new {
                var f = f
                f.nth += counts[f.kind, default: 0]
                faults.append(f)
            }
        }
    }

    /// Crashes (as `crash(mode)`) on the `nth` mutating call from now on
    /// (write, truncate, sync, create, rename, remove, directory sync). A
    /// write that is hit first lands `landing` bytes of its start (when nil,
    /// a random prefix ending at a sector boundary of the file, or none or
    /// all of it) as an unsynced write, which `mode` then keeps or drops.
    func crash(atCall nth: Int, mode: CrashMode, landing: Int? = nil) {
        lock.withLock {
            crashAtCall = mutatingCalls + nth
            crashMode = mode
            crashLanding = landing
        }
    }

    /// Flips one random bit in what the `nth` read from now on returns
    /// (files ending in `pathSuffix`); the stored bytes stay intact. With
    /// `at`, flips that bit of that file offset instead, in the first read
    /// from the `nth` on that covers it.
    func flipBitOnRead(nth: Int, pathSuffix: String = LogFormat.segmentSuffix, at: (offset: Int, bit: Int)? = nil) {
        lock.withLock { flipOnRead = (readCount + nth, pathSuffix, at) }
    }

    /// Limits the total size of all files; writes beyond fail with ENOSPC
    /// after writing what fits. nil: unlimited.
    func setCapacity(_ bytes: Int?) {
        lock.withLock { capacity = bytes }
    }

    /// Total bytes in all files (current content).
    var usedBytes: Int { lock.withLock { usedBytesLocked() } }

    /// Disarms every fault and the crash point; lifts the capacity limit.
    func disarm() {
        lock.withLock {
            faults = []
            crashAtCall = nil
            flipOnRead = nil
            capacity = nil
        }
    }

    /// Whether armed faults, a crash point or a read flip are still waiting.
    var hasArmedFaults: Bool { lock.withLock { !faults.isEmpty || crashAtCall != nil || flipOnRead != nil } }

    /// Descriptions of the faults that fired, in order.
    var firedFaults: [String] { lock.withLock { fired } }

    /// Whether a fault of one of these kinds fired since the last `restart()`.
    func didFire(_ kinds: Set<Fault.Kind>) -> Bool { lock.withLock { !firedKinds.isDisjoint(with: kinds) } }

    /// Whether a crash happened and `restart()` was not called yet.
    var isHalted: Bool { lock.withLock { halted } }

    /// A power loss now (see the type's documentation).
    func crash(_ mode: CrashMode) {
        lock.withLock { crashLocked(mode) }
    }

    /// After a crash: the machine is back; calls work again, faults are off.
    func restart() {
        lock.withLock {
            halted = false
            firedKinds = []
            faults = []
            crashAtCall = nil
            flipOnRead = nil
            capacity = nil
        }
    }

    /// Flips bit `bit` of byte `offset` of a file, in both its durable and
    /// current content (damage at rest).
    func flipBit(path: String, offset: Int, bit: Int) {
        lock.withLock {
            guard let inode = names[path] else { preconditionFailure("no file \(path)") }
            precondition(offset < inode.current.count, "offset \(offset) past the end of \(path)")
            inode.current[offset] ^= UInt8(1 << bit)
            if offset < inode.durable.count { inode.durable[offset] ^= UInt8(1 << bit) }
        }
    }

    /// The current content of a file.
    func contents(of path: String) -> [UInt8]? {
        lock.withLock { names[path]?.current }
    }

    /// Replaces a file's content durably (forging bytes on disk).
    func setContents(of path: String, _ bytes: [UInt8]) {
        lock.withLock {
            guard let inode = names[path] else { preconditionFailure("no file \(path)") }
            inode.current = bytes
            inode.durable = bytes
            inode.pending = []
        }
    }

    /// Names of the files in a directory, sorted.
    func files(in dir: String) -> [String] {
        lock.withLock { names.keys.filter { parent(of: $0) == dir }.map { String($0.dropFirst(dir.count + 1)) }.sorted() }
    }

    // MARK: Storage

    /// Faults fire on the n-th call of a kind, counted across files, so a
    /// seed replays only when the calls come in one order: the open reads
    /// the index files one after another here (stop 21's parallel load
    /// made `schedulesReplay` fail once in CI: read#536 hit another file).
    var allowsConcurrentReads: Bool { false }

    func createDirectory(_ path: String) throws {
        try lock.withLock {
            try checkAlive(path)
            var p = normalized(path)
            var chain: [String] = []
            while !directories.contains(p) && p != "" {
                chain.append(p)
                p = parent(of: p)
            }
            if names[normalized(path)] != nil { throw ioError(EEXIST, "cannot create directory", path) }
            for d in chain { directories.insert(d) }
        }
    }

    func listDirectory(_ path: String) throws -> [String] {
        try lock.withLock {
            try checkAlive(path)
            let dir = normalized(path)
            guard directories.contains(dir) else { throw ioError(ENOENT, "cannot list directory", path) }
            let files = names.keys.filter { parent(of: $0) == dir }
            let dirs = directories.filter { $0 != dir && parent(of: $0) == dir }
            return (files + dirs).map { String($0.split(separator: "/").last ?? "") }.sorted()
        }
    }

    func exists(_ path: String) -> Bool {
        lock.withLock { names[normalized(path)] != nil || directories.contains(normalized(path)) }
    }

    func isDirectory(_ path: String) -> Bool {
        lock.withLock { directories.contains(normalized(path)) }
    }

    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        try lock.withLock {
            let p = normalized(path)
            try checkAlive(p)
            if let inode = names[p] {
                return FaultyFile(storage: self, inode: inode, path: p, readOnly: readOnly, generation: generation)
            }
            guard create else { throw ioError(ENOENT, "cannot open", p) }
            guard directories.contains(parent(of: p)) else { throw ioError(ENOENT, "cannot open", p) }
            try mutatingCall(.create, p)
            let inode = Inode()
            names[p] = inode
            return FaultyFile(storage: self, inode: inode, path: p, readOnly: readOnly, generation: generation)
        }
    }

    func remove(_ path: String) throws {
        try lock.withLock {
            let p = normalized(path)
            try checkAlive(p)
            guard names[p] != nil else { throw ioError(ENOENT, "cannot remove", p) }
            try mutatingCall(.remove, p)
            names[p] = nil
        }
    }

    func rename(_ from: String, to: String) throws {
        try lock.withLock {
            let f = normalized(from), t = normalized(to)
            try checkAlive(f)
            guard let inode = names[f] else { throw ioError(ENOENT, "cannot rename to \(t)", f) }
            try mutatingCall(.rename, f)
            names[f] = nil
            names[t] = inode
        }
    }

    func syncDirectory(_ path: String) throws {
        try lock.withLock {
            let dir = normalized(path)
            try checkAlive(dir)
            guard directories.contains(dir) else { throw ioError(ENOENT, "cannot sync directory", dir) }
            try mutatingCall(.syncDirectory, dir)
            for p in Set(names.keys).union(durableNames.keys) where parent(of: p) == dir {
                durableNames[p] = names[p]
            }
        }
    }

    func lockExclusive(_ path: String) throws -> (any StorageLock)? {
        try lock.withLock {
            let p = normalized(path)
            try checkAlive(p)
            if names[p] == nil {
                try mutatingCall(.create, p)
                names[p] = Inode()
            }
            if locks[p] != nil { return nil }
            let l = FaultyLock(storage: self, path: p, generation: generation)
            locks[p] = l
            return l
        }
    }

    // MARK: File operations (called by FaultyFile)

    func read(_ file: FaultyFile, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try lock.withLock {
            try checkHandle(file)
            readCount += 1
            counts[.read, default: 0] += 1
            if let i = matchFault(.read, file.path) {
                let f = faults.remove(at: i)
                fired.append("\(f) at \(file.path)")
                firedKinds.insert(.read)
                throw ioError(f.errno, "read failed", file.path)
            }
            let data = file.inode.current
            let start = Int(offset)
            guard start < data.count else { return 0 }
            let n = min(buffer.count, data.count - start)
            data.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n)
            }
            if let flip = flipOnRead, readCount >= flip.nth, file.path.hasSuffix(flip.pathSuffix), n > 0,
               flip.at.map({ $0.offset >= start && $0.offset < start + n }) ?? true {
                flipOnRead = nil
                let at = flip.at.map { $0.offset - start } ?? rng.int(0...(n - 1)), bit = flip.at?.bit ?? rng.int(0...7)
                buffer[at] ^= UInt8(1 << bit)
                fired.append("bit flip on read of \(file.path) at byte \(start + at) bit \(bit)")
            }
            return n
        }
    }

    func write(_ file: FaultyFile, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try lock.withLock {
            try checkHandle(file)
            guard !file.readOnly else { throw ioError(EBADF, "write failed", file.path) }
            let all = [UInt8](bytes)
            if let crashAt = crashAtCall, mutatingCalls + 1 >= crashAt {
                // The power fails during this write: a prefix of it may land.
                mutatingCalls += 1
                let landed = min(crashLanding ?? tornLanding(offset: Int(offset), count: all.count), all.count)
                if landed > 0 { apply(.write(offset: Int(offset), bytes: Array(all.prefix(landed))), to: file.inode) }
                fired.append("crash during write of \(all.count) bytes at \(file.path)+\(offset) (\(landed) landed)")
                crashLocked(crashMode)
                throw ioError(EIO, "write failed", file.path)
            }
            try mutatingCall(.write, file.path) { f in
                guard f.partial, all.count > 1 else { return nil }
                let landed = tornLanding(offset: Int(offset), count: all.count, strict: true)
                if landed > 0 { apply(.write(offset: Int(offset), bytes: Array(all.prefix(landed))), to: file.inode) }
                return "\(landed) of \(all.count) bytes landed"
            }
            if let capacity {
                let growth = max(0, Int(offset) + all.count - file.inode.current.count)
                let free = capacity - usedBytesLocked()
                if growth > free {
                    let fits = max(0, all.count - (growth - max(0, free)))
                    if fits > 0 { apply(.write(offset: Int(offset), bytes: Array(all.prefix(fits))), to: file.inode) }
                    firedKinds.insert(.write)
                    fired.append("disk full writing \(all.count) bytes at \(file.path)+\(offset) (\(fits) landed)")
                    throw ioError(ENOSPC, "write failed", file.path)
                }
            }
            apply(.write(offset: Int(offset), bytes: all), to: file.inode)
        }
    }

    func sync(_ file: FaultyFile) throws {
        try lock.withLock {
            try checkHandle(file)
            var drops = true
            do {
                try mutatingCall(.sync, file.path) { f in
                    drops = !f.keepsData
                    return nil
                }
            } catch let e as ChronikLogError where !halted && drops {
                // Like Linux after a failed writeback: the dirty pages are
                // gone; what is on disk is what the file now holds.
                file.inode.current = file.inode.durable
                file.inode.pending = []
                throw e
            }
            file.inode.durable = file.inode.current
            file.inode.pending = []
        }
    }

    func size(_ file: FaultyFile) throws -> Int64 {
        try lock.withLock {
            try checkHandle(file)
            return Int64(file.inode.current.count)
        }
    }

    func truncate(_ file: FaultyFile, to size: Int64) throws {
        try lock.withLock {
            try checkHandle(file)
            guard !file.readOnly else { throw ioError(EBADF, "ftruncate failed", file.path) }
            try mutatingCall(.truncate, file.path)
            apply(.truncate(size: Int(size)), to: file.inode)
        }
    }

    func close(_ file: FaultyFile) {
        lock.withLock { file.isClosed = true }
    }

    func release(_ l: FaultyLock) {
        lock.withLock {
            // A lock from before a crash died with its process.
            if locks[l.path] === l { locks[l.path] = nil }
        }
    }

    // MARK: Internals (lock held)

    private func apply(_ op: Inode.Op, to inode: Inode) {
        Self.apply(op, to: &inode.current)
        inode.pending.append(op)
    }

    private static func apply(_ op: Inode.Op, to data: inout [UInt8]) {
        switch op {
        case .write(let offset, let bytes):
            if data.count < offset + bytes.count {
                data.append(contentsOf: [UInt8](repeating: 0, count: offset + bytes.count - data.count))
            }
            data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        case .truncate(let size):
            if size < data.count { data.removeLast(data.count - size) } else {
                data.append(contentsOf: [UInt8](repeating: 0, count: size - data.count))
            }
        }
    }

    private func usedBytesLocked() -> Int {
        var seen = Set<ObjectIdentifier>()
        var total = 0
        for inode in names.values where seen.insert(ObjectIdentifier(inode)).inserted { total += inode.current.count }
        return total
    }

    private func crashLocked(_ mode: CrashMode) {
        var done = Set<ObjectIdentifier>()
        // In path order: the random draws must not depend on hash order.
        for (_, inode) in durableNames.sorted(by: { $0.key < $1.key }) where done.insert(ObjectIdentifier(inode)).inserted {
            if mode == .reorderPages {
                inode.durable = reorderedPages(durable: inode.durable, current: inode.current)
                inode.current = inode.durable
                inode.pending = []
                continue
            }
            var data = inode.durable
            let keep: Int
            switch mode {
            case .reorderPages: preconditionFailure("handled above")
            case .dropUnsynced: keep = 0
            case .keepUnsynced: keep = inode.pending.count
            case .random: keep = rng.int(0...inode.pending.count)
            }
            for op in inode.pending.prefix(keep) { Self.apply(op, to: &data) }
            if mode == .random, keep < inode.pending.count, case .write(let offset, let bytes) = inode.pending[keep], rng.chance(1, in: 2) {
                // A torn write: only a prefix of its bytes reached the disk.
                let landed = tornLanding(offset: offset, count: bytes.count)
                Self.apply(.write(offset: offset, bytes: Array(bytes.prefix(landed))), to: &data)
            }
            inode.durable = data
            inode.current = data
            inode.pending = []
        }
        names = durableNames
        locks = [:]
        generation += 1
        halted = true
        crashAtCall = nil
        fired.append("crash (\(mode.rawValue))")
    }

    private func tornLanding(offset: Int, count: Int, strict: Bool = false) -> Int {
        // How much of a write of `count` bytes at `offset` lands when it is
        // cut short: up to a sector boundary inside it (a power cut persists
        // whole sectors; a kill -9 or a failed buffered write stops at a
        // page). Unless `strict` (some but not all of it), also none or all.
        let sector = LogFormat.sectorBytes
        var cuts = strict ? [] : [0, count]
        var b = (offset / sector + 1) * sector
        while b < offset + count { cuts.append(b - offset); b += sector }
        return cuts.isEmpty ? 0 : cuts[rng.int(0...(cuts.count - 1))]
    }

    /// What a power cut keeps of a file whose pages were written back in
    /// any order: each page that differs is the new or the durable one.
    private func reorderedPages(durable: [UInt8], current: [UInt8]) -> [UInt8] {
        let page = LogFormat.pageBytes
        let span = max(durable.count, current.count)
        var kept: [Bool] = []
        var keptEnd = 0
        for p in 0..<((span + page - 1) / page) {
            let range = (p * page)..<min((p + 1) * page, span)
            let differs = range.contains { ($0 < durable.count ? durable[$0] : 0) != ($0 < current.count ? current[$0] : 0) }
            let keep = differs && rng.chance(1, in: 2)
            kept.append(keep)
            if keep { keptEnd = min(range.upperBound, current.count) }
        }
        // The new length reached the disk, or only the data that did.
        let length = rng.chance(1, in: 2) ? current.count : max(durable.count, keptEnd)
        var data = [UInt8](repeating: 0, count: length)
        for i in 0..<length {
            let source = kept[i / page] ? current : durable
            if i < source.count { data[i] = source[i] }
        }
        return data
    }

    private func checkAlive(_ path: String) throws {
        if halted { throw ioError(EIO, "storage is down after a crash", path) }
    }

    private func checkHandle(_ file: FaultyFile) throws {
        try checkAlive(file.path)
        if file.isClosed || file.generation != generation { throw ioError(EBADF, "file handle is closed or died in a crash", file.path) }
    }

    private func matchFault(_ kind: Fault.Kind, _ path: String) -> Int? {
        faults.firstIndex { $0.kind == kind && counts[kind, default: 0] >= $0.nth && path.hasSuffix($0.pathSuffix) }
    }

    /// Counts a mutating call; crashes or throws when a fault is due.
    /// `before` runs first for a due fault (a partial write lands) and may
    /// return a note for the record of fired faults.
    private func mutatingCall(_ kind: Fault.Kind, _ path: String, before: (Fault) -> String? = { _ in nil }) throws {
        mutatingCalls += 1
        counts[kind, default: 0] += 1
        if let crashAt = crashAtCall, mutatingCalls >= crashAt {
            fired.append("crash at \(kind) of \(path)")
            crashLocked(crashMode)
            throw ioError(EIO, "\(kind) failed", path)
        }
        if let i = matchFault(kind, path) {
            let f = faults.remove(at: i)
            firedKinds.insert(kind)
            let note = before(f)
            fired.append("\(f) at \(path)" + (note.map { " (\($0))" } ?? ""))
            throw ioError(f.errno, "\(kind) failed", path)
        }
    }

    private func ioError(_ code: Int32, _ what: String, _ path: String) -> ChronikLogError {
        ChronikLogError(.io, "\(what): \(String(cString: strerror(code))) (injected)", path: path, errno: code)
    }

    private func normalized(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    private func parent(of path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "" }
        return i == path.startIndex ? "/" : String(path[..<i])
    }
}

/// An open file of a `FaultyStorage`.
final class FaultyFile: StorageFile, @unchecked Sendable {
    // Immutable but for `isClosed`; the storage's lock guards it and the inode.
    let storage: FaultyStorage
    let inode: FaultyStorage.Inode
    let path: String
    let readOnly: Bool
    let generation: Int
    var isClosed = false

    init(storage: FaultyStorage, inode: FaultyStorage.Inode, path: String, readOnly: Bool, generation: Int) {
        self.storage = storage
        self.inode = inode
        self.path = path
        self.readOnly = readOnly
        self.generation = generation
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try storage.read(self, into: buffer, at: offset)
    }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try storage.write(self, bytes, at: offset) }
    func sync() throws { try storage.sync(self) }
    func size() throws -> Int64 { try storage.size(self) }
    func truncate(to size: Int64) throws { try storage.truncate(self, to: size) }
    func close() { storage.close(self) }
}

final class FaultyLock: StorageLock, @unchecked Sendable {
    let storage: FaultyStorage
    let path: String
    let generation: Int
    init(storage: FaultyStorage, path: String, generation: Int) {
        self.storage = storage
        self.path = path
        self.generation = generation
    }
    func release() { storage.release(self) }
}
