import Foundation
import Testing

/// Proves stop 38's finding (a newcomer): `import --log shpo` (a typo)
/// and `append` created a second, empty shop without a word, while `serve`
/// warned. Each writing command now notes it created the log, once.
@Suite struct NewLogNoteTests {
    @Test(arguments: ["import", "append"])
    func aCommandThatCreatesItsLogSaysSo(_ command: String) async throws {
        let dir = makeTempDir() + "-" + command
        defer { removeDir(dir) }
        let line = command == "import" ? shopLines[1] : eventLine(stream: "s-1", type: "Note", data: "{}")
        let first = try await chronik([command, "--log", dir], input: line + "\n")
        #expect(first.exitCode == 0 && first.stderr.contains("there was no log at \(dir): created a new one"), "\(first)")
        let second = try await chronik([command, "--log", dir], input: (command == "import" ? shopLines[0] : line) + "\n")
        #expect(second.exitCode == 0 && !second.stderr.contains("there was no log"), "\(second)")
        let quiet = try await chronik([command, "--log", dir + "-q", "-q"], input: line + "\n")
        defer { removeDir(dir + "-q") }
        #expect(quiet.exitCode == 0 && !quiet.stderr.contains("there was no log"), "-q says nothing: \(quiet)")
    }
}
