//! Log tests on the simulated disk: every row of the recovery decision
//! table (`recovery.rs`), crash behaviour, and group-commit ordering.

use super::recovery::Refusal;
use super::sim::{CrashMode, SimStorage};
use super::storage::DirStorage;
use super::*;

fn meta(op: Op) -> EntryMeta {
    EntryMeta {
        op,
        view: 0,
        timestamp_ns: op,
        tenant: 1,
        kind: FrameKind::Command as u8,
    }
}

type Frames = Vec<(Op, Vec<u8>)>;

fn open_on(
    storage: &SimStorage,
    segment_bytes_max: u64,
) -> EngineResult<(Log, Frames, RecoveryReport)> {
    let mut seen = Vec::new();
    let (log, report) = Log::open(
        LogConfig { segment_bytes_max },
        Arc::new(storage.clone()),
        |h, p| {
            seen.push((h.op, p.to_vec()));
            Ok(())
        },
    )?;
    Ok((log, seen, report))
}

fn open(storage: &SimStorage) -> EngineResult<(Log, Frames, RecoveryReport)> {
    open_on(storage, 1 << 20)
}

fn payload(op: Op) -> Vec<u8> {
    format!("payload {op}").into_bytes()
}

fn append(log: &Log, range: std::ops::RangeInclusive<Op>) {
    for op in range {
        log.append(&meta(op), &payload(op)).unwrap();
    }
}

fn write_ops(log: &Log, range: std::ops::RangeInclusive<Op>) {
    append(log, range);
    log.sync().unwrap();
}

/// A disk holding ops 1..=n, all acknowledged (watermark n), one segment.
fn acknowledged(n: Op) -> SimStorage {
    let disk = SimStorage::new();
    let (log, _, _) = open(&disk).unwrap();
    write_ops(&log, 1..=n);
    disk
}

/// A disk holding ops 1..=acked acknowledged and acked+1..=durable fsynced
/// in the segment but never acknowledged (the watermark fsync failed).
fn durable_beyond_watermark(acked: Op, durable: Op) -> SimStorage {
    let disk = acknowledged(acked);
    let (log, _, _) = open(&disk).unwrap();
    disk.fail_syncs_after(1); // the segment fsync succeeds, the watermark's fails
    append(&log, acked + 1..=durable);
    assert!(log.sync().is_err());
    disk.crash(CrashMode::DropUnsynced)
}

fn segment(disk: &SimStorage) -> String {
    list_segments(disk).unwrap().last().unwrap().1.clone()
}

/// Byte offset of the frame holding `op` in a single-segment log.
fn frame_offset(disk: &SimStorage, op: Op) -> usize {
    let bytes = disk.contents(&segment(disk)).unwrap();
    let mut offset = 0;
    loop {
        let (header, len) = frame::decode(&bytes[offset..]).unwrap();
        if header.op == op {
            return offset;
        }
        offset += len;
    }
}

fn refusal(result: EngineResult<(Log, Frames, RecoveryReport)>, why: Refusal) -> String {
    let error = result.err().expect("recovery must refuse").to_string();
    assert!(
        error.contains(why.explain()),
        "expected {why:?}, got: {error}"
    );
    error
}

// ── Row: watermark missing, no frames → fresh log ──────────────────────────

#[test]
fn empty_disk_opens_as_a_fresh_log_with_a_watermark() {
    let disk = SimStorage::new();
    let (log, seen, report) = open(&disk).unwrap();
    assert!(seen.is_empty());
    assert_eq!(report.watermark_op, 0);
    assert!(disk.contents(WATERMARK_FILE).is_some());
    write_ops(&log, 1..=2);
    let crashed = disk.crash(CrashMode::DropUnsynced);
    assert_eq!(open(&crashed).unwrap().1.len(), 2);
}

// ── Row: watermark missing, frames on disk → refuse ────────────────────────

#[test]
fn frames_without_a_watermark_are_refused() {
    let disk = acknowledged(3);
    disk.remove(WATERMARK_FILE).unwrap();
    refusal(open(&disk), Refusal::WatermarkMissing);
}

// ── Row: watermark damaged (both slots) → refuse, with or without frames ───

