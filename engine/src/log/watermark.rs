//! # The durable watermark: which ops were acknowledged
//!
//! A frame that fails its CRC after a crash is either a torn write that was
//! never acknowledged (truncate it) or damage to a frame a client was told
//! is committed (refuse to start). The bytes of the frame cannot say which.
//! The watermark can: after every group commit's segment fsync, and before
//! anything is acknowledged, the log records `(op, hash of the frame at op)`
//! here and fsyncs it. Every op at or below the watermark may have been
//! acknowledged, so damage there is corruption; nothing above it was.
//!
//! ```text
//!  file "watermark": two 512-byte slots, written alternately
//!  slot  offset size field
//!        0      4    magic "KWMK"
//!        4      2    format_version 1
//!        6      2    reserved 0
//!        8      8    seq        higher seq = newer slot
//!        16     8    op         highest acknowledged-able op
//!        24     32   head_hash  SHA-256 of the stored frame at `op`
//!        56     4    epoch      nonce epoch of the current writer
//!        60     4    view       the replica's view (format 3)
//!        64     4    log_view   the view its log was last installed in
//!        68     4    crc32c     over bytes [0, 68)   (format 2: at 60, over [0, 60))
//! ```
//!
//! Two slots because a write can tear: the slot being written may be lost,
//! the other still holds the previous watermark, which is enough — nothing
//! above it was acknowledged, since acknowledgement waits for this write's
//! fsync. The hash pins the acknowledged history: a log rewritten to a
//! different but internally consistent chain does not match it.
//! Cost: one extra fsync per group commit (not per commit).
//!
//! The slot also carries the nonce **epoch** (see `crypto::envelope`): every
//! open writes the watermark with the epoch bumped and fsyncs it before
//! anything is sealed, so nonces of a rewritten op (after a truncated tail)
//! never repeat those of the lost one.
//!
//! And the replica's **view state** (see `kimberlite_consensus::vsr`): the
//! view it promised and the view its log was installed in, written with the
//! watermark (or alone, before the replica acts in a new view). Format 2
//! slots, from before the replica had views, read as view 0.

/// File name inside the log directory.
pub const WATERMARK_FILE: &str = "watermark";
/// Distance between the two slots (a sector each, so tearing one never
/// touches the other).
pub const SLOT_STRIDE_BYTES: u64 = 512;
/// Bytes of one slot.
pub const SLOT_BYTES: usize = 72;
/// Bytes of a format 2 slot.
const SLOT_BYTES_V2: usize = 64;
/// "KWMK" as a little-endian u32.
const MAGIC: u32 = 0x4B4D_574B;
const FORMAT_VERSION: u16 = 3;

/// One slot's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    pub seq: u64,
    pub op: u64,
    pub head_hash: [u8; 32],
    pub epoch: u32,
    pub view: u32,
    pub log_view: u32,
}

/// What reading the watermark file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkRead {
    /// No watermark file.
    Missing,
    /// The file exists but neither slot is valid.
    Damaged,
    /// The newest valid slot.
    Valid(Watermark),
}

impl Watermark {
    /// Offset of the slot this watermark is written to (by `seq` parity).
    pub fn slot_offset(&self) -> u64 {
        (self.seq % 2) * SLOT_STRIDE_BYTES
    }

