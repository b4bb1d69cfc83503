//! # Replication boundary
//!
//! Kimberlite's one principle is that every state change is an entry in a
//! single, ordered, replicated log. This crate owns the *ordering* half of
//! that sentence: it assigns op numbers and decides when an entry is
//! committed. It replicates opaque bytes and depends on nothing else of ours.
//!
//! ```text
//!   engine (commit path)                    consensus                 engine log
//!   ───────────────────                     ─────────                 ──────────
//!   propose(entry body) ──► assign op = last + 1 ──► LogStorage::append (buffered)
//!                           flusher thread ───────► LogStorage::sync   (fsync, many ops)
//!   wait_committed(op)  ◄── commit watermark advanced to the synced op
//! ```
//!
//! The storage trait, [`LogStorage`], is implemented by the engine's log, so
//! an entry is written exactly once: the frame that is stored is the frame
//! that replication ships.
//!
//! Today the only replica is [`SoloReplica`], a cluster of one: an op is
//! committed when it is durable on the local disk. Many concurrent proposals
//! share one fsync (group commit) because the flusher syncs everything that
//! was appended while the previous sync ran. The Viewstamped Replication
//! replica (a later change) keeps this boundary: `propose` becomes a prepare
//! and commit waits for a quorum of prepare_oks.
//!
//! Left out on purpose: view changes, client sessions, state transfer. None
//! of them exists for a cluster of one.

pub mod sim;
mod solo;
pub mod vsr;

pub use solo::{SoloReplica, SoloStats};

/// An op number: the position of an entry in the one global log. Dense and
/// strictly increasing from 1; 0 means "nothing yet".
pub type Op = u64;

/// What a proposal carries besides its body. The replication layer fills in
/// the op number and view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// Assigned by the replica.
    pub op: Op,
    /// The view in which the entry was prepared (always 0 for a solo replica).
    pub view: u32,
    /// Wall-clock time of the proposal in nanoseconds since the Unix epoch,
    /// injected by the caller (the replica reads no clock).
    pub timestamp_ns: u64,
    /// The database (tenant) the entry belongs to.
    pub tenant: u32,
    /// The entry kind, opaque to consensus.
    pub kind: u8,
}

/// Errors the replicated log's storage can report. Any of them stops the
/// commit path: an entry that may or may not be durable cannot be
/// acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The entry cannot be stored (e.g. larger than a frame may be).
    #[error("entry rejected by storage: {0}")]
    Rejected(String),
    /// The disk failed; durability is unknown.
    #[error("log i/o failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Errors a proposal can meet.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// Storage refused or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The replica is shutting down or a previous sync failed; nothing more
    /// will be committed.
    #[error("replica is not accepting proposals: {0}")]
    Stopped(String),
}

/// The storage a replica writes its log into. Implemented by the engine's
/// segmented log; a simulated implementation will drive the simulator.
///
/// Invariants the implementation upholds:
/// - `append` is called with ops `last_op() + 1, +2, …`, never out of order;
/// - `sync` returns only when every entry appended before the call is durable,
///   and returns the highest durable op;
/// - entries are never reordered or dropped once `sync` covered them.
pub trait LogStorage: Send + Sync + 'static {
    /// Buffers one entry. Not durable until a later `sync` returns.
    fn append(&self, meta: &EntryMeta, body: &[u8]) -> Result<(), StorageError>;
    /// Makes all appended entries durable; returns the highest durable op.
    fn sync(&self) -> Result<Op, StorageError>;
    /// The highest op appended so far (durable or not).
    fn last_op(&self) -> Op;
}
