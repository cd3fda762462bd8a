import ChronikCommerce
import ChronikLog
import Foundation
import Hummingbird
import Synchronization

// The routes of a server of another store than a local log (`chronik serve
// --store postgres://…`, docs/SERVER.md "Serving a shared store"). Appends,
// commands, reads, subscriptions and models are the same handlers as a
// local log's (they go through `EventStore`, `CommerceStore` and
// `LiveProjections`, which take any store); what reads a log directory's
// files answers 501 `notAvailableWithStore` naming the command that does it
// on the store.

extension LogServer {
    /// The routes a server of another store answers otherwise than a
    /// local log's: 501 for what reads a log directory's files (and for
    /// personal data without `--master-key`), and its own `/ready`.
    func addStoreAnswers(to router: RecordingRouter) {
        router.post("digest") { _, context in
            try Self.notAvailable(context, .audit, "POST /digest signs a log directory's files",
                                  "chronik mirror --store URL --log DIR (a mirror of the store), then chronik digest --log DIR")
        }
        router.get("verify") { _, context in
            try Self.notAvailable(context, .audit, "GET /verify checks a log directory's files", "chronik verify --store URL")
        }
        router.get("export") { _, context in
            try Self.notAvailable(context, .audit, "GET /export reads a log directory", "chronik export --store URL")
        }
        let noKeys = "personal data needs the key store in the store's database, and this server was started without --master-key"
        router.get("customers/:id/subject-export") { [vault] _, context in
            // A subject export scans the whole log: not per request on a shared one.
            try Self.notAvailable(context, .pii, vault == nil ? noKeys : "GET subject-export scans the whole log",
                                  "a server of a local log (chronik serve --log), e.g. of a mirror (chronik mirror)")
        }
        router.post("customers/:id/forget") { [vault] request, context in
            guard vault != nil else {
                return try Self.notAvailable(context, .pii, noKeys, "chronik serve --store URL --master-key FILE")
            }
            return try await self.forget(request, context)
        }
        router.get("ready") { _, _ in try await self.storeReady() }
    }

    /// 501 `notAvailableWithStore`: what the route needs, and what does it
    /// on a shared store. The scope is checked first, as on a local log.
    static func notAvailable(_ context: ChronikContext, _ scope: Scope, _ why: String, _ instead: String) throws -> Response {
        try context.require(scope)
        throw ServerError(.notImplemented, "notAvailableWithStore", "\(why): not available with --store; use \(instead)",
                          details: [("instead", .string(instead))])
    }

    /// The head without a query: the local log's, or the one the store's
    /// subscription last saw (0 until it first looked; `/metrics`).
    var knownHead: UInt64 {
        if let localLog { return localLog.head.value }
        storeHeadWatch?.startIfNeeded()
        return storeHeadWatch?.head ?? 0
    }

    /// Whether the store answers a head query within `limit`. A query that
    /// hangs (a table locked, a database away) is left to finish on its own.
    func storeAnswers(within limit: Duration) async -> Bool {
        let waiting = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        let finish: @Sendable (Bool) -> Void = { answered in
            waiting.withLock { c -> CheckedContinuation<Bool, Never>? in
                let first = c
                c = nil
                return first
            }?.resume(returning: answered)
        }
        return await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            waiting.withLock { $0 = c }
            let store = eventStore
            Task { finish((try? await store.headPosition()) != nil) }
            Task { try? await Task.sleep(for: limit); finish(false) }
        }
    }

    /// `GET /ready` of a shared store: 200 with the head once the store
    /// answers, 503 `notReady` when it does not or the server is stopping.
    func storeReady() async throws -> Response {
        if isStopping { throw ServerError(.serviceUnavailable, "notReady", "shutting down") }
        // Models that stopped (an event that does not decode, a key that does
        // not open) answer no query until a restart replays them (stop 35:
        // /ready said ready meanwhile).
        if let live, let why = live.stoppedBecause {
            throw ServerError(.serviceUnavailable, "projectionsStopped",
                              "the read models stopped at position \(live.position.value): \(why.description); fix the cause and restart the server")
        }
        let head: Position
        do { head = try await eventStore.headPosition() } catch {
            throw ServerError(.serviceUnavailable, "notReady", "the store does not answer: \(error)")
        }
        var o = JSONObject()
        o.add("status", "ready")
        o.add("head", head.value)
        if let live { o.add("modelsPosition", live.position.value) }
        return jsonResponse(o.text)
    }

    /// `GET /stats` of a shared store: the figures a store has (events,
    /// headPosition) and the models' position; segments, streams and bytes
    /// on disk are a log directory's.
    func storeStats(_ context: ChronikContext) async throws -> Response {
        try context.require(.read)
        let head = try await eventStore.headPosition().value
        var o = JSONObject()
        o.add("events", head)
        o.add("headPosition", head)
        o.add("modelsPosition", live.map { .uint($0.position.value) } ?? .null)
        return jsonResponse(o.text)
    }
}

/// The head of a store as its subscription sees it, and waits for it to
/// pass a position: one subscription per server, however many clients
/// subscribe, so that an idle subscriber costs no query.
///
/// A wake-up only: a subscriber always reads the store itself, and waits at
/// most a quarter second, so a missed or late wake-up delays an event and
/// never loses one.
final class StoreHeadWatch: Sendable {
    private struct State {
        var head: UInt64 = 0
        var nextWaiter = 0
        var waiters: [Int: (beyond: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
        var task: Task<Void, Never>?
        var stopped = false
    }

    private let state = Mutex(State())
    let store: any EventStore

    init(store: any EventStore) { self.store = store }

    /// The head as last seen (0 before the first look).
    var head: UInt64 { state.withLock { $0.head } }

    /// Returns when the head passes `position`, after `limit`, or once
    /// the watch is stopped.
    func wait(beyond position: UInt64, atMost limit: Duration) async {
        startIfNeeded()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(beyond: position) }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Ends the store's subscription and releases every waiter.
    func stop() {
        let (task, waiting) = state.withLock { s in
            s.stopped = true
            let w = s.waiters.values.map(\.continuation)
            s.waiters.removeAll()
            let t = s.task
            s.task = nil
            return (t, w)
        }
        task?.cancel()
        for c in waiting { c.resume() }
    }

    /// Starts following the store (once): its head, then each event its
    /// subscription delivers. A failure is retried after a second; the
    /// waits' time limit covers the gap.
    func startIfNeeded() {
        state.withLock { s in
            guard s.task == nil, !s.stopped else { return }
            s.task = Task.detached { [weak self, store] in
                while !Task.isCancelled {
                    do {
                        let from = try await store.headPosition()
                        self?.advance(to: from.value)
                        for try await e in store.subscribeAll(from: from) {
                            guard let self else { return }
                            self.advance(to: e.position.value + 1)
                        }
                        return
                    } catch {
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }
    }

    private func advance(to head: UInt64) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard head > s.head else { return [] }
            s.head = head
            let due = s.waiters.filter { $0.value.beyond < head }
            for k in due.keys { s.waiters.removeValue(forKey: k) }
            return due.values.map(\.continuation)
        }
        for c in ready { c.resume() }
    }

    private func wait(beyond position: UInt64) async {
        let id = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // Cancelled before registering: `onCancel` found nothing to
                // resume, so this check does it.
                let now = state.withLock { s -> Bool in
                    if s.head > position || s.stopped || Task.isCancelled { return true }
                    s.waiters[id] = (position, c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.waiters.removeValue(forKey: id)?.continuation }
            c?.resume()
        }
    }
}
