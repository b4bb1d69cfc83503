//! # The Kimberlite engine
//!
//! Everything between the wire and the disk: the hash-chained log, the
//! deterministic kernel that applies committed commands, the MVCC
//! projections it maintains, and the SQL session that plans queries with
//! DataFusion and turns DML into row mutations.
//!
//! ```text
//!   Session ──plan/execute──► DataFusion ──scan──► KimberliteTable ──read──► Projections
//!      │                                                                      ▲
//!      │ COMMIT: TxnCommand                                                   │ apply(op)
//!      ▼                                                                      │
//!   Engine::commit ── check ─► Replica::propose ─► Log::append ──────────────┘
//!                                    │ group commit (fsync)
//!                                    ▼
//!                     wait_committed(op) ─► client gets CommandComplete
//! ```
//!
//! The write lock on [`KernelState`] is held while a command is checked,
//! given its op and applied, so op order, log order and apply order are one
//! order. The command's versions are stamped with its op but readers only
//! see ops up to the durable watermark ([`Engine::snapshot`]), so nothing
//! becomes visible before it is durable.

pub mod activity;
pub mod checkpoint;
pub mod constraints;
pub mod crypto;
pub mod datum;
pub mod error;
pub mod indexes;
pub mod kernel;
pub mod locks;
pub mod log;
pub mod mvcc;
pub mod sequences;
pub mod snapshot;
pub mod sql;
pub mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kimberlite_catalog::{AuthMode, Catalog, CatalogChange, DatabaseId, RoleDef};
use kimberlite_consensus::{EntryMeta, LocalReplica, LogStorage, Op};
use parking_lot::RwLock;

use checkpoint::Checkpoint;
use crypto::envelope;
use crypto::keys::KeyKind;
use crypto::{KeyRecord, Keyring, MasterKeySource, NonceSource};
pub use error::{EngineError, EngineResult};
use kernel::{Command, KernelState, TxnCommand};
use log::frame::{FrameKind, FRAME_PAYLOAD_BYTES_MAX};
use log::storage::{DirStorage, Storage};
use log::{Log, LogConfig, RecoveryReport};

/// The tenant id of the default database (tenants are databases).
pub const DEFAULT_TENANT: u32 = kimberlite_catalog::DEFAULT_DATABASE_ID;

/// A source of wall-clock time, injected so tests and the simulator control it.
pub trait Clock: Send + Sync {
    /// Nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;
}

/// The operating system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// Default for [`EngineConfig::statement_memory_bytes_max`].
pub const STATEMENT_MEMORY_BYTES_MAX_DEFAULT: usize = 256 << 20;

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub segment_bytes_max: u64,
    /// Largest encoded transaction; beyond it COMMIT fails with 54000.
    pub txn_bytes_max: usize,
    /// Memory one statement's operators (sorts, hash tables, joins) may
    /// reserve; beyond it the statement fails with 53200.
    pub statement_memory_bytes_max: usize,
    /// Where the master key comes from (default: generated in
    /// `DATA_DIR/keys` on a fresh directory).
    pub master_key: MasterKeySource,
    /// A signed checkpoint is logged once this many ops follow the last one…
    pub checkpoint_ops: u64,
    /// …or once this much time passed since it (checked at commit), and at
    /// every clean shutdown.
    pub checkpoint_interval: std::time::Duration,
    /// The checkpoint signing key in hand (tests on the simulated disk,
    /// embedding); `None` reads or creates `DATA_DIR/keys/node.key`.
    pub node_key: Option<Arc<ed25519_dalek::SigningKey>>,
    /// Write a projection snapshot at every checkpoint and start from the
    /// newest one.
    pub snapshots: bool,
    /// Snapshots kept (older ones are removed when a new one is written).
    pub snapshots_kept: usize,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            segment_bytes_max: log::SEGMENT_BYTES_MAX_DEFAULT,
            txn_bytes_max: 64 << 20,
            statement_memory_bytes_max: STATEMENT_MEMORY_BYTES_MAX_DEFAULT,
            master_key: MasterKeySource::DataDir,
            checkpoint_ops: 10_000,
            checkpoint_interval: std::time::Duration::from_secs(60),
            node_key: None,
            snapshots: true,
            snapshots_kept: 2,
        }
    }
}

