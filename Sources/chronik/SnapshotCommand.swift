import ArgumentParser
import ChronikLog
import ChronikProjections
import Foundation

struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a snapshot of every read model at the log's head.",
        discussion: """
            Builds every read model (from the newest valid snapshot and the \
            events after it) and writes them at the current head to \
            <log>/snapshots/snapshot-<position>.snap: versioned, with a \
            CRC32C over the file, written atomically. replay and query then \
            start from it and apply only the newer events. The log itself \
            is opened read-only.

            Snapshots are a cache of the read models, not the log: \
            afterwards every snapshot is checked against the log (as \
            chronik verify does) and an invalid one — damaged, of another \
            history, or with a model this build cannot decode — is removed \
            and listed; one at the same position is replaced.

            Examples:
              $ chronik snapshot
              $ chronik snapshot --json --log shop

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    func run() async throws {
        // A snapshot of a damaged log would look like the real thing.
        let log = try options.openForReading(upToDamage: false)
        defer { try? log.close() }
        let set: ProjectionSet
        let report: RebuildReport
        let vault = try keyOptions.vaultForModels(nil, for: log, quiet: options.quiet)
        do {
            (set, report) = try Replayer.rebuild(log, protector: vault)
        } catch {
            throw CommandFailure("replay stopped: \(error.description)")
        }
        for m in report.messages { options.note("chronik: warning: \(m)") }
        let info: SnapshotInfo
        do {
            info = try SnapshotStore(logDirectory: log.directory).write(set, log: log)
        } catch {
            throw CommandFailure("cannot write the snapshot: \(error.description)")
        }
        // Replace or remove what is invalid: a cache never keeps a bad entry.
        var removed: [(path: String, reason: String)] = []
        let store = SnapshotStore(logDirectory: log.directory)
        // The writer's appends since this replay first: a snapshot another
        // `snapshot` just wrote at a newer head is not "beyond the head"
        // (stop 34: two runs beside a writer removed each other's).
        try? log.refresh()
        for v in store.verifyAll(against: log) where v.path != info.path {
            guard let p = v.problem else { continue }
            do { try FileManager.default.removeItem(atPath: v.path) } catch {
                throw CommandFailure("cannot remove the invalid snapshot \(v.path) (\(p.reason)): \(error.localizedDescription)")
            }
            removed.append((v.path, "\(v.path) at byte \(p.offset): \(p.reason)"))
        }
        let out = Output()
        if options.json {
            struct Report: Encodable {
                var removedInvalid: [String]
                var path: String
                var position: UInt64
                var sizeBytes: Int
                var models: [String]
            }
            try out.line(encoding: Report(removedInvalid: removed.map(\.path), path: info.path, position: info.position.value,
                                          sizeBytes: info.sizeBytes, models: info.models))
        } else {
            out.line("wrote \(info.path)")
            out.line("position \(info.position), \(info.sizeBytes) bytes (\(formatBytes(Int64(info.sizeBytes)))), models: \(info.models.joined(separator: ", "))")
            for r in removed { out.line("removed invalid snapshot \(r.reason)") }
        }
        out.flush()
    }
}
