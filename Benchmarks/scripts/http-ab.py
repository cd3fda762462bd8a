#!/usr/bin/env python3
"""Two builds of `chronik serve` side by side: 64 wrk connections, one
~250-byte event per POST (durable), `runs` pairs of 10 s runs alternated
(A B, B A, ...), each on a fresh log; medians of events/s and of the
server's CPU time per event (the figure that does not depend on what else
shares the cores). Uses http-bench.py's Server and wrk.

usage: python3 Benchmarks/scripts/http-ab.py OLD-CHRONIK NEW-CHRONIK [RUNS]
"""
import importlib.util, os, statistics, sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("hb", os.path.join(HERE, "http-bench.py"))
hb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hb)

if len(sys.argv) < 3:
    raise SystemExit(__doc__)
bins = {"A": sys.argv[1], "B": sys.argv[2]}
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
res = {k: [] for k in bins}
for r in range(runs):
    for k in (list(bins) if r % 2 == 0 else list(reversed(bins))):
        srv = hb.Server(bins[k], hb.fresh(f"/tmp/http-ab-{k}"))
        try:
            x = hb.wrk(srv, 10, 64, 1, r)
        finally:
            srv.stop()
        res[k].append(x)
        print(f"run {r} {k}: {x['eventsPerSecond']:,.0f} ev/s, {x['cpuMicrosPerEvent']:.1f} µs CPU/event, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
for k, xs in res.items():
    print(f"{k} {bins[k]}: median {statistics.median(x['eventsPerSecond'] for x in xs):,.0f} events/s, "
          f"{statistics.median(x['cpuMicrosPerEvent'] for x in xs):.1f} µs CPU/event")
