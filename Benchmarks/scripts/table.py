#!/usr/bin/env python3
"""Issue 13's table from the runs that scripts/table.sh stored: every row
with Chronik, its raw baseline (same run), the ratio, and SQLite doing the
same work (same run), each the median over the runs.

usage: table.py --runs table1 table2 table3 --dir DIR

DIR holds what table.sh measured outside package-benchmark: cli.txt (the
output of cli-paths.py over CLI_EVENTS events, default 500,000),
baselines.txt ("name seconds" lines: json.loads of the import file) and
load.txt (the load average at each step).
"""
import argparse
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import load_run, p  # noqa: E402


def med(values):
    values = [v for v in values if v]
    return statistics.median(values) if values else None


def per_s(runs, bench, events):
    """events / median wall time (s) over the runs' p50s."""
    ns = med([p(r, bench, "wallClock") for r in runs])
    return events / (ns / 1e9) if ns else None


def custom(runs, bench, metric):
    return med([p(r, bench, metric) for r in runs])


def fmt(v, unit="ev/s"):
    if v is None:
        return "—"
    if unit == "ev/s":
        return f"{v / 1e6:.2f} M ev/s" if v >= 1e6 else f"{v / 1e3:,.0f} k ev/s"
    if unit == "MB/s":
        return f"{v:,.0f} MB/s"
    if unit == "s":
        return f"{v * 1000:,.0f} ms" if v < 10 else f"{v:.1f} s"
    return f"{v:,.2f} {unit}"


