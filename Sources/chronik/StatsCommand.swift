import ArgumentParser
import ChronikLog

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the size and shape of a log.",
        discussion: """
            Events, streams, segments, bytes on disk, the head position (the \
            position the next event gets), the compression and the chain hash \
            of the last batch. Opens the log read-only.

            Examples:
              chronik stats
              chronik stats --json --log /var/lib/shop

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let s = try log.stats()
        let out = Output()
        if options.json {
            var o = JSONObject()
            o.add("log", log.directory)
            o.add("events", s.events)
            o.add("streams", s.streams)
            o.add("segments", s.segments)
            o.add("bytesOnDisk", s.bytesOnDisk)
            o.add("headPosition", s.headPosition.value)
            o.add("compression", s.compression.rawValue)
            o.add("headHash", log.headHash.description)
            out.line(o.text)
        } else {
            let rows: [(String, String)] = [
                ("log", log.directory),
                ("events", "\(s.events)"),
                ("streams", "\(s.streams)"),
                ("segments", "\(s.segments)"),
                ("bytes on disk", "\(s.bytesOnDisk) (\(formatBytes(s.bytesOnDisk)))"),
                ("head position", "\(s.headPosition)"),
                ("compression", s.compression.rawValue),
                ("head hash", log.headHash.description),
            ]
            for (k, v) in rows { out.line(pad(k, 15) + v) }
        }
        out.flush()
    }
}
