import Foundation
import Testing

// Issue 10 point 3: every example in a `--help` text (a line `$ …`)
// and every `chronik …` line of the README's shell blocks runs, as written,
// against a prepared shop, and exits 0. `tail -f` examples run until a
// timeout ends them (exit 124 from timeout(1), no error from chronik);
// so do `chronik serve` examples (its SIGTERM ends the server, exit 0).

/// Where the examples run: a directory holding what they name.
///
/// - `chronik-data/` (the default log) and `shop/`: a simulated shop,
///   `chronik simulate --events 30000 --seed 1`, with their key stores;
/// - `events.jsonl` (plain events for `append`), `orders.jsonl` and
///   `shop.jsonl` (commerce events for `import`);
/// - `audit-key`, `audit-key.pub`, `digest.json`: a signed digest of
///   `chronik-data`.
enum ExampleSandbox {
    static let events = 30000

    static let eventsFile = """
        {"stream":"s-1","type":"Opened","data":{}}
        {"stream":"s-1","type":"Noted","data":{"text":"hello"}}

        """

    static let ordersFile = """
        {"type":"SupplierRegistered","time":"2026-11-30T10:00:00Z","data":{"supplierId":"sup-example","name":"Example Supply","leadTimeDays":5}}
        {"type":"StockReceived","time":"2026-11-30T10:00:01Z","data":{"sku":"SKU-EXAMPLE","warehouseId":"wh-example","qty":5}}

        """

    /// Builds the template once; each run copies it.
    static func template() async throws -> String {
        let dir = makeTempDir("examples-template")
        try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
        try copyData(into: dir)
        let sim = try await shell("chronik simulate --events \(events) --seed 1 --log chronik-data --quiet", in: dir)
        try #require(sim.exitCode == 0, "\(sim)")
        let copy = try await shell("cp -a chronik-data shop && cp -a chronik-data.keys shop.keys", in: dir)
        try #require(copy.exitCode == 0, "\(copy)")
        try Data(eventsFile.utf8).write(to: URL(fileURLWithPath: dir + "/events.jsonl"))
        try Data(ordersFile.utf8).write(to: URL(fileURLWithPath: dir + "/orders.jsonl"))
        try Data(ordersFile.utf8).write(to: URL(fileURLWithPath: dir + "/shop.jsonl"))
        let keys = try await shell("chronik keygen --out audit-key && chronik digest --key audit-key --out digest.json --quiet",
                                   in: dir)
        try #require(keys.exitCode == 0, "\(keys)")
        return dir
    }

    /// A fresh copy of `template` (or an empty directory) to run examples in.
    static func copy(of template: String?) async throws -> String {
        let dir = makeTempDir("examples")
        if let template {
            let r = try await shell("cp -a '\(template)' '\(dir)'", in: "/")
            try #require(r.exitCode == 0, "\(r)")
        } else {
            try FileManager.default.createDirectory(atPath: dir + "/tmp", withIntermediateDirectories: true)
            try copyData(into: dir)
        }
        return dir
    }

    /// The repository's `data/` (sample files the README and the helps
    /// name, as `data/…`): the examples run as from the package root.
    static func copyData(into dir: String) throws {
        try FileManager.default.copyItem(atPath: packageRoot + "/data", toPath: dir + "/data")
    }

    /// Runs `line` with sh in `dir`, `chronik` on the PATH being the binary
    /// under test; a `tail -f` line ends after a few seconds.
    static func shell(_ line: String, in dir: String) async throws -> Run {
        let bin = (chronikPath as NSString).deletingLastPathComponent
        let script = "cd '\(dir)' && PATH='\(bin)':\"$PATH\" && TMPDIR='\(dir)/tmp' && export PATH TMPDIR && " + line
        let follows = line.contains(" -f") || line.contains(" --follow") || line.hasPrefix("chronik serve")
        return try await run(.path("/usr/bin/timeout"), [follows ? "4" : "600", "/bin/sh", "-c", script])
    }

    /// Expects the run of `line` to have succeeded.
    static func check(_ r: Run, _ line: String, _ source: String,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(succeeded(r, line), "\(source): \(line)\n\(r)", sourceLocation: sourceLocation)
    }

    /// Whether a run of `line` succeeded: exit 0, or for a follower the
    /// timeout's 124 without an error from chronik.
    static func succeeded(_ r: Run, _ line: String) -> Bool {
        if r.exitCode == 0 { return true }
        let follows = line.contains(" -f") || line.contains(" --follow") || line.hasPrefix("chronik serve")
        let errors = r.stderrLines.filter { $0.hasPrefix("chronik: ") && !$0.hasPrefix("chronik: note:") }
        return follows && r.exitCode == 124 && errors.isEmpty
    }
}

/// The example lines of a help text: `$ …`, one command per line.
func helpExamples(_ help: String) -> [String] {
    help.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
        let t = line.trimmingCharacters(in: .whitespaces)
        return t.hasPrefix("$ ") ? String(t.dropFirst(2)) : nil
    }
}

/// The subcommands a help text lists (SUBCOMMANDS section).
func subcommands(_ help: String) -> [String] {
    guard let start = help.range(of: "SUBCOMMANDS:\n") else { return [] }
    var names: [String] = []
    for line in help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
        if line.isEmpty { break }
        guard line.hasPrefix("  "), !line.hasPrefix("   ") else { continue }
        if let name = line.split(separator: " ").first { names.append(String(name)) }
    }
    return names
}

