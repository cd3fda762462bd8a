import ChronikAudit
import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// Proves the auditor and privacy routes: /export streams what `chronik
/// export --audit` writes, /verify runs in the background and reports the
/// verifier's result, subject-export and forget act as their commands do
/// (forgotten data then reads as null), and all of them need their scope.
@Suite struct AuditPrivacyTests {
    static let registered = #"{"type":"CustomerRegistered","time":"2024-05-01T09:00:00Z","data":{"customerId":"c1","email":"a@example.com","name":"Ada","address":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"},"marketingConsent":false}}"#
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func exportStreamsWhatTheCLIWrites() async throws {
        let dir = makeTempDir()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".keys")
        }
        try await withServer(directory: dir, models: true) { _, client in
            for i in 0..<300 { _ = try await client.post("/streams/n-\(i % 7)", "[\(Self.note),\(Self.note)]") }
            let r = try await client.get("/export")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "application/x-ndjson")
            let cli = try await chronikOutput(["export", "--audit", "--log", dir, "--quiet"])
            #expect(r.text.split(separator: "\n").count == 600)
            #expect(r.text == cli)
            let one = try await client.get("/export?stream=n-3&from=10&to=100")
            let cliOne = try await chronikOutput(["export", "--audit", "--stream", "n-3", "--from", "10", "--to", "100",
                                                  "--log", dir, "--quiet"])
            #expect(!cliOne.isEmpty)
            #expect(one.text == cliOne)
            // As the CLI (stop 33): times for from/to, an unknown stream and a reversed range are errors.
            let t = "2024-05-01T00:00:00Z"
            let byTime = try await client.get("/export?from=\(t)&stream=n-3")
            let cliTime = try await chronikOutput(["export", "--audit", "--from", t, "--stream", "n-3", "--log", dir, "--quiet"])
            #expect(byTime.status == .ok && !cliTime.isEmpty && byTime.text == cliTime)
            for (uri, status, code) in [("/export?stream=nope", HTTPResponse.Status.notFound, "streamNotFound"),
                                        ("/export?from=5&to=1", .badRequest, "invalidParameter"),
                                        ("/export?from=yesterday", .badRequest, "invalidParameter"),
                                        ("/export?type=", .badRequest, "invalidParameter"),
                                        // stop 34: a type neither of EVENTS.md nor in the log was 200 with nothing
                                        ("/export?type=Bogus", .badRequest, "invalidParameter"),
                                        ("/verify?restart=maybe", .badRequest, "invalidParameter"),
                                        ("/subscribe?stream=", .badRequest, "invalidParameter"),
                                        ("/subscribe?type=", .badRequest, "invalidParameter")] {
                let r = try await client.get(uri)
                #expect(r.status == status && r.error["code"] as? String == code, "\(uri): \(r.text)")
            }
            // A type in the log, or of EVENTS.md though not in the log, is exported as usual.
            let notes = try await client.get("/export?type=NoteAdded")
            #expect(notes.status == .ok && notes.text.split(separator: "\n").count == 600)
            let orders = try await client.get("/export?type=OrderPlaced")
            #expect(orders.status == .ok && orders.text.isEmpty)
        }
    }

    @Test func exportOfAnyDataAndACutResponseOnDamage() async throws {
        // Proves stop 33's fixes: an unknown type's data that is not an object (POST /streams takes any JSON value)
        // is exported as stored, not the end of the export; and an export that meets damage after its headers went
        // out does not end as a complete response (it ended cleanly, short, and an auditor took it for the whole).
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = LogOptions()
        options.segmentSizeBytes = 64 << 10
        options.compression = .none
        let log = try EventLog.open(at: dir, options: options)
        let text = String(repeating: "x", count: 200)
        for i in 0..<1500 {
            let data = i == 3 ? Array(#""just a string""#.utf8) : Array(#"{"n":\#(i),"text":"\#(text)"}"#.utf8)
            _ = try await log.append(to: "s-\(i % 5)", [ProposedEvent(type: "Noted", data: data)])
        }
        try log.close()
        try await withServer(.live, directory: dir) { _, client in
            let r = try await client.get("/export?to=9")
            #expect(r.status == .ok && r.text.split(separator: "\n").count == 10, "\(r.text.prefix(300))")
            #expect(r.text.contains(#""data":"just a string""#), "\(r.text.prefix(2000))")
        }
        // A byte in the middle of the second segment flipped: the damage
        // comes after more than 64 KiB of intact lines (the open checks a
        // sealed segment's last batch, not the ones before it).
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
        try #require(names.count >= 3, "\(names)")
        let victim = dir + "/" + names[1]
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        try await withServer(.live, directory: dir) { _, client in
            do {
                let r = try await client.get("/export")
                Issue.record("a complete response of \(r.body.readableBytes) bytes, status \(r.status)")
            } catch {
                // The transfer was cut: the client cannot take it for a whole export.
            }
        }
    }

    @Test func verifyRunsInTheBackgroundAndReports() async throws {
        try await withServer(models: true) { server, client in
            for _ in 0..<20 { _ = try await client.post("/streams/n", "[\(Self.note)]") }
            server.log.waitUntilIndexed()
            // HEAD starts nothing (stop 32): a started verification of 20
            // events would be done (200) well within these 0.6 s.
            for _ in 0..<3 {
                #expect(try await client.execute(uri: "/verify?restart=true", method: .head).status == .accepted)
                try await Task.sleep(for: .milliseconds(200))
            }
            var r = try await client.get("/verify")
            #expect(r.status == .accepted || r.status == .ok)
            for _ in 0..<200 where r.json["state"] as? String != "done" {
                try await Task.sleep(for: .milliseconds(20))
                r = try await client.get("/verify")
            }
            #expect(r.status == .ok)
            #expect(r.json["ok"] as? Bool == true, "\(r.text)")
            #expect(r.json["events"] as? Int == 20)
            #expect(r.json["eventsSince"] as? Int == 0 && (r.json["finishedAt"] as? String).flatMap(Timestamp.init(rfc3339:)) != nil, "\(r.text)")
            // An old result says it is old (stop 34: it read as current after appends).
            _ = try await client.post("/streams/n", "[\(Self.note)]")
            let later = try await client.get("/verify")
            #expect(later.json["state"] as? String == "done" && later.json["eventsSince"] as? Int == 1, "\(later.text)")
        }
    }

    @Test func subjectExportAndForget() async throws {
        try await withServer(models: true) { server, client in
            #expect(try await client.post("/commands", Self.registered).status == .created)
            let access = try await client.get("/customers/c1/subject-export")
            #expect(access.status == .ok)
            #expect(access.text.contains("a@example.com"))
            #expect(try await client.get("/customers/nobody/subject-export").status == .notFound)

            let forgot = try await client.post("/customers/c1/forget", "")
            #expect(forgot.status == .created, "\(forgot.text)")
            #expect(forgot.json["keyDestroyed"] as? Bool == true)
            let again = try await client.post("/customers/c1/forget", "")
            #expect(again.status == .ok)
            #expect(again.json["alreadyForgotten"] as? Bool == true)
            #expect(server.log.head.value == 2)
            let event = try await client.get("/events/0")
            #expect(event.status == .ok)
            #expect(!event.text.contains("a@example.com"))
            let erased = try await client.get("/customers/c1/subject-export")
            #expect(!erased.text.contains("a@example.com"))
            // An order for the forgotten customer is refused by the rule, as import refuses it (stop 35: 409
            // appendFailed, "personal data cannot be sealed").
            let order = #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-f","customerId":"c1","lines":[{"sku":"s","qty":1,"unitPrice":500}],"currency":"EUR","shippingAddress":{"line1":"1 Main St","city":"Berlin","postalCode":"10115","country":"DE"}}}"#
            let refused = try await client.post("/commands", order)
            #expect(refused.status == .unprocessableContent && refused.error["code"] as? String == "customerForgotten", "\(refused.text)")
        }
    }

    @Test func aGuestIsExportedAndForgottenLikeACustomer() async throws {
        // Proves stop 34's finding: a guest (an order, no CustomerRegistered) got 404 from both routes, though
        // the order's address is sealed under the guest's key; a customer the log knows nothing of stays 404.
        try await withServer(models: true) { server, client in
            let order = #"{"type":"OrderPlaced","time":"2024-05-01T10:00:00Z","data":{"orderId":"o-g","customerId":"g7","lines":[{"sku":"s","qty":1,"unitPrice":500}],"currency":"EUR","shippingAddress":{"line1":"9 Guest Rd","city":"Paris","postalCode":"75001","country":"FR"}}}"#
            let placed = try await client.post("/commands", order)
            try #require(placed.status == .created, "\(placed.text)")
            let access = try await client.get("/customers/g7/subject-export")
            #expect(access.status == .ok && access.text.contains("9 Guest Rd"), "\(access.text)")
            let forgot = try await client.post("/customers/g7/forget", "")
            #expect(forgot.status == .created && forgot.json["keyDestroyed"] as? Bool == true, "\(forgot.text)")
            let erased = try await client.get("/customers/g7/subject-export")
            #expect(erased.status == .ok && !erased.text.contains("9 Guest Rd") && erased.text.contains(#""forgotten":true"#), "\(erased.text)")
            #expect(try await client.post("/customers/nobody/forget", "").status == .notFound)
            #expect(try await client.get("/customers/nobody/subject-export").status == .notFound)
            #expect(server.log.head.value == 2)
        }
    }

    @Test func auditAndPrivacyNeedTheirScopes() async throws {
        var config = ServerConfiguration()
        let reader = "reader-0123456789abcdef"
        config.tokens = try TokenTable.parse("\(reader) read,append\n")
        try await withServer(configuration: config, models: true) { _, client in
            let auth: HTTPFields = [.authorization: "Bearer \(reader)"]
            let export = try await client.get("/export", headers: auth)
            #expect(export.status == .forbidden)
            #expect(try await client.get("/verify", headers: auth).status == .forbidden)
            #expect(try await client.get("/customers/c1/subject-export", headers: auth).status == .forbidden)
            #expect(try await client.post("/customers/c1/forget", "", headers: auth).status == .forbidden)
            // Nor through the event itself (stop 34: an append-only token erased a customer via /commands).
            #expect(try await client.post("/commands", Self.registered, headers: auth).status == .created)
            let forgotten = #"{"type":"CustomerForgotten","time":"2024-05-02T09:00:00Z","data":{"customerId":"c1"}}"#
            let viaCommands = try await client.post("/commands", forgotten, headers: auth)
            #expect(viaCommands.status == .forbidden && viaCommands.error["index"] as? Int == 0, "\(viaCommands.text)")
            let viaStreams = try await client.post("/streams/customer-c1", "[\(forgotten)]", headers: auth)
            #expect(viaStreams.status == .forbidden, "\(viaStreams.text)")
            let customer = try await client.get("/streams/customer-c1", headers: auth)
            #expect(customer.json["events"].map { "\($0)" }?.contains("CustomerForgotten") == false, "\(customer.text)")
        }
    }
}

