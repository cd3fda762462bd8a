import ChronikTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Proves the README's curl examples work as written: the ```bash block
/// after `<!-- chronik:curl-examples -->` (bash, not sh: HelpExamplesTests
/// runs the `chronik` lines of sh blocks on their own) runs line by line, in order, in a
/// fresh directory — `chronik serve` lines start the real binary (on a
/// free port that replaces 7070; a second one stops the first, as Ctrl-C
/// would), every other line runs in sh and must exit 0 (28 for a curl
/// bounded by --max-time), and each `# →` line must be in what the command
/// before it printed.
@Suite struct ReadmeCurlTests {
    static let marker = "<!-- chronik:curl-examples -->"

    /// The lines of the marked block.
    static func exampleLines() throws -> [String] {
        let readme = try String(contentsOfFile: packageRoot + "/README.md", encoding: .utf8)
        guard let m = readme.range(of: marker), let open = readme.range(of: "```bash\n", range: m.upperBound..<readme.endIndex),
              let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex) else {
            throw ContractError(message: "README.md has no ```bash block after \(marker)")
        }
        return readme[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
    }

    @Test func curlExamplesRunAsWritten() async throws {
        let lines = try Self.exampleLines()
        #expect(lines.filter { $0.hasPrefix("curl") }.count >= 10, "the README lost its curl examples")
        let dir = makeTempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var server: Process?
        defer {
            if let server, server.isRunning { server.terminate(); server.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let binDir = (chronikPath as NSString).deletingLastPathComponent
        var port = 0
        var lastOutput = ""
        var lastCommand = ""
        var ran = 0
        for line in lines {
            let command = line.replacingOccurrences(of: "localhost:7070", with: "localhost:\(port)")
            if line.hasPrefix("# →") {
                let expected = String(line.dropFirst("# →".count)).trimmingCharacters(in: .whitespaces)
                #expect(lastOutput.contains(expected), "README: `\(lastCommand)` printed\n\(lastOutput)\nnot: \(expected)")
                continue
            }
            if line.hasPrefix("#") || line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if line.hasPrefix("chronik serve") {
                if let s = server { s.terminate(); s.waitUntilExit(); #expect(s.terminationStatus == 0) }
                port = try #require(freePort(), "no free port")
                let words = line.split(separator: "#")[0].split(separator: " ").dropFirst().map(String.init)
                let p = Process()
                p.executableURL = URL(fileURLWithPath: chronikPath)
                p.arguments = words + ["--listen", "127.0.0.1:\(port)", "--quiet"]
                p.currentDirectoryURL = URL(fileURLWithPath: dir)
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                server = p
                #expect(try await Self.waitUntilHealthy(port: port), "chronik serve did not answer on \(port)")
                continue
            }
            let sh = Process()
            sh.executableURL = URL(fileURLWithPath: "/bin/sh")
            sh.arguments = ["-c", "PATH=\"\(binDir):$PATH\"; " + command]
            sh.currentDirectoryURL = URL(fileURLWithPath: dir)
            let out = Pipe()
            sh.standardOutput = out
            sh.standardError = FileHandle.nullDevice
            try sh.run()
            lastOutput = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            sh.waitUntilExit()
            lastCommand = line
            ran += 1
            let allowed: Set<Int32> = line.contains("--max-time") ? [0, 28] : [0]
            #expect(allowed.contains(sh.terminationStatus), "README: `\(line)` exited \(sh.terminationStatus)\n\(lastOutput)")
        }
        #expect(ran >= 10)
    }

    /// Whether `GET /health` answers 200 within 20 s.
    static func waitUntilHealthy(port: Int) async throws -> Bool {
        for _ in 0..<200 {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            probe.arguments = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "localhost:\(port)/health"]
            let out = Pipe()
            probe.standardOutput = out
            probe.standardError = FileHandle.nullDevice
            try probe.run()
            let code = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            probe.waitUntilExit()
            if code == "200" { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
