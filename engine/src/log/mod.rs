//! # The log: segments of hash-chained frames
//!
//! Every state change is a frame in one ordered log (see [`frame`] for the
//! layout). Frames are appended to segment files named by the first op they
//! hold (`00000000000000000001.klog`); a segment rotates once it passes
//! `segment_bytes_max`. All file access goes through [`storage::Storage`],
//! so the crash tests can run the same code on a disk that forgets unsynced
//! writes ([`sim::SimStorage`]).
//!
//! ## Group commit
//!
//! [`Log::append`] only encodes the frame and queues it in memory. The
//! replica's flusher calls [`Log::sync`], which writes everything queued,
//! fsyncs the segment once, then records the new durable watermark and
//! fsyncs that: all commits that arrived while the previous sync ran share
//! the next one. Nothing is acknowledged before `sync` returns.
//!
//! ```text
//!   append ─► pending ──sync──► write segment ─► fsync ─► write watermark ─► fsync ─► ack
//! ```
//!
//! ## Recovery
//!
//! [`Log::open`] reads the watermark, scans every segment in order checking
//! each frame's CRC, op continuity and `prev_hash`, and lets
//! [`recovery::decide`] choose: open, truncate a never-acknowledged tail, or
//! refuse to start naming segment, offset and op.

pub mod frame;
pub mod recovery;
pub mod sim;
pub mod storage;
pub mod watermark;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kimberlite_consensus::{EntryMeta, LogStorage, Op, StorageError};
use parking_lot::Mutex;

use crate::error::{EngineError, EngineResult};
use frame::{FrameHeader, FrameKind};
use recovery::{Damage, Decision, ScanEnd};
use storage::Storage;
use watermark::{Watermark, WatermarkRead, WATERMARK_FILE};

/// Default size at which a segment rotates.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;
const SEGMENT_SUFFIX: &str = ".klog";

/// Log configuration.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub segment_bytes_max: u64,
}

/// What recovery found, for logging and tests.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    pub frames: u64,
    pub segments: usize,
    /// The acknowledged-op watermark found on disk.
    pub watermark_op: Op,
    /// Bytes cut from a never-acknowledged tail, if any.
    pub truncated_bytes: u64,
    /// Why the tail was cut (segment, offset, op, damage).
    pub truncated_at: Option<String>,
}

struct Pending {
    frames: Vec<(Op, Vec<u8>)>,
    last_hash: [u8; 32],
}

struct Writer {
    segment: String,
    segment_bytes: u64,
    durable_op: Op,
    watermark: Watermark,
}

/// The segmented, hash-chained log. Implements the consensus storage trait.
///
/// Invariants: frames reach disk in op order; `durable_op` never exceeds
/// `last_op`; the frame queued for op n carries the hash of the frame for
/// op n-1; the watermark on disk never exceeds the ops fsynced in segments,
/// and `sync` returns only after the watermark covering its ops is durable.
pub struct Log {
    config: LogConfig,
    storage: Arc<dyn Storage>,
    pending: Mutex<Pending>,
    writer: Mutex<Writer>,
    last_op: AtomicU64,
    bytes_written: AtomicU64,
    fsyncs: AtomicU64,
}

fn segment_name(first_op: Op) -> String {
    format!("{first_op:020}{SEGMENT_SUFFIX}")
}

/// The segments in the directory, by first op. Unknown `.klog` names refuse.
pub fn list_segments(storage: &dyn Storage) -> EngineResult<Vec<(Op, String)>> {
    let mut segments = Vec::new();
    for name in storage.list()? {
        let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
            continue;
        };
        let first_op: Op = stem.parse().map_err(|_| {
            EngineError::Corrupted(format!(
                "unexpected file {name} in log directory {}",
                storage.describe()
            ))
        })?;
        segments.push((first_op, name));
    }
    segments.sort();
    Ok(segments)
}

fn io_error(error: std::io::Error) -> StorageError {
    StorageError::Io(error)
}

/// Where the scan stopped, for messages and truncation.
struct StopPoint {
    segment_index: usize,
    segment: String,
    offset: u64,
}