/// Proves POST /digest signs the log's head with the server's audit key
/// (the signature verifies with the public key), and is 503 without one.
@Suite struct DigestRouteTests {
    @Test func digestIsSignedWithTheServersKey() async throws {
        let keyPath = makeTempDir() + ".key"
        defer {
            try? FileManager.default.removeItem(atPath: keyPath)
            try? FileManager.default.removeItem(atPath: keyPath + ".pub")
        }
        let key = try AuditKeys.generate(at: keyPath)
        var config = ServerConfiguration()
        config.signDigest = { directory in try LogDigest.make(directory: directory, key: key).0.json }
        try await withServer(configuration: config) { server, client in
            for _ in 0..<5 { _ = try await client.post("/streams/n", #"[{"type":"NoteAdded","data":{}}]"#) }
            let r = try await client.post("/digest", "")
            #expect(r.status == .ok, "\(r.text)")
            let digest = try LogDigest(parsing: Array(r.text.utf8))
            #expect(digest.position.value == 5)
            #expect(digest.chainHash == server.log.headHash)
            #expect(digest.isSigned(by: try AuditKeys.loadPublicKey(keyPath + ".pub")))
        }
        try await withServer { _, client in
            let r = try await client.post("/digest", "")
            #expect(r.status == .serviceUnavailable)
            #expect(r.error["code"] as? String == "noSigningKey")
        }
    }
}

/// The local file system, except that every fdatasync of a file fails once
/// `failing` is set: a writer poisoned as by a disk that stopped syncing.
final class FailingSyncStorage: Storage {
    let base = PosixStorage()
    let failing = Atomic<Bool>(false)
    /// Every write fails, as on a full disk (the writer undoes, not poisoned).
    let writesFail = Atomic<Bool>(false)

    final class File: StorageFile {
        let base: any StorageFile
        let owner: FailingSyncStorage
        init(_ base: any StorageFile, _ owner: FailingSyncStorage) { self.base = base; self.owner = owner }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try base.read(into: buffer, at: offset) }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            if owner.writesFail.load(ordering: .relaxed) {
                var e = ChronikLogError(.io, "injected: write failed: No space left on device")
                e.errno = ENOSPC
                throw e
            }
            try base.write(bytes, at: offset)
        }
        func sync() throws {
            if owner.failing.load(ordering: .relaxed) { throw ChronikLogError(.io, "injected: fdatasync failed") }
            try base.sync()
        }
        func size() throws -> Int64 { try base.size() }
        func truncate(to size: Int64) throws { try base.truncate(to: size) }
        func close() { base.close() }
    }

    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func listDirectory(_ path: String) throws -> [String] { try base.listDirectory(path) }
    func exists(_ path: String) -> Bool { base.exists(path) }
    func isDirectory(_ path: String) -> Bool { base.isDirectory(path) }
    func openFile(_ path: String, create: Bool, readOnly: Bool) throws -> any StorageFile {
        File(try base.openFile(path, create: create, readOnly: readOnly), self)
    }
    func remove(_ path: String) throws { try base.remove(path) }
    func rename(_ from: String, to: String) throws { try base.rename(from, to: to) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func setMode(_ path: String, _ mode: UInt16) throws { try base.setMode(path, mode) }
    func lockExclusive(_ path: String) throws -> (any StorageLock)? { try base.lockExclusive(path) }
    func isWriterActive(_ path: String) -> Bool { base.isWriterActive(path) }
    var allowsConcurrentReads: Bool { base.allowsConcurrentReads }
}

/// Proves stop 34's finding: after a failed fdatasync every append is 503
/// `writerPoisoned`, and /ready said 200 "ready" all the same; now /ready
/// is 503 `writerPoisoned` too, so a load balancer takes the server out.
@Suite struct PoisonedWriterTests {
    /// A server on a fresh log whose storage fails on demand.
    static func withServer(appendsFailingFor: Duration = .seconds(3600),
                           _ body: @Sendable (FailingSyncStorage, any TestClientProtocol) async throws -> Void) async throws {
        // The window of `appendsFailing` far above any stall of a loaded
        // machine (the CI of stop 36 failed: over 10 s passed between the
        // failed append and the read of the gauge, and /ready was 200 again).
        var configuration = ServerConfiguration()
        configuration.appendsFailingFor = appendsFailingFor
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storage = FailingSyncStorage()
        var options = LogOptions()
        options.storage = storage
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        let server = LogServer(log: log, live: nil, vault: nil, configuration: configuration, logLevel: "critical")
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.router) { client in try await body(storage, client) }
    }

