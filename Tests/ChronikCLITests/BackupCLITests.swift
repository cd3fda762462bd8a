import ChronikLog
import Foundation
import Testing

/// Proves `chronik backup` (stop 37, an operator's backups of a live log:
/// no command made a consistent copy, and some file copies could not be
/// opened). A copy taken beside a writer is the log up to its head, with
/// its key store; a customer forgotten between the two copies is named.
@Suite("chronik backup")
struct BackupCLITests {
    @Test func aCopyBesideAWriterExportsAsTheLogAndOpensItsPersonalData() async throws {
        let dir = makeTempDir()
        let target = makeTempDir("copy")
        defer { removeDir(dir); removeDir(target); removeDir(target + "-again") }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        let writer = try EventLog.open(at: dir)  // a live writer holds the log: the copy still works
        let r = try await chronik(["backup", "--log", dir, "--to", target, "--json"])
        try writer.close()
        #expect(r.exitCode == 0, "\(r)")
        let report = try #require(jsonObjects(r.stdout).first)
        #expect(report["head"] as? Int == shopLines.count && report["verified"] as? Bool == true, "\(r.stdout)")
        #expect((report["keyStore"] as? [String: Any])?["directory"] as? String == target + ".keys", "\(r.stdout)")
        #expect((report["forgottenAfterTheCopiedHead"] as? [Any])?.isEmpty == true)
        #expect(FileManager.default.fileExists(atPath: target + ".keys") && !FileManager.default.fileExists(atPath: target + ".partial"))
        // The same events, the same personal data in clear, the same chain.
        let original = try await chronik(["export", "--log", dir])
        let copied = try await chronik(["export", "--log", target])
        #expect(original.exitCode == 0 && copied.exitCode == 0 && copied.stdout == original.stdout && original.stdout.contains("a@example.org"))
        let heads = try await [chronik(["stats", "--log", dir, "--json"]), chronik(["stats", "--log", target, "--json"])]
        #expect(jsonObjects(heads[0].stdout).first?["headHash"] as? String == jsonObjects(heads[1].stdout).first?["headHash"] as? String)

        // An existing target is refused and left as it was; so is a key store's.
        let again = try await chronik(["backup", "--log", dir, "--to", target])
        #expect(again.exitCode == 1 && again.stderr.contains("exists"), "\(again)")
        let keysTaken = try await chronik(["backup", "--log", dir, "--to", target + "-again", "--keys-to", target + ".keys"])
        #expect(keysTaken.exitCode == 1 && keysTaken.stderr.contains("exists"), "\(keysTaken)")
        #expect(!FileManager.default.fileExists(atPath: target + "-again"))
        #expect(try await chronik(["backup", "--log", dir, "--to", ""]).exitCode == 64)
        let inside = try await chronik(["backup", "--log", dir, "--to", dir + "/copy"])
        #expect(inside.exitCode == 1 && inside.stderr.contains("inside the log directory"), "\(inside)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/copy"))
    }

    @Test func aCustomerForgottenBetweenTheLogsCopyAndTheKeysIsNamed() async throws {
        // The log as it was before the erasure, the key store as after it:
        // what a copy of the log and then of the keys meets when `forget`
        // runs between the two.
        let dir = makeTempDir()
        let before = makeTempDir("before")
        let target = makeTempDir("copy")
        defer { removeDir(dir); removeDir(before); removeDir(target) }
        let file = try writeTemp(shopLines.joined(separator: "\n") + "\n")
        #expect(try await chronik(["import", "--log", dir, file]).exitCode == 0)
        try FileManager.default.copyItem(atPath: dir, toPath: before)
        #expect(try await chronik(["forget", "--log", dir, "customer", "c-1"]).exitCode == 0)
        let r = try await chronik(["backup", "--log", before, "--keys", dir + ".keys", "--to", target, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        #expect(jsonObjects(r.stdout).first?["forgottenAfterTheCopiedHead"] as? [String] == ["c-1"], "\(r.stdout)")
        #expect(r.stderr.contains("1 customer was forgotten after the copied head (c-1)"), "\(r.stderr)")
        // Its export would not import (null personal data for a customer the log does not call forgotten):
        // export fails and says so (stop 37: exit 0); `forget` on the copy writes the event, and then it does.
        let refused = try await chronik(["export", "--log", target])
        #expect(refused.exitCode == 1 && refused.stderr.contains("the export will not import") && refused.stderr.contains("(c-1)"), "\(refused.stderr)")
        #expect(try await chronik(["forget", "--log", target, "customer", "c-1"]).exitCode == 0)
        let exported = try await chronik(["export", "--log", target])
        #expect(exported.exitCode == 0, "\(exported.stderr)")
        let reimported = makeTempDir("reimported")
        defer { removeDir(reimported) }
        let exportFile = try writeTemp(exported.stdout)
        let imported = try await chronik(["import", "--log", reimported, exportFile])
        #expect(imported.exitCode == 0, "\(imported)")
        // Once the log's copy holds the CustomerForgotten, nothing is named.
        let later = makeTempDir("later")
        defer { removeDir(later) }
        let after = try await chronik(["backup", "--log", dir, "--to", later, "--json"])
        #expect(after.exitCode == 0 && (jsonObjects(after.stdout).first?["forgottenAfterTheCopiedHead"] as? [Any])?.isEmpty == true, "\(after)")
    }

    @Test func aDamagedLogIsNotBackedUp() async throws {
        let dir = makeTempDir()
        let target = makeTempDir("copy")
        defer { removeDir(dir); removeDir(target) }
        _ = try await makeLog(dir, count: 50, batch: 10)
        let segment = dir + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".log") }!)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let r = try await chronik(["backup", "--log", dir, "--to", target])
        #expect(r.exitCode == 1, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: target) && !FileManager.default.fileExists(atPath: target + ".partial"))
    }

    @Test func damageInASealedSegmentKeepsNoCopy() async throws {
        // Found by the open (the sealed segment's batches against its
        // index) or by the copy's verification: either way no copy is kept.
        let dir = makeTempDir()
        let target = makeTempDir("copy")
        defer { removeDir(dir); removeDir(target) }
        _ = try await makeLog(dir, count: 400, batch: 10, extraArguments: ["--segment-size", "4096"])
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(segments.count >= 3, "\(segments)")
        let first = dir + "/" + segments[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: first)))
        bytes[bytes.count - 20] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: first))
        let r = try await chronik(["backup", "--log", dir, "--to", target])
        #expect(r.exitCode == 1 && r.stderr.contains(segments[0] + " at byte "), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: target) && !FileManager.default.fileExists(atPath: target + ".partial"))
    }
}
