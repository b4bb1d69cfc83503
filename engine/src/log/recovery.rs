//! # Recovery decisions
//!
//! [`super::Log::open`] scans the segments and stops at the first frame that
//! is not what it should be; [`decide`] then chooses what to do from two
//! facts only: the durable watermark (see [`super::watermark`]) and where
//! the scan stopped. The whole table (also in
//! `docs/design/0002-recovery-decisions.md`, and enumerated by the tests in
//! `log/tests.rs`):
//!
//! | watermark      | frames on disk | scan stopped at                         | decision                    |
//! |----------------|----------------|-----------------------------------------|-----------------------------|
//! | missing        | none           | —                                       | fresh log                   |
//! | missing        | some           | —                                       | refuse: watermark missing   |
//! | damaged        | any            | —                                       | refuse: watermark damaged   |
//! | valid, op W    | —              | clean end, last op ≥ W                  | open (raise watermark)      |
//! | valid, op W    | —              | clean end, last op < W                  | refuse: acked ops missing   |
//! | valid, op W    | —              | frame W, hash ≠ watermark's head hash   | refuse: history rewritten   |
//! | valid, op W    | —              | bad frame / chain break / gap at op ≤ W | refuse: acked frame damaged |
//! | valid, op W    | —              | bad frame / chain break / gap at op > W | truncate there, warn        |
//!
//! Why it is safe: a commit is acknowledged only after the fsync of the
//! watermark that covers it, so ops above the watermark were never
//! acknowledged and may be cut; ops at or below it may have been, so any
//! doubt about them stops the server — guessing would silently drop a
//! commit. A damaged watermark is never guessed around either: with both
//! slots gone we cannot tell torn from damaged anywhere.

use kimberlite_consensus::Op;

use super::frame::FrameError;
use super::watermark::WatermarkRead;

/// Why the scan stopped before the end of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The bytes are not a valid frame (torn, flipped, zeroed).
    Frame(FrameError),
    /// A valid frame whose op or `prev_hash` does not continue the chain.
    ChainBreak,
    /// A segment whose name does not continue the op sequence.
    SegmentGap,
    /// The frame at the watermark's op is valid but not the one the
    /// watermark recorded.
    HeadMismatch,
}

/// Where the scan of the segments ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte decoded into a continuous chain ending at `last_op`.
    Clean { last_op: Op },
    /// The frame that should hold `op` is bad.
    Bad { op: Op, damage: Damage },
}

/// Why recovery refuses to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WatermarkMissing,
    WatermarkDamaged,
    AcknowledgedOpsMissing,
    HistoryRewritten,
    AcknowledgedFrameDamaged,
}

/// What recovery does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An empty log: write the first watermark.
    Fresh,
    /// Serve the log as scanned.
    Open,
    /// Cut the log where the scan stopped (never-acknowledged bytes).
    TruncateTail,
    /// Do not start.
    Refuse(Refusal),
}

/// The decision table. `has_frames`: whether any segment holds a byte.
pub fn decide(watermark: WatermarkRead, has_frames: bool, end: &ScanEnd) -> Decision {
    let mark = match (watermark, has_frames) {
        (WatermarkRead::Missing, false) => return Decision::Fresh,
        (WatermarkRead::Missing, true) => return Decision::Refuse(Refusal::WatermarkMissing),
        (WatermarkRead::Damaged, _) => return Decision::Refuse(Refusal::WatermarkDamaged),
        (WatermarkRead::Valid(mark), _) => mark,
    };
    match end {
        ScanEnd::Clean { last_op } if *last_op >= mark.op => Decision::Open,
        ScanEnd::Clean { .. } => Decision::Refuse(Refusal::AcknowledgedOpsMissing),
        ScanEnd::Bad {
            damage: Damage::HeadMismatch,
            ..
        } => Decision::Refuse(Refusal::HistoryRewritten),
        ScanEnd::Bad { op, .. } if *op <= mark.op => {
            Decision::Refuse(Refusal::AcknowledgedFrameDamaged)
        }
        ScanEnd::Bad { .. } => Decision::TruncateTail,
    }
}

impl Refusal {
    /// The operator-facing explanation.
    pub fn explain(&self) -> &'static str {
        match self {
            Refusal::WatermarkMissing => {
                "the log holds frames but its watermark file is missing, so acknowledged \
                 commits cannot be told from torn writes"
            }
            Refusal::WatermarkDamaged => {
                "both slots of the watermark file are damaged, so acknowledged commits \
                 cannot be told from torn writes"
            }
            Refusal::AcknowledgedOpsMissing => "the log ends before the last acknowledged op",
            Refusal::HistoryRewritten => {
                "the frame at the watermark is not the one that was acknowledged \
                 (the log was rewritten)"
            }
            Refusal::AcknowledgedFrameDamaged => "an acknowledged frame is damaged",
        }
    }
}
