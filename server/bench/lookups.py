#!/usr/bin/env python3
"""Point and range lookups, Kimberlite vs PostgreSQL on the same machine.

Not a test: it prints numbers and ratios, never asserts on time.

    python3 server/bench/lookups.py [--kimberlite-bin target/release/kimberlite] [--rows N]

One table of ROWS rows, `id` its primary key and `a` a secondary index
(ROWS / 100 distinct values, so `a = k` finds 100 rows), loaded with COPY,
then for each access path a run of sequential queries over random keys
(prepared, one client, psycopg 3), reporting ops/s and p50/p99 latency:

  - pk point:     WHERE id = $1
  - pk range:     WHERE id BETWEEN $1 AND $1 + 99     (100 rows)
  - index point:  WHERE a = $1                        (100 rows)
  - index range:  WHERE a BETWEEN $1 AND $1 + 1       (200 rows)
  - pk top-10:    ORDER BY id LIMIT 10 OFFSET 0 after WHERE id > $1

Each server's EXPLAIN of the index query is printed once, so the reader
can see that both used the index.
"""

import argparse
import random
import time

import psycopg

from bench import start_kimberlite, start_postgres

QUERIES = {
    "pk point": ("SELECT pad FROM lookup WHERE id = %s", 1),
    "pk range": ("SELECT count(pad) FROM lookup WHERE id BETWEEN %s AND %s + 99", 2),
    "index point": ("SELECT count(pad) FROM lookup WHERE a = %s", 1),
    "index range": ("SELECT count(pad) FROM lookup WHERE a BETWEEN %s AND %s + 1", 2),
    "pk top-10": ("SELECT id FROM lookup WHERE id > %s ORDER BY id LIMIT 10", 1),
}


def load(conn, rows):
    conn.execute("CREATE TABLE lookup (id int PRIMARY KEY, a int, pad text)")
    with conn.cursor().copy("COPY lookup (id, a, pad) FROM STDIN") as copy:
        for i in range(rows):
            copy.write_row((i, i % (rows // 100), f"pad {i:08d}"))
    conn.execute("CREATE INDEX lookup_a ON lookup (a)")
    conn.execute("ANALYZE lookup")


def run(dsn, rows, seconds):
    results = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        load(conn, rows)
        plan = conn.execute("EXPLAIN SELECT count(pad) FROM lookup WHERE a = 5").fetchall()
        print("   ", " / ".join(str(r[-1]).strip() for r in plan))
        rng = random.Random(7)
        for name, (sql, arity) in QUERIES.items():
            top = rows // 100 if "index" in name else rows
            latencies = []
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                k = rng.randrange(top)
                t = time.perf_counter()
                conn.execute(sql, (k,) * arity, prepare=True).fetchall()
                latencies.append(time.perf_counter() - t)
            latencies.sort()
            q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
            results[f"{name} ops/s"] = len(latencies) / sum(latencies)
            results[f"{name} p50 ms"] = q(0.50)
            results[f"{name} p99 ms"] = q(0.99)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kimberlite-bin", default="target/release/kimberlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print("kimberlite:")
    dsn, stop = start_kimberlite(args.kimberlite_bin)
    try:
        kimberlite = run(dsn, args.rows, args.seconds)
    finally:
        stop()
    postgres = None
    started = start_postgres()
    if started:
        print("postgresql:")
        dsn, stop = started
        try:
            postgres = run(dsn, args.rows, args.seconds)
        finally:
            stop()
    print(f"{'metric':<22}{'kimberlite':>12}{'postgresql':>12}{'ratio k/pg':>12}")
    for metric, value in kimberlite.items():
        pg = postgres.get(metric) if postgres else None
        ratio = f"{value / pg:.2f}" if pg else "-"
        print(f"{metric:<22}{value:>12.2f}{(pg if pg else float('nan')):>12.2f}{ratio:>12}")
    if not postgres:
        print("(PostgreSQL binaries not found: install postgresql-15 for the ratio)")


if __name__ == "__main__":
    main()
