import CChronikSupport
import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The file layer under the log. Every syscall the log makes goes through
/// this protocol so that tests can inject torn writes, lost unsynced data,
/// bit flips, ENOSPC, EIO and failing fsyncs.
public protocol Storage: Sendable {
    /// Creates a directory (mode 0700) and its missing parents.
    func createDirectory(_ path: String) throws
    /// Names of the entries of a directory, unsorted.
    func listDirectory(_ path: String) throws -> [String]
    /// Whether a file or directory exists at the path.
    func exists(_ path: String) -> Bool
    /// Whether the path is a directory.
    func isDirectory(_ path: String) -> Bool
    /// Opens a file; `create` makes it (mode 0600) when absent.
    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile
    /// Removes a file.
    func remove(_ path: String) throws
    /// Atomically renames a file. Not durable until `syncDirectory`.
    func rename(_ from: String, to: String) throws
    /// Makes creates, renames and removes in the directory durable.
    func syncDirectory(_ path: String) throws
    /// Sets a file's permission bits (a public key or a digest is 0644;
    /// everything is created 0600).
    func setMode(_ path: String, _ mode: UInt16) throws
    /// Takes the exclusive writer lock of a log directory, or returns nil
    /// when another process holds it. The lock lasts until released.
    func lockExclusive(_ path: String) throws -> (any StorageLock)?
    /// Whether a writer (this process or another) holds the lock at `path`
    /// now. A read-only opener uses it to tell a batch being copied in by a
    /// live writer from a damaged one.
    func isWriterActive(_ path: String) -> Bool
    /// Whether the open may read several files at once (the index files
    /// load on every core). A storage whose calls must come in one order,
    /// such as a fault injector that fires on its n-th read, says no and
    /// gets them one after another, in log order.
    var allowsConcurrentReads: Bool { get }
    /// The device and inode of the file at `path`, nil when there is none
    /// or the storage cannot tell (test doubles).
    func identity(of path: String) -> FileIdentity?
}

extension Storage {
    /// Without a way to ask, assume a writer may be active (the lenient
    /// reading of a damaged final batch, FORMAT.md recovery rule 4).
    public func isWriterActive(_ path: String) -> Bool { true }
    public var allowsConcurrentReads: Bool { true }
}

/// An open file with positional I/O.
public protocol StorageFile: AnyObject, Sendable {
    /// Reads up to `buffer.count` bytes at `offset`; fewer only at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
    /// Writes all bytes at `offset` or throws. Not durable until `sync`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws
    /// fdatasync: on return, everything written so far is on stable storage.
    func sync() throws
    /// Current size in bytes.
    func size() throws -> Int64
    /// How many directory entries name the file: 0 once it was deleted
    /// while open (its writes then reach no file anyone can open).
    func linkCount() throws -> Int
    /// The file's device and inode, whatever path names it; nil for files
    /// that cannot tell (test doubles).
    func identity() throws -> FileIdentity?
    /// Cuts the file to `size` bytes. Not durable until `sync`.
    func truncate(to size: Int64) throws
    /// Closes the descriptor; further calls are errors.
    func close()
}

/// A held writer lock.
public protocol StorageLock: AnyObject, Sendable {
    func release()
}

extension Storage {
    /// Storages that cannot tell (test doubles) have none.
    public func identity(of path: String) -> FileIdentity? { nil }
}

extension StorageFile {
    /// Files that cannot tell (test doubles) count as in place.
    public func linkCount() throws -> Int { 1 }

    /// Files that cannot tell (test doubles) have none.
    public func identity() throws -> FileIdentity? { nil }

    /// Reads exactly `count` bytes at `offset`, or fewer at end of file.
    func readBytes(count: Int, at offset: Int64) throws -> [UInt8] {
        // Not zero-filled first: a reopen reads every index file whole
        // (stop 18: the fill was a tenth of the opening thread's time).
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
        }
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }
}

