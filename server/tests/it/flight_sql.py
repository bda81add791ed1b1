"""A real Flight SQL client (ADBC's Python driver) for the server's tests.

usage: flight_sql.py URI TOKEN|basic:TOKEN|- SQL|--tables
Prints JSON: {"rows": [[...], ...]} or {"tables": [...]} or {"error": "..."}."""
import json
import sys

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql

uri, token, what = sys.argv[1:4]
kwargs = {}
if token.startswith("basic:"):
    # User and password: the driver does the Basic handshake and uses the bearer it gets back.
    kwargs["username"] = "someone"
    kwargs["password"] = token[len("basic:"):]
elif token != "-":
    kwargs[adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
try:
    with flight_sql.connect(uri, db_kwargs=kwargs) as conn:
        if what == "--tables":
            objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
            tables = [t["table_name"] for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []]
            print(json.dumps({"tables": sorted(tables)}))
        else:
            cur = conn.cursor()
            cur.execute(what)
            print(json.dumps({"rows": [list(r) for r in cur.fetchall()]}, default=str))
except Exception as e:  # the test asserts on the message
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
