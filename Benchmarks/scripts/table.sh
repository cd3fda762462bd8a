#!/bin/sh
# Issue 13's table, every row: Chronik, its raw baseline, SQLite doing the
# same work, the ratios; medians over RUNS runs (default 3), each run
# measuring all of them back to back, with the load average noted at each
# step. The output (markdown) is the table of Benchmarks/README.md
# ("Stop 16: the table").
#
#   cd Benchmarks && sh scripts/table.sh            # RUNS=3, output in /tmp/chronik-table
#   RUNS=5 OUT=/some/dir sh scripts/table.sh
#
# Needs: the main package's release `chronik` (built here), libsqlite3-dev
# (SQLiteBenchmarks), python3, openssl. Takes ~30-60 min on 2 quiet cores
# (the first time also builds the cached logs and databases).
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-/tmp/chronik-table}
DATA=${CHRONIK_BENCH_DATA:-$PWD/.benchmark-data}
mkdir -p "$OUT"
: > "$OUT/load.txt"
: > "$OUT/baselines.txt"
: > "$OUT/sizes.txt"
load() { echo "$1: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"; }

names=""
for n in $(seq 1 "$RUNS"); do
  load "run $n start"
  swift package --allow-writing-to-package-directory benchmark baseline update "table$n" --no-progress \
    --target AppendBenchmarks --target CommerceBenchmarks --target ReplayBenchmarks \
    --target VerifyBenchmarks --target ReopenBenchmarks --target SQLiteBenchmarks \
    --filter 'Paired: append 1000.*' --filter 'Paired: 64 concurrent.*' \
    --filter 'Commerce import end to end \(1M, interleaved\)' \
    --filter '.*big.shop.*' --filter 'Paired: verify.*' \
    --filter 'Reopen 10M-event log: open\(\) \+ indexes loaded' --filter 'Baseline: read\(\) .idx files.*10M.*' \
    --filter 'SQLite.*' > "$OUT/run$n.txt" 2>&1
  names="$names table$n"
  load "run $n end"
  # Baselines outside package-benchmark, in the same run.
  f="$DATA/shop-interleaved-1000000lines-seed8.jsonl"
  t0=$(date +%s.%N); python3 -c "import json,sys
for l in open(sys.argv[1],'rb'): json.loads(l)" "$f"; t1=$(date +%s.%N)
  echo "json.loads import file $(echo "$t1 - $t0" | bc)" >> "$OUT/baselines.txt"
  v="$DATA/log-3000000ev-1000perbatch-seed1"
  t0=$(date +%s.%N); openssl dgst -sha256 "$v"/* > /dev/null; t1=$(date +%s.%N)
  echo "openssl dgst -sha256 verify log $(echo "$t1 - $t0" | bc)" >> "$OUT/baselines.txt"
done
echo "verify log bytes $(cat "$v"/* | wc -c)" >> "$OUT/sizes.txt"

load "cli start"
(cd .. && swift build -c release --product chronik > "$OUT/build.txt" 2>&1)
python3 scripts/cli-paths.py --runs "$RUNS" --chronik "chronik=$PWD/../.build/release/chronik" > "$OUT/cli.txt" 2>&1
load "cli end"

# shellcheck disable=SC2086
python3 scripts/table.py --runs $names --dir "$OUT" | tee "$OUT/table.md"
