"""Reads one result of about a million rows over each interface of a running `lms serve` (see
bench/wire-formats.sh) and prints rows per second, the median of RUNS runs. Each reader is timed from
connecting until its rows are in the client's form (Python tuples for psycopg, an Arrow table for
Flight SQL and CSV, text in a pipe for psql); its result is checked after the clock stops: the
same number of rows, and the same sum of one column.

usage: wire_formats.py HTTP_ADDR FLIGHT_ADDR PG_ADDR RUNS"""
import io
import statistics
import subprocess
import sys
import time
import warnings

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg
import pyarrow.compute
import pyarrow.csv
import requests

http, flight, pg, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pg_host, pg_port = pg.rsplit(":", 1)

# indicator_values repeated until it has at least a million rows (all of each copy, so the result
# is the same set whatever order it comes in): text, integers, floats with nulls, booleans.
count = requests.post(f"http://{http}/api/v1/sql", data="SELECT count(*) AS n FROM indicator_values").json()[0]["n"]
copies = -(-1_000_000 // count)
ROWS = count * copies
SQL = ("SELECT i.indicator, i.year, i.period, i.level, i.rhf, i.hf, i.breakdown, i.numerator, i.denominator, "
       "i.value, i.ci_low, i.ci_high, i.suppressed, r.value AS copy "
       f"FROM indicator_values i CROSS JOIN range({copies}) AS r")


def psql_read():
    """libpq's C reader, rows as text to a pipe: the protocol without Python's per-value objects."""
    started = time.perf_counter()
    out = subprocess.run(["psql", "-h", pg_host, "-p", pg_port, "-U", "bench", "-d", "lms", "-X", "-A", "-t",
                          "-c", SQL], check=True, capture_output=True).stdout
    elapsed = time.perf_counter() - started
    lines = out.decode().splitlines()
    return elapsed, (len(lines), sum(int(line.rsplit("|", 1)[1]) for line in lines))


def psycopg_read(binary):
    started = time.perf_counter()
    with psycopg.connect(host=pg_host, port=int(pg_port), dbname="lms", user="bench") as conn:
        with conn.cursor(binary=binary) as cur:
            cur.execute(SQL)
            rows = cur.fetchall()
    elapsed = time.perf_counter() - started
    return elapsed, (len(rows), sum(r[13] for r in rows))


def flight_read():
    started = time.perf_counter()
    with flight_sql.connect(f"grpc://{flight}") as conn:
        cur = conn.cursor()
        cur.execute(SQL)
        table = cur.fetch_arrow_table()
    elapsed = time.perf_counter() - started
    return elapsed, (table.num_rows, pyarrow.compute.sum(table["copy"]).as_py())


def csv_read():
    started = time.perf_counter()
    r = requests.post(f"http://{http}/api/v1/sql", data=SQL, headers={"Accept": "text/csv"})
    r.raise_for_status()
    table = pyarrow.csv.read_csv(io.BytesIO(r.content))
    elapsed = time.perf_counter() - started
    return elapsed, (table.num_rows, pyarrow.compute.sum(table["copy"]).as_py())


warnings.simplefilter("ignore")  # ADBC: "Cannot disable autocommit" (the server is read-only anyway)
readers = [
    ("PostgreSQL protocol, psql (libpq), text to a pipe", psql_read),
    ("PostgreSQL protocol, psycopg 3, text results", lambda: psycopg_read(False)),
    ("PostgreSQL protocol, psycopg 3, binary results", lambda: psycopg_read(True)),
    ("Arrow Flight SQL, ADBC (Arrow table)", flight_read),
    ("CSV over HTTP, pyarrow.csv (Arrow table)", csv_read),
]
expected = (ROWS, count * sum(range(copies)))
print(f"result: {ROWS} rows x 14 columns (indicator_values x {copies}); median of {runs} runs, after one unmeasured run each")
results = []
for name, read in readers:
    read()  # warm-up: the server's session for the lake version, the client's imports and connection
    seconds = []
    for _ in range(runs):
        elapsed, got = read()
        assert got == expected, f"{name}: {got}; expected {expected}"
        seconds.append(elapsed)
    median = statistics.median(seconds)
    results.append((name, median))
    print(f"  {name:<48} {median:7.2f} s  {ROWS / median:>12,.0f} rows/s   (runs: {', '.join(f'{s:.2f}' for s in seconds)})")
fastest = min(m for _, m in results)
for name, m in results:
    print(f"  {name:<48} {m / fastest:5.2f} x the fastest's time")
