import Foundation
import Testing
@testable import ChronikCommerce

/// Throughput checks against issue 3's targets. Meaningful only in a release
/// build, so they run only with CHRONIK_PERF=1:
///   swift build -c release --build-tests --scratch-path .build-commerce-rel
///   CHRONIK_PERF=1 swift test -c release --scratch-path .build-commerce-rel \
///     --skip-build --filter PerformanceTests
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CHRONIK_PERF"] == "1"), .serialized)
struct PerformanceTests {
    /// A shop-like mix: mostly session and stock events, some orders.
    static func mix() throws -> [CommerceEnvelope] {
        let weights: [String: Int] = ["PageViewed": 30, "ProductViewed": 20, "SearchPerformed": 8, "CartItemAdded": 8,
                                      "SessionStarted": 5, "StockReserved": 5, "StockShipped": 4, "OrderPlaced": 4,
                                      "PaymentAuthorized": 4, "PaymentCaptured": 4, "OrderShipped": 3, "PriceChanged": 2,
                                      "OrderDelivered": 3]
        var out: [CommerceEnvelope] = []
        for (type, data) in sampleData {
            for _ in 0..<(weights[type] ?? 1) { out.append(try parse(importLine(type, data, extra: #","meta":{"correlationId":"k-1"}"#))) }
        }
        return out
    }

    static func rate(_ n: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return Double(n) / s
    }

    @Test func typedDecodeReachesFiveMillionPerSecond() throws {
        // Proves typed decode of a shop-like mix runs at ≥ 5,000,000 events/s on one core.
        let events = try Self.mix().map { recorded($0, position: 0, version: 0) }
        let rounds = 20_000
        var sink = 0
        let r = try Self.rate(rounds * events.count) {
            for _ in 0..<rounds {
                for e in events {
                    if case .unknown = try e.commerce { sink += 1 }
                }
            }
        }
        print("typed decode: \(Int(r)) events/s (\(events.count)-event mix, sink \(sink))")
        #expect(r >= 5_000_000)
    }

    @Test func jsonLineParseIsWellAboveTheImportTarget() throws {
        // Proves parsing + validating + encoding JSON lines runs well above the 300,000 events/s import target (≥ 3× headroom).
        let lines = try Self.mix().map { try CommerceExport.line(for: recorded($0, position: 0, version: 0)) }.map { Array($0.utf8) }
        let rounds = 500
        var bytes = 0
        let r = try Self.rate(rounds * lines.count) {
            for _ in 0..<rounds {
                for l in lines { bytes &+= try CommerceEnvelope.parse(line: l).proposed.data.count }
            }
        }
        print("JSON line parse: \(Int(r)) events/s (\(lines.count)-line mix, \(bytes) bytes)")
        #expect(r >= 900_000)
    }

    @Test func exportRate() throws {
        // Proves export of the mix runs at ≥ 300,000 lines/s (the export side of the import target).
        let events = try Self.mix().map { recorded($0, position: 0, version: 0) }
        let rounds = 500
        var w = JSONWriter(capacity: 1 << 20)
        let r = try Self.rate(rounds * events.count) {
            for _ in 0..<rounds {
                w.bytes.removeAll(keepingCapacity: true)
                for e in events { try CommerceExport.write(e, to: &w); w.byte(10) }
            }
        }
        print("export: \(Int(r)) lines/s")
        #expect(r >= 300_000)
    }
}
