import Foundation

/// Runs blocking work (a whole-log scan, a verification) on a thread of its
/// own and awaits its result: never on the cooperative pool, whose threads
/// (one per core) every request shares (stop 36: two `GET /export` at once
/// held both of this machine's pool threads and froze the server, SIGTERM
/// included).
func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        startOwnThread(name) { c.resume(with: Result { try body() }) }
    }
}

/// Starts blocking work on a thread of its own, without awaiting it.
func startOwnThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread { body() }
    thread.name = name
    thread.start()
}
