//! Protocol transcripts, message by message, recorded from PostgreSQL 15
//! and replayed against Kimberlite.
//!
//! Each scenario is a list of frontend messages and "read until" points. Its
//! transcript (`transcripts/<name>.txt`) lists what was sent (`>`) and every
//! backend message received (`<`), with its fields. The committed files were
//! recorded from Debian's PostgreSQL 15 with
//!
//! ```text
//! RECORD_TRANSCRIPTS=127.0.0.1:5432:postgres:golden cargo test --test transcripts
//! ```
//!
//! against a fresh database; the test runs the same scenarios against our
//! binary and requires the same messages. Masked: process id and secret
//! (BackendKeyData), the table OID and column number in RowDescription
//! (they differ per database), and error fields naming PostgreSQL's C source
//! (`F`, `L`, `R`). Startup ParameterStatus values are not compared (they
//! name the server's version); ParameterStatus after login is.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use common::TestServer;

enum Step {
    Send(&'static str, Vec<u8>),
    /// Reads backend messages up to and including one of this type.
    Until(u8),
    /// Waits, so that the server is busy with what was sent.
    Pause(Duration),
    /// Sends a CancelRequest with the session's BackendKeyData from a
    /// second connection, as libpq's `PQcancel` does.
    Cancel,
}

fn message(tag: u8, body: Vec<u8>) -> Vec<u8> {
    common::raw::message(tag, &body)
}

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn query(sql: &str) -> Step {
    let mut body = Vec::new();
    cstr(&mut body, sql);
    Step::Send(leak(format!("Query {sql:?}")), message(b'Q', body))
}

fn parse(name: &str, sql: &str, oids: &[u32]) -> Step {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, sql);
    body.extend_from_slice(&(oids.len() as i16).to_be_bytes());
    for oid in oids {
        body.extend_from_slice(&oid.to_be_bytes());
    }
    Step::Send(
        leak(format!("Parse {name:?} {sql:?} {oids:?}")),
        message(b'P', body),
    )
}

