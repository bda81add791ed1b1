#!/usr/bin/env bash
# Times the build of the published tables (every indicator, variation, data quality, funnel) with
# `lms etl publish --full` next to DuckDB running the same SQL files on the same Parquet lake
# (bench/duckdb_indicators.py), and an ETL pass that loads one new monthly delivery.
# Usage: bench/indicators-vs-duckdb.sh [SCALE] [YEARS]     (default: 10 2024; needs python3 with duckdb)
# PROFILE=dist measures the deployment build (fat LTO; ~22 min to build cold on 2 cores) instead of
# the profiling build (everything at opt-level 3).
# Work files go to $BENCH_DIR (default a temp dir); an existing $BENCH_DIR/in of the same scale is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
years=${2:-2024}
work=${BENCH_DIR:-$(mktemp -d)}
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
profile=${PROFILE:-profiling}
cargo build --profile "$profile" --quiet --bin lms
lms=${CARGO_TARGET_DIR:-target}/$profile/lms
echo "lms: the $profile build"
export LMS_PSEUDONYM_KEY=$(python3 -c "print('42' * 32)")
if [ ! -f "$work/in/manifest.json" ] || ! grep -q "\"scale\": $scale" "$work/in/manifest.json"; then
  rm -rf "$work/in"
  echo "generating scale $scale, years $years into $work/in"
  "$lms" generate --out "$work/in" --seed 7 --years "$years" --scale "$scale" >/dev/null
fi
# Hold back the last coding delivery of Helse Sør-Øst: the monthly delivery of the last step.
last=$(ls "$work"/in/HSO/HSO_coding_*.csv | sort | tail -1)
mkdir -p "$work/held" && mv "$last" "$work/held/"
rm -rf "$work/lake" "$work/digests" && mkdir -p "$work/lake"
/usr/bin/time -f "  first load (ETL + build): %e s, peak %M KiB" "$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >/dev/null 2>"$work/etl.log"
rows=$("$lms" query --lake "file://$work/lake" --format csv \
  "SELECT (SELECT count(*) FROM activity) + (SELECT count(*) FROM coding) + (SELECT count(*) FROM evaluation) AS n" 2>/dev/null | tail -1)
echo "lake: $rows rows ($(du -sh "$work/lake" | cut -f1)) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for cores in 1 2; do
  cpus=$([ "$cores" = 1 ] && echo 0 || echo 0-1)
  for run in 1 2 3; do
    /usr/bin/time -o "$work/time" -f "%e %M" taskset -c "$cpus" "$lms" etl publish --full --lake "file://$work/lake" >/dev/null 2>"$work/publish.log"
    read -r secs kib < "$work/time"
    # Every republish of the same lake, on one core or two, must publish the same figures.
    "$lms" status --lake "file://$work/lake" | awk '/published tables/ {print $3}' >> "$work/digests"
    /usr/bin/time -o "$work/time" -f "%e %M" taskset -c "$cpus" python3 bench/duckdb_indicators.py "$work/lake" --threads "$cores" --compare > "$work/duck.json"
    read -r dsecs dkib < "$work/time"
    python3 - "$cores" "$run" "$secs" "$kib" "$work/duck.json" "$dsecs" "$dkib" <<'PY'
import json, sys
cores, run, secs, kib, duck, dsecs, dkib = sys.argv[1:]
d = json.load(open(duck))
print(f"  {cores} core(s), run {run}: lms etl publish {float(secs):.2f} s (peak {int(kib)/1024:.0f} MiB); "
      f"DuckDB {d['seconds']:.2f} s inside DuckDB ({float(dsecs):.2f} s with Python start, peak {int(dkib)/1024:.0f} MiB), "
      f"{d['cells']} cells; ratio lms/DuckDB {float(secs)/d['seconds']:.2f}")
c = d["comparison"]
if c.get("differing") != 0 or c.get("matched") != c.get("lms_cells") or c.get("lms_cells") != c.get("duckdb_cells"):
    print(f"    VALUES DIFFER between lms and DuckDB: {c}")
elif run == "1":
    print(f"    lms and DuckDB agree on all {c['matched']} cells (numerator, denominator, value, both intervals)")
f = c.get("funnel", {})
if f.get("differing") != 0 or f.get("matched") != f.get("lms_rows") or f.get("lms_rows") != f.get("duckdb_rows"):
    print(f"    FUNNELS DIFFER between lms and DuckDB: {f}")
elif run == "1":
    print(f"    lms's funnel and DuckDB's agree on all {f['matched']} rows (limits, phi, overdispersed, outside)")
PY
  done
done
digests=$(sort -u "$work/digests" | wc -l)
if [ "$digests" = 1 ]; then
  echo "  all $(wc -l < "$work/digests") publications have the same content digest: $(head -1 "$work/digests")"
else
  echo "  PUBLICATIONS DIFFER: $digests distinct digests over $(wc -l < "$work/digests") republishes"
fi
# A monthly delivery arrives: one pass loads it and rebuilds every published table.
mv "$work/held/$(basename "$last")" "$work/in/HSO/"
/usr/bin/time -o "$work/time" -f "%e %M" "$lms" etl run --incoming "$work/in" --lake "file://$work/lake" >/dev/null 2>"$work/etl.log"
read -r secs kib < "$work/time"
echo "  new monthly delivery $(basename "$last"): etl run (load + publish) $secs s, peak $((kib / 1024)) MiB"
