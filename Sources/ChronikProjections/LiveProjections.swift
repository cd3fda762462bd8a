import ChronikLog
import ChronikCommerce
import Foundation

/// Read models kept current by a subscription, for a service that appends
/// and reads its own writes.
///
/// Events are applied on a task of their own as they are committed; every
/// access to the models goes through `read`, under the same lock as the
/// applying, so a reader never sees a half-applied event.
/// `waitUntil(_:)` returns once an appended position is applied.
public final class LiveProjections: @unchecked Sendable {
    // `set`, `failure` and `waiters` are guarded by `lock`.
    /// Re-entrant: `position` and `stoppedBecause` may be read inside
    /// `read` (stop 36: a library user's `read` that asked `position` hung).
    private let lock = NSRecursiveLock()
    private let set: ProjectionSet
    /// How arriving events are decoded (the set's protector, taken at init).
    private let decoder: Replayer.Decoder
    private var failure: ProjectionError?
    private var waiters: [(position: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var task: Task<Void, Never>?
    /// The store followed: a local `EventLog` or a shared one (PostgreSQL).
    public let store: any EventStore

    /// Starts from `set` (e.g. loaded by `Replayer.rebuild`) and follows the
    /// log from `set.position` on.
    public convenience init(log: EventLog, set: ProjectionSet) {
        self.init(store: log, set: set)
    }

    /// Starts from `set` and follows `store` from `set.position` on.
    public init(store: any EventStore, set: ProjectionSet) {
        self.store = store
        self.set = set
        decoder = Replayer.Decoder(set)
    }

    /// Builds the models (snapshot + tail) and starts following the log.
    /// - Parameter note: told why a snapshot was not used (another model
    ///   version, corrupt, beyond the head): the server says it (stop 38,
    ///   an upgrade: it rebuilt without a word).
    public static func start(log: EventLog, only: [String]? = nil,
                             protector: (any PIIProtector)? = nil,
                             note: ((String) -> Void)? = nil) throws(ProjectionError) -> LiveProjections {
        let (set, report) = try Replayer.rebuild(log, only: only, protector: protector)
        for m in report.messages { note?(m) }
        let live = LiveProjections(log: log, set: set)
        live.start()
        return live
    }

    /// Builds the models at the store's head and starts following it.
    ///
    /// A local log is rebuilt from its newest snapshot plus the tail, in
    /// place (`start(log:)`); another store is read from position 0 in
    /// pages of `catchUpPageSize` (it keeps no snapshots: a server that
    /// restarts often on a large shared log is better served by a local
    /// mirror, `chronik mirror`, docs/POSTGRES.md).
    ///
    /// - Throws: `ProjectionError` — `log` when the store cannot be read,
    ///   `invalidEvent` for an event that does not decode, `unknownModel`.
    public static func start(store: any EventStore, only: [String]? = nil,
                             protector: (any PIIProtector)? = nil) async throws(ProjectionError) -> LiveProjections {
        // The one place a local log is told apart: snapshots and scans.
        if let log = store as? EventLog { return try start(log: log, only: only, protector: protector) }
        let set = try Projections.standard(only: only)
        set.protector = protector
        let decoder = Replayer.Decoder(set)
        while true {
            let page: [RecordedEvent]
            do { page = try await store.readAll(from: set.position, limit: catchUpPageSize) } catch {
                throw Replayer.logError(error)
            }
            for e in page { try set.apply(project(e, decoder)) }
            if page.count < catchUpPageSize { break }
        }
        let live = LiveProjections(store: store, set: set)
        live.start()
        return live
    }

    /// Events read per round trip while `start(store:)` catches up.
    public static let catchUpPageSize = 4096

    /// Starts the subscription task (once).
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard task == nil else { return }
        let from = set.position
        task = Task.detached { [weak self, store] in
            do {
                for try await recorded in store.subscribeAll(from: from) {
                    guard let self else { return }
                    if !self.apply(recorded) { return }
                }
            } catch {
                self?.fail(ProjectionError(.log, "the subscription failed: \(error)"))
            }
        }
    }

    /// Stops following the log; waiters get a `log` error.
    public func stop() {
        task?.cancel()
        fail(ProjectionError(.log, "live projections stopped"))
    }

    deinit { task?.cancel() }

    /// Why the models stopped following the log, or nil while they follow
    /// it (`/ready` says so: stop 35, it said ready while every model query
    /// was 503 `projectionsStopped`).
    public var stoppedBecause: ProjectionError? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }

    /// The position the models have reached (every event before it applied).
    public var position: Position {
        lock.lock()
        defer { lock.unlock() }
        return set.position
    }

    /// Runs `body` with the models, while no event is being applied: keep
    /// it short, the applying task waits for it. The models are not
    /// thread-safe, so what `body` returns is a value (`Sendable`: a record,
    /// a list of them), never a model (stop 36: a library user kept
    /// `$0.inventory` and read it while events were applied, a data race the
    /// compiler did not flag).
    public func read<T: Sendable>(_ body: (ProjectionSet) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(set)
    }

    /// Returns once the event at `position` is applied (read-your-writes
    /// after an append: pass `result.lastPosition`).
    ///
    /// - Throws: the `ProjectionError` that stopped the projections.
    public func waitUntil(_ position: Position) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            lock.lock()
            if let failure {
                lock.unlock()
                c.resume(throwing: failure)
            } else if set.position.value > position.value {
                lock.unlock()
                c.resume()
            } else {
                waiters.append((position.value, c))
                lock.unlock()
            }
        }
    }

    /// A stored event decoded for the models.
    private static func project(_ recorded: RecordedEvent, _ decoder: Replayer.Decoder) throws(ProjectionError) -> ProjectedEvent {
        do {
            let (decoded, sealed) = try recorded.data.withUnsafeBytes { try decoder.decode(type: recorded.type, bytes: $0) }
            return ProjectedEvent(position: recorded.position, occurredAt: recorded.occurredAt, event: decoded, sealedData: sealed)
        } catch {
            throw ProjectionError(.invalidEvent, "event does not decode: \(error)", position: recorded.position,
                                  eventType: recorded.type)
        }
    }

    private func apply(_ recorded: RecordedEvent) -> Bool {
        let event: ProjectedEvent
        do {
            event = try Self.project(recorded, decoder)
        } catch {
            fail(error)
            return false
        }
        lock.lock()
        // A subscription replays from `from`; anything already folded is skipped.
        guard recorded.position.value >= set.position.value else {
            lock.unlock()
            return true
        }
        do {
            try set.apply(event)
        } catch {
            lock.unlock()
            fail(error)
            return false
        }
        let reached = set.position.value
        var ready: [CheckedContinuation<Void, any Error>] = []
        waiters.removeAll { w in
            if w.position < reached {
                ready.append(w.continuation)
                return true
            }
            return false
        }
        lock.unlock()
        for c in ready { c.resume() }
        return true
    }

    private func fail(_ error: ProjectionError) {
        lock.lock()
        if failure == nil { failure = error }
        let all = waiters
        waiters.removeAll()
        lock.unlock()
        for w in all { w.continuation.resume(throwing: error) }
    }
}
