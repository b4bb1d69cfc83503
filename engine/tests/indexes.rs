//! Secondary indexes never change a result: the same rows, the same
//! predicates, once over a table with indexes and once over a copy
//! without, must give the same answer — after updates and deletes left
//! several versions of each row behind, and inside a transaction whose
//! own writes the index does not hold. Also: the access paths really are
//! index paths (EXPLAIN), and they read fewer rows.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use futures::TryStreamExt;
use kimberlite_engine::sql::{parse, Outcome, Session};
use kimberlite_engine::{Engine, EngineConfig, SystemClock};
use proptest::prelude::*;

fn open(dir: &std::path::Path) -> Arc<Engine> {
    Engine::open(EngineConfig::new(dir), Arc::new(SystemClock)).expect("engine opens")
}

/// Runs the statements; the last one's rows as text.
async fn run(session: &mut Session, sql: &str) -> String {
    let mut out = String::new();
    for statement in parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}")) {
        match session
            .execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
        {
            Outcome::Rows { stream, .. } => {
                let batches: Vec<_> = stream.try_collect().await.unwrap();
                out = pretty_format_batches(&batches).unwrap().to_string();
            }
            Outcome::Command { .. } => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    out
}

const SCHEMA: &str = "
    CREATE TABLE indexed (id int PRIMARY KEY, a int, b int, s text);
    CREATE INDEX ON indexed (a, b);
    CREATE INDEX ON indexed (s);
    CREATE UNIQUE INDEX indexed_b_s ON indexed (b, s);
    CREATE TABLE plain (id int PRIMARY KEY, a int, b int, s text);
";

fn value(v: Option<i32>) -> String {
    v.map_or("NULL".into(), |v| v.to_string())
}

/// A predicate over (id, a, b, s) from a small grammar that covers every
/// access path: equalities, IN lists, ranges, prefixes and BETWEEN.
fn predicate() -> impl Strategy<Value = String> {
    let k = 0..8i32;
    prop_oneof![
        k.clone().prop_map(|k| format!("a = {k}")),
        (k.clone(), k.clone()).prop_map(|(x, y)| format!("a IN ({x}, {y})")),
        (k.clone(), k.clone()).prop_map(|(x, y)| format!("a = {x} AND b < {y}")),
        (k.clone(), k.clone()).prop_map(|(x, y)| format!("a = {x} AND b >= {y}")),
        (k.clone(), k.clone()).prop_map(|(x, y)| format!("a = {x} AND b = {y}")),
        k.clone().prop_map(|k| format!("a > {k}")),
        (k.clone(), k.clone()).prop_map(|(x, y)| format!("a BETWEEN {x} AND {y}")),
        k.clone().prop_map(|k| format!("s = 's{k}'")),
        k.clone().prop_map(|k| format!("s <= 's{k}'")),
        k.clone().prop_map(|k| format!("id > {k}")),
        (k.clone(), k.clone()).prop_map(|(x, y)| format!("id IN ({x}, {y}) AND a >= 0")),
        k.clone().prop_map(|k| format!("b = {k} OR b = {}", k + 1)),
        k.prop_map(|k| format!("a = {k} OR a IS NULL")),
    ]
}

type Row = (Option<i32>, Option<i32>, Option<i32>);

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.85, 0..8i32),
            prop::option::weighted(0.8, 0..8i32),
            prop::option::weighted(0.9, 0..8i32),
        ),
        0..40,
    )
}

/// Writes: an UPDATE or DELETE over a predicate, leaving old versions.
fn writes() -> impl Strategy<Value = Vec<(bool, i32, String)>> {
    prop::collection::vec((any::<bool>(), 0..8i32, predicate()), 0..6)
}

