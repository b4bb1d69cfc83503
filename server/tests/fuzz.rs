//! Fuzzing the protocol front door live: seeded random messages on raw
//! sockets against a running server, bounded by round count. Each gets an
//! error or a closed connection; the server never stops serving others and
//! never leaks a connection slot. (The offline property tests of the
//! message checker and pgwire's decoder are in `src/frontend.rs`.)

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use rand::{Rng, SeedableRng};

use common::{raw, TestServer};

/// Message types a client may send, plus a few it may not.
const TAGS: &[u8] = b"QPBEDCSHFdcfpX@\x00\xff";

#[tokio::test]
async fn seeded_garbage_on_live_connections_never_disturbs_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    // Few connection slots: a connection that died without freeing its slot
    // would lock everyone out within a few rounds.
    let server =
        TestServer::spawn("dev", dir.path(), &[("KIMBERLITE_MAX_CONNECTIONS", "3")]).unwrap();
    let bystander = server.connect().await;
    bystander
        .batch_execute("CREATE TABLE steady (id int PRIMARY KEY)")
        .await
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b696d62);
    for round in 0..60 {
        let mut stream = raw::logged_in(server.port);
        let mut bytes = Vec::new();
        for _ in 0..rng.gen_range(1..6) {
            let tag = TAGS[rng.gen_range(0..TAGS.len())];
            let body: Vec<u8> = (0..rng.gen_range(0..120)).map(|_| rng.gen()).collect();
            let lie = if rng.gen_bool(0.2) {
                rng.gen_range(-6..6)
            } else {
                0
            };
            bytes.extend(raw::message_lying(tag, &body, lie));
        }
        // Every few rounds, a Parse whose parameter count overruns its body
        // (it made pgwire's decoder panic before `frontend.rs` checked it).
        if round % 5 == 0 {
            bytes.extend(raw::message_lying(b'P', &[0, 0, 0, 1], 0));
        }
        // Half the time, follow with a Sync and a real query.
        if round % 2 == 0 {
            bytes.extend(raw::message_lying(b'S', b"", 0));
            bytes.extend(raw::message_lying(b'Q', b"SELECT 1\0", 0));
        }
        let _ = stream.write_all(&bytes);
        // Read whatever comes back until the server closes or goes quiet.
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while let Ok(n) = stream.read(&mut buf) {
            total += n;
            if n == 0 || total > 1 << 20 {
                break;
            }
        }
        drop(stream);
        bystander
            .execute("INSERT INTO steady VALUES ($1)", &[&round])
            .await
            .unwrap_or_else(|e| panic!("round {round}: bystander failed: {e}"));
    }
    let fresh = server.connect().await;
    let n: i64 = fresh
        .query_one("SELECT count(*) FROM steady", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 60);
}
