//! A bounded SIGKILL loop on the real binary: several clients commit while
//! the server is killed; after every restart each acknowledged transaction
//! is wholly present, each transaction in flight at the kill is wholly
//! present or wholly absent, and nothing else exists.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;

const ROUNDS: u64 = 5;
const CLIENTS: u64 = 4;
/// Load per round before the kill (bounded; the loop stops by itself).
const ROUND_LOAD: Duration = Duration::from_millis(400);

#[derive(Default)]
struct History {
    acknowledged: BTreeSet<u64>,
    in_flight: BTreeSet<u64>,
}

async fn client_loop(server_conn: String, client: u64, round: u64, history: Arc<Mutex<History>>) {
    let Ok(conn) = common::connect(&server_conn).await else {
        return;
    };
    for seq in 0..u64::MAX {
        let txn = (round * CLIENTS + client) * 1_000_000 + seq;
        history.lock().unwrap().in_flight.insert(txn);
        let sql = format!(
            "BEGIN; INSERT INTO ledger VALUES ({txn}, 'a'); INSERT INTO ledger VALUES ({}, 'b'); \
             UPDATE counters SET n = n + 1 WHERE client = {client}; COMMIT",
            txn + 500_000
        );
        match conn.batch_execute(&sql).await {
            Ok(()) => {
                let mut h = history.lock().unwrap();
                h.in_flight.remove(&txn);
                h.acknowledged.insert(txn);
            }
            Err(_) => return, // the server died; this transaction stays in flight
        }
    }
}

fn check(rows: &[(i64, String)], counters: &BTreeMap<i64, i64>, history: &History) {
    let present: BTreeSet<u64> = rows.iter().map(|(id, _)| *id as u64).collect();
    for txn in &history.acknowledged {
        assert!(
            present.contains(txn) && present.contains(&(txn + 500_000)),
            "acknowledged txn {txn} lost"
        );
    }
    for txn in &history.in_flight {
        assert_eq!(
            present.contains(txn),
            present.contains(&(txn + 500_000)),
            "in-flight txn {txn} is partially present"
        );
    }
    let mut committed_per_client: BTreeMap<i64, i64> = BTreeMap::new();
    for id in &present {
        let txn = if id % 1_000_000 >= 500_000 {
            id - 500_000
        } else {
            *id
        };
        assert!(
            history.acknowledged.contains(&txn) || history.in_flight.contains(&txn),
            "row {id} was never written"
        );
        if id % 1_000_000 < 500_000 {
            *committed_per_client
                .entry(((txn / 1_000_000) % CLIENTS) as i64)
                .or_default() += 1;
        }
    }
    for client in 0..CLIENTS as i64 {
        assert_eq!(
            counters.get(&client).copied().unwrap_or(0),
            committed_per_client.get(&client).copied().unwrap_or(0),
            "counter of client {client} disagrees with its rows"
        );
    }
}

/// The view of the server's replica (a cluster of one): every start runs a
/// view change to the next view.
async fn replica_view(server: &TestServer) -> i64 {
    server
        .connect()
        .await
        .query_one(
            "SELECT value FROM kimberlite_stats WHERE name = 'replica_view'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Everything the ledger and the counters hold now.
async fn observe(server: &TestServer) -> (Vec<(i64, String)>, BTreeMap<i64, i64>) {
    let client = server.connect().await;
    let rows = client
        .query("SELECT id, side FROM ledger", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let counters = client
        .query("SELECT client, n FROM counters", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (rows, counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loop_never_loses_an_acknowledged_commit_nor_exposes_half_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(Mutex::new(History::default()));
    {
        let server = TestServer::dev(dir.path());
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE ledger (id bigint PRIMARY KEY, side text NOT NULL); \
                 CREATE TABLE counters (client bigint PRIMARY KEY, n bigint NOT NULL); \
                 INSERT INTO counters VALUES (0, 0), (1, 0), (2, 0), (3, 0)",
            )
            .await
            .unwrap();
        server.kill9();
    }
    let mut total_acknowledged = 0;
    let mut views = Vec::new();
    for round in 0..ROUNDS {
        let server = TestServer::dev(dir.path());
        views.push(replica_view(&server).await);
        let (rows, counters) = observe(&server).await;
        {
            let mut h = history.lock().unwrap();
            check(&rows, &counters, &h);
            // What survived is now known; in-flight ones that vanished are gone for good.
            let present: BTreeSet<u64> = rows.iter().map(|(id, _)| *id as u64).collect();
            let survivors: Vec<u64> = h
                .in_flight
                .iter()
                .copied()
                .filter(|t| present.contains(t))
                .collect();
            h.acknowledged.extend(survivors);
            h.in_flight.clear();
            total_acknowledged = h.acknowledged.len();
        }
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client_loop(server.conn_str(), c, round, history.clone())))
            .collect();
        tokio::time::sleep(ROUND_LOAD + Duration::from_millis(37 * round)).await;
        server.kill9();
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
    // Final verification after the last kill.
    let server = TestServer::dev(dir.path());
    let (rows, counters) = observe(&server).await;
    check(&rows, &counters, &history.lock().unwrap());
    // The replica's promise (its view) survives each kill: every start
    // moves past every view before it.
    views.push(replica_view(&server).await);
    assert!(views[0] >= 2, "views {views:?}");
    assert!(
        views.windows(2).all(|w| w[1] == w[0] + 1),
        "views {views:?}"
    );
    assert!(
        total_acknowledged > 0,
        "the load loop committed nothing; the test proved nothing"
    );
}

fn segment_files(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut segments: Vec<_> = std::fs::read_dir(data_dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "klog"))
        .collect();
    segments.sort();
    segments
}

#[tokio::test]
async fn the_server_refuses_a_damaged_acknowledged_frame_and_truncates_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE r (id int PRIMARY KEY, v text); INSERT INTO r VALUES (1, 'one');",
        )
        .await
        .unwrap();
    drop(client);
    assert!(server.stop().success());
    let segment = segment_files(dir.path()).pop().unwrap();
    let pristine = std::fs::read(&segment).unwrap();

    // A torn tail after the acknowledged frames: half a frame of garbage
    // that was never acknowledged. Truncated, logged, and served.
    let mut torn = pristine.clone();
    torn.extend_from_slice(&pristine[..40]);
    std::fs::write(&segment, &torn).unwrap();
    let server = TestServer::dev(dir.path());
    let n: i64 = server
        .connect()
        .await
        .query_one("SELECT count(*) FROM r", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert!(server.stop().success());
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        pristine,
        "the tail was cut"
    );

    // One flipped byte in the last acknowledged frame (the one a torn write
    // would look like): the server refuses, naming segment, offset and op.
    let mut damaged = pristine.clone();
    let last = damaged.len() - 10;
    damaged[last] ^= 0x20;
    std::fs::write(&segment, &damaged).unwrap();
    let error = TestServer::spawn("dev", dir.path(), &[])
        .err()
        .expect("the server must refuse to start");
    let name = segment.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        error.contains("an acknowledged frame is damaged") && error.contains(&name),
        "{error}"
    );
    assert!(error.contains("offset") && error.contains("op "), "{error}");
}
