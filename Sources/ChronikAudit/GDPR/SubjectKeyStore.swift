// Per-subject data keys for personal data (docs/GDPR.md), kept outside the
// log directory. Destroying a subject's key is what erases its personal
// data: the log itself is never rewritten.

import CChronikSupport
import ChronikLog
import ChronikCommerce
import Crypto
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where per-subject keys live. A KMS can stand in for the file store.
public protocol SubjectKeyStore: Sendable {
    /// The key material of `subject` (64 bytes: 32 for AES-256-GCM, 32 for
    /// deriving nonces), created when the subject has none and `create`
    /// is true; nil when the key was destroyed, or is unknown and `create`
    /// is false.
    func key(for subject: String, create: Bool) throws -> [UInt8]?
    /// Destroys the key for good: it cannot be read or created again.
    func destroy(subject: String) throws
    /// Whether the subject's key was destroyed.
    func isDestroyed(subject: String) -> Bool
    /// Makes every key created so far durable.
    func sync() throws
    /// From now on, keys created are held in memory, not written, until
    /// `writeHeldKeys()` (or `sync()`): for a bulk writer that creates
    /// keys before it appends anything (`import`'s first pass). A store
    /// that syncs each key keeps writing each one at once.
    func holdNewKeys()
    /// Writes the keys held since `holdNewKeys()`, one write per file,
    /// makes every key durable (`sync`) and stops holding. Called before
    /// anything sealed with them is appended.
    func writeHeldKeys() throws
    /// Changes when keys may have been destroyed behind this object's back
    /// (by another server sharing the store): a `SubjectKeyVault` then
    /// drops every key it cached. A store only this process writes keeps 0.
    var revision: UInt64 { get }
}

extension SubjectKeyStore {
    public var revision: UInt64 { 0 }
    public func holdNewKeys() {}
    public func writeHeldKeys() throws {}

    /// Whether the store holds `subject`'s key or its destruction: the
    /// store their personal data was sealed under (`forget`'s checks).
    public func knows(subject: String) throws -> Bool {
        try isDestroyed(subject: subject) || key(for: subject, create: false) != nil
    }
}

/// A typed failure of the key store or of sealing personal data.
public struct KeyStoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let path: String?
    public init(_ message: String, path: String? = nil) {
        self.message = message
        self.path = path
    }
    public var description: String { path.map { "\($0): \(message)" } ?? message }
}

extension KeyStoreError: PIIKeyRefusal {}

/// Said in words wherever Foundation asks (`localizedDescription`), not as
/// "The operation could not be completed" (stop 34).
extension KeyStoreError: LocalizedError {
    public var errorDescription: String? { description }
}

/// A new subject's key material: 64 bytes from the kernel's CSPRNG in one
/// getrandom(2) call (32 for AES-256-GCM, 32 for deriving nonces).
/// Eight `SystemRandomNumberGenerator` words were eight calls per new
/// subject (234,000 in an import of 500,000 events), and swift-crypto's
/// `SymmetricKey(size:)` makes nine here (BoringSSL asks the kernel for
/// fresh input on every call when the CPU offers no RDRAND).
public enum SubjectKeyMaterial {
    public static let byteCount = 64

    /// `path`: the key store's file it is for, named in the error.
    public static func random(for path: String? = nil) throws -> [UInt8] {
        var key = [UInt8](repeating: 0, count: byteCount)
        let status = key.withUnsafeMutableBytes { chronik_random_bytes($0.baseAddress, $0.count) }
        guard status == 0 else { throw KeyStoreError("getrandom failed: errno \(status)", path: path) }
        return key
    }
}

