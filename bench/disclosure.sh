#!/usr/bin/env bash
# The cost of disclosure control that holds against differencing, side by side in one run: a full
# publish (`lms etl publish --full`, which runs disclosure control and its protection check inside
# it), the part of it spent in disclosure control (from its debug log line), and `lms audit
# disclosure` (the check of the committed publication from what is served, every count solved
# exactly), each three times on the same lake.
# Generates the demo deliveries at SCALE (default 1) for 2020-2025 and loads them with `lms etl run`.
# Usage: bench/disclosure.sh [SCALE]   (PROFILE=profiling etc. for another build than `release`)
# Work files go to $BENCH_DIR (default a temp dir); an existing $BENCH_DIR/in of the same scale is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
work=${BENCH_DIR:-$(mktemp -d)}
profile=${PROFILE:-release}
cargo build --profile "$profile" --quiet --bin lms
lms=${CARGO_TARGET_DIR:-target}/$profile/lms
echo "lms: the $profile build; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
export LMS_PSEUDONYM_KEY=$(printf '42%.0s' $(seq 32))
if [ ! -f "$work/in/manifest.json" ] || ! grep -q "\"scale\": $scale\b" "$work/in/manifest.json"; then
  rm -rf "$work/in"
  echo "generating scale $scale, years 2020-2025 into $work/in"
  "$lms" generate --out "$work/in" --seed 7 --years 2020-2025 --scale "$scale" >/dev/null
fi
lake="file://$work/lake"
if [ ! -f "$work/lake.loaded-$scale" ]; then
  rm -rf "$work/lake" && mkdir -p "$work/lake"
  "$lms" etl run --incoming "$work/in" --lake "$lake" >/dev/null 2>"$work/load.log"
  touch "$work/lake.loaded-$scale"
fi
rows=$("$lms" query --lake "$lake" --format csv "SELECT sum(rows_loaded) FROM data_quality" 2>/dev/null | tail -1)
echo "lake: $rows rows loaded"

printf '%-4s %14s %22s %18s\n' run "publish --full" "of it: disclosure" "audit disclosure"
for i in 1 2 3; do
  /usr/bin/time -o "$work/time" -f "%e" env LMS_LOG=info,lms_queries::publish=debug \
    "$lms" etl publish --full --lake "$lake" >/dev/null 2>"$work/publish.log"
  publish=$(cat "$work/time")
  control=$(grep 'disclosure control' "$work/publish.log" | grep -oE 'seconds=[0-9.]+' | cut -d= -f2)
  /usr/bin/time -o "$work/time" -f "%e" "$lms" audit disclosure --lake "$lake" >"$work/audit.txt" 2>"$work/audit.log"
  audit=$(cat "$work/time")
  printf '%-4s %12s s %20.2f s %16s s\n' "$i" "$publish" "$control" "$audit"
done
grep 'indicators built' "$work/publish.log" | grep -oE '(cells|hidden|checked)=[0-9]+' | xargs echo "publication:"
tail -1 "$work/audit.txt"
