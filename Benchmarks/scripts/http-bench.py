#!/usr/bin/env python3
"""The server's figures (Benchmarks/README.md, "Stop 16: the server"):
`chronik serve` (release build, no tokens, loopback) under load from other
processes on the same machine, each load bounded in time, each point run
R times (median reported, load average noted).

  append-1     wrk, 64 connections, one ~250-byte event per POST (durable),
               beside the library's own 64-appender figure in the same run
               (ChronikAppendBaseline: 64 tasks calling EventLog.append)
  batch-1000   wrk, 4 connections, 1,000 events per POST
  sse-catchup  one SSE subscriber from position 0 of a 1 M-event log,
               events/s delivered (counted on the client)
  sse-live     append-1 with 0 and with 100 live SSE subscribers, alternated
  sse-live-paced
               the same at an offered rate (--rate, appends/s over 64
               connections, each waiting 64,000 / rate ms before each request):
               append latency when the server is not saturated
  floor        the HTTP stack's floor: GET /health and 1-event POSTs (64
               connections) against chronik serve and against HTTPFloor, a
               bare Hummingbird server (no middleware, no log; POST /echo
               collects the same body), the four loads alternated per run

Beside each rate: the server's CPU time per event over the load (user +
system from /proc/PID/stat before and after), the figure that does not
depend on what else shares the cores.

usage: http-bench.py [--chronik PATH] [--baseline PATH] [--floor PATH] [--runs 3] [--seconds 10]
                     [--events 1000000] [--dir DIR] [--only NAME ...]
Needs wrk (apt-get install -y wrk). Builds nothing: run first
  swift build -c release --product chronik                         (repository root)
  swift build -c release --product ChronikAppendBaseline           (Benchmarks/)
  swift build -c release --product HTTPFloor                       (Benchmarks/, for floor)
"""
import argparse, json, os, re, selectors, shutil, signal, socket, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "http-append.lua")


def load():
    return os.getloadavg()[0]


