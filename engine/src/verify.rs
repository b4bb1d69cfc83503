//! # `verify`: account for every byte of a data directory
//!
//! An auditor takes a data directory (a stopped one, or the live one through
//! `SELECT * FROM kimberlite_verify()`) and proves nothing in it was
//! altered, without the master key:
//!
//! - every file is known: `log/*.klog`, `log/watermark`, `keys/master.key`,
//!   `keys/node.key`, `keys/node.pub`, `snapshots/*.ksnap`, and the PEM
//!   files of a generated TLS certificate; anything else is reported;
//! - every frame up to the durable watermark passes its CRC, continues the
//!   op sequence and the hash chain, and the frame at the watermark is the
//!   one the watermark recorded. Damage there is corruption, never a torn
//!   tail. After the watermark: valid frames (durable, never acknowledged),
//!   then zeros or nothing; anything else is a torn tail the server cuts at
//!   its next start, reported but not a failure;
//! - both watermark slots are whole (or never written);
//! - every checkpoint continues the chain and its signature verifies:
//!   against `--public-key` when given (authorship), else against the key
//!   recorded in `keys/node.pub` (consistency: whoever could rewrite the
//!   directory could rewrite that file too);
//! - every snapshot's hash holds and a checkpoint in the log signs it (one
//!   after the end of the log is a leftover of a crash, which the server
//!   removes at its next start);
//! - key files are well-formed and checksummed; when the directory holds
//!   its own master key, it must open the logged key records and the node
//!   key.
//!
//! The walk is a pure function of the directory's bytes (plus the
//! expected public key); progress is reported in bytes read.

use std::fs;
use std::path::Path;

use kimberlite_consensus::Op;

use crate::checkpoint::Checkpoint;
use crate::crypto::keys::{KeyRecord, Keyring, MasterKey, SecretKey};
use crate::crypto::master::{KEYS_DIR, MASTER_KEY_FILE};
use crate::crypto::node::{parse_public_key, NodeKeyFile, NODE_KEY_FILE, NODE_PUBLIC_FILE};
use crate::log::frame::{self, FrameKind};
use crate::log::watermark::{Watermark, SLOT_BYTES, SLOT_STRIDE_BYTES, WATERMARK_FILE};
use crate::snapshot::{self, SNAPSHOTS_DIR};

/// Something that does not verify: the file (relative to the data
/// directory), the offset of the damaged record in it, and the op when a
/// frame is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub offset: u64,
    pub op: Option<Op>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.file, self.offset)?;
        if let Some(op) = self.op {
            write!(f, ", op {op}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What verification found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// The last op of the verified chain.
    pub ops: Op,
    pub segments: usize,
    pub files: usize,
    pub bytes: u64,
    pub watermark_op: Op,
    /// Hash of the frame at `ops` (zeros for an empty log).
    pub chain_head: [u8; 32],
    pub checkpoints: u64,
    /// The newest checkpoint: (its frame's op, the record).
    pub newest_checkpoint: Option<(Op, Checkpoint)>,
    pub key_records: u64,
    /// The key checkpoints were checked against, if any.
    pub public_key: Option<[u8; 32]>,
    /// Whether that key came from outside the directory.
    pub authorship: bool,
    /// Valid frames after the watermark (durable, never acknowledged).
    pub frames_beyond_watermark: u64,
    /// A torn tail after the watermark, described.
    pub torn_tail: Option<String>,
    /// Snapshot files, each signed by a checkpoint.
    pub snapshots: usize,
    /// Files a crash left behind that the server removes at its next start.
    pub leftovers: Vec<String>,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, file: &str, offset: u64, op: Option<Op>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_string(),
            offset,
            op,
            message: message.into(),
        });
    }
}

