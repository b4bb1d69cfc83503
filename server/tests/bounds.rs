//! Results stream within a fixed memory bound on the server, however large
//! the result and however slowly the client reads. Measured two ways: the
//! server process's resident memory while a 10-million-row result is held
//! up by a client that stops reading, and the engine's own counter of the
//! largest batch a result held.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{raw, TestServer};

const ROWS: u64 = 10_000_000;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc status");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Reads backend messages, calling `on` with (tag, body) until it says stop.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Reader {
    fn next(&mut self) -> (u8, Vec<u8>) {
        loop {
            let available = &self.buf[self.start..];
            if available.len() >= 5 {
                let len = i32::from_be_bytes(available[1..5].try_into().unwrap()) as usize;
                if available.len() > len {
                    let tag = available[0];
                    let body = available[5..1 + len].to_vec();
                    self.start += 1 + len;
                    return (tag, body);
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 256 * 1024];
            let n = self.stream.read(&mut chunk).expect("server keeps sending");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[tokio::test]
async fn a_ten_million_row_select_stays_within_a_fixed_buffer_however_slowly_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let pid = server.child.id();
    let admin = server.connect().await;

    let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut reader = Reader {
        stream: stream.try_clone().unwrap(),
        buf: Vec::new(),
        start: 0,
    };
    let mut writer = stream;
    writer.write_all(&raw::startup_packet()).unwrap();
    while reader.next().0 != b'Z' {}
    let baseline = rss_bytes(pid);

    let sql =
        format!("SELECT value, value * 2 AS twice FROM generate_series(1, {ROWS}) AS value\0");
    writer
        .write_all(&raw::message(b'Q', sql.as_bytes()))
        .unwrap();
    // Read a little, then stop reading: the server must block, not buffer.
    let mut rows = 0u64;
    while rows < 1000 {
        if reader.next().0 == b'D' {
            rows += 1;
        }
    }
    let mut peak = 0;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        peak = peak.max(rss_bytes(pid));
    }
    let stalled_growth = peak.saturating_sub(baseline);

    // Now read everything, sampling the server's memory as we go.
    let started = Instant::now();
    let mut tag_seen = String::new();
    loop {
        let (tag, body) = reader.next();
        match tag {
            b'D' => {
                rows += 1;
                if rows.is_multiple_of(500_000) {
                    peak = peak.max(rss_bytes(pid));
                }
            }
            b'C' => {
                tag_seen = String::from_utf8_lossy(&body)
                    .trim_end_matches('\0')
                    .to_string()
            }
            b'E' => panic!("error: {}", String::from_utf8_lossy(&body)),
            b'Z' => break,
            _ => {}
        }
    }
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "{rows} rows in {:?}; server RSS baseline {} MiB, growth while stalled {} MiB, \
         peak growth {} MiB",
        started.elapsed(),
        baseline >> 20,
        stalled_growth >> 20,
        growth >> 20
    );
    assert_eq!(rows, ROWS);
    assert_eq!(tag_seen, format!("SELECT {ROWS}"));
    // The result is ~160 MB on the wire and ~160 MB as Arrow arrays; a
    // server that buffered it would grow by that much.
    assert!(
        growth < 64 << 20,
        "server memory grew by {} MiB for a streamed result",
        growth >> 20
    );

    let batch_max: i64 = admin
        .query_one(
            "SELECT value FROM kimberlite_stats WHERE name = 'result_batch_bytes_max'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        batch_max > 0 && batch_max < 1 << 20,
        "largest result batch held: {batch_max} bytes"
    );
}

#[tokio::test]
async fn per_statement_counters_show_rows_scanned_returned_and_batch_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, v text); \
             INSERT INTO big SELECT CAST(value AS int), 'row' FROM generate_series(1, 50000) AS value",
        )
        .await
        .unwrap();
    let last = |name: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT value FROM kimberlite_stats WHERE name = $1",
                    &[&format!("last_statement_{name}")],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    // A primary-key lookup scans one row.
    client
        .query("SELECT v FROM big WHERE id = 777", &[])
        .await
        .unwrap();
    assert_eq!(last("rows_scanned").await, 1);
    // (the previous statement is now the stats query itself: one row back)
    client
        .query("SELECT v FROM big WHERE id = 777", &[])
        .await
        .unwrap();
    assert_eq!(last("rows_returned").await, 1);
    // A filter scans everything and returns a little.
    client
        .query("SELECT v FROM big WHERE v = 'none' OR id < 11", &[])
        .await
        .unwrap();
    assert_eq!(last("rows_scanned").await, 50000);
    // A full read returns everything in bounded batches.
    let all = client.query("SELECT id, v FROM big", &[]).await.unwrap();
    assert_eq!(all.len(), 50000);
    let bytes = last("result_batch_bytes_max").await;
    assert!(
        bytes > 0 && bytes < 2 << 20,
        "a 50,000-row result held a batch of {bytes} bytes"
    );
}
