//! Encryption at rest, end to end on the real binary: nothing a client
//! wrote is readable under the data directory, and the master key decides
//! who may open it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::TestServer;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const KEY_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const KEY_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

#[tokio::test]
async fn nothing_a_client_wrote_appears_in_plaintext_under_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE zq_marker_table (zq_marker_column text PRIMARY KEY, n int); \
             INSERT INTO zq_marker_table VALUES ('ZQ-PATIENT-7f3a9c', 1), ('ZQ-SSN-55521', 2); \
             UPDATE zq_marker_table SET zq_marker_column = 'ZQ-UPDATED-e1e1' WHERE n = 2;",
        )
        .await
        .unwrap();
    drop(client);
    assert!(server.stop().success());
    let files = files_under(dir.path());
    for kind in ["klog", "ksnap"] {
        assert!(
            files
                .iter()
                .any(|f| f.extension().is_some_and(|e| e == kind)),
            "no .{kind} file to scan"
        );
    }
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for marker in ["ZQ-PATIENT", "ZQ-SSN", "ZQ-UPDATED", "zq_marker"] {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker} in plaintext in {}",
                file.display()
            );
        }
    }
    // The generated key sits beside the data, readable by its owner only.
    let key = dir.path().join("keys/master.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // And the data is still there.
    let server = TestServer::dev(dir.path());
    let n: i64 = server
        .connect()
        .await
        .query_one("SELECT sum(n) FROM zq_marker_table", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

#[tokio::test]
async fn a_wrong_or_missing_master_key_is_refused_never_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn("dev", dir.path(), &[("KIMBERLITE_MASTER_KEY", KEY_A)]).unwrap();
    server
        .connect()
        .await
        .batch_execute("CREATE TABLE k (id int PRIMARY KEY); INSERT INTO k VALUES (1)")
        .await
        .unwrap();
    assert!(server.stop().success());
    assert!(
        !dir.path().join("keys/master.key").exists(),
        "a given key is never written down"
    );

    let error = TestServer::spawn("dev", dir.path(), &[("KIMBERLITE_MASTER_KEY", KEY_B)])
        .err()
        .expect("another key must be refused");
    assert!(
        error.contains("master key does not open this data directory"),
        "{error}"
    );
    let error = TestServer::spawn("dev", dir.path(), &[])
        .err()
        .expect("no key must be refused");
    assert!(error.contains("holds a log but no master key"), "{error}");
    let error = TestServer::spawn("dev", dir.path(), &[("KIMBERLITE_MASTER_KEY", "abc")])
        .err()
        .expect("a malformed key must be refused");
    assert!(error.contains("64 hex digits"), "{error}");

    // The same key in a file: refused while group-readable, fine at 0600.
    let key_file = dir.path().join("operator.key");
    std::fs::write(&key_file, format!("{KEY_A}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key_env = [("KIMBERLITE_MASTER_KEY_FILE", key_file.to_str().unwrap())];
    let error = TestServer::spawn("dev", dir.path(), &key_env)
        .err()
        .expect("a group-readable key file must be refused");
    assert!(error.contains("readable by group or others"), "{error}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = TestServer::spawn("dev", dir.path(), &key_env).unwrap();
    let n: i64 = server
        .connect()
        .await
        .query_one("SELECT count(*) FROM k", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
