// The commerce API: appends that keep the invariants of EVENTS.md.
//
// Read the stream's state, decide, append conditional on the version that
// was read; when another appender got there first (`wrongExpectedVersion`),
// read what it wrote and decide again. Per-stream optimistic concurrency is
// what makes "concurrent appenders cannot oversell" true without a lock
// that spans processes. docs/COMMANDS.md has the rules and their errors.

import Synchronization

/// Appends commerce events through the guards of EVENTS.md's "Commerce
/// invariants", retrying on concurrent appends.
///
/// Folded stream states are cached with their version, so a retry or the
/// next command on a stream folds only the events appended since (a
/// million-event import never re-reads a stream). Any number of stores may
/// share one log, and any number of tasks one store.
///
/// The store is any `EventStore`: the embedded log, or a log shared by
/// several processes and machines (ChronikPostgres). The guards hold across
/// all of them, because every guarded append is conditional on the stream
/// version it was decided on, and the store checks that version.
public final class CommerceStore: Sendable {
    /// The store appended to.
    public let store: any EventStore
    /// The same store when it is a local `EventLog`, else nil: the
    /// synchronous readers (`state(of:)`, `checkRetry`,
    /// `screenSettlementLines`, `GuardModel`, `CommerceImport`) need one.
    public let log: EventLog?
    /// How many times an append is decided again after losing a race.
    public let maxRetries: Int
    /// Seals the PII fields of every event that has any (docs/GDPR.md);
    /// nil stores them in plaintext (tests and tools that want that).
    public let protector: (any PIIProtector)?
    /// Whether a `CustomerForgotten` is accepted without a protector (the
    /// personal data stays readable: it was stored in plaintext). False
    /// unless asked for, by tests and tools that store plaintext on
    /// purpose; otherwise such an erasure is `noProtector`.
    public let forgetsInPlaintext: Bool

    private struct Cached: Sendable {
        var state: StreamState
        /// The version of the last folded event; nil: no event yet.
        var version: UInt64?
    }

    private let cache = Mutex<[String: Cached]>([:])
    /// Ships of one order, one at a time (`ship`).
    let shipping = KeyedTurns()
    /// Appends to one stream through this store, one decision at a time.
    let deciding = KeyedTurns()
    /// Every settlement line of the log by (gateway, gatewayRef).
    public let settlements = SettlementIndex()

    /// - Parameter maxRetries: bounded, so that a hot stream turns into an
    ///   error (`concurrencyConflict`) instead of a livelock; 16 covers far
    ///   more contention than one stream sees in practice.
    ///   Without a `protector` personal data is stored in plaintext and a
    ///   `CustomerForgotten` is refused (`noProtector`) unless
    ///   `forgetsInPlaintext`; a service seals it with
    ///   `SubjectKeyVault.forLog` (ChronikAudit, docs/GDPR.md).
    public convenience init(log: EventLog, maxRetries: Int = 16, protector: (any PIIProtector)? = nil, forgetsInPlaintext: Bool = false) {
        self.init(store: log, maxRetries: maxRetries, protector: protector, forgetsInPlaintext: forgetsInPlaintext)
    }

    /// A store over any `EventStore`; `append` and `currentState(of:)`
    /// work on every one, the synchronous readers on a local log only.
    public init(store: any EventStore, maxRetries: Int = 16, protector: (any PIIProtector)? = nil, forgetsInPlaintext: Bool = false) {
        precondition(maxRetries >= 0)
        self.forgetsInPlaintext = forgetsInPlaintext
        self.store = store
        // The one place a local log is told apart: the synchronous readers
        // and the settlement index's scan use it.
        self.log = store as? EventLog
        self.maxRetries = maxRetries
        self.protector = protector
    }

    /// The local log, for the synchronous readers only a local log serves.
    /// On another store (a PostgreSQL store, or a decorator around a local
    /// log) they throw `ChronikLogError(.invalidOption)` naming the async
    /// API to use (stop 36, a library user: a metrics decorator around the
    /// log compiled and then trapped here).
    func localLog(_ api: String) throws -> EventLog {
        guard let log else {
            throw ChronikLogError(.invalidOption, "CommerceStore.\(api) reads a local EventLog synchronously; this store is a \(type(of: store)): use the async API (append, currentState(of:))")
        }
        return log
    }

