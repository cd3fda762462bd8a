@testable import ChronikLog

/// A test storage: another storage (`inner`, usually the POSIX backend),
/// with every file it opens whose path ends in `wrappedSuffix` (segments
/// unless said otherwise) handed to `wrap` (to count or hold its
/// fdatasyncs, to watch its reads). The forwarding is written once here; a
/// conformer adds only what it watches.
protocol WrappingStorage: Storage {
    associatedtype Inner: Storage
    var inner: Inner { get }
    var wrappedSuffix: String { get }
    func wrap(_ file: any StorageFile, path: String) -> any StorageFile
}

extension WrappingStorage {
    var wrappedSuffix: String { LogFormat.segmentSuffix }
    func createDirectory(_ path: String) throws { try inner.createDirectory(path) }
    func listDirectory(_ path: String) throws -> [String] { try inner.listDirectory(path) }
    func exists(_ path: String) -> Bool { inner.exists(path) }
    func isDirectory(_ path: String) -> Bool { inner.isDirectory(path) }
    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        let f = try inner.openFile(path, create: create, readOnly: readOnly)
        return path.hasSuffix(wrappedSuffix) ? wrap(f, path: path) : f
    }
    func remove(_ path: String) throws { try inner.remove(path) }
    func rename(_ from: String, to: String) throws { try inner.rename(from, to: to) }
    func syncDirectory(_ path: String) throws { try inner.syncDirectory(path) }
    func lockExclusive(_ path: String) throws -> (any StorageLock)? { try inner.lockExclusive(path) }
    func isWriterActive(_ path: String) -> Bool { inner.isWriterActive(path) }
    func setMode(_ path: String, _ mode: UInt16) throws { try inner.setMode(path, mode) }
}

/// A file that forwards every call to `inner`: a watcher subclasses it and
/// overrides only what it watches.
class ForwardingFile: StorageFile, @unchecked Sendable {
    let inner: any StorageFile
    init(inner: any StorageFile) { self.inner = inner }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try inner.read(into: buffer, at: offset) }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try inner.write(bytes, at: offset) }
    func sync() throws { try inner.sync() }
    func size() throws -> Int64 { try inner.size() }
    func linkCount() throws -> Int { try inner.linkCount() }
    func identity() throws -> FileIdentity? { try inner.identity() }
    func truncate(to size: Int64) throws { try inner.truncate(to: size) }
    func close() { inner.close() }
}
