import ArgumentParser
import ChronikAudit
import ChronikCommerce
import ChronikLog
import Foundation

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a log and its key store, live, to a new directory, and verify the copy.",
        discussion: """
            A point-in-time copy taken while a server or another writer \
            goes on appending: the segment list and the head are read at \
            one instant and each segment is copied up to the bytes \
            committed then, so the copy holds exactly the events before \
            its head, with their times, ids and chain hashes (a signed \
            digest of the log up to that head verifies on it). Then the \
            key store (the log's path + .keys, or --keys) is copied to \
            --keys-to (default: the copy's path + .keys), each key file up \
            to its last complete line. The copy is written under \
            DIR.partial and renamed when whole, then verified as chronik \
            verify does. snapshots/ is not copied (replay rebuilds it).

            A file copier is not enough while a writer appends: one that \
            reads the directory as it copies can miss segments in the \
            middle, and copying *.log then *.idx can take an index whose \
            segment is not in the copy; either copy is refused when opened.

            The key store is copied after the log: every event of the copy \
            was sealed with a key made before it, so none is missing. A \
            customer forgotten between the two copies has a destroyed key \
            and no CustomerForgotten in the copied log: the command names \
            them, and after a restore `chronik forget customer ID` for \
            each writes the event (docs/GDPR.md, "Backups").

            To restore: stop the writer, then serve or open the copy \
            (chronik serve --log COPY --keys COPY.keys), or move it into \
            the log's place.

            Examples:
              $ chronik backup --to backup-1
              $ chronik backup --log shop --to backups/shop-1 --json

            Exit status: 0 the copy is whole and verified, 1 failure (the \
            target exists, the log is damaged, a write failed; nothing is \
            left under the target's name), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    @Option(name: .customLong("to"), help: ArgumentHelp("The new directory to copy the log into (must not exist).", valueName: "dir"))
    var target: String

    @Option(name: .customLong("keys-to"), help: ArgumentHelp(
        "Where the key store's copy goes (default: the copy's path + .keys; must not exist).", valueName: "dir"))
    var keysTarget: String?

    func validate() throws {
        if target.isEmpty { throw ValidationError("--to must not be empty: name a new directory for the copy") }
        if keysTarget?.isEmpty == true { throw ValidationError("--keys-to must not be empty") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        // A damaged log is refused, not copied up to its damage.
        let log = try options.openForReading(upToDamage: false)
        defer { try? log.close() }
        // A copy inside the log (or the log inside the copy's path) would
        // be a stray directory of the log, copied into itself next time.
        let absolute = { (path: String) in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        let logPath = absolute(log.directory), targetPath = absolute(target)
        if targetPath == logPath || targetPath.hasPrefix(logPath + "/") {
            throw CommandFailure("\(target) is inside the log directory \(log.directory): a copy goes outside it")
        }
        let keysSource = keyOptions.directory(forLog: log.directory)
        let hasKeys = LogKeyStore.holdsKeyStore(keysSource)
        let keysTo = keysTarget ?? KeyOptions.defaultDirectory(forLog: target)
        if hasKeys, FileManager.default.fileExists(atPath: keysTo) {
            throw CommandFailure("\(keysTo) exists: the key store's copy goes into a new directory (--keys-to DIR)")
        }
        var parent = (target as NSString).deletingLastPathComponent
        if parent.isEmpty { parent = "." }
        if !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        options.note("copying \(log.directory) (head \(group(log.head.value))) to \(target) …")
        let copied = try log.copy(to: target)
        var keys: KeyStoreCopyReport?
        if hasKeys {
            do {
                keys = try FileKeyStore.copy(from: keysSource, to: keysTo)
            } catch {
                throw CommandFailure("the log was copied to \(target), its key store was not: \(error)")
            }
        }
        options.note("verifying \(target) …")
        let verified = try LogVerifier.verify(directory: target)
        // A copy that does not verify is removed: nothing under the
        // target's name but a whole, verified copy (damage in a sealed
        // segment, which a reader's open does not read, is found here).
        func discard() {
            try? FileManager.default.removeItem(atPath: target)
            if keys != nil { try? FileManager.default.removeItem(atPath: keysTo) }
        }
        if let failure = verified.failure {
            discard()
            throw CommandFailure("the log is damaged, no copy was kept: \(failure.description.replacingOccurrences(of: target, with: log.directory)) (chronik verify --log \(log.directory) tells more)")
        }
        guard verified.headPosition == copied.head, verified.headHash == copied.headHash else {
            discard()
            throw CommandFailure("the copy ended at \(verified.headPosition.value) (\(verified.headHash)), the log was copied at \(copied.head.value) (\(copied.headHash)); no copy was kept")
        }
        // Customers forgotten between the log's copy and the keys': a key
        // destroyed and no CustomerForgotten in the copy (read from this
        // open of the log, whose head is the copy's).
        let erasedAfter = try customersErasedWithoutEvent(keys?.destroyed ?? [], in: log)
        let elapsed = seconds(ContinuousClock.now - started)
        let out = Output()
        if options.json {
            struct KeysJSON: Encodable { var directory: String; var files: Int; var keys: Int; var destroyed: Int }
            struct Report: Encodable {
                var log: String; var copy: String; var head: UInt64; var headHash: String; var events: UInt64
                var segments: Int; var bytes: Int64; var verified: Bool; var keyStore: KeysJSON?
                var forgottenAfterTheCopiedHead: [String]; var seconds: Double
            }
            try out.line(encoding: Report(
                log: log.directory, copy: target, head: copied.head.value, headHash: copied.headHash.description,
                events: verified.events, segments: copied.segments, bytes: copied.bytes, verified: true,
                keyStore: keys.map { KeysJSON(directory: keysTo, files: $0.files, keys: $0.keys, destroyed: $0.destroyed.count) },
                forgottenAfterTheCopiedHead: erasedAfter, seconds: (elapsed * 1000).rounded() / 1000))
        } else {
            out.line("copied \(log.directory) to \(target): \(group(verified.events)) events up to head \(group(copied.head.value)), "
                     + "\(group(copied.segments)) segment\(copied.segments == 1 ? "" : "s"), \(formatBytes(copied.bytes)); verified, "
                     + "head hash \(copied.headHash)")
            if let keys {
                out.line("copied the key store \(keysSource) to \(keysTo): \(group(keys.keys)) key\(keys.keys == 1 ? "" : "s"), "
                         + "\(group(keys.destroyed.count)) destroyed")
            } else {
                out.line("no key store at \(keysSource): none copied (--keys DIR names another)")
            }
        }
        out.flush()
        if !erasedAfter.isEmpty {
            let shown = erasedAfter.prefix(10).joined(separator: ", ") + (erasedAfter.count > 10 ? ", …" : "")
            printError("chronik: warning: \(erasedAfter.count) customer\(erasedAfter.count == 1 ? " was" : "s were") forgotten after the copied head "
                       + "(\(shown)): their keys are destroyed in the copy, their CustomerForgotten is not in it; "
                       + "after a restore, run chronik forget customer ID for each")
        }
    }
}