/// Keys in 256 shard files, `keys-00` … `keys-ff` (the shard is the low
/// byte of a stable FNV-1a hash of the subject), in a directory of its own
/// (mode 0700, files 0600), one line per subject: `subject base64(64
/// bytes)`, or `subject -` once destroyed. New keys are appended to their
/// shard; destroying one rewrites that shard without it (temporary file,
/// fsync, rename, directory fsync), so no copy of the key stays in the
/// current files, at the cost of one shard (1/256 of the store) per
/// erasure. Shards are read on first use.
///
/// Durability: with `syncEachKey` (the default, for services appending
/// with `.fsync`) a new key is on disk before `key(for:create:)` returns,
/// so before the event sealed with it is appended. Bulk writers (import,
/// simulate) pass `false` and call `sync()` when they close the log: a
/// crash can then lose keys of events the log kept, and that personal data
/// reads as erased — never the reverse (plaintext is never written).
///
/// Held keys: a bulk writer that seals before it appends anything
/// (`import`'s first pass) calls `holdNewKeys()`, and `writeHeldKeys()`
/// before its first append. New keys then stay in memory, each shard's
/// lines written in one `pwrite` (stop 48: a `pwrite` and a `stat` per
/// key were 6 % of an import's CPU, on the threads that set its pace), and
/// synced: every key is durable before an event sealed with it is
/// appended. A process killed while holding loses keys of which nothing
/// was appended.
public final class FileKeyStore: SubjectKeyStore {
    public let directory: String
    public let syncEachKey: Bool
    /// The file layer (ChronikLog's: positional I/O, EINTR and short
    /// writes absorbed, directory syncs; tests can inject faults).
    let storage: any Storage

    static let shardCount = 256

    struct Shard: Sendable {
        var loaded = false
        var keys: [String: [UInt8]] = [:]
        var destroyed: Set<String> = []
        var file: (any StorageFile)?
        /// `file`'s identity, read when it was opened (nil: the storage
        /// has none, or the file is not open).
        var fileIdentity: FileIdentity?
        /// Where the next line is appended.
        var size: Int64 = 0
        var dirty = false
        /// Lines of keys created while holding (`holdNewKeys`), not yet
        /// written; their keys are in `keys`.
        var held: [UInt8] = []
    }
    /// Mutex is not copyable: one box per shard.
    final class ShardBox: Sendable {
        let state = Mutex(Shard())
        func withLock<R>(_ body: (inout Shard) throws -> R) rethrows -> R { try state.withLock { try body(&$0) } }
    }
    private let shards: [ShardBox]
    /// Each shard's file, named once (stop 44: three names built per key
    /// created were ~1 % of an import that creates 29 k keys).
    private let paths: [String]
    /// Whether new keys are held (`holdNewKeys`, which sets it only without
    /// `syncEachKey`).
    private let holding = Atomic<Bool>(false)

    /// Opens (or creates) the store in `directory`.
    /// - Throws: when the directory cannot be created. A malformed shard is
    ///   refused when it is first read (never guessed around: a lost key is
    ///   lost data).
    ///
    /// - Parameter readOnly: for readers (`read`, `replay`, `query`, …): the
    ///   key files are opened for reading only and nothing is created — a
    ///   key store whose files are read-only (an auditor's copy, a backup)
    ///   opens (stop 33: every reader opened them for writing and failed,
    ///   and created an empty file for every shard it looked into). Creating
    ///   or destroying a key then throws.
    public init(directory: String, syncEachKey: Bool = true, readOnly: Bool = false,
                storage: any Storage = PosixStorage()) throws {
        self.directory = directory
        self.syncEachKey = syncEachKey
        self.readOnly = readOnly
        self.storage = storage
        if !readOnly { try storage.createDirectory(directory) }
        shards = (0..<Self.shardCount).map { _ in ShardBox() }
        let hex = Array("0123456789abcdef")
        paths = (0..<Self.shardCount).map { i in directory + "/keys-" + String(hex[i >> 4]) + String(hex[i & 15]) }
    }

    /// Opened by a reader: no key is created or destroyed.
    public let readOnly: Bool

    func refuseWriteIfReadOnly(_ path: String) throws {
        if readOnly { throw KeyStoreError("the key store is open for reading only", path: path) }
    }

    /// Refuses to write through a shard whose path no longer names the file
    /// this store read (stop 39, an operator: a key store restored under a
    /// running `serve` — the directory moved away, a backup copied in — and
    /// the server's next keys went into the moved-away files; a destroy
    /// would have written its old view of the shard over the restored one).
    ///
    /// The open file's identity is the one read when it was opened (an
    /// open descriptor keeps naming the same file), so a check costs one
    /// `stat` of the path (stop 44: an `fstat` and a `stat` per key created
    /// were 2 % of an import's CPU).
    func requireInPlace(_ s: Shard, _ path: String) throws {
        guard let open = s.fileIdentity else { return }
        guard storage.identity(of: path) == open else {
            throw KeyStoreError("the key store's file \(path) is not the one this process opened (the key store was moved, restored "
                                + "or replaced while it ran): nothing was written; restart the process so that it reads the key store in place",
                                path: path)
        }
    }

