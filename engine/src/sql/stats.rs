//! Per-statement counters: what one statement read, returned and held.
//!
//! The engine's counters ([`crate::EngineStats`]) add up over every session;
//! an operator asking "did that lookup use the primary key?" or "how much
//! did that SELECT hold in memory?" needs the numbers of one statement. Each
//! statement gets a fresh [`StatementStats`]; the table scans and the result
//! stream add to it while it runs, and `kimberlite_stats` shows the
//! *previous* statement's totals of the same session (the one reading the
//! view is itself a statement).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of the running statement.
#[derive(Debug, Default)]
pub struct StatementStats {
    rows_scanned: AtomicU64,
    rows_returned: AtomicU64,
    result_batch_bytes_max: AtomicU64,
}

/// A finished statement's counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct StatementTotals {
    pub rows_scanned: u64,
    pub rows_returned: u64,
    /// The largest Arrow batch the result stream held at once.
    pub result_batch_bytes_max: u64,
}

impl StatementStats {
    pub fn note_scanned(&self, rows: u64) {
        self.rows_scanned.fetch_add(rows, Ordering::Relaxed);
    }

    pub fn note_returned(&self, rows: u64, batch_bytes: u64) {
        self.rows_returned.fetch_add(rows, Ordering::Relaxed);
        self.result_batch_bytes_max
            .fetch_max(batch_bytes, Ordering::Relaxed);
    }

    pub fn totals(&self) -> StatementTotals {
        StatementTotals {
            rows_scanned: self.rows_scanned.load(Ordering::Relaxed),
            rows_returned: self.rows_returned.load(Ordering::Relaxed),
            result_batch_bytes_max: self.result_batch_bytes_max.load(Ordering::Relaxed),
        }
    }
}
