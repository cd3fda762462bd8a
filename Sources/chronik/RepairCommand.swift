import ArgumentParser
import ChronikLog
import Foundation

struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show, and with --truncate cut, the damaged end of a log that no longer opens.",
        discussion: """
            When damage in the last segment refuses the open (a batch whose \
            checksum fails although it is not an interrupted write: see \
            docs/FORMAT.md, recovery rule 4), the log cannot be written or \
            read until someone decides. chronik repair shows exactly what \
            cutting the log at the damage would remove: the file, the byte \
            offset, the bytes, the last good position and the positions cut, \
            and how many whole batches after the damage go with it. That is \
            all it does unless --truncate is given.

            With --truncate it takes the writer lock, saves the cut bytes \
            to repair-<time>.cut and a record of the repair to \
            repair-<time>.txt in the log directory (both synced), then cuts \
            the segment. Afterwards chronik verify passes and the log opens. \
            The cut events are gone from the log: re-import them from their \
            source if you have it. Damage in a sealed segment, a segment \
            header or the metadata file cannot be cut away: restore a copy.

            A log that opens (also one with a torn tail, which the next \
            writer truncates by itself) needs no repair: exit 0, nothing cut.

            Examples:
              $ chronik repair --log shop
              $ chronik repair --log shop --truncate

            Exit status: 0 nothing to repair or repaired, 1 damage found \
            (dry run), or it cannot be repaired by a cut, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(help: "Cut the damaged end (default: only show what would be cut).")
    var truncate = false

    /// The `--json` report; the fields of the cut are null when the log
    /// needs no repair.
    struct Report: Encodable {
        var log: String
        var damaged, truncated: Bool
        var file: String?
        var offset, bytes: Int64?
        var reason: String?
        var lastGoodPosition, firstCutPosition: UInt64?
        var damagedBatchEvents, wholeBatchesCut: Int?
        var wholeEventsCut: UInt64?
        /// Synced events the index file described and the segment no longer holds (stop 35).
        var syncedEventsLost: UInt64?
        /// The repair record written (`--truncate`).
        var record: String?
        /// Damaged index files (a cache of their segments): what they are,
        /// and whether `--truncate` rebuilt them from their segments.
        var damagedIndexes: [String] = []
        var indexesRebuilt = false

        init(log: String, plan p: RepairPlan?, record: String?) {
            self.log = log
            damaged = p != nil
            truncated = record != nil
            file = p?.file
            offset = p?.offset
            bytes = p?.bytes
            reason = p?.reason
            lastGoodPosition = p?.lastGoodPosition?.value
            firstCutPosition = p?.firstLostPosition.value
            damagedBatchEvents = p?.damagedBatchEvents
            wholeBatchesCut = p?.intactBatchesCut
            wholeEventsCut = p?.intactEventsCut
            syncedEventsLost = p?.syncedEventsLost
            self.record = record
        }
    }

    func run() async throws {
        let dir = options.directory()
        let plan: RepairPlan?
        let record: String?
        if truncate {
            let stamp = Self.stamp(Date())
            let done = try LogRepair.truncate(directory: dir, stamp: stamp)
            plan = done?.plan
            record = done?.record
        } else {
            plan = try LogRepair.plan(directory: dir)
            record = nil
        }
        // No cut needed, but verify may still fail on a damaged index file
        // of a sealed segment: a cache the writer's open rebuilds from the
        // segment (stop 34: repair said "nothing to repair" while verify
        // kept failing). --truncate rebuilds them, the dry run names them.
        // Which ones verify finds (stop 42: a damaged index of the active
        // segment, or one that decodes but does not match its segment,
        // failed verify while repair said "nothing to repair"): --truncate
        // removes them, and the writer's open and close write them again
        // from their segments.
        var damagedIndexes: [String] = []
        if plan == nil {
            let damaged = try LogVerifier.verify(directory: dir).damagedIndexes
            damagedIndexes = damaged.map { "\($0)" }
            if truncate {
                for i in damaged { try FileManager.default.removeItem(atPath: i.file) }
            }
            var o = LogOptions()
            o.createIfMissing = false
            o.readOnly = !truncate
            let log = try EventLog.open(at: dir, options: o)
            if damaged.isEmpty { damagedIndexes = log.recovery.indexNotes.map { "\(dir)/\($0)" } }
            try log.close()
        }
        let out = Output()
        if options.json {
            var report = Report(log: dir, plan: plan, record: record)
            report.damagedIndexes = damagedIndexes
            report.indexesRebuilt = truncate && !damagedIndexes.isEmpty
            try out.line(encoding: report)
        } else if !damagedIndexes.isEmpty {
            for note in damagedIndexes { out.line(note) }
            if truncate {
                out.line("rebuilt \(damagedIndexes.count) index file\(damagedIndexes.count == 1 ? "" : "s") from \(damagedIndexes.count == 1 ? "its segment" : "their segments") (a cache: no event was touched); chronik verify passes now")
            } else {
                out.line("dry run: \(damagedIndexes.count == 1 ? "this index file is" : "these index files are") a cache of \(damagedIndexes.count == 1 ? "its segment" : "their segments"), no event is lost; chronik repair --truncate --log \(dir) rebuilds \(damagedIndexes.count == 1 ? "it" : "them")")
            }
        } else if let p = plan {
            out.line("\(p.file) at byte \(p.offset): \(p.reason)")
            out.line("  \(record == nil ? "would cut" : "cut") \(p.bytes) bytes, from byte \(p.offset) to the end of the file")
            out.line("  last good position: \(p.lastGoodPosition.map { "\($0.value)" } ?? "none (no event stays)")")
            var lost = "  positions cut: from \(p.firstLostPosition.value) on"
            if let n = p.damagedBatchEvents { lost += " (the damaged batch declares \(n) event\(n == 1 ? "" : "s"))" }
            out.line(lost)
            out.line("  whole batches after the damage cut with it: \(p.intactBatchesCut) (\(p.intactEventsCut) events)")
            if let n = p.syncedEventsLost {
                let first = p.firstLostPosition.value
                out.line("  synced events already lost: \(n) (positions \(first)–\(first + n - 1)), which the segment's index file describes; "
                         + (record == nil ? "--truncate accepts their loss (restore the segment from a backup to keep them)"
                                          : "their loss is accepted"))
            }
            if let record {
                out.line("repaired: the cut bytes and this record are in \(record) and its .cut file; chronik verify passes now")
            } else {
                out.line("dry run: nothing was changed; chronik repair --truncate --log \(dir) cuts it")
            }
        } else {
            out.line("\(dir): nothing to repair (the log opens as it is)")
        }
        out.flush()
        if (plan != nil && record == nil) || (!truncate && !damagedIndexes.isEmpty) { throw CommandFailure(lines: []) }
    }

    /// UTC time for the record's name: 20261202T071500Z.
    static func stamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }
}
