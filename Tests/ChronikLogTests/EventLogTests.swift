import Foundation
import Testing
@testable import ChronikLog

@Suite("EventLog basics")
struct EventLogTests {
    @Test("appended events read back in order, forward and backward, across reopen")
    func appendReadReopen() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 8192
        do {
            let log = try EventLog.open(at: dir, options: options)
            for i in 0..<200 {
                let r = try await log.append(to: "s-\(i % 7)", [event("E", "payload \(i) " + String(repeating: "x", count: i % 50))])
                #expect(r.firstPosition == Position(UInt64(i)))
            }
            #expect(log.head == Position(200))
            let all = try log.readAll().collect()
            #expect(all.map(\.position.value) == Array(0..<200))
            #expect(String(decoding: all[42].data, as: UTF8.self).hasPrefix("payload 42 "))
            let back = try log.readAll(direction: .backward).collect()
            #expect(back.map(\.position.value) == Array((0..<200).reversed()))
            let s3 = try log.read(stream: "s-3").collect()
            #expect(s3.map(\.version.value) == Array(0..<UInt64(s3.count)))
            #expect(s3.allSatisfy { $0.stream == "s-3" })
            let stats = try log.stats()
            #expect(stats.segments > 1)
            try log.close()
        }
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        #expect(log.head == Position(200))
        #expect(log.recovery.bytesTruncated == 0)
        let all = try log.readAll(from: Position(150)).collect()
        #expect(all.map(\.position.value) == Array(150..<200))
        #expect(log.lastVersion(of: "s-3") == StreamVersion(UInt64(try log.read(stream: "s-3").collect().count - 1)))
        let r = try await log.append(to: "s-3", [event("E", "after reopen")])
        #expect(r.firstPosition == Position(200))
    }

    @Test("expected version mismatch names stream, expected and actual, and writes nothing")
    func expectedVersion() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        try await log.append(to: "order-1", [event("A", "1"), event("B", "2")], expected: .noStream)
        await #expect(throws: ChronikLogError.self) { try await log.append(to: "order-1", [event("C", "3")], expected: .noStream) }
        do {
            try await log.append(to: "order-1", [event("C", "3")], expected: .exact(0))
            Issue.record("should have thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == .wrongExpectedVersion)
            #expect(e.stream == "order-1")
            #expect(e.expectedVersion == .exact(0))
            #expect(e.actualVersion == .some(1))
        }
        await #expect(throws: ChronikLogError.self) { try await log.append(to: "order-2", [event("C", "3")], expected: .exists) }
        #expect(log.head == Position(2))
        try await log.append(to: "order-1", [event("C", "3")], expected: .exact(1))
        try await log.append(to: "order-1", [event("D", "4")], expected: .exists)
        #expect(log.lastVersion(of: "order-1") == StreamVersion(3))
    }

    @Test("a 1,000-event batch, whose ids the writer indexes beside its fdatasync, is found by id at its positions, and appended again is a duplicate",
          arguments: [false, true])
    func largeBatchIdempotency(mixed: Bool) async throws {
        // Stop 43: a group of 256 events or more has its ids put in the id table on a helper while its fdatasync
        // runs, not after it. `mixed`: the retry carries one new event, which makes it a conflict, not a duplicate.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        try await log.append(to: "before", [event("A", "zero")])
        let batch = (0..<1000).map { event("B", "\($0)") }
        let first = try await log.append(to: "s", batch)
        #expect(first.firstPosition == Position(1))
        for (i, e) in batch.enumerated() { #expect(log.position(ofEventID: e.id) == Position(UInt64(1 + i))) }
        #expect(try await log.storedCount(ofIDs: batch.map(\.id)) == 1000)
        if mixed {
            await #expect(throws: ChronikLogError.self) { try await log.append(to: "s", batch + [event("C", "new")]) }
        } else {
            let again = try await log.append(to: "s", batch)
            #expect(again.wasDuplicate && again.positions == first.positions)
        }
        #expect(log.head == Position(1001))
        let next = try await log.append(to: "s", (0..<300).map { event("D", "\($0)") })
        #expect(next.firstPosition == Position(1001) && next.versions.first == StreamVersion(1000))
    }

    @Test("re-appending the same ids returns the original positions; other content is an error")
    func idempotency() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        let a = event("A", "one"), b = event("B", "two")
        let first = try await log.append(to: "s", [a, b], expected: .noStream)
        try await log.append(to: "other", [event("X", "x")])
        let again = try await log.append(to: "s", [a, b], expected: .noStream)
        #expect(again.wasDuplicate)
        #expect(again.positions == first.positions)
        #expect(log.head == Position(3))
        var changed = a
        changed.data = Array("changed".utf8)
        do {
            try await log.append(to: "s", [changed])
            Issue.record("should have thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == .duplicateEventId)
            #expect(e.message.hasSuffix("for other content"), "\(e.message)")
        }
        // The same event sent to another stream: said as such (stop 34: it
        // read "for other content" while type and data were the same).
        do {
            try await log.append(to: "t", [a])
            Issue.record("should have thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == .duplicateEventId)
            #expect(e.message.contains("(stream 's', type A) in another stream") && e.message.hasSuffix("this append is to 't'"), "\(e.message)")
        }
        // The same batch in another order is not a retry (stop 34: accepted, first position after the last).
        do {
            try await log.append(to: "s", [b, a])
            Issue.record("a reordered batch should have thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == .duplicateEventId && e.message.contains("in its order"), "\(e.message)")
        }
        await #expect(throws: ChronikLogError.self) { try await log.append(to: "s", [a, a]) }
        #expect(log.head == Position(3))
    }

    @Test("an id twice in one batch is refused whole, wherever the two are, in small and in large batches",
          arguments: [(2, 0, 1), (6, 2, 5), (16, 0, 15), (16, 14, 15), (17, 0, 16), (40, 3, 39), (40, 38, 39)])
    func anIDTwiceInOneBatchIsRefused(_ count: Int, _ first: Int, _ again: Int) async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        var events = (0..<count).map { event("T", "e\($0)") }
        try await log.append(to: "s", events)
        #expect(log.head == Position(UInt64(count)))
        events = (0..<count).map { event("T", "f\($0)") }
        events[again].id = events[first].id
        do {
            try await log.append(to: "s", events)
            Issue.record("should have thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == .duplicateEventId && e.message.contains("appears twice in one batch"), "\(e.message)")
        }
        #expect(log.head == Position(UInt64(count)))
    }

    @Test("a second writer that finds the log being created by the first is told the log is locked, not that it is no log")
    func aLogBeingCreatedIsLocked() throws {
        // Proves stop 34's finding: the loser of two writers creating one log was told "no chronik.meta".
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let storage = PosixStorage()
        try storage.createDirectory(dir)
        let lock = try #require(try storage.lockExclusive(dir + "/" + LogFormat.lockFileName))
        let f = try storage.openFile(dir + "/" + LogFormat.segmentFileName(base: 0), create: true, readOnly: false)
        f.close()
        do {
            let log = try EventLog.open(at: dir)
            try? log.close()
            Issue.record("the open should have been refused")
        } catch let e as ChronikLogError {
            #expect(e.code == .locked, "\(e)")
        }
        lock.release()
        #expect(throws: ChronikLogError.self) { try EventLog.open(at: dir) }  // no writer: a directory without chronik.meta
    }

    @Test("a note in LOCK that names a process no longer running is not quoted as the holder")
    func aStaleLockNoteIsNotQuoted() throws {
        // Proves stop 38's finding (an upgrade): a writer of a release before stop 37 writes no note, so a refused
        // writer quoted the note an earlier, exited writer had left, naming a pid that could since be anyone's.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        try "pid 2147483646, since 2026-12-06T09:00:00Z, chronik append --log x\n"
            .write(toFile: dir + "/" + LogFormat.lockFileName, atomically: false, encoding: .utf8)
        #expect { _ = try EventLog.open(at: dir) } throws: { error in
            let e = error as? ChronikLogError
            return e?.code == .locked && e?.message.contains("its holder left no note (the note there names pid 2147483646, which is not running)") == true
                && e?.message.contains("by pid") == false
        }
    }

    @Test("a second writer is told which process holds the log: its pid, since when and its command, from LOCK")
    func theSecondWriterIsToldWhoHoldsTheLog() throws {
        // Proves stop 37's fix (an operator): "another process is writing this log" named none.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        let note = try String(contentsOfFile: dir + "/" + LogFormat.lockFileName, encoding: .utf8)
        #expect(note.hasPrefix("pid \(getpid()), since 20") && note.hasSuffix("\n"), "\(note)")
        do {
            let second = try EventLog.open(at: dir)
            try? second.close()
            Issue.record("a second writer opened the log")
        } catch let e as ChronikLogError {
            #expect(e.code == .locked && e.message.contains("by pid \(getpid()), since "), "\(e)")
        }
        var readOnly = LogOptions()
        readOnly.readOnly = true
        let reader = try EventLog.open(at: dir, options: readOnly)  // a reader neither needs nor changes the note
        try reader.close()
        #expect(try String(contentsOfFile: dir + "/" + LogFormat.lockFileName, encoding: .utf8) == note)
    }

    @Test("a writer holds the log even when its LOCK file is deleted: a second writer is refused, the first appends on")
    func deletingTheLockFileLetsNoSecondWriterIn() async throws {
        // Proves stop 35's finding: after `rm LOCK` a second writer made a new LOCK, appended at the position
        // the first writer then appended at too, and an acknowledged event was lost.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        _ = try await log.append(to: "s", [event("A", "1")])
        try FileManager.default.removeItem(atPath: dir + "/" + LogFormat.lockFileName)
        do {
            let second = try EventLog.open(at: dir)
            try? second.close()
            Issue.record("a second writer opened the log")
        } catch let e as ChronikLogError {
            #expect(e.code == .locked, "\(e)")
        }
        _ = try await log.append(to: "s", [event("A", "2")])
        #expect(log.head == Position(2))
        try log.close()
        let reopened = try EventLog.open(at: dir)  // the first writer gone, the log opens again
        #expect(reopened.head == Position(2))
        try reopened.close()
    }

    @Test("a creation killed before chronik.meta (LOCK and the metadata's temporary file left) is created again; a log that lost chronik.meta says so")
    func anInterruptedCreationIsCreatedAgain() async throws {
        // Proves stop 35's findings: after a kill -9 during creation every command called the directory
        // "no Chronik log" and only deleting it by hand helped; a log whose chronik.meta was deleted read the same.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/" + LogFormat.lockFileName, contents: Data())
        _ = FileManager.default.createFile(atPath: dir + "/" + LogFormat.metaFileName + ".tmp", contents: Data([1, 2, 3]))
        let log = try EventLog.open(at: dir)
        _ = try await log.append(to: "s", [event("A", "1")])
        try log.close()
        try FileManager.default.removeItem(atPath: dir + "/" + LogFormat.metaFileName)
        for readOnly in [false, true] {
            var o = LogOptions()
            o.readOnly = readOnly
            o.createIfMissing = false
            do {
                let l = try EventLog.open(at: dir, options: o)
                try? l.close()
                Issue.record("a log without chronik.meta opened")
            } catch let e as ChronikLogError {
                #expect(e.code == .notALog && e.message.contains("chronik.meta is missing, beside 1 segment file"), "\(e)")
            }
        }
    }

    @Test("beside a live writer, a bad final batch is not judged, and verify does not promise that an open truncates it")
    func verifyBesideALiveWriterJudgesNoFinalBatch() async throws {
        // Proves stop 35's finding: a flipped byte in the last acknowledged batch, beside a running writer, was a
        // warning saying "a writer's open truncates them" — a later open refuses it as damage.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        for i in 0..<3 { _ = try await log.append(to: "s", [event("A", "event \(i) " + String(repeating: "x", count: 40))]) }
        let segment = dir + "/" + LogFormat.segmentFileName(base: 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: segment))
        bytes[bytes.count - 5] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: segment))
        let report = try LogVerifier.verify(directory: dir)
        let warning = try #require(report.warnings.first, "\(report)")
        #expect(warning.reason.contains("not judged while it runs") && !warning.reason.contains("truncates"), "\(warning)")
    }

    @Test("bad input is refused with a typed error and writes nothing")
    func badInput() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.maxEventBytes = 1000
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        func code(_ body: () async throws -> Void) async -> ChronikLogError.Code? {
            do { try await body(); return nil } catch let e as ChronikLogError { return e.code } catch { return nil }
        }
        #expect(await code { try await log.append(to: "", [event("A", "x")]) } == .invalidStreamName)
        #expect(await code { try await log.append(to: String(repeating: "s", count: 257), [event("A", "x")]) } == .invalidStreamName)
        #expect(await code { try await log.append(to: "s", [event("A", String(repeating: "x", count: 2000))]) } == .eventTooLarge)
        #expect(await code { try await log.append(to: "s", []) } == .invalidBatch)
        #expect(await code { try await log.append(to: "s", [event("", "x")]) } == .invalidEventType)
        #expect(log.head == Position(0))
    }

    @Test("a stream name must be in Unicode NFC: names a reader sees as one are one stream on every backend")
    func streamNamesInNFC() async throws {
        // Swift's String == is canonical equivalence: before this rule, "café" precomposed and decomposed were
        // one stream here and two on PostgreSQL (which compares bytes). Decomposed is refused, nothing written;
        // precomposed, non-ASCII, case variants and ASCII are names of their own.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        let name = await #expect(throws: ChronikLogError.self) { try await log.append(to: "cafe\u{301}", [event("A", "x")]) }
        #expect(name?.code == .invalidStreamName)
        #expect(name?.message.contains("U+65 U+301") == true && name?.message.contains("U+E9") == true, "\(String(describing: name))")
        #expect(log.head == Position(0))
        await #expect(throws: ChronikLogError.self) { try await log.append(to: "A\u{30A}ngstr\u{F6}m", [event("A", "x")]) }
        for name in ["caf\u{E9}", "Caf\u{E9}", "cafe", "\u{212B}".precomposedStringWithCanonicalMapping, "\u{1F6D2}-order-1"] {
            let r = try await log.append(to: name, [event("A", "x")], expected: .noStream)
            #expect(r.versions == [StreamVersion(0)], "\(name)")
        }
        #expect(try log.read(stream: "caf\u{E9}").collect().count == 1)
        // Event types likewise: a reader filtering by type compares them.
        let head = log.head
        let type = await #expect(throws: ChronikLogError.self) {
            try await log.append(to: "s", [event("A", "x"), event("Cafe\u{301}Visited", "x")])
        }
        #expect(type?.code == .invalidEventType && type?.message.hasPrefix("event 1:") == true, "\(String(describing: type))")
        #expect(log.head == head, "nothing of the batch was written")
        try await log.append(to: "s", [event("Caf\u{E9}Visited", "x")])
    }

    @Test("stream names and event types hold no control characters: one event is one line of text")
    func noControlCharactersInNamesOrTypes() async throws {
        // Proves stop 32's rule: "a\nb" as a stream or "No\nted" as a type printed one event over two lines of
        // `chronik read`; C0, DEL and C1 characters are refused with the character and its byte named, nothing written.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        for (name, char, at) in [("a\nb", "U+000A", 1), ("\u{0}x", "U+0000", 0), ("tab\t", "U+0009", 3), ("del\u{7F}", "U+007F", 3),
                                 ("caf\u{E9}\u{85}", "U+0085", 5), ("\r", "U+000D", 0)] {
            let e = await #expect(throws: ChronikLogError.self) { try await log.append(to: name, [event("A", "x")]) }
            #expect(e?.code == .invalidStreamName, "\(name.debugDescription)")
            #expect(e?.message.contains("control character \(char) at byte \(at)") == true, "\(String(describing: e))")
            let t = await #expect(throws: ChronikLogError.self) { try await log.append(to: "s", [event("A", "x"), event("No" + name, "x")]) }
            #expect(t?.code == .invalidEventType && t?.message.hasPrefix("event 1:") == true, "\(String(describing: t))")
        }
        // Line and paragraph separators and bidirectional controls too (stop 34: "order-\u{202E}1" displays
        // as something else, and U+2028 breaks the line as "\n" did).
        for (name, char, at) in [("a\u{2028}b", "U+2028", 1), ("p\u{2029}", "U+2029", 1), ("order-\u{202E}1", "U+202E", 6),
                                 ("x\u{2066}", "U+2066", 1), ("\u{200F}r", "U+200F", 0)] {
            let e = await #expect(throws: ChronikLogError.self) { try await log.append(to: name, [event("A", "x")]) }
            #expect(e?.code == .invalidStreamName && e?.message.contains("holds \(char) (") == true && e?.message.contains("at byte \(at)") == true,
                    "\(String(describing: e))")
            let t = await #expect(throws: ChronikLogError.self) { try await log.append(to: "s", [event("No" + name, "x")]) }
            #expect(t?.code == .invalidEventType, "\(String(describing: t))")
        }
        // White space at either end, and a byte-order mark (stop 36, a security review: "CustomerUpdated " was a type
        // of its own on a customer's stream, its email in plaintext; "\u{FEFF}x" read as "x").
        for name in ["CustomerUpdated ", " x", "\u{A0}nbsp", "x\u{3000}", "\u{FEFF}x"] {
            let e = await #expect(throws: ChronikLogError.self) { try await log.append(to: name, [event("A", "x")]) }
            #expect(e?.code == .invalidStreamName, "\(name.debugDescription): \(String(describing: e))")
            let t = await #expect(throws: ChronikLogError.self) { try await log.append(to: "s", [event(name, "x")]) }
            #expect(t?.code == .invalidEventType, "\(name.debugDescription): \(String(describing: t))")
        }
        // Invisible characters (stop 39, an i18n review: "x" + U+200B was a stream of its own that reads as "x"),
        // and joiners or variation selectors at either end, where they join nothing.
        for (name, char) in [("x\u{200B}", "U+200B"), ("\u{2060}x", "U+2060"), ("ab\u{AD}c", "U+00AD"), ("\u{3164}", "U+3164"),
                             ("x\u{E0041}", "U+E0041"), ("x\u{FFFF}", "U+FFFF"), ("\u{200D}x", "U+200D"), ("x\u{200C}", "U+200C"),
                             ("x\u{FE0E}", "U+FE0E")] {
            let e = await #expect(throws: ChronikLogError.self) { try await log.append(to: name, [event("A", "x")]) }
            #expect(e?.code == .invalidStreamName && e?.message.contains("holds \(char) (") == true, "\(String(describing: e))")
            let t = await #expect(throws: ChronikLogError.self) { try await log.append(to: "s", [event(name, "x")]) }
            #expect(t?.code == .invalidEventType, "\(String(describing: t))")
        }
        #expect(log.head == Position(0))
        // Inside a name, joiners and the emoji selector stay: a Persian word, a ZWJ emoji, a heart.
        let joined = ["\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}", "\u{1F469}\u{200D}\u{1F4BB}", "\u{2764}\u{FE0F}"]
        for name in ["a b", "caf\u{E9}", "x~y", "nb\u{A0}sp", "\u{1F6D2}", "\u{5E9}\u{5DC}\u{5D5}\u{5DD}"] + joined {
            _ = try await log.append(to: name, [event("Noted " + name, "x")])
        }
        #expect(log.head == Position(9))
    }

    @Test("a prepared batch appends as append(to:) does; prepared by a log of other settings, it is prepared again")
    func preparedBatches() async throws {
        // Proves `prepare` + `append(_:expected:)` (stop 28: chronik append encodes batches while it still checks
        // lines): the same events, versions and chain as `append(to:)`; validation in `prepare`; a batch prepared
        // by an lz4 log with a larger event limit, appended to an uncompressed log with a smaller one, is checked
        // and encoded by the log it goes to.
        let a = makeTempDir("prepared-a"), b = makeTempDir("prepared-b"), c = makeTempDir("prepared-c")
        defer { removeDir(a); removeDir(b); removeDir(c) }
        var lz4 = LogOptions()
        lz4.compression = .lz4
        var plain = LogOptions()
        plain.compression = .none
        plain.maxEventBytes = 1000
        let viaPrepare = try EventLog.open(at: a, options: lz4), direct = try EventLog.open(at: b, options: lz4)
        let other = try EventLog.open(at: c, options: plain)
        defer { try? viaPrepare.close(); try? direct.close(); try? other.close() }
        let batches = (0..<6).map { i in (stream: "s-\(i % 2)", events: (0..<(i + 1)).map { k in event("E", String(repeating: "p\(i)-\(k) ", count: 30)) }) }
        for (i, batch) in batches.enumerated() {
            let expected: ExpectedVersion = i < 2 ? .noStream : .any
            let r1 = try await viaPrepare.append(viaPrepare.prepare(to: batch.stream, batch.events), expected: expected)
            let r2 = try await direct.append(to: batch.stream, batch.events, expected: expected)
            #expect(r1.positions == r2.positions && r1.versions == r2.versions)
        }
        let read1 = try viaPrepare.readAll().collect(), read2 = try direct.readAll().collect()
        #expect(read1.map { [$0.stream, $0.type, String(decoding: $0.data, as: UTF8.self)] }
                == read2.map { [$0.stream, $0.type, String(decoding: $0.data, as: UTF8.self)] })
        #expect(read1.map(\.id) == read2.map(\.id))
        // A wrong expected version still refuses a prepared batch, writing nothing.
        let head = viaPrepare.head
        await #expect(throws: ChronikLogError.self) {
            try await viaPrepare.append(viaPrepare.prepare(to: "s-0", [event("E", "late")]), expected: .noStream)
        }
        #expect(viaPrepare.head == head)
        // Validation happens in prepare.
        #expect(throws: ChronikLogError.self) { try viaPrepare.prepare(to: "", [event("E", "x")]) }
        // Prepared by the lz4 log (limit 4 MiB): the uncompressed log (limit 1000 B) checks it again.
        let big = try viaPrepare.prepare(to: "t", [event("E", String(repeating: "y", count: 2000))])
        await #expect(throws: ChronikLogError.self) { try await other.append(big) }
        #expect(other.head == Position(0))
        let small = try viaPrepare.prepare(to: "t", [event("E", String(repeating: "z", count: 300))])
        try await other.append(small)
        #expect(try other.readAll().collect().map { String(decoding: $0.data, as: UTF8.self) } == [String(repeating: "z", count: 300)])
        try other.close()
        var readOnly = LogOptions()
        readOnly.readOnly = true
        let reopened = try EventLog.open(at: c, options: readOnly)
        defer { try? reopened.close() }
        #expect(try reopened.readAll().collect().count == 1)
        let v = try LogVerifier.verify(directory: c)
        #expect(v.isClean && v.events == 1, "\(v)")
    }

    @Test("appendAll: each batch decided on its own, in order, outcomes in order; a closed log refuses them all")
    func appendAllBatches() async throws {
        // Proves `appendAll` (stop 28: import's pass 2 hands the writer chunks of batches): the same positions,
        // versions and per-batch failures as one `append` per batch — a wrong expected version fails that batch
        // only, a batch repeating an earlier batch of the same call (same ids, same content) is an idempotent retry
        // with the original positions, the same id with other content fails — and the events read back in order.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 8192
        let log = try EventLog.open(at: dir, options: options)
        let a = (0..<3).map { event("E", "a\($0) " + String(repeating: "x", count: 200)) }
        let b = (0..<2).map { event("E", "b\($0)") }
        let other = event("E", "other content", id: a[0].id)
        let input: [(batch: PreparedBatch, expected: ExpectedVersion)] = try [
            (log.prepare(to: "a", a), .noStream),
            (log.prepare(to: "b", b), .exact(7)),            // wrong: b has no event
            (log.prepare(to: "b", b), .noStream),
            (log.prepare(to: "a", a), .any),                 // a retry of the first batch
            (log.prepare(to: "a", [other]), .any),           // a's first id with other content
            (log.prepare(to: "a", [event("E", "a3")]), .exact(2)),
        ]
        let results = await log.appendAll(input)
        #expect(results.count == input.count)
        #expect(try results[0].get().positions == [Position(0), Position(1), Position(2)])
        #expect(failureCode(results[1]) == .wrongExpectedVersion)
        #expect(try results[2].get().positions == [Position(3), Position(4)])
        let retry = try results[3].get()
        #expect(retry.wasDuplicate && retry.positions == [Position(0), Position(1), Position(2)])
        #expect(failureCode(results[4]) == .duplicateEventId)
        #expect(try results[5].get().versions == [StreamVersion(3)])
        #expect(log.head == Position(6))
        let read = try log.readAll().collect()
        #expect(read.map(\.stream) == ["a", "a", "a", "b", "b", "a"])
        #expect(read.map { String(decoding: $0.data, as: UTF8.self).prefix(2) } == ["a0", "a1", "a2", "b0", "b1", "a3"])
        #expect(await log.appendAll([]).isEmpty)
        try log.close()
        let refused = await log.appendAll([(try log.prepare(to: "c", [event("E", "late")]), .any)])
        #expect(failureCode(refused[0]) == .closed)
    }

    @Test("appendAll with a sequence: after a batch fails, no later batch of the sequence is appended, in that call or another")
    func appendAllSequenceIsAPrefix() async throws {
        // Proves stop 35's finding: import's pass 2 left a gap (a failed batch) and appended the batches after it,
        // so the log held the file's lines out of order. With a sequence the log holds a prefix.
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        let sequence = AppendSequence()
        let first: [(batch: PreparedBatch, expected: ExpectedVersion)] = try [
            (log.prepare(to: "a", [event("E", "0")]), .any),
            (log.prepare(to: "b", [event("E", "1")]), .exact(7)),   // fails
            (log.prepare(to: "c", [event("E", "2")]), .any),
        ]
        let second: [(batch: PreparedBatch, expected: ExpectedVersion)] = try [(log.prepare(to: "d", [event("E", "3")]), .any)]
        let one = await log.appendAll(first, sequence: sequence, indices: [0, 1, 2])
        let two = await log.appendAll(second, sequence: sequence, indices: [3])
        #expect(try one[0].get().positions == [Position(0)])
        #expect(failureCode(one[1]) == .wrongExpectedVersion)
        #expect(failureCode(one[2]) == .notAppended)
        #expect(failureCode(two[0]) == .notAppended)
        #expect(log.head == Position(1))
        // Without a sequence each batch is decided on its own, as before.
        let free = await log.appendAll(try [(log.prepare(to: "b", [event("E", "4")]), .exact(7)),
                                            (log.prepare(to: "c", [event("E", "5")]), .any)])
        #expect(failureCode(free[0]) == .wrongExpectedVersion && (try? free[1].get()) != nil)
        try log.close()
    }

    @Test("a second writer is refused; read-only openers see the writer's appends")
    func singleWriter() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        let log = try EventLog.open(at: dir)
        defer { try? log.close() }
        #expect(throws: ChronikLogError.self) { try EventLog.open(at: dir) }
        var ro = LogOptions()
        ro.readOnly = true
        let reader = try EventLog.open(at: dir, options: ro)
        defer { try? reader.close() }
        try await log.append(to: "s", [event("A", "1"), event("A", "2")])
        try reader.refresh()
        #expect(reader.head == Position(2))
        #expect(try reader.read(stream: "s").collect().count == 2)
        await #expect(throws: ChronikLogError.self) { try await reader.append(to: "s", [event("A", "3")]) }
    }

    @Test("a directory that is not a Chronik log is refused")
    func notALog() throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        do {
            _ = try EventLog.open(at: dir)
            Issue.record("should have thrown")
        } catch let e as ChronikLogError {
            #expect(e.code == .notALog)
        }
    }

    @Test("a subscriber sees every event exactly once, in order, while 8 tasks append concurrently")
    func subscriptionUnderConcurrency() async throws {
        let dir = makeTempDir()
        defer { removeDir(dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 64 * 1024
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let perTask = 150, tasks = 8
        let total = perTask * tasks
        let subscriber = Task { () -> [UInt64] in
            var seen: [UInt64] = []
            for try await e in log.subscribe(from: .start) {
                seen.append(e.position.value)
                if seen.count == total { break }
            }
            return seen
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    for i in 0..<perTask {
                        try await log.append(to: "t-\(t)", [event("E", "\(t)-\(i)")], expected: i == 0 ? .noStream : .exact(UInt64(i - 1)))
                    }
                }
            }
            try await group.waitForAll()
        }
        let seen = try await subscriber.value
        #expect(seen == Array(0..<UInt64(total)))
        for t in 0..<tasks {
            let evs = try log.read(stream: "t-\(t)").collect()
            #expect(evs.map { String(decoding: $0.data, as: UTF8.self) } == (0..<perTask).map { "\(t)-\($0)" })
        }
    }
}

/// The code of an append's `ChronikLogError`; nil on success or another error.
func failureCode(_ r: Result<AppendResult, any Error>) -> ChronikLogError.Code? {
    if case .failure(let e) = r { return (e as? ChronikLogError)?.code }
    return nil
}
