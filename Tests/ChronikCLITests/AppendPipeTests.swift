import Foundation
import Subprocess
import SystemPackage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Proves `producer | chronik append` appends as lines arrive: with the
/// pipe still open, the lines written so far are readable from the log
/// (group by group, each at its position); the end of the pipe ends the
/// command with exit 0; a bad line refuses its whole group, names the line,
/// and stops the command with exit 1 while the earlier groups stay.
@Suite struct AppendPipeTests {
    /// A pipe whose write end the test holds; the read end is the child's stdin.
    final class HeldPipe: @unchecked Sendable {
        // @unchecked: the test task alone writes and closes.
        let readEnd: Int32
        private(set) var writeEnd: Int32

        init() throws {
            var fds: [Int32] = [0, 0]
            // Close-on-exec: the child must hold only its stdin, or it never
            // sees the end of the pipe.
            guard pipe(&fds) == 0 else { throw POSIXError(.EIO) }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            readEnd = fds[0]
            writeEnd = fds[1]
            // A child that stopped reading must not kill the test.
            signal(SIGPIPE, SIG_IGN)
        }

        /// Writes `lines` in one write(2) (under PIPE_BUF: it arrives whole).
        func write(_ lines: [String]) {
            let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
            precondition(bytes.count < 4096)  // PIPE_BUF on Linux
            let n = bytes.withUnsafeBytes { Glibc.write(writeEnd, $0.baseAddress, $0.count) }
            #expect(n == bytes.count)
        }

        func close() {
            if writeEnd >= 0 { Glibc.close(writeEnd) }
            writeEnd = -1
        }
    }

    static func line(_ i: Int) -> String { eventLine(stream: "pipe-1", type: "Piped", data: "{\"i\":\(i)}") }