    /// Validates `event`, checks the invariants and appends it to its
    /// derived stream.
    ///
    /// - Throws: `CommerceError` (a value rule or an invariant, naming the
    ///   field; `concurrencyConflict` after `maxRetries` lost races), or a
    ///   `ChronikLogError` from the log. Nothing is written on any error.
    @discardableResult
    public func append(_ event: CommerceEvent, id: EventID = .random(), time: Timestamp = .now(),
                       meta: [(key: String, value: String)] = [], stream: String? = nil) async throws -> AppendResult {
        try await append([CommerceEnvelope(event, id: id, time: time, meta: meta, stream: stream)])
    }

    /// Appends validated events of one stream as one atomic batch, checked
    /// as a whole: each event against the state the ones before it leave.
    ///
    /// Every envelope's `expectedVersion` is honoured, each at its place in
    /// the batch (`batchExpectation`; stop 34: the others' were ignored). A batch whose ids are all in
    /// the log already is an idempotent retry: the log compares contents.
    ///
    /// - Throws: as `append(_:id:time:meta:stream:)`; `invalidStream` when
    ///   the envelopes are not all of one stream.
    @discardableResult
    public func append(_ envelopes: [CommerceEnvelope]) async throws -> AppendResult {
        var envelopes = envelopes
        if !envelopes.isEmpty, envelopes.allSatisfy({ $0.event.knownType == .settlementLineReported }) {
            try await settlements.refresh(reading: store)
            let (fresh, known) = try screenRefreshed(envelopes)
            if fresh.isEmpty { return try await store.append(to: envelopes[0].stream, try await storedEvents(at: known), expected: .any) }
            envelopes = fresh
        }
        guard let first = envelopes.first else {
            throw CommerceError(.invalidStream, "an append needs at least one event")
        }
        let stream = first.stream
        guard envelopes.allSatisfy({ $0.stream == stream }) else {
            throw CommerceError(.invalidStream, field: "stream", "one append takes events of one stream")
        }
        // Erased personal data is decided over a whole input (the subject's
        // CustomerForgotten may come later in it): `CommerceImport` only.
        if let e = envelopes.first(where: { $0.erasure != nil }) {
            throw CommerceError(.missingField, field: e.erasure.flatMap { if case .required(let f) = $0 { f } else { nil } } ?? "data",
                                "personal data given as null (erased) is accepted only by an import, where the customer is forgotten")
        }
        // Erasure destroys a key; without a protector there is none, and
        // what was stored is plaintext for good (stop 36: a library user's
        // CommerceStore(log:) took the CustomerForgotten and every email
        // stayed readable).
        if protector == nil, !forgetsInPlaintext, let e = envelopes.first(where: { $0.event.knownType == .customerForgotten }) {
            throw CommerceError(.noProtector, field: "type",
                                "\(e.proposed.type) needs a CommerceStore with a protector (SubjectKeyVault.forLog): this store has none, "
                                + "so the personal data it appended is in plaintext and cannot be erased")
        }
        let plain = envelopes.map(\.proposed)
        let known = try await store.storedCount(ofIDs: plain.map(\.id))
        if known == plain.count {
            // An idempotent retry: decided (and checked) when first written;
            // sealing is deterministic, so the stored bytes compare equal.
            let result = try await store.append(to: stream, try sealed(envelopes), expected: .any)
            try destroyKeys(of: envelopes)
            return result
        }
        let proposed: [ProposedEvent]
        do { proposed = try sealed(envelopes) } catch {
            // A forgotten customer's key is destroyed, so sealing fails
            // first: the rule is said, as import says it (stop 35: 409
            // appendFailed, "personal data cannot be sealed").
            for e in envelopes {
                if let ref = e.event.customerReference, case .customer(let c) = try await currentState(of: ref.stream).state {
                    try c.check(customerId: ref.customerId, field: "data.customerId")
                }
            }
            throw error
        }
        if known > 0 {
            throw CommerceError(.appendFailed, field: "id",
                                "\(known) of \(proposed.count) event ids are already in the log: a retry must resend the same batch")
        }

        // A retry racing its original (a client's timeout while the first
        // request is still in flight): when the original lands first, this
        // one meets the state it left, and a guard refuses (stop 38, a
        // checkout service: 422 insufficientStock for a reservation that
        // was written). Before a refusal or another attempt, the ids are
        // looked up again; all in the log now is an idempotent retry, which
        // the log compares as ever.
        func writtenMeanwhile() async throws -> AppendResult? {
            guard try await store.storedCount(ofIDs: plain.map(\.id)) == plain.count else { return nil }
            let result = try await store.append(to: stream, proposed, expected: .any)
            try destroyKeys(of: envelopes)
            return result
        }
        // Appends to one stream through this store take turns, from the
        // read of its state to the append (stop 38, a checkout service: 32
        // threads reserving one SKU of 100,000 units, and 25 % of them got
        // 409 concurrencyConflict after 17 lost races each). Each waited a
        // group commit per attempt anyway: only one append per version
        // goes in. The retries stay for other processes on a shared store.
        await deciding.begin(stream)
        defer { deciding.end(stream) }
        var attempt = 0
        while true {
            if attempt > 0, let result = try await writtenMeanwhile() { return result }
            let current = try await currentState(of: stream)
            let next: StreamState
            do {
                // The forgotten-customer rule reaches across streams. It is
                // checked, not locked: a CustomerForgotten appended between this
                // read and the append below is not seen (docs/COMMANDS.md).
                for e in envelopes {
                    if let ref = e.event.customerReference, ref.stream != stream,
                       case .customer(let c) = try await currentState(of: ref.stream).state {
                        try c.check(customerId: ref.customerId, field: "data.customerId")
                    }
                }
                next = try decideCompletingErasure(envelopes, on: current.state, version: current.version)
            } catch let refusal as CommerceError {
                if let result = try await writtenMeanwhile() { return result }
                throw refusal
            }
            let asked = try Self.batchExpectation(envelopes)
            let expected: ExpectedVersion
            if case .unguarded = current.state {
                // No invariant reads an unguarded stream: the log checks
                // what the caller asked for, nothing more.
                expected = asked
            } else {
                // A guarded stream is always pinned to the version decided
                // on; what the caller asked for is checked here first.
                do { try Self.check(asked, stream: stream, actual: current.version) } catch let e as ChronikLogError {
                    if let result = try await writtenMeanwhile() { return result }
                    throw Self.naming(envelopes, e)
                }
                expected = current.version.map { .exact($0) } ?? .noStream
            }
            do {
                let result = try await store.append(to: stream, proposed, expected: expected)
                if !result.wasDuplicate {
                    remember(stream, Cached(state: next, version: result.lastVersion.value))
                }
                try destroyKeys(of: envelopes)
                return result
            } catch let error as ChronikLogError where error.code == .wrongExpectedVersion {
                if case .unguarded = current.state { throw Self.naming(envelopes, error) }
                attempt += 1
                guard attempt <= maxRetries else {
                    throw CommerceError(.concurrencyConflict, field: "stream",
                                        "stream \(stream) changed under \(maxRetries + 1) attempts in a row; try again")
                }
            }
        }
    }

