import Foundation
import Testing

@Suite("chronik keygen, digest, verify --digest, export --audit/--format csv")
struct AuditTests {
    @Test("keygen writes a 0600 private key and PATH.pub, refuses to overwrite without --force")
    func keygen() async throws {
        let dir = makeTempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeDir(dir) }
        let key = dir + "/audit-key"
        let r = try await chronik(["keygen", "--out", key, "--json"])
        #expect(r.exitCode == 0, "\(r)")
        let id = try #require(jsonObjects(r.stdout).first?["keyId"] as? String)
        #expect(id.count == 32)
        var st = stat()
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(FileManager.default.fileExists(atPath: key + ".pub"))
        let before = try fileBytes(key)

        let again = try await chronik(["keygen", "--out", key])
        #expect(again.exitCode == 1, "\(again)")
        #expect(again.stderr.contains("refusing to overwrite"), "\(again)")
        #expect(try fileBytes(key) == before)

        let forced = try await chronik(["keygen", "--out", key, "--force"])
        #expect(forced.exitCode == 0, "\(forced)")
        #expect(try fileBytes(key) != before)
        #expect(stat(key, &st) == 0 && st.st_mode & 0o777 == 0o600)

        let usage = try await chronik(["keygen"])
        #expect(usage.exitCode == 64, "\(usage)")

