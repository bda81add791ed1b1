"""Builds the published indicator tables of a lake with DuckDB, from the same SQL files the Rust build
runs in DataFusion (queries/sql/prelude.sql, queries/indicators/*.sql, queries/sql/standardise.sql,
queries/sql/variation.sql), as a yardstick for `lms`'s own build.

usage: duckdb_indicators.py LAKE_DIR [--threads N] [--out FILE]

Follows queries/src/publish/ (build.rs, compute.rs): the prelude's views, the eleven the Rust build keeps in memory
materialised as temporary tables (`contact` stays a view); each indicator wrapped as `cells_query`
wraps it; standardised ones through standardise.sql (the residence-view ones also for every pooled
three-year window), their strata kept for variation.sql; the intervals (Fay–Feuer, Wilson, normal at
95 % and 99.8 %) computed with NumPy and SciPy from the cells, as queries/src/interval.rs does; the
two data-quality counts. Disclosure control is not applied: every cell has `suppressed = false`.
With --compare, also recomputes the funnel table in DuckDB SQL from lms's published shown cells and
compares it with lms's `funnel`.

Prints JSON: {"seconds", "cells", "variation_rows", "per_indicator": {id: seconds}, "phases": {step:
seconds} (each prelude view as `prelude.NAME`), ...}; seconds is
the wall time of the whole build (connection, reference tables, prelude, indicators, variation, data
quality), not the Python import. With --out, writes indicator_values as CSV.

DataFusion and DuckDB differ in two defaults the SQL relies on; they are set per session here, the
SQL files are not touched:
- `/` on two integers is truncating integer division in DataFusion, floating-point division in
  DuckDB: `SET integer_division = true` (prelude.sql's latest-response rule unpacks the answers of
  a response from one integer by division).
- ORDER BY … DESC puts NULLs first in DataFusion, last in DuckDB:
  `SET default_null_order = 'nulls_last_on_asc_first_on_desc'` (no file orders by a column that can
  be NULL today; kept so one that does means the same in both).
"""
import argparse
import json
import re
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"
REFERENCE = ROOT / "schemas" / "reference"

MATERIALISED = ["course_run", "home", "catchment_population", "std_weight", "std_weight_age", "evaluation_unit", "response",
                "pam_pair", "contact_cube", "catchment_strata", "unit_pam_pair"]

# Reference columns that are not text (queries/src/warehouse.rs register_reference).
REFERENCE_TYPES = {
    ("population", "year"): "INTEGER",
    ("population", "population"): "BIGINT",
    ("areas", "size_class"): "INTEGER",
    ("areas", "sami_area"): "BOOLEAN",
}
REFERENCE_TABLES = ["regions", "health_trusts", "areas", "population", "icd10_groups"]

LEVEL = "CASE WHEN hf IS NOT NULL THEN 'hf' WHEN rhf IS NOT NULL THEN 'rhf' ELSE 'national' END"

DATA_QUALITY = {
    "coding": """SELECT c.rhf, c.period, count(*) AS n FROM coding c
             LEFT JOIN areas a ON a.area = CASE WHEN c.bostedskommune = '0301' THEN c.bydel ELSE coalesce(c.bostedskommune_2024, c.bostedskommune) END
             WHERE a.hf IS NULL GROUP BY c.rhf, c.period""",
    "evaluation": """SELECT e.rhf, e.period, count(*) AS n FROM evaluation e
             LEFT JOIN (SELECT DISTINCT rhf, hf, kurs_id FROM activity) a
               ON a.rhf = e.rhf AND a.hf = e.hf AND a.kurs_id = e.kurs_id
             WHERE a.kurs_id IS NULL GROUP BY e.rhf, e.period""",
}


def statements(script):
    """The statements of a script whose statements end with a line holding only `;`, without comments."""
    out, current = [], []
    for line in script.splitlines():
        if line.strip() == ";":
            out.append("\n".join(current))
            current = []
        elif not line.lstrip().startswith("--"):
            current.append(line)
    return out


