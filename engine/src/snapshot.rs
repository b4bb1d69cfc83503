//! # Projection snapshots
//!
//! At every checkpoint the kernel state (catalog history, every row version,
//! counters) is written to `DATA_DIR/snapshots/<op>.ksnap`, sealed with the
//! tenant's data key, and the checkpoint signs the file's hash. A restart
//! loads the newest snapshot whose checkpoint is acknowledged and applies
//! only the commands after it; the log is still read whole, because the
//! chain is checked from op 1 (hashing is cheap, decrypting and applying are
//! not).
//!
//! ```text
//!  offset size field
//!  0      4    magic     "KSNP"
//!  4      2    version   5 (older ones are ignored: the log is replayed)
//!  6      8    op        the state is the one after applying this op
//!  14     4    tenant    whose data key sealed it
//!  18     8    len       bytes of the envelope
//!  26     len  envelope  AES-256-GCM envelope of the encoded state
//!  26+len 32   hash      SHA-256 of bytes [0, 26+len); the checkpoint signs it
//! ```
//!
//! Snapshots are written under the state lock (the state cannot move while
//! it is encoded), so a checkpoint stalls commits for the time it takes to
//! encode and write the state: the checkpoint interval bounds how often.
//! A snapshot whose checkpoint never became durable (a crash between the
//! two) is removed at the next open; a damaged one is ignored and the log
//! replayed instead.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kimberlite_consensus::Op;
use sha2::{Digest, Sha256};

use crate::error::EngineResult;

/// Folder under the data directory.
pub const SNAPSHOTS_DIR: &str = "snapshots";
const SUFFIX: &str = ".ksnap";
const MAGIC: &[u8; 4] = b"KSNP";
const VERSION: u16 = 5;
const HEADER_BYTES: usize = 26;

/// A parsed snapshot file whose hash holds.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub op: Op,
    pub tenant: u32,
    pub envelope: Vec<u8>,
    /// The hash a checkpoint signs.
    pub hash: [u8; 32],
}

/// The file name of the snapshot at `op`.
pub fn file_name(op: Op) -> String {
    format!("{op:020}{SUFFIX}")
}

/// The op a snapshot file name stands for.
pub fn parse_name(name: &str) -> Option<Op> {
    let stem = name.strip_suffix(SUFFIX)?;
    (stem.len() == 20).then(|| stem.parse().ok())?
}

/// Encodes a snapshot file around a sealed state.
pub fn encode(op: Op, tenant: u32, envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + envelope.len() + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&op.to_le_bytes());
    out.extend_from_slice(&tenant.to_le_bytes());
    out.extend_from_slice(&(envelope.len() as u64).to_le_bytes());
    out.extend_from_slice(envelope);
    let hash: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&hash);
    out
}

/// Parses a snapshot file, checking its layout and hash.
pub fn decode(bytes: &[u8]) -> Result<SnapshotFile, String> {
    if bytes.len() < HEADER_BYTES + 32 || &bytes[..4] != MAGIC {
        return Err("not a snapshot file".into());
    }
    if bytes[4..6] != VERSION.to_le_bytes() {
        return Err("unsupported snapshot version".into());
    }
    let len = u64::from_le_bytes(bytes[18..26].try_into().unwrap());
    if len != (bytes.len() - HEADER_BYTES - 32) as u64 {
        return Err("snapshot length does not match the file".into());
    }
    let body = &bytes[..bytes.len() - 32];
    let hash: [u8; 32] = Sha256::digest(body).into();
    if hash[..] != bytes[bytes.len() - 32..] {
        return Err("snapshot hash mismatch".into());
    }
    Ok(SnapshotFile {
        op: u64::from_le_bytes(bytes[6..14].try_into().unwrap()),
        tenant: u32::from_le_bytes(bytes[14..18].try_into().unwrap()),
        envelope: body[HEADER_BYTES..].to_vec(),
        hash,
    })
}

/// The snapshots under `data_dir`, by op, oldest first.
pub fn list(data_dir: &Path) -> EngineResult<Vec<(Op, PathBuf)>> {
    let dir = data_dir.join(SNAPSHOTS_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        if let Some(op) = entry.file_name().to_str().and_then(parse_name) {
            out.push((op, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes `bytes` as the snapshot at `op` (temporary file, fsync, rename,
/// fsync the folder) and removes all but the newest `keep`.
pub fn write(data_dir: &Path, op: Op, bytes: &[u8], keep: usize) -> EngineResult<()> {
    let dir = data_dir.join(SNAPSHOTS_DIR);
    fs::create_dir_all(&dir)?;
    let path = dir.join(file_name(op));
    let temporary = dir.join(format!("{}.partial", file_name(op)));
    {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, &path)?;
    let existing = list(data_dir)?;
    let excess = existing.len().saturating_sub(keep.max(1));
    for (_, old) in existing.into_iter().take(excess) {
        fs::remove_file(old)?;
    }
    fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

/// Removes snapshots at or after `op` (their checkpoint never became
/// durable) and leftover temporary files.
pub fn remove_orphans(data_dir: &Path, op: Op) -> EngineResult<()> {
    let dir = data_dir.join(SNAPSHOTS_DIR);
    if !dir.exists() {
        return Ok(());
    }
    let mut removed = false;
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let orphan = match parse_name(&name) {
            Some(at) => at >= op,
            None => name.ends_with(".partial"),
        };
        if orphan {
            tracing::warn!(file = %name, "removing a snapshot without a durable checkpoint");
            fs::remove_file(entry.path())?;
            removed = true;
        }
    }
    if removed {
        fs::File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_file_round_trips_and_any_flip_is_caught() {
        let bytes = encode(42, 1, b"sealed state bytes");
        let file = decode(&bytes).unwrap();
        assert_eq!((file.op, file.tenant), (42, 1));
        assert_eq!(file.envelope, b"sealed state bytes");
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(decode(&flipped).is_err(), "flip at {at}");
        }
        assert_eq!(parse_name(&file_name(42)), Some(42));
        assert_eq!(parse_name("42.ksnap"), None);
    }
}
