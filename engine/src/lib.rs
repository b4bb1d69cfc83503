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
//!   Engine::commit ── check ─► SoloReplica::propose ─► Log::append ───────────┘
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

pub mod crypto;
pub mod datum;
pub mod error;
pub mod kernel;
pub mod log;
pub mod mvcc;
pub mod sql;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kimberlite_catalog::{AuthMode, Catalog, CatalogChange, RoleDef};
use kimberlite_consensus::{EntryMeta, LogStorage, Op, SoloReplica};
use parking_lot::RwLock;

use crypto::envelope;
use crypto::keys::KeyKind;
use crypto::{KeyRecord, Keyring, MasterKeySource, NonceSource};
pub use error::{EngineError, EngineResult};
use kernel::{Command, KernelState, TxnCommand};
use log::frame::{FrameKind, FRAME_PAYLOAD_BYTES_MAX};
use log::storage::{DirStorage, Storage};
use log::{Log, LogConfig, RecoveryReport};

/// The database id of the one database served today.
pub const DEFAULT_TENANT: u32 = 1;

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
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_dir: data_dir.into(),
            segment_bytes_max: log::SEGMENT_BYTES_MAX_DEFAULT,
            txn_bytes_max: 64 << 20,
            statement_memory_bytes_max: STATEMENT_MEMORY_BYTES_MAX_DEFAULT,
            master_key: MasterKeySource::DataDir,
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
    replica: SoloReplica<Log>,
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
}

/// This node's id in nonces (a cluster of one today).
const WRITER_ID: u16 = 1;

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
        let mut keyring = Keyring::new(master);
        let (log, recovery) = Log::open(log_config, storage, |header, payload| {
            let envelope = match header.kind {
                FrameKind::KeyRecord => {
                    keyring.install(&KeyRecord::decode(payload)?)?;
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
            state.apply(header.op, &command).map_err(|e| {
                EngineError::Corrupted(format!(
                    "logged command at op {} does not apply: {e}",
                    header.op
                ))
            })
        })?;
        let applied = log.last_op();
        // Trailing parts without a commit record are never applied; skip them.
        if state.applied_op < applied {
            state.skip(applied);
        }
        let row_id_next = state.row_id_next;
        let table_id_next = state.latest_catalog().next_table_id();
        tracing::info!(
            frames = recovery.frames,
            segments = recovery.segments,
            truncated_bytes = recovery.truncated_bytes,
            last_op = applied,
            "log recovered"
        );
        let nonces = NonceSource::new(WRITER_ID, log.epoch());
        let replica = SoloReplica::start(log);
        Ok(Arc::new(Engine {
            config,
            replica,
            state: RwLock::new(state),
            applied_op: AtomicU64::new(applied),
            table_id_next: AtomicU64::new(table_id_next),
            row_id_next: AtomicU64::new(row_id_next),
            clock,
            stats: EngineStats::default(),
            recovery,
            keyring: parking_lot::Mutex::new(keyring),
            nonces,
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

    /// The catalog at `snapshot`.
    pub fn catalog_at(&self, snapshot: Op) -> Arc<Catalog> {
        self.state.read().catalog_at(snapshot)
    }

    /// The catalog of the newest durable snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog_at(self.snapshot())
    }

    /// A fresh table id (never reused, even if the creating transaction
    /// rolls back).
    pub fn allocate_table_id(&self) -> u64 {
        self.table_id_next.fetch_add(1, Ordering::Relaxed)
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
        ]
    }

    /// Bytes written to the log since start.
    pub fn log_bytes_written(&self) -> u64 {
        self.replica.storage().bytes_written()
    }

    /// Commits a transaction: checks it against the newest state, logs it,
    /// applies it, and returns once it is durable. Nothing is visible to
    /// other sessions before this returns.
    pub async fn commit(&self, txn: TxnCommand) -> EngineResult<Op> {
        let command = Command::Transaction(txn);
        let bytes = command.encode();
        if bytes.len() > self.config.txn_bytes_max {
            return Err(EngineError::ProgramLimitExceeded(format!(
                "transaction of {} bytes exceeds the limit of {} bytes",
                bytes.len(),
                self.config.txn_bytes_max
            )));
        }
        let op = {
            let mut state = self.state.write();
            state.check(&command)?;
            let sealed = self.seal(&mut state, DEFAULT_TENANT, &bytes)?;
            let op = self.propose_frames(&mut state, &sealed)?;
            state
                .apply(op, &command)
                .expect("command was checked under the same lock");
            self.applied_op.store(op, Ordering::Release);
            op
        };
        self.replica.wait_committed(op).await?;
        self.stats
            .transactions_committed
            .fetch_add(1, Ordering::Relaxed);
        Ok(op)
    }

    /// Seals a command's bytes with the tenant's data key, creating the
    /// tenant's keys first (logged key records, ahead of the command) if it
    /// has none. Called under the state lock, so key records and commands
    /// reach the log in the order they are sealed.
    fn seal(&self, state: &mut KernelState, tenant: u32, bytes: &[u8]) -> EngineResult<Vec<u8>> {
        let mut keyring = self.keyring.lock();
        if keyring.active(tenant).is_none() {
            let kek_id = keyring.key_id_max() + 1;
            let kek = keyring.wrap_new(tenant, KeyKind::Kek, kek_id, 0, self.nonces.next())?;
            self.propose_key_record(state, &kek)?;
            keyring.install(&kek)?;
            let dek =
                keyring.wrap_new(tenant, KeyKind::Dek, kek_id + 1, kek_id, self.nonces.next())?;
            self.propose_key_record(state, &dek)?;
            keyring.install(&dek)?;
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

    fn propose_key_record(&self, state: &mut KernelState, record: &KeyRecord) -> EngineResult<()> {
        let meta = EntryMeta {
            op: 0,
            view: 0,
            timestamp_ns: self.clock.now_ns(),
            tenant: record.tenant,
            kind: FrameKind::KeyRecord as u8,
        };
        let op = self.replica.propose(meta, &record.encode())?;
        state.skip(op);
        Ok(())
    }

    /// The log's nonce epoch for this process (durable, bumped every open).
    pub fn nonce_epoch(&self) -> u32 {
        self.nonces.epoch()
    }

    /// Proposes `bytes` as one frame, or as parts closed by a commit record.
    /// Returns the op at which the command applies.
    fn propose_frames(&self, state: &mut KernelState, bytes: &[u8]) -> EngineResult<Op> {
        let meta = |kind: FrameKind| EntryMeta {
            op: 0,
            view: 0,
            timestamp_ns: self.clock.now_ns(),
            tenant: DEFAULT_TENANT,
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
        self.commit(TxnCommand {
            catalog: vec![
                CatalogChange::SetAuthMode(mode),
                CatalogChange::CreateRole(superuser),
            ],
            mutations: vec![],
        })
        .await?;
        Ok(())
    }

    /// Flushes and stops the commit path.
    pub fn shutdown(&self) {
        self.replica.shutdown();
    }
}