extension Storage {
    /// The one durable whole-file write: the bytes go to a temporary file
    /// (`path.tmp`; `path.tmp-PID` with `concurrentWriters`, for files that
    /// other processes may write at the same time: key files, digests,
    /// snapshots), which is given `mode`, fsynced,
    /// renamed over `path`, and the directory fsynced. A crash at any step
    /// leaves either the old file (or none) or the new one complete, never
    /// a mix; a stray temporary file is harmless, and one this call made is
    /// removed when a step fails. Every file that is replaced as a whole —
    /// the log's metadata and index files, signing key files, digests
    /// (`chronik digest --out`), snapshots, repair records, a key store's
    /// shard rewritten without an erased key — is written
    /// here, so faults can be injected into each step.
    public func writeFileDurably(_ path: String, bytes: [UInt8], mode: UInt16 = 0o600, concurrentWriters: Bool = false) throws {
        let tmp = path + (concurrentWriters ? ".tmp-\(getpid())" : ".tmp")
        let f = try openFile(tmp, create: true, readOnly: false)
        do {
            do {
                defer { f.close() }
                try f.truncate(to: 0)
                try f.write(bytes, at: 0)
                if mode != 0o600 { try setMode(tmp, mode) }
                try f.sync()
            }
            try rename(tmp, to: path)
        } catch {
            try? remove(tmp)
            throw error
        }
        let parent = parentDirectory(path)
        try syncDirectory(parent.isEmpty ? "." : parent)
    }

    /// Makes the new directory `destination` whole or not at all (copies:
    /// `EventLog.copy(to:)`, `FileKeyStore.copy(from:to:)`): `fill` writes
    /// into `destination.partial` and syncs each file it writes; the
    /// directory is then synced, renamed to `destination` and its parent
    /// synced. When `fill` throws, the partial directory is removed. An
    /// existing `destination` or `destination.partial` is refused
    /// (`.invalidOption`).
    public func createDirectoryDurably<T>(_ destination: String, _ fill: (_ partial: String) throws -> T) throws -> T {
        guard !exists(destination) else {
            throw ChronikLogError(.invalidOption, "\(destination) exists: a copy goes into a new directory", path: destination)
        }
        let partial = destination + ".partial"
        guard !exists(partial) else {
            throw ChronikLogError(.invalidOption, "\(partial) exists (a copy that did not finish?): remove it first", path: partial)
        }
        try createDirectory(partial)
        do {
            let result = try fill(partial)
            try syncDirectory(partial)
            try rename(partial, to: destination)
            let parent = parentDirectory(destination)
            try syncDirectory(parent.isEmpty ? "." : parent)
            return result
        } catch {
            for name in (try? listDirectory(partial)) ?? [] { try? remove(partial + "/" + name) }
            try? remove(partial)
            throw error
        }
    }

    /// Writes `bytes` as the new file `path` and syncs it (no rename: for
    /// a directory made by `createDirectoryDurably`).
    public func writeNewFile(_ path: String, bytes: [UInt8]) throws {
        let f = try openFile(path, create: true, readOnly: false)
        defer { f.close() }
        try f.write(bytes, at: 0)
        try f.sync()
    }

    /// Copies the first `length` bytes of `source` (all of it when nil) to
    /// the new file `target`, 1 MiB at a time, and syncs it; returns the
    /// bytes copied.
    public func copyFile(_ source: String, to target: String, length: Int64? = nil) throws -> Int64 {
        let input = try openFile(source, create: false, readOnly: true)
        defer { input.close() }
        let total = try length ?? input.size()
        let output = try openFile(target, create: true, readOnly: false)
        defer { output.close() }
        var offset: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < total {
            let want = Int(min(Int64(buffer.count), total - offset))
            let got = try buffer.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), at: offset) }
            guard got == want else {
                throw ChronikLogError(.io, "\(source) ended at byte \(offset + Int64(got)) while copying \(total) bytes", path: source)
            }
            try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<want]), at: offset) }
            offset += Int64(want)
        }
        try output.sync()
        return total
    }

    /// The whole of a file.
    public func readFile(_ path: String) throws -> [UInt8] {
        let f = try openFile(path, create: false, readOnly: true)
        defer { f.close() }
        return try f.readBytes(count: Int(try f.size()), at: 0)
    }

    /// Files are created mode 0600; a storage without permissions (in
    /// memory) has nothing to change.
    public func setMode(_ path: String, _ mode: UInt16) throws {}
}

