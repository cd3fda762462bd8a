import ArgumentParser
import CChronikSupport
import ChronikAudit
import ChronikCommerce
import ChronikLog
import Foundation

/// `chronik`: the command-line face of ChronikLog. Thin by design: the
/// commands parse arguments, call the library and format what it returns.
@main
struct Chronik: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronik",
        abstract: "An event log for a shop: append and import events, replay read models, query them, audit the history.",
        discussion: """
            A Chronik log is a directory of checksummed, hash-chained segment \
            files. One process writes it at a time; any number read it.

            Start with the tour, which simulates a shop into a fresh log \
            and verifies the log:

              $ chronik demo

            Services and data:   simulate, import, export, append, read, tail, settle
            Server:              serve (HTTP API, live subscriptions, dashboard)
            PostgreSQL:          mirror; --store URL with serve, append, read, export,
                                 verify (digest: sign a mirror)
            Read models:         replay, query, snapshot
            Auditors:            verify, digest, keygen, stats, inspect
            Damage:              repair (what a refused open would need cut)
            Personal data:       forget, subject-export (keys in --keys, default LOG.keys)

            Every command takes --log DIR (default ./chronik-data) and --json \
            (but settle export, whose result is a gateway's CSV). Results go \
            to stdout (text, or one JSON object per line with --json); \
            progress and warnings go to stderr.

            Exit status: 0 success, 1 failure (for verify: corruption found), \
            64 usage error.
            """,
        version: "0.1.0",
        subcommands: [
            Demo.self, Simulate.self, Import.self, Export.self, Append.self, Read.self, Tail.self,
            Replay.self, Query.self, Snapshot.self,
            Verify.self, Digest.self, Keygen.self, Stats.self, Inspect.self, Repair.self, Backup.self,
            Forget.self, SubjectExport.self, Mirror.self,
            Settle.self, Serve.self,
        ])

    /// Like the default entry point, except that failures of the commands
    /// themselves print one line, `chronik: <reason>`, and exit 1. Usage
    /// errors keep argument-parser's message and its exit status 64.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        tuneMemory(for: arguments)
        if let unknown = unknownSubcommand(in: arguments) {
            printError("unknown command '\(unknown.word)' (\(unknown.path) commands: \(unknown.known.joined(separator: ", "))); see \(unknown.path) --help")
            exit(withError: ExitCode.validationFailure)
        }
        let command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot(nil)
        } catch {
            exit(withError: error)
        }
        do {
            var command = command
            do {
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
            } catch {
                // An interrupt removing what the command made (`simulate`,
                // `demo`) exits itself: an error it caused (a file gone
                // under a step that reads it) does not end the process first.
                AppendInterrupt.shared.parkIfDiscarding()
                throw error
            }
            // Read up to damage: the output is all that was intact (Options.swift).
            if readStoppedAtDamage.load(ordering: .relaxed) { exit(withError: ExitCode.failure) }
        } catch let failure as CommandFailure {
            for line in failure.lines { printError(line) }
            exit(withError: ExitCode(failure.exitCode))
        } catch let error as ChronikLogError {
            printError(describe(error))
            exit(withError: ExitCode.failure)
        } catch let error as AuditError {
            printError(error.description)
            exit(withError: ExitCode.failure)
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help, version, exit codes and usage errors, some of them
            // internal types: argument-parser prints and exits as usual.
            exit(withError: error)
        } catch {
            printError(Self.message(of: error))
            exit(withError: ExitCode.failure)
        }
    }

    /// An error in words: the errors of Chronik's libraries by their own
    /// description (a key store's error read "The operation could not be
    /// completed. (ChronikAudit.KeyStoreError error 1.)", stop 34),
    /// Foundation's by its localized one.
    static func message(of error: any Error) -> String {
        switch error {
        case let e as KeyStoreError: e.description
        case let e as CommerceError: e.description
        default: error.localizedDescription
        }
    }
}

