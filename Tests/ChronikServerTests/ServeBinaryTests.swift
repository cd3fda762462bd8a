import ChronikTestSupport
import ChronikLog
import Dispatch
import Foundation
import Subprocess
import Synchronization
import SystemPackage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Proves `chronik serve` (the real binary) shuts down cleanly on SIGTERM
/// under load from concurrent clients: it exits 0, and every append it
/// acknowledged is in the log, at the position it answered, with its id.
@Suite struct ServeBinaryTests {
    struct Ack: Sendable { var id: String; var position: UInt64 }

    @Test func sigtermUnderLoadLosesNoAcknowledgedAppend() async throws {
        let dir = makeTempDir()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".keys")
        }
        let state = LoadState()
        let startedAt = ContinuousClock.now
        // The server's stderr is a pipe read by a thread of its own, not a
        // task: when the suite holds the task pool (stop 44's CI: over a
        // minute at its start), a reading task falls behind, the pipe can
        // fill (every refused request after the SIGTERM logs a line), and
        // the server's logging would then block in the middle of its drain.
        // Close-on-exec: another test's child spawned while this one starts
        // must not inherit the write end, or the pipe never reaches its end
        // while that child lives (stop 44: a filtered run hung in the read).
        let pipe = try FileDescriptor.pipe(options: .closeOnExec)
        defer { try? pipe.readEnd.close() }
        let result = try await Subprocess.run(
            .path(FilePath(chronikPath)), arguments: ["serve", "--log", dir, "--listen", "127.0.0.1:0"],
            input: .none, output: .discarded, error: .fileDescriptor(pipe.writeEnd, closeAfterSpawningProcess: true)
        ) { execution -> String in
            // Kills the server only when it has not stopped 30 s after the
            // SIGTERM (or 240 s after its start if SIGTERM was never sent):
            // measured from the SIGTERM, not from the start, because on a
            // loaded machine (the whole suite on 2 cores) this test's tasks
            // may wait long for a thread, and a start-based deadline then
            // killed a server that had barely been asked to stop.
            let started = ContinuousClock.now
            let watchdog = Task {
                while true {
                    do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
                    let now = ContinuousClock.now
                    let sent = state.sigtermAt.withLock({ $0 })
                    if let sent, now - sent > .seconds(30) { break }
                    if sent == nil, now - started > .seconds(240) { break }
                }
                try? execution.send(signal: .kill)
            }
            defer { watchdog.cancel() }
            @Sendable func startLoad(port p: Int) {
                state.load.withLock { $0 = Task {
                    // 8 clients append one event per request until the server stops answering.
                    await withTaskGroup(of: Void.self) { group in
                        for client in 0..<8 {
                            group.addTask {
                                var misses = 0
                                while misses < 3 {
                                    let id = UUID().uuidString.lowercased()
                                    let body = #"[{"id":"\#(id)","type":"Loaded","data":{"client":\#(client)}}]"#
                                    let r = await post(port: p, path: "/streams/load-\(client)", body: body)
                                    if r?.status == 201, let pos = r?.firstPosition {
                                        state.acks.withLock { $0.append(Ack(id: id, position: pos)) }
                                        misses = 0
                                    } else {
                                        state.failures.withLock { $0 += 1 }
                                        misses += 1
                                        try? await Task.sleep(for: .milliseconds(20))
                                    }
                                }
                            }
                        }
                    }
                } }
                Task {
                    // SIGTERM once the load is well under way (300
                    // acknowledged appends), or after 180 s at most:
                    // a debug server among the whole suite on 2 cores
                    // acknowledged only 257 in 60 s once (stop 21's
                    // CI), and the test is about losing none, not about
                    // how fast they come.
                    let deadline = ContinuousClock.now + .seconds(180)
                    while state.acks.withLock({ $0.count }) < 300, ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(25))
                    }
                    state.sigtermAt.withLock { $0 = .now }
                    try? execution.send(signal: .terminate)
                }
            }
            // Read until the pipe closes, which happens when the server is gone.
            let stderr = String(decoding: try await readToEnd(pipe.readEnd.rawValue) { bytes in
                guard state.load.withLock({ $0 == nil }) else { return }
                let text = String(decoding: bytes, as: UTF8.self)
                guard let r = text.range(of: "listening on http://127.0.0.1:") else { return }
                let digits = text[r.upperBound...].prefix { $0.isNumber }
                guard let p = Int(digits), text[r.upperBound...].dropFirst(digits.count).first == "\n" else { return }
                startLoad(port: p)
            }, as: UTF8.self)
            await state.load.withLock({ $0 })?.value
            return stderr
        }
        let stderr = result.closureResult
        let sigtermAfter = state.sigtermAt.withLock { $0 }.map { "\($0 - startedAt)" } ?? "never"
        #expect(result.terminationStatus == .exited(0), "SIGTERM sent \(sigtermAfter) after the start; \(stderr)")
        #expect(stderr.contains("stopped"), "\(stderr)")
        let acked = state.acks.withLock { $0 }
        #expect(acked.count >= 300, "only \(acked.count) appends acknowledged before SIGTERM")

        var options = LogOptions()
        options.readOnly = true
        let log = try EventLog.open(at: dir, options: options)
        defer { try? log.close() }
        var missing = 0
        for a in acked {
            let e = try log.event(at: Position(a.position))
            if e?.id.description != a.id { missing += 1 }
        }
        #expect(missing == 0, "\(missing) of \(acked.count) acknowledged appends are not in the log where the server said")
        #expect(log.head.value >= UInt64(acked.count))
    }
}

