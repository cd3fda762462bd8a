// The SQLite peer of issue 13's table: the same work as each Chronik row,
// done by the embedded database a Swift user would otherwise pick — SQLite
// through GRDB 7.10, WAL journal, synchronous=FULL (so a commit is durable
// when it returns, like a Chronik append with fsync), one table:
//
//   events(position INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
//          stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
//          time INTEGER NOT NULL, metadata BLOB NOT NULL, data BLOB NOT NULL,
//          UNIQUE(stream, version))
//
// The write rows are paired with the raw pwrite + fdatasync baseline inside
// each iteration (as AppendBenchmarks' "Paired:" rows), so SQLite and the
// baseline see the same disk. Events: CommerceEventGenerator, as
// AppendBenchmarks; the import reads the same interleaved shop file as
// CommerceBenchmarks (ShopLines.swift is a link to its generator).

import Benchmark
import ChronikBenchSupport
import ChronikLog
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

let sqliteRate = BenchmarkMetric.custom("SQLite events/s", polarity: .prefersLarger, useScalingFactor: false)
let rawRate = BenchmarkMetric.custom("raw events/s", polarity: .prefersLarger, useScalingFactor: false)

/// Rows read back or imported per run (the Chronik rows use 1 M too).
let rowCount: Int = {
    if let s = getenv("CHRONIK_SQLITE_ROWS"), let n = Int(String(cString: s)), n > 0 { return n }
    return 1_000_000
}()

