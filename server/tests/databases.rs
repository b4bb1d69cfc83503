//! Databases through tokio-postgres: each database is a tenant with a
//! catalog of its own — a connection sees only its database's tables,
//! schemas and sequences — and CREATE/DROP DATABASE are logged commands
//! that survive `kill -9` (replay) and a restart from a projection
//! snapshot. `golden/databases.sql` compares the statements with
//! PostgreSQL 15.

mod common;

use common::{sqlstate, TestServer};

async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

fn detail<T>(result: Result<T, tokio_postgres::Error>) -> Option<String> {
    result
        .err()
        .and_then(|e| e.as_db_error().and_then(|d| d.detail()).map(str::to_string))
}

/// What each database holds, checked after every restart.
async fn assert_isolated(server: &TestServer) {
    let home = server.connect().await;
    let shop = server.connect_to("shop").await.unwrap();
    assert_eq!(texts(&home, "SELECT name FROM items").await, ["home"]);
    assert_eq!(
        texts(&shop, "SELECT name FROM items ORDER BY id").await,
        ["nut", "bolt"]
    );
    assert_eq!(texts(&shop, "SELECT current_database()").await, ["shop"]);
    // Schemas, sequences and indexes are the database's own too.
    assert_eq!(
        texts(&shop, "SELECT label FROM sales.orders ORDER BY id").await,
        ["a", "b"]
    );
    assert_eq!(
        sqlstate(home.execute("SELECT * FROM sales.orders", &[]).await),
        "42P01"
    );
    assert_eq!(
        sqlstate(
            home.execute("SELECT nextval('sales.orders_id_seq')", &[])
                .await
        ),
        "42P01"
    );
    // Another database's relation cannot be named at all.
    assert_eq!(
        sqlstate(home.execute("SELECT * FROM shop.public.items", &[]).await),
        "0A000"
    );
    assert_eq!(
        texts(&shop, "SELECT name FROM shop.public.items WHERE id = 1").await,
        ["nut"]
    );
    // The unique index of one database does not see the other's rows.
    assert_eq!(
        sqlstate(
            shop.execute("INSERT INTO items VALUES (3, 'nut')", &[])
                .await
        ),
        "23505"
    );
    home.execute("INSERT INTO items VALUES (3, 'nut')", &[])
        .await
        .unwrap();
    home.execute("DELETE FROM items WHERE id = 3", &[])
        .await
        .unwrap();
    assert_eq!(
        sqlstate(server.connect_to("gone").await),
        "3D000",
        "a dropped database stays dropped"
    );
}

#[tokio::test]
async fn databases_are_isolated_and_survive_kill9_and_snapshot_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let home = server.connect().await;
    home.batch_execute("CREATE DATABASE shop").await.unwrap();
    home.batch_execute("CREATE DATABASE gone").await.unwrap();
    home.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, name text UNIQUE);
         INSERT INTO items VALUES (1, 'home');",
    )
    .await
    .unwrap();
    assert_eq!(
        sqlstate(home.batch_execute("CREATE DATABASE shop").await),
        "42P04"
    );
    let shop = server.connect_to("shop").await.unwrap();
    // The same names, nothing of the other database's.
    assert_eq!(
        sqlstate(shop.execute("SELECT * FROM items", &[]).await),
        "42P01"
    );
    shop.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, name text UNIQUE);
         INSERT INTO items VALUES (1, 'nut'), (2, 'bolt');
         CREATE SCHEMA sales;
         CREATE TABLE sales.orders (id serial PRIMARY KEY, label text);
         INSERT INTO sales.orders (label) VALUES ('a'), ('b');",
    )
    .await
    .unwrap();
    let gone = server.connect_to("gone").await.unwrap();
    gone.batch_execute("CREATE TABLE g (x int); INSERT INTO g VALUES (1)")
        .await
        .unwrap();
    // In use by another session: refused with PostgreSQL's words.
    let in_use = home.batch_execute("DROP DATABASE gone").await;
    assert_eq!(
        detail(home.batch_execute("DROP DATABASE gone").await).as_deref(),
        Some("There is 1 other session using the database.")
    );
    assert_eq!(sqlstate(in_use), "55006");
    assert_eq!(
        sqlstate(gone.batch_execute("DROP DATABASE gone").await),
        "55006"
    );
    drop(gone);
    // The server notices the closed connection shortly; retry for a while.
    let mut dropped = false;
    for _ in 0..100 {
        if home.batch_execute("DROP DATABASE gone").await.is_ok() {
            dropped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(dropped, "DROP DATABASE once its session left");
    assert_isolated(&server).await;
    drop((home, shop));
    server.kill9();

    // Replay from the log.
    let server = TestServer::dev_checkpointing_every_op(dir.path());
    assert_isolated(&server).await;
    let shop = server.connect_to("shop").await.unwrap();
    shop.batch_execute("INSERT INTO sales.orders (label) VALUES ('c')")
        .await
        .unwrap();
    drop(shop);
    server.stop();

    // From a snapshot: the catalogs of every database are in it.
    let server = TestServer::dev(dir.path());
    let home = server.connect().await;
    common::assert_opened_from_snapshot(&home).await;
    let shop = server.connect_to("shop").await.unwrap();
    assert_eq!(
        texts(&shop, "SELECT label FROM sales.orders ORDER BY id").await,
        ["a", "b", "c"]
    );
    shop.execute("DELETE FROM sales.orders WHERE label = 'c'", &[])
        .await
        .unwrap();
    assert_isolated(&server).await;
    // A database created again under a dropped one's name starts empty.
    home.batch_execute("CREATE DATABASE gone").await.unwrap();
    let gone = server.connect_to("gone").await.unwrap();
    assert_eq!(
        sqlstate(gone.execute("SELECT * FROM g", &[]).await),
        "42P01"
    );
}

#[tokio::test]
async fn database_statements_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    // Several statements in one query string are one block (25001), as
    // are BEGIN … COMMIT and extended-protocol statements after a write.
    assert_eq!(
        sqlstate(client.simple_query("CREATE DATABASE a; SELECT 1").await),
        "25001"
    );
    assert_eq!(
        sqlstate(
            client
                .simple_query("SELECT 1; DROP DATABASE IF EXISTS a")
                .await
        ),
        "25001"
    );
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        sqlstate(client.batch_execute("CREATE DATABASE a").await),
        "25001"
    );
    client.batch_execute("ROLLBACK").await.unwrap();
    // Alone, through the extended protocol too.
    client.execute("CREATE DATABASE a", &[]).await.unwrap();
    assert_eq!(
        sqlstate(client.batch_execute("DROP DATABASE kimberlite").await),
        "55006"
    );
    client.execute("DROP DATABASE a", &[]).await.unwrap();
    assert_eq!(
        sqlstate(client.execute("DROP DATABASE a", &[]).await),
        "3D000"
    );
    // OWNER must name a role.
    assert_eq!(
        sqlstate(client.batch_execute("CREATE DATABASE b OWNER nobody").await),
        "42704"
    );
    client
        .batch_execute("CREATE DATABASE b WITH OWNER = kimberlite ENCODING = 'UTF8'")
        .await
        .unwrap();
    let b = server.connect_to("b").await.unwrap();
    b.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert_eq!(texts(&b, "SELECT current_database()").await, ["b"]);
}
