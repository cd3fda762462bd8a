import Foundation
import Testing
import ChronikLog
import ChronikCommerce
import ChronikProjections
@testable import ChronikAudit

@Suite struct SealedReplayTests {
    @Test func sessionIPsOpenedLazilyGiveTheModelAnEagerReplayWouldBuild() async throws {
        // Proves: replaying a sealed log (session IPs opened only when an order names the session) builds the same
        // fraud model, byte for byte, as folding the same events in plaintext; the IP signals fire; without the
        // key store they do not; and a snapshot + tail of the sealed replay equals the full one.
        let f = GDPRFixture()
        let log = try EventLog.open(at: f.logPath)
        let keys = try FileKeyStore(directory: f.keysPath)
        let shop = CommerceStore(log: log, protector: SubjectKeyVault(store: keys))
        let base = Timestamp(microseconds: 1_767_225_600_000_000)
        var plain: [CommerceEvent] = []
        var times: [Timestamp] = []
        func add(_ e: CommerceEvent, _ minute: Int64) async throws {
            let t = Timestamp(microseconds: base.microseconds + minute * 60_000_000)
            try await shop.append(e, time: t)
            plain.append(e)
            times.append(t)
        }
        let address = Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE")
        for i in 0..<7 {
            let c = "c-\(i)", s = "s-\(i)"
            try await add(.customerRegistered(CustomerRegistered(customerId: c, email: "p\(i)@example.org", name: "P \(i)",
                                                                 address: address, marketingConsent: false)), Int64(i * 10))
            // Every session from one IP but the last; one anonymous session that no order names.
            try await add(.sessionStarted(SessionStarted(sessionId: s, customerId: c, channel: "web",
                                                         ip: i < 6 ? "198.51.100.9" : "203.0.113.\(i)")), Int64(i * 10 + 1))
            try await add(.sessionStarted(SessionStarted(sessionId: "anon-\(i)", channel: "web", ip: "192.0.2.\(i)")), Int64(i * 10 + 2))
            try await add(.orderPlaced(OrderPlaced(orderId: "o-\(i)", customerId: c, sessionId: s,
                                                   lines: [OrderLine(sku: "sku-1", qty: 1, unitPrice: 2500)],
                                                   currency: "EUR", shippingAddress: address)), Int64(i * 10 + 3))
        }
        // The reference: the same events folded in plaintext.
        let reference = FraudProjector()
        for (i, e) in plain.enumerated() {
            try reference.apply(ProjectedEvent(position: Position(UInt64(i)), occurredAt: times[i], event: e))
        }
        var refBytes = SnapshotWriter()
        reference.encodeSnapshot(into: &refBytes)

        let (sealed, _) = try Replayer.rebuild(log, only: ["fraud"], useSnapshots: false, protector: shop.protector)
        var sealedBytes = SnapshotWriter()
        sealed.fraud!.encodeSnapshot(into: &sealedBytes)
        #expect(sealedBytes.bytes == refBytes.bytes)
        let ipReasons = Set(sealed.fraud!.top(10).flatMap { $0.reasons.map(\.code) }).intersection([.ipOrderVelocity, .sharedIP])
        #expect(!ipReasons.isEmpty)
        #expect(sealed.fraud!.score(order: "o-5") == reference.score(order: "o-5"))

        let (blind, _) = try Replayer.rebuild(log, only: ["fraud"], useSnapshots: false, protector: nil)
        #expect(Set(blind.fraud!.top(10).flatMap { $0.reasons.map(\.code) }).intersection([.ipOrderVelocity, .sharedIP]).isEmpty)

        // Snapshot at a middle position + tail == full, with the sealed path.
        let half = try Projections.standard(only: ["fraud"])
        half.protector = shop.protector
        try Replayer.replay(log, into: half, upTo: Position(UInt64(plain.count / 2)))
        let store = SnapshotStore(logDirectory: log.directory)
        let info = try store.write(half, log: log)
        #expect(info.position.value == UInt64(plain.count / 2))
        let (resumed, report) = try Replayer.rebuild(log, only: ["fraud"], protector: shop.protector)
        #expect(report.snapshot?.position == info.position)
        var resumedBytes = SnapshotWriter()
        resumed.fraud!.encodeSnapshot(into: &resumedBytes)
        #expect(resumedBytes.bytes == refBytes.bytes)
        try log.close()
    }
}