let benchmarks: @Sendable () -> Void = {
    // MARK: Writes, each paired with the raw baseline

    // Issue 13 row 1: 1,000 events per commit, one writer.
    let batch = SetupBox<(SQLiteLog, RawAppendFile, CommerceEventGenerator)>()
    Benchmark("SQLite: append 1000-event transaction vs raw ~250 KB + fdatasync",
              configuration: .init(metrics: [.wallClock, sqliteRate, rawRate], maxDuration: .seconds(8), maxIterations: 300)) { benchmark in
        let (db, raw, _) = batch.unwrapped
        var generator = batch.unwrapped.2
        let stream = generator.streamName()
        let events = generator.events(1000)
        batch.value!.2 = generator
        var bytes: [UInt8] = []
        bytes.reserveCapacity(300_000)
        for e in events { bytes += e.data; bytes += e.metadata }
        let clock = ContinuousClock()
        let sqliteTime = try clock.measure { try db.append(stream: stream, events) }
        let rawTime = clock.measure { raw.append(bytes); raw.sync() }
        benchmark.measurement(sqliteRate, Int(1000 / sqliteTime.seconds))
        benchmark.measurement(rawRate, Int(1000 / rawTime.seconds))
    } setup: {
        let db = try SQLiteLog(scratch: "sqlite-batch")
        batch.value = (db, RawAppendFile(path: db.directory + "/raw.bin"), CommerceEventGenerator(seed: 42))
    } teardown: {
        batch.value?.0.remove()
        batch.value = nil
    }

    // Issue 13 row 2: 64 tasks, each appending its events one commit at a
    // time (1,000 events per iteration), against 32 raw 250-byte write +
    // fdatasync in a row. GRDB's DatabasePool has one writer connection:
    // SQLite serialises writers anyway, so the 64 tasks queue on it (its
    // serial writer queue) and every commit is its own WAL fsync — SQLite
    // has no group commit.
    let concurrent = SetupBox<(SQLiteLog, RawAppendFile, CommerceEventGenerator)>()
    Benchmark("SQLite: 64 concurrent 1-event appenders vs raw fsync per event",
              configuration: .init(metrics: [.wallClock, sqliteRate, rawRate], maxDuration: .seconds(10), maxIterations: 30)) { benchmark in
        let (db, raw, _) = concurrent.unwrapped
        var generator = concurrent.unwrapped.2
        let work: [(String, [ProposedEvent])] = (0..<64).map { t in
            ("cart-\(t)-\(benchmark.currentIteration)", generator.events(t < 40 ? 16 : 15))
        }
        concurrent.value!.2 = generator
        let bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 250)
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (stream, events) in work {
                group.addTask {
                    for e in events { try await db.appendAsync(stream: stream, [e]) }
                }
            }
            try await group.waitForAll()
        }
        let sqliteTime = started.duration(to: clock.now)
        let rawTime = clock.measure { for _ in 0..<32 { raw.append(bytes); raw.sync() } }
        benchmark.measurement(sqliteRate, Int(1000 / sqliteTime.seconds))
        benchmark.measurement(rawRate, Int(32 / rawTime.seconds))
    } setup: {
        let db = try SQLiteLog(scratch: "sqlite-concurrent")
        concurrent.value = (db, RawAppendFile(path: db.directory + "/raw.bin"), CommerceEventGenerator(seed: 43))
    } teardown: {
        concurrent.value?.0.remove()
        concurrent.value = nil
    }

    // MARK: Import, read, replay, reopen, check

    let readTiming: [BenchmarkMetric] = [.wallClock, .throughput, .cpuTotal]

    // Issue 13 row 4: the interleaved 1 M-line shop file of
    // CommerceBenchmarks' "import end to end (1M, interleaved)", parsed with
    // JSONSerialization (what a Swift user reaches for), the stream derived
    // from the data's key field, versions counted in memory, 1,000 rows per
    // commit, into a fresh database.
    let importPath = SetupBox<String>()
    Benchmark("SQLite: import 1M-line shop file (interleaved), 1000 per commit",
              configuration: .init(metrics: readTiming, warmupIterations: 0, scalingFactor: .mega, maxDuration: .seconds(30), maxIterations: 3)) { benchmark in
        let db = try SQLiteLog(scratch: "sqlite-import")
        defer { db.remove() }
        let n = try db.importLines(path: importPath.unwrapped)
        precondition(n == 1_000_000, "imported \(n) lines")
    } setup: {
        importPath.value = ShopLines.ensureFile(count: 1_000_000, layout: .interleaved, seed: 8)
    }

    // A database of `rowCount` generic events, 1,000 per commit, built once
    // and kept (like the Chronik benchmarks' cached logs).
    let cached = SetupBox<SQLiteLog>()
    let ensureCached: @Sendable () async throws -> Void = {
        if cached.value == nil { cached.value = try SQLiteLog.cached(rows: rowCount) }
    }

    // Issue 13 row 7 (export): every row in position order, as one JSON
    // line each (position, id, stream, version, type, time, data) into a
    // buffer written to /dev/null 1 MiB at a time.
    Benchmark("SQLite: export all rows as JSON Lines (\(rowCount / 1_000_000)M)",
              configuration: .init(metrics: readTiming, scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 5)) { _ in
        let n = try cached.unwrapped.exportJSONLines(to: "/dev/null")
        precondition(n == rowCount)
    } setup: { try await ensureCached() }

    // Issue 13 row 5's peer: "replay" = every row read back in position
    // order (type, time and data touched; no model to fold them into).
    Benchmark("SQLite: read every row in order (\(rowCount / 1_000_000)M)",
              configuration: .init(metrics: readTiming, scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 5)) { _ in
        let (n, fold) = try cached.unwrapped.readAll()
        precondition(n == rowCount)
        blackHole(fold)
    } setup: { try await ensureCached() }

    // Issue 13 row 8: open the database until a write is accepted (one
    // durable insert done). On a copy of the kept database (SQLite's
    // backup API): the inserts made here would otherwise stay in it, and
    // the next run's export and read-back found more rows than they
    // expect and stopped the benchmark (stop 25).
    let reopenPath = SetupBox<String>()
    Benchmark("SQLite: reopen until an append is accepted (\(rowCount / 1_000_000)M rows)",
              configuration: .init(metrics: [.wallClock], maxDuration: .seconds(10), maxIterations: 10)) { _ in
        let db = try SQLiteLog(path: reopenPath.unwrapped)
        var g = CommerceEventGenerator(seed: 99)
        // A fresh id each iteration: the generator's are the same every time.
        var e = g.event()
        e.id = .random()
        try db.append(stream: "reopen-\(UUID().uuidString)", [e])
    } setup: {
        try await ensureCached()
        let copy = try SQLiteLog(scratch: "sqlite-reopen")
        try cached.unwrapped.pool.backup(to: copy.pool)
        reopenPath.value = copy.path
    }

    // Issue 13 row 6's peer: PRAGMA integrity_check (b-trees, indexes and
    // rows checked; SQLite has no content hash), bytes of the database file
    // per second in the custom metric.
    let checkRate = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark("SQLite: integrity_check (\(rowCount / 1_000_000)M rows)",
              configuration: .init(metrics: [.wallClock, checkRate], maxDuration: .seconds(20), maxIterations: 5)) { benchmark in
        let db = cached.unwrapped
        let clock = ContinuousClock()
        let t = try clock.measure { try db.integrityCheck() }
        benchmark.measurement(checkRate, Int(Double(db.fileBytes) / 1e6 / t.seconds))
    } setup: { try await ensureCached() }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// One SQLite database holding an event log: the table above, WAL,