    /// Settlement lines whose (gateway, gatewayRef) is new, and the
    /// positions of those already in the log with the same content (a
    /// no-op, EVENTS.md v1.2).
    ///
    /// - Throws: `duplicateGatewayRef` for a gatewayRef reported with
    ///   other content, in the log or earlier in `envelopes`.
    public func screenSettlementLines(_ envelopes: [CommerceEnvelope]) throws -> (fresh: [CommerceEnvelope], known: [Position]) {
        try settlements.refresh(try localLog("screenSettlementLines"))
        return try screenRefreshed(envelopes)
    }

    /// `screenSettlementLines` on an index already brought up to date.
    private func screenRefreshed(_ envelopes: [CommerceEnvelope]) throws -> (fresh: [CommerceEnvelope], known: [Position]) {
        var fresh: [CommerceEnvelope] = []
        var known: [Position] = []
        var inBatch: [String: [UInt8]] = [:]
        for e in envelopes {
            guard case .settlementLineReported(let l) = e.event else { continue }
            switch try settlements.verdict(l, data: e.proposed.data) {
            case .same(let p): known.append(p)
            case .new:
                try settlements.checkCurrency(l)
                let key = l.gateway + "\u{0}" + l.gatewayRef
                if let earlier = inBatch[key] {
                    guard earlier == e.proposed.data else {
                        throw CommerceError(.duplicateGatewayRef, field: "data.gatewayRef",
                                            "\(l.gateway) gatewayRef \(l.gatewayRef) appears twice with different content")
                    }
                    continue
                }
                inBatch[key] = e.proposed.data
                fresh.append(e)
            }
        }
        return (fresh, known)
    }

