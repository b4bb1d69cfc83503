//! Constraints and sequences through tokio-postgres: what they guarantee
//! across concurrent transactions (the apply-time backstop) and across
//! restarts (`kill -9`, and a restart from a projection snapshot, after
//! which the constraint indexes are rebuilt). `golden/constraints.sql` and
//! `golden/sequences.sql` compare the statement-level behaviour with
//! PostgreSQL 15 line by line.

mod common;

use std::collections::HashSet;

use common::{sqlstate, TestServer};

const SCHEMA: &str = "
    CREATE TABLE account (id serial PRIMARY KEY, email text UNIQUE NOT NULL,
                          balance int NOT NULL CHECK (balance >= 0));
    CREATE TABLE entry (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                        account_id int NOT NULL REFERENCES account ON DELETE CASCADE,
                        amount int NOT NULL);
";

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// Every constraint still holds after a restart: the UNIQUE and foreign
/// key indexes are derived state, rebuilt by replay or after a snapshot.
async fn assert_constraints_hold(client: &tokio_postgres::Client) {
    let cases = [
        (
            "INSERT INTO account (email, balance) VALUES ('b@x', 1)",
            "23505",
        ),
        (
            "INSERT INTO account (email, balance) VALUES ('new@x', -1)",
            "23514",
        ),
        (
            "INSERT INTO entry (account_id, amount) VALUES (999, 1)",
            "23503",
        ),
        (
            "INSERT INTO entry (id, account_id, amount) VALUES (1, 1, 1)",
            "428C9",
        ),
    ];
    for (sql, code) in cases {
        assert_eq!(sqlstate(client.execute(sql, &[]).await), code, "{sql}");
    }
}

#[tokio::test]
async fn constraints_and_sequences_survive_kill9_and_snapshot_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client.batch_execute(SCHEMA).await.unwrap();
    for i in 0..5 {
        client
            .execute(
                "INSERT INTO account (email, balance) VALUES ($1, 10)",
                &[&format!("{}@x", (b'a' + i) as char)],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute("INSERT INTO entry (account_id, amount) SELECT id, 1 FROM account")
        .await
        .unwrap();
    let before: HashSet<i32> = client
        .query("SELECT id FROM account", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(before.len(), 5);
    assert_constraints_hold(&client).await;
    drop(client);
    server.kill9();

    // Replay from the log: indexes rebuilt op by op; the sequences resume
    // after their logged reservation (a gap, never a repeat).
    let server = TestServer::dev_checkpointing_every_op(dir.path());
    let client = server.connect().await;
    assert_constraints_hold(&client).await;
    let id: i32 = client
        .query_one(
            "INSERT INTO account (email, balance) VALUES ('f@x', 5) RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !before.contains(&id) && id > *before.iter().max().unwrap(),
        "{id}"
    );
    let deleted = client
        .execute("DELETE FROM account WHERE email = 'a@x'", &[])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        count(&client, "SELECT count(*) FROM entry").await,
        4,
        "cascaded"
    );
    // Checkpoints every op: the next start loads a snapshot.
    client
        .batch_execute("INSERT INTO account (email, balance) VALUES ('g@x', 5)")
        .await
        .unwrap();
    drop(client);
    server.stop();

    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    common::assert_opened_from_snapshot(&client).await;
    assert_constraints_hold(&client).await;
    assert_eq!(
        sqlstate(
            client
                .execute(
                    "INSERT INTO account (email, balance) VALUES ('g@x', 5)",
                    &[]
                )
                .await
        ),
        "23505",
        "the UNIQUE index was rebuilt from the snapshot"
    );
    let ids: Vec<i32> = client
        .query("SELECT id FROM account ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let distinct: HashSet<i32> = ids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "serial ids never repeat: {ids:?}"
    );
}

/// Two transactions that are each fine alone must not commit together: a
/// second inserter of a UNIQUE value waits for the first, and the kernel
/// checks the rows a commit leaves against what committed since.
#[tokio::test]
async fn concurrent_transactions_cannot_together_break_a_constraint() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(SCHEMA).await.unwrap();
    a.batch_execute("INSERT INTO account (email, balance) VALUES ('p@x', 1), ('q@x', 1)")
        .await
        .unwrap();

    // Two inserts of one UNIQUE value: the second waits for the first
    // transaction, then fails with 23505 once it commits.
    a.batch_execute("BEGIN; INSERT INTO account (email, balance) VALUES ('same@x', 1)")
        .await
        .unwrap();
    let b = std::sync::Arc::new(b);
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move {
            b.batch_execute("BEGIN; INSERT INTO account (email, balance) VALUES ('same@x', 2)")
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second insert waits for the first"
    );
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(sqlstate(waiting.await.unwrap()), "23505");
    b.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        count(&a, "SELECT count(*) FROM account WHERE email = 'same@x'").await,
        1
    );

    // A child inserted while its parent is deleted: the later commit fails
    // with 23503, whichever side it is.
    let p: i32 = a
        .query_one("SELECT id FROM account WHERE email = 'p@x'", &[])
        .await
        .unwrap()
        .get(0);
    a.batch_execute("BEGIN").await.unwrap();
    a.execute(
        "INSERT INTO entry (account_id, amount) VALUES ($1, 5)",
        &[&p],
    )
    .await
    .unwrap();
    b.execute("DELETE FROM account WHERE id = $1", &[&p])
        .await
        .unwrap();
    assert_eq!(sqlstate(a.batch_execute("COMMIT").await), "23503");
    assert_eq!(count(&a, "SELECT count(*) FROM entry").await, 0);

    let q: i32 = a
        .query_one("SELECT id FROM account WHERE email = 'q@x'", &[])
        .await
        .unwrap()
        .get(0);
    b.batch_execute("BEGIN").await.unwrap();
    b.execute("DELETE FROM account WHERE id = $1", &[&q])
        .await
        .unwrap();
    a.execute(
        "INSERT INTO entry (account_id, amount) VALUES ($1, 5)",
        &[&q],
    )
    .await
    .unwrap();
    assert_eq!(sqlstate(b.batch_execute("COMMIT").await), "23503");
    assert_eq!(
        count(&a, "SELECT count(*) FROM account WHERE email = 'q@x'").await,
        1,
        "the referenced row stayed"
    );
}

