//! # The log: segments of hash-chained frames
//!
//! Every state change is a frame in one ordered log (see [`frame`] for the
//! layout). Frames are appended to segment files named by the first op they
//! hold (`00000000000000000001.klog`); a segment rotates once it passes
//! `segment_bytes_max`.
//!
//! ## Group commit
//!
//! [`Log::append`] only encodes the frame and queues it in memory. The
//! replica's flusher calls [`Log::sync`], which writes everything queued and
//! fsyncs once: all commits that arrived while the previous fsync ran share
//! the next one. Nothing is acknowledged before the sync that covers it.
//!
//! ## Recovery
//!
//! [`Log::open`] reads every segment in order and checks each frame's CRC,
//! op continuity and `prev_hash`. The decision table (also in
//! `docs/design/0002-recovery-decisions.md`):
//!
//! | where the first bad frame is                          | decision          |
//! |-------------------------------------------------------|-------------------|
//! | last segment, nothing valid after it (torn tail)      | truncate, warn    |
//! | last segment, a valid later frame follows             | refuse to start   |
//! | an earlier segment                                    | refuse to start   |
//! | CRC fine but op or `prev_hash` does not continue      | refuse to start   |
//!
//! A torn tail can only hold frames that were never fsynced, hence never
//! acknowledged; anything else is damage to acknowledged data, and guessing
//! would silently drop a commit.

pub mod frame;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kimberlite_consensus::{EntryMeta, LogStorage, Op, StorageError};
use parking_lot::Mutex;

use crate::error::{EngineError, EngineResult};
use frame::{FrameHeader, FrameKind};

/// Default size at which a segment rotates.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;
const SEGMENT_SUFFIX: &str = "klog";

/// Log configuration.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub dir: PathBuf,
    pub segment_bytes_max: u64,
}

/// What recovery found, for logging and tests.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    pub frames: u64,
    pub segments: usize,
    /// Bytes cut from a torn tail, if any.
    pub truncated_bytes: u64,
}

struct Pending {
    frames: Vec<(Op, Vec<u8>)>,
    last_hash: [u8; 32],
}

struct Writer {
    file: File,
    segment_bytes: u64,
    durable_op: Op,
}

/// The segmented, hash-chained log. Implements the consensus storage trait.
///
/// Invariants: frames reach disk in op order; `durable_op` never exceeds
/// `last_op`; the frame queued for op n carries the hash of the frame for
/// op n-1.
pub struct Log {
    config: LogConfig,
    pending: Mutex<Pending>,
    writer: Mutex<Writer>,
    last_op: AtomicU64,
    bytes_written: AtomicU64,
}

fn segment_path(dir: &Path, first_op: Op) -> PathBuf {
    dir.join(format!("{first_op:020}.{SEGMENT_SUFFIX}"))
}

fn list_segments(dir: &Path) -> EngineResult<Vec<(Op, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_SUFFIX) {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let first_op: Op = stem.parse().map_err(|_| {
            EngineError::Corrupted(format!(
                "unexpected file in log directory: {}",
                path.display()
            ))
        })?;
        segments.push((first_op, path));
    }
    segments.sort();
    Ok(segments)
}

fn fsync_dir(dir: &Path) -> EngineResult<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

