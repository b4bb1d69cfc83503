//! pgjdbc from Debian's `libpostgresql-jdbc-java` against the real binary:
//! `tests/jdbc/JdbcTest.java` (server-prepared binary statements after the
//! fifth execution, `isValid`, autocommit off with commit and rollback,
//! SQLSTATEs). `scripts/test.sh` installs the JDK and the driver.

mod common;

use std::process::Command;

use common::TestServer;

const DRIVER: &str = "/usr/share/java/postgresql.jar";

#[test]
fn pgjdbc_prepared_statements_transactions_and_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcTest.java");
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
        output.status.success() && stdout.contains("jdbc: all checks passed"),
        "JdbcTest failed:\n{stdout}\n{stderr}"
    );
}

/// `tests/jdbc/JdbcMetadata.java`: `DatabaseMetaData` getTables,
/// getColumns, getPrimaryKeys, getImportedKeys and getIndexInfo read our
/// pg_catalog; `ResultSet.getObject` returns each type's Java class.
#[test]
fn pgjdbc_database_metadata_and_get_object() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcMetadata.java");
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
        output.status.success() && stdout.contains("jdbc metadata ok"),
        "JdbcMetadata failed:\n{stdout}\n{stderr}"
    );
}
