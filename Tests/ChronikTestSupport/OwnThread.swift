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

/// Reads `fd` (a child's output pipe) until end of file on a thread of its
/// own, not the task pool's: a reading task held up behind other tests let
/// a watchdog fire on a child that was not hung (stop 44's CI), and lets a
/// pipe fill and block the child's writes. `onData` is called on that
/// thread with everything read so far, after each read.
public func readToEnd(_ fd: Int32, onData: @escaping @Sendable ([UInt8]) -> Void = { _ in }) async throws -> [UInt8] {
    try await onOwnThread {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes.append(contentsOf: buffer[0..<n])
            onData(bytes)
        }
        return bytes
    }
}