    deinit {
        for (i, shard) in shards.enumerated() {
            shard.withLock { s in
                // A key handed out is never dropped unwritten.
                try? writeHeld(&s, i)
                if s.dirty { try? s.file?.sync() }
                s.file?.close()
            }
        }
    }

    /// FNV-1a over the subject's UTF-8: stable across processes (Swift's
    /// Hasher is seeded per process and must not decide a file name).
    static func shardIndex(_ subject: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in subject.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return Int(h & 0xFF)
    }

    /// The file that holds `subject`'s key.
    public func shardPath(for subject: String) -> String { shardPath(Self.shardIndex(subject)) }

    func shardPath(_ i: Int) -> String { paths[i] }

    /// Reads shard `i` once.
    func load(_ s: inout Shard, _ i: Int) throws {
        guard !s.loaded else { return }
        let path = shardPath(i)
        if readOnly, !storage.exists(path) {
            s.loaded = true  // a shard never written holds no key
            return
        }
        let file = try storage.openFile(path, create: !readOnly, readOnly: readOnly)
        do {
            let size = try file.size()
            var bytes = [UInt8](repeating: 0, count: Int(size))
            let n = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
            guard n == bytes.count else { throw KeyStoreError("short read (\(n) of \(size) bytes)", path: path) }
            try Self.parse(bytes, into: &s, path: path)
            s.size = size
            s.fileIdentity = try file.identity()
        } catch {
            file.close()
            throw error
        }
        s.file = file
        s.loaded = true
    }

    /// Lines `subject base64` or `subject -`; later lines win, a key after
    /// its subject's destruction is refused.
    static func parse(_ bytes: [UInt8], into s: inout Shard, path: String) throws {
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            lineNumber += 1
            defer { start = end + 1 }
            if end == start { continue }
            guard let space = bytes[start..<end].firstIndex(of: UInt8(ascii: " ")), space > start else {
                throw KeyStoreError("line \(lineNumber) is malformed", path: path)
            }
            let subject = String(decoding: bytes[start..<space], as: UTF8.self)
            let value = bytes[(space + 1)..<end]
            if value.count == 1 && value.first == UInt8(ascii: "-") {
                s.keys[subject] = nil
                s.destroyed.insert(subject)
                continue
            }
            guard let key = Base64.decode(value), key.count == 64 else {
                throw KeyStoreError("line \(lineNumber): key is not 64 bytes of base64", path: path)
            }
            guard !s.destroyed.contains(subject) else {
                throw KeyStoreError("line \(lineNumber): a key for \(subject) after its destruction", path: path)
            }
            s.keys[subject] = key
        }
    }

    public func key(for subject: String, create: Bool) throws -> [UInt8]? {
        let i = Self.shardIndex(subject)
        return try shards[i].withLock { s in
            try load(&s, i)
            if let k = s.keys[subject] { return k }
            if s.destroyed.contains(subject) || !create { return nil }
            let path = paths[i]
            guard Self.isValidSubject(subject) else {
                throw KeyStoreError("subject \"\(subject.prefix(80))\" is not a valid key name", path: path)
            }
            try refuseWriteIfReadOnly(path)
            let key = try SubjectKeyMaterial.random(for: path)
            let line = Array("\(subject) \(Data(key).base64EncodedString())\n".utf8)
            if holding.load(ordering: .relaxed) {
                s.held.append(contentsOf: line)
            } else {
                try requireInPlace(s, path)
                try line.withUnsafeBytes { try s.file!.write($0, at: s.size) }
                s.size += Int64(line.count)
                if syncEachKey { try s.file!.sync() } else { s.dirty = true }
            }
            s.keys[subject] = key
            return key
        }
    }

    public func holdNewKeys() {
        if !syncEachKey { holding.store(true, ordering: .relaxed) }
    }

    public func writeHeldKeys() throws {
        holding.store(false, ordering: .relaxed)
        try sync()
    }

    /// Writes shard `i`'s held lines after its other lines.
    private func writeHeld(_ s: inout Shard, _ i: Int) throws {
        guard !s.held.isEmpty else { return }
        try requireInPlace(s, paths[i])
        try s.held.withUnsafeBytes { try s.file!.write($0, at: s.size) }
        s.size += Int64(s.held.count)
        s.held = []
        s.dirty = true
    }

    public func isDestroyed(subject: String) -> Bool {
        let i = Self.shardIndex(subject)
        return shards[i].withLock { s in
            (try? load(&s, i)) != nil && s.destroyed.contains(subject)
        }
    }

    public func destroy(subject: String) throws {
        let i = Self.shardIndex(subject)
        let path = shardPath(i)
        try shards[i].withLock { s in
            guard Self.isValidSubject(subject) else {
                throw KeyStoreError("subject \"\(subject.prefix(80))\" is not a valid key name", path: path)
            }
            try load(&s, i)
            if s.destroyed.contains(subject) && s.keys[subject] == nil { return }
            try refuseWriteIfReadOnly(path)
            try requireInPlace(s, path)
            var lines = ""
            for k in s.keys.keys.sorted() where k != subject {
                lines += "\(k) \(Data(s.keys[k]!).base64EncodedString())\n"
            }
            for d in (s.destroyed.union([subject])).sorted() { lines += "\(d) -\n" }
            // The shard without the key, written whole and durably (aside,
            // synced, renamed over, the directory synced): the current file
            // then holds no copy.
            let bytes = Array(lines.utf8)
            try storage.writeFileDurably(path, bytes: bytes)
            s.file?.close()
            s.file = try storage.openFile(path, create: false, readOnly: false)
            s.fileIdentity = try s.file!.identity()
            s.size = Int64(bytes.count)
            s.dirty = false
            // The rewrite holds every key of the shard, held ones too.
            s.held = []
            s.keys[subject] = nil
            s.destroyed.insert(subject)
        }
    }

    public func sync() throws {
        for (i, shard) in shards.enumerated() {
            try shard.withLock { s in
                try writeHeld(&s, i)
                guard s.dirty else { return }
                try s.file?.sync()
                s.dirty = false
            }
        }
        if !syncEachKey { try storage.syncDirectory(directory) }
    }

    /// Subjects are `kind:id` with the id characters of EVENTS.md: no
    /// spaces or newlines can reach the file.
    static func isValidSubject(_ s: String) -> Bool {
        let u = s.utf8
        guard (1...160).contains(u.count) else { return false }
        return u.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
        }
    }
}

