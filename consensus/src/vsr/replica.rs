//! The replica: normal operation, commits, repair and restart. The view
//! change lives in `view_change.rs`.
//!
//! Invariants (asserted where cheap, checked by the simulator otherwise):
//! - `log[0]` is the cluster's root and `log[op].header.op == op`; each
//!   entry's parent is its predecessor's checksum;
//! - `commit_min <= commit_max <= last_op()`; applied entries (`<=
//!   commit_min`) are never truncated, and neither are entries known to be
//!   committed (`<= commit_max`);
//! - a `prepare_ok` names only entries that are durable, in a view whose log
//!   is durable; a `do_view_change` is sent only once its view is durable;
//! - the primary counts its own acknowledgement only for durable entries.

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::client_table::{ClientTable, Seen};
use super::journal::{Journal, ViewState};
use super::message::{decode, Address, Body, Checksum, Entry, Header, Message, ReplicaIndex, View};
use super::variant::{Correct, Variant};
use super::{Committed, Config, Outbox, StateMachine};
use crate::Op;

/// Out-of-order prepares a backup holds while it waits for the gap.
const PREPARES_BUFFERED_MAX: usize = 64;
/// Entries one repair answer carries.
pub(super) const REPAIR_BATCH: u64 = 16;

/// Where the replica is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Normal,
    ViewChange,
}

/// What a replica ignored or did, for operators and the simulator.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicaStats {
    /// Bytes whose checksum (or an entry's) did not verify.
    pub corrupt: u64,
    /// Messages for another cluster or replica, or from an unknown sender.
    pub misaddressed: u64,
    /// Messages of an older view, or for a status we are not in.
    pub stale: u64,
    /// Requests that reached a replica that is not the normal primary.
    pub not_primary: u64,
    /// Requests dropped because the pipeline was full.
    pub pipeline_full: u64,
    /// Entries that did not chain onto this replica's log.
    pub forks: u64,
    /// Logs refused at install because they would drop committed entries.
    pub refused_installs: u64,
    /// View changes this replica completed as the new primary.
    pub views_led: u64,
    /// View changes this replica started or joined.
    pub view_changes: u64,
    /// Entries applied.
    pub applied: u64,
}

/// A deferred message and what must be durable before it may leave.
#[derive(Debug)]
pub(super) struct Deferred {
    /// Entries up to this op must be durable.
    pub op: Op,
    /// The view state must be durable at least at this view.
    pub view: View,
    pub message: Message,
}

/// One replica of the cluster.
pub struct Replica<J: Journal, M: StateMachine, V: Variant = Correct> {
    pub(super) config: Config,
    pub(super) index: ReplicaIndex,
    pub(super) journal: J,
    pub(super) machine: M,
    pub(super) rng: ChaCha8Rng,
    pub(super) status: Status,
    pub(super) view: View,
    pub(super) log_view: View,
    /// Entries `log_base..=last_op()`: `log[0]` is the root, or after
    /// trimming the newest applied entry kept (see [`Config::log_retained`]).
    pub(super) log: Vec<Entry>,
    pub(super) log_base: Op,
    /// Highest op applied.
    pub(super) commit_min: Op,
    /// Highest op known committed.
    pub(super) commit_max: Op,
    /// A commit number heard for an op we do not hold yet.
    pub(super) commit_target: Option<(Op, Checksum)>,
    /// Entries up to here are durable.
    pub(super) persisted_op: Op,
    /// The view state durable on disk.
    pub(super) durable: ViewState,
    /// Primary only: the highest op each replica acknowledged in this view.
    pub(super) acks: Vec<Op>,
    /// Primary only: requests prepared but not yet committed, per client.
    pub(super) in_progress: BTreeMap<u64, u64>,
    /// Backup only: prepares that arrived ahead of a gap.
    pub(super) buffered: BTreeMap<Op, Entry>,
    pub(super) svc_from: BTreeSet<ReplicaIndex>,
    pub(super) dvcs: BTreeMap<ReplicaIndex, (View, Op, super::message::Suffix)>,
    pub(super) dvc_sent: bool,
    pub(super) now: u64,
    pub(super) normal_deadline: u64,
    pub(super) view_change_deadline: u64,
    pub(super) heartbeat_at: u64,
    pub(super) resend_at: u64,
    pub(super) repair_requested_at: u64,
    pub(super) view_change_attempts: u32,
    pub(super) deferred: Vec<Deferred>,
    pub(super) clients: ClientTable,
    pub(super) stats: ReplicaStats,
    _variant: PhantomData<V>,
}

