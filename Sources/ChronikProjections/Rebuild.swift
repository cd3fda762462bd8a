import ChronikCommerce
import ChronikLog
import Foundation

/// What a rebuild did, phase by phase.
public struct RebuildReport: Sendable {
    /// The snapshot the models started from, if any.
    public var snapshot: SnapshotInfo?
    /// Why snapshots were skipped (corrupt, other version, beyond the head).
    public var messages: [String]
    /// Loading the snapshot: `events` = the events it stands for.
    public var snapshotLoad: ReplayStats
    /// Replaying the log after the snapshot (or all of it).
    public var tail: ReplayStats
    /// Both phases: `events` = the position the models are at.
    public var total: ReplayStats
    /// Undecodable events left out (`skipUndecodable`), all after the
    /// snapshot: a snapshot is only ever written by a replay that skipped
    /// nothing (`chronik snapshot` has no skip option), so it never hides
    /// a skip.
    public var skipped: [SkippedEvent] { tail.skipped }
}

extension Replayer {
    /// Builds the read models (all, or those `only` names and their
    /// dependencies) at the log's head: from the newest valid snapshot
    /// plus the tail, or from the start with `useSnapshots: false`.
    ///
    /// - Throws: `ProjectionError` of the replay (position and type of the
    ///   event that stopped it), or `unknownModel`.
    public static func rebuild(_ log: EventLog, only: [String]? = nil, useSnapshots: Bool = true,
                               parallel: Bool = true, protector: (any PIIProtector)? = nil,
                               skipUndecodable: Bool = false,
                               progress: ((UInt64, UInt64) -> Void)? = nil)
        throws(ProjectionError) -> (set: ProjectionSet, report: RebuildReport) {
        let clock = ContinuousClock()
        let started = clock.now
        var set: ProjectionSet
        var info: SnapshotInfo?
        var messages: [String] = []
        if useSnapshots {
            (set, info, messages) = try SnapshotStore(logDirectory: log.directory).loadNewest(only: only, log: log)
        } else {
            set = try Projections.standard(only: only)
        }
        set.protector = protector
        let loaded = ReplayStats(events: Int(set.position.value), duration: clock.now - started)
        let tail = try replay(log, into: set, parallel: parallel, skipUndecodable: skipUndecodable, progress: progress)
        let total = ReplayStats(events: Int(set.position.value), duration: clock.now - started)
        return (set, RebuildReport(snapshot: info, messages: messages, snapshotLoad: loaded, tail: tail, total: total))
    }
}
