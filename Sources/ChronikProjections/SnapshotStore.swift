import ChronikLog
import CChronikSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a snapshot file is and what it holds.
public struct SnapshotInfo: Sendable, Equatable {
    public var path: String
    /// Events folded into the models: the replay resumes at this position.
    public var position: Position
    public var sizeBytes: Int
    public var models: [String]
}

/// Snapshots of the read models in `<log>/snapshots/snapshot-<position>.snap`
/// (format in docs/PROJECTIONS.md): versioned, checksummed (CRC32C), written
/// atomically. A snapshot that is corrupt, of another format or model
/// version, lacks a model, or lies beyond the log's head is skipped with a
/// message and never trusted.
public struct SnapshotStore: Sendable {
    public let directory: String
    /// Every file operation goes through it (faults can be injected).
    let storage: any Storage

    static let magic: [UInt8] = Array("CHRKSNAP".utf8)
    static let formatVersion: UInt32 = 1

    public init(logDirectory: String, storage: any Storage = PosixStorage()) {
        directory = logDirectory + "/snapshots"
        self.storage = storage
    }

    static func fileName(_ position: Position) -> String {
        var digits = String(position.value)
        while digits.count < 20 { digits = "0" + digits }
        return "snapshot-\(digits).snap"
    }

    /// The snapshot files, newest (highest position) first.
    public func files() -> [(position: Position, path: String)] {
        let names = (try? storage.listDirectory(directory)) ?? []
        return names.compactMap { name -> (Position, String)? in
            guard name.hasPrefix("snapshot-"), name.hasSuffix(".snap") else { return nil }
            guard let v = UInt64(name.dropFirst(9).dropLast(5)) else { return nil }
            return (Position(v), directory + "/" + name)
        }.sorted { $0.0 > $1.0 }
    }

    // MARK: Encoding

    /// The file bytes of a snapshot of `set` at `set.position`.
    ///
    /// - Parameter chainHash: the log's chain hash after the last event in
    ///   the snapshot, when known (the head hash when the set is at the head).
    public static func encode(_ set: ProjectionSet, chainHash: ChainHash?) -> [UInt8] {
        var b: [UInt8] = magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        u32(formatVersion)
        u64(set.position.value)
        b.append(chainHash == nil ? 0 : 1)
        b.append(contentsOf: chainHash?.bytes ?? [UInt8](repeating: 0, count: 32))
        u32(UInt32(set.projectors.count))
        for p in set.projectors {
            var w = SnapshotWriter(capacity: 1 << 16)
            p.encodeSnapshot(into: &w)
            let name = Array(p.name.utf8)
            u32(UInt32(name.count))
            b.append(contentsOf: name)
            u32(p.snapshotVersion)
            u64(UInt64(w.bytes.count))
            b.append(contentsOf: w.bytes)
        }
        u32(checksum(b[...]))
        return b
    }

