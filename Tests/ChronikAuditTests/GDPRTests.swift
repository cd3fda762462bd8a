import Foundation
import Testing
import Synchronization
import ChronikLog
import ChronikCommerce
@testable import ChronikAudit

/// A fresh temp directory holding a log (`log/`) and its key store
/// (`keys/`, outside the log directory as docs/GDPR.md asks).
final class GDPRFixture {
    let root: String
    var logPath: String { root + "/log" }
    var keysPath: String { root + "/keys" }

    init() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("chronik-gdpr-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    func open(compression: Compression = .none) throws -> (EventLog, CommerceStore, FileKeyStore) {
        var options = LogOptions()
        options.compression = compression
        let log = try EventLog.open(at: logPath, options: options)
        let keys = try FileKeyStore(directory: keysPath)
        return (log, CommerceStore(log: log, protector: SubjectKeyVault(store: keys)), keys)
    }

    /// Every byte of every file under `dir`.
    static func allBytes(under dir: String) -> [(String, Data)] {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: dir) else { return [] }
        var out: [(String, Data)] = []
        while let rel = e.nextObject() as? String {
            let p = dir + "/" + rel
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue, let d = fm.contents(atPath: p) {
                out.append((rel, d))
            }
        }
        return out
    }
}

struct Person {
    let id: String, email: String, name: String, phone: String, street: String, city: String
    static func make(_ n: Int) -> Person {
        Person(id: "c-\(n)", email: "person\(n)@example.org", name: "Person Nummer\(n) Zweitname",
               phone: "+49301234\(n)00", street: "Kastanienallee \(n)7", city: "Berlin\(n)stadt")
    }
    var address: Address { Address(line1: street, city: city, postalCode: "1043\(id.count)", country: "DE") }
    var piiValues: [String] { [email, name, phone, street] }
}

func contains(_ haystack: Data, _ needle: String) -> Bool {
    haystack.range(of: Data(needle.utf8)) != nil
}

@Suite struct GDPRTests {
    let t0 = Timestamp(microseconds: 1_767_225_600_000_000)

    func registerAndOrder(_ store: CommerceStore, _ p: Person, order: String) async throws {
        try await store.append(.customerRegistered(CustomerRegistered(
            customerId: p.id, email: p.email, name: p.name, phone: p.phone, address: p.address, marketingConsent: true)), time: t0)
        try await store.append(.orderPlaced(OrderPlaced(
            orderId: order, customerId: p.id, lines: [OrderLine(sku: "sku-1", qty: 2, unitPrice: 1999)], currency: "EUR",
            shippingAddress: p.address, ip: "203.0.113.\(p.id.count)")), time: t0)
    }

