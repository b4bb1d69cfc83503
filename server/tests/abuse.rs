//! Hostile bytes on raw sockets: the connection gets an error or is
//! closed, and the server and every other session carry on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{raw, TestServer};

fn raw(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// Reads until the peer closes (or the timeout), returning what came back.
fn drain(mut stream: TcpStream) -> Vec<u8> {
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 1 << 20 {
            break;
        }
    }
    eprintln!(
        "drained {} bytes in {:?}: {:?}",
        out.len(),
        started.elapsed(),
        String::from_utf8_lossy(&out)
    );
    out
}

#[tokio::test]
async fn malformed_messages_never_take_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let bystander = server.connect().await;
    bystander
        .batch_execute("CREATE TABLE calm (id int PRIMARY KEY)")
        .await
        .unwrap();

    // A startup packet claiming 2 GiB.
    let mut s = raw(&server);
    s.write_all(&0x7FFF_FFF0u32.to_be_bytes()).unwrap();
    s.write_all(&196608i32.to_be_bytes()).unwrap();
    drain(s);

    // A startup packet shorter than its own header, and pure garbage.
    // (the server waits for the rest until its startup timeout; we hang up)
    let mut s = raw(&server);
    s.write_all(&[0, 0, 0, 2]).unwrap();
    drop(s);
    let mut s = raw(&server);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    drain(s);

    // A truncated startup packet, then the client vanishes.
    let mut s = raw(&server);
    s.write_all(&raw::startup_packet()[..7]).unwrap();
    drop(s);

    // After login: an unknown message type → FATAL 08P01, as PostgreSQL.
    let mut s = raw::logged_in(server.port);
    s.write_all(&[b'@', 0, 0, 0, 4]).unwrap();
    let reply = String::from_utf8_lossy(&drain(s)).into_owned();
    assert!(
        reply.contains("08P01") && reply.contains("invalid frontend message type 64"),
        "{reply}"
    );

    // After login: a length field below 4, and a Parse whose parameter
    // count runs past its body (this one used to panic pgwire's decoder).
    let mut s = raw::logged_in(server.port);
    s.write_all(&[b'd', 0, 0, 0, 3, 0]).unwrap();
    assert!(String::from_utf8_lossy(&drain(s)).contains("08P01"));
    let mut s = raw::logged_in(server.port);
    s.write_all(&[b'P', 0, 0, 0, 8, 0, 0, 0, 1]).unwrap();
    assert!(String::from_utf8_lossy(&drain(s)).contains("insufficient data left in message"));

    // After login: a Query claiming an absurd length.
    let mut s = raw::logged_in(server.port);
    s.write_all(&[b'Q', 0x7F, 0xFF, 0xFF, 0xFF]).unwrap();
    s.write_all(b"SELECT 1").unwrap();
    drain(s);

    // After login: invalid UTF-8 in a query.
    let mut s = raw::logged_in(server.port);
    let sql = b"SELECT '\xff\xfe'\0";
    let mut message = vec![b'Q'];
    message.extend_from_slice(&((sql.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(sql);
    s.write_all(&message).unwrap();
    s.write_all(&[b'X', 0, 0, 0, 4]).unwrap();
    let reply = String::from_utf8_lossy(&drain(s)).into_owned();
    assert!(
        reply.contains("22021")
            && reply.contains("invalid byte sequence for encoding \"UTF8\": 0xff"),
        "{reply}"
    );

    // A Bind for a statement that does not exist, then Sync: an error, and the
    // connection stays usable.
    let mut s = raw::logged_in(server.port);
    let mut bind = vec![b'B'];
    let body = b"\0nope\0\0\0\0\0\0\0";
    bind.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    bind.extend_from_slice(body);
    s.write_all(&bind).unwrap();
    s.write_all(&[b'S', 0, 0, 0, 4]).unwrap();
    let query = b"SELECT 42\0";
    let mut q = vec![b'Q'];
    q.extend_from_slice(&((query.len() + 4) as i32).to_be_bytes());
    q.extend_from_slice(query);
    s.write_all(&q).unwrap();
    s.write_all(&[b'X', 0, 0, 0, 4]).unwrap();
    let reply = drain(s);
    assert!(reply.contains(&b'E'), "an ErrorResponse for the bad Bind");
    assert!(
        reply.windows(2).any(|w| w == b"42"),
        "the next query still runs: {reply:?}"
    );

    // The bystander never noticed.
    bystander
        .execute("INSERT INTO calm VALUES (1)", &[])
        .await
        .unwrap();
    let fresh = server.connect().await;
    let n: i64 = fresh
        .query_one("SELECT count(*) FROM calm", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