extension Chronik {
    /// Commands that run until stopped keep glibc's defaults (memory goes
    /// back to the kernel after a burst); so does a user who tuned malloc
    /// through the environment.
    static let longRunning: Set<String> = ["serve", "tail", "mirror"]

    /// The bulk commands (append, import, export, replay, …) allocate and
    /// free batch-sized buffers (hundreds of kB) all the time. glibc serves
    /// those from fresh mmaps by default and trims freed heap memory, so
    /// each batch page-faults its buffers in again: 113,000 page faults and
    /// 35,000 mprotect calls in one `chronik append` of 500,000 events.
    /// Kept on the heap: `append` 1.00–1.12 → 0.93–1.04 s, `import` of a
    /// shop 3.20–3.35 → 3.06–3.22 s (alternated runs, stop 30); peak memory
    /// about the same (append 292 → 316 MB).
    static func tuneMemory(for arguments: [String]) {
        let environment = ProcessInfo.processInfo.environment
        if environment.keys.contains(where: { $0.hasPrefix("MALLOC_") }) { return }
        if environment["GLIBC_TUNABLES"]?.contains("malloc") == true { return }
        if let command = arguments.first, longRunning.contains(command) { return }
        _ = chronik_keep_large_blocks_on_the_heap()
    }

    /// The first word of `arguments` (after an optional `help`) that names
    /// no subcommand where one is expected, with the command it was given
    /// to and that command's subcommands. argument-parser would print the
    /// help and exit 0 for `chronik bogus --help` or `chronik help bogus`.
    static func unknownSubcommand(in arguments: [String]) -> (word: String, path: String, known: [String])? {
        var command: any ParsableCommand.Type = Chronik.self
        var path = "chronik"
        for word in arguments.first == "help" ? arguments.dropFirst() : arguments[...] {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !word.hasPrefix("-") else { return nil }
            guard let next = subcommands.first(where: { $0._commandName == word }) else {
                return (word, path, subcommands.map { $0._commandName })
            }
            command = next
            path += " " + word
        }
        return nil
    }
}

/// A failure a command reports: one or more lines for stderr (each gets
/// the `chronik: ` prefix) and an exit status.
struct CommandFailure: Error {
    var lines: [String]
    var exitCode: Int32 = 1

    init(_ line: String, exitCode: Int32 = 1) {
        lines = [line]
        self.exitCode = exitCode
    }

    init(lines: [String], exitCode: Int32 = 1) {
        self.lines = lines
        self.exitCode = exitCode
    }
}

/// One readable line for a library error: what happened, then where.
func describe(_ error: ChronikLogError) -> String {
    var s: String
    switch error.code {
    case .notALog: s = "not a Chronik log: \(error.message)"
    case .corruption: s = "corruption: \(error.message)"
    case .chainMismatch: s = "hash chain broken: \(error.message)"
    case .wrongExpectedVersion: s = "wrong expected version: \(error.message)"
    case .duplicateEventId: s = "duplicate event id: \(error.message)"
    case .unsupportedVersion: s = "unsupported format: \(error.message)"
    case .writerPoisoned: s = "writer stopped: \(error.message)"
    default: s = error.message
    }
    // Damage reads as everywhere else (verify, repair): FILE at byte N: REASON.
    if let path = error.path, let offset = error.offset, offset >= 0 {
        let label = s.dropLast(error.message.count)
        // A PostgreSQL store's table: the message names it and the
        // position (stop 35: "chronik_events at byte 33").
        if !path.contains("/"), path.hasPrefix("chronik_") { return String(label) + error.message }
        return String(label) + "\(path) at byte \(offset): " + error.message
    }
    if let path = error.path {
        // A first command without --log looks in the default directory.
        let hint = error.code == .notALog && path == GlobalOptions.defaultDirectory ? ", the default: name the log with --log DIR" : ""
        s += " (\(path)\(hint))"
    }
    return s
}
