import Foundation
import Testing

@Suite("chronik simulate")
struct SimulateDemoTests {
    /// The export without `recordedAt` (the only field that may differ).
    func export(_ dir: String) async throws -> String {
        let r = try await chronik(["export", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        return r.stdout.replacing(/"recordedAt":"[^"]*",/, with: "")
    }

    @Test("the summary counts what was written, from the events, not what the shop planned", arguments: [10, 50, 3000])
    func summaryCountsTheEventsWritten(events: Int) async throws {
        // Proves stop 32's fix: 10 events claimed "192 products (703 SKUs), 8 suppliers" with none written, and
        // 5,000 events counted 28 searches against 27 SearchPerformed.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + ".keys") }
        let r = try await chronik(["simulate", "--log", dir, "--events", String(events), "--json"])
        #expect(r.exitCode == 0, "\(r)")
        let s = try #require(jsonObjects(r.stdout).first)
        let byType = try #require(s["eventsByType"] as? [String: Int])
        func n(_ t: String) -> Int { byType[t] ?? 0 }
        #expect(s["products"] as? Int == n("ProductCreated") - n("ProductDiscontinued"))
        #expect(s["skus"] as? Int == n("VariantAdded") && s["suppliers"] as? Int == n("SupplierRegistered"))
        #expect(s["searches"] as? Int == n("SearchPerformed") && s["sessions"] as? Int == n("SessionStarted"))
        #expect(s["orders"] as? Int == n("OrderPlaced") && s["customers"] as? Int == n("CustomerRegistered"))
        #expect(s["shipments"] as? Int == n("OrderShipped") && s["purchaseOrders"] as? Int == n("PurchaseOrderPlaced"))
    }

    @Test("the same seed twice gives identical exports (but recordedAt); another seed another history")
    func sameSeedSameExport() async throws {
        // Proves determinism end to end through the binary: ids, times, data and log order.
        let a = makeTempDir(), b = makeTempDir(), c = makeTempDir()
        defer { for d in [a, b, c] { removeDir(d) } }
        for (dir, seed) in [(a, "11"), (b, "11"), (c, "12")] {
            let r = try await chronik(["simulate", "--events", "4000", "--seed", seed, "--log", dir, "--json"])
            #expect(r.exitCode == 0, "\(r)")
            let summary = try #require(jsonObjects(r.stdout).first)
            #expect(summary["events"] as? Int == 4000)
            #expect(summary["rejected"] as? Int == 0)
            #expect(try await headPosition(dir) == 4000)
        }
        let ea = try await export(a), eb = try await export(b), ec = try await export(c)
        #expect(ea.split(separator: "\n").count == 4000)
        #expect(ea == eb)
        #expect(ea != ec)
    }

    @Test("text summary: events by group, orders, revenue, log size")
    func textSummary() async throws {
        // Proves the human summary names what was built.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["simulate", "--events", "6000", "--seed", "3", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.hasPrefix("simulated 6,000 events (seed 3) into \(dir)"), "\(r)")
        #expect(r.stdout.contains("0 refused"), "\(r)")
        #expect(r.stdout.contains(/clickstream \d/), "\(r)")
        #expect(r.stdout.contains(/orders +\d[\d,]* placed/), "\(r)")
    }

    @Test("bad arguments exit 64 and create nothing", arguments: [
        ["--events", "0"], ["--events", "-5"], ["--events", "many"], ["--events", "100000001"],
        ["--seed", "-1"], ["--seed", "abc"], ["--seed", "18446744073709551616"],
    ])
    func badArguments(_ args: [String]) async throws {
        // Proves usage errors are caught before the log is touched.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["simulate", "--log", dir] + args)
        #expect(r.exitCode == 64, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("refuses a log that holds events, or a directory with other files, and writes nothing")
    func refusesNonEmpty() async throws {
        // Proves a history is never simulated on top of another one.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let first = try await chronik(["simulate", "--events", "500", "--log", dir])
        #expect(first.exitCode == 0, "\(first)")
        let again = try await chronik(["simulate", "--events", "500", "--seed", "2", "--log", dir])
        #expect(again.exitCode == 1, "\(again)")
        #expect(again.stderr.contains("refusing to simulate"), "\(again)")
        #expect(try await headPosition(dir) == 500)

        let foreign = makeTempDir()
        defer { removeDir(foreign) }
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: foreign + "/notes.txt"))
        let r = try await chronik(["simulate", "--events", "500", "--log", foreign])
        #expect(r.exitCode == 1, "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign) == ["notes.txt"])
    }
}
