//! `SELECT … FOR UPDATE` / `FOR SHARE` [`NOWAIT`]: row locks for readers
//! that mean to write.
//!
//! Before the query runs, every row of its table that the WHERE clause
//! matches is locked like an UPDATE's row (waiting for an open writer, or
//! 55P03 under NOWAIT). The query then runs at a fresh snapshot under READ
//! COMMITTED, so it returns the newest committed versions of the rows it
//! now holds; under REPEATABLE READ a row changed since the snapshot is
//! 40001, as in PostgreSQL.
//!
//! Narrower than PostgreSQL, on purpose and visibly: one table without
//! joins (others are 0A000); every matching row is locked even when LIMIT
//! returns fewer (PostgreSQL locks only the rows returned); FOR SHARE
//! takes the same exclusive lock; SKIP LOCKED is 0A000.

use datafusion::sql::sqlparser::ast::{NonBlock, Query, SetExpr};

use super::dml::{is_stale, lock_row, select_target, target_rows, target_table};
use super::Session;
use crate::error::{EngineError, EngineResult};

/// Locks the rows `query` (which has a locking clause) would read.
pub(super) async fn lock_rows(session: &mut Session, query: &Query) -> EngineResult<()> {
    let unsupported = |what: &str| {
        Err(EngineError::FeatureNotSupported(format!(
            "SELECT … FOR UPDATE {what} is not supported yet"
        )))
    };
    let nowait = query
        .locks
        .iter()
        .any(|l| l.nonblock == Some(NonBlock::Nowait));
    if query
        .locks
        .iter()
        .any(|l| l.nonblock == Some(NonBlock::SkipLocked))
    {
        return unsupported("SKIP LOCKED");
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return unsupported("over a set operation");
    };
    let [from] = select.from.as_slice() else {
        return unsupported("over several tables");
    };
    if !from.joins.is_empty() {
        return unsupported("over a join");
    }
    let (table, alias) = target_table(session, &from.relation)?;
    let batches = select_target(
        session,
        &table,
        &alias,
        &[],
        select.selection.as_ref(),
        None,
    )
    .await?;
    let repeatable = session.txn.as_ref().is_some_and(|t| t.snapshot.is_some());
    for batch in &batches {
        for (key, base, _) in target_rows(&table, batch)? {
            if nowait {
                let engine = session.engine.clone();
                let txn = session.txn.as_mut().expect("in a transaction");
                let locks = txn.locks.get_or_insert_with(|| engine.row_locks.owner());
                if !locks.try_lock(table.id, &key) {
                    return Err(EngineError::LockNotAvailable(format!(
                        "could not obtain lock on row in relation \"{}\"",
                        table.name
                    )));
                }
            } else {
                lock_row(session, &table, &key).await?;
            }
            if repeatable && is_stale(session, &table, &key, base) {
                return Err(EngineError::SerializationFailure);
            }
        }
    }
    Ok(())
}
