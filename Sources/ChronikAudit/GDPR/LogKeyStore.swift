// A log's key store with docs/GDPR.md's safeguards, for every writer and
// reader of personal data: the CLI, the server and library users (stop 36:
// the safeguards lived in the CLI, and a library user's vault had none).

import ChronikCommerce
import ChronikLog
import Foundation

extension SubjectKeyVault {
    /// The vault of `log`'s key store in `keyDirectory`, with the
    /// safeguards of docs/GDPR.md:
    /// - the directory must not be inside the log directory (erasing a key
    ///   must never touch the log, and keys must not travel with copies of
    ///   the log);
    /// - the store belongs to one log: a file `log` in it names the log's
    ///   creation time (written by the first writer), and a store of
    ///   another log is refused;
    /// - a customer whose sealed personal data is in the log but whose key
    ///   is not in the store gets no new key (`LogBoundKeyStore`): the data
    ///   was sealed under another store's key;
    /// - destroying a customer's key destroys those of the anonymous
    ///   sessions their orders name (`SessionLinks`): an order's IP is its
    ///   session's.
    ///
    /// Use it instead of `SubjectKeyVault(store: FileKeyStore(…))`, which
    /// has none of them.
    ///
    /// - Parameters:
    ///   - syncEachKey: false for bulk writers that call `sync()` on the
    ///     store before they close the log.
    ///   - readOnly: a reader's vault, which writes nothing into the store.
    /// - Throws: `KeyStoreError` naming what was refused. Blocks on file I/O.
    ///   - onErasedKeysFound: for a reader, called once, when its first
    ///     key look-up finds keys the log says are destroyed still in the
    ///     store (a key store restored alone from a backup taken before an
    ///     erasure), with the customers concerned; those keys read as
    ///     destroyed (`LogKeyStore.erasedKeysWarning` says it).
    public static func forLog(_ log: EventLog, keyDirectory: String, syncEachKey: Bool = true,
                              readOnly: Bool = false,
                              onErasedKeysFound: (@Sendable ([String]) -> Void)? = nil) throws -> SubjectKeyVault {
        try LogKeyStore.checkOutside(log: log.directory, keyDirectory: keyDirectory)
        // A writer that would start a new key store beside a log that holds
        // sealed personal data: every customer would read as erased, and new
        // keys would split the store in two (stop 36: an operator's `serve`
        // of a copied log without its .keys started "ready" that way).
        if !readOnly, !LogKeyStore.holdsKeyStore(keyDirectory), LogKeyStore.holdsSealedPersonalData(log) {
            throw KeyStoreError("no key store at \(keyDirectory), and this log holds sealed personal data: a new key store would read every "
                                + "customer as erased and seal new data under other keys; give the key store this log's data was sealed with")
        }
        let file = try FileKeyStore(directory: keyDirectory, syncEachKey: syncEachKey, readOnly: readOnly)
        let links = SessionLinks()
        // Read before the store's files are used: a reader takes the
        // record as it was when it opened (it only ever moves forward).
        let mark = readOnly ? nil : WriterErasureMark(keyDirectory: keyDirectory, log: log)
        let erased = readOnly ? ErasedByLog(log: log, from: LogKeyStore.erasuresReflected(keyDirectory: keyDirectory, log: log),
                                            links: links, onFound: onErasedKeysFound) : nil
        let vault = SubjectKeyVault(store: LogBoundKeyStore(file, holdsSealedData: { [log] subject in
            guard subject.hasPrefix("customer:") else { return false }
            let stream = "customer-" + subject.dropFirst("customer:".count)
            guard log.lastVersion(of: stream) != nil else { return false }
            return (try? LogKeyStore.streamHoldsSealedPersonalData(log, stream: stream)) ?? true
        }, linked: { [log] subject in
            // An erased customer's orders name sessions whose IP is theirs.
            guard subject.hasPrefix("customer:") else { return [] }
            return try links.sessions(of: String(subject.dropFirst("customer:".count)), in: log).sorted().map { PIISubject.session($0) }
        }, writerMark: mark, erasedByLog: erased))
        try LogKeyStore.bind(keyDirectory: keyDirectory, to: log, readOnly: readOnly)
        return vault
    }
}

/// The checks `SubjectKeyVault.forLog` makes, for callers that need one.
public enum LogKeyStore {
    /// The file in a key store that names the log it belongs to.
    public static let ownerFile = "log"

    /// Refuses a key directory inside the log directory.
    public static func checkOutside(log: String, keyDirectory dir: String) throws {
        let logPath = URL(fileURLWithPath: log).standardizedFileURL.path
        let keysPath = URL(fileURLWithPath: dir).standardizedFileURL.path
        guard !(keysPath + "/").hasPrefix(logPath + "/") else {
            throw KeyStoreError("the key store (\(dir)) must not be inside the log directory (\(log)): erasing keys must never touch the log")
        }
    }

