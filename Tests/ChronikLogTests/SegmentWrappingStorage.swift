@testable import ChronikLog

/// A test storage: the POSIX backend, with every segment file it opens
/// wrapped by `wrapSegment` (to count or hold its fdatasyncs). The
/// forwarding is written once here; a conformer adds only what it watches.
protocol SegmentWrappingStorage: Storage {
    var inner: PosixStorage { get }
    func wrapSegment(_ file: any StorageFile) -> any StorageFile
}

extension SegmentWrappingStorage {
    func createDirectory(_ path: String) throws { try inner.createDirectory(path) }
    func listDirectory(_ path: String) throws -> [String] { try inner.listDirectory(path) }
    func exists(_ path: String) -> Bool { inner.exists(path) }
    func isDirectory(_ path: String) -> Bool { inner.isDirectory(path) }
    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        let f = try inner.openFile(path, create: create, readOnly: readOnly)
        return path.hasSuffix(LogFormat.segmentSuffix) ? wrapSegment(f) : f
    }
    func remove(_ path: String) throws { try inner.remove(path) }
    func rename(_ from: String, to: String) throws { try inner.rename(from, to: to) }
    func syncDirectory(_ path: String) throws { try inner.syncDirectory(path) }
    func lockExclusive(_ path: String) throws -> (any StorageLock)? { try inner.lockExclusive(path) }
    func setMode(_ path: String, _ mode: UInt16) throws { try inner.setMode(path, mode) }
}
