import ArgumentParser
import ChronikLog
import ChronikServer

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the size and shape of a log.",
        discussion: """
            Events, streams, segments, bytes on disk, the head position (the \
            position the next event gets), the compression and the chain hash \
            of the last batch. Opens the log read-only.

            On a damaged log it reports the damage (file, byte offset, \
            reason) and counts what is intact up to it: the head is then \
            the last good position. The checksum of every batch in the \
            sealed segments is checked too, so damage there is reported \
            (chronik verify also checks the hash chain and decodes every \
            event); for damage there the streams and the head hash up to \
            it are not known without reading the log and are given as \
            such (null in --json).

            Examples:
              $ chronik stats
              $ chronik stats --json --log shop

            Exit status: 0 success, 1 failure (also: damage found), 64 usage \
            error.
            """)

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let s = try log.stats()
        // The open reads the active segment only; sealed ones are checked
        // here (checksums and framing, not the hash chain: verify does that).
        // The damage an open found (the active segment), else the first in
        // a sealed segment: one value for the warning, the JSON and the text.
        var damage = log.recovery.damage.map { ($0, log.recovery.lastValidPosition) }
        // Damage in a sealed segment: the open counted the whole log, so the
        // counts are cut to what is intact here (the events before it).
        var intactEvents: UInt64?
        if damage == nil, let sealed = try log.checkSealedSegments() {
            damage = (sealed.damage, sealed.lastGoodPosition)
            intactEvents = sealed.lastGoodPosition.map { $0.value + 1 } ?? 0
            readStoppedAtDamage.store(true, ordering: .relaxed)
            let last = sealed.lastGoodPosition.map { "the last good position is \($0.value)" } ?? "no event before it is sound"
            printError("chronik: warning: \(describe(sealed.damage)); \(last); chronik verify tells more (exit status 1)")
        }
        let out = Output()
        if options.json {
            var o = logStatsJSON(log, s, intactEvents: intactEvents)  // the figures of GET /stats too
            o.add("formatVersion", log.formatVersion)
            if let (d, last) = damage {
                var dj = JSONObject()
                dj.add("file", d.path)
                dj.add("offset", d.offset.map { Int64($0) } ?? -1)
                dj.add("reason", d.message)
                dj.add("lastGoodPosition", last.map { .uint($0.value) } ?? .null)
                o.add("damage", dj)
            } else {
                o.add("damage", .null)
            }
            out.line(o.text)
        } else {
            let rows: [(String, String)] = [
                ("log", log.directory),
                ("events", group(s.events)),
                ("streams", group(s.streams)),
                ("segments", group(s.segments)),
                ("bytes on disk", "\(group(s.bytesOnDisk)) (\(formatBytes(s.bytesOnDisk)))"),
                ("head position", group(s.headPosition.value)),
                ("compression", s.compression.rawValue),
                ("head hash", log.headHash.description),
                // 2: releases before stop 40 refuse the log (FORMAT.md, "Versioning").
                ("format version", log.formatVersion == 1 ? "1" : "\(log.formatVersion) (releases before stop 40 do not read it)"),
            ]
            var shown = rows
            if let intactEvents {
                let unknown = "not known up to the damage (chronik verify)"
                shown[1] = ("events", group(intactEvents))
                shown[2] = ("streams", unknown)
                shown[7] = ("head hash", unknown)
            }
            if let (d, last) = damage {
                // The head of a damaged log is where the intact part ends.
                shown[5] = ("last good position ", last.map { "\($0.value)" } ?? "none")
                shown.append(("damage", "\(d.path ?? "?") at byte \(d.offset ?? -1): \(d.message)"))
            }
            for (k, v) in shown { out.line(pad(k, 15) + v) }
        }
        out.flush()
    }
}
