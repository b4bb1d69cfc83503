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

fn open(dir: &Path, segment_bytes_max: u64) -> EngineResult<(Log, Frames)> {
    let mut seen = Vec::new();
    let (log, _) = Log::open(
        LogConfig {
            dir: dir.to_path_buf(),
            segment_bytes_max,
        },
        |h, p| {
            seen.push((h.op, p.to_vec()));
            Ok(())
        },
    )?;
    Ok((log, seen))
}

fn write_ops(log: &Log, range: std::ops::RangeInclusive<Op>) {
    for op in range {
        log.append(&meta(op), format!("payload {op}").as_bytes())
            .unwrap();
    }
    log.sync().unwrap();
}

fn last_segment(dir: &Path) -> PathBuf {
    list_segments(dir).unwrap().last().unwrap().1.clone()
}

#[test]
fn synced_frames_survive_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 200).unwrap();
    write_ops(&log, 1..=10);
    drop(log);
    let (log, seen) = open(dir.path(), 200).unwrap();
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[9], (10, b"payload 10".to_vec()));
    assert!(
        list_segments(dir.path()).unwrap().len() > 1,
        "segments rotate by size"
    );
    write_ops(&log, 11..=12);
    drop(log);
    assert_eq!(open(dir.path(), 200).unwrap().1.len(), 12);
}

#[test]
fn torn_tail_frame_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 1 << 20).unwrap();
    write_ops(&log, 1..=3);
    drop(log);
    let path = last_segment(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (log, seen) = open(dir.path(), 1 << 20).unwrap();
    assert_eq!(seen.len(), 2);
    write_ops(&log, 3..=3);
    drop(log);
    assert_eq!(open(dir.path(), 1 << 20).unwrap().1.len(), 3);
}

#[test]
fn damaged_acknowledged_frame_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 1 << 20).unwrap();
    write_ops(&log, 1..=3);
    drop(log);
    let path = last_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[frame::HEADER_BYTES + 2] ^= 0xFF; // inside frame 1's payload
    fs::write(&path, &bytes).unwrap();
    let error = open(dir.path(), 1 << 20).err().expect("must refuse");
    assert!(matches!(error, EngineError::Corrupted(_)), "{error}");
}

#[test]
fn edited_frame_with_fixed_crc_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 1 << 20).unwrap();
    write_ops(&log, 1..=2);
    drop(log);
    let path = last_segment(dir.path());
    let bytes = fs::read(&path).unwrap();
    let (_, first_len) = frame::decode(&bytes).unwrap();
    // Re-encode frame 1 with a different payload of the same length: its CRC
    // is valid, but frame 2's prev_hash no longer matches.
    let (mut header, _) = frame::decode(&bytes).unwrap();
    header.payload_len = 9;
    let forged = frame::encode(&header, b"payload X");
    let mut edited = forged.clone();
    edited.extend_from_slice(&bytes[first_len..]);
    fs::write(&path, &edited).unwrap();
    let error = open(dir.path(), 1 << 20).err().expect("must refuse");
    assert!(error.to_string().contains("hash chain"), "{error}");
}