    /// The events at `positions` as they were proposed, for an idempotent
    /// retry that returns their positions.
    private func storedEvents(at positions: [Position]) async throws -> [ProposedEvent] {
        var out: [ProposedEvent] = []
        for p in positions {
            guard let e = try await store.readEvent(at: p) else {
                throw CommerceError(.appendFailed, "the settlement line at position \(p) cannot be read")
            }
            out.append(ProposedEvent(id: e.id, type: e.type, data: e.data, metadata: e.metadata, occurredAt: e.occurredAt))
        }
        return out
    }

    /// What the batch's events ask of the stream's version before the
    /// batch: event 0's expectedVersion, and each later event's turned into
    /// the same terms (before event `i` the stream is `i` events further
    /// on: `exact(v)` there asks `exact(v − i)` before the batch, or no
    /// stream when `v = i − 1`; `exists` always holds; `noStream` never).
    /// Stop 34: the later events' were ignored, so a client that stamped
    /// every event lost the check. `chronik append` checks each line.
    ///
    /// - Throws: `invalidExpectedVersion` when they cannot all hold.
    /// A `wrongExpectedVersion` of a batch whose expectation an event after
    /// the first gave, said in that event's terms and with its index (stop
    /// 35: `[{…},{…,"expectedVersion":5}]` to a stream at 1 was "expected
    /// version 4, actual 1", a number the caller never sent).
    static func naming(_ envelopes: [CommerceEnvelope], _ error: ChronikLogError) -> ChronikLogError {
        guard error.code == .wrongExpectedVersion, envelopes[0].expectedVersion == .any,
              let i = envelopes.indices.dropFirst().first(where: { envelopes[$0].expectedVersion != .any }) else { return error }
        var e = error
        let actual = error.actualVersion.map { $0.map { "version \($0)" } ?? "no event (noStream)" } ?? "another version"
        e.message = "wrong expected version for stream '\(error.stream ?? "")': event \(i) expects \(envelopes[i].expectedVersion) before it, "
            + "so \(error.expectedVersion.map { "\($0)" } ?? "another version") before the batch's first event; the stream is at \(actual)"
        e.index = i
        // The field is what the request gave, for that event (stop 42, a
        // helper: it was the batch's, a number the client never sent).
        e.expectedVersion = envelopes[i].expectedVersion
        return e
    }

    static func batchExpectation(_ envelopes: [CommerceEnvelope]) throws(CommerceError) -> ExpectedVersion {
        /// The error, naming the event (stop 35: these had no `index`).
        func indexed(_ e: CommerceError, _ i: Int) -> CommerceError {
            var e = e
            e.index = i
            return e
        }
        var asked = envelopes[0].expectedVersion
        for i in envelopes.indices.dropFirst() {
            let own = envelopes[i].expectedVersion
            let before: ExpectedVersion
            switch own {
            case .any, .exists: continue
            case .noStream:
                throw indexed(CommerceError(.invalidExpectedVersion, field: "expectedVersion",
                                            "event \(i) expects no stream, but the events before it in this batch are in it"), i)
            case .exact(let v):
                guard v + 1 >= UInt64(i) else {
                    throw indexed(CommerceError(.invalidExpectedVersion, field: "expectedVersion",
                                                "event \(i) expects version \(v), but \(i) event\(i == 1 ? "" : "s") of this batch come before it"), i)
                }
                before = v + 1 == UInt64(i) ? .noStream : .exact(v - UInt64(i))
            }
            switch (asked, before) {
            case (.any, _), (.exists, .exact): asked = before
            case (.exact(let a), .exact(let b)) where a == b: break
            case (.noStream, .noStream): break
            default:
                throw indexed(CommerceError(.invalidExpectedVersion, field: "expectedVersion",
                                            "event \(i)'s expectedVersion (\(own)) and the batch's (\(asked), before its first event) cannot both hold"), i)
            }
        }
        return asked
    }

