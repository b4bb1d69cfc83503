//! A cluster of one, run in-process: the server's replication path.
//!
//! The single-node server runs the same [`Replica`] the simulator checks.
//! [`LocalReplica`] is its environment: proposals go in through
//! [`Replica::propose`] (the engine calls it under its own lock, so op order
//! is apply order), a group-commit thread makes them durable with one
//! `sync` for everything appended meanwhile and reports it through
//! [`Replica::on_flushed`], and the commits that come out (a quorum of one:
//! durable is committed) advance the watermark [`LocalReplica::wait_committed`]
//! waits on.
//!
//! ```text
//!   engine ── propose ─► Replica::propose ─► LogJournal::append ─► LogStorage::append (buffered)
//!   flusher ── LogStorage::sync (fsync, many ops) ─► Replica::on_flushed ─► commits
//!   wait_committed(op) ◄── commit watermark
//! ```
//!
//! At open the replica was the primary of its stored view, so it moves to
//! the next view first (a view change with a quorum of one); entries are
//! stamped with that view. The view state lives in the storage (the engine
//! keeps it in its watermark), written synchronously.
//!
//! Ticks are not driven: a cluster of one has no peer to time out or to
//! send to. The engine applies each command before proposing it, so the
//! replica's state machine here only acknowledges.
//!
//! Invariants:
//! - ops handed out are dense and increasing, and equal storage's order;
//! - the commit watermark only moves forward, to ops the replica committed;
//! - after a failed sync (or any storage error) nothing more is committed,
//!   because we cannot know what reached the disk (as PostgreSQL PANICs on a
//!   failed fsync).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::vsr::{
    Config, Correct, Entry, Header, Journal, Outbox, Recovered, Replica, StateMachine, Status,
    ViewState,
};
use crate::{EntryMeta, LogStorage, Op, ReplicationError, StorageError};

/// Counters an operator (and the tests) can read.
#[derive(Debug, Default)]
pub struct LocalStats {
    /// Number of group-commit syncs performed.
    pub syncs: AtomicU64,
    /// Number of ops committed.
    pub commits: AtomicU64,
}

/// Proposals waiting in the pipeline at most. The engine proposes under its
/// lock and each session waits for its commit, so this is never reached in
/// practice; it bounds memory if the disk stalls.
pub const PIPELINE_MAX: usize = 1 << 20;

/// The engine applied every entry before proposing it.
struct Applied;
impl StateMachine for Applied {
    fn apply(&mut self, _entry: &Entry) -> Vec<u8> {
        Vec::new()
    }
}

/// The replica's journal over the engine's log.
struct LogJournal<S: LogStorage> {
    storage: Arc<S>,
    /// The first storage error; the replica stops at it.
    failed: Option<String>,
}

impl<S: LogStorage> LogJournal<S> {
    fn fail(&mut self, why: String) {
        if self.failed.is_none() {
            self.failed = Some(why);
        }
    }
}

impl<S: LogStorage> Journal for LogJournal<S> {
    fn append(&mut self, entry: &Entry) {
        if self.failed.is_some() {
            return;
        }
        let h = entry.header;
        let meta = EntryMeta {
            op: h.op,
            view: h.view,
            timestamp_ns: h.timestamp_ns,
            tenant: h.tenant,
            kind: h.kind,
        };
        if let Err(error) = self.storage.append(&meta, &entry.body) {
            self.fail(error.to_string());
        }
    }

    fn truncate(&mut self, op: Op) {
        // A cluster of one only ever installs its own log.
        if op < self.storage.last_op() {
            self.fail(format!(
                "a cluster of one never truncates its log (to op {op})"
            ));
        }
    }

    fn set_view(&mut self, state: ViewState) {
        if let Err(error) = self.storage.write_view_state(state.view, state.log_view) {
            self.fail(error.to_string());
        }
    }

    fn recover(&self) -> Recovered {
        let (view, log_view) = self.storage.view_state();
        let last = self.storage.last_op();
        // The log is the engine's, already recovered and applied: the
        // replica keeps none of it, only a base to chain new entries from.
        let base = (last > 0).then(|| {
            let checksum = crate::vsr::message::checksum_of_hash(&self.storage.head_hash());
            Entry {
                header: Header {
                    op: last,
                    view: log_view,
                    parent: 0,
                    client: 0,
                    request: 0,
                    timestamp_ns: 0,
                    tenant: 0,
                    kind: 0,
                    body_checksum: 0,
                },
                checksum,
                body: Arc::from(&[][..]),
            }
        });
        Recovered {
            view_state: ViewState { view, log_view },
            base,
            entries: Vec::new(),
        }
    }
}

