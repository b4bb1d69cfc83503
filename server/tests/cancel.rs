//! CancelRequest on the real binary: a running query (tokio-postgres) and a
//! result still streaming (raw socket) end with 57014; a wrong secret cancels nothing; the
//! session stays usable.

mod common;

use std::time::Duration;

use common::TestServer;

#[tokio::test]
async fn a_cancel_request_ends_a_running_query_with_57014_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;

    // A query that would run for hours.
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let running = client
        .query_one("SELECT count(*) FROM generate_series(1, 100000000000)", &[])
        .await;
    canceller.await.unwrap();
    let error = running.unwrap_err();
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "57014");
    assert_eq!(db.message(), "canceling statement due to user request");

    // The session is intact.
    let n: i32 = client.query_one("SELECT 41 + 1", &[]).await.unwrap().get(0);
    assert_eq!(n, 42);
}

fn send_cancel(port: u16, pid: i32, secret: i32) {
    use std::io::{Read, Write};
    let mut packet = 16i32.to_be_bytes().to_vec();
    packet.extend_from_slice(&80_877_102i32.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(&secret.to_be_bytes());
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.write_all(&packet).unwrap();
    // The server closes a cancel connection once it has acted.
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = socket.read(&mut [0u8; 1]);
}

#[test]
fn a_cancel_request_needs_the_sessions_secret() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let (mut stream, pid, secret) = common::raw::logged_in_with_key(server.port);
    let mut body = b"SELECT count(*) FROM generate_series(1, 100000000000)".to_vec();
    body.push(0);
    stream
        .write_all(&common::raw::message(b'Q', &body))
        .unwrap();
    // A wrong secret for the right pid: the query keeps running.
    send_cancel(server.port, pid, secret ^ 0x5A5A);
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut => {}
        other => panic!("the query ended after a forged cancel: {other:?}"),
    }
    // The right secret cancels it.
    send_cancel(server.port, pid, secret);
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut seen = Vec::new();
    while !seen.windows(6).any(|w| w == [b'Z', 0, 0, 0, 5, b'I']) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed the session");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.windows(5).any(|w| w == b"57014"), "canceled");
}

#[test]
fn a_cancel_request_ends_a_result_that_is_still_streaming() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let (mut stream, pid, secret) = common::raw::logged_in_with_key(server.port);
    // About 5.5 GB of rows; a reader that stops reading makes the server
    // wait on the socket with the rest unproduced.
    let mut body = b"SELECT g, repeat('x', 100) FROM generate_series(1, 50000000) AS t(g)".to_vec();
    body.push(0);
    stream
        .write_all(&common::raw::message(b'Q', &body))
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut read = stream.read(&mut buf).unwrap();
    assert!(buf[..read].contains(&b'D'), "rows are streaming");
    std::thread::sleep(Duration::from_millis(300));
    send_cancel(server.port, pid, secret);
    // Drain: the rows already on their way, then 57014, then ReadyForQuery.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed the session");
        read += n;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 256 * 1024 {
            tail.drain(..tail.len() - 128 * 1024);
        }
        if tail.windows(6).any(|w| w == [b'Z', 0, 0, 0, 5, b'I']) {
            break;
        }
        assert!(read < 1 << 30, "1 GiB after the cancel: it was ignored");
    }
    assert!(tail.windows(5).any(|w| w == b"57014"), "canceled");
    assert!(tail
        .windows(39)
        .any(|w| w == b"canceling statement due to user request"),);
}
