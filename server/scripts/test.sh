#!/usr/bin/env bash
# Runs the whole Kimberlite test suite on a fresh machine: installs what the
# tests need (idempotently), checks formatting, lints and docs, then runs the
# Rust tests (unit + integration against the real binary, psql golden files)
# and the driver tests (psycopg 3, psycopg2, asyncpg, node-postgres; pgjdbc
# and tokio-postgres run inside nextest).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

step() { printf '\n=== %s\n' "$*"; }

step "system packages"
need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
# The reference server for differential tests (Debian's PostgreSQL 15).
pg_bin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$pg_bin" ] || need_apt+=(postgresql)
command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || need_apt+=(libpostgresql-jdbc-java)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
psql --version
pg_bin=/usr/lib/postgresql/15/bin

step "reference PostgreSQL 15 (differential tests), on a free port"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_dir=$(mktemp -d)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
as_pg "$pg_bin/initdb -D $pg_dir/data -A trust -U postgres --locale=C.UTF-8 -E UTF8" >/dev/null
as_pg "$pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/log -w -o '-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off' start" >/dev/null
stop_reference() { as_pg "$pg_bin/pg_ctl -D $pg_dir/data -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_reference EXIT
# The scripts run as a superuser called `kimberlite`, with a `kimberlite`
# database beside theirs, so listings of owners, roles and databases read
# as they do on our single node.
psql "postgres://postgres@127.0.0.1:$pg_port/postgres" -X -q \
  -c 'CREATE ROLE kimberlite SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS LOGIN' -c 'CREATE DATABASE kimberlite OWNER kimberlite'
export KIMBERLITE_PG_REFERENCE="postgres://kimberlite@127.0.0.1:$pg_port"
psql "$KIMBERLITE_PG_REFERENCE/postgres" -X -At -c 'SHOW server_version'

step "python venv (psycopg 3, psycopg2, asyncpg, SQLAlchemy, Alembic, pytest)"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -c 'import psycopg, psycopg2, asyncpg, pytest, sqlalchemy, alembic' 2>/dev/null || \
  .venv/bin/pip install -q 'psycopg[binary]>=3.1,<4' 'psycopg2-binary>=2.9,<3' \
    'asyncpg>=0.29,<1' 'pytest>=7' 'sqlalchemy>=2.0,<2.1' 'alembic>=1.13,<2'

step "node packages (pg, pg-cursor)"
[ -d server/tests/node/node_modules/pg-cursor ] || \
  (cd server/tests/node && npm ci --silent --no-audit --no-fund)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo nextest (unit and integration tests against the real binary)"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

step "python driver tests (psycopg 3, psycopg2, asyncpg)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
[ -x "$target_dir/debug/kimberlite" ] || cargo build -q -p kimberlite-server
KIMBERLITE_BIN="$target_dir/debug/kimberlite" .venv/bin/python -m pytest -q server/tests/python

step "node-postgres tests"
KIMBERLITE_BIN="$target_dir/debug/kimberlite" node --test server/tests/node/

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc --no-deps"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q

echo
echo "all checks passed"
