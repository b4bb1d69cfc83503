//! pgjdbc from Debian's `libpostgresql-jdbc-java` against the real binary:
//! `tests/jdbc/JdbcTest.java` (server-prepared binary statements after the
//! fifth execution, `isValid`, autocommit off with commit and rollback,
//! SQLSTATEs). `scripts/test.sh` installs the JDK and the driver.

mod common;

use std::process::Command;

use common::TestServer;

const DRIVER: &str = "/usr/share/java/postgresql.jar";

/// Runs the single-file Java `program` against a fresh server; it must
/// exit cleanly and print `done`.
fn run_java(program: &str, done: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let url = format!(
        "jdbc:postgresql://127.0.0.1:{}/kimberlite?user=kimberlite",
        server.port
    );
    let output = Command::new("java")
        .args(["-cp", DRIVER, program, &url])
        .output()
        .expect("java is installed (scripts/test.sh installs default-jdk-headless)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(done),
        "{program} failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn pgjdbc_prepared_statements_transactions_and_is_valid() {
    run_java(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcTest.java"),
        "jdbc: all checks passed",
    );
}

/// `tests/jdbc/JdbcMetadata.java`: `DatabaseMetaData` getTables,
/// getColumns, getPrimaryKeys, getImportedKeys and getIndexInfo read our
/// pg_catalog; `ResultSet.getObject` returns each type's Java class.
#[test]
fn pgjdbc_database_metadata_and_get_object() {
    run_java(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcMetadata.java"),
        "jdbc metadata ok",
    );
}
