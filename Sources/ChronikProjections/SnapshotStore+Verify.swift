import ChronikLog
import Foundation

/// What `chronik verify` found of one snapshot file.
public struct SnapshotVerdict: Sendable, Equatable {
    public struct Problem: Sendable, Equatable {
        /// Byte offset in the file (0 when it concerns the whole file).
        public var offset: Int
        public var reason: String
    }
    public var path: String
    public var position: Position
    /// Nil when the snapshot is consistent with the log.
    public var problem: Problem?
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
                v.problem = .init(offset: 0, reason: "cannot read the file")
                continue
            }
            let parsed: Parsed
            do { parsed = try Self.parse(Array(data)) } catch {
                let atEnd = error.message.hasPrefix("checksum")
                v.problem = .init(offset: atEnd ? max(data.count - 4, 0) : 0, reason: error.message)
                continue
            }
            guard parsed.position == position else {
                v.problem = .init(offset: 12, reason: "holds position \(parsed.position), its name says \(position)")
                continue
            }
            guard position <= log.head else {
                v.problem = .init(offset: 12, reason: "position \(position) is beyond the log's head \(log.head)")
                continue
            }
            if let h = parsed.chainHash {
                do {
                    guard let logHash = try Self.chainHash(of: log, at: position) else {
                        v.problem = .init(offset: 21, reason: "no batch of the log ends at position \(position)")
                        continue
                    }
                    guard logHash == h else {
                        v.problem = .init(offset: 21, reason: "chain hash \(h) differs from the log's \(logHash) at position \(position): a snapshot of another history")
                        continue
                    }
                } catch {
                    v.problem = .init(offset: 21, reason: "cannot read the log at position \(position): \(error)")
                    continue
                }
            }
            // Models of this build's versions must decode; another version is
            // what replay ignores, not damage.
            guard let set = try? Projections.standard() else { continue }
            let jobs = set.projectors.compactMap { p -> (any SnapshottableProjector, [UInt8])? in
                guard let m = parsed.models.first(where: { $0.name == p.name }), m.version == p.snapshotVersion else { return nil }
                return (p, m.bytes)
            }
            do throws(ProjectionError) { try Self.decode(jobs) } catch {
                v.problem = .init(offset: 0, reason: "a model does not decode: \(error.message)")
            }
        }
        return out
    }
}
