"""The queries Grafana's PostgreSQL data source sends (its health check,
version probe, schema/table/column pickers with their search_path
parsing, and a time-series panel's macro expansion), run through psycopg
against a running Kimberlite."""

import psycopg


def test_grafana_data_source_queries(server):
    with psycopg.connect(server["dsn"], autocommit=True) as conn:
        run = lambda sql: conn.execute(sql).fetchall()
        conn.execute("CREATE SCHEMA graf")
        conn.execute("CREATE TABLE metrics (t timestamptz, v float8, host text)")
        conn.execute("CREATE TABLE graf.hidden (a int)")
        conn.execute(
            "INSERT INTO metrics VALUES ('2024-01-01T00:01:00Z', 1, 'a'), "
            "('2024-01-01T00:07:00Z', 3, 'b'), ('2024-01-01T00:08:00Z', 5, 'a'), "
            "('2024-01-02T00:00:00Z', 100, 'late')")

        assert run("-- ping\nSELECT 1") == [(1,)]
        assert run("SELECT current_setting('server_version_num')::int/100 as version") == [(1500,)]
        assert run("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == []
        schemas = run("""SELECT schema_name AS "name" FROM information_schema.schemata
            WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'pg_toast')
            ORDER BY schema_name""")
        assert ("public",) in schemas and ("graf",) in schemas

        in_path = """quote_ident(table_schema) IN (
            SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
            FROM generate_series(
                array_lower(string_to_array(current_setting('search_path'),','),1),
                array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i, string_to_array(current_setting('search_path'),',') s)"""
        tables = run(f"""SELECT CASE WHEN {in_path} THEN quote_ident(table_name)
                ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table"
            FROM information_schema.tables
            WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog')
            ORDER BY CASE WHEN {in_path} THEN 0 ELSE 1 END, 1""")
        assert tables == [("metrics",), ("graf.hidden",)]
        assert run("""SELECT quote_ident(table_name) AS "table" FROM information_schema.tables
            WHERE quote_ident(table_schema) = 'graf' ORDER BY 1""") == [("hidden",)]
        for name, expected in [("metrics", ["t", "v", "host"]), ("graf.hidden", ["a"])]:
            columns = run(f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
                FROM information_schema.columns
                WHERE CASE WHEN array_length(parse_ident('{name}'),1) = 2
                    THEN quote_ident(table_schema) = (parse_ident('{name}'))[1]
                      AND quote_ident(table_name) = (parse_ident('{name}'))[2]
                    ELSE quote_ident(table_name) = '{name}' AND {in_path} END""")
            assert [c for c, _ in columns] == expected
        assert dict(run("""SELECT column_name, data_type FROM information_schema.columns
            WHERE table_name = 'metrics'"""))["t"] == "timestamp with time zone"

        # $__timeGroupAlias(t, 5m) and $__timeFilter(t) as Grafana expands them.
        series = run("""SELECT floor(extract(epoch from t)/300)*300 AS "time", avg(v) AS "value"
            FROM metrics
            WHERE t BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T01:00:00Z'
            GROUP BY 1 ORDER BY 1""")
        assert [(int(t), v) for t, v in series] == [(1704067200, 1.0), (1704067500, 4.0)]
