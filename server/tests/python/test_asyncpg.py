"""asyncpg against a running Kimberlite: binary prepared statements,
binary COPY (copy_records_to_table / copy_from_table), and a pool whose
reset query runs between borrowers."""

import asyncio
import datetime
import decimal

import asyncpg
import pytest


def run(coro):
    return asyncio.run(coro)


def test_prepared_statements_copy_and_a_pool(server):
    async def main():
        dsn = server["dsn"].replace("sslmode=require", "sslmode=disable")
        conn = await asyncpg.connect(dsn, ssl=False)
        await conn.execute(
            "CREATE TABLE apg (id int PRIMARY KEY, name text NOT NULL, at timestamptz, "
            "price numeric(10,2), ok bool)")
        insert = await conn.prepare("INSERT INTO apg VALUES ($1, $2, $3, $4, $5)")
        at = datetime.datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=datetime.timezone.utc)
        for k in range(10):
            await insert.fetch(k, f"name {k}", at, decimal.Decimal("9.99"), k % 2 == 0)
        select = await conn.prepare("SELECT id, name, at, price, ok FROM apg WHERE id >= $1 ORDER BY id")
        rows = await select.fetch(8)
        assert [tuple(r) for r in rows] == [
            (8, "name 8", at, decimal.Decimal("9.99"), True),
            (9, "name 9", at, decimal.Decimal("9.99"), False),
        ]

        # Binary COPY in and out.
        records = [(k, f"copied {k}", at if k % 3 else None, None, k % 2 == 1)
                   for k in range(100, 1100)]
        result = await conn.copy_records_to_table(
            "apg", records=records, columns=["id", "name", "at", "price", "ok"])
        assert result == "COPY 1000"
        assert await conn.fetchval("SELECT count(*) FROM apg WHERE id >= 100") == 1000
        got = await conn.fetch("SELECT id, name, at, price, ok FROM apg WHERE id >= 100 ORDER BY id")
        assert [tuple(r) for r in got] == records

        # A constraint violation inside the COPY keeps nothing of it.
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.copy_records_to_table("apg", records=[(2000, "new", None, None, True),
                                                             (1, "dup", None, None, True)])
        assert await conn.fetchval("SELECT count(*) FROM apg WHERE id = 2000") == 0
        await conn.close()

        # 100 acquire/release cycles: each release runs the pool's reset
        # query; settings made by one borrower never reach the next.
        pool = await asyncpg.create_pool(dsn, ssl=False, min_size=2, max_size=4)
        for k in range(100):
            async with pool.acquire() as c:
                assert await c.fetchval("SHOW application_name") == ""
                await c.execute(f"SET application_name = 'borrower {k}'")
                assert await c.fetchval("SELECT count(*) FROM apg WHERE id < 10") == 10
        await pool.close()

    run(main())


def test_type_codecs_found_by_introspection(server):
    """set_type_codec looks the type up in pg_type/pg_namespace (asyncpg's
    TYPE_BY_NAME query); scalar values of the kinds we serve decode."""
    import json

    async def main():
        dsn = server["dsn"].replace("sslmode=require", "sslmode=disable")
        conn = await asyncpg.connect(dsn, ssl=False)
        for name in ("json", "jsonb"):
            await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads,
                                      schema="pg_catalog")
        await conn.execute(
            "CREATE TABLE apg_types (id int PRIMARY KEY, j json, b jsonb, n name, "
            "u uuid, d date, i interval, s smallint, f float8)")
        await conn.execute(
            "INSERT INTO apg_types VALUES (1, '{\"a\": 1}', '{\"b\": [1, 2]}', 'nm', "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', "
            "'1 day 02:00:00', 7, 1.5)")
        row = await conn.fetchrow("SELECT j, b, n, u, d, i, s, f FROM apg_types")
        assert row["j"] == {"a": 1} and row["b"] == {"b": [1, 2]}
        assert row["n"] == "nm" and str(row["u"]) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        assert row["d"] == datetime.date(2024, 2, 29)
        assert row["i"] == datetime.timedelta(days=1, hours=2)
        assert (row["s"], row["f"]) == (7, 1.5)
        # The catalog answers the lookups drivers make by OID.
        kind = await conn.fetchrow(
            "SELECT t.typname, n.nspname, t.typelem, t.typarray FROM pg_catalog.pg_type t "
            "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1", 1007)
        assert tuple(kind) == ("_int4", "pg_catalog", 23, 0)
        await conn.close()

    run(main())


def test_array_columns_through_the_recursive_type_introspection(server):
    """asyncpg has no built-in codec for most array types: it introspects
    them with its recursive typeinfo_tree query over pg_type (answered by
    the equivalent in engine/src/sql/system/client_queries.rs), binding the
    OIDs as an oid[] parameter. Every array type we support round-trips."""
    import uuid

    async def main():
        dsn = server["dsn"].replace("sslmode=require", "sslmode=disable")
        conn = await asyncpg.connect(dsn, ssl=False)
        await conn.execute(
            "CREATE TABLE apg_arrays (id int PRIMARY KEY, b bool[], s int2[], i int4[], "
            "l int8[], f float8[], t text[], u uuid[])")
        u = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        values = (1, [True, None, False], [1, -2], [1, 2, 3], [2 ** 40], [1.5, -0.25],
                  ["a", "b c", None], [u])
        await conn.execute("INSERT INTO apg_arrays VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                           *values)
        row = await conn.fetchrow("SELECT * FROM apg_arrays WHERE id = $1", 1)
        assert tuple(row) == values
        # An array parameter compared with ANY, and an empty array.
        ids = await conn.fetch("SELECT id FROM apg_arrays WHERE 2 = ANY(i)")
        assert [r["id"] for r in ids] == [1]
        await conn.execute("INSERT INTO apg_arrays (id, i) VALUES (2, $1)", [])
        assert await conn.fetchval("SELECT i FROM apg_arrays WHERE id = 2") == []
        # The introspection asyncpg ran: each array type and its element.
        types = await conn.fetch(
            "SELECT t.typname, e.typname FROM pg_type t JOIN pg_type e ON e.oid = t.typelem "
            "WHERE t.oid = ANY($1::oid[]) ORDER BY 1", [1000, 1007, 1009])
        assert [tuple(r) for r in types] == [("_bool", "bool"), ("_int4", "int4"),
                                            ("_text", "text")]
        await conn.close()

    run(main())
