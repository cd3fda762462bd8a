import ChronikTestSupport
import Foundation
import Synchronization
import Testing
@testable import ChronikLog

/// Names one test batch: the appender that made it and its sequence number.
/// Both are encoded in every event id of the batch (with the event's index),
/// so that any event read back names the batch it belongs to.
struct BatchKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    var appender: Int
    var seq: Int
    static func < (a: BatchKey, b: BatchKey) -> Bool { (a.appender, a.seq) < (b.appender, b.seq) }
    var description: String { "a\(appender).b\(seq)" }
}

/// What the tests know about a batch they tried to append.
enum BatchFate: Equatable, Sendable, CustomStringConvertible {
    case untried
    /// Acknowledged, or found whole on disk by a reopen after a failed
    /// append: from then on it must stay at exactly these positions.
    case acked(firstPosition: UInt64, firstVersion: UInt64)
    /// The append failed with an I/O error. Within the session it must be
    /// invisible; after a crash it may be wholly present or wholly absent.
    case maybe
    /// Certainly not in the log: refused before anything was written, or
    /// not found by a reopen (and never retried since).
    case absent

    var description: String {
        switch self {
        case .untried: "untried"
        case .acked(let p, let v): "acked at \(p) (version \(v))"
        case .maybe: "maybe"
        case .absent: "absent"
        }
    }
}

/// One batch's content.
struct BatchSpec: Sendable {
    var key: BatchKey
    var stream: String
    var events: [ProposedEvent]
}

/// The expected state of a log under test: every batch ever tried, what it
/// holds and what became of it. `verify` checks a log against it:
/// acknowledged ⇒ readable at its position with identical content, exactly
/// once, in order; failed batches wholly present or wholly absent.
final class ExpectedLog {
    /// High 64 bits of every event id; distinguishes runs.
    let tag: UInt64
    private(set) var specs: [BatchKey: BatchSpec] = [:]
    private(set) var fates: [BatchKey: BatchFate] = [:]

    init(tag: UInt64) { self.tag = tag }

    /// Creates a batch whose content is derived from the key and `rng`.
    func makeBatch(_ key: BatchKey, stream: String, count: Int, rng: inout SplitMix64) -> BatchSpec {
        precondition(count >= 1 && count < 1 << 16 && key.seq < 1 << 24 && key.appender < 1 << 24)
        let types = ["OrderPlaced", "ItemAdded", "PaymentCaptured", "Shipped"]
        var events: [ProposedEvent] = []
        for i in 0..<count {
            let id = EventID(high: tag, low: UInt64(key.appender) << 40 | UInt64(key.seq) << 16 | UInt64(i))
            let size = rng.chance(1, in: 8) ? rng.int(200...900) : rng.int(0...120)
            var data: [UInt8] = []
            data.reserveCapacity(size)
            if rng.chance(1, in: 2) {
                // Compressible text.
                let unit = Array("\(key) event \(i); ".utf8)
                while data.count < size { data.append(unit[data.count % unit.count]) }
            } else {
                // Incompressible bytes.
                for _ in 0..<size { data.append(UInt8(truncatingIfNeeded: rng.next())) }
            }
            events.append(ProposedEvent(
                id: id, type: types[rng.int(0...types.count - 1)], data: data,
                metadata: rng.chance(1, in: 3) ? [] : Array("{\"k\":\"\(key)\"}".utf8),
                occurredAt: Timestamp(microseconds: 1_700_000_000_000_000 + Int64(key.seq) * 1_000 + Int64(i))))
        }
        let spec = BatchSpec(key: key, stream: stream, events: events)
        specs[key] = spec
        if fates[key] == nil { fates[key] = .untried }
        return spec
    }

    func fate(_ key: BatchKey) -> BatchFate { fates[key] ?? .untried }

    /// Which batch an event belongs to, from its id.
    func key(of id: EventID) -> (key: BatchKey, index: Int)? {
        guard id.high == tag else { return nil }
        return (BatchKey(appender: Int(id.low >> 40), seq: Int((id.low >> 16) & 0xFF_FFFF)), Int(id.low & 0xFFFF))
    }