impl<J: Journal, M: StateMachine, V: Variant> Replica<J, M, V> {
    /// Opens replica `index` from what `journal` holds durably. `machine`
    /// has already applied every entry up to `applied` (0 for a fresh
    /// state machine, which then re-applies committed entries as the
    /// replica learns them). `seed` drives the timeout jitter.
    ///
    /// A replica that was the primary of its view when it stopped (normal,
    /// or still collecting its view change) does not resume as that
    /// primary: it may have sent prepares or a `start_view` it did not
    /// persist, so it starts a view change to the next view. Another
    /// replica in a view change resumes it; a backup resumes as a backup of
    /// its view.
    pub fn open(
        config: Config,
        index: ReplicaIndex,
        journal: J,
        machine: M,
        applied: Op,
        seed: u64,
    ) -> Self {
        assert!(index < config.replica_count, "replica index out of range");
        let recovered = journal.recover();
        let log_base = recovered.base.as_ref().map_or(0, |b| b.header.op);
        let mut log = vec![recovered
            .base
            .clone()
            .unwrap_or_else(|| Entry::root(config.cluster))];
        for entry in recovered.entries {
            let last = log.last().expect("root");
            if entry.header.op != last.header.op + 1
                || entry.header.parent != last.checksum
                || !entry.is_intact()
            {
                // Storage faults are a later change: stop at the first
                // entry that does not chain (nothing after it is trusted).
                break;
            }
            log.push(entry);
        }
        let last = log_base + log.len() as Op - 1;
        let applied = applied.clamp(log_base, last);
        let state = recovered.view_state;
        let mut replica = Replica {
            config,
            index,
            journal,
            machine,
            rng: ChaCha8Rng::seed_from_u64(seed),
            status: Status::Normal,
            view: state.view,
            log_view: state.log_view,
            log,
            log_base,
            commit_min: applied,
            commit_max: applied,
            commit_target: None,
            persisted_op: last,
            durable: state,
            acks: vec![0; config.replica_count as usize],
            in_progress: BTreeMap::new(),
            buffered: BTreeMap::new(),
            svc_from: BTreeSet::new(),
            dvcs: BTreeMap::new(),
            dvc_sent: false,
            now: 0,
            normal_deadline: 0,
            view_change_deadline: 0,
            heartbeat_at: 0,
            resend_at: 0,
            repair_requested_at: 0,
            view_change_attempts: 0,
            deferred: Vec::new(),
            clients: ClientTable::default(),
            stats: ReplicaStats::default(),
            _variant: PhantomData,
        };
        let mut quiet = Outbox::default();
        if replica.is_primary() {
            // Normal or in its view change, the primary of this view may
            // have sent prepares, or a start_view, that it never persisted:
            // a second start of the same view could pick another log.
            replica.start_view_change(replica.view + 1, &mut quiet);
        } else if replica.log_view < replica.view {
            replica.enter_view_change(replica.view);
        } else {
            replica.reset_normal_deadline();
        }
        // Nothing is sent from `open`: the first tick resends whatever the
        // view change needs.
        replica.resend_at = 0;
        replica
    }

    // ----- inputs ---------------------------------------------------------

