#!/usr/bin/env bash
# Publishing after one new month as the lake grows. One lake is grown to 1, 3 and 6 years of demo
# data at SCALE (default 10: about ten times the national volume). At each size the last month of
# the newest years loaded is held back, then loaded by `lms etl run`. That pass publishes
# incrementally: only the year of the month is rebuilt. Then `lms etl publish --full` rebuilds
# every year of the same lake, which is what every pass did before.
# Usage: bench/publish-growth.sh [SCALE]    (PROFILE=release etc. for another build than `profiling`)
# Work files go to $BENCH_DIR (default a temp dir); an existing $BENCH_DIR/in of the same scale is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
work=${BENCH_DIR:-$(mktemp -d)}
profile=${PROFILE:-profiling}
cargo build --profile "$profile" --quiet --bin lms
lms=${CARGO_TARGET_DIR:-target}/$profile/lms
echo "lms: the $profile build; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
export LMS_PSEUDONYM_KEY=$(printf '42%.0s' $(seq 32))
if [ ! -f "$work/in/manifest.json" ] || ! grep -q "\"scale\": $scale" "$work/in/manifest.json"; then
  rm -rf "$work/in"
  echo "generating scale $scale, years 2020-2025 into $work/in"
  "$lms" generate --out "$work/in" --seed 7 --years 2020-2025 --scale "$scale" >/dev/null
fi
rm -rf "$work/lake" "$work/staged" && mkdir -p "$work/lake"
for r in HSO HV HMN HN; do mkdir -p "$work/staged/$r"; done
lake="file://$work/lake"

# Links the deliveries of the periods whose YYYY-MM matches the regular expression $1 into the
# sources' directories (files whose names carry no period go with the first call).
stage() {
  for f in "$work"/in/{HSO,HV,HMN,HN}/*; do
    name=$(basename "$f")
    period=$(echo "$name" | grep -oE '_[0-9]{4}-[0-9]{2}' | head -1 | tr -d _ || true)
    if { [ -z "$period" ] && [ -z "${staged_once:-}" ]; } || { [ -n "$period" ] && [[ $period =~ $1 ]]; }; then
      ln -f "$f" "$work/staged/$(basename "$(dirname "$f")")/$name"
    fi
  done
  staged_once=1
}

# `lms etl run`, wall time and the build's own time from the log.
run() {
  /usr/bin/time -o "$work/time" -f "%e %M" "$lms" etl "$@" --lake "$lake" >/dev/null 2>"$work/log"
  read -r secs kib < "$work/time"
  build=$(grep 'published tables built' "$work/log" | grep -oE 'seconds=[0-9.]+' | tail -1 | cut -d= -f2)
  rebuilt=$(grep 'indicators built' "$work/log" | grep -oE 'rebuilt_years=[0-9,a-z]+' | tail -1 | cut -d= -f2)
  rebuilt="contacts $rebuilt, evaluations $(grep 'indicators built' "$work/log" | grep -oE 'evaluation_years=[0-9,a-z]+' | tail -1 | cut -d= -f2)"
}

# Each size: load everything but the last month, then the month (incremental), then a full rebuild.
for step in "2025-(0[1-9]|1[01]):2025-12" "2023-[0-9]{2}|2024-(0[1-9]|1[01]):2024-12" \
            "202[01]-[0-9]{2}|2022-(0[1-9]|1[01]):2022-12"; do
  IFS=: read -r bulk month <<< "$step"
  stage "^($bulk)$"
  run run --incoming "$work/staged"
  echo "loaded up to the held-back month $month: $secs s (publishing $build s)"
  years=$("$lms" query --lake "$lake" --format csv \
    "SELECT count(DISTINCT substr(period, 1, 4)) FROM data_quality WHERE extract = 'coding' AND delivery IS NOT NULL" 2>/dev/null | tail -1)
  rows=$("$lms" query --lake "$lake" --format csv \
    "SELECT sum(rows_loaded) FROM data_quality" 2>/dev/null | tail -1)
  stage "^$month$"
  run run --incoming "$work/staged"
  echo "  $years years, $rows rows: + $month by lms etl run: $secs s, peak $((kib / 1024)) MiB; publishing $build s (rebuilt years: $rebuilt)"
  for i in 1 2; do
    run publish --full
    echo "    lms etl publish --full, run $i: $secs s, peak $((kib / 1024)) MiB; publishing $build s (rebuilt years: $rebuilt)"
  done
  run publish
  echo "    lms etl publish (nothing new): $secs s; publishing $build s (rebuilt years: $rebuilt)"
done
echo "lake: $(du -sh "$work/lake" | cut -f1) in $work"
