import ArgumentParser
import ChronikCommerce
import ChronikLog
import Foundation
import Synchronization

/// The options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The log directory (default: ./chronik-data; for demo, a chronik-demo directory in the temporary directory).",
        valueName: "dir"))
    var log: String?

    @Flag(name: .long, help: "Print JSON instead of text: one object per line, stable keys.")
    var json = false

    @Flag(name: [.short, .long], help: "Print no progress, notes or warnings on stderr (errors still are).")
    var quiet = false

    static let defaultDirectory = "./chronik-data"

    func validate() throws {
        if let log, log.isEmpty {
            throw ValidationError("--log must not be empty: name a directory, or leave the option out for \(Self.defaultDirectory)")
        }
    }


    /// The log directory the user chose, or `fallback`.
    func directory(default fallback: String = GlobalOptions.defaultDirectory) -> String { log ?? fallback }

    /// A note or warning for stderr, unless --quiet.
    func note(_ message: String) {
        if !quiet { printError(message) }
    }

    /// Opens the log read-only: no lock, no repair, works beside a writer
    /// and on read-only media. Never creates anything.
    ///
    /// A log with damage opens up to it (`upToDamage`, the default): the
    /// command reads what is intact, a warning names the damage, and the
    /// command exits 1 at the end since its result stops there (issue 10,
    /// point 10: an operator can save what is intact).
    func openForReading(directory dir: String? = nil, upToDamage: Bool = true) throws -> EventLog {
        var options = LogOptions()
        options.readOnly = true
        options.createIfMissing = false
        options.readUpToDamage = upToDamage
        // Readers that scan the whole log (replay, export, verify) never
        // need the stream and id indexes; the others build them on first use.
        options.indexLoading = .onFirstUse
        let log = try EventLog.open(at: dir ?? directory(), options: options)
        reportRecovery(of: log)
        return log
    }

    /// Opens the log as its single writer, creating it when absent.
    /// What a writing command says when it created its log.
    static func createdNote(_ path: String) -> String {
        "chronik: note: there was no log at \(path): created a new one (if a shop's history should be there, check --log)"
    }

    /// A writer refused because `serve` holds the log: its API takes the
    /// same writes (stop 38, a newcomer's `import` beside `serve`), through
    /// the route `through` names.
    func besideServer(_ error: ChronikLogError, path: String,
                      through: String = "append through that server (POST /streams/{stream}, POST /commands)") -> ChronikLogError {
        guard error.code == .locked, EventLog.lockHolder(path)?.contains(" serve ") == true else { return error }
        var e = error
        e.message += "; \(through), or stop it first"
        return e
    }

    func openForWriting(_ creation: CreationOptions, maxEventBytes: Int = LogFormat.defaultMaxEventBytes,
                        directory dir: String? = nil, defaultSegmentSize: ByteSize = CreationOptions.defaultSegmentSize,
                        durability: Durability = .fsync, sayWhenCreated: Bool = true) throws -> EventLog {
        var options = LogOptions()
        options.durability = durability
        options.segmentSizeBytes = (creation.segmentSize ?? defaultSegmentSize).bytes
        options.compression = creation.compression?.value ?? .lz4
        options.maxEventBytes = maxEventBytes
        let path = dir ?? directory()
        let existed = FileManager.default.fileExists(atPath: path + "/" + LogFormat.metaFileName)
        let log: EventLog
        do {
            log = try EventLog.open(at: path, options: options)
        } catch var error as ChronikLogError {
            if error.code == .io, let e = error.errno, [EACCES, EPERM, EROFS].contains(e) {
                error.message += "; the log directory is not writable (read, tail, stats, inspect and verify open it read-only)"
            }
            throw besideServer(error, path: path)
        }
        reportRecovery(of: log)
        if !existed, sayWhenCreated {
            // Stop 38, a newcomer: `import --log shpo` (a typo) made a second,
            // empty shop without a word; serve says so (its own warning).
            note(Self.createdNote(path))
        }
        if let asked = creation.compression?.value, asked != log.compression {
            note("chronik: note: this log was created with \(log.compression) compression; --compression applies only to a new log")
        }
        return log
    }

    /// Prints on stderr what recovery did when something was cut off.
    func reportRecovery(of log: EventLog) {
        let r = log.recovery
        if let damage = r.damage {
            // A warning even with --quiet: the output is incomplete.
            readStoppedAtDamage.store(true, ordering: .relaxed)
            let last = r.lastValidPosition.map { "the last good position is \($0.value)" } ?? "no event before it is readable"
            printError("chronik: warning: \(describe(damage)); reading up to the damage: \(last); "
                       + "chronik verify and chronik repair tell more (exit status 1)")
        }
        if r.didTruncate, let file = r.truncatedFile {
            let at = r.truncatedAtOffset.map { " at byte \($0)" } ?? ""
            let last = r.lastValidPosition.map { "last valid position \($0)" } ?? "the log holds no event"
            if log.isReadOnly {
                note("chronik: recovery: ignoring a torn tail of \(r.bytesTruncated) bytes in \(file)\(at) (the next writer truncates it); \(last)")
            } else {
                note("chronik: recovery: truncated a torn tail of \(r.bytesTruncated) bytes in \(file)\(at); \(last)")
            }
        }
        if r.zeroedBytesCut > 0, !log.isReadOnly, let file = r.zeroedFile {
            note("chronik: recovery: cut \(r.zeroedBytesCut) bytes of zeros at the end of \(file) (space the writer had zeroed ahead of its writes, left by a stop without close; no batch was there)")
        }
        if !r.rebuiltIndexes.isEmpty {
            note("chronik: recovery: \(log.isReadOnly ? "scanned" : "rebuilt") \(r.rebuiltIndexes.count) missing or stale index file(s): \(r.rebuiltIndexes.joined(separator: ", "))")
            for n in r.indexNotes { note("chronik: recovery: index file \(n)") }
        }
    }
}

