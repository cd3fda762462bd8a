import ChronikLog
import PostgresNIO
import Logging

extension PostgresStore {
    /// What `verify` checked.
    public struct VerifyReport: Sendable, Equatable {
        public var events: UInt64
        public var batches: UInt64
        /// Chain hash of the last batch (genesis when empty).
        public var headChain: ChainHash
    }

    /// Reads every batch and event in position order and recomputes what
    /// the rows promise: dense positions, batches that tile them, each
    /// stream's versions 0, 1, 2…, every event's CRC, every batch's chain
    /// hash, and the head row. The first disagreement is thrown with the
    /// table and position (`corruption` or `chainMismatch`).
    public func verify(pageSize: Int = 10_000) async throws -> VerifyReport {
        // Every read in one snapshot, on a connection of its own (stop 43, a
        // helper: beside appends, the head row read last was ahead of the
        // rows read before it, and a healthy store failed with
        // chainMismatch; the reader connection is shared with other reads,
        // which must not see an old snapshot).
        let slot = ConnectionSlot(location: location, logger: logger)
        do {
            let report = try await slot.read { [logger, location] conn in
                _ = try await conn.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                let report = try await Self.verify(on: conn, pageSize: pageSize, logger: logger, location: location)
                _ = try await conn.query("COMMIT", logger: logger)
                return report
            }
            await slot.close()
            return report
        } catch {
            await slot.close()
            throw error
        }
    }

    private static func verify(on conn: PostgresConnection, pageSize: Int, logger: Logger, location: Location) async throws -> VerifyReport {
        var chain = ChainHash.genesis.bytes
        var next: UInt64 = 0
        var batches: UInt64 = 0
        var versions: [String: UInt64] = [:]
        func broken(_ code: ChronikLogError.Code, _ table: String, _ position: UInt64, _ why: String) -> ChronikLogError {
            ChronikLogError(code, "\(table) position \(position): \(why)", path: table, offset: Int64(position))
        }
        while true {
            let pageRows = try await conn.query("""
                SELECT first_position, event_count, chain FROM chronik_batches
                WHERE first_position >= \(Int64(next)) ORDER BY first_position LIMIT \(Int64(pageSize))
                """, logger: logger)
            var page: [(Int64, Int32, ByteBuffer)] = []
            for try await row in pageRows.decode((Int64, Int32, ByteBuffer).self) { page.append(row) }
            if page.isEmpty { break }
            let last = page[page.count - 1]
            let through = UInt64(last.0) + UInt64(last.1)
            let events = try await readAll(on: conn, from: Position(next), limit: Int(through - next), logger: logger)
            var i = 0
            for (first, count, storedChain) in page {
                guard UInt64(first) == next else {
                    throw broken(.corruption, "chronik_batches", next, "the batch starting here is missing (next batch starts at \(first))")
                }
                guard count >= 1, i + Int(count) <= events.count else {
                    throw broken(.corruption, "chronik_events", next, "batch of \(count) events is missing events")
                }
                let batch = events[i..<(i + Int(count))]
                var digests: [[UInt8]] = []
                for (k, e) in batch.enumerated() {
                    guard e.position.value == next + UInt64(k) else {
                        throw broken(.corruption, "chronik_events", next + UInt64(k), "missing (found \(e.position))")
                    }
                    guard e.stream == batch.first!.stream, e.recordedAt == batch.first!.recordedAt,
                          e.version.value == batch.first!.version.value + UInt64(k) else {
                        throw broken(.corruption, "chronik_events", e.position.value, "stream, version or time differs from its batch's")
                    }
                    digests.append(EventCanon.digest(EventCanon.canonical(e)))
                }
                let head = batch.first!
                let expectedVersion = versions[head.stream].map { $0 + 1 } ?? 0
                guard head.version.value == expectedVersion else {
                    throw broken(.corruption, "chronik_events", head.position.value, "stream '\(head.stream)' version \(head.version), expected \(expectedVersion)")
                }
                versions[head.stream] = head.version.value + UInt64(count) - 1
                chain = EventCanon.chain(previous: chain, firstPosition: next, firstVersion: head.version.value,
                                         recordedAt: head.recordedAt.microseconds, digests: digests)
                guard chain == Array(storedChain.readableBytesView) else {
                    throw broken(.chainMismatch, "chronik_batches", next, "chain hash differs from the one recomputed from the rows: a row of this batch (or an earlier one) was changed outside Chronik")
                }
                next += UInt64(count)
                i += Int(count)
                batches += 1
            }
            guard i == events.count else {
                throw broken(.corruption, "chronik_events", next, "event outside any batch")
            }
        }
        var head: (Int64, ByteBuffer)?
        for try await row in try await conn.query("SELECT next_position, last_chain FROM chronik_head WHERE id = 1", logger: logger)
            .decode((Int64, ByteBuffer).self) { head = row }
        guard let (headNext, headChain) = head else { throw ChronikLogError(.notALog, "\(location): no chronik_head row") }
        guard UInt64(headNext) == next, Array(headChain.readableBytesView) == chain else {
            throw broken(.chainMismatch, "chronik_head", next, "head row says next position \(headNext), the rows end at \(next) (or its chain hash differs)")
        }
        let extra = try await readAll(on: conn, from: Position(next), limit: 1, logger: logger)
        if let e = extra.first {
            throw broken(.corruption, "chronik_events", e.position.value, "event past the head")
        }
        // An id stored twice (stop 35: with the unique index dropped by
        // hand, retries appended again and verify passed).
        var twice: (Int64, Int64)?
        for try await row in try await conn.query("""
            SELECT min(position), max(position) FROM chronik_events GROUP BY id HAVING count(*) > 1 ORDER BY 2 LIMIT 1
            """, logger: logger).decode((Int64, Int64).self) { twice = row }
        if let (first, second) = twice {
            throw broken(.corruption, "chronik_events", UInt64(second), "the event id of position \(first) is stored again here")
        }
        // Each stream's row in chronik_streams, which the next append's
        // version comes from (stop 35: an edited row went unseen until the
        // next append wrote a gap, or every append failed).
        var rows: [(String, Int64)] = []
        for try await row in try await conn.query("SELECT stream, last_version FROM chronik_streams", logger: logger)
            .decode((String, Int64).self) { rows.append(row) }
        var listed = 0
        for (stream, last) in rows.sorted(by: { $0.0 < $1.0 }) {
            guard let v = versions[stream], Int64(v) == last else {
                throw ChronikLogError(.corruption, "chronik_streams row '\(stream)': last version \(last), its events end at "
                                      + (versions[stream].map { "version \($0)" } ?? "no event (the stream has none)"), path: "chronik_streams")
            }
            listed += 1
        }
        if listed != versions.count, let missing = versions.keys.sorted().first(where: { s in !rows.contains { $0.0 == s } }) {
            throw ChronikLogError(.corruption, "chronik_streams has no row for stream '\(missing)' (its events end at version \(versions[missing]!))",
                                  path: "chronik_streams")
        }
        return VerifyReport(events: next, batches: batches, headChain: ChainHash(bytes: chain))
    }
}
