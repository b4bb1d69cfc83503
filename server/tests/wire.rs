//! The real binary, driven by tokio-postgres (extended protocol, binary
//! results) and simple queries.

mod common;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use common::{sqlstate, TestServer};
use rust_decimal::Decimal;
use std::str::FromStr;

const ALL_TYPES: &str = "CREATE TABLE all_types (
    id integer PRIMARY KEY,
    b boolean, s smallint, i integer, l bigint, r real, d double precision,
    n numeric(12,3), t text, v varchar(10), c char(4), by bytea, dt date,
    ts timestamp, tz timestamptz, u uuid, j json, jb jsonb)";

#[tokio::test]
async fn every_type_round_trips_in_binary_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client.batch_execute(ALL_TYPES).await.unwrap();

    let ts = NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(13, 14, 15, 123456)
        .unwrap();
    let tz: DateTime<Utc> = DateTime::from_naive_utc_and_offset(ts, Utc);
    let u = uuid::Uuid::from_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let j = serde_json::json!({"a": [1, 2, {"b": null}]});
    let n = Decimal::from_str("-12345.678").unwrap();
    let bytes: Vec<u8> = vec![0, 1, 2, 255];
    // Binary parameters in, via the types the server described.
    client
        .execute(
            "INSERT INTO all_types VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
            &[
                &1i32, &true, &-7i16, &2_000_000_000i32, &-9_000_000_000_000i64, &1.5f32, &-2.25e-7f64,
                &n, &"héllo 'world'", &"short", &"ab", &bytes,
                &NaiveDate::from_ymd_opt(1999, 12, 31).unwrap(), &ts, &tz, &u, &j, &j,
            ],
        )
        .await
        .unwrap();
    // Binary results out.
    let row = client
        .query_one("SELECT * FROM all_types WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, i16>(2), -7);
    assert_eq!(row.get::<_, i32>(3), 2_000_000_000);
    assert_eq!(row.get::<_, i64>(4), -9_000_000_000_000);
    assert_eq!(row.get::<_, f32>(5), 1.5);
    assert_eq!(row.get::<_, f64>(6), -2.25e-7);
    assert_eq!(row.get::<_, Decimal>(7), n);
    assert_eq!(row.get::<_, String>(8), "héllo 'world'");
    assert_eq!(row.get::<_, String>(9), "short");
    assert_eq!(row.get::<_, String>(10), "ab  ");
    assert_eq!(row.get::<_, Vec<u8>>(11), bytes);
    assert_eq!(
        row.get::<_, NaiveDate>(12),
        NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()
    );
    assert_eq!(row.get::<_, NaiveDateTime>(13), ts);
    assert_eq!(row.get::<_, DateTime<Utc>>(14), tz);
    assert_eq!(row.get::<_, uuid::Uuid>(15), u);
    assert_eq!(row.get::<_, serde_json::Value>(16), j);
    assert_eq!(row.get::<_, serde_json::Value>(17), j);

    // Text results (simple protocol) are PostgreSQL's text forms.
    let messages = client
        .simple_query("SELECT * FROM all_types")
        .await
        .unwrap();
    let row = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .unwrap();
    let text: Vec<Option<&str>> = (0..row.len()).map(|i| row.get(i)).collect();
    assert_eq!(
        text,
        vec![
            Some("1"),
            Some("t"),
            Some("-7"),
            Some("2000000000"),
            Some("-9000000000000"),
            Some("1.5"),
            Some("-2.25e-07"),
            Some("-12345.678"),
            Some("héllo 'world'"),
            Some("short"),
            Some("ab  "),
            Some("\\x000102ff"),
            Some("1999-12-31"),
            Some("2024-02-29 13:14:15.123456"),
            Some("2024-02-29 13:14:15.123456+00"),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Some(r#"{"a":[1,2,{"b":null}]}"#),
            Some(r#"{"a": [1, 2, {"b": null}]}"#),
        ]
    );

    // Text parameters in (simple protocol literals) round-trip too.
    client
        .batch_execute(
            "INSERT INTO all_types VALUES (2, 'f', 32767, -1, 0, 'NaN', 'Infinity', 0.5, '', 'x', 'abcd', \
             '\\x', '2000-01-01', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00', \
             'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '[]', '{\"b\":1,\"a\":2}')",
        )
        .await
        .unwrap();
    let row = client
        .query_one("SELECT r, d, n, by, u, jb FROM all_types WHERE id = 2", &[])
        .await
        .unwrap();
    assert!(row.get::<_, f32>(0).is_nan());
    assert_eq!(row.get::<_, f64>(1), f64::INFINITY);
    assert_eq!(
        row.get::<_, Decimal>(2),
        Decimal::from_str("0.500").unwrap()
    );
    assert_eq!(row.get::<_, Vec<u8>>(3), Vec::<u8>::new());
    assert_eq!(row.get::<_, uuid::Uuid>(4), u);
    assert_eq!(
        row.get::<_, serde_json::Value>(5),
        serde_json::json!({"a": 2, "b": 1})
    );

    // All NULLs.
    client
        .execute("INSERT INTO all_types (id) VALUES ($1)", &[&3i32])
        .await
        .unwrap();
    let row = client
        .query_one("SELECT * FROM all_types WHERE id = 3", &[])
        .await
        .unwrap();
    for i in 1..row.len() {
        let value: Option<String> = match row.columns()[i].type_().name() {
            "text" | "varchar" | "bpchar" => row.get(i),
            _ => None,
        };
        assert!(value.is_none());
    }
    let nulls = client
        .simple_query("SELECT count(*) FROM all_types WHERE b IS NULL AND jb IS NULL")
        .await
        .unwrap();
    assert!(
        matches!(&nulls[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("1"))
    );
}

#[tokio::test]
async fn errors_carry_postgresql_sqlstates_and_the_session_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL)")
        .await
        .unwrap();
    client
        .execute("INSERT INTO t VALUES (1, 'a')", &[])
        .await
        .unwrap();

    assert_eq!(
        sqlstate(
            client
                .execute("INSERT INTO t VALUES (1, 'again')", &[])
                .await
        ),
        "23505"
    );
    assert_eq!(
        sqlstate(client.execute("INSERT INTO t (id) VALUES (2)", &[]).await),
        "23502"
    );
    assert_eq!(
        sqlstate(
            client
                .execute("UPDATE t SET name = NULL WHERE id = 1", &[])
                .await
        ),
        "23502"
    );
    assert_eq!(
        sqlstate(client.query("SELECT * FROM missing", &[]).await),
        "42P01"
    );
    assert_eq!(sqlstate(client.batch_execute("SELEC 1").await), "42601");
    assert_eq!(
        sqlstate(client.batch_execute("CREATE TABLE t (x int)").await),
        "42P07"
    );
    assert_eq!(
        sqlstate(client.batch_execute("SELECT nope FROM t").await),
        "42703"
    );
    assert_eq!(
        sqlstate(
            client
                .batch_execute("INSERT INTO t VALUES ('x', 'y')")
                .await
        ),
        "22P02"
    );
    assert_eq!(sqlstate(client.batch_execute("SELECT 1/0").await), "22012");
    // a duplicate inside one multi-row statement fails the whole statement
    assert_eq!(
        sqlstate(
            client
                .batch_execute("INSERT INTO t VALUES (5, 'x'), (5, 'y')")
                .await
        ),
        "23505"
    );

    // The session is still usable and nothing of the failures was applied.
    let rows = client
        .query("SELECT id, name FROM t ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(1), "a");
}

#[tokio::test]
async fn transactions_read_their_own_writes_and_commit_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let mut client = server.connect().await;
    let other = server.connect().await;
    client
        .batch_execute("CREATE TABLE acct (id int PRIMARY KEY, balance bigint NOT NULL)")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO acct VALUES (1, 100), (2, 0)")
        .await
        .unwrap();

    let txn = client.transaction().await.unwrap();
    txn.execute("UPDATE acct SET balance = balance - 30 WHERE id = 1", &[])
        .await
        .unwrap();
    txn.execute("UPDATE acct SET balance = balance + 30 WHERE id = 2", &[])
        .await
        .unwrap();
    txn.batch_execute("CREATE TABLE audit_note (msg text)")
        .await
        .unwrap();
    txn.execute("INSERT INTO audit_note VALUES ('moved 30')", &[])
        .await
        .unwrap();
    // Own writes are visible inside; others see nothing yet.
    let inside: i64 = txn
        .query_one("SELECT balance FROM acct WHERE id = 2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(inside, 30);
    let outside: i64 = other
        .query_one("SELECT balance FROM acct WHERE id = 2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(outside, 0);
    assert_eq!(
        sqlstate(other.query("SELECT * FROM audit_note", &[]).await),
        "42P01"
    );
    txn.commit().await.unwrap();
    let total: i64 = other
        .query_one("SELECT sum(balance) FROM acct", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 100);
    assert_eq!(
        other
            .query("SELECT * FROM audit_note", &[])
            .await
            .unwrap()
            .len(),
        1
    );

    // Rollback discards DDL and DML; an error aborts the block (25P02).
    client
        .batch_execute("BEGIN; CREATE TABLE gone (x int); INSERT INTO acct VALUES (3, 1)")
        .await
        .unwrap();
    assert_eq!(
        sqlstate(client.batch_execute("INSERT INTO acct VALUES (1, 1)").await),
        "23505"
    );
    assert_eq!(sqlstate(client.batch_execute("SELECT 1").await), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        sqlstate(client.query("SELECT * FROM gone", &[]).await),
        "42P01"
    );
    assert_eq!(
        client.query("SELECT * FROM acct", &[]).await.unwrap().len(),
        2
    );

    // The statements of one simple query form one implicit transaction.
    assert_eq!(
        sqlstate(
            client
                .batch_execute("INSERT INTO acct VALUES (7, 7); INSERT INTO acct VALUES (1, 1)")
                .await
        ),
        "23505"
    );
    assert_eq!(
        sqlstate(
            client
                .batch_execute("INSERT INTO acct VALUES (8, 8); SELECT 1/0")
                .await
        ),
        "22012"
    );
    assert_eq!(
        client
            .query("SELECT * FROM acct WHERE id IN (7, 8)", &[])
            .await
            .unwrap()
            .len(),
        0
    );
    client
        .batch_execute("INSERT INTO acct VALUES (9, 0); INSERT INTO acct VALUES (10, 0)")
        .await
        .unwrap();
    assert_eq!(
        client
            .query("SELECT * FROM acct WHERE id IN (9, 10)", &[])
            .await
            .unwrap()
            .len(),
        2
    );
    client
        .batch_execute("DELETE FROM acct WHERE id IN (9, 10)")
        .await
        .unwrap();

    // Concurrent updates of one row under READ COMMITTED: the second waits
    // for the first to commit, then applies its change to the new row.
    let mut a = server.connect().await;
    let b = std::sync::Arc::new(server.connect().await);
    let ta = a.transaction().await.unwrap();
    ta.execute("UPDATE acct SET balance = balance + 1 WHERE id = 1", &[])
        .await
        .unwrap();
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move {
            b.execute("UPDATE acct SET balance = balance + 10 WHERE id = 1", &[])
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second writer waits for the row"
    );
    ta.commit().await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), 1);
    let balance: i64 = b
        .query_one("SELECT balance FROM acct WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(balance, 81, "70 + 1 + 10: nothing lost");
}

#[tokio::test]
async fn dml_statements_report_postgresql_command_tags_and_returning_rows() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id bigint PRIMARY KEY, v text DEFAULT 'd', n int)")
        .await
        .unwrap();
    assert_eq!(
        client
            .execute("INSERT INTO t (id) VALUES (1), (2), (3)", &[])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        client
            .execute("INSERT INTO t SELECT id + 10, v, n FROM t", &[])
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        client
            .execute("UPDATE t SET n = id * 2 WHERE id > $1", &[&2i64])
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        client
            .execute("DELETE FROM t WHERE id = $1", &[&13i64])
            .await
            .unwrap(),
        1
    );
    let returned = client
        .query(
            "INSERT INTO t VALUES (20, 'r', 7) RETURNING id, v || '!' AS bang",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(returned[0].get::<_, i64>(0), 20);
    assert_eq!(returned[0].get::<_, String>("bang"), "r!");
    let updated = client
        .query("UPDATE t SET v = 'u' WHERE id >= 12 RETURNING id", &[])
        .await
        .unwrap();
    assert_eq!(updated.len(), 2);
    let deleted = client
        .query("DELETE FROM t WHERE v = 'u' RETURNING *", &[])
        .await
        .unwrap();
    assert_eq!(deleted.len(), 2);
    let defaults: String = client
        .query_one("SELECT v FROM t WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(defaults, "d");

    // Joins, aggregates, window functions, CTEs and subqueries run through DataFusion.
    let rows = client
        .query(
            "WITH big AS (SELECT id, n FROM t WHERE n IS NOT NULL) \
             SELECT a.id, sum(b.n) OVER (ORDER BY a.id) AS running, (SELECT max(id) FROM t) AS top \
             FROM t a JOIN big b ON a.id = b.id ORDER BY a.id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].get::<_, i64>("top"), 11);

    // Tables without a primary key work too (hidden row ids).
    client
        .batch_execute("CREATE TABLE log (msg text); INSERT INTO log VALUES ('a'), ('a')")
        .await
        .unwrap();
    assert_eq!(
        client
            .execute("UPDATE log SET msg = 'b'", &[])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        client
            .execute("DELETE FROM log WHERE msg = 'b'", &[])
            .await
            .unwrap(),
        2
    );
    client
        .batch_execute("DROP TABLE log; DROP TABLE IF EXISTS log")
        .await
        .unwrap();
    assert_eq!(
        sqlstate(client.batch_execute("DROP TABLE log").await),
        "42P01"
    );

    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("PostgreSQL 15."), "{version}");
    let show = client.simple_query("SHOW server_version").await.unwrap();
    assert!(
        matches!(&show[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0).unwrap().starts_with("15."))
    );
}

#[tokio::test]
async fn restart_keeps_every_table_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE keep (id int PRIMARY KEY, v text); CREATE TABLE dropped (x int)",
        )
        .await
        .unwrap();
    for i in 0..50 {
        client
            .execute("INSERT INTO keep VALUES ($1, $2)", &[&i, &format!("v{i}")])
            .await
            .unwrap();
    }
    client.batch_execute("UPDATE keep SET v = 'changed' WHERE id < 10; DELETE FROM keep WHERE id >= 40; DROP TABLE dropped").await.unwrap();
    drop(client);
    assert!(server.stop().success(), "clean shutdown on SIGTERM");

    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM keep", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 40);
    let changed: i64 = client
        .query_one("SELECT count(*) FROM keep WHERE v = 'changed'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(changed, 10);
    assert_eq!(
        sqlstate(client.query("SELECT * FROM dropped", &[]).await),
        "42P01"
    );
    // New writes after a restart continue the same log.
    client
        .execute("INSERT INTO keep VALUES (100, 'after')", &[])
        .await
        .unwrap();
    drop(client);
    server.kill9();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let v: String = client
        .query_one("SELECT v FROM keep WHERE id = 100", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "after");
}

#[tokio::test]
async fn named_statements_and_portals_with_row_limits_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let mut client = server.connect().await;
    client
        .batch_execute("CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p SELECT CAST(value AS int) FROM generate_series(1, 25) AS value")
        .await
        .unwrap();
    let statement = client
        .prepare("SELECT id FROM p WHERE id > $1 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(statement.params(), &[tokio_postgres::types::Type::INT4]);
    let txn = client.transaction().await.unwrap();
    let portal = txn.bind(&statement, &[&5i32]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = txn.query_portal(&portal, 7).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(
            rows.len() <= 7,
            "Execute with a row limit returns at most that many rows"
        );
        seen.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (6..=25).collect::<Vec<_>>());
    txn.commit().await.unwrap();
    // The same prepared statement, reused with other parameters.
    assert_eq!(client.query(&statement, &[&20i32]).await.unwrap().len(), 5);
    // A Parse with two statements is refused.
    assert_eq!(
        sqlstate(client.prepare("SELECT 1; SELECT 2").await),
        "42601"
    );
}

async fn counter(client: &tokio_postgres::Client, name: &str) -> i64 {
    client
        .query_one(
            "SELECT value FROM kimberlite_stats WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_group_commit_and_point_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let admin = server.connect().await;
    admin
        .batch_execute("CREATE TABLE s (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    let fsyncs_before = counter(&admin, "fsyncs").await;
    let groups_before = counter(&admin, "group_commits").await;
    let commits_before = counter(&admin, "transactions_committed").await;
    // Each group commit costs two fsyncs (segment, then the durable
    // watermark). On a disk whose fsync is cheaper than a debug build's
    // commit path groups stay small, so this asserts sharing (fewer group
    // commits than commits); `engine/tests/durability.rs` proves fsyncs <
    // commits on a simulated disk with a realistic fsync latency.
    let mut tasks = Vec::new();
    for c in 0..32 {
        let conn_str = server.conn_str();
        tasks.push(tokio::spawn(async move {
            let client = common::connect(&conn_str).await.unwrap();
            for i in 0..10 {
                client
                    .execute("INSERT INTO s VALUES ($1, 'x')", &[&(c * 100 + i)])
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let fsyncs = counter(&admin, "fsyncs").await - fsyncs_before;
    let groups = counter(&admin, "group_commits").await - groups_before;
    let commits = counter(&admin, "transactions_committed").await - commits_before;
    eprintln!("{commits} commits: {groups} group commits, {fsyncs} fsyncs");
    assert_eq!(commits, 320);
    assert!(
        groups > 0 && groups < commits,
        "{commits} commits took {groups} group commits"
    );
    assert_eq!(
        fsyncs,
        2 * groups,
        "one segment and one watermark fsync per group"
    );

    let scanned_before = counter(&admin, "rows_scanned").await;
    let row = admin
        .query_one("SELECT v FROM s WHERE id = $1", &[&105i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "x");
    let scanned = counter(&admin, "rows_scanned").await - scanned_before;
    assert_eq!(scanned, 1, "a primary-key lookup scans one row");
    assert!(counter(&admin, "connections").await >= 1);
}

#[tokio::test]
async fn time_round_trips_in_binary_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE shifts (id int PRIMARY KEY, starts time)")
        .await
        .unwrap();
    let starts = chrono::NaiveTime::from_hms_micro_opt(6, 15, 1, 250_000).unwrap();
    client
        .execute("INSERT INTO shifts VALUES ($1, $2)", &[&1i32, &starts])
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO shifts VALUES (2, '23:59:59.999999'), (3, NULL)")
        .await
        .unwrap();
    let row = client
        .query_one("SELECT starts FROM shifts WHERE id = $1", &[&1i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, chrono::NaiveTime>(0), starts);
    let text = client
        .simple_query("SELECT starts FROM shifts ORDER BY id")
        .await
        .unwrap();
    let values: Vec<Option<String>> = text
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })
        .collect();
    assert_eq!(
        values,
        vec![
            Some("06:15:01.25".to_string()),
            Some("23:59:59.999999".to_string()),
            None
        ]
    );
    let error = client
        .execute("INSERT INTO shifts VALUES (4, 'noon')", &[])
        .await
        .unwrap_err();
    // PostgreSQL: 22007 invalid_datetime_format for bad date/time text.
    assert_eq!(sqlstate(Err::<(), _>(error)), "22007");
}

#[tokio::test]
async fn integer_overflow_is_22003_not_a_wrapped_number() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE ov (a int PRIMARY KEY, b int, c smallint);
             INSERT INTO ov VALUES (1, 2147483647, 32767), (2, 5, 1)",
        )
        .await
        .unwrap();
    for (sql, message) in [
        ("SELECT 9223372036854775807 + 1", "bigint out of range"),
        ("SELECT b + b FROM ov WHERE a = 1", "integer out of range"),
        (
            "SELECT c * 2::int2 FROM ov WHERE a = 1",
            "smallint out of range",
        ),
        ("SELECT -9223372036854775807 - 2", "bigint out of range"),
        ("UPDATE ov SET b = b * b", "integer out of range"),
    ] {
        let error = client.simple_query(sql).await.unwrap_err();
        let db = error.as_db_error().expect("server error");
        assert_eq!(
            (db.code().code(), db.message()),
            ("22003", message),
            "{sql}"
        );
    }
    // Nothing of the failed UPDATE was kept; ordinary arithmetic is intact.
    let row = client
        .query_one(
            "SELECT b, b - 1, (b - 2147483646) * 3 FROM ov WHERE a = 1",
            &[],
        )
        .await
        .unwrap();
    // Integer literals are int4, as in PostgreSQL: int4 - int4 is int4.
    assert_eq!(
        (
            row.get::<_, i32>(0),
            row.get::<_, i32>(1),
            row.get::<_, i32>(2)
        ),
        (2147483647, 2147483646, 3)
    );
    let total: i64 = client
        .query_one("SELECT sum(b - 5) FROM ov WHERE a = 2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 0);
}

#[tokio::test]
async fn discard_all_drops_statements_prepared_through_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let kept = client.prepare("SELECT 1").await.unwrap();
    let closed = client.prepare("SELECT 2").await.unwrap();
    drop(closed); // tokio-postgres sends Close for it
    assert_eq!(
        client.query_one(&kept, &[]).await.unwrap().get::<_, i32>(0),
        1
    );
    client.batch_execute("DISCARD ALL").await.unwrap();
    // As in PostgreSQL: the protocol-level statement is gone too.
    let error = client.query_one(&kept, &[]).await.unwrap_err();
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "26000", "{}", db.message());
    // New statements work; DEALLOCATE ALL does the same.
    let again = client.prepare("SELECT 3").await.unwrap();
    assert_eq!(
        client
            .query_one(&again, &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        3
    );
    client.batch_execute("DEALLOCATE ALL").await.unwrap();
    assert_eq!(sqlstate(client.query_one(&again, &[]).await), "26000");
}
