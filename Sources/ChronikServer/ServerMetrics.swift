import ChronikLog
import Foundation
import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// The server's metrics: swift-metrics instruments on a Prometheus
/// registry of this server's own (no process-wide bootstrap, so that
/// tests can run several servers), served as text at `GET /metrics`.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let appendLatency: Metrics.Timer
    let batchSize: Metrics.Recorder
    let eventsWritten: Metrics.Counter
    let bytesWritten: Metrics.Counter
    let subscribers: Metrics.Gauge
    let subscriberLagMax: Metrics.Gauge
    let subscriberLagSum: Metrics.Gauge
    let modelsPosition: Metrics.Gauge
    let head: Metrics.Gauge
    /// 1 when `/ready` would answer 200, else 0 (stop 36, an operator: no
    /// metric said a server was poisoned, or its appends failing).
    let ready: Metrics.Gauge
    let fsyncDuration: Metrics.Timer
    let fsyncGroupEvents: Metrics.Recorder
    let fsyncGroupBytes: Metrics.Recorder
    let diskFree: Metrics.Gauge
    let diskSize: Metrics.Gauge

    init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1),
        ]
        // fdatasync on a fast disk takes ~0.1 ms, on a slow one 4 ms and more.
        f.durationHistogramBuckets = ["chronik_fsync_seconds": [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .seconds(1),
        ]]
        f.valueHistogramBuckets = [
            "chronik_append_batch_events": [1, 2, 5, 10, 50, 100, 500, 1000],
            "chronik_fsync_group_events": [1, 2, 5, 10, 50, 100, 500, 1000, 10000],
            "chronik_fsync_group_bytes": [1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216],
        ]
        factory = f
        appendLatency = Metrics.Timer(label: "chronik_append_duration_seconds", dimensions: [], factory: f)
        batchSize = Metrics.Recorder(label: "chronik_append_batch_events", dimensions: [], aggregate: true, factory: f)
        eventsWritten = Metrics.Counter(label: "chronik_events_written_total", dimensions: [], factory: f)
        bytesWritten = Metrics.Counter(label: "chronik_bytes_written_total", dimensions: [], factory: f)
        subscribers = Metrics.Gauge(label: "chronik_subscribers", dimensions: [], factory: f)
        subscriberLagMax = Metrics.Gauge(label: "chronik_subscriber_lag_events_max", dimensions: [], factory: f)
        subscriberLagSum = Metrics.Gauge(label: "chronik_subscriber_lag_events_sum", dimensions: [], factory: f)
        modelsPosition = Metrics.Gauge(label: "chronik_models_position", dimensions: [], factory: f)
        head = Metrics.Gauge(label: "chronik_log_head_position", dimensions: [], factory: f)
        ready = Metrics.Gauge(label: "chronik_ready", dimensions: [], factory: f)
        fsyncDuration = Metrics.Timer(label: "chronik_fsync_seconds", dimensions: [], factory: f)
        fsyncGroupEvents = Metrics.Recorder(label: "chronik_fsync_group_events", dimensions: [], aggregate: true, factory: f)
        fsyncGroupBytes = Metrics.Recorder(label: "chronik_fsync_group_bytes", dimensions: [], aggregate: true, factory: f)
        diskFree = Metrics.Gauge(label: "chronik_disk_free_bytes", dimensions: [], factory: f)
        diskSize = Metrics.Gauge(label: "chronik_disk_size_bytes", dimensions: [], factory: f)
    }

    /// One fdatasync of the log (`EventLog.observeSyncs`): its duration,
    /// and the events and bytes of the group commit it made durable.
    func synced(_ report: SyncReport) {
        fsyncDuration.recordNanoseconds(Int64(report.duration.components.seconds) * 1_000_000_000
                                        + report.duration.components.attoseconds / 1_000_000_000)
        fsyncGroupEvents.record(report.events)
        fsyncGroupBytes.record(report.bytes)
    }

    /// One acknowledged append (new events only; a retry writes nothing).
    func appended(events: [ProposedEvent], duration: Duration) {
        appendLatency.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000
                                        + duration.components.attoseconds / 1_000_000_000)
        batchSize.record(events.count)
        eventsWritten.increment(by: events.count)
        bytesWritten.increment(by: events.reduce(0) { $0 + $1.encodedByteCount })
    }

    /// The counter of `key` in `cache`, made once and kept: making one per
    /// request (dimensions, label strings, a registry lookup) cost more
    /// than the rest of the middleware.
    private func counter<Key: Hashable & Sendable>(_ cache: borrowing Mutex<[Key: Metrics.Counter]>, _ key: Key,
                                        _ make: () -> Metrics.Counter) -> Metrics.Counter {
        cache.withLock { counters in
            if let known = counters[key] { return known }
            let made = make()
            counters[key] = made
            return made
        }
    }

    /// Counts a finished request by route, method and status.
    func request(route: String, method: String, status: Int) {
        counter(requestCounters, RequestKey(route: route, method: method, status: status)) {
            Metrics.Counter(label: "chronik_http_requests_total",
                            dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory)
        }.increment()
    }

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private let requestCounters = Mutex<[RequestKey: Metrics.Counter]>([:])

    /// Counts an error response by its code (`notFound`, `conflict`,
    /// `io`, …): what the status alone does not say (stop 37, an
    /// operator's list: a full disk and a bad request were both just 5xx
    /// and 4xx counts).
    func error(code: String) {
        counter(errorCounters, code) { Metrics.Counter(label: "chronik_errors_total", dimensions: [("code", code)], factory: factory) }.increment()
    }

    private let errorCounters = Mutex<[String: Metrics.Counter]>([:])

    /// The `# HELP` text of each metric (swift-metrics has no place for
    /// it, so it is written into the registry's text at each scrape).
    static let help: [String: String] = [
        "chronik_append_duration_seconds": "Time from receiving an append request to its durable acknowledgement (new events only).",
        "chronik_append_batch_events": "Events per acknowledged append request.",
        "chronik_events_written_total": "Events appended through this server (retries not counted).",
        "chronik_bytes_written_total": "Encoded bytes of the events appended through this server.",
        "chronik_subscribers": "Open subscriptions (GET /subscribe).",
        "chronik_subscriber_lag_events_max": "The largest number of events between the head and a subscription's cursor.",
        "chronik_subscriber_lag_events_sum": "The events between the head and each subscription's cursor, summed.",
        "chronik_models_position": "The next position the live read models apply.",
        "chronik_log_head_position": "The log's head: the position of the next event appended.",
        "chronik_ready": "1 when GET /ready answers 200, else 0.",
        "chronik_fsync_seconds": "Duration of each fdatasync of the log.",
        "chronik_fsync_group_events": "Events made durable by each fdatasync (one group commit).",
        "chronik_fsync_group_bytes": "Bytes made durable by each fdatasync (one group commit).",
        "chronik_http_requests_total": "HTTP responses by route pattern, method and status.",
        "chronik_errors_total": "Error responses by their JSON error code.",
        "chronik_disk_free_bytes": "Bytes free for the log's writer on the file system of the log directory.",
        "chronik_disk_size_bytes": "Size of the file system of the log directory.",
    ]

    /// The registry's text with a `# HELP` line before each `# TYPE` line
    /// of a metric named in `help`, then the process's own metrics.
    func exposition() -> [UInt8] {
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        var out = ""
        out.reserveCapacity(text.utf8.count + 4096)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).prefix { $0 != " " }
                if let h = Self.help[String(name)] { out += "# HELP \(name) \(h)\n" }
            }
            out += line
            out += "\n"
        }
        if out.hasSuffix("\n\n") { out.removeLast() }
        out += ProcessMetrics.read()?.text ?? ""
        return Array(out.utf8)
    }
}

