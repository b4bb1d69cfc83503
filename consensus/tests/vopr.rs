//! The simulator as the test suite runs it: a bounded number of seeds of
//! the correct protocol must pass with faults, view changes and crashes
//! really happening, and every canary must be caught.
//!
//! A longer soak is `cargo run --release -p kimberlite-consensus --bin vopr
//! -- --seeds 1..100000` (see docs/design/0003-viewstamped-replication.md).

use std::process::{Command, Output};

fn vopr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vopr"))
        .args(args)
        .output()
        .expect("vopr runs")
}

/// The numbers of the last line, `N seeds, M violations (faults F, view
/// changes V, crashes C, commits K)`.
fn summary(output: &Output) -> [u64; 6] {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().expect("vopr printed a summary");
    assert!(
        last.contains(" seeds, ") && last.contains(" violations"),
        "{last}"
    );
    let numbers: Vec<u64> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|n| panic!("six numbers in {last:?}, got {n:?}"))
}

#[test]
fn correct_protocol_passes_many_seeds_under_real_faults() {
    let output = vopr(&["--seeds", "1..300"]);
    let [seeds, violations, faults, view_changes, crashes, commits] = summary(&output);
    assert!(
        output.status.success() && violations == 0,
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(seeds, 300);
    // The run is not trivial: faults fire, primaries change, replicas
    // crash, and work still commits.
    assert!(faults > 10_000, "faults {faults}");
    assert!(view_changes > 300, "view changes {view_changes}");
    assert!(crashes > 100, "crashes {crashes}");
    assert!(commits > 10_000, "commits {commits}");
}

#[test]
fn every_cluster_size_passes() {
    for size in ["1", "3", "5"] {
        let output = vopr(&["--seeds", "1..25", "--replicas", size]);
        let [seeds, violations, _, view_changes, _, commits] = summary(&output);
        assert!(output.status.success(), "size {size}");
        assert_eq!((seeds, violations), (25, 0), "size {size}");
        assert!(view_changes > 0 && commits > 1_000, "size {size}");
    }
}

#[test]
fn every_canary_is_caught() {
    let list = vopr(&["--list-canaries"]);
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        names,
        [
            "commit-without-quorum",
            "skip-log-comparison",
            "ack-before-persist",
            "stale-read",
            "no-client-table"
        ]
    );
    for name in &names {
        let output = vopr(&["--seeds", "1..40", "--canary", name]);
        let [seeds, violations, ..] = summary(&output);
        assert_eq!(seeds, 40);
        assert!(
            violations > 0 && !output.status.success(),
            "canary {name} went unnoticed"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("violation: "),
            "{name}: names the violation"
        );
        assert!(
            stdout.contains("--- trace of seed"),
            "{name}: prints a trace"
        );
    }
    // A stale read or a duplicate execution breaks no log invariant: only
    // the linearizability checker sees them.
    for name in ["stale-read", "no-client-table"] {
        let output = vopr(&["--seeds", "1..40", "--canary", name]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let reasons: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("violation: "))
            .collect();
        assert!(
            !reasons.is_empty() && reasons.iter().all(|l| l.contains("not linearizable")),
            "{name}: {reasons:?}"
        );
    }
}

#[test]
fn a_seed_reproduces_exactly() {
    let a = vopr(&["--seeds", "7..7", "--trace"]);
    let b = vopr(&["--seeds", "7..7", "--trace"]);
    assert!(a.status.success());
    assert!(a.stdout.len() > 1_000, "a trace was printed");
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn bad_arguments_are_refused() {
    assert_eq!(vopr(&["--seeds", "5..1"]).status.code(), Some(2));
    assert_eq!(
        vopr(&["--seeds", "1..2", "--replicas", "4"]).status.code(),
        Some(2)
    );
    assert_eq!(
        vopr(&["--seeds", "1..2", "--canary", "nope"]).status.code(),
        Some(2)
    );
}
