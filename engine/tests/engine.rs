//! The engine without the wire: sessions over a real data directory.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::TryStreamExt;
use kimberlite_engine::sql::{parse, Outcome, Session};
use kimberlite_engine::{Engine, EngineConfig, SystemClock};

fn open(dir: &std::path::Path, txn_bytes_max: usize) -> Arc<Engine> {
    let mut config = EngineConfig::new(dir);
    config.txn_bytes_max = txn_bytes_max;
    // These tests reopen to prove the log replays; snapshots would skip it.
    config.snapshots = false;
    Engine::open(config, Arc::new(SystemClock)).expect("engine opens")
}

async fn run(session: &mut Session, sql: &str) -> Result<usize, kimberlite_engine::EngineError> {
    let mut rows = 0;
    for statement in parse(sql)? {
        match session.execute(statement).await? {
            Outcome::Rows { stream, .. } => {
                let batches: Vec<_> = stream.try_collect().await?;
                rows = batches.iter().map(|b| b.num_rows()).sum();
            }
            Outcome::Batches { batches, .. } => rows = batches.iter().map(|b| b.num_rows()).sum(),
            Outcome::Command { .. } => {}
            other => panic!("this test runs no COPY: {other:?}"),
        }
    }
    Ok(rows)
}

#[tokio::test]
async fn a_primary_key_equality_is_a_point_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), 64 << 20);
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    run(
        &mut session,
        "INSERT INTO t SELECT CAST(value AS int), 'x' FROM generate_series(1, 1000) AS value",
    )
    .await
    .unwrap();
    let before = engine.stats.rows_scanned.load(Ordering::Relaxed);
    assert_eq!(
        run(&mut session, "SELECT v FROM t WHERE id = 500")
            .await
            .unwrap(),
        1
    );
    let scanned = engine.stats.rows_scanned.load(Ordering::Relaxed) - before;
    assert_eq!(
        scanned, 1,
        "a primary-key lookup must read one row, read {scanned}"
    );
    let before = engine.stats.rows_scanned.load(Ordering::Relaxed);
    assert_eq!(
        run(&mut session, "SELECT v FROM t WHERE id > 500")
            .await
            .unwrap(),
        500
    );
    assert_eq!(
        engine.stats.rows_scanned.load(Ordering::Relaxed) - before,
        500,
        "a primary-key range reads the rows in the range"
    );
}

#[tokio::test]
async fn a_transaction_larger_than_a_frame_spans_frames_and_replays_whole() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = open(dir.path(), 64 << 20);
        let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
        run(
            &mut session,
            "CREATE TABLE big (id int PRIMARY KEY, v text)",
        )
        .await
        .unwrap();
        // ~3 MiB in one transaction: two parts and a commit record.
        run(&mut session, "INSERT INTO big SELECT CAST(value AS int), repeat('k', 3000) FROM generate_series(1, 1000) AS value")
            .await
            .unwrap();
        engine.shutdown();
    }
    let engine = open(dir.path(), 64 << 20);
    assert!(
        engine.recovery_report().frames >= 4,
        "expected parts plus a commit record, found {} frames",
        engine.recovery_report().frames
    );
    let mut session = Session::new(engine, "kimberlite", "kimberlite");
    assert_eq!(run(&mut session, "SELECT id FROM big").await.unwrap(), 1000);
}

