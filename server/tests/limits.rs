//! Limits with PostgreSQL's SQLSTATEs: too many connections (53300),
//! statement_timeout (57014) and statement memory (53200), each leaving the
//! server and the session usable.

mod common;

use common::{connect, sqlstate, TestServer};

#[tokio::test]
async fn connections_beyond_the_limit_get_53300_and_slots_free_up() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::spawn("dev", dir.path(), &[("KIMBERLITE_MAX_CONNECTIONS", "3")]).unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(server.connect().await);
    }
    let error = connect(&server.conn_str())
        .await
        .expect_err("a fourth connection is refused");
    assert_eq!(error.code().map(|c| c.code()), Some("53300"), "{error}");
    // psql (libpq, which asks for TLS first) gets the same message.
    let output = std::process::Command::new("psql")
        .arg(server.url())
        .args(["-X", "-c", "SELECT 1"])
        .output()
        .expect("psql is installed");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("too many clients"),
        "{output:?}"
    );
    // Held sessions still work; closing one frees a slot.
    held[0].batch_execute("SELECT 1").await.unwrap();
    drop(held.pop());
    let mut again = None;
    for _ in 0..500 {
        if let Ok(client) = connect(&server.conn_str()).await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    again
        .expect("a slot frees when a client leaves")
        .batch_execute("SELECT 1")
        .await
        .unwrap();
}

#[tokio::test]
async fn statement_timeout_cancels_with_57014_and_the_session_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = '50ms'")
        .await
        .unwrap();
    let slow = "SELECT sum(value) FROM generate_series(1, 2000000000) AS value";
    assert_eq!(sqlstate(client.query(slow, &[]).await), "57014");
    assert_eq!(sqlstate(client.batch_execute(slow).await), "57014");
    // Inside a transaction the timeout aborts the block, as in PostgreSQL.
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(sqlstate(client.batch_execute(slow).await), "57014");
    assert_eq!(sqlstate(client.batch_execute("SELECT 1").await), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        sqlstate(client.batch_execute("SET statement_timeout = 'soon'").await),
        "22023"
    );
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM generate_series(1, 1000)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1000);
    // Other sessions never saw the setting.
    let other = server.connect().await;
    let shown = other.simple_query("SHOW statement_timeout").await.unwrap();
    assert!(
        matches!(&shown[1], tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("0"))
    );
}

#[tokio::test]
async fn a_statement_over_its_memory_bound_gets_53200_and_the_session_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn(
        "dev",
        dir.path(),
        &[("KIMBERLITE_STATEMENT_MEMORY_BYTES_MAX", "4000000")],
    )
    .unwrap();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE m (id int PRIMARY KEY)")
        .await
        .unwrap();
    // A hash aggregate over a million distinct, unordered keys needs far
    // more than 4 MB.
    let greedy = "SELECT (value * 7919) % 1000003 AS k, count(*) \
                  FROM generate_series(1, 1000000) AS value GROUP BY k";
    let Err(error) = client.query(greedy, &[]).await else {
        panic!("the aggregate ran within 4 MB");
    };
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "53200", "{db:?}");
    assert_eq!(db.message(), "out of memory");
    assert!(
        db.detail().is_some(),
        "the detail names what asked for memory"
    );
    // A hash join likewise (spilling is disabled: no fallback to disk).
    let join = "SELECT count(*) FROM generate_series(1, 1000000) a \
                JOIN generate_series(1, 1000000) b ON a = b * 1";
    assert_eq!(sqlstate(client.query(join, &[]).await), "53200");
    // The session and the data are intact; small statements still run.
    client
        .batch_execute("INSERT INTO m VALUES (1)")
        .await
        .unwrap();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT value FROM generate_series(1, 1000) AS value GROUP BY value)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1000);
    // Inside a transaction the error aborts the block, as any error does.
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(sqlstate(client.batch_execute(greedy).await), "53200");
    assert_eq!(sqlstate(client.batch_execute("SELECT 1").await), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    let other = server.connect().await;
    let n: i64 = other
        .query_one("SELECT count(*) FROM m", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