def indicator(path):
    """(id, method, sql) of an indicator file: a header of `-- key: value` lines, then the query."""
    header, body, in_header = {}, [], True
    for line in path.read_text().splitlines():
        if in_header and line.startswith("--"):
            key, _, value = line[2:].partition(":")
            header[key.strip()] = value.strip()
            continue
        in_header = False
        body.append(line)
    return header["id"], header.get("method", "cells"), header["unit"], "\n".join(body).strip()


EXTRA = ["variance", "w_max", "sd"]


def cells_query(sql, extra=()):
    """As publish/compute.rs's `cells_query_with`: the cell columns, and the numeric columns `extra` (the
    others of EXTRA as NULL, so every indicator inserts the same columns)."""
    more = "".join(f", CAST({c} AS DOUBLE) AS {c}" if c in extra else f", CAST(NULL AS DOUBLE) AS {c}" for c in EXTRA)
    return f"""SELECT CAST(year AS INT) AS year, {LEVEL} AS level, CAST(rhf AS VARCHAR) AS rhf,
                CAST(hf AS VARCHAR) AS hf, coalesce(CAST(breakdown AS VARCHAR), '') AS breakdown,
                CAST(numerator AS BIGINT) AS numerator, CAST(denominator AS DOUBLE) AS denominator,
                CAST(value AS DOUBLE) AS value, CAST(ci_low AS DOUBLE) AS ci_low, CAST(ci_high AS DOUBLE) AS ci_high{more}
         FROM (
{sql}
) cells"""


def intervals(con, units, methods):
    """The intervals of indicators.md ("Intervals"), computed here with NumPy and SciPy's χ²
    quantiles from the cells' figures (as lms does in queries/src/interval.rs): Fay–Feuer for
    standardised rates, Wilson for shares, normal for means; 95 % and 99.8 %."""
    import numpy as np
    import pyarrow as pa
    from scipy.stats import chi2

    t = con.sql("""SELECT rowid AS id, indicator, numerator, denominator, value, variance, w_max, sd
                   FROM indicator_values""").to_arrow_table()
    col = lambda name: t.column(name).to_numpy(zero_copy_only=False).astype(float)
    ind = t.column("indicator").to_pylist()
    num, den, val, var, wm, sd = (col(c) for c in ["numerator", "denominator", "value", "variance", "w_max", "sd"])
    std = np.array([methods[i] == "standardised" for i in ind])
    share = np.array([units[i] == "share" and methods[i] != "standardised" for i in ind])
    mean = np.array([units[i] == "mean" for i in ind])
    out = {"id": t.column("id")}
    with np.errstate(all="ignore"):
        for (z, lo, hi), names in [((1.959964, 0.025, 0.975), ("ci_low", "ci_high")),
                                   ((3.090232, 0.001, 0.999), ("ci99_low", "ci99_high"))]:
            low, high = np.full(len(ind), np.nan), np.full(len(ind), np.nan)
            # Fay–Feuer: y = rate/1000, v = variance/1e6.
            y, v = val / 1000.0, var / 1e6
            ok = std & ~np.isnan(val) & ~np.isnan(v) & ~np.isnan(wm) & (v + wm * wm > 0) & (y + wm > 0)
            ff_low = np.where(y > 0, v / (2 * y) * chi2.ppf(lo, 2 * y * y / v), 0.0)
            vw, yw = v + wm * wm, y + wm
            ff_high = vw / (2 * yw) * chi2.ppf(hi, 2 * yw * yw / vw)
            low, high = np.where(ok, 1000 * ff_low, low), np.where(ok, 1000 * ff_high, high)
            # Wilson.
            ok = share & ~np.isnan(den) & (den > 0) & (num >= 0) & (num <= den)
            p, z2 = num / den, z * z
            centre = (p + z2 / (2 * den)) / (1 + z2 / den)
            half = z / (1 + z2 / den) * np.sqrt(p * (1 - p) / den + z2 / (4 * den * den))
            w_low = np.where(num == 0, 0.0, np.maximum(centre - half, 0.0))
            w_high = np.where(num == den, 1.0, np.minimum(centre + half, 1.0))
            low, high = np.where(ok, w_low, low), np.where(ok, w_high, high)
            # Normal.
            ok = mean & ~np.isnan(val) & ~np.isnan(sd) & (num > 1)
            h = z * sd / np.sqrt(num)
            low, high = np.where(ok, val - h, low), np.where(ok, val + h, high)
            out[names[0]] = pa.array(low, from_pandas=True)
            out[names[1]] = pa.array(high, from_pandas=True)
    con.register("computed_intervals", pa.table(out))
    con.execute("""UPDATE indicator_values SET ci_low = c.ci_low, ci_high = c.ci_high,
                          ci99_low = c.ci99_low, ci99_high = c.ci99_high
                   FROM computed_intervals c WHERE indicator_values.rowid = c.id""")