async fn compare(session: &mut Session, predicate: &str) {
    let query = |t: &str| format!("SELECT id, a, b, s FROM {t} WHERE {predicate} ORDER BY id");
    let indexed = run(session, &query("indexed")).await;
    let plain = run(session, &query("plain")).await;
    assert_eq!(indexed, plain, "WHERE {predicate}");
    // In index order with a LIMIT (an ordered index scan, no sort).
    let first = |t: &str| format!("SELECT s FROM {t} WHERE {predicate} ORDER BY s LIMIT 4");
    let indexed = run(session, &first("indexed")).await;
    let plain = run(session, &first("plain")).await;
    assert_eq!(indexed, plain, "WHERE {predicate} ORDER BY s LIMIT 4");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn results_are_the_same_with_and_without_indexes(
        rows in rows(),
        writes in writes(),
        predicates in prop::collection::vec(predicate(), 1..6),
        in_txn in prop::collection::vec((0..8i32, 0..60i32), 0..4),
    ) {
        // DataFusion plans deep in a debug build: a thread with room.
        let case = move || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let engine = open(dir.path());
            let mut session = Session::new(engine, "kimberlite", "kimberlite");
            run(&mut session, SCHEMA).await;
            for (id, (a, b, s)) in rows.iter().enumerate() {
                // `(b, s)` is unique: a clash skips the row in both tables.
                let values = format!("({id}, {}, {}, {})", value(*a), value(*b),
                    s.map_or("NULL".into(), |s| format!("'s{s}'")));
                let clash = parse(&format!("INSERT INTO indexed VALUES {values}")).unwrap();
                if session.execute(clash.into_iter().next().unwrap()).await.is_ok() {
                    run(&mut session, &format!("INSERT INTO plain VALUES {values}")).await;
                }
            }
            for (delete, k, predicate) in &writes {
                for table in ["indexed", "plain"] {
                    let sql = if *delete {
                        format!("DELETE FROM {table} WHERE {predicate}")
                    } else {
                        format!("UPDATE {table} SET a = {k}, s = 'u' || id WHERE {predicate}")
                    };
                    run(&mut session, &sql).await;
                }
            }
            for predicate in &predicates {
                compare(&mut session, predicate).await;
            }
            // The transaction's own writes are not in the index.
            run(&mut session, "BEGIN").await;
            for (a, id) in &in_txn {
                for table in ["indexed", "plain"] {
                    run(&mut session, &format!(
                        "INSERT INTO {table} VALUES ({}, {a}, NULL, 'new') ON CONFLICT (id) DO UPDATE SET a = {a}",
                        100 + id
                    )).await;
                }
            }
            for predicate in &predicates {
                compare(&mut session, predicate).await;
            }
            run(&mut session, "ROLLBACK").await;
        });
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(case)
            .unwrap()
            .join()
            .map_err(|e| TestCaseError::fail(format!("{:?}", e.downcast_ref::<String>())))?;
    }
}

#[tokio::test]
async fn explain_and_the_counter_show_each_index_path() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut session = Session::new(engine, "kimberlite", "kimberlite");
    run(
        &mut session,
        "CREATE TABLE t (id int PRIMARY KEY, a int, b int);
         INSERT INTO t SELECT g, g % 100, g FROM generate_series(1, 5000) g;
         CREATE INDEX t_a ON t (a, b);",
    )
    .await;
    let cases = [
        ("a = 7", "index t_a (a =)", 50),
        ("a IN (7, 8)", "index t_a (a IN)", 100),
        ("a = 7 AND b < 1000", "index t_a (a =, b range)", 10),
        ("a BETWEEN 1 AND 2", "index t_a (a range)", 100),
        ("id = 42", "primary key lookup of 1 key(s)", 1),
        ("id IN (1, 2, 3)", "primary key lookup of 3 key(s)", 3),
        ("id > 4990", "primary key range (id range)", 10),
    ];
    for (predicate, path, examined) in cases {
        let plan = run(
            &mut session,
            &format!("EXPLAIN SELECT * FROM t WHERE {predicate}"),
        )
        .await;
        assert!(
            plan.contains(&format!("access={path}")),
            "{predicate}: {plan}"
        );
        run(&mut session, &format!("SELECT * FROM t WHERE {predicate}")).await;
        let counted = run(
            &mut session,
            "SELECT value FROM kimberlite_stats WHERE name = 'last_statement_rows_scanned'",
        )
        .await;
        assert!(
            counted.contains(&format!("| {examined} ")),
            "{predicate} should read {examined} rows: {counted}"
        );
    }
    // ORDER BY the primary key with LIMIT stops early: no sort, few rows.
    let plan = run(&mut session, "EXPLAIN SELECT id FROM t ORDER BY id LIMIT 3").await;
    assert!(!plan.contains("SortExec"), "{plan}");
    run(&mut session, "SELECT id FROM t ORDER BY id LIMIT 3").await;
    let counted = run(
        &mut session,
        "SELECT value FROM kimberlite_stats WHERE name = 'last_statement_rows_scanned'",
    )
    .await;
    assert!(counted.contains("| 64 "), "{counted}");
}

