//! # Replication: Viewstamped Replication for the one log
//!
//! Kimberlite's one principle is that every state change is an entry in a
//! single, ordered, replicated log. This crate owns the *ordering* half of
//! that sentence: it assigns op numbers and decides when an entry is
//! committed. It replicates opaque bytes and depends on nothing else of ours.
//!
//! - [`vsr`]: the replica, a pure state machine implementing Viewstamped
//!   Replication (normal operation, view change, restart, client table).
//! - [`sim`]: the deterministic simulator that runs whole clusters of it
//!   under faults and checks its invariants (the `vopr` binary).
//! - [`LocalReplica`]: the server's environment for a cluster of one — the
//!   same replica, with the engine's log as its journal and a group-commit
//!   thread.
//!
//! ```text
//!   engine (commit path)                    consensus                    engine log
//!   ───────────────────                     ─────────                    ──────────
//!   propose(entry body) ──► Replica::propose (op = last + 1) ──► LogStorage::append (buffered)
//!                           flusher thread ──────────────────► LogStorage::sync   (fsync, many ops)
//!   wait_committed(op)  ◄── Replica::on_flushed: a quorum (of one) holds it durably
//! ```
//!
//! The storage trait, [`LogStorage`], is implemented by the engine's log, so
//! an entry is written exactly once: the frame that is stored is the frame
//! that replication ships.
//!
//! Not here yet: the multi-process cluster (a network transport and the
//! engine applying commits from the log), storage-fault recovery, state
//! transfer and reconfiguration (see docs/design/0003-viewstamped-replication.md).

mod local;
pub mod sim;
pub mod vsr;

pub use local::{LocalReplica, LocalStats};

/// An op number: the position of an entry in the one global log. Dense and
/// strictly increasing from 1; 0 means "nothing yet".
pub type Op = u64;

/// What a proposal carries besides its body. The replication layer fills in
/// the op number and view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    /// Assigned by the replica.
    pub op: Op,
    /// The view in which the entry was prepared.
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

/// The storage a [`LocalReplica`] writes its log into. Implemented by the
/// engine's segmented log. (The simulator's replicas use
/// [`vsr::Journal`] directly.)
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
    /// The storage's own hash of its newest entry (a restarted replica
    /// chains new entries from it).
    fn head_hash(&self) -> [u8; 32];
    /// The durable (view, log view) of the replica.
    fn view_state(&self) -> (u32, u32);
    /// Makes a new (view, log view) durable before returning.
    fn write_view_state(&self, view: u32, log_view: u32) -> Result<(), StorageError>;
}
