import Synchronization

/// A segment's file as the log shares it between the writer, cursors,
/// scans and subscriptions: once `close()` is called every further call
/// throws `.closed`, and the descriptor itself is closed only when the last
/// call in flight has returned. Without this, `EventLog.close()` would
/// close descriptors that a cursor on another thread is reading through
/// (EBADF), or that the kernel has already handed to another file (a read
/// of the wrong bytes).
final class ClosableFile: StorageFile, Sendable {
    private struct State {
        var closed = false
        var inFlight = 0
    }

    private let inner: any StorageFile
    private let path: String
    private let state = Mutex(State())

    init(_ inner: any StorageFile, path: String) {
        self.inner = inner
        self.path = path
    }

    /// Runs one call on the descriptor unless the file is closed.
    private func use<R>(_ body: (any StorageFile) throws -> R) throws -> R {
        let open = state.withLock { s -> Bool in
            if s.closed { return false }
            s.inFlight += 1
            return true
        }
        guard open else { throw ChronikLogError(.closed, "log is closed", path: path) }
        defer {
            let closeNow = state.withLock { s -> Bool in
                s.inFlight -= 1
                return s.closed && s.inFlight == 0
            }
            if closeNow { inner.close() }
        }
        return try body(inner)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try use { try $0.read(into: buffer, at: offset) }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try use { try $0.write(bytes, at: offset) }
    }

    func sync() throws { try use { try $0.sync() } }

    func size() throws -> Int64 { try use { try $0.size() } }

    func linkCount() throws -> Int { try use { try $0.linkCount() } }
    func identity() throws -> FileIdentity? { try use { try $0.identity() } }

    func truncate(to size: Int64) throws { try use { try $0.truncate(to: size) } }

    /// Refuses every later call; closes the descriptor now, or when the
    /// last call in flight returns.
    func close() {
        let closeNow = state.withLock { s -> Bool in
            if s.closed { return false }
            s.closed = true
            return s.inFlight == 0
        }
        if closeNow { inner.close() }
    }
}
