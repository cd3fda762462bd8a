// "A gatewayRef appears once per gateway: the same line again with the
// same content is an idempotent no-op, with other content an error"
// (EVENTS.md v1.2). The lines of one gateway are spread over its payout
// streams, so the rule needs an index across streams: every
// SettlementLineReported of the log by (gateway, gatewayRef), kept up to
// date by scanning only what was appended since the last look.

import Synchronization

/// The settlement lines of a log by (gateway, gatewayRef).
///
/// Like the forgotten-customer rule, this is checked, not locked: a line
/// appended by another process between the check and the append is not
/// seen (the CLI holds the log's writer lock, so it cannot happen there).
public final class SettlementIndex: Sendable {
    /// Where a line is and its stored data (the content compared).
    public struct Entry: Sendable, Hashable {
        public var position: Position
        public var data: [UInt8]
    }

    /// What a proposed line is, against the log.
    public enum Verdict: Sendable, Hashable {
        /// No line of the gateway has this gatewayRef.
        case new
        /// The same line is in the log already: appending it is a no-op.
        case same(Position)
    }

    private struct State {
        var scannedTo: Position = .start
        var lines: [String: Entry] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    static func key(_ gateway: String, _ gatewayRef: String) -> String { gateway + "\u{0}" + gatewayRef }

    /// Brings the index up to the log's head (reads only new events).
    public func refresh(_ log: EventLog) throws {
        let from = state.withLock { $0.scannedTo }
        var found: [(String, Entry)] = []
        var end = from
        try log.scan(from: from) { view in
            end = Position(view.position.value + 1)
            guard view.type == SettlementLineReported.typeName else { return }
            try Self.note(type: view.type, data: Array(view.data), at: view.position, in: &found)
        }
        record(found, scannedFrom: from, to: end)
    }

    /// Brings the index up to the head of any store: a local log is
    /// scanned in place (no copy of the events that are not settlement
    /// lines), another store read in pages of `pageSize`.
    public func refresh(reading store: any EventStore) async throws {
        if let log = store as? EventLog { return try refresh(log) }
        let from = state.withLock { $0.scannedTo }
        var found: [(String, Entry)] = []
        var end = from
        while true {
            let page = try await store.readAll(from: end, limit: Self.pageSize)
            for e in page {
                end = Position(e.position.value + 1)
                if e.type == SettlementLineReported.typeName { try Self.note(type: e.type, data: e.data, at: e.position, in: &found) }
            }
            if page.count < Self.pageSize { break }
        }
        record(found, scannedFrom: from, to: end)
    }

    /// Events read per round trip from a store other than a local log.
    static let pageSize = 4096

    private static func note(type: String, data: [UInt8], at position: Position, in found: inout [(String, Entry)]) throws {
        guard case .settlementLineReported(let l) = try CommerceEvent.decode(type: type, data: data) else { return }
        found.append((key(l.gateway, l.gatewayRef), Entry(position: position, data: data)))
    }

    private func record(_ found: [(String, Entry)], scannedFrom from: Position, to end: Position) {
        state.withLock { s in
            guard s.scannedTo == from else { return } // another caller refreshed meanwhile
            for (k, e) in found where s.lines[k] == nil { s.lines[k] = e }
            s.scannedTo = end
        }
    }

    /// Decides one line against the log (after `refresh`).
    ///
    /// - Throws: `duplicateGatewayRef` when the gateway reported the
    ///   gatewayRef with other content.
    public func verdict(_ line: SettlementLineReported, data: [UInt8]) throws(CommerceError) -> Verdict {
        guard let e = state.withLock({ $0.lines[Self.key(line.gateway, line.gatewayRef)] }) else { return .new }
        guard e.data == data else {
            throw CommerceError(.duplicateGatewayRef, field: "data.gatewayRef",
                                "\(line.gateway) already reported gatewayRef \(line.gatewayRef) (position \(e.position)) with other content")
        }
        return .same(e.position)
    }
}