    /// Throws the log's `wrongExpectedVersion` when `asked` does not hold.
    /// The events as stored: PII sealed under each event's subject key.
    private func sealed(_ envelopes: [CommerceEnvelope]) throws -> [ProposedEvent] {
        try envelopes.map(stored)
    }

    /// The event as this store writes it: its PII fields sealed under the
    /// subject's key when a protector is set (docs/GDPR.md).
    /// - Throws: when the subject's key is destroyed or the key store fails.
    public func stored(_ e: CommerceEnvelope) throws -> ProposedEvent {
        guard let protector, e.event.piiSubjectKey != nil else { return e.proposed }
        var p = e.proposed
        do {
            p.data = try e.event.encodedData(protector: protector)
        } catch let error as CommerceError {
            throw error
        } catch let error as ChronikLogError {
            throw error
        } catch let error as any PIIKeyRefusal {
            // The key store refused (a destroyed key, a key it should hold):
            // a conflict with the data, as before.
            throw CommerceError(.appendFailed, field: "data", "personal data cannot be sealed: \(error)")
        } catch {
            // The key store did not answer (a database away, "too many
            // clients"): a failure of the moment, not a refusal (stop 38, a
            // DBA: 409 appendFailed, which a client takes as final).
            throw ChronikLogError(.io, "personal data cannot be sealed now, the key store did not answer: \(error); nothing was written")
        }
        return p
    }

    /// The event as this store writes it when its personal data arrived
    /// erased (`PIIErasure`): blank fields and an empty sealed part, which
    /// reads as erased with or without a key (docs/GDPR.md).
    public func storedErased(_ e: CommerceEnvelope) -> ProposedEvent {
        var p = e.proposed
        p.data = e.event.encodedErasedData()
        return p
    }

    /// A CustomerForgotten, once in the log, destroys the customer's key
    /// (EVENTS.md GDPR). Destroying an already destroyed key is a no-op, so
    /// a retry after a failure here completes the erasure.
    func destroyKey(ofForgotten customerId: String) throws {
        guard let protector else { return }
        do {
            try protector.destroyKey(subject: PIISubject.customer(customerId))
        } catch {
            // Not appendFailed: the event is in the log (stop 36: a library
            // user read "appendFailed" as "nothing written").
            throw CommerceError(.erasureIncomplete, field: "data.customerId",
                                "CustomerForgotten for \(customerId) is in the log but destroying the key failed: \(error); "
                                + "append a CustomerForgotten for \(customerId) again (or run `chronik forget customer \(customerId)`) to destroy it")
        }
    }

    /// The same for a stored CustomerForgotten (import appends stored events).
    func destroyKey(ofForgotten event: ProposedEvent) throws {
        guard protector != nil, event.type == CustomerForgotten.typeName,
              case .customerForgotten(let f) = try CommerceEvent.decode(type: event.type, data: event.data) else { return }
        try destroyKey(ofForgotten: f.customerId)
    }

    private func destroyKeys(of envelopes: [CommerceEnvelope]) throws {
        for e in envelopes {
            if case .customerForgotten(let f) = e.event { try destroyKey(ofForgotten: f.customerId) }
        }
    }