impl Log {
    /// Opens (or creates) the log on `storage`, recovering it and calling
    /// `on_frame` for every valid frame in op order.
    pub fn open(
        config: LogConfig,
        storage: Arc<dyn Storage>,
        mut on_frame: impl FnMut(&FrameHeader, &[u8]) -> EngineResult<()>,
    ) -> EngineResult<(Log, RecoveryReport)> {
        let segments = list_segments(storage.as_ref())?;
        let names = storage.list()?;
        let watermark_bytes = if names.iter().any(|n| n == WATERMARK_FILE) {
            Some(storage.read(WATERMARK_FILE)?)
        } else {
            None
        };
        let watermark = watermark::read(watermark_bytes.as_deref());
        let mark = match watermark {
            WatermarkRead::Valid(mark) => Some(mark),
            _ => None,
        };
        let mut report = RecoveryReport {
            segments: segments.len(),
            watermark_op: mark.map(|m| m.op).unwrap_or(0),
            ..Default::default()
        };
        let mut has_frames = false;
        let mut last_op: Op = 0;
        let mut last_hash = [0u8; 32];
        let mut end = ScanEnd::Clean { last_op: 0 };
        let mut stop: Option<StopPoint> = None;

        'segments: for (index, (first_op, name)) in segments.iter().enumerate() {
            let bytes = storage.read(name)?;
            has_frames |= !bytes.is_empty();
            let stop_here = |offset: usize| StopPoint {
                segment_index: index,
                segment: name.clone(),
                offset: offset as u64,
            };
            if !bytes.is_empty() && *first_op != last_op + 1 {
                end = ScanEnd::Bad {
                    op: last_op + 1,
                    damage: Damage::SegmentGap,
                };
                stop = Some(stop_here(0));
                break;
            }
            let mut offset = 0usize;
            while offset < bytes.len() {
                // Decode, CRC and hash each frame once: replay is hot.
                let checked = match frame::decode(&bytes[offset..]) {
                    Err(error) => Err(Damage::Frame(error)),
                    Ok((header, _))
                        if header.op != last_op + 1 || header.prev_hash != last_hash =>
                    {
                        Err(Damage::ChainBreak)
                    }
                    Ok((header, len)) => {
                        let hash = frame::hash(&bytes[offset..offset + len]);
                        match mark {
                            Some(m) if m.op == header.op && m.head_hash != hash => {
                                Err(Damage::HeadMismatch)
                            }
                            _ => Ok((header, len, hash)),
                        }
                    }
                };
                let (header, len, hash) = match checked {
                    Ok(frame) => frame,
                    Err(damage) => {
                        end = ScanEnd::Bad {
                            op: last_op + 1,
                            damage,
                        };
                        stop = Some(stop_here(offset));
                        break 'segments;
                    }
                };
                let stored = &bytes[offset..offset + len];
                on_frame(&header, frame::payload(stored))?;
                last_hash = hash;
                last_op = header.op;
                report.frames += 1;
                offset += len;
            }
            end = ScanEnd::Clean { last_op };
        }

        let decision = recovery::decide(watermark, has_frames, &end);
        let describe_stop = |stop: &Option<StopPoint>| match (stop, &end) {
            (Some(s), ScanEnd::Bad { op, damage }) => format!(
                "segment {} in {} at offset {}, op {op} ({damage:?})",
                s.segment,
                storage.describe(),
                s.offset
            ),
            _ => format!("log in {} ends at op {last_op}", storage.describe()),
        };
        let mut watermark_next = mark;
        match decision {
            Decision::Refuse(why) => {
                return Err(EngineError::Corrupted(format!(
                    "refusing to start: {}; acknowledged watermark op {}, {}",
                    why.explain(),
                    report.watermark_op,
                    describe_stop(&stop)
                )));
            }
            Decision::Fresh => {
                let first = Watermark {
                    seq: 1,
                    op: 0,
                    head_hash: [0; 32],
                    epoch: 0,
                    view: 0,
                    log_view: 0,
                };
                if !names.iter().any(|n| n == WATERMARK_FILE) {
                    storage.create(WATERMARK_FILE)?;
                }
                storage.write_at(WATERMARK_FILE, first.slot_offset(), &first.encode())?;
                storage.sync(WATERMARK_FILE)?;
                storage.sync_dir()?;
                watermark_next = Some(first);
            }
            Decision::TruncateTail => {
                let point = stop.as_ref().expect("a bad scan has a stop point");
                let message = describe_stop(&stop);
                let mut cut = 0u64;
                for (index, (_, name)) in segments.iter().enumerate().skip(point.segment_index) {
                    let len = storage.read(name)?.len() as u64;
                    if index == point.segment_index && point.offset > 0 {
                        cut += len - point.offset;
                        storage.truncate(name, point.offset)?;
                        storage.sync(name)?;
                    } else {
                        cut += len;
                        storage.remove(name)?;
                    }
                }
                storage.sync_dir()?;
                tracing::warn!(at = %message, bytes = cut, "truncated a torn, never-acknowledged log tail");
                report.truncated_bytes = cut;
                report.truncated_at = Some(message);
            }
            Decision::Open => {}
        }

