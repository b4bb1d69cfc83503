//! The view change: a new primary when the old one is silent.
//!
//! 1. A backup that hears nothing from its primary for `normal` ticks (plus
//!    seeded jitter) moves to view `v + 1` and broadcasts
//!    `start_view_change`; replicas that hear of a higher view join it.
//! 2. A replica with `start_view_change` from a quorum (itself included)
//!    sends `do_view_change` — its log, the view it was last normal in and
//!    its commit number — to the primary of `v + 1`, once `v + 1` is durable
//!    (the promise never to act in an older view must survive a restart).
//! 3. The new primary, with a quorum of `do_view_change` (its own included),
//!    takes the log with the highest (log view, op): every committed entry
//!    is in it, because a commit needed a quorum in the newest log view and
//!    any two quorums intersect. It installs that log, becomes normal and
//!    broadcasts `start_view`; backups install it and acknowledge.
//!
//! A view change that does not finish in `view_change` ticks moves on to the
//! next view, with a back-off that doubles (up to 8x) per failed attempt.

use std::collections::BTreeSet;

use rand::Rng;

use super::journal::{Journal, ViewState};
use super::message::{Address, Body, Suffix, View};
use super::replica::{Replica, Status};
use super::variant::Variant;
use super::{Outbox, StateMachine};
use crate::Op;

impl<J: Journal, M: StateMachine, V: Variant> Replica<J, M, V> {
    /// Moves to `view` in view-change status and tells everyone.
    pub(super) fn start_view_change(&mut self, view: View, out: &mut Outbox) {
        self.enter_view_change(view);
        self.broadcast(Body::StartViewChange, out);
        self.check_start_view_change_quorum(out);
    }

    /// Moves to `view` in view-change status, persisting the promise.
    pub(super) fn enter_view_change(&mut self, view: View) {
        assert!(view >= self.view, "views never go back");
        if view > self.view || self.status != Status::ViewChange {
            self.stats.view_changes += 1;
        }
        self.view = view;
        self.status = Status::ViewChange;
        self.journal.set_view(ViewState {
            view,
            log_view: self.log_view,
        });
        self.svc_from = BTreeSet::from([self.index]);
        self.dvcs.clear();
        self.dvc_sent = false;
        self.in_progress.clear();
        self.buffered.clear();
        self.commit_target = None;
        let t = self.config.timeouts;
        let backoff = 1u64 << self.view_change_attempts.min(3);
        self.view_change_deadline =
            self.now + t.view_change * backoff + self.rng.gen_range(0..=t.jitter);
        self.resend_at = self.now + t.view_change_resend;
    }

    pub(super) fn on_start_view_change(&mut self, from: Address, view: View, out: &mut Outbox) {
        let Some(from) = self.sending_replica(from) else {
            return;
        };
        if self.join_view_change(view, out) {
            self.svc_from.insert(from);
            self.check_start_view_change_quorum(out);
        }
    }

    /// Whether a view-change message of `view` concerns us: not an older
    /// view, nor one we are already normal in. A newer view is joined.
    fn join_view_change(&mut self, view: View, out: &mut Outbox) -> bool {
        if view < self.view || (view == self.view && self.status == Status::Normal) {
            self.stats.stale += 1;
            return false;
        }
        if view > self.view {
            self.start_view_change(view, out);
        }
        true
    }

    fn check_start_view_change_quorum(&mut self, out: &mut Outbox) {
        if self.status != Status::ViewChange
            || self.dvc_sent
            || self.svc_from.len() < self.config.quorum()
        {
            return;
        }
        self.dvc_sent = true;
        let message = self.do_view_change();
        // The promise (our view) must be durable before the log leaves.
        self.send_when_durable(0, message, out);
    }

    fn do_view_change(&self) -> super::Message {
        self.message(
            Address::Replica(self.config.primary(self.view)),
            Body::DoViewChange {
                log_view: self.log_view,
                commit: self.commit_max,
                log: self.suffix(),
            },
        )
    }

    /// Resends this view change's messages (they may have been lost).
    pub(super) fn resend_view_change(&mut self, out: &mut Outbox) {
        self.broadcast(Body::StartViewChange, out);
        if self.dvc_sent && self.durable.view >= self.view && !self.is_primary() {
            out.messages.push(self.do_view_change());
        }
    }

    pub(super) fn on_do_view_change(
        &mut self,
        from: Address,
        view: View,
        log_view: View,
        commit: Op,
        log: Suffix,
        out: &mut Outbox,
    ) {
        let Some(from) = self.sending_replica(from) else {
            return;
        };
        if self.config.primary(view) != self.index {
            return self.stats.misaddressed += 1;
        }
        if !self.join_view_change(view, out) {
            return;
        }
        // A do_view_change implies its sender's start_view_change.
        self.svc_from.insert(from);
        self.dvcs.insert(from, (log_view, commit, log));
        self.check_start_view_change_quorum(out);
        if self.dvcs.len() >= self.config.quorum() && self.dvcs.contains_key(&self.index) {
            self.become_primary(out);
        }
    }