impl Log {
    /// Opens (or creates) the log in `config.dir`, recovering it and calling
    /// `on_frame` for every valid frame in op order.
    pub fn open(
        config: LogConfig,
        mut on_frame: impl FnMut(&FrameHeader, &[u8]) -> EngineResult<()>,
    ) -> EngineResult<(Log, RecoveryReport)> {
        fs::create_dir_all(&config.dir)?;
        let segments = list_segments(&config.dir)?;
        let mut report = RecoveryReport {
            segments: segments.len(),
            ..Default::default()
        };
        let mut last_op: Op = 0;
        let mut last_hash = [0u8; 32];
        let mut tail: Option<(PathBuf, u64)> = None;

        for (index, (first_op, path)) in segments.iter().enumerate() {
            let is_last = index + 1 == segments.len();
            let mut bytes = Vec::new();
            File::open(path)?.read_to_end(&mut bytes)?;
            if !bytes.is_empty() && *first_op != last_op + 1 {
                return Err(EngineError::Corrupted(format!(
                    "segment {} starts at op {first_op}, expected op {}",
                    path.display(),
                    last_op + 1
                )));
            }
            let mut offset = 0usize;
            while offset < bytes.len() {
                match frame::decode(&bytes[offset..]) {
                    Ok((header, len)) => {
                        let stored = &bytes[offset..offset + len];
                        if header.op != last_op + 1 || header.prev_hash != last_hash {
                            return Err(EngineError::Corrupted(format!(
                                "hash chain broken in segment {} at offset {offset}: frame op {} \
                                 does not continue op {last_op}",
                                path.display(),
                                header.op
                            )));
                        }
                        on_frame(&header, frame::payload(stored))?;
                        last_hash = frame::hash(stored);
                        last_op = header.op;
                        report.frames += 1;
                        offset += len;
                    }
                    Err(error) => {
                        let damage_followed_by_data = (offset + 1..bytes.len())
                            .any(|at| matches!(frame::decode(&bytes[at..]), Ok((h, _)) if h.op > last_op));
                        if !is_last || damage_followed_by_data {
                            return Err(EngineError::Corrupted(format!(
                                "damaged frame ({error:?}) in segment {} at offset {offset}, \
                                 expected op {}; acknowledged data follows, refusing to start",
                                path.display(),
                                last_op + 1
                            )));
                        }
                        let cut = (bytes.len() - offset) as u64;
                        tracing::warn!(
                            segment = %path.display(),
                            offset,
                            bytes = cut,
                            "truncating torn, never-acknowledged log tail"
                        );
                        report.truncated_bytes = cut;
                        let file = OpenOptions::new().write(true).open(path)?;
                        file.set_len(offset as u64)?;
                        file.sync_all()?;
                        break;
                    }
                }
            }
            if is_last {
                tail = Some((path.clone(), (offset as u64).min(bytes.len() as u64)));
            }
        }

        let (path, segment_bytes) = match tail {
            Some(tail) => tail,
            None => {
                let path = segment_path(&config.dir, last_op + 1);
                File::create(&path)?.sync_all()?;
                fsync_dir(&config.dir)?;
                (path, 0)
            }
        };
        let file = OpenOptions::new().append(true).open(&path)?;
        let log = Log {
            config,
            pending: Mutex::new(Pending {
                frames: Vec::new(),
                last_hash,
            }),
            writer: Mutex::new(Writer {
                file,
                segment_bytes,
                durable_op: last_op,
            }),
            last_op: AtomicU64::new(last_op),
            bytes_written: AtomicU64::new(0),
        };
        Ok((log, report))
    }

    /// Bytes written to segments since open.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// The hash of the newest frame (the chain head).
    pub fn head_hash(&self) -> [u8; 32] {
        self.pending.lock().last_hash
    }
}

impl LogStorage for Log {
    fn append(&self, meta: &EntryMeta, body: &[u8]) -> Result<(), StorageError> {
        if body.len() > frame::FRAME_PAYLOAD_BYTES_MAX {
            return Err(StorageError::Rejected(format!(
                "frame payload of {} bytes exceeds {}",
                body.len(),
                frame::FRAME_PAYLOAD_BYTES_MAX
            )));
        }
        let kind = FrameKind::from_u8(meta.kind)
            .ok_or_else(|| StorageError::Rejected(format!("unknown frame kind {}", meta.kind)))?;
        let mut pending = self.pending.lock();
        let expected = self.last_op.load(Ordering::Acquire) + 1;
        assert_eq!(meta.op, expected, "log append out of order");
        let header = FrameHeader {
            kind,
            op: meta.op,
            view: meta.view,
            tenant: meta.tenant,
            timestamp_ns: meta.timestamp_ns,
            payload_len: body.len() as u32,
            prev_hash: pending.last_hash,
        };
        let bytes = frame::encode(&header, body);
        pending.last_hash = frame::hash(&bytes);
        pending.frames.push((meta.op, bytes));
        self.last_op.store(meta.op, Ordering::Release);
        Ok(())
    }

    fn sync(&self) -> Result<Op, StorageError> {
        let mut writer = self.writer.lock();
        let frames = std::mem::take(&mut self.pending.lock().frames);
        let Some(&(last, _)) = frames.last() else {
            return Ok(writer.durable_op);
        };
        let mut batch: Vec<u8> = Vec::new();
        for (op, bytes) in frames {
            if writer.segment_bytes > 0
                && writer.segment_bytes + batch.len() as u64 >= self.config.segment_bytes_max
            {
                writer.file.write_all(&batch)?;
                writer.file.sync_data()?;
                batch.clear();
                let path = segment_path(&self.config.dir, op);
                writer.file = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(&path)?;
                fsync_dir(&self.config.dir).map_err(|e| match e {
                    EngineError::Io(io) => StorageError::Io(io),
                    other => StorageError::Rejected(other.to_string()),
                })?;
                writer.segment_bytes = 0;
            }
            writer.segment_bytes += bytes.len() as u64;
            self.bytes_written
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            batch.extend_from_slice(&bytes);
        }
        writer.file.write_all(&batch)?;
        writer.file.sync_data()?;
        writer.durable_op = last;
        Ok(last)
    }

    fn last_op(&self) -> Op {
        self.last_op.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests;
