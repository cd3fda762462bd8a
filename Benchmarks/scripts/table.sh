#!/bin/sh
# Issue 13's table, every row: Chronik, its raw baseline, SQLite doing the
# same work, the ratios; medians over RUNS runs (default 3), each run
# measuring all of them back to back, with the load average noted at each
# step. The output (markdown) is the table of Benchmarks/README.md
# ("Stop 17: the whole table").
#
#   cd Benchmarks && sh scripts/table.sh            # RUNS=3, output in /tmp/chronik-table
#   RUNS=5 OUT=/some/dir sh scripts/table.sh
#   CHRONIK=/path/to/release/chronik sh scripts/table.sh   # skip building the CLI
#   CLI=0 sh scripts/table.sh                       # package-benchmark rows only
#
# Needs: the main package's release `chronik` (built here unless CHRONIK
# names one), libsqlite3-dev (SQLiteBenchmarks), python3, bc. Every
# benchmark is bounded (maxDuration / maxIterations in its configuration)
# and each package-benchmark call by STEP_TIMEOUT seconds (default 600): on
# 2 quiet cores a run of the three takes ~15 minutes, plus ~5 minutes the
# first time to build the cached logs, files and databases, plus the CLI's
# release build when CHRONIK is not given.
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-/tmp/chronik-table}
DATA=${CHRONIK_BENCH_DATA:-$PWD/.benchmark-data}
CLI_EVENTS=${CLI_EVENTS:-500000}
STEP_TIMEOUT=${STEP_TIMEOUT:-600}
mkdir -p "$OUT"
: > "$OUT/load.txt"
: > "$OUT/baselines.txt"
load() { echo "$1: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.txt"; }

# One package-benchmark call per target (its baseline is stored per target,
# so a target that fails or times out costs only its own rows).
bench() {  # run, target, filters...
  r=$1; t=$2; shift 2
  for f in "$@"; do set -- "$@" --filter "$f"; shift; done
  timeout "$STEP_TIMEOUT" swift package --allow-writing-to-package-directory benchmark baseline update "table$r" --no-progress \
    --target "$t" "$@" >> "$OUT/run$r.txt" 2>&1 || echo "run $r: $t failed or timed out (exit $?)" | tee -a "$OUT/load.txt"
}

names=""
for n in $(seq 1 "$RUNS"); do
  load "run $n start"
  : > "$OUT/run$n.txt"
  bench "$n" AppendBenchmarks 'Paired: append 1000.*' 'Paired: 64 concurrent.*'
  bench "$n" CommerceBenchmarks 'Commerce import end to end \(1M, interleaved\)'
  bench "$n" ReplayBenchmarks 'Replay baseline: bare scan .*big.shop.*' 'Replay: full rebuild, all models, parallel .*big shop.*'
  bench "$n" VerifyBenchmarks 'Paired: verify vs openssl.*'
  bench "$n" ReopenBenchmarks 'Reopen 10M-event log: open\(\) \+ indexes loaded' 'Baseline: read\(\) .idx files.*10M.*'
  bench "$n" SQLiteBenchmarks 'SQLite.*'
  names="$names table$n"
  load "run $n end"
  # The import row's baseline, outside package-benchmark, in the same run.
  f="$DATA/shop-interleaved-1000000lines-seed8.jsonl"
  if [ -f "$f" ]; then
    t0=$(date +%s.%N); python3 -c "import json,sys
for l in open(sys.argv[1],'rb'): json.loads(l)" "$f"; t1=$(date +%s.%N)
    echo "json.loads import file $(echo "$t1 - $t0" | bc)" >> "$OUT/baselines.txt"
  fi
done

if [ "${CLI:-1}" != 0 ]; then
  load "cli start"
  if [ -z "${CHRONIK:-}" ]; then
    (cd .. && swift build -c release --product chronik > "$OUT/build.txt" 2>&1)
    CHRONIK=$PWD/../.build/release/chronik
  fi
  timeout "$STEP_TIMEOUT" python3 scripts/cli-paths.py --runs "$RUNS" --events "$CLI_EVENTS" --chronik "chronik=$CHRONIK" > "$OUT/cli.txt" 2>&1
  load "cli end"
fi

# shellcheck disable=SC2086
CLI_EVENTS=$CLI_EVENTS python3 scripts/table.py --runs $names --dir "$OUT" | tee "$OUT/table.md"
