import Testing
@testable import ChronikCommerce

@Suite struct SchemaTests {
    @Test func piiFieldsAreMarkedAsInTheSpec() {
        // Proves the PII marks (the hook for per-customer encryption) match EVENTS.md exactly.
        var pii: [String: [String]] = [:]
        for t in CommerceEventType.allCases where !t.schema.piiFieldPaths.isEmpty {
            pii[t.rawValue] = t.schema.piiFieldPaths
        }
        let address = ["line1", "line2", "city", "postalCode", "country"]
        func under(_ prefix: String) -> [String] { address.map { prefix + "." + $0 } }
        var expected: [String: [String]] = [:]
        expected["CustomerRegistered"] = ["email", "name", "phone"] + under("address")
        expected["CustomerUpdated"] = ["email", "name", "phone"]
        expected["AddressChanged"] = under("address")
        expected["SupportInteraction"] = ["summary"]
        expected["OrderPlaced"] = under("shippingAddress") + under("billingAddress") + ["ip"]
        expected["SessionStarted"] = ["ip"]
        #expect(pii == expected)
    }

    @Test func piiSubjectIsTheCustomerOrTheSession() {
        // Proves whose key protects PII: the customer's, or an anonymous session's own.
        #expect(CommerceEvent.sessionStarted(SessionStarted(sessionId: "s", channel: "web")).piiSubject == "s")
        #expect(CommerceEvent.sessionStarted(SessionStarted(sessionId: "s", customerId: "c", channel: "web")).piiSubject == "c")
        #expect(CommerceEvent.pageViewed(PageViewed(sessionId: "s", path: "/")).piiSubject == nil)
    }

    @Test func schemaDescribesFieldsInBinaryOrder() {
        // Proves the schema lists fields in visit (binary) order with kinds and optionality.
        let s = CommerceEventType.orderPlaced.schema
        #expect(s.fields.map(\.name) == ["orderId", "customerId", "sessionId", "lines", "currency", "discount", "shippingFee",
                                         "shippingAddress", "billingAddress", "ip", "channel"])
        #expect(s.fields[5].kind == "money(>=0) default 0" && s.fields[5].isOptional)
        #expect(s.fields[10].kind == "enum(web|app|marketplace)")
        #expect(s.schemaVersion == 1)
    }
}
