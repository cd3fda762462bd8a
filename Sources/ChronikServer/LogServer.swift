import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikProjections
import Foundation
import Hummingbird
import NIOHTTP1
import NIOCore
import Logging
import ServiceLifecycle
import Synchronization

/// Limits and timings of a server; the defaults are what `chronik serve` uses.
public struct ServerConfiguration: Sendable {
    /// The largest request body accepted (413 `bodyTooLarge` beyond).
    public var maxBodyBytes = 16 << 20
    /// The most events one append request may carry (413 `tooManyEvents`).
    public var maxEventsPerRequest = 1000
    /// The most events one read request returns.
    public var maxPageSize = 1000
    /// A comment line on an idle subscription this often.
    public var heartbeat: Duration = .seconds(15)
    /// How long `?waitFor=` waits at most.
    public var maxWait: Duration = .seconds(30)
    /// Events read from disk per step of a subscription catching up: all
    /// a subscriber behind the head ever makes the server hold.
    public var subscriptionChunk = 256
    /// Within this many events of the head a subscription without a filter
    /// shares its reads with the others there (one read and encoding of
    /// each new event per scope, not one per subscriber), reading up to
    /// this many at once. Keep the live pace times the append rate under
    /// it. A subscription left up to `LogServer.sharedChunks` chunks behind
    /// still shares (a crowd that fell behind together catches up reading
    /// once), further back it reads on its own. Up to `HeadFrames.slots`
    /// such chunks are held for all subscribers of a scope.
    public var headChunk = 1024
    /// With many subscriptions at the head of a local log (8 or more woken
    /// at once), they are woken at most this often, each then sending
    /// every event appended since in one write; fewer are woken at every
    /// append. Zero: every append wakes them all (one small write per
    /// subscriber per group commit). Bounds what live subscribers take
    /// from the appends (Benchmarks/README.md, "Stop 20").
    public var livePace: Duration = .milliseconds(10)
    /// With pacing, the wakes per second a crowd at the head may cost the
    /// server at most (each a read of the shared frames and a write): a
    /// crowd larger than `livePace` allows is woken in longer rounds, each
    /// subscriber less often, the crowd spread over the round (stop 49).
    /// The default lets 20 subscribers have the 10 ms pace; 100 are woken
    /// every 50 ms at most. A round stays within 100 ms, and short enough
    /// that the appends of one round stay within an eighth of `headChunk`
    /// at the measured rate (100 subscribers at 4,000 appends/s: ~32 ms;
    /// saturated, near the pace). Zero: rounds of `livePace` whatever the
    /// crowd.
    public var liveWakesPerSecond = 2000
    /// Bearer tokens; nil: no authentication (loopback only).
    public var tokens: TokenTable?
    /// Signs a digest of the log (`LogDigest.make` with the audit key of
    /// `--signing-key`) and returns its JSON; nil: `POST /digest` is 503.
    public var signDigest: (@Sendable (_ directory: String) throws -> String)?

    /// How long a connection may go without sending a byte while its
    /// request is incomplete (a stalled body, a half-sent head) or while it
    /// waits between requests, before the server closes it. A response in
    /// progress (a subscription, an export) is not cut. Until stop 32 there
    /// was none: such a connection stayed open for ever, and held a
    /// SIGTERM's drain with it.
    public var idleTimeout: Duration = .seconds(30)
    /// How long a SIGTERM's drain may take before the connections still
    /// open are closed (their requests fail; nothing acknowledged is lost:
    /// an append is acknowledged only once durable).
    public var drainTimeout: Duration = .seconds(30)
    /// How long after the last failed append `/ready` still answers 503
    /// `appendsFailing`: a load balancer that stops sending appends must
    /// see the server ready again to find out whether they go in.
    public var appendsFailingFor: Duration = .seconds(10)

    public init() {}
}