/// Bind with text parameters and the given result formats.
fn bind(portal: &str, statement: &str, params: &[Option<&str>], formats: &[i16]) -> Step {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    cstr(&mut body, statement);
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for param in params {
        match param {
            Some(p) => {
                body.extend_from_slice(&(p.len() as i32).to_be_bytes());
                body.extend_from_slice(p.as_bytes());
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    body.extend_from_slice(&(formats.len() as i16).to_be_bytes());
    for f in formats {
        body.extend_from_slice(&f.to_be_bytes());
    }
    Step::Send(
        leak(format!(
            "Bind {portal:?} {statement:?} {params:?} formats={formats:?}"
        )),
        message(b'B', body),
    )
}

fn describe(kind: u8, name: &str) -> Step {
    let mut body = vec![kind];
    cstr(&mut body, name);
    Step::Send(
        leak(format!("Describe {} {name:?}", kind as char)),
        message(b'D', body),
    )
}

fn execute(portal: &str, max_rows: i32) -> Step {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    body.extend_from_slice(&max_rows.to_be_bytes());
    Step::Send(
        leak(format!("Execute {portal:?} {max_rows}")),
        message(b'E', body),
    )
}

fn close(kind: u8, name: &str) -> Step {
    let mut body = vec![kind];
    cstr(&mut body, name);
    Step::Send(
        leak(format!("Close {} {name:?}", kind as char)),
        message(b'C', body),
    )
}

fn sync() -> Step {
    Step::Send("Sync", message(b'S', vec![]))
}

fn flush() -> Step {
    Step::Send("Flush", message(b'H', vec![]))
}

fn copy_data(data: &str) -> Step {
    Step::Send(
        leak(format!("CopyData {data:?}")),
        message(b'd', data.as_bytes().to_vec()),
    )
}

fn copy_done() -> Step {
    Step::Send("CopyDone", message(b'c', vec![]))
}

fn copy_fail(reason: &str) -> Step {
    let mut body = Vec::new();
    cstr(&mut body, reason);
    Step::Send(leak(format!("CopyFail {reason:?}")), message(b'f', body))
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn ready() -> Step {
    Step::Until(b'Z')
}

/// The table of the `types` scenario: every type beyond the foundation's,
/// with PostgreSQL's special values.
const TYPES_TABLE: &str = "CREATE TABLE ty (id int PRIMARY KEY, iv interval, ia int[], \
    ta text[], fa float8[], ba bool[], ua uuid[], sa int2[], la int8[], o oid, nm name, \
    ch \"char\", n numeric, nn numeric(10,2), ts timestamp, tz timestamptz, d date)";

const TYPES_ROWS: &str = "INSERT INTO ty VALUES \
    (1, '1 year 2 mons 3 days 04:05:06.5', '{1,NULL,3}', \
     '{\"a b\",NULL,\"x\\\"y\",\"\",NULL-ish,plain}', '{1.5,NaN,-Infinity}', '{t,f}', \
     '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{-1,2}', '{9000000000}', 4294967295, \
     'kimberlite', 'k', 'NaN', 'NaN', 'infinity', '-infinity', '0044-03-15 BC'), \
    (2, '-1 days +02:00:00', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 0, '', '', \
     '-Infinity', '-12.5', '0001-12-31 23:59:59.5 BC', '2024-02-29 13:14:15.123456+00', \
     'infinity'), \
    (3, '@ 1 hour ago', NULL, '{\"{}\",NULL}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, '1.5', NULL, 'epoch', '0044-03-15 12:00:00+00 BC', '-infinity')";

fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    vec![
        (
            "types",
            vec![
                query(TYPES_TABLE),
                ready(),
                query(TYPES_ROWS),
                ready(),
                query("SELECT * FROM ty ORDER BY id"),
                ready(),
                parse("", "SELECT * FROM ty ORDER BY id", &[]),
                bind("", "", &[], &[1]),
                describe(b'P', ""),
                execute("", 0),
                sync(),
                ready(),
                parse(
                    "p",
                    "SELECT $1::int[] AS a, $2::interval AS b, $3::timestamptz AS c, $4::text[] AS d",
                    &[],
                ),
                describe(b'S', "p"),
                bind(
                    "",
                    "p",
                    &[
                        Some("{4,NULL}"),
                        Some("1 day 02:00"),
                        Some("2024-02-29 13:14:15.5+02"),
                        Some("{\"q,r\",s}"),
                    ],
                    &[1, 1, 1, 0],
                ),
                execute("", 0),
                sync(),
                ready(),
                query("SELECT 1 AS one, 3000000000 AS big, 1 + 1 AS two, ARRAY[1,2] AS arr"),
                ready(),
                query("BEGIN"),
                ready(),
                query("DECLARE c BINARY CURSOR FOR SELECT id, ia, nm, ts FROM ty ORDER BY id"),
                ready(),
                query("FETCH 2 c"),
                ready(),
                query("FETCH ALL c"),
                ready(),
                query("COMMIT"),
                ready(),
            ],
        ),
        (
            "cancel",
            vec![
                query("SELECT pg_sleep(5)"),
                Step::Pause(Duration::from_millis(500)),
                Step::Cancel,
                ready(),
                query("SELECT 'alive' AS session"),
                ready(),
            ],
        ),
        (
            "empty_queries",
            vec![
                query(""),
                ready(),
                query(";"),
                ready(),
                query(";;"),
                ready(),
                query("-- ping"),
                ready(),
                parse("", "", &[]),
                bind("", "", &[], &[]),
                describe(b'P', ""),
                execute("", 0),
                sync(),
                ready(),
            ],
        ),
        (
            "multi_statement_error",
            vec![
                query("CREATE TABLE ms (a int PRIMARY KEY)"),
                ready(),
                query("INSERT INTO ms VALUES (1); SELECT a FROM ms; SELECT 1/0; INSERT INTO ms VALUES (2)"),
                ready(),
                query("SELECT count(*) FROM ms"),
                ready(),
                query("INSERT INTO ms VALUES (3); SELECT a FROM ms ORDER BY a"),
                ready(),
            ],
        ),
        (
            "aborted_transaction",
            vec![
                query("BEGIN"),
                ready(),
                query("SELECT 1/0"),
                ready(),
                query("SELECT 1"),
                ready(),
                parse("", "SELECT 2", &[]),
                bind("", "", &[], &[]),
                execute("", 0),
                sync(),
                ready(),
                query("ROLLBACK"),
                ready(),
                query("SELECT 'recovered' AS state"),
                ready(),
            ],
        ),
        (
            "portal_row_limits",
            vec![
                query("CREATE TABLE pr (a int PRIMARY KEY, b text)"),
                ready(),
                query("INSERT INTO pr VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five')"),
                ready(),
                query("BEGIN"),
                ready(),
                parse("s", "SELECT a, b FROM pr ORDER BY a", &[]),
                bind("p", "s", &[], &[0, 1]),
                describe(b'P', "p"),
                execute("p", 2),
                execute("p", 2),
                flush(),
                Step::Until(b's'),
                execute("p", 2),
                execute("p", 2),
                sync(),
                ready(),
                close(b'P', "p"),
                close(b'S', "s"),
                sync(),
                ready(),
                query("COMMIT"),
                ready(),
            ],
        ),
        (
            "pipeline_error",
            vec![
                query("CREATE TABLE pl (a int PRIMARY KEY)"),
                ready(),
                parse("", "INSERT INTO pl VALUES ($1)", &[23]),
                bind("", "", &[Some("1")], &[]),
                execute("", 0),
                parse("", "INSERT INTO pl VALUES ($1)", &[23]),
                bind("", "", &[Some("1")], &[]),
                execute("", 0),
                parse("", "INSERT INTO pl VALUES ($1)", &[23]),
                bind("", "", &[Some("2")], &[]),
                execute("", 0),
                sync(),
                ready(),
                parse("", "SELECT a FROM pl ORDER BY a", &[]),
                bind("", "", &[], &[]),
                execute("", 0),
                sync(),
                ready(),
                parse("two", "SELECT 1; SELECT 2", &[]),
                sync(),
                ready(),
            ],
        ),
        (
            "parameter_description",
            vec![
                query("CREATE TABLE pd (id int PRIMARY KEY, name varchar(20), price numeric(10,2))"),
                ready(),
                parse("q", "SELECT id, name, price FROM pd WHERE id = $1 AND name = $2", &[]),
                describe(b'S', "q"),
                parse("i", "INSERT INTO pd VALUES ($1, $2, $3)", &[]),
                describe(b'S', "i"),
                parse("d", "SELECT $1::int8 + $2", &[0, 21]),
                describe(b'S', "d"),
                bind("", "i", &[Some("1"), Some("pen"), Some("1.50")], &[]),
                execute("", 0),
                bind("", "q", &[Some("1"), Some("pen")], &[]),
                describe(b'P', ""),
                execute("", 0),
                sync(),
                ready(),
            ],
        ),
        (
            "copy",
            vec![
                query("CREATE TABLE cp (a int PRIMARY KEY, b text)"),
                ready(),
                query("COPY cp FROM STDIN"),
                Step::Until(b'G'),
                copy_data("1\tone\n2\t"),
                copy_data("two\n"),
                copy_done(),
                ready(),
                query("COPY cp TO STDOUT WITH (FORMAT csv, HEADER true)"),
                ready(),
                query("COPY cp FROM STDIN"),
                Step::Until(b'G'),
                copy_data("3\tthree\n"),
                copy_fail("client gave up"),
                ready(),
                query("COPY cp FROM STDIN"),
                Step::Until(b'G'),
                copy_data("4\tfour\nx\tbad\n"),
                ready(),
                copy_data("5\tignored\n"),
                copy_done(),
                query("SELECT count(*) FROM cp"),
                ready(),
            ],
        ),
        (
            "set_reports",
            vec![
                query("SET application_name = 'transcripts'"),
                ready(),
                query("BEGIN"),
                ready(),
                query("SET LOCAL TimeZone = 'Europe/Paris'"),
                ready(),
                query("COMMIT"),
                ready(),
                query("SET no_such_parameter = 1"),
                ready(),
            ],
        ),
    ]
}

struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Where the server listens and the session's BackendKeyData, for
    /// CancelRequest.
    addr: (String, u16),
    key: (i32, i32),
}

impl Wire {
    fn connect(host: &str, port: u16, user: &str, database: &str) -> Wire {
        let mut stream = TcpStream::connect((host, port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut body = 196608i32.to_be_bytes().to_vec();
        for part in ["user", user, "database", database, "TimeZone", "UTC", ""] {
            cstr(&mut body, part);
        }
        let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        packet.extend(body);
        stream.write_all(&packet).unwrap();
        let mut wire = Wire {
            stream,
            buf: Vec::new(),
            addr: (host.to_string(), port),
            key: (0, 0),
        };
        loop {
            let (tag, body) = wire.read().expect("login answered");
            match tag {
                b'R' => assert_eq!(&body[..4], &[0, 0, 0, 0], "only trust logins"),
                b'K' => {
                    let mut f = Fields(&body);
                    wire.key = (f.i32(), f.i32());
                }
                b'E' => panic!("login failed: {}", describe_message(tag, &body)),
                b'Z' => return wire,
                _ => {}
            }
        }
    }

    /// The next message; `None` when none comes within the timeout.
    fn read(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    let body = self.buf[5..1 + len].to_vec();
                    self.buf.drain(..1 + len);
                    return Some((tag, body));
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn i16(&mut self) -> i16 {
        let v = i16::from_be_bytes(self.0[..2].try_into().unwrap());
        self.0 = &self.0[2..];
        v
    }
    fn i32(&mut self) -> i32 {
        let v = i32::from_be_bytes(self.0[..4].try_into().unwrap());
        self.0 = &self.0[4..];
        v
    }
    fn cstr(&mut self) -> String {
        let end = self.0.iter().position(|b| *b == 0).unwrap();
        let s = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = &self.0[end + 1..];
        s
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

fn describe_message(tag: u8, body: &[u8]) -> String {
    let mut f = Fields(body);
    match tag {
        b'T' => {
            let n = f.i16();
            let columns: Vec<String> = (0..n)
                .map(|_| {
                    let name = f.cstr();
                    let (_table, _attnum) = (f.i32(), f.i16());
                    let (oid, len, typmod, format) = (f.i32(), f.i16(), f.i32(), f.i16());
                    format!("{name} oid={oid} len={len} mod={typmod} fmt={format}")
                })
                .collect();
            format!("RowDescription [{}]", columns.join(", "))
        }
        b'D' => {
            let n = f.i16();
            let values: Vec<String> = (0..n)
                .map(|_| match f.i32() {
                    -1 => "NULL".to_string(),
                    // Binary values that are not UTF-8 are shown as hex so
                    // that every byte is compared.
                    len => {
                        let bytes = f.bytes(len as usize);
                        match std::str::from_utf8(bytes) {
                            Ok(text) => format!("{text:?}"),
                            Err(_) => format!("0x{}", hex(bytes)),
                        }
                    }
                })
                .collect();
            format!("DataRow [{}]", values.join(", "))
        }
        b'C' => format!("CommandComplete {:?}", f.cstr()),
        b'I' => "EmptyQueryResponse".into(),
        b'Z' => format!("ReadyForQuery {}", body[0] as char),
        b's' => "PortalSuspended".into(),
        b'n' => "NoData".into(),
        b'1' => "ParseComplete".into(),
        b'2' => "BindComplete".into(),
        b'3' => "CloseComplete".into(),
        b't' => {
            let n = f.i16();
            let oids: Vec<i32> = (0..n).map(|_| f.i32()).collect();
            format!("ParameterDescription {oids:?}")
        }
        b'S' => format!("ParameterStatus {}={}", f.cstr(), f.cstr()),
        b'K' => "BackendKeyData <masked>".into(),
        b'G' | b'H' => {
            let overall = body[0];
            let _ = f.bytes(1);
            let n = f.i16();
            let formats: Vec<i16> = (0..n).map(|_| f.i16()).collect();
            let kind = if tag == b'G' {
                "CopyInResponse"
            } else {
                "CopyOutResponse"
            };
            format!("{kind} format={overall} columns={formats:?}")
        }
        b'd' => format!("CopyData {:?}", String::from_utf8_lossy(body)),
        b'c' => "CopyDone".into(),
        b'E' | b'N' => {
            let mut fields = Vec::new();
            while f.0.first().is_some_and(|b| *b != 0) {
                let code = f.bytes(1)[0];
                let value = f.cstr();
                // V repeats S untranslated; F/L/R name PostgreSQL's C source.
                if !matches!(code, b'V' | b'F' | b'L' | b'R') {
                    fields.push(format!("{}={value:?}", code as char));
                }
            }
            let kind = if tag == b'E' {
                "ErrorResponse"
            } else {
                "NoticeResponse"
            };
            format!("{kind} {}", fields.join(" "))
        }
        other => format!("Message {:?} {} bytes", other as char, body.len()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn send_cancel(addr: &(String, u16), (pid, secret): (i32, i32)) {
    let mut packet = 16i32.to_be_bytes().to_vec();
    packet.extend_from_slice(&80_877_102i32.to_be_bytes());
    packet.extend_from_slice(&pid.to_be_bytes());
    packet.extend_from_slice(&secret.to_be_bytes());
    let mut stream = TcpStream::connect((addr.0.as_str(), addr.1)).expect("connect for cancel");
    stream.write_all(&packet).unwrap();
    // The server closes the cancel connection without answering.
    let _ = stream.read(&mut [0u8; 1]);
}

fn run(wire: &mut Wire, steps: &[Step]) -> String {
    let mut transcript = String::new();
    for step in steps {
        match step {
            Step::Send(text, bytes) => {
                transcript.push_str(&format!("> {text}\n"));
                wire.stream.write_all(bytes).unwrap();
            }
            Step::Pause(duration) => std::thread::sleep(*duration),
            Step::Cancel => {
                transcript.push_str("> CancelRequest <BackendKeyData>\n");
                send_cancel(&wire.addr, wire.key);
            }
            Step::Until(end) => loop {
                let Some((tag, body)) = wire.read() else {
                    transcript.push_str("< (nothing more: timeout or closed)\n");
                    return transcript;
                };
                transcript.push_str(&format!("< {}\n", describe_message(tag, &body)));
                if tag == *end {
                    break;
                }
            },
        }
    }
    transcript
}

fn transcript_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(format!("{name}.txt"))
}

#[test]
fn protocol_transcripts_match_postgresql() {
    if let Ok(target) = std::env::var("RECORD_TRANSCRIPTS") {
        let parts: Vec<&str> = target.split(':').collect();
        let [host, port, user, database] = parts[..] else {
            panic!("RECORD_TRANSCRIPTS=host:port:user:database");
        };
        for (name, steps) in scenarios() {
            let mut wire = Wire::connect(host, port.parse().unwrap(), user, database);
            std::fs::write(transcript_path(name), run(&mut wire, &steps)).unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let mut failures = Vec::new();
    for (name, steps) in scenarios() {
        let mut wire = Wire::connect("127.0.0.1", server.port, "kimberlite", "kimberlite");
        let actual = run(&mut wire, &steps);
        let expected = std::fs::read_to_string(transcript_path(name)).unwrap_or_default();
        if actual != expected {
            let first = expected
                .lines()
                .zip(actual.lines())
                .position(|(e, a)| e != a)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            failures.push(format!(
                "{name}: first difference at line {}\n  postgres: {}\n  ours:     {}\n--- ours ---\n{actual}",
                first + 1,
                expected.lines().nth(first).unwrap_or("<end>"),
                actual.lines().nth(first).unwrap_or("<end>"),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