class Server:
    """`chronik serve` on a free loopback port; stopped with SIGTERM."""

    extra = []  # more `chronik serve` options (--serve-arg)

    def __init__(self, chronik, log, argv=None):
        self.proc = subprocess.Popen(argv or [chronik, "serve", "--log", log, "--listen", "127.0.0.1:0", *Server.extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            raise SystemExit("chronik serve did not start")
        while argv is None:  # chronik: the id index and the live models are loaded
            try:
                answer = http_get(self.port, "/ready")
                if answer.startswith(b"HTTP/1.1 200"):
                    break
                if not answer.startswith(b"HTTP/1.1 503"):  # not "not ready yet": say it, do not wait forever
                    raise SystemExit(f"chronik serve answered /ready with {answer[:300]!r}")
            except OSError:
                pass
            time.sleep(0.1)

    def cpu_seconds(self):
        """The server's CPU time so far (user + system, /proc/PID/stat)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        if self.proc.returncode != 0:
            raise SystemExit(f"chronik serve exited {self.proc.returncode}")


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def wrk(srv, seconds, connections, batch, run, **extra):
    """wrk's figures, plus the server's CPU per event (µs) over the load.
    `extra`: TARGET= or GET= for http-append.lua."""
    port = srv.port
    env = dict(os.environ, BATCH=str(batch), RUN=str(run), **extra)
    cpu = srv.cpu_seconds()
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", LUA,
                          f"http://127.0.0.1:{port}"], env=env, capture_output=True, text=True, check=True).stdout
    r = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
    if r["errors"]:
        raise SystemExit(f"wrk: {r['errors']} errors\n{out}")
    r["eventsPerSecond"] = r["requests"] * batch / r["seconds"]
    r["cpuMicrosPerEvent"] = (srv.cpu_seconds() - cpu) * 1e6 / max(1, r["requests"] * batch)
    return r


def fresh(path):
    """An empty log directory, and no key store left beside it by an earlier run
    (serve refuses a key store that belongs to another log)."""
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(path + ".keys", ignore_errors=True)
    return path


def subscribe(port, start=0):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /subscribe?from={start} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return s


def catch_up(port, events):
    """Seconds until the subscriber from 0 has received `events` events."""
    last = f"\nid: {events - 1}\n".encode()
    started = time.monotonic()
    s = subscribe(port)
    count, tail = 0, b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("subscription ended early")
        window = tail + chunk
        count += window.count(b"\nid: ") - tail.count(b"\nid: ")
        if last in window:
            break
        tail = window[-16:]
    elapsed = time.monotonic() - started
    s.close()
    if count != events:
        raise SystemExit(f"subscriber counted {count} events, expected {events}")
    return elapsed


class Subscribers:
    """`n` live subscribers from the head, drained by one selector loop in a child process.
    Each read also notes how late the first event it holds arrived: now minus that
    event's `recordedAt` (the group commit's clock; the same machine clock), the
    delay a subscriber sees, fsync and pacing included. `stop()` returns its
    median and p99 in ms."""

    def __init__(self, port, n):
        code = ("import selectors,socket,sys,time,datetime,json\n"
                "sel=selectors.DefaultSelector()\n"
                f"for _ in range({n}):\n"
                f" s=socket.create_connection(('127.0.0.1',{port}))\n"
                " s.sendall(b'GET /subscribe?from=end HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n')\n"
                " sel.register(s,selectors.EVENT_READ)\n"
                "sel.register(sys.stdin,selectors.EVENT_READ)\n"
                "lags=[]\n"
                "K=b'\"recordedAt\":\"'\n"
                "print('ready',flush=True)\n"
                "while True:\n"
                " for k,_ in sel.select():\n"
                "  if k.fileobj is sys.stdin:\n"
                "   lags.sort(); m=len(lags)\n"
                "   print(json.dumps({'reads':m,'p50':lags[m//2]*1e3 if m else None,'p99':lags[min(m-1,m*99//100)]*1e3 if m else None}),flush=True)\n"
                "   sys.exit(0)\n"
                "  b=k.fileobj.recv(1<<20)\n"
                "  if not b: sys.exit(0)\n"
                "  i=b.find(K)\n"
                "  if i>=0 and len(b)>=i+len(K)+26:\n"
                "   t=b[i+len(K):i+len(K)+26].decode()\n"
                "   try: lags.append(time.time()-datetime.datetime.strptime(t,'%Y-%m-%dT%H:%M:%S.%f').replace(tzinfo=datetime.timezone.utc).timestamp())\n"
                "   except ValueError: pass\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)

    def stop(self):
        """The subscribers' delay, {'reads', 'p50', 'p99'} (ms), or None."""
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            out = self.proc.stdout.readline()
            self.proc.wait(timeout=10)
            return json.loads(out) if out.strip() else None
        except (BrokenPipeError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            self.proc.wait()
            return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--chronik", default=os.path.join(HERE, "../../.build/release/chronik"))
    p.add_argument("--baseline", default=os.path.join(HERE, "../.build/release/ChronikAppendBaseline"))
    p.add_argument("--floor", default=os.path.join(HERE, "../.build/release/HTTPFloor"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--dir", default="/tmp/chronik-http-bench")
    p.add_argument("--only", nargs="*", default=["append-1", "batch-1000", "sse-catchup", "sse-live"])
    p.add_argument("--rate", type=int, action="append", default=[],
                   help="sse-live-paced: offered appends/s (repeatable; default 1000 and 4000)")
    p.add_argument("--serve-arg", action="append", default=[],
                   help="one more option for chronik serve, e.g. --serve-arg=--live-pace --serve-arg=25")
    a = p.parse_args()
    Server.extra = a.serve_arg
    chronik = os.path.abspath(a.chronik)
    os.makedirs(a.dir, exist_ok=True)
    rows = []
    med = statistics.median

    def note(*x):
        print(*x, file=sys.stderr, flush=True)

    if "append-1" in a.only:
        http, lib, loads = [], [], []
        for r in range(a.runs):
            loads.append(load())
            out = subprocess.run([os.path.abspath(a.baseline), fresh(f"{a.dir}/baseline"), "--seconds", str(a.seconds)],
                                 capture_output=True, text=True, check=True).stdout
            lib.append(json.loads(out))
            srv = Server(chronik, fresh(f"{a.dir}/append"))
            http.append(wrk(srv, a.seconds, 64, 1, run=100 + r))
            srv.stop()
            note(f"append-1 run {r}: http {http[-1]['eventsPerSecond']:,.0f}/s p99 {http[-1]['p99ms']:.2f} ms, "
                 f"server {http[-1]['cpuMicrosPerEvent']:.2f} µs CPU/event, "
                 f"library {lib[-1]['eventsPerSecond']:,}/s p99 {lib[-1]['p99ms']:.2f} ms, load {loads[-1]:.1f}")
        h, l = med(x["eventsPerSecond"] for x in http), med(x["eventsPerSecond"] for x in lib)
        rows.append(("64 HTTP clients, 1 event/POST (fsync)", h, med(x["p50ms"] for x in http), med(x["p99ms"] for x in http),
                     f"library 64 appenders: {l:,.0f}/s, p99 {med(x['p99ms'] for x in lib):.2f} ms; HTTP/library {h / l:.2f}",
                     med(loads)))

    if "batch-1000" in a.only:
        runs, loads = [], []
        for r in range(a.runs):
            loads.append(load())
            srv = Server(chronik, fresh(f"{a.dir}/batch"))
            runs.append(wrk(srv, a.seconds, 4, 1000, run=200 + r))
            srv.stop()
            note(f"batch-1000 run {r}: {runs[-1]['eventsPerSecond']:,.0f}/s, "
                 f"server {runs[-1]['cpuMicrosPerEvent']:.2f} µs CPU/event, load {loads[-1]:.1f}")
        rows.append(("4 HTTP clients, 1,000 events/POST (fsync)", med(x["eventsPerSecond"] for x in runs),
                     med(x["p50ms"] for x in runs), med(x["p99ms"] for x in runs),
                     f"server CPU {med(x['cpuMicrosPerEvent'] for x in runs):.2f} µs/event", med(loads)))

    if "sse-catchup" in a.only:
        big = f"{a.dir}/big-{a.events}"
        if not os.path.exists(big + "/.complete"):
            fresh(big)
            lines = f"{a.dir}/generic-{a.events}.jsonl"
            if not os.path.exists(lines):
                subprocess.run([sys.executable, os.path.join(HERE, "gen-generic.py"), str(a.events), lines], check=True)
            with open(lines) as f:
                subprocess.run([chronik, "append", "--log", big + "/log"], stdin=f, stdout=subprocess.DEVNULL, check=True)
            open(big + "/.complete", "w").close()
        srv = Server(chronik, big + "/log")
        runs, cpus, loads = [], [], []
        for r in range(a.runs):
            loads.append(load())
            cpu = srv.cpu_seconds()
            runs.append(a.events / catch_up(srv.port, a.events))
            cpus.append((srv.cpu_seconds() - cpu) * 1e6 / a.events)
            note(f"sse-catchup run {r}: {runs[-1]:,.0f} events/s, server {cpus[-1]:.2f} µs CPU/event, load {loads[-1]:.1f}")
        srv.stop()
        rows.append((f"1 SSE subscriber catching up from 0 ({a.events:,} events)", med(runs), None, None,
                     f"server CPU {med(cpus):.2f} µs/event", med(loads)))

    def live_pairs(name, label, run_base, **extra):
        """`a.runs` pairs of append-1 runs on fresh servers, 0 then 100 live
        subscribers back to back; one row: the medians with subscribers, and
        their increase over none, as a ratio of the medians and as the median
        of each pair's own ratio (the fsync moves the no-subscriber p50 from
        run to run)."""
        base, live, loads, lags = [], [], [], []
        for r in range(a.runs):
            for n, into in ((0, base), (100, live)):
                loads.append(load())
                srv = Server(chronik, fresh(f"{a.dir}/live"))
                subs = Subscribers(srv.port, n) if n else None
                into.append(wrk(srv, a.seconds, 64, 1, run=run_base + 2 * r + (n > 0), **extra))
                lag = subs.stop() if subs else None
                if lag and lag["reads"]:
                    lags.append(lag)
                srv.stop()
                note(f"{name} run {r}, {n} subscribers: {into[-1]['eventsPerSecond']:,.0f}/s "
                     f"p50 {into[-1]['p50ms']:.2f} ms p99 {into[-1]['p99ms']:.2f} ms, "
                     f"server {into[-1]['cpuMicrosPerEvent']:.1f} µs CPU/event, load {loads[-1]:.1f}"
                     + (f"; subscribers' delay p50 {lag['p50']:.1f} ms p99 {lag['p99']:.1f} ms over {lag['reads']:,} reads"
                        if lag and lag["reads"] else ""))
        b50, l50 = med(x["p50ms"] for x in base), med(x["p50ms"] for x in live)
        b99, l99 = med(x["p99ms"] for x in base), med(x["p99ms"] for x in live)
        rows.append((label, med(x["eventsPerSecond"] for x in live), l50, l99,
                     f"without: {med(x['eventsPerSecond'] for x in base):,.0f}/s, p50 {b50:.2f} ms, p99 {b99:.2f} ms; "
                     f"p50 {100 * (l50 / b50 - 1):+.0f} %, p99 {100 * (l99 / b99 - 1):+.0f} %; "
                     f"median of the runs' own ratios (each with/without pair back to back): "
                     f"p50 {100 * (med(l['p50ms'] / b['p50ms'] for b, l in zip(base, live)) - 1):+.0f} %, "
                     f"p99 {100 * (med(l['p99ms'] / b['p99ms'] for b, l in zip(base, live)) - 1):+.0f} %"
                     + (f"; subscribers' delay (now − the first event's recordedAt, per read) p50 "
                        f"{med(x['p50'] for x in lags):.1f} ms, p99 {med(x['p99'] for x in lags):.1f} ms" if lags else ""),
                     med(loads)))

    if "sse-live" in a.only:
        live_pairs("sse-live", "64 HTTP clients + 100 live SSE subscribers", 300)

    if "sse-live-paced" in a.only:
        for rate in a.rate or [1000, 4000]:
            live_pairs(f"sse-live-paced {rate}/s", f"{rate:,} appends/s offered (64 connections) + 100 live SSE subscribers",
                       400, DELAY_MS=str(max(1, round(64_000 / rate))))

    if "floor" in a.only:
        loads_ = [("bare Hummingbird, GET /health", "floor", dict(GET="/health")),
                  ("chronik serve, GET /health", "chronik", dict(GET="/health")),
                  ("bare Hummingbird, POST /echo of one event", "floor", dict(TARGET="/echo")),
                  ("chronik serve, POST /streams/{stream} of one event (fsync)", "chronik", {})]
        got = {name: [] for name, _, _ in loads_}
        la = []
        for r in range(a.runs):
            for name, kind, extra in loads_:
                la.append(load())
                srv = (Server(chronik, fresh(f"{a.dir}/floor"))
                       if kind == "chronik" else Server(None, None, argv=[os.path.abspath(a.floor), "0"]))
                got[name].append(wrk(srv, a.seconds, 64, 1, run=400 + r, **extra))
                srv.stop()
                note(f"floor run {r}, {name}: {got[name][-1]['eventsPerSecond']:,.0f} requests/s, "
                     f"server {got[name][-1]['cpuMicrosPerEvent']:.1f} µs CPU/request, load {la[-1]:.1f}")
        base = med(x["cpuMicrosPerEvent"] for x in got[loads_[0][0]])
        for name, _, _ in loads_:
            cpu = med(x["cpuMicrosPerEvent"] for x in got[name])
            rows.append((name + " (requests/s)", med(x["eventsPerSecond"] for x in got[name]),
                         med(x["p50ms"] for x in got[name]), med(x["p99ms"] for x in got[name]),
                         f"server CPU {cpu:.1f} µs/request, {cpu / base:.2f} × bare GET /health", med(la)))

    print(f"\nmedians of {a.runs} runs of {a.seconds} s; {os.cpu_count()} cores shared with the load generator")
    print("\n| load | events/s | p50 ms | p99 ms | beside it | load average |")
    print("|---|---:|---:|---:|---|---:|")
    for name, rate, p50, p99, extra, la in rows:
        f = lambda v: "" if v is None else f"{v:.2f}"
        print(f"| {name} | {rate:,.0f} | {f(p50)} | {f(p99)} | {extra} | {la:.1f} |")


if __name__ == "__main__":
    main()