/// Owns an open log (its one writer) and maps HTTP routes onto library
/// calls, adding no semantics of its own (ARCHITECTURE.md, "Beyond one
/// process"): an append is `CommerceStore.append`, a read is the log's
/// cursor, a subscription is one cursor over disk that waits on the head.
///
/// The store is a local `EventLog` (`chronik serve --log`) or another
/// `EventStore`, such as a PostgreSQL log shared by several servers
/// (`--store`, Routes+Store.swift): the routes that read a log directory's
/// files then answer 501 `notAvailableWithStore` (docs/SERVER.md).
public final class LogServer: Sendable {
    /// The local log, nil when the server serves another store.
    public let localLog: EventLog?
    /// The store every route appends to and reads from.
    public let eventStore: any EventStore
    /// The store's head as its subscription last saw it, for the waits of
    /// `GET /subscribe` (another store than a local log only).
    let storeHeadWatch: StoreHeadWatch?
    /// The engine door: `POST /streams/{stream}` (EVENTS.md types through
    /// their guards, as `chronik append`).
    let store: CommerceStore
    public let live: LiveProjections?
    /// Seals and opens personal data; nil without a key store.
    let vault: SubjectKeyVault?
    public let configuration: ServerConfiguration
    let logger: Logger
    public let metrics = ServerMetrics()
    /// Whether appends keep failing (`/ready`), and the error log's pace.
    public let writeHealth: WriteHealth
    let verifyJob = VerifyJob()
    /// The newest SSE frames read at the head, shared by the subscriptions there.
    let headFrames = HeadFrames()
    /// Wakes the subscriptions waiting at the head.
    let headWatch: HeadWatch
    private let stopping = Mutex(false)
    /// The next position each open subscription reads, by an id of its own.
    /// `closing`: the shutdown's grace is over, so a subscription that
    /// registers after it has its connection closed at once.
    private let subscriptions = Mutex<(next: Int, positions: [Int: UInt64], channels: [Int: any Channel], closing: Bool)>((0, [:], [:], false))

    /// How long a shutdown lets subscriptions end by themselves before it
    /// closes their connections: one that stopped reading waits in a write
    /// and would hold the drain to its end (stop 35: a stalled consumer
    /// kept SIGTERM waiting the whole `--drain-timeout`).
    static let subscriptionGrace: DispatchTimeInterval = .seconds(1)

    public convenience init(log: EventLog, live: LiveProjections?, vault: SubjectKeyVault?,
                            configuration: ServerConfiguration = ServerConfiguration(),
                            logLevel: String = "info") {
        self.init(store: log, live: live, vault: vault, configuration: configuration, logLevel: logLevel)
    }

    /// A server of any store; `live` should follow the same store.
    public init(store: any EventStore, live: LiveProjections?, vault: SubjectKeyVault?,
                configuration: ServerConfiguration = ServerConfiguration(),
                logLevel: String = "info") {
        var logger = Logger(label: "chronik.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        // The one place a local log is told apart: its routes read its files.
        localLog = store as? EventLog
        eventStore = store
        storeHeadWatch = localLog == nil ? StoreHeadWatch(store: store) : nil
        self.live = live
        self.vault = vault
        self.configuration = configuration
        writeHealth = WriteHealth(failingFor: configuration.appendsFailingFor)
        headWatch = HeadWatch(pace: configuration.livePace, wakesPerSecond: configuration.liveWakesPerSecond,
                              window: max(1, configuration.headChunk / 8))
        self.logger = logger
        // Every key destroyed through the store (a CustomerForgotten through
        // any route, `/customers/{id}/forget`) drops the frames kept for
        // subscribers at the head: none opened before an erasure is sent
        // after it, whichever route a later change adds.
        let frames = headFrames
        self.store = CommerceStore(store: store, protector: vault.map { ErasingProtector(vault: $0) { frames.clear() } })
        localLog?.observeSyncs { [metrics] in metrics.synced($0) }
    }

    /// The local log. Only the routes of a local log's server use it
    /// (`router()` registers no other with another store).
    public var log: EventLog {
        guard let localLog else { preconditionFailure("LogServer.log read by a route of a server of \(type(of: eventStore))") }
        return localLog
    }

    /// Whether the server is shutting down: subscriptions end, so that
    /// draining the other requests can finish.
    public var isStopping: Bool { stopping.withLock { $0 } }

    /// Ends the subscriptions (at once: their waits at the head are woken);
    /// requests in flight finish.
    public func beginShutdown() {
        // Once: the first signal calls it, and the service group's graceful
        // shutdown again (`ShutdownWatcher`).
        guard stopping.withLock({ s in defer { s = true }; return !s }) else { return }
        storeHeadWatch?.stop()
        headWatch.wakeAll()
        // On a Dispatch timer, not a task: the close must not wait for a
        // thread of the cooperative pool, which a loaded machine may keep
        // busy (stop 41: a SIGTERM once waited 240 s with a stalled
        // subscriber, under the whole suite, cause not caught).
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.subscriptionGrace) { [weak self] in
            guard let self else { return }
            let open = self.subscriptions.withLock { s in
                s.closing = true
                return Array(s.channels.values)
            }
            if !open.isEmpty {
                self.logger.info("closing \(open.count) subscription connection\(open.count == 1 ? "" : "s") still open after the shutdown's grace")
            }
            for c in open { c.close(promise: nil) }
        }
    }

