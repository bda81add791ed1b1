"""Converts the same generated deliveries to Parquet with DuckDB, one file per region and extract,
in each region's dialect. Used by bench/etl-vs-duckdb.sh; prints elapsed seconds and rows written.

usage: duckdb_convert.py INCOMING OUT THREADS

DuckDB reads UTF-8, UTF-16 and Latin-1 without extensions; Helse Vest's Windows-1252 files (en dash,
curly quotes in 0x80-0x9F) are not Latin-1, so they are transcoded to UTF-8 beside the others before
the clock starts (the warehouse decodes Windows-1252 inside its timed run)."""
import json
import sys
import time
from pathlib import Path

import duckdb

incoming, out, threads = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
manifest = json.loads((incoming / "manifest.json").read_text())
# The files the warehouse loads: not rejected whole, not superseded by a _v2.
files = [f["path"] for f in manifest["files"] if not f["rejected"] and not f["superseded_by"]]
hv_utf8 = out / "hv-utf8"
hv_utf8.mkdir(parents=True, exist_ok=True)
for p in files:
    if p.startswith("HV/"):
        (hv_utf8 / Path(p).name).write_text((incoming / p).read_bytes().decode("cp1252"), encoding="utf-8")
dialects = {
    "HSO": "delim=',', header=true, dateformat='%Y-%m-%d'",
    "HV": "delim=';', header=true, dateformat='%d.%m.%Y', decimal_separator=','",
    "HN": "delim=';', header=true, dateformat='%d.%m.%Y', decimal_separator=','",
}
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
start = time.perf_counter()
rows = 0
for rhf in ["HSO", "HV", "HMN", "HN"]:
    for extract in ["activity", "coding", "evaluation"]:
        group = [str(hv_utf8 / Path(p).name) if rhf == "HV" else str(incoming / p)
                 for p in files if p.startswith(f"{rhf}/{rhf}_{extract}_")]
        if not group:
            continue
        target = out / f"{extract}_{rhf}.parquet"
        if rhf == "HMN":
            source = f"read_json({group!r}, format='newline_delimited', ignore_errors=true, union_by_name=true)"
        else:
            source = f"read_csv({group!r}, {dialects[rhf]}, ignore_errors=true, union_by_name=true)"
        con.execute(f"COPY (SELECT * FROM {source}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        rows += con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
elapsed = time.perf_counter() - start
print(json.dumps({"threads": threads, "seconds": round(elapsed, 2), "rows": rows}))
