import ChronikLog
import ChronikPostgres
import Foundation

/// `ChronikPostgresChild bench URL LOGDIR`: the figures of docs/POSTGRES.md,
/// "Measured". Each workload runs 3 times against the PostgreSQL store and
/// the embedded log (fsync durability) in LOGDIR; prints the medians and
/// their ratio. Benchmarks/postgres-bench.sh sets up the primary and the
/// synchronous standby and calls this.
enum Bench {
    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// Events per second of `batches` sequential 1,000-event batches.
    static func batches(_ store: any EventStore, batches: Int, tag: String) async throws -> Double {
        let start = ContinuousClock.now
        for b in 0..<batches {
            let events = (0..<1000).map { i in ProposedEvent(type: "Tick", data: Array("{\"b\":\(b),\"i\":\(i),\"pad\":\"0123456789abcdef0123456789abcdef\"}".utf8)) }
            _ = try await store.append(to: "\(tag)-\(b % 16)", events, expected: .any)
        }
        return Double(batches * 1000) / seconds(ContinuousClock.now - start)
    }

    /// Events per second of `appenders` concurrent single-event appenders.
    static func concurrent(_ store: any EventStore, appenders: Int, each: Int, tag: String) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for a in 0..<appenders {
                group.addTask {
                    for i in 0..<each {
                        _ = try await store.append(to: "\(tag)-\(a)", [ProposedEvent(type: "Tick", data: Array("{\"a\":\(a),\"i\":\(i)}".utf8))], expected: .any)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(appenders * each) / seconds(ContinuousClock.now - start)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func run(url: String, logDirectory: String) async throws {
        let pg = try PostgresStore(url: url)
        try await pg.migrate()
        try? FileManager.default.removeItem(atPath: logDirectory)
        let log = try EventLog.open(at: logDirectory)
        defer { try? log.close() }
        var rows: [(String, [Double], [Double])] = []
        var pgB: [Double] = [], logB: [Double] = [], pgC: [Double] = [], logC: [Double] = []
        for r in 0..<3 {
            pgB.append(try await batches(pg, batches: 100, tag: "b\(r)"))
            logB.append(try await batches(log, batches: 100, tag: "b\(r)"))
            pgC.append(try await concurrent(pg, appenders: 64, each: 200, tag: "c\(r)"))
            logC.append(try await concurrent(log, appenders: 64, each: 200, tag: "c\(r)"))
        }
        rows.append(("1,000-event batches, 1 appender (ev/s)", pgB, logB))
        rows.append(("64 concurrent single-event appenders (ev/s)", pgC, logC))
        for (name, p, l) in rows {
            let line = String(format: "%@: PostgreSQL median %.0f (runs %@), embedded median %.0f (runs %@), ratio %.2f",
                              name, median(p), p.map { String(format: "%.0f", $0) }.joined(separator: " "),
                              median(l), l.map { String(format: "%.0f", $0) }.joined(separator: " "), median(p) / median(l))
            print(line)
        }
        await pg.close()
    }
}
