"""Holds or reads the local D1 SQLite file of a `wrangler dev --persist-to` dir for the integration tests.

One JSON command per stdin line, one JSON answer per stdout line:
  {"op": "lock"}    BEGIN EXCLUSIVE on its own connection (D1 then fails as in an outage: SQLITE_BUSY)
  {"op": "unlock"}  ROLLBACK, the lock is released
  {"op": "query", "sql": "...", "params": [...]}  rows of a read on a fresh connection
"""

import json
import sqlite3
import sys

db = sys.argv[1]
holder = None
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        if cmd["op"] == "lock":
            holder = sqlite3.connect(db, timeout=10, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            out = {"ok": True}
        elif cmd["op"] == "unlock":
            if holder is not None:
                holder.execute("ROLLBACK")
                holder.close()
                holder = None
            out = {"ok": True}
        else:
            con = sqlite3.connect(db, timeout=10)
            rows = con.execute(cmd["sql"], cmd.get("params", [])).fetchall()
            con.close()
            out = {"ok": True, "rows": rows}
    except Exception as e:  # noqa: BLE001 - every failure goes back to the test as an answer
        out = {"ok": False, "error": str(e)}
    print(json.dumps(out), flush=True)