/// Standard base64 (RFC 4648, with padding), decoded without Foundation's
/// per-call allocations: a key store of a million subjects is read at
/// every replay that opens personal data.
enum Base64 {
    static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var i = text.startIndex
        while i < text.endIndex {
            let c0 = table[Int(text[i])], c1 = table[Int(text[i + 1])]
            let p2 = text[i + 2] == UInt8(ascii: "="), p3 = text[i + 3] == UInt8(ascii: "=")
            let c2 = p2 ? 0 : table[Int(text[i + 2])], c3 = p3 ? 0 : table[Int(text[i + 3])]
            guard c0 != 0xFF, c1 != 0xFF, c2 != 0xFF, c3 != 0xFF else { return nil }
            guard !p2 || p3, (!p2 && !p3) || i + 4 == text.endIndex else { return nil }
            let v = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6 | UInt32(c3)
            out.append(UInt8(v >> 16))
            if !p2 { out.append(UInt8((v >> 8) & 0xFF)) }
            if !p3 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return out
    }
}

/// Seals personal data with AES-256-GCM under each subject's key from a
/// `SubjectKeyStore`: the commerce API's `PIIProtector`.
///
/// The nonce is HMAC-SHA-256(nonce key, context ‖ plaintext) cut to 96
/// bits (a synthetic IV): sealing is deterministic, which idempotent
/// retries need (they compare stored bytes), and two different messages
/// get the same nonce only with a HMAC collision. The cost is that equal
/// personal data of one subject in equal contexts seals to equal bytes.
public struct SubjectKeyVault: PIIProtector {
    public let store: any SubjectKeyStore
    /// Keys already turned into `SymmetricKey`s (a replay opens hundreds of
    /// thousands of events). Destroying through this vault evicts; use one
    /// vault per key store in a process, so no other path can destroy a
    /// key this cache still holds.
    private let cache = KeyCache()

    /// Two generations of at most `generation` subjects each: a key is
    /// looked up in the recent one, then in the older one (and moved to the
    /// recent); when the recent one is full it becomes the older and the
    /// older is let go. Bounded (a replay touches each anonymous session
    /// once), and a key used again within a generation is never dropped,
    /// where emptying one table when full dropped every key at once.
    final class KeyCache: Sendable {
        /// The data key, and the nonce key as an HMAC already keyed
        /// (stop 48: keying it per seal was ~1.3 % of an import).
        typealias Keys = (SymmetricKey, HMAC<SHA256>)
        static let generation = 4096

