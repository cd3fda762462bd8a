// Subject access (GDPR art. 15): everything the log holds about one
// customer, as one JSON document.

import ChronikLog
import ChronikCommerce

/// What `chronik subject-export customer ID` prints.
public enum SubjectAccess {
    /// Keys removed from every event's data: card data is never handed out,
    /// not even as a gateway token.
    static let cardFields: Set<String> = ["cardToken", "token"]

    /// Reads the whole log once and collects, in log order, every event of
    /// the customer's stream, of each order the customer placed (all its
    /// payments, shipments, refunds, returns) and of each session started
    /// under the customer id, with personal data opened by `protector`
    /// (`null` where erased).
    ///
    /// The document: `customerId`, `erased` (the key is destroyed),
    /// `profile` (latest email, name, phone, address, marketingConsent),
    /// `orders` and `sessions` (ids), `events` (export lines as objects, card
    /// tokens removed).
    /// - Throws: log errors (corruption with file and offset), decode errors.
    public static func export(customerId: String, from log: EventLog, protector: (any PIIProtector)?) throws -> JSONValue {
        let customerStream = "customer-" + customerId
        // A forgotten customer's data reads as erased even while the key
        // is still in the key store (a forget whose key removal failed, a
        // key store restored from a backup): the log's CustomerForgotten
        // decides (stop 34: the profile was printed beside "forgotten").
        var orderStreams: Set<String> = []
        // The anonymous sessions the customer's orders name are theirs too
        // (an order's IP is its session's; stop 36: a subject export left
        // out the session a customer ordered from). Found first: a session
        // starts before the order that names it.
        let linked = try SessionLinks().sessions(of: customerId, in: log)
        // Those sessions' keys go with the customer's (stop 39: with a
        // session key restored, a forgotten customer's export showed the IP).
        var protector = protector
        if let base = protector, try log.read(stream: customerStream).collect().contains(where: { $0.type == "CustomerForgotten" }) {
            protector = ForgottenSubject(base: base, subjects: Set([PIISubject.customer(customerId)] + linked.map(PIISubject.session)))
        }
        var sessionStreams = Set(linked.map { "session-" + $0 })
        var orders: [String] = []
        var sessions: [String] = []
        var events: [JSONValue] = []
        var profile: [String: JSONValue] = [:]
        var erased = false
        var found = false

        let cursor = log.readAll()
        while let e = try cursor.next() {
            var include = e.stream == customerStream || orderStreams.contains(e.stream) || sessionStreams.contains(e.stream)
            // Order and session streams are found by their first event.
            if !include, e.type == "OrderPlaced" || e.type == "SessionStarted" {
                let typed = try CommerceEvent.decode(type: e.type, data: e.data)
                if case .orderPlaced(let o) = typed, o.customerId == customerId {
                    orderStreams.insert(e.stream); orders.append(o.orderId); include = true
                } else if case .sessionStarted(let s) = typed, s.customerId == customerId {
                    sessionStreams.insert(e.stream); sessions.append(s.sessionId); include = true
                }
            } else if include, e.type == "SessionStarted", case .sessionStarted(let s) = try CommerceEvent.decode(type: e.type, data: e.data),
                      linked.contains(s.sessionId) {
                sessions.append(s.sessionId)
            }
            guard include else { continue }
            found = true
            let (typed, pii) = try CommerceEvent.decode(type: e.type, data: e.data, protector: protector)
            if pii == .erased { erased = true }
            if e.stream == customerStream { fold(typed, pii: pii, into: &profile) }
            let line = try CommerceExport.line(for: e, protector: protector)
            events.append(strippingCardData(try JSONValue.parse(Array(line.utf8))))
        }
        guard found else {
            throw CommerceError(.invalidData, field: "customerId", "the log holds nothing about customer \(customerId)")
        }
        // The same keys for every customer (stop 34: `forgotten` was there
        // only for a forgotten one).
        profile["forgotten"] = profile["forgotten"] ?? .bool(false)
        let profileKeys = ["email", "name", "phone", "address", "marketingConsent", "forgotten"]
        return .object([
            JSONMember("customerId", .string(customerId)),
            JSONMember("erased", .bool(erased)),
            JSONMember("profile", .object(profileKeys.compactMap { k in profile[k].map { JSONMember(k, $0) } })),
            JSONMember("orders", .array(orders.map(JSONValue.string))),
            JSONMember("sessions", .array(sessions.map(JSONValue.string))),
            JSONMember("events", .array(events)),
        ])
    }

    /// Opens nothing of `subjects` (read as erased); the others through `base`.
    struct ForgottenSubject: PIIProtector {
        let base: any PIIProtector
        let subjects: Set<String>

        func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
            try base.seal(plaintext, subject: subject, context: context)
        }

        func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
            subjects.contains(subject) ? nil : try base.open(sealed, subject: subject, context: context)
        }

        func destroyKey(subject: String) throws { try base.destroyKey(subject: subject) }
    }

    static func fold(_ event: CommerceEvent, pii: PIIState, into p: inout [String: JSONValue]) {
        let gone = pii == .erased
        func text(_ s: String?) -> JSONValue { gone ? .null : s.map(JSONValue.string) ?? .null }
        func address(_ a: Address) -> JSONValue {
            if gone { return .null }
            var m = [JSONMember("line1", .string(a.line1))]
            if let l2 = a.line2 { m.append(JSONMember("line2", .string(l2))) }
            m += [JSONMember("city", .string(a.city)), JSONMember("postalCode", .string(a.postalCode)),
                  JSONMember("country", .string(a.country))]
            return .object(m)
        }
        switch event {
        case .customerRegistered(let c):
            p["email"] = text(c.email); p["name"] = text(c.name); p["phone"] = text(c.phone)
            p["address"] = address(c.address); p["marketingConsent"] = .bool(c.marketingConsent)
        case .customerUpdated(let c):
            if gone { p["email"] = .null; p["name"] = .null; p["phone"] = .null; break }
            if let v = c.email { p["email"] = .string(v) }
            if let v = c.name { p["name"] = .string(v) }
            if let v = c.phone { p["phone"] = .string(v) }
        case .addressChanged(let c): p["address"] = address(c.address)
        case .consentChanged(let c): p["marketingConsent"] = .bool(c.marketingConsent)
        case .customerForgotten: p["forgotten"] = .bool(true)
        default: break
        }
    }

    static func strippingCardData(_ line: JSONValue) -> JSONValue {
        guard case .object(let members) = line else { return line }
        return .object(members.map { m in
            guard m.key == "data", case .object(let fields) = m.value else { return m }
            return JSONMember("data", .object(fields.filter { !cardFields.contains($0.key) }))
        })
    }
}
