//! Tamper evidence end to end on the real binary: signed checkpoints,
//! `kimberlite verify` (offline) and `kimberlite_verify()` (online), a byte
//! flipped anywhere under the data directory, torn tails, key rotation.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;

/// Small segments and frequent checkpoints, so a short test spans several
/// of each.
const ENV: &[(&str, &str)] = &[
    ("KIMBERLITE_CHECKPOINT_OPS", "6"),
    ("KIMBERLITE_SNAPSHOTS_KEPT", "2"),
    ("KIMBERLITE_SEGMENT_BYTES_MAX", "2048"),
];

fn kimberlite(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kimberlite"))
        .args(args)
        .output()
        .expect("run kimberlite");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn verify(dir: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["verify", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = kimberlite(&args);
    (code, format!("{stdout}{stderr}"))
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().into());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let mut files = Vec::new();
    files_under(from, from, &mut files);
    for file in files {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&file), &target).unwrap();
    }
}

/// A data directory with a table, rows, several segments and checkpoints,
/// shut down cleanly. Returns the public key the node reported online.
async fn populated(dir: &Path) -> String {
    let server = TestServer::spawn("dev", dir, ENV).expect("server starts");
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE ledger (id int PRIMARY KEY, memo text)")
        .await
        .unwrap();
    for i in 0..30 {
        client
            .execute(
                "INSERT INTO ledger VALUES ($1, $2)",
                &[&i, &format!("entry {i}")],
            )
            .await
            .unwrap();
    }
    let row = client
        .query_one(
            "SELECT verified, ops, segments, checkpoints, checkpoint_op, chain_head, \
             public_key, problems, first_problem FROM kimberlite_verify()",
            &[],
        )
        .await
        .unwrap();
    let first_problem: Option<String> = row.get("first_problem");
    assert!(row.get::<_, bool>("verified"), "{first_problem:?}");
    assert_eq!(row.get::<_, i64>("problems"), 0);
    assert!(row.get::<_, i64>("ops") >= 31);
    assert!(row.get::<_, i64>("segments") >= 2, "segments rotate");
    assert!(row.get::<_, i64>("checkpoints") >= 4, "every 6 ops");
    assert!(row.get::<_, Option<i64>>("checkpoint_op").unwrap() > 0);
    assert_eq!(row.get::<_, String>("chain_head").len(), 64);
    let public_key: String = row.get("public_key");
    drop(client);
    assert!(server.stop().success());
    public_key
}