#[test]
fn order_by_an_indexed_prefix_with_limit_reads_few_rows() {
    // DataFusion plans deep in a debug build: a thread with room.
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(ordered_scans())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn ordered_scans() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut session = Session::new(engine, "kimberlite", "kimberlite");
    run(
        &mut session,
        "CREATE TABLE t (id int PRIMARY KEY, a int, b int);
         INSERT INTO t SELECT g, (g * 7919) % 5000, g % 10 FROM generate_series(1, 5000) g;
         CREATE INDEX t_a ON t (a);
         CREATE INDEX t_b_a ON t (b, a);
         UPDATE t SET a = a + 1 WHERE id % 3 = 0;",
    )
    .await;
    let cases = [
        (
            "SELECT id, a FROM t ORDER BY a LIMIT 5",
            "index t_a in order",
        ),
        (
            "SELECT id, a FROM t WHERE a > 100 ORDER BY a LIMIT 5",
            "index t_a in order (a range)",
        ),
        (
            "SELECT id, a FROM t WHERE b = 3 ORDER BY a LIMIT 5",
            "index t_b_a in order (b =)",
        ),
    ];
    for (query, path) in cases {
        let plan = run(&mut session, &format!("EXPLAIN {query}")).await;
        assert!(plan.contains(&format!("access={path}")), "{query}: {plan}");
        assert!(!plan.contains("SortExec"), "{query}: {plan}");
        let indexed = run(&mut session, query).await;
        let scanned = run(
            &mut session,
            "SELECT value FROM kimberlite_stats WHERE name = 'last_statement_rows_scanned'",
        )
        .await;
        let scanned: u64 = scanned
            .lines()
            .find_map(|l| l.trim_matches(|c| c == '|' || c == ' ').parse().ok())
            .unwrap();
        assert!(scanned <= 64, "{query} read {scanned} rows");
        // The same answer as a sort of every row (a query the hint skips).
        let sorted = run(
            &mut session,
            &format!(
                "SELECT * FROM ({}) s",
                query.replace("LIMIT 5", "LIMIT 5 OFFSET 0")
            ),
        )
        .await;
        let full = run(
            &mut session,
            &format!(
                "SELECT id, a FROM (SELECT id, a, b FROM t) s WHERE {} ORDER BY a, id LIMIT 5",
                query
                    .split(" WHERE ")
                    .nth(1)
                    .map_or("true", |w| w.split(" ORDER").next().unwrap())
            ),
        )
        .await;
        assert_eq!(indexed.lines().count(), sorted.lines().count());
        let column_a = |text: &str| -> Vec<String> {
            text.lines()
                .skip(3)
                .filter_map(|l| l.split('|').nth(2).map(|v| v.trim().to_string()))
                .collect()
        };
        assert_eq!(column_a(&indexed), column_a(&full), "{query}");
    }
    // A LIMIT larger than the first chunks: the scan resumes in order.
    let ordered = run(&mut session, "SELECT a FROM t ORDER BY a LIMIT 700").await;
    let sorted = run(
        &mut session,
        "SELECT a FROM (SELECT a + 0 AS a FROM t) s ORDER BY a LIMIT 700",
    )
    .await;
    assert!(
        run(&mut session, "EXPLAIN SELECT a FROM t ORDER BY a LIMIT 700")
            .await
            .contains("in order")
    );
    let all = run(
        &mut session,
        "SELECT count(*) FROM (SELECT a FROM t ORDER BY a LIMIT 5000) s",
    )
    .await;
    assert!(all.contains("| 5000 "), "every row, in order: {all}");
    assert_eq!(ordered, sorted);
}
