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

    /// Counts a finished request by route, method and status. The counter
    /// of each combination is made once and kept: making one per request
    /// (dimensions, label strings, a registry lookup) cost more than the
    /// rest of the middleware.
    func request(route: String, method: String, status: Int) {
        let key = RequestKey(route: route, method: method, status: status)
        let counter = requestCounters.withLock { counters in
            if let known = counters[key] { return known }
            let made = Metrics.Counter(label: "chronik_http_requests_total",
                                       dimensions: [("route", route), ("method", method), ("status", String(status))],
                                       factory: factory)
            counters[key] = made
            return made
        }
        counter.increment()
    }

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private let requestCounters = Mutex<[RequestKey: Metrics.Counter]>([:])
}

extension LogServer {
    /// `GET /metrics`: the Prometheus text format. Gauges of the moment
    /// (subscribers and their lag, the models' position, the head) are
    /// set at each scrape.
    func metricsText(_ context: ChronikContext) throws -> Response {
        try context.require(.read)
        let headValue = knownHead
        let cursors = subscriptionPositions()
        let lags = cursors.map { headValue > $0 ? headValue - $0 : 0 }
        metrics.subscribers.record(cursors.count)
        metrics.subscriberLagMax.record(Int64(lags.max() ?? 0))
        metrics.subscriberLagSum.record(Int64(lags.reduce(0, +)))
        metrics.head.record(Int64(headValue))
        if let live { metrics.modelsPosition.record(Int64(live.position.value)) }
        // A store's server: not stopping and its models following (whether
        // the store answers is /ready's own round trip).
        let isReady = localLog != nil ? (try? ready()) != nil : !isStopping && live?.stoppedBecause == nil
        metrics.ready.record(isReady ? 1 : 0)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
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
