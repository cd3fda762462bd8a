import ChronikLog
import ChronikServer
import Foundation

/// What a Ctrl-C or SIGTERM during `chronik append` of a file leaves,
/// tidied and said (stop 32: it ended silently, with part of the file
/// appended and the scratch log of the check left in the temporary
/// directory). The scratch log is removed; the message says which
/// positions were appended before the interrupt (the log's head is
/// published only once durable), so that the user knows what a re-run
/// would append again (lines without an id get new ids). The signals are
/// caught by `ShutdownSignals`, as `chronik serve` catches them.
final class AppendInterrupt: @unchecked Sendable {
    // @unchecked: the state below is guarded by `lock`.
    static let shared = AppendInterrupt()
    private let lock = NSLock()
    private var scratch: String?
    private var log: EventLog?
    private var startHead: UInt64 = 0
    private var signals: ShutdownSignals?
    /// The signal that asked the appends to stop, once one did.
    private var stopSignal: Int32?
    /// Whether the command checks `stopRequested` between batches
    /// (`append`); else (`import`, `settle import`) a signal ends it at once.
    private var stopsBetweenBatches = false
    /// What the command is, for the messages ("append", "import").
    private var command = "append"
    /// Run before an immediate exit (import: sync the key store and the
    /// log, which it syncs only at its end).
    private var beforeExit: (@Sendable () -> Void)?
    /// `append` from a pipe: whether a group is being appended, and what
    /// the groups so far appended (said on an interrupt).
    private var pipe: (inFlight: Bool, said: String)?
    /// `append --store`: the batches go to a PostgreSQL store.
    private var toStore = false

    /// `append` from a pipe that stays open: an interrupt while waiting for
    /// lines ends at once, one while a group is appended lets the group
    /// finish (each is all-or-nothing); either way the groups appended are
    /// said (stop 35: it ended with exit 130 and no word of it).
    func appendingFromPipe() {
        lock.lock()
        pipe = (false, "nothing was appended")
        lock.unlock()
    }

    /// A group starts (`inFlight`) or ends, and what all groups so far appended.
    func pipeGroup(inFlight: Bool, said: String? = nil) {
        lock.lock()
        pipe?.inFlight = inFlight
        if let said { pipe?.said = said }
        lock.unlock()
    }

    /// After a group: ends the command when a signal asked it to stop.
    func stopAfterGroupIfAsked() {
        lock.lock()
        let (sig, said) = (stopSignal, pipe?.said ?? "")
        lock.unlock()
        guard let sig else { return }
        printError("chronik: interrupted: \(said); the lines after them were not read")
        exit(128 + sig)
    }

    /// Directories an interrupt removes and what they held (`simulate`:
    /// an unfinished simulation is of no use, and it made them).
    private var discard: (paths: [String], keep: Set<String>, what: String)?
    /// The log the discarded command writes, once open: an interrupt
    /// closes it before removing its directory.
    private var discardLog: EventLog?
    /// An interrupt is removing what the command made, and will exit.
    private var discardStarted = false

    /// An interrupt closes `log` before it removes the directories of
    /// `discarding(_:keeping:what:)`, so that its writer makes no file in
    /// them after (stop 45's CI: the demo's 256 KiB segments roll every
    /// few milliseconds, and a new segment made between the removal and
    /// the exit was left in the emptied directory, which the message had
    /// just called empty).
    func discardingWrites(of log: EventLog) {
        lock.lock()
        discardLog = log
        lock.unlock()
    }

    /// Blocks the calling thread for good when an interrupt is removing
    /// what the command made: what failed there (an append to the log the
    /// interrupt closed) is not the command's end, the interrupt's exit is.
    func parkIfDiscarding() {
        lock.lock()
        let parked = discardStarted
        lock.unlock()
        guard parked else { return }
        while true { sleep(3600) }
    }

    /// An interrupt from now on removes `paths` (made by this command) and
    /// says so: `simulate` into a fresh log (stop 35: Ctrl-C ended it
    /// silently, leaving a partial log that every later simulate refused).
    /// A path in `keep` was there before (an empty directory): it is
    /// left empty.
    func discarding(_ paths: [String], keeping keep: Set<String> = [], what: String) {
        lock.lock()
        discard = (paths, keep, what)
        lock.unlock()
    }

    /// `append --store`: the first signal stops after the batch being
    /// appended (`stopRequested`, asked between batches; then
    /// `exitStopped` says what went in), a second one at once (stop 43, a
    /// helper: a signal ended it at once, without a word).
    func appendingToStore() {
        lock.lock()
        toStore = true
        lock.unlock()
    }

    /// Says `said` and exits 128 + the signal that asked the stop.
    func exitStopped(_ said: String) -> Never {
        lock.lock()
        let sig = stopSignal ?? SIGINT
        lock.unlock()
        printError("chronik: interrupted: " + said)
        exit(128 + sig)
    }

    /// Catches SIGINT and SIGTERM from now on.
    func install() {
        lock.lock()
        defer { lock.unlock() }
        guard signals == nil else { return }
        let s = ShutdownSignals()
        signals = s
        // One that came between the two calls: handled as a Ctrl-C.
        if !s.onSignal({ [unowned self] sig in self.fire(sig) }) {
            DispatchQueue.global().async { self.fire(SIGINT) }
        }
    }

