#!/usr/bin/env python3
"""Turns stored package-benchmark baselines into the figures the issue asks for.

Each argument names one run stored with
`swift package --allow-writing-to-package-directory benchmark baseline update NAME`
(in .benchmarkBaselines/<Target>/NAME/results.json). For every run it takes
the median (p50) of each benchmark, computes each target's figure and its
ratio to the baseline benchmark measured in the same run, then prints one
table per run and the median over runs:

    python3 scripts/summarize.py run1 run2 run3

Values are read from the raw histograms: time in ns per iteration, counts
per iteration, never divided by a benchmark's scaling factor.
"""
import glob
import json
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINES = os.path.join(os.path.dirname(HERE), ".benchmarkBaselines")


def value_at_percentile(h, percentile):
    """HdrHistogram's valueAtPercentile (hdrhistogram-swift), from its JSON."""
    total = h["_totalCount"]
    if total == 0:
        return None
    if percentile <= 0:
        return h["minNonZeroValue"]
    if percentile >= 100:
        return h["maxValue"]
    half_mag = h["subBucketHalfCountMagnitude"]
    half = 1 << half_mag
    unit = h["unitMagnitude"]
    wanted = max(1, math.ceil(math.nextafter(percentile, 0) * total / 100.0))
    running = 0
    for i, c in enumerate(h["counts"]):
        running += c
        if running >= wanted:
            bucket = (i >> half_mag) - 1
            sub = (i & (half - 1)) + half
            if bucket < 0:
                sub -= half
                bucket = 0
            lowest = sub << (bucket + unit)
            return lowest + (1 << (unit + bucket)) - 1
    return None


def metric_name(metric):
    (kind, payload), = metric.items()
    if kind == "custom":
        return payload.get("_0", payload.get("name", str(payload)))
    return kind


def load_run(name):
    files = sorted(glob.glob(os.path.join(BASELINES, "*", name, "results.json")))
    if not files:
        sys.exit(f"no stored baseline '{name}' under {BASELINES}")
    results = {}
    for f in files:
        with open(f) as fh:
            items = json.load(fh)["results"]
        for key, metrics in zip(items[0::2], items[1::2]):
            results[key["name"]] = {metric_name(m["metric"]): m["statistics"]["histogram"] for m in metrics}
    return results


def p(results, bench, metric, percentile=50.0):
    try:
        return value_at_percentile(results[bench][metric], percentile)
    except KeyError:
        return None


def wall_us(results, bench, percentile=50.0):
    ns = p(results, bench, "wallClock", percentile)
    return None if ns is None else ns / 1000.0