/// The process's own figures, named as Prometheus clients name them
/// (`process_…`), read from /proc at each scrape (Linux; nil elsewhere).
struct ProcessMetrics {
    var cpuSeconds: Double
    var residentBytes: Int64
    var virtualBytes: Int64
    var openFDs: Int
    var maxFDs: Int64
    var startTimeSeconds: Double

    static func read() -> ProcessMetrics? {
        #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command's ")": state is field 3, so field n is at n - 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ n: Int) -> Double? { n - 3 < fields.count ? Double(fields[n - 3]) : nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        guard ticks > 0, let utime = field(14), let stime = field(15), let start = field(22),
              let vsize = field(23), let rss = field(24) else { return nil }
        var bootTime: Double = 0
        if let procStat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
           let line = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }) {
            bootTime = Double(line.dropFirst(6)) ?? 0
        }
        return ProcessMetrics(cpuSeconds: (utime + stime) / ticks, residentBytes: Int64(rss * page), virtualBytes: Int64(vsize),
                              openFDs: FileDescriptors.open, maxFDs: Int64(FileDescriptors.limit), startTimeSeconds: bootTime + start / ticks)
        #else
        return nil
        #endif
    }

    var text: String {
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) -> String {
            "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        return metric("process_cpu_seconds_total", "counter", "User and system CPU time of the server process, in seconds.", "\(cpuSeconds)")
            + metric("process_resident_memory_bytes", "gauge", "Resident memory of the server process.", "\(residentBytes)")
            + metric("process_virtual_memory_bytes", "gauge", "Virtual memory of the server process.", "\(virtualBytes)")
            + metric("process_open_fds", "gauge", "Open file descriptors of the server process.", "\(openFDs)")
            + metric("process_max_fds", "gauge", "The process's limit of open file descriptors.", "\(maxFDs)")
            + metric("process_start_time_seconds", "gauge", "Start time of the server process, seconds since the Unix epoch.", "\(startTimeSeconds)")
    }
}

