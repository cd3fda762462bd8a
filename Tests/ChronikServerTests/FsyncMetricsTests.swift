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
