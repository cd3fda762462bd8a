#!/bin/bash
# The CPU of each process under `sse-live` (Benchmarks/README.md, "Stop 20"):
# `chronik serve` on a fresh log, 100 SSE subscribers at the head drained by
# one Python process, wrk with 64 connections appending one event per POST
# for 8 s; prints wrk's figures and CPU, the server's and the subscribers'
# CPU ticks (100 per second) over the load. PERF=1 adds a `perf stat` count
# of the server's writev, read and fdatasync calls over 5 s; RECORD=FILE a
# `perf record -g` of the server over 5 s of the load.
#
#   bash Benchmarks/scripts/sse-live-cpu.sh .build/release/chronik [serve options, e.g. --live-pace 0]
set -u
BIN=$1; shift
DIR=${DIR:-/tmp/chronik-sse-live-cpu}
PORT=${PORT:-7302}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$DIR" "$DIR.keys"
"$BIN" serve --log "$DIR" --listen 127.0.0.1:$PORT "$@" > /dev/null 2>&1 &
SP=$!
sleep 2
python3 -c "
import selectors,socket,sys
sel=selectors.DefaultSelector()
for _ in range(100):
 s=socket.create_connection(('127.0.0.1',$PORT))
 s.sendall(b'GET /subscribe?from=end HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
 sel.register(s,selectors.EVENT_READ)
while True:
 for k,_ in sel.select():
  if not k.fileobj.recv(1<<20): sys.exit(0)
" &
PP=$!
sleep 1
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
s0=$(cpu $SP); p0=$(cpu $PP)
if [ -n "${PERF:-}" ]; then
  (perf stat -e syscalls:sys_enter_writev,syscalls:sys_enter_fdatasync,syscalls:sys_enter_read -p $SP -- sleep 5 2>&1 | grep -E "writev|fdatasync|read" &)
fi
if [ -n "${RECORD:-}" ]; then (sleep 1; perf record -F 1999 -g -p $SP -o "$RECORD" -- sleep 5 >/dev/null 2>&1) & fi
BATCH=1 RUN=9 /usr/bin/time -f "wrk cpu %U+%S s" wrk -t2 -c64 -d8s -s "$HERE/http-append.lua" http://127.0.0.1:$PORT 2>&1 | grep -E "Requests/sec|wrk cpu|WRKJSON"
s1=$(cpu $SP); p1=$(cpu $PP)
echo "server $((s1 - s0)) ticks, subscribers $((p1 - p0)) ticks"
kill $PP $SP
wait 2>/dev/null
rm -rf "$DIR" "$DIR.keys"
