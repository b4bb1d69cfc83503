//! Fuzzing the protocol front door live: seeded random messages on raw
//! sockets against a running server, bounded by round count. Each gets an
//! error or a closed connection; the server never stops serving others and
//! never leaks a connection slot. (The offline property tests of the
//! message checker and pgwire's decoder are in `src/frontend.rs`.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rand::{Rng, SeedableRng};

use common::TestServer;

/// Message types a client may send, plus a few it may not.
const TAGS: &[u8] = b"QPBEDCSHFdcfpX@\x00\xff";

fn plausible_message(tag: u8, body: &[u8], lie: i32) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() as i32 + 4).wrapping_add(lie)).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn startup_packet() -> Vec<u8> {
    let mut body = 196608i32.to_be_bytes().to_vec();
    for part in ["user", "kimberlite", "database", "kimberlite", ""] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// Logs in; returns the stream, or None if the server refused.
fn login(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&startup_packet()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(6).any(|w| w == [b'Z', 0, 0, 0, 5, b'I']) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed during login");
        seen.extend_from_slice(&buf[..n]);
    }
    stream
}

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
        let mut stream = login(server.port);
        let mut bytes = Vec::new();
        for _ in 0..rng.gen_range(1..6) {
            let tag = TAGS[rng.gen_range(0..TAGS.len())];
            let body: Vec<u8> = (0..rng.gen_range(0..120)).map(|_| rng.gen()).collect();
            let lie = if rng.gen_bool(0.2) {
                rng.gen_range(-6..6)
            } else {
                0
            };
            bytes.extend(plausible_message(tag, &body, lie));
        }
        // Every few rounds, a Parse whose parameter count overruns its body
        // (it made pgwire's decoder panic before `frontend.rs` checked it).
        if round % 5 == 0 {
            bytes.extend(plausible_message(b'P', &[0, 0, 0, 1], 0));
        }
        // Half the time, follow with a Sync and a real query.
        if round % 2 == 0 {
            bytes.extend(plausible_message(b'S', b"", 0));
            bytes.extend(plausible_message(b'Q', b"SELECT 1\0", 0));
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
