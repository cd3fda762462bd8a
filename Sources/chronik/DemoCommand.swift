import ArgumentParser
import ChronikLog
import Foundation

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A short tour: append a few thousand events, read a stream back, verify the log.",
        discussion: """
            Simulates a small shop into a fresh log: 8 concurrent writers place \
            orders, reserve stock (optimistic concurrency: a conflict on a \
            shared stock stream is retried with the new version), take \
            payments and ship, every append durable (fdatasync; concurrent \
            appends share one). Then it reads one order stream back, verifies \
            every checksum and the hash chain, and prints what happened.

            The log goes to a chronik-demo directory in the temporary \
            directory unless --log says otherwise. The directory is emptied \
            first — but only when it is empty or holds nothing but a Chronik \
            log; anything else is refused and left alone.

            Examples:
              chronik demo
              chronik demo --events 20000 --log ./demo-log --compression none

            Exit status: 0 success, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions

    @Option(help: ArgumentHelp("How many events to append.", valueName: "n"))
    var events = 3000

    static let writers = 8
    static let skus = 12
    static let defaultSegmentSize = ByteSize(bytes: 256 << 10)

    func validate() throws {
        guard (1...1_000_000).contains(events) else { throw ValidationError("--events must be 1...1000000, got \(events)") }
    }

    func run() async throws {
        let dir = options.directory(default: NSTemporaryDirectory().hasSuffix("/")
            ? NSTemporaryDirectory() + "chronik-demo" : NSTemporaryDirectory() + "/chronik-demo")
        try LogDirectory.clear(dir)
        let log = try options.openForWriting(creation, directory: dir, defaultSegmentSize: Self.defaultSegmentSize)
        defer { log.close() }
        options.note("chronik: demo: appending \(events) events to \(dir) with \(Self.writers) concurrent writers…")

        // 1. Append.
        let clock = ContinuousClock()
        let started = clock.now
        let quotas = (0..<Self.writers).map { events / Self.writers + ($0 < events % Self.writers ? 1 : 0) }
        let results = try await withThrowingTaskGroup(of: WorkerResult.self) { group in
            for (w, quota) in quotas.enumerated() where quota > 0 {
                group.addTask { try await Self.shop(log: log, worker: w, quota: quota) }
            }
            var all: [WorkerResult] = []
            for try await r in group { all.append(r) }
            return all
        }
        let appendTime = clock.now - started
        let appends = results.reduce(0) { $0 + $1.appends }
        let conflicts = results.reduce(0) { $0 + $1.conflicts }

        // 2. Read one stream back.
        let shown = "order-0-0"
        let streamEvents = try log.read(stream: shown).collect()

        // 3. Verify, and measure what compression saved.
        let report = try LogVerifier.verify(directory: dir)
        let stats = try log.stats()
        var raw = 0, stored = 0
        let segmentNames = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(LogFormat.segmentSuffix) }
        for name in segmentNames {
            let inspector = try SegmentInspector(path: dir + "/" + name)
            while let b = try inspector.nextBatch() {
                raw += b.rawPayloadBytes
                stored += b.storedPayloadBytes
            }
        }
        let seconds = milliseconds(appendTime) / 1000
        let rate = seconds > 0 ? Double(events) / seconds : 0

        let out = Output()
        if options.json {
            var o = JSONObject()
            o.add("log", dir)
            o.add("events", stats.events)
            o.add("streams", stats.streams)
            o.add("appends", appends)
            o.add("writers", Self.writers)
            o.add("conflictsRetried", conflicts)
            o.add("appendSeconds", seconds)
            o.add("eventsPerSecond", rate.rounded())
            o.add("stream", shown)
            o.add("streamEvents", streamEvents.count)
            o.add("verified", report.isClean)
            o.add("segments", stats.segments)
            o.add("batches", report.batches)
            o.add("headPosition", stats.headPosition.value)
            o.add("headHash", report.headHash.description)
            o.add("bytesOnDisk", stats.bytesOnDisk)
            o.add("compression", stats.compression.rawValue)
            o.add("rawPayloadBytes", raw)
            o.add("storedPayloadBytes", stored)
            out.line(o.text)
        } else {
            out.line("Chronik demo: a log at \(dir) (\(stats.compression) compression)")
            out.line("")
            out.line("1. Appended \(events) events to \(stats.streams) streams in \(formatDuration(appendTime)) "
                     + "(\(Int(rate.rounded())) events/s), \(appends) atomic appends from \(Self.writers) concurrent writers.")
            out.line("   Every append was on disk (fdatasync) before it returned; concurrent appends shared one fdatasync.")
            out.line("   \(conflicts) optimistic-concurrency conflict\(conflicts == 1 ? "" : "s") on shared stock streams "
                     + "\(conflicts == 1 ? "was" : "were") retried with the stream's new version.")
            out.line("")
            out.line("2. Read stream \(shown) back:")
            for e in streamEvents { out.line("   " + eventText(e)) }
            out.line("")
            out.line("3. Verified the log: \(report.segments.count) segments, \(report.batches) batches, \(report.events) events, "
                     + "every checksum and the hash chain from genesis: \(report.isClean ? "OK" : "CORRUPT") in \(formatDuration(report.duration)).")
            out.line("   head position \(stats.headPosition), head hash \(report.headHash.shortHex)…")
            if let f = report.failure { out.line("   CORRUPT: \(f)") }
            out.line("")
            let saved = raw > 0 ? Int((Double(raw - stored) / Double(raw) * 100).rounded()) : 0
            out.line("4. On disk: \(formatBytes(stats.bytesOnDisk)) in \(stats.segments) segment file\(stats.segments == 1 ? "" : "s"); "
                     + "payloads \(formatBytes(Int64(raw))) raw, \(formatBytes(Int64(stored))) stored (\(saved)% saved).")
            out.line("")
            out.line("Try next:")
            let logArg = dir.contains(" ") ? "'\(dir)'" : dir
            out.line("  chronik read --log \(logArg) --stream \(shown) --json")
            out.line("  chronik tail --log \(logArg)")
            out.line("  chronik stats --log \(logArg)")
            out.line("  chronik inspect --log \(logArg) 0")
            out.line("  chronik verify --log \(logArg)")
        }
        out.flush()
        if let f = report.failure { throw CommandFailure("corruption found: \(f)") }
    }

    struct WorkerResult: Sendable {
        var appends = 0
        var conflicts = 0
    }

    /// One writer's share of the shop: orders that reserve stock, get paid
    /// and ship; page views use up what is left of its quota.
    static func shop(log: EventLog, worker: Int, quota: Int) async throws -> WorkerResult {
        var rng = SplitMix64(seed: UInt64(worker) &* 0x9E37_79B9 &+ 1)
        var result = WorkerResult()
        var left = quota
        var order = 0
        func event(_ type: String, _ data: JSONObject, correlation: String) -> ProposedEvent {
            var meta = JSONObject()
            meta.add("actor", "demo-writer-\(worker)")
            meta.add("correlationId", correlation)
            meta.add("source", "chronik-demo")
            return ProposedEvent(type: type, data: Array(data.text.utf8), metadata: Array(meta.text.utf8))
        }
        while left > 0 {
            let id = "order-\(worker)-\(order)"
            order += 1
            let sku = "sku-\(rng.next(below: skus) + 1)"
            let quantity = Int(rng.next(below: 3)) + 1
            let total = quantity * (Int(rng.next(below: 9000)) + 999)
            var placed = JSONObject()
            placed.add("orderId", id)
            placed.add("customerId", "customer-\(rng.next(below: 500) + 1)")
            placed.add("sku", sku)
            placed.add("quantity", quantity)
            placed.add("total", total)
            placed.add("currency", "EUR")
            try await log.append(to: id, [event("OrderPlaced", placed, correlation: id)], expected: .noStream)
            result.appends += 1
            left -= 1
            guard left > 0 else { break }

            // Stock is shared by all writers: read its version, append
            // conditionally, and retry on a conflict (bounded).
            var reserved = JSONObject()
            reserved.add("sku", sku)
            reserved.add("quantity", quantity)
            reserved.add("orderId", id)
            let stock = "stock-\(sku)"
            var attempt = 0
            while true {
                let version = log.lastVersion(of: stock)
                do {
                    try await log.append(to: stock, [event("StockReserved", reserved, correlation: id)],
                                         expected: version.map { .exact($0.value) } ?? .noStream)
                    break
                } catch let e as ChronikLogError where e.code == .wrongExpectedVersion && attempt < 100 {
                    attempt += 1
                    result.conflicts += 1
                }
            }
            result.appends += 1
            left -= 1
            guard left > 1 else { break }

            var authorized = JSONObject()
            authorized.add("orderId", id)
            authorized.add("amount", total)
            authorized.add("currency", "EUR")
            authorized.add("method", rng.next(below: 3) == 0 ? "paypal" : "card")
            var captured = JSONObject()
            captured.add("orderId", id)
            captured.add("amount", total)
            try await log.append(to: id, [event("PaymentAuthorized", authorized, correlation: id),
                                          event("PaymentCaptured", captured, correlation: id)], expected: .exact(0))
            result.appends += 1
            left -= 2
            guard left > 0 else { break }

            var shipped = JSONObject()
            shipped.add("orderId", id)
            shipped.add("carrier", ["DHL", "UPS", "DPD"][Int(rng.next(below: 3))])
            shipped.add("trackingNumber", "TN\(rng.next(below: 1_000_000_000))")
            try await log.append(to: id, [event("OrderShipped", shipped, correlation: id)], expected: .exact(2))
            result.appends += 1
            left -= 1
        }
        // Whatever the last order could not use: one page view each.
        while left > 0 {
            var viewed = JSONObject()
            viewed.add("sessionId", "session-\(worker)")
            viewed.add("path", "/products/sku-\(rng.next(below: skus) + 1)")
            try await log.append(to: "session-\(worker)", [event("PageViewed", viewed, correlation: "session-\(worker)")])
            result.appends += 1
            left -= 1
        }
        return result
    }
}

/// A small, seedable generator, so that every demo shop looks the same.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform enough in 0..<n for a demo.
    mutating func next(below n: Int) -> UInt64 { next() % UInt64(n) }
}

/// Care around deleting a log directory's contents.
enum LogDirectory {
    /// Empties `dir` for a fresh log, or creates it. Refuses — and deletes
    /// nothing — unless the directory is empty or holds only a Chronik log
    /// (its metadata file with the right magic, segments, indexes, the
    /// lock file and temporary files), and no other process writes it.
    /// Deletes files one by one, never recursively; the directory and its
    /// LOCK file stay.
    static func clear(_ dir: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw CommandFailure("refusing to use \(dir): it exists and is not a directory") }
        let entries = try fm.contentsOfDirectory(atPath: dir)
        if entries.isEmpty { return }
        let metaPath = dir + "/" + LogFormat.metaFileName
        let magic = fm.contents(atPath: metaPath).map { Array($0.prefix(8)) }
        guard magic == Array("CHRNKLOG".utf8) else {
            throw CommandFailure("refusing to empty \(dir): it is not a Chronik log (no valid \(LogFormat.metaFileName)); choose another --log")
        }
        for name in entries {
            var sub: ObjCBool = false
            _ = fm.fileExists(atPath: dir + "/" + name, isDirectory: &sub)
            guard !sub.boolValue, isLogFile(name) else {
                throw CommandFailure("refusing to empty \(dir): it holds \(name), which is not part of a Chronik log")
            }
        }
        // Hold the writer lock while deleting, so that a running writer is
        // never pulled from under (flock, as the log itself takes it).
        let lockPath = dir + "/" + LogFormat.lockFileName
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CommandFailure("cannot lock \(dir): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw CommandFailure("refusing to empty \(dir): another process is writing this log")
        }
        for name in entries where name != LogFormat.lockFileName {
            do { try fm.removeItem(atPath: dir + "/" + name) } catch {
                throw CommandFailure("cannot remove \(dir)/\(name): \(error.localizedDescription)")
            }
        }
    }

    /// Whether `name` is a file a Chronik log keeps in its directory.
    static func isLogFile(_ name: String) -> Bool {
        if name == LogFormat.metaFileName || name == LogFormat.lockFileName || name == LogFormat.metaFileName + ".tmp" { return true }
        var stem = Substring(name)
        if stem.hasSuffix(".tmp") { stem = stem.dropLast(4) }
        for suffix in [LogFormat.segmentSuffix, LogFormat.indexSuffix] where stem.hasSuffix(suffix) {
            let digits = stem.dropLast(suffix.count)
            return digits.count == 20 && digits.allSatisfy { $0.isASCII && $0.isNumber }
        }
        return false
    }
}
