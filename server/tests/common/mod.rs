//! Starts the real `kimberlite` binary on a free loopback port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct TestServer {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
}

/// How long a server may take to print its DSN.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

impl TestServer {
    /// `kimberlite dev` on `data_dir`.
    pub fn dev(data_dir: &Path) -> TestServer {
        Self::spawn("dev", data_dir, &[]).expect("dev server starts")
    }

    /// `kimberlite start` on `data_dir` with extra environment.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        Self::spawn("start", data_dir, env)
    }

    pub fn spawn(mode: &str, data_dir: &Path, env: &[(&str, &str)]) -> Result<TestServer, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kimberlite"));
        command
            .arg(mode)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("KIMBERLITE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // keep draining so the server never blocks on stdout
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let started = Instant::now();
        let line = rx.recv_timeout(STARTUP_TIMEOUT).unwrap_or_default();
        let Some(port) = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse::<u16>().ok())
        else {
            let _ = child.kill();
            let output = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!(
                "server did not start after {:?}: stdout {line:?} stderr {}",
                started.elapsed(),
                String::from_utf8_lossy(&output.stderr)
            ));
        };
        Ok(TestServer {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The libpq connection string.
    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=kimberlite dbname=kimberlite",
            self.port
        )
    }

    /// The URL form, for psql and psycopg.
    pub fn url(&self) -> String {
        format!("postgres://kimberlite@127.0.0.1:{}/kimberlite", self.port)
    }

    /// Connects with tokio-postgres.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.conn_str()).await.expect("connect")
    }

    /// `kimberlite dev` on `data_dir` logging a checkpoint (and writing a
    /// projection snapshot) after every op, so its next start loads one.
    pub fn dev_checkpointing_every_op(data_dir: &Path) -> TestServer {
        TestServer::spawn("dev", data_dir, &[("KIMBERLITE_CHECKPOINT_OPS", "1")]).unwrap()
    }

    /// Connects to the database named `database`.
    pub async fn connect_to(
        &self,
        database: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        connect(&format!(
            "host=127.0.0.1 port={} user=kimberlite dbname={database}",
            self.port
        ))
        .await
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        unsafe_kill(pid, 15);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: i32, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Connects and spawns the connection task.
pub async fn connect(conn_str: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn_str, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Asserts the server behind `client` started from a projection snapshot.
pub async fn assert_opened_from_snapshot(client: &tokio_postgres::Client) {
    let opened: i64 = client
        .query_one(
            "SELECT value FROM kimberlite_stats WHERE name = 'opened_from_snapshot_op'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(opened > 0, "restarted from a snapshot");
}

/// The SQLSTATE of a failed call.
pub fn sqlstate<T>(result: Result<T, tokio_postgres::Error>) -> String {
    let Err(error) = result else {
        panic!("expected an error, the statement succeeded");
    };
    error
        .code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {error}"))
}

/// Raw protocol bytes for tests that talk to the server without a driver.
pub mod raw {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    /// A protocol 3.0 startup packet for `kimberlite` on `kimberlite`.
    pub fn startup_packet() -> Vec<u8> {
        let mut body = 196608i32.to_be_bytes().to_vec();
        for part in ["user", "kimberlite", "database", "kimberlite", ""] {
            body.extend_from_slice(part.as_bytes());
            body.push(0);
        }
        let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        packet.extend(body);
        packet
    }

    /// A tagged message whose length field is off by `lie` (0: honest).
    pub fn message_lying(tag: u8, body: &[u8], lie: i32) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(body.len() as i32 + 4).wrapping_add(lie).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// A tagged message.
    pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        message_lying(tag, body, 0)
    }

    /// Connects, logs in and reads up to the first ReadyForQuery.
    pub fn logged_in(port: u16) -> TcpStream {
        logged_in_with_key(port).0
    }

    /// As [`logged_in`], with the BackendKeyData (process id, secret).
    pub fn logged_in_with_key(port: u16) -> (TcpStream, i32, i32) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.write_all(&startup_packet()).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(6).any(|w| w == [b'Z', 0, 0, 0, 5, b'I']) {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "server closed during login");
            seen.extend_from_slice(&buf[..n]);
        }
        let at = seen
            .windows(5)
            .position(|w| w == [b'K', 0, 0, 0, 12])
            .expect("BackendKeyData");
        let pid = i32::from_be_bytes(seen[at + 5..at + 9].try_into().unwrap());
        let secret = i32::from_be_bytes(seen[at + 9..at + 13].try_into().unwrap());
        (stream, pid, secret)
    }
}
