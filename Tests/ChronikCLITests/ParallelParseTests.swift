import Foundation
import Subprocess
import SystemPackage
import Testing

// Issue 13: pass 1 of import and append parses lines on several threads
// (ParallelLineMap). These runs of the real binary prove that the parallel
// path writes the same events, prints the same summaries and names the same
// bad lines with the same messages as one thread (CHRONIK_PARSE_WORKERS=1).

/// Runs `chronik` with CHRONIK_PARSE_WORKERS set to `workers`.
private func chronik(workers: Int, _ arguments: [String]) async throws -> Run {
    let r = try await Subprocess.run(.path(FilePath(chronikPath)), arguments: Arguments(arguments),
                                     environment: .inherit.updating(["CHRONIK_PARSE_WORKERS": String(workers)]),
                                     output: .string(limit: 64 << 20), error: .string(limit: 64 << 20))
    return Run(status: r.terminationStatus, stdout: r.standardOutput, stderr: r.standardError)
}

/// A summary line of `--json` without its timing keys (which differ per run).
private func withoutTiming(_ json: String) -> String {
    json.replacingOccurrences(of: #""(seconds|eventsPerSecond)":[0-9.e+-]+,?"#, with: "", options: .regularExpression)
}

@Suite("parallel parsing: the same result as one thread")
struct ParallelParseCLITests {
    /// A mixed shop history of `chronik simulate` (interleaved streams, many
    /// customers, personal data), exported, with retries (repeated lines)
    /// spread through it; written to a file.
    static func shopLines(events: Int) async throws -> (lines: [String], retries: Int) {
        let dir = makeTempDir("parallel-shop")
        defer { removeDir(dir) }
        let sim = try await chronik(["simulate", "--events", String(events), "--seed", "11", "--log", dir])
        #expect(sim.exitCode == 0, "\(sim)")
        let export = try await chronik(["export", "--log", dir])
        #expect(export.exitCode == 0, "\(export)")
        var lines = export.stdoutLines
        // Retries of an at-least-once producer: a line again, a little later.
        let at = Array(stride(from: lines.count - 1, to: 0, by: -997))
        for i in at { lines.insert(lines[i - 1], at: i + 1) }
        return (lines, at.count)
    }

    @Test func importGivesTheSameEventsSummaryAndErrors() async throws {
        // Proves the parallel pass 1 of import (several blocks of lines) imports the same events in the same order,
        // with the same counts (retries included), as one thread; and with a bad line in the middle, both name the
        // same line with the same message and write nothing.
        let shop = try await Self.shopLines(events: 6000)
        var lines = shop.lines
        let retries = shop.retries
        #expect(lines.count > 5000)
        let good = try writeTemp(lines.joined(separator: "\n") + "\n")
        var exports: [[String]] = []
        var summaries: [String] = []
        for workers in [1, 4] {
            let dir = makeTempDir("parallel-import-\(workers)")
            defer { removeDir(dir) }
            let r = try await chronik(workers: workers, ["import", "--json", "--log", dir, good])
            #expect(r.exitCode == 0, "\(r.stderr.prefix(2000))")
            #expect(r.stdout.contains(#""retries":"#), "\(r)")
            summaries.append(withoutTiming(r.stdout))
            exports.append(ErasedImportCLITests.withoutRecordedAt(try await chronik(["export", "--log", dir]).stdout))
        }
        #expect(summaries[0] == summaries[1])
        #expect(summaries[0].contains(#""retries":\#(retries)"#), "\(retries) retries in the input: \(summaries[0])")
        #expect(exports[0].count == lines.count - retries, "\(exports[0].count)")
        #expect(exports[0] == exports[1])

        // A bad line deep in the input (a later block), and a second one.
        lines[4321] = #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-1"}"#
        lines[4500] = #"{"type":"PaymentCaptured","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-1"}}"#
        let bad = try writeTemp(lines.joined(separator: "\n") + "\n")
        var errors: [String] = []
        for workers in [1, 4] {
            let dir = makeTempDir("parallel-import-bad-\(workers)")
            defer { removeDir(dir) }
            let r = try await chronik(workers: workers, ["import", "--log", dir, bad])
            #expect(r.exitCode == 1, "\(r)")
            #expect(r.stderr.contains("line 4322: invalidJSON"), "\(r.stderr)")
            #expect(r.stderr.contains("line 4501: "), "\(r.stderr)")
            #expect(try await holdsNoEvent(dir), "nothing written")
            errors.append(r.stderr)
        }
        #expect(errors[0] == errors[1])
    }

    @Test func appendGivesTheSameLogSummaryAndErrors() async throws {
        // Proves the parallel pass 1 of append gives the same events (ids, times, data), batches and counts as one
        // thread, retries included; and that a bad line is named with the same message by both, nothing written.
        var lines: [String] = []
        for i in 0..<5000 {
            let id = String(format: "0190b1a2-3c4d-4e5f-8a6b-%012x", i)
            lines.append(eventLine(stream: "s-\(i / 700)", type: "Noted", data: #"{"i":\#(i),"text":"n\#(i)","b":{"z":1,"a":[1,2]}}"#,
                                   extra: #""id":"\#(id)","time":"2024-05-01T10:00:00Z""#))
            if i % 1001 == 500 { lines.append(lines[lines.count - 1]) } // a retry
        }
        let good = try writeTemp(lines.joined(separator: "\n") + "\n")
        var reads: [[String]] = []
        var summaries: [String] = []
        for workers in [1, 4] {
            let dir = makeTempDir("parallel-append-\(workers)")
            defer { removeDir(dir) }
            let r = try await chronik(workers: workers, ["append", "--json", "--log", dir, good])
            #expect(r.exitCode == 0, "\(r.stderr.prefix(2000))")
            summaries.append(r.stdout)
            reads.append(ErasedImportCLITests.withoutRecordedAt(try await chronik(["read", "--json", "--log", dir]).stdout))
        }
        #expect(summaries[0] == summaries[1])
        #expect(summaries[0].contains(#""appended":5000"#) && summaries[0].contains(#""retries":5"#), "\(summaries[0])")
        #expect(reads[0].count == 5000)
        #expect(reads[0] == reads[1])

        lines[3333] = #"{"stream":"s-4","type":"Noted","data":{"i":1,}}"#
        let bad = try writeTemp(lines.joined(separator: "\n") + "\n")
        var errors: [String] = []
        for workers in [1, 4] {
            let dir = makeTempDir("parallel-append-bad-\(workers)")
            defer { removeDir(dir) }
            let r = try await chronik(workers: workers, ["append", "--log", dir, bad])
            #expect(r.exitCode == 1, "\(r)")
            #expect(r.stderr.contains("line 3334: invalidJSON"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir), "nothing written: no log created")
            errors.append(r.stderr)
        }
        #expect(errors[0] == errors[1])
    }
}
