//! Golden tests with the real `psql`: each `golden/*.sql` script runs
//! against a fresh server and its full transcript (statements, results,
//! errors) must equal `golden/*.out`. Regenerate with `UPDATE_GOLDENFILES=1`
//! and review the diff.
//!
//! Differential: scripts whose golden was recorded from PostgreSQL 15 also
//! run, live, against the PostgreSQL named by `KIMBERLITE_PG_REFERENCE`
//! (`postgres://kimberlite@127.0.0.1:PORT`: a superuser named as ours,
//! with a database `kimberlite` owned by it; `scripts/test.sh` starts one
//! on a free port), each in a fresh database, and the two transcripts must
//! be equal. `LOCATION:` lines (PostgreSQL's C source position, shown under
//! `VERBOSITY verbose`) are left out of both.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

/// The transcript of `golden/{name}.sql` run by psql against `url`.
fn transcript(golden: &Path, name: &str, url: &str) -> String {
    // psql writes results to stdout and errors to stderr; merge them in
    // order by running with stderr redirected into stdout via a shell.
    let merged = Command::new("sh")
        .arg("-c")
        .arg(format!("psql '{url}' -X -a -f {name}.sql 2>&1"))
        .current_dir(golden)
        .env("PGCLIENTENCODING", "UTF8")
        .env("PGTZ", "UTC")
        .output()
        .expect("psql is installed (scripts/test.sh installs postgresql-client)");
    assert!(merged.status.success(), "psql failed to run");
    let text = String::from_utf8(merged.stdout).expect("utf-8 transcript");
    text.lines()
        .filter(|line| !line.starts_with("LOCATION:  "))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Runs the script on the reference PostgreSQL, in a database of its own.
fn reference_transcript(golden: &Path, name: &str) -> Option<String> {
    let reference = std::env::var("KIMBERLITE_PG_REFERENCE").ok()?;
    let database = format!("golden_{name}_{}", std::process::id());
    let admin = |sql: &str| {
        let status = Command::new("psql")
            .args([&format!("{reference}/postgres"), "-X", "-q", "-c", sql])
            .status()
            .expect("psql runs");
        assert!(status.success(), "reference PostgreSQL refused: {sql}");
    };
    admin(&format!("DROP DATABASE IF EXISTS {database}"));
    admin(&format!("CREATE DATABASE {database}"));
    let text = transcript(golden, name, &format!("{reference}/{database}"));
    admin(&format!("DROP DATABASE {database}"));
    Some(text)
}

fn run_script(name: &str) {
    run(name, false)
}

/// A script whose golden was recorded from PostgreSQL 15: compared with
/// the golden and, when a reference server is there, with it live.
fn run_differential(name: &str) {
    run(name, true)
}

fn run(name: &str, differential: bool) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let actual = transcript(&golden, name, &server.url());
    if differential {
        if let Some(reference) = reference_transcript(&golden, name) {
            if reference != actual {
                let first = reference
                    .lines()
                    .zip(actual.lines())
                    .position(|(r, a)| r != a)
                    .unwrap_or(0);
                panic!(
                    "{name}.sql: Kimberlite differs from the reference PostgreSQL from line {}:\n--- postgresql ---\n{}\n--- kimberlite ---\n{}",
                    first + 1,
                    reference.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
                    actual.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
                );
            }
        }
    }
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
    run_differential("copy");
}

/// `session.out` was recorded from PostgreSQL 15: SET/SHOW/RESET with
/// transaction semantics, TimeZone/extra_float_digits/bytea_output in the
/// output, READ ONLY transactions, pool reset commands, PREPARE/EXECUTE and
/// cursors.
#[test]
fn psql_session_transcript_matches_postgresql() {
    run_differential("session");
}

/// `types.out` was recorded from PostgreSQL 15: interval, arrays, oid,
/// name, numeric NaN/Infinity, infinite and BC dates in every DateStyle and
/// IntervalStyle, timestamptz input in the session's zone (DST repeat
/// included), int4 literals.
#[test]
fn psql_types_transcript_matches_postgresql() {
    run_differential("types");
}

/// `savepoints.out` was recorded from PostgreSQL 15: partial rollback,
/// recovery from the aborted state, SET and cursors under ROLLBACK TO,
/// RELEASE, and the errors for unknown savepoints and savepoints outside a
/// block.
#[test]
fn psql_savepoints_transcript_matches_postgresql() {
    run_differential("savepoints");
}

/// `upsert.out` was recorded from PostgreSQL 15: ON CONFLICT DO NOTHING and
/// DO UPDATE (excluded, WHERE, RETURNING, ON CONSTRAINT) and their errors.
#[test]
fn psql_upsert_transcript_matches_postgresql() {
    run_differential("upsert");
}

