//! A cluster of one: op assignment plus group commit on the local disk.
//!
//! Invariants:
//! - ops handed out by [`SoloReplica::propose`] are dense and increasing;
//! - the commit watermark only moves forward and never passes the op that
//!   the last successful `sync` reported durable;
//! - after a failed sync the replica stops: no later op is ever committed,
//!   because we cannot know what reached the disk (as PostgreSQL PANICs on
//!   a failed fsync).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::{EntryMeta, LogStorage, Op, ReplicationError};

/// Counters an operator (and the tests) can read.
#[derive(Debug, Default)]
pub struct SoloStats {
    /// Number of fsyncs performed.
    pub syncs: AtomicU64,
    /// Number of ops committed.
    pub commits: AtomicU64,
}

struct Shared<S> {
    storage: S,
    /// Highest op appended; guarded so that op assignment and append happen
    /// in one critical section (order of ops == order in storage).
    appended: Mutex<Op>,
    wake: Condvar,
    stopped: Mutex<Option<String>>,
    committed_tx: watch::Sender<Op>,
    stats: SoloStats,
}

/// The single-node replica.
pub struct SoloReplica<S: LogStorage> {
    shared: Arc<Shared<S>>,
    committed_rx: watch::Receiver<Op>,
    flusher: Mutex<Option<thread::JoinHandle<()>>>,
}

impl<S: LogStorage> SoloReplica<S> {
    /// Starts the replica over `storage`, whose entries up to `last_op()` are
    /// already durable (they were recovered from disk).
    pub fn start(storage: S) -> Self {
        let last = storage.last_op();
        let (committed_tx, committed_rx) = watch::channel(last);
        let shared = Arc::new(Shared {
            storage,
            appended: Mutex::new(last),
            wake: Condvar::new(),
            stopped: Mutex::new(None),
            committed_tx,
            stats: SoloStats::default(),
        });
        let flusher_shared = shared.clone();
        let flusher = thread::Builder::new()
            .name("kimberlite-group-commit".into())
            .spawn(move || flusher_loop(flusher_shared))
            .expect("spawning the group-commit thread");
        SoloReplica {
            shared,
            committed_rx,
            flusher: Mutex::new(Some(flusher)),
        }
    }

    /// Assigns the next op to `body` and appends it to storage. The entry is
    /// not committed until [`SoloReplica::wait_committed`] says so.
    ///
    /// Callers that need op order to match some other order (the kernel's
    /// apply order) call this inside their own critical section.
    pub fn propose(&self, mut meta: EntryMeta, body: &[u8]) -> Result<Op, ReplicationError> {
        if let Some(why) = self.shared.stopped.lock().clone() {
            return Err(ReplicationError::Stopped(why));
        }
        let mut appended = self.shared.appended.lock();
        let op = *appended + 1;
        meta.op = op;
        meta.view = 0;
        self.shared.storage.append(&meta, body)?;
        assert_eq!(
            self.shared.storage.last_op(),
            op,
            "storage must hold exactly the ops proposed, in order"
        );
        *appended = op;
        self.shared.wake.notify_one();
        Ok(op)
    }

    /// Waits until `op` is committed (durable). Fails if the replica stopped
    /// before that.
    pub async fn wait_committed(&self, op: Op) -> Result<(), ReplicationError> {
        let mut rx = self.committed_rx.clone();
        loop {
            if *rx.borrow_and_update() >= op {
                return Ok(());
            }
            if let Some(why) = self.shared.stopped.lock().clone() {
                return Err(ReplicationError::Stopped(why));
            }
            if rx.changed().await.is_err() {
                return Err(ReplicationError::Stopped("replica dropped".into()));
            }
        }
    }

    /// Highest committed op.
    pub fn committed_op(&self) -> Op {
        *self.committed_rx.borrow()
    }

    /// Counters.
    pub fn stats(&self) -> &SoloStats {
        &self.shared.stats
    }

    /// The storage this replica writes to.
    pub fn storage(&self) -> &S {
        &self.shared.storage
    }

    /// Syncs what is pending and stops the flusher. Idempotent.
    pub fn shutdown(&self) {
        {
            let mut stopped = self.shared.stopped.lock();
            if stopped.is_none() {
                *stopped = Some("shutting down".into());
            }
        }
        {
            let _appended = self.shared.appended.lock();
            self.shared.wake.notify_all();
        }
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
    }
}

impl<S: LogStorage> Drop for SoloReplica<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn flusher_loop<S: LogStorage>(shared: Arc<Shared<S>>) {
    loop {
        let target = {
            let mut appended = shared.appended.lock();
            loop {
                let committed = *shared.committed_tx.borrow();
                if *appended > committed {
                    break *appended;
                }
                if shared.stopped.lock().is_some() {
                    return;
                }
                shared.wake.wait(&mut appended);
            }
        };
        match shared.storage.sync() {
            Ok(durable) => {
                assert!(
                    durable >= target,
                    "sync returned before covering op {target}"
                );
                shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
                let before = *shared.committed_tx.borrow();
                shared
                    .stats
                    .commits
                    .fetch_add(durable - before, Ordering::Relaxed);
                shared.committed_tx.send_replace(durable);
            }
            Err(error) => {
                tracing::error!(%error, "log sync failed; no further commits");
                *shared.stopped.lock() = Some(format!("log sync failed: {error}"));
                // wake every waiter so it sees the stop
                shared.committed_tx.send_modify(|_| {});
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageError;

    #[derive(Default)]
    struct MemStorage {
        entries: Mutex<Vec<(EntryMeta, Vec<u8>)>>,
        durable: Mutex<Op>,
    }

    impl LogStorage for MemStorage {
        fn append(&self, meta: &EntryMeta, body: &[u8]) -> Result<(), StorageError> {
            self.entries.lock().push((*meta, body.to_vec()));
            Ok(())
        }
        fn sync(&self) -> Result<Op, StorageError> {
            let last = self.last_op();
            *self.durable.lock() = last;
            Ok(last)
        }
        fn last_op(&self) -> Op {
            self.entries.lock().last().map(|(m, _)| m.op).unwrap_or(0)
        }
    }

    fn meta() -> EntryMeta {
        EntryMeta {
            op: 0,
            view: 0,
            timestamp_ns: 1,
            tenant: 1,
            kind: 1,
        }
    }

    #[tokio::test]
    async fn proposals_get_dense_ops_and_commit_after_sync() {
        let replica = SoloReplica::start(MemStorage::default());
        let a = replica.propose(meta(), b"a").unwrap();
        let b = replica.propose(meta(), b"b").unwrap();
        assert_eq!((a, b), (1, 2));
        replica.wait_committed(b).await.unwrap();
        assert!(*replica.storage().durable.lock() >= 2);
        assert!(replica.stats().syncs.load(Ordering::Relaxed) >= 1);
    }

    #[tokio::test]
    async fn shutdown_refuses_new_proposals() {
        let replica = SoloReplica::start(MemStorage::default());
        replica.shutdown();
        assert!(replica.propose(meta(), b"x").is_err());
    }
}
