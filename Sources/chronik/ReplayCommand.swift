import ArgumentParser
import ChronikLog
import ChronikProjections
import ChronikServer
import Foundation

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the read models from the log and report how fast.",
        discussion: """
            Rebuilds every read model (catalog, orders, inventory, crm, \
            finance, sales, search, also-bought, replenishment, fraud, \
            reconciliation, recommendations, supply-chain, settings, \
            campaigns, support), or those \
            named with --only and the models they depend on, starting from \
            the newest valid snapshot in <log>/snapshots and applying the \
            events after it (--no-snapshot: from the start of the log). \
            Prints events, time and events/s for the snapshot load, the \
            replay of the tail, and the total. A progress bar with an ETA \
            goes to stderr when it is a terminal.

            A snapshot that is corrupt, of another version or beyond the \
            log's head is skipped with a warning. An event a model cannot \
            fold stops the replay with the event's position and type.

            An event whose data does not decode (written by an older \
            version, or through the library with another schema) stops the \
            replay too. With --skip-undecodable the replay leaves each such \
            event out, lists its position, type and reason, and exits 1 — \
            the models lack those events — unless --allow-skipped is given \
            (which implies --skip-undecodable). Snapshots never hide a skip: \
            chronik snapshot has no skip option, so a snapshot is only \
            written below the first undecodable event and every replay from \
            it lists them.

            Examples:
              $ chronik replay
              $ chronik replay --only catalog,orders --no-snapshot --json
              $ chronik replay --skip-undecodable --allow-skipped

            Exit status: 0 success, 1 failure (the replay stopped, or events \
            were skipped without --allow-skipped), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    @Option(help: ArgumentHelp("Only these read models (comma-separated) and their dependencies.", valueName: "models"))
    var only: String?

    @Flag(name: .customLong("no-snapshot"), help: "Replay the whole log; ignore snapshots.")
    var noSnapshot = false

    @Flag(name: .customLong("skip-undecodable"), help: "Leave out events whose data does not decode, and list them.")
    var skipUndecodable = false

    @Flag(name: .customLong("allow-skipped"), help: "Exit 0 even when events were skipped (implies --skip-undecodable).")
    var allowSkipped = false

    func validate() throws {
        if let names = parseOnly(only) {
            // Stop 32: --only "" replayed the whole log into no model.
            if names.isEmpty {
                throw ValidationError("--only needs at least one read model; the models are: \(Projections.allNames.joined(separator: ", "))")
            }
            for n in names where !Projections.allNames.contains(n) {
                throw ValidationError("unknown read model '\(n)'; the models are: \(Projections.allNames.joined(separator: ", "))")
            }
        }
    }

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let bar = ProgressBar(enabled: !options.quiet && isatty(STDERR_FILENO) == 1)
        let result: (set: ProjectionSet, report: RebuildReport)
        let vault = try keyOptions.vaultForModels(parseOnly(only), for: log, quiet: options.quiet)
        do {
            result = try Replayer.rebuild(log, only: parseOnly(only), useSnapshots: !noSnapshot, protector: vault,
                                          skipUndecodable: skipUndecodable || allowSkipped) { done, total in
                bar.update(done, total)
            }
        } catch {
            bar.clear()
            throw CommandFailure("replay stopped: \(error.description)")
        }
        bar.clear()
        LeftToExit.keep(result.set)
        let report = result.report
        for m in report.messages { options.note("chronik: warning: \(m)") }
        let out = Output()
        let phases: [(String, ReplayStats)] = [("snapshot", report.snapshotLoad), ("tail", report.tail), ("total", report.total)]
        let skippedCount = report.tail.skippedCount
        if options.json {
            for k in report.skipped {
                try out.line(encoding: SkippedLine(position: k.position.value, type: k.type, reason: k.reason))
            }
            try out.line(encoding: Merged(PhaseLine("snapshot", report.snapshotLoad),
                                          SnapshotPhaseExtra(snapshot: report.snapshot?.path)))
            try out.line(encoding: PhaseLine("tail", report.tail))
            try out.line(encoding: Merged(PhaseLine("total", report.total),
                                          TotalPhaseExtra(position: result.set.position.value, skipped: skippedCount,
                                                          models: result.set.names)))
        } else {
            out.line("models    " + result.set.names.joined(separator: ", "))
            out.line("snapshot  " + (report.snapshot.map { "\($0.path) (position \(group($0.position.value)))" } ?? "none"))
            var t = TextTable(["phase", "events", "time", "events/s"], right: ["events", "time", "events/s"])
            for (name, s) in phases {
                t.add([name, group(s.events), formatDuration(s.duration), group(Int64(s.eventsPerSecond.rounded()))])
            }
            for l in t.lines { out.line(l) }
            if skippedCount > 0 {
                out.line("skipped   \(group(skippedCount)) undecodable event\(skippedCount == 1 ? "" : "s"):")
                for k in report.skipped { out.line("  position \(group(k.position.value))  \(k.type): \(k.reason)") }
                if skippedCount > report.skipped.count { out.line("  … and \(group(skippedCount - report.skipped.count)) more") }
            }
        }
        out.flush()
        if skippedCount > 0 && !allowSkipped {
            throw CommandFailure("\(skippedCount) undecodable event\(skippedCount == 1 ? " was" : "s were") skipped: the read models lack \(skippedCount == 1 ? "it" : "them") (--allow-skipped to accept)")
        }
    }
}

/// What a command built and never needs again, left for the process's
/// exit to free: the models of a big shop are millions of entries, and
/// freeing them one by one took 0.3 s of a 1.9 s `replay` of 2 M events
/// (perf: `ProjectionSet` deinit, `malloc_consolidate`, after the output).
enum LeftToExit {
    /// One retain never released: `object` outlives the command.
    static func keep(_ object: AnyObject) {
        _ = Unmanaged.passRetained(object)
    }
}

/// `--only a,b` as names; nil when absent.
func parseOnly(_ only: String?) -> [String]? {
    only.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
}

/// `replay --json`: a line per skipped event, then one per phase
/// (snapshot, tail, total).
struct SkippedLine: Encodable {
    var phase = "skipped"
    var position: UInt64
    var type, reason: String
}

struct PhaseLine: Encodable {
    var phase: String
    var events: Int
    var seconds: Double
    var eventsPerSecond: Int64

    init(_ phase: String, _ s: ReplayStats) {
        self.phase = phase
        events = s.events
        seconds = chronik.seconds(s.duration)
        eventsPerSecond = Int64(s.eventsPerSecond.rounded())
    }
}

/// What the snapshot phase adds: the snapshot loaded (null: none).
struct SnapshotPhaseExtra: Encodable {
    var snapshot: String?
}

/// What the total adds: the models' position, the skipped count, the
/// models rebuilt.
struct TotalPhaseExtra: Encodable {
    var position: UInt64
    var skipped: Int
    var models: [String]
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// A one-line progress bar with an ETA on stderr, redrawn at most ten
/// times a second.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let started = ContinuousClock.now
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled, total > 0 else { return }
        let now = ContinuousClock.now
        guard now - lastDraw >= .milliseconds(100) || done == total else { return }
        lastDraw = now
        let fraction = Double(done) / Double(total)
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = seconds(now - started)
        let eta = fraction > 0 ? elapsed / fraction - elapsed : 0
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            + String(format: "%3.0f%% %llu/%llu events  ETA %.0fs ", fraction * 100, done, total, eta)
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    func clear() {
        guard drawn else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: 78) + "\r").utf8))
        drawn = false
    }
}
