//! Golden tests with the real `psql`: each `golden/*.sql` script runs
//! against a fresh server and its full transcript (statements, results,
//! errors) must equal `golden/*.out`. Regenerate with `UPDATE_GOLDENFILES=1`
//! and review the diff.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

fn run_script(name: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    // psql writes results to stdout and errors to stderr; merge them in
    // order by running with stderr redirected into stdout via a shell.
    let merged = Command::new("sh")
        .arg("-c")
        .arg(format!("psql '{}' -X -a -f {name}.sql 2>&1", server.url()))
        .current_dir(&golden)
        .env("PGCLIENTENCODING", "UTF8")
        .env("PGTZ", "UTC")
        .output()
        .expect("psql is installed (scripts/test.sh installs postgresql-client)");
    assert!(merged.status.success(), "psql failed to run");
    let actual = String::from_utf8(merged.stdout).expect("utf-8 transcript");
    let expected_path = golden.join(format!("{name}.out"));
    if std::env::var_os("UPDATE_GOLDENFILES").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if actual != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "psql transcript for {name}.sql differs from {name}.out ({} vs {} lines):\n{}\n--- actual ---\n{actual}",
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn psql_foundation_transcript_matches_golden() {
    run_script("foundation");
}

/// `copy.out` was recorded from PostgreSQL 15 (Debian's package) running
/// the same script: COPY must read, write and fail exactly as it does.
#[test]
fn psql_copy_transcript_matches_postgresql() {
    run_script("copy");
}

/// `session.out` was recorded from PostgreSQL 15: SET/SHOW/RESET with
/// transaction semantics, TimeZone/extra_float_digits/bytea_output in the
/// output, READ ONLY transactions, pool reset commands, PREPARE/EXECUTE and
/// cursors.
#[test]
fn psql_session_transcript_matches_postgresql() {
    run_script("session");
}

/// `types.out` was recorded from PostgreSQL 15: interval, arrays, oid,
/// name, numeric NaN/Infinity, infinite and BC dates in every DateStyle and
/// IntervalStyle, timestamptz input in the session's zone (DST repeat
/// included), int4 literals.
#[test]
fn psql_types_transcript_matches_postgresql() {
    run_script("types");
}

/// `savepoints.out` was recorded from PostgreSQL 15: partial rollback,
/// recovery from the aborted state, SET and cursors under ROLLBACK TO,
/// RELEASE, and the errors for unknown savepoints and savepoints outside a
/// block.
#[test]
fn psql_savepoints_transcript_matches_postgresql() {
    run_script("savepoints");
}

/// `upsert.out` was recorded from PostgreSQL 15: ON CONFLICT DO NOTHING and
/// DO UPDATE (excluded, WHERE, RETURNING, ON CONSTRAINT) and their errors.
#[test]
fn psql_upsert_transcript_matches_postgresql() {
    run_script("upsert");
}
