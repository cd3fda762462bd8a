// The anonymous sessions a customer's orders name. An order's IP is its
// session's: a session started without a customer id (sealed under the
// session's own key) becomes the customer's personal data once one of
// their orders names it (stop 36, a security review: after an erasure the
// order's `ip` read null, while its `sessionId`, in clear, led to the
// session, whose IP and browsing still read in clear).

import ChronikCommerce
import ChronikLog
import Synchronization

/// `OrderPlaced.sessionId`s per customer, read from a log incrementally:
/// each call reads only what was appended since the last one.
public final class SessionLinks: Sendable {
    private let state = Mutex<(next: Position, byCustomer: [String: Set<String>])>((.start, [:]))

    public init() {}

    /// The sessions the orders of `customerId` name, up to the log's head.
    public func sessions(of customerId: String, in log: EventLog) throws -> Set<String> {
        try state.withLock { s in
            let orderPlaced = OrderPlaced.typeName
            _ = try log.scan(from: s.next) { view in
                s.next = Position(view.position.value + 1)
                guard view.type == orderPlaced,
                      case .orderPlaced(let o) = try CommerceEvent.decode(type: view.type, bytes: view.data),
                      let session = o.sessionId else { return }
                s.byCustomer[o.customerId, default: []].insert(session)
            }
            return s.byCustomer[customerId] ?? []
        }
    }
}