    /// Handles bytes from the network. Corrupt, misaddressed and stale
    /// messages are counted and otherwise ignored.
    pub fn on_message(&mut self, bytes: &[u8], out: &mut Outbox) {
        let message = match decode(bytes) {
            Ok(message) => message,
            Err(_) => {
                self.stats.corrupt += 1;
                return;
            }
        };
        if message.cluster != self.config.cluster || message.to != Address::Replica(self.index) {
            self.stats.misaddressed += 1;
            return;
        }
        if let Address::Replica(from) = message.from {
            if from >= self.config.replica_count || from == self.index {
                self.stats.misaddressed += 1;
                return;
            }
        }
        self.handle(message, out);
    }

    /// Advances time by one tick: heartbeats, resends and timeouts.
    pub fn tick(&mut self, out: &mut Outbox) {
        self.now += 1;
        match self.status {
            Status::Normal if self.is_primary() => {
                if self.now >= self.heartbeat_at {
                    self.heartbeat_at = self.now + self.config.timeouts.heartbeat;
                    self.broadcast_commit(out);
                }
                if self.now >= self.resend_at {
                    self.resend_at = self.now + self.config.timeouts.prepare_resend;
                    self.resend_prepares(out);
                }
            }
            Status::Normal => {
                if self.now >= self.normal_deadline {
                    self.start_view_change(self.view + 1, out);
                }
            }
            Status::ViewChange => {
                if self.now >= self.view_change_deadline {
                    self.view_change_attempts = self.view_change_attempts.saturating_add(1);
                    self.start_view_change(self.view + 1, out);
                } else if self.now >= self.resend_at {
                    self.resend_at = self.now + self.config.timeouts.view_change_resend;
                    self.resend_view_change(out);
                }
            }
        }
    }

