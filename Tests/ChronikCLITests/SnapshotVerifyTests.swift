import Foundation
import Testing

// `chronik verify` checks the snapshots of `chronik snapshot` against the log.

@Suite("verify checks snapshots")
struct SnapshotVerifyTests {
    func snapshotFile(_ dir: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/snapshots").filter { $0.hasSuffix(".snap") }
        return dir + "/snapshots/" + (try #require(names.sorted().first))
    }

    @Test func snapshotsAreCheckedAgainstTheLog() async throws {
        // Proves: a good snapshot passes (also once the log has grown past it, by its chain hash at its position);
        // a flipped byte fails on the checksum, and a re-checksummed snapshot with another chain hash fails as
        // "another history" — both exit 1 with --strict-snapshots naming the snapshot file (without it, exit 0:
        // a snapshot is a cache, issue 10 point 11, DamageCLITests).
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(shopLines.prefix(8).joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        #expect(try await chronik(["snapshot", "--log", dir]).exitCode == 0)
        var r = try await chronik(["verify", "--log", dir, "--json"])
        #expect(r.exitCode == 0 && (jsonObjects(r.stdout).first?["snapshotsChecked"] as? Int) == 1, "\(r)")

        let more = try writeTemp(shopLines[8] + "\n")
        #expect(try await chronik(["import", "--log", dir, more]).exitCode == 0)
        r = try await chronik(["verify", "--log", dir])
        #expect(r.exitCode == 0 && r.stdout.contains("1 snapshot"), "\(r)")

        let path = try snapshotFile(dir)
        let original = try fileBytes(path)
        var flipped = original
        flipped[original.count / 2] ^= 0x04
        try writeFile(path, flipped)
        r = try await chronik(["verify", "--log", dir, "--strict-snapshots"])
        #expect(r.exitCode == 1 && r.stdout.contains("snapshots/snapshot-") && r.stdout.contains("checksum"), "\(r)")

        var forged = original
        forged[21 + 5] ^= 0x01
        writeUInt32LE(crc32c(forged[..<(forged.count - 4)]), into: &forged, at: forged.count - 4)
        try writeFile(path, forged)
        r = try await chronik(["verify", "--log", dir, "--strict-snapshots"])
        #expect(r.exitCode == 1 && r.stdout.contains("another history"), "\(r)")

        try writeFile(path, original)
        #expect(try await chronik(["verify", "--log", dir]).exitCode == 0)
    }
}
