#!/usr/bin/env bash
# Load test of the server on loopback with wrk (Debian package `wrk`): requests per second and
# latency percentiles for /metrics, an indicator JSON query and a cached If-None-Match request,
# first on an idle server, then while ETL passes load: first the held-back delivery into the served
# lake (a new version the server swaps in), then full loads of every delivery into a scratch lake,
# one after another, until the measurements end (the ETL competes for the same two cores).
# Usage: bench/server-load.sh [SCALE] [YEARS] [SECONDS]   (default: 1 2020-2025 20)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
years=${2:-2020-2025}
secs=${3:-20}
work=${BENCH_DIR:-$(mktemp -d)}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
cargo build --profile profiling --quiet
lms=${CARGO_TARGET_DIR:-target}/profiling/lms
export LMS_PSEUDONYM_KEY=$(python3 -c "print('42' * 32)")
if [ ! -f "$work/in/manifest.json" ] || ! grep -q "\"scale\": $scale" "$work/in/manifest.json"; then
  rm -rf "$work/in"
  "$lms" generate --out "$work/in" --seed 7 --years "$years" --scale "$scale" >/dev/null
fi
# Hold back one region's last coding delivery, to load while the server is under load.
last=$(ls "$work"/in/HSO/HSO_coding_*.csv | sort | tail -1)
mkdir -p "$work/held" && mv "$last" "$work/held/"
rm -rf "$work/lake" && mkdir -p "$work/lake"
"$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >/dev/null 2>&1
LMS_SERVER_LISTEN=127.0.0.1:18080 LMS_SERVER_FLIGHT_LISTEN=127.0.0.1:0 "$lms" serve --no-schedule --lake "file://$work/lake" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:18080/readyz >/dev/null; do sleep 0.2; done
base=http://127.0.0.1:18080
etag=$(curl -sI "$base/api/v1/indicators/education_contacts_rate?level=hf" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); lake: scale $scale, years $years"
run() {
  local label=$1; shift
  wrk -t2 -c32 -d"${secs}s" --latency "$@" 2>&1 | awk -v l="$label" '
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {non=$0}
    END {printf "  %-44s %10s req/s  p50 %-8s p99 %-8s %s\n", l, rps, p50, p99, non}'
}
for phase in idle loading; do
  if [ "$phase" = loading ]; then
    mv "$work/held/$(basename "$last")" "$work/in/HSO/"
    (
      "$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >"$work/etl.log" 2>&1
      n=1
      while [ ! -f "$work/stop" ]; do
        rm -rf "$work/scratch" && mkdir -p "$work/scratch"
        "$lms" etl run --incoming "$work/in" --lake "file://$work/scratch" >>"$work/etl.log" 2>&1 && n=$((n + 1))
      done
      echo "$n ETL passes ran during the load" >>"$work/etl.log"
    ) &
    etl=$!
    sleep 1
  fi
  echo "$phase:"
  run "GET /metrics" "$base/metrics"
  run "GET /api/v1/indicators/{id}?level=hf" "$base/api/v1/indicators/education_contacts_rate?level=hf"
  run "GET /api/v1/indicators/{id} (If-None-Match)" -H "If-None-Match: $etag" "$base/api/v1/indicators/education_contacts_rate?level=hf"
  if [ "$phase" = loading ]; then
    touch "$work/stop"
    wait $etl
    echo "  ($(tail -1 "$work/etl.log"); the served lake is at version $(curl -s "$base/readyz" | sed 's/.*"version":\([0-9]*\).*/\1/'))"
    rm -f "$work/stop"
  fi
done