type Inner<S> = Replica<LogJournal<S>, Applied, Correct>;

struct Shared<S: LogStorage> {
    storage: Arc<S>,
    /// The replica; proposals and flush reports take turns on it, so op
    /// assignment and storage append happen in one critical section.
    replica: Mutex<Inner<S>>,
    wake: Condvar,
    stopped: Mutex<Option<String>>,
    committed_tx: watch::Sender<Op>,
    stats: LocalStats,
}

/// The single-node replica: a VSR cluster of one.
pub struct LocalReplica<S: LogStorage> {
    shared: Arc<Shared<S>>,
    committed_rx: watch::Receiver<Op>,
    flusher: Mutex<Option<thread::JoinHandle<()>>>,
}

impl<S: LogStorage> LocalReplica<S> {
    /// Starts the replica over `storage`, whose entries up to `last_op()`
    /// are durable and already applied. Runs the opening view change.
    pub fn start(storage: S, cluster: u64) -> Result<Self, ReplicationError> {
        let storage = Arc::new(storage);
        let last = storage.last_op();
        let mut config = Config::new(cluster, 1);
        config.pipeline_max = PIPELINE_MAX;
        config.log_retained = 0;
        let journal = LogJournal {
            storage: storage.clone(),
            failed: None,
        };
        let mut replica = Replica::open(config, 0, journal, Applied, last, cluster);
        // The view state is written synchronously, so each report of
        // durability lets the view change take its next step: the
        // do_view_change to itself, then counting its own durable log.
        for _ in 0..4 {
            if let Some(why) = replica.journal().failed.clone() {
                return Err(ReplicationError::Stopped(why));
            }
            if replica.status() == Status::Normal && replica.commit_max() == last {
                break;
            }
            replica.on_flushed(last, &mut Outbox::default());
        }
        if replica.status() != Status::Normal || replica.commit_max() != last {
            return Err(ReplicationError::Stopped(format!(
                "the opening view change did not finish (view {}, commit {} of {last})",
                replica.view(),
                replica.commit_max()
            )));
        }
        tracing::info!(
            view = replica.view(),
            last_op = last,
            "replica is the primary of a cluster of one"
        );
        let (committed_tx, committed_rx) = watch::channel(last);
        let shared = Arc::new(Shared {
            storage,
            replica: Mutex::new(replica),
            wake: Condvar::new(),
            stopped: Mutex::new(None),
            committed_tx,
            stats: LocalStats::default(),
        });
        let flusher_shared = shared.clone();
        let flusher = thread::Builder::new()
            .name("kimberlite-group-commit".into())
            .spawn(move || flusher_loop(flusher_shared))
            .expect("spawning the group-commit thread");
        Ok(LocalReplica {
            shared,
            committed_rx,
            flusher: Mutex::new(Some(flusher)),
        })
    }

    /// Prepares `body` as the next op and appends it to storage. The entry
    /// is not committed until [`LocalReplica::wait_committed`] says so.
    ///
    /// Callers that need op order to match some other order (the kernel's
    /// apply order) call this inside their own critical section.
    pub fn propose(&self, meta: EntryMeta, body: &[u8]) -> Result<Op, ReplicationError> {
        if let Some(why) = self.shared.stopped.lock().clone() {
            return Err(ReplicationError::Stopped(why));
        }
        let mut replica = self.shared.replica.lock();
        let mut out = Outbox::default();
        let op = replica.propose(
            meta.timestamp_ns,
            meta.tenant,
            meta.kind,
            Arc::from(body),
            &mut out,
        );
        if let Some(why) = replica.journal_mut().failed.take() {
            let why = format!("log append failed: {why}");
            *self.shared.stopped.lock() = Some(why.clone());
            self.shared.committed_tx.send_modify(|_| {});
            return Err(StorageError::Rejected(why).into());
        }
        let Some(op) = op else {
            return Err(ReplicationError::Stopped(format!(
                "replica is not the normal primary (view {}, {} uncommitted)",
                replica.view(),
                replica.last_op() - replica.commit_max()
            )));
        };
        assert_eq!(
            self.shared.storage.last_op(),
            op,
            "storage must hold exactly the ops proposed, in order"
        );
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

    /// The replica's current view (the number of opening view changes so
    /// far, for a cluster of one).
    pub fn view(&self) -> u32 {
        self.shared.replica.lock().view()
    }

    /// Counters.
    pub fn stats(&self) -> &LocalStats {
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
            let _replica = self.shared.replica.lock();
            self.shared.wake.notify_all();
        }
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
    }
}

