import ArgumentParser
import ChronikLog
import Foundation

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one segment file batch by batch.",
        discussion: """
            Prints the segment header, then one line per batch: byte offset, \
            length, base position, event count, codec ("none", "lz4" for one \
            LZ4 block, "lz4b" for LZ4 in blocks: FORMAT.md), the header's flags \
            byte (with "u" when bit 2, "unsynced predecessor", is set: \
            FORMAT.md's recovery rule 4), raw and stored payload \
            bytes, first stream version, recordedAt, CRC32C, the first 12 hex \
            digits of the batch's chain hash, and its stream. The last line \
            says how the file ends: cleanly, in zeros (the space a running \
            writer zeroes ahead of its writes: no batch), in an incomplete \
            (torn) batch, or in damaged bytes. --json prints the same as \
            objects with a "kind" of segment, batch or end.

            SEGMENT is a file name in the log directory \
            (00000000000000000000.log), a path, or a segment's base position \
            (0). The file is read directly, so damaged logs can be inspected.

            Examples:
              $ chronik inspect 0
              $ chronik inspect 00000000000000000000.log --json

            Exit status: 0 read to the end (an incomplete final batch is a \
            warning), 1 damaged bytes or failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: ArgumentHelp("The segment: file name, path, or base position.", valueName: "segment"))
    var segment: String

    func run() async throws {
        let path = resolvePath()
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure("no segment file \(path)")
        }
        // Said for what it is (stop 32: an empty file was a "torn tail",
        // exit 0, and an index file "header DAMAGED").
        if path.hasSuffix(LogFormat.indexSuffix) {
            throw CommandFailure("\(path) is an index file (a cache of its segment's ids and positions, FORMAT.md); inspect reads segments: \(path.dropLast(LogFormat.indexSuffix.count))\(LogFormat.segmentSuffix)")
        }
        let magic = LogFormat.segmentMagic
        let head = (FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: magic.count) }).map(Array.init) ?? []
        // An empty file named as a segment is one whose creation was
        // interrupted (it holds no event): inspected as such below.
        let segmentName = LogFormat.baseFromSegmentFileName(URL(fileURLWithPath: path).lastPathComponent) != nil
        guard (head.isEmpty && segmentName) || (!head.isEmpty && head.elementsEqual(magic.prefix(head.count))) else {
            throw CommandFailure("\(path) is not a Chronik segment file: "
                                 + (head.isEmpty ? "it is empty" : "it does not begin with the segment magic \(String(decoding: magic, as: UTF8.self))"))
        }
        let inspector = try SegmentInspector(path: path)
        let out = Output()
        let name = URL(fileURLWithPath: path).lastPathComponent
        if options.json {
            try out.line(encoding: SegmentLine(file: name, path: path, bytes: inspector.fileBytes,
                                               basePosition: inspector.header?.basePosition.value,
                                               formatVersion: inspector.header.map { Int($0.formatVersion) },
                                               headerChecksum: inspector.header.map { hex32($0.checksum) },
                                               headerProblem: inspector.header?.problem))
        } else if let h = inspector.header {
            out.line("segment \(path): base \(h.basePosition), format \(h.formatVersion), \(inspector.fileBytes) bytes, header "
                     + (h.problem.map { "DAMAGED: \($0)" } ?? "ok"))
        } else {
            out.line("segment \(path): \(inspector.fileBytes) bytes, no complete header")
        }
        if !options.json && inspector.header?.problem == nil && inspector.header != nil {
            out.line(Self.columns.map { pad($0.0, $0.1) }.joined(separator: " ") + " stream")
        }
        var batches = 0
        var events = 0
        // Positions run on from the header's base, batch after batch (stop
        // 42, a helper: a copy of the last batch appended after it was
        // "end of segment" here, and damage to verify).
        var next = inspector.header?.basePosition.value
        var outOfOrder: SegmentEnd?
        while let b = try inspector.nextBatch() {
            if let n = next, b.basePosition.value != n {
                outOfOrder = .damaged(offset: b.offset, reason: "batch base position \(b.basePosition.value), expected \(n)")
                break
            }
            next = b.basePosition.value + UInt64(b.count)
            batches += 1
            events += b.count
            if options.json { try out.line(encoding: BatchLine(b)) } else { out.line(Self.text(b)) }
        }
        var end = outOfOrder ?? inspector.end ?? .clean(offset: inspector.fileBytes)
        // A segment a later one follows was sealed at a batch boundary: no
        // torn tail or zeros end it (stop 42, a helper: inspect said "torn
        // tail", exit 0, where verify and the open refuse the log).
        if Self.isFollowed(path) {
            switch end {
            case .incomplete(let offset, let reason):
                end = .damaged(offset: offset, reason: "a sealed segment (a later one follows it) ends inside a batch: \(reason)")
            case .zeroed(let offset, let bytes):
                end = .damaged(offset: offset, reason: "a sealed segment (a later one follows it) has \(bytes) zero bytes after its last batch")
            case .clean, .damaged: break
            }
        }
        let (status, offset, reason): (String, Int64, String?) = switch end {
        case .clean(let offset): ("clean", offset, nil)
        case .incomplete(let offset, let reason): ("incomplete", offset, reason)
        case .damaged(let offset, let reason): ("damaged", offset, reason)
        case .zeroed(let offset, let bytes): ("zeroed", offset, "\(bytes) zero bytes to the end of the file")
        }
        if options.json {
            try out.line(encoding: EndLine(status: status, offset: offset, reason: reason, batches: batches, events: events))
        } else {
            let what = switch end {
            case .clean: "end of segment"
            case .incomplete(_, let reason): "INCOMPLETE final batch (torn tail): \(reason)"
            case .damaged(_, let reason): "DAMAGED: \(reason)"
            case .zeroed(_, let bytes): "end of the batches; \(bytes) zero bytes follow (space the writer zeroes ahead, or a write that never reached the disk: no batch)"
            }
            out.line("\(offset): \(what); \(batches) batches, \(events) events")
        }
        out.flush()
        switch end {
        case .clean, .zeroed: break
        case .incomplete(let offset, let reason):
            options.note("chronik: warning: \(path) at byte \(offset): incomplete final batch (\(reason))")
        case .damaged(let offset, let reason):
            throw CommandFailure("\(path) at byte \(offset): \(reason)")
        }
    }

    /// Whether a segment file with a higher base is beside `path`: then
    /// `path` is sealed.
    static func isFollowed(_ path: String) -> Bool {
        let url = URL(fileURLWithPath: path)
        guard let base = LogFormat.baseFromSegmentFileName(url.lastPathComponent),
              let names = try? FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) else { return false }
        return names.contains { LogFormat.baseFromSegmentFileName($0).map { $0 > base } ?? false }
    }

    /// SEGMENT as a path: a number is a base position, a bare name is a
    /// file in the log directory, anything with a slash is a path.
    func resolvePath() -> String {
        if !segment.isEmpty, segment.allSatisfy({ $0.isASCII && $0.isNumber }), let base = UInt64(segment) {
            let digits = String(base)
            return options.directory() + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + LogFormat.segmentSuffix
        }
        if segment.contains("/") { return segment }
        return options.directory() + "/" + segment
    }

    static let columns: [(String, Int)] = [
        ("offset", 10), ("length", 8), ("base", 10), ("count", 6), ("codec", 5), ("flags", 5), ("raw", 8), ("stored", 8),
        ("version", 8), ("recordedAt", 27), ("crc", 10), ("hash", 12),
    ]

    static func text(_ b: BatchSummary) -> String {
        let values = [
            "\(b.offset)", "\(b.length)", "\(b.basePosition)", "\(b.count)", b.isInLZ4Blocks ? "lz4b" : b.compression.rawValue, flagsText(b.flags),
            "\(b.rawPayloadBytes)", "\(b.storedPayloadBytes)", "\(b.firstStreamVersion)", b.recordedAt.rfc3339,
            hex32(b.checksum), b.chainHash.shortHex,
        ]
        return zip(columns, values).map { pad($1, $0.1) }.joined(separator: " ") + " " + b.stream
    }

    // `--json`: the segment's line, one per batch, the end's line; `kind`
    // tells them apart.

    struct SegmentLine: Encodable {
        var kind = "segment"
        var file, path: String
        var bytes: Int64
        var basePosition: UInt64?
        var formatVersion: Int?
        var headerChecksum, headerProblem: String?
    }

    struct BatchLine: Encodable {
        var kind = "batch"
        var offset: Int64
        var length: Int
        var basePosition: UInt64
        var count: Int
        var codec: String
        /// The flags byte, and its bit 2 spelt out.
        var flags: Int
        var unsyncedPredecessor: Bool
        var rawPayloadBytes, storedPayloadBytes: Int
        var stream: String
        var firstVersion: UInt64
        var recordedAt, minOccurredAt, maxOccurredAt, crc, previousHash, chainHash: String

        init(_ b: BatchSummary) {
            offset = b.offset
            length = b.length
            basePosition = b.basePosition.value
            count = b.count
            // Codec 2 by its own name: the flags byte alone told it from
            // one block.
            codec = b.isInLZ4Blocks ? "lz4b" : b.compression.rawValue
            flags = Int(b.flags)
            unsyncedPredecessor = b.unsyncedPredecessor
            rawPayloadBytes = b.rawPayloadBytes
            storedPayloadBytes = b.storedPayloadBytes
            stream = b.stream
            firstVersion = b.firstStreamVersion.value
            recordedAt = b.recordedAt.rfc3339
            minOccurredAt = b.minOccurredAt.rfc3339
            maxOccurredAt = b.maxOccurredAt.rfc3339
            crc = hex32(b.checksum)
            previousHash = b.previousHash.description
            chainHash = b.chainHash.description
        }
    }

    struct EndLine: Encodable {
        var kind = "end"
        var status: String
        var offset: Int64
        var reason: String?
        var batches, events: Int
    }
}

/// The flags byte as `0x` and two hex digits, with `u` when bit 2
/// (unsynced predecessor) is set: `0x05u`.
func flagsText(_ flags: UInt8) -> String {
    let hex = String(flags, radix: 16)
    return "0x" + (hex.count < 2 ? "0" : "") + hex + (flags & 0b100 != 0 ? "u" : "")
}

/// `0x` and eight hex digits.
func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