/// Bytes `verify_dir` will read, for a progress bar.
pub fn total_bytes(data_dir: &Path) -> u64 {
    list_files(data_dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Every regular file under `dir`, as relative paths with `/`, sorted.
fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(root, &path, out)?;
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Verifies `data_dir`. `public_key` is the signer an auditor expects;
/// `progress` is told how many bytes were read so far.
pub fn verify_dir(
    data_dir: &Path,
    public_key: Option<[u8; 32]>,
    progress: &mut dyn FnMut(u64),
) -> VerifyReport {
    let mut report = VerifyReport::default();
    let files = match list_files(data_dir) {
        Ok(files) => files,
        Err(error) => {
            report.problem(
                ".",
                0,
                None,
                format!("cannot list the data directory: {error}"),
            );
            return report;
        }
    };
    report.files = files.len();
    let watermark_path = format!("log/{WATERMARK_FILE}");
    let master_path = format!("{KEYS_DIR}/{MASTER_KEY_FILE}");
    let node_key_path = format!("{KEYS_DIR}/{NODE_KEY_FILE}");
    let node_public_path = format!("{KEYS_DIR}/{NODE_PUBLIC_FILE}");
    let mut segments: Vec<(Op, String)> = Vec::new();
    let mut snapshot_files: Vec<(Op, String)> = Vec::new();
    let mut pem_files: Vec<String> = Vec::new();
    for file in &files {
        if let Some(name) = file.strip_prefix(&format!("{SNAPSHOTS_DIR}/")) {
            if let Some(op) = snapshot::parse_name(name) {
                snapshot_files.push((op, file.clone()));
                continue;
            }
            if name.ends_with(".partial") {
                report.leftovers.push(file.clone());
                continue;
            }
        }
        let segment = file
            .strip_prefix("log/")
            .and_then(|n| n.strip_suffix(".klog"))
            .and_then(|stem| stem.parse::<Op>().ok().filter(|_| stem.len() == 20));
        if let Some(first_op) = segment {
            segments.push((first_op, file.clone()));
        } else if file == "keys/tls.crt" || file == "keys/tls.key" {
            pem_files.push(file.clone());
        } else if ![
            &watermark_path,
            &master_path,
            &node_key_path,
            &node_public_path,
        ]
        .contains(&file)
        {
            report.problem(file, 0, None, "unknown file in the data directory");
        }
    }
    segments.sort();
    report.segments = segments.len();
    let mut read = |report: &mut VerifyReport, file: &str| -> Option<Vec<u8>> {
        match fs::read(data_dir.join(file)) {
            Ok(bytes) => {
                report.bytes += bytes.len() as u64;
                progress(report.bytes);
                Some(bytes)
            }
            Err(error) => {
                report.problem(file, 0, None, format!("cannot read: {error}"));
                None
            }
        }
    };

    // The generated TLS pair (`kimberlite dev --tls`): PEM, nothing the
    // log depends on.
    for file in &pem_files {
        if let Some(pem) = read(&mut report, file) {
            if !pem.starts_with(b"-----BEGIN ") || !pem.is_ascii() {
                report.problem(file, 0, None, "not a PEM file");
            }
        }
    }

    // Keys first: the master key (when the directory holds it) lets the
    // log's key records be checked, and node.pub names the signer.
    let master: Option<MasterKey> = if files.contains(&master_path) {
        read(&mut report, &master_path).and_then(|bytes| {
            let mut key = [0u8; 32];
            let text = String::from_utf8_lossy(&bytes);
            match hex::decode_to_slice(text.trim(), &mut key) {
                Ok(()) => Some(SecretKey::from_bytes(key)),
                Err(_) => {
                    report.problem(&master_path, 0, None, "not a key of 64 hex digits");
                    None
                }
            }
        })
    } else {
        None
    };
    let mut node_public = None;
    if files.contains(&node_key_path) {
        if let Some(bytes) = read(&mut report, &node_key_path) {
            match NodeKeyFile::decode(&bytes) {
                Ok(file) => {
                    if let Some(master) = &master {
                        if let Err(error) = file.open(master) {
                            report.problem(&node_key_path, 0, None, error.to_string());
                        }
                    }
                    node_public = Some(file.public_key);
                }
                Err(why) => report.problem(&node_key_path, 0, None, why),
            }
        }
    }
    let mut recorded_public = None;
    if files.contains(&node_public_path) {
        if let Some(bytes) = read(&mut report, &node_public_path) {
            match parse_public_key(&String::from_utf8_lossy(&bytes)) {
                Ok(key) => {
                    if node_public.is_some_and(|k| k != key) {
                        report.problem(
                            &node_public_path,
                            0,
                            None,
                            "does not match the public key in keys/node.key",
                        );
                    }
                    recorded_public = Some(key);
                }
                Err(why) => report.problem(&node_public_path, 0, None, why),
            }
        }
    }
    report.authorship = public_key.is_some();
    report.public_key = public_key.or(recorded_public);

    // The watermark: each slot whole or never written, nothing else in the file.
    let mut mark: Option<Watermark> = None;
    if files.contains(&watermark_path) {
        if let Some(bytes) = read(&mut report, &watermark_path) {
            let stride = SLOT_STRIDE_BYTES as usize;
            for index in 0..2usize {
                let start = index * stride;
                let slot = bytes.get(start..(start + SLOT_BYTES).min(bytes.len()));
                match slot {
                    None => {}
                    Some(slot) if slot.iter().all(|b| *b == 0) => {}
                    Some(slot) => match Watermark::decode(slot) {
                        Some(found) => {
                            if mark.is_none_or(|m| found.seq > m.seq) {
                                mark = Some(found);
                            }
                        }
                        None => report.problem(
                            &watermark_path,
                            start as u64,
                            None,
                            format!("watermark slot {index} fails its checksum"),
                        ),
                    },
                }
            }
            let outside = bytes.iter().enumerate().find(|(at, b)| {
                let in_slot = (*at % stride) < SLOT_BYTES && *at < 2 * stride;
                !in_slot && **b != 0
            });
            if let Some((at, _)) = outside {
                report.problem(
                    &watermark_path,
                    at as u64,
                    None,
                    "bytes outside the watermark slots",
                );
            }
        }
    } else if !segments.is_empty() {
        report.problem(
            &watermark_path,
            0,
            None,
            "missing: the log has no watermark",
        );
    }
    let watermark_op = mark.map(|m| m.op).unwrap_or(0);
    report.watermark_op = watermark_op;

    let mut keyring = master.map(Keyring::new);
    let mut signed_snapshots: Vec<(Op, [u8; 32])> = Vec::new();
    let mut last_op: Op = 0;
    let mut last_hash = [0u8; 32];
    let mut last_end: (String, u64) = (String::new(), 0);
    'segments: for (first_op, name) in &segments {
        let Some(bytes) = read(&mut report, name) else {
            break;
        };
        if bytes.is_empty() {
            last_end = (name.clone(), 0);
            continue;
        }
        if *first_op != last_op + 1 {
            let message = format!("segment starts at op {first_op}, expected {}", last_op + 1);
            if last_op < watermark_op {
                report.problem(name, 0, Some(last_op + 1), message);
            } else {
                report.torn_tail = Some(format!("{name}: {message}"));
            }
            break;
        }
        let mut offset = 0usize;
        while offset < bytes.len() {
            let op = last_op + 1;
            let damage = match frame::decode(&bytes[offset..]) {
                Err(error) => Err(format!("not a valid frame ({error:?})")),
                Ok((header, _)) if header.op != op => {
                    Err(format!("frame claims op {}, expected {op}", header.op))
                }
                Ok((header, _)) if header.prev_hash != last_hash => {
                    Err("hash chain broken: prev_hash differs from the previous frame".into())
                }
                Ok(found) => Ok(found),
            };
            let (header, len) = match damage {
                Ok(found) => found,
                Err(message) if op <= watermark_op => {
                    report.problem(name, offset as u64, Some(op), message);
                    break 'segments;
                }
                Err(message) => {
                    let rest = &bytes[offset..];
                    if rest.iter().any(|b| *b != 0) {
                        report.torn_tail = Some(format!(
                            "{name} at offset {offset}: {} bytes after op {last_op} ({message}); \
                             never acknowledged, the server cuts them at its next start",
                            rest.len()
                        ));
                    }
                    break 'segments;
                }
            };
            let stored = &bytes[offset..offset + len];
            let hash = frame::hash(stored);
            if op == watermark_op {
                if let Some(m) = mark.filter(|m| m.head_hash != hash) {
                    report.problem(
                        &watermark_path,
                        m.slot_offset(),
                        Some(op),
                        "the watermark recorded a different frame at its op",
                    );
                }
            }
            let payload = frame::payload(stored);
            match header.kind {
                FrameKind::KeyRecord => {
                    report.key_records += 1;
                    match KeyRecord::decode(payload) {
                        Err(error) => {
                            report.problem(name, offset as u64, Some(op), error.to_string())
                        }
                        Ok(record) => {
                            if let Some(ring) = keyring.as_mut() {
                                if let Err(error) = ring.install(&record) {
                                    report.problem(
                                        &master_path,
                                        0,
                                        Some(op),
                                        format!("key record does not open: {error}"),
                                    );
                                    keyring = None;
                                }
                            }
                        }
                    }
                }
                FrameKind::Checkpoint => {
                    report.checkpoints += 1;
                    let checked = Checkpoint::decode(payload).and_then(|c| {
                        c.check(op, &header.prev_hash, report.public_key.as_ref())?;
                        Ok(c)
                    });
                    match checked {
                        Ok(record) => {
                            signed_snapshots.push((record.op, record.snapshot_hash));
                            report.newest_checkpoint = Some((op, record));
                        }
                        Err(error) => {
                            report.problem(name, offset as u64, Some(op), error.to_string())
                        }
                    }
                }
                FrameKind::Command | FrameKind::CommandPart | FrameKind::CommandCommit => {}
            }
            if op > watermark_op {
                report.frames_beyond_watermark += 1;
            }
            last_op = op;
            last_hash = hash;
            offset += len;
        }
        last_end = (name.clone(), bytes.len() as u64);
    }
    if last_op < watermark_op && report.problems.is_empty() {
        let (file, offset) = last_end;
        let file = if file.is_empty() { "log".into() } else { file };
        report.problem(
            &file,
            offset,
            Some(last_op + 1),
            format!(
                "the log ends at op {last_op}, below the acknowledged watermark op {watermark_op}"
            ),
        );
    }
    for (op, file) in &snapshot_files {
        let Some(bytes) = read(&mut report, file) else {
            continue;
        };
        match snapshot::decode(&bytes) {
            Err(why) => report.problem(file, 0, Some(*op), why),
            Ok(found) if found.op != *op => report.problem(
                file,
                0,
                Some(*op),
                format!("holds the snapshot of op {}", found.op),
            ),
            Ok(found) if signed_snapshots.contains(&(found.op, found.hash)) => {
                report.snapshots += 1;
            }
            Ok(_) if *op >= last_op => report.leftovers.push(file.clone()),
            Ok(_) => report.problem(
                file,
                0,
                Some(*op),
                "no checkpoint in the log signs this snapshot",
            ),
        }
    }
    report.ops = last_op;
    report.chain_head = last_hash;
    report
}
