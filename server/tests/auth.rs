//! `kimberlite start`: SCRAM-SHA-256 logins against stored verifiers.

mod common;

use common::{connect, TestServer};

#[tokio::test]
async fn scram_login_succeeds_with_the_password_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &[("KIMBERLITE_PASSWORD", "s3cret pass")]).unwrap();
    let good = format!("{} password='s3cret pass'", server.conn_str());
    let client = connect(&good)
        .await
        .expect("SCRAM login with the right password");
    client
        .batch_execute("CREATE TABLE secured (id int PRIMARY KEY)")
        .await
        .unwrap();

    let wrong = format!("{} password=wrong", server.conn_str());
    let error = connect(&wrong)
        .await
        .expect_err("wrong password is refused");
    assert_eq!(error.code().map(|c| c.code()), Some("28P01"), "{error}");
    let nobody = format!(
        "host=127.0.0.1 port={} user=nobody dbname=kimberlite password=x",
        server.port
    );
    let error = connect(&nobody).await.expect_err("unknown role is refused");
    assert_eq!(error.code().map(|c| c.code()), Some("28P01"), "{error}");
    let other_db = format!(
        "host=127.0.0.1 port={} user=kimberlite dbname=other password='s3cret pass'",
        server.port
    );
    let error = connect(&other_db)
        .await
        .expect_err("missing database is refused");
    assert_eq!(error.code().map(|c| c.code()), Some("3D000"), "{error}");
    drop(client);
    assert!(server.stop().success());

    // Later starts need no password variable; the verifier is in the log.
    let server = TestServer::start(dir.path(), &[]).unwrap();
    let good = format!("{} password='s3cret pass'", server.conn_str());
    let client = connect(&good).await.expect("login after restart");
    assert_eq!(
        client
            .query("SELECT * FROM secured", &[])
            .await
            .unwrap()
            .len(),
        0
    );
    drop(client);
    drop(server);

    // The password is nowhere in the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(11).any(|w| w == b"s3cret pass"),
            "plaintext password in {}",
            entry.display()
        );
    }

    // `dev` refuses a directory initialized by `start`.
    let error = TestServer::spawn("dev", dir.path(), &[])
        .err()
        .expect("dev must refuse");
    assert!(error.contains("kimberlite start"), "{error}");
}

#[tokio::test]
async fn start_refuses_to_initialize_without_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let error = TestServer::start(dir.path(), &[])
        .err()
        .expect("must refuse");
    assert!(error.contains("KIMBERLITE_PASSWORD"), "{error}");
}

#[tokio::test]
async fn dev_trust_login_rejects_unknown_roles_and_databases() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let error = connect(&format!(
        "host=127.0.0.1 port={} user=mallory dbname=kimberlite",
        server.port
    ))
    .await
    .err()
    .unwrap();
    assert_eq!(error.code().map(|c| c.code()), Some("28000"), "{error}");
    let error = connect(&format!(
        "host=127.0.0.1 port={} user=kimberlite dbname=nope",
        server.port
    ))
    .await
    .err()
    .unwrap();
    assert_eq!(error.code().map(|c| c.code()), Some("3D000"), "{error}");
    server
        .connect()
        .await
        .batch_execute("SELECT 1")
        .await
        .unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