    /// Records the outcome of an append of `key`; returns problems found
    /// in the outcome itself (empty when it is plausible).
    func record(_ key: BatchKey, _ result: Result<AppendResult, any Error>, expected: ExpectedVersion) -> [String] {
        let spec = specs[key]!
        let before = fate(key)
        var problems: [String] = []
        switch result {
        case .success(let r):
            let n = spec.events.count
            if r.positions.count != n || r.versions.count != n {
                problems.append("\(key): ack with \(r.positions.count) positions for \(n) events")
                return problems
            }
            for i in 1..<max(n, 1) where r.positions[i].value != r.positions[0].value + UInt64(i) || r.versions[i].value != r.versions[0].value + UInt64(i) {
                problems.append("\(key): positions or versions of one batch are not consecutive: \(r.positions) \(r.versions)")
                break
            }
            if case .acked(let p, let v) = before {
                if !r.wasDuplicate || r.firstPosition.value != p || r.versions[0].value != v {
                    problems.append("\(key): a retry of a batch already in the log at \(p) was acked as \(r.firstPosition) (duplicate: \(r.wasDuplicate))")
                }
            } else if r.wasDuplicate {
                problems.append("\(key): acked as a duplicate at \(r.firstPosition) though the log does not hold it (\(before))")
            }
            fates[key] = .acked(firstPosition: r.firstPosition.value, firstVersion: r.versions[0].value)
        case .failure(let error as ChronikLogError):
            switch error.code {
            case .io:
                if case .acked = before {} else { fates[key] = .maybe }
            case .writerPoisoned:
                if before == .untried { fates[key] = .absent }
            case .wrongExpectedVersion where expected != .any:
                if before == .untried { fates[key] = .absent }
            default:
                problems.append("\(key): unexpected error \(error)")
            }
        case .failure(let error):
            problems.append("\(key): unexpected error type \(type(of: error)): \(error)")
        }
        return problems
    }

    /// After a reopen: a failed batch found whole is now in the log for
    /// good; one not found is gone for good (until retried).
    func settle(found: [BatchKey: (first: UInt64, version: UInt64)]) {
        for (key, fate) in fates where fate == .maybe {
            if let f = found[key] { fates[key] = .acked(firstPosition: f.first, firstVersion: f.version) } else { fates[key] = .absent }
        }
    }

