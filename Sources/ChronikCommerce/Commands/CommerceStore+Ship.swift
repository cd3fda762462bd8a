// The command that ships (EVENTS.md: "OrderShipped moves no stock by
// itself (the commerce command that ships appends both)").

/// What `CommerceStore.ship` appended: the `OrderShipped`, then one
/// `StockShipped` per shipment line, each with its stream.
public struct ShipResult: Sendable {
    public var order: AppendResult
    public var stock: [(stream: String, result: AppendResult)]
    /// The `StockShipped` events, in the order of `stock`.
    public var stockEvents: [ProposedEvent] = []

    /// Every part was already in the log: a retry of the whole command.
    public var wasDuplicate: Bool { order.wasDuplicate && stock.allSatisfy { $0.result.wasDuplicate } }
}

extension CommerceStore {
    /// Ships: appends `OrderShipped` to the order's stream and, for each of
    /// its lines, `StockShipped` (sku, the shipment's warehouse, qty, the
    /// order) to `stock-{sku}`, so that the order's reserved units leave
    /// the warehouse's stock as the order says they shipped.
    ///
    /// Checked before anything is written: the order's guards (it exists,
    /// it is not cancelled) when its `OrderShipped` goes in, and before
    /// that every line's units against what the order still holds reserved
    /// in that warehouse, per SKU (`overShipment`, field
    /// `data.lines[i].qty`). The streams are appended one after another —
    /// one append takes one stream — so the `StockShipped` ids are derived
    /// from `id` (`EventID.derived(from:_:_:)`): a retry of the command with
    /// the same id after a crash or a timeout completes what is missing and
    /// is an idempotent retry of what was written. A concurrent append
    /// between the check and a `StockShipped` (another shipment or release
    /// of the same reservation) can still refuse that `StockShipped` after
    /// the `OrderShipped` went in; the error says so, and the units are
    /// then not reserved for the order any more.
    ///
    /// - Throws: `CommerceError` as `append` (nothing written when the
    ///   check or the order's guard refuses), or a `ChronikLogError`.
    @discardableResult
    public func ship(_ shipped: OrderShipped, id: EventID = .random(), time: Timestamp = .now(),
                     meta: [(key: String, value: String)] = []) async throws -> ShipResult {
        try await ship(try CommerceEnvelope(.orderShipped(shipped), id: id, time: time, meta: meta))
    }

    /// `ship` of a parsed `OrderShipped` envelope (`POST /commands/ship`):
    /// the `StockShipped` take its time and meta.
    @discardableResult
    public func ship(_ order: CommerceEnvelope) async throws -> ShipResult {
        guard case .orderShipped(let shipped) = order.event else {
            throw CommerceError(.invalidEventType, field: "type", "ship takes an OrderShipped, got \(order.proposed.type)")
        }
        // The OrderShipped's envelope checked every field the StockShipped
        // take (sku, warehouseId, qty, orderId).
        let stock = try shipped.lines.enumerated().map { i, line in
            var e = try CommerceEnvelope(.stockShipped(StockShipped(sku: line.sku, warehouseId: shipped.warehouseId,
                                                                     qty: line.qty, orderId: shipped.orderId)),
                                         id: .derived(from: order.proposed.id, StockShipped.typeName, i), time: order.proposed.occurredAt)
            e.proposed.metadata = order.proposed.metadata
            return e
        }
        // Ships of one order take turns through this store, from the check
        // to the last StockShipped (stop 38, a checkout service: 4
        // concurrent ships of a 1-unit order each passed the check, each
        // appended its OrderShipped, 3 were then refused 422 overShipment,
        // and the orders model counted 4 shipped). A store is its
        // process's, and the log has one writing process.
        await shipping.begin(shipped.orderId)
        defer { shipping.end(shipped.orderId) }
        let written = Set(try await store.events(withIDs: [order.proposed.id] + stock.map(\.proposed.id)).map(\.id))
        // The order first: one not placed is `orderNotFound`, a cancelled one
        // `orderCancelled`, as the OrderShipped's own append would say (stop
        // 39, a merchandiser: an unknown order was refused as overShipment,
        // "order nope holds 0 reserved there").
        if !written.contains(order.proposed.id) {
            let current = try await currentState(of: order.stream)
            do throws(CommerceError) {
                try current.state.check(order.event, streamExists: current.version != nil)
            } catch {
                var refused = error
                refused.message += " (nothing was written)"
                throw refused
            }
        }
        // What is not in the log yet must fit what the order holds reserved.
        var states: [String: StreamState] = [:]
        for (i, e) in stock.enumerated() where !written.contains(e.proposed.id) {
            if states[e.stream] == nil { states[e.stream] = try await currentState(of: e.stream).state }
            do throws(CommerceError) {
                try states[e.stream]!.check(e.event, streamExists: true)
            } catch {
                var refused = error
                refused.field = "data.lines[\(i)].qty"
                refused.message += " (line \(i) of shipment \(shipped.shipmentId); nothing was written)"
                throw refused
            }
            states[e.stream]!.apply(e.event)
        }
        let orderResult = try await append([order])
        var results: [(stream: String, result: AppendResult)] = []
        for (i, e) in stock.enumerated() {
            do {
                results.append((e.stream, try await append([e])))
            } catch var refused as CommerceError {
                refused.field = "data.lines[\(i)].qty"
                refused.message += " (line \(i) of shipment \(shipped.shipmentId): its OrderShipped and the lines before it were appended; a concurrent append changed the reservation)"
                throw refused
            }
        }
        return ShipResult(order: orderResult, stock: results, stockEvents: stock.map(\.proposed))
    }
}
