import ArgumentParser
import ChronikProjections
import ChronikLog
import ChronikServer
import Foundation

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A short tour: simulate a shop into a fresh log, verify it, show what was built.",
        discussion: """
            Simulates a European shop (chronik simulate; docs/SIMULATOR.md) \
            into a fresh log: its catalog, stock, customers, sessions, \
            orders, payments, shipments and returns, every event through the \
            commerce guards. Then it verifies every checksum and the hash \
            chain, and prints what it built.

            The log goes to a chronik-demo directory in the temporary \
            directory, emptied first — but only when it is empty or holds \
            nothing but a Chronik log; anything else is refused and left \
            alone. --log DIR must be a new or empty directory.

            To watch the shop live afterwards: chronik serve --log DIR \
            (the directory the demo printed) and open \
            http://127.0.0.1:7070/ in a browser (docs/SERVER.md, \
            "Dashboard").

            Examples:
              $ chronik demo
              $ chronik demo --events 20000 --seed 7 --log ./shop-log

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions
    @OptionGroup var keyOptions: KeyOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("How many events to simulate (1...100000000).", valueName: "n"))
    var events = 100_000

    @Option(parsing: .unconditional, help: ArgumentHelp("The seed of the shop's history.", valueName: "s"))
    var seed: UInt64 = 1

    static let defaultSegmentSize = ByteSize(bytes: 256 << 10)

    func validate() throws {
        guard (1...Simulate.maxEvents).contains(events) else {
            throw ValidationError("--events must be 1...\(Simulate.maxEvents), got \(events)")
        }
    }

    func run() async throws {
        let dir: String
        if let chosen = options.log {
            dir = chosen
            try FreshLog.require(dir)
        } else {
            let tmp = NSTemporaryDirectory()
            dir = (tmp.hasSuffix("/") ? tmp : tmp + "/") + "chronik-demo"
            // Both checked before either is emptied (stop 39: a key store
            // holding a file not its own was refused after the log was gone).
            _ = try keyOptions.clearableEntries(forLog: dir)
            try LogDirectory.clear(dir)
            try keyOptions.clear(forLog: dir)
        }
        options.note("chronik: demo: simulating \(group(events)) events of a shop into \(dir)…")
        // Ctrl-C as simulate's: the unfinished tour is removed and said (stop
        // 39: the demo left a partial log and its keys without a word, and
        // ran on when started in the background of a script).
        let run = try await SimulationRun.performRemovedIfStopped(
            directory: dir, events: events, seed: seed, options: options, creation: creation, keyOptions: keyOptions,
            segmentSize: Self.defaultSegmentSize, what: "the unfinished demo", ownsKeys: options.log == nil)
        let report = try LogVerifier.verify(directory: dir)
        // 3. The read side: every read model rebuilt from the log.
        let reader = try options.openForReading(directory: dir)
        let (models, rebuilt) = try Replayer.rebuild(reader, useSnapshots: false,
                                                     protector: try keyOptions.vault(for: reader))
        try? reader.close()
        let s = run.summary
        let out = Output()
        if options.json {
            /// What the demo adds to the simulation's summary.
            struct Extra: Encodable {
                var verified: Bool
                var segments, batches: Int
                var headHash: String
                var replayedEvents, replayEventsPerSecond: Int
                var reconciliation: ReconciliationSummaryLine?
            }
            try out.line(encoding: Merged(run.report(directory: dir, seed: seed), Extra(
                verified: report.isClean, segments: report.segments.count, batches: report.batches,
                headHash: report.headHash.description, replayedEvents: rebuilt.total.events,
                replayEventsPerSecond: Int(rebuilt.total.eventsPerSecond),
                reconciliation: models.reconciliation.map { ReconciliationSummaryLine($0.summary()) })))
        } else {
            out.line("Chronik demo: a simulated shop in \(dir) (seed \(seed))")
            out.line("")
            out.line("1. Simulated \(group(s.events)) events in \(formatDuration(run.elapsed)) (\(group(Int(run.rate))) events/s): "
                     + "\(group(s.appends)) appends, each checked by the commerce guards (stock, payments, orders); none refused.")
            for line in run.textLines(directory: dir, seed: seed).dropFirst() { out.line(" " + line) }
            out.line("")
            out.line("2. Verified the log: \(report.segments.count) segment\(report.segments.count == 1 ? "" : "s"), "
                     + "\(group(report.batches)) batches, \(group(Int(report.events))) events, "
                     + "every checksum and the hash chain from genesis: \(report.isClean ? "OK" : "CORRUPT") in \(formatDuration(report.duration)).")
            if let f = report.failure { out.line("   CORRUPT: \(f)") }
            out.line("")
            out.line("3. Replayed \(group(rebuilt.total.events)) events into \(models.names.count) read models in "
                     + "\(formatDuration(rebuilt.total.duration)) (\(group(Int(rebuilt.total.eventsPerSecond))) events/s):")
            for line in Self.dashboard(models) { out.line("    " + line) }
            out.line("")
            out.line("Try next:")
            let logArg = dir.contains(" ") ? "'\(dir)'" : dir
            // An order whose customer was not forgotten: its address reads in
            // clear (stop 38, a newcomer: NW1000001's read ‹erased› with no
            // word why).
            if s.orders > 0 {
                let shown = (1_000_001...1_000_100).map { "NW\($0)" }.first { id in
                    guard let o = models.orders?.order(id) else { return false }
                    return models.crm?.customer(o.customerId)?.forgotten == false
                } ?? "NW1000001"
                out.line("  chronik read --log \(logArg) --stream order-\(shown)")
            }
            out.line("  chronik export --log \(logArg) --type OrderPlaced | head -3")
            out.line("  chronik query fraud --top 5 --log \(logArg)")
            out.line("  chronik query customers --top 5 --log \(logArg)")
            out.line("  chronik query reconciliation --status mismatch --log \(logArg)")
            out.line("  chronik stats --log \(logArg)")
            out.line("  chronik verify --log \(logArg)")
            out.line("  chronik serve --log \(logArg)      # then open http://127.0.0.1:7070/ (the live dashboard)")
            // A fresh directory: simulate refuses a log that holds events (stop
            // 39: after the help's `demo --log ./shop-log` this line failed).
            let fresh = (["./big-shop"] + (2...99).map { "./big-shop-\($0)" }).first {
                !FileManager.default.fileExists(atPath: $0) && URL(fileURLWithPath: $0).standardizedFileURL.path != URL(fileURLWithPath: dir).standardizedFileURL.path
            } ?? "./big-shop"
            out.line("  chronik simulate --events 1000000 --seed 2 --log \(fresh)")
        }
        out.flush()
        if let f = report.failure { throw CommandFailure("corruption found: \(f)") }
    }
}

extension Demo {
    /// A few lines of what the read models know.
    static func dashboard(_ m: ProjectionSet) -> [String] {
        var lines: [String] = []
        if let f = m.finance {
            var net: [String: Int64] = [:]
            for e in f.list() { net[e.currency, default: 0] += e.net }
            let text = net.keys.sorted().map { money(net[$0]!, $0) }.joined(separator: ", ")
            lines.append("finance        net revenue \(text.isEmpty ? "none" : text)")
        }
        if let o = m.orders {
            let byStatus = o.statusCounts().fulfillment
            lines.append("orders         " + FulfillmentStatus.allCases.compactMap { st in
                byStatus[st].flatMap { $0 > 0 ? "\(group($0)) \(st.rawValue)" : nil } }.joined(separator: ", "))
        }
        if let inv = m.inventory, let rep = m.replenishment {
            lines.append("inventory      \(group(inv.levels(lowOnly: true).count)) SKU×warehouse low, \(group(rep.suggestions().count)) to reorder (no open purchase order)")
        }
        if let search = m.search {
            let zero = search.list(top: 3, zeroResultsOnly: true).map { "\"\($0.query)\"" }
            lines.append("search         \(group(search.list().count)) distinct queries; top without result: \(zero.isEmpty ? "none" : zero.joined(separator: ", "))")
        }
        if let fraud = m.fraud {
            let top = fraud.top(3).map { "\($0.orderId) \($0.score)" }
            lines.append("fraud          highest scores: \(top.isEmpty ? "none" : top.joined(separator: ", "))")
        }
        lines += domainDashboard(m)
        return lines
    }
}

/// Care around deleting a log directory's contents.
enum LogDirectory {
    /// Empties `dir` for a fresh log, or creates it. Refuses — and deletes
    /// nothing — unless the directory is empty or holds only a Chronik log
    /// (its metadata file with the right magic, segments, indexes, the
    /// lock file and temporary files), and no other process writes it.
    /// Deletes files one by one, never recursively; the directory and its
    /// LOCK file stay.
    static func clear(_ dir: String) throws {
        let fm = FileManager.default
        let entries = try logEntries(dir, refusingTo: "empty")
        // Only the lock file: what a clear leaves (stop 39: an older
        // release's demo emptied the log, then refused its key store, and
        // this refused the directory for lacking chronik.meta).
        if entries.isEmpty || entries == [LogFormat.lockFileName] { return }
        let metaPath = dir + "/" + LogFormat.metaFileName
        guard let meta = fm.contents(atPath: metaPath), LogFormat.hasMetaMagic(meta) else {
            throw CommandFailure("refusing to empty \(dir): it is not a Chronik log (no valid \(LogFormat.metaFileName)); choose another --log")
        }
        // Hold the log's own writer lock while deleting, so that a running
        // writer is never pulled from under.
        guard let lock = try PosixStorage().lockExclusive(dir + "/" + LogFormat.lockFileName) else {
            throw CommandFailure("refusing to empty \(dir): another process is writing this log")
        }
        defer { lock.release() }
        for name in entries where name != LogFormat.lockFileName {
            do {
                if name == LogFormat.snapshotsDirectoryName {
                    // One by one, and only snapshot files: never recursively.
                    let snaps = dir + "/" + name
                    for f in try fm.contentsOfDirectory(atPath: snaps) {
                        guard f.hasPrefix("snapshot-") else {
                            throw CommandFailure("refusing to empty \(snaps): it holds \(f), which is not a snapshot")
                        }
                        try fm.removeItem(atPath: snaps + "/" + f)
                    }
                }
                try fm.removeItem(atPath: dir + "/" + name)
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure("cannot remove \(dir)/\(name): \(error.localizedDescription)")
            }
        }
    }

    /// The entries of a directory a command may use for a log: none when it
    /// does not exist or is empty; refuses (exit 1) anything but a
    /// directory holding only a Chronik log's files.
    static func logEntries(_ dir: String, refusingTo verb: String) throws -> [String] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { throw CommandFailure("refusing to use \(dir): it exists and is not a directory") }
        let entries = try fm.contentsOfDirectory(atPath: dir)
        for name in entries {
            var sub: ObjCBool = false
            _ = fm.fileExists(atPath: dir + "/" + name, isDirectory: &sub)
            // The snapshots directory is the log's own cache.
            if sub.boolValue && name == LogFormat.snapshotsDirectoryName { continue }
            guard !sub.boolValue, isLogFile(name) else {
                throw CommandFailure("refusing to \(verb) \(dir): it holds \(name), so it is not a Chronik log; choose a new --log directory")
            }
        }
        return entries
    }

    /// Whether `name` is a file a Chronik log keeps in its directory.
    static func isLogFile(_ name: String) -> Bool { LogFormat.isLogFileName(name, orTemporary: true) }
}