#[test]
fn a_watermark_with_both_slots_damaged_is_refused() {
    for ops in [0, 3] {
        let disk = acknowledged(ops);
        disk.flip_byte(WATERMARK_FILE, 2, 0x40);
        disk.flip_byte(
            WATERMARK_FILE,
            watermark::SLOT_STRIDE_BYTES as usize + 2,
            0x40,
        );
        refusal(open(&disk), Refusal::WatermarkDamaged);
    }
}

#[test]
fn a_torn_watermark_slot_falls_back_to_the_previous_slot() {
    // The newest slot tears while ops 4..=5 are being acknowledged: the
    // segment holds them durably, the previous slot says 3. Nothing above 3
    // was acknowledged; 4 and 5 are intact, so they are kept.
    let disk = acknowledged(3);
    let (log, _, _) = open(&disk).unwrap();
    append(&log, 4..=5);
    disk.fail_syncs_after(1);
    assert!(log.sync().is_err());
    let crashed = disk.crash(CrashMode::TearLastWrite { keep_bytes: 10 });
    let (_, seen, report) = open(&crashed).unwrap();
    assert_eq!(report.watermark_op, 3);
    assert_eq!(seen.len(), 5);
}

// ── Row: clean end at or beyond the watermark → open ───────────────────────

#[test]
fn acknowledged_frames_survive_reopen_across_segments() {
    let disk = SimStorage::new();
    let (log, _, _) = open_on(&disk, 200).unwrap();
    write_ops(&log, 1..=10);
    let crashed = disk.crash(CrashMode::DropUnsynced);
    let (log, seen, report) = open_on(&crashed, 200).unwrap();
    assert_eq!(seen.len(), 10);
    assert_eq!(report.watermark_op, 10);
    assert_eq!(seen[9], (10, payload(10)));
    assert!(
        list_segments(&crashed).unwrap().len() > 1,
        "segments rotate by size"
    );
    write_ops(&log, 11..=12);
    assert_eq!(
        open_on(&crashed.crash(CrashMode::DropUnsynced), 200)
            .unwrap()
            .1
            .len(),
        12
    );
}

#[test]
fn durable_frames_above_the_watermark_are_kept_and_the_watermark_raised() {
    let disk = durable_beyond_watermark(3, 6);
    let (_, seen, report) = open(&disk).unwrap();
    assert_eq!((report.watermark_op, seen.len()), (3, 6));
    // Reopening finds the raised watermark: op 6 is now acknowledged-able.
    let (_, _, report) = open(&disk).unwrap();
    assert_eq!(report.watermark_op, 6);
}

// ── Row: clean end below the watermark → refuse ────────────────────────────

#[test]
fn a_log_ending_before_the_watermark_is_refused() {
    // Cut exactly at a frame boundary: every remaining frame is valid.
    let disk = acknowledged(3);
    let name = segment(&disk);
    let bytes = disk.contents(&name).unwrap();
    disk.replace(&name, bytes[..frame_offset(&disk, 3)].to_vec());
    refusal(open(&disk), Refusal::AcknowledgedOpsMissing);
    // A deleted segment is the same row.
    let disk = acknowledged(3);
    disk.remove(&segment(&disk)).unwrap();
    refusal(open(&disk), Refusal::AcknowledgedOpsMissing);
}

// ── Row: frame at the watermark differs from the recorded head → refuse ────

#[test]
fn a_rewritten_acknowledged_head_is_refused() {
    // Re-encode the newest acknowledged frame with another payload: CRC and
    // prev_hash are valid and nothing follows it, so only the watermark's
    // head hash can tell.
    let disk = acknowledged(3);
    let name = segment(&disk);
    let bytes = disk.contents(&name).unwrap();
    let at = frame_offset(&disk, 3);
    let (mut header, _) = frame::decode(&bytes[at..]).unwrap();
    header.payload_len = 9;
    let mut forged = bytes[..at].to_vec();
    forged.extend_from_slice(&frame::encode(&header, b"payload X"));
    disk.replace(&name, forged);
    refusal(open(&disk), Refusal::HistoryRewritten);
}

// ── Row: bad frame, chain break or gap at or below the watermark → refuse ──