        let mut segments = list_segments(storage.as_ref())?;
        // An empty tail segment must be named for the next op (a leftover
        // from a rotation cut short is not).
        if let Some((first_op, name)) = segments.last().cloned() {
            if first_op != last_op + 1 && storage.read(&name)?.is_empty() {
                storage.remove(&name)?;
                storage.sync_dir()?;
                segments.pop();
            }
        }
        let (segment, segment_bytes) = match segments.last() {
            Some((_, name)) => (name.clone(), storage.read(name)?.len() as u64),
            None => {
                let name = segment_name(last_op + 1);
                storage.create(&name)?;
                storage.sync(&name)?;
                storage.sync_dir()?;
                (name, 0)
            }
        };
        let previous = watermark_next.expect("every non-refused decision has a watermark");
        // Always rewrite the watermark at open: it raises the op over durable
        // but never-acknowledged frames (served from now on) and bumps the
        // nonce epoch, durably, before anything new is sealed.
        let watermark_now = Watermark {
            seq: previous.seq + 1,
            op: last_op,
            head_hash: last_hash,
            epoch: previous.epoch + 1,
            view: previous.view,
            log_view: previous.log_view,
        };
        storage.write_at(
            WATERMARK_FILE,
            watermark_now.slot_offset(),
            &watermark_now.encode(),
        )?;
        storage.sync(WATERMARK_FILE)?;
        assert!(
            watermark_now.op == last_op,
            "watermark must equal the recovered head"
        );
        let log = Log {
            config,
            storage,
            pending: Mutex::new(Pending {
                frames: Vec::new(),
                last_hash,
            }),
            writer: Mutex::new(Writer {
                segment,
                segment_bytes,
                durable_op: last_op,
                watermark: watermark_now,
            }),
            last_op: AtomicU64::new(last_op),
            bytes_written: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
        };
        Ok((log, report))
    }

    /// Bytes written to segments since open.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// fsyncs issued since open (segments and watermark).
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// The hash of the newest frame (the chain head).
    pub fn head_hash(&self) -> [u8; 32] {
        self.pending.lock().last_hash
    }

    /// The nonce epoch of this open: durable, and larger than every earlier
    /// open's.
    pub fn epoch(&self) -> u32 {
        self.writer.lock().watermark.epoch
    }

    /// The highest op whose watermark is durable: every acknowledged op is
    /// at or below it.
    pub fn durable_op(&self) -> Op {
        self.writer.lock().durable_op
    }

    fn fsync(&self, name: &str) -> Result<(), StorageError> {
        self.storage.sync(name).map_err(io_error)?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
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
        // Frames and the hash of the newest one, taken together.
        let (frames, head_hash) = {
            let mut pending = self.pending.lock();
            (std::mem::take(&mut pending.frames), pending.last_hash)
        };
        let Some(&(last, _)) = frames.last() else {
            return Ok(writer.durable_op);
        };
        let mut batch: Vec<u8> = Vec::new();
        for (op, bytes) in frames {
            // `segment_bytes` counts the batch not yet written, too.
            if writer.segment_bytes >= self.config.segment_bytes_max {
                let at = writer.segment_bytes - batch.len() as u64;
                self.storage
                    .write_at(&writer.segment, at, &batch)
                    .map_err(io_error)?;
                self.fsync(&writer.segment)?;
                batch.clear();
                let name = segment_name(op);
                self.storage.create(&name).map_err(io_error)?;
                self.storage.sync_dir().map_err(io_error)?;
                writer.segment = name;
                writer.segment_bytes = 0;
            }
            writer.segment_bytes += bytes.len() as u64;
            self.bytes_written
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            batch.extend_from_slice(&bytes);
        }
        let at = writer.segment_bytes - batch.len() as u64;
        self.storage
            .write_at(&writer.segment, at, &batch)
            .map_err(io_error)?;
        self.fsync(&writer.segment)?;
        // Only now may these ops be acknowledged: record that durably.
        let next = Watermark {
            seq: writer.watermark.seq + 1,
            op: last,
            head_hash,
            epoch: writer.watermark.epoch,
            view: writer.watermark.view,
            log_view: writer.watermark.log_view,
        };
        self.storage
            .write_at(WATERMARK_FILE, next.slot_offset(), &next.encode())
            .map_err(io_error)?;
        self.fsync(WATERMARK_FILE)?;
        writer.watermark = next;
        writer.durable_op = last;
        Ok(last)
    }

    fn last_op(&self) -> Op {
        self.last_op.load(Ordering::Acquire)
    }

    fn head_hash(&self) -> [u8; 32] {
        Log::head_hash(self)
    }

    fn view_state(&self) -> (u32, u32) {
        let writer = self.writer.lock();
        (writer.watermark.view, writer.watermark.log_view)
    }

    /// A new watermark slot with the same op and the new view state,
    /// fsynced before returning.
    fn write_view_state(&self, view: u32, log_view: u32) -> Result<(), StorageError> {
        let mut writer = self.writer.lock();
        let next = Watermark {
            seq: writer.watermark.seq + 1,
            view,
            log_view,
            ..writer.watermark
        };
        self.storage
            .write_at(WATERMARK_FILE, next.slot_offset(), &next.encode())
            .map_err(io_error)?;
        self.fsync(WATERMARK_FILE)?;
        writer.watermark = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
