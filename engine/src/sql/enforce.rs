//! Constraint enforcement at the end of each writing statement.
//!
//! Writes record what they changed in constrained tables (a table with
//! UNIQUE, CHECK or FOREIGN KEY constraints, or one a foreign key
//! references). When the statement's rows are all written:
//!
//! 1. CHECK constraints run over the new rows;
//! 2. referential actions run: a deleted or re-keyed row whose key other
//!    rows still reference cascades (`CASCADE`, `SET NULL`, `SET DEFAULT`)
//!    — each referencing row is locked like an UPDATE's, re-read at its
//!    newest version, and written; its change is enforced in turn, so
//!    chains of cascades follow;
//! 3. UNIQUE and FOREIGN KEY rules are checked over the final state
//!    ([`crate::constraints`]): a violation fails the statement with
//!    PostgreSQL's error. `NO ACTION` and `RESTRICT` both fail here.

use std::sync::Arc;

use kimberlite_catalog::{Catalog, RefAction, TableDef};

use super::ddl::current_catalog;
use super::dml::{check_not_null, claim_key, evaluate_defaults, lock_row};
use super::Session;
use crate::constraints::{check_changes, convert_value, orphaned_references, Change, FinalState};
use crate::datum::{encode_key, Datum, Row};
use crate::error::{EngineError, EngineResult};

/// Rounds of cascades one statement may set off (a cycle of ON UPDATE
/// CASCADE keys would otherwise never end).
const CASCADE_ROUNDS_MAX: usize = 100;

/// Whether writes to `table` must be recorded for enforcement.
pub(super) fn is_constrained(catalog: &Catalog, table: &TableDef) -> bool {
    !table.constraints.is_empty() || !catalog.referencing(table.id).is_empty()
}

/// Records a change of a constrained table for the statement's end;
/// `change` (old and new row with their keys) is built only for a
/// constrained table, so writes to other tables copy nothing.
pub(super) fn record(
    session: &mut Session,
    table: &TableDef,
    change: impl FnOnce() -> (Option<(Vec<u8>, Row)>, Option<(Vec<u8>, Row)>),
) {
    if !is_constrained(&current_catalog(session), table) {
        return;
    }
    let (old, new) = change();
    session
        .txn
        .as_mut()
        .expect("in a transaction")
        .changes
        .push(Change {
            table: table.id,
            old,
            new,
        });
}

/// A referential action to carry out on some referencing rows.
struct Action {
    child: Arc<TableDef>,
    columns: Vec<usize>,
    ref_columns: Vec<usize>,
    action: RefAction,
    keys: Vec<Vec<u8>>,
    /// The referenced row's new version (ON UPDATE), if any.
    parent_new: Option<Row>,
}

/// Runs steps 1–3 for everything the statement recorded.
pub(super) async fn finish_statement(session: &mut Session) -> EngineResult<()> {
    let mut pending = std::mem::take(&mut session.txn.as_mut().expect("in a transaction").changes);
    if pending.is_empty() {
        return Ok(());
    }
    let catalog = current_catalog(session);
    let mut all: Vec<Change> = Vec::new();
    for _ in 0..CASCADE_ROUNDS_MAX {
        if pending.is_empty() {
            break;
        }
        check_new_rows(&catalog, &pending).await?;
        lock_unique_values(session, &catalog, &pending).await?;
        let actions = referential_actions(session, &catalog, &pending);
        all.append(&mut pending);
        for action in actions {
            run_action(session, &action).await?;
        }
        pending = std::mem::take(&mut session.txn.as_mut().expect("in a transaction").changes);
    }
    if !pending.is_empty() {
        return Err(EngineError::ProgramLimitExceeded(format!(
            "foreign key actions cascaded more than {CASCADE_ROUNDS_MAX} times"
        )));
    }
    in_final_state(session, |state| check_changes(state, &catalog, &all))
}

/// Runs `f` over the state the transaction would leave (committed latest ⊕
/// its overlay), under the kernel state's read lock.
fn in_final_state<T>(session: &Session, f: impl FnOnce(&FinalState) -> T) -> T {
    let state = session.engine.state.read();
    let txn = session.txn.as_ref().expect("in a transaction");
    f(&FinalState {
        projections: &state.projections,
        indexes: &state.indexes,
        layer: txn,
    })
}

/// Keys of the rows (committed latest ⊕ the transaction's overlay) whose
/// `columns` of `table` encode to `values`.
pub(super) fn find_rows(
    session: &Session,
    table: &TableDef,
    columns: &[usize],
    values: &[u8],
) -> Vec<Vec<u8>> {
    let types: Vec<_> = columns.iter().map(|&c| table.columns[c].sql_type).collect();
    in_final_state(session, |state| state.find(table, columns, &types, values))
}

/// The lock space of a table's UNIQUE values, apart from its row keys'.
fn value_lock_space(table: &TableDef, constraint: usize) -> u64 {
    // Table ids count up from 1; value spaces count down from the top.
    u64::MAX - (table.id << 8) - constraint as u64
}

