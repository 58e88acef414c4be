#!/usr/bin/env python3
"""Where is JSON cheapest to build: in the database or in restable?

restable reads plain columns and writes the JSON in Rust (src/response). This measures
what the databases' own JSON functions would cost instead, on the benchmark's `tracks`
table (100,000 rows, same generator as bench/run.py):

- SQLite (in-process, best of 5): reading every column of every row, against building
  each row with json_object() (booleans made true/false, as restable writes them). The
  difference is what SQLite spends per row on JSON; compare it with restable's encoder
  per row (`cargo bench --bench pipeline -- encode/json_1000`).
- PostgreSQL (pgbench, 8 clients, prepared): a page of tracks as rows, against the same
  page as one json_agg() text. Database transactions/s: the database's CPU is the
  bottleneck on a 2-core machine, so a query that costs it more is slower for everyone.

    python3 bench/json_where.py        # about a minute; needs sqlite3 and pgbench
"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the data generators)

ROWS = 100_000
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
COLS = ["id", "name", "album_id", "milliseconds", "unit_price", "genre", "explicit", "created_at"]


def best_of(n, f):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def sqlite_side():
    db = os.path.join(run.OUT, "json_where.db")
    run.sqlite_data(db, ROWS)
    c = sqlite3.connect(db)
    plain = "SELECT " + ", ".join(f"max({col})" for col in COLS) + " FROM tracks"
    fields = ", ".join(
        f"'{col}', json(CASE WHEN explicit THEN 'true' ELSE 'false' END)" if col == "explicit" else f"'{col}', {col}"
        for col in COLS)
    built = f"SELECT max(length(json_object({fields}))) FROM tracks"
    for q in (plain, built):
        c.execute(q).fetchall()  # warm the page cache
    t_plain = best_of(5, lambda: c.execute(plain).fetchall())
    t_json = best_of(5, lambda: c.execute(built).fetchall())
    c.close()
    os.remove(db)
    per_plain = t_plain / ROWS * 1e9
    per_json = t_json / ROWS * 1e9
    print(f"sqlite   read every column      {per_plain:7.0f} ns/row")
    print(f"sqlite   json_object per row    {per_json:7.0f} ns/row  "
          f"(JSON in SQLite: +{per_json - per_plain:.0f} ns/row)")


def pgbench(url, sql):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("\\set a random(1, 10000)\n" + sql + ";\n")
        path = f.name
    try:
        out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", str(SECONDS),
                              "-f", path, url], check=True, capture_output=True, text=True).stdout
    finally:
        os.remove(path)
    m = re.search(r"tps = ([0-9.]+)", out)
    return float(m.group(1)) if m else float("nan")


def postgres_side():
    url = run.postgres_data("restable_json_where", ROWS)
    cols = ", ".join(COLS)
    pages = {
        "one album (10 rows)": "FROM tracks WHERE album_id = :a ORDER BY id",
        "50 rows": "FROM tracks WHERE id > :a * 9 ORDER BY id LIMIT 50",
        "1,000 rows": "FROM tracks WHERE id > :a * 9 ORDER BY id LIMIT 1000",
    }
    for name, tail in pages.items():
        rows = pgbench(url, f"SELECT {cols} {tail}")
        agg = pgbench(url, f"SELECT coalesce(json_agg(t), '[]')::text FROM (SELECT {cols} {tail}) t")
        print(f"postgres {name:20} rows {rows:8.0f} tps   json_agg {agg:8.0f} tps   json_agg / rows {agg / rows:4.2f}")
    run.psql(run.PG_ADMIN, "DROP DATABASE IF EXISTS restable_json_where")


if __name__ == "__main__":
    os.makedirs(run.OUT, exist_ok=True)
    sqlite_side()
    postgres_side()
