import ChronikAudit
import ChronikCommerce
import ChronikProjections
import Crypto
import Foundation
import Synchronization
import Testing
@testable import ChronikLog

@Suite("Signed digests and audit exports")
struct DigestExportTests {
    @Test("a digest round-trips through its file form and holds for the log, also after appends")
    func digestHolds() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 120)
        let key = Curve25519.Signing.PrivateKey()
        let (digest, report) = try LogDigest.make(directory: dir, key: key, time: Timestamp(microseconds: baseTime))
        #expect(digest.position.value == 120)
        #expect(digest.chainHash == report.headHash)
        #expect(digest.keyID == AuditKeys.keyID(key.publicKey))
        let parsed = try LogDigest(parsing: Array(digest.json.utf8))
        #expect(parsed == digest)
        #expect(parsed.isSigned(by: key.publicKey))

        let check = try DigestCheck.check(parsed, publicKey: key.publicKey, directory: dir)
        #expect(check.holds, "\(String(describing: check.problem))")
        #expect(check.appendedSince == 0)

        let log = try EventLog.open(at: dir, options: smallLogOptions())
        try await appendFixture(log, count: 33, from: 120)
        try log.close()
        let later = try DigestCheck.check(parsed, publicKey: key.publicKey, directory: dir)
        #expect(later.holds, "\(String(describing: later.problem))")
        #expect(later.appendedSince == 33)
    }

    @Test("a forged digest, the wrong key, a truncated log and a rewritten history each fail with their reason")
    func digestFailures() async throws {
        let dir = makeTempDir(), short = makeTempDir("short"), other = makeTempDir("other")
        defer { removeDir(dir); removeDir(short); removeDir(other) }
        try await makeFixtureLog(short, count: 60)
        try restoreFiles(try snapshotFiles(short), into: dir)
        let log = try EventLog.open(at: dir, options: smallLogOptions())
        try await appendFixture(log, count: 40, from: 60)
        try log.close()
        let key = Curve25519.Signing.PrivateKey()
        let (digest, _) = try LogDigest.make(directory: dir, key: key)

        // Forged: any signed field changed.
        var forged = digest
        forged.position = Position(50)
        var problem = try DigestCheck.check(forged, publicKey: key.publicKey, directory: dir).problem
        #expect(problem?.code == .signatureInvalid)
        #expect(problem?.message.hasPrefix("digest signature invalid (forged or wrong key)") == true)
        // The wrong key.
        let stranger = Curve25519.Signing.PrivateKey().publicKey
        problem = try DigestCheck.check(digest, publicKey: stranger, directory: dir).problem
        #expect(problem?.code == .signatureInvalid)
        #expect(problem?.message.contains("the digest names key \(digest.keyID)") == true)

        // Truncated: the same log as it was before the last 40 events.
        problem = try DigestCheck.check(digest, publicKey: key.publicKey, directory: short).problem
        #expect(problem?.message == "log truncated: digest covers 100 events, log has 60")

        // Rewritten: another history of 100 events (one amount differs)
        // under the same metadata file, with a consistent chain of its own.
        let alt = try EventLog.open(at: other, options: smallLogOptions())
        try await appendFixture(alt, count: 100)
        try alt.close()
        try writeFile(other + "/chronik.meta", try fileBytes(dir + "/chronik.meta"))
        #expect(try LogVerifier.verify(directory: other).isClean)
        problem = try DigestCheck.check(digest, publicKey: key.publicKey, directory: other).problem
        #expect(problem?.code == .digestMismatch)
        #expect(problem?.message.hasPrefix("history rewritten before position 100") == true, "\(String(describing: problem))")

        // A log that is not the digest's (another metadata file).
        try await makeFixtureLog(other + "-2", count: 100)
        defer { removeDir(other + "-2") }
        problem = try DigestCheck.check(digest, publicKey: key.publicKey, directory: other + "-2").problem
        #expect(problem?.message.hasPrefix("digest is for another log") == true, "\(String(describing: problem))")
    }

    @Test("a signed position inside a batch, and the empty log's digest (position 0, genesis)")
    func digestEdgePositions() async throws {
        let dir = makeTempDir(), empty = makeTempDir("empty")
        defer { removeDir(dir); removeDir(empty) }
        try await makeFixtureLog(dir, count: 40)
        let key = Curve25519.Signing.PrivateKey()
        // A genuine signature over a position no batch ends at.
        let report = try LogVerifier.verify(directory: dir)
        let inside = try #require((1..<40).first { p in
            try LogVerifier.verify(directory: dir, anchor: Position(UInt64(p))).anchorHash == nil
        })
        var d = LogDigest(logCreatedAt: try #require(report.createdAt), position: Position(UInt64(inside)), chainHash: report.headHash,
                          time: .now(), keyID: AuditKeys.keyID(key.publicKey), signature: [])
        d.signature = Array(try key.signature(for: d.signedBytes))
        let problem = try DigestCheck.check(d, publicKey: key.publicKey, directory: dir).problem
        #expect(problem?.message == "history rewritten before position \(inside): no batch of this log ends at position \(inside)")

        let log = try EventLog.open(at: empty, options: smallLogOptions())
        try log.close()
        let (zero, _) = try LogDigest.make(directory: empty, key: key)
        #expect(zero.position == .start && zero.chainHash == .genesis)
        try await makeFixtureLog(empty, count: 10)  // appends to the same log
        let later = try DigestCheck.check(zero, publicKey: key.publicKey, directory: empty)
        #expect(later.holds && later.appendedSince == 10)
    }

    @Test("a damaged log is not signed")
    func noDigestOfDamage() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 50)
        let path = dir + "/" + LogFormat.segmentFileName(base: 0)
        var seg = try fileBytes(path)
        seg[LogFormat.segmentHeaderSize + 100] ^= 1
        try writeFile(path, seg)
        #expect(throws: AuditError.self) { _ = try LogDigest.make(directory: dir, key: Curve25519.Signing.PrivateKey()) }
    }

    @Test("key files: 0600 private key, refused overwrite, --force, and loading rejects the wrong kind")
    func keyFiles() throws {
        let dir = makeTempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeDir(dir) }
        let path = dir + "/k"
        let key = try AuditKeys.generate(at: path)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try AuditKeys.loadPrivateKey(path).rawRepresentation == key.rawRepresentation)
        #expect(try AuditKeys.loadPublicKey(path + ".pub").rawRepresentation == key.publicKey.rawRepresentation)
        #expect(throws: AuditError.self) { try AuditKeys.generate(at: path) }
        #expect(try AuditKeys.loadPrivateKey(path).rawRepresentation == key.rawRepresentation)  // untouched
        let replaced = try AuditKeys.generate(at: path, force: true)
        #expect(replaced.rawRepresentation != key.rawRepresentation)
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(throws: AuditError.self) { _ = try AuditKeys.loadPublicKey(path) }
        #expect(throws: AuditError.self) { _ = try AuditKeys.loadPrivateKey(path + ".pub") }
    }

    @Test("key files and snapshots are written through Storage: durable (directory synced), 0644 only for a public key, and a failed step leaves no file and no temporary")
    func keyFilesAndSnapshotsGoThroughStorage() async throws {
        // Proves: keygen and snapshots use the one durable write (faults reach them); before stop 22 they wrote with raw POSIX calls and keygen never synced the directory.
        let dir = makeTempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeDir(dir) }
        let storage = StepStorage()
        let path = dir + "/k"
        try AuditKeys.generate(at: path, storage: storage)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(path + ".pub", &st) == 0 && st.st_mode & 0o777 == 0o644)
        #expect(storage.steps.filter { $0 == "syncDirectory \(dir)" }.count == 2, "\(storage.steps)")

        storage.failRename = true
        #expect(throws: AuditError.self) { try AuditKeys.generate(at: dir + "/k2", storage: storage) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["k", "k.pub"])

        let logDir = dir + "/log"
        try await makeFixtureLog(logDir, count: 20)
        var o = LogOptions()
        o.readOnly = true
        let log = try EventLog.open(at: logDir, options: o)
        defer { try? log.close() }
        let set = try Projections.standard()
        try Replayer.replay(log, into: set)
        let snapshots = SnapshotStore(logDirectory: logDir, storage: storage)
        #expect(throws: ProjectionError.self) { try snapshots.write(set, log: log) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: snapshots.directory).isEmpty)
        storage.failRename = false
        let written = try snapshots.write(set, log: log)
        #expect(storage.steps.last == "syncDirectory \(snapshots.directory)")
        // 0600 as every file of a log (stop 36, an operator: snapshots were 0644).
        #expect(stat(written.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try snapshots.loadNewest(log: log).loaded == written)
    }

    @Test("audit JSON Lines: the plain form equals chronik export's; chainHash names each event's batch; the last equals the digest's")
    func auditJSONLines() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 150)
        var o = LogOptions()
        o.readOnly = true
        let log = try EventLog.open(at: dir, options: o)
        defer { try? log.close() }

        var plain: [UInt8] = [], reference: [UInt8] = [], audited: [UInt8] = []
        try AuditExport(chainHashes: false).export(log) { plain += $0 }
        try ExportFilter().export(log) { reference += $0 }
        #expect(plain == reference)
        let n = try AuditExport().export(log) { audited += $0 }
        #expect(n == 150)

        let lines = String(decoding: audited, as: UTF8.self).split(separator: "\n")
        let plainLines = String(decoding: plain, as: UTF8.self).split(separator: "\n")
        var hashes: [String] = []
        for (a, p) in zip(lines, plainLines) {
            // The audit line is the plain line plus one last key.
            #expect(a.hasPrefix(p.dropLast()))
            guard case .object(let members) = try JSONValue.parse(Array(a.utf8)), let last = members.last,
                  last.key == "chainHash", case .string(let h) = last.value else { Issue.record("no chainHash: \(a)"); continue }
            hashes.append(h)
        }
        // Each batch's hash, from the inspector (an independent reader), by position.
        var expected: [String] = []
        for base in try FileManager.default.contentsOfDirectory(atPath: dir).compactMap(LogFormat.baseFromSegmentFileName).sorted() {
            let seg = try SegmentInspector(path: dir + "/" + LogFormat.segmentFileName(base: base))
            while let b = try seg.nextBatch() { expected += Array(repeating: b.chainHash.description, count: b.count) }
        }
        #expect(hashes == expected)
        let (digest, _) = try LogDigest.make(directory: dir, key: Curve25519.Signing.PrivateKey())
        #expect(hashes.last == digest.chainHash.description)
    }

    @Test("audit filters: stream, type, position range and time range select exactly the matching events")
    func auditFilters() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 200)
        let all = try readEverything(dir)
        var o = LogOptions()
        o.readOnly = true
        let log = try EventLog.open(at: dir, options: o)
        defer { try? log.close() }
        let t0 = Timestamp(microseconds: baseTime + 30 * 1_000_000), t1 = Timestamp(microseconds: baseTime + 150 * 1_000_000)
        let x = AuditExport(streams: ["order-1", "order-3"], types: ["AuditPaid"], fromPosition: 10, toPosition: 170,
                            fromTime: t0, toTime: t1)
        var out: [UInt8] = []
        try x.export(log) { out += $0 }
        let positions = String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { line -> Int? in
            guard case .object(let m) = try? JSONValue.parse(Array(line.utf8)),
                  case .int(let p)? = m.first(where: { $0.key == "position" })?.value else { return nil }
            return Int(p)
        }
        let want = all.filter { e in
            ["order-1", "order-3"].contains(e.stream) && e.type == "AuditPaid" && (10...170).contains(e.position.value)
                && e.occurredAt >= t0 && e.occurredAt <= t1
        }.map { Int($0.position.value) }
        #expect(!want.isEmpty)
        #expect(positions == want)
    }

    @Test("CSV: RFC 4180 quoting, a header, one row per event with the JSON export's data and the chain hash")
    func csvExport() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try await makeFixtureLog(dir, count: 40)
        var o = LogOptions()
        o.readOnly = true
        let log = try EventLog.open(at: dir, options: o)
        defer { try? log.close() }
        var csv: [UInt8] = [], jsonl: [UInt8] = []
        try AuditExport(format: .csv).export(log) { csv += $0 }
        try AuditExport().export(log) { jsonl += $0 }
        let rows = parseCSV(String(decoding: csv, as: UTF8.self))
        #expect(rows.first == AuditExport.csvColumns)
        #expect(rows.count == 41)
        let all = try readEverything(dir)
        for (row, (e, line)) in zip(rows.dropFirst(), zip(all, String(decoding: jsonl, as: UTF8.self).split(separator: "\n"))) {
            guard case .object(let m) = try JSONValue.parse(Array(line.utf8)) else { Issue.record("bad line"); continue }
            func member(_ k: String) -> JSONValue? { m.first { $0.key == k }?.value }
            #expect(row[0] == String(e.position.value))
            #expect(row[1] == e.stream)
            #expect(row[2] == String(e.version.value))
            #expect(row[3] == e.type)
            #expect(row[4] == e.id.description)
            #expect(row[5] == e.occurredAt.rfc3339)
            #expect(row[6] == e.recordedAt.rfc3339)
            #expect(member("chainHash") == .string(row[7]))
            #expect(try JSONValue.parse(Array(row[8].utf8)) == member("data"))
            #expect(try JSONValue.parse(Array(row[9].utf8)) == member("meta"))
        }
    }
}