    /// The scratch log being written, or nil once it is gone.
    func scratch(_ path: String?) {
        lock.lock()
        scratch = path
        lock.unlock()
    }

    /// Creates the scratch log at `path` with the lock held, so that an
    /// interrupt waits until its files are all made before it removes them
    /// (stop 33's CI: a Ctrl-C during the open removed the directory while
    /// the open still made files in it, and one was left).
    func creatingScratch<T>(at path: String, _ open: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        scratch = path
        return try open()
    }

    /// The batches go to `log` from now on. `stopsBetweenBatches`: the
    /// command stops after the batches in flight when asked (`append`).
    func appending(to log: EventLog, stopsBetweenBatches: Bool = true, command: String = "append",
                   beforeExit: (@Sendable () -> Void)? = nil) {
        lock.lock()
        self.log = log
        startHead = log.head.value
        self.stopsBetweenBatches = stopsBetweenBatches
        self.command = command
        self.beforeExit = beforeExit
        lock.unlock()
    }

    /// Whether a signal asked the appends to stop: no batch is sent after
    /// it; those in flight finish, then `finishStopped` says what was
    /// appended and exits.
    var stopRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopSignal != nil
    }

    /// While appending, the first signal stops the appends after the
    /// batches in flight, so that what is said is exactly what the log
    /// holds (stop 34: it exited at once and named only the positions
    /// published so far, up to 64 events fewer than the log held, and a
    /// re-run "of the rest" appended those lines again). A second signal,
    /// or one while the input is checked, ends the process at once.
    private func fire(_ sig: Int32) {
        lock.lock()
        if let p = pipe {
            if p.inFlight && stopSignal == nil {
                stopSignal = sig
                lock.unlock()
                printError("chronik: interrupted: finishing the group being appended, then stopping (interrupt again to stop at once)")
                return
            }
            lock.unlock()
            printError("chronik: interrupted: \(p.said)" + (p.inFlight ? "; the group being appended may have been written too" : ""))
            exit(128 + sig)
        }
        if let d = discard {
            discardStarted = true
            let log = discardLog
            lock.unlock()
            try? log?.close()
            for p in d.paths {
                Self.remove(p)
                if d.keep.contains(p) { try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false) }
            }
            printError("chronik: interrupted: \(d.what) was removed (\(d.paths.joined(separator: ", "))); nothing is left of it")
            exit(128 + sig)
        }
        if toStore {
            let first = stopSignal == nil
            if first { stopSignal = sig }
            lock.unlock()
            if first {
                printError("chronik: interrupted: finishing the batch being appended, then stopping (interrupt again to stop at once)")
                return
            }
            printError("chronik: interrupted: stopped at once; the batch being appended may have been stored: a re-run skips lines whose id is in the store (lines without an id would be appended again)")
            exit(128 + sig)
        }
        let (scratch, log, start, command, beforeExit) = (self.scratch, self.log, startHead, self.command, self.beforeExit)
        let first = log != nil && stopSignal == nil && stopsBetweenBatches
        if first { stopSignal = sig }
        lock.unlock()
        if first {
            printError("chronik: interrupted: finishing the batches already sent, then stopping (interrupt again to stop at once)")
            return
        }
        if let scratch { Self.remove(scratch) }
        beforeExit?()
        let head = log?.head.value ?? start
        if head > start {
            printError("chronik: interrupted: \(command) stopped; at least \(Self.appended(start, head)); batches in flight may have been written too: read the log's head (chronik stats) before a re-run. A re-run skips lines whose id is in the log; lines without an id would be appended again")
        } else if log != nil {
            printError("chronik: interrupted: nothing was acknowledged; batches in flight may have been written: read the log's head (chronik stats) before a re-run")
        } else {
            printError("chronik: interrupted: nothing was appended")
        }
        exit(128 + sig)
    }

    /// After a stop: closes `log` (every batch sent is durable and in it)
    /// and says exactly which positions were appended; exits 128 + the
    /// signal.
    func finishStopped(_ log: EventLog, saying said: ((_ start: UInt64, _ head: UInt64) -> String)? = nil) -> Never {
        lock.lock()
        let (start, sig) = (startHead, stopSignal ?? SIGINT)
        lock.unlock()
        try? log.close()
        let head = log.head.value
        if let said {
            printError("chronik: interrupted: " + said(start, head))
        } else if head > start {
            printError("chronik: interrupted: \(Self.appended(start, head)); the rest of the input was not. Lines without an id would be appended again by a re-run: give the lines ids, or append the rest only")
        } else {
            printError("chronik: interrupted: nothing was appended")
        }
        exit(128 + sig)
    }

    /// "positions 3–9 were appended (7 events)": what went in from `start`
    /// up to `head`.
    static func appended(_ start: UInt64, _ head: UInt64) -> String {
        "positions \(start)–\(head - 1) were appended (\(head - start) event\(head - start == 1 ? "" : "s"))"
    }

    /// Removes a directory that another thread may still be writing a file
    /// into (a log's writer): again until it is gone, for at most a second.
    static func remove(_ path: String) {
        for _ in 0..<100 {
            try? FileManager.default.removeItem(atPath: path)
            if !FileManager.default.fileExists(atPath: path) { return }
            usleep(10_000)
        }
    }
}