    @Test func readyIs503OnceTheWriterFailed() async throws {
        try await Self.withServer { storage, client in
            #expect(try await client.execute(uri: "/ready", method: .get).status == .ok)
            storage.failing.store(true, ordering: .relaxed)
            let refused = try await client.execute(uri: "/streams/s", method: .post, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"[{"type":"NoteAdded","data":{}}]"#))
            #expect(refused.status != .created)  // the failed fdatasync itself: 500 (io)
            let next = try await client.execute(uri: "/streams/s", method: .post, headers: [.contentType: "application/json"],
                                                body: ByteBuffer(string: #"[{"type":"NoteAdded","data":{}}]"#))
            #expect(next.status == .serviceUnavailable, "\(String(buffer: next.body))")
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .serviceUnavailable && String(buffer: ready.body).contains("writerPoisoned"), "\(String(buffer: ready.body))")
        }
    }

    /// Stop 36 (an operator): with the disk full every append was 500 and
    /// /ready said 200 for all of it. Now /ready is 503 `appendsFailing`
    /// until an append goes in again.
    @Test func readyIs503WhileAppendsFail() async throws {
        try await Self.withServer { storage, client in
            func append() async throws -> HTTPResponse.Status {
                try await client.execute(uri: "/streams/s", method: .post, headers: [.contentType: "application/json"],
                                         body: ByteBuffer(string: #"[{"type":"NoteAdded","data":{}}]"#)).status
            }
            #expect(try await append() == .created)
            storage.writesFail.store(true, ordering: .relaxed)
            let failed = try await client.execute(uri: "/streams/s", method: .post, headers: [.contentType: "application/json"],
                                                  body: ByteBuffer(string: #"[{"type":"NoteAdded","data":{}}]"#))
            // Stop 38 (a chaos test): the 500 says the outcome is open and how to settle it.
            #expect(failed.status == .internalServerError
                    && String(buffer: failed.body).contains("may or may not be in the log: retry it with the same event ids"),
                    "\(String(buffer: failed.body))")
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .serviceUnavailable && String(buffer: ready.body).contains("appendsFailing"), "\(String(buffer: ready.body))")
            #expect(String(buffer: ready.body).contains("No space left on device"), "\(String(buffer: ready.body))")
            func readyGauge() async throws -> String? {
                let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                return text.split(separator: "\n").first { $0.hasPrefix("chronik_ready ") }.map(String.init)
            }
            #expect(try await readyGauge() == "chronik_ready 0.0")
            // A probe's 503 is not counted as an error (stop 38); the failed append is.
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(!metrics.contains(#"chronik_errors_total{code="appendsFailing"}"#) && metrics.contains(#"chronik_errors_total{code="io"}"#),
                    "\(metrics)")
            storage.writesFail.store(false, ordering: .relaxed)
            #expect(try await append() == .created, "the writer was not poisoned: the disk has room again")
            #expect(try await client.execute(uri: "/ready", method: .get).status == .ok)
            #expect(try await readyGauge() == "chronik_ready 1.0")
        }
    }

    /// Without another failure, /ready says ready again once the window
    /// passed (a load balancer that stopped sending appends must find out
    /// whether they go in), though no append went in meanwhile.
    @Test func readyAgainOnceTheWindowPassedWithoutAFailure() async throws {
        try await Self.withServer(appendsFailingFor: .milliseconds(200)) { storage, client in
            storage.writesFail.store(true, ordering: .relaxed)
            let refused = try await client.execute(uri: "/streams/s", method: .post, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: #"[{"type":"NoteAdded","data":{}}]"#))
            #expect(refused.status == .internalServerError)
            try await Task.sleep(for: .seconds(1))
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .ok, "\(String(buffer: ready.body))")
        }
    }
}