func ioError(_ error: any Error, _ what: String, path: String) -> ChronikLogError {
    if let e = error as? ChronikLogError { return e }
    if let e = error as? Errno {
        return ChronikLogError(.io, "\(what): \(e)", path: path, errno: e.rawValue)
    }
    return ChronikLogError(.io, "\(what): \(error)", path: path)
}

/// The real file layer: POSIX calls through swift-system.
public struct PosixStorage: Storage {
    public init() {}

    public func createDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(path)
        if !parent.isEmpty, parent != path, !exists(parent) { try createDirectory(parent) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw ChronikLogError(.io, "cannot create directory: \(Errno(rawValue: errno))", path: path, errno: errno)
        }
    }

    public func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw ChronikLogError(.io, "cannot list directory: \(Errno(rawValue: errno))", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    // Paths and files are probed without their times: see `FileFacts`.

    public func exists(_ path: String) -> Bool {
        FileFacts(path: path) != nil
    }

    public func identity(of path: String) -> FileIdentity? {
        FileFacts(path: path)?.identity
    }

    public func isDirectory(_ path: String) -> Bool {
        guard let facts = FileFacts(path: path) else { return false }
        return mode_t(facts.mode) & S_IFMT == S_IFDIR
    }

    public func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        do {
            var options: FileDescriptor.OpenOptions = [.closeOnExec]
            if create { options.insert(.create) }
            let fd = try FileDescriptor.open(
                FilePath(path), readOnly ? .readOnly : .readWrite, options: options,
                permissions: create ? [.ownerReadWrite] : nil)
            return PosixFile(fd: fd, path: path)
        } catch {
            throw ioError(error, "cannot open", path: path)
        }
    }

    public func remove(_ path: String) throws {
        if unlink(path) != 0 {
            throw ChronikLogError(.io, "cannot remove: \(Errno(rawValue: errno))", path: path, errno: errno)
        }
    }

    public func setMode(_ path: String, _ mode: UInt16) throws {
        if chmod(path, mode_t(mode)) != 0 {
            throw ChronikLogError(.io, "cannot set mode \(String(mode, radix: 8)): \(Errno(rawValue: errno))", path: path, errno: errno)
        }
    }

    public func rename(_ from: String, to: String) throws {
        if Glibc.rename(from, to) != 0 {
            throw ChronikLogError(.io, "cannot rename to \(to): \(Errno(rawValue: errno))", path: from, errno: errno)
        }
    }

    public func syncDirectory(_ path: String) throws {
        do {
            let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
            defer { try? fd.close() }
            if fsync(fd.rawValue) != 0 {
                throw ChronikLogError(.io, "directory fsync failed: \(Errno(rawValue: errno))", path: path, errno: errno)
            }
        } catch {
            throw ioError(error, "cannot sync directory", path: path)
        }
    }

    /// Takes the writer lock: on Linux an open file description lock
    /// (`fcntl(F_OFD_SETLK)`) on the whole file.
    ///
    /// Not a POSIX record lock (`F_SETLK`, until stop 22): a process loses
    /// its record locks on a file when it closes *any* descriptor of that
    /// file, so a refused second writer, a read-only open or
    /// `isWriterActive` in the writer's own process dropped the writer's
    /// lock, and another process could then append beside it
    /// (`writerKeepsItsLockWhenThisProcessTouchesTheLockFile`). An OFD lock
    /// belongs to its open file description: another open excludes it, in
    /// this process too, and closing another descriptor leaves it. Record
    /// locks and OFD locks exclude each other, so a writer of an older
    /// build is still seen.
    ///
    /// A child forked by another thread shares the description until it
    /// execs (the descriptor is close-on-exec), so a lock released at that
    /// moment can look held for as long: a refusal is retried for up to
    /// `PosixStorage.lockRetry` before the answer is nil.
    public func lockExclusive(_ path: String) throws -> (any StorageLock)? {
        let file = try openFile(path, create: true, readOnly: false) as! PosixFile
        #if os(Linux)
        let deadline = ContinuousClock.now + Self.lockRetry
        while true {
            var request = wholeFileWriteLock()
            if fcntl(file.fd.rawValue, ofdSetLock, &request) == 0 {
                // The directory is locked too (flock, which a directory's
                // descriptor takes): the lock on LOCK alone held nothing once
                // the file was deleted — a second writer made a new LOCK, and
                // its append and the first writer's took the same position,
                // losing an acknowledged event (stop 35).
                let dir = parentDirectory(path)
                let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard dfd >= 0 else { return PosixLock(file: file) }
                while true {
                    if flock(dfd, LOCK_EX | LOCK_NB) == 0 { return PosixLock(file: file, directory: dfd) }
                    let e = errno
                    if e == EINTR { continue }
                    // Held by a writer whose LOCK was deleted, or for a moment
                    // by one that just let go (as above): retried as long.
                    guard e == EWOULDBLOCK, ContinuousClock.now < deadline else {
                        Glibc.close(dfd)
                        if e == EWOULDBLOCK {
                            file.close()
                            return nil
                        }
                        return PosixLock(file: file)  // a file system without flock: LOCK alone, as before
                    }
                    usleep(2_000)
                }
            }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN || e == EACCES else {
                file.close()
                throw ChronikLogError(.io, "cannot lock: \(Errno(rawValue: e))", path: path, errno: e)
            }
            guard ContinuousClock.now < deadline else {
                file.close()
                return nil
            }
            usleep(2_000)
        }
        #else
        // Record locks do not exclude their own process: an in-process
        // table of locked files (by device and inode) keeps a second
        // writer here out. Its updates and the closes they pair with are
        // under its mutex, so an inode freed by a close is never found in
        // it. (Any other close of the file here still drops the lock.)
        var st = stat()
        guard fstat(file.fd.rawValue, &st) == 0 else {
            let e = errno
            file.close()
            throw ChronikLogError(.io, "cannot stat lock file: \(Errno(rawValue: e))", path: path, errno: e)
        }
        let key = FileKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        return try heldLocks.withLock { held in
            guard held.insert(key).inserted else {
                file.close()
                return nil
            }
            var request = wholeFileWriteLock()
            if fcntl(file.fd.rawValue, F_SETLK, &request) != 0 {
                let e = errno
                file.close()
                held.remove(key)
                if e == EAGAIN || e == EACCES { return nil }
                throw ChronikLogError(.io, "cannot lock: \(Errno(rawValue: e))", path: path, errno: e)
            }
            return PosixLock(file: file, key: key)
        }
        #endif
    }

    /// How long a refused lock is tried again (a forked child sharing a
    /// just-released lock until it execs); a log held by a live writer is
    /// refused after this.
    static let lockRetry: Duration = .milliseconds(250)

    /// Whether a write lock is held on the file, by another process or by
    /// another open in this one (`F_OFD_GETLK` on Linux; elsewhere
    /// `F_GETLK` and the in-process table). A missing lock file means no
    /// writer.
    public func isWriterActive(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var request = wholeFileWriteLock()
        #if os(Linux)
        guard fcntl(fd, ofdGetLock, &request) == 0 else { return true }
        #else
        var st = stat()
        guard fstat(fd, &st) == 0 else { return true }
        if heldLocks.withLock({ $0.contains(FileKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))) }) { return true }
        guard fcntl(fd, F_GETLK, &request) == 0 else { return true }
        #endif
        return request.l_type != Int16(F_UNLCK)
    }
}