/// The `chronik …` lines of README.md's ```sh blocks.
func readmeExamples(_ readme: String) -> [String] {
    var inShell = false
    var lines: [String] = []
    for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("```") {
            inShell = !inShell && line.hasPrefix("```sh")
            continue
        }
        if inShell && line.hasPrefix("chronik ") { lines.append(String(line)) }
    }
    return lines
}

/// The package root: README.md is two directories above this file.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite("every example in the help and the README runs", .serialized)
struct HelpExamplesTests {
    /// Every help text, by command path (`[]` is `chronik --help`).
    func everyHelp() async throws -> [([String], String)] {
        var out: [([String], String)] = []
        var queue: [[String]] = [[]]
        while let path = queue.first {
            queue.removeFirst()
            let r = try await chronik(path + ["--help"])
            #expect(r.exitCode == 0, "\(path): \(r)")
            out.append((path, r.stdout))
            queue += subcommands(r.stdout).filter { $0 != "help" }.map { path + [$0] }
        }
        return out
    }

    /// Commands that only work against a PostgreSQL server: their help shows
    /// its examples without `$ ` (this sandbox has no server), and
    /// Tests/ChronikPostgresTests runs the same commands against real clusters.
    static let needsAPostgresServer: Set<String> = ["mirror"]

    @Test("each command's --help examples run as written and exit 0")
    func helpExamplesRun() async throws {
        // Proves the help teaches only what works: each help's examples run in order in a fresh copy of the sandbox.
        let helps = try await everyHelp()
        #expect(helps.count >= 18, "\(helps.map(\.0))")
        let template = try await ExampleSandbox.template()
        defer { removeDir(template) }
        var ran = 0
        for (path, help) in helps {
            let examples = helpExamples(help)
            if path.count == 1, Self.needsAPostgresServer.contains(path[0]) {
                #expect(examples.isEmpty && help.contains("  chronik \(path[0]) "),
                        "chronik \(path[0]) --help: its examples are shown without `$ ` (they need a server)")
            } else if path.count == 1 {
                #expect(!examples.isEmpty, "chronik \(path.joined(separator: " ")) --help has no example")
            }
            guard !examples.isEmpty else { continue }
            let dir = try await ExampleSandbox.copy(of: template)
            defer { removeDir(dir) }
            for line in examples {
                let r = try await ExampleSandbox.shell(line, in: dir)
                ExampleSandbox.check(r, line, "chronik \(path.joined(separator: " ")) --help")
                ran += 1
            }
        }
        #expect(ran >= 30)
    }

    @Test("the README's chronik lines run in order, as written, and exit 0")
    func readmeExamplesRun() async throws {
        // Proves the README's command section: it starts from nothing, as a reader would.
        let readme = try String(contentsOfFile: packageRoot + "/README.md", encoding: .utf8)
        let examples = readmeExamples(readme)
        #expect(examples.count >= 10, "\(examples)")
        let dir = try await ExampleSandbox.copy(of: nil)
        defer { removeDir(dir) }
        try Data(ExampleSandbox.ordersFile.utf8).write(to: URL(fileURLWithPath: dir + "/orders.jsonl"))
        for line in examples {
            let r = try await ExampleSandbox.shell(line, in: dir)
            ExampleSandbox.check(r, line, "README")
        }
    }

    @Test("an example is one line: never wrapped, never continued")
    func examplesAreOneLine() async throws {
        // Proves no example is cut by the help's line wrapping or by a trailing backslash.
        for (path, help) in try await everyHelp() {
            let lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (i, line) in lines.enumerated() where line.trimmingCharacters(in: .whitespaces).hasPrefix("$ ") {
                #expect(!line.hasSuffix("\\"), "\(path): \(line)")
                let next = i + 1 < lines.count ? lines[i + 1].trimmingCharacters(in: .whitespaces) : ""
                #expect(next.isEmpty || next.hasPrefix("$ "), "\(path): example continues on the next line: \(line) / \(next)")
            }
        }
        let readme = try String(contentsOfFile: packageRoot + "/README.md", encoding: .utf8)
        for line in readmeExamples(readme) { #expect(!line.hasSuffix("\\"), "README: \(line)") }
    }

    @Test("every command takes --log, --json and --quiet (issue 9.8: keygen did not take --log)")
    func everyCommandTakesTheCommonOptions() async throws {
        // Proves the README's promise against the OPTIONS of each runnable command's help.
        for (path, help) in try await everyHelp() where !path.isEmpty && subcommands(help).isEmpty {
            let options = help.components(separatedBy: "OPTIONS:\n").last ?? ""
            for option in ["  --log <dir> ", "  --json ", "  -q, --quiet "] {
                #expect(options.contains(option), "chronik \(path.joined(separator: " ")) --help lacks \(option)")
            }
        }
    }

    @Test("each option's default is printed once")
    func defaultsOnce() async throws {
        // Proves no hand-written "(default …)" repeats the one argument-parser prints.
        for (path, help) in try await everyHelp() {
            guard let options = help.range(of: "OPTIONS:\n") else { continue }
            var entries: [String] = []
            for line in help[options.upperBound...].split(separator: "\n") {
                let t = line.drop { $0 == " " }
                if t.hasPrefix("-") && line.prefix(while: { $0 == " " }).count <= 2 { entries.append(String(t)) } else if !entries.isEmpty {
                    entries[entries.count - 1] += " " + t
                }
            }
            for entry in entries {
                let count = entry.components(separatedBy: "(default").count - 1
                #expect(count <= 1, "chronik \(path.joined(separator: " ")) --help: \(entry)")
            }
        }
    }
}