    /// `decide`, and when it refuses a `CustomerForgotten` for a customer
    /// already forgotten, the key destroyed again first (idempotent): that
    /// completes an erasure whose key destruction failed
    /// (`erasureIncomplete`), whatever the retry's event id.
    private func decideCompletingErasure(_ envelopes: [CommerceEnvelope], on state: StreamState, version: UInt64?) throws -> StreamState {
        do {
            return try Self.decide(envelopes, on: state, version: version)
        } catch {
            if error.code == .customerForgotten {
                for e in envelopes {
                    if case .customerForgotten(let f) = e.event { try destroyKey(ofForgotten: f.customerId) }
                }
            }
            throw error
        }
    }

    static func check(_ asked: ExpectedVersion, stream: String, actual: UInt64?) throws {
        let holds = switch asked {
        case .any: true
        case .noStream: actual == nil
        case .exists: actual != nil
        case .exact(let v): actual == v
        }
        guard !holds else { return }
        var e = ChronikLogError(.wrongExpectedVersion,
                                "wrong expected version for stream '\(stream)': expected \(asked), actual \(actual.map { "version \($0)" } ?? "no event (noStream)")")
        e.stream = stream
        e.expectedVersion = asked
        e.actualVersion = .some(actual)
        throw e
    }

    /// Checks `envelopes` in order against `state`; the state after them.
    static func decide(_ envelopes: [CommerceEnvelope], on state: StreamState, version: UInt64?) throws(CommerceError) -> StreamState {
        var s = state
        var exists = version != nil
        for (i, e) in envelopes.enumerated() {
            do throws(CommerceError) {
                try s.check(e.event, streamExists: exists)
            } catch {
                var e = error
                if envelopes.count > 1, e.index == nil { e.index = i }
                throw e
            }
            s.apply(e.event)
            exists = true
        }
        return s
    }

    /// The folded state of `stream` as the local log holds it now
    /// (synchronous: a local log only; `currentState(of:)` reads any store).
    ///
    /// - Complexity: O(events appended to the stream since the last call).
    public func state(of stream: String) throws -> (state: StreamState, version: UInt64?) {
        let log = try localLog("state(of:)")
        var c = cached(stream)
        let last = log.lastVersion(of: stream)?.value
        if case .unguarded = c.state { return (c.state, last) }
        guard last != c.version else { return (c.state, c.version) }
        let cursor = log.read(stream: stream, from: c.version.map { StreamVersion($0 + 1) })
        while let e = try cursor.next() { try Self.fold(e, into: &c) }
        remember(stream, c)
        return (c.state, c.version)
    }

    /// The folded state of `stream` as the store holds it now, whichever
    /// store it is.
    ///
    /// - Complexity: O(events appended to the stream since the last call),
    ///   read in pages of `statePageSize`.
    public func currentState(of stream: String) async throws -> (state: StreamState, version: UInt64?) {
        var c = cached(stream)
        let last = try await store.lastVersion(of: stream)?.value
        if case .unguarded = c.state { return (c.state, last) }
        guard let last, last != c.version else { return (c.state, c.version) }
        // Bounded: each page advances the version; a stream never shrinks.
        while c.version.map({ $0 < last }) ?? true {
            let from = StreamVersion(c.version.map { $0 + 1 } ?? 0)
            let page = try await store.readStream(stream, from: from, limit: Self.statePageSize)
            guard !page.isEmpty else { break }
            for e in page { try Self.fold(e, into: &c) }
        }
        remember(stream, c)
        return (c.state, c.version)
    }

    /// Events of one stream read per round trip by `currentState(of:)`.
    static let statePageSize = 1024

    private func cached(_ stream: String) -> Cached {
        cache.withLock { $0[stream] } ?? Cached(state: StreamState(emptyFor: stream), version: nil)
    }

    private static func fold(_ e: RecordedEvent, into c: inout Cached) throws {
        c.state.apply(try CommerceEvent.decode(type: e.type, data: e.data))
        c.version = e.version.value
    }

    /// Caches `c` unless another task cached a newer state meanwhile.
    private func remember(_ stream: String, _ c: Cached) {
        cache.withLock { all in
            if let old = all[stream]?.version, (c.version.map { $0 <= old } ?? true) { return }
            all[stream] = c
        }
    }
}