#[tokio::test]
async fn verify_accounts_for_every_file_and_checks_authorship_with_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let online_key = populated(&data).await;

    let (code, shown, _) = kimberlite(&["keys", "show", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(shown.trim(), online_key, "keys show prints the signer");

    let (code, out) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("verified: every byte is accounted for"),
        "{out}"
    );
    assert!(out.contains("proves consistency, not authorship"), "{out}");
    assert!(out.contains("chain head: "), "{out}");
    assert!(
        out.contains("checkpoints: ") && !out.contains("checkpoints: 0"),
        "{out}"
    );

    let ours = dir.path().join("ours.pub");
    std::fs::write(&ours, format!("{online_key}\n")).unwrap();
    let (code, out) = verify(&data, &["--public-key", ours.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("proves authorship"), "{out}");

    let theirs = dir.path().join("theirs.pub");
    std::fs::write(&theirs, "11".repeat(32)).unwrap();
    let (code, out) = verify(&data, &["--public-key", theirs.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is signed by key"), "{out}");
    assert!(out.contains("FAILED: log/"), "{out}");

    // An unknown file is reported by name.
    let stray = data.join("log/notes.txt");
    std::fs::write(&stray, "hello").unwrap();
    let (code, out) = verify(&data, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("log/notes.txt at offset 0: unknown file"),
        "{out}"
    );
    std::fs::remove_file(stray).unwrap();

    let (code, out) = verify(&dir.path().join("missing"), &[]);
    assert_eq!(code, 2, "{out}");
}

#[tokio::test]
async fn a_byte_flipped_in_any_file_fails_verify_naming_it_and_the_server_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    populated(&pristine).await;
    let mut files = Vec::new();
    files_under(&pristine, &pristine, &mut files);
    files.sort();
    assert!(files.iter().filter(|f| f.ends_with(".klog")).count() >= 2);
    assert!(files.iter().any(|f| f.starts_with("snapshots/")));
    for expected in [
        "log/watermark",
        "keys/master.key",
        "keys/node.key",
        "keys/node.pub",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }

    let work: PathBuf = dir.path().join("work");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for file in &files {
        let len = std::fs::metadata(pristine.join(file)).unwrap().len();
        for round in 0..2 {
            copy_dir(&pristine, &work);
            let offset = next() % len;
            // The high bit always changes: text key files become non-ASCII
            // rather than another whitespace character.
            let mask = 0x80 | (next() as u8);
            let path = work.join(file);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[offset as usize] ^= mask;
            std::fs::write(&path, &bytes).unwrap();

            let (code, out) = verify(&work, &[]);
            assert_eq!(code, 1, "flip at {file}:{offset} went unnoticed: {out}");
            assert!(
                out.contains(&format!("FAILED: {file} at offset ")),
                "flip at {file}:{offset} blamed elsewhere: {out}"
            );
            // The named offset is the start of the damaged record, at or
            // before the flipped byte.
            let named: u64 = out
                .split(&format!("FAILED: {file} at offset "))
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .expect("an offset");
            assert!(named <= offset, "{file}: named {named}, flipped {offset}");

            // The server refuses what it cannot verify. (A damaged
            // watermark slot is the one damage it recovers from: the other
            // slot still holds, and it rewrites the damaged one.)
            if round == 0 && file.starts_with("snapshots/") {
                // A damaged snapshot is never loaded: the log replays what
                // it held, and every row is there.
                let server = TestServer::spawn("dev", &work, &[]).expect("starts from the log");
                let client = server.connect().await;
                let rows = client.query("SELECT id FROM ledger", &[]).await.unwrap();
                assert_eq!(rows.len(), 30, "{file}");
            } else if round == 0 && file != "log/watermark" {
                let server = TestServer::spawn("dev", &work, &[]);
                assert!(
                    server.is_err(),
                    "the server started on a flipped byte in {file}:{offset}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_torn_tail_after_the_watermark_is_reported_then_truncated_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populated(&data).await;
    let mut files = Vec::new();
    files_under(&data, &data, &mut files);
    files.sort();
    let last = files
        .iter()
        .rfind(|f| f.ends_with(".klog"))
        .unwrap()
        .clone();
    let path = data.join(&last);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"KLOG\x01\x00 half a frame that never reached its fsync");
    std::fs::write(&path, &bytes).unwrap();

    let (code, out) = verify(&data, &[]);
    assert_eq!(code, 0, "a torn tail is not corruption: {out}");
    assert!(
        out.contains(&format!("torn tail: {last} at offset")),
        "{out}"
    );

    let server = TestServer::spawn("dev", &data, &[]).expect("server cuts the tail");
    let client = server.connect().await;
    let rows = client.query("SELECT id FROM ledger", &[]).await.unwrap();
    assert_eq!(rows.len(), 30);
    drop(client);
    assert!(server.stop().success());
    let (code, out) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("torn tail"), "{out}");
}

#[tokio::test]
async fn key_rotation_is_sql_and_a_thin_client_and_keeps_old_rows_readable_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::dev(&data);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE notes (id int PRIMARY KEY, body text); \
             INSERT INTO notes VALUES (1, 'sealed with the first key')",
        )
        .await
        .unwrap();
    let first: i64 = client
        .query_one("SELECT kimberlite_rotate_keys()", &[])
        .await
        .unwrap()
        .get(0);
    client
        .batch_execute("INSERT INTO notes VALUES (2, 'sealed with the second key')")
        .await
        .unwrap();
    // The thin client does the same through the wire.
    let (code, out, err) = kimberlite(&["keys", "rotate", "--dsn", &server.url()]);
    assert_eq!(code, 0, "{out}{err}");
    let second: i64 = out
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(second > first, "{first} then {second}");
    client
        .batch_execute("INSERT INTO notes VALUES (3, 'sealed with the third key')")
        .await
        .unwrap();
    // Misuse inside a larger query is refused, not half-run.
    let misuse = client
        .query("SELECT kimberlite_rotate_keys() + 1", &[])
        .await;
    assert_eq!(common::sqlstate(misuse), "0A000");
    drop(client);
    server.kill9();

    let server = TestServer::dev(&data);
    let client = server.connect().await;
    let rows = client
        .query("SELECT body FROM notes ORDER BY id", &[])
        .await
        .unwrap();
    let bodies: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        bodies,
        [
            "sealed with the first key",
            "sealed with the second key",
            "sealed with the third key"
        ]
    );
    let third: i64 = client
        .query_one("SELECT kimberlite_rotate_keys()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(third > second);
    drop(client);
    assert!(server.stop().success());
    let (code, out) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("key records: 8"), "{out}");
}

#[tokio::test]
async fn a_restart_loads_the_newest_snapshot_and_replays_only_what_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populated(&data).await;
    let server = TestServer::spawn("dev", &data, ENV).expect("server starts");
    let client = server.connect().await;
    let stat = |rows: &[tokio_postgres::Row], name: &str| -> i64 {
        rows.iter()
            .find(|r| r.get::<_, String>(0) == name)
            .map(|r| r.get(1))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let stats = client
        .query("SELECT name, value FROM kimberlite_stats", &[])
        .await
        .unwrap();
    // The clean shutdown wrote a snapshot of everything: nothing to replay.
    assert!(stat(&stats, "opened_from_snapshot_op") >= 31);
    assert_eq!(stat(&stats, "replayed_commands"), 0);
    let rows = client
        .query("SELECT memo FROM ledger WHERE id = 29", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "entry 29");
    client
        .batch_execute("INSERT INTO ledger VALUES (100, 'after the snapshot')")
        .await
        .unwrap();
    drop(client);
    // No clean shutdown: the next start replays from the last snapshot.
    server.kill9();
    let server = TestServer::spawn("dev", &data, ENV).expect("server starts");
    let client = server.connect().await;
    let stats = client
        .query("SELECT name, value FROM kimberlite_stats", &[])
        .await
        .unwrap();
    assert!(stat(&stats, "opened_from_snapshot_op") >= 31);
    assert_eq!(stat(&stats, "replayed_commands"), 1);
    let count: i64 = client
        .query_one("SELECT count(*) FROM ledger", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 31);
    drop(client);
    assert!(server.stop().success());
    let (code, out) = verify(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("snapshots: 2"), "{out}");
}
