import ChronikLog
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where benchmark logs live: `$CHRONIK_BENCH_DATA`, else
/// `Benchmarks/.benchmark-data` next to this package's manifest. Every log
/// and every raw baseline file of a run sits in this one directory, so the
/// baselines measure the same disk and file system as the log.
public let benchmarkDataDirectory: String = {
    if let env = getenv("CHRONIK_BENCH_DATA"), env[0] != 0 {
        return String(cString: env)
    }
    // #filePath is …/Benchmarks/Sources/ChronikBenchSupport/Scratch.swift.
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/.benchmark-data"
}()

/// Creates a directory and its parents (like `mkdir -p`).
public func makeDirectories(_ path: String) {
    var built = ""
    for part in path.split(separator: "/") {
        built += "/" + part
        mkdir(built, 0o755)
    }
}

/// Removes a file or a directory tree (like `rm -rf`); errors are ignored,
/// this only cleans up scratch data.
public func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        if let dir = opendir(path) {
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for n in names { removeTree(path + "/" + n) }
        }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// Names of the entries of a directory.
public func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
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

/// A fresh, empty directory for one benchmark, removed by `remove()`.
public struct ScratchDirectory: Sendable {
    public let path: String

    public init(_ name: String) {
        makeDirectories(benchmarkDataDirectory)
        path = benchmarkDataDirectory + "/scratch-\(getpid())-\(name)"
        removeTree(path)
        makeDirectories(path)
    }

    public func remove() { removeTree(path) }
}

/// The raw baseline: a file that grows by `pwrite` at its end, made durable
/// with `fdatasync` — the least any durable append on this disk can cost.
public final class RawAppendFile: @unchecked Sendable {
    // Used from one task at a time (each benchmark iteration in turn).
    private let fd: Int32
    private var offset: Int64 = 0
    public let path: String

    public init(path: String) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path): errno \(errno)")
    }

    /// Writes all bytes at the end of the file (absorbing short writes).
    public func append(_ bytes: UnsafeRawBufferPointer) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                preconditionFailure("pwrite failed: errno \(errno)")
            }
            done += n
        }
        offset += Int64(done)
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// fdatasync: on return the appended bytes and the new size are durable.
    public func sync() {
        while fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            preconditionFailure("fdatasync failed: errno \(errno)")
        }
    }

    /// Starts over at offset 0 (keeps the file from growing without bound).
    public func truncate() {
        precondition(ftruncate(fd, 0) == 0, "ftruncate failed: errno \(errno)")
        offset = 0
    }

    public var size: Int64 { offset }

    deinit { close(fd) }
}

/// Reads a whole file into `buffer` chunk by chunk with read(2) and calls
/// `body` on each chunk; returns the bytes read.
@discardableResult
public func readFile(_ path: String, chunk buffer: UnsafeMutableRawBufferPointer,
                     _ body: (UnsafeRawBufferPointer) -> Void) -> Int {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    precondition(fd >= 0, "cannot open \(path): errno \(errno)")
    defer { close(fd) }
    var total = 0
    while true {
        let n = read(fd, buffer.baseAddress!, buffer.count)
        if n < 0 {
            if errno == EINTR { continue }
            preconditionFailure("read failed: errno \(errno)")
        }
        if n == 0 { return total }
        body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        total += n
    }
}

/// A pass over every byte that the compiler cannot drop: the XOR of all
/// 8-byte words (and the tail bytes).
@inline(__always)
public func foldBytes(_ raw: UnsafeRawBufferPointer) -> UInt64 {
    var acc: UInt64 = 0
    let words = raw.count / 8
    for i in 0..<words { acc ^= raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
    for i in (words * 8)..<raw.count { acc ^= UInt64(raw[i]) }
    return acc
}

/// Total size of the regular files in a directory whose names end with
/// one of `suffixes`.
public func directoryBytes(_ path: String, suffixes: [String]) -> Int64 {
    var total: Int64 = 0
    for name in listDirectory(path) where suffixes.contains(where: { name.hasSuffix($0) }) {
        var st = stat()
        if stat(path + "/" + name, &st) == 0 { total += Int64(st.st_size) }
    }
    return total
}
