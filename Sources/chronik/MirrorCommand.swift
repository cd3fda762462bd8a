import ArgumentParser
import ChronikCommerce
import ChronikLog
import ChronikServer
import ChronikPostgres
import Foundation

/// `chronik mirror`: the shared PostgreSQL log followed into a local
/// Chronik log, so that replay and queries run at local speed on every
/// server (docs/POSTGRES.md, "Mirror").
struct Mirror: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a PostgreSQL store into a local log and keep following it.",
        discussion: """
            Appends every event of the store that the local log does not hold \
            yet, with the same positions, streams, stream versions, ids, types, \
            times, data and meta; the local log is then a normal Chronik log \
            (replay, query, export, verify). Its personal data stays sealed \
            under the store's master key, which a log's key store is not: \
            export the mirror with --without-personal-data, or the store \
            itself with --master-key FILE. Consecutive events of one stream \
            appended together in the store are appended as one batch. The \
            recorded-at time and the chain hash are the local log's own: each \
            side verifies its own chain.

            Before copying, the local log's last event must be the store's \
            event at that position, the same in every field but the \
            recorded-at time; otherwise nothing is written and the command \
            exits 1: the directory mirrors another store. Following, the \
            same is checked again whenever the store answers after being \
            away, and a store that holds fewer events than the local log \
            stops the command: it was recreated or restored from an older \
            backup, and is no longer the store this log mirrors.

            Examples (they need a PostgreSQL server; ChronikPostgresTests runs them):
              chronik mirror --log mirror --store postgres://chronik@db:5432/shop
              chronik mirror --log mirror --store postgres://chronik@db:5432/shop -f
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: ArgumentHelp("The PostgreSQL store to copy.", valueName: "postgres://user@host:port/db"))
    var store: String

    @Flag(name: [.customShort("f"), .long], help: "Keep running and copy new events as they are committed, waiting out a store that is away (a restart, a failover); stop with Ctrl-C.")
    var follow = false

    @Option(name: .customLong("poll-ms"), parsing: .unconditional, help: ArgumentHelp("With --follow: how often to look for new events, in milliseconds.",
                                                            valueName: "ms"))
    var pollMilliseconds = 200

    func validate() throws {
        do { _ = try PostgresStore.Location(url: store) } catch let e as ChronikLogError { throw ValidationError(e.message) }
        guard pollMilliseconds >= 1 else { throw ValidationError("--poll-ms must be at least 1") }
    }

    func run() async throws {
        let source = try PostgresStore(url: store)
        let path = options.directory()
        let existed = FileManager.default.fileExists(atPath: path)
        do {
            try await copy(from: source)
            await source.close()
        } catch {
            await source.close()
            // A log this run created and left empty (the store unreachable,
            // refused) is not left behind (stop 39: `mirror --log NEW` of an
            // unreachable store left NEW with a segment and a LOCK file).
            if !existed, holdsNoEvent(path) { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    func copy(from source: PostgresStore) async throws {
        let log = try options.openForWriting(try CreationOptions.parse([]), sayWhenCreated: false)
        defer { try? log.close() }
        log.waitUntilIndexed()
        var next = log.head.value
        try await Self.checkMirrors(log, source, next: next)
        // A Ctrl-C or SIGTERM stops between batches, closes the log and says
        // how far it got (stop 43, a helper: the signal ended the command at
        // once, no word, and the next open cut the zeroed space left).
        let interrupt = AppendInterrupt.shared
        interrupt.install()
        interrupt.appending(to: log, stopsBetweenBatches: true, command: "mirror")
        func stopIfAsked() {
            guard interrupt.stopRequested else { return }
            interrupt.finishStopped(log) { start, head in
                "mirror stopped; copied \(head - start) event\(head - start == 1 ? "" : "s"); \(log.directory) holds positions 0..<\(head) of \(source.location), and a re-run goes on from there"
            }
        }
        var copied: UInt64 = 0
        var unreachableSince: ContinuousClock.Instant?
        while true {
            let page: [RecordedEvent]
            do {
                page = try await source.readAll(from: Position(next), limit: 4096)
                if let since = unreachableSince {
                    options.note("chronik: note: \(source.location) answers again (after \(formatDuration(since.duration(to: .now))))")
                    unreachableSince = nil
                    // Away, it may have been recreated or restored (stop 43, a
                    // helper: a recreated store's events were appended after
                    // the old store's, unsaid).
                    try await Self.checkMirrors(log, source, next: next)
                }
                // Here, where a store that is away is waited for (a read of
                // its head that a restart breaks must not end a follower:
                // stop 43, the failover test under load).
                if page.isEmpty { try await Self.checkHead(log, source, next: next) }
            } catch let e as ChronikLogError where follow && e.code == .io {
                // Following, a store that is away (a restart, a failover)
                // is waited for, as a subscription waits (stop 35: a 0.4 s
                // restart ended the command). Said once; tried every second.
                if unreachableSince == nil {
                    unreachableSince = .now
                    options.note("chronik: warning: \(e.message); trying again every second (the log holds positions 0..<\(next))")
                }
                try await Task.sleep(for: .seconds(1))
                stopIfAsked()
                continue
            }
            if page.isEmpty {
                if !follow { break }
                try await Task.sleep(for: .milliseconds(pollMilliseconds))
                stopIfAsked()
                continue
            }
            var i = 0
            while i < page.count {
                var j = i + 1
                while j < page.count, page[j].stream == page[i].stream, page[j].recordedAt == page[i].recordedAt,
                      page[j].version.value == page[j - 1].version.value + 1 { j += 1 }
                let run = page[i..<j]
                let first = run.first!
                let proposed = run.map {
                    ProposedEvent(id: $0.id, type: $0.type, data: $0.data, metadata: $0.metadata, occurredAt: $0.occurredAt)
                }
                let expected: ExpectedVersion = first.version.value == 0 ? .noStream : .exact(first.version.value - 1)
                let result: AppendResult
                do {
                    result = try await log.append(to: first.stream, proposed, expected: expected)
                } catch let e as ChronikLogError where [.invalidStreamName, .invalidEventType].contains(e.code) {
                    // A name the store took before the local log's rules
                    // (Unicode NFC since stop 31): say where, copy nothing more.
                    throw CommandFailure("store position \(first.position): the local log refuses this batch (\(e.message)); the events before it are mirrored")
                }
                guard result.firstPosition == first.position, !result.wasDuplicate else {
                    throw CommandFailure("mirror diverged: store position \(first.position) became local position \(result.firstPosition)")
                }
                next = first.position.value + UInt64(run.count)
                copied += UInt64(run.count)
                i = j
                stopIfAsked()
            }
            if follow { options.note("chronik: mirrored up to position \(next)") }
        }
        struct Report: Encodable { var copied, head: UInt64 }
        emit(options, json: [try JSONValue(encoding: Report(copied: copied, head: next)).text],
             text: ["copied \(copied) events from \(source.location); local log \(log.directory) holds positions 0..<\(next)"])
    }

    /// At the end of the store's rows (`next`): a store that holds fewer
    /// events than mirrored here is not the store this log mirrors (stop
    /// 43, a helper: following said nothing while it did); one whose head
    /// row says more than its rows hold lost rows at its end
    /// (`checkRowsReachHead`, as `read` checks: mirrored as if it ended there).
    static func checkHead(_ log: EventLog, _ source: PostgresStore, next: UInt64) async throws {
        let head = try await source.headPosition().value
        if head < next {
            throw CommandFailure("\(source.location) holds \(head) events, fewer than the \(next) mirrored in \(log.directory): it is not the store this log mirrors (recreated, or restored from an older backup); nothing more written")
        }
        try await checkRowsReachHead(source, from: next, head: head)
    }

    /// Refuses a local log whose last event (at `next - 1`) is not the
    /// store's event there, the same in every field but the recorded-at
    /// time, which each side keeps its own (stop 43, a helper: only the id
    /// was compared, and events with another time or other data passed).
    static func checkMirrors(_ log: EventLog, _ source: PostgresStore, next: UInt64) async throws {
        guard next > 0 else { return }
        let local = try log.event(at: Position(next - 1))
        let remote = try await source.readAll(from: Position(next - 1), limit: 1).first
        guard let local, let remote, local.id == remote.id, local.stream == remote.stream, local.version == remote.version,
              local.type == remote.type, local.occurredAt == remote.occurredAt, local.data == remote.data,
              local.metadata == remote.metadata else {
            let here = local.map { "\($0.id)" } ?? "absent", there = remote.map { "\($0.id)" } ?? "absent"
            let what = here == there ? "event \(here), with other content" : "\(here) here and \(there) in the store"
            throw CommandFailure("the log in \(log.directory) does not mirror \(source.location): position \(next - 1) is \(what); nothing written")
        }
    }
}