#[test]
fn any_damaged_byte_of_any_acknowledged_frame_is_refused() {
    // Every byte of every acknowledged frame, including the newest one —
    // the case a torn write looks like without the watermark.
    let disk = acknowledged(3);
    let name = segment(&disk);
    let len = disk.contents(&name).unwrap().len();
    for offset in 0..len {
        let damaged = disk.crash(CrashMode::DropUnsynced);
        damaged.flip_byte(&name, offset, 0x01);
        let error = refusal(open(&damaged), Refusal::AcknowledgedFrameDamaged);
        assert!(error.contains(&name) && error.contains("offset"), "{error}");
    }
}

#[test]
fn a_torn_looking_cut_inside_an_acknowledged_frame_is_refused() {
    let disk = acknowledged(3);
    let name = segment(&disk);
    let bytes = disk.contents(&name).unwrap();
    for cut in frame_offset(&disk, 3) + 1..bytes.len() {
        let damaged = disk.crash(CrashMode::DropUnsynced);
        damaged.replace(&name, bytes[..cut].to_vec());
        let error = refusal(open(&damaged), Refusal::AcknowledgedFrameDamaged);
        assert!(error.contains("op 3"), "{error}");
    }
}

#[test]
fn an_acknowledged_frame_edited_with_a_fixed_crc_breaks_the_chain() {
    let disk = acknowledged(2);
    let name = segment(&disk);
    let bytes = disk.contents(&name).unwrap();
    let (mut header, first_len) = frame::decode(&bytes).unwrap();
    header.payload_len = 9;
    let mut edited = frame::encode(&header, b"payload X");
    edited.extend_from_slice(&bytes[first_len..]);
    disk.replace(&name, edited);
    let error = refusal(open(&disk), Refusal::AcknowledgedFrameDamaged);
    assert!(error.contains("ChainBreak"), "{error}");
}

#[test]
fn a_missing_acknowledged_segment_in_the_middle_is_refused() {
    let disk = SimStorage::new();
    let (log, _, _) = open_on(&disk, 200).unwrap();
    write_ops(&log, 1..=10);
    let segments = list_segments(&disk).unwrap();
    assert!(segments.len() >= 3);
    disk.remove(&segments[1].1).unwrap();
    let error = refusal(open_on(&disk, 200), Refusal::AcknowledgedFrameDamaged);
    assert!(error.contains("SegmentGap"), "{error}");
}

// ── Row: bad frame, chain break or gap above the watermark → truncate ──────

#[test]
fn a_torn_tail_is_truncated_at_every_tear_point() {
    // The segment write of ops 4..=5 reached the page cache, its fsync
    // failed, the machine lost power: any prefix of that write may remain.
    let disk = acknowledged(3);
    let (log, _, _) = open(&disk).unwrap();
    append(&log, 4..=5);
    disk.fail_syncs_after(0);
    assert!(log.sync().is_err());
    let write_len = disk.contents(&segment(&disk)).unwrap().len() - frame_offset(&disk, 4);
    let frame4_len = frame_offset(&disk, 5) - frame_offset(&disk, 4);
    for keep_bytes in 0..=write_len {
        let crashed = disk.crash(CrashMode::TearLastWrite { keep_bytes });
        let (log, seen, report) = open(&crashed).unwrap();
        let whole_frames =
            usize::from(keep_bytes >= frame4_len) + usize::from(keep_bytes == write_len);
        assert_eq!(seen.len(), 3 + whole_frames, "keep_bytes {keep_bytes}");
        let torn = ![0, frame4_len, write_len].contains(&keep_bytes);
        assert_eq!(report.truncated_bytes > 0, torn, "keep_bytes {keep_bytes}");
        // The log carries on from the cut.
        let next = seen.len() as Op + 1;
        write_ops(&log, next..=next);
        let reopened = open(&crashed.crash(CrashMode::DropUnsynced)).unwrap();
        assert_eq!(reopened.1.len(), seen.len() + 1);
    }
}

#[test]
fn damage_above_the_watermark_is_truncated_even_when_valid_frames_follow() {
    let disk = durable_beyond_watermark(3, 6);
    let name = segment(&disk);
    disk.flip_byte(&name, frame_offset(&disk, 5) + 3, 0x08);
    let (_, seen, report) = open(&disk).unwrap();
    assert_eq!(seen.len(), 4);
    assert!(report.truncated_at.unwrap().contains("op 5"));
}

