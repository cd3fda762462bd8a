import Foundation
import Testing
@testable import ChronikLog

/// The writer checks its segment once per group: its size before a write
/// (a file cut under it) and its links after a sync (a file deleted under
/// it). On Linux 6.13+ (multigrain timestamps) an fstat(2) marks the file's
/// times as read, so the next write stamps a fine-grained time and dirties
/// the inode, and on ext4 every fdatasync then writes the inode block too:
/// two I/Os a group instead of one (stop 52: ~25 % of a write + fdatasync
/// here). The probes ask statx(2) for what they need, not the times.
@Suite("File probes leave the file's times unread")
struct FileProbeTimesTests {
    /// The file's modification time, read with stat(2) (which marks the
    /// times as read, as a reader of them would).
    static func mtime(_ path: String) -> timespec {
        var st = stat()
        precondition(stat(path, &st) == 0)
        return st.st_mtim
    }

    /// A new file in a directory of its own, open for writing, for `body`
    /// (its directory, its path, the file); removed after.
    static func withNewFile(_ name: String = #function, _ body: (String, String, any StorageFile) throws -> Void) throws {
        let dir = makeTempDir(name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeDir(dir) }
        let path = dir + "/segment"
        let file = try PosixStorage().openFile(path, create: true, readOnly: false)
        defer { file.close() }
        try body(dir, path, file)
    }

    @Test("a write after size(), linkCount() and identity() is stamped with the coarse time")
    func probesDoNotQueryTimes() throws { try Self.withNewFile { _, path, file in
        let byte: [UInt8] = [0x2A]
        var offset: Int64 = 0
        func write() throws {
            try byte.withUnsafeBytes { try file.write($0, at: offset) }
            offset += 1
        }

        // Each try: a write (it takes the fine-grained stamp a previous
        // read of the times asked for), the probes, the clock read (r),
        // a second write, then its time read back. A write whose times were
        // not read since the last write is stamped with the clock's coarse
        // time (or the newest fine-grained stamp handed out, if later),
        // which is at most r. A write after a read of the times is stamped
        // with the fine clock, later than r, unless the coarse tick passed
        // the last stamp in between (~1 % of tries here). So when the
        // probes read the times almost every try stamps a time after r
        // (fstat here: 0 or 1 try of 200 at most r); when they do not,
        // almost none does. Without multigrain timestamps (older kernels,
        // other file systems) every write stamps the coarse time and the
        // test passes, as it should.
        var kept = 0
        let tries = 200
        for _ in 0..<tries {
            try write()
            #expect(try file.size() == offset)
            #expect(try file.linkCount() == 1)
            #expect(try file.identity() != nil)
            var r = timespec()
            clock_gettime(CLOCK_REALTIME, &r)
            try write()
            let t = Self.mtime(path)
            if (t.tv_sec, t.tv_nsec) <= (r.tv_sec, r.tv_nsec) { kept += 1 }
        }
        #expect(kept > tries / 2, "\(tries - kept) of \(tries) writes after the probes were stamped with a fine-grained time: the probes read the file's times")
    } }

    @Test("statx's facts agree with stat(2)")
    func factsAgreeWithStat() throws { try Self.withNewFile { dir, path, file in
        let storage = PosixStorage()
        let bytes = [UInt8](repeating: 7, count: 12_345)
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(try file.size() == 12_345)
        #expect(try file.linkCount() == Int(st.st_nlink))
        let identity = try #require(try file.identity())
        #expect(identity == FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
        #expect(storage.identity(of: path) == identity)
        #expect(storage.exists(path))
        #expect(!storage.isDirectory(path))
        #expect(storage.isDirectory(dir))
        try storage.remove(path)
        #expect(try file.linkCount() == 0)
        #expect(storage.identity(of: path) == nil)
        #expect(!storage.exists(path))
    } }
}
