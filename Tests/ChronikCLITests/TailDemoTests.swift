import Foundation
import Subprocess
import SystemPackage
import Testing

@Suite("chronik tail and demo")
struct TailDemoTests {
    @Test("tail without -f prints the last N events (of the log, or of one stream) and exits")
    func tailLast() async throws {
        // Proves -n, --stream and --from pick the right window.
        let dir = try await makeLog(makeTempDir(), count: 15, streams: 3)
        defer { removeDir(dir) }
        func positions(_ args: [String]) async throws -> [Int] {
            let r = try await chronik(["tail", "--json", "--log", dir] + args)
            #expect(r.exitCode == 0, "\(r)")
            return jsonObjects(r.stdout).compactMap { $0["position"] as? Int }
        }
        #expect(try await positions([]) == Array(5..<15))
        #expect(try await positions(["-n", "3"]) == [12, 13, 14])
        #expect(try await positions(["-n", "0"]) == [])
        #expect(try await positions(["--from", "13"]) == [13, 14])
        #expect(try await positions(["--stream", "s-1", "-n", "2"]) == [8, 9])
        let text = try await chronik(["tail", "-n", "1", "--log", dir])
        #expect(text.stdoutLines == [text.stdoutLines.first ?? ""])
        #expect(text.stdout.hasPrefix("14  s-2@4  Tested  "))
    }

    @Test("tail -f prints what is there, then follows an append made by another process while it runs")
    func tailFollow() async throws {
        // Proves live following across processes: a read-only follower sees a separate writer's commit.
        let dir = try await makeLog(makeTempDir(), count: 3)
        defer { removeDir(dir) }
        let result = try await Subprocess.run(
            .path(FilePath(chronikPath)), arguments: ["tail", "-f", "--json", "--poll-ms", "20", "--log", dir],
            input: .none, output: .sequence, error: .discarded
        ) { execution -> [String] in
            try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask {
                    var lines: [String] = []
                    for try await line in execution.standardOutput.strings() where !line.isEmpty {
                        lines.append(line)
                        if lines.count == 3 {
                            // Everything that was there is printed: now append from another process.
                            let append = try await chronik(["append", "--log", dir],
                                                           input: eventLine(stream: "live", type: "Appended", data: "{\"late\":true}"))
                            #expect(append.exitCode == 0, "\(append)")
                        }
                        if lines.count == 4 { break }
                    }
                    return lines
                }
                group.addTask {
                    // A watchdog, so that a tail that never prints fails instead of hanging.
                    try await Task.sleep(for: .seconds(60))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                try? execution.send(signal: .terminate)
                return first ?? []
            }
        }
        let lines = result.closureResult
        try #require(lines.count == 4, "tail -f printed: \(lines)")
        let events = jsonObjects(lines.joined(separator: "\n"))
        #expect(events.compactMap { $0["position"] as? Int } == [0, 1, 2, 3])
        #expect(events[3]["stream"] as? String == "live")
        #expect(events[3]["type"] as? String == "Appended")
        // It ran until terminated: it did not exit on its own.
        #expect(result.terminationStatus == .signaled(SIGTERM), "\(result.terminationStatus)")
    }

    @Test("demo simulates a shop into a fresh log, verifies it and prints what it built")
    func demo() async throws {
        // Proves the README's first command end to end (with fewer events, for a debug build).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let r = try await chronik(["demo", "--events", "5000", "--log", dir])
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains("1. Simulated 5,000 events"), "\(r)")
        #expect(r.stdout.contains("none refused"), "\(r)")
        #expect(r.stdout.contains("every checksum and the hash chain from genesis: OK"), "\(r)")
        #expect(r.stdout.contains("3. Replayed 5,000 events into 16 read models"), "\(r)")
        #expect(r.stdout.contains("reconciliation ") && r.stdout.contains(" matched, ") && r.stdout.contains("campaigns "), "\(r)")
        // How to open the dashboard on what it built.
        #expect(r.stdout.contains("  chronik serve --log \(dir) ") && r.stdout.contains("open http://127.0.0.1:7070/"), "\(r)")
        #expect(try await headPosition(dir) == 5000)
        let verify = try await chronik(["verify", "--log", dir])
        #expect(verify.exitCode == 0, "\(verify)")

        let jsonDir = makeTempDir()
        defer { removeDir(jsonDir) }
        let json = try await chronik(["demo", "--events", "2000", "--json", "--log", jsonDir])
        let summary = try #require(jsonObjects(json.stdout).first)
        #expect(summary["events"] as? Int == 2000)
        #expect(summary["verified"] as? Bool == true)
        #expect(summary["replayedEvents"] as? Int == 2000)
    }

    @Test("demo --log wants a new or empty directory: a used one is refused and left alone")
    func demoLeavesForeignFilesAlone() async throws {
        // Proves the demo never writes over, or deletes, what it did not create.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let made = try await chronik(["demo", "--events", "300", "--log", dir])
        #expect(made.exitCode == 0, "\(made)")
        let again = try await chronik(["demo", "--events", "300", "--log", dir])
        #expect(again.exitCode == 1, "\(again)")
        #expect(again.stderr.contains("refusing"), "\(again)")
        #expect(try await headPosition(dir) == 300)

        let foreign = makeTempDir()
        defer { removeDir(foreign) }
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: foreign + "/thesis.txt"))
        let r = try await chronik(["demo", "--events", "20", "--log", foreign])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("refusing"), "\(r)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign) == ["thesis.txt"])
    }
}