/// Counters operators and tests read.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub rows_scanned: AtomicU64,
    pub rows_returned: AtomicU64,
    /// The largest Arrow batch any result stream held at once: with rows
    /// encoded one at a time and a bounded socket buffer, this bounds what
    /// a result costs the server however slowly the client reads.
    pub result_batch_bytes_max: AtomicU64,
    pub transactions_committed: AtomicU64,
    pub sessions_open: AtomicU64,
}

/// The engine: one per server process.
pub struct Engine {
    config: EngineConfig,
    replica: LocalReplica<Log>,
    pub(crate) state: RwLock<KernelState>,
    applied_op: AtomicU64,
    table_id_next: AtomicU64,
    row_id_next: AtomicU64,
    clock: Arc<dyn Clock>,
    pub stats: EngineStats,
    recovery: RecoveryReport,
    /// Every tenant key, unwrapped; grows when a tenant's keys are created.
    keyring: parking_lot::Mutex<Keyring>,
    /// Nonces for everything this process seals.
    nonces: NonceSource,
    /// Signs checkpoints.
    node_key: ed25519_dalek::SigningKey,
    /// The newest checkpoint in the log: (its frame's op, the record, the
    /// clock when it was read or written).
    checkpoint: parking_lot::Mutex<CheckpointMark>,
    /// How the state was rebuilt at open.
    replay: ReplayStats,
    /// READ COMMITTED writers' row locks (in memory, never logged).
    pub row_locks: Arc<locks::RowLocks>,
    /// Sequence positions, ahead of the log (see [`sequences`]).
    pub(crate) sequences: parking_lot::Mutex<sequences::SequenceAllocator>,
    /// Sessions attached to each database (in memory: who is connected is
    /// not state), so DROP DATABASE can refuse one in use.
    attached: parking_lot::Mutex<Attachments>,
    database_id_next: std::sync::atomic::AtomicU32,
    /// Every open session and what it runs (`pg_stat_activity`).
    pub activity: activity::ActivityBoard,
    session_id_next: AtomicU64,
}

/// Who is attached to which database, and which are being dropped.
#[derive(Debug, Default)]
struct Attachments {
    sessions: BTreeMap<DatabaseId, usize>,
    dropping: std::collections::BTreeSet<DatabaseId>,
}

/// How the state was rebuilt at open: from which snapshot, and how many
/// commands were decrypted and applied on top of it.
#[derive(Debug, Clone, Copy, Default)]
struct ReplayStats {
    snapshot_op: Op,
    commands: u64,
}

/// Where the newest checkpoint stands.
#[derive(Debug, Clone, Default)]
struct CheckpointMark {
    frame_op: Op,
    record: Option<Checkpoint>,
    at_ns: u64,
}

/// The newest snapshot a restart may start from: its checkpoint (the frame
/// after it) is at or below the acknowledged watermark, so it can never be
/// rewritten. A snapshot that fails its hash is skipped (the log replays
/// what it held).
fn newest_usable_snapshot(
    data_dir: &std::path::Path,
    storage: &dyn Storage,
) -> EngineResult<Option<snapshot::SnapshotFile>> {
    let watermark_op =
        match log::watermark::read(storage.read(log::watermark::WATERMARK_FILE).ok().as_deref()) {
            log::watermark::WatermarkRead::Valid(mark) => mark.op,
            _ => 0,
        };
    for (op, path) in snapshot::list(data_dir)?.into_iter().rev() {
        if op + 1 > watermark_op {
            continue;
        }
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| snapshot::decode(&b))
        {
            Ok(file) if file.op == op => return Ok(Some(file)),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "snapshot named for another op; ignored")
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), %why, "damaged snapshot ignored; replaying the log instead")
            }
        }
    }
    Ok(None)
}

/// Opens a snapshot once the checkpoint after it verified and signs its hash.
fn load_snapshot(
    keyring: &Keyring,
    file: &snapshot::SnapshotFile,
    record: &Checkpoint,
) -> EngineResult<KernelState> {
    if record.op != file.op || record.snapshot_hash != file.hash {
        return Err(EngineError::Corrupted(format!(
            "snapshot at op {} is not the one its checkpoint signed",
            file.op
        )));
    }
    let plain = zeroize::Zeroizing::new(
        envelope::open(keyring, file.tenant, &file.envelope)
            .map_err(|e| EngineError::Corrupted(format!("snapshot at op {}: {e}", file.op)))?,
    );
    let state = KernelState::decode(&plain)?;
    if state.applied_op != file.op {
        return Err(EngineError::Corrupted(format!(
            "snapshot at op {} holds the state of op {}",
            file.op, state.applied_op
        )));
    }
    tracing::info!(op = file.op, "loaded projection snapshot");
    Ok(state)
}

