//! The engine on the simulated disk: group commit is proven against a disk
//! that forgets unsynced writes, which SIGKILL cannot do.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use kimberlite_catalog::{AuthMode, RoleDef};
use kimberlite_engine::checkpoint::Checkpoint;
use kimberlite_engine::crypto::envelope;
use kimberlite_engine::crypto::{MasterKey, MasterKeySource};
use kimberlite_engine::log::frame::{self, FrameKind};
use kimberlite_engine::log::list_segments;
use kimberlite_engine::log::sim::{CrashMode, SimStorage};
use kimberlite_engine::log::watermark::{self, WatermarkRead};
use kimberlite_engine::sql::{parse, Outcome, Session};
use kimberlite_engine::{Engine, EngineConfig, SystemClock, DEFAULT_TENANT};

/// A configuration for the simulated disk, with a fixed master key.
fn config() -> EngineConfig {
    let mut config = EngineConfig::new("/nonexistent-sim-dir");
    config.master_key = MasterKeySource::Key(Arc::new(MasterKey::from_bytes([42; 32])));
    config.node_key = Some(Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32])));
    // Snapshots are files beside the data directory, not on the simulated disk.
    config.snapshots = false;
    config
}

fn open(disk: &SimStorage) -> Arc<Engine> {
    Engine::open_on(config(), Arc::new(disk.clone()), Arc::new(SystemClock)).expect("engine opens")
}

/// A fresh engine on `disk` with the `kimberlite` superuser (trust).
async fn open_initialized(disk: &SimStorage) -> Arc<Engine> {
    let engine = open(disk);
    engine
        .initialize(
            AuthMode::Trust,
            RoleDef {
                name: "kimberlite".into(),
                superuser: true,
                login: true,
                scram_verifier: None,
            },
        )
        .await
        .unwrap();
    engine
}

async fn run(session: &mut Session, sql: &str) -> Result<usize, kimberlite_engine::EngineError> {
    let mut rows = 0;
    for statement in parse(sql)? {
        match session.execute(statement).await? {
            Outcome::Rows { stream, .. } => {
                let batches: Vec<_> = stream.try_collect().await?;
                rows = batches.iter().map(|b| b.num_rows()).sum();
            }
            Outcome::Batches { batches, .. } => {
                rows = batches.iter().map(|b| b.num_rows()).sum();
            }
            Outcome::Command { .. } => {}
            other => panic!("this test runs no COPY: {other:?}"),
        }
    }
    Ok(rows)
}

fn durable_watermark(disk: &SimStorage) -> u64 {
    let crashed = disk.crash(CrashMode::DropUnsynced);
    match watermark::read(crashed.contents(watermark::WATERMARK_FILE).as_deref()) {
        WatermarkRead::Valid(mark) => mark.op,
        other => panic!("watermark after crash: {other:?}"),
    }
}

