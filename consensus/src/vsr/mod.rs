//! # Viewstamped Replication
//!
//! The replica of "Viewstamped Replication Revisited" (Liskov & Cowling,
//! 2012) in TigerBeetle's style: a pure state machine. Bytes from the
//! network go in through [`Replica::on_message`], time through
//! [`Replica::tick`], durability through [`Replica::on_flushed`]; what to
//! send and what committed come out in an [`Outbox`]. It never reads a
//! clock, spawns, sleeps or draws unseeded randomness, so the simulator
//! ([`crate::sim`]) can run a whole cluster in one thread from a seed and
//! the server can run a cluster of one through the same code.
//!
//! ```text
//!  client ──request──► primary ──prepare──► backups
//!                        │  ▲                  │ (persist, then)
//!                        │  └────prepare_ok────┘
//!                        │ quorum of durable prepare_oks
//!                        ▼
//!                   commit: apply, reply; heartbeat `commit` to backups
//!
//!  backup timeout ─► start_view_change(v+1) ─► quorum ─► do_view_change
//!                    ─► new primary picks max (log_view, op) ─► start_view
//! ```
//!
//! See `docs/design/0003-viewstamped-replication.md` for message fields, what is persisted before
//! which reply, and what is not handled yet.

pub mod client_table;
pub mod journal;
pub mod message;
mod replica;
pub mod variant;
mod view_change;

#[cfg(test)]
mod tests;

pub use journal::{Journal, Recovered, ViewState};
pub use message::{
    decode, encode, Address, Body, Checksum, Entry, Header, Message, ReplicaIndex, Suffix, View,
};
pub use replica::{Replica, ReplicaStats, Status};
pub use variant::{Correct, Variant};

use crate::Op;

/// What the replicated log drives: applied once per committed entry, in op
/// order, identically on every replica.
pub trait StateMachine {
    /// Applies a committed entry; the result is the client's reply.
    fn apply(&mut self, entry: &Entry) -> Vec<u8>;
    /// Answers a read-only request from local state, without the log. The
    /// correct protocol never calls this (reads go through the log to be
    /// linearizable); only the stale-read canary does.
    fn query(&self, _body: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Timeouts in ticks. The simulator and the server choose the tick length.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The primary's heartbeat (`commit`) interval.
    pub heartbeat: u64,
    /// How often the primary resends prepares a backup has not acknowledged.
    pub prepare_resend: u64,
    /// A backup that hears nothing from its primary this long starts a view
    /// change.
    pub normal: u64,
    /// A view change that has not finished this long moves to the next view.
    pub view_change: u64,
    /// How often a replica in a view change resends its messages.
    pub view_change_resend: u64,
    /// The random part (seeded) added to `normal` and `view_change`, so
    /// replicas do not time out in lockstep.
    pub jitter: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            heartbeat: 8,
            prepare_resend: 16,
            normal: 40,
            view_change: 60,
            view_change_resend: 10,
            jitter: 40,
        }
    }
}

/// The cluster a replica belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Messages naming another cluster are misaddressed.
    pub cluster: u64,
    /// 1, 3 or 5 (any odd count works; these are what we test).
    pub replica_count: u8,
    /// The most uncommitted entries the primary holds; requests beyond it
    /// are dropped (clients retry).
    pub pipeline_max: usize,
    /// Applied entries kept in memory beyond the newest, to repair lagging
    /// backups (a backup further behind needs state transfer, a later
    /// change). A cluster of one keeps none.
    pub log_retained: u64,
    pub timeouts: Timeouts,
}

impl Config {
    /// A cluster of `replica_count` with default timeouts.
    pub fn new(cluster: u64, replica_count: u8) -> Config {
        assert!(
            replica_count >= 1 && replica_count % 2 == 1,
            "odd replica count"
        );
        Config {
            cluster,
            replica_count,
            pipeline_max: 64,
            log_retained: u64::MAX,
            timeouts: Timeouts::default(),
        }
    }

    /// Replicas needed for a commit and for a view change: a majority.
    pub fn quorum(&self) -> usize {
        self.replica_count as usize / 2 + 1
    }

    /// The primary of `view`.
    pub fn primary(&self, view: View) -> ReplicaIndex {
        (view % self.replica_count as u32) as ReplicaIndex
    }
}

/// One committed entry, as the replica applied it.
#[derive(Debug, Clone)]
pub struct Committed {
    pub entry: Entry,
    pub result: Vec<u8>,
}

/// What a call into the replica produced.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Messages to send (already addressed).
    pub messages: Vec<Message>,
    /// Entries committed by this call, in op order.
    pub commits: Vec<Committed>,
}

impl Outbox {
    /// Whether the call produced nothing.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.commits.is_empty()
    }

    /// The highest op committed by this call.
    pub fn last_commit(&self) -> Option<Op> {
        self.commits.last().map(|c| c.entry.header.op)
    }
}
