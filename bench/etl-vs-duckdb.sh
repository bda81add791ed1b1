#!/usr/bin/env bash
# Times `lms etl run` on generated deliveries next to DuckDB converting the same files to Parquet.
# Usage: bench/etl-vs-duckdb.sh [SCALE] [YEARS]     (default: 10 2024; needs python3 with duckdb)
# Reports rows/s, MB/s and peak memory of both; for lms the whole run and its load (the run less the
# rebuild of the published tables, which DuckDB's conversion has no counterpart of). Work files go to
# $BENCH_DIR (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
years=${2:-2024}
work=${BENCH_DIR:-$(mktemp -d)}
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
cargo build --profile profiling --quiet
lms=${CARGO_TARGET_DIR:-target}/profiling/lms
rm -rf "$work/lake" "$work/duck"
if [ ! -f "$work/in/manifest.json" ] || ! grep -q "\"scale\": $scale" "$work/in/manifest.json"; then
  rm -rf "$work/in"
  echo "generating scale $scale, years $years into $work/in"
  /usr/bin/time -f "  generate: %e s, peak %M KiB" "$lms" generate --out "$work/in" --seed 7 --years "$years" --scale "$scale" >/dev/null
fi
bytes=$(du -cb "$work"/in/*/* | tail -1 | cut -f1)
rows=$(python3 -c "import json,sys; m=json.load(open('$work/in/manifest.json')); print(sum(f['rows'] for f in m['files'] if not f['rejected']))")
echo "input: $rows rows, $((bytes / 1024 / 1024)) MiB"
mkdir -p "$work/lake"
# Both sides read from the page cache: otherwise the first timed run (lms) reads from disk alone.
cat "$work"/in/*/* > /dev/null
export LMS_PSEUDONYM_KEY=$(python3 -c "print('42' * 32)")
# Each measurement twice: this VM's timings vary by a few per cent from run to run.
for cores in 1 2; do
  cpus=$([ "$cores" = 1 ] && echo 0 || echo 0-1)
  for round in 1 2; do
    rm -rf "$work/lake" && mkdir -p "$work/lake"
    /usr/bin/time -o "$work/time" -f "%e %M" taskset -c "$cpus" "$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >/dev/null 2>"$work/etl.log"
    read -r secs kib < "$work/time"
    # The run ends by rebuilding the published tables (the indicators issue); its log says how long
    # that took. The load is the rest: fetch, check, pseudonymise, write, commit.
    publish=$(sed 's/\x1b\[[0-9;]*m//g' "$work/etl.log" | grep -o 'published tables built.*seconds=[0-9.]*' | grep -o '[0-9.]*$')
    python3 -c "load = $secs - $publish; print(f'  lms etl run, {$cores} core(s): {$secs} s in all, peak {$kib/1024:.0f} MiB; load to the commit {load:.2f} s ({$rows/load:,.0f} rows/s, {$bytes/1048576/load:.1f} MiB/s), then publishing {$publish:.2f} s')"
    rm -rf "$work/duck"
    /usr/bin/time -o "$work/time" -f "%e %M" taskset -c "$cpus" python3 bench/duckdb_convert.py "$work/in" "$work/duck" "$cores" > "$work/duck.json"
    read -r secs kib < "$work/time"
    python3 -c "import json; d=json.load(open('$work/duck.json')); print(f'  DuckDB CSV/JSON->Parquet, {$cores} thread(s): {d[\"seconds\"]} s inside DuckDB ({$secs} s with Python start), {$rows/d[\"seconds\"]:,.0f} rows/s, {$bytes/1048576/d[\"seconds\"]:.1f} MiB/s, peak {$kib/1024:.0f} MiB, {d[\"rows\"]} rows written')"
  done
done