extension LogServer {
    /// `GET /metrics`: the Prometheus text format. Gauges of the moment
    /// (subscribers and their lag, the models' position, the head) are
    /// set at each scrape.
    func metricsText(_ context: ChronikContext) async throws -> Response {
        try context.require(anyOf: [.read, .metrics])
        let headValue = knownHead
        let cursors = subscriptionPositions()
        let lags = cursors.map { headValue > $0 ? headValue - $0 : 0 }
        metrics.subscribers.record(cursors.count)
        metrics.subscriberLagMax.record(Int64(lags.max() ?? 0))
        metrics.subscriberLagSum.record(Int64(lags.reduce(0, +)))
        metrics.head.record(Int64(headValue))
        if let live { metrics.modelsPosition.record(Int64(live.position.value)) }
        // A store's server: not stopping, its models following, and the
        // store answering within 2 s, as /ready asks it (stop 38, a DBA:
        // with the database down, /ready was 503 and the gauge said 1).
        let isReady = if localLog != nil {
            (try? ready()) != nil
        } else {
            !isStopping && live?.stoppedBecause == nil ? await storeAnswers(within: .seconds(2)) : false
        }
        metrics.ready.record(isReady ? 1 : 0)
        // The room left for the log (a full disk stops every append; stop
        // 36's operator found out from the 500s).
        if let localLog {
            var fs = statvfs()
            if statvfs(localLog.directory, &fs) == 0 {
                metrics.diskFree.record(Int64(clamping: UInt64(fs.f_bavail) &* UInt64(fs.f_frsize)))
                metrics.diskSize.record(Int64(clamping: UInt64(fs.f_blocks) &* UInt64(fs.f_frsize)))
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
}

/// Counts every response by route (the pattern, not the path), method and
/// status, and logs it at debug level.
struct MetricsMiddleware: RouterMiddleware {
    let metrics: ServerMetrics
    /// For a 405: the pattern of the route the path is (the router found
    /// none for the method, so its own name is "NotFound").
    let methods: RouteMethods

    func handle(_ request: Request, context: ChronikContext,
                next: (Request, ChronikContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        let route = response.status == .methodNotAllowed ? methods.pattern(for: request.uri.path) : nil
        metrics.request(route: route ?? context.endpointPath ?? "unmatched", method: request.method.rawValue,
                        status: response.status.code)
        context.logger.debug("request", metadata: ["route": "\(context.endpointPath ?? request.uri.path)",
                                                    "status": "\(response.status.code)", "caller": "\(context.caller)"])
        return response
    }
}