/// Proves `chronik serve` refuses what would expose the log: no tokens off
/// loopback (usage error, 64), a tokens file others may read (1).
@Suite struct ServeOptionsTests {
    func run(_ arguments: [String]) async throws -> (TerminationStatus, String) {
        let r = try await Subprocess.run(.path(FilePath(chronikPath)), arguments: Arguments(arguments),
                                         input: .none, output: .discarded, error: .string(limit: 1 << 16))
        return (r.terminationStatus, r.standardError)
    }

    @Test func refusesNonLoopbackWithoutTokensAndAReadableTokensFile() async throws {
        let dir = makeTempDir()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".keys")
            try? FileManager.default.removeItem(atPath: dir + ".tokens")
        }
        let (open, openErr) = try await run(["serve", "--log", dir, "--listen", "0.0.0.0:0"])
        #expect(open == .exited(64))
        #expect(openErr.contains("loopback"))
        let (bad, _) = try await run(["serve", "--log", dir, "--listen", "nonsense"])
        #expect(bad == .exited(64))
        try Data("reader-0123456789abcdef read\n".utf8).write(to: URL(fileURLWithPath: dir + ".tokens"))
        chmod(dir + ".tokens", 0o644)
        let (readable, readableErr) = try await run(["serve", "--log", dir, "--listen", "0.0.0.0:0", "--tokens", dir + ".tokens"])
        #expect(readable == .exited(1))
        #expect(readableErr.contains("chmod 600"), "\(readableErr)")
        #expect(!FileManager.default.fileExists(atPath: dir), "a refused start creates no log")
    }
}

/// What the load saw, shared by its tasks.
final class LoadState: Sendable {
    let acks = Mutex<[ServeBinaryTests.Ack]>([])
    let failures = Mutex(0)
    /// When the test sent SIGTERM; nil before.
    let sigtermAt = Mutex<ContinuousClock.Instant?>(nil)
    /// The clients, started once the server says where it listens.
    let load = Mutex<Task<Void, Never>?>(nil)
}

/// One POST over a fresh loopback connection (Connection: close), on a
/// thread of its own; nil when the server did not answer.
func post(port: Int, path: String, body: String) async -> (status: Int, firstPosition: UInt64?)? {
    guard let r = await http(port, "POST", path, body, timeoutSeconds: 10) else { return nil }
    var first: UInt64?
    if let range = r.body.range(of: #""firstPosition":"#) {
        first = UInt64(r.body[range.upperBound...].prefix { $0.isNumber })
    }
    return (r.status, first)
}