    /// CRC32C of `bytes` (the file's trailer covers everything before it).
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { chronik_crc32c(0, $0.baseAddress, $0.count) }
    }

    /// A parsed snapshot file: header and the bytes of each model.
    struct Parsed {
        var position: Position
        var chainHash: ChainHash?
        var models: [(name: String, version: UInt32, bytes: [UInt8])]
    }

    static func parse(_ b: [UInt8]) throws(ProjectionError) -> Parsed {
        func bad(_ why: String) -> ProjectionError { ProjectionError(.badSnapshot, why) }
        guard b.count >= 8 + 4 + 8 + 33 + 4 + 4 else { throw bad("too short (\(b.count) bytes)") }
        guard Array(b[0..<8]) == magic else { throw bad("not a snapshot file (bad magic)") }
        let stored = UInt32(b[b.count - 4]) | UInt32(b[b.count - 3]) << 8 | UInt32(b[b.count - 2]) << 16
            | UInt32(b[b.count - 1]) << 24
        let crc = checksum(b[..<(b.count - 4)])
        guard crc == stored else {
            throw bad("checksum mismatch (stored \(String(stored, radix: 16)), computed \(String(crc, radix: 16)))")
        }
        var i = 8
        func u32() throws(ProjectionError) -> UInt32 {
            guard i + 4 <= b.count - 4 else { throw bad("truncated") }
            var v: UInt32 = 0
            for k in 0..<4 { v |= UInt32(b[i + k]) << (8 * k) }
            i += 4
            return v
        }
        func u64() throws(ProjectionError) -> UInt64 {
            guard i + 8 <= b.count - 4 else { throw bad("truncated") }
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(b[i + k]) << (8 * k) }
            i += 8
            return v
        }
        let version = try u32()
        guard version == formatVersion else { throw bad("format version \(version), this build reads \(formatVersion)") }
        let position = Position(try u64())
        let hasHash = b[i] == 1
        let hash = ChainHash(bytes: Array(b[(i + 1)..<(i + 33)]))
        i += 33
        let count = try u32()
        var models: [(String, UInt32, [UInt8])] = []
        for _ in 0..<count {
            let n = Int(try u32())
            guard n <= b.count - 4 - i else { throw bad("truncated") }
            let name = String(decoding: b[i..<(i + n)], as: UTF8.self)
            i += n
            let v = try u32()
            let len = try u64()
            guard len <= UInt64(b.count - 4 - i) else { throw bad("truncated") }
            models.append((name, v, Array(b[i..<(i + Int(len))])))
            i += Int(len)
        }
        guard i == b.count - 4 else { throw bad("trailing bytes") }
        return Parsed(position: position, chainHash: hasHash ? hash : nil, models: models)
    }

    // MARK: Writing

    /// Writes a snapshot of `set` (at `set.position`) atomically and
    /// durably (`Storage.writeFileDurably`: temporary file, fsync, rename,
    /// directory fsync). Durable on return.
    ///
    /// - Throws: `io` when the directory or file cannot be written.
    @discardableResult
    public func write(_ set: ProjectionSet, log: EventLog) throws(ProjectionError) -> SnapshotInfo {
        let hash = set.position == log.head ? log.headHash : nil
        let bytes = Self.encode(set, chainHash: hash)
        let path = directory + "/" + Self.fileName(set.position)
        do {
            try storage.createDirectory(directory)
            // 0600 as every file of a log (stop 36, an operator: snapshots were 0644).
            try storage.writeFileDurably(path, bytes: bytes, mode: 0o600, concurrentWriters: true)
        } catch {
            throw ProjectionError(.io, "cannot write \(path): \(ChronikLogError.message(of: error))")
        }
        return SnapshotInfo(path: path, position: set.position, sizeBytes: bytes.count, models: set.names)
    }

    // MARK: Loading

    /// Decodes each model from its bytes; the largest on a second thread
    /// while the others decode on this one (two cores: the load takes
    /// about as long as the largest model).
    static func decode(_ jobs: [(any SnapshottableProjector, [UInt8])], parallelFrom: Int = 1 << 16) throws(ProjectionError) {
        @Sendable func one(_ p: any SnapshottableProjector, _ bytes: [UInt8]) throws(ProjectionError) {
            var r = SnapshotReader(bytes)
            try p.decodeSnapshot(from: &r)
            guard r.isAtEnd else { throw ProjectionError(.badSnapshot, "'\(p.name)' has trailing bytes") }
        }
        guard let largest = jobs.indices.max(by: { jobs[$0].1.count < jobs[$1].1.count }),
              jobs.count > 1, jobs[largest].1.count >= parallelFrom else {
            for (p, b) in jobs { try one(p, b) }
            return
        }
        // The projector is touched by the helper thread only, until the
        // semaphore hands it back; no other model reads it while decoding.
        let box = UncheckedBox((jobs[largest].0, jobs[largest].1))
        let result = UncheckedBox<ProjectionError?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do throws(ProjectionError) { try one(box.value.0, box.value.1) } catch { result.value = error }
            done.signal()
        }
        thread.start()
        var failure: ProjectionError?
        for (i, (p, b)) in jobs.enumerated() where i != largest {
            do { try one(p, b) } catch {
                failure = error
                break
            }
        }
        done.wait()
        if let f = result.value ?? failure { throw f }
    }

    /// The newest valid snapshot loaded into a fresh set of the models
    /// `only` names (and their dependencies), or a fresh empty set when
    /// there is none; plus one message per snapshot skipped and why.
    public func loadNewest(only: [String]? = nil, log: EventLog) throws(ProjectionError)
        -> (set: ProjectionSet, loaded: SnapshotInfo?, messages: [String]) {
        var messages: [String] = []
        let head = log.head
        for (position, path) in files() {
            guard position <= head else {
                messages.append("ignoring snapshot \(path): its position \(position) is beyond the log's head \(head) (was the log replaced?)")
                continue
            }
            guard let data = try? storage.readFile(path) else {
                messages.append("ignoring snapshot \(path): cannot read it")
                continue
            }
            let set = try Projections.standard(only: only)
            do throws(ProjectionError) {
                let parsed = try Self.parse(data)
                guard parsed.position == position else {
                    throw ProjectionError(.badSnapshot, "holds position \(parsed.position), its name says \(position)")
                }
                if let h = parsed.chainHash {
                    let logHash: ChainHash?
                    do { logHash = try Self.chainHash(of: log, at: position) } catch { throw Replayer.logError(error) }
                    guard logHash == h else {
                        throw ProjectionError(.badSnapshot, "taken of another log (its chain hash differs from the log's at position \(position))")
                    }
                }
                var jobs: [(any SnapshottableProjector, [UInt8])] = []
                for p in set.projectors {
                    guard let m = parsed.models.first(where: { $0.name == p.name }) else {
                        throw ProjectionError(.badSnapshot, "has no '\(p.name)' model")
                    }
                    guard m.version == p.snapshotVersion else {
                        throw ProjectionError(.badSnapshot,
                                              "'\(p.name)' is version \(m.version), this build reads \(p.snapshotVersion)")
                    }
                    jobs.append((p, m.bytes))
                }
                try Self.decode(jobs)
                set.position = position
                return (set, SnapshotInfo(path: path, position: position, sizeBytes: data.count, models: set.names), messages)
            } catch {
                messages.append("ignoring snapshot \(path): \(error.message)")
            }
        }
        return (try Projections.standard(only: only), nil, messages)
    }
}

/// Hands a value to another thread that the caller waits for.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
