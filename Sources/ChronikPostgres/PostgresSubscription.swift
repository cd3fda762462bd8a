import ChronikLog
import Dispatch
import Logging
import PostgresNIO
import Synchronization

/// Every event from a position on, then each new one as it commits: reads
/// from the last position + 1, and waits for a `chronik_append`
/// notification or `pollInterval`, whichever comes first. A notification is
/// only a wake-up, never the data, so a lost one (or a reconnect after a
/// restart of either side) delays an event, never drops it. Connection
/// failures are retried for up to `retryFor`; then the error is thrown.
struct PostgresSubscription: AsyncSequence, Sendable {
    typealias Element = RecordedEvent
    let store: PostgresStore
    let start: UInt64
    var retryFor: Duration = .seconds(60)

    func makeAsyncIterator() -> Iterator {
        let wake = WakeUp()
        return Iterator(store: store, wake: wake,
                        listener: Listener(location: store.location, logger: store.logger, channel: "chronik_append") { wake.notify() },
                        next: start, retryFor: retryFor)
    }

    struct Iterator: AsyncIteratorProtocol {
        let store: PostgresStore
        let wake: WakeUp
        let listener: Listener
        var next: UInt64
        let retryFor: Duration
        var buffer: [RecordedEvent] = []
        var index = 0

        mutating func next() async throws -> RecordedEvent? {
            var failingSince: ContinuousClock.Instant?
            while true {
                if index < buffer.count {
                    let e = buffer[index]
                    index += 1
                    next = e.position.value + 1
                    return e
                }
                if Task.isCancelled { listener.stop(); return nil }
                listener.startIfNeeded()
                do {
                    buffer = try await store.readAll(from: Position(next), limit: 4096)
                    index = 0
                    failingSince = nil
                } catch let e as ChronikLogError where e.code == .io {
                    let since = failingSince ?? .now
                    failingSince = since
                    if ContinuousClock.now - since > retryFor { listener.stop(); throw e }
                    try? await Task.sleep(for: .milliseconds(200))
                    continue
                }
                if !buffer.isEmpty {
                    guard buffer[0].position.value == next else {
                        throw ChronikLogError(.corruption, "chronik_events: position \(next) missing, next stored is \(buffer[0].position)",
                                              path: "chronik_events", offset: Int64(next))
                    }
                    continue
                }
                await wake.wait(upTo: store.pollInterval)
            }
        }
    }
}

/// LISTEN on `channel` on a connection of its own, from the first
/// `startIfNeeded()` until `stop()`; reconnects after a failure.
/// `onListening` runs each time the LISTEN is in place (a notification sent
/// while it was not is lost: the owner assumes it missed some), and
/// `onNotification` on each notification.
final class Listener: Sendable {
    let location: PostgresStore.Location
    let logger: Logger
    let channel: String
    let onListening: @Sendable () -> Void
    let onNotification: @Sendable () -> Void
    let task = Mutex<Task<Void, Never>?>(nil)

    init(location: PostgresStore.Location, logger: Logger, channel: String, onListening: @escaping @Sendable () -> Void = {},
         onNotification: @escaping @Sendable () -> Void) {
        self.location = location
        self.logger = logger
        self.channel = channel
        self.onListening = onListening
        self.onNotification = onNotification
    }
    deinit { stop() }

    func startIfNeeded() {
        task.withLock { t in
            guard t == nil else { return }
            let slot = ConnectionSlot(location: location, logger: logger)
            let (channel, onListening, onNotification) = (self.channel, self.onListening, self.onNotification)
            t = Task(executorPreference: ListenerExecutor.shared) {
                while !Task.isCancelled {
                    do {
                        try await slot.run { conn in
                            try await conn.listen(on: channel) { notifications in
                                onListening()
                                for try await _ in notifications { onNotification() }
                            }
                        }
                    } catch {
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                }
                await slot.close()
            }
        }
    }

    func stop() {
        task.withLock { $0?.cancel(); $0 = nil }
    }
}

/// Where listeners run: a serial queue of their own, not the task pool.
///
/// A listener's work is tiny (a counter, a wake-up), but it must run while
/// the pool's threads (as many as cores) are all held by synchronous work:
/// `PostgresKeyStore.preload()` blocks its caller until the LISTEN is in
/// place, and a server's replay or a test suite on 2 cores can hold the
/// other thread for seconds (CI of stop 18: "did not take LISTEN in 10 s").
final class ListenerExecutor: TaskExecutor {
    static let shared = ListenerExecutor()
    let queue = DispatchQueue(label: "chronik.postgres.listeners")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A wake-up that a waiter also gives itself after a timeout.
final class WakeUp: Sendable {
    let state = Mutex<(pending: Bool, waiters: [UInt64: CheckedContinuation<Void, Never>], nextID: UInt64)>((false, [:], 0))

    func notify() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            let w = Array(s.waiters.values)
            s.waiters = [:]
            if w.isEmpty { s.pending = true }
            return w
        }
        for w in waiters { w.resume() }
    }

    func wait(upTo timeout: Duration) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let id = state.withLock { s -> UInt64? in
                if s.pending { s.pending = false; return nil }
                let id = s.nextID
                s.nextID += 1
                s.waiters[id] = c
                return id
            }
            guard let id else { c.resume(); return }
            Task {
                try? await Task.sleep(for: timeout)
                let w = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                w?.resume()
            }
        }
    }
}
