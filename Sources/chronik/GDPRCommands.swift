import ArgumentParser
import Synchronization
import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation

/// Where the per-subject keys of personal data live (docs/GDPR.md).
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The key store for personal data, kept outside the log directory (default: the log directory's path + .keys, e.g. ./chronik-data.keys).",
        valueName: "dir"))
    var keys: String?

    @Sendable static func warnErasedKeys(_ customers: [String]) {
        printError("chronik: warning: " + LogKeyStore.erasedKeysWarning(customers: customers))
    }

    func directory(forLog log: String) -> String {
        keys ?? Self.defaultDirectory(forLog: log)
    }

    /// The log's path + .keys.
    static func defaultDirectory(forLog log: String) -> String {
        var base = log
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return base + ".keys"
    }

    /// The vault that seals and opens personal data. `syncEachKey: false`
    /// for bulk writers, which call `sync()` before closing the log.
    /// `readOnly`: a reader's, which writes nothing into the key store
    /// (`FileKeyStore(readOnly:)`).
    /// A reader's vault says (unless `quiet`) when its key store still
    /// holds keys the log says are destroyed, which read as destroyed.
    func vault(for eventLog: EventLog, syncEachKey: Bool = true, readOnly: Bool = false, quiet: Bool = false) throws -> SubjectKeyVault {
        let dir = try checkedDirectory(forLog: eventLog.directory)
        do {
            // ChronikAudit's safeguards (docs/GDPR.md); stop 34: a customer
            // whose sealed data is in the log gets no new key.
            let warn: (@Sendable ([String]) -> Void)? = quiet ? nil : Self.warnErasedKeys
            return try SubjectKeyVault.forLog(eventLog, keyDirectory: dir, syncEachKey: syncEachKey, readOnly: readOnly,
                                              onErasedKeysFound: warn)
        } catch {
            throw CommandFailure("key store: \(error) (the key store is --keys DIR, default the log's path + .keys)")
        }
    }

    /// The key store's directory, refused inside the log directory.
    func checkedDirectory(forLog log: String) throws -> String {
        let dir = directory(forLog: log)
        do { try LogKeyStore.checkOutside(log: log, keyDirectory: dir) } catch let e as KeyStoreError { throw CommandFailure(e.message) }
        return dir
    }

    /// Removes the key store of a log that is being replaced (the demo's):
    /// only the files a key store holds, one by one; refuses anything else.
    func clear(forLog log: String) throws {
        let dir = directory(forLog: log)
        for e in try clearableEntries(forLog: log) { try FileManager.default.removeItem(atPath: dir + "/" + e) }
    }

    /// The files `clear` would remove; refuses, removing nothing, when the
    /// directory holds anything else.
    func clearableEntries(forLog log: String) throws -> [String] {
        let dir = directory(forLog: log)
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        guard entries.allSatisfy(LogKeyStore.isKeyStoreFile) else {
            throw CommandFailure("refusing to empty \(dir): it holds files that are not a Chronik key store")
        }
        return entries
    }

    /// For a replay: the vault when a model to build reads personal data
    /// (fraud: IPs and countries) and the key store exists; nil when no
    /// model reads it. Without a key store, a protector that opens nothing
    /// (every sealed field reads as erased, as with none) and notes so the
    /// first time a model asks: the replay finds out whether the log holds
    /// sealed data as it goes, instead of a scan of the whole log first (a
    /// fifth of the time of `replay` of a 2 M-event log without any).
    func vaultForModels(_ only: [String]?, for log: EventLog, quiet: Bool) throws -> (any PIIProtector)? {
        let names = (try? Projections.closure(of: only)) ?? Projections.allNames
        guard names.contains("fraud") else { return nil }
        let dir = directory(forLog: log.directory)
        guard FileManager.default.fileExists(atPath: dir) else {
            try refuseMissingExplicitStore(dir, log: log)
            return NoKeyStore(note: quiet ? nil : Self.noKeyStoreNote(dir))
        }
        return try vault(for: log, readOnly: true, quiet: quiet)
    }

    /// A `--keys` given that names no key store, for a log that holds
    /// sealed personal data, is a mistake to say, not a note (stop 34:
    /// `export --keys typo -q` wrote null for every customer, exit 0, and
    /// the export could not be imported again). Without `--keys`, a
    /// missing default key store stays a note.
    func refuseMissingExplicitStore(_ dir: String, log: EventLog) throws {
        // Something else where the key store should be is a mistake too, given or not (stop 34: a file at
        // LOG.keys read as "no key store", and export wrote null for every customer, exit 0).
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), !isDir.boolValue {
            throw CommandFailure("\(dir) is a file, not a key store directory: move it away, or give the key store with --keys DIR")
        }
        // One this user may not read is not a missing one (stop 42, a
        // helper: "no key store at …: personal data reads as erased").
        if isDir.boolValue, !FileManager.default.isReadableFile(atPath: dir) || !FileManager.default.isExecutableFile(atPath: dir) {
            throw CommandFailure("cannot read the key store at \(dir): permission denied (personal data would read as erased); "
                                 + "run as the user that owns it")
        }
        guard keys != nil, !LogKeyStore.holdsKeyStore(dir), LogKeyStore.holdsSealedPersonalData(log) else { return }
        throw CommandFailure("no key store at \(dir) (--keys), and this log holds sealed personal data: "
                             + "it would read as erased; give the directory of the log's key store")
    }

    /// What a reader is told when the key store `dir` is missing and the
    /// log holds sealed personal data.
    static func noKeyStoreNote(_ dir: String) -> String {
        "chronik: note: no key store at \(dir): personal data reads as erased (use --keys DIR)"
    }

    /// For readers: the vault when the key store exists, else nil (every
    /// sealed field then reads as erased, with a note). A directory that
    /// holds no key store file at all (an empty one named by mistake) is
    /// not opened either: opening binds a store to the log, and a reader
    /// writes nothing (stop 32: `export --keys EMPTY` tied the directory
    /// to the log and showed every field erased without a word).
    func existingVault(for log: EventLog, note: (String) -> Void, missing: MissingKeys = MissingKeys(), quiet: Bool = false) throws -> SubjectKeyVault? {
        let dir = directory(forLog: log.directory)
        guard LogKeyStore.holdsKeyStore(dir) else {
            try refuseMissingExplicitStore(dir, log: log)
            // Said only where it changes what the reader sees.
            if LogKeyStore.holdsSealedPersonalData(log) {
                note(Self.noKeyStoreNote(dir))
            }
            return nil
        }
        var v = try vault(for: log, readOnly: true, quiet: quiet)
        v.missing = missing
        return v
    }

    /// After a writer closed its log: the key store's `erasures` record
    /// moves to the head when it was there at open and every key the writer
    /// had to destroy was (`LogKeyStore.recordErasuresAtClose`), so readers
    /// do not read the log for erasures. A failure costs readers that read,
    /// not data: a warning.
    func recordErasures(_ vault: SubjectKeyVault, log: EventLog, note: (String) -> Void) {
        do { try LogKeyStore.recordErasuresAtClose(vault, log: log) } catch {
            note("chronik: warning: key store: \(error) (readers will read the log for erasures instead)")
        }
    }

    /// Refuses when `vault` (nil: no key store) has neither customer `id`'s
    /// key nor its destruction, for a customer whose events hold sealed
    /// personal data (`streamHoldsSealedPersonalData`, which the caller
    /// asks once): the store is not the one their data was sealed under
    /// (a wrong `--keys`, a log moved without its `.keys`), so what a
    /// command would say about their data or its erasure would be false.
    func requireCustomerKey(_ vault: SubjectKeyVault?, customer id: String, in log: EventLog, doing what: String) throws {
        let dir = directory(forLog: log.directory)
        let subject = PIISubject.customer(id)
        guard let vault else {
            throw CommandFailure("no key store of this log at \(dir): customer \(id)'s personal data is sealed under a key kept elsewhere; \(what) (use --keys DIR)")
        }
        guard try vault.store.knows(subject: subject) else {
            throw CommandFailure("the key store at \(dir) holds no key for customer \(id), though this log holds their sealed personal data: it is not the store it was sealed under; \(what) (use --keys DIR)")
        }
    }
}