    /// Registers a subscription at `position` on `channel`; returns its id.
    /// After the shutdown's grace (one that registers late, on a loaded
    /// machine), its connection is closed at once.
    func openSubscription(at position: UInt64, channel: (any Channel)? = nil) -> Int {
        let (id, late) = subscriptions.withLock { s in
            s.next += 1
            s.positions[s.next] = position
            if let channel { s.channels[s.next] = channel }
            return (s.next, s.closing)
        }
        if late { channel?.close(promise: nil) }
        return id
    }

    func moveSubscription(_ id: Int, to position: UInt64) {
        subscriptions.withLock { $0.positions[id] = position }
    }

    func closeSubscription(_ id: Int) {
        subscriptions.withLock { s in
            s.positions.removeValue(forKey: id)
            s.channels.removeValue(forKey: id)
        }
    }

    /// The next position each open subscription will read from disk (its
    /// lag is the head minus this).
    public func subscriptionPositions() -> [UInt64] {
        subscriptions.withLock { Array($0.positions.values) }
    }

    /// Every route of the API. A server of another store than a local log
    /// answers the routes that read a log directory's files otherwise
    /// (`addStoreAnswers`, Routes+Store.swift).
    ///
    /// HEAD is answered for every GET route (as GET without the body), and
    /// a known path asked with another method is 405 with `Allow`
    /// (`RouteMethods`).
    /// A route that takes no query parameters: one is refused (400
    /// `invalidParameter`) before `handler` does anything (stop 33:
    /// `forget?dryRun=true` erased the customer).
    func noQuery(_ handler: @escaping @Sendable (Request, ChronikContext) async throws -> Response)
        -> @Sendable (Request, ChronikContext) async throws -> Response {
        { request, context in
            try context.refuseQuery(of: request)
            return try await handler(request, context)
        }
    }

