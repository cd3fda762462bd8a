// How far a key store is known to reflect its log's erasures, so that a
// reader beside a key store restored alone from an older backup does not
// open the personal data of customers the log says are forgotten
// (docs/GDPR.md, "A key store restored alone").
//
// The key store's file `erasures` says "every CustomerForgotten of the log
// before position P has its key (and the keys of the sessions the
// customer's orders name) destroyed in this store", with the log's chain
// hash at P, so that a record of another history (a log restored alone, or
// cut back) is not taken for this one's. A writer moves P to
// the head when it closes, if P was at the head when it opened and every
// key it had to destroy was destroyed; `LogKeyStore.reconcile` (serve's
// start and stop) and `forget --reapply` move it after destroying what the
// log says. A reader reads the log from P for CustomerForgotten events:
// nothing when P is at the head; the events since P otherwise. A key store
// restored from a backup brings its own, older P back, so the erasures
// since the backup are found. The file is only ever an optimisation of
// that read: a missing or unreadable one means P = 0, the whole log.

import ChronikCommerce
import ChronikLog
import Foundation
import Synchronization

extension LogKeyStore {
    /// The key store's file that records how far it reflects the log's
    /// erasures. Sorted before the key files, so that a copy of the store
    /// (`KeyStoreCopy`, which copies in name order) reads it before them:
    /// the keys it copies are never older than the position it copied.
    public static let erasuresFile = "erasures"

    static let erasuresPrefix = "every CustomerForgotten before position "
    static let erasuresHashLabel = ", chain hash "

    /// The record as written: a position and the log's chain hash there.
    struct ErasuresRecord: Equatable {
        var position: Position
        var hash: ChainHash
    }

    /// The record in `dir`, nil when there is none or it does not parse.
    static func erasuresRecord(keyDirectory dir: String) -> ErasuresRecord? {
        guard let data = FileManager.default.contents(atPath: dir + "/" + erasuresFile),
              let text = String(data: data, encoding: .utf8),
              text.hasPrefix(erasuresPrefix), text.hasSuffix("\n") else { return nil }
        let parts = text.dropFirst(erasuresPrefix.count).dropLast().components(separatedBy: erasuresHashLabel)
        guard parts.count == 2, let value = UInt64(parts[0]), let hash = ChainHash(hex: parts[1]) else { return nil }
        return ErasuresRecord(position: Position(value), hash: hash)
    }

    /// The log's chain hash before `position` (a batch boundary): the hash
    /// of the batch that holds the event before it; genesis at 0.
    static func chainHash(of log: EventLog, before position: Position) throws -> ChainHash {
        guard position.value > 0 else { return .genesis }
        if position == log.head { return log.headHash }
        struct Found: Error { let hash: ChainHash }
        do {
            try log.scanWithChainHashes(from: Position(position.value - 1)) { _, hash in throw Found(hash: hash) }
        } catch let found as Found {
            return found.hash
        }
        throw KeyStoreError("no event before position \(position.value) in \(log.directory)")
    }

    /// The position before which every `CustomerForgotten` of `log` has
    /// its keys destroyed in the key store in `keyDirectory`: the record's,
    /// when it names a point of this log's history — its position at or
    /// before the head, and the log's chain hash there the one recorded.
    /// Otherwise 0, the whole log: no record (a store of an older release),
    /// one that does not parse, or one of another history — a log restored
    /// alone from an older backup, or cut back, after which the same
    /// position holds other events (stop 39, a restore: a record past the
    /// head was trusted, and a key store restored next opened a customer
    /// forgotten since).
    public static func erasuresReflected(keyDirectory dir: String, log: EventLog) -> Position {
        validErasuresRecord(keyDirectory: dir, log: log)?.position ?? .start
    }

    static func validErasuresRecord(keyDirectory dir: String, log: EventLog) -> ErasuresRecord? {
        guard let r = erasuresRecord(keyDirectory: dir), r.position <= log.head,
              (try? chainHash(of: log, before: r.position)) == r.hash else { return nil }
        return r
    }

    /// Records that the store reflects every erasure of `log` before
    /// `position` (durably: written after the key store's own sync by the
    /// callers). Never moves a record of this history back; one of another
    /// history is replaced.
    public static func recordErasuresReflected(keyDirectory dir: String, before position: Position, log: EventLog) throws {
        if let current = validErasuresRecord(keyDirectory: dir, log: log), current.position >= position { return }
        let hash = try chainHash(of: log, before: position)
        do {
            try PosixStorage().writeFileDurably(dir + "/" + erasuresFile,
                                                bytes: Array((erasuresPrefix + "\(position.value)\(erasuresHashLabel)\(hash)\n").utf8))
        } catch {
            throw KeyStoreError("cannot write \(dir)/\(erasuresFile): \(ChronikLogError.message(of: error))")
        }
    }

