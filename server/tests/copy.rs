//! COPY through tokio-postgres (extended protocol: Parse/Bind/Execute, then
//! CopyData): bulk load and unload, a bad record in the middle, a client
//! that gives up (CopyFail), COPY inside a transaction, and the loaded rows
//! surviving `kill -9`. psql's view of COPY is `golden/copy.sql`, recorded
//! from PostgreSQL 15.

mod common;

use bytes::Bytes;
use common::TestServer;
use futures::{SinkExt, StreamExt};

const ROWS: usize = 20_000;

fn row_line(i: usize) -> String {
    // Text-format escapes in every tenth row; NULL in every seventh.
    let note = if i.is_multiple_of(7) {
        "\\N".to_string()
    } else if i.is_multiple_of(10) {
        format!("tab\\there {i}")
    } else {
        format!("note {i}")
    };
    format!("{i}\tname-{i}\t{note}\n")
}

async fn fill(
    sink: tokio_postgres::CopyInSink<Bytes>,
    chunks: Vec<String>,
) -> Result<u64, tokio_postgres::Error> {
    futures::pin_mut!(sink);
    for chunk in chunks {
        sink.send(Bytes::from(chunk)).await?;
    }
    sink.finish().await
}

async fn count(client: &impl tokio_postgres::GenericClient, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn copy_loads_and_unloads_and_survives_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE bulk (id int PRIMARY KEY, name text NOT NULL, note text)")
        .await
        .unwrap();

    // Chunks cut at arbitrary byte offsets, not at line ends.
    let all: String = (0..ROWS).map(row_line).collect();
    let chunks: Vec<String> = all
        .as_bytes()
        .chunks(4093)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let copied = fill(
        client.copy_in("COPY bulk FROM STDIN").await.unwrap(),
        chunks,
    )
    .await
    .unwrap();
    assert_eq!(copied, ROWS as u64);
    assert_eq!(count(&client, "bulk").await, ROWS as i64);
    let row = client
        .query_one("SELECT note, note IS NULL FROM bulk WHERE id = 10", &[])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("tab\there 10")
    );
    let nulls: i64 = client
        .query_one("SELECT count(*) FROM bulk WHERE note IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(nulls, ROWS.div_ceil(7) as i64);

    // Out again, byte for byte what went in (primary-key order).
    let stream = client.copy_out("COPY bulk TO STDOUT").await.unwrap();
    futures::pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(out).unwrap(), all);

    // CSV with a header and a query source.
    let stream = client
        .copy_out("COPY (SELECT id, note FROM bulk WHERE id IN (7, 10, 11) ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    futures::pin_mut!(stream);
    let mut csv = Vec::new();
    while let Some(chunk) = stream.next().await {
        csv.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "id,note\n7,\n10,tab\there 10\n11,note 11\n"
    );

    drop(client);
    server.kill9();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    assert_eq!(count(&client, "bulk").await, ROWS as i64);
}

#[tokio::test]
async fn a_bad_record_fails_the_whole_copy_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, qty int)")
        .await
        .unwrap();

    // Line 3000 is bad; the first 2999 rows were already written into the
    // COPY's transaction and must vanish with it.
    let mut data: String = (1..3000).map(|i| format!("{i}\t{i}\n")).collect();
    data.push_str("3000\tmany\n3001\t1\n");
    let error = fill(
        client.copy_in("COPY t FROM STDIN").await.unwrap(),
        vec![data],
    )
    .await
    .unwrap_err();
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "22P02");
    assert_eq!(
        db.message(),
        "invalid input syntax for type integer: \"many\""
    );
    assert_eq!(db.where_(), Some("COPY t, line 3000, column qty: \"many\""));
    assert_eq!(count(&client, "t").await, 0);

    // Duplicate keys inside one COPY: 23505 naming the line.
    let error = fill(
        client
            .copy_in("COPY t FROM STDIN WITH (FORMAT csv)")
            .await
            .unwrap(),
        vec!["1,1\n2,2\n1,3\n".into()],
    )
    .await
    .unwrap_err();
    let db = error.as_db_error().unwrap();
    assert_eq!(db.code().code(), "23505");
    assert_eq!(db.where_(), Some("COPY t, line 3"));
    assert_eq!(count(&client, "t").await, 0);

    // The session is intact.
    assert_eq!(
        fill(
            client.copy_in("COPY t FROM STDIN").await.unwrap(),
            vec!["1\t1\n".into()]
        )
        .await
        .unwrap(),
        1
    );
}

#[tokio::test]
async fn copyfail_and_transactions_keep_nothing_they_should_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let mut client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
        .await
        .unwrap();

    // A sink dropped before finish sends CopyFail.
    {
        let sink = client
            .copy_in::<_, Bytes>("COPY t FROM STDIN")
            .await
            .unwrap();
        futures::pin_mut!(sink);
        sink.send(Bytes::from_static(b"1\tone\n2\ttwo\n"))
            .await
            .unwrap();
    }
    assert_eq!(count(&client, "t").await, 0);

    // Inside a transaction COPY's rows commit or roll back with it.
    let txn = client.transaction().await.unwrap();
    assert_eq!(
        fill(
            txn.copy_in("COPY t FROM STDIN").await.unwrap(),
            vec!["1\tone\n".into()]
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(count(&txn, "t").await, 1);
    txn.rollback().await.unwrap();
    assert_eq!(count(&client, "t").await, 0);

    let txn = client.transaction().await.unwrap();
    txn.execute("INSERT INTO t VALUES (1, 'inserted')", &[])
        .await
        .unwrap();
    assert_eq!(
        fill(
            txn.copy_in("COPY t FROM STDIN").await.unwrap(),
            vec!["2\tcopied\n".into()]
        )
        .await
        .unwrap(),
        1
    );
    txn.commit().await.unwrap();
    assert_eq!(count(&client, "t").await, 2);

    // A failed COPY aborts the transaction it is in.
    let txn = client.transaction().await.unwrap();
    let error = fill(
        txn.copy_in("COPY t FROM STDIN").await.unwrap(),
        vec!["3\tthree\textra\n".into()],
    )
    .await
    .unwrap_err();
    assert_eq!(error.code().unwrap().code(), "22P04");
    let aborted = txn.execute("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(aborted.code().unwrap().code(), "25P02");
    drop(txn);
    assert_eq!(count(&client, "t").await, 2);
}