/// Proves `chronik serve` closes connections that send nothing while their
/// request is incomplete or between requests, and that a SIGTERM's drain
/// ends although a client stalls mid-body (stop 32: such connections stayed
/// open for ever, and SIGTERM waited for them), while a subscription, a
/// response in progress, is not cut. The client is a Python script on raw
/// sockets (a stalled body cannot be sent with an HTTP client library).
@Suite struct ServeTimeoutTests {
    static let script = #"""
        def closed_within(sock, seconds):
            sock.settimeout(seconds)
            try:
                while sock.recv(4096): pass
                return True
            except socket.timeout:
                return False
        stalled = b"POST /streams/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"
        s1 = socket.create_connection(("127.0.0.1", port)); s1.sendall(stalled)
        s2 = socket.create_connection(("127.0.0.1", port))
        s3 = socket.create_connection(("127.0.0.1", port)); s3.sendall(b"GET /subscribe?from=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        print("stalled body closed:", closed_within(s1, 20))
        print("silent connection closed:", closed_within(s2, 20))
        s3.settimeout(0.2); got = b""; t0 = time.time(); open_ = True
        while time.time() - t0 < 3:
            try:
                d = s3.recv(4096)
                if not d: open_ = False; break
                got += d
            except socket.timeout: pass
        print("subscription open:", open_ and b" 200 " in got)
        s4 = socket.create_connection(("127.0.0.1", port)); s4.sendall(stalled)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill(); rc = "hung"
        print("sigterm exit:", rc)
        """#

    @Test func idleConnectionsAreClosedAndADrainEnds() async throws {
        let (lines, stderr) = try await runAgainstServe(Self.script, serveArguments: ["--idle-timeout", "1", "--drain-timeout", "30"])
        #expect(lines == ["stalled body closed: True", "silent connection closed: True", "subscription open: True", "sigterm exit: 0"],
                "\(lines)\n\(stderr)")
    }
}

/// Proves `Expect: 100-continue` is answered with `100 Continue` before the
/// body is sent, then the append is answered as usual (stop 32: curl waited
/// out its 1 s timer on every body over 1 MiB). The real binary: the
/// handler is part of `LogServer.application`.
@Suite struct ExpectContinueTests {
    static let script = #"""
        body = b'[{"type":"Noted","data":{"n":1}}]'
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(20)
        s.sendall(b"POST /streams/e HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        first = b""
        try:
            while b"\r\n\r\n" not in first:
                d = s.recv(4096)
                if not d: break
                first += d
        except socket.timeout:
            pass
        print(first.split(b"\r\n")[0].decode() or "no answer before the body")
        s.sendall(body)
        rest = first.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in first else b""
        while b"\r\n" not in rest:
            d = s.recv(4096)
            if not d: break
            rest += d
        print(rest.split(b"\r\n")[0].decode())
        p.send_signal(signal.SIGTERM); p.wait(timeout=60)
        """#

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let (lines, stderr) = try await runAgainstServe(Self.script)
        #expect(lines == ["HTTP/1.1 100 Continue", "HTTP/1.1 201 Created"], "\(lines)\n\(stderr)")
    }
}

/// Runs a Python script on raw sockets against the real `chronik serve` on
/// a fresh log (a stalled body or an `Expect` handshake cannot be sent with
/// an HTTP client library). The script runs after a prelude that starts the
/// server with `serveArguments` on a free loopback port: it has `p` (the
/// server's process) and `port`, and the modules re, signal, socket,
/// subprocess, sys and time. Returns its stdout lines and its stderr.
func runAgainstServe(_ script: String, serveArguments: [String] = []) async throws -> (lines: [String], stderr: String) {
    let prelude = #"""
        import re, signal, socket, subprocess, sys, time
        binary, log = sys.argv[1], sys.argv[2]
        p = subprocess.Popen([binary, "serve", "--log", log, "--listen", "127.0.0.1:0"] + sys.argv[3:],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # A script that fails midway must not leave its server running (stop 34: four were found an hour later).
        import atexit
        atexit.register(lambda: p.poll() is None and p.kill())
        port = None
        while port is None:
            line = p.stderr.readline()
            if not line: break
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
            if m: port = int(m.group(1))
        if port is None:
            print("no port"); p.kill(); sys.exit(1)

        """#
    let dir = makeTempDir()
    defer {
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.removeItem(atPath: dir + ".keys")
    }
    let r = try await Subprocess.run(.name("python3"), arguments: Arguments(["-c", prelude + script, chronikPath, dir] + serveArguments),
                                     output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
    return (r.standardOutput.split(separator: "\n").map(String.init), r.standardError)
}

/// Proves a request that is not valid HTTP/1.1 (a header line without a
/// colon, a Content-Length that is not a number, a request line of
/// garbage) is answered like every other error: 400 with a JSON body that
/// has a code and says what was wrong, then the connection is closed
/// (stop 33's exploration: Hummingbird answered 400 with an empty body),
/// and that a request after a good one on the same connection is answered
/// the same way, after the good one's answer. And that an HTTP/1.0
/// request without keep-alive has its connection closed after the answer
/// (it was kept open until the idle timeout). An HTTP/1.1 request without
/// a Host, or any with two, is 400 (stop 35; it was answered 200), after
/// the answers to the requests before it, and nothing after it is read. An
/// HTTP/1.0 request is answered as HTTP/1.0: a body of unknown length
/// (a subscription) is not chunked but ends with the connection (stop 35).
@Suite struct MalformedRequestTests {
    static let script = #"""
        import json
        def exchange(raw):
            s = socket.create_connection(("127.0.0.1", port)); s.settimeout(20)
            s.sendall(raw)
            got = b""
            while True:
                d = s.recv(65536)
                if not d: break
                got += d
            return got
        def answers(got):
            out = []
            while got:
                head, _, rest = got.partition(b"\r\n\r\n")
                lines = head.decode("latin1").split("\r\n")
                fields = {k.lower(): v for k, v in (l.split(": ", 1) for l in lines[1:])}
                n = int(fields.get("content-length", "0"))
                out.append((lines[0], fields, rest[:n])); got = rest[n:]
            return out
        for raw in [b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
                    b"POST /streams/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
                    b"GARBAGE\r\n\r\n",
                    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nBad Header\r\n\r\n",
                    b"POST /streams/s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[{\r\nzz\r\n"]:
            for status, fields, body in answers(exchange(raw)):
                if status.endswith(" 400 Bad Request"):
                    e = json.loads(body)["error"]
                    print(status, fields.get("content-type"), fields.get("connection"), e["code"], bool(e["message"]))
                else:
                    print(status, body.decode())
        for version, connection in [("1.0", ""), ("1.0", "Connection: keep-alive\r\n"), ("1.1", "")]:
            s = socket.create_connection(("127.0.0.1", port)); s.settimeout(3)
            s.sendall(f"GET /health HTTP/{version}\r\nHost: 127.0.0.1\r\n{connection}\r\n".encode())
            got = b""
            try:
                while True:
                    d = s.recv(65536)
                    if not d: break
                    got += d
                ending = "closed"
            except socket.timeout:
                ending = "kept open"
            (status, fields, body), = answers(got)
            print(f"HTTP/{version} {connection.strip()}:", status, fields.get("connection"), ending)
        for raw in [b"GET /health HTTP/1.1\r\n\r\n",
                    b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nPOST /streams/s HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET /health HTTP/1.0\r\n\r\n"]:
            print("host:", [(status, fields.get("connection"), json.loads(body)["error"]["message"] if status.endswith(" 400 Bad Request") else body.decode().strip())
                            for status, fields, body in answers(exchange(raw))])
        s = socket.create_connection(("127.0.0.1", port)); s.settimeout(2)
        s.sendall(b"GET /subscribe?from=end HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        try:
            while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < 2:
                d = s.recv(65536)
                if not d: break
                got += d
        except socket.timeout:
            pass
        head, _, body = got.partition(b"\r\n\r\n")
        lines = head.decode("latin1").split("\r\n")
        fields = {k.lower(): v for k, v in (l.split(": ", 1) for l in lines[1:])}
        print(f"sse over HTTP/1.0: {lines[0]}, chunked {'transfer-encoding' in fields}, {fields.get('connection')}, body starts with a comment {body.startswith(b':')}")
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /streams/s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        print("stream s:", s.recv(65536).split(b"\r\n")[0].decode())
        p.send_signal(signal.SIGTERM); p.wait(timeout=60)
        """#

    @Test func aMalformedRequestIsAJSONErrorAndTheConnectionCloses() async throws {
        let (lines, stderr) = try await runAgainstServe(Self.script)
        let bad = "HTTP/1.1 400 Bad Request application/json close badRequest True"
        #expect(lines == [bad, bad, bad, #"HTTP/1.1 200 OK {"status":"ok"}"#, bad, bad,
                         "HTTP/1.0 : HTTP/1.0 200 OK close closed",
                         "HTTP/1.0 Connection: keep-alive: HTTP/1.0 200 OK keep-alive kept open",
                         "HTTP/1.1 : HTTP/1.1 200 OK None kept open",
                         "host: [('HTTP/1.1 400 Bad Request', 'close', 'an HTTP/1.1 request needs a Host header; the connection is closed')]",
                         "host: [('HTTP/1.1 400 Bad Request', 'close', 'the request has 2 Host headers, it may have one; the connection is closed')]",
                         #"host: [('HTTP/1.1 200 OK', None, '{"status":"ok"}'), ('HTTP/1.1 400 Bad Request', 'close', 'an HTTP/1.1 request needs a Host header; the connection is closed')]"#,
                         #"host: [('HTTP/1.0 200 OK', 'close', '{"status":"ok"}')]"#,
                         "sse over HTTP/1.0: HTTP/1.0 200 OK, chunked False, close, body starts with a comment True",
                         "stream s: HTTP/1.1 404 Not Found"], "\(lines)\n\(stderr)")
    }
}

/// Proves stop 35's findings on `chronik serve`'s address: a port already
/// taken is exit 1 with a message that says so (it was logged as a drain
/// that "took longer than 30 seconds" and the command exited 0 at once),
/// and the address of `--listen 127.0.0.1:0` is printed on stdout with
/// `--quiet` (an example of its help, which printed nothing) or `--json`.
@Suite struct ServeAddressTests {
    @Test func aTakenPortIsAFailureAndTheChosenPortIsPrinted() async throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = #"""
            import json, re, signal, socket, subprocess, sys
            binary, log = sys.argv[1], sys.argv[2]
            held = socket.socket(); held.bind(("127.0.0.1", 0)); held.listen()
            port = held.getsockname()[1]
            r = subprocess.run([binary, "serve", "--log", log, "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
            print("taken:", r.returncode, f"cannot listen on 127.0.0.1:{port}: the address is in use" in r.stderr, "drain" in r.stderr)
            held.close()
            for flag in ["--quiet", "--json"]:
                p = subprocess.Popen([binary, "serve", "--log", log, "--listen", "127.0.0.1:0", flag], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                line = p.stdout.readline().strip()
                if flag == "--json":
                    o = json.loads(line); url, port = o["listening"], o["port"]
                else:
                    url = line.removeprefix("listening on "); port = int(url.rsplit(":", 1)[1])
                s = socket.create_connection(("127.0.0.1", port)); s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                status = s.recv(4096).split(b"\r\n")[0].decode()
                p.send_signal(signal.SIGTERM); p.wait(timeout=60)
                print(flag, url.startswith("http://127.0.0.1:"), status, p.returncode)
            """#
        let r = try await Subprocess.run(.name("python3"), arguments: Arguments(["-c", script, chronikPath, dir]),
                                         output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
        let lines = r.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines == ["taken: 1 True False", "--quiet True HTTP/1.1 200 OK 0", "--json True HTTP/1.1 200 OK 0"],
                "\(lines)\n\(r.standardError)")
    }
}

/// A script step for `runAgainstServe`: ten POSTs of 1,000 events of ~1 KB
/// each (~10 MB in the log), so that an export or a subscription from 0
/// has more to send than a stalled reader's socket buffers hold; and
/// `stalled_get(path)`, a connection that sends `GET path` and reads
/// nothing (a 4 KiB receive buffer).
let fillTenMegabytes = #"""
        import json
        def stalled_get(path):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return s
        body = json.dumps([{"type": "Filler", "data": {"x": "y" * 1000}} for _ in range(1000)]).encode()
        for i in range(10):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /streams/fill-%d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (i, len(body)) + body)
            while s.recv(65536): pass
            s.close()

        """#

/// A server's signal state by thread, from /proc (a script's diagnosis
/// when it outlives SIGTERM): pending and blocked signals of each thread.
let signalStatePython = #"""
        def signal_state(pid):
            import glob
            out = []
            try:
                status = open("/proc/%d/status" % pid).read()
                out.append(" ".join(l for l in status.splitlines() if l.startswith(("ShdPnd", "SigPnd", "SigBlk", "SigIgn", "SigCgt"))))
                for t in sorted(glob.glob("/proc/%d/task/*" % pid)):
                    st = open(t + "/status").read()
                    comm = open(t + "/comm").read().strip()
                    out.append("%s %s %s" % (t.rsplit("/", 1)[1], comm, " ".join(l for l in st.splitlines() if l.startswith(("SigPnd", "SigBlk")))))
            except Exception as e:
                out.append("no /proc: %s" % e)
            return "signals (ShdPnd: pending for the process; SigPnd: for a thread; SigBlk: blocked):\n" + "\n".join(out)

        """#

/// Proves stop 35's finding: a subscriber that stopped reading waits in a
/// write and held a SIGTERM for the whole `--drain-timeout` (30 s by
/// default). A shutdown now closes, after a second's grace, the
/// subscriptions that did not end by themselves.
@Suite struct StalledSubscriberShutdownTests {
    static let script = fillTenMegabytes + signalStatePython + #"""
        stalled = stalled_get(b"/subscribe?from=0")
        time.sleep(2)
        start = time.time()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=240)
        except subprocess.TimeoutExpired:
            # Once in ~8 CI runs (stop 40) it did not stop: keep where its threads were.
            try:
                bt = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex", "thread apply all bt 30"],
                                    capture_output=True, text=True, timeout=120).stdout
            except Exception as e:
                bt = "no backtrace: %s" % e
            sys.stderr.write("the server's threads:\n" + bt[-60000:])
            # Stop 42's CI: every thread idle. Whether the SIGTERM is pending somewhere (lost), and what it logged.
            sys.stderr.write("\n" + signal_state(p.pid))
            try:
                import os
                os.set_blocking(p.stderr.fileno(), False)
                sys.stderr.write("\nthe server's stderr (tail):\n" + (p.stderr.read() or "")[-6000:])
            except Exception as e:
                sys.stderr.write("\nno stderr: %s" % e)
            p.kill(); p.wait()
        took = time.time() - start
        print("stopped within 100 s:", took < 100, "exit:", p.returncode)
        """#

    @Test func aStalledSubscriberDoesNotHoldTheShutdown() async throws {
        // A drain timeout far above the bound, so that only the grace's close can meet it, with room for a loaded
        // machine (stop 36: 10 s under the whole suite on 2 cores was not enough; stop 38's CI: a debug server's
        // subscription, on its nice-10 threads under the whole suite, took more than 60 s; alone it takes ~1 s).
        let (lines, stderr) = try await runAgainstServe(Self.script, serveArguments: ["--drain-timeout", "300"])
        #expect(lines == ["stopped within 100 s: True exit: 0"], "\(lines)\n\(stderr)")
    }
}

/// Proves stop 36's finding (a security review): two `GET /export` whose
/// readers stalled froze the whole server, `/health` and SIGTERM included
/// (each export's producer slept on a thread of the cooperative pool, which
/// has one per core). Exports now wait on threads of their own.
@Suite struct StalledExportsTests {
    static let script = fillTenMegabytes + #"""
        import os
        stalled = []
        for i in range(2 * (os.cpu_count() or 2) + 2):
            stalled.append(stalled_get(b"/export"))
        time.sleep(2)
        h = socket.create_connection(("127.0.0.1", port)); h.settimeout(30)
        h.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        try:
            print("health:", h.recv(64).split(b"\r\n")[0].decode())
        except socket.timeout:
            print("health: no answer in 30 s")
        start = time.time()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()
        print("stopped within 20 s:", time.time() - start < 20)
        """#

    @Test func stalledExportsDoNotStopTheServer() async throws {
        // The exports are requests in flight: the drain waits for them, at most --drain-timeout.
        let (lines, stderr) = try await runAgainstServe(Self.script, serveArguments: ["--drain-timeout", "3"])
        #expect(lines == ["health: HTTP/1.1 200 OK", "stopped within 20 s: True"], "\(lines)\n\(stderr)")
    }
}

/// Proves stop 36's finding (an operator): `serve --log` of a path with no
/// log (a typo, an unmounted volume) started a second, empty shop, "ready",
/// without a word. It now warns, even with --quiet; a second start on the
/// same directory opens the log it made and says how many events it holds.
@Suite struct ServeNewLogWarningTests {
    static let script = signalStatePython + #"""
        import subprocess, sys
        binary, log = sys.argv[1], sys.argv[2]
        for run in range(2):
            p = subprocess.Popen([binary, "serve", "--log", log, "--listen", "127.0.0.1:0", "--quiet"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            p.stdout.readline()  # the address: the server is up
            p.terminate()
            try:
                _, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired as timeout:
                # Stop 41's CI: once it did not stop (no request at all): keep where its threads were.
                bt = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex", "thread apply all bt 30"],
                                    capture_output=True, text=True, timeout=120).stdout
                sys.stderr.write("the server's threads:\n" + bt[-60000:])
                sys.stderr.write("\n" + signal_state(p.pid))
                sys.stderr.write("\nthe server's stderr:\n%s" % (timeout.stderr,))
                raise
            print(run, "warned" if "there was no log at " + log + ": this server created a new, empty one" in err else "silent")
        """#

    @Test func aServerThatCreatesItsLogSaysSo() async throws {
        let dir = makeTempDir() + "-new"
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".keys")
        }
        let r = try await Subprocess.run(.name("python3"), arguments: Arguments(["-c", Self.script, chronikPath, dir]),
                                         output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(r.standardOutput.split(separator: "\n") == ["0 warned", "1 silent"], "\(r.standardOutput)\(r.standardError)")
    }
}

/// Proves stop 36's finding (an operator): a second SIGTERM during a drain
/// that waits for a slow export changed nothing (the whole drain timeout,
/// 30 s by default). It now stops at once, exit 0, and the log is closed.
@Suite struct SecondSignalTests {
    static let script = fillTenMegabytes + #"""
        slow = stalled_get(b"/export")
        time.sleep(1)
        start = time.time()
        p.send_signal(signal.SIGTERM)
        time.sleep(1)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=90)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()
        print("stopped within 30 s:", time.time() - start < 30, "exit:", p.returncode)
        """#

    @Test func aSecondSignalStopsAtOnce() async throws {
        // The drain would wait 120 s for the slow export; the second signal ends it (room for a loaded machine).
        let (lines, stderr) = try await runAgainstServe(Self.script, serveArguments: ["--drain-timeout", "120"])
        #expect(lines == ["stopped within 30 s: True exit: 0"], "\(lines)\n\(stderr)")
    }
}

/// Proves stop 38's finding (a chaos test): with few file descriptors
/// (`ulimit -n 64`) and many subscribers, the server reset connections,
/// left /health unanswered, and with appends beside them crashed (SIGILL in
/// libdispatch, which could not open /proc files for its threads). A
/// subscription is now refused (503 tooManyOpenFiles) while fewer than
/// `FileDescriptors.reserve` descriptors are left: nothing is reset,
/// /health answers, appends go in, and SIGTERM ends it with exit 0.
@Suite struct FileDescriptorLimitTests {
    static let script = #"""
        import re, resource, socket, subprocess, sys, time
        binary, log = sys.argv[1], sys.argv[2]
        def limit(): resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))
        p = subprocess.Popen([binary, "serve", "--log", log, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
        import atexit
        atexit.register(lambda: p.poll() is None and p.kill())
        port = None
        while port is None:
            line = p.stderr.readline()
            if not line: break
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
            if m: port = int(m.group(1))
        def answer(s):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            return data
        def request(method, path, body=b""):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=20)
                s.sendall(method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                          + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
                data = answer(s); s.close()
                return data[9:12].decode()
            except OSError:
                return "reset"
        held, outcomes = [], []
        for i in range(90):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=20)
                s.sendall(b"GET /subscribe?from=end HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                data = answer(s)
                if data.startswith(b"HTTP/1.1 200"): held.append(s); outcomes.append("subscribed")
                else: outcomes.append("refused" if b"tooManyOpenFiles" in data else data[:12].decode()); s.close()
            except OSError:
                outcomes.append("reset")
        print("subscribed", outcomes.count("subscribed") > 20, "refused", outcomes.count("refused") > 0,
              "other", sorted(set(o for o in outcomes if o not in ("subscribed", "refused"))))
        print("health", request("GET", "/health"))
        print("appended", [request("POST", "/streams/s-1", b'[{"type":"A","data":{"n":1}}]') for _ in range(20)].count("201"))
        for s in held: s.close()
        p.terminate()
        p.communicate(timeout=60)
        print("exit", p.returncode)
        """#

    @Test func subscriptionsStopShortOfTheDescriptorLimit() async throws {
        let dir = makeTempDir()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: dir + ".keys")
        }
        let r = try await Subprocess.run(.name("python3"), arguments: Arguments(["-c", Self.script, chronikPath, dir]),
                                         output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(r.standardOutput.split(separator: "\n") == ["subscribed True refused True other []", "health 200", "appended 20", "exit 0"],
                "\(r.standardOutput)\(r.standardError)")
    }
}