    /// The environment made every write issued so far durable, entries up
    /// to `durable_op` included.
    pub fn on_flushed(&mut self, durable_op: Op, out: &mut Outbox) {
        self.persisted_op = durable_op.min(self.last_op());
        self.durable = ViewState {
            view: self.view,
            log_view: self.log_view,
        };
        if self.status == Status::Normal && self.is_primary() && self.durable.log_view == self.view
        {
            self.acks[self.index as usize] = self.persisted_op;
            self.try_commit(out);
        }
        let ready: Vec<Deferred>;
        (ready, self.deferred) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| d.op <= self.persisted_op && d.view <= self.durable.view);
        for deferred in ready {
            self.release(deferred.message, out);
        }
    }

    /// Proposes an entry from the primary's own process (client 0: no
    /// session, no deduplication). Returns its op, or `None` when this
    /// replica is not the normal primary or the pipeline is full.
    #[allow(clippy::too_many_arguments)]
    pub fn propose(
        &mut self,
        timestamp_ns: u64,
        tenant: u32,
        kind: u8,
        body: Arc<[u8]>,
        out: &mut Outbox,
    ) -> Option<Op> {
        if self.status != Status::Normal || !self.is_primary() || self.pipeline_full() {
            return None;
        }
        Some(self.prepare(0, 0, timestamp_ns, tenant, kind, body, out))
    }

    // ----- accessors ------------------------------------------------------

    pub fn index(&self) -> ReplicaIndex {
        self.index
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn view(&self) -> View {
        self.view
    }
    pub fn log_view(&self) -> View {
        self.log_view
    }
    /// Highest op in the log (durable or not).
    pub fn last_op(&self) -> Op {
        self.log_base + self.log.len() as Op - 1
    }
    /// The entry at `op`, which must be held (`log_base..=last_op()`).
    pub(super) fn at(&self, op: Op) -> &Entry {
        assert!(
            op >= self.log_base,
            "op {op} was trimmed (base {})",
            self.log_base
        );
        &self.log[(op - self.log_base) as usize]
    }
    /// Highest op applied.
    pub fn commit_min(&self) -> Op {
        self.commit_min
    }
    /// Highest op known committed.
    pub fn commit_max(&self) -> Op {
        self.commit_max
    }
    /// The checksum of the entry at `op`, if held.
    pub fn checksum_at(&self, op: Op) -> Option<Checksum> {
        let index = op.checked_sub(self.log_base)?;
        self.log.get(index as usize).map(|e| e.checksum)
    }
    /// Whether this replica is the primary of its view (in any status).
    pub fn is_primary(&self) -> bool {
        self.config.primary(self.view) == self.index
    }

    /// The replica a message came from; a message from a client where a
    /// replica's is expected is counted as misaddressed.
    pub(super) fn sending_replica(&mut self, from: Address) -> Option<ReplicaIndex> {
        match from {
            Address::Replica(index) => Some(index),
            Address::Client(_) => {
                self.stats.misaddressed += 1;
                None
            }
        }
    }

    /// Whether this replica is the primary of `view` and it is the current,
    /// normal view; a message about any other is counted as stale.
    pub(super) fn leads_normal_view(&mut self, view: View) -> bool {
        let leads = view == self.view && self.status == Status::Normal && self.is_primary();
        if !leads {
            self.stats.stale += 1;
        }
        leads
    }
    pub fn stats(&self) -> &ReplicaStats {
        &self.stats
    }
    pub fn journal(&self) -> &J {
        &self.journal
    }
    pub fn journal_mut(&mut self) -> &mut J {
        &mut self.journal
    }
    pub fn machine(&self) -> &M {
        &self.machine
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Stops the replica, keeping its storage (what a crash leaves).
    pub fn into_journal(self) -> J {
        self.journal
    }

    // ----- dispatch -------------------------------------------------------

    pub(super) fn handle(&mut self, message: Message, out: &mut Outbox) {
        let from = message.from;
        let view = message.view;
        match message.body {
            Body::Request {
                client,
                request,
                timestamp_ns,
                tenant,
                kind,
                body,
            } => self.on_request(client, request, timestamp_ns, tenant, kind, body, out),
            Body::Reply { .. } => self.stats.misaddressed += 1,
            Body::Prepare {
                entry,
                commit,
                commit_checksum,
            } => self.on_prepare(from, view, entry, commit, commit_checksum, out),
            Body::PrepareOk { op, checksum } => self.on_prepare_ok(from, view, op, checksum, out),
            Body::Commit { commit, checksum } => self.on_commit(from, view, commit, checksum, out),
            Body::RequestPrepare { op } => self.on_request_prepare(from, view, op, out),
            Body::StartViewChange => self.on_start_view_change(from, view, out),
            Body::DoViewChange {
                log_view,
                commit,
                log,
            } => self.on_do_view_change(from, view, log_view, commit, log, out),
            Body::RequestStartView => self.on_request_start_view(from, view, out),
            Body::StartView { commit, log } => self.on_start_view(from, view, commit, log, out),
        }
    }

    /// Sends a message, or handles it here when it is addressed to us (a
    /// primary's own `do_view_change`).
    pub(super) fn release(&mut self, message: Message, out: &mut Outbox) {
        if message.to == Address::Replica(self.index) {
            self.handle(message, out);
        } else {
            out.messages.push(message);
        }
    }

    pub(super) fn message(&self, to: Address, body: Body) -> Message {
        Message {
            cluster: self.config.cluster,
            from: Address::Replica(self.index),
            to,
            view: self.view,
            body,
        }
    }

    pub(super) fn send(&self, to: ReplicaIndex, body: Body, out: &mut Outbox) {
        out.messages.push(self.message(Address::Replica(to), body));
    }

    pub(super) fn broadcast(&self, body: Body, out: &mut Outbox) {
        for to in 0..self.config.replica_count {
            if to != self.index {
                self.send(to, body.clone(), out);
            }
        }
    }

    /// Sends `message` once entries up to `op` and the current view state
    /// are durable (at once if they already are).
    pub(super) fn send_when_durable(&mut self, op: Op, message: Message, out: &mut Outbox) {
        let view = message.view;
        if !V::ACK_BEFORE_PERSIST && (op > self.persisted_op || view > self.durable.view) {
            self.deferred.push(Deferred { op, view, message });
        } else {
            self.release(message, out);
        }
    }

    // ----- normal operation: primary ---------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        client: u64,
        request: u64,
        timestamp_ns: u64,
        tenant: u32,
        kind: u8,
        body: Vec<u8>,
        out: &mut Outbox,
    ) {
        if self.status != Status::Normal || !self.is_primary() {
            self.stats.not_primary += 1;
            return;
        }
        if V::STALE_READS {
            if let Some(result) = self.machine.query(&body) {
                self.reply(client, request, result, out);
                return;
            }
        }
        if client == 0 {
            // Client 0 is the primary's own process; it does not arrive
            // over the network.
            self.stats.misaddressed += 1;
            return;
        }
        match self.clients.seen(client, request) {
            _ if V::SKIP_CLIENT_TABLE => {}
            Seen::Executed(result) => return self.reply(client, request, result, out),
            Seen::Stale => return self.stats.stale += 1,
            Seen::New => {}
        }
        if !V::SKIP_CLIENT_TABLE && self.in_progress.get(&client).is_some_and(|&r| r >= request) {
            return; // prepared already; the reply follows its commit
        }
        if self.pipeline_full() {
            self.stats.pipeline_full += 1;
            return;
        }
        self.prepare(
            client,
            request,
            timestamp_ns,
            tenant,
            kind,
            Arc::from(body),
            out,
        );
    }

    fn pipeline_full(&self) -> bool {
        (self.last_op() - self.commit_max) as usize >= self.config.pipeline_max
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &mut self,
        client: u64,
        request: u64,
        timestamp_ns: u64,
        tenant: u32,
        kind: u8,
        body: Arc<[u8]>,
        out: &mut Outbox,
    ) -> Op {
        debug_assert!(self.status == Status::Normal && self.is_primary());
        let parent = self.log.last().expect("root");
        let header = Header {
            op: parent.header.op + 1,
            view: self.view,
            parent: parent.checksum,
            client,
            request,
            // Timestamps never go backwards along the log.
            timestamp_ns: timestamp_ns.max(parent.header.timestamp_ns),
            tenant,
            kind,
            body_checksum: 0,
        };
        let entry = Entry::new(header, body);
        let op = header.op;
        self.journal.append(&entry);
        self.log.push(entry.clone());
        if client != 0 {
            self.in_progress.insert(client, request);
        }
        let commit_checksum = self.at(self.commit_max).checksum;
        self.broadcast(
            Body::Prepare {
                entry,
                commit: self.commit_max,
                commit_checksum,
            },
            out,
        );
        if V::ACK_BEFORE_PERSIST {
            self.acks[self.index as usize] = op;
        }
        if V::COMMIT_WITHOUT_QUORUM {
            self.commit_max = op;
            self.apply_commits(out);
        }
        self.try_commit(out);
        op
    }

    fn on_prepare_ok(
        &mut self,
        from: Address,
        view: View,
        op: Op,
        checksum: Checksum,
        out: &mut Outbox,
    ) {
        let Some(from) = self.sending_replica(from) else {
            return;
        };
        if !self.leads_normal_view(view) {
            return;
        }
        if self.checksum_at(op) != Some(checksum) {
            return self.stats.forks += 1;
        }
        let ack = &mut self.acks[from as usize];
        *ack = (*ack).max(op);
        self.try_commit(out);
    }

    /// Commits up to the highest op a quorum holds durably in this view.
    pub(super) fn try_commit(&mut self, out: &mut Outbox) {
        if self.status != Status::Normal || !self.is_primary() {
            return;
        }
        let mut acks = self.acks.clone();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let quorum_op = acks[self.config.quorum() - 1].min(self.last_op());
        if quorum_op > self.commit_max {
            self.commit_max = quorum_op;
            self.apply_commits(out);
            self.broadcast_commit(out);
        }
    }

    fn broadcast_commit(&self, out: &mut Outbox) {
        let checksum = self.at(self.commit_max).checksum;
        self.broadcast(
            Body::Commit {
                commit: self.commit_max,
                checksum,
            },
            out,
        );
    }

    /// Resends to each backup the prepares it has not acknowledged.
    fn resend_prepares(&self, out: &mut Outbox) {
        for to in 0..self.config.replica_count {
            let acked = self.acks[to as usize];
            if to == self.index || acked >= self.last_op() {
                continue;
            }
            let last = (acked + REPAIR_BATCH / 2).min(self.last_op());
            self.send_prepares(to, acked + 1, last, out);
        }
    }

    pub(super) fn send_prepares(&self, to: ReplicaIndex, first: Op, last: Op, out: &mut Outbox) {
        let commit_checksum = self.at(self.commit_max).checksum;
        for op in first.max(self.log_base + 1)..=last {
            self.send(
                to,
                Body::Prepare {
                    entry: self.at(op).clone(),
                    commit: self.commit_max,
                    commit_checksum,
                },
                out,
            );
        }
    }

    fn on_request_prepare(&mut self, from: Address, view: View, op: Op, out: &mut Outbox) {
        let Some(from) = self.sending_replica(from) else {
            return;
        };
        if !self.leads_normal_view(view) {
            return;
        }
        if op == 0 || op > self.last_op() {
            return;
        }
        let last = (op + REPAIR_BATCH - 1).min(self.last_op());
        self.send_prepares(from, op, last, out);
    }

    fn reply(&self, client: u64, request: u64, result: Vec<u8>, out: &mut Outbox) {
        out.messages.push(self.message(
            Address::Client(client),
            Body::Reply {
                client,
                request,
                result,
            },
        ));
    }

    // ----- normal operation: backup ------------------------------------------

    fn on_prepare(
        &mut self,
        from: Address,
        view: View,
        entry: Entry,
        commit: Op,
        commit_checksum: Checksum,
        out: &mut Outbox,
    ) {
        if !self.heard_primary(from, view, out) {
            return;
        }
        let op = entry.header.op;
        if op <= self.last_op() {
            if op <= self.log_base || self.at(op).checksum == entry.checksum {
                self.acknowledge(out);
            } else if op > self.commit_max {
                // Our suffix is not the primary's: get the primary's log.
                self.stats.forks += 1;
                self.request_start_view(view, out);
            } else {
                self.stats.forks += 1;
            }
        } else if op == self.last_op() + 1 {
            self.append(entry, out);
            while let Some(next) = self.buffered.remove(&(self.last_op() + 1)) {
                self.append(next, out);
            }
        } else {
            if self.buffered.len() < PREPARES_BUFFERED_MAX {
                self.buffered.insert(op, entry);
            }
            self.request_repair(out);
        }
        self.learn_commit(commit, commit_checksum, out);
    }

    /// Appends the primary's next entry (which must chain onto ours) and
    /// acknowledges it once durable.
    pub(super) fn append(&mut self, entry: Entry, out: &mut Outbox) {
        debug_assert_eq!(entry.header.op, self.last_op() + 1);
        if entry.header.parent != self.log.last().expect("root").checksum {
            self.stats.forks += 1;
            return self.request_start_view(self.view, out);
        }
        self.journal.append(&entry);
        self.log.push(entry);
        self.acknowledge(out);
        if let Some((op, checksum)) = self.commit_target {
            if op <= self.last_op() {
                self.learn_commit(op, checksum, out);
            }
        }
    }

    /// A cumulative `prepare_ok` for the whole log, once it is durable.
    pub(super) fn acknowledge(&mut self, out: &mut Outbox) {
        let op = self.last_op();
        let body = Body::PrepareOk {
            op,
            checksum: self.at(op).checksum,
        };
        let message = self.message(Address::Replica(self.config.primary(self.view)), body);
        self.send_when_durable(op, message, out);
    }

    fn on_commit(
        &mut self,
        from: Address,
        view: View,
        commit: Op,
        checksum: Checksum,
        out: &mut Outbox,
    ) {
        if self.heard_primary(from, view, out) {
            self.learn_commit(commit, checksum, out);
        }
    }

    /// Whether a backup should act on a message of the primary of `view`:
    /// it must come from that primary, in our view, while we are normal.
    /// A message of a newer (or just formed) view makes us ask its primary
    /// for the log. Hearing from our primary postpones the view change.
    fn heard_primary(&mut self, from: Address, view: View, out: &mut Outbox) -> bool {
        if from != Address::Replica(self.config.primary(view)) {
            self.stats.misaddressed += 1;
            return false;
        }
        if view < self.view {
            self.stats.stale += 1;
            return false;
        }
        if view > self.view || self.status != Status::Normal {
            self.request_start_view(view, out);
            return false;
        }
        if self.is_primary() {
            self.stats.misaddressed += 1;
            return false;
        }
        self.reset_normal_deadline();
        true
    }

    /// The primary committed up to `commit`, whose entry has `checksum`.
    /// Applies what we hold of it; asks for what we miss.
    pub(super) fn learn_commit(&mut self, commit: Op, checksum: Checksum, out: &mut Outbox) {
        if commit <= self.commit_max {
            return;
        }
        if commit > self.last_op() {
            self.commit_target = Some((commit, checksum));
            return self.request_repair(out);
        }
        if self.at(commit).checksum != checksum {
            self.stats.forks += 1;
            return self.request_start_view(self.view, out);
        }
        self.commit_target = None;
        self.commit_max = commit;
        self.apply_commits(out);
    }

    /// Asks the primary for the entries after our last, at most once a
    /// tick.
    fn request_repair(&mut self, out: &mut Outbox) {
        if self.repair_requested_at == self.now {
            return;
        }
        self.repair_requested_at = self.now;
        let primary = self.config.primary(self.view);
        self.send(
            primary,
            Body::RequestPrepare {
                op: self.last_op() + 1,
            },
            out,
        );
    }

    pub(super) fn reset_normal_deadline(&mut self) {
        let t = self.config.timeouts;
        self.normal_deadline = self.now + t.normal + self.rng.gen_range(0..=t.jitter);
    }

    // ----- commits -----------------------------------------------------------

    /// Applies committed entries in op order; the primary replies.
    pub(super) fn apply_commits(&mut self, out: &mut Outbox) {
        debug_assert!(self.commit_min <= self.commit_max);
        let target = self.commit_max.min(self.last_op());
        while self.commit_min < target {
            let op = self.commit_min + 1;
            let entry = self.at(op).clone();
            let (client, request) = (entry.header.client, entry.header.request);
            let result = if client == 0 || V::SKIP_CLIENT_TABLE {
                self.machine.apply(&entry)
            } else {
                match self.clients.seen(client, request) {
                    Seen::New => {
                        let result = self.machine.apply(&entry);
                        self.clients.executed(client, request, op, result.clone());
                        result
                    }
                    // A duplicate in the log executes once.
                    Seen::Executed(result) => result,
                    Seen::Stale => Vec::new(),
                }
            };
            self.commit_min = op;
            self.stats.applied += 1;
            if client != 0 && self.status == Status::Normal && self.is_primary() {
                if self.in_progress.get(&client) == Some(&request) {
                    self.in_progress.remove(&client);
                }
                self.reply(client, request, result.clone(), out);
            }
            out.commits.push(Committed { entry, result });
        }
        self.trim();
    }

    /// Drops applied entries beyond what [`Config::log_retained`] keeps;
    /// the newest applied entry stays as the base the log chains from.
    fn trim(&mut self) {
        let keep_from = self
            .commit_min
            .saturating_sub(self.config.log_retained)
            .max(self.log_base);
        if keep_from > self.log_base {
            self.log.drain(..(keep_from - self.log_base) as usize);
            self.log_base = keep_from;
        }
        debug_assert_eq!(self.log[0].header.op, self.log_base);
    }
}
