import Foundation
import Testing

// What an i18n and odd-input review and a finance controller met at stop 39,
// through the CLI: each case failed before that stop's fixes.
@Suite("odd input through the CLI (stop 39)")
struct InputEdgeCLITests {
    /// A line whose unknown field's name holds an OSC escape sequence.
    static let titleSequence = #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":"/","x\u001b]0;PWNED\u0007":1}}"#

    @Test func errorsQuoteTheirInputWithoutControlCharacters() async throws {
        // Proves stop 39's finding: an error naming an unknown field, a bad time, currency or enum value printed the
        // input's escape sequences raw to stderr (`\e]0;…\a` retitled the terminal); `query catalog --category nope`
        // did the same with a stored category.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let lines = [(Self.titleSequence, true),
                     (#"{"type":"PageViewed","time":"2024-05-01T10:00:00Z\u001b[31m","data":{"sessionId":"s-2","path":"/"}}"#, true),
                     (#"{"type":"SupportInteraction","time":"2024-05-01T10:00:00Z","data":{"customerId":"c-1","channel":"e\u009bmail\u202e","summary":"x"}}"#, false),
                     (#"{"type":"VariantAdded","time":"2024-05-01T10:00:00Z","data":{"productId":"p-1","sku":"s-1","price":1000,"currency":"E\u001b[2JU"}}"#, false)]
        for (line, alsoAppend) in lines {
            let file = try writeTemp(line + "\n")
            var runs = [try await chronik(["import", "--log", dir, file])]
            if alsoAppend { runs.append(try await chronik(["append", "--log", dir, "-"], input: line + "\n")) }
            for run in runs {
                #expect(run.exitCode == 1, "\(run)")
                #expect(!run.stderr.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E },
                        "raw control characters on stderr: \(run.stderr.debugDescription)")
                #expect(run.stderr.contains(#"\u001b"#) || run.stderr.contains(#"\u009b"#), "escaped as JSON would: \(run.stderr)")
            }
        }
        let catalog = try writeTemp(#"{"type":"ProductCreated","time":"2024-05-01T00:00:00Z","data":{"productId":"p1","title":"T","category":"cat\u001b]0;OWNED\u0007"}}"# + "\n")
        #expect(try await chronik(["import", "--log", dir, catalog]).exitCode == 0)
        let nope = try await chronik(["query", "catalog", "--category", "nope", "--log", dir])
        #expect(nope.exitCode == 1 && nope.stderr.contains(#"cat\u001b]0;OWNED\u0007"#), "\(nope)")
        #expect(!nope.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(nope.stderr.debugDescription)")
    }

    @Test func minusZeroIsTheIntegerZero() async throws {
        // Proves stop 39's finding: "discount": -0 (valid JSON for zero) was refused "must be an integer within
        // 64 bits, got -0"; the field's own rule decides now.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let file = try writeTemp(#"""
            {"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-1","customerId":"c-1","lines":[{"sku":"a","qty":1,"unitPrice":500}],"currency":"EUR","discount":-0,"shippingAddress":{"line1":"a","city":"b","postalCode":"1","country":"DE"}}}

            """#)
        let run = try await chronik(["import", "--log", dir, file])
        #expect(run.exitCode == 0, "\(run)")
        let zero = try writeTemp(#"{"type":"StockAdjusted","time":"2024-05-01T10:00:00Z","data":{"sku":"a","warehouseId":"w","delta":-0,"reason":"x"}}"# + "\n")
        let refused = try await chronik(["import", "--log", dir, zero])
        #expect(refused.exitCode == 1 && refused.stderr.contains("invalidDelta") && !refused.stderr.contains("64 bits"), "\(refused)")
    }

    @Test func aRetryInAnotherUnicodeFormIsNotTheSameEvent() async throws {
        // Proves stop 39's finding: the same id with "café" in NFC, then in NFD, was an idempotent retry for
        // `import` (Swift compares strings by canonical equivalence) while POST /commands, the log and two lines of
        // one input compare bytes (409 duplicateEventId). One rule: bytes.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let id = "7d4f7a5e-3c1b-4b7e-9a53-0c6f1f7f2a10"
        func line(_ path: String) -> String {
            #"{"id":"\#(id)","type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":"\#(path)"}}"# + "\n"
        }
        #expect(try await chronik(["import", "--log", dir, try writeTemp(line("caf\u{E9}"))]).exitCode == 0)
        let same = try await chronik(["import", "--log", dir, try writeTemp(line("caf\u{E9}"))])
        #expect(same.exitCode == 0 && same.stdout.contains("already in the log"), "\(same)")
        let nfd = try await chronik(["import", "--log", dir, try writeTemp(line("cafe\u{301}"))])
        #expect(nfd.exitCode == 1 && nfd.stderr.contains("duplicateEventId"), "\(nfd)")
    }

    @Test func anExportBoundThatIsATimeSaysWhyItIsRefused() async throws {
        // Proves stop 39's finding: `export --from 2024-03-10T00:00:00.0000001Z` said "must be … an RFC 3339 time",
        // which it is; the reason is the fraction finer than the microsecond.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        #expect(try await chronik(["append", "--log", dir], input: eventLine(stream: "s-1", type: "Note", data: "{}") + "\n").exitCode == 0)
        let run = try await chronik(["export", "--log", dir, "--from", "2024-03-10T00:00:00.0000001Z"])
        #expect(run.exitCode == 64 && run.stderr.contains("7 fractional digits"), "\(run)")
        let noZone = try await chronik(["export", "--log", dir, "--from-time", "2024-03-10T00:00:00"])
        #expect(noZone.exitCode == 64 && noZone.stderr.contains("no time zone"), "\(noZone)")
    }

    @Test func anEventWrittenWithEveryCharacterEscapedFitsItsLine() async throws {
        // Proves stop 39's finding: a 2 MB event of accented text, 6.3 MB as Python's json.dumps writes it
        // (ensure_ascii: "é" is the 6 bytes \u00e9), was lineTooLong for import and append, and 201 over HTTP.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let line = #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":""#
            + String(repeating: #"\u00e9"#, count: 1 << 20) + "\"}}\n"
        #expect(line.utf8.count > (4 << 20) + (1 << 20), "longer than the old limit")
        let file = try writeTemp(line)
        let imported = try await chronik(["import", "--log", dir, file])
        #expect(imported.exitCode == 0, "\(imported.stderr)")
        let appended = try await chronik(["append", "--log", dir, file])
        #expect(appended.exitCode == 0 && appended.stdout.contains("already in the log") == false, "\(appended.stderr)")
        #expect(try await headPosition(dir) == 2)
    }
}
