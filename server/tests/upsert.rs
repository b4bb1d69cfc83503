//! `INSERT … ON CONFLICT` through tokio-postgres: prepared statements with
//! binary parameters (how ORMs upsert), the errors PostgreSQL gives, and a
//! `kill -9` restart. (`golden/upsert.sql` compares the rest with
//! PostgreSQL 15 line by line.)

mod common;

use common::{sqlstate, TestServer};

#[tokio::test]
async fn prepared_upserts_count_and_survive_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE hits (page text PRIMARY KEY, n bigint NOT NULL)")
        .await
        .unwrap();
    let upsert = client
        .prepare(
            "INSERT INTO hits VALUES ($1, 1) ON CONFLICT (page) \
             DO UPDATE SET n = hits.n + excluded.n RETURNING n",
        )
        .await
        .unwrap();
    let mut last = 0i64;
    for page in ["/", "/a", "/", "/", "/a"] {
        last = client.query_one(&upsert, &[&page]).await.unwrap().get(0);
    }
    assert_eq!(last, 2, "the second hit of /a");
    let skip = client
        .execute(
            "INSERT INTO hits VALUES ($1, 99) ON CONFLICT DO NOTHING",
            &[&"/"],
        )
        .await
        .unwrap();
    assert_eq!(skip, 0, "DO NOTHING reports no row");

    for (sql, code) in [
        (
            "INSERT INTO hits VALUES ('/', 1) ON CONFLICT (page) DO UPDATE SET n = n + 1",
            "42702",
        ),
        (
            "INSERT INTO hits VALUES ('/', 1) ON CONFLICT DO UPDATE SET n = 0",
            "42601",
        ),
        (
            "INSERT INTO hits VALUES ('/', 1) ON CONFLICT (n) DO NOTHING",
            "42P10",
        ),
        (
            "INSERT INTO hits VALUES ('/', 1) ON CONFLICT (page) DO UPDATE SET page = 'x'",
            "0A000",
        ),
    ] {
        assert_eq!(sqlstate(client.execute(sql, &[]).await), code, "{sql}");
    }

    server.kill9();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let rows: Vec<(String, i64)> = client
        .query("SELECT page, n FROM hits ORDER BY page", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, vec![("/".into(), 3), ("/a".into(), 2)]);
}
