// Per-subject data keys for personal data (docs/GDPR.md), kept outside the
// log directory. Destroying a subject's key is what erases its personal
// data: the log itself is never rewritten.

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

/// Keys in one file, `subject-keys`, in a directory of its own (mode 0700,
/// file 0600), one line per subject: `subject base64(64 bytes)` or
/// `subject -` once destroyed. New keys are appended; destroying one
/// rewrites the file without it (temporary file, fsync, rename, directory
/// fsync), so no copy of the key stays in the current file.
///
/// Durability: with `syncEachKey` (the default, for services appending
/// with `.fsync`) a new key is on disk before `key(for:create:)` returns,
/// so before the event sealed with it is appended. Bulk writers (import,
/// simulate) pass `false` and call `sync()` when they close the log: a
/// crash can then lose keys of events the log kept, and that personal data
/// reads as erased — never the reverse (plaintext is never written).
public final class FileKeyStore: SubjectKeyStore {
    public let directory: String
    public let syncEachKey: Bool
    private var path: String { directory + "/subject-keys" }

    private struct State {
        var keys: [String: [UInt8]] = [:]
        var destroyed: Set<String> = []
        var fd: Int32 = -1
        var dirty = false
    }
    private let state: Mutex<State>

    /// Opens (or creates) the store in `directory`.
    /// - Throws: `KeyStoreError` when the directory cannot be created, or a
    ///   line of the file is malformed (never guessed around: a lost key is
    ///   lost data).
    public init(directory: String, syncEachKey: Bool = true) throws {
        self.directory = directory
        self.syncEachKey = syncEachKey
        var s = State()
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw KeyStoreError("cannot create key directory: \(String(cString: strerror(errno)))", path: directory)
        }
        let file = directory + "/subject-keys"
        let fd = open(file, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyStoreError("cannot open: \(String(cString: strerror(errno)))", path: file) }
        s.fd = fd
        do {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            var lineNumber = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                lineNumber += 1
                let parts = line.split(separator: " ")
                guard parts.count == 2 else { throw KeyStoreError("line \(lineNumber) is malformed", path: file) }
                let subject = String(parts[0])
                if parts[1] == "-" {
                    s.keys[subject] = nil
                    s.destroyed.insert(subject)
                } else {
                    guard let data = Data(base64Encoded: String(parts[1])), data.count == 64 else {
                        throw KeyStoreError("line \(lineNumber): key is not 64 bytes of base64", path: file)
                    }
                    guard !s.destroyed.contains(subject) else {
                        throw KeyStoreError("line \(lineNumber): a key for \(subject) after its destruction", path: file)
                    }
                    s.keys[subject] = Array(data)
                }
            }
        } catch let e as KeyStoreError {
            close(fd)
            throw e
        } catch {
            close(fd)
            throw KeyStoreError("cannot read: \(error)", path: file)
        }
        state = Mutex(s)
        if syncEachKey { try Self.fsyncDirectory(directory) }
    }

    deinit {
        state.withLock { s in
            if s.fd >= 0 {
                if s.dirty { _ = fdatasync(s.fd) }
                close(s.fd)
            }
        }
    }

    public func key(for subject: String, create: Bool) throws -> [UInt8]? {
        try state.withLock { s in
            if let k = s.keys[subject] { return k }
            if s.destroyed.contains(subject) || !create { return nil }
            guard Self.isValidSubject(subject) else {
                throw KeyStoreError("subject \"\(subject.prefix(80))\" is not a valid key name", path: path)
            }
            var key = [UInt8](repeating: 0, count: 64)
            var rng = SystemRandomNumberGenerator()
            for i in 0..<8 {
                withUnsafeBytes(of: rng.next() as UInt64) { key.replaceSubrange(i * 8..<(i * 8 + 8), with: $0) }
            }
            try Self.write(fd: s.fd, "\(subject) \(Data(key).base64EncodedString())\n", path: path)
            if syncEachKey {
                guard fdatasync(s.fd) == 0 else { throw KeyStoreError("fdatasync failed: \(String(cString: strerror(errno)))", path: path) }
            } else {
                s.dirty = true
            }
            s.keys[subject] = key
            return key
        }
    }

    public func isDestroyed(subject: String) -> Bool {
        state.withLock { $0.destroyed.contains(subject) }
    }

    public func destroy(subject: String) throws {
        try state.withLock { s in
            guard Self.isValidSubject(subject) else {
                throw KeyStoreError("subject \"\(subject.prefix(80))\" is not a valid key name", path: path)
            }
            if s.destroyed.contains(subject) && s.keys[subject] == nil { return }
            var lines = ""
            for k in s.keys.keys.sorted() where k != subject {
                lines += "\(k) \(Data(s.keys[k]!).base64EncodedString())\n"
            }
            for d in (s.destroyed.union([subject])).sorted() { lines += "\(d) -\n" }
            let tmp = path + ".tmp"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw KeyStoreError("cannot create: \(String(cString: strerror(errno)))", path: tmp) }
            do {
                try Self.write(fd: fd, lines, path: tmp)
                guard fsync(fd) == 0 else { throw KeyStoreError("fsync failed: \(String(cString: strerror(errno)))", path: tmp) }
            } catch {
                close(fd)
                unlink(tmp)
                throw error
            }
            close(fd)
            guard rename(tmp, path) == 0 else {
                let e = KeyStoreError("rename failed: \(String(cString: strerror(errno)))", path: path)
                unlink(tmp)
                throw e
            }
            try Self.fsyncDirectory(directory)
            // Appends go to the new file from now on.
            let newFD = open(path, O_RDWR | O_APPEND | O_CLOEXEC)
            guard newFD >= 0 else { throw KeyStoreError("cannot reopen: \(String(cString: strerror(errno)))", path: path) }
            close(s.fd)
            s.fd = newFD
            s.dirty = false
            s.keys[subject] = nil
            s.destroyed.insert(subject)
        }
    }

    public func sync() throws {
        try state.withLock { s in
            guard s.dirty else { return }
            guard fdatasync(s.fd) == 0 else { throw KeyStoreError("fdatasync failed: \(String(cString: strerror(errno)))", path: path) }
            s.dirty = false
        }
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

    static func write(fd: Int32, _ text: String, path: String) throws {
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw KeyStoreError("write failed: \(String(cString: strerror(errno)))", path: path)
            }
            done += n
        }
        bytes.removeAll()
    }

    static func fsyncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw KeyStoreError("cannot open directory: \(String(cString: strerror(errno)))", path: dir) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw KeyStoreError("directory fsync failed: \(String(cString: strerror(errno)))", path: dir) }
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

    public init(store: any SubjectKeyStore) { self.store = store }

    public func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
        guard let material = try store.key(for: subject, create: true) else {
            throw KeyStoreError("the key of \(subject) was destroyed (erased): no personal data can be stored for it")
        }
        let (key, nonceKey) = Self.split(material)
        var mac = HMAC<SHA256>(key: nonceKey)
        mac.update(data: context)
        mac.update(data: plaintext)
        let nonce = try AES.GCM.Nonce(data: Array(mac.finalize()).prefix(12))
        let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: context)
        return Array(box.combined!)
    }

    public func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
        guard let material = try store.key(for: subject, create: false) else { return nil }
        let (key, _) = Self.split(material)
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: context))
        } catch {
            throw KeyStoreError("personal data of \(subject) does not authenticate (corrupt or altered): \(error)")
        }
    }

    public func destroyKey(subject: String) throws { try store.destroy(subject: subject) }

    static func split(_ material: [UInt8]) -> (SymmetricKey, SymmetricKey) {
        (SymmetricKey(data: material[0..<32]), SymmetricKey(data: material[32..<64]))
    }
}
