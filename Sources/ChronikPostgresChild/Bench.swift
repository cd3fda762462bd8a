import ChronikLog
import ChronikPostgres
import Foundation

/// `ChronikPostgresChild bench URL LOGDIR`: the figures of docs/POSTGRES.md,
/// "Measured". Each workload runs 3 times against the PostgreSQL store and
/// the embedded log (fsync durability) in LOGDIR, alternately, so that both
/// see the same machine; prints the medians, their ratio and the load
/// average before and after. Benchmarks/postgres-bench.sh sets up the
/// primary and the synchronous standby and calls this.
enum Bench {
    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// Events per second of `batches` sequential 1,000-event batches, and
    /// the median time of one batch (ms).
    static func batches(_ store: any EventStore, batches: Int, tag: String) async throws -> (rate: Double, ms: Double) {
        var times: [Double] = []
        let start = ContinuousClock.now
        for b in 0..<batches {
            let events = (0..<1000).map { i in ProposedEvent(type: "Tick", data: Array("{\"b\":\(b),\"i\":\(i),\"pad\":\"0123456789abcdef0123456789abcdef\"}".utf8)) }
            let t0 = ContinuousClock.now
            _ = try await store.append(to: "\(tag)-\(b % 16)", events, expected: .any)
            times.append(seconds(ContinuousClock.now - t0) * 1000)
        }
        return (Double(batches * 1000) / seconds(ContinuousClock.now - start), median(times))
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

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func line(_ name: String, _ p: [Double], _ l: [Double], unit: String = "ev/s") -> String {
        func runs(_ xs: [Double]) -> String { xs.map { String(format: unit == "ms" ? "%.1f" : "%.0f", $0) }.joined(separator: " ") }
        return String(format: "%@ (%@): PostgreSQL median %@ (runs %@), embedded median %@ (runs %@), ratio %.2f",
                      name, unit, runs([median(p)]), runs(p), runs([median(l)]), runs(l), median(p) / median(l))
    }

    /// `only`: "batches" or "concurrent" runs that workload alone (for
    /// profiling one of them with pg_stat_statements or perf).
    static func run(url: String, logDirectory: String, only: String? = nil) async throws {
        let pg = try PostgresStore(url: url)
        try await pg.migrate()
        try? FileManager.default.removeItem(atPath: logDirectory)
        let log = try EventLog.open(at: logDirectory)
        defer { try? log.close() }
        print("load average before: \(loadAverage())")
        var pgB: [Double] = [], logB: [Double] = [], pgBms: [Double] = [], logBms: [Double] = []
        var pgC: [Double] = [], logC: [Double] = []
        for r in 0..<3 {
            if only != "concurrent" {
                let (pb, pbms) = try await batches(pg, batches: 100, tag: "b\(r)")
                let (lb, lbms) = try await batches(log, batches: 100, tag: "b\(r)")
                pgB.append(pb); pgBms.append(pbms); logB.append(lb); logBms.append(lbms)
            }
            if only != "batches" {
                pgC.append(try await concurrent(pg, appenders: 64, each: 200, tag: "c\(r)"))
                logC.append(try await concurrent(log, appenders: 64, each: 200, tag: "c\(r)"))
            }
        }
        if !pgB.isEmpty {
            print(line("1,000-event batches, 1 appender", pgB, logB))
            print(line("1,000-event batch, median time of one", pgBms, logBms, unit: "ms"))
        }
        if !pgC.isEmpty { print(line("64 concurrent single-event appenders", pgC, logC)) }
        print("load average after: \(loadAverage())")
        await pg.close()
    }
}