/// Several connections drawing from one sequence at once (autocommit,
/// inside transactions that roll back, and through SERIAL defaults) never
/// get the same value twice.
#[tokio::test]
async fn sequences_never_repeat_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let setup = server.connect().await;
    setup
        .batch_execute("CREATE SEQUENCE shared; CREATE TABLE t (id serial PRIMARY KEY, c int)")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for c in 0..4i32 {
        let client = server.connect().await;
        tasks.push(tokio::spawn(async move {
            let mut values = Vec::new();
            for i in 0..60 {
                if i % 3 == 0 {
                    client.batch_execute("BEGIN").await.unwrap();
                    let v: i64 = client
                        .query_one("SELECT nextval('shared')", &[])
                        .await
                        .unwrap()
                        .get(0);
                    client.batch_execute("ROLLBACK").await.unwrap();
                    values.push(v);
                } else {
                    let v: i64 = client
                        .query_one("SELECT nextval('shared')", &[])
                        .await
                        .unwrap()
                        .get(0);
                    values.push(v);
                }
                client
                    .execute("INSERT INTO t (c) VALUES ($1)", &[&c])
                    .await
                    .unwrap();
            }
            values
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "nextval repeated a value");
    assert_eq!(count(&setup, "SELECT count(*) FROM t").await, 240);
    assert_eq!(count(&setup, "SELECT count(DISTINCT id) FROM t").await, 240);
}

/// A value `nextval` showed the client (an autocommitted SELECT, or a
/// block that wrote nothing) is durable before the client hears the
/// statement completed: a `kill -9` right after never hands it out again.
/// (A TRUNCATE before it stays done.)
#[tokio::test]
async fn a_nextval_the_client_saw_survives_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SEQUENCE s; CREATE SEQUENCE t; CREATE TABLE gone (id serial PRIMARY KEY);
             INSERT INTO gone DEFAULT VALUES; TRUNCATE gone RESTART IDENTITY",
        )
        .await
        .unwrap();
    let s: i64 = client
        .query_one("SELECT nextval('s')", &[])
        .await
        .unwrap()
        .get(0);
    client.batch_execute("BEGIN").await.unwrap();
    let t: i64 = client
        .query_one("SELECT nextval('t')", &[])
        .await
        .unwrap()
        .get(0);
    client.batch_execute("COMMIT").await.unwrap();
    drop(client);
    server.kill9();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let row = client
        .query_one("SELECT nextval('s') AS s, nextval('t') AS t", &[])
        .await
        .unwrap();
    let (s2, t2): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        count(&client, "SELECT count(*) FROM gone").await,
        0,
        "TRUNCATE is logged"
    );
    assert!(
        s2 > s && t2 > t,
        "after kill -9: s {s} -> {s2}, t {t} -> {t2}"
    );
}
