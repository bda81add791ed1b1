"""A real PostgreSQL client (psycopg 3, libpq underneath) for the server's tests.

usage: postgres_client.py PORT PASSWORD SQL [PARAM ...]
With parameters psycopg sends the statement with the extended query protocol (Parse, Bind,
Execute) and asks for binary results. Prints JSON: {"columns": [...], "rows": [[...], ...]} or
{"error": "..."}."""
import json
import sys

import psycopg

port, password, sql, *params = sys.argv[1:]
try:
    with psycopg.connect(host="127.0.0.1", port=int(port), user="analyst", password=password,
                         dbname="lms", connect_timeout=10) as conn:
        with conn.cursor(binary=True) as cur:
            # prepare=True: a named prepared statement, as drivers do for repeated queries.
            cur.execute(sql, params or None, prepare=True)
            columns = [d.name for d in cur.description]
            print(json.dumps({"columns": columns, "rows": [list(r) for r in cur.fetchall()]}, default=str))
except Exception as e:  # the test asserts on the message
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