    /// Binds the key store in `dir` to `log` (its owner file names the
    /// log's creation time, from chronik.meta), or checks that it is bound
    /// to it: keys and erasures of another log — say one deleted and
    /// created anew at the same path — must not be mixed in. A reader
    /// (`readOnly`) writes nothing; the next writer binds the store.
    public static func bind(keyDirectory dir: String, to log: EventLog, readOnly: Bool = false) throws {
        let identity = "chronik log created \(log.createdAt.rfc3339)\n"
        let path = dir + "/" + ownerFile
        if let existing = FileManager.default.contents(atPath: path) {
            guard String(decoding: existing, as: UTF8.self) == identity else {
                throw KeyStoreError("the key store \(dir) belongs to another log (\(String(decoding: existing, as: UTF8.self).trimmingCharacters(in: .newlines))); "
                                    + "this one is a \(identity.trimmingCharacters(in: .newlines)): use this log's key store, or move the old one away")
            }
            return
        }
        if readOnly { return }
        // Durably (directory synced): the keys sealed next must never be
        // found beside a lost or empty owner file after a power loss.
        do {
            try PosixStorage().writeFileDurably(path, bytes: Array(identity.utf8))
        } catch {
            throw KeyStoreError("cannot write \(path): \(ChronikLogError.message(of: error))")
        }
    }

    /// Whether `name` is a file a key store holds: its owner file, a key
    /// file (`keys-` and two hex digits), or one being written (`.tmp`).
    public static func isKeyStoreFile(_ name: String) -> Bool {
        let base = name.hasSuffix(".tmp") ? String(name.dropLast(4)) : name
        if base == ownerFile || base == erasuresFile { return true }
        return base.hasPrefix("keys-") && base.count == 7 && base.dropFirst(5).allSatisfy(\.isHexDigit)
    }

    /// Whether `dir` holds a key store: its owner file or a key file.
    public static func holdsKeyStore(_ dir: String) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return false }
        return entries.contains(where: isKeyStoreFile)
    }

    /// Whether any event of the log stores sealed personal data. Scans up
    /// to the first one (a shop's first customer comes early), so the whole
    /// log only when it holds none. A log that cannot be scanned to the end
    /// counts as holding some.
    public static func holdsSealedPersonalData(_ log: EventLog) -> Bool {
        struct Found: Error {}
        do {
            try log.scan { if CommerceEvent.hasSealedPII($0.data) { throw Found() } }
        } catch is Found {
            return true
        } catch {
            // Damage (or a failed read) before any sealed data: not a
            // reason to ask for a key store. The caller's own read meets
            // the same error and names it (stop 40: `export` of a log with
            // a batch that does not decode said "no key store … sealed
            // personal data" of a log that held none).
            return false
        }
        return false
    }

    /// Whether the events of `stream` store sealed personal data.
    public static func streamHoldsSealedPersonalData(_ log: EventLog, stream: String) throws -> Bool {
        let cursor = log.read(stream: stream)
        while let e = try cursor.next() {
            if e.data.withUnsafeBytes({ CommerceEvent.hasSealedPII($0) }) { return true }
        }
        return false
    }
}

/// What `LogKeyStore.reconcile` found in a key store beside its log, and
/// what it did.
public struct KeyStoreReconciliation: Sendable, Equatable, Encodable {
    /// Customers the log says are forgotten whose key was still in the
    /// store (a key store restored from a backup taken before their
    /// erasure): destroyed now.
    public var keysDestroyedNow: [String] = []
    /// Customers whose key the store destroyed though no
    /// `CustomerForgotten` in the log names them (a key store newer than
    /// the log): their data reads as erased, and an export would not import.
    public var erasedWithoutEvent: [String] = []
    /// Customers whose sealed personal data is in the log but whose key is
    /// not in the store and was never destroyed (a key store older than the
    /// log, a key file lost): their data reads as erased. Checked for at
    /// most `LogKeyStore.missingKeyChecks` customers.
    public var missingKeys: [String] = []
    /// Anonymous sessions named by forgotten customers' orders whose keys
    /// were still in the store (an erasure by a release before stop 36,
    /// which destroyed only the customer's key): destroyed now.
    public var sessionKeysDestroyedNow: [String] = []

    public init() {}