def figures(r):
    """(label, figure, unit, baseline label, baseline figure, ratio, target) rows."""
    rows = []

    def per_second(bench, events):
        us = wall_us(r, bench)
        return None if not us else events / (us / 1e6)

    def row(label, value, unit, base_label, base_value, ratio, target):
        rows.append((label, value, unit, base_label, base_value, ratio, target))

    # Batched durable append.
    b = per_second("Append 1000-event batch (fsync)", 1000)
    raw_b = per_second("Baseline: raw pwrite 1000×~250 B + fdatasync", 1000)
    nosync = per_second("Append 1000-event batch (no fsync)", 1000)
    conc_b = p(r, "Append 8 concurrent 1000-event batches (fsync)", "events/s")
    if b:
        row("batched append, 1000/batch, fsync", b, "events/s",
            "raw pwrite ~250 KB + fdatasync", raw_b, b / raw_b if raw_b else None, "≥ 1,000,000 events/s")
    if nosync:
        row("  same, durability none (CPU only)", nosync, "events/s", "", None, None, "")
    if conc_b:
        row("  8 concurrent 1000-event batches", conc_b, "events/s", "", None, None, "")

    # Single-event latency.
    s50, s99 = wall_us(r, "Append 1 event (fsync)"), wall_us(r, "Append 1 event (fsync)", 99.0)
    r50, r99 = wall_us(r, "Baseline: raw pwrite 250 B + fdatasync"), wall_us(r, "Baseline: raw pwrite 250 B + fdatasync", 99.0)
    if s50:
        row("single-event append p50", s50, "µs", "raw pwrite 250 B + fdatasync p50", r50,
            s50 / r50 if r50 else None, "≤ 1.3 × baseline")
        row("single-event append p99", s99, "µs", "raw pwrite 250 B + fdatasync p99", r99,
            s99 / r99 if r99 else None, "(reported)")

    n50 = wall_us(r, "Append 1 event (no fsync)")
    if n50:
        row("  same, durability none (software path)", n50, "µs", "", None, None, "")

    # 64 concurrent single-event appenders.
    c = per_second("Append 1 event × 64 concurrent tasks (fsync)", 1000)
    if c:
        raw_rate = 1e6 / r50 if r50 else None
        seq_rate = 1e6 / s50 if s50 else None
        row("64 concurrent 1-event appenders", c, "events/s", "raw write+fdatasync per event", raw_rate,
            c / raw_rate if raw_rate else None, "≥ 30 × baseline")
        row("  (vs. one sequential Chronik appender)", c, "events/s", "sequential Append 1 event", seq_rate,
            c / seq_rate if seq_rate else None, "")

    # Paired (interleaved) runs: both sides measured alternately in each
    # iteration, so both see the same fdatasync regime.
    def paired(bench, percentile=50.0):
        c, b = p(r, bench, "Chronik ns", percentile), p(r, bench, "raw ns", percentile)
        return (c, b) if c and b else (None, None)

    c, b = paired("Paired: append 1 event vs raw 250 B + fdatasync")
    if c:
        row("PAIRED single-event append p50", c / 1000, "µs", "raw 250 B + fdatasync p50 (interleaved)", b / 1000,
            c / b, "≤ 1.3 × baseline")
        c99, b99 = paired("Paired: append 1 event vs raw 250 B + fdatasync", 99.0)
        row("PAIRED single-event append p99", c99 / 1000, "µs", "raw 250 B + fdatasync p99 (interleaved)", b99 / 1000,
            c99 / b99, "(reported)")
    c, b = paired("Paired: append 1000-event batch vs raw ~250 KB + fdatasync")
    if c:
        row("PAIRED batched append, 1000/batch", 1000 / (c / 1e9), "events/s", "raw ~250 KB + fdatasync (interleaved)",
            1000 / (b / 1e9), b / c, "≥ 1,000,000 events/s")
    bench = "Paired: 64 concurrent 1-event appenders vs raw fsync per event"
    c, b = p(r, bench, "Chronik events/s"), p(r, bench, "raw fsync-per-event events/s")
    if c and b:
        row("PAIRED 64 concurrent 1-event appenders", c, "events/s", "raw fsync per event (interleaved)", b,
            c / b, "≥ 30 × baseline")

    # Read all forward.
    rd = per_second("Read all forward, decoded (1M events, 1000/batch)", 1_000_000)
    raw_rd = per_second("Baseline: read() segment files + one pass (same 1M log)", 1_000_000)
    rd10 = per_second("Read all forward, decoded (1M events, 10/batch)", 1_000_000)
    if rd:
        row("read all forward, decoded, 1000/batch", rd, "events/s", "read() the segment files + one pass", raw_rd,
            rd / raw_rd if raw_rd else None, "≥ 5,000,000 events/s")
    if rd10:
        row("  same, 10/batch log", rd10, "events/s", "", None, None, "")
    sc = per_second("Scan all forward, borrowed views (1M events, 1000/batch)", 1_000_000)
    if sc:
        row("scan all forward, borrowed views, 1000/batch", sc, "events/s", "read() the segment files + one pass", raw_rd,
            sc / raw_rd if raw_rd else None, "≥ 5,000,000 events/s")

    # ChronikCommerce (CommerceBenchmarks): typed decode during a scan,
    # JSON Lines import end to end, parse + validate alone. 1M events or
    # lines per iteration each.
    M = 1_000_000
    scan_c = per_second("Commerce baseline: scan, no decode (1M shop events)", M)
    copy_c = per_second("Commerce scan + Array(view.data) copy only (1M shop events)", M)
    dec_c = per_second("Commerce typed decode during scan (1M shop events)", M)

    def allocs(bench):
        v = p(r, bench, "mallocCountTotal")
        return None if v is None else v / M

    if dec_c:
        row("commerce typed decode during scan", dec_c, "events/s", "scan, no decode (same log)", scan_c,
            dec_c / scan_c if scan_c else None, "≥ 5,000,000 events/s")
        a = allocs("Commerce typed decode during scan (1M shop events)")
        if a is not None:
            row("  allocations per event (decode + copy)", a, "allocs", "", None, None, "")
    if copy_c:
        row("  scan + Array(view.data) copy only", copy_c, "events/s", "scan, no decode (same log)", scan_c,
            copy_c / scan_c if scan_c else None, "(diagnostic)")
    for layout in ("runs", "interleaved"):
        imp = per_second(f"Commerce import end to end (1M, {layout})", M)
        rd_l = per_second(f"Commerce baseline: read lines, no parsing (1M, {layout})", M)
        if imp:
            row(f"commerce import end to end, {layout}", imp, "events/s", "read the file's lines, no parsing", rd_l,
                imp / rd_l if rd_l else None, "≥ 300,000 events/s")
    noid = per_second("Commerce import end to end (1M, runs, no ids)", M)
    if noid:
        rd_l = per_second("Commerce baseline: read lines, no parsing (1M, runs)", M)
        row("  same, runs file without event ids", noid, "events/s", "read the file's lines, no parsing", rd_l,
            noid / rd_l if rd_l else None, "(diagnostic)")
    parse_c = per_second("Commerce parse + validate, CommerceEnvelope.parse (1M lines, in memory)", M)
    if parse_c:
        rd_l = per_second("Commerce baseline: read lines, no parsing (1M, interleaved)", M)
        row("commerce JSON line parse + validate", parse_c, "events/s", "read the file's lines, no parsing", rd_l,
            parse_c / rd_l if rd_l else None, "(reported)")
        a = allocs("Commerce parse + validate, CommerceEnvelope.parse (1M lines, in memory)")
        if a is not None:
            row("  allocations per line (parse)", a, "allocs", "", None, None, "")

    # Reopen.
    for label in ("10M", "1M"):
        o = wall_us(r, f"Reopen {label}-event log: open() returns")
        oi = wall_us(r, f"Reopen {label}-event log: open() + indexes loaded")
        base = wall_us(r, f"Baseline: read() .idx files + active segment ({label} log)")
        if o:
            row(f"reopen {label}: open() returns", o / 1e6, "s", "read() .idx files + active segment",
                base / 1e6 if base else None, o / base if base else None, "≤ 0.5 s" if label == "10M" else "")
        if oi:
            row(f"reopen {label}: + indexes loaded", oi / 1e6, "s", "", None, None, "")

    # Size on disk.
    for shape in ("1000/batch", "10/batch", "1/batch"):
        v = p(r, "Bytes on disk vs JSON Lines", f"disk ‰ of JSONL, {shape}")
        if v is not None:
            row(f"bytes on disk / JSON Lines, {shape}", v / 10, "%", "", None, None,
                "≤ 40 %" if shape == "1000/batch" else "")
    return rows


