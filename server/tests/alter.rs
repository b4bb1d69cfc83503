//! ALTER TABLE through tokio-postgres: schema changes are logged commands
//! that survive `kill -9` (replay) and a restart from a projection
//! snapshot, and a change that rewrites the table cannot race a
//! concurrent writer into a row of the old layout or past a new rule.
//! `golden/alter_table.sql` compares each form with PostgreSQL 15.

mod common;

use common::{sqlstate, TestServer};

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// What the ALTERs below left, checked after each restart.
async fn assert_altered(client: &tokio_postgres::Client) {
    assert_eq!(count(client, "SELECT count(*) FROM items").await, 4);
    let row = client
        .query_one("SELECT label, qty FROM items WHERE id = 2", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "bolt");
    assert_eq!(row.get::<_, i64>(1), 20);
    let cases = [
        ("INSERT INTO items (id, label) VALUES (1, 'new')", "23505"),
        ("INSERT INTO items (id, label) VALUES (99, 'nut')", "23505"),
        ("INSERT INTO items (id, label) VALUES (NULL, 'z')", "23502"),
        ("SELECT note FROM items", "42703"),
        ("SELECT * FROM stock", "42P01"),
    ];
    for (sql, code) in cases {
        assert_eq!(sqlstate(client.execute(sql, &[]).await), code, "{sql}");
    }
}

#[tokio::test]
async fn alter_table_survives_kill9_and_snapshot_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE stock (id int, name text, qty int);
             INSERT INTO stock VALUES (1, 'nut', 10), (2, 'bolt', 20);
             ALTER TABLE stock ADD COLUMN note text DEFAULT 'n';
             ALTER TABLE stock ADD PRIMARY KEY (id);
             ALTER TABLE stock ADD CONSTRAINT stock_name_key UNIQUE (name);
             INSERT INTO stock (id, name, qty) VALUES (3, 'washer', 30);
             ALTER TABLE stock ALTER COLUMN qty TYPE bigint;
             ALTER TABLE stock RENAME COLUMN name TO label;
             ALTER TABLE stock DROP COLUMN note;
             ALTER TABLE stock RENAME TO items;
             INSERT INTO items (id, label, qty) VALUES (4, 'gear', 10000000000);",
        )
        .await
        .unwrap();
    assert_altered(&client).await;
    drop(client);
    server.kill9();

    // Replay from the log.
    let server = TestServer::dev_checkpointing_every_op(dir.path());
    let client = server.connect().await;
    assert_altered(&client).await;
    // One more change, then a snapshot is written (checkpoint every op).
    client
        .batch_execute("ALTER TABLE items ALTER COLUMN label SET NOT NULL")
        .await
        .unwrap();
    drop(client);
    server.stop();

    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    common::assert_opened_from_snapshot(&client).await;
    assert_altered(&client).await;
    assert_eq!(
        sqlstate(
            client
                .execute("INSERT INTO items (id, label) VALUES (5, NULL)", &[])
                .await
        ),
        "23502"
    );
}

/// A write planned against the old definition that commits after the
/// ALTER fails (40001) instead of landing a row of the old layout; an
/// ALTER that adds a rule fails (40001) if a row it did not check was
/// committed meanwhile. Either way every row keeps the rules.
#[tokio::test]
async fn alter_table_and_concurrent_writers_never_leave_a_row_behind() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int);
         INSERT INTO t VALUES (1, 1), (2, 2);",
    )
    .await
    .unwrap();

    // A writer of the old layout commits after ADD COLUMN did.
    a.batch_execute("BEGIN; INSERT INTO t VALUES (3, 3)")
        .await
        .unwrap();
    b.batch_execute("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 7")
        .await
        .unwrap();
    assert_eq!(sqlstate(a.batch_execute("COMMIT").await), "40001");
    assert_eq!(count(&a, "SELECT count(*) FROM t WHERE c = 7").await, 2);

    // A row committed while ADD UNIQUE was open breaks it: the ALTER
    // fails at COMMIT and the table keeps both rows, without the rule.
    a.batch_execute("BEGIN; ALTER TABLE t ADD CONSTRAINT t_v_key UNIQUE (v)")
        .await
        .unwrap();
    b.batch_execute("INSERT INTO t (id, v) VALUES (3, 1)")
        .await
        .unwrap();
    assert_eq!(sqlstate(a.batch_execute("COMMIT").await), "40001");
    b.batch_execute("INSERT INTO t (id, v) VALUES (4, 1)")
        .await
        .unwrap();
    assert_eq!(count(&b, "SELECT count(*) FROM t WHERE v = 1").await, 3);

    // Retried over the duplicates: refused with PostgreSQL's error.
    assert_eq!(
        sqlstate(
            a.batch_execute("ALTER TABLE t ADD CONSTRAINT t_v_key UNIQUE (v)")
                .await
        ),
        "23505"
    );
    b.batch_execute("DELETE FROM t WHERE id IN (3, 4)")
        .await
        .unwrap();
    a.batch_execute("ALTER TABLE t ADD CONSTRAINT t_v_key UNIQUE (v)")
        .await
        .unwrap();
    assert_eq!(
        sqlstate(b.execute("INSERT INTO t (id, v) VALUES (5, 2)", &[]).await),
        "23505"
    );
}

