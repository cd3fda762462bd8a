import ArgumentParser
import ChronikAudit
import ChronikCommerce
import ChronikLog
import ChronikPostgres
import ChronikProjections
import ChronikServer
import Foundation

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the log over HTTP: append, read, subscribe (SSE).",
        discussion: """
            Opens the log as its one writer, keeps the live models current \
            and serves until SIGINT or SIGTERM; then it stops taking \
            requests, lets those in flight finish, and closes the log. An \
            append is answered only once it is durable. The API is in \
            docs/SERVER.md.

            Without --tokens there is no authentication, so the server \
            listens on loopback only (127.0.0.1 or ::1) and says so, and \
            refuses requests a reverse proxy forwarded (X-Forwarded-For, \
            Forwarded, Via, …): behind a proxy, serve with --tokens \
            (docs/SERVER.md, "Behind a reverse proxy"). The \
            tokens file (mode 600: a file others may read is refused) holds \
            a token a line with its scopes: append, read, audit, pii, \
            metrics (/metrics only, for a scraper).

              3f6c1e0a9b7d4c2e8f1a5b6c7d8e9f00 append,read checkout

            With --store, the server appends to and reads from a PostgreSQL \
            store (docs/POSTGRES.md) instead of a log directory; several \
            servers may share one store, and the commerce guards hold across \
            them. Routes that read a log directory's files (verify, export, \
            digest) answer 501 and name the command that does it on the \
            store. Personal data needs --master-key FILE (32 bytes, mode \
            600, the same file on every server): the customers' keys then \
            live in the store's database, each sealed under it, so that \
            every server seals a customer under one key and an erasure \
            holds on all of them; --keys goes with --log only \
            (docs/POSTGRES.md).

            Examples:
              $ chronik serve --log shop
              $ chronik serve --log shop --listen 127.0.0.1:0 --quiet

            Then, from another shell:

              curl -s -X POST localhost:7070/streams/notes-1 -d '[{"type":"NoteAdded","data":{"text":"hi"}}]'
              curl -sN 'localhost:7070/subscribe?from=0'
              curl -s localhost:7070/models/orders?limit=5

            With a PostgreSQL server (ChronikPostgresTests runs this):
              head -c 32 /dev/urandom > master.key && chmod 600 master.key
              chronik serve --store postgres://chronik@db:5432/shop --master-key master.key --listen 127.0.0.1:7071

            Exit status: 0 after a clean shutdown, 1 failure, 64 usage error.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var creation: CreationOptions
    @OptionGroup var keyOptions: KeyOptions
    @OptionGroup var storeOptions: StoreOptions

    @Option(help: ArgumentHelp("Address and port to listen on (port 0: any free port; the address is printed on stdout with --json or --quiet, else on stderr).", valueName: "host:port"))
    var listen = "127.0.0.1:7070"

    @Option(help: ArgumentHelp("Bearer tokens and their scopes (a file only its owner may read).", valueName: "file"))
    var tokens: String?

    @Option(name: .customLong("signing-key"),
            help: ArgumentHelp("The private audit key (chronik keygen) that POST /digest signs with.", valueName: "path"))
    var signingKey: String?

    @Option(name: .customLong("master-key"),
            help: ArgumentHelp("With --store: 32 bytes (mode 600, the same file on every server) sealing the customers' keys kept in the store's database; without it, personal data is refused.",
                               valueName: "file"))
    var masterKey: String?

    @Option(name: .customLong("live-pace"), parsing: .unconditional,
            help: ArgumentHelp("With 8 or more live subscribers at the head, wake them at most every <ms> milliseconds, each sending what was appended since in one write; 0: at every group commit (more writes, less delay).",
                               valueName: "ms"))
    var livePace = 10

    @Option(name: .customLong("live-wakes"), parsing: .unconditional,
            help: ArgumentHelp("With pacing, the most wakes per second all live subscribers at the head may cost together: a crowd larger than <n> × the pace (20 by default) is woken less often than the pace, spread over the round, each write carrying more events (100 subscribers: every 50 ms at most, shorter when the appends are fast; never past 100 ms). Less CPU for the appends, later events for the subscribers; 0: every subscriber at the pace.",
                               valueName: "n"))
    var liveWakes = 2000

    @Option(name: .customLong("idle-timeout"), parsing: .unconditional,
            help: ArgumentHelp("Close a connection that sends nothing for <s> seconds while its request is incomplete or between requests (a response in progress, such as a subscription, is not cut).",
                               valueName: "s"))
    var idleTimeout = 30

    @Option(name: .customLong("drain-timeout"), parsing: .unconditional,
            help: ArgumentHelp("On SIGTERM or SIGINT, give the requests in flight at most <s> seconds to finish, then close what is left (nothing acknowledged is lost).",
                               valueName: "s"))
    var drainTimeout = 30

    @Option(name: .customLong("heartbeat"), parsing: .unconditional,
            help: ArgumentHelp("Send a comment line on an idle subscription every <s> seconds; keep it below a proxy's read timeout (nginx proxy_read_timeout, HAProxy timeout server).",
                               valueName: "s"))
    var heartbeat = 15

    func validate() throws {
        guard (1...3600).contains(heartbeat) else {
            throw ValidationError("--heartbeat takes 1 to 3600 seconds, got \(heartbeat)")
        }
        guard (0...1000).contains(livePace) else {
            throw ValidationError("--live-pace takes 0 to 1000 milliseconds, got \(livePace)")
        }
        guard (0...1_000_000).contains(liveWakes) else {
            throw ValidationError("--live-wakes takes 0 to 1000000 wakes per second, got \(liveWakes)")
        }
        guard (1...3600).contains(idleTimeout) else {
            throw ValidationError("--idle-timeout takes 1 to 3600 seconds, got \(idleTimeout)")
        }
        guard (1...3600).contains(drainTimeout) else {
            throw ValidationError("--drain-timeout takes 1 to 3600 seconds, got \(drainTimeout)")
        }
        if masterKey != nil, storeOptions.store == nil {
            throw ValidationError("--master-key goes with --store; a log directory's keys are --keys DIR")
        }
        if storeOptions.store != nil {
            if keyOptions.keys != nil, options.log == nil {
                throw ValidationError("--keys goes with --log: a key store is a directory of one machine, and the servers of one --store would seal a customer under different keys; use --master-key FILE")
            }
            try storeOptions.validate(with: options, notWith: [("--signing-key", signingKey != nil),
                                                               ("--compression", creation.compression != nil),
                                                               ("--segment-size", creation.segmentSize != nil)])
        }
        let (host, _) = try Self.address(listen)
        if tokens == nil && !Self.isLoopback(host) {
            throw ValidationError("without --tokens the server has no authentication and listens on loopback only (127.0.0.1, ::1 or localhost), not \(host)")
        }
    }

    static func address(_ s: String) throws -> (String, Int) {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen takes host:port, e.g. 127.0.0.1:7070, got \(s)")
        }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--listen needs a host, e.g. 127.0.0.1:7070, got \(s)") }
        return (host, port)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    func run() async throws {
        let signals = ShutdownSignals()
        let (host, port) = try Self.address(listen)
        var configuration = ServerConfiguration()
        configuration.livePace = .milliseconds(livePace)
        configuration.liveWakesPerSecond = liveWakes
        configuration.idleTimeout = .seconds(idleTimeout)
        configuration.heartbeat = .seconds(heartbeat)
        configuration.drainTimeout = .seconds(drainTimeout)
        if let tokens {
            do { configuration.tokens = try TokenTable.load(path: tokens) } catch let e as ServerError {
                throw CommandFailure(e.message)
            }
        }
        if let signingKey {
            let key = try AuditKeys.loadPrivateKey(signingKey)
            configuration.signDigest = { directory in try LogDigest.make(directory: directory, key: key).0.json }
        }
        // Every connection and subscription holds a descriptor (stop 38:
        // running out crashed the server); the soft limit is often 1,024.
        let descriptors = FileDescriptors.raiseSoftLimit()
        options.note("chronik: note: up to \(descriptors == Int.max ? "unlimited" : String(descriptors)) open files; "
                     + "subscriptions are refused (503 tooManyOpenFiles) while fewer than \(FileDescriptors.reserve(for: descriptors)) are left")
        if let store = storeOptions.store {
            return try await serveStore(store, host: host, port: port, configuration: configuration, signals: signals)
        }
        let path = options.directory()
        let existed = FileManager.default.fileExists(atPath: path + "/" + LogFormat.metaFileName)
        let directoryExisted = FileManager.default.fileExists(atPath: path)
        let log = try options.openForWriting(creation, sayWhenCreated: false)
        let vault: SubjectKeyVault
        do { vault = try keyOptions.vault(for: log) } catch {
            // A log this start made, refused for its key store (one of
            // another log): none is left behind (stop 38, a chaos test).
            try? log.close()
            if !directoryExisted, log.head.value == 0 { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
        if !existed {
            // Said even with --quiet (stop 36, an operator: a typo in --log or
            // an unmounted volume started a second, empty shop, "ready").
            printError("chronik: warning: there was no log at \(path): this server created a new, empty one. If a shop's history should be here, stop it and check --log (and that its volume is mounted)")
        } else {
            options.note("chronik: note: opened the log at \(path): \(log.head.value) events")
        }
        let live: LiveProjections
        do { live = try LiveProjections.start(log: log, protector: vault, note: { options.note("chronik: note: \($0)") }) } catch {
            try? log.close()
            throw CommandFailure("live models: \(error)")
        }
        // The key store against the log's customers, before the first
        // request: a key store restored alone from an older backup brought
        // erased customers' keys back, and exports opened their data until
        // someone ran `forget --reapply` (stop 38).
        do {
            let check = try reconcileKeyStore(vault, log: log, live: live)
            for w in check.warnings { printError("chronik: warning: \(w)") }
        } catch {
            live.stop()
            try? log.close()
            throw CommandFailure("key store: \(error)")
        }
        let server = LogServer(log: log, live: live, vault: vault, configuration: configuration, logLevel: options.quiet ? "warning" : "info")
        do {
            try await serve(server, live: live, host: host, port: port, signals: signals)
        } catch {
            live.stop()
            try? log.close()
            throw error
        }
        // The key store against the log once more, now that no request
        // runs: an erasure whose key removal failed is done now, and the
        // store's `erasures` record moves to the head, so readers do not
        // read what this server appended for erasures (docs/GDPR.md).
        // (The models are stopped after it: a stopped set's failure is set,
        // and stop 39's first version checked after the stop, so this never
        // ran.)
        if live.stoppedBecause == nil {
            do {
                for w in try reconcileKeyStore(vault, log: log, live: live).warnings { printError("chronik: warning: \(w)") }
            } catch {
                printError("chronik: warning: key store: \(error)")
            }
        }
        live.stop()
        // With fsync durability every acknowledged append is on disk; a
        // failure here (a poisoned writer) is still reported, exit 1.
        try log.close()
        options.note("chronik: note: stopped; the log is closed at position \(log.head.value)")
    }
}

extension Serve {
    /// `LogKeyStore.reconcile` from the live CRM model, recording the
    /// position the model reached.
    func reconcileKeyStore(_ vault: SubjectKeyVault, log: EventLog, live: LiveProjections) throws -> KeyStoreReconciliation {
        let (ids, position) = live.read { set in
            (set.crm?.customerIds() ?? (forgotten: [], notForgotten: []), set.position)
        }
        return try LogKeyStore.reconcile(vault, log: log, forgotten: ids.forgotten, notForgotten: ids.notForgotten,
                                         reflecting: position)
    }

    /// `--store`: the same server over a PostgreSQL store. The schema is
    /// created when missing (`migrate`, idempotent, as `serve --log`
    /// creates a missing log); the models are built from the store.
    func serveStore(_ url: String, host: String, port: Int, configuration: ServerConfiguration,
                    signals: ShutdownSignals) async throws {
        let store = try PostgresStore(url: url)
        let keys = try masterKey.map { try masterKeyStore($0, for: store) }
        let vault = keys.map { SubjectKeyVault(store: $0) }
        let live: LiveProjections
        do {
            for note in try await store.migrate() { options.note("chronik: note: \(note)") }
            // Every key in one query: the models' replay opens one per order.
            if let keys {
                let n = try await Task.detached { try keys.preload() }.value
                options.note("chronik: note: \(n) customer and session keys read from the store")
            }
            live = try await LiveProjections.start(store: store, protector: vault)
        } catch {
            await store.close()
            throw CommandFailure("\(store.location): \(error)")
        }
        let server = LogServer(store: store, live: live, vault: vault, configuration: configuration,
                               logLevel: options.quiet ? "warning" : "info")
        if vault == nil { options.note("chronik: note: no --master-key: commands carrying personal data are refused (503 noKeyStore)") }
        options.note("chronik: note: serving \(store.location); models at position \(live.position.value)")
        var failure: (any Error)?
        do { try await serve(server, live: live, host: host, port: port, signals: signals) } catch { failure = error }
        live.stop()
        server.beginShutdown()
        await store.close()
        if let failure { throw failure }
        options.note("chronik: note: stopped")
    }

    /// Serves until SIGINT or SIGTERM (the caller stops the live models and
    /// closes its log or store, after a failure too).
    func serve(_ server: LogServer, live: LiveProjections, host: String, port: Int, signals: ShutdownSignals) async throws {
        if tokens == nil { options.note("chronik: note: no --tokens: no authentication, so listening on loopback only (behind a reverse proxy, serve with --tokens)") }
        let quiet = options.quiet, json = options.json
        do {
            try await server.serve(host: host, port: port, signals: signals) { bound in
                let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(bound)"
                // The address is the command's result for a script: on stdout
                // with --json or --quiet (stop 35: `--listen 127.0.0.1:0
                // --quiet`, an example of this help, never said which port),
                // else a note on stderr beside the others.
                if json || quiet {
                    let out = Output()
                    out.line(json ? JSONValue.object([JSONMember("listening", .string(url)), JSONMember("port", .int(Int64(bound)))]).text
                                  : "listening on \(url)")
                    out.flush()
                }
                if !quiet { printError("chronik: note: listening on \(url)") }
            }
        } catch let e as AddressInUse {
            throw CommandFailure("\(e)")
        } catch {
            throw CommandFailure("server: \(error)")
        }
    }
}