    /// For a writer's vault (`SubjectKeyVault.forLog`): records, when the
    /// writer closes, that the store reflects every erasure before the
    /// log's head, if it did when the vault was made and no key failed to
    /// be destroyed since. Syncs the key store first. A no-op for other
    /// vaults (readers', or one not made by `forLog`).
    public static func recordErasuresAtClose(_ vault: SubjectKeyVault, log: EventLog) throws {
        guard let bound = vault.store as? LogBoundKeyStore, let mark = bound.writerMark, mark.stillReflected else { return }
        try vault.store.sync()
        try recordErasuresReflected(keyDirectory: mark.keyDirectory, before: log.head, log: log)
    }
}

/// A writer's view of the key store's `erasures` record: whether it was at
/// the log's head when the writer opened (so every erasure before it is
/// reflected) and stays true while every key the writer destroys is
/// destroyed.
final class WriterErasureMark: Sendable {
    let keyDirectory: String
    private let reflected: Mutex<Bool>

    init(keyDirectory: String, log: EventLog) {
        self.keyDirectory = keyDirectory
        // An empty log has no erasure to reflect, record or not.
        reflected = Mutex(log.head == .start || LogKeyStore.validErasuresRecord(keyDirectory: keyDirectory, log: log)?.position == log.head)
    }

    var stillReflected: Bool { reflected.withLock { $0 } }
    func set(_ value: Bool) { reflected.withLock { $0 = value } }
}

/// A reader's list of the subjects whose keys the log says are destroyed
/// but the key store still holds: the customers of the `CustomerForgotten`
/// events since the store's `erasures` record, and the anonymous sessions
/// their orders name. Read from the log the first time a key is looked up
/// (a reader that opens no personal data reads nothing).
final class ErasedByLog: Sendable {
    private let log: EventLog
    private let from: Position
    private let links: SessionLinks
    private let state = Mutex<(subjects: Set<String>, customers: [String])?>(nil)
    private let onFound: (@Sendable ([String]) -> Void)?

    init(log: EventLog, from: Position, links: SessionLinks, onFound: (@Sendable ([String]) -> Void)?) {
        self.log = log
        self.from = from
        self.links = links
        self.onFound = onFound
    }

    /// Whether `subject`'s key is one the log says is destroyed, though the
    /// key store (`base`) still holds it.
    func contains(_ subject: String, base: any SubjectKeyStore) throws -> Bool {
        try found(base: base).subjects.contains(subject)
    }

    /// The customers whose keys the store still held although the log says
    /// they are forgotten, sorted; read from the log on the first call.
    func customers(base: any SubjectKeyStore) throws -> [String] {
        try found(base: base).customers
    }

    private func found(base: any SubjectKeyStore) throws -> (subjects: Set<String>, customers: [String]) {
        var first = false
        let result = try state.withLock { s -> (subjects: Set<String>, customers: [String]) in
            if let s { return s }
            let forgotten = try LogKeyStore.forgottenCustomers(in: log, from: from)
            var subjects = Set<String>()
            var customers = Set<String>()
            for c in forgotten {
                let subject = PIISubject.customer(c)
                if try base.key(for: subject, create: false) != nil {
                    subjects.insert(subject)
                    customers.insert(c)
                }
                // The sessions their orders name, also when the customer's
                // own key is gone (an erasure of a release before stop 36).
                for session in try links.sessions(of: c, in: log) {
                    let s = PIISubject.session(session)
                    if try base.key(for: s, create: false) != nil { subjects.insert(s) }
                }
            }
            let r = (subjects: subjects, customers: customers.sorted())
            s = r
            first = true
            return r
        }
        if first, !result.customers.isEmpty || !result.subjects.isEmpty { onFound?(result.customers) }
        return result
    }
}

extension LogKeyStore {
    /// The customers of the log's `CustomerForgotten` events from `position`
    /// on, each once, in log order (one read of the log from there).
    public static func forgottenCustomers(in log: EventLog, from position: Position = .start) throws -> [String] {
        var customers: [String] = []
        var seen = Set<String>()
        guard position < log.head else { return [] }
        let typeName = CustomerForgotten.typeName
        try log.scan(from: position) { view in
            guard view.type == typeName,
                  case .customerForgotten(let f) = try CommerceEvent.decode(type: view.type, bytes: view.data),
                  seen.insert(f.customerId).inserted else { return }
            customers.append(f.customerId)
        }
        return customers
    }

    /// What a reader says when its key store still holds keys the log says
    /// are destroyed (`SubjectKeyVault.forLog(readOnly: true, onErasedKeysFound:)`).
    public static func erasedKeysWarning(customers: [String]) -> String {
        let named = customers.prefix(5).joined(separator: ", ") + (customers.count > 5 ? " and \(customers.count - 5) more" : "")
        let who = customers.isEmpty
            ? "the anonymous sessions that forgotten customers' orders name"
            : "\(customers.count) customer\(customers.count == 1 ? "" : "s") the log says are forgotten (\(named))"
        return "the key store still holds the keys of \(who): a key store restored from a backup taken before the erasure? "
            + "Their personal data reads as erased here; `chronik forget --reapply` (or starting `chronik serve`) destroys the keys again"
    }
}