/// Indexes are derived state: rebuilt by replay after `kill -9` and after
/// a snapshot load, they find the same rows and are still chosen. Views
/// are catalog entries like tables and come back with them.
#[tokio::test]
async fn indexes_and_views_survive_kill9_and_snapshot_restarts() {
    async fn assert_indexed(client: &tokio_postgres::Client) {
        let plan: Vec<String> = client
            .query("EXPLAIN SELECT * FROM t WHERE a = 3", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(1))
            .collect();
        assert!(
            plan.iter()
                .any(|p| p.contains("access=index t_a_idx (a =)")),
            "{plan:?}"
        );
        assert_eq!(
            count(client, "SELECT count(*) FROM t WHERE a = 3").await,
            30
        );
        assert_eq!(
            sqlstate(
                client
                    .execute("INSERT INTO t VALUES (1000, 1, 's5')", &[])
                    .await
            ),
            "23505",
            "the unique index is enforced"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, a int, s text);
             INSERT INTO t SELECT g, g % 10, 's' || g FROM generate_series(1, 200) g;
             CREATE INDEX t_a_idx ON t (a);
             CREATE UNIQUE INDEX t_s ON t (s);
             UPDATE t SET a = 3 WHERE a = 4;
             UPDATE t SET a = 4 WHERE id % 20 = 4;
             CREATE VIEW by_a AS SELECT a, count(*) AS n FROM t GROUP BY a;
             CREATE VIEW summary AS SELECT n AS threes FROM by_a WHERE a = 3;",
        )
        .await
        .unwrap();
    assert_indexed(&client).await;
    drop(client);
    server.kill9();
    let server = TestServer::dev_checkpointing_every_op(dir.path());
    let client = server.connect().await;
    assert_indexed(&client).await;
    client
        .batch_execute("INSERT INTO t VALUES (201, 7, 'x')")
        .await
        .unwrap();
    drop(client);
    server.stop();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    assert_indexed(&client).await;
}

/// Schemas and what is in them are catalog state like any other: after
/// `kill -9` (replay) and a snapshot restart the same names mean the same
/// objects, qualified or through search_path.
#[tokio::test]
async fn schemas_survive_kill9_and_snapshot_restarts() {
    async fn assert_schemas(client: &tokio_postgres::Client) {
        assert_eq!(count(client, "SELECT count(*) FROM ops.jobs").await, 3);
        assert_eq!(
            count(client, "SELECT count(*) FROM jobs").await,
            1,
            "public.jobs"
        );
        assert_eq!(count(client, "SELECT count(*) FROM ops.pending").await, 2);
        client
            .batch_execute("SET search_path = ops, public")
            .await
            .unwrap();
        assert_eq!(
            count(client, "SELECT count(*) FROM jobs").await,
            3,
            "ops.jobs"
        );
        assert_eq!(
            sqlstate(
                client
                    .execute("INSERT INTO jobs (state) VALUES (NULL)", &[])
                    .await
            ),
            "23502"
        );
        client.batch_execute("RESET search_path").await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA ops;
             CREATE TABLE ops.jobs (id serial PRIMARY KEY, state text NOT NULL);
             CREATE INDEX ON ops.jobs (state);
             CREATE VIEW ops.pending AS SELECT id FROM ops.jobs WHERE state = 'new';
             INSERT INTO ops.jobs (state) VALUES ('new'), ('new'), ('done');
             CREATE TABLE jobs (id int);
             INSERT INTO jobs VALUES (1);",
        )
        .await
        .unwrap();
    assert_schemas(&client).await;
    drop(client);
    server.kill9();
    let server = TestServer::dev_checkpointing_every_op(dir.path());
    let client = server.connect().await;
    assert_schemas(&client).await;
    client
        .batch_execute("INSERT INTO jobs VALUES (2); DELETE FROM jobs WHERE id = 2")
        .await
        .unwrap();
    drop(client);
    server.stop();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    assert_schemas(&client).await;
}
