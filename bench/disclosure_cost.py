"""The cost of disclosure control that holds against differencing, read from two publications of
the same deliveries: one built before (second edition: rounds, reasons primary/complement/secondary)
and one after (third edition: the protection check; finer reasons in the warehouse-only table
`disclosure`). Prints, per indicator and reason, the cells hidden before and after, and checks that
every cell shown in both has the same figures.

Usage: python3 bench/disclosure_cost.py BEFORE_LAKE_DIR AFTER_LAKE_DIR  (needs duckdb)
"""
import glob
import sys

import duckdb


def newest(lake, table):
    files = sorted(glob.glob(f"{lake}/published/{table}/*.parquet"))
    if not files:
        sys.exit(f"{lake}: no published {table}")
    return files[-1]


before, after = sys.argv[1], sys.argv[2]
db = duckdb.connect()
db.execute(f"CREATE VIEW b AS SELECT * FROM '{newest(before, 'indicator_values')}'")
db.execute(f"CREATE VIEW a AS SELECT * FROM '{newest(after, 'indicator_values')}'")
db.execute(f"CREATE VIEW d AS SELECT * FROM '{newest(after, 'disclosure')}'")
key = "indicator, period, level, coalesce(rhf, '') AS rhf, coalesce(hf, '') AS hf, breakdown"
join = "USING (indicator, period, level, rhf, hf, breakdown)"

cells, = db.execute("SELECT count(*) FROM a").fetchone()
cells_b, = db.execute("SELECT count(*) FROM b").fetchone()
assert cells == cells_b, f"{cells} cells after, {cells_b} before"
hidden_b, = db.execute("SELECT count(*) FROM b WHERE suppressed").fetchone()
hidden_a, = db.execute("SELECT count(*) FROM a WHERE suppressed").fetchone()
print(f"cells: {cells}; hidden before {hidden_b} ({100 * hidden_b / cells:.1f} %), "
      f"after {hidden_a} ({100 * hidden_a / cells:.1f} %); shown after {cells - hidden_a} ({100 * (cells - hidden_a) / cells:.1f} %)")

# Every cell shown in both: the same figures.
differ, = db.execute(f"""
    SELECT count(*) FROM (SELECT {key}, numerator, denominator, value, ci_low, ci_high FROM b WHERE NOT suppressed) x
    JOIN (SELECT {key}, numerator, denominator, value, ci_low, ci_high FROM a WHERE NOT suppressed) y {join}
    WHERE x.numerator IS DISTINCT FROM y.numerator OR x.denominator IS DISTINCT FROM y.denominator
       OR x.value IS DISTINCT FROM y.value OR x.ci_low IS DISTINCT FROM y.ci_low OR x.ci_high IS DISTINCT FROM y.ci_high
""").fetchone()
both, = db.execute(f"""
    SELECT count(*) FROM (SELECT {key} FROM b WHERE NOT suppressed) x JOIN (SELECT {key} FROM a WHERE NOT suppressed) y {join}
""").fetchone()
newly_shown, = db.execute(f"""
    SELECT count(*) FROM (SELECT {key} FROM b WHERE suppressed) x JOIN (SELECT {key} FROM a WHERE NOT suppressed) y {join}
""").fetchone()
print(f"shown in both: {both}, with other figures: {differ}; hidden before and shown after: {newly_shown}")

print("\n| indicator | cells | hidden before: primary / complement / secondary | after: primary / complement / "
      "small denominator / shared / secondary | before | after |")
print("|---|---:|---|---|---:|---:|")
rows = db.execute(f"""
    WITH x AS (SELECT {key}, suppression_reason AS r FROM b),
         y AS (SELECT {key}, reason AS r FROM d WHERE suppressed)
    SELECT indicator, (SELECT count(*) FROM a WHERE a.indicator = i.indicator) AS cells,
           (SELECT count(*) FILTER (WHERE r = 'primary') FROM x WHERE x.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'complement') FROM x WHERE x.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'secondary') FROM x WHERE x.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'primary') FROM y WHERE y.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'complement') FROM y WHERE y.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'small_denominator') FROM y WHERE y.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'shared') FROM y WHERE y.indicator = i.indicator),
           (SELECT count(*) FILTER (WHERE r = 'secondary') FROM y WHERE y.indicator = i.indicator)
    FROM (SELECT DISTINCT indicator FROM a) i ORDER BY indicator
""").fetchall()
totals = [0] * 9
for ind, n, p, c, s, p2, c2, sd, sh, s2 in rows:
    before_n, after_n = p + c + s, p2 + c2 + sd + sh + s2
    for k, v in enumerate([n, p, c, s, p2, c2, sd, sh, s2]):
        totals[k] += v
    print(f"| {ind} | {n} | {p} / {c} / {s} | {p2} / {c2} / {sd} / {sh} / {s2} | {before_n} | {after_n} |")
n, p, c, s, p2, c2, sd, sh, s2 = totals
print(f"| all | {n} | {p} / {c} / {s} | {p2} / {c2} / {sd} / {sh} / {s2} | {p + c + s} | {p2 + c2 + sd + sh + s2} |")