def fmt(v, unit=""):
    if v is None:
        return "-"
    if unit == "events/s" or (unit == "" and v > 1000):
        return f"{v:,.0f}"
    if unit == "s":
        return f"{v:.3f}"
    return f"{v:,.1f}"


def print_table(title, rows):
    print(f"\n{title}")
    print(f"| {'figure':40} | {'value':>12} | {'unit':8} | {'baseline (same run)':36} | {'baseline':>12} | {'ratio':>7} | target |")
    print(f"|{'-' * 42}|{'-' * 14}|{'-' * 10}|{'-' * 38}|{'-' * 14}|{'-' * 9}|--------|")
    for label, value, unit, base_label, base, ratio, target in rows:
        r = "-" if ratio is None else (f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.4f}")
        print(f"| {label:40} | {fmt(value, unit):>12} | {unit:8} | {base_label:36} | {fmt(base, unit):>12} | {r:>7} | {target} |")


def main(paths):
    runs = [figures(load_run(path)) for path in paths]
    for path, rows in zip(paths, runs):
        print_table(f"Run {path} (medians of that run)", rows)
    if len(runs) > 1:
        merged = []
        labels = []
        # Label order of the run with the most rows first (runs that lack a
        # benchmark keep the others in place).
        for rows in sorted(runs, key=len, reverse=True):
            for row in rows:
                if row[0] not in labels:
                    labels.append(row[0])
        for label in labels:
            same = [row for rows in runs for row in rows if row[0] == label]
            first = same[0]

            def med(k):
                vals = [x[k] for x in same if x[k] is not None]
                return statistics.median(vals) if vals else None

            merged.append((first[0], med(1), first[2], first[3], med(4), med(5), first[6]))
        print_table(f"Median over {len(runs)} runs (ratio = median of the per-run ratios)", merged)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
