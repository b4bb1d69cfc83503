//! Invariant checkers the simulator runs on every step.
//!
//! - **One value per op**: every replica that commits op `n` commits the
//!   same entry (checksum), and its parent is the entry committed at
//!   `n - 1` — so replicas that reach the same op hold identical chains.
//! - **Committed ops are never lost**: when an op first commits, a quorum
//!   of replicas holds it durably, and whenever a flush removes durable
//!   entries, every committed op it touched is still durable on a quorum.
//!   (Crashes forget only unflushed writes, so only flushes can lose one.)
//! - **Linearizable client history** and **liveness after faults stop** are
//!   checked at the end of a run (see `mod.rs`).

use crate::vsr::Checksum;
use crate::Op;

use super::journal::SimJournal;

/// The global view of what committed.
#[derive(Debug, Default)]
pub struct Checker {
    /// `committed[op]`: the checksum committed at op (index 0 unused).
    committed: Vec<Option<Checksum>>,
    quorum: usize,
    pub violations: Vec<String>,
}

impl Checker {
    pub fn new(quorum: usize) -> Checker {
        Checker {
            committed: vec![None],
            quorum,
            violations: Vec::new(),
        }
    }

    /// The highest op any replica committed.
    pub fn commits(&self) -> Op {
        self.committed.len() as Op - 1
    }

    pub fn committed_at(&self, op: Op) -> Option<Checksum> {
        self.committed.get(op as usize).copied().flatten()
    }

    /// Replica `replica` committed `op` with `checksum` whose parent is
    /// `parent`; `journals` are every replica's storage (up or down).
    pub fn on_commit(
        &mut self,
        replica: usize,
        op: Op,
        checksum: Checksum,
        parent: Checksum,
        journals: &[&SimJournal],
    ) {
        if op as usize >= self.committed.len() {
            self.committed.resize(op as usize + 1, None);
        }
        match self.committed[op as usize] {
            Some(first) if first != checksum => self.violations.push(format!(
                "two values committed at op {op}: replica {replica} committed {checksum:032x}, \
                 another committed {first:032x}"
            )),
            Some(_) => {}
            None => {
                self.committed[op as usize] = Some(checksum);
                self.check_durable(op, journals, "when it committed");
            }
        }
        if op > 1 {
            if let Some(before) = self.committed[op as usize - 1] {
                if before != parent {
                    self.violations.push(format!(
                        "hash chains fork: replica {replica} committed op {op} on parent \
                         {parent:032x}, op {} committed {before:032x}",
                        op - 1
                    ));
                }
            }
        }
    }

    /// A flush removed durable entries above `op` on some replica.
    pub fn on_truncate(&mut self, op: Op, journals: &[&SimJournal]) {
        for committed in op + 1..=self.commits() {
            self.check_durable(committed, journals, "after a truncation");
        }
    }

    fn check_durable(&mut self, op: Op, journals: &[&SimJournal], when: &str) {
        let Some(checksum) = self.committed_at(op) else {
            return;
        };
        let holders = journals
            .iter()
            .filter(|j| j.durable_checksum(op) == Some(checksum))
            .count();
        if holders < self.quorum {
            let disks: Vec<String> = journals
                .iter()
                .enumerate()
                .map(|(i, j)| match j.durable_checksum(op) {
                    Some(c) if c == checksum => format!("r{i} holds it"),
                    Some(c) => format!("r{i} holds {:08x}", c >> 96),
                    None => format!("r{i} has no op {op}"),
                })
                .collect();
            self.violations.push(format!(
                "committed op {op} ({:08x}) is durable on {holders} replicas {when}, fewer than \
                 a quorum of {} ({})",
                checksum >> 96,
                self.quorum,
                disks.join(", ")
            ));
        }
    }
}