#if os(Linux)
/// `F_OFD_SETLK` and `F_OFD_GETLK` (Linux 3.15+, <bits/fcntl-linux.h>;
/// Glibc's module does not export them).
private let ofdSetLock: Int32 = 37
private let ofdGetLock: Int32 = 36
#endif

/// A write lock on a whole file, to take or to ask about (`l_pid` 0, as
/// OFD locks require).
func wholeFileWriteLock() -> flock {
    var request = flock()
    request.l_type = Int16(F_WRLCK)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = 0
    request.l_len = 0
    return request
}

/// Identifies a file whatever path names it: its device and inode
/// (`StorageFile.identity`, `Storage.identity(of:)`).
public struct FileIdentity: Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

/// What stat(2) tells of a file but its times (statx(2) on Linux,
/// `chronik_file_facts_of_fd`): on Linux 6.13+ (multigrain timestamps) a
/// stat that returns the times marks them as read, the next write then
/// stamps a fine-grained time that dirties the inode, and on ext4 each
/// fdatasync then writes the inode block as well as the data. The writer's
/// fstat per group cost ~25 % of a write + fdatasync here (stop 52).
struct FileFacts {
    var size: Int64
    var links: UInt64
    var identity: FileIdentity
    var mode: UInt32

    init(_ facts: chronik_file_facts) {
        size = facts.size
        links = facts.links
        identity = FileIdentity(device: facts.device, inode: facts.inode)
        mode = facts.mode
    }

