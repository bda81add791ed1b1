#!/usr/bin/env bash
# The published-table build on Ballista against the local build, on the same lake version.
# Generates the demo deliveries at SCALE (default 1) for 2020-2025, loads them with `lms etl run`,
# then times `lms etl publish --full` (local) and `lms-ballista build` against a scheduler and one
# executor started here as separate processes, each run twice; the digests must be equal.
# Usage: bench/publish-ballista.sh [SCALE]   (PROFILE=profiling etc. for another build than `release`)
# Work files go to $BENCH_DIR (default a temp dir); an existing $BENCH_DIR/in of the same scale is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
work=${BENCH_DIR:-$(mktemp -d)}
profile=${PROFILE:-release}
cargo build --profile "$profile" --quiet --bin lms
cargo build --profile "$profile" --quiet -p lms-ballista
target=${CARGO_TARGET_DIR:-target}/$profile
lms=$target/lms
ballista=$target/lms-ballista
echo "lms, lms-ballista: the $profile build; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
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

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sp=$(port); fp=$(port); gp=$(port)
mkdir -p "$work/ballista"
"$ballista" scheduler --bind "127.0.0.1:$sp" 2>"$work/ballista/scheduler.log" &
pids=$!
"$ballista" executor --scheduler "127.0.0.1:$sp" --port "$fp" --grpc-port "$gp" \
  --work-dir "$work/ballista" 2>"$work/ballista/executor.log" &
pids="$pids $!"
trap 'kill $pids 2>/dev/null || true' EXIT
for p in $sp $fp $gp; do
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.2; done
done

for i in 1 2; do
  /usr/bin/time -o "$work/time" -f "%e %M" "$lms" etl publish --full --lake "$lake" >/dev/null 2>"$work/publish.log"
  read -r secs kib < "$work/time"
  digest=$(grep 'indicators built' "$work/publish.log" | grep -oE 'digest=sha256:[0-9a-f]+' | cut -d= -f2)
  echo "local:    lms etl publish --full   $secs s (peak RSS $((kib / 1024)) MiB)  $digest"
  /usr/bin/time -o "$work/time" -f "%e %M" "$ballista" build --scheduler "df://127.0.0.1:$sp" --lake "$lake" \
    >"$work/build.json" 2>"$work/build.log"
  read -r secs kib < "$work/time"
  remote=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$work/build.json")
  echo "ballista: lms-ballista build       $secs s (client peak RSS $((kib / 1024)) MiB)  $remote"
  [ "$digest" = "$remote" ] || { echo "digests differ"; exit 1; }
done
