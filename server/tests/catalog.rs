//! pg_catalog through tokio-postgres: relation OIDs are derived from the
//! log, so they are the same after `kill -9`; the catalog follows DDL in
//! the reader's own transaction and is per database. psql's view of the
//! same relations is in `golden/describe.sql` and `golden/catalog.sql`.

mod common;

use common::TestServer;

async fn oids(client: &tokio_postgres::Client) -> Vec<(String, u32)> {
    client
        .query(
            "SELECT c.relname::text, c.oid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname IN ('public', 'app') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The columns of view `bv` and their types, as `\d` prints them.
async fn view_types(client: &tokio_postgres::Client) -> Vec<(String, String)> {
    client
        .query(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod) \
             FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'bv'::regclass \
             AND a.attnum > 0 ORDER BY a.attnum",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn visible(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 'pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn catalog_oids_survive_restart_and_follow_transactions_and_databases() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA app;
             CREATE TABLE app.a (id serial PRIMARY KEY, v text UNIQUE);
             CREATE TABLE b (id int REFERENCES app.a (id));
             CREATE INDEX b_id_idx ON b (id);
             CREATE VIEW bv AS SELECT id FROM b;",
        )
        .await
        .unwrap();
    let before = oids(&client).await;
    let names: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["a", "a_id_seq", "a_pkey", "a_v_key", "b", "b_id_idx", "bv"]
    );
    drop(client);
    server.kill9();

    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    assert_eq!(oids(&client).await, before, "OIDs are derived from the log");
    // regclass both ways agrees with pg_class.
    let row = client
        .query_one(
            "SELECT 'app.a'::regclass::oid, 'app.a'::regclass::text",
            &[],
        )
        .await
        .unwrap();
    let a = before.iter().find(|(n, _)| n == "a").unwrap().1;
    assert_eq!(row.get::<_, u32>(0), a);
    assert_eq!(row.get::<_, String>(1), "app.a");

    // A view's column types are in the log too, and follow a rename of
    // the table it reads.
    let integer_id = vec![("id".to_string(), "integer".to_string())];
    assert_eq!(view_types(&client).await, integer_id);
    client
        .batch_execute("ALTER TABLE b RENAME TO b2")
        .await
        .unwrap();
    assert_eq!(view_types(&client).await, integer_id);

    // A transaction's own DDL is in its catalog; others see it at commit.
    let other = server.connect().await;
    client
        .batch_execute("BEGIN; CREATE TABLE pending (x int)")
        .await
        .unwrap();
    assert_eq!(visible(&client).await, 1);
    assert_eq!(visible(&other).await, 0);
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(visible(&other).await, 1);

    // Another database has a catalog of its own.
    client
        .batch_execute("CREATE DATABASE elsewhere")
        .await
        .unwrap();
    let elsewhere = server.connect_to("elsewhere").await.unwrap();
    assert_eq!(oids(&elsewhere).await, vec![]);
    let databases: Vec<String> = elsewhere
        .query(
            "SELECT datname::text FROM pg_catalog.pg_database ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(databases, ["elsewhere", "kimberlite"]);
}

/// `pg_stat_activity` lists every open session, of every database, with
/// its state as PostgreSQL names it; a closed session leaves it.
#[tokio::test]
async fn pg_stat_activity_lists_every_session_and_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let watcher = server.connect().await;
    watcher
        .batch_execute("SET application_name = 'watcher'")
        .await
        .unwrap();
    watcher
        .batch_execute("CREATE DATABASE other")
        .await
        .unwrap();
    let busy = server.connect().await;
    busy.batch_execute("SET application_name = 'busy'; BEGIN; SELECT 1")
        .await
        .unwrap();
    let busy_pid: i32 = busy
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let elsewhere = server.connect_to("other").await.unwrap();
    elsewhere
        .batch_execute("SET application_name = 'elsewhere'")
        .await
        .unwrap();
    let rows = watcher
        .query(
            "SELECT application_name, datname, pid, state, query, usename, \
                    backend_start <= now(), xact_start IS NOT NULL \
             FROM pg_stat_activity ORDER BY application_name",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, String, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(3), r.get(7)))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "busy".into(),
                "kimberlite".into(),
                "idle in transaction".into(),
                true
            ),
            ("elsewhere".into(), "other".into(), "idle".into(), false),
            ("watcher".into(), "kimberlite".into(), "active".into(), true),
        ]
    );
    assert_eq!(rows[0].get::<_, i32>(2), busy_pid);
    assert_eq!(rows[0].get::<_, String>(4), "SELECT pg_backend_pid()");
    assert!(rows[2]
        .get::<_, String>(4)
        .contains("FROM pg_stat_activity"));
    assert!(rows
        .iter()
        .all(|r| r.get::<_, String>(5) == "kimberlite" && r.get::<_, bool>(6)));
    // Each session's client end and what it waits for; the connection's
    // ends as the session itself sees them.
    let ends = watcher
        .query(
            "SELECT application_name, client_addr, client_port, wait_event_type, wait_event \
             FROM pg_stat_activity ORDER BY application_name",
            &[],
        )
        .await
        .unwrap();
    let waits: Vec<(String, Option<String>, Option<String>)> = ends
        .iter()
        .map(|r| (r.get(0), r.get(3), r.get(4)))
        .collect();
    let client_read = || (Some("Client".to_string()), Some("ClientRead".to_string()));
    assert_eq!(
        waits,
        [
            ("busy".into(), client_read().0, client_read().1),
            ("elsewhere".into(), client_read().0, client_read().1),
            ("watcher".into(), None, None),
        ]
    );
    assert!(ends
        .iter()
        .all(|r| r.get::<_, String>(1) == "127.0.0.1" && r.get::<_, i32>(2) > 0));
    let own = watcher
        .query_one(
            "SELECT inet_server_addr(), inet_server_port(), inet_client_addr(), \
                    inet_client_port() = (SELECT client_port FROM pg_stat_activity \
                                          WHERE pid = pg_backend_pid())",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(own.get::<_, String>(0), "127.0.0.1");
    assert_eq!(own.get::<_, i32>(1), server.port as i32);
    assert_eq!(own.get::<_, String>(2), "127.0.0.1");
    assert!(
        own.get::<_, bool>(3),
        "inet_client_port() is the session's own port"
    );
    // An error aborts the transaction; a closed session is gone.
    assert!(busy.execute("SELECT 1/0", &[]).await.is_err());
    drop(elsewhere);
    let mut states = Vec::new();
    for _ in 0..100 {
        states = watcher
            .query(
                "SELECT application_name, state FROM pg_stat_activity ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        if states.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        states,
        [
            (
                "busy".to_string(),
                "idle in transaction (aborted)".to_string()
            ),
            ("watcher".to_string(), "active".to_string()),
        ]
    );
}

/// tokio-postgres looks up an OID it does not know with this statement
/// (its `TYPEINFO_QUERY`, prepared with `$1` an `oid`). Every type we serve
/// is built into it, so it never asks us on its own; here it is asked for
/// each of them, and the answers must be `pg_type`'s.
#[tokio::test]
async fn tokio_postgres_type_lookup_answers_for_every_type() {
    const TYPEINFO_QUERY: &str = "\
SELECT t.typname, t.typtype, t.typelem, r.rngsubtype, t.typbasetype, n.nspname, t.typrelid
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid
WHERE t.oid = $1
";
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    let lookup = client.prepare(TYPEINFO_QUERY).await.unwrap();
    assert_eq!(lookup.params(), &[tokio_postgres::types::Type::OID]);
    let types = client
        .query(
            "SELECT oid, typname::text, typelem FROM pg_catalog.pg_type WHERE typtype = 'b'",
            &[],
        )
        .await
        .unwrap();
    assert!(types.len() > 40, "every base type and its array");
    for row in &types {
        let (oid, name, element): (u32, String, u32) = (row.get(0), row.get(1), row.get(2));
        let found = client.query(&lookup, &[&oid]).await.unwrap();
        assert_eq!(found.len(), 1, "{name}");
        let info = &found[0];
        assert_eq!(info.get::<_, String>(0), name);
        assert_eq!(info.get::<_, i8>(1), b'b' as i8, "{name} is a base type");
        assert_eq!(info.get::<_, u32>(2), element, "{name}");
        assert_eq!(info.get::<_, Option<u32>>(3), None, "{name} is no range");
        assert_eq!(info.get::<_, u32>(4), 0, "{name} is no domain");
        assert_eq!(info.get::<_, String>(5), "pg_catalog");
        assert_eq!(info.get::<_, u32>(6), 0, "{name} is no composite");
    }
    // An OID that names no type: no row (tokio-postgres reports it).
    assert!(client
        .query(&lookup, &[&4_000_000u32])
        .await
        .unwrap()
        .is_empty());
}