/// `constraints.out` was recorded from PostgreSQL 15: UNIQUE (NULLs
/// distinct, multi-column), CHECK, NOT NULL and FOREIGN KEY with CASCADE,
/// SET NULL, RESTRICT and NO ACTION (chains, self references, composite
/// keys), inside savepoints, the definitions PostgreSQL refuses, and DROP
/// TABLE with and without CASCADE.
#[test]
fn psql_constraints_transcript_matches_postgresql() {
    run_differential("constraints");
}

/// `sequences.out` was recorded from PostgreSQL 15: CREATE/DROP SEQUENCE,
/// nextval/currval/setval/lastval (not rolled back; cycling, descending,
/// smallint), SERIAL and identity columns, their dependencies and errors.
#[test]
fn psql_sequences_transcript_matches_postgresql() {
    run_differential("sequences");
}

/// `upsert_unique.out` was recorded from PostgreSQL 15: ON CONFLICT with a
/// UNIQUE constraint as the target (columns, ON CONSTRAINT, none), NULLs
/// that never conflict, and a clash on a key that is not the target.
#[test]
fn psql_upsert_on_unique_transcript_matches_postgresql() {
    run_differential("upsert_unique");
}

/// `truncate.out` was recorded from PostgreSQL 15: TRUNCATE with foreign
/// keys (refused alone, together, CASCADE), RESTART IDENTITY, rollback,
/// and VACUUM/ANALYZE accepted (VACUUM refused inside a block).
#[test]
fn psql_truncate_transcript_matches_postgresql() {
    run_differential("truncate");
}

/// `queries.out` was recorded from PostgreSQL 15: repeated output names
/// and single-column table function aliases (`generate_series(1, 3) g`).
#[test]
fn psql_queries_transcript_matches_postgresql() {
    run_differential("queries");
}

/// `alter_table.out` was recorded from PostgreSQL 15: every ALTER TABLE
/// form with rows written before and after, the constraints added over
/// rows that break them (refused, nothing changed), renames, type changes
/// with and without USING, DROP COLUMN taking its constraints, an ALTER
/// rolled back, COMMENT ON and storage options.
#[test]
fn psql_alter_table_transcript_matches_postgresql() {
    run_differential("alter_table");
}

/// `indexes.out` was recorded from PostgreSQL 15: CREATE [UNIQUE] INDEX
/// (default names, IF NOT EXISTS, DESC/NULLS), a UNIQUE index over
/// duplicates and then enforced (also as an ON CONFLICT target), lookups
/// through indexes after updates, DROP INDEX and its errors, and an index
/// created in a rolled-back block.
#[test]
fn psql_indexes_transcript_matches_postgresql() {
    run_differential("indexes");
}

/// `views.out` was recorded from PostgreSQL 15: views over joins and over
/// views, filtered, joined, in CTEs and subqueries, reading new rows and
/// the block's own writes, CREATE OR REPLACE and its rules, and the
/// dependencies that make DROP need CASCADE.
#[test]
fn psql_views_transcript_matches_postgresql() {
    run_differential("views");
}

/// `schemas.out` was recorded from PostgreSQL 15: CREATE/DROP SCHEMA
/// (CASCADE, in a rolled-back block), qualified names, `search_path`
/// (with `"$user"` and missing schemas) deciding what unqualified names
/// mean for tables, views, indexes, foreign keys and sequences, and
/// `current_schema()`.
#[test]
fn psql_schemas_transcript_matches_postgresql() {
    run_differential("schemas");
}

/// CREATE/DROP DATABASE with PostgreSQL's options and errors; `\c` to
/// each database shows only its own tables and schemas.
#[test]
fn psql_databases_transcript_matches_postgresql() {
    run_differential("databases");
}

/// pg_catalog computed from our catalog: psql's `\dt`, `\dn`, `\di`,
/// `\dv`, `\ds`, `\du`, `\l` and the catalog functions, compared live.
#[test]
fn psql_catalog_transcript_matches_postgresql() {
    run_differential("catalog");
}

/// psql's `\d` of tables (columns, defaults, identity, indexes, CHECK and
/// foreign keys, referenced-by), sequences (owned by) and indexes, read
/// from our pg_catalog: the same as PostgreSQL 15 prints.
#[test]
fn psql_describe_transcript_matches_postgresql() {
    run_differential("describe");
}

#[test]
fn psql_functions_transcript_matches_postgresql() {
    // \df, pg_proc, regproc/regprocedure and pg_typeof, compared live.
    run_differential("functions");
}