impl<S: LogStorage> Drop for LocalReplica<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn flusher_loop<S: LogStorage>(shared: Arc<Shared<S>>) {
    loop {
        {
            let mut replica = shared.replica.lock();
            loop {
                if replica.last_op() > replica.commit_max() {
                    break;
                }
                if shared.stopped.lock().is_some() {
                    return;
                }
                shared.wake.wait(&mut replica);
            }
        }
        // The sync runs outside the replica lock: proposals keep arriving
        // and share the next one.
        match shared.storage.sync() {
            Ok(durable) => {
                shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
                let mut replica = shared.replica.lock();
                let before = replica.commit_max();
                let mut out = Outbox::default();
                replica.on_flushed(durable, &mut out);
                let committed = replica.commit_max();
                assert!(
                    committed >= durable.min(replica.last_op()) && committed >= before,
                    "a quorum of one commits what is durable"
                );
                drop(replica);
                shared
                    .stats
                    .commits
                    .fetch_add(committed - before, Ordering::Relaxed);
                shared.committed_tx.send_replace(committed);
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

    #[derive(Default)]
    struct MemStorage {
        entries: Mutex<Vec<(EntryMeta, Vec<u8>)>>,
        durable: Mutex<Op>,
        views: Mutex<(u32, u32)>,
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
        fn head_hash(&self) -> [u8; 32] {
            [self.last_op() as u8; 32]
        }
        fn view_state(&self) -> (u32, u32) {
            *self.views.lock()
        }
        fn write_view_state(&self, view: u32, log_view: u32) -> Result<(), StorageError> {
            *self.views.lock() = (view, log_view);
            Ok(())
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
        let replica = LocalReplica::start(MemStorage::default(), 1).unwrap();
        assert_eq!(replica.view(), 1, "the opening view change");
        let a = replica.propose(meta(), b"a").unwrap();
        let b = replica.propose(meta(), b"b").unwrap();
        assert_eq!((a, b), (1, 2));
        replica.wait_committed(b).await.unwrap();
        assert!(*replica.storage().durable.lock() >= 2);
        assert!(replica.stats().syncs.load(Ordering::Relaxed) >= 1);
        let entries = replica.storage().entries.lock().clone();
        assert!(entries.iter().all(|(m, _)| m.view == 1));
    }

    #[tokio::test]
    async fn a_restart_continues_the_log_in_the_next_view() {
        let replica = LocalReplica::start(MemStorage::default(), 1).unwrap();
        let op = replica.propose(meta(), b"a").unwrap();
        replica.wait_committed(op).await.unwrap();
        replica.shutdown();
        let storage = std::mem::take(&mut *replica.shared.storage.entries.lock());
        let views = *replica.shared.storage.views.lock();
        let restarted = MemStorage {
            entries: Mutex::new(storage),
            durable: Mutex::new(1),
            views: Mutex::new(views),
        };
        let replica = LocalReplica::start(restarted, 1).unwrap();
        assert_eq!(replica.view(), 2);
        assert_eq!(replica.committed_op(), 1);
        let op = replica.propose(meta(), b"b").unwrap();
        assert_eq!(op, 2);
        replica.wait_committed(op).await.unwrap();
        assert_eq!(replica.storage().entries.lock()[1].0.view, 2);
    }

    #[tokio::test]
    async fn shutdown_refuses_new_proposals() {
        let replica = LocalReplica::start(MemStorage::default(), 1).unwrap();
        replica.shutdown();
        assert!(replica.propose(meta(), b"x").is_err());
    }
}