/// Takes a lock on each new UNIQUE value (not the primary key: its row
/// lock is taken where it is written), so an insert of a value another
/// open transaction wrote waits for it and then sees whether it committed
/// — PostgreSQL waits on the other inserter the same way.
async fn lock_unique_values(
    session: &mut Session,
    catalog: &Catalog,
    changes: &[Change],
) -> EngineResult<()> {
    for change in changes {
        let (Some((_, row)), Some(table)) = (&change.new, catalog.table_by_id(change.table)) else {
            continue;
        };
        let keys: Vec<(usize, Vec<usize>)> = table
            .unique_keys()
            .enumerate()
            .filter(|(_, (_, columns))| *columns != table.primary_key.as_slice())
            .map(|(i, (_, columns))| (i, columns.to_vec()))
            .collect();
        for (i, columns) in keys {
            let types: Vec<_> = columns.iter().map(|&c| table.columns[c].sql_type).collect();
            if let Some(value) = crate::constraints::index_key(row, &columns, &types) {
                let engine = session.engine.clone();
                let txn = session.txn.as_mut().expect("in a transaction");
                let locks = txn.locks.get_or_insert_with(|| engine.row_locks.owner());
                locks.lock(value_lock_space(table, i), &value).await?;
            }
        }
    }
    Ok(())
}

async fn check_new_rows(catalog: &Catalog, changes: &[Change]) -> EngineResult<()> {
    let mut tables: Vec<u64> = changes.iter().map(|c| c.table).collect();
    tables.sort_unstable();
    tables.dedup();
    for id in tables {
        let Some(table) = catalog.table_by_id(id) else {
            continue;
        };
        let rows: Vec<Row> = changes
            .iter()
            .filter(|c| c.table == id)
            .filter_map(|c| c.new.as_ref().map(|(_, row)| row.clone()))
            .collect();
        if !rows.is_empty() {
            super::checks::check_rows(table, &rows).await?;
        }
    }
    Ok(())
}

fn referential_actions(session: &Session, catalog: &Catalog, changes: &[Change]) -> Vec<Action> {
    in_final_state(session, |state| actions_in(state, catalog, changes))
}

fn actions_in(final_state: &FinalState, catalog: &Catalog, changes: &[Change]) -> Vec<Action> {
    let mut actions = Vec::new();
    for change in changes {
        let (Some((_, old)), Some(parent)) = (&change.old, catalog.table_by_id(change.table))
        else {
            continue;
        };
        for (child, constraint, keys) in orphaned_references(final_state, catalog, parent, old) {
            let fk = child
                .foreign_keys()
                .find(|(c, _)| c.name == constraint)
                .map(|(_, fk)| fk.clone())
                .expect("named by orphaned_references");
            let parent_new = change.new.as_ref().map(|(_, row)| row.clone());
            let action = if parent_new.is_some() {
                fk.on_update
            } else {
                fk.on_delete
            };
            if matches!(action, RefAction::NoAction | RefAction::Restrict) {
                continue; // the final check reports it
            }
            actions.push(Action {
                child,
                columns: fk.columns,
                ref_columns: fk.ref_columns,
                action,
                keys,
                parent_new,
            });
        }
    }
    actions
}

async fn run_action(session: &mut Session, action: &Action) -> EngineResult<()> {
    let child = &action.child;
    let defaults = if action.action == RefAction::SetDefault {
        let defaults: Vec<_> = action
            .columns
            .iter()
            .map(|&c| {
                let column = &child.columns[c];
                (
                    column.sql_type,
                    column.default_sql.clone().unwrap_or_else(|| "NULL".into()),
                )
            })
            .collect();
        evaluate_defaults(session, &defaults, 1)
            .await?
            .into_iter()
            .map(|mut column| column.remove(0))
            .collect()
    } else {
        Vec::new()
    };
    for key in &action.keys {
        lock_row(session, child, key).await?;
        let Some((old, base)) = super::upsert::existing(session, child, key)? else {
            continue; // gone already (an earlier cascade of this statement)
        };
        let new = match (action.action, &action.parent_new) {
            (RefAction::Cascade, None) => None,
            (RefAction::Cascade, Some(parent)) => {
                let mut row = old.clone();
                for (&c, &r) in action.columns.iter().zip(&action.ref_columns) {
                    row[c] = convert_value(&parent[r], child.columns[c].sql_type);
                }
                Some(row)
            }
            (RefAction::SetNull, _) => {
                let mut row = old.clone();
                for &c in &action.columns {
                    row[c] = Datum::Null;
                }
                Some(row)
            }
            (RefAction::SetDefault, _) => {
                let mut row = old.clone();
                for (i, &c) in action.columns.iter().enumerate() {
                    row[c] = defaults[i].clone();
                }
                Some(row)
            }
            (RefAction::NoAction | RefAction::Restrict, _) => unreachable!("filtered"),
        };
        // The referencing columns may be part of the child's primary key:
        // then the row moves to its new key (which must be free).
        let new_key = match &new {
            Some(row) => {
                check_not_null(child, row)?;
                if child.has_row_id() {
                    key.clone()
                } else {
                    encode_key(child.primary_key.iter().map(|&k| &row[k]))
                }
            }
            None => key.clone(),
        };
        if new_key == *key {
            session.txn.as_mut().expect("in a transaction").write(
                child,
                key.clone(),
                new.clone(),
                base,
            );
        } else {
            let row = new.clone().expect("moved rows exist");
            session
                .txn
                .as_mut()
                .expect("in a transaction")
                .write(child, key.clone(), None, base);
            let new_base = claim_key(session, child, &new_key, &row)?;
            session.txn.as_mut().expect("in a transaction").write(
                child,
                new_key.clone(),
                Some(row),
                new_base,
            );
        }
        session.check_txn_written()?;
        record(session, child, || {
            (Some((key.clone(), old)), new.map(|row| (new_key, row)))
        });
    }
    Ok(())
}