#[test]
fn a_chain_break_above_the_watermark_is_truncated() {
    let disk = durable_beyond_watermark(3, 5);
    let name = segment(&disk);
    let bytes = disk.contents(&name).unwrap();
    let at = frame_offset(&disk, 5);
    let (mut header, _) = frame::decode(&bytes[at..]).unwrap();
    header.prev_hash = [7; 32];
    let mut forged = bytes[..at].to_vec();
    forged.extend_from_slice(&frame::encode(&header, &payload(5)));
    disk.replace(&name, forged);
    let (_, seen, report) = open(&disk).unwrap();
    assert_eq!(seen.len(), 4);
    assert!(report.truncated_at.unwrap().contains("ChainBreak"));
}

#[test]
fn a_segment_gap_above_the_watermark_is_truncated() {
    let disk = durable_beyond_watermark(3, 4);
    disk.replace(&segment_name(9), disk.contents(&segment(&disk)).unwrap());
    let (log, seen, report) = open(&disk).unwrap();
    assert_eq!(seen.len(), 4);
    assert!(report.truncated_at.unwrap().contains("SegmentGap"));
    write_ops(&log, 5..=5);
    assert_eq!(open(&disk).unwrap().1.len(), 5);
}

// ── Crashes: what survives ─────────────────────────────────────────────────

#[test]
fn unsynced_frames_vanish_and_synced_ones_never_do() {
    let disk = acknowledged(2);
    let (log, _, _) = open(&disk).unwrap();
    append(&log, 3..=4); // never synced
    let crashed = disk.crash(CrashMode::DropUnsynced);
    assert_eq!(open(&crashed).unwrap().1.len(), 2);
}

#[test]
fn a_failed_fsync_is_never_reported_durable() {
    let disk = acknowledged(1);
    let (log, _, _) = open(&disk).unwrap();
    append(&log, 2..=2);
    disk.fail_syncs_after(0);
    assert!(log.sync().is_err());
    assert_eq!(log.durable_op(), 1);
}

#[test]
fn random_crashes_keep_every_acknowledged_op_and_a_clean_prefix() {
    // Seeded: a failure names its seed and replays.
    for seed in 0..300u64 {
        let disk = SimStorage::new();
        let (log, _, _) = open_on(&disk, 300).unwrap();
        let mut acked = 0;
        let mut appended = 0;
        let rounds = 1 + seed % 7;
        for round in 0..rounds {
            let count = 1 + (seed + round) % 4;
            append(&log, appended + 1..=appended + count);
            appended += count;
            if (seed + round) % 3 != 0 {
                acked = log.sync().unwrap();
            }
        }
        if seed % 2 == 0 {
            // The final write reaches the page cache, its fsync fails.
            disk.fail_syncs_after(seed % 3);
            let _ = log.sync();
        }
        let crashed = disk.crash(CrashMode::Random { seed });
        let (_, seen, _) =
            open_on(&crashed, 300).unwrap_or_else(|e| panic!("seed {seed}: recovery refused: {e}"));
        assert!(
            seen.len() as Op >= acked,
            "seed {seed}: lost acknowledged ops"
        );
        assert!(seen.len() as Op <= appended, "seed {seed}: invented ops");
        for (index, (op, body)) in seen.iter().enumerate() {
            assert_eq!((*op, body), (index as Op + 1, &payload(*op)), "seed {seed}");
        }
    }
}

#[test]
fn each_group_commit_costs_one_segment_and_one_watermark_fsync() {
    let disk = SimStorage::new();
    let (log, _, _) = open(&disk).unwrap();
    append(&log, 1..=50);
    log.sync().unwrap();
    assert_eq!(log.fsyncs(), 2);
}

#[test]
fn the_real_directory_storage_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(DirStorage::open(dir.path()).unwrap());
    let config = LogConfig {
        segment_bytes_max: 200,
    };
    let (log, _) = Log::open(config.clone(), storage.clone(), |_, _| Ok(())).unwrap();
    write_ops(&log, 1..=10);
    drop(log);
    let storage: Arc<dyn Storage> = Arc::new(DirStorage::open(dir.path()).unwrap());
    let mut seen = 0;
    Log::open(config, storage, |_, _| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, 10);
    assert!(dir.path().join(WATERMARK_FILE).exists());
}
