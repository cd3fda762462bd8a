import Dispatch
import Foundation
import Synchronization

/// Threads that take a share of one task's CPU work beside it: the pieces
/// of a large payload's LZ4 on the appending task, the chain hash of a
/// group's last batch while the writer's fdatasync runs (stop 40).
enum Helpers {
    /// The machine's cores: the caller and `cores − 1` helpers.
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// One serial queue per core but the caller's. (Stop 40:
    /// `DispatchQueue.concurrentPerform` from a task of the cooperative pool
    /// found no second thread; every piece ran on the caller.)
    static let queues = (1..<cores).map { DispatchQueue(label: "chronik.helper.\($0)", qos: .userInitiated) }

    /// Runs `body(0..<count)`, each index once, on the calling thread and
    /// on the helpers, and returns when every call has. Whoever is running
    /// takes the next index; a helper that wakes late finds them taken and
    /// does nothing, so this is never much slower than running them all on
    /// the caller.
    static func inParallel(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let work = Pieces(count: count, body: body)
        for q in queues.prefix(count - 1) { q.async { work.run() } }
        work.run()
        work.finished.wait()
    }

    /// Runs `main` on the calling thread and `side` beside it on a helper,
    /// or after `main` on the calling thread when no helper has taken it
    /// by then; returns when both have run (also when `main` throws).
    static func beside<R>(_ side: @escaping @Sendable () -> Void, _ main: () throws -> R) rethrows -> R {
        let work = Pieces(count: 1) { _ in side() }
        queues.first?.async { work.run() }
        defer {
            work.run()
            work.finished.wait()
        }
        return try main()
    }

    private final class Pieces: Sendable {
        let count: Int
        let body: @Sendable (Int) -> Void
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let finished = DispatchSemaphore(value: 0)
        init(count: Int, body: @escaping @Sendable (Int) -> Void) {
            self.count = count
            self.body = body
        }
        func run() {
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < count else { return }
                body(i)
                if done.add(1, ordering: .acquiringAndReleasing).newValue == count { finished.signal() }
            }
        }
    }
}