    /// One warning per finding, for an operator.
    public var warnings: [String] {
        func named(_ ids: [String]) -> String {
            ids.prefix(5).joined(separator: ", ") + (ids.count > 5 ? " and \(ids.count - 5) more" : "")
        }
        func customers(_ n: Int) -> String { "\(n) customer\(n == 1 ? "" : "s")" }
        var w: [String] = []
        if !keysDestroyedNow.isEmpty {
            w.append("the key store still held the keys of \(customers(keysDestroyedNow.count)) the log says are forgotten "
                     + "(\(named(keysDestroyedNow))): a key store restored from a backup older than their erasure? "
                     + "Destroyed them now, as `chronik forget --reapply` does")
        }
        if !sessionKeysDestroyedNow.isEmpty {
            w.append("the key store still held the keys of \(sessionKeysDestroyedNow.count) anonymous session\(sessionKeysDestroyedNow.count == 1 ? "" : "s") "
                     + "that forgotten customers' orders name (\(named(sessionKeysDestroyedNow))): erasures made by a release before stop 36, "
                     + "which left them? Destroyed them now, as `chronik forget --reapply` does")
        }
        if !erasedWithoutEvent.isEmpty {
            w.append("the key store has destroyed the keys of \(customers(erasedWithoutEvent.count)) whose CustomerForgotten is not in the log "
                     + "(\(named(erasedWithoutEvent))): a key store newer than the log? Their data reads as erased; "
                     + "`chronik forget customer ID` for each writes the event, or use the key store that goes with this log")
        }
        if !missingKeys.isEmpty {
            w.append("the key store holds no key for \(customers(missingKeys.count)) whose personal data is sealed in the log "
                     + "(\(named(missingKeys))): a key store older than the log, or a key file lost? Their data reads as erased "
                     + "and their events are refused; restore the key store from a backup taken after the log's newest customer")
        }
        return w
    }
}

extension LogKeyStore {
    /// Destroys the keys still in the store of the anonymous sessions that
    /// the orders of `customers` (forgotten) name, and returns those
    /// sessions. A release before stop 36 destroyed only the customer's
    /// key, and its erasures kept those sessions' IPs readable (stop 38,
    /// an upgrade: `forget --reapply` fixed them and said "0 keys").
    /// The links are the vault's own (`SubjectKeyVault.forLog`): the log's
    /// OrderPlaced are read once, for these and for the vault's later
    /// erasures; a vault without them knows no link.
    public static func destroyLinkedSessionKeys(of customers: [String], vault: SubjectKeyVault) throws -> [String] {
        guard !customers.isEmpty, let bound = vault.store as? LogBoundKeyStore else { return [] }
        var destroyed: [String] = []
        for c in customers {
            for subject in try bound.linked(PIISubject.customer(c)) where try vault.store.key(for: subject, create: false) != nil {
                try vault.destroyKey(subject: subject)
                destroyed.append(String(subject.dropFirst(PIISubject.session("").count)))
            }
        }
        if !destroyed.isEmpty { try vault.store.sync() }
        return destroyed
    }

    /// Customers without a key whose streams `reconcile` reads for sealed
    /// data: a key store far older than the log is reported from these.
    public static let missingKeyChecks = 1_000

    /// Checks `vault`'s key store against what `log` says about its
    /// customers (`forgotten` and `notForgotten`: the CRM model's
    /// `customerIds()`), as a writer does when it starts (`chronik serve`):
    /// destroys the keys of forgotten customers still in the store (with
    /// their linked sessions'), and reports erasures the log does not
    /// record and keys missing for sealed data. A healthy store costs one
    /// in-memory look-up per customer.
    ///
    /// With `reflecting` (the position before which the CRM model saw
    /// every event), the key store's `erasures` record moves there once
    /// the keys are destroyed, and a writer's vault may move it on at
    /// close (`recordErasuresAtClose`): readers then read no more of the
    /// log for erasures (docs/GDPR.md).
    ///
    /// - Throws: `KeyStoreError` when a key cannot be destroyed.
    public static func reconcile(_ vault: SubjectKeyVault, log: EventLog,
                                 forgotten: [String], notForgotten: [String],
                                 reflecting position: Position? = nil) throws -> KeyStoreReconciliation {
        var r = KeyStoreReconciliation()
        for c in forgotten where try vault.store.key(for: PIISubject.customer(c), create: false) != nil {
            try vault.destroyKey(subject: PIISubject.customer(c))
            r.keysDestroyedNow.append(c)
        }
        if !r.keysDestroyedNow.isEmpty { try vault.store.sync() }
        r.sessionKeysDestroyedNow = try destroyLinkedSessionKeys(of: forgotten, vault: vault)
        if let position, let bound = vault.store as? LogBoundKeyStore, let mark = bound.writerMark {
            try vault.store.sync()
            try recordErasuresReflected(keyDirectory: mark.keyDirectory, before: position, log: log)
            mark.set(true)
        }
        var checked = 0
        for c in notForgotten {
            let subject = PIISubject.customer(c)
            if vault.store.isDestroyed(subject: subject) {
                r.erasedWithoutEvent.append(c)
            } else if checked < missingKeyChecks, try vault.store.key(for: subject, create: false) == nil {
                checked += 1
                if try streamHoldsSealedPersonalData(log, stream: "customer-" + c) { r.missingKeys.append(c) }
            }
        }
        return r
    }
}
