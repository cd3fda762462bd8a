import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Proves /metrics exports the log's fdatasyncs (issue 11): a
/// `chronik_fsync_seconds` histogram with one observation per group
/// commit, and the group sizes in events and bytes.
@Suite struct FsyncMetricsTests {
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func fsyncDurationAndGroupSizeAfterAppends() async throws {
        try await withServer { server, client in
            server.log.waitUntilIndexed()
            for _ in 0..<3 { #expect(try await client.post("/streams/n", "[\(Self.note),\(Self.note)]").status == .created) }
            let text = try await client.get("/metrics").text
            // Each awaited append is its own group commit (durability .fsync).
            #expect(text.contains("# TYPE chronik_fsync_seconds histogram"), "\(text)")
            #expect(text.contains("chronik_fsync_seconds_count 3"), "\(text)")
            #expect(text.contains(#"chronik_fsync_seconds_bucket{le="+Inf"} 3"#), "\(text)")
            #expect(text.contains("chronik_fsync_group_events_count 3"), "\(text)")
            #expect(text.contains("chronik_fsync_group_events_sum 6"), "\(text)")
            let bytesSum = text.split(separator: "\n").first { $0.hasPrefix("chronik_fsync_group_bytes_sum ") }
            let bytes = bytesSum.flatMap { Double($0.split(separator: " ").last!) } ?? 0
            // Three batches: each at least a 96-byte header and two events.
            #expect(bytes > 3 * 96, "\(text)")
        }
    }
}

/// Stop 37, the operator's list of stop 36: /metrics had no `# HELP`
/// lines, no error codes (a full disk and a bad request were only 5xx and
/// 4xx counts), nothing of the process (memory, CPU, files) and nothing of
/// the room left on the log's disk.
@Suite struct OperatorMetricsTests {
    @Test func helpLinesErrorsByCodeProcessAndDisk() async throws {
        try await withServer { server, client in
            server.log.waitUntilIndexed()
            #expect(try await client.post("/streams/n", #"[{"type":"NoteAdded","data":{}}]"#).status == .created)
            let missing = try await client.get("/events/99")
            let bad = try await client.post("/streams/n", "[{")
            let missingCode = try #require(missing.error["code"] as? String)
            let badCode = try #require(bad.error["code"] as? String)
            #expect(missingCode != badCode)
            _ = try await client.get("/events/98")
            let text = try await client.get("/metrics").text
            let lines = text.split(separator: "\n").map(String.init)
            var typed = 0
            for (i, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
                typed += 1
                let name = line.split(separator: " ")[2]
                #expect(i > 0 && lines[i - 1].hasPrefix("# HELP \(name) ") && lines[i - 1].count > "# HELP \(name) ".count + 10,
                        "\(name) has no HELP line")
            }
            #expect(typed >= 20, "\(text)")
            func value(_ series: String) -> Double? {
                lines.first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
            }
            #expect(value(#"chronik_errors_total{code="\#(missingCode)"}"#) == 2, "\(text)")
            #expect(value(#"chronik_errors_total{code="\#(badCode)"}"#) == 1, "\(text)")
            #if os(Linux)
            #expect((value("process_resident_memory_bytes") ?? 0) > 1_000_000, "\(text)")
            #expect((value("process_virtual_memory_bytes") ?? 0) >= (value("process_resident_memory_bytes") ?? .infinity))
            #expect((value("process_cpu_seconds_total") ?? 0) > 0)
            #expect((value("process_open_fds") ?? 0) >= 3)
            #expect((value("process_max_fds") ?? 0) >= (value("process_open_fds") ?? .infinity))
            let now = Date().timeIntervalSince1970
            let started = value("process_start_time_seconds") ?? 0
            #expect(started <= now + 2 && started > now - 7 * 86_400, "started \(started), now \(now)")
            #endif
            let free = value("chronik_disk_free_bytes") ?? 0, size = value("chronik_disk_size_bytes") ?? 0
            #expect(free > 0 && free <= size, "free \(free) of \(size)")
        }
    }
}