    /// Installs the best log of the quorum and starts the view.
    fn become_primary(&mut self, out: &mut Outbox) {
        let chosen = if V::SKIP_LOG_COMPARISON {
            self.index
        } else {
            // Highest (log view, op); ties are identical logs.
            *self
                .dvcs
                .iter()
                .max_by_key(|(_, (log_view, _, log))| (*log_view, log.head_op))
                .expect("a quorum of do_view_change")
                .0
        };
        let commit = self.dvcs.values().map(|(_, c, _)| *c).max().unwrap_or(0);
        let log = self.dvcs[&chosen].2.clone();
        if !self.install_log(&log) {
            return;
        }
        self.log_view = self.view;
        self.status = Status::Normal;
        self.journal.set_view(ViewState {
            view: self.view,
            log_view: self.view,
        });
        self.acks = vec![0; self.config.replica_count as usize];
        self.commit_max = self.commit_max.max(commit).min(self.last_op());
        self.in_progress = (self.commit_max + 1..=self.last_op())
            .map(|op| self.at(op).header)
            .filter(|h| h.client != 0)
            .map(|h| (h.client, h.request))
            .collect();
        self.stats.views_led += 1;
        self.view_change_attempts = 0;
        self.heartbeat_at = self.now;
        self.resend_at = self.now + self.config.timeouts.prepare_resend;
        self.dvcs.clear();
        self.broadcast(
            Body::StartView {
                commit: self.commit_max,
                log: self.suffix(),
            },
            out,
        );
        self.apply_commits(out);
    }

    pub(super) fn on_request_start_view(&mut self, from: Address, view: View, out: &mut Outbox) {
        let Some(from) = self.sending_replica(from) else {
            return;
        };
        if !self.leads_normal_view(view) {
            return;
        }
        self.send(
            from,
            Body::StartView {
                commit: self.commit_max,
                log: self.suffix(),
            },
            out,
        );
    }

    pub(super) fn request_start_view(&mut self, view: View, out: &mut Outbox) {
        if self.repair_requested_at == self.now {
            return;
        }
        self.repair_requested_at = self.now;
        let primary = self.config.primary(view);
        if primary == self.index {
            return;
        }
        let mut message = self.message(Address::Replica(primary), Body::RequestStartView);
        message.view = view;
        out.messages.push(message);
    }

    pub(super) fn on_start_view(
        &mut self,
        from: Address,
        view: View,
        commit: Op,
        log: Suffix,
        out: &mut Outbox,
    ) {
        if from != Address::Replica(self.config.primary(view))
            || self.config.primary(view) == self.index
        {
            return self.stats.misaddressed += 1;
        }
        if view < self.view {
            return self.stats.stale += 1;
        }
        if view == self.view && self.log_view == view && self.status == Status::Normal {
            // We hold this view's log already and may have acknowledged
            // entries the primary prepared after this message: a late
            // start_view may extend our log, never cut it.
            return self.extend_log(&log, commit, out);
        }
        if !self.install_log(&log) {
            return;
        }
        self.view = view;
        self.log_view = view;
        self.status = Status::Normal;
        self.journal.set_view(ViewState {
            view,
            log_view: view,
        });
        self.svc_from.clear();
        self.dvcs.clear();
        self.dvc_sent = false;
        self.view_change_attempts = 0;
        self.reset_normal_deadline();
        self.commit_max = self.commit_max.max(commit).min(self.last_op());
        self.apply_commits(out);
        self.acknowledge(out);
    }

    /// Appends the entries of `log` beyond ours, if they chain.
    fn extend_log(&mut self, log: &Suffix, commit: Op, out: &mut Outbox) {
        let last = self.last_op();
        if log.head_op <= last {
            return self.stats.stale += 1;
        }
        if log.checksum_at(last) != self.checksum_at(last) {
            return self.stats.forks += 1;
        }
        self.reset_normal_deadline();
        for entry in log.entries.iter().filter(|e| e.header.op > last) {
            self.append(entry.clone(), out);
        }
        if let Some(checksum) = log.checksum_at(commit) {
            self.learn_commit(commit, checksum, out);
        }
    }

    /// This replica's log after its base, for a view change.
    pub(super) fn suffix(&self) -> Suffix {
        Suffix {
            head_op: self.last_op(),
            head_checksum: self.at(self.last_op()).checksum,
            entries: self.log[1..].to_vec(),
        }
    }

    /// Replaces our log with the new view's `log`, keeping the common
    /// prefix. Refuses (and counts) a log that shares no known entry with
    /// ours (that needs state transfer) or that would drop an entry we know
    /// is committed.
    pub(super) fn install_log(&mut self, log: &Suffix) -> bool {
        debug_assert!(log.is_consistent());
        let mut op = self.last_op().min(log.head_op);
        let common = loop {
            match (self.checksum_at(op), log.checksum_at(op)) {
                (Some(ours), Some(theirs)) if ours == theirs => break op,
                (Some(_), Some(_)) if op > 0 => op -= 1,
                _ => {
                    self.stats.refused_installs += 1;
                    return false;
                }
            }
        };
        if common < self.commit_max {
            self.stats.refused_installs += 1;
            return false;
        }
        if common < self.last_op() {
            self.journal.truncate(common);
            self.log.truncate((common - self.log_base) as usize + 1);
            self.persisted_op = self.persisted_op.min(common);
        }
        for entry in log.entries.iter().filter(|e| e.header.op > common) {
            self.journal.append(entry);
            self.log.push(entry.clone());
        }
        self.buffered.clear();
        true
    }
}