/// The protector of a replay without a key store: every subject's key is
/// unknown (its sealed data reads as erased); the first `open` prints
/// `note`, once.
final class NoKeyStore: PIIProtector {
    private let note: String?
    private let noted = Atomic<Bool>(false)

    init(note: String?) { self.note = note }

    func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
        if let note, !noted.load(ordering: .relaxed), !noted.exchange(true, ordering: .relaxed) { printError(note) }
        return nil
    }

    func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
        throw CommandFailure("no key store: personal data cannot be sealed")
    }

    func destroyKey(subject: String) throws {
        throw CommandFailure("no key store: there is no key to destroy")
    }
}

struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase a customer's personal data (GDPR): append CustomerForgotten and destroy the customer's key.",
        discussion: """
            The log is never rewritten: every personal field of the customer \
            (email, name, phone, addresses, IPs, support summaries) is stored \
            encrypted under the customer's own key, and this command destroys \
            that key after appending CustomerForgotten. From then on those \
            fields read as null (text: ‹erased›) in exports, queries and \
            subject exports, also after a full replay; orders, amounts and \
            SKUs stay. `chronik verify` still passes. The customer takes no \
            further events. A guest (orders placed without CustomerRegistered) \
            is forgotten the same way.

            Running it again for a forgotten customer only makes sure the key \
            is gone (e.g. after a crash between the append and the key \
            deletion). After restoring the key store from a backup, \
            `chronik forget --reapply` destroys again the key of every \
            customer the log says is forgotten.

            Examples:
              $ chronik forget customer C100042 --log shop
              $ chronik forget customer C100042 --log shop --json
              $ chronik forget --reapply --log shop

            Exit status: 0 forgotten (or already forgotten), 1 failure (also: \
            no such customer in the log), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    @Argument(help: ArgumentHelp("What to forget: customer.", valueName: "kind"))
    var kind: String?

    @Argument(help: ArgumentHelp("The customer id.", valueName: "id"))
    var id: String?

    @Flag(name: .customLong("reapply"), help: ArgumentHelp(
        "Instead of one customer: destroy the key of every customer the log says is forgotten (after restoring a key store from a backup taken before an erasure)."))
    var reapply = false

    func validate() throws {
        if reapply {
            guard kind == nil else { throw ValidationError("--reapply takes no customer: chronik forget --reapply") }
            return
        }
        guard let kind, let id else { throw ValidationError("say whom to forget: chronik forget customer ID (or --reapply)") }
        guard kind == "customer" else { throw ValidationError("only customers can be forgotten: chronik forget customer ID") }
        guard Validation.isValidID(id) else { throw ValidationError("not a valid customer id: \(id)") }
    }

    func run() async throws {
        if reapply { return try reapplyErasures() }
        guard let id else { return }
        let log = try openAsWriter()
        defer { try? log.close() }
        let stream = "customer-" + id
        let subject = PIISubject.customer(id)
        guard log.lastVersion(of: stream) != nil else {
            // A guest (orders, no CustomerRegistered) is a data subject too:
            // their personal data is sealed under their key (stop 34: they
            // could not be forgotten).
            let keys = try keyOptions.checkedDirectory(forLog: log.directory)
            let vault = LogKeyStore.holdsKeyStore(keys) ? try keyOptions.vault(for: log) : nil
            guard let vault, try vault.store.knows(subject: subject) else {
                throw CommandFailure("no customer \(id) in this log (stream \(stream) is empty, and the key store holds no personal data of theirs)")
            }
            try await forget(id, store: CommerceStore(log: log, protector: vault), vault: vault, alreadyForgotten: false)
            return keyOptions.recordErasures(vault, log: log, note: options.note)
        }
        // The store must be the one the customer's data was sealed under,
        // checked before anything is created or appended: with a wrong
        // --keys, forget said "key destroyed" while the real key lived on
        // (stop 32).
        let doing = "forgetting them here would destroy nothing, so nothing was appended"
        let sealed = try LogKeyStore.streamHoldsSealedPersonalData(log, stream: stream)
        if sealed, !LogKeyStore.holdsKeyStore(try keyOptions.checkedDirectory(forLog: log.directory)) {
            try keyOptions.requireCustomerKey(nil, customer: id, in: log, doing: doing)
        }
        let vault = try keyOptions.vault(for: log)
        if sealed { try keyOptions.requireCustomerKey(vault, customer: id, in: log, doing: doing) }
        let store = CommerceStore(log: log, protector: vault)
        let forgotten = if case .customer(let c) = try store.state(of: stream).state { c.isForgotten } else { false }
        try await forget(id, store: store, vault: vault, alreadyForgotten: forgotten)
        keyOptions.recordErasures(vault, log: log, note: options.note)
    }

    /// Appends CustomerForgotten (which destroys the key) or, for a
    /// customer forgotten already, destroys the key again; says which.
    private func forget(_ id: String, store: CommerceStore, vault: SubjectKeyVault, alreadyForgotten: Bool) async throws {
        let out = Output()
        let subject = PIISubject.customer(id)
        if alreadyForgotten {
            try vault.destroyKey(subject: subject)
            if options.json {
                try out.line(encoding: ForgetReport(customerId: id, alreadyForgotten: true, position: nil, keyDestroyed: true))
            } else {
                out.line("customer \(id) was already forgotten; the key is destroyed")
            }
            out.flush()
            return
        }
        let result: AppendResult
        do {
            result = try await store.append(.customerForgotten(CustomerForgotten(customerId: id)))
        } catch let e as CommerceError {
            throw CommandFailure(e.description)
        }
        if options.json {
            try out.line(encoding: ForgetReport(customerId: id, alreadyForgotten: false, position: result.firstPosition.value,
                                                keyDestroyed: vault.store.isDestroyed(subject: subject)))
        } else {
            out.line("forgot customer \(id): CustomerForgotten at position \(result.firstPosition.value); key destroyed, personal data now reads as erased")
        }
        out.flush()
    }
}

extension Forget {
    /// The log, as its one writer; one that does not exist is not created.
    func openAsWriter() throws -> EventLog {
        var logOptions = LogOptions()
        logOptions.createIfMissing = false
        do { return try EventLog.open(at: options.directory(), options: logOptions) } catch let e as ChronikLogError {
            // The server's own route for it, not its append routes (stop 39).
            throw CommandFailure(describe(options.besideServer(e, path: options.directory(), through: reapply
                ? "restart that server (it destroys such keys when it starts)"
                : "erase through that server (POST /customers/{id}/forget, scope pii)")))
        }
    }

    /// `--reapply`: every CustomerForgotten of the log destroys its
    /// customer's key again (a no-op for a key already destroyed). A key
    /// store restored from a backup taken before an erasure brings the
    /// key back; `export` and `read` would then open the data (stop 34).
    func reapplyErasures() throws {
        // As the log's writer, as `forget customer` does: the key store is
        // written, and a writer beside it (serve, import) keeps key files
        // open that a rewrite here would replace under it (stop 34: keys
        // it made next went into a replaced file and were lost).
        let log = try openAsWriter()
        defer { try? log.close() }
        let keys = try keyOptions.checkedDirectory(forLog: log.directory)
        guard LogKeyStore.holdsKeyStore(keys) else {
            throw CommandFailure("no key store at \(keys): nothing to destroy (use --keys DIR)")
        }
        let vault = try keyOptions.vault(for: log)
        let customers = try LogKeyStore.forgottenCustomers(in: log)
        // The sessions their orders name first, counted (stop 38, an
        // upgrade: erasures of a release before stop 36 left them, and
        // this said "0 keys" while destroying 120).
        let sessions = try LogKeyStore.destroyLinkedSessionKeys(of: customers, vault: vault)
        var destroyedNow = 0
        for c in customers {
            let subject = PIISubject.customer(c)
            if !vault.store.isDestroyed(subject: subject) { destroyedNow += 1 }
            try vault.destroyKey(subject: subject)
        }
        try vault.store.sync()
        let out = Output()
        if options.json {
            struct Report: Encodable { var forgottenCustomers, keysDestroyedNow, sessionKeysDestroyedNow: Int }
            try out.line(encoding: Report(forgottenCustomers: customers.count, keysDestroyedNow: destroyedNow,
                                          sessionKeysDestroyedNow: sessions.count))
        } else {
            out.line("\(group(customers.count)) forgotten customer\(customers.count == 1 ? "" : "s") in the log; "
                     + "\(group(destroyedNow)) key\(destroyedNow == 1 ? " was" : "s were") still in the key store and destroyed now"
                     + (sessions.isEmpty ? "" : ", and \(group(sessions.count)) key\(sessions.count == 1 ? "" : "s") of anonymous sessions their orders name"))
        }
        out.flush()
        // Every erasure of the log reflected, as its one writer: readers read
        // no more of the log for them. After the summary, and a warning when
        // it fails: the keys are destroyed either way (stop 39: an unwritable
        // record exited 1 without saying so).
        do {
            try LogKeyStore.recordErasuresReflected(keyDirectory: keys, before: log.head, log: log)
        } catch {
            options.note("chronik: warning: key store: \(error) (the keys are destroyed; readers will read the log for erasures instead)")
        }
    }
}

/// What `forget --json` prints: the CustomerForgotten event's position,
/// null when the customer was already forgotten (no event appended).
struct ForgetReport: Encodable {
    var customerId: String
    var alreadyForgotten: Bool
    var position: UInt64?
    var keyDestroyed: Bool
}

struct SubjectExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject-export",
        abstract: "Print everything the log holds about one customer, as JSON (GDPR subject access).",
        discussion: """
            One JSON document: customerId, erased, profile (latest email, \
            name, phone, address, consent), the ids of the customer's orders \
            and sessions, and every event of the customer's stream, orders \
            (payments, shipments, refunds, returns) and sessions, in log \
            order, as `chronik export` writes them — without card tokens. \
            Personal data of a forgotten customer is null. Reads the whole log.

            Examples:
              $ chronik subject-export customer C100042 --log shop > C100042.json
              $ chronik subject-export customer C100042 --log shop | jq .profile

            Exit status: 0 success, 1 failure (also: no such customer in the \
            log), 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var keyOptions: KeyOptions

    @Argument(help: ArgumentHelp("Whose data: customer.", valueName: "kind"))
    var kind: String

    @Argument(help: ArgumentHelp("The customer id.", valueName: "id"))
    var id: String

    func validate() throws {
        guard kind == "customer" else { throw ValidationError("subject exports are per customer: chronik subject-export customer ID") }
        guard Validation.isValidID(id) else { throw ValidationError("not a valid customer id: \(id)") }
    }

    func run() async throws {
        let log = try options.openForReading()
        defer { try? log.close() }
        let vault = try keyOptions.existingVault(for: log, note: { _ in }, quiet: options.quiet)
        // Without the customer's key the answer would call their data
        // erased (stop 32: "erased": true for a customer never forgotten).
        if try LogKeyStore.streamHoldsSealedPersonalData(log, stream: "customer-" + id) {
            try keyOptions.requireCustomerKey(vault, customer: id, in: log,
                                              doing: "a subject export without it would call their data erased")
        }
        let doc: ChronikCommerce.JSONValue
        do {
            doc = try SubjectAccess.export(customerId: id, from: log, protector: vault)
        } catch let e as CommerceError {
            // Said as forget says it, not with the library's code and field.
            throw CommandFailure(e.code == .invalidData && e.field == "customerId" ? "no customer \(id) in this log: \(e.message)" : e.description)
        }
        let out = Output()
        out.line(String(decoding: doc.compactBytes, as: UTF8.self))
        out.flush()
    }
}


/// The customers among the key-store `subjects` (`customer:ID`; others are
/// passed over) whom no `CustomerForgotten` of `log` names: erasures the
/// log does not record (a key store newer than the log). Reads the log
/// only when there is a customer to check.
func customersErasedWithoutEvent(_ subjects: [String], in log: EventLog) throws -> [String] {
    let prefix = PIISubject.customer("")
    let customers = subjects.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    guard !customers.isEmpty else { return [] }
    let forgotten = Set(try LogKeyStore.forgottenCustomers(in: log))
    return customers.filter { !forgotten.contains($0) }
}