def view(statement):
    """(name, query) of a `CREATE VIEW name AS query` statement."""
    m = re.match(r"\s*CREATE\s+VIEW\s+(\w+)\s+AS\s+(.*)\Z", statement, re.IGNORECASE | re.DOTALL)
    if not m:
        raise ValueError(f"not a CREATE VIEW: {statement[:60]}")
    return m.group(1), m.group(2)


def quote(s):
    return "'" + str(s).replace("'", "''") + "'"


def build(lake, threads):
    phases = {}
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET integer_division = true")
    con.execute("SET default_null_order = 'nulls_last_on_asc_first_on_desc'")

    # Reference tables: text but for counts, years and the two area attributes.
    for name in REFERENCE_TABLES:
        path = REFERENCE / f"{name}.csv"
        header = path.read_text().splitlines()[0].split(",")
        columns = ", ".join(
            f'CAST("{c}" AS {REFERENCE_TYPES[(name, c)]}) AS "{c}"' if (name, c) in REFERENCE_TYPES else f'"{c}"'
            for c in header)
        con.execute(f"""CREATE TEMP TABLE {name} AS SELECT {columns}
                        FROM read_csv({quote(path)}, header = true, delim = ',', quote = '"', all_varchar = true)""")
    # The lake's tables, read where they lie (as DataFusion's listing tables are).
    for name in ["activity", "coding", "evaluation"]:
        glob = str(Path(lake) / name / "**" / "*.parquet")
        con.execute(f"""CREATE VIEW {name} AS SELECT * FROM
                        read_parquet({quote(glob)}, hive_partitioning = false, union_by_name = true)""")
    phases["inputs"] = time.perf_counter() - t

    t = time.perf_counter()
    for statement in statements((QUERIES / "sql" / "prelude.sql").read_text()):
        name, select = view(statement)
        v = time.perf_counter()
        if name in MATERIALISED:
            con.execute(f"CREATE TEMP TABLE {name} AS {select}")
        else:
            con.execute(statement)
        phases[f"prelude.{name}"] = time.perf_counter() - v
    phases["prelude"] = time.perf_counter() - t

    standardise = (QUERIES / "sql" / "standardise.sql").read_text()
    per_indicator = {}
    con.execute("""CREATE TEMP TABLE indicator_values (indicator VARCHAR, year INT, period VARCHAR, level VARCHAR, rhf VARCHAR,
                   hf VARCHAR, breakdown VARCHAR, numerator BIGINT, denominator DOUBLE, value DOUBLE,
                   ci_low DOUBLE, ci_high DOUBLE, variance DOUBLE, w_max DOUBLE, sd DOUBLE,
                   ci99_low DOUBLE, ci99_high DOUBLE, suppressed BOOLEAN DEFAULT false)""")
    con.execute("""CREATE TEMP TABLE strata_all (indicator VARCHAR, year INT, period VARCHAR, level VARCHAR, rhf VARCHAR,
                   hf VARCHAR, breakdown VARCHAR, sex VARCHAR, age_group VARCHAR, d DOUBLE, n DOUBLE, w DOUBLE)""")

    def keep_strata(id_, period):
        con.execute(f"""INSERT INTO strata_all
            SELECT {quote(id_)} AS indicator, CAST(year AS INT) AS year, {period} AS period, {LEVEL} AS level,
                   CAST(rhf AS VARCHAR) AS rhf, CAST(hf AS VARCHAR) AS hf,
                   coalesce(CAST(breakdown AS VARCHAR), '') AS breakdown,
                   CAST(sex AS VARCHAR) AS sex, CAST(age_group AS VARCHAR) AS age_group,
                   CAST(d AS DOUBLE) AS d, CAST(n AS DOUBLE) AS n, CAST(w AS DOUBLE) AS w
            FROM strata""")
    columns = "indicator, year, level, rhf, hf, breakdown, numerator, denominator, value, ci_low, ci_high, " \
              + ", ".join(EXTRA)
    # Pooled windows (publish/compute.rs `windows`): middle years whose neighbours also have coding rows.
    years = {r[0] for r in con.execute("SELECT DISTINCT CAST(substr(period, 1, 4) AS INT) FROM coding").fetchall()}
    middles = sorted(y for y in years if y - 1 in years and y + 1 in years)
    units, methods, view_of = {}, {}, {}
    for path in sorted((QUERIES / "indicators").glob("*.sql")):
        id_, method, unit, sql = indicator(path)
        units[id_], methods[id_] = unit, method
        view_of[id_] = re.search(r"^-- view:\s*(\w+)", path.read_text(), re.M).group(1)
        t = time.perf_counter()
        try:
            if method == "standardised":
                con.execute(f"CREATE OR REPLACE TEMP TABLE strata AS {sql}")
                con.execute(f"INSERT INTO indicator_values ({columns}) "
                            f"SELECT {quote(id_)}, * FROM ({cells_query(standardise, ['variance', 'w_max'])})")
                keep_strata(id_, "CAST(CAST(year AS INT) AS VARCHAR)")
                if middles and view_of[id_] == "residence":
                    # publish/compute.rs `pooled_strata_query`: d and n summed over the window, the middle
                    # year's w; then the same standardisation, marked with the window's period.
                    values = ", ".join(f"({m})" for m in middles)
                    con.execute(f"""CREATE OR REPLACE TEMP TABLE single_strata AS SELECT * FROM strata""")
                    con.execute(f"""CREATE OR REPLACE TEMP TABLE strata AS
                        SELECT m.middle AS year, s.rhf, s.hf, s.breakdown, s.sex, s.age_group,
                               sum(s.d) AS d, sum(s.n) AS n, max(CASE WHEN s.year = m.middle THEN s.w END) AS w
                        FROM (VALUES {values}) AS m(middle)
                        JOIN single_strata s ON s.year >= m.middle - 1 AND s.year <= m.middle + 1
                        GROUP BY m.middle, s.rhf, s.hf, s.breakdown, s.sex, s.age_group""")
                    con.execute(f"INSERT INTO indicator_values ({columns}, period) "
                                f"SELECT {quote(id_)}, *, CAST(year - 1 AS VARCHAR) || '-' || CAST(year + 1 AS VARCHAR) "
                                f"FROM ({cells_query(standardise, ['variance', 'w_max'])})")
                    keep_strata(id_, "CAST(CAST(year AS INT) - 1 AS VARCHAR) || '-' || CAST(CAST(year AS INT) + 1 AS VARCHAR)")
            else:
                # A mean's query gives its standard deviation (`sd`), as publish/compute.rs finds it.
                names = [d[0] for d in con.execute(f"SELECT * FROM ({sql}) q LIMIT 0").description]
                extra = ["sd"] if "sd" in names else []
                con.execute(f"INSERT INTO indicator_values ({columns}) "
                            f"SELECT {quote(id_)}, * FROM ({cells_query(sql, extra)})")
        except duckdb.Error as e:
            raise SystemExit(f"indicator {id_} ({path.name}): {e}")
        per_indicator[id_] = time.perf_counter() - t

    con.execute("UPDATE indicator_values SET period = CAST(year AS VARCHAR) WHERE period IS NULL")
    t = time.perf_counter()
    intervals(con, units, methods)
    phases["intervals"] = time.perf_counter() - t

    t = time.perf_counter()
    con.execute("CREATE OR REPLACE TEMP TABLE strata AS SELECT * FROM strata_all")
    variation = con.execute((QUERIES / "sql" / "variation.sql").read_text()).fetchall()
    phases["variation"] = time.perf_counter() - t

    t = time.perf_counter()
    quality = {extract: len(con.execute(sql).fetchall()) for extract, sql in DATA_QUALITY.items()}
    phases["data_quality"] = time.perf_counter() - t
    return con, per_indicator, variation, quality, phases


