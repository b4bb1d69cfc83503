//! Row locks: how READ COMMITTED writers wait for each other.
//!
//! PostgreSQL's READ COMMITTED lets an UPDATE or DELETE that meets a row
//! written by another open transaction wait for it to end, then re-check
//! its WHERE clause on the newest committed version (EvalPlanQual). The
//! primary keeps one lock per (table, key) a transaction has updated or
//! deleted, in memory only: locks are never logged (a crash ends every
//! transaction anyway), never block readers, and go away when the
//! transaction ends — [`TxnLocks`] releases them when the transaction is
//! dropped, whichever way it ends.
//!
//! A waiter records whom it waits for; before waiting it follows that
//! chain, and if the chain comes back to itself the waiter gets 40P01
//! (`deadlock detected`) instead of waiting forever. Waiting ends with the
//! statement's timeout or a CancelRequest like any other statement.
//!
//! Invariants (asserted): a key has at most one holder; a transaction
//! waits for at most one other; `held` lists exactly the keys a holder has.

use std::collections::HashMap;
use std::sync::Arc;

use kimberlite_catalog::TableId;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{EngineError, EngineResult};

/// A transaction as the lock table knows it.
pub type LockOwner = u64;

type RowId = (TableId, Vec<u8>);

#[derive(Debug, Default)]
struct LockState {
    holders: HashMap<RowId, LockOwner>,
    held: HashMap<LockOwner, Vec<RowId>>,
    waits_for: HashMap<LockOwner, LockOwner>,
    owner_next: LockOwner,
}

/// The primary's row lock table.
#[derive(Debug, Default)]
pub struct RowLocks {
    state: Mutex<LockState>,
    released: Notify,
}

/// The locks of one transaction; dropping it releases them.
#[derive(Debug)]
pub struct TxnLocks {
    locks: Arc<RowLocks>,
    owner: LockOwner,
}

impl Drop for TxnLocks {
    fn drop(&mut self) {
        self.locks.release_all(self.owner);
    }
}

impl TxnLocks {
    /// Locks `key` of `table` for this transaction, waiting while another
    /// holds it. Returns whether it had to wait (the row may have changed).
    pub async fn lock(&self, table: TableId, key: &[u8]) -> EngineResult<bool> {
        let row: RowId = (table, key.to_vec());
        let mut waited = false;
        loop {
            let notified = self.locks.released.notified();
            tokio::pin!(notified);
            {
                let mut state = self.locks.state.lock();
                match state.holders.get(&row).copied() {
                    None => {
                        state.holders.insert(row.clone(), self.owner);
                        state.held.entry(self.owner).or_default().push(row);
                        state.waits_for.remove(&self.owner);
                        return Ok(waited);
                    }
                    Some(holder) if holder == self.owner => return Ok(waited),
                    Some(holder) => {
                        if leads_back(&state, holder, self.owner) {
                            state.waits_for.remove(&self.owner);
                            return Err(EngineError::DeadlockDetected);
                        }
                        state.waits_for.insert(self.owner, holder);
                        // Registered before the state lock is let go, so a
                        // release in between is not missed.
                        notified.as_mut().enable();
                    }
                }
            }
            waited = true;
            // Cancel and statement_timeout drop this future mid-wait.
            let _still_waiting = WaitMark(self);
            notified.await;
        }
    }
}

impl TxnLocks {
    /// Locks `key` if no other transaction holds it (NOWAIT); never waits.
    pub fn try_lock(&self, table: TableId, key: &[u8]) -> bool {
        let row: RowId = (table, key.to_vec());
        let mut state = self.locks.state.lock();
        match state.holders.get(&row).copied() {
            None => {
                state.holders.insert(row.clone(), self.owner);
                state.held.entry(self.owner).or_default().push(row);
                true
            }
            Some(holder) => holder == self.owner,
        }
    }
}

/// Clears a waiter's edge when its wait ends, also when it is cancelled.
struct WaitMark<'a>(&'a TxnLocks);

impl Drop for WaitMark<'_> {
    fn drop(&mut self) {
        self.0.locks.state.lock().waits_for.remove(&self.0.owner);
    }
}

/// Whether following who-waits-for-whom from `start` reaches `target`.
fn leads_back(state: &LockState, start: LockOwner, target: LockOwner) -> bool {
    let mut at = start;
    // Each owner waits for at most one other: the chain is a path, at most
    // as long as there are waiters.
    for _ in 0..=state.waits_for.len() {
        if at == target {
            return true;
        }
        match state.waits_for.get(&at) {
            Some(next) => at = *next,
            None => return false,
        }
    }
    false
}

impl RowLocks {
    /// A lock set for a new transaction.
    pub fn owner(self: &Arc<Self>) -> TxnLocks {
        let mut state = self.state.lock();
        state.owner_next += 1;
        TxnLocks {
            locks: self.clone(),
            owner: state.owner_next,
        }
    }

    fn release_all(&self, owner: LockOwner) {
        let mut state = self.state.lock();
        for row in state.held.remove(&owner).unwrap_or_default() {
            let holder = state.holders.remove(&row);
            assert_eq!(holder, Some(owner), "a released lock was held by its owner");
        }
        state.waits_for.remove(&owner);
        drop(state);
        self.released.notify_waiters();
    }

    /// Locks held right now (for tests and stats).
    pub fn held(&self) -> usize {
        self.state.lock().holders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_writer_waits_until_the_first_ends() {
        let locks = Arc::new(RowLocks::default());
        let a = locks.owner();
        let b = locks.owner();
        assert!(!a.lock(1, b"k").await.unwrap());
        let waiting = tokio::spawn(async move { b.lock(1, b"k").await.map(|w| (w, b)) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "b waits while a holds the row");
        drop(a);
        let (waited, b) = waiting.await.unwrap().unwrap();
        assert!(waited);
        assert_eq!(locks.held(), 1);
        drop(b);
        assert_eq!(locks.held(), 0);
    }

    #[tokio::test]
    async fn a_cycle_of_waits_is_a_deadlock_for_the_one_closing_it() {
        let locks = Arc::new(RowLocks::default());
        let a = Arc::new(locks.owner());
        let b = locks.owner();
        a.lock(1, b"x").await.unwrap();
        b.lock(1, b"y").await.unwrap();
        let a_waits = {
            let a = a.clone();
            tokio::spawn(async move { a.lock(1, b"y").await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let error = b.lock(1, b"x").await.unwrap_err();
        assert_eq!(error.sqlstate(), "40P01");
        drop(b);
        assert!(a_waits.await.unwrap().unwrap(), "a gets y once b ends");
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_no_edge_behind() {
        let locks = Arc::new(RowLocks::default());
        let a = locks.owner();
        let b = locks.owner();
        a.lock(1, b"k").await.unwrap();
        let timed_out = tokio::time::timeout(Duration::from_millis(20), b.lock(1, b"k")).await;
        assert!(timed_out.is_err());
        assert!(locks.state.lock().waits_for.is_empty());
        // a may now wait for something b holds without a false deadlock.
        b.lock(1, b"other").await.unwrap();
        let a_waits = tokio::spawn(async move { a.lock(1, b"other").await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(b);
        assert!(a_waits.await.unwrap().unwrap());
    }
}