def ratio(a, b, invert=False):
    if not a or not b:
        return "—"
    return f"{(b / a if invert else a / b):.2f} ×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    runs = [load_run(n) for n in a.runs]

    cli = {}
    path = os.path.join(a.dir, "cli.txt")
    if os.path.exists(path):
        for line in open(path):
            m = re.match(r"(\S+(?: --json)?) \[[^\]]*\]\s+([\d,]+) ev/s\s+median ([\d.]+) s.*json.loads loop ([\d.]+) s\s+ratio ([\d.]+)", line)
            if m:
                cli[m.group(1)] = (float(m.group(2).replace(",", "")), float(m.group(4)), float(m.group(5)))
    base = {}
    path = os.path.join(a.dir, "baselines.txt")
    if os.path.exists(path):
        for line in open(path):
            name, _, secs = line.rpartition(" ")
            base.setdefault(name, []).append(float(secs))
    base = {k: statistics.median(v) for k, v in base.items()}
    files = {}
    path = os.path.join(a.dir, "sizes.txt")
    if os.path.exists(path):
        for line in open(path):
            name, _, v = line.rpartition(" ")
            files[name] = float(v)

    rows = []

    def row(path, target, chronik, baseline_label, baseline, r, sqlite, sqlite_ratio, command):
        rows.append((path, target, chronik, baseline_label, baseline, r, sqlite, sqlite_ratio, command))

    # 1. batched append, paired with raw in each iteration.
    c = custom(runs, "Paired: append 1000-event batch vs raw ~250 KB + fdatasync", "Chronik ns")
    b = custom(runs, "Paired: append 1000-event batch vs raw ~250 KB + fdatasync", "raw ns")
    cr, br = (1000 / (c / 1e9) if c else None), (1000 / (b / 1e9) if b else None)
    s = custom(runs, "SQLite: append 1000-event transaction vs raw ~250 KB + fdatasync", "SQLite events/s")
    sb = custom(runs, "SQLite: append 1000-event transaction vs raw ~250 KB + fdatasync", "raw events/s")
    row("library append, 1,000 events per batch, one appender, fsync per batch", "≥ 1,000,000 ev/s (≥ 0.5 × raw)",
        fmt(cr), "raw pwrite ~250 KB + fdatasync", fmt(br), ratio(cr, br), fmt(s), ratio(s, sb),
        "`--target AppendBenchmarks --filter 'Paired: append 1000.*'`, `--target SQLiteBenchmarks`")

    # 2. 64 concurrent single-event appenders.
    bench = "Paired: 64 concurrent 1-event appenders vs raw fsync per event"
    c, b = custom(runs, bench, "Chronik events/s"), custom(runs, bench, "raw fsync-per-event events/s")
    sbench = "SQLite: 64 concurrent 1-event appenders vs raw fsync per event"
    s, sb = custom(runs, sbench, "SQLite events/s"), custom(runs, sbench, "raw events/s")
    row("64 concurrent single-event appenders, fsync", "≥ 30 × raw", fmt(c), "raw 250 B write + fdatasync per event",
        fmt(b), ratio(c, b), fmt(s), ratio(s, sb), "`--target AppendBenchmarks --filter 'Paired: 64.*'`, `--target SQLiteBenchmarks`")

    # 3. chronik append, end to end.
    cli_events = int(os.environ.get("CLI_EVENTS", "500000"))
    ap_ = cli.get("append")
    row("`chronik append` of JSON Lines, 1,000 per batch, end to end", "≥ 500,000 ev/s",
        fmt(ap_[0]) if ap_ else "—", "Python `json.loads` loop over the file",
        fmt(cli_events / ap_[1]) if ap_ else "—", f"{ap_[2]:.2f} ×" if ap_ else "—",
        "see the import row (JSON parsed + inserted)", "", "`scripts/cli-paths.py --only append`")

    # 4. import of the mixed shop history.
    M = 1_000_000
    c = per_s(runs, "Commerce import end to end (1M, interleaved)", M)
    jl = base.get("json.loads import file")
    b = M / jl if jl else None
    s = per_s(runs, "SQLite: import 1M-line shop file (interleaved), 1000 per commit", M)
    row("`chronik import` of a mixed shop history (interleaved, 1 M lines)", "≥ 300,000 ev/s, ≥ 1 × json.loads",
        fmt(c), "Python `json.loads` loop over the file", fmt(b), ratio(c, b), fmt(s), ratio(s, b),
        "`--target CommerceBenchmarks --filter 'Commerce import end to end \\(1M, interleaved\\)'`, `--target SQLiteBenchmarks`")

    # 5. replay, big shop.
    n = int(os.environ.get("CHRONIK_REPLAY_EVENTS", "2000000"))
    lab = f"{n // 1_000_000}M"
    c = per_s(runs, f"Replay: full rebuild, all models, parallel ({lab} big shop)", n)
    b = per_s(runs, f"Replay baseline: bare scan ({lab} big-shop events)", n)
    s = per_s(runs, "SQLite: read every row in order (1M)", M)
    row("full replay of all read models, big shop (~300 streams per 1,000 events)", "≥ 2,000,000 ev/s",
        fmt(c), "bare scan of the same log", fmt(b), ratio(c, b), fmt(s) + " (rows read back, no models)", "",
        "`--target ReplayBenchmarks --filter '.*big.shop.*'`, `--target SQLiteBenchmarks`")

    # 6. verify, paired with openssl dgst -sha256 of the same files in each iteration.
    bench = "Paired: verify vs openssl dgst -sha256 of the same files"
    v, b = custom(runs, bench, "verify MB/s"), custom(runs, bench, "openssl sha256 MB/s")
    per_mille = custom(runs, bench, "verify speed ‰ of openssl sha256")
    s = custom(runs, "SQLite: integrity_check (1M rows)", "MB/s")
    row("`verify`, log bytes per second", "≥ 0.5 × openssl", fmt(v, "MB/s"), "`openssl dgst -sha256` of the same files",
        fmt(b, "MB/s"), f"{per_mille / 1000:.2f} ×" if per_mille else "—", fmt(s, "MB/s") + " (integrity_check, no hashes)", "",
        "`--target VerifyBenchmarks --filter 'Paired: verify vs openssl.*'`, `--target SQLiteBenchmarks`")

    # 7. read --json / export.
    rj, ex = cli.get("read --json"), cli.get("export")
    s = per_s(runs, "SQLite: export all rows as JSON Lines (1M)", M)
    row("`read --json` / `export`", "≥ 1,000,000 ev/s each",
        (fmt(rj[0]) if rj else "—") + " / " + (fmt(ex[0]) if ex else "—"), "Python `json.loads` loop over the export",
        fmt(cli_events / ex[1]) if ex else "—", (f"{rj[2]:.2f} × / {ex[2]:.2f} ×" if rj and ex else "—"), fmt(s) + " (export)",
        "", "`scripts/cli-paths.py --only read --only export`, `--target SQLiteBenchmarks`")

    # 8. reopen.
    c = med([p(r, "Reopen 10M-event log: open() + indexes loaded", "wallClock") for r in runs])
    b = med([p(r, "Baseline: read() .idx files + active segment (10M log)", "wallClock") for r in runs])
    s = med([p(r, "SQLite: reopen until an append is accepted (1M rows)", "wallClock") for r in runs])
    row("reopen a 10 M-event log until appends are accepted", "≤ 0.3 s", fmt(c / 1e9 if c else None, "s"),
        "read() the .idx files + active segment", fmt(b / 1e9 if b else None, "s"), ratio(c, b),
        fmt(s / 1e9 if s else None, "s") + " (1 M rows, one durable insert)", "",
        "`--target ReopenBenchmarks --filter 'Reopen 10M.*|Baseline: read.*10M.*'`, `--target SQLiteBenchmarks`")

    print("| path | target | Chronik | baseline | baseline figure | Chronik ÷ baseline | SQLite | SQLite ÷ baseline | reproduce |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    bench = "Paired: 64 concurrent 1-event appenders, pipelined writer vs one group in flight"
    pw, sw, rw = (custom(runs, bench, m) for m in ("pipelined events/s", "one group in flight events/s", "raw fsync-per-event events/s"))
    if pw and sw and rw:
        print(f"\nWriter pipeline, 64 concurrent single-event appenders, same iterations: pipelined {fmt(pw)} "
              f"({pw / rw:.1f} × raw fsync per event), one group in flight {fmt(sw)} ({sw / rw:.1f} ×), "
              f"raw {fmt(rw)}; pipelined ÷ one group {pw / sw:.2f} ×")
    path = os.path.join(a.dir, "load.txt")
    if os.path.exists(path):
        print("\nLoad average (1, 5, 15 min) at each step:\n")
        for line in open(path):
            print("    " + line.rstrip())


if __name__ == "__main__":
    main()
