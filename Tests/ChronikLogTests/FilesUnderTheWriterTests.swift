import Foundation
import Testing
@testable import ChronikLog

/// Proves stop 38's findings (a chaos test on a running server): with the
/// log directory deleted under the writer, appends were acknowledged into
/// files no path named, and lost at exit; with the active segment cut, an
/// append was acknowledged after a hole of zeros. The writer now checks,
/// after each group's fdatasync and before acknowledging it, that the
/// segment is still linked and holds what was written; otherwise the
/// append fails and the writer is poisoned (nothing more acknowledged).
@Suite struct FilesUnderTheWriterTests {
    func openWithOneBatch(_ dir: String) async throws -> EventLog {
        let log = try EventLog.open(at: dir)  // fsync durability, the default
        try await log.append(to: "s", [event("E", "before")])
        return log
    }

    func segmentPath(_ dir: String) throws -> String {
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".log") })
        return dir + "/" + name
    }

    @Test func anAppendToADeletedLogIsNotAcknowledged() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try await openWithOneBatch(dir)
        defer { try? log.close() }
        try FileManager.default.removeItem(atPath: dir)
        await #expect { try await log.append(to: "s", [event("E", "after")]) } throws: { error in
            "\(error)".contains("the segment file was deleted while the log was open")
        }
        await #expect { try await log.append(to: "s", [event("E", "later")]) } throws: { error in
            (error as? ChronikLogError)?.code == .writerPoisoned
        }
    }

    @Test func aHealthProbeFindsADeletedLogBeforeAnAppend() async throws {
        // /ready asks this: it said ready with the log directory deleted.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try await openWithOneBatch(dir)
        defer { try? log.close() }
        #expect(log.checkFilesInPlace() == nil)
        try FileManager.default.removeItem(atPath: dir)
        let failure = try #require(log.checkFilesInPlace())
        #expect(failure.code == .writerPoisoned && failure.message.contains("deleted while the log was open"), "\(failure)")
        await #expect { try await log.append(to: "s", [event("E", "after")]) } throws: { error in
            (error as? ChronikLogError)?.code == .writerPoisoned
        }
    }

    @Test func anAppendAfterTheSegmentWasCutIsNotAcknowledged() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try await openWithOneBatch(dir)
        let path = try segmentPath(dir)
        // Into the batch: the file goes on past it, in the space the writer
        // zeroes ahead (stop 41), whose loss would lose nothing.
        let size = Int(log.state.withLock { $0.segments.last!.committedBytes })
        #expect(truncate(path, off_t(size - 10)) == 0)
        await #expect { try await log.append(to: "s", [event("E", "after")]) } throws: { error in
            "\(error)".contains("shorter than the") && "\(error)".contains(path)
        }
        await #expect { try await log.append(to: "s", [event("E", "later")]) } throws: { error in
            (error as? ChronikLogError)?.code == .writerPoisoned
        }
        try? log.close()
        // Nothing was written after the cut: the file ends where it was cut.
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == size - 10)
    }

    @Test func aLogMovedWhileOpenKeepsTakingAppends() async throws {
        // A rename keeps the files linked: the appends are in the moved directory, not lost.
        let dir = makeTempDir()
        defer { removeDir(dir); removeDir(dir + "-moved") }
        let log = try await openWithOneBatch(dir)
        try FileManager.default.moveItem(atPath: dir, toPath: dir + "-moved")
        try await log.append(to: "s", [event("E", "after")])
        try log.close()
        let moved = try EventLog.open(at: dir + "-moved")
        defer { try? moved.close() }
        #expect(moved.head.value == 2)
    }
}
