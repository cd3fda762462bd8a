// One holder at a time per key, for `CommerceStore`: appends to one
// stream (the read of its state to the append) and ships of one order.

import Synchronization

/// Turns per key: `begin(key)` returns once no other holder of `key` is
/// between its `begin` and `end`; waiters go in arrival order.
final class KeyedTurns: Sendable {
    private struct State {
        var held: Set<String> = []
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }
    private let state = Mutex(State())

    func begin(_ key: String) async {
        // Free: no suspension at all (the simulator's appends run on a
        // serial executor up to the log's queue, in order, and must not
        // yield here).
        if state.withLock({ $0.held.insert(key).inserted }) { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.held.insert(key).inserted { return true }
                s.waiting[key, default: []].append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func end(_ key: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard var queue = s.waiting[key], !queue.isEmpty else {
                s.held.remove(key)
                s.waiting[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            s.waiting[key] = queue.isEmpty ? nil : queue
            return first  // the key stays held, by the next in line
        }
        next?.resume()
    }
}
