//! `SELECT … FOR UPDATE | FOR SHARE [NOWAIT | SKIP LOCKED]`: row locks for
//! readers that mean to write.
//!
//! Before the query runs, the rows of its table that the WHERE clause
//! matches are locked like an UPDATE's rows: waiting for an open writer,
//! 55P03 under NOWAIT, and under SKIP LOCKED a row another transaction
//! holds is passed over. The query then runs at a fresh snapshot under
//! READ COMMITTED, so it returns the newest committed versions of the rows
//! it now holds; under REPEATABLE READ a row changed since the snapshot is
//! 40001, as in PostgreSQL.
//!
//! SKIP LOCKED is how job queues take work (`… ORDER BY id LIMIT 1 FOR
//! UPDATE SKIP LOCKED`): rows are tried in the query's ORDER BY, locking
//! stops once LIMIT (+ OFFSET) rows are held, and every matching row not
//! held is hidden from the query (as if deleted, in its read scope only),
//! so two workers never take the same row.
//!
//! Narrower than PostgreSQL, on purpose and visibly: one table without
//! joins (others are 0A000); without SKIP LOCKED every matching row is
//! locked even when LIMIT returns fewer; FOR SHARE takes the same
//! exclusive lock.

use datafusion::sql::sqlparser::ast::{Expr, LimitClause, NonBlock, Query, SetExpr, Value};
use kimberlite_catalog::TableId;

use super::dml::{is_stale, lock_row, select_target, target_rows, target_table};
use super::Session;
use crate::error::{EngineError, EngineResult};

/// Rows the query must not see: matching rows this transaction does not
/// hold (SKIP LOCKED).
pub(super) struct Hidden {
    pub table: TableId,
    pub keys: Vec<Vec<u8>>,
}

fn literal(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// LIMIT + OFFSET when both are literal numbers.
fn rows_wanted(query: &Query) -> Option<usize> {
    match &query.limit_clause {
        Some(LimitClause::LimitOffset {
            limit: Some(limit),
            offset,
            ..
        }) => {
            let offset = match offset {
                Some(offset) => literal(&offset.value)?,
                None => 0,
            };
            Some(literal(limit)? + offset)
        }
        _ => None,
    }
}

/// Locks the rows `query` (which has a locking clause) would read.
pub(super) async fn lock_rows(session: &mut Session, query: &Query) -> EngineResult<Hidden> {
    let unsupported = |what: &str| {
        Err(EngineError::FeatureNotSupported(format!(
            "SELECT … FOR UPDATE {what} is not supported yet"
        )))
    };
    let has = |mode| query.locks.iter().any(|l| l.nonblock == Some(mode));
    let (nowait, skip_locked) = (has(NonBlock::Nowait), has(NonBlock::SkipLocked));
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
    let order_by = query.order_by.as_ref().map(|o| o.to_string());
    let batches = select_target(
        session,
        &table,
        &alias,
        &[],
        select.selection.as_ref(),
        None,
        order_by.as_deref(),
    )
    .await?;
    let wanted = if skip_locked {
        rows_wanted(query)
    } else {
        None
    };
    let repeatable = session.txn.as_ref().is_some_and(|t| t.snapshot.is_some());
    let mut hidden = Vec::new();
    let mut held = 0usize;
    for batch in &batches {
        for (key, base, _) in target_rows(&table, batch)? {
            if wanted.is_some_and(|w| held >= w) {
                hidden.push(key);
                continue;
            }
            if nowait || skip_locked {
                let engine = session.engine.clone();
                let txn = session.txn.as_mut().expect("in a transaction");
                let locks = txn.locks.get_or_insert_with(|| engine.row_locks.owner());
                if !locks.try_lock(table.id, &key) {
                    if skip_locked {
                        hidden.push(key);
                        continue;
                    }
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
            held += 1;
        }
    }
    Ok(Hidden {
        table: table.id,
        keys: hidden,
    })
}
