//! What a replica persists, and the promise behind each write.
//!
//! A replica writes two things: log entries and its view state (the view it
//! promised, and the view it was last normal in). Writes are buffered: the
//! environment makes them durable (one fsync for many — group commit) and
//! then calls [`Replica::on_flushed`](super::Replica::on_flushed). The
//! replica sends nothing that depends on a write before that call: a
//! `prepare_ok` names only durable entries, a `do_view_change` only a
//! durable view.
//!
//! Contract of an implementation:
//! - writes become durable in the order they were issued, and a crash
//!   keeps a prefix of them (the simulator keeps exactly the flushed ones);
//! - `truncate` followed by `append`s is never seen half-done by `recover`
//!   beyond that prefix rule;
//! - a view state set before a flush starts is durable when that flush is
//!   reported (implementations that cannot group it write it synchronously).

use super::message::{Entry, View};
use crate::Op;

/// The durable view state (TigerBeetle calls its home the superblock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViewState {
    /// The highest view this replica took part in: it never acts in a
    /// lower one again.
    pub view: View,
    /// The view in which its log was last installed (normal status).
    pub log_view: View,
}

/// What a restarting replica starts from.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub view_state: ViewState,
    /// The entry the others chain from, when the journal does not start at
    /// op 1 (its entries before are applied and not kept); `None`: the
    /// cluster's root.
    pub base: Option<Entry>,
    /// The durable entries after the base, dense.
    pub entries: Vec<Entry>,
}

/// Durable storage of one replica.
pub trait Journal {
    /// Buffers `entry` right after the current last entry.
    fn append(&mut self, entry: &Entry);
    /// Buffers the removal of every entry above `op`.
    fn truncate(&mut self, op: Op);
    /// Buffers a new view state.
    fn set_view(&mut self, state: ViewState);
    /// What is durable now.
    fn recover(&self) -> Recovered;
}
