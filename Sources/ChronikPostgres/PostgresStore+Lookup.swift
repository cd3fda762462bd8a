import ChronikLog
import PostgresNIO

// The `EventStore` look-ups that commerce commands need beside the plain
// reads: a stream's last version (what the guards decide on) and events by
// id (an idempotent retry). Both read the events table itself, through its
// unique indexes (stream, version) and (id), so they hold whatever the
// append function's bookkeeping tables look like.
extension PostgresStore {
    public func lastVersion(of stream: String) async throws -> StreamVersion? {
        try await readerConnection.read { [logger] conn in
            let rows = try await conn.query("SELECT max(version) FROM chronik_events WHERE stream = \(stream)", logger: logger)
            for try await v in rows.decode(Int64?.self) { return v.map { StreamVersion(UInt64($0)) } }
            return nil
        }
    }

    public func events(withIDs ids: [EventID]) async throws -> [RecordedEvent] {
        guard !ids.isEmpty else { return [] }
        let uuids = ids.map(\.uuid)
        return try await readerConnection.read { [logger] conn in
            let rows = try await conn.query("""
                SELECT position, stream, version, id, type, occurred_at, recorded_at, meta, data, crc
                FROM chronik_events WHERE id = ANY(\(uuids)) ORDER BY position
                """, logger: logger)
            return try await Self.decode(rows)
        }
    }
}
