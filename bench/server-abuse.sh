#!/usr/bin/env bash
# The value endpoints under abuse, side by side in one run (wrk, Debian package `wrk`): requests per
# second and latency percentiles of an indicator JSON query and /metrics on a quiet server, then
# with 200 idle connections held open (each sends half a request head and is reopened when the
# server closes it) and an analyst's slow SQL running without pause (each statement ends at the
# SQL deadline).
# Usage: BENCH_DIR=D bench/server-abuse.sh [SECONDS]   (D/lake: a lake with a publication, e.g.
# from bench/disclosure.sh; default 15 s per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
work=${BENCH_DIR:?BENCH_DIR with a lake in BENCH_DIR/lake}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
cargo build --release --quiet --bin lms
lms=${CARGO_TARGET_DIR:-target}/release/lms
export LMS_PSEUDONYM_KEY=$(python3 -c "print('42' * 32)")
LMS_SERVER_LISTEN=127.0.0.1:18081 LMS_SERVER_FLIGHT_LISTEN=127.0.0.1:0 LMS_SERVER_HEADER_READ_TIMEOUT_SECS=10 \
  "$lms" serve --no-schedule --lake "file://$work/lake" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:18081/readyz >/dev/null; do sleep 0.2; done
base=http://127.0.0.1:18081
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run() {
  local label=$1; shift
  wrk -t2 -c32 -d"${secs}s" --latency "$@" 2>&1 | awk -v l="$label" '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {non=$0}
    END {printf "  %-40s %10s req/s  p50 %-8s p99 %-8s %s\n", l, rps, p50, p99, non}'
}
measure() {
  run "GET /api/v1/indicators/{id}?level=hf" "$base/api/v1/indicators/education_contacts_rate?level=hf"
  run "GET /metrics" "$base/metrics"
}
echo "quiet:"
measure
# 200 idle connections, reopened whenever the server closes one.
python3 - "$work/stop" <<'EOF' &
import os, socket, sys, time
stop, conns = sys.argv[1], []
def open_one():
    s = socket.create_connection(("127.0.0.1", 18081))
    s.sendall(b"GET /api/v1/legend HTTP/1.1\r\nHost: x\r\n")  # never finished
    s.setblocking(False)
    return s
conns = [open_one() for _ in range(200)]
reopened = 0
while not os.path.exists(stop):
    time.sleep(0.2)
    for i, s in enumerate(conns):
        try:
            if s.recv(1) == b"":
                raise ConnectionError
        except BlockingIOError:
            continue
        except OSError:
            pass
        s.close()
        conns[i] = open_one()
        reopened += 1
print(f"  (idle connections reopened after the server closed them: {reopened})")
EOF
idle=$!
# An analyst's slow statement, one after another.
(
  while [ ! -f "$work/stop" ]; do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST --data 'SELECT count(*) FROM range(10000000000)' "$base/api/v1/sql" >>"$work/slow.log"
  done
) &
slow=$!
sleep 2
echo "200 idle connections and a slow SQL statement running:"
measure
touch "$work/stop"
wait $idle
kill $slow 2>/dev/null || true
echo "  (slow statements ended with: $(sort "$work/slow.log" | uniq -c | xargs))"
rm -f "$work/stop" "$work/slow.log"