        struct Generations {
            var revision: UInt64 = 0
            var recent: [String: Keys] = [:]
            var older: [String: Keys] = [:]

            /// The keys of `subject`, moved to the recent generation when
            /// found in the older.
            mutating func find(_ subject: String) -> Keys? {
                if let k = recent[subject] { return k }
                guard let k = older.removeValue(forKey: subject) else { return nil }
                insert(subject, k)
                return k
            }

            mutating func insert(_ subject: String, _ k: Keys) {
                if recent.count >= KeyCache.generation {
                    older = recent
                    recent = [:]
                    recent.reserveCapacity(KeyCache.generation)
                }
                recent[subject] = k
            }

            mutating func remove(_ subject: String) {
                recent.removeValue(forKey: subject)
                older.removeValue(forKey: subject)
            }

            var count: Int { recent.count + older.count }
        }

        let keys = Mutex(Generations())
    }

    /// How many subjects' keys the cache holds (for tests).
    var cachedKeys: Int { cache.keys.withLock { $0.count } }

    /// When set, the subjects whose sealed data found no key although the
    /// key store holds no record of destroying it: a key lost (a key file
    /// deleted or restored from an older backup), not an erasure. Their
    /// data reads as null all the same; readers say so (stop 35: `export`
    /// wrote them as erased without a word, and the export did not import
    /// again).
    public var missing: MissingKeys?

    public init(store: any SubjectKeyStore) { self.store = store }

    private func keys(_ subject: String, create: Bool) throws -> KeyCache.Keys? {
        // Read before the lookup: a key destroyed elsewhere after this is
        // dropped at the next call, one destroyed before is not cached.
        let revision = store.revision
        if let k = cache.keys.withLock({ c -> KeyCache.Keys? in
            if c.revision != revision { c = KeyCache.Generations(revision: revision) }
            return c.find(subject)
        }) { return k }
        guard let material = try store.key(for: subject, create: create) else { return nil }
        let k = Self.split(material)
        cache.keys.withLock { c in
            guard c.revision == revision else { return }
            c.insert(subject, k)
        }
        return k
    }

    public func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
        guard let (key, keyedMac) = try keys(subject, create: true) else {
            throw KeyStoreError("the key of \(subject) was destroyed (erased): no personal data can be stored for it")
        }
        var mac = keyedMac
        mac.update(data: context)
        mac.update(data: plaintext)
        let nonce = try AES.GCM.Nonce(data: Array(mac.finalize()).prefix(12))
        let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: context)
        return Array(box.combined!)
    }

    public func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
        guard let (key, _) = try keys(subject, create: false) else {
            if let missing {
                if store.isDestroyed(subject: subject) { missing.noteErased(subject) } else { missing.note(subject) }
            }
            return nil
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: context))
        } catch {
            throw KeyStoreError("personal data of \(subject) does not open under its key: the event's sealed bytes or the key in the key store are damaged or altered")
        }
    }

    public func destroyKey(subject: String) throws {
        cache.keys.withLock { $0.remove(subject) }
        try store.destroy(subject: subject)
        // The store may destroy linked keys with it (`LogBoundKeyStore`: the
        // sessions a customer's orders name), which this cache does not
        // know: an erasure is rare, so every cached key goes.
        cache.keys.withLock { c in c = KeyCache.Generations(revision: c.revision) }
    }

    public func holdNewKeys() { store.holdNewKeys() }
    public func writeHeldKeys() throws { try store.writeHeldKeys() }

    static func split(_ material: [UInt8]) -> KeyCache.Keys {
        (SymmetricKey(data: material[0..<32]), HMAC<SHA256>(key: SymmetricKey(data: material[32..<64])))
    }
}

/// A key store that refuses to create a key for a subject whose personal
/// data the log already holds sealed (`holdsSealedData`): that data was
/// sealed under a key this store does not have (a wrong `--keys`, a key
/// lost or deleted), and a new key would seal the new events under
/// another one, leaving the old ones unreadable beside them (stop 34:
/// `import` did so, and `subject-export` and `export` then failed). A
/// destroyed key is the store's own refusal, as before.
public struct LogBoundKeyStore: SubjectKeyStore {
    public let base: any SubjectKeyStore
    /// Whether the log holds personal data sealed under `subject`'s key.
    let holdsSealedData: @Sendable (String) -> Bool
    /// The subjects whose keys go with `subject`'s when it is destroyed
    /// (a customer's: the anonymous sessions their orders name).
    let linked: @Sendable (String) throws -> [String]
    /// A writer's: whether the store's `erasures` record may move to the
    /// head at close (`LogKeyStore.recordErasuresAtClose`).
    let writerMark: WriterErasureMark?
    /// A reader's: the keys the log says are destroyed that the store
    /// still holds (a key store restored alone from an older backup),
    /// which read as destroyed.
    let erasedByLog: ErasedByLog?

