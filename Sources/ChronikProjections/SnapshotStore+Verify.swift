import ChronikLog
import Foundation

/// What `chronik verify` found of one snapshot file.
public struct SnapshotVerdict: Sendable, Equatable {
    public var path: String
    public var position: Position
    /// Byte offset of the problem in the file (0 when it concerns the
    /// whole file), and why; nil when the snapshot is consistent.
    public var problem: (offset: Int, reason: String)?

    public static func == (a: SnapshotVerdict, b: SnapshotVerdict) -> Bool {
        a.path == b.path && a.position == b.position && a.problem?.offset == b.problem?.offset
            && a.problem?.reason == b.problem?.reason
    }
}

extension SnapshotStore {
    /// The log's chain hash after exactly `position` events: genesis at 0,
    /// the head hash at the head, else the hash of the batch that ends
    /// there; nil when no batch ends at `position`.
    public static func chainHash(of log: EventLog, at position: Position) throws -> ChainHash? {
        if position.value == 0 { return .genesis }
        if position == log.head { return log.headHash }
        struct Done: Error {}
        var hashes: [ChainHash] = []
        do {
            try log.scanWithChainHashes(from: Position(position.value - 1)) { _, hash in
                hashes.append(hash)
                if hashes.count == 2 { throw Done() }
            }
        } catch is Done {}
        // The event before `position` and the one at it must sit in two
        // different batches for a batch to end at `position`.
        guard hashes.count == 2, hashes[0] != hashes[1] else { return nil }
        return hashes[0]
    }

    /// Checks every snapshot file against `log`: checksum and structure,
    /// position within the log, the chain hash it recorded against the
    /// log's at that position, and that every model it holds decodes with
    /// this build (a model of another version is reported, not an error of
    /// the file, since replay then ignores it as documented).
    public func verifyAll(against log: EventLog) -> [SnapshotVerdict] {
        var out: [SnapshotVerdict] = []
        for (position, path) in files() {
            var v = SnapshotVerdict(path: path, position: position, problem: nil)
            defer { out.append(v) }
            guard let data = FileManager.default.contents(atPath: path) else {
                v.problem = (0, "cannot read the file")
                continue
            }
            let parsed: Parsed
            do { parsed = try Self.parse(Array(data)) } catch {
                let atEnd = error.message.hasPrefix("checksum")
                v.problem = (atEnd ? max(data.count - 4, 0) : 0, error.message)
                continue
            }
            guard parsed.position == position else {
                v.problem = (12, "holds position \(parsed.position), its name says \(position)")
                continue
            }
            guard position <= log.head else {
                v.problem = (12, "position \(position) is beyond the log's head \(log.head)")
                continue
            }
            if let h = parsed.chainHash {
                do {
                    guard let logHash = try Self.chainHash(of: log, at: position) else {
                        v.problem = (21, "no batch of the log ends at position \(position)")
                        continue
                    }
                    guard logHash == h else {
                        v.problem = (21, "chain hash \(h) differs from the log's \(logHash) at position \(position): a snapshot of another history")
                        continue
                    }
                } catch {
                    v.problem = (21, "cannot read the log at position \(position): \(error)")
                    continue
                }
            }
            guard let set = try? Projections.standard() else { continue }
            for p in set.projectors {
                guard let m = parsed.models.first(where: { $0.name == p.name }), m.version == p.snapshotVersion else { continue }
                var r = SnapshotReader(m.bytes)
                do throws(ProjectionError) {
                    try p.decodeSnapshot(from: &r)
                    guard r.isAtEnd else { throw ProjectionError(.badSnapshot, "trailing bytes") }
                } catch {
                    v.problem = (0, "model '\(p.name)' does not decode: \(error.message)")
                    break
                }
            }
        }
        return out
    }
}