        // A private key others may read is refused, as serve refuses such a
        // tokens file (stop 34: digest signed with a key of mode 644).
        let log = makeTempDir("log")
        defer { removeDir(log) }
        _ = try await makeLog(log, count: 3, streams: 1, batch: 3)
        #expect(chmod(key, 0o644) == 0)
        let open = try await chronik(["digest", "--log", log, "--key", key])
        #expect(open.exitCode == 1 && open.stderr.contains("may be read by others (mode 644): chmod 600"), "\(open)")
        #expect(chmod(key, 0o600) == 0)
        #expect(try await chronik(["digest", "--log", log, "--key", key]).exitCode == 0)
        // The public key given for the private one is named as such, not sent to chmod first (stop 35).
        let pub = try await chronik(["digest", "--log", log, "--key", key + ".pub"])
        #expect(pub.exitCode == 1 && pub.stderr.contains("this is a public key file, a private key is needed")
                && !pub.stderr.contains("chmod"), "\(pub)")
    }

    @Test("digest, then verify --digest: holds, holds after appends, fails on a forged digest, the wrong key, a truncated log")
    func digestRoundTrip() async throws {
        let dir = makeTempDir(), keys = makeTempDir("keys")
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        defer { removeDir(dir); removeDir(keys) }
        _ = try await makeLog(dir, count: 60, streams: 3, batch: 7, extraArguments: ["--segment-size", "4K"])
        #expect(try await chronik(["keygen", "--out", keys + "/k"]).exitCode == 0)
        #expect(try await chronik(["keygen", "--out", keys + "/other"]).exitCode == 0)
        let digestFile = keys + "/digest.json"
        let d = try await chronik(["digest", "--log", dir, "--key", keys + "/k", "--out", digestFile, "--json"])
        #expect(d.exitCode == 0, "\(d)")
        let printed = try #require(jsonObjects(d.stdout).first)
        #expect(printed["position"] as? Int == 60)
        let stats = try await chronik(["stats", "--json", "--log", dir])
        #expect(printed["chainHash"] as? String == jsonObjects(stats.stdout).first?["headHash"] as? String)
        let file = try #require(jsonObjects(String(decoding: try fileBytes(digestFile), as: UTF8.self)).first)
        #expect(file["signature"] as? String == printed["signature"] as? String)

        let verify = ["verify", "--log", dir, "--digest", digestFile, "--public-key", keys + "/k.pub"]
        var r = try await chronik(verify)
        #expect(r.exitCode == 0, "\(r)")
        #expect(r.stdout.contains("digest holds"), "\(r)")

        // Appends after the digest are allowed and counted.
        let copy = dir + "-before"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        defer { removeDir(copy) }
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "s-9") + "\n" + eventLine(stream: "s-9") + "\n").exitCode == 0)
        r = try await chronik(verify + ["--json"])
        #expect(r.exitCode == 0, "\(r)")
        let digestReport = try #require(jsonObjects(r.stdout).first?["digest"] as? [String: Any])
        #expect(digestReport["holds"] as? Bool == true)
        #expect(digestReport["appendedSince"] as? Int == 2)

        // A digest of the longer log against the older copy: truncated.
        let longer = keys + "/digest-62.json"
        #expect(try await chronik(["digest", "--log", dir, "--key", keys + "/k", "--out", longer]).exitCode == 0)
        r = try await chronik(["verify", "--log", copy, "--digest", longer, "--public-key", keys + "/k.pub"])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("log truncated: digest covers 62 events, log has 60"), "\(r)")
        // The last line is the verdict (stop 32: "OK" followed a failing digest).
        #expect(r.stdoutLines.last?.hasPrefix("DIGEST FAILS: log truncated") == true, "\(r)")
        #expect(!r.stdoutLines.contains("OK"), "\(r)")

        // Wrong key.
        r = try await chronik(["verify", "--log", dir, "--digest", digestFile, "--public-key", keys + "/other.pub"])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("digest signature invalid (forged or wrong key)"), "\(r)")
        #expect(r.stdoutLines.last?.hasPrefix("DIGEST FAILS: digest signature invalid") == true, "\(r)")

        // Forged: the position edited in the file.
        let forgedFile = keys + "/forged.json"
        let text = String(decoding: try fileBytes(digestFile), as: UTF8.self).replacingOccurrences(of: "\"position\":60", with: "\"position\":61")
        #expect(text.contains("\"position\":61"))
        try writeFile(forgedFile, Array(text.utf8))
        r = try await chronik(["verify", "--log", dir, "--digest", forgedFile, "--public-key", keys + "/k.pub"])
        #expect(r.exitCode == 1, "\(r)")
        #expect(r.stderr.contains("digest signature invalid (forged or wrong key)"), "\(r)")

        // Usage: one without the other.
        r = try await chronik(["verify", "--log", dir, "--digest", digestFile])
        #expect(r.exitCode == 64, "\(r)")
    }

    @Test("export --audit: each line's chainHash; the line at the digest's position carries the digest's chain hash")
    func auditExportAgainstDigest() async throws {
        let dir = makeTempDir(), keys = makeTempDir("keys")
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        defer { removeDir(dir); removeDir(keys) }
        _ = try await makeLog(dir, count: 50, streams: 4, batch: 6, extraArguments: ["--segment-size", "4K"])
        #expect(try await chronik(["keygen", "--out", keys + "/k"]).exitCode == 0)
        let d = try await chronik(["digest", "--log", dir, "--key", keys + "/k", "--json"])
        let digest = try #require(jsonObjects(d.stdout).first)
        let position = try #require(digest["position"] as? Int)
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "late") + "\n").exitCode == 0)

        let r = try await chronik(["export", "--log", dir, "--audit", "--to", String(position - 1)])
        #expect(r.exitCode == 0, "\(r)")
        let lines = jsonObjects(r.stdout)
        #expect(lines.count == position)
        #expect(lines.last?["position"] as? Int == position - 1)
        #expect(lines.last?["chainHash"] as? String == digest["chainHash"] as? String)
        #expect(lines.allSatisfy { ($0["chainHash"] as? String)?.count == 64 })

        // The plain export has no chainHash and is unchanged by the new options' existence.
        let plain = try await chronik(["export", "--log", dir])
        #expect(plain.exitCode == 0)
        #expect(!plain.stdout.contains("chainHash"))
        #expect(jsonObjects(plain.stdout).count == position + 1)
    }

    @Test("export --format csv with --from-time/--to-time and --type; bad options are usage errors")
    func csvAndTimeWindow() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var lines: [String] = []
        for i in 0..<12 {
            let time = String(format: "2026-11-25T10:%02d:00Z", i)
            lines.append(eventLine(stream: "s-\(i % 2)", type: i % 3 == 0 ? "Odd" : "Even", data: "{\"note\":\"a,\\\"b\\\"\",\"i\":\(i)}",
                                   extra: "\"time\":\"\(time)\""))
        }
        let a = try await chronik(["append", "--log", dir], input: lines.joined(separator: "\n") + "\n")
        try #require(a.exitCode == 0, "\(a)")
        let r = try await chronik(["export", "--log", dir, "--format", "csv", "--type", "Even",
                                   "--from-time", "2026-11-25T10:02:00Z", "--to-time", "2026-11-25T10:08:00Z"])
        #expect(r.exitCode == 0, "\(r)")
        let rows = r.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(rows.first == "position,stream,version,type,id,time,recordedAt,chainHash,data,meta")
        // Minutes 2…8 whose index is not a multiple of 3: 2, 4, 5, 7, 8.
        #expect(rows.count == 6, "\(r)")
        #expect(rows.dropFirst().allSatisfy { $0.contains(",Even,") })
        #expect(rows.dropFirst().allSatisfy { $0.hasSuffix("}\",") && $0.contains("\"\"note\"\":\"\"a,\\\"\"b\\\"\"\"\"") }, "\(rows)")

        for bad in [["--format", "xml"], ["--from-time", "yesterday"], ["--format", "csv", "--audit"],
                    ["--from", "2026-11-25T10:00:00Z", "--from-time", "2026-11-25T10:00:00Z"]] {
            let u = try await chronik(["export", "--log", dir] + bad)
            #expect(u.exitCode == 64, "\(bad): \(u)")
        }
    }
}