def compare(con, lake):
    """Cells of lms's newest published indicator_values against DuckDB's: how many there are on each
    side, how many match on key, and how many of those differ in numerator, denominator, value or
    either interval (relative tolerance 1e-9; suppression aside: lms hides cells, DuckDB here does not)."""
    files = sorted((Path(lake) / "published" / "indicator_values").glob("*.parquet"))
    if not files:
        return {"error": "no published indicator_values in the lake"}
    con.execute(f"CREATE TEMP VIEW lms_values AS SELECT * FROM read_parquet({quote(files[-1])})")
    key = " AND ".join(f"l.{k} IS NOT DISTINCT FROM d.{k}"
                       for k in ["indicator", "year", "period", "level", "rhf", "hf", "breakdown"])
    differs = " OR ".join(
        f"(l.{c} IS NULL) <> (d.{c} IS NULL) OR abs(l.{c} - d.{c}) > 1e-9 * greatest(1, abs(d.{c}))"
        for c in ["numerator", "denominator", "value", "ci_low", "ci_high", "ci99_low", "ci99_high"])
    lms_cells, duck_cells = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ["lms_values", "indicator_values"])
    matched, differing = con.execute(f"""SELECT count(*), count(*) FILTER (WHERE NOT l.suppressed AND ({differs}))
                                         FROM lms_values l JOIN indicator_values d ON {key}""").fetchone()
    out = {"file": files[-1].name, "lms_cells": lms_cells, "duckdb_cells": duck_cells, "matched": matched,
           "differing": differing}
    units = {i: u for i, _, u, _ in map(indicator, (QUERIES / "indicators").glob("*.sql"))}
    out["funnel"] = compare_funnel(con, lake, units)
    return out


