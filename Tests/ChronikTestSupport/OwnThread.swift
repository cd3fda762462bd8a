import Foundation

/// Runs `body` on a thread of its own and awaits its result.
///
/// For a test's long synchronous work (a replay of thousands of events, a
/// blocking wait): on the task pool it holds one of its two threads here
/// for as long, and every other test's tasks wait behind it. Stop 44's CI:
/// two replay tests held both at once, and the crash test's reading of
/// its child's output waited past its 60 s watchdog.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread { c.resume(with: Result { try body() }) }.start()
    }
}
