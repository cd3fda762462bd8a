// `chronik import`: JSON Lines through the commerce API, in two passes.
//
// Pass 1 parses and validates every line, decides every id (a retry of an
// earlier line or of an event in the log, or a conflict: IdempotentRetry),
// the event sizes and erased personal data, and runs the guards on an
// in-memory model seeded from the log, collecting every reject with its
// line number. Only then, when there is no reject (or with `skipInvalid`),
// pass 2 reads the file again and appends, batching consecutive lines of a
// stream, through `CommerceStore` (which checks the guards once more).
// So "a file with any invalid line writes nothing" holds for guard
// rejections too, not only for lines that do not parse. docs/COMMANDS.md.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// open(2) and close(2), under names the types' own `open`/`close` do not
/// shadow.
private func systemOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }

/// Imports a JSON Lines file through a `CommerceStore`.
public enum CommerceImport {
    /// What an import may do.
    public struct Options: Sendable {
        /// Append the valid lines and report the rest, instead of writing
        /// nothing when any line is bad.
        public var skipInvalid = false
        /// A longer line is refused with its number, never held in memory:
        /// six times the log's default maximum event (4 MiB, every
        /// character escaped) plus 1 MiB for the envelope, as `chronik
        /// import` and `append` take it (stop 42: this default was 5 MiB, a
        /// line the CLI takes).
        public var maxLineBytes = LogFormat.defaultMaxEventBytes * 6 + (1 << 20)
        /// A larger event (encoded, personal data sealed) is refused in pass
        /// 1, as the log would refuse it in pass 2; the log's own limit.
        public var maxEventBytes = LogFormat.defaultMaxEventBytes
        /// At most this many events per append.
        public var batchEvents = 1000
        /// At most this many rejects are kept (all are counted).
        public var maxRejectsKept = 10_000
        /// Pass 1 keeps the accepted events for pass 2 while they fit in
        /// about this many bytes; past it, pass 2 reads and parses the file
        /// again (half the parse work saved for files up to a few GB of
        /// events, bounded memory beyond).
        public var keepParsedBytes = 1 << 30

        public init() {}
    }

    /// A refused line.
    public struct Reject: Sendable, CustomStringConvertible {
        public var line: Int
        public var error: CommerceError
        public var description: String {
            var e = error
            e.line = line
            return e.description
        }
    }

    /// What an import did.
    public struct Summary: Sendable {
        /// Non-blank lines read.
        public var lines = 0
        /// Events appended (idempotent retries not counted).
        public var appended = 0
        /// Events whose id was in the log with the same content (idempotent
        /// retries of earlier appends: not appended again).
        public var duplicates = 0
        /// Lines that repeat an earlier line of the same input (same id,
        /// same stream, type, data and meta): retries, skipped.
        public var retries = 0
        /// Distinct streams appended to.
        public var streams = 0
        /// Refused lines, in line order (at most `maxRejectsKept`).
        public var rejects: [Reject] = []
        public var rejectCount = 0
        /// Whether anything was appended.
        public var wrote: Bool { appended > 0 }
    }

    /// The phase and the lines done, for progress reports.
    public enum Phase: Sendable { case checking, appending }

    /// Imports `path` into `store`'s log.
    ///
    /// - Parameter progress: called every 64K lines with the phase and the
    ///   lines done.
    /// - Returns: the summary; with rejects and not `skipInvalid`, nothing
    ///   was appended.
    /// - Throws: `CommerceError` when the file cannot be read, or when an
    ///   append fails in pass 2 (another writer changed a stream between
    ///   the passes, or I/O): its `line` says where; the lines before it
    ///   are in the log.
    public static func run(path: String, into store: CommerceStore, options: Options = Options(),
                           progress: (@Sendable (Phase, Int) -> Void)? = nil) async throws -> Summary {
        var summary = Summary()
        var skipped = Skipped()
        var kept: [AcceptedLine]? = []
        // Pass 1 seals (creating keys) and appends nothing: its new keys
        // are written in one go after it (stop 48: a write and a stat per
        // key created), whatever its outcome, before pass 2's first append.
        store.protector?.holdNewKeys()
        do {
            try check(path: path, store: store, options: options, summary: &summary, skipped: &skipped, kept: &kept,
                      progress: progress)
        } catch {
            try? store.protector?.writeHeldKeys()
            throw error
        }
        do { try store.protector?.writeHeldKeys() } catch {
            throw CommerceError(.appendFailed, "the key store cannot be written, nothing was imported: \(error)")
        }
        // The kept lines are let go of beside what follows the import (the
        // log's closing sync and index), not in front of it.
        defer { releaseAside(&kept) }
        if summary.rejectCount > 0 && !options.skipInvalid { return summary }
        try await append(path: path, store: store, options: options, skipping: skipped.lines, erased: skipped.erased, streams: skipped.streams,
                         kept: kept, summary: &summary, progress: progress)
        // A CustomerForgotten already in the log, sent again: complete its
        // erasure (destroying a destroyed key is a no-op).
        for customerId in skipped.forgottenRetries { try store.destroyKey(ofForgotten: customerId) }
        return summary
    }