/// synchronous=FULL, through one GRDB DatabasePool (one writer connection,
/// readers beside it).
final class SQLiteLog: @unchecked Sendable {
    // The pool is thread-safe; `versions` is only touched inside its
    // serialised write blocks.
    let pool: DatabasePool
    let path: String
    let directory: String
    private var versions: [String: Int64] = [:]

    convenience init(scratch name: String) throws {
        let dir = benchmarkDataDirectory + "/scratch-" + name
        removeTree(dir)
        makeDirectories(dir)
        try self.init(path: dir + "/events.sqlite")
    }

    init(path: String) throws {
        self.path = path
        directory = String(path[..<path.lastIndex(of: "/")!])
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: config)  // WAL
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS events (
                  position INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,
                  stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
                  time INTEGER NOT NULL, metadata BLOB NOT NULL, data BLOB NOT NULL,
                  UNIQUE(stream, version))
                """)
        }
    }

    func remove() { removeTree(directory) }

    static let insertSQL = "INSERT INTO events (id, stream, version, type, time, metadata, data) VALUES (?, ?, ?, ?, ?, ?, ?)"

    private func insert(_ db: Database, stream: String, _ events: [ProposedEvent]) throws {
        let statement = try db.cachedStatement(sql: Self.insertSQL)
        var version = try nextVersion(db, stream)
        for e in events {
            try statement.execute(arguments: [Self.blob(e.id), stream, version, e.type, e.occurredAt.microseconds,
                                              Data(e.metadata), Data(e.data)])
            version += 1
        }
        versions[stream] = version
    }

    /// The stream's next version: from memory, else from the table (as an
    /// appender with an expected-version check would read it).
    private func nextVersion(_ db: Database, _ stream: String) throws -> Int64 {
        if let v = versions[stream] { return v }
        return try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(version) + 1, 0) FROM events WHERE stream = ?", arguments: [stream]) ?? 0
    }

    /// One transaction, durable on return.
    func append(stream: String, _ events: [ProposedEvent]) throws {
        try pool.write { db in try insert(db, stream: stream, events) }
    }

    func appendAsync(stream: String, _ events: [ProposedEvent]) async throws {
        try await pool.write { db in try self.insert(db, stream: stream, events) }
    }

    static func blob(_ id: EventID) -> Data {
        var d = Data(count: 16)
        d.withUnsafeMutableBytes { b in
            b.storeBytes(of: id.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            b.storeBytes(of: id.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return d
    }

    var fileBytes: Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    /// The kept database of `rows` generic events (1,000 per commit).
    static func cached(rows: Int) throws -> SQLiteLog {
        let dir = benchmarkDataDirectory + "/sqlite-\(rows)rows-seed5"
        let marker = dir + ".ok"
        // Recipe 2: recipe 1's databases hold the rows the reopen benchmark
        // added to them before it worked on a copy.
        let recipe = "sqlite recipe 2 rows \(rows) seed 5\n"
        if let text = try? String(contentsOfFile: marker, encoding: .utf8), text == recipe {
            return try SQLiteLog(path: dir + "/events.sqlite")
        }
        removeTree(dir)
        makeDirectories(dir)
        let started = ContinuousClock.now
        let db = try SQLiteLog(path: dir + "/events.sqlite")
        var g = CommerceEventGenerator(seed: 5)
        for _ in 0..<(rows / 1000) { try db.append(stream: g.streamName(), g.events(1000)) }
        _ = try db.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try recipe.write(toFile: marker, atomically: true, encoding: .utf8)
        note("built \(dir): \(rows) rows in \(started.duration(to: .now))")
        return db
    }

    /// Every row in position order; (rows, a fold of what was touched).
    func readAll() throws -> (Int, Int) {
        try pool.read { db in
            var n = 0, fold = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT position, type, time, data FROM events ORDER BY position")
            while let row = try rows.next() {
                n += 1
                let type: String = row[1]
                let time: Int64 = row[2]
                fold &+= type.utf8.count &+ Int(truncatingIfNeeded: time)
                fold &+= try row.withUnsafeData(atIndex: 3) { $0?.count ?? 0 }
            }
            return (n, fold)
        }
    }

    /// Every row as a JSON line; the rows written.
    func exportJSONLines(to path: String) throws -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0)
        defer { close(fd) }
        return try pool.read { db in
            var out: [UInt8] = []
            out.reserveCapacity(1 << 21)
            func flush() {
                out.withUnsafeBytes { b in var done = 0; while done < b.count { done += max(0, write(fd, b.baseAddress! + done, b.count - done)) } }
                out.removeAll(keepingCapacity: true)
            }
            var n = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT position, id, stream, version, type, time, data FROM events ORDER BY position")
            while let row = try rows.next() {
                n += 1
                let position: Int64 = row[0]
                let stream: String = row[2]
                let version: Int64 = row[3]
                let type: String = row[4]
                let time: Int64 = row[5]
                out += #"{"position":"#.utf8
                out += String(position).utf8
                out += #","id":""#.utf8
                try row.withUnsafeData(atIndex: 1) { d in
                    if let d { for b in d { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)]) } }
                }
                out += #"","stream":"#.utf8
                appendJSONString(stream, &out)
                out += #","version":"#.utf8
                out += String(version).utf8
                out += #","type":"#.utf8
                appendJSONString(type, &out)
                out += #","time":"#.utf8
                out += String(time).utf8
                out += #","data":"#.utf8
                try row.withUnsafeData(atIndex: 6) { d in if let d { out += d } }
                out += "}\n".utf8
                if out.count >= 1 << 20 { flush() }
            }
            flush()
            return n
        }
    }

    func integrityCheck() throws {
        let result = try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        precondition(result == "ok", "integrity_check: \(result ?? "nil")")
    }

    /// Imports a JSON Lines file of commerce events (1,000 rows per commit);
    /// the lines imported.
    func importLines(path: String) throws -> Int {
        guard let file = FileHandle(forReadingAtPath: path) else { preconditionFailure("cannot open \(path)") }
        defer { try? file.close() }
        var pending: [(stream: String, event: ProposedEvent)] = []
        pending.reserveCapacity(1000)
        var total = 0
        func commit() throws {
            try pool.write { db in
                let statement = try db.cachedStatement(sql: Self.insertSQL)
                for (stream, e) in pending {
                    let version = try nextVersion(db, stream)
                    try statement.execute(arguments: [Self.blob(e.id), stream, version, e.type, e.occurredAt.microseconds,
                                                      Data(e.metadata), Data(e.data)])
                    versions[stream] = version + 1
                }
            }
            total += pending.count
            pending.removeAll(keepingCapacity: true)
        }
        var carry = Data()
        while true {
            let chunk = file.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            carry += chunk
            var start = carry.startIndex
            while let nl = carry[start...].firstIndex(of: 0x0A) {
                pending.append(try Self.parse(carry[start..<nl]))
                if pending.count == 1000 { try commit() }
                start = nl + 1
            }
            carry = Data(carry[start...])
        }
        if !pending.isEmpty { try commit() }
        return total
    }

    /// One line: type, id, time (RFC 3339), data, meta; the stream from the
    /// data's key field (order, session, stock item, customer, product).
    static func parse(_ line: Data) throws -> (String, ProposedEvent) {
        guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any],
              let type = object["type"] as? String, let data = object["data"] as? [String: Any] else {
            preconditionFailure("bad line")
        }
        let stream: String
        if let o = data["orderId"] as? String { stream = "order-" + o }
        else if let s = data["sessionId"] as? String { stream = "session-" + s }
        else if let sku = data["sku"] as? String { stream = "stock-\(sku)-\(data["warehouseId"] as? String ?? "")" }
        else if let c = data["customerId"] as? String { stream = "customer-" + c }
        else if let p = data["productId"] as? String { stream = "product-" + p }
        else { stream = "shop" }
        let id = (object["id"] as? String).flatMap { UUID(uuidString: $0) }.map(EventID.init) ?? .random()
        let time = (object["time"] as? String).flatMap(parseTime) ?? .now()
        let dataBytes = try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])
        let meta = try object["meta"].map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) } ?? Data()
        return (stream, ProposedEvent(id: id, type: type, data: [UInt8](dataBytes), metadata: [UInt8](meta), occurredAt: time))
    }

    nonisolated(unsafe) static let timeFormatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    static func parseTime(_ s: String) -> Timestamp? {
        timeFormatter.date(from: s).map { Timestamp(microseconds: Int64($0.timeIntervalSince1970 * 1_000_000)) }
    }
}

let hex = Array("0123456789abcdef".utf8)

func appendJSONString(_ s: String, _ out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for b in s.utf8 {
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
        case 0..<0x20: out += "\\u00".utf8; out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
        default: out.append(b)
        }
    }
    out.append(UInt8(ascii: "\""))
}
