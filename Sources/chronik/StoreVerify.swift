import ArgumentParser
import ChronikLog
import ChronikPostgres

extension Verify {
    /// `chronik verify --store postgres://…`: every event's CRC, the chain
    /// of every batch, dense positions and versions, the head row
    /// (PostgresStore.verify). Damage is told on stdout with table and
    /// position; exit 1.
    func verifyStore(_ url: String) async throws {
        let store: PostgresStore
        do { store = try PostgresStore(url: url) } catch let e as ChronikLogError { throw ValidationError(e.message) }
        let out = Output()
        do {
            let r = try await store.verify()
            if options.json {
                try out.line(encoding: CleanStoreReport(store: "\(store.location)", batches: r.batches, events: r.events,
                                                        headPosition: r.events, headHash: r.headChain.description))
            } else {
                out.line("verified \(store.location): \(r.batches) batches, \(r.events) events")
                out.line("  CRCs, positions, stream versions, hash chain from genesis, head row")
                out.line("  head position \(r.events), head hash \(r.headChain)")
            }
            out.flush()
            await store.close()
        } catch let e as ChronikLogError where e.code == .corruption || e.code == .chainMismatch {
            await store.close()
            if options.json {
                try out.line(encoding: DamagedStoreReport(store: "\(store.location)", table: e.path ?? "", position: e.offset ?? -1,
                                                          code: "\(e.code)"))
            } else {
                out.line("damage: \(e.message)")
            }
            out.flush()
            throw CommandFailure("\(store.location) failed verification (\(e.code))")
        } catch {
            await store.close()
            throw error
        }
    }
}

/// `verify --store URL --json` of a clean store.
struct CleanStoreReport: Encodable {
    var store: String
    var clean = true
    var batches: UInt64
    var events: UInt64
    var headPosition: UInt64
    var headHash: String
}

/// `verify --store URL --json` of a damaged store: the table and position
/// of the first damage and its code.
struct DamagedStoreReport: Encodable {
    var store: String
    var clean = false
    var table: String
    var position: Int64
    var code: String
}
