//! `vopr`: runs the simulator over a range of seeds.
//!
//! ```text
//! vopr --seeds 1..300                       # 300 seeds of the correct protocol
//! vopr --seeds 1..50 --canary stale-read    # must report violations
//! vopr --list-canaries
//! vopr --seeds 17..17 --trace               # replay one seed with its trace
//! ```
//!
//! The last line is `N seeds, M violations` with totals; the exit status
//! is non-zero when any seed found a violation (whose seed and trace are
//! printed first).

use std::process::ExitCode;

use clap::Parser;
use kimberlite_consensus::sim::canary::{run_named, CANARIES};
use kimberlite_consensus::sim::{Options, Report};

#[derive(Parser, Debug)]
#[command(about = "Deterministic simulator of Kimberlite's Viewstamped Replication")]
struct Args {
    /// Inclusive seed range, `A..B`.
    #[arg(long)]
    seeds: Option<String>,
    /// Run a deliberately broken variant (see --list-canaries).
    #[arg(long)]
    canary: Option<String>,
    /// Print the canaries' names, one per line.
    #[arg(long)]
    list_canaries: bool,
    /// Cluster size (default: drawn from each seed among 1, 3 and 5).
    #[arg(long)]
    replicas: Option<u8>,
    /// Ticks of the fault phase.
    #[arg(long, default_value_t = 2_000)]
    ticks: u64,
    /// Print the trace of every seed, not only of failing ones.
    #[arg(long)]
    trace: bool,
}

fn parse_range(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once("..")?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_canaries {
        for name in CANARIES {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    let Some((first, last)) = args.seeds.as_deref().and_then(parse_range) else {
        eprintln!("vopr: give --seeds A..B (inclusive, A <= B)");
        return ExitCode::from(2);
    };
    if let Some(replicas) = args.replicas {
        if replicas == 0 || replicas % 2 == 0 || replicas > 9 {
            eprintln!("vopr: --replicas must be odd, 1 to 9");
            return ExitCode::from(2);
        }
    }
    let canary = args.canary.as_deref();
    let options = |seed: u64, trace: bool, trace_until: Option<u64>| Options {
        replicas: args.replicas,
        ticks: args.ticks,
        trace,
        trace_until,
        ..Options::new(seed)
    };
    let mut total = Report::default();
    let (mut seeds, mut violations) = (0u64, 0u64);
    for seed in first..=last {
        let Some(report) = run_named(canary, &options(seed, args.trace, None)) else {
            eprintln!(
                "vopr: unknown canary {:?} (see --list-canaries)",
                canary.unwrap_or("")
            );
            return ExitCode::from(2);
        };
        seeds += 1;
        if args.trace {
            print_trace(&report);
        }
        if !report.violations.is_empty() {
            violations += report.violations.len() as u64;
            for violation in &report.violations {
                println!(
                    "seed {seed} ({} replicas): violation: {violation}",
                    report.replicas
                );
            }
            if !args.trace {
                // The run is deterministic: replay it to get its trace, up
                // to just after the violation.
                let until = report.violation_tick.map(|t| t + 5);
                let replay = run_named(canary, &options(seed, true, until)).expect("known canary");
                print_trace(&replay);
            }
        }
        total.faults += report.faults;
        total.view_changes += report.view_changes;
        total.crashes += report.crashes;
        total.commits += report.commits;
        total.partitions += report.partitions;
        total.requests += report.requests;
        total.ticks += report.ticks;
    }
    println!(
        "totals: faults {}, partitions {}, crashes {}, view changes {}, commits {}, \
         requests {}, ticks {}",
        total.faults,
        total.partitions,
        total.crashes,
        total.view_changes,
        total.commits,
        total.requests,
        total.ticks
    );
    println!(
        "{seeds} seeds, {violations} violations (faults {}, view changes {}, crashes {}, commits {})",
        total.faults, total.view_changes, total.crashes, total.commits
    );
    if violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_trace(report: &Report) {
    println!(
        "--- trace of seed {} (last {} events)",
        report.seed,
        report.trace.len()
    );
    for line in &report.trace {
        println!("{line}");
    }
    println!("--- end of trace");
}