    /// Checks `log` against the model and returns the problems found (empty
    /// when it matches) and the batches present. `inSession`: the log was
    /// not reopened since the failures, so failed batches must be invisible.
    func verify(_ log: EventLog, inSession: Bool) -> (problems: [String], found: [BatchKey: (first: UInt64, version: UInt64)]) {
        var problems: [String] = []
        var found: [BatchKey: (first: UInt64, version: UInt64)] = [:]
        let all: [RecordedEvent]
        do { all = try log.readAll().collect() } catch {
            return (["readAll failed: \(error)"], [:])
        }
        let head = log.head.value
        if UInt64(all.count) != head { problems.append("readAll returned \(all.count) events but head is \(head)") }
        for (i, e) in all.enumerated() where e.position.value != UInt64(i) {
            problems.append("event \(i) of readAll has position \(e.position): positions not dense")
            break
        }
        var nextVersion: [String: UInt64] = [:]
        var i = 0
        while i < all.count, problems.count < 20 {
            let e = all[i]
            guard let (key, index) = key(of: e.id), let spec = specs[key] else {
                problems.append("position \(i): event \(e.id) belongs to no batch the test appended")
                i += 1
                continue
            }
            guard index == 0 else {
                problems.append("position \(i): batch \(key) starts at its event \(index): a partial batch")
                i += 1
                continue
            }
            if found[key] != nil { problems.append("position \(i): batch \(key) is in the log twice (also at \(found[key]!.first))") }
            let n = spec.events.count
            guard i + n <= all.count else {
                problems.append("position \(i): batch \(key) of \(n) events is cut off by the end of the log: a partial batch")
                break
            }
            let expectedVersion = nextVersion[spec.stream, default: 0]
            for j in 0..<n {
                let got = all[i + j], want = spec.events[j]
                if got.id != want.id || got.stream != spec.stream || got.type != want.type || got.data != want.data
                    || got.metadata != want.metadata || got.occurredAt != want.occurredAt {
                    problems.append("position \(i + j): event \(j) of batch \(key) differs from what was appended (id \(got.id) vs \(want.id), stream \(got.stream), type \(got.type), \(got.data.count) data bytes vs \(want.data.count))")
                }
                if got.version.value != expectedVersion + UInt64(j) {
                    problems.append("position \(i + j): stream \(spec.stream) version \(got.version), expected \(expectedVersion + UInt64(j))")
                }
            }
            nextVersion[spec.stream] = expectedVersion + UInt64(n)
            switch fate(key) {
            case .acked(let p, let v):
                if p != UInt64(i) || v != e.version.value {
                    problems.append("batch \(key) acknowledged at position \(p) version \(v) is at position \(i) version \(e.version)")
                }
            case .maybe:
                if inSession { problems.append("position \(i): batch \(key), whose append failed, is visible in the same session") }
            case .absent, .untried:
                problems.append("position \(i): batch \(key) is present though its append was refused or it was gone after a reopen (\(fate(key)))")
            }
            found[key] = (UInt64(i), e.version.value)
            i += n
        }
        for (key, fate) in fates {
            if case .acked(let p, _) = fate, found[key] == nil {
                problems.append("acknowledged batch \(key) (position \(p)) is missing")
            }
        }
        // Every other way of reading agrees with readAll.
        do {
            for (stream, next) in nextVersion {
                let s = try log.read(stream: stream).collect()
                let want = all.filter { $0.stream == stream }
                if s.map(\.id) != want.map(\.id) || s.map(\.position) != want.map(\.position) {
                    problems.append("read(stream: \(stream)) returned \(s.count) events that differ from readAll's \(want.count)")
                }
                if log.lastVersion(of: stream)?.value != next - 1 {
                    problems.append("lastVersion(of: \(stream)) is \(String(describing: log.lastVersion(of: stream))), expected \(next - 1)")
                }
            }
            let back = try log.readAll(direction: .backward).collect()
            if back.map(\.id) != all.reversed().map(\.id) { problems.append("readAll backward differs from readAll reversed") }
            for p in stride(from: 0, to: all.count, by: max(1, all.count / 7)) {
                if try log.event(at: Position(UInt64(p))) != all[p] { problems.append("event(at: \(p)) differs from readAll") }
            }
        } catch {
            problems.append("a read failed: \(error)")
        }
        return (problems, found)
    }
}

/// A one-shot flag that a task sets when it finishes.
final class DoneFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Runs appends from concurrent tasks as one deterministic group commit:
/// the writer's queue is held while the tasks queue their appends one
/// after the other, in list order, then released. One flush then takes
/// them all, so a seed always produces the same group, the same writes
/// and the same fault hits.
func appendAsOneGroup(_ log: EventLog, _ requests: [(spec: BatchSpec, expected: ExpectedVersion)]) async -> [Result<AppendResult, any Error>] {
    guard let writer = log.writer else { preconditionFailure("the log must be writable") }
    writer.queue.suspend()
    var tasks: [Task<AppendResult, any Error>] = []
    for r in requests {
        let before = log.state.withLock { $0.pending.count }
        let done = DoneFlag()
        let stream = r.spec.stream, events = r.spec.events, expected = r.expected
        tasks.append(Task {
            defer { done.set() }
            return try await log.append(to: stream, events, expected: expected)
        })
        // Wait until this append is queued (or was refused at once), so
        // that the group's order is the list's. Bounded: ~10 s at most.
        var polls = 0
        while log.state.withLock({ $0.pending.count }) == before && !done.isSet && polls < 200_000 {
            polls += 1
            try? await Task.sleep(for: .microseconds(50))
        }
        if polls == 200_000 { Issue.record("an append was neither queued nor finished") }
    }
    writer.queue.resume()
    var results: [Result<AppendResult, any Error>] = []
    for t in tasks { results.append(await t.result) }
    return results
}

/// Whether the writer refuses appends until reopen.
func isPoisoned(_ log: EventLog) -> Bool { log.state.withLock { $0.poisoned != nil } }
