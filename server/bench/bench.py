#!/usr/bin/env python3
"""Kimberlite vs PostgreSQL on the same machine, through psycopg 3.

Not a test: it prints numbers and ratios, never asserts on time.

    python3 server/bench/bench.py [--kimberlite-bin target/release/kimberlite]

Measures, for each server:
  - commit latency: sequential autocommit single-row INSERTs (p50/p95/p99)
  - concurrent commits/s: CLIENTS threads doing autocommit INSERTs
  - bulk rows/s: one transaction of executemany INSERTs
  - scan rows/s: SELECT count(*) and a full SELECT * of the bulk table

PostgreSQL runs from a fresh initdb in a temp dir with its defaults
(fsync on, synchronous_commit on), when its binaries are installed.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import psycopg

LATENCY_COMMITS = 500
CONCURRENT_SECONDS = 5.0
CLIENTS = 4
BULK_ROWS = 20_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_kimberlite(binary):
    data = tempfile.mkdtemp(prefix="kbench-")
    proc = subprocess.Popen(
        [binary, "dev", "--data-dir", data, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "KIMBERLITE_LOG": "warn"},
    )
    dsn = re.search(r"(postgres://\S+)", proc.stdout.readline()).group(1)
    return dsn, lambda: (proc.terminate(), proc.wait(), shutil.rmtree(data, ignore_errors=True))


def find_pg_bin():
    for d in ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]:
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    return None


def start_postgres():
    bindir = find_pg_bin()
    if bindir is None:
        return None
    data = tempfile.mkdtemp(prefix="pgbench-")
    os.chmod(data, 0o777)
    port = free_port()
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + [f"{bindir}/initdb", "-D", f"{data}/db", "-U", "postgres", "-A", "trust"],
                   check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen(
        prefix + [f"{bindir}/postgres", "-D", f"{data}/db", "-p", str(port), "-k", data, "-h", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    dsn = f"postgres://postgres@127.0.0.1:{port}/postgres"
    for _ in range(100):
        try:
            psycopg.connect(dsn).close()
            break
        except psycopg.OperationalError:
            time.sleep(0.1)
    return dsn, lambda: (proc.terminate(), proc.wait(), shutil.rmtree(data, ignore_errors=True))


def run(dsn):
    results = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_lat (id bigint PRIMARY KEY, v text)")
        latencies = []
        for i in range(LATENCY_COMMITS):
            t = time.perf_counter()
            conn.execute("INSERT INTO bench_lat VALUES (%s, %s)", (i, "x" * 32))
            latencies.append((time.perf_counter() - t) * 1000)
        latencies.sort()
        q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
        results["commit p50 ms"] = q(0.50)
        results["commit p95 ms"] = q(0.95)
        results["commit p99 ms"] = q(0.99)

        conn.execute("CREATE TABLE bench_conc (id bigint PRIMARY KEY, v text)")
        counts = [0] * CLIENTS
        deadline = time.perf_counter() + CONCURRENT_SECONDS

        def worker(n):
            with psycopg.connect(dsn, autocommit=True) as c:
                i = 0
                while time.perf_counter() < deadline:
                    c.execute("INSERT INTO bench_conc VALUES (%s, %s)", (n * 10_000_000 + i, "y"))
                    i += 1
                counts[n] = i

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results[f"{CLIENTS}-client commits/s"] = sum(counts) / (time.perf_counter() - start)

        conn.execute("CREATE TABLE bench_bulk (id bigint PRIMARY KEY, name text, amount double precision)")
        t = time.perf_counter()
        with conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO bench_bulk VALUES (%s, %s, %s)",
                [(i, f"name {i}", i * 1.5) for i in range(BULK_ROWS)],
            )
        results["bulk insert rows/s"] = BULK_ROWS / (time.perf_counter() - t)

        t = time.perf_counter()
        rows = conn.execute("SELECT * FROM bench_bulk").fetchall()
        results["full scan rows/s"] = len(rows) / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(200):
            conn.execute("SELECT name FROM bench_bulk WHERE id = %s", (i * 7,)).fetchone()
        results["pk lookups/s"] = 200 / (time.perf_counter() - t)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kimberlite-bin", default="target/release/kimberlite")
    args = parser.parse_args()
    dsn, stop = start_kimberlite(args.kimberlite_bin)
    try:
        kimberlite = run(dsn)
    finally:
        stop()
    postgres = None
    started = start_postgres()
    if started:
        dsn, stop = started
        try:
            postgres = run(dsn)
        finally:
            stop()
    print(f"{'metric':<24}{'kimberlite':>14}{'postgresql':>14}{'ratio k/pg':>12}")
    for metric, value in kimberlite.items():
        pg = postgres.get(metric) if postgres else None
        ratio = f"{value / pg:.2f}" if pg else "-"
        print(f"{metric:<24}{value:>14.2f}{(pg if pg else float('nan')):>14.2f}{ratio:>12}")
    if not postgres:
        print("(PostgreSQL binaries not found: install postgresql-15 for the ratio)")


if __name__ == "__main__":
    main()
