//! What the integrity layer costs, measured on this machine (not a test:
//! nothing here asserts a time).
//!
//! ```text
//! cargo bench -p kimberlite-engine --bench integrity            # 1,000,000-op restart
//! KIMBERLITE_BENCH_OPS=100000 cargo bench -p kimberlite-engine --bench integrity
//! ```
//!
//! 1. The physical limits: SHA-256, AES-256-GCM and CRC32C bytes/s.
//! 2. The compliance work of one commit (seal the command, hash the frame)
//!    against the latency of a whole durable commit, in the same run.
//! 3. Restart time of an N-op log from the newest snapshot vs replaying
//!    everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use kimberlite_engine::crypto::envelope;
use kimberlite_engine::crypto::keys::SecretKey;
use kimberlite_engine::datum::{encode_key, Datum};
use kimberlite_engine::kernel::{Mutation, TxnCommand};
use kimberlite_engine::log::frame::{self, FrameHeader, FrameKind};
use kimberlite_engine::sql::{parse, Session};
use kimberlite_engine::{Engine, EngineConfig, SystemClock};
use sha2::{Digest, Sha256};

fn rate(label: &str, bytes_per_round: usize, mut round: impl FnMut()) {
    let started = Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < Duration::from_millis(700) {
        round();
        rounds += 1;
    }
    let per_second = (rounds as f64 * bytes_per_round as f64) / started.elapsed().as_secs_f64();
    println!("{label:<34} {:>10.0} MiB/s", per_second / (1 << 20) as f64);
}

fn per_op(label: &str, mut op: impl FnMut()) -> f64 {
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        op();
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{label:<34} {micros:>10.2} µs");
    micros
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.checkpoint_ops = u64::MAX;
    config.checkpoint_interval = Duration::from_secs(1 << 30);
    config
}

fn insert(table: u64, id: i64) -> TxnCommand {
    let key = Datum::Int8(id);
    TxnCommand {
        catalog: vec![],
        mutations: vec![Mutation::Insert {
            table,
            key: encode_key([&key]),
            row: vec![
                key,
                Datum::Text(format!("row {id} of the restart benchmark")),
            ],
        }],
        sequences: vec![],
    }
}

fn main() {
    println!("== physical limits (1 MiB buffers)");
    let buffer = vec![7u8; 1 << 20];
    rate("SHA-256", buffer.len(), || {
        std::hint::black_box(Sha256::digest(&buffer));
    });
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&[1; 32]));
    rate("AES-256-GCM seal", buffer.len(), || {
        std::hint::black_box(
            cipher
                .encrypt(Nonce::from_slice(&[0; 12]), buffer.as_slice())
                .unwrap(),
        );
    });
    rate("CRC32C", buffer.len(), || {
        std::hint::black_box(crc32c::crc32c(&buffer));
    });

    println!("\n== one commit: compliance work vs the whole durable commit");
    let command = kimberlite_engine::kernel::Command::Transaction(insert(1, 42)).encode();
    let key = SecretKey::from_bytes([3; 32]);
    let header = |len: usize| FrameHeader {
        kind: FrameKind::Command,
        op: 1,
        view: 0,
        tenant: 1,
        timestamp_ns: 0,
        payload_len: len as u32,
        prev_hash: [0; 32],
    };
    let sealed_len = envelope::seal(1, &key, [0; 12], 1, &command).len();
    let on = per_op("seal + frame + CRC + SHA-256", || {
        let sealed = envelope::seal(1, &key, [0; 12], 1, &command);
        let stored = frame::encode(&header(sealed.len()), &sealed);
        std::hint::black_box(frame::hash(&stored));
    });
    let off = per_op("frame + CRC only (no seal, no hash)", || {
        std::hint::black_box(frame::encode(&header(command.len()), &command));
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ops: u64 = std::env::var("KIMBERLITE_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (commit_micros, build_secs) = runtime.block_on(async {
        let engine = Engine::open(config(dir.path()), Arc::new(SystemClock)).unwrap();
        let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
        for statement in parse("CREATE TABLE r (id bigint PRIMARY KEY, v text)").unwrap() {
            session.execute(statement).await.unwrap();
        }
        let table = engine
            .catalog(kimberlite_engine::DEFAULT_TENANT)
            .table("r")
            .unwrap()
            .id;
        let sequential = 2_000i64;
        let started = Instant::now();
        for id in 0..sequential {
            engine
                .commit(kimberlite_engine::DEFAULT_TENANT, insert(table, id))
                .await
                .unwrap();
        }
        let commit_micros = started.elapsed().as_secs_f64() * 1e6 / sequential as f64;
        let started = Instant::now();
        let writers = 128u64;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                let mut id = sequential + w as i64;
                while (id as u64) < ops {
                    engine
                        .commit(kimberlite_engine::DEFAULT_TENANT, insert(table, id))
                        .await
                        .unwrap();
                    id += writers as i64;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let build_secs = started.elapsed().as_secs_f64();
        drop(session);
        engine.shutdown();
        (commit_micros, build_secs)
    });
    println!(
        "{:<34} {commit_micros:>10.2} µs  (sealed command {sealed_len} bytes)",
        "durable commit, one client"
    );
    println!(
        "compliance share of a commit      {:>10.1} %  ((seal+hash − frame) / commit)",
        (on - off) / commit_micros * 100.0
    );
    println!(
        "\n== restart of a {ops}-op log (built in {build_secs:.1} s by 128 concurrent writers)"
    );
    for (label, snapshots) in [
        ("from the newest snapshot", true),
        ("replaying every op", false),
    ] {
        let mut config = config(dir.path());
        config.snapshots = snapshots;
        let started = Instant::now();
        let engine = Engine::open(config, Arc::new(SystemClock)).unwrap();
        let elapsed = started.elapsed();
        let replayed = engine
            .counters()
            .into_iter()
            .find(|(n, _)| *n == "replayed_commands")
            .unwrap()
            .1;
        println!(
            "{label:<34} {:>10.2} s  ({replayed} commands decrypted and applied)",
            elapsed.as_secs_f64()
        );
        engine.shutdown();
    }
}
