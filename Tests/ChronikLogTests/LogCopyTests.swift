import Foundation
import Testing
@testable import ChronikLog

/// Proves `EventLog.copy(to:)` (stop 37, an operator's backups): copies
/// taken by a reader while a writer appends, rolling small segments over,
/// are each a log that verifies clean and holds exactly the writer's
/// events before the copy's head, with the writer's chain hash there.
@Suite struct LogCopyTests {
    @Test func copiesDuringAppendsAreExactPrefixesThatVerify() async throws {
        let dir = makeTempDir()
        let copies = makeTempDir("copies")
        defer { removeDir(dir); removeDir(copies) }
        var options = LogOptions()
        options.segmentSizeBytes = 4096  // a segment every ~20 batches: many seal during the copies
        options.durability = .none
        let log = try EventLog.open(at: dir, options: options)
        _ = try await log.append(to: "s-0", [event("A", "first")])
        let writing = Task {
            for i in 1..<3000 {
                _ = try await log.append(to: "s-\(i % 7)", (0..<(i % 3 + 1)).map { event("A", "event \(i).\($0) " + String(repeating: "x", count: i % 50)) })
            }
        }
        try FileManager.default.createDirectory(atPath: copies, withIntermediateDirectories: true)
        var reports: [(String, LogCopyReport)] = []
        var readOnly = LogOptions()
        readOnly.readOnly = true
        readOnly.createIfMissing = false
        for n in 0..<6 {
            let reader = try EventLog.open(at: dir, options: readOnly)
            let target = copies + "/copy-\(n)"
            reports.append((target, try reader.copy(to: target)))
            try reader.close()
            try await Task.sleep(for: .milliseconds(15))
        }
        try await writing.value
        let all = try log.readAll().collect()
        try log.close()

        #expect(Set(reports.map(\.1.head)).count > 1, "the copies were all taken at one head: \(reports.map(\.1.head))")
        for (target, report) in reports {
            #expect(!FileManager.default.fileExists(atPath: target + ".partial"))
            let verified = try LogVerifier.verify(directory: target)
            #expect(verified.isClean && verified.warnings.isEmpty, "\(target): \(String(describing: verified.failure)) \(verified.warnings)")
            let copy = try EventLog.open(at: target)  // a writer's open: recovery has nothing to do
            #expect(copy.recovery.damage == nil && !copy.recovery.didTruncate && copy.recovery.rebuiltIndexes.isEmpty, "\(copy.recovery)")
            #expect(copy.head == report.head && copy.headHash == report.headHash)
            let events = try copy.readAll().collect()
            #expect(events == Array(all.prefix(events.count)) && events.count == Int(report.head.value))
            _ = try await copy.append(to: "after", [event("B", "the copy takes appends")])
            try copy.close()
        }
    }

    @Test func anExistingDestinationIsRefusedAndLeftAlone() async throws {
        let dir = makeTempDir()
        let target = makeTempDir("target")
        defer { removeDir(dir); removeDir(target) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        _ = try await log.append(to: "s", [event("A", "1")])
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: target + "/mine", contents: Data("keep".utf8))
        #expect(throws: ChronikLogError.self) { try log.copy(to: target) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["mine"])
        // A copy by the writer's own open works as a reader's does.
        let report = try log.copy(to: target + "-new")
        defer { removeDir(target + "-new") }
        #expect(report.head == Position(1) && report.segments == 1)
    }
}
