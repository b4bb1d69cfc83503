"""Starts the real kimberlite binary (KIMBERLITE_BIN) for psycopg tests."""

import os
import re
import subprocess
import tempfile

import pytest


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("KIMBERLITE_BIN", "target/debug/kimberlite")
    data_dir = tempfile.mkdtemp(prefix="kimberlite-py-")
    proc = subprocess.Popen(
        [binary, "dev", "--tls", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "KIMBERLITE_LOG": "warn"},
    )
    line = proc.stdout.readline()
    match = re.search(r"(postgres://\S+)", line)
    assert match, f"server printed no DSN: {line!r}"
    yield {"dsn": match.group(1), "proc": proc, "data_dir": data_dir}
    proc.terminate()
    proc.wait(timeout=30)
