"""psycopg 3 against a running Kimberlite: types, parameters, errors,
transactions, in text and binary result formats."""

import datetime
import decimal
import uuid

import psycopg
import pytest
from psycopg.types.json import Json, Jsonb

ROW = (
    1,
    True,
    -7,
    2_000_000_000,
    -9_000_000_000_000,
    1.5,
    -2.25e-07,
    decimal.Decimal("-12345.678"),
    "héllo 'world'",
    "short",
    "ab  ",
    b"\x00\x01\xff",
    datetime.date(1999, 12, 31),
    datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
    datetime.datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=datetime.timezone.utc),
    uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    {"a": [1, 2, {"b": None}]},
    {"a": [1, 2, {"b": None}]},
)


def test_every_type_round_trips_in_text_and_binary(server):
    with psycopg.connect(server["dsn"], autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE py_types (id integer PRIMARY KEY, b boolean, s smallint,
               i integer, l bigint, r real, d double precision, n numeric(12,3),
               t text, v varchar(10), c char(4), by bytea, dt date, ts timestamp,
               tz timestamptz, u uuid, j json, jb jsonb)"""
        )
        params = list(ROW)
        params[16] = Json(params[16])
        params[17] = Jsonb(params[17])
        conn.execute(
            "INSERT INTO py_types VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            params,
        )
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute("SELECT * FROM py_types WHERE id = %s", (1,))
            got = cur.fetchone()
            assert got == ROW, f"binary={binary}: {got}"


def test_errors_have_sqlstates_and_the_session_survives(server):
    with psycopg.connect(server["dsn"]) as conn:
        conn.execute("CREATE TABLE py_err (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO py_err VALUES (%s, %s)", (1, "a"))
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO py_err VALUES (%s, %s)", (1, "b"))
        conn.rollback()
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("INSERT INTO py_err (id) VALUES (%s)", (2,))
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM nowhere")
        conn.rollback()
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("SELEC 1")
        conn.rollback()
        # inside a transaction an error aborts the block
        conn.execute("INSERT INTO py_err VALUES (3, 'c')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO py_err VALUES (1, 'x')")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM py_err").fetchone() == (1,)


def test_json_casts_in_expressions_are_json_to_the_driver(server):
    """`::json` / `::jsonb` report the JSON types, so psycopg decodes them;
    text that is not JSON is 22P02 and the session goes on."""
    with psycopg.connect(server["dsn"], autocommit=True) as conn:
        row = conn.execute(
            """SELECT '{"b": 1, "a": [1, 2]}'::jsonb, '[true, null]'::json, %s::jsonb""",
            ['{"x": "y"}']).fetchone()
        assert row == ({"a": [1, 2], "b": 1}, [True, None], {"x": "y"})
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute("SELECT 'nope'::jsonb")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_transactions_and_executemany(server):
    with psycopg.connect(server["dsn"]) as conn:
        conn.execute("CREATE TABLE py_tx (id bigint PRIMARY KEY, v text)")
        conn.commit()
        with conn.transaction():
            conn.cursor().executemany("INSERT INTO py_tx VALUES (%s, %s)", [(i, f"v{i}") for i in range(100)])
        try:
            with conn.transaction():
                conn.execute("DELETE FROM py_tx")
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        assert conn.execute("SELECT count(*), min(id), max(id) FROM py_tx").fetchone() == (100, 0, 99)
        rows = conn.execute("UPDATE py_tx SET v = v || '!' WHERE id < %s RETURNING id", (3,)).fetchall()
        assert sorted(rows) == [(0,), (1,), (2,)]
        conn.commit()


def test_tls_and_online_verification(server):
    with psycopg.connect(server["dsn"], sslmode="require") as conn:
        assert conn.pgconn.ssl_in_use
        row = conn.execute(
            "SELECT verified, problems, length(chain_head), public_key IS NOT NULL FROM kimberlite_verify()"
        ).fetchone()
        assert row == (True, 0, 64, True)
    with psycopg.connect(server["dsn"], sslmode="disable") as conn:
        assert not conn.pgconn.ssl_in_use


def test_direct_tls_with_the_bundled_libpq(server):
    # PostgreSQL 17's direct TLS (no SSLRequest, ALPN "postgresql") needs
    # libpq 17 or newer; psycopg-binary bundles one, psql 15's does not.
    assert psycopg.pq.version() >= 170000, psycopg.pq.version()
    with psycopg.connect(server["dsn"], sslmode="require", sslnegotiation="direct") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 'direct'").fetchone() == ("direct",)


def test_copy_100k_rows_in_and_out_with_every_type(server):
    columns = """(id integer PRIMARY KEY, b boolean, s smallint, i integer,
        l bigint, r real, d double precision, n numeric(12,3), t text,
        v varchar(10), c char(4), by bytea, dt date, ts timestamp,
        tz timestamptz, u uuid, j json, jb jsonb)"""
    types = ["int4", "bool", "int2", "int4", "int8", "float4", "float8", "numeric",
             "text", "varchar", "bpchar", "bytea", "date", "timestamp", "timestamptz",
             "uuid", "json", "jsonb"]
    count = 100_000

    def row(k):
        r = list(ROW)
        r[0] = k
        r[8] = f"row {k}\twith\ttabs\\ and \"quotes\"\n"
        if k % 5 == 0:
            r[1] = None
            r[12] = None
        return r

    with psycopg.connect(server["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE py_copy " + columns)
        cur = conn.cursor()
        with cur.copy("COPY py_copy FROM STDIN") as copy:
            for k in range(count):
                r = row(k)
                r[16] = Json(r[16])
                r[17] = Jsonb(r[17])
                copy.write_row(r)
        assert cur.rowcount == count
        assert conn.execute("SELECT count(*), count(b) FROM py_copy").fetchone() == (
            count, count - count // 5)

        seen = 0
        with cur.copy("COPY py_copy TO STDOUT") as copy:
            copy.set_types(types)
            for got in copy.rows():
                assert got == tuple(row(got[0])), got
                seen += 1
        assert seen == count

        # CSV through psycopg's raw block interface.
        with cur.copy("COPY (SELECT id, t FROM py_copy WHERE id < 2 ORDER BY id) "
                      "TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            text = b"".join(bytes(block) for block in copy).decode()
        assert text == ('id,t\n0,"row 0\twith\ttabs\\ and ""quotes""\n"\n'
                        '1,"row 1\twith\ttabs\\ and ""quotes""\n"\n')

        # A bad row: 22P02 with psycopg's diag context, nothing kept.
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as failure:
            with cur.copy("COPY py_copy (id, s) FROM STDIN") as copy:
                copy.write(b"200000\t1\n200001\tsmall\n")
        assert failure.value.diag.context == 'COPY py_copy, line 2, column s: "small"'
        assert conn.execute("SELECT count(*) FROM py_copy").fetchone()[0] == count


def test_session_settings_are_reported_and_never_leak(server):
    with psycopg.connect(server["dsn"], autocommit=True) as a, \
            psycopg.connect(server["dsn"], autocommit=True, options="-c TimeZone=Asia/Kolkata") as b:
        # The startup value is confirmed with ParameterStatus.
        assert b.info.parameter_status("TimeZone") == "Asia/Kolkata"
        assert a.info.parameter_status("TimeZone") == "UTC"
        a.execute("SET TimeZone = 'America/New_York'")
        a.execute("SET application_name = 'reporter'")
        assert a.info.parameter_status("TimeZone") == "America/New_York"
        assert a.info.parameter_status("application_name") == "reporter"
        assert b.execute("SHOW TimeZone").fetchone()[0] == "Asia/Kolkata"
        # timestamptz is rendered in each session's zone; the instant is one.
        a.execute("CREATE TABLE py_tz (id int PRIMARY KEY, at timestamptz)")
        a.execute("INSERT INTO py_tz VALUES (1, '2024-06-01 12:00:00+00')")
        text_a = a.execute("SELECT at::text FROM py_tz").fetchone()[0]
        text_b = b.execute("SELECT at::text FROM py_tz").fetchone()[0]
        value_a = a.execute("SELECT at FROM py_tz").fetchone()[0]
        value_b = b.execute("SELECT at FROM py_tz").fetchone()[0]
        assert value_a == value_b == datetime.datetime(2024, 6, 1, 12, tzinfo=datetime.timezone.utc)
        assert str(value_a.utcoffset()) == "-1 day, 20:00:00"
        assert str(value_b.utcoffset()) == "5:30:00"
        # SET inside a rolled-back block is undone, and reported again.
        a.autocommit = False
        a.execute("SET TimeZone = 'Europe/Paris'")
        assert a.info.parameter_status("TimeZone") == "Europe/Paris"
        a.rollback()
        a.autocommit = True
        a.execute("SELECT 1")
        assert a.info.parameter_status("TimeZone") == "America/New_York"
        # asyncpg's pool reset query, then pgbouncer's.
        a.execute("SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;")
        assert a.execute("SHOW TimeZone").fetchone()[0] == "UTC"
        a.execute("DISCARD ALL")


def test_psycopg2_named_cursor_reads_10000_rows_in_batches(server):
    import psycopg2

    conn = psycopg2.connect(server["dsn"])
    assert conn.autocommit is False
    cur = conn.cursor()
    cur.execute("CREATE TABLE py2_cur (id int PRIMARY KEY, label text)")
    cur.executemany("INSERT INTO py2_cur VALUES (%s, %s)", [(k, f"row {k}") for k in range(100)])
    cur.execute("INSERT INTO py2_cur SELECT id + 100, label FROM py2_cur")
    conn.commit()
    with conn.cursor() as load:
        load.copy_expert("COPY py2_cur FROM STDIN", __import__("io").StringIO(
            "".join(f"{k}\trow {k}\n" for k in range(200, 10_000))))
    conn.commit()
    named = conn.cursor(name="big")
    named.itersize = 1000
    named.execute("SELECT id, label FROM py2_cur ORDER BY id")
    seen = [row for row in named]
    assert [r[0] for r in seen] == list(range(10_000))
    assert seen[1234] == (1234, "row 1234")
    named.close()
    # Autocommit off: a rollback discards, a commit keeps.
    cur = conn.cursor()
    cur.execute("DELETE FROM py2_cur")
    conn.rollback()
    cur.execute("SELECT count(*) FROM py2_cur")
    assert cur.fetchone()[0] == 10_000
    conn.close()


def test_binary_copy_round_trips_every_type(server):
    types = ["int4", "bool", "int2", "int4", "int8", "float4", "float8", "numeric",
             "text", "varchar", "bpchar", "bytea", "date", "timestamp", "timestamptz",
             "uuid", "json", "jsonb"]
    with psycopg.connect(server["dsn"], autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE py_bin (id integer PRIMARY KEY, b boolean, s smallint,
               i integer, l bigint, r real, d double precision, n numeric(12,3),
               t text, v varchar(10), c char(4), by bytea, dt date, ts timestamp,
               tz timestamptz, u uuid, j json, jb jsonb)""")
        cur = conn.cursor()
        with cur.copy("COPY py_bin FROM STDIN (FORMAT binary)") as copy:
            # psycopg has no binary dumper for bpchar; char(4) takes text.
            copy.set_types(types[:10] + ["text"] + types[11:])
            r = list(ROW)
            r[16], r[17] = Json(r[16]), Jsonb(r[17])
            copy.write_row(r)
            copy.write_row([2] + [None] * 17)
        with cur.copy("COPY py_bin TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(types)
            rows = list(copy.rows())
        assert rows == [ROW, tuple([2] + [None] * 17)]


NEW_TYPES = """CREATE TABLE py_kinds (id integer PRIMARY KEY, iv interval, ia integer[],
    ta text[], fa float8[], ba boolean[], ua uuid[], la bigint[], o oid, nm name,
    ch "char", n numeric)"""

KINDS_ROW = (
    1,
    datetime.timedelta(days=-3, hours=4, microseconds=500_000),
    [1, None, -3],
    ["a b", None, 'say "hi"', "", "NULL"],
    [1.5, float("-inf")],
    [True, False],
    [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
    [9_000_000_000],
    4_294_967_295,
    "kimberlite",
    "k",
    decimal.Decimal("-12.5"),
)


def test_new_types_round_trip_with_text_and_binary_parameters(server):
    with psycopg.connect(server["dsn"], autocommit=True) as conn:
        conn.execute(NEW_TYPES)
        for row_id, binary in ((1, False), (2, True)):
            params = (row_id,) + KINDS_ROW[1:]
            conn.cursor(binary=binary).execute(
                "INSERT INTO py_kinds VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", params
            )
        conn.execute("INSERT INTO py_kinds (id, n) VALUES (3, %s)", (decimal.Decimal("NaN"),))
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            for row_id in (1, 2):
                got = cur.execute("SELECT * FROM py_kinds WHERE id = %s", (row_id,)).fetchone()
                assert got == (row_id,) + KINDS_ROW[1:], f"binary={binary}: {got}"
            nan = cur.execute("SELECT n FROM py_kinds WHERE id = 3").fetchone()[0]
            assert nan.is_nan(), f"binary={binary}: {nan}"
            ids = cur.execute(
                "SELECT id FROM py_kinds WHERE id = ANY(%s) ORDER BY id", ([1, 3],)
            ).fetchall()
            assert ids == [(1,), (3,)]
        # Every new type through COPY, both ways.
        with conn.cursor().copy("COPY py_kinds TO STDOUT") as copy:
            text = b"".join(bytes(chunk) for chunk in copy)
        conn.execute(NEW_TYPES.replace("py_kinds", "py_kinds_copy"))
        with conn.cursor().copy("COPY py_kinds_copy FROM STDIN") as copy:
            copy.write(text)
        same = conn.execute(
            "SELECT count(*) FROM py_kinds_copy c JOIN py_kinds k ON c.id = k.id"
        ).fetchone()
        assert same == (3,)
        again = conn.execute("SELECT * FROM py_kinds_copy WHERE id = 1").fetchone()
        assert again == KINDS_ROW


def test_asyncpg_binary_parameters_of_the_new_types(server):
    import asyncio

    import asyncpg

    async def main():
        conn = await asyncpg.connect(server["dsn"].replace("postgres://", "postgresql://"))
        try:
            # asyncpg prepares everything and sends binary parameters. It
            # decodes text[] itself; other arrays it looks up in pg_type,
            # which needs the catalog issue's pg_catalog.
            await conn.execute(
                """CREATE TABLE apg_kinds (id integer PRIMARY KEY, iv interval, ta text[],
                   o oid, nm name, ch "char", n numeric)"""
            )
            values = (1, KINDS_ROW[1], KINDS_ROW[3], KINDS_ROW[8], KINDS_ROW[9], b"k",
                      decimal.Decimal("-12.5"))
            await conn.execute("INSERT INTO apg_kinds VALUES ($1,$2,$3,$4,$5,$6,$7)", *values)
            await conn.execute(
                "INSERT INTO apg_kinds (id, n) VALUES ($1, $2)", 2, decimal.Decimal("NaN")
            )
            row = await conn.fetchrow("SELECT * FROM apg_kinds WHERE id = $1", 1)
            assert tuple(row) == values
            nan = await conn.fetchval("SELECT n FROM apg_kinds WHERE id = 2")
            assert nan.is_nan()
        finally:
            await conn.close()

    asyncio.run(main())
