#!/usr/bin/env bash
# The figures of docs/POSTGRES.md, "Measured": a primary and a synchronous
# standby on loopback (the commands of README.md's PostgreSQL section and of
# Tests/ChronikPostgresTests/PostgresCluster.swift), then
#   1. ChronikPostgresChild bench: 1,000-event batches and 64 concurrent
#      single-event appenders, 3 runs each, medians, ratio to the embedded
#      log (fsync) in the same run;
#   2. failover: SIGKILL the primary under load, promote the standby, time
#      the promotion and until a new process's first append is acknowledged
#      (3 runs, median; fails if that append is not acknowledged).
# Before 1., the WAL is warmed (COLD=1 skips it): ~300 MB of WAL written
# and dropped, then a checkpoint on the primary and a restartpoint on the
# standby, so that both hold recycled WAL segments, as a database that has
# run for a while does. A cluster fresh from initdb has none: every 16 MB
# of WAL (40 batches here) each server creates and zero-fills a new
# segment, a ~25 ms stall of the batch that crosses it (docs/POSTGRES.md,
# "Stop 32").
# Run as root from the package directory, on a release build:
#   swift build -c release --product ChronikPostgresChild
#   CHILD=.build/release/ChronikPostgresChild bash Benchmarks/postgres-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=/usr/lib/postgresql/15/bin
CHILD=${CHILD:-.build/debug/ChronikPostgresChild}
[ -x "$CHILD" ] || { echo "build first: swift build -c release --product ChronikPostgresChild (CHILD=.build/release/ChronikPostgresChild)"; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

setup() {
  ROOT=$(mktemp -d /tmp/chronik-pg-bench-XXXX); chown postgres:postgres "$ROOT"; chmod 700 "$ROOT"
  P=$(free_port); S=$(free_port)
  as_pg $BIN/initdb -A trust -U postgres -D "$ROOT/primary" >/dev/null
  cat >> "$ROOT/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P
unix_socket_directories = '$ROOT'
wal_level = replica
max_wal_senders = 8
max_connections = 200
shared_buffers = 256MB
synchronous_standby_names = 'FIRST 1 (s1)'
synchronous_commit = on
wal_writer_delay = 1ms
CONF
  echo "host replication all 127.0.0.1/32 trust" >> "$ROOT/primary/pg_hba.conf"
  (cd "$ROOT" && as_pg $BIN/pg_ctl -D "$ROOT/primary" -l "$ROOT/primary.log" -w start >/dev/null)
  (cd "$ROOT" && as_pg $BIN/pg_basebackup -h 127.0.0.1 -p "$P" -U postgres -D "$ROOT/standby" -R -X stream)
  printf "port = %s\nprimary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=s1'\n" "$S" "$P" >> "$ROOT/standby/postgresql.auto.conf"
  (cd "$ROOT" && as_pg $BIN/pg_ctl -D "$ROOT/standby" -l "$ROOT/standby.log" -w start >/dev/null)
  until [ "$(psql -XAtq -h 127.0.0.1 -p "$P" -U postgres -c "select sync_state from pg_stat_replication")" = sync ]; do sleep 0.1; done
}
teardown() {
  for n in primary standby; do [ -f "$ROOT/$n/postmaster.pid" ] && (cd "$ROOT" && as_pg $BIN/pg_ctl -D "$ROOT/$n" -m immediate -w stop >/dev/null 2>&1) || true; done
  rm -rf "$ROOT"
}

warm_wal() {
  psql -XAtq -h 127.0.0.1 -p "$P" -U postgres \
    -c "create table chronik_bench_warm as select g, repeat('x', 1000) as pad from generate_series(1, 250000) g" \
    -c "drop table chronik_bench_warm" -c "checkpoint" >/dev/null
  # A restartpoint needs the primary's checkpoint record replayed first.
  local lsn; lsn=$(psql -XAtq -h 127.0.0.1 -p "$P" -U postgres -c "select pg_current_wal_lsn()")
  until [ "$(psql -XAtq -h 127.0.0.1 -p "$S" -U postgres -c "select pg_last_wal_replay_lsn() >= '$lsn'")" = t ]; do sleep 0.1; done
  psql -XAtq -h 127.0.0.1 -p "$S" -U postgres -c "checkpoint" >/dev/null
  echo "WAL warmed: $(ls "$ROOT/primary/pg_wal" | grep -c '^[0-9A-F]\{24\}$') segments on the primary, $(ls "$ROOT/standby/pg_wal" | grep -c '^[0-9A-F]\{24\}$') on the standby"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
setup
trap teardown EXIT
if [ "${COLD:-0}" = 1 ]; then echo "WAL cold (COLD=1): a new segment is created and zero-filled every 16 MB"; else warm_wal; fi
psql -XAtq -h 127.0.0.1 -p "$P" -U postgres -c "create database bench"
"$CHILD" bench "postgres://postgres@127.0.0.1:$P/bench" "$ROOT/embedded-log"
echo "WAL segments after the bench: $(ls "$ROOT/primary/pg_wal" | grep -c '^[0-9A-F]\{24\}$') on the primary, $(ls "$ROOT/standby/pg_wal" | grep -c '^[0-9A-F]\{24\}$') on the standby"
teardown; trap - EXIT

promote=(); total=()
for run in 1 2 3; do
  setup
  trap teardown EXIT
  psql -XAtq -h 127.0.0.1 -p "$P" -U postgres -c "create database f"
  "$CHILD" migrate "postgres://postgres@127.0.0.1:$P/f"
  "$CHILD" "postgres://postgres@127.0.0.1:$P/f" 8 100000 load >"$ROOT/load.out" 2>/dev/null &
  LOAD=$!
  sleep 2
  acked=$(grep -c '^ack ' "$ROOT/load.out" || true)
  [ "$acked" -gt 0 ] || { echo "the load appended nothing before the kill"; exit 1; }
  PID=$(head -1 "$ROOT/primary/postmaster.pid"); KIDS=$(pgrep -P "$PID" || true)
  kill -9 "$PID" $KIDS
  # Its appends fail now and it exits; one that is still there after 30 s
  # is reported and killed (seen once: no connection left, no task running).
  for _ in $(seq 300); do kill -0 "$LOAD" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$LOAD" 2>/dev/null; then echo "note: the load process had not exited 30 s after the SIGKILL; killed it" >&2; kill -9 "$LOAD"; fi
  wait "$LOAD" || true
  # From here: promotion (the standby stops replaying and opens for writes),
  # running on one disk as a conscious decision, and the first append that
  # a new client process gets acknowledged.
  t0=$(date +%s.%N)
  (cd "$ROOT" && as_pg $BIN/pg_ctl -D "$ROOT/standby" -w promote >/dev/null)
  t1=$(date +%s.%N)
  psql -XAtq -h 127.0.0.1 -p "$S" -U postgres -c "alter system set synchronous_standby_names = ''" -c "select pg_reload_conf()" >/dev/null
  # Exits 1 unless the append was acknowledged.
  "$CHILD" "postgres://postgres@127.0.0.1:$S/f" 1 1 after >/dev/null
  t2=$(date +%s.%N)
  echo "failover run $run: $acked appends acknowledged before the SIGKILL"
  promote+=("$(python3 -c "print(round(($t1-$t0)*1000))")")
  total+=("$(python3 -c "print(round(($t2-$t0)*1000))")")
  teardown; trap - EXIT
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
printf 'failover, pg_ctl promote -w (ms): %s; median %s\n' "${promote[*]}" "$(med "${promote[@]}")"
printf 'failover, promote + first accepted append (ms): %s; median %s\n' "${total[*]}" "$(med "${total[@]}")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