    @Test func personalDataIsNeverStoredInPlaintext() async throws {
        // Proves: with compression off (so a byte search means something), no PII value of any customer appears in
        // any file of the log directory, while the events decode with the key and their non-PII fields without it.
        let f = GDPRFixture()
        let (log, store, _) = try f.open()
        let people = (1...5).map(Person.make)
        for (i, p) in people.enumerated() { try await registerAndOrder(store, p, order: "o-\(i)") }
        for (file, bytes) in GDPRFixture.allBytes(under: f.logPath) {
            for p in people {
                for v in p.piiValues { #expect(!contains(bytes, v), "\(v) in plaintext in \(file)") }
                #expect(contains(bytes, "sku-1") || !file.hasSuffix(".log") || bytes.count < 200, "non-PII data readable in \(file)")
            }
        }
        let events = try log.readAll().collect()
        #expect(events.count == 10)
        for e in events {
            let (typed, pii) = try CommerceEvent.decode(type: e.type, data: e.data, protector: store.protector)
            #expect(pii == .revealed, "\(e.type) at \(e.position)")
            if case .customerRegistered(let c) = typed {
                #expect(people.contains { $0.email == c.email && $0.street == c.address.line1 })
            }
            // Without the key: ids, lines and amounts are there, personal data blank.
            if case .orderPlaced(let o) = try CommerceEvent.decode(type: e.type, data: e.data) {
                #expect(o.lines == [OrderLine(sku: "sku-1", qty: 2, unitPrice: 1999)])
                #expect(o.shippingAddress == Address() && o.ip == nil)
            }
        }
        try log.close()
    }

    @Test func forgetErasesOneCustomerEverywhereAndKeepsTheRest() async throws {
        // Proves: after CustomerForgotten the forgotten customer's PII is null in exports and absent from every file
        // of the log and key directories; the order and its amounts stay; another customer still reads fully.
        let f = GDPRFixture()
        let (log, store, keys) = try f.open()
        let gone = Person.make(1), kept = Person.make(2)
        try await registerAndOrder(store, gone, order: "o-1")
        try await registerAndOrder(store, kept, order: "o-2")
        try await store.append(.customerForgotten(CustomerForgotten(customerId: gone.id)), time: t0)
        #expect(keys.isDestroyed(subject: PIISubject.customer(gone.id)))
        #expect(!keys.isDestroyed(subject: PIISubject.customer(kept.id)))

        var exported = ""
        for e in try log.readAll().collect() {
            exported += try CommerceExport.line(for: e, protector: store.protector) + "\n"
        }
        for v in gone.piiValues { #expect(!exported.contains(v), "\(v) exported after forget") }
        for v in kept.piiValues { #expect(exported.contains(v), "\(v) of another customer lost") }
        #expect(exported.contains(#""email":null"#))
        #expect(exported.contains(#""shippingAddress":null"#))
        #expect(exported.contains(#""orderId":"o-1""#) && exported.contains(#""unitPrice":1999"#))
        try log.close()

        // Reopened (as after a restart, or a full replay): still erased; the key file holds no key for it.
        let (log2, store2, _) = try f.open()
        let first = try #require(try log2.read(stream: "customer-" + gone.id).next())
        let (_, pii) = try CommerceEvent.decode(type: first.type, data: first.data, protector: store2.protector)
        #expect(pii == .erased)
        for dir in [f.logPath, f.keysPath] {
            for (file, bytes) in GDPRFixture.allBytes(under: dir) {
                for v in gone.piiValues + kept.piiValues { #expect(!contains(bytes, v), "\(v) in \(file)") }
            }
        }
        // An erased customer takes no further events, personal or not.
        await #expect(throws: (any Error).self) {
            try await store2.append(.customerUpdated(CustomerUpdated(customerId: gone.id, email: "new@example.org")), time: self.t0)
        }
        for (file, bytes) in GDPRFixture.allBytes(under: f.keysPath) { #expect(!contains(bytes, "new@example.org"), "in \(file)") }
        try log2.close()
    }

    @Test func sealingIsDeterministicSoRetriesAreIdempotent() async throws {
        // Proves: re-sending the same event id with the same content after a "lost acknowledgement" is a no-op that
        // returns the original position, although the PII is encrypted.
        let f = GDPRFixture()
        let (log, store, _) = try f.open()
        let p = Person.make(3)
        let event = CommerceEvent.customerRegistered(CustomerRegistered(
            customerId: p.id, email: p.email, name: p.name, address: p.address, marketingConsent: false))
        let id = EventID.random()
        let first = try await store.append(event, id: id, time: t0)
        let retry = try await store.append(event, id: id, time: t0)
        #expect(retry.wasDuplicate && retry.positions == first.positions)
        #expect(try log.readAll().collect().count == 1)
        try log.close()
    }

    @Test func alteredCiphertextIsAnErrorNotAnErasure() async throws {
        // Proves: a flipped bit in sealed personal data fails authentication loudly instead of reading as erased.
        let f = GDPRFixture()
        let (log, store, _) = try f.open()
        let p = Person.make(4)
        try await registerAndOrder(store, p, order: "o-4")
        let e = try #require(try log.read(stream: "customer-" + p.id).next())
        var data = e.data
        data[data.count / 3] ^= 0x10
        #expect(throws: (any Error).self) {
            _ = try CommerceEvent.decode(type: e.type, data: data, protector: store.protector)
        }
        try log.close()
    }

    @Test func anonymousSessionsHaveTheirOwnKeyAndCustomerSessionsTheCustomers() async throws {
        // Proves EVENTS.md: SessionStarted.ip of a session with a customerId is under that customer's key, else the
        // session's; forgetting the customer erases the first and not the second.
        let f = GDPRFixture()
        let (log, store, keys) = try f.open()
        let p = Person.make(5)
        try await registerAndOrder(store, p, order: "o-5")
        try await store.append(.sessionStarted(SessionStarted(sessionId: "s-anon", channel: "web", ip: "198.51.100.7")), time: t0)
        try await store.append(.sessionStarted(SessionStarted(sessionId: "s-cust", customerId: p.id, channel: "web", ip: "198.51.100.8")), time: t0)
        #expect(try keys.key(for: PIISubject.session("s-anon"), create: false) != nil)
        #expect(try keys.key(for: PIISubject.session("s-cust"), create: false) == nil)
        try await store.append(.customerForgotten(CustomerForgotten(customerId: p.id)), time: t0)
        func ip(_ stream: String) throws -> (String?, PIIState) {
            let e = try #require(try log.read(stream: stream).next())
            let (typed, pii) = try CommerceEvent.decode(type: e.type, data: e.data, protector: store.protector)
            guard case .sessionStarted(let s) = typed else { return (nil, pii) }
            return (s.ip, pii)
        }
        #expect(try ip("session-s-anon") == ("198.51.100.7", .revealed))
        #expect(try ip("session-s-cust") == (nil, .erased))
        try log.close()
    }

    @Test func keysAreSpreadOverShardsAndBase64RoundTrips() throws {
        // Proves the shard choice is stable and spread (so an erasure rewrites ~1/256 of the store), and the
        // hand-written base64 decoder agrees with Foundation's encoder on every length and refuses bad input.
        var used = Set<Int>()
        for n in 0..<2000 { used.insert(FileKeyStore.shardIndex("session:s-\(n)")) }
        #expect(used.count > 200)
        #expect(FileKeyStore.shardIndex("customer:c-1") == FileKeyStore.shardIndex("customer:c-1"))
        var rng = SystemRandomNumberGenerator()
        for len in 0..<70 {
            let bytes = (0..<len).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Base64.decode(ArraySlice(Data(bytes).base64EncodedString().utf8)) == bytes, "length \(len)")
        }
        for bad in ["abc", "ab=c", "a===", "ab!d", "ab==cd=="] {
            #expect(Base64.decode(ArraySlice(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func newKeysAreSixtyFourRandomBytesEach() throws {
        // Proves every new subject's key is its own 64 bytes from the kernel (one getrandom call each): no two
        // alike, no key with a zero half, and each half looks random (about half of its 256 bits set).
        let f = GDPRFixture()
        let store = try FileKeyStore(directory: f.keysPath, syncEachKey: false)
        var seen = Set<[UInt8]>()
        for n in 0..<2000 {
            let key = try #require(try store.key(for: "customer:c-\(n)", create: true))
            #expect(key.count == 64)
            #expect(seen.insert(key).inserted, "key \(n) repeats an earlier one")
            for half in [key[0..<32], key[32..<64]] {
                let bits = half.reduce(0) { $0 + $1.nonzeroBitCount }
                #expect((80...176).contains(bits), "key \(n): \(bits) of 256 bits set")
            }
        }
        #expect(try store.key(for: "customer:c-7", create: true) == store.key(for: "customer:c-7", create: false))
    }

    @Test func heldKeysReachTheFilesInOneGoAndNeverAfterTheirShardIsRewritten() throws {
        // Proves: keys created while holding are handed out (and found again) but not in the files until
        // writeHeldKeys; an erasure in their shard meanwhile rewrites it with them, and they are not written a
        // second time after the erasure's line (which would make the shard unreadable); sync and the store's end
        // write held keys too; a store that syncs each key never holds.
        let f = GDPRFixture()
        let store = try FileKeyStore(directory: f.keysPath, syncEachKey: false)
        func sameShard(as subject: String, after: Int) -> String {
            (after...1_000_000).lazy.map { "customer:c-\($0)" }.first { FileKeyStore.shardIndex($0) == FileKeyStore.shardIndex(subject) }!
        }
        let a = "customer:c-1", b = sameShard(as: a, after: 2), c = "customer:c-2"
        #expect(FileKeyStore.shardIndex(c) != FileKeyStore.shardIndex(a))
        store.holdNewKeys()
        let ka = try #require(try store.key(for: a, create: true))
        let kb = try #require(try store.key(for: b, create: true))
        let kc = try #require(try store.key(for: c, create: true))
        #expect(try store.key(for: a, create: false) == ka && store.key(for: b, create: true) == kb)
        func reread() throws -> FileKeyStore { try FileKeyStore(directory: f.keysPath, readOnly: true) }
        #expect(try reread().key(for: a, create: false) == nil && reread().key(for: c, create: false) == nil, "held: not in the files")

        try store.destroy(subject: b)
        #expect(try reread().key(for: a, create: false) == ka, "the erasure's rewrite holds the shard's held key")
        #expect(try reread().key(for: c, create: false) == nil, "another shard's held key is still held")
        try store.writeHeldKeys()
        let after = try reread()
        #expect(try after.key(for: a, create: false) == ka && after.key(for: c, create: false) == kc)
        #expect(after.isDestroyed(subject: b))
        let shard = try String(contentsOfFile: store.shardPath(for: a), encoding: .utf8)
        #expect(shard.components(separatedBy: "\n").filter { $0.hasPrefix(a + " ") }.count == 1, "\(shard)")

        // No longer holding: a new key is in the files at once.
        let d = "customer:c-3"
        let kd = try #require(try store.key(for: d, create: true))
        #expect(try reread().key(for: d, create: false) == kd)

        // sync writes held keys, and so does the store's end.
        store.holdNewKeys()
        let ke = try #require(try store.key(for: "customer:c-4", create: true))
        try store.sync()
        #expect(try reread().key(for: "customer:c-4", create: false) == ke)
        var last: FileKeyStore? = try FileKeyStore(directory: f.keysPath, syncEachKey: false)
        last!.holdNewKeys()
        let kf = try #require(try last!.key(for: "customer:c-5", create: true))
        last = nil
        #expect(try reread().key(for: "customer:c-5", create: false) == kf)

        // A store that syncs each key writes each at once, holding or not.
        let eager = try FileKeyStore(directory: f.root + "/eager")
        eager.holdNewKeys()
        let kg = try #require(try eager.key(for: a, create: true))
        #expect(try FileKeyStore(directory: f.root + "/eager", readOnly: true).key(for: a, create: false) == kg)
    }

    @Test func keyStoreSurvivesReopenAndNeverRecreatesADestroyedKey() throws {
        // Proves: keys persist across opens; a destroyed key stays destroyed and cannot be created again; modes are
        // 0700 (directory) and 0600 (file); a malformed key file is refused, not guessed around.
        let f = GDPRFixture()
        let a = try FileKeyStore(directory: f.keysPath)
        let k1 = try #require(try a.key(for: "customer:c-1", create: true))
        _ = try a.key(for: "customer:c-2", create: true)
        try a.destroy(subject: "customer:c-2")
        let b = try FileKeyStore(directory: f.keysPath)
        #expect(try b.key(for: "customer:c-1", create: false) == k1)
        #expect(try b.key(for: "customer:c-2", create: true) == nil)
        #expect(b.isDestroyed(subject: "customer:c-2"))
        #expect(throws: KeyStoreError.self) { _ = try b.key(for: "customer:has space", create: true) }
        let dirMode = try FileManager.default.attributesOfItem(atPath: f.keysPath)[.posixPermissions] as? Int
        let shard = b.shardPath(for: "customer:c-1")
        let fileMode = try FileManager.default.attributesOfItem(atPath: shard)[.posixPermissions] as? Int
        #expect(dirMode == 0o700 && fileMode == 0o600)
        // One erasure rewrites one shard: the others are not touched.
        #expect(a.shardPath(for: "customer:c-2") != shard || FileKeyStore.shardCount == 1)
        let bad = b.shardPath(for: "customer:c-9")
        try "customer:c-9 notbase64!\n".write(toFile: bad, atomically: false, encoding: .utf8)
        let c = try FileKeyStore(directory: f.keysPath)
        #expect(throws: KeyStoreError.self) { _ = try c.key(for: "customer:c-9", create: true) }
    }
}

extension EventCursor {
    func collect() throws -> [RecordedEvent] {
        var out: [RecordedEvent] = []
        while let e = try next() { out.append(e) }
        return out
    }
}

/// The POSIX storage that refuses, as EACCES, every open for writing and
/// every new directory: a key store whose files are read-only to the
/// reader (an auditor's copy, a backup).
final class ReadOnlyFilesStorage: Storage, @unchecked Sendable {
    let inner = PosixStorage()
    func refused(_ path: String) -> ChronikLogError { ChronikLogError(.io, "cannot open: Permission denied", path: path, errno: EACCES) }
    func createDirectory(_ path: String) throws { throw refused(path) }
    func listDirectory(_ path: String) throws -> [String] { try inner.listDirectory(path) }
    func exists(_ path: String) -> Bool { inner.exists(path) }
    func isDirectory(_ path: String) -> Bool { inner.isDirectory(path) }
    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        guard readOnly, !create else { throw refused(path) }
        return try inner.openFile(path, create: false, readOnly: true)
    }
    func remove(_ path: String) throws { throw refused(path) }
    func rename(_ from: String, to: String) throws { throw refused(to) }
    func syncDirectory(_ path: String) throws { try inner.syncDirectory(path) }
    func lockExclusive(_ path: String) throws -> (any StorageLock)? { throw refused(path) }
    func isWriterActive(_ path: String) -> Bool { inner.isWriterActive(path) }
    func setMode(_ path: String, _ mode: UInt16) throws { throw refused(path) }
}

@Suite("a key store opened for reading")
struct ReadOnlyKeyStoreTests {
    @Test func readersOpenKeysWithoutWritingAndCannotCreateOrDestroy() throws {
        // Proves stop 33's fix: readers opened every key file for writing (and created missing ones), so replay and
        // query failed on a read-only key store ("event does not decode: … Permission denied") and read printed raw
        // bytes. A store opened read-only reads the keys there are, creates no file, and refuses to create or destroy.
        let f = GDPRFixture()
        let writer = try FileKeyStore(directory: f.keysPath)
        let kept = try #require(try writer.key(for: "customer:c1", create: true))
        _ = try writer.key(for: "customer:c2", create: true)
        try writer.destroy(subject: "customer:c2")
        let before = try FileManager.default.contentsOfDirectory(atPath: f.keysPath).sorted()

        let reader = try FileKeyStore(directory: f.keysPath, readOnly: true, storage: ReadOnlyFilesStorage())
        #expect(try reader.key(for: "customer:c1", create: false) == kept)
        #expect(try reader.key(for: "customer:c2", create: false) == nil)
        #expect(reader.isDestroyed(subject: "customer:c2"))
        for i in 0..<300 { #expect(try reader.key(for: "customer:none-\(i)", create: false) == nil) }
        #expect(throws: KeyStoreError.self) { try reader.key(for: "customer:c3", create: true) }
        #expect(throws: KeyStoreError.self) { try reader.destroy(subject: "customer:c1") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.keysPath).sorted() == before)
        #expect(try writer.key(for: "customer:c1", create: false) == kept)

        // A key store directory that does not exist is not created by a reader.
        let missing = f.root + "/no-keys"
        let empty = try FileKeyStore(directory: missing, readOnly: true, storage: ReadOnlyFilesStorage())
        #expect(try empty.key(for: "customer:c1", create: false) == nil)
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}

/// `SubjectKeyVault.forLog`: docs/GDPR.md's safeguards for library users
/// (stop 36: they lived in the CLI; a library user's vault accepted a key
/// store inside the log directory and made a second key for a customer
/// whose data was sealed under another store's).
@Suite struct LogKeyStoreTests {
    static let address = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")

    /// A log in `f` and a store sealing through the log's vault (`forLog`).
    func shop(_ f: GDPRFixture) throws -> (EventLog, SubjectKeyVault, CommerceStore) {
        let log = try EventLog.open(at: f.logPath)
        let vault = try SubjectKeyVault.forLog(log, keyDirectory: f.keysPath)
        return (log, vault, CommerceStore(log: log, protector: vault))
    }

    /// Order o-1 of c-1, placed from the anonymous session s-anon.
    func placeOrderFromSession(_ shop: CommerceStore, ip: String? = nil) async throws {
        try await shop.append(.orderPlaced(OrderPlaced(orderId: "o-1", customerId: "c-1", sessionId: "s-anon",
                                                       lines: [OrderLine(sku: "A", qty: 1, unitPrice: 100)], currency: "EUR",
                                                       shippingAddress: Self.address, ip: ip)))
    }

    @Test func theSafeguardsHoldForALibraryUser() async throws {
        let f = GDPRFixture()
        let log = try EventLog.open(at: f.logPath)
        #expect(throws: KeyStoreError.self) { _ = try SubjectKeyVault.forLog(log, keyDirectory: f.logPath + "/keys") }
        #expect(!FileManager.default.fileExists(atPath: f.logPath + "/keys"), "nothing made inside the log directory")
        let shop = CommerceStore(log: log, protector: try SubjectKeyVault.forLog(log, keyDirectory: f.keysPath))
        // A second store bound to the same log while it held no personal data yet.
        let other = CommerceStore(log: log, protector: try SubjectKeyVault.forLog(log, keyDirectory: f.root + "/other.keys"))
        let address = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")
        try await shop.append(.customerRegistered(CustomerRegistered(customerId: "c-1", email: "a@example.com", name: "Ada",
                                                                     address: address, marketingConsent: false)))
        // A new key store for a log that holds sealed data is refused (stop 36: an operator's serve of a log copied
        // without its .keys started ready, every customer erased).
        #expect { _ = try SubjectKeyVault.forLog(log, keyDirectory: f.root + "/third.keys") } throws: { error in
            (error as? KeyStoreError)?.message.contains("this log holds sealed personal data") == true
        }
        #expect(!LogKeyStore.holdsKeyStore(f.root + "/third.keys"))
        // The other store: no second key for c-1, whose data is sealed under the first one's.
        await #expect(throws: (any Error).self) {
            try await other.append(.addressChanged(AddressChanged(customerId: "c-1", address: address)))
        }
        #expect(try FileKeyStore(directory: f.root + "/other.keys").key(for: "customer:c-1", create: false) == nil)
        // A store bound to another log is refused.
        let second = try EventLog.open(at: f.root + "/log2")
        #expect { _ = try SubjectKeyVault.forLog(second, keyDirectory: f.keysPath) } throws: { error in
            (error as? KeyStoreError)?.message.contains("belongs to another log") == true
        }
        try second.close()
        try log.close()
    }

    /// Stop 36 (a library user): a forget whose key destruction failed threw
    /// `appendFailed` though the event was written, and the natural retry (a
    /// new id) was refused as "customer forgotten" with the key alive.
    @Test func aForgetWhoseKeyWasNotDestroyedSaysSoAndAnyRetryCompletesIt() async throws {
        let f = GDPRFixture()
        let (log, shop, keys) = try f.open()
        let address = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")
        try await shop.append(.customerRegistered(CustomerRegistered(customerId: "c-9", email: "n@example.com", name: "N",
                                                                     address: address, marketingConsent: false)))
        let readOnly = CommerceStore(log: log, protector: SubjectKeyVault(store: try FileKeyStore(directory: f.keysPath, readOnly: true)))
        await #expect { try await readOnly.append(.customerForgotten(CustomerForgotten(customerId: "c-9"))) } throws: { error in
            (error as? CommerceError)?.code == .erasureIncomplete
        }
        #expect(log.lastVersion(of: "customer-c-9")?.value == 1, "the CustomerForgotten is in the log")
        #expect(try keys.key(for: "customer:c-9", create: false) != nil, "the key is not destroyed yet")
        await #expect { try await shop.append(.customerForgotten(CustomerForgotten(customerId: "c-9"))) } throws: { error in
            (error as? CommerceError)?.code == .customerForgotten
        }
        #expect(try FileKeyStore(directory: f.keysPath).key(for: "customer:c-9", create: false) == nil, "the retry destroyed the key")
        try log.close()
    }

    /// Stop 36 (a library user): `CommerceStore(log:)` without a protector
    /// took a CustomerForgotten, and the plaintext email stayed readable.
    @Test func aStoreWithoutProtectorRefusesAnErasure() async throws {
        let f = GDPRFixture()
        let log = try EventLog.open(at: f.logPath)
        let plain = CommerceStore(log: log)
        await #expect { try await plain.append(.customerForgotten(CustomerForgotten(customerId: "c-1"))) } throws: { error in
            (error as? CommerceError)?.code == .noProtector
        }
        #expect(log.head.value == 0)
        try await CommerceStore(log: log, forgetsInPlaintext: true).append(.customerForgotten(CustomerForgotten(customerId: "c-1")))
        #expect(log.head.value == 1)
        try log.close()
    }

    /// Stop 36 (a security review): after an erasure the order's `ip` read
    /// null, but its `sessionId`, in clear, led to the anonymous session it
    /// was placed from, whose IP still read in clear (sealed under the
    /// session's own key); and the subject export left that session out.
    @Test func anErasureReachesTheSessionsTheCustomersOrdersName() async throws {
        let f = GDPRFixture()
        let (log, vault, shop) = try shop(f)
        try await shop.append(.sessionStarted(SessionStarted(sessionId: "s-anon", channel: "web", ip: "193.56.29.102")))
        try await shop.append(.sessionStarted(SessionStarted(sessionId: "s-other", channel: "web", ip: "10.1.2.3")))
        try await placeOrderFromSession(shop, ip: "193.56.29.102")
        func sessionIP(_ id: String) throws -> (String?, PIIState) {
            let e = try #require(try log.read(stream: "session-" + id).collect().first)
            let (typed, pii) = try CommerceEvent.decode(type: e.type, data: e.data, protector: vault)
            guard case .sessionStarted(let s) = typed else { return (nil, pii) }
            return (s.ip, pii)
        }
        #expect(try sessionIP("s-anon").0 == "193.56.29.102")
        let before = try SubjectAccess.export(customerId: "c-1", from: log, protector: vault)
        guard case .object(let members) = before, case .array(let sessions)? = members.first(where: { $0.key == "sessions" })?.value else {
            Issue.record("no sessions in \(before)"); return
        }
        #expect(sessions == [.string("s-anon")], "the session the order was placed from is the customer's")
        try await shop.append(.customerForgotten(CustomerForgotten(customerId: "c-1")))
        let (ip, pii) = try sessionIP("s-anon")
        #expect(ip == nil && pii == .erased, "the session's IP is erased with the customer")
        #expect(try sessionIP("s-other").0 == "10.1.2.3", "another session is untouched")
        try log.close()
    }

    /// Stop 39 (left from stop 38): a key store restored alone from a
    /// backup taken before an erasure brought the forgotten customer's key
    /// back, and every reader (export, read, replay's fraud) opened their
    /// data until serve started or someone ran `forget --reapply`. A
    /// reader's vault now reads the log's erasures since the store's
    /// `erasures` record and treats those keys as destroyed.
    @Test func aReaderBesideAKeyStoreRestoredFromBeforeAnErasureReadsTheCustomerAsErased() async throws {
        let f = GDPRFixture()
        let (log, vault, shop) = try shop(f)
        let address = Self.address
        try await shop.append(.sessionStarted(SessionStarted(sessionId: "s-anon", channel: "web", ip: "193.56.29.102")))
        for c in ["c-1", "c-2"] {
            try await shop.append(.customerRegistered(CustomerRegistered(customerId: c, email: "\(c)@example.com", name: c,
                                                                         address: address, marketingConsent: false)))
        }
        try await placeOrderFromSession(shop)
        try LogKeyStore.recordErasuresAtClose(vault, log: log)
        #expect(LogKeyStore.erasuresReflected(keyDirectory: f.keysPath, log: log) == log.head, "a writer that found the record at the head moves it")
        let backup = f.root + "/keys.backup"
        try FileManager.default.copyItem(atPath: f.keysPath, toPath: backup)
        try await shop.append(.customerForgotten(CustomerForgotten(customerId: "c-1")))
        try LogKeyStore.recordErasuresAtClose(vault, log: log)
        #expect(LogKeyStore.erasuresReflected(keyDirectory: f.keysPath, log: log) == log.head)
        try log.close()

        // The key store restored alone: c-1's and the session's keys are back, the record at the backup's head.
        try FileManager.default.removeItem(atPath: f.keysPath)
        try FileManager.default.moveItem(atPath: backup, toPath: f.keysPath)
        #expect(try FileKeyStore(directory: f.keysPath, readOnly: true).key(for: "customer:c-1", create: false) != nil)
        var readerOptions = LogOptions()
        readerOptions.readOnly = true
        let reader = try EventLog.open(at: f.logPath, options: readerOptions)
        let found = Mutex<[[String]]>([])
        let readerVault = try SubjectKeyVault.forLog(reader, keyDirectory: f.keysPath, readOnly: true,
                                                     onErasedKeysFound: { c in found.withLock { $0.append(c) } })
        func email(_ customer: String) throws -> (String?, PIIState) {
            let e = try #require(try reader.read(stream: "customer-" + customer).collect().first)
            let (typed, pii) = try CommerceEvent.decode(type: e.type, data: e.data, protector: readerVault)
            guard case .customerRegistered(let r) = typed else { return (nil, pii) }
            return (r.email, pii)
        }
        let (c1, c1State) = try email("c-1")
        #expect(c1 != "c-1@example.com" && c1State == .erased, "the forgotten customer reads as erased with their key back")
        #expect(try email("c-2").0 == "c-2@example.com", "another customer still opens")
        let session = try #require(try reader.read(stream: "session-s-anon").collect().first)
        let (typed, sessionState) = try CommerceEvent.decode(type: session.type, data: session.data, protector: readerVault)
        if case .sessionStarted(let s) = typed { #expect(s.ip == nil && sessionState == .erased, "the session their order names too") }
        #expect(found.withLock { $0 } == [["c-1"]], "said once, naming the customer")
        #expect(try (readerVault.store as? LogBoundKeyStore)?.customersErasedByLog() == ["c-1"])
        #expect(try readerVault.store.knows(subject: "customer:c-1") && readerVault.store.isDestroyed(subject: "customer:c-1"))
        #expect(try FileKeyStore(directory: f.keysPath, readOnly: true).key(for: "customer:c-1", create: false) != nil,
                "a reader destroys nothing")
        try reader.close()

        // A writer that finds the record behind the head leaves it there: its readers still read the erasure.
        let writer = try EventLog.open(at: f.logPath)
        let writerVault = try SubjectKeyVault.forLog(writer, keyDirectory: f.keysPath)
        try await CommerceStore(log: writer, protector: writerVault)
            .append(.customerRegistered(CustomerRegistered(customerId: "c-3", email: "c-3@example.com", name: "c-3",
                                                           address: address, marketingConsent: false)))
        let backupHead = LogKeyStore.erasuresReflected(keyDirectory: f.keysPath, log: writer)
        try LogKeyStore.recordErasuresAtClose(writerVault, log: writer)
        #expect(LogKeyStore.erasuresReflected(keyDirectory: f.keysPath, log: writer) == backupHead && backupHead < writer.head)
        // reconcile (serve's start) destroys the keys and moves the record.
        let r = try LogKeyStore.reconcile(writerVault, log: writer, forgotten: ["c-1"], notForgotten: ["c-2", "c-3"],
                                          reflecting: writer.head)
        #expect(r.keysDestroyedNow == ["c-1"], "\(r)")
        let keys = try FileKeyStore(directory: f.keysPath, readOnly: true)
        #expect(keys.isDestroyed(subject: "customer:c-1") && keys.isDestroyed(subject: "session:s-anon"))
        #expect(LogKeyStore.erasuresReflected(keyDirectory: f.keysPath, log: writer) == writer.head)
        try writer.close()
    }

    /// Stop 39 (a GDPR review): `SubjectAccess.export` of a forgotten
    /// customer read their own data as erased whatever the key store held,
    /// but the sessions their orders name only through the key store: with
    /// those keys restored, the export showed the IP.
    @Test func aForgottenCustomersSubjectExportNeverOpensTheirSessions() async throws {
        let f = GDPRFixture()
        let (log, _, shop) = try shop(f)
        try await shop.append(.sessionStarted(SessionStarted(sessionId: "s-anon", channel: "web", ip: "193.56.29.102")))
        try await placeOrderFromSession(shop)
        let backup = f.root + "/keys.backup"
        try FileManager.default.copyItem(atPath: f.keysPath, toPath: backup)
        try await shop.append(.customerForgotten(CustomerForgotten(customerId: "c-1")))
        // A protector over the older keys with none of forLog's checks: the subject export's own rule decides.
        let restored = SubjectKeyVault(store: try FileKeyStore(directory: backup, readOnly: true))
        let doc = try SubjectAccess.export(customerId: "c-1", from: log, protector: restored)
        let text = String(describing: doc)
        #expect(!text.contains("193.56.29.102"), "\(text)")
        #expect(text.contains("s-anon"), "the session is still listed as theirs")
        try log.close()
    }

    /// Stop 39 (an operator): a key store restored under a running writer
    /// (the directory moved away, a backup moved in) kept taking the
    /// writer's new keys into the moved-away files, and a destroy would
    /// have written the writer's old view of a shard over the restored one.
    @Test func aKeyStoreMovedAwayUnderAWriterIsNotWrittenThrough() throws {
        let f = GDPRFixture()
        let store = try FileKeyStore(directory: f.keysPath)
        let a = "customer:c-1"
        let b = try #require((2...100_000).lazy.map { "customer:c-\($0)" }.first { FileKeyStore.shardIndex($0) == FileKeyStore.shardIndex(a) })
        _ = try store.key(for: a, create: true)
        try FileManager.default.copyItem(atPath: f.keysPath, toPath: f.root + "/backup")
        try FileManager.default.moveItem(atPath: f.keysPath, toPath: f.root + "/moved")
        try FileManager.default.moveItem(atPath: f.root + "/backup", toPath: f.keysPath)
        #expect { _ = try store.key(for: b, create: true) } throws: { error in
            (error as? KeyStoreError)?.message.contains("not the one this process opened") == true
        }
        #expect(throws: KeyStoreError.self) { try store.destroy(subject: a) }
        #expect(try FileKeyStore(directory: f.root + "/moved", readOnly: true).key(for: b, create: false) == nil, "nothing into the moved files")
        let restored = try FileKeyStore(directory: f.keysPath, readOnly: true)
        #expect(try restored.key(for: a, create: false) != nil && restored.key(for: b, create: false) == nil && !restored.isDestroyed(subject: a))
        // Keys already read still open (reads are not refused), and a store opened anew works.
        #expect(try store.key(for: a, create: false) != nil)
        #expect(try FileKeyStore(directory: f.keysPath).key(for: b, create: true) != nil)
    }
}

