#!/usr/bin/env bash
# What the access log costs: requests per second and latency of the server with the log on and off
# (`[server] access_log`, here LMS_SERVER_ACCESS_LOG), side by side, on loopback with wrk (Debian
# package `wrk`): a cached indicator read (JSON) with 1 and with 32 connections, and a small SQL
# statement over HTTP. Then `lms audit verify` over the log the runs wrote, timed.
# Usage: bench/access-log.sh [SECONDS]   (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
work=${BENCH_DIR:-$(mktemp -d)}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
cargo build --release --quiet --bin lms
lms=${CARGO_TARGET_DIR:-target}/release/lms
export LMS_PSEUDONYM_KEY=$(python3 -c "print('42' * 32)")
if [ ! -f "$work/in/manifest.json" ]; then
  "$lms" generate --out "$work/in" --seed 7 --years 2023-2025 --scale 0.2 >/dev/null
fi
if [ ! -d "$work/lake/_log" ]; then
  "$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >/dev/null 2>&1
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk ${secs}s per row"
cat >"$work/sql.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "SELECT year, value FROM indicator_values WHERE indicator = 'participants' AND level = 'national' AND breakdown = ''"
wrk.headers["Content-Type"] = "text/plain"
EOF
run() {
  local label=$1; shift
  wrk -d"${secs}s" --latency "$@" 2>&1 | awk -v l="$label" '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {non=$0}
    END {printf "  %-34s %10s req/s  p50 %-8s p99 %-8s %s\n", l, rps, p50, p99, non}'
}
for log in false true; do
  LMS_SERVER_ACCESS_LOG=$log LMS_SERVER_LISTEN=127.0.0.1:18081 LMS_SERVER_FLIGHT_LISTEN=127.0.0.1:0 \
    "$lms" serve --no-schedule --lake "file://$work/lake" >"$work/serve-$log.log" 2>&1 &
  server=$!
  trap 'kill -INT $server 2>/dev/null || true' EXIT
  until curl -sf http://127.0.0.1:18081/readyz >/dev/null; do sleep 0.2; done
  base=http://127.0.0.1:18081
  echo "access_log = $log:"
  run "GET indicator (1 connection)" -t1 -c1 "$base/api/v1/indicators/education_contacts_rate?level=hf"
  run "GET indicator (32 connections)" -t2 -c32 "$base/api/v1/indicators/education_contacts_rate?level=hf"
  run "POST /api/v1/sql (4 connections)" -t2 -c4 -s "$work/sql.lua" "$base/api/v1/sql"
  kill -INT $server; wait $server || true
done
objects=$(find "$work/lake/_audit/log" -type f | wc -l)
bytes=$(du -sb "$work/lake/_audit" | cut -f1)
echo "the log: $objects objects, $bytes bytes"
start=$(date +%s.%N)
"$lms" audit verify --lake "file://$work/lake"
echo "verify took $(echo "$(date +%s.%N) - $start" | bc) s"
