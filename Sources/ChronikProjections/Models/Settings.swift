import ChronikLog
import ChronikCommerce

/// One site setting as of some time.
public struct SettingRecord: Sendable, Equatable {
    public var key: String
    public var value: String
    public var actor: String
    /// The `time` of the SettingChanged that set this value.
    public var changedAt: Timestamp
    /// How many SettingChanged of the key count (all of them, or with
    /// `--at` those with `time` ≤ that time).
    public var changes: Int
}

/// Settings: per key the latest SettingChanged (log order), and the value
/// as of any time.
///
/// Keeps every change (settings change rarely): `--at` needs the history.
public final class SettingsProjector: SnapshottableProjector {
    public let name = "settings"
    public let snapshotVersion: UInt32 = 1

    struct Change {
        var value: String
        var actor: String
        var time: Timestamp
    }

    /// Per key, its changes in log order.
    @exclusivity(unchecked)
    var history: [String: [Change]] = [:]

    public init() {}

    public func apply(_ e: ProjectedEvent) throws(ProjectionError) {
        guard case .settingChanged(let s) = e.event else { return }
        history[s.key, default: []].append(Change(value: s.value, actor: s.actor, time: e.occurredAt))
    }

    /// The key as of `at` (the latest SettingChanged, in log order, with
    /// `time` ≤ `at`), or now; nil when unset then.
    public func setting(_ key: String, at: Timestamp? = nil) -> SettingRecord? {
        guard let changes = history[key] else { return nil }
        guard let at else {
            let last = changes[changes.count - 1]
            return SettingRecord(key: key, value: last.value, actor: last.actor, changedAt: last.time,
                                 changes: changes.count)
        }
        var found: Change?
        var count = 0
        for c in changes where c.time <= at {
            found = c
            count += 1
        }
        return found.map { SettingRecord(key: key, value: $0.value, actor: $0.actor, changedAt: $0.time, changes: count) }
    }

    /// Every key set (as of `at`), sorted by key.
    public func list(at: Timestamp? = nil) -> [SettingRecord] {
        history.keys.sorted().compactMap { setting($0, at: at) }
    }

    public func encodeSnapshot(into w: inout SnapshotWriter) {
        w.dictionary(history, key: { $0.string($1) }, value: { w, cs in
            w.array(cs) { w, c in w.string(c.value); w.string(c.actor); w.timestamp(c.time) }
        })
    }

    public func decodeSnapshot(from r: inout SnapshotReader) throws(ProjectionError) {
        typealias R = SnapshotReader
        history = try r.dictionary(key: { (r: inout R) throws(ProjectionError) in try r.string() },
                                   value: { (r: inout R) throws(ProjectionError) in
            try r.array { (r: inout R) throws(ProjectionError) in
                Change(value: try r.string(), actor: try r.string(), time: try r.timestamp())
            }
        })
    }
}

extension SettingsProjector: FoldsOnlySomeTypes {
    var foldedTypes: [CommerceEventType] { [.settingChanged] }
}
