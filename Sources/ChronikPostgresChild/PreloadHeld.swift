import ChronikPostgres
import Dispatch
import Foundation
import Synchronization

/// `ChronikPostgresChild preload-held URL MASTER-KEY-FILE`: holds every
/// thread of this process's task pool with blocked tasks, then calls
/// `PostgresKeyStore.preload()` from a thread of its own (its listener must
/// take LISTEN without a thread of the pool) and prints `loaded N`. In a
/// process of its own so that holding the pool stalls no other test (in the
/// test process it did: another suite's subscriptions timed out behind it).
enum PreloadHeld {
    static func run(url: String, masterKeyFile: String) async throws {
        let keys = try PostgresKeyStore(location: try PostgresStore.Location(url: url),
                                        masterKey: try PostgresKeyStore.readMasterKey(path: masterKeyFile))
        let width = ProcessInfo.processInfo.activeProcessorCount
        let release = DispatchSemaphore(value: 0)
        let held = Held()
        let blockers = (0..<width).map { _ in
            Task.detached {
                held.count.add(1, ordering: .relaxed)
                release.wait()
            }
        }
        let loaded: Result<Int, any Error> = await withCheckedContinuation { c in
            Thread.detachNewThread {
                let until = ContinuousClock.now + .seconds(10)
                while held.count.load(ordering: .relaxed) < width, ContinuousClock.now < until { usleep(1_000) }
                let everyThreadHeld = held.count.load(ordering: .relaxed) == width
                let r = Result { try keys.preload() }
                for _ in 0..<width { release.signal() }
                c.resume(returning: everyThreadHeld ? r : .failure(HeldError()))
            }
        }
        for b in blockers { await b.value }
        print("loaded \(try loaded.get())")
    }

    final class Held: Sendable {
        let count = Atomic<Int>(0)
    }

    struct HeldError: Error, CustomStringConvertible {
        var description: String { "the blocking tasks did not all start within 10 s" }
    }
}