    /// Frees `lines` on another thread. Stop 49: freeing the 500 k lines
    /// pass 1 kept (their strings and byte arrays) took ~0.1 s at the end
    /// of an import, after its last append and before the log's close.
    static func releaseAside(_ lines: inout [AcceptedLine]?) {
        guard let taken = lines.take(), !taken.isEmpty else { return }
        let box = ReleaseBox(consume taken)
        DispatchQueue.global(qos: .utility).async { box.release() }
    }

    /// Holds what `releaseAside` frees, so that its last reference is the
    /// one the other thread drops.
    private final class ReleaseBox: @unchecked Sendable {
        // @unchecked: `lines` is touched by one thread at a time, first the
        // one that boxes it, then the one that releases it.
        private var lines: [AcceptedLine]?
        init(_ lines: [AcceptedLine]) { self.lines = lines }
        func release() { lines = nil }
    }

    private static func open(_ path: String) throws(CommerceError) -> Int32 {
        let fd = systemOpen(path, O_RDONLY)
        guard fd >= 0 else { throw CommerceError(.invalidData, "cannot open \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// The lines pass 2 leaves out, and why.
    struct Skipped {
        /// Refused lines and retries (of a line or of an event in the log).
        var lines = Set<Int>()
        /// Customers whose CustomerForgotten, already in the log, came again.
        var forgottenRetries: [String] = []
        /// Lines whose personal data arrived erased, of a forgotten
        /// customer: stored erased (`CommerceStore.storedErased`).
        var erased = Set<Int>()
        /// The streams pass 1 admitted lines to: pass 2 sizes its table of
        /// them up front.
        var streams = 0
    }

    /// A line that gives its personal data as `null`, decided at the end of
    /// pass 1, when every CustomerForgotten of the input has been seen.
    struct ErasureClaim {
        var line: Int
        var envelope: CommerceEnvelope
        /// Its index in the kept lines, if kept.
        var keptIndex: Int?
    }

    /// Pass 1: every line parsed, validated and run through the guards on
    /// a model; ids compared with the log and with the lines before.
    static func check(path: String, store: CommerceStore, options: Options, summary: inout Summary,
                      skipped: inout Skipped, kept: inout [AcceptedLine]?,
                      progress: (@Sendable (Phase, Int) -> Void)?) throws {
        var keptBytes = 0
        let fd = try open(path)
        defer { close(fd) }
        // Parsed on every core, taken in line order (ParallelLineMap).
        // The workers also seal a line's personal data (`store.stored`), so
        // that the reading thread — which sets pass 1's pace — only takes
        // the result (stop 27: sealing was 36 % of that thread, the workers
        // ~35 % busy).
        var lines = ParallelLineMap(reader: BoundedLineReader(fd: fd, maxLineBytes: options.maxLineBytes)) { n, bytes in
            parseLine(n, bytes).map { parsed in parsed.map { p in ParsedLine(p, sealedBy: store) } }
        }
        var model = GuardModel(store: store)
        var ids = InputIDs()
        var claims: [ErasureClaim] = []
        // The customer whose order names each session (an erased session: `decide`).
        var sessionCustomers: [String: String] = [:]
        var rejected = Set<Int>()
        func reject(_ line: Int, _ error: CommerceError) {
            summary.rejectCount += 1
            rejected.insert(line)
            skipped.lines.insert(line)
            if summary.rejects.count < options.maxRejectsKept { summary.rejects.append(Reject(line: line, error: error)) }
        }
        while let item = try lines.next() {
            switch item {
            case .tooLong(let n, let bytes):
                summary.lines += 1
                reject(n, CommerceError(.lineTooLong, "line is \(bytes) bytes, longer than \(options.maxLineBytes) (the maximum event plus envelope)"))
            case .line(let n, let parsed):
                guard let parsed else { continue } // blank
                summary.lines += 1
                if summary.lines & 0xFFFF == 0 { progress?(.checking, summary.lines) }
                let env: CommerceEnvelope
                let sealed: Result<ProposedEvent, CommerceError>?
                let digest: ContentDigest?
                switch parsed {
                case .success(let p): (env, digest, sealed) = (p.envelope, p.digest, p.stored)
                case .failure(let error): reject(n, error); continue
                }
                let idWasGiven = digest != nil
                if let digest {
                    // A generated id is unique by construction. The same
                    // line again is a retry (an at-least-once producer):
                    // skipped, as the log would take it.
                    do {
                        if case .retry(let first) = try ids.admit(env.proposed.id, digest: digest, line: n) {
                            if rejected.contains(first) {
                                reject(n, CommerceError(.duplicateEventId, field: "id", "event id \(env.proposed.id) repeats line \(first), which was refused"))
                            } else {
                                summary.retries += 1
                                skipped.lines.insert(n)
                            }
                            continue
                        }
                    } catch { reject(n, error); continue }
                }
                do {
                    try checkSize(env, sealed: sealed, store: store, limit: options.maxEventBytes)
                    switch try model.admit(env, idWasGiven: idWasGiven) {
                    case .admitted: break
                    case .alreadyInLog:
                        // Decided here, not by the log in pass 2: a conflict
                        // must refuse the file before its first write.
                        summary.duplicates += 1
                        skipped.lines.insert(n)
                        if case .customerForgotten(let f) = env.event { skipped.forgottenRetries.append(f.customerId) }
                        continue
                    case .settlementAlreadyReported:
                        summary.duplicates += 1
                        skipped.lines.insert(n)
                        continue
                    case .settlementRepeated:
                        summary.retries += 1
                        skipped.lines.insert(n)
                        continue
                    }
                } catch let e as CommerceError { reject(n, e); continue } catch let e as ChronikLogError where e.code == .wrongExpectedVersion {
                    reject(n, CommerceError(.wrongExpectedVersion, field: "expectedVersion", e.message))
                    continue
                }
                if case .orderPlaced(let o) = env.event, let session = o.sessionId { sessionCustomers[session] = o.customerId }
                if env.erasure != nil { claims.append(ErasureClaim(line: n, envelope: env, keptIndex: kept?.count)) }
                if kept != nil {
                    let stored: ProposedEvent
                    do { stored = try sealed?.get() ?? store.stored(env) } catch let e as CommerceError { reject(n, e); continue }
                    // Arrays, strings and the struct: a rough upper bound.
                    keptBytes += env.proposed.data.count + env.proposed.metadata.count + env.stream.utf8.count
                        + env.proposed.type.utf8.count + 192
                    if keptBytes > options.keepParsedBytes {
                        kept = nil
                    } else {
                        kept!.append(AcceptedLine(line: n, stream: env.stream, event: stored, expected: env.expectedVersion))
                    }
                }
            }
        }
        let (erased, refused) = try decide(claims, model: &model, store: store, skipping: skipped.lines, kept: &kept,
                                           sessionCustomers: sessionCustomers)
        skipped.erased = erased
        skipped.streams = model.streamCount
        if !refused.isEmpty {
            for (n, e) in refused { reject(n, e) }
            let lines = Set(refused.map(\.line))
            if kept != nil { kept!.removeAll { lines.contains($0.line) } }
            summary.rejects.sort { $0.line < $1.line }
        }
    }

    /// A line of pass 1 as a worker leaves it: parsed, and its event as
    /// stored (`CommerceStore.stored`: personal data sealed) when it has
    /// personal data to seal. Sealing is deterministic and the key store
    /// safe from several threads; a line the check then refuses may have
    /// had its subject's key created, as a refused file's accepted lines
    /// always could.
    struct ParsedLine: Sendable {
        var envelope: CommerceEnvelope
        /// The content's digest when the line gave its id (nil: the id was
        /// generated, unique by construction), for `InputIDs.admit`.
        var digest: ContentDigest?
        /// nil: nothing to seal (no protector, or no personal data).
        var stored: Result<ProposedEvent, CommerceError>?

        init(_ p: (envelope: CommerceEnvelope, idWasGiven: Bool), sealedBy store: CommerceStore) {
            envelope = p.envelope
            digest = p.idWasGiven ? ContentDigest(p.envelope) : nil
            guard store.protector != nil, p.envelope.event.piiSubjectKey != nil else { return }
            do {
                stored = .success(try store.stored(p.envelope))
            } catch let e as CommerceError {
                stored = .failure(e)
            } catch {
                stored = .failure(CommerceError(.appendFailed, field: "data", "personal data cannot be sealed: \(error)"))
            }
        }
    }

    /// One line of pass 1, parsed and validated on its own (on a worker
    /// thread): nil when blank.
    @Sendable static func parseLine(_ number: Int, _ bytes: ArraySlice<UInt8>)
        -> Result<(envelope: CommerceEnvelope, idWasGiven: Bool), CommerceError>? {
        if isBlank(bytes) { return nil }
        do throws(CommerceError) {
            return .success(try CommerceEnvelope.parseNotingID(line: bytes, rules: .importing))
        } catch {
            return .failure(error)
        }
    }

    /// Erased personal data (`null` where an export wrote a forgotten
    /// customer's data) is accepted exactly where the customer is
    /// forgotten — by a CustomerForgotten in the log or anywhere in the
    /// input — and stored erased; so is the `ip: null` of an anonymous
    /// session that an order of such a customer in the input names (erased
    /// with them); a `null` required field of
    /// anyone else is refused; `null` optional fields of anyone else read
    /// as absent.
    static func decide(_ claims: [ErasureClaim], model: inout GuardModel, store: CommerceStore, skipping: Set<Int>,
                       kept: inout [AcceptedLine]?, sessionCustomers: [String: String] = [:])
        throws -> (erased: Set<Int>, refused: [(line: Int, error: CommerceError)]) {
        var erased = Set<Int>()
        var refused: [(line: Int, error: CommerceError)] = []
        for c in claims where !skipping.contains(c.line) {
            let customer = c.envelope.event.piiSubjectKey.flatMap { key -> String? in
                key.hasPrefix("customer:") ? String(key.dropFirst("customer:".count)) : nil
            }
            // An anonymous session's IP given as null, named by an order of
            // a forgotten customer, is what an export writes for a session
            // erased with them (stop 36): stored erased, so that export →
            // import → export is the same.
            var forgotten = false
            if let customer {
                forgotten = try model.isForgotten(customer)
            } else if c.envelope.erasure == .ifForgotten, let key = c.envelope.event.piiSubjectKey, key.hasPrefix("session:"),
                      let owner = sessionCustomers[String(key.dropFirst("session:".count))] {
                forgotten = try model.isForgotten(owner)
            }
            if forgotten {
                erased.insert(c.line)
                if let i = c.keptIndex, kept != nil, i < kept!.count, kept![i].line == c.line {
                    kept![i].event = store.storedErased(c.envelope)
                }
            } else if case .required(let field) = c.envelope.erasure {
                let whose = customer.map { "customer \($0) is not forgotten (no CustomerForgotten in the log or in this input)" }
                    ?? "its subject is not a customer"
                refused.append((c.line, CommerceError(.missingField, field: field,
                                                      "\(field) is null: personal data may be null (erased) only for a forgotten customer, and \(whose)")))
            }
        }
        return (erased, refused)
    }

    /// Refuses an event the log would refuse as too large. Sealing adds a
    /// few dozen bytes and the subject's name: only an event near the limit
    /// is sealed here to measure it exactly.
    /// `sealed`: the event as stored, when a worker sealed it already.
    static func checkSize(_ env: CommerceEnvelope, sealed: Result<ProposedEvent, CommerceError>?, store: CommerceStore,
                          limit: Int) throws {
        var size = env.proposed.encodedByteCount
        if size + 1024 > limit, env.event.piiSubjectKey != nil {
            size = try (sealed?.get() ?? store.stored(env)).encodedByteCount
        }
        guard size > limit else { return }
        throw CommerceError(.eventTooLarge, "event is \(size) bytes encoded, at most \(limit) allowed (see --max-event-bytes)")
    }

    /// One append of pass 2.
    struct PlannedBatch: Sendable {
        var stream: String
        /// The stream's number in this pass (`append`'s `slots`).
        var streamNumber: Int
        var events: [ProposedEvent]
        var expected: ExpectedVersion
        var firstLine: Int
        var bytes: Int
    }

    /// What one pipelined append returned.
    struct BatchOutcome: Sendable {
        var index: Int
        var firstLine: Int
        var count: Int
        var streamNumber: Int
        var result: Result<Bool, CommerceError> // wasDuplicate
        /// The batch's CustomerForgotten events.
        var forgotten: [ProposedEvent] = []
    }

    /// Pass 2: the accepted lines appended in file order, one batch per run
    /// of a stream, many batches in flight.
    ///
    /// Pass 1 decided every line on a model of the log, and this process
    /// holds the log's writer lock; so each batch of a guarded stream is
    /// pinned to the version the model expects (`.exact`, `.noStream`):
    /// should the log differ from the model after all, the append fails
    /// instead of writing an undecided event. Batches are started on a
    /// serial executor, so they reach the log's queue in file order (log
    /// order = file order) while up to `window` of them share the writer's
    /// group commits: one thread hand-off per batch was 90% of the time.
    static func append(path: String, store: CommerceStore, options: Options, skipping rejected: Set<Int>,
                       erased: Set<Int>, streams streamsSeen: Int, kept: [AcceptedLine]?, summary: inout Summary,
                       progress: (@Sendable (Phase, Int) -> Void)?) async throws {
        // The accepted lines: kept by pass 1, or read and parsed again.
        var source = AcceptedLines(kept: kept)
        if kept == nil { try source.open(path: path, options: options, skipping: rejected, erased: erased, store: store) }
        defer { source.close() }
        let log = try store.localLog("import")
        // Each stream seen in this pass: whether it is guarded, its number
        // (which marks the streams appended to; stop 50: a set of their
        // names, one insert of a string per batch, was ~1.3 % of an import)
        // and, guarded, its last version after the lines read so far.
        struct Slot {
            var guarded: Bool
            var number: Int
            var last: UInt64?
        }
        // Sized from pass 1's count of streams: grown from empty, it was
        // rehashed at every doubling (stop 51: ~2 % of an import).
        var slots: [String: Slot] = [:]
        slots.reserveCapacity(streamsSeen)
        var appendedTo: [Bool] = []
        appendedTo.reserveCapacity(streamsSeen)
        var current: PlannedBatch?
        var done = 0
        var index = 0
        var streams = 0
        var failure: (line: Int, error: CommerceError)?
        // Batches go to the log in chunks of `chunkBatches`, each chunk one
        // `appendAll` (one hand-off to the writer, one suspension), up to
        // `window` chunks in flight (stop 28: a task, a continuation and a
        // lock hand-off per batch set the pace of this pass).
        let chunkBatches = 64
        let window = 4
        let executor = SerialTaskExecutor()
        var chunk: [PlannedBatch] = []
        // The log takes a prefix of the batches: after one fails, none of
        // the chunks in flight appends a later one (stop 35).
        let sequence = AppendSequence()
        let erasures = Erasures(store: store)

        try await withThrowingTaskGroup(of: [BatchOutcome].self) { group in
            var inFlight = 0
            func collect(_ outcomes: [BatchOutcome]) {
                inFlight -= 1
                for o in outcomes {
                    switch o.result {
                    case .success(let duplicate):
                        if duplicate { summary.duplicates += o.count } else {
                            summary.appended += o.count
                            if !appendedTo[o.streamNumber] {
                                appendedTo[o.streamNumber] = true
                                streams += 1
                            }
                        }
                        // GDPR: a CustomerForgotten in the log destroys the key.
                        for event in o.forgotten { erasures.destroyKey(ofForgotten: event, line: o.firstLine) }
                    case .failure(let e):
                        if failure.map({ o.firstLine < $0.line }) ?? true { failure = (o.firstLine, e) }
                    }
                }
            }
            func submitChunk() async throws {
                guard !chunk.isEmpty else { return }
                while inFlight >= window, let o = try await group.next() { collect(o) }
                let batches = chunk
                chunk = []
                let first = index
                index += batches.count
                inFlight += 1
                group.addTask(executorPreference: executor) {
                    // Runs on the serial executor up to its first suspension,
                    // which is after the log queued the chunk's batches.
                    func outcome(_ k: Int, _ result: Result<Bool, CommerceError>) -> BatchOutcome {
                        let b = batches[k]
                        return BatchOutcome(index: first + k, firstLine: b.firstLine, count: b.events.count, streamNumber: b.streamNumber,
                                            result: result,
                                            forgotten: (try? result.get()) != nil
                                                ? b.events.filter { $0.type == CustomerForgotten.typeName } : [])
                    }
                    func refusal(_ error: any Error) -> CommerceError {
                        error as? CommerceError ?? CommerceError(.appendFailed, "\(error)")
                    }
                    var outcomes = [BatchOutcome?](repeating: nil, count: batches.count)
                    var prepared: [(batch: PreparedBatch, expected: ExpectedVersion)] = []
                    var slots: [Int] = []
                    for (k, b) in batches.enumerated() {
                        do {
                            prepared.append((try log.prepare(to: b.stream, b.events), b.expected))
                            slots.append(k)
                        } catch {
                            sequence.stop(at: first + k)
                            outcomes[k] = outcome(k, .failure(refusal(error)))
                        }
                    }
                    for (j, r) in (await log.appendAll(prepared, sequence: sequence, indices: slots.map { first + $0 })).enumerated() {
                        outcomes[slots[j]] = outcome(slots[j], r.map(\.wasDuplicate).mapError(refusal))
                    }
                    return outcomes.map { $0! }
                }
            }
            func flush() async throws {
                guard let b = current else { return }
                current = nil
                chunk.append(b)
                if chunk.count >= chunkBatches { try await submitChunk() }
            }

            // The stream of the run of lines being read and its slot: looked
            // up once per run, not per line, and written back when another
            // stream's line comes (stop 50: three look-ups of a string key
            // per line were ~2 % of an import, on the task that feeds the
            // writer).
            var run: (stream: String, slot: Slot)?
            func endRun() {
                if let r = run, r.slot.guarded { slots[r.stream] = r.slot }
                run = nil
            }
            while failure == nil, !erasures.failed, let accepted = try source.next() {
                let n = accepted.line
                done += 1
                if done & 0xFFFF == 0 { progress?(.appending, done) }
                let stream = accepted.stream
                if run?.stream != stream {
                    endRun()
                    if let s = slots[stream] { run = (stream, s) } else {
                        let guarded = if case .unguarded = StreamState(emptyFor: stream) { false } else { true }
                        let slot = Slot(guarded: guarded, number: appendedTo.count,
                                        last: guarded ? log.lastVersion(of: stream)?.value : nil)
                        slots[stream] = slot
                        appendedTo.append(false)
                        run = (stream, slot)
                    }
                }
                let size = accepted.event.encodedByteCount
                if let c = current, c.stream != stream || c.events.count >= options.batchEvents
                    || c.bytes + size > maxBatchBytes || accepted.expected != .any {
                    try await flush()
                }
                if current == nil {
                    let slot = run!.slot
                    let expected: ExpectedVersion = if slot.guarded { slot.last.map { .exact($0) } ?? .noStream } else { accepted.expected }
                    current = PlannedBatch(stream: stream, streamNumber: slot.number, events: [], expected: expected, firstLine: n,
                                           bytes: 0)
                }
                current!.events.append(accepted.event)
                current!.bytes += size
                if run!.slot.guarded { run!.slot.last = run!.slot.last.map { $0 + 1 } ?? 0 }
            }
            endRun()
            if failure == nil, !erasures.failed {
                try await flush()
                try await submitChunk()
            }
            while let o = try await group.next() { collect(o) }
        }
        summary.streams = streams
        let erasureFailure = await erasures.finish()
        if let erasureFailure, failure.map({ erasureFailure.line < $0.line }) ?? true {
            var e = erasureFailure.error
            e.line = erasureFailure.line
            e.message += " (pass 2; \(summary.appended) events were appended: the accepted lines before it, it, and the batches already on their way to the log after it)"
            throw e
        }
        if let failure {
            var e = failure.error
            e.line = failure.line
            e.message += " (pass 2; \(summary.appended) events were appended: the accepted lines before it, none after it)"
            throw e
        }
    }

    /// Pass 2's key destructions, one after another in log order on a
    /// queue of their own, beside the appends: each one rewrites a key
    /// file durably, with its customer's sessions' (stop 48: done between
    /// the appends they were a quarter of pass 2's time, the writer idle).
    /// Each starts after its CustomerForgotten was appended; the first to
    /// fail stops the appends at the next chunk, and the import reports
    /// it.
    final class Erasures: Sendable {
        private let queue = DispatchQueue(label: "chronik.import.erasures")
        private let store: CommerceStore
        private let firstFailure = Mutex<(line: Int, error: CommerceError)?>(nil)
        /// Whether `firstFailure` is set: read for every line appended,
        /// without taking the lock.
        private let anyFailed = Atomic<Bool>(false)

        init(store: CommerceStore) { self.store = store }

        /// Destroys the key of `event`'s customer, the CustomerForgotten
        /// of line `line`, once the destructions before it are done.
        func destroyKey(ofForgotten event: ProposedEvent, line: Int) {
            queue.async { [self] in
                do { try store.destroyKey(ofForgotten: event) } catch {
                    let e = error as? CommerceError ?? CommerceError(.erasureIncomplete, field: "data.customerId", "\(error)")
                    firstFailure.withLock { f in if f.map({ line < $0.line }) ?? true { f = (line, e) } }
                    anyFailed.store(true, ordering: .relaxed)
                }
            }
        }

        /// Whether a destruction failed.
        var failed: Bool { anyFailed.load(ordering: .relaxed) }

        /// Waits for every destruction asked; the first failure in line order.
        func finish() async -> (line: Int, error: CommerceError)? {
            await withCheckedContinuation { c in queue.async { c.resume() } }
            return firstFailure.withLock { $0 }
        }
    }

    /// A batch is cut before it passes this many encoded bytes (bounds the
    /// memory of one write).
    static let maxBatchBytes = 8 << 20

    /// A line of only spaces, tabs and a CR: skipped by import and append.
    public static func isBlank(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}

/// A line pass 1 accepted, as pass 2 appends it.
struct AcceptedLine: Sendable {
    var line: Int
    var stream: String
    var event: ProposedEvent
    var expected: ExpectedVersion
}

/// The accepted lines in file order: from memory, or from the file again.
struct AcceptedLines {
    private var kept: [AcceptedLine]?
    private var index = 0
    private var fd: Int32 = -1
    private var reader: BoundedLineReader?
    private var rejected: Set<Int> = []

    init(kept: [AcceptedLine]?) { self.kept = kept }

    private var store: CommerceStore?

    /// Lines stored erased (`CommerceImport.Skipped.erased`).
    private var erased: Set<Int> = []

    mutating func open(path: String, options: CommerceImport.Options, skipping rejected: Set<Int>, erased: Set<Int>,
                       store: CommerceStore) throws {
        self.store = store
        self.erased = erased
        fd = systemOpen(path, O_RDONLY)
        guard fd >= 0 else { throw CommerceError(.invalidData, "cannot open \(path): \(String(cString: strerror(errno)))") }
        reader = BoundedLineReader(fd: fd, maxLineBytes: options.maxLineBytes)
        self.rejected = rejected
    }

    mutating func close() {
        if fd >= 0 { _ = systemClose(fd) }
        fd = -1
    }

    mutating func next() throws -> AcceptedLine? {
        if let kept {
            guard index < kept.count else { return nil }
            defer { index += 1 }
            return kept[index]
        }
        guard reader != nil else { return nil }
        while let item = try reader!.next() {
            guard case .line(let n, let bytes) = item, !rejected.contains(n), !CommerceImport.isBlank(bytes) else { continue }
            // Parsed in pass 1 already: this cannot fail unless the file
            // changed in between.
            let (env, _) = try CommerceEnvelope.parseNotingID(line: bytes, lineNumber: n, rules: .importing)
            let event = if erased.contains(n), let store { store.storedErased(env) } else { try store?.stored(env) ?? env.proposed }
            return AcceptedLine(line: n, stream: env.stream, event: event, expected: env.expectedVersion)
        }
        return nil
    }
}

/// The guards over an in-memory model: states seeded from the log on first
/// touch, then advanced by each admitted event without writing anything.
/// `import` and `append` decide every line on it before their first write.
public struct GuardModel {
    public let store: CommerceStore
    private var streams: [String: (state: StreamState, version: UInt64?)] = [:]
    /// The streams touched so far (admitted to, or read for a check).
    var streamCount: Int { streams.count }
    /// The settlement lines admitted so far: (gateway, gatewayRef) → data.
    private var settlementLines: [String: [UInt8]] = [:]
    /// The orders, payments and refunds admitted so far: what a settlement
    /// line's currency is checked against before the log (stop 34).
    private var paymentCurrencies = PaymentCurrencies()
    /// Settlement lines admitted before their payment (or refund) was
    /// known, by "p:" paymentId or "r:" refundId: checked when the
    /// PaymentAuthorized or RefundIssued comes (stop 35: a USD line before
    /// its EUR order was taken, and "matched" the capture).
    private var linesAhead: [String: (currency: String, gateway: String, gatewayRef: String)] = [:]

    public init(store: CommerceStore) { self.store = store }

    /// Refuses a PaymentAuthorized or RefundIssued whose order's currency
    /// differs from a settlement line earlier in the input that names it.
    private mutating func checkLinesAhead(_ event: CommerceEvent) throws {
        guard !linesAhead.isEmpty else { return }
        let key: String, orderId: String
        switch event {
        case .paymentAuthorized(let a): (key, orderId) = ("p:" + a.paymentId, a.orderId)
        case .refundIssued(let r): (key, orderId) = ("r:" + r.refundId, r.orderId)
        default: return
        }
        guard let line = linesAhead[key], case .order(let o) = try load("order-" + orderId).state,
              let currency = o.currency, currency != line.currency else { return }
        throw CommerceError(.invalidCurrency, field: "data.orderId",
                            "order \(orderId) is in \(currency), but \(line.gateway) settlement line \(line.gatewayRef) earlier in the input settles it in \(line.currency): a gateway settles a payment in its currency")
    }

    private mutating func load(_ stream: String) throws -> (state: StreamState, version: UInt64?) {
        streams.values[try slot(stream)]
    }

    /// Whether `customerId` is forgotten in the log or by an admitted event.
    public mutating func isForgotten(_ customerId: String) throws -> Bool {
        guard case .customer(let c) = try load("customer-" + customerId).state else { return false }
        return c.isForgotten
    }

    /// What `admit` decided.
    public enum Admission: Equatable, Sendable {
        /// Checked and held by the model: to be appended.
        case admitted
        /// Its id is in the log with the same content: an idempotent retry,
        /// not appended again (nothing checked: it was when first written).
        case alreadyInLog
        /// A settlement line whose gateway and gatewayRef the log holds
        /// with the same content (EVENTS.md v1.2): a no-op, not appended.
        case settlementAlreadyReported
        /// The same for an earlier line of the same input: a retry, skipped
        /// (stop 34: it was counted as "already in the log").
        case settlementRepeated
    }

    /// Checks `env` as `CommerceStore.append` would; on success the model
    /// holds it.
    ///
    /// - Returns: `.settlementAlreadyReported` for a settlement line the
    ///   log or an earlier line already holds with the same content.
    /// - Throws: `CommerceError` — a rule or guard, or `duplicateEventId`
    ///   when its id is in the log with other content.
    @discardableResult
    public mutating func admit(_ env: CommerceEnvelope, idWasGiven: Bool = true) throws -> Admission {
        if idWasGiven, try store.checkRetry(env) { return .alreadyInLog }
        if case .settlementLineReported(let l) = env.event {
            // A gatewayRef once per gateway (EVENTS.md v1.2): against the log, then the input.
            if try store.screenSettlementLines([env]).fresh.isEmpty { return .settlementAlreadyReported }
            if try !store.settlements.checkCurrency(l, input: paymentCurrencies) {
                let ahead = (l.currency, l.gateway, l.gatewayRef)
                if let p = l.paymentId, linesAhead["p:" + p] == nil { linesAhead["p:" + p] = ahead }
                if l.paymentId == nil, let r = l.refundId, linesAhead["r:" + r] == nil { linesAhead["r:" + r] = ahead }
            }
            let key = l.gateway + "\u{0}" + l.gatewayRef
            if let earlier = settlementLines[key] {
                guard earlier == env.proposed.data else {
                    throw CommerceError(.duplicateGatewayRef, field: "data.gatewayRef",
                                        "\(l.gateway) gatewayRef \(l.gatewayRef) is earlier in the input with other content")
                }
                return .settlementRepeated
            }
            settlementLines[key] = env.proposed.data
        }
        if let ref = env.event.customerReference, ref.stream != env.stream,
           case .customer(let c) = try load(ref.stream).state {
            try c.check(customerId: ref.customerId, field: "data.customerId")
        }
        // The stream looked up once and decided in place, as
        // `CommerceStore.decide` does for one event (stop 28: a copy of
        // the state, an array and a second look-up per line were a third
        // of `chronik append`'s check).
        try checkLinesAhead(env.event)  // before `i`: it may load a stream
        let i = try slot(env.stream)
        let version = streams.values[i].version
        // Every stream's version is modelled, so a line's own
        // expectedVersion is decided here, not found wrong midway in pass 2.
        try CommerceStore.check(env.expectedVersion, stream: env.stream, actual: version)
        try streams.values[i].state.check(env.event, streamExists: version != nil)
        streams.values[i].state.apply(env.event)
        streams.values[i].version = version.map { $0 + 1 } ?? 0
        paymentCurrencies.note(env.event)
        return .admitted
    }

    /// Where `stream` is in the model, loaded from the store on first use.
    private mutating func slot(_ stream: String) throws -> [String: (state: StreamState, version: UInt64?)].Index {
        if let i = streams.index(forKey: stream) { return i }
        streams[stream] = try store.state(of: stream)
        return streams.index(forKey: stream)!
    }
}

/// Runs jobs one at a time in the order they are enqueued: tasks added to a
/// group with this preference start in the order they were added.
public final class SerialTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the only state is the serial queue, itself thread-safe.
    private let queue = DispatchQueue(label: "chronik.import.ordered-appends")

    public init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
