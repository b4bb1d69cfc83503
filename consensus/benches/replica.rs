//! What the replica and the simulator cost, measured on this machine (not a
//! test: nothing here asserts a time).
//!
//! ```text
//! cargo bench -p kimberlite-consensus --bench replica
//! KIMBERLITE_BENCH_OPS=20000 KIMBERLITE_BENCH_SEEDS=50 cargo bench -p kimberlite-consensus --bench replica
//! ```
//!
//! 1. `vopr` throughput: seeds, simulated ticks and committed ops per
//!    second of wall time (whole clusters under faults, checkers included).
//! 2. The replica's CPU per committed op: a 3-replica and a 1-replica
//!    cluster on a lossless, instant in-memory network, every message
//!    encoded, checksummed and decoded as on the wire, disks flushed every
//!    round. Reported next to one fsync of this machine's disk, the cost a
//!    durable commit pays anyway.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use kimberlite_consensus::sim::journal::SimJournal;
use kimberlite_consensus::sim::{self, Options};
use kimberlite_consensus::vsr::{
    encode, Address, Config, Correct, Entry, Message, Outbox, Replica, StateMachine,
};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Nothing;
impl StateMachine for Nothing {
    fn apply(&mut self, _entry: &Entry) -> Vec<u8> {
        Vec::new()
    }
}

type Bench = Replica<SimJournal, Nothing, Correct>;

/// Delivers every message and flushes every disk until nothing moves.
fn settle(replicas: &mut [Bench], queue: &mut VecDeque<Message>) {
    loop {
        while let Some(message) = queue.pop_front() {
            let Address::Replica(to) = message.to else {
                continue;
            };
            let mut out = Outbox::default();
            replicas[to as usize].on_message(&encode(&message), &mut out);
            queue.extend(out.messages);
        }
        let mut moved = false;
        for replica in replicas.iter_mut() {
            if replica.journal().has_pending() {
                let flushed = replica.journal_mut().flush();
                let mut out = Outbox::default();
                replica.on_flushed(flushed.last_op, &mut out);
                moved |= !out.is_empty();
                queue.extend(out.messages);
            }
        }
        if !moved && queue.is_empty() {
            return;
        }
    }
}

/// Commits `ops` entries of 128 bytes through a cluster of `size`, `batch`
/// proposals per round; returns (seconds, ops committed by the primary).
fn replica_cost(size: u8, ops: u64, batch: u64) -> (f64, u64) {
    let mut config = Config::new(1, size);
    config.pipeline_max = batch as usize * 2;
    let mut replicas: Vec<Bench> = (0..size)
        .map(|i| Replica::open(config, i, SimJournal::default(), Nothing, 0, i as u64))
        .collect();
    let mut queue = VecDeque::new();
    // Elect a primary: tick until someone is normal primary.
    for _ in 0..2_000 {
        for replica in replicas.iter_mut() {
            let mut out = Outbox::default();
            replica.tick(&mut out);
            queue.extend(out.messages);
        }
        settle(&mut replicas, &mut queue);
        if replicas
            .iter()
            .any(|r| r.is_primary() && r.status() == kimberlite_consensus::vsr::Status::Normal)
        {
            break;
        }
    }
    let primary = replicas
        .iter()
        .position(|r| r.is_primary() && r.status() == kimberlite_consensus::vsr::Status::Normal)
        .expect("a primary was elected");
    let body: Arc<[u8]> = Arc::from(vec![7u8; 128]);
    let started = Instant::now();
    let first = replicas[primary].commit_max();
    let mut proposed = 0;
    while proposed < ops {
        for _ in 0..batch.min(ops - proposed) {
            let mut out = Outbox::default();
            replicas[primary]
                .propose(proposed, 1, 1, body.clone(), &mut out)
                .expect("primary accepts");
            queue.extend(out.messages);
            proposed += 1;
        }
        settle(&mut replicas, &mut queue);
    }
    let seconds = started.elapsed().as_secs_f64();
    (seconds, replicas[primary].commit_max() - first)
}

fn fsync_seconds() -> f64 {
    let dir = tempfile_dir();
    let path = dir.join("fsync.bench");
    let mut file = std::fs::File::create(&path).expect("bench file");
    let rounds = 50;
    let started = Instant::now();
    for _ in 0..rounds {
        file.write_all(&[0u8; 128]).expect("write");
        file.sync_data().expect("fsync");
    }
    let seconds = started.elapsed().as_secs_f64() / rounds as f64;
    let _ = std::fs::remove_file(&path);
    seconds
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kimberlite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

fn main() {
    let seeds = env("KIMBERLITE_BENCH_SEEDS", 30);
    let ops = env("KIMBERLITE_BENCH_OPS", 20_000);

    println!("== vopr throughput ({seeds} seeds, default options)");
    let started = Instant::now();
    let (mut ticks, mut commits, mut violations) = (0, 0, 0);
    for seed in 1..=seeds {
        let report = sim::run::<Correct>(&Options::new(seed));
        ticks += report.ticks;
        commits += report.commits;
        violations += report.violations.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{seeds} seeds in {seconds:.2} s: {:.1} seeds/s, {:.0} simulated ticks/s, \
         {:.0} committed ops/s ({violations} violations)",
        seeds as f64 / seconds,
        ticks as f64 / seconds,
        commits as f64 / seconds
    );

    let fsync = fsync_seconds();
    println!("\n== replica CPU per committed op ({ops} ops of 128 bytes)");
    println!("one fsync on this machine: {:.1} µs", fsync * 1e6);
    for (size, batch) in [(1u8, 1u64), (1, 64), (3, 1), (3, 64), (5, 64)] {
        let (seconds, committed) = replica_cost(size, ops, batch);
        let per_op = seconds / committed.max(1) as f64;
        println!(
            "{size} replica(s), {batch:>2} per round: {:.2} µs/op for the whole cluster \
             ({:.3} of an fsync), {committed} committed",
            per_op * 1e6,
            per_op / fsync
        );
    }
    let _ = std::fs::remove_dir_all(tempfile_dir());
}