    public func router() -> Router<ChronikContext> {
        let base = Router(context: ChronikContext.self, options: .autoGenerateHeadEndpoints)
        let router = RecordingRouter(router: base, methods: RouteMethods())
        router.add(middleware: MetricsMiddleware(metrics: metrics, methods: router.methods))
        router.add(middleware: ErrorMiddleware(health: writeHealth, metrics: metrics))
        router.add(middleware: RequestTargetMiddleware())
        router.add(middleware: BrowserGuardMiddleware(loopbackHostOnly: configuration.tokens == nil))
        router.add(middleware: AuthMiddleware(tokens: configuration.tokens))
        router.add(middleware: MethodNotAllowedMiddleware(methods: router.methods))
        router.post("streams/:stream", use: noQuery { request, context in try await self.append(request, context) })
        router.get("streams/:stream") { request, context in try await self.readStream(request, context) }
        router.get("all") { request, context in try await self.readAll(request, context) }
        router.get("events/:position", use: noQuery { request, context in try await self.event(request, context) })
        router.get("subscribe") { request, context in try await self.subscribe(request, context) }
        router.post("commands", use: noQuery { request, context in try await self.command(request, context) })
        router.post("commands/ship", use: noQuery { request, context in try await self.shipCommand(request, context) })
        router.get("models/:name") { request, context in try await self.model(request, context) }
        router.get("models/:name/:id") { request, context in try await self.model(request, context) }
        if localLog != nil {
            router.post("digest", use: noQuery { _, context in try self.digest(context) })
            router.get("verify") { request, context in try self.verify(request, context) }
            router.get("export") { request, context in try await self.export(request, context) }
            router.get("customers/:id/subject-export", use: noQuery { request, context in try self.subjectExport(request, context) })
            router.post("customers/:id/forget", use: noQuery { request, context in try await self.forget(request, context) })
            router.get("ready", use: noQuery { _, _ in try self.ready() })
        } else {
            addStoreAnswers(to: router)
        }
        router.get("health", use: noQuery { _, _ in jsonResponse(#"{"status":"ok"}"#) })
        router.get("metrics", use: noQuery { _, context in try await self.metricsText(context) })
        addDashboardRoutes(to: router)
        router.get("openapi.json") { _, _ in LogServer.openAPIResponse() }
        return base
    }

    /// The application on `host:port`; `onServerRunning` gets the bound port.
    public func application(host: String, port: Int,
                            onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(
            router: router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler(), MalformedRequestHandler()],
                                                idleTimeout: TimeAmount(configuration.idleTimeout))),
            configuration: .init(address: .hostname(host, port: port), serverName: "chronik"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}

extension LogServer {
    /// Serves on `host:port` until SIGTERM or SIGINT, then ends the
    /// subscriptions and lets the requests in flight finish (every append
    /// acknowledged is durable: the log answers only then). The caller
    /// closes the log after.
    ///
    /// `signals` is installed by the caller before anything slow (opening
    /// the log, building the models), so that a SIGTERM during start-up
    /// is not lost: the server then does not start.
    public func serve(host: String, port: Int, signals: ShutdownSignals,
                      onServerRunning: @escaping @Sendable (Int) async -> Void) async throws {
        // Whether the server ever listened: a failure before (the port in
        // use) is the command's failure, not a drain that ran out of time
        // (stop 35: it was logged as one and the command exited 0).
        let listened = Mutex(false)
        let running: @Sendable (Int) async -> Void = { port in
            listened.withLock { $0 = true }
            await onServerRunning(port)
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [application(host: host, port: port, onServerRunning: running), ShutdownWatcher(server: self)],
            gracefulShutdownSignals: [],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.drainTimeout
        let group = ServiceGroup(configuration: groupConfiguration)
        let logger = logger, drain = configuration.drainTimeout
        // A second signal stops at once (stop 36, an operator: each one
        // logged the drain's message again and changed nothing).
        let runner = Mutex<Task<Void, any Error>?>(nil)
        let signalsSeen = Atomic<Int>(0)
        guard signals.onSignal({
            if signalsSeen.add(1, ordering: .relaxed).newValue == 1 {
                logger.info("draining: the requests in flight may take up to \(drain) to finish; new connections are refused; a second signal stops at once")
                // The subscriptions end from here, on Dispatch, not only once
                // the service group's graceful shutdown reaches
                // `ShutdownWatcher` (stop 43's CI: a server logged this line
                // and then waited the whole drain with a stalled subscriber,
                // every thread idle: the close after the grace never came).
                self.beginShutdown()
                Task { await group.triggerGracefulShutdown() }
            } else {
                logger.warning("a second signal: stopping at once; the requests still in flight are cut (the log is closed as always: nothing acknowledged is lost)")
                runner.withLock { $0 }?.cancel()
            }
        }) else { return }
        let task = Task { try await group.run() }
        runner.withLock { $0 = task }
        do {
            try await task.value
        } catch let e as IOError where e.errnoCode == EADDRINUSE && !listened.withLock({ $0 }) {
            throw AddressInUse(host: host, port: port)
        } catch where isStopping && listened.withLock({ $0 }) {
            // The drain ran out of time and the group cancelled what was
            // left: the log is still closed by the caller.
            logger.warning("the drain took longer than \(drain): the connections still open were closed (\(error))")
        }
    }
}

/// The address to listen on is taken (another server on the port).
public struct AddressInUse: Error, CustomStringConvertible {
    public let host: String
    public let port: Int
    public var description: String {
        "cannot listen on \(host):\(port): the address is in use (another server on this port?); choose another with --listen"
    }
}

extension LogServer {
    /// `GET /ready`: 200 once the log's id index is loaded and the server
    /// is not shutting down; 503 `notReady` with the reason otherwise.
    func ready() throws -> Response {
        if isStopping { throw ServerError(.serviceUnavailable, "notReady", "shutting down") }
        // Models that stopped (an event that does not decode, a key that does
        // not open) answer no query until a restart replays them (stop 35:
        // /ready said ready meanwhile).
        if let live, let why = live.stoppedBecause {
            throw ServerError(.serviceUnavailable, "projectionsStopped",
                              "the read models stopped at position \(live.position.value): \(why.description); fix the cause and restart the server")
        }
        if !log.isIndexed { throw ServerError(.serviceUnavailable, "notReady", "loading the event id index") }
        // A writer that failed takes no append until a restart reopens the
        // log (stop 34: /ready said ready while every append was 503).
        // Its files checked too (stop 38, a chaos test: with the log
        // directory deleted, /ready said ready and appends were 201).
        if let failure = log.checkFilesInPlace() {
            throw ServerError(.serviceUnavailable, "writerPoisoned",
                              "the log takes no appends: \(failure.message) (restart the server to reopen it)")
        }
        // Appends failing (a full disk) since the last that went in: not
        // ready to take appends, reads still served (stop 36, an operator:
        // /ready said ready for the 13 s every append was 500).
        if let failing = writeHealth.failing {
            let seconds = Double((ContinuousClock.now - failing.since).components.seconds)
            throw ServerError(.serviceUnavailable, "appendsFailing",
                              "appends have failed for \(Int(seconds)) s, the last: \(failing.message); reads are served; the server is ready again once an append goes in, or \(Int(writeHealth.failingFor.components.seconds)) s after the last failure")
        }
        var o = JSONObject()
        o.add("status", "ready")
        o.add("head", log.head.value)
        if let live { o.add("modelsPosition", live.position.value) }
        return jsonResponse(o.text)
    }
}

/// SIGTERM and SIGINT, caught from the moment this is made: one that
/// arrives before the server runs is remembered, and one after it starts
/// the graceful shutdown.
public final class ShutdownSignals: @unchecked Sendable {
    // @unchecked: `requested` and `action` are guarded by `lock`; the
    // sources are only kept alive.
    private let lock = NSLock()
    private var requested = false
    private var action: (@Sendable (Int32) -> Void)?
    private var sources: [any DispatchSourceSignal] = []

    public init() {
        for sig in [SIGTERM, SIGINT] {
            // Ignored until the source's handler is in place, so that the
            // default action does not end the process meanwhile; never over
            // a handler already there: libdispatch installs its own once per
            // signal and process, and a second `ShutdownSignals` left SIG_IGN
            // for good (stop 42, a test: every later signal was dropped).
            if Self.hasDefaultAction(sig) { signal(sig, SIG_IGN) }
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.fire(sig) }
            source.resume()
            sources.append(source)
        }
        // On Linux the sources take effect once libdispatch installs its
        // handler, on its manager thread a moment later; until then SIG_IGN
        // drops a signal. Waited for (bounded), so that one sent once this
        // returns is never lost (stop 42: a server outlived SIGTERM with
        // every thread idle, in 1 of ~6 CI runs; this is one way).
        // (Darwin's kqueue source needs SIG_IGN and installs no handler.)
        #if os(Linux)
        let deadline = ContinuousClock.now + .seconds(2)
        for sig in [SIGTERM, SIGINT] {
            while Self.ignores(sig), ContinuousClock.now < deadline { usleep(500) }
        }
        #endif
    }

    /// Whether `sig`'s disposition is SIG_IGN (a signal sent is dropped).
    public static func ignores(_ sig: Int32) -> Bool { disposition(sig) == 1 }

    /// Whether `sig`'s disposition is SIG_DFL.
    static func hasDefaultAction(_ sig: Int32) -> Bool { disposition(sig) == 0 }

    /// `sig`'s handler as a number: 0 SIG_DFL, 1 SIG_IGN, else a function.
    private static func disposition(_ sig: Int32) -> Int {
        var current = sigaction()
        guard sigaction(sig, nil, &current) == 0 else { return -1 }
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
    }

    private func fire(_ sig: Int32) {
        lock.lock()
        requested = true
        let a = action
        lock.unlock()
        a?(sig)
    }

    /// Sets what a signal does, given its number (`chronik append` exits
    /// 128 + it); false (and `action` not set) when one has already arrived.
    public func onSignal(_ action: @escaping @Sendable (Int32) -> Void) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if requested { return false }
        self.action = action
        return true
    }

    /// `onSignal` for an action that does not need the signal's number.
    func onSignal(_ action: @escaping @Sendable () -> Void) -> Bool {
        onSignal { (_: Int32) in action() }
    }
}

/// Sets `LogServer.isStopping` when graceful shutdown begins, so that the
/// open subscriptions end and the HTTP server can drain.
public struct ShutdownWatcher: Service {
    let server: LogServer
    public init(server: LogServer) { self.server = server }

    public func run() async throws {
        try? await gracefulShutdown()
        server.beginShutdown()
    }
}

extension LogServer {
    /// The request body, at most `maxBodyBytes` (413 `bodyTooLarge` beyond,
    /// from Content-Length before reading, else while reading).
    func body(of request: Request) async throws -> ByteBuffer {
        let limit = configuration.maxBodyBytes
        // A compressed body would be read as broken JSON, and a label on a
        // plain one would be ignored: neither is what the client meant
        // (RFC 9110 §15.5.16; stop 32).
        if let encoding = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces),
           !encoding.isEmpty, encoding.lowercased() != "identity" {
            throw ServerError(.unsupportedMediaType, "unsupportedContentEncoding",
                              "Content-Encoding \(encoding) is not supported: send the body uncompressed", field: "Content-Encoding")
        }
        let tooLarge = ServerError(.contentTooLarge, "bodyTooLarge", "the body is larger than \(limit) bytes")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
        do {
            var body = try await request.body.collect(upTo: limit)
            // A UTF-8 byte-order mark, as `chronik import` and `append` take
            // one (stop 39, an i18n review: a file saved by a Windows editor
            // and sent with curl --data-binary was "unexpected character at
            // byte 0").
            if body.readableBytesView.starts(with: [0xEF, 0xBB, 0xBF]) { body.moveReaderIndex(forwardBy: 3) }
            return body
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw tooLarge
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length) past the limit (stop 42, a
            // helper: it was 500 internal, which a client retries).
            throw tooLarge
        } catch let e as HTTPParserError {
            // Bad bytes inside the body (stop 34: this said "larger than").
            throw ServerError(.badRequest, "badRequest",
                              "the body is not valid HTTP/1.1: \(MalformedRequestHandler.reason(e)); the connection is closed")
        }
    }
}

/// A 200 (or `status`) response with a JSON body.
func jsonResponse(_ json: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: ResponseBody(byteBuffer: ByteBuffer(string: json + "\n")))
}