    /// The slot bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SLOT_BYTES);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.op.to_le_bytes());
        out.extend_from_slice(&self.head_hash);
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.view.to_le_bytes());
        out.extend_from_slice(&self.log_view.to_le_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(out.len(), SLOT_BYTES, "watermark slot layout");
        out
    }

    /// Decodes one slot (None: unwritten, torn or damaged).
    pub fn decode(slot: &[u8]) -> Option<Watermark> {
        if slot.len() < SLOT_BYTES_V2 {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(slot[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(slot[at..at + 8].try_into().unwrap());
        let version = u16::from_le_bytes([slot[4], slot[5]]);
        let crc_at = match version {
            2 => 60,
            FORMAT_VERSION if slot.len() >= SLOT_BYTES => 68,
            _ => return None,
        };
        if u32_at(0) != MAGIC || crc32c::crc32c(&slot[..crc_at]) != u32_at(crc_at) {
            return None;
        }
        let (view, log_view) = if version == 2 {
            (0, 0)
        } else {
            (u32_at(60), u32_at(64))
        };
        let mut head_hash = [0u8; 32];
        head_hash.copy_from_slice(&slot[24..56]);
        Some(Watermark {
            seq: u64_at(8),
            op: u64_at(16),
            head_hash,
            epoch: u32_at(56),
            view,
            log_view,
        })
    }
}

/// Reads the newest valid slot out of the file's bytes.
pub fn read(file: Option<&[u8]>) -> WatermarkRead {
    let Some(bytes) = file else {
        return WatermarkRead::Missing;
    };
    let slot = |index: u64| {
        let start = (index * SLOT_STRIDE_BYTES) as usize;
        bytes.get(start..).and_then(Watermark::decode)
    };
    match (slot(0), slot(1)) {
        (Some(a), Some(b)) => WatermarkRead::Valid(if a.seq > b.seq { a } else { b }),
        (Some(only), None) | (None, Some(only)) => WatermarkRead::Valid(only),
        (None, None) => WatermarkRead::Damaged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(seq: u64, op: u64) -> Watermark {
        Watermark {
            seq,
            op,
            head_hash: [op as u8; 32],
            epoch: seq as u32,
            view: seq as u32 + 1,
            log_view: seq as u32,
        }
    }

    fn file(slots: &[Watermark]) -> Vec<u8> {
        let mut bytes = vec![0u8; 2 * SLOT_STRIDE_BYTES as usize];
        for slot in slots {
            let at = slot.slot_offset() as usize;
            let encoded = slot.encode();
            bytes[at..at + encoded.len()].copy_from_slice(&encoded);
        }
        bytes
    }

    #[test]
    fn newest_valid_slot_wins() {
        let bytes = file(&[mark(4, 10), mark(5, 12)]);
        assert_eq!(read(Some(&bytes)), WatermarkRead::Valid(mark(5, 12)));
    }

    #[test]
    fn torn_newest_slot_falls_back_to_the_previous_one() {
        let mut bytes = file(&[mark(4, 10), mark(5, 12)]);
        bytes[SLOT_STRIDE_BYTES as usize + 20] ^= 1;
        assert_eq!(read(Some(&bytes)), WatermarkRead::Valid(mark(4, 10)));
    }

    #[test]
    fn a_format_2_slot_reads_as_view_zero() {
        let mut slot = Vec::new();
        slot.extend_from_slice(&MAGIC.to_le_bytes());
        slot.extend_from_slice(&2u16.to_le_bytes());
        slot.extend_from_slice(&0u16.to_le_bytes());
        slot.extend_from_slice(&9u64.to_le_bytes());
        slot.extend_from_slice(&4u64.to_le_bytes());
        slot.extend_from_slice(&[7; 32]);
        slot.extend_from_slice(&3u32.to_le_bytes());
        let crc = crc32c::crc32c(&slot);
        slot.extend_from_slice(&crc.to_le_bytes());
        let mark = Watermark::decode(&slot).expect("format 2 decodes");
        assert_eq!((mark.seq, mark.op, mark.epoch), (9, 4, 3));
        assert_eq!((mark.view, mark.log_view), (0, 0));
    }

    #[test]
    fn both_slots_damaged_is_reported() {
        let mut bytes = file(&[mark(4, 10), mark(5, 12)]);
        bytes[3] ^= 1;
        bytes[SLOT_STRIDE_BYTES as usize + 3] ^= 1;
        assert_eq!(read(Some(&bytes)), WatermarkRead::Damaged);
        assert_eq!(read(None), WatermarkRead::Missing);
        assert_eq!(read(Some(&[])), WatermarkRead::Damaged);
    }
}