    /// The facts of the file `path` names (symbolic links followed); nil
    /// when it cannot be probed (missing, no permission).
    init?(path: String) {
        var facts = chronik_file_facts()
        guard chronik_file_facts_of_path(path, &facts) == 0 else { return nil }
        self.init(facts)
    }
}

/// Identifies a file whatever path names it.
struct FileKey: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
}

#if !os(Linux)
/// Lock files this process holds (record locks do not exclude their owner).
let heldLocks = Mutex<Set<FileKey>>([])
#endif

/// The parent of a path ("" when it has none).
func parentDirectory(_ path: String) -> String {
    var p = path
    while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
    guard let i = p.lastIndex(of: "/") else { return "" }
    return i == p.startIndex ? "/" : String(p[..<i])
}

final class PosixLock: StorageLock, @unchecked Sendable {
    private let file: PosixFile
    private let released = Atomic<Bool>(false)
    #if os(Linux)
    /// The log directory's descriptor, flock'ed; -1 when none.
    private let directory: Int32
    init(file: PosixFile, directory: Int32 = -1) {
        self.file = file
        self.directory = directory
    }
    #else
    private let key: FileKey
    init(file: PosixFile, key: FileKey) {
        self.file = file
        self.key = key
    }
    #endif

    /// Closing the descriptor drops the lock.
    func release() {
        guard released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        #if os(Linux)
        file.close()
        if directory >= 0 { Glibc.close(directory) }
        #else
        heldLocks.withLock { held in
            file.close()
            held.remove(key)
        }
        #endif
    }
}

final class PosixFile: StorageFile, @unchecked Sendable {
    // A file descriptor is safe to share between threads for pread/pwrite;
    // `closed` is only flipped by close(), which the owner calls last.
    let fd: FileDescriptor
    let path: String

    init(fd: FileDescriptor, path: String) {
        self.fd = fd
        self.path = path
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n: Int
            do {
                n = try fd.read(fromAbsoluteOffset: offset + Int64(done),
                                into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]),
                                retryOnInterrupt: true)
            } catch {
                throw ioError(error, "read failed", path: path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        do {
            _ = try fd.writeAll(toAbsoluteOffset: offset, bytes)
        } catch {
            throw ioError(error, "write failed", path: path)
        }
    }

    func sync() throws {
        while fdatasync(fd.rawValue) != 0 {
            if errno == EINTR { continue }
            throw ChronikLogError(.io, "fdatasync failed: \(Errno(rawValue: errno))", path: path, errno: errno)
        }
    }

    func size() throws -> Int64 { try facts().size }

    func linkCount() throws -> Int { Int(try facts().links) }

    func identity() throws -> FileIdentity? { try facts().identity }

    private func facts() throws -> FileFacts {
        var facts = chronik_file_facts()
        let e = chronik_file_facts_of_fd(fd.rawValue, &facts)
        if e != 0 {
            throw ChronikLogError(.io, "stat failed: \(Errno(rawValue: e))", path: path, errno: e)
        }
        return FileFacts(facts)
    }

    func truncate(to size: Int64) throws {
        if ftruncate(fd.rawValue, off_t(size)) != 0 {
            throw ChronikLogError(.io, "ftruncate failed: \(Errno(rawValue: errno))", path: path, errno: errno)
        }
    }

    func close() {
        try? fd.close()
    }
}
