#!/usr/bin/env bash
# Rows per second of one SQL result of about a million rows read by a client, side by side: the PostgreSQL
# protocol (psql to a pipe; psycopg 3, text and binary results), Arrow Flight SQL (ADBC's Python driver, an Arrow
# table) and CSV over HTTP (POST /api/v1/sql, parsed by pyarrow into an Arrow table), one client at
# a time against `lms serve` on loopback, the server and client sharing the machine's cores.
# Usage: bench/wire-formats.sh [LAKE_URL] [RUNS]   (default: a fresh scale-0.1 lake of 2023-2024, 3)
# Needs psql, and python3 with psycopg[binary], adbc-driver-flightsql, pyarrow and requests.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${2:-3}
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
# The profiling build (everything at opt-level 3): the release profile leaves pgwire, arrow-pg,
# tonic and the CSV writer at opt-level 0, which would compare unequally optimised code.
profile=${PROFILE:-profiling}
cargo build --profile "$profile" --quiet --bin lms
lms=${CARGO_TARGET_DIR:-target}/$profile/lms
export LMS_PSEUDONYM_KEY=$(python3 -c "print('42' * 32)")
lake=${1:-}
if [ -z "$lake" ]; then
  rm -rf "$work/in" "$work/lake" && mkdir -p "$work/lake"
  "$lms" generate --out "$work/in" --seed 7 --years 2023-2024 --scale 0.1 >/dev/null
  "$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >/dev/null 2>&1
  lake="file://$work/lake"
fi
# No tokens: loopback only, every caller an analyst. The row limit is raised for the 1 M rows.
rm -f "$work/serve.out"
LMS_SERVER_LISTEN=127.0.0.1:0 LMS_SERVER_FLIGHT_LISTEN=127.0.0.1:0 LMS_POSTGRES_LISTEN=127.0.0.1:0 \
  LMS_SERVER_SQL_ROW_LIMIT=2000000 "$lms" serve --no-schedule --lake "$lake" >"$work/serve.out" 2>"$work/serve.log" &
server=$!
trap 'kill -INT $server 2>/dev/null || true' EXIT
until [ -s "$work/serve.out" ]; do sleep 0.2; done
line=$(head -1 "$work/serve.out")
http=$(echo "$line" | sed -E 's#.*http://([^/]+)/.*#\1#')
flight=$(echo "$line" | sed -E 's#.*grpc://([^ ,]+).*#\1#')
pg=$(echo "$line" | sed -E 's#.*postgresql://([^/]+)/.*#\1#')
until curl -sf "http://$http/readyz" >/dev/null; do sleep 0.2; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); lms: the $profile build; lake: $lake"
python3 bench/wire_formats.py "$http" "$flight" "$pg" "$runs"