    public init(_ base: any SubjectKeyStore, holdsSealedData: @escaping @Sendable (String) -> Bool,
                linked: @escaping @Sendable (String) throws -> [String] = { _ in [] }) {
        self.init(base, holdsSealedData: holdsSealedData, linked: linked, writerMark: nil, erasedByLog: nil)
    }

    init(_ base: any SubjectKeyStore, holdsSealedData: @escaping @Sendable (String) -> Bool,
         linked: @escaping @Sendable (String) throws -> [String], writerMark: WriterErasureMark?, erasedByLog: ErasedByLog?) {
        self.base = base
        self.holdsSealedData = holdsSealedData
        self.linked = linked
        self.writerMark = writerMark
        self.erasedByLog = erasedByLog
    }

    /// The customers whose keys this reader's store still held although
    /// the log says they are forgotten (read from the log on the first
    /// call; empty for a writer's store).
    public func customersErasedByLog() throws -> [String] {
        try erasedByLog?.customers(base: base) ?? []
    }

    public func key(for subject: String, create: Bool) throws -> [UInt8]? {
        if let erasedByLog, try erasedByLog.contains(subject, base: base) { return nil }
        if let key = try base.key(for: subject, create: false) { return key }
        guard create else { return nil }
        if !base.isDestroyed(subject: subject), holdsSealedData(subject) {
            throw KeyStoreError("the key store holds no key for \(subject), though the log holds personal data sealed under it: "
                                + "this is not the key store it was sealed under (--keys), or the key was lost; nothing was written for \(subject)")
        }
        return try base.key(for: subject, create: true)
    }

    /// Destroys `subject`'s key, then those of its linked subjects.
    public func destroy(subject: String) throws {
        do {
            try base.destroy(subject: subject)
            for other in try linked(subject) where !base.isDestroyed(subject: other) { try base.destroy(subject: other) }
        } catch {
            // A key the log may say is destroyed lives on: the store's
            // `erasures` record must not move past this erasure.
            writerMark?.set(false)
            throw error
        }
    }
    public func isDestroyed(subject: String) -> Bool {
        if let erasedByLog, (try? erasedByLog.contains(subject, base: base)) == true { return true }
        return base.isDestroyed(subject: subject)
    }
    public func sync() throws { try base.sync() }
    public func holdNewKeys() { base.holdNewKeys() }
    public func writeHeldKeys() throws { try base.writeHeldKeys() }
    public var revision: UInt64 { base.revision }
}

/// Subjects whose key was missing but not destroyed (`SubjectKeyVault.missing`).
public final class MissingKeys: Sendable {
    private let subjects = Mutex<Set<String>>([])
    private let erasedSubjects = Mutex<Set<String>>([])

    public init() {}

    func note(_ subject: String) { subjects.withLock { _ = $0.insert(subject) } }
    func noteErased(_ subject: String) { erasedSubjects.withLock { _ = $0.insert(subject) } }

    /// The subjects whose sealed data met a destroyed key, sorted: an
    /// erasure, which the log should say with a `CustomerForgotten` (a key
    /// store newer than the log does not; `chronik export` checks).
    public var erased: [String] { erasedSubjects.withLock { $0.sorted() } }

    /// The subjects, sorted.
    public var list: [String] { subjects.withLock { $0.sorted() } }

    /// One sentence naming them (the first few) and what to do; nil when none.
    public var warning: String? {
        let all = list
        guard !all.isEmpty else { return nil }
        let named = all.prefix(5).joined(separator: ", ") + (all.count > 5 ? " and \(all.count - 5) more" : "")
        return "the key store holds no key for \(all.count) subject\(all.count == 1 ? "" : "s") that \(all.count == 1 ? "was" : "were") never erased (\(named)): their personal data reads as null though it is in the log; restore the key store from a backup (chronik subject-export names what each holds)"
    }
}