/// Options that shape a log when a command creates it.
struct CreationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Compression of a new log: lz4 or none (default: lz4). An existing log keeps its own.",
                               valueName: "codec"))
    var compression: CompressionChoice?

    @Option(name: .customLong("segment-size"), help: ArgumentHelp(
        "Seal a segment once it reaches this size, in bytes or with a K, M or G suffix; at least 4K (default: 64M; demo: 256K).",
        valueName: "size"))
    var segmentSize: ByteSize?

    static let defaultSegmentSize = ByteSize(bytes: 64 << 20)

    func validate() throws {
        if let segmentSize, segmentSize.bytes < 4096 {
            throw ValidationError("--segment-size must be at least 4096 bytes, got \(segmentSize.bytes)")
        }
    }
}

/// `--compression`: the library's `Compression` as an argument.
struct CompressionChoice: ExpressibleByArgument {
    var value: Compression

    init?(argument: String) {
        guard let c = Compression(rawValue: argument.lowercased()) else { return nil }
        value = c
    }

    static var allValueStrings: [String] { Compression.allCases.map(\.rawValue) }
    var defaultValueDescription: String { value.rawValue }
}

/// A byte count written as `65536`, `64K`, `64KiB`, `1M`, `2G`.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        var s = argument.uppercased()
        if s.hasSuffix("IB") { s.removeLast(2) } else if s.hasSuffix("B") { s.removeLast() }
        var unit = 1
        switch s.last {
        case "K": unit = 1 << 10
        case "M": unit = 1 << 20
        case "G": unit = 1 << 30
        default: break
        }
        if unit != 1 { s.removeLast() }
        guard let n = Int(s), n >= 0, n <= Int.max / unit else { return nil }
        bytes = n * unit
    }

    var description: String { formatBytes(Int64(bytes)) }
    var defaultValueDescription: String { description }
}

/// `--from` / `--to`: a position (an integer) or an RFC 3339 time, which
/// is compared with each event's time (occurredAt) — the same rule in
/// every command that has them.
struct PositionOrTime: ExpressibleByArgument {
    var bound: ExportFilter.Bound

    init?(argument: String) {
        guard let b = ExportFilter.Bound(argument: argument) else { return nil }
        bound = b
    }

    var position: UInt64? { if case .position(let p) = bound { p } else { nil } }
    var time: Timestamp? { if case .time(let t) = bound { t } else { nil } }
}

extension EventLog {
    /// Closes a log a command appended to. Its final fdatasync is what makes
    /// an `interval` or `none` import durable, so a failure fails the
    /// command (exit 1) and says what may not be on disk.
    func closeAfterWriting(appendedFrom start: Position) throws {
        let head = self.head
        do {
            try close()
        } catch let error as ChronikLogError {
            let range = head.value > start.value ? "positions \(start.value)…\(head.value - 1)" : "no new event"
            throw CommandFailure(lines: [
                "the final sync failed: \(describe(error))",
                "what this command appended (\(range)) may not be durable: run `chronik verify` to see what is on disk, then repeat the command (event ids make a retry skip what is already there)",
            ])
        }
    }
}

/// Set when a read-only command opened a damaged log up to the damage: the
/// command does its work, then exits 1 (its result stops at the damage).
let readStoppedAtDamage = Atomic<Bool>(false)

/// A command group (`query`, `settle`) that takes the global options
/// before its subcommand's name too: `chronik query --log shop orders`.
protocol CommandGroup: ParsableCommand {
    var options: GlobalOptions { get }
}

/// A subcommand of a `CommandGroup`: its `options` are those given after
/// its name, completed by those given before it (a directory given after
/// wins; a flag given at either place holds).
protocol GroupedCommand {
    associatedtype Group: CommandGroup
    var ownOptions: GlobalOptions { get }
    var parent: Group { get }
}

extension GroupedCommand {
    var options: GlobalOptions {
        var merged = ownOptions
        merged.log = ownOptions.log ?? parent.options.log
        merged.json = ownOptions.json || parent.options.json
        merged.quiet = ownOptions.quiet || parent.options.quiet
        return merged
    }
}
