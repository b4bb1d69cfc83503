"""The catalog queries BI tools (Metabase, DBeaver) run when they sync a
database: schemas, tables with their comments and privileges, columns with
types, keys, and table statistics — through psycopg2 against a running
Kimberlite."""

import psycopg2


def test_bi_tool_sync_queries(server):
    conn = psycopg2.connect(server["dsn"])
    conn.autocommit = True
    cur = conn.cursor()

    def run(sql, args=None):
        cur.execute(sql, args)
        return cur.fetchall()

    cur.execute("CREATE SCHEMA sales")
    cur.execute("CREATE TABLE sales.orders (id serial PRIMARY KEY, total numeric(10,2), "
                "placed timestamptz, note varchar(40))")
    cur.execute("CREATE TABLE sales.lines (order_id int REFERENCES sales.orders (id), qty int)")
    cur.execute("COMMENT ON TABLE sales.orders IS 'customer orders'")
    cur.execute("COMMENT ON COLUMN sales.orders.total IS 'gross'")

    schemas = run("""SELECT n.nspname FROM pg_catalog.pg_namespace n
        WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
          AND has_schema_privilege(n.nspname, 'USAGE') ORDER BY 1""")
    assert schemas == [("public",), ("sales",)]

    tables = run("""SELECT n.nspname AS schema, c.relname AS name,
            CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' END AS type,
            d.description AS description
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = %s
          AND has_table_privilege(c.oid, 'SELECT')
        ORDER BY 2""", ("sales",))
    assert tables == [("sales", "lines", "TABLE", None),
                      ("sales", "orders", "TABLE", "customer orders")]

    columns = run("""SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
            a.attnotnull, col_description(a.attrelid, a.attnum)
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = 'sales.orders'::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""")
    assert columns == [
        ("id", "integer", True, None),
        ("total", "numeric(10,2)", False, "gross"),
        ("placed", "timestamp with time zone", False, None),
        ("note", "character varying(40)", False, None),
    ]

    keys = run("""SELECT kcu.column_name, tc.constraint_type, ccu.table_name, ccu.column_name
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
        JOIN information_schema.constraint_column_usage ccu
          ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.table_schema
        WHERE tc.table_schema = 'sales' AND tc.table_name = 'lines'""")
    assert keys == [("order_id", "FOREIGN KEY", "orders", "id")]

    # NOT NULL columns are CHECK constraints named as PostgreSQL names them.
    constraints = run("""SELECT constraint_name, constraint_type
        FROM information_schema.table_constraints
        WHERE table_schema = 'sales' AND table_name = 'orders' ORDER BY 2, 1""")
    prefix = run("""SELECT n.oid::text || '_' || c.oid::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'sales.orders'::regclass""")[0][0]
    assert constraints == [(f"{prefix}_1_not_null", "CHECK"), ("orders_pkey", "PRIMARY KEY")]

    stats = run("""SELECT schemaname, relname, n_live_tup FROM pg_catalog.pg_stat_user_tables
        WHERE schemaname = 'sales' ORDER BY relname""")
    assert [(s, r) for s, r, _ in stats] == [("sales", "lines"), ("sales", "orders")]
    assert run("SELECT has_database_privilege(current_database(), 'CONNECT'), "
               "pg_size_pretty(pg_total_relation_size('sales.orders'))") == [(True, "0 bytes")]
    conn.close()
