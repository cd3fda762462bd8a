#!/usr/bin/env python3
"""The CLI's write and read paths of issue 13, end to end, on a release
build: `chronik append` of N generic events (1,000 per stream run, so
batches of 1,000) into a fresh log, and `chronik read --json` /
`chronik export` of an N-event simulated shop, and `chronik import` of
that shop's export (a mixed history: interleaved streams, many customers,
personal data sealed under a key per customer) into a fresh log. Each figure is the median
of RUNS runs, beside a baseline measured in the same run over the same
file: a bare Python `json.loads` loop over the input lines (append) and
over the export output (read/export).

usage: cli-paths.py [--chronik [LABEL=]PATH ...] [--events N] [--runs R] [--dir DIR] [--only append|import|read|export]

Several --chronik binaries (e.g. before=/tmp/chronik-before after=.build/release/chronik)
are measured interleaved in the same runs, each against the same baseline runs, their
order reversed every other run (use an even --runs); with two, each path also prints
the median of the runs' own ratios (last binary to first) and how many runs were faster.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, stdout=subprocess.DEVNULL):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def remove(path):
    """A file or a directory, if there."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def json_loop(path):
    return ["python3", "-c", "import json,sys\nfor l in open(sys.argv[1],'rb'): json.loads(l)", path]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--chronik", action="append")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", default="/tmp/chronik-cli-bench")
    p.add_argument("--only", action="append")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    n = a.events
    bins = []
    for c in a.chronik or [os.path.join(HERE, "../../.build/release/chronik")]:
        label, _, path = c.rpartition("=")
        bins.append((label or "chronik", os.path.abspath(path)))
    chronik = bins[-1][1]
    only = set(a.only or ["append", "import", "read", "export"])
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = []

    def in_turn(r):
        """The binaries in run r's order: reversed every other run, so that no
        build is always the one run second (stop 50: in two A/Bs with the
        order swapped, the build run second in each pair was the slower)."""
        return bins if r % 2 == 0 else bins[::-1]

    def pairs(name, secs):
        """With two binaries: the median of each run's own ratio, last to first."""
        if len(bins) != 2:
            return
        (a_label, _), (b_label, _) = bins
        ratios = [y / x for x, y in zip(secs[a_label], secs[b_label])]
        faster = sum(r < 1 for r in ratios)
        print(f"{name}: pair ratio {b_label}/{a_label} median {statistics.median(ratios):.3f}, "
              f"{faster} of {len(ratios)} runs faster", flush=True)

    def row(name, secs, base):
        m, b = statistics.median(secs), statistics.median(base)
        rows.append((name, n / m, m, b, b / m))
        print(f"{name:26} {n / m:>12,.0f} ev/s  median {m:.2f} s  runs {' '.join(f'{s:.2f}' for s in secs)}"
              f"  | json.loads loop {b:.2f} s  ratio {b / m:.2f}", flush=True)

    if "append" in only:
        src = os.path.join(a.dir, f"generic-{n}.jsonl")
        if not os.path.exists(src):
            subprocess.run(["python3", os.path.join(HERE, "gen-generic.py"), str(n), src], check=True)
        secs, base = {l: [] for l, _ in bins}, []
        for r in range(a.runs):
            log = os.path.join(a.dir, "append-log")
            base.append(timed(json_loop(src)))
            for label, path in in_turn(r):
                shutil.rmtree(log, ignore_errors=True)
                secs[label].append(timed([path, "append", "--log", log, src]))
        shutil.rmtree(os.path.join(a.dir, "append-log"), ignore_errors=True)
        for label, _ in bins:
            row(f"append [{label}]", secs[label], base)
        pairs("append", secs)

    if only & {"import", "read", "export"}:
        shop = os.path.join(a.dir, f"shop-{n}")
        if not os.path.exists(os.path.join(shop, ".bench-ok")):
            shutil.rmtree(shop, ignore_errors=True)
            subprocess.run([chronik, "simulate", "--events", str(n), "--seed", "1", "--log", shop],
                           check=True, stdout=subprocess.DEVNULL)
            open(os.path.join(shop, ".bench-ok"), "w").close()
        dump = os.path.join(a.dir, f"shop-{n}.jsonl")
        with open(dump, "wb") as f:
            subprocess.run([chronik, "export", "--log", shop], stdout=f, stderr=subprocess.DEVNULL, check=True)
        if "import" in only:
            secs, base = {l: [] for l, _ in bins}, []
            log = os.path.join(a.dir, "import-log")
            for r in range(a.runs):
                base.append(timed(json_loop(dump)))
                for label, path in in_turn(r):
                    shutil.rmtree(log, ignore_errors=True)
                    remove(log + ".keys")
                    secs[label].append(timed([path, "import", "--log", log, dump]))
            shutil.rmtree(log, ignore_errors=True)
            remove(log + ".keys")
            for label, _ in bins:
                row(f"import [{label}]", secs[label], base)
            pairs("import", secs)
        for cmd in (["read", "--json"], ["export"]):
            if cmd[0] not in only:
                continue
            secs, base = {l: [] for l, _ in bins}, []
            for r in range(a.runs):
                base.append(timed(json_loop(dump)))
                for label, path in in_turn(r):
                    secs[label].append(timed([path, *cmd, "--log", shop]))
            for label, _ in bins:
                row(" ".join(cmd) + f" [{label}]", secs[label], base)
            pairs(" ".join(cmd), secs)

    print(f"load average at end: {os.getloadavg()}")
    print("\n| path | events/s | median s | json.loads loop s | ratio (baseline s / chronik s) |")
    print("|---|---:|---:|---:|---:|")
    for name, rate, m, b, r in rows:
        print(f"| `chronik {name}` | {rate:,.0f} | {m:.2f} | {b:.2f} | {r:.2f} |")


if __name__ == "__main__":
    main()