def compare_funnel(con, lake, units):
    """lms's published `funnel` against the funnel DuckDB computes here, in SQL, from the shown cells
    of lms's published indicator_values (indicators.md, "Funnel limits"): p₀, the limits, the
    winsorised φ (nearest rank ⌈p·k⌉), the χ² test, `overdispersed` and `outside`."""
    files = sorted((Path(lake) / "published" / "funnel").glob("*.parquet"))
    if not files:
        return {"error": "no published funnel in the lake"}
    shares = ", ".join(quote(i) for i, u in units.items() if u == "share")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE duck_funnel AS
        WITH shown AS (
            SELECT * FROM lms_values WHERE indicator IN ({shares}) AND NOT suppressed AND value IS NOT NULL
        ),
        nation AS (SELECT indicator, year, breakdown, value AS p0 FROM shown WHERE level = 'national'),
        units AS (
            SELECT u.indicator, u.year, u.level, u.rhf, u.hf, u.breakdown, u.denominator AS n, u.value AS p, n0.p0,
                   sqrt(n0.p0 * (1 - n0.p0) / u.denominator) AS se
            FROM shown u JOIN nation n0 USING (indicator, year, breakdown)
            WHERE u.level IN ('rhf', 'hf') AND u.denominator > 0
        ),
        z AS (
            SELECT *, CASE WHEN p0 > 0 AND p0 < 1 THEN (p - p0) / se END AS z,
                   count(*) OVER g AS k,
                   row_number() OVER (PARTITION BY indicator, year, level, breakdown ORDER BY (p - p0) / nullif(se, 0)) AS r
            FROM units WINDOW g AS (PARTITION BY indicator, year, level, breakdown)
        ),
        clip AS (
            SELECT indicator, year, level, breakdown,
                   max(CASE WHEN r = greatest(1, CAST(ceil(k * 10 / 100.0) AS INT)) THEN z END) AS lo,
                   max(CASE WHEN r = greatest(1, CAST(ceil(k * 90 / 100.0) AS INT)) THEN z END) AS hi
            FROM z GROUP BY indicator, year, level, breakdown
        ),
        phi AS (
            SELECT z.indicator, z.year, z.level, z.breakdown, max(z.k) AS k,
                   CASE WHEN max(z.k) >= 2 AND bool_and(z.z IS NOT NULL)
                        THEN sum(power(least(greatest(z.z, c.lo), c.hi), 2)) / max(z.k) END AS phi
            FROM z JOIN clip c USING (indicator, year, level, breakdown)
            GROUP BY z.indicator, z.year, z.level, z.breakdown
        ),
        limits AS (
            SELECT z.*, f.phi,
                   coalesce(f.phi * f.k > f.k - 1 + 1.644854 * sqrt(2 * (f.k - 1)), false) AS overdispersed
            FROM z JOIN phi f USING (indicator, year, level, breakdown)
        )
        SELECT indicator, year, level, rhf, hf, breakdown, n AS denominator, p AS value, p0 AS national, phi, overdispersed,
               least(greatest(p0 - 1.959964 * w * se, 0), 1) AS low95, least(greatest(p0 + 1.959964 * w * se, 0), 1) AS high95,
               least(greatest(p0 - 3.090232 * w * se, 0), 1) AS low998, least(greatest(p0 + 3.090232 * w * se, 0), 1) AS high998
        FROM (SELECT *, CASE WHEN overdispersed THEN sqrt(phi) ELSE 1 END AS w FROM limits)""")
    con.execute(f"CREATE OR REPLACE TEMP VIEW lms_funnel AS SELECT * FROM read_parquet({quote(files[-1])})")
    key = " AND ".join(f"l.{k} IS NOT DISTINCT FROM d.{k}"
                       for k in ["indicator", "year", "level", "rhf", "hf", "breakdown"])
    differs = " OR ".join(
        [f"(l.{c} IS NULL) <> (d.{c} IS NULL) OR abs(l.{c} - d.{c}) > 1e-9 * greatest(1, abs(d.{c}))"
         for c in ["denominator", "value", "national", "phi", "low95", "high95", "low998", "high998"]]
        + ["l.overdispersed <> d.overdispersed",
           """l.outside IS DISTINCT FROM CASE WHEN d.value > d.high998 THEN 'above998' WHEN d.value > d.high95 THEN 'above95'
                WHEN d.value < d.low998 THEN 'below998' WHEN d.value < d.low95 THEN 'below95' END"""])
    lms_rows, duck_rows = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ["lms_funnel", "duck_funnel"])
    matched, differing = con.execute(f"""SELECT count(*), count(*) FILTER (WHERE {differs})
                                         FROM lms_funnel l JOIN duck_funnel d ON {key}""").fetchone()
    return {"file": files[-1].name, "lms_rows": lms_rows, "duckdb_rows": duck_rows, "matched": matched,
            "differing": differing}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("lake")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="write indicator_values here as CSV")
    p.add_argument("--compare", action="store_true",
                   help="compare every cell with the lake's newest published indicator_values (lms's build)")
    args = p.parse_args()
    lake = args.lake.removeprefix("file://")
    if not (Path(lake) / "coding").is_dir():
        sys.exit(f"{lake}: no coding/ (not a lake?)")

    start = time.perf_counter()
    con, per_indicator, variation, quality, phases = build(lake, args.threads)
    seconds = time.perf_counter() - start
    cells = con.execute("SELECT count(*) FROM indicator_values").fetchone()[0]
    if args.out:
        con.execute(f"""COPY (SELECT * FROM indicator_values
                              ORDER BY indicator, year, CASE level WHEN 'national' THEN 0 WHEN 'rhf' THEN 1 ELSE 2 END,
                                       rhf NULLS FIRST, hf NULLS FIRST, breakdown)
                        TO {quote(args.out)} (HEADER, DELIMITER ',')""")
    comparison = compare(con, lake) if args.compare else None
    print(json.dumps({
        "comparison": comparison,
        "threads": args.threads,
        "seconds": round(seconds, 4),
        "cells": cells,
        "variation_rows": len(variation),
        "data_quality_rows": quality,
        "phases": {k: round(v, 4) for k, v in phases.items()},
        "per_indicator": {k: round(v, 4) for k, v in per_indicator.items()},
    }, indent=1))


if __name__ == "__main__":
    main()