/// This node's id in nonces (a cluster of one today).
const WRITER_ID: u16 = 1;
/// The cluster id a single node's replica runs with (messages naming
/// another cluster are refused; a single node sends none).
const CLUSTER_ID: u64 = 1;

/// Payload prefix of a spanning command's frames: the op of its first part.
const PART_PREFIX_BYTES: usize = 8;

impl Engine {
    /// Opens the data directory, replaying the log into fresh projections.
    pub fn open(config: EngineConfig, clock: Arc<dyn Clock>) -> EngineResult<Arc<Engine>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let storage = Arc::new(DirStorage::open(config.data_dir.join("log"))?);
        Engine::open_on(config, storage, clock)
    }

    /// Opens the engine with its log on `storage` (a real directory, or the
    /// simulated disk of the crash tests).
    pub fn open_on(
        config: EngineConfig,
        storage: Arc<dyn Storage>,
        clock: Arc<dyn Clock>,
    ) -> EngineResult<Arc<Engine>> {
        let mut state = KernelState::default();
        let mut parts: Option<(Op, Vec<u8>)> = None;
        let log_config = LogConfig {
            segment_bytes_max: config.segment_bytes_max,
        };
        let log_is_fresh = log::list_segments(storage.as_ref())?.is_empty();
        let master = config.master_key.load(&config.data_dir, log_is_fresh)?;
        let node_key = if let Some(key) = &config.node_key {
            (**key).clone()
        } else if log_is_fresh || crypto::node::exists(&config.data_dir) {
            crypto::node::load_or_create(&config.data_dir, &master)?
        } else {
            return Err(EngineError::KeyMismatch(format!(
                "{} holds a log but no node signing key (keys/node.key)",
                config.data_dir.display()
            )));
        };
        let node_public = node_key.verifying_key().to_bytes();
        let mut snapshot = if config.snapshots {
            newest_usable_snapshot(&config.data_dir, storage.as_ref())?
        } else {
            None
        };
        let snapshot_op = snapshot.as_ref().map(|s| s.op).unwrap_or(0);
        let mut replayed_commands = 0u64;
        let mut keyring = Keyring::new(master);
        let mut newest_checkpoint = CheckpointMark::default();
        let (log, recovery) = Log::open(log_config, storage, |header, payload| {
            if header.op == snapshot_op + 1
                && snapshot.is_some()
                && header.kind != FrameKind::Checkpoint
            {
                return Err(EngineError::Corrupted(format!(
                    "snapshot at op {snapshot_op} is not followed by its checkpoint"
                )));
            }
            let envelope = match header.kind {
                FrameKind::KeyRecord => {
                    keyring.install(&KeyRecord::decode(payload)?)?;
                    state.skip(header.op);
                    return Ok(());
                }
                FrameKind::Checkpoint => {
                    let record = Checkpoint::decode(payload)
                        .and_then(|c| {
                            c.check(header.op, &header.prev_hash, Some(&node_public))?;
                            Ok(c)
                        })
                        .map_err(|e| {
                            EngineError::Corrupted(format!("checkpoint at op {}: {e}", header.op))
                        })?;
                    if header.op == snapshot_op + 1 {
                        if let Some(file) = snapshot.take() {
                            state = load_snapshot(&keyring, &file, &record)?;
                        }
                    }
                    newest_checkpoint = CheckpointMark {
                        frame_op: header.op,
                        record: Some(record),
                        at_ns: 0,
                    };
                    state.skip(header.op);
                    return Ok(());
                }
                // Applied already: the snapshot holds its effect.
                _ if header.op <= snapshot_op => {
                    state.skip(header.op);
                    return Ok(());
                }
                FrameKind::Command => {
                    parts = None;
                    payload.to_vec()
                }
                FrameKind::CommandPart | FrameKind::CommandCommit => {
                    if payload.len() < PART_PREFIX_BYTES {
                        return Err(EngineError::Corrupted(format!(
                            "short part frame at op {}",
                            header.op
                        )));
                    }
                    let first = u64::from_le_bytes(payload[..8].try_into().unwrap());
                    let chunk = &payload[8..];
                    match &mut parts {
                        Some((f, buffer)) if *f == first => buffer.extend_from_slice(chunk),
                        _ => parts = Some((first, chunk.to_vec())),
                    }
                    if header.kind == FrameKind::CommandPart {
                        state.skip(header.op);
                        return Ok(());
                    }
                    let (_first_op, bytes) = parts.take().expect("set above");
                    bytes
                }
            };
            let command_bytes = envelope::open(&keyring, header.tenant, &envelope)
                .map_err(|e| EngineError::Corrupted(format!("op {}: {e}", header.op)))?;
            let command = Command::decode(&command_bytes)?;
            replayed_commands += 1;
            state
                .apply(header.op, header.tenant, &command)
                .map_err(|e| {
                    EngineError::Corrupted(format!(
                        "logged command at op {} does not apply: {e}",
                        header.op
                    ))
                })
        })?;
        if snapshot.is_some() {
            return Err(EngineError::Corrupted(format!(
                "the log ends before the checkpoint of snapshot {snapshot_op}"
            )));
        }
        if config.snapshots {
            snapshot::remove_orphans(&config.data_dir, log.last_op())?;
        }
        let applied = log.last_op();
        // Trailing parts without a commit record are never applied; skip them.
        if state.applied_op < applied {
            state.skip(applied);
        }
        let row_id_next = state.row_id_next;
        let database_id_next = state.latest_catalog(DEFAULT_TENANT).next_database_id();
        let table_id_next = state
            .latest_catalogs()
            .iter()
            .map(|(_, c)| c.next_table_id())
            .max()
            .unwrap_or(1);
        let replay = ReplayStats {
            snapshot_op,
            commands: replayed_commands,
        };
        tracing::info!(
            snapshot_op,
            replayed_commands,
            frames = recovery.frames,
            segments = recovery.segments,
            truncated_bytes = recovery.truncated_bytes,
            last_op = applied,
            "log recovered"
        );
        let nonces = NonceSource::new(WRITER_ID, log.epoch());
        // The interval counts from the open, not from a checkpoint written
        // before a long downtime.
        newest_checkpoint.at_ns = clock.now_ns();
        let replica = LocalReplica::start(log, CLUSTER_ID)?;
        Ok(Arc::new(Engine {
            row_locks: Arc::default(),
            sequences: Default::default(),
            attached: Default::default(),
            database_id_next: std::sync::atomic::AtomicU32::new(database_id_next),
            config,
            replica,
            state: RwLock::new(state),
            applied_op: AtomicU64::new(applied),
            table_id_next: AtomicU64::new(table_id_next),
            row_id_next: AtomicU64::new(row_id_next),
            clock,
            stats: EngineStats::default(),
            activity: Default::default(),
            session_id_next: AtomicU64::new(1),
            recovery,
            keyring: parking_lot::Mutex::new(keyring),
            nonces,
            node_key,
            checkpoint: parking_lot::Mutex::new(newest_checkpoint),
            replay,
        }))
    }

    /// A DataFusion runtime for one session: its memory pool bounds what one
    /// statement may reserve (a session runs one statement at a time), and
    /// spilling to disk is disabled — nothing a query touches may land
    /// outside the data directory unencrypted.
    pub(crate) fn session_runtime(&self) -> Arc<datafusion::execution::runtime_env::RuntimeEnv> {
        use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
        use datafusion::execution::memory_pool::GreedyMemoryPool;
        datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(
                self.config.statement_memory_bytes_max,
            )))
            .build_arc()
            .expect("a runtime without disk manager or object stores always builds")
    }

    /// What recovery found when the engine opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The largest transaction, in bytes.
    pub fn txn_bytes_max(&self) -> usize {
        self.config.txn_bytes_max
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// The newest snapshot a reader may use: applied and durable.
    pub fn snapshot(&self) -> Op {
        self.replica
            .committed_op()
            .min(self.applied_op.load(Ordering::Acquire))
    }

    /// The catalog of `database` at `snapshot`.
    pub fn catalog_at(&self, database: DatabaseId, snapshot: Op) -> Arc<Catalog> {
        self.state.read().catalog_at(database, snapshot)
    }

    /// The catalog of `database` at the newest durable snapshot.
    pub fn catalog(&self, database: DatabaseId) -> Arc<Catalog> {
        self.catalog_at(database, self.snapshot())
    }

    /// What the cluster shares (roles, databases), as of the newest
    /// durable snapshot: the default database's catalog, which holds it
    /// like every other.
    pub fn cluster_catalog(&self) -> Arc<Catalog> {
        self.catalog(DEFAULT_TENANT)
    }

    /// The id of the database named `name`, if it exists.
    pub fn database_id(&self, name: &str) -> Option<DatabaseId> {
        self.cluster_catalog().database(name).map(|d| d.id)
    }

    /// Attaches a session to the database named `name`: its id, counted
    /// until [`Engine::detach`]; `None` if there is no such database or it
    /// is being dropped.
    pub fn attach(&self, name: &str) -> Option<DatabaseId> {
        let mut attached = self.attached.lock();
        let id = self.database_id(name)?;
        if attached.dropping.contains(&id) {
            return None;
        }
        *attached.sessions.entry(id).or_default() += 1;
        Some(id)
    }

    /// Uncounts a session attached by [`Engine::attach`].
    pub fn detach(&self, database: DatabaseId) {
        let mut attached = self.attached.lock();
        if let Some(count) = attached.sessions.get_mut(&database) {
            *count -= 1;
            if *count == 0 {
                attached.sessions.remove(&database);
            }
        }
    }

    /// Marks `database` as being dropped, so no session attaches to it,
    /// if none is attached now; otherwise returns how many are.
    /// [`Engine::end_drop`] clears the mark once the drop committed or
    /// failed.
    pub fn begin_drop(&self, database: DatabaseId) -> Result<(), usize> {
        let mut attached = self.attached.lock();
        match attached.sessions.get(&database) {
            Some(&count) if count > 0 => Err(count),
            _ => {
                attached.dropping.insert(database);
                Ok(())
            }
        }
    }

    /// Clears the mark of [`Engine::begin_drop`].
    pub fn end_drop(&self, database: DatabaseId) {
        self.attached.lock().dropping.remove(&database);
    }

    /// A fresh database id (never reused, even if the creating command
    /// fails).
    pub fn allocate_database_id(&self) -> DatabaseId {
        self.database_id_next.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh table id (never reused, even if the creating transaction
    /// rolls back).
    pub fn allocate_table_id(&self) -> u64 {
        self.table_id_next.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh session id (for the activity board; never reused).
    pub fn allocate_session_id(&self) -> u64 {
        self.session_id_next.fetch_add(1, Ordering::Relaxed)
    }

    /// The clock, in microseconds since the Unix epoch.
    pub fn now_us(&self) -> i64 {
        (self.clock.now_ns() / 1_000) as i64
    }

    /// A fresh hidden row id.
    pub fn allocate_row_id(&self) -> u64 {
        self.row_id_next.fetch_add(1, Ordering::Relaxed)
    }

    /// Counters of the replica: (group commits, i.e. sync rounds; ops committed).
    pub fn sync_stats(&self) -> (u64, u64) {
        let s = self.replica.stats();
        (
            s.syncs.load(Ordering::Relaxed),
            s.commits.load(Ordering::Relaxed),
        )
    }

    /// Every counter by name, for the `kimberlite_stats` system view.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let (group_commits, commits) = self.sync_stats();
        vec![
            ("fsyncs", self.replica.storage().fsyncs()),
            ("replica_view", self.replica.view() as u64),
            ("group_commits", group_commits),
            ("log_ops_committed", commits),
            ("log_bytes_written", self.log_bytes_written()),
            (
                "transactions_committed",
                self.stats.transactions_committed.load(Ordering::Relaxed),
            ),
            (
                "rows_scanned",
                self.stats.rows_scanned.load(Ordering::Relaxed),
            ),
            (
                "rows_returned",
                self.stats.rows_returned.load(Ordering::Relaxed),
            ),
            (
                "result_batch_bytes_max",
                self.stats.result_batch_bytes_max.load(Ordering::Relaxed),
            ),
            (
                "connections",
                self.stats.sessions_open.load(Ordering::Relaxed),
            ),
            ("snapshot_op", self.snapshot()),
            ("opened_from_snapshot_op", self.replay.snapshot_op),
            ("replayed_commands", self.replay.commands),
        ]
    }

    /// Bytes written to the log since start.
    pub fn log_bytes_written(&self) -> u64 {
        self.replica.storage().bytes_written()
    }

    /// Commits a transaction of `database`: checks it against the newest
    /// state, logs it (sealed with the database's keys), applies it, and
    /// returns once it is durable. Nothing is visible to other sessions
    /// before this returns.
    pub async fn commit(&self, database: DatabaseId, mut txn: TxnCommand) -> EngineResult<Op> {
        let op = {
            let mut state = self.state.write();
            // Sequence positions reserved by any session ride on this
            // command (taken under the state lock: they reach the log in
            // the order they were reserved).
            let reserved = self.take_reserved(&state, database, &txn);
            txn.sequences.extend(reserved.iter().copied());
            if txn.catalog.is_empty() && txn.mutations.is_empty() && txn.sequences.is_empty() {
                // Nothing to log (another commit took the reservations).
                return Ok(state.applied_op);
            }
            let command = Command::Transaction(txn);
            match self.log_command(&mut state, database, &command) {
                Ok(op) => op,
                Err(error) => {
                    // The transaction fails; the reservations must not.
                    if !reserved.is_empty() {
                        let positions = Command::Transaction(TxnCommand {
                            sequences: reserved.clone(),
                            ..Default::default()
                        });
                        if self.log_command(&mut state, database, &positions).is_err() {
                            self.sequences.lock().restore_unlogged(&reserved);
                        }
                    }
                    return Err(error);
                }
            }
        };
        self.replica.wait_committed(op).await?;
        self.stats
            .transactions_committed
            .fetch_add(1, Ordering::Relaxed);
        Ok(op)
    }

    /// Logs the sequence positions reserved since the last command, if
    /// any (a transaction that wrote nothing still called `nextval`), in a
    /// command of `database`.
    pub async fn flush_sequences(&self, database: DatabaseId) -> EngineResult<()> {
        if self.sequences.lock().has_unlogged() {
            self.commit(database, TxnCommand::default()).await?;
        }
        Ok(())
    }

    /// The reserved positions `txn` should carry: those of sequences that
    /// exist once it applies.
    fn take_reserved(
        &self,
        state: &KernelState,
        database: DatabaseId,
        txn: &TxnCommand,
    ) -> Vec<(
        kimberlite_catalog::SequenceId,
        kimberlite_catalog::SequenceValue,
    )> {
        let mut allocator = self.sequences.lock();
        if !allocator.has_unlogged() {
            return Vec::new();
        }
        let mut catalog = (*state.latest_catalog(database)).clone();
        for change in &txn.catalog {
            // A change that does not apply fails the command's check.
            let _ = catalog.apply(change);
        }
        allocator
            .take_unlogged(|id| catalog.sequence_by_id(id).is_some() || state.sequence_exists(id))
    }

    /// Checks, seals, proposes and applies one command under the state
    /// lock; durability is awaited by the caller.
    fn log_command(
        &self,
        state: &mut KernelState,
        database: DatabaseId,
        command: &Command,
    ) -> EngineResult<Op> {
        let bytes = command.encode();
        if bytes.len() > self.config.txn_bytes_max {
            return Err(EngineError::ProgramLimitExceeded(format!(
                "transaction of {} bytes exceeds the limit of {} bytes",
                bytes.len(),
                self.config.txn_bytes_max
            )));
        }
        state.check(database, command)?;
        let sealed = self.seal(state, database, &bytes)?;
        let op = self.propose_frames(state, database, &sealed)?;
        state
            .apply(op, database, command)
            .expect("command was checked under the same lock");
        self.applied_op.store(op, Ordering::Release);
        if let Err(error) = self.checkpoint_if_due(state, false) {
            tracing::warn!(%error, "checkpoint not logged");
        }
        Ok(op)
    }

    /// Seals a command's bytes with the tenant's data key, creating the
    /// tenant's keys first (logged key records, ahead of the command) if it
    /// has none. Called under the state lock, so key records and commands
    /// reach the log in the order they are sealed.
    fn seal(&self, state: &mut KernelState, tenant: u32, bytes: &[u8]) -> EngineResult<Vec<u8>> {
        let mut keyring = self.keyring.lock();
        if keyring.active(tenant).is_none() {
            self.create_keys(state, &mut keyring, tenant)?;
        }
        let (key_id, key) = keyring.active(tenant).expect("created above");
        Ok(envelope::seal(
            key_id,
            key,
            self.nonces.next(),
            tenant,
            bytes,
        ))
    }

    /// Logs a fresh KEK (wrapped by the master key) and data key (wrapped
    /// by that KEK) for `tenant` and makes them its active keys. Returns
    /// (KEK id, data key id, op of the last record).
    fn create_keys(
        &self,
        state: &mut KernelState,
        keyring: &mut Keyring,
        tenant: u32,
    ) -> EngineResult<(u32, u32, Op)> {
        let kek_id = keyring.key_id_max() + 1;
        let kek = keyring.wrap_new(tenant, KeyKind::Kek, kek_id, 0, self.nonces.next())?;
        self.propose_key_record(state, &kek)?;
        keyring.install(&kek)?;
        let dek = keyring.wrap_new(tenant, KeyKind::Dek, kek_id + 1, kek_id, self.nonces.next())?;
        let op = self.propose_key_record(state, &dek)?;
        keyring.install(&dek)?;
        Ok((kek_id, kek_id + 1, op))
    }

    /// Rotates the tenant's keys: a new KEK and data key are logged and new
    /// commands are sealed with them; everything sealed before stays
    /// readable with the old keys, which stay in the keyring. Returns the
    /// new (KEK id, data key id) once the records are durable.
    pub async fn rotate_keys(&self, tenant: u32) -> EngineResult<(u32, u32)> {
        let (kek, dek, op) = {
            let mut state = self.state.write();
            let mut keyring = self.keyring.lock();
            let created = self.create_keys(&mut state, &mut keyring, tenant)?;
            self.applied_op.store(created.2, Ordering::Release);
            created
        };
        self.replica.wait_committed(op).await?;
        tracing::info!(tenant, kek, dek, "rotated keys");
        Ok((kek, dek))
    }

    /// The active data key id of `tenant` (None before its first commit).
    pub fn active_key_id(&self, tenant: u32) -> Option<u32> {
        self.keyring.lock().active(tenant).map(|(id, _)| id)
    }

    /// Logs a signed checkpoint of the chain head when one is due (or
    /// `force`d) and the log grew since the last one. Called under the
    /// state lock so nothing is proposed between reading the head and
    /// proposing the checkpoint of it.
    fn checkpoint_if_due(&self, state: &mut KernelState, force: bool) -> EngineResult<()> {
        let mut mark = self.checkpoint.lock();
        let log = self.replica.storage();
        let head_op = log.last_op();
        if head_op == mark.frame_op || head_op == 0 {
            return Ok(());
        }
        let now = self.clock.now_ns();
        let interval = self.config.checkpoint_interval.as_nanos() as u64;
        let due = force
            || head_op - mark.frame_op >= self.config.checkpoint_ops
            || now.saturating_sub(mark.at_ns) >= interval;
        if !due {
            return Ok(());
        }
        let snapshot_hash = if self.config.snapshots {
            self.write_snapshot(state, head_op)?
        } else {
            [0; 32]
        };
        let record = Checkpoint::sign(&self.node_key, head_op, log.head_hash(), snapshot_hash, now);
        let meta = EntryMeta {
            op: 0,
            view: 0,
            timestamp_ns: now,
            tenant: 0,
            kind: FrameKind::Checkpoint as u8,
        };
        let op = self.replica.propose(meta, &record.encode())?;
        state.skip(op);
        self.applied_op.store(op, Ordering::Release);
        *mark = CheckpointMark {
            frame_op: op,
            record: Some(record),
            at_ns: now,
        };
        Ok(())
    }

    /// Seals the state at `op` with the tenant's data key and writes it as
    /// a snapshot file; returns the file's hash for the checkpoint.
    fn write_snapshot(&self, state: &KernelState, op: Op) -> EngineResult<[u8; 32]> {
        assert_eq!(
            state.applied_op, op,
            "under the state lock, everything logged is applied"
        );
        let plain = zeroize::Zeroizing::new(state.encode());
        let sealed = {
            let keyring = self.keyring.lock();
            let Some((key_id, key)) = keyring.active(DEFAULT_TENANT) else {
                return Ok([0; 32]);
            };
            envelope::seal(key_id, key, self.nonces.next(), DEFAULT_TENANT, &plain)
        };
        let file = snapshot::encode(op, DEFAULT_TENANT, &sealed);
        snapshot::write(&self.config.data_dir, op, &file, self.config.snapshots_kept)?;
        Ok(file[file.len() - 32..].try_into().expect("32-byte hash"))
    }

    /// The newest checkpoint: (its frame's op, the record).
    pub fn newest_checkpoint(&self) -> Option<(Op, Checkpoint)> {
        let mark = self.checkpoint.lock();
        mark.record.clone().map(|r| (mark.frame_op, r))
    }

    /// The node's public checkpoint-signing key.
    pub fn node_public_key(&self) -> [u8; 32] {
        self.node_key.verifying_key().to_bytes()
    }

    /// The chain head: (op, hash of its frame), including ops not yet durable.
    pub fn chain_head(&self) -> (Op, [u8; 32]) {
        let _state = self.state.read();
        let log = self.replica.storage();
        (log.last_op(), log.head_hash())
    }

    fn propose_key_record(&self, state: &mut KernelState, record: &KeyRecord) -> EngineResult<Op> {
        let meta = EntryMeta {
            op: 0,
            view: 0,
            timestamp_ns: self.clock.now_ns(),
            tenant: record.tenant,
            kind: FrameKind::KeyRecord as u8,
        };
        let op = self.replica.propose(meta, &record.encode())?;
        state.skip(op);
        Ok(op)
    }

    /// The log's nonce epoch for this process (durable, bumped every open).
    pub fn nonce_epoch(&self) -> u32 {
        self.nonces.epoch()
    }

    /// Proposes `bytes` as one frame, or as parts closed by a commit record.
    /// Returns the op at which the command applies.
    fn propose_frames(
        &self,
        state: &mut KernelState,
        tenant: DatabaseId,
        bytes: &[u8],
    ) -> EngineResult<Op> {
        let meta = |kind: FrameKind| EntryMeta {
            op: 0,
            view: 0,
            timestamp_ns: self.clock.now_ns(),
            tenant,
            kind: kind as u8,
        };
        if bytes.len() <= FRAME_PAYLOAD_BYTES_MAX {
            return Ok(self.replica.propose(meta(FrameKind::Command), bytes)?);
        }
        let chunk_bytes = FRAME_PAYLOAD_BYTES_MAX - PART_PREFIX_BYTES;
        let chunks: Vec<&[u8]> = bytes.chunks(chunk_bytes).collect();
        let first_op = self.replica.storage().last_op() + 1;
        let mut op = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let mut payload = Vec::with_capacity(chunk.len() + PART_PREFIX_BYTES);
            payload.extend_from_slice(&first_op.to_le_bytes());
            payload.extend_from_slice(chunk);
            let kind = if last {
                FrameKind::CommandCommit
            } else {
                FrameKind::CommandPart
            };
            op = self.replica.propose(meta(kind), &payload)?;
            if !last {
                state.skip(op);
            }
        }
        Ok(op)
    }

    /// Initializes a new data directory: records how logins authenticate
    /// and creates the superuser. Idempotent callers check
    /// [`Catalog::auth_mode`] first.
    pub async fn initialize(&self, mode: AuthMode, superuser: RoleDef) -> EngineResult<()> {
        self.commit(
            DEFAULT_TENANT,
            TxnCommand {
                catalog: vec![
                    CatalogChange::SetAuthMode(mode),
                    CatalogChange::CreateRole(superuser),
                ],
                ..Default::default()
            },
        )
        .await?;
        Ok(())
    }

    /// Logs a final checkpoint, flushes and stops the commit path.
    pub fn shutdown(&self) {
        {
            let mut state = self.state.write();
            if let Err(error) = self.checkpoint_if_due(&mut state, true) {
                tracing::warn!(%error, "no checkpoint at shutdown");
            }
        }
        self.replica.shutdown();
    }
}