/// A strict RFC 4180 reader for the test: CRLF rows, quoted fields with
/// doubled quotes.
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = [], row: [String] = [], field = ""
    var chars = Array(text)[...]
    var quoted = false
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" {
                if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
            } else { field.append(c) }
        } else if c == "\"" { quoted = true } else if c == "," { row.append(field); field = "" } else if c == "\r\n" || c == "\r" {
            row.append(field); rows.append(row); row = []; field = ""
            if chars.first == "\n" { chars.removeFirst() }
        } else { field.append(c) }
    }
    if !row.isEmpty || !field.isEmpty { row.append(field); rows.append(row) }
    return rows
}

/// The POSIX storage, noting each rename and directory sync; with
/// `failRename` every rename fails (EIO).
final class StepStorage: Storage, @unchecked Sendable {
    let inner = PosixStorage()
    private let state = Mutex<(steps: [String], failRename: Bool)>(([], false))
    var steps: [String] { state.withLock { $0.steps } }
    var failRename: Bool {
        get { state.withLock { $0.failRename } }
        set { state.withLock { $0.failRename = newValue } }
    }
    func createDirectory(_ path: String) throws { try inner.createDirectory(path) }
    func listDirectory(_ path: String) throws -> [String] { try inner.listDirectory(path) }
    func exists(_ path: String) -> Bool { inner.exists(path) }
    func isDirectory(_ path: String) -> Bool { inner.isDirectory(path) }
    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        try inner.openFile(path, create: create, readOnly: readOnly)
    }
    func remove(_ path: String) throws { try inner.remove(path) }
    func rename(_ from: String, to: String) throws {
        if failRename { throw ChronikLogError(.io, "rename failed (injected)", path: from, errno: EIO) }
        state.withLock { $0.steps.append("rename \(to)") }
        try inner.rename(from, to: to)
    }
    func syncDirectory(_ path: String) throws {
        state.withLock { $0.steps.append("syncDirectory \(path)") }
        try inner.syncDirectory(path)
    }
    func lockExclusive(_ path: String) throws -> (any StorageLock)? { try inner.lockExclusive(path) }
    func isWriterActive(_ path: String) -> Bool { inner.isWriterActive(path) }
    func setMode(_ path: String, _ mode: UInt16) throws { try inner.setMode(path, mode) }
}
