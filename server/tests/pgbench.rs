//! pgbench, unchanged, against a running server: `pgbench -i -s 1` (DROP
//! TABLE, CREATE TABLE … WITH (fillfactor), TRUNCATE, COPY … WITH (FREEZE
//! ON), VACUUM ANALYZE, ALTER TABLE … ADD PRIMARY KEY) and its TPC-B-like
//! transactions in the simple, extended and prepared protocols for ten
//! seconds each (`-c 4 -j 2 -T 10`), with zero failed transactions.

mod common;

use std::process::Command;

use common::{sqlstate, TestServer};

/// Debian's pgbench (scripts/test.sh installs PostgreSQL 15).
const PGBENCH: &str = "/usr/lib/postgresql/15/bin/pgbench";

fn pgbench(url: &str, args: &[&str]) -> String {
    let output = Command::new(PGBENCH)
        .args(args)
        .arg(url)
        .output()
        .expect("pgbench is installed (scripts/test.sh installs postgresql-15)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "pgbench {args:?} failed:\n{text}");
    text
}

/// The count in `number of transactions actually processed: N`.
fn processed(report: &str) -> i64 {
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
        .unwrap_or_else(|| panic!("no transaction count in {report}"));
    line.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable count {line:?}"))
}

#[tokio::test]
async fn pgbench_initializes_and_runs_in_every_protocol_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::dev(dir.path());
    let url = server.url();
    let init = pgbench(&url, &["-i", "-s", "1"]);
    assert!(init.contains("creating primary keys"), "{init}");
    let client = server.connect().await;
    let accounts: i64 = client
        .query_one("SELECT count(*) FROM pgbench_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(accounts, 100_000);
    // ALTER TABLE … ADD PRIMARY KEY took effect.
    assert_eq!(
        sqlstate(
            client
                .execute(
                    "INSERT INTO pgbench_branches (bid, bbalance) VALUES (1, 0)",
                    &[]
                )
                .await
        ),
        "23505"
    );
    let mut last_run = 0;
    for mode in ["simple", "extended", "prepared"] {
        let run = pgbench(&url, &["-c", "4", "-j", "2", "-T", "10", "-M", mode]);
        assert!(
            run.contains("number of failed transactions: 0 "),
            "{mode}: {run}"
        );
        last_run = processed(&run);
        assert!(last_run > 0, "{mode} committed nothing: {run}");
    }
    // The last run's history (each run truncates it first), and the
    // balances every transaction moves together add up.
    let history: i64 = client
        .query_one("SELECT count(*) FROM pgbench_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, last_run);
    let row = client
        .query_one(
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts),
                    (SELECT sum(bbalance) FROM pgbench_branches),
                    (SELECT sum(tbalance) FROM pgbench_tellers)",
            &[],
        )
        .await
        .unwrap();
    let (a, b, t): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((a, b), (t, t), "accounts, branches and tellers agree");
}
