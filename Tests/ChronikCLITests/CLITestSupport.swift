@_spi(Testing) import ChronikLog
import ChronikTestSupport
import Foundation
import Subprocess
import SystemPackage
import Testing

// Helpers for running the real `chronik` binary: the tests check its stdout,
// stderr and exit status, as a user or a script would see them.

/// The `chronik` executable that SwiftPM built next to this test bundle.
let chronikPath: String = {
    if let explicit = ProcessInfo.processInfo.environment["CHRONIK_BIN"] { return explicit }
    var dirs: [String] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        dirs.append((exe as NSString).deletingLastPathComponent)
    }
    dirs.append((CommandLine.arguments[0] as NSString).deletingLastPathComponent)
    dirs.append(Bundle.main.bundlePath)
    dirs.append((Bundle.main.bundlePath as NSString).deletingLastPathComponent)
    for dir in dirs {
        let candidate = dir + "/chronik"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return (dirs.first ?? ".") + "/chronik"
}()

/// What a run of the binary produced.
struct Run: CustomStringConvertible {
    var status: TerminationStatus
    var stdout: String
    var stderr: String

    /// The exit code, or nil when a signal ended the process.
    var exitCode: Int32? {
        if case .exited(let code) = status { return code }
        return nil
    }

    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Runs `chronik` with `arguments`, feeding `input` on stdin.
func chronik(_ arguments: [String], input: String? = nil, platformOptions: PlatformOptions = PlatformOptions(),
             in workingDirectory: String? = nil) async throws -> Run {
    try await run(.path(FilePath(chronikPath)), arguments, input: input, platformOptions: platformOptions, in: workingDirectory)
}

/// Runs any executable and collects its output.
///
/// Input is fed from a temporary file, not a pipe: a child that exits
/// before reading all of its stdin (every bad-input test) would make the
/// pipe write fail, which swift-subprocess 1.0.2 turns into a crash of the
/// test process.
func run(_ executable: Executable, _ arguments: [String], input: String? = nil,
         platformOptions: PlatformOptions = PlatformOptions(), in workingDirectory: String? = nil) async throws -> Run {
    let limit = 64 << 20
    let workingDirectory = workingDirectory.map { FilePath($0) }
    if let input {
        let path = FileManager.default.temporaryDirectory.path + "/chronik-stdin-" + UUID().uuidString
        try Data(input.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = try FileDescriptor.open(FilePath(path), .readOnly)
        let r = try await Subprocess.run(executable, arguments: Arguments(arguments), workingDirectory: workingDirectory,
                                         platformOptions: platformOptions, input: .fileDescriptor(fd, closeAfterSpawningProcess: true),
                                         output: .string(limit: limit), error: .string(limit: limit))
        return Run(status: r.terminationStatus, stdout: r.standardOutput, stderr: r.standardError)
    }
    let r = try await Subprocess.run(executable, arguments: Arguments(arguments), workingDirectory: workingDirectory,
                                     platformOptions: platformOptions, input: .none, output: .string(limit: limit), error: .string(limit: limit))
    return Run(status: r.terminationStatus, stdout: r.standardOutput, stderr: r.standardError)
}

/// This test process's own directory (removed at exit).
let cliTestRunDirectory = makeTestRunDirectory("chronik-cli-tests")

/// A fresh path for a log (not created), under one directory per run.
func makeTempDir(_ name: String = #function) -> String {
    let base = cliTestRunDirectory
    return base + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
}

func removeDir(_ path: String) {
    // A test may have made the directory read-only; make it removable.
    _ = chmod(path, 0o755)
    try? FileManager.default.removeItem(atPath: path)
    // The key store that commerce commands keep beside the log.
    try? FileManager.default.removeItem(atPath: path + ".keys")
}

/// JSON Lines output parsed into objects (a line that is not an object fails the test).
func jsonObjects(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { line in
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        if object == nil { Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation) }
        return object
    }
}

/// One JSON Lines event for `append`.
func eventLine(stream: String, type: String = "Tested", data: String = "{}", extra: String = "") -> String {
    "{\"stream\":\"\(stream)\",\"type\":\"\(type)\",\"data\":\(data)\(extra.isEmpty ? "" : "," + extra)}"
}

/// Appends `count` events to a new log (round-robin over `streams`
/// streams, `batch` events per batch at most); returns the directory.
func makeLog(_ dir: String, count: Int, streams: Int = 1, batch: Int = 1000, extraArguments: [String] = [],
             sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
    // Consecutive lines of one stream share a batch, so group by stream run.
    var lines: [String] = []
    for i in 0..<count {
        lines.append(eventLine(stream: "s-\(i * streams / max(count, 1))", data: "{\"i\":\(i)}"))
    }
    let r = try await chronik(["append", "--log", dir, "--batch", String(batch)] + extraArguments, input: lines.joined(separator: "\n") + "\n")
    #expect(r.exitCode == 0, "\(r)", sourceLocation: sourceLocation)
    return dir
}

/// The log's head position, read through `stats --json`.
func headPosition(_ dir: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int? {
    let r = try await chronik(["stats", "--json", "--log", dir])
    #expect(r.exitCode == 0, "\(r)", sourceLocation: sourceLocation)
    return jsonObjects(r.stdout, sourceLocation: sourceLocation).first?["headPosition"] as? Int
}

/// Whether nothing was written at `dir`: no log there (a failed command
/// created none, or removed the one it created), or an empty one.
func holdsNoEvent(_ dir: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Bool {
    if !FileManager.default.fileExists(atPath: dir + "/chronik.meta") { return true }
    return try await headPosition(dir, sourceLocation: sourceLocation) == 0
}

/// Batch offsets and lengths of a segment, read through `inspect --json`.
func batches(_ dir: String, segment: String = "0") async throws -> [(offset: Int, length: Int)] {
    let r = try await chronik(["inspect", "--json", "--log", dir, segment])
    return jsonObjects(r.stdout).filter { $0["kind"] as? String == "batch" }.map {
        ($0["offset"] as? Int ?? -1, $0["length"] as? Int ?? -1)
    }
}

/// CRC32C (Castagnoli), bit by bit: slow and obviously right, for forging
/// batches in tests.
func crc32c<C: Collection<UInt8>>(_ bytes: C) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
    }
    return ~crc
}

func readUInt32LE(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

func writeUInt32LE(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
    for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
}

func fileBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

let firstSegment = "00000000000000000000.log"

extension LogOptions {
    /// A log that takes stream names and types with control characters, as
    /// releases before stop 32 wrote them: readers must still print them
    /// escaped.
    static var namesAsBeforeStop32: LogOptions {
        var o = LogOptions()
        o.acceptsControlCharactersInNames = true
        return o
    }
}