#[tokio::test]
async fn a_transaction_over_the_size_limit_is_54000_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), 10_000);
    let mut session = Session::new(engine, "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    let error = run(
        &mut session,
        "INSERT INTO t SELECT CAST(value AS int), repeat('z', 100) FROM generate_series(1, 500) AS value",
    )
    .await
    .unwrap_err();
    assert_eq!(error.sqlstate(), "54000");
    assert_eq!(run(&mut session, "SELECT * FROM t").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_shares_fsyncs_between_concurrent_commits() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), 64 << 20);
    let mut setup = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut setup, "CREATE TABLE g (id int PRIMARY KEY)")
        .await
        .unwrap();
    let (syncs_before, _) = engine.sync_stats();
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut session = Session::new(engine, "kimberlite", "kimberlite");
                for i in 0..25 {
                    run(
                        &mut session,
                        &format!("INSERT INTO g VALUES ({})", c * 100 + i),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let (syncs_after, _) = engine.sync_stats();
    let syncs = syncs_after - syncs_before;
    assert!(
        syncs > 0 && syncs < 200,
        "200 concurrent commits took {syncs} fsyncs; group commit shares them"
    );
    assert_eq!(run(&mut setup, "SELECT * FROM g").await.unwrap(), 200);
    eprintln!("200 commits took {syncs} fsyncs");
}

#[tokio::test]
async fn a_full_scan_streams_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), 64 << 20);
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(
        &mut session,
        "CREATE TABLE wide (id int PRIMARY KEY, v text)",
    )
    .await
    .unwrap();
    run(
        &mut session,
        "INSERT INTO wide SELECT CAST(value AS int), 'v' FROM generate_series(1, 20000) AS value",
    )
    .await
    .unwrap();
    let statement = parse("SELECT id, v FROM wide").unwrap().remove(0);
    let Outcome::Rows { mut stream, .. } = session.execute(statement).await.unwrap() else {
        panic!("a query returns rows");
    };
    let mut batches = 0;
    let mut rows = 0;
    let scanned_before = engine.stats.rows_scanned.load(Ordering::Relaxed);
    while let Some(batch) = stream.try_next().await.unwrap() {
        assert!(batch.num_rows() <= 8192, "batches are bounded");
        if batches == 0 {
            // The first batch arrives before the table has been read.
            let scanned = engine.stats.rows_scanned.load(Ordering::Relaxed) - scanned_before;
            assert!(
                scanned < 20000,
                "first batch came after reading {scanned} rows"
            );
        }
        batches += 1;
        rows += batch.num_rows();
    }
    assert_eq!(rows, 20000);
    assert!(batches >= 3);
}

#[tokio::test]
async fn a_transaction_is_bounded_as_it_grows_not_only_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), 10_000);
    let mut session = Session::new(engine, "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    run(&mut session, "BEGIN").await.unwrap();
    let insert = |from: u32| {
        format!(
            "INSERT INTO t SELECT CAST(value AS int), repeat('z', 100) \
             FROM generate_series({from}, {}) AS value",
            from + 29
        )
    };
    run(&mut session, &insert(1)).await.unwrap();
    run(&mut session, &insert(31)).await.unwrap();
    // The statement that crosses the limit fails, not the COMMIT.
    let mut crossed = None;
    for round in 2..10 {
        if let Err(error) = run(&mut session, &insert(round * 30 + 1)).await {
            crossed = Some(error);
            break;
        }
    }
    assert_eq!(crossed.expect("the limit is reached").sqlstate(), "54000");
    run(&mut session, "ROLLBACK").await.unwrap();
    // A source far larger than memory fails within the first batches
    // instead of being collected.
    let error = run(
        &mut session,
        "INSERT INTO t SELECT CAST(value AS int), 'x' FROM generate_series(1, 1000000000) AS value",
    )
    .await
    .unwrap_err();
    assert_eq!(error.sqlstate(), "54000");
    assert_eq!(run(&mut session, "SELECT * FROM t").await.unwrap(), 0);
}

/// `pg_proc` lists only functions a statement can call: every name there
/// is registered in a session.
#[test]
fn every_function_pg_proc_lists_is_callable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), 64 << 20);
    let session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    let callable = session.function_names();
    let missing: Vec<&str> = kimberlite_catalog::system::FUNCTIONS
        .iter()
        .map(|f| f.name)
        .filter(|name| callable.binary_search(&name.to_string()).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "pg_proc lists functions we do not have: {missing:?}"
    );
    assert!(kimberlite_catalog::system::FUNCTIONS.len() > 400);
}