    /// The events `chronik read --json` finds, once it finds `count` (nil
    /// after 20 s).
    static func waitForEvents(_ dir: String, count: Int) async throws -> [[String: Any]]? {
        for _ in 0..<400 {
            let r = try await chronik(["read", "--json", "--log", dir, "--quiet"])
            if r.exitCode == 0 {
                let events = jsonObjects(r.stdout)
                if events.count >= count { return events }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Runs `chronik append --log dir` on the held pipe; `body` drives it.
    static func appendFromPipe(_ dir: String, _ pipe: HeldPipe, extra: [String] = [],
                               _ body: @escaping @Sendable () async throws -> [Int]) async throws -> (Run, [Int]) {
        let out = FileManager.default.temporaryDirectory.path + "/chronik-pipe-out-" + UUID().uuidString
        let err = out + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        let outFD = try FileDescriptor.open(FilePath(out), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
        let errFD = try FileDescriptor.open(FilePath(err), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
        let result = try await Subprocess.run(
            .path(FilePath(chronikPath)), arguments: Arguments(["append", "--log", dir] + extra),
            input: .fileDescriptor(FileDescriptor(rawValue: pipe.readEnd), closeAfterSpawningProcess: true),
            output: .fileDescriptor(outFD, closeAfterSpawningProcess: true),
            error: .fileDescriptor(errFD, closeAfterSpawningProcess: true)
        ) { execution in
            let watchdog = Task {
                do { try await Task.sleep(for: .seconds(60)) } catch { return }
                try? execution.send(signal: .kill)
            }
            defer { watchdog.cancel() }
            return try await body()
        }
        pipe.close()
        return (Run(status: result.terminationStatus,
                    stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                    stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""), result.closureResult)
    }

    @Test func appendsAsLinesArriveWhileThePipeStaysOpen() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let pipe = try HeldPipe()
        let (r, seen) = try await Self.appendFromPipe(dir, pipe) {
            pipe.write((0..<3).map(Self.line))
            let first = try await Self.waitForEvents(dir, count: 3)
            pipe.write((3..<5).map(Self.line))
            let second = try await Self.waitForEvents(dir, count: 5)
            pipe.close()
            return [first?.count ?? -1, second?.count ?? -1]
        }
        #expect(seen == [3, 5], "the events were not readable while the pipe was open")
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stderr.contains("lines 1-3: appended 3 events"), "\(r)")
        #expect(r.stderr.contains("lines 4-5: appended 2 events"), "\(r)")
        #expect(r.stdout.contains("appended 5 events in 2 batches"), "\(r)")
        let events = try #require(try await Self.waitForEvents(dir, count: 5))
        #expect(events.map { $0["position"] as? Int } == [0, 1, 2, 3, 4])
        #expect(events.map { ($0["data"] as? [String: Any])?["i"] as? Int } == [0, 1, 2, 3, 4])
    }

    @Test func aBadLineRefusesItsGroupAndStops() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let pipe = try HeldPipe()
        let (r, seen) = try await Self.appendFromPipe(dir, pipe) {
            pipe.write([Self.line(0), Self.line(1)])
            let first = try await Self.waitForEvents(dir, count: 2)
            // Line 3 is good, line 4 lacks its data: neither is appended.
            pipe.write([Self.line(2), #"{"stream":"pipe-1","type":"Piped"}"#])
            // The command stops by itself; the pipe is still open here.
            return [first?.count ?? -1]
        }
        #expect(seen == [2])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("line 4"), "\(r)")
        #expect(r.stderr.contains("nothing of lines 3-4 was appended"), "\(r)")
        #expect(r.stderr.contains("the 2 events of the lines before are in the log (positions 0-1)"), "\(r)")
        let read = try await chronik(["read", "--json", "--log", dir])
        #expect(jsonObjects(read.stdout).map { ($0["data"] as? [String: Any])?["i"] as? Int } == [0, 1])
    }

    @Test func withJSONARefusedGroupStillPrintsTheSummary() async throws {
        // Proves stop 38's finding (a migration): from a pipe, --json printed nothing on stdout when a bad line
        // stopped the command, so a script could not tell that the lines before it were in the log.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let pipe = try HeldPipe()
        let (r, _) = try await Self.appendFromPipe(dir, pipe, extra: ["--json"]) {
            pipe.write([Self.line(0), Self.line(1)])
            _ = try await Self.waitForEvents(dir, count: 2)
            pipe.write([Self.line(2), #"{"stream":"pipe-1","type":"Piped"}"#])
            return []
        }
        #expect(r.exitCode == 1, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first, "\(r)")
        #expect(report["appended"] as? Int == 2 && report["firstPosition"] as? Int == 0 && report["lastPosition"] as? Int == 1
                && report["head"] as? Int == 2 && report["rejects"] as? Int == 1, "\(r)")
        let rejected = report["rejected"] as? [[String: Any]]
        #expect(rejected?.count == 1 && rejected?.first?["line"] as? Int == 4 && rejected?.first?["code"] as? String == "missingField", "\(r)")
    }

    @Test func skippedLinesAreListedInTheJSONSummary() async throws {
        // Proves stop 38's finding (a migration): from a pipe with --skip-invalid --json, "rejects": 1 came with
        // "rejected": [] (a file listed the line).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let pipe = try HeldPipe()
        let (r, _) = try await Self.appendFromPipe(dir, pipe, extra: ["--json", "--skip-invalid"]) {
            pipe.write([Self.line(0), #"{"stream":"pipe-1","type":"Piped"}"#])
            _ = try await Self.waitForEvents(dir, count: 1)
            pipe.write([#"{"stream":"pipe-1"}"#, Self.line(3)])
            _ = try await Self.waitForEvents(dir, count: 2)
            pipe.close()
            return []
        }
        #expect(r.exitCode == 0, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first, "\(r)")
        #expect(report["appended"] as? Int == 2 && report["rejects"] as? Int == 2, "\(r)")
        #expect((report["rejected"] as? [[String: Any]])?.map { $0["line"] as? Int } == [2, 3], "\(r)")
    }
}
