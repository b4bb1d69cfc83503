//! `SAVEPOINT`, `ROLLBACK TO SAVEPOINT` and `RELEASE SAVEPOINT`.
//!
//! A savepoint is a mark in the open transaction block: its writes and DDL
//! (the overlays are copy-on-write, so a mark shares them until the next
//! write), its SET values, and which cursors were open. ROLLBACK TO returns
//! to the newest savepoint of that name — keeping it, and leaving the
//! aborted state, as in PostgreSQL — and closes cursors declared since;
//! RELEASE forgets it and every later one, keeping the work. Nothing here
//! is logged: only COMMIT produces a command, so a crash never exposes a
//! rolled-back part of a transaction.

use std::collections::BTreeSet;

use super::settings::SettingsMark;
use super::txn::TxnMark;
use super::{Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// Savepoints one transaction block may hold at once.
pub const SAVEPOINTS_MAX: usize = 10_000;

/// One savepoint.
#[derive(Debug)]
pub struct Savepoint {
    name: String,
    txn: TxnMark,
    settings: SettingsMark,
    cursors: BTreeSet<String>,
}

fn tag(text: &str) -> EngineResult<Outcome> {
    Ok(Outcome::Command { tag: text.into() })
}

impl Session {
    fn explicit_block(&self, command: &str) -> EngineResult<()> {
        match &self.txn {
            Some(txn) if txn.explicit => Ok(()),
            _ => Err(EngineError::NoActiveTransaction(format!(
                "{command} can only be used in transaction blocks"
            ))),
        }
    }

    pub(super) fn savepoint(&mut self, name: String) -> EngineResult<Outcome> {
        self.explicit_block("SAVEPOINT")?;
        if self.savepoints.len() >= SAVEPOINTS_MAX {
            return Err(EngineError::ProgramLimitExceeded(format!(
                "cannot have more than {SAVEPOINTS_MAX} savepoints in a transaction"
            )));
        }
        let txn = self.txn.as_ref().expect("checked above").mark();
        self.savepoints.push(Savepoint {
            name,
            txn,
            settings: self.settings.mark(),
            cursors: self.cursor_names(),
        });
        tag("SAVEPOINT")
    }

    fn find_savepoint(&self, name: &str) -> EngineResult<usize> {
        self.savepoints
            .iter()
            .rposition(|s| s.name == name)
            .ok_or_else(|| EngineError::UndefinedSavepoint(name.to_string()))
    }

    /// Allowed in the aborted state: it is how a block recovers.
    pub(super) fn rollback_to_savepoint(&mut self, name: &str) -> EngineResult<Outcome> {
        self.explicit_block("ROLLBACK TO SAVEPOINT")?;
        let at = self.find_savepoint(name)?;
        self.savepoints.truncate(at + 1);
        let savepoint = &self.savepoints[at];
        let (txn, settings) = (savepoint.txn.clone(), savepoint.settings.clone());
        let keep = savepoint.cursors.clone();
        self.txn.as_mut().expect("checked above").restore(txn);
        self.settings.restore(settings);
        self.close_cursors_except(&keep);
        tag("ROLLBACK")
    }

    pub(super) fn release_savepoint(&mut self, name: &str) -> EngineResult<Outcome> {
        self.explicit_block("RELEASE SAVEPOINT")?;
        let at = self.find_savepoint(name)?;
        self.savepoints.truncate(at);
        tag("RELEASE")
    }
}