fn counter(engine: &Engine, name: &str) -> u64 {
    engine
        .counters()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no counter {name}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_share_fsyncs_and_none_is_acknowledged_before_its_fsync() {
    let disk = SimStorage::new();
    let engine = open(&disk);
    let mut setup = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut setup, "CREATE TABLE g (id int PRIMARY KEY)")
        .await
        .unwrap();
    disk.set_sync_delay(Duration::from_millis(2));
    let fsyncs_before = counter(&engine, "fsyncs");
    let commits_before = counter(&engine, "transactions_committed");
    let tasks: Vec<_> = (0..16)
        .map(|client| {
            let engine = engine.clone();
            let disk = disk.clone();
            tokio::spawn(async move {
                let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
                for i in 0..20 {
                    run(
                        &mut session,
                        &format!("INSERT INTO g VALUES ({})", client * 100 + i),
                    )
                    .await
                    .unwrap();
                    // Acknowledged: a power cut now must keep it.
                    let visible = engine.snapshot();
                    let durable = durable_watermark(&disk);
                    assert!(
                        durable >= visible,
                        "op {visible} acknowledged but only {durable} survives a crash"
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let fsyncs = counter(&engine, "fsyncs") - fsyncs_before;
    let commits = counter(&engine, "transactions_committed") - commits_before;
    eprintln!("{commits} concurrent commits took {fsyncs} fsyncs");
    assert_eq!(commits, 320);
    assert!(fsyncs < commits, "{commits} commits took {fsyncs} fsyncs");

    // After a power cut every acknowledged row is there.
    let crashed = disk.crash(CrashMode::DropUnsynced);
    engine.shutdown();
    let reopened = open(&crashed);
    let mut session = Session::new(reopened, "kimberlite", "kimberlite");
    assert_eq!(run(&mut session, "SELECT * FROM g").await.unwrap(), 320);
}

#[tokio::test]
async fn a_failed_fsync_acknowledges_nothing_and_stops_commits() {
    let disk = SimStorage::new();
    let engine = open(&disk);
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE f (id int PRIMARY KEY)")
        .await
        .unwrap();
    run(&mut session, "INSERT INTO f VALUES (1)").await.unwrap();
    disk.fail_syncs_after(0);
    let error = run(&mut session, "INSERT INTO f VALUES (2)")
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), "58030", "{error}");
    let error = run(&mut session, "INSERT INTO f VALUES (3)")
        .await
        .unwrap_err();
    assert_eq!(error.sqlstate(), "58030", "{error}");
    // Reads of acknowledged data still work.
    assert_eq!(run(&mut session, "SELECT * FROM f").await.unwrap(), 1);

    let crashed = disk.crash(CrashMode::DropUnsynced);
    engine.shutdown();
    let mut session = Session::new(open(&crashed), "kimberlite", "kimberlite");
    assert_eq!(run(&mut session, "SELECT * FROM f").await.unwrap(), 1);
}

#[tokio::test]
async fn random_power_cuts_keep_every_acknowledged_transaction_whole() {
    // A transaction larger than a frame spans frames; whatever the cut, it is
    // all there or not at all, and every acknowledged one is there.
    for seed in 0..12u64 {
        let disk = SimStorage::new();
        let engine = open(&disk);
        let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
        run(
            &mut session,
            "CREATE TABLE w (id int PRIMARY KEY, pad text)",
        )
        .await
        .unwrap();
        let mut acknowledged = 0;
        for batch in 0..4u64 {
            if batch == 3 {
                disk.fail_syncs_after(seed % 3);
            }
            let rows = if (seed + batch) % 2 == 0 { 600 } else { 3 };
            let sql = format!(
                "INSERT INTO w SELECT CAST(value AS int) + {}, repeat('x', 2000) FROM generate_series(1, {rows}) AS value",
                batch * 1000
            );
            if run(&mut session, &sql).await.is_ok() {
                acknowledged += rows;
            }
        }
        let crashed = disk.crash(CrashMode::Random { seed });
        engine.shutdown();
        let mut session = Session::new(open(&crashed), "kimberlite", "kimberlite");
        let count = run(&mut session, "SELECT * FROM w").await.unwrap() as u64;
        assert!(
            count >= acknowledged,
            "seed {seed}: {count} rows, {acknowledged} acknowledged"
        );
        let per_batch = run(
            &mut session,
            "SELECT id / 1000 AS b, count(*) FROM w GROUP BY id / 1000 HAVING count(*) NOT IN (3, 600)",
        )
        .await
        .unwrap();
        assert_eq!(
            per_batch, 0,
            "seed {seed}: a partial transaction is visible"
        );
    }
}

/// The stored frames of a simulated disk's single segment: (op, kind, payload, bytes).
fn frames(disk: &SimStorage) -> Vec<(u64, FrameKind, Vec<u8>, Vec<u8>)> {
    let segments = list_segments(disk).unwrap();
    let mut out = Vec::new();
    for (_, name) in segments {
        let bytes = disk.contents(&name).unwrap();
        let mut at = 0;
        while at < bytes.len() {
            let Ok((header, len)) = frame::decode(&bytes[at..]) else {
                break;
            };
            let stored = bytes[at..at + len].to_vec();
            out.push((
                header.op,
                header.kind,
                frame::payload(&stored).to_vec(),
                stored,
            ));
            at += len;
        }
    }
    out
}

/// Replaces the segment's tail after `keep` bytes with `forged` and points
/// the watermark at it, as a forger fixing every checksum would.
fn forge_tail(disk: &SimStorage, keep: usize, forged: &[u8], op: u64) {
    let (_, name) = list_segments(disk).unwrap().pop().unwrap();
    let bytes = disk.contents(&name).unwrap();
    let mut segment = bytes[..keep].to_vec();
    segment.extend_from_slice(forged);
    disk.replace(&name, segment);
    let WatermarkRead::Valid(mark) =
        watermark::read(disk.contents(watermark::WATERMARK_FILE).as_deref())
    else {
        panic!("watermark");
    };
    let forged_mark = watermark::Watermark {
        seq: mark.seq + 1,
        op,
        head_hash: frame::hash(forged),
        ..mark
    };
    let mut file = disk.contents(watermark::WATERMARK_FILE).unwrap();
    let at = forged_mark.slot_offset() as usize;
    let encoded = forged_mark.encode();
    file[at..at + encoded.len()].copy_from_slice(&encoded);
    disk.replace(watermark::WATERMARK_FILE, file);
}

#[tokio::test]
async fn a_flipped_ciphertext_byte_fails_authentication_even_with_crc_and_chain_recomputed() {
    let disk = SimStorage::new();
    let engine = open(&disk);
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE a (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    run(&mut session, "INSERT INTO a VALUES (1, 'balance 100')")
        .await
        .unwrap();
    engine.shutdown();
    let disk = disk.crash(CrashMode::DropUnsynced);

    // Forge the newest frame: flip one ciphertext byte, recompute its CRC,
    // and rewrite the watermark's head hash so the chain checks pass too.
    // The newest command (the shutdown checkpoint after it is dropped, as
    // a forger who cannot sign would have to).
    let all = frames(&disk);
    let index = all
        .iter()
        .rposition(|(_, kind, ..)| *kind == FrameKind::Command)
        .unwrap();
    let (op, _, payload, stored) = all[index].clone();
    let start: usize = all[..index].iter().map(|f| f.3.len()).sum();
    let (header, _) = frame::decode(&stored).unwrap();
    let mut forged_payload = payload.clone();
    let last = forged_payload.len() - 20;
    forged_payload[last] ^= 0x01;
    let forged = frame::encode(&header, &forged_payload);
    forge_tail(&disk, start, &forged, op);

    let error = Engine::open_on(config(), Arc::new(disk), Arc::new(SystemClock))
        .err()
        .expect("a tampered ciphertext must be refused");
    assert!(
        error.to_string().contains("fails authentication")
            && error.to_string().contains(&format!("op {op}")),
        "{error}"
    );
}

#[tokio::test]
async fn an_op_rewritten_after_a_torn_tail_gets_a_fresh_nonce() {
    let disk = SimStorage::new();
    let engine = open(&disk);
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE n (id int PRIMARY KEY)")
        .await
        .unwrap();
    // This commit reaches the page cache but its fsync fails: never acknowledged.
    disk.fail_syncs_after(0);
    assert!(run(&mut session, "INSERT INTO n VALUES (1)").await.is_err());
    let lost = frames(&disk).last().unwrap().clone();
    engine.shutdown();

    for (label, crashed) in [
        (
            "torn tail",
            disk.crash(CrashMode::TearLastWrite { keep_bytes: 30 }),
        ),
        ("dropped tail", disk.crash(CrashMode::DropUnsynced)),
    ] {
        let engine = open(&crashed);
        let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
        run(&mut session, "INSERT INTO n VALUES (2)").await.unwrap();
        let rewritten = frames(&crashed)
            .into_iter()
            .find(|(op, ..)| *op == lost.0)
            .expect("the op number is reused");
        assert_eq!(
            envelope::key_id_of(&rewritten.2),
            envelope::key_id_of(&lost.2),
            "{label}: same data key"
        );
        assert_ne!(
            envelope::nonce_of(&rewritten.2),
            envelope::nonce_of(&lost.2),
            "{label}: a (key, nonce) pair was reused"
        );
        engine.shutdown();
    }
}

#[tokio::test]
async fn rotated_keys_seal_new_commands_and_old_ones_stay_readable_after_restart() {
    let disk = SimStorage::new();
    let engine = open_initialized(&disk).await;
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE r (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    run(&mut session, "INSERT INTO r VALUES (1, 'before')")
        .await
        .unwrap();
    let before = engine.active_key_id(DEFAULT_TENANT).unwrap();
    // Only superusers may rotate; the refusal logs nothing.
    let mut stranger = Session::new(engine.clone(), "nobody", "kimberlite");
    let refused = run(&mut stranger, "SELECT kimberlite_rotate_keys()").await;
    assert_eq!(refused.unwrap_err().sqlstate(), "42501");
    assert_eq!(engine.active_key_id(DEFAULT_TENANT), Some(before));
    assert_eq!(
        run(&mut session, "SELECT kimberlite_rotate_keys()")
            .await
            .unwrap(),
        1
    );
    let after = engine.active_key_id(DEFAULT_TENANT).unwrap();
    assert!(after > before);
    run(&mut session, "INSERT INTO r VALUES (2, 'after')")
        .await
        .unwrap();
    let sealed_with: Vec<u32> = frames(&disk)
        .iter()
        .filter(|(_, kind, ..)| *kind == FrameKind::Command)
        .map(|(_, _, payload, _)| envelope::key_id_of(payload).unwrap())
        .collect();
    assert_eq!(
        sealed_with.last(),
        Some(&after),
        "new data uses the new key"
    );
    assert!(sealed_with.contains(&before), "old data keeps its key");
    let key_records = frames(&disk)
        .iter()
        .filter(|(_, kind, ..)| *kind == FrameKind::KeyRecord)
        .count();
    assert_eq!(
        key_records, 4,
        "first keys and the rotation are both logged"
    );
    drop(session);
    engine.shutdown();

    let engine = open(&disk.crash(CrashMode::DropUnsynced));
    assert_eq!(engine.active_key_id(DEFAULT_TENANT), Some(after));
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    assert_eq!(run(&mut session, "SELECT v FROM r").await.unwrap(), 2);
    engine.shutdown();
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_ops_and_at_shutdown_and_a_forged_one_is_refused() {
    let disk = SimStorage::new();
    let mut with_checkpoints = config();
    with_checkpoints.checkpoint_ops = 4;
    let engine = Engine::open_on(
        with_checkpoints.clone(),
        Arc::new(disk.clone()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut session = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut session, "CREATE TABLE c (id int PRIMARY KEY)")
        .await
        .unwrap();
    for i in 0..12 {
        run(&mut session, &format!("INSERT INTO c VALUES ({i})"))
            .await
            .unwrap();
    }
    let during = frames(&disk)
        .iter()
        .filter(|(_, kind, ..)| *kind == FrameKind::Checkpoint)
        .count();
    assert!(during >= 3, "only {during} checkpoints for 15 ops");
    drop(session);
    engine.shutdown();
    let all = frames(&disk);
    let (op, kind, payload, _) = all.last().unwrap().clone();
    assert_eq!(kind, FrameKind::Checkpoint, "a clean shutdown ends signed");
    let record = Checkpoint::decode(&payload).unwrap();
    assert_eq!(record.op, op - 1);
    assert_eq!(record.head_hash, frame::hash(&all[all.len() - 2].3));

    let reopened = Engine::open_on(
        with_checkpoints.clone(),
        Arc::new(disk.crash(CrashMode::DropUnsynced)),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(reopened.newest_checkpoint().unwrap().1, record);
    reopened.shutdown();

    // Someone without the node key re-signs the last checkpoint with their
    // own, fixing CRC and watermark: the node refuses to serve it.
    let disk = disk.crash(CrashMode::DropUnsynced);
    let all = frames(&disk);
    let (op, _, payload, stored_last) = all.last().unwrap().clone();
    let original = Checkpoint::decode(&payload).unwrap();
    let impostor = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let forged = Checkpoint::sign(
        &impostor,
        original.op,
        original.head_hash,
        original.snapshot_hash,
        original.signed_at_ns,
    );
    let (header, _) = frame::decode(&stored_last).unwrap();
    let forged_frame = frame::encode(&header, &forged.encode());
    let (_, name) = list_segments(&disk).unwrap().pop().unwrap();
    let keep = disk.contents(&name).unwrap().len() - stored_last.len();
    forge_tail(&disk, keep, &forged_frame, op);
    let error = Engine::open_on(with_checkpoints, Arc::new(disk), Arc::new(SystemClock))
        .err()
        .expect("a checkpoint signed by another key must be refused");
    assert!(
        error
            .to_string()
            .contains(&format!("checkpoint at op {op}")),
        "{error}"
    );
}

/// A database is a tenant: its commands carry its id in the frame header
/// and are sealed with its own data key, the default database's with
/// another; after a replay each session again sees only its database.
#[tokio::test]
async fn each_database_seals_its_commands_with_its_own_keys() {
    let disk = SimStorage::new();
    let engine = open_initialized(&disk).await;
    let mut home = Session::new(engine.clone(), "kimberlite", "kimberlite");
    run(&mut home, "CREATE DATABASE shop").await.unwrap();
    let shop_id = engine.database_id("shop").expect("created");
    assert_ne!(shop_id, DEFAULT_TENANT);
    let mut shop = Session::new(engine.clone(), "kimberlite", "shop");
    run(&mut shop, "CREATE TABLE s (id int PRIMARY KEY)")
        .await
        .unwrap();
    run(&mut shop, "INSERT INTO s VALUES (1)").await.unwrap();
    run(&mut home, "CREATE TABLE h (id int)").await.unwrap();
    let home_key = engine.active_key_id(DEFAULT_TENANT).unwrap();
    let shop_key = engine.active_key_id(shop_id).unwrap();
    assert_ne!(home_key, shop_key);
    let mut shop_commands = 0;
    for (op, kind, payload, stored) in frames(&disk) {
        if kind != FrameKind::Command {
            continue;
        }
        let (header, _) = frame::decode(&stored).unwrap();
        let key = envelope::key_id_of(&payload).unwrap();
        if header.tenant == shop_id {
            shop_commands += 1;
            assert_eq!(key, shop_key, "op {op} of shop");
        } else {
            assert_eq!(header.tenant, DEFAULT_TENANT);
            assert_eq!(key, home_key, "op {op} of the default database");
        }
    }
    assert_eq!(shop_commands, 2, "CREATE TABLE and INSERT in shop");
    drop((home, shop));
    engine.shutdown();

    let engine = open(&disk.crash(CrashMode::DropUnsynced));
    let mut shop = Session::new(engine.clone(), "kimberlite", "shop");
    assert_eq!(run(&mut shop, "SELECT * FROM s").await.unwrap(), 1);
    assert_eq!(
        run(&mut shop, "SELECT * FROM h")
            .await
            .unwrap_err()
            .sqlstate(),
        "42P01"
    );
    let mut home = Session::new(engine.clone(), "kimberlite", "kimberlite");
    assert_eq!(
        run(&mut home, "SELECT * FROM s")
            .await
            .unwrap_err()
            .sqlstate(),
        "42P01"
    );
    engine.shutdown();
}
