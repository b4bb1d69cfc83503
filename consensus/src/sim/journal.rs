//! A simulated disk for one replica: writes are buffered until the
//! simulator flushes them, and a crash forgets what was not flushed.
//!
//! A flush makes every buffered write durable at once, in order, so the
//! durable state is always a prefix of the writes issued (storage faults —
//! torn writes, bit flips, misdirected writes — are a later change).

use crate::vsr::{Checksum, Entry, Journal, Recovered, ViewState};
use crate::Op;

#[derive(Debug, Clone)]
enum Write {
    Append(Entry),
    Truncate(Op),
    SetView(ViewState),
}

/// What one flush changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flushed {
    /// The lowest op above which durable entries were removed, if any.
    pub truncated_above: Option<Op>,
    /// The highest durable op afterwards.
    pub last_op: Op,
}

/// One replica's simulated storage.
#[derive(Debug, Clone, Default)]
pub struct SimJournal {
    view_state: ViewState,
    entries: Vec<Entry>,
    pending: Vec<Write>,
}

impl SimJournal {
    /// Whether writes wait for a flush.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Makes every buffered write durable.
    pub fn flush(&mut self) -> Flushed {
        let mut truncated_above: Option<Op> = None;
        for write in std::mem::take(&mut self.pending) {
            match write {
                Write::Append(entry) => {
                    assert_eq!(
                        entry.header.op,
                        self.entries.len() as Op + 1,
                        "journal appends are dense"
                    );
                    self.entries.push(entry);
                }
                Write::Truncate(op) => {
                    if (op as usize) < self.entries.len() {
                        self.entries.truncate(op as usize);
                        truncated_above = Some(truncated_above.map_or(op, |t| t.min(op)));
                    }
                }
                Write::SetView(state) => self.view_state = state,
            }
        }
        Flushed {
            truncated_above,
            last_op: self.entries.len() as Op,
        }
    }

    /// A crash: buffered writes are lost.
    pub fn crash(&mut self) {
        self.pending.clear();
    }

    /// The checksum of the durable entry at `op`.
    pub fn durable_checksum(&self, op: Op) -> Option<Checksum> {
        let index = (op as usize).checked_sub(1)?;
        self.entries.get(index).map(|e| e.checksum)
    }
}

impl Journal for SimJournal {
    fn append(&mut self, entry: &Entry) {
        self.pending.push(Write::Append(entry.clone()));
    }
    fn truncate(&mut self, op: Op) {
        self.pending.push(Write::Truncate(op));
    }
    fn set_view(&mut self, state: ViewState) {
        self.pending.push(Write::SetView(state));
    }
    fn recover(&self) -> Recovered {
        Recovered {
            view_state: self.view_state,
            base: None,
            entries: self.entries.clone(),
        }
    }
}
