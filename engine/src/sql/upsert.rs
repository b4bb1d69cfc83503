//! `INSERT … ON CONFLICT (…) DO NOTHING | DO UPDATE SET … [WHERE …]`.
//!
//! The conflict target is the primary key or a UNIQUE constraint: its
//! columns (in any order), or `ON CONSTRAINT name`; without a target (DO
//! NOTHING) every one of them. Each proposed row is looked up by the
//! target's values in the transaction's own writes, then in the newest
//! committed version (as PostgreSQL's READ COMMITTED does; under REPEATABLE
//! READ a newer version than the snapshot is 40001). Rows without a
//! conflict are inserted as usual; conflicting ones are skipped or updated.
//! The DO UPDATE expressions are evaluated by DataFusion over two
//! relations, the target (by its name or alias) and `excluded` (the row
//! proposed), joined by position; an unqualified column name is ambiguous
//! (42702), as in PostgreSQL. A key proposed twice in one statement is
//! skipped by DO NOTHING and refused (21000) by DO UPDATE.
//!
//! Left out: unique indexes as targets (there are none yet), partial-index
//! `WHERE` inference, and DO UPDATE changing the primary key (0A000).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{ConflictTarget, OnConflict, OnConflictAction};
use kimberlite_catalog::TableDef;

use super::convert::{coerce_column, rows_to_batch};
use super::dml::{check_not_null, quote, write_new_row};
use super::txn::Base;
use super::types::table_fields;
use super::{column_name, ident_name, Session};
use crate::datum::{encode_key, Row};
use crate::error::{EngineError, EngineResult};

/// The hidden column that pairs a target row with its proposed row.
const POSITION: &str = "__kimberlite_position";

/// A proposed row that met an existing one, for DO UPDATE.
struct Conflict {
    position: usize,
    key: Vec<u8>,
    existing: Row,
    base: Base,
    excluded: Row,
}

/// Inserts `rows` with `on`'s rule for conflicts; returns the rows inserted
/// or updated, in the order they were proposed.
pub(super) async fn insert_on_conflict(
    session: &mut Session,
    table: &Arc<TableDef>,
    alias: &str,
    rows: Vec<Row>,
    on: OnConflict,
) -> EngineResult<Vec<Row>> {
    let targets = check_target(table, &on)?;
    if targets.is_empty() {
        // Nothing can conflict with a hidden row id.
        for row in &rows {
            write_new_row(session, table, row.clone())?;
        }
        return Ok(rows);
    }
    let update = match &on.action {
        OnConflictAction::DoNothing => None,
        OnConflictAction::DoUpdate(update) => Some(update),
    };
    let mut affected: Vec<(usize, Row)> = Vec::new();
    let mut conflicts = Vec::new();
    let mut proposed: HashSet<(usize, Vec<u8>)> = HashSet::new();
    for (position, row) in rows.into_iter().enumerate() {
        check_not_null(table, &row)?;
        let values: Vec<(usize, Vec<u8>)> = targets
            .iter()
            .enumerate()
            .filter_map(|(i, columns)| target_values(table, columns, &row).map(|v| (i, v)))
            .collect();
        if values.iter().any(|v| proposed.contains(v)) {
            if update.is_some() {
                return Err(EngineError::CardinalityViolation {
                    message: "ON CONFLICT DO UPDATE command cannot affect row a second time".into(),
                    hint: "Ensure that no rows proposed for insertion within the same command \
                           have duplicate constrained values.",
                });
            }
            continue;
        }
        proposed.extend(values);
        let key = match conflicting_key(session, table, &targets, &row) {
            Some(key) => key,
            None if table.has_row_id() => {
                write_new_row(session, table, row.clone())?;
                affected.push((position, row));
                continue;
            }
            None => encode_key(table.primary_key.iter().map(|&k| &row[k])),
        };
        // Wait for an open transaction that wrote this key (PostgreSQL
        // waits on its speculative insertion the same way), then look
        // again: it may have committed the conflicting row.
        super::dml::lock_row(session, table, &key).await?;
        let conflict = match conflicting_key(session, table, &targets, &row) {
            Some(key) => existing(session, table, &key)?.map(|found| (key, found)),
            None => None,
        };
        match conflict {
            // A clash on a key that is not the target is 23505 here.
            None => {
                write_new_row(session, table, row.clone())?;
                affected.push((position, row));
            }
            Some(_) if update.is_none() => {}
            Some((key, (existing, base))) => conflicts.push(Conflict {
                position,
                key,
                existing,
                base,
                excluded: row,
            }),
        }
    }
    if let (Some(update), false) = (update, conflicts.is_empty()) {
        let updated = evaluate_updates(session, table, alias, &conflicts, update).await?;
        for (conflict, row) in conflicts.into_iter().zip(updated) {
            let Some(row) = row else { continue };
            check_not_null(table, &row)?;
            super::enforce::record(session, table, || {
                (
                    Some((conflict.key.clone(), conflict.existing.clone())),
                    Some((conflict.key.clone(), row.clone())),
                )
            });
            session.txn.as_mut().expect("in a transaction").write(
                table,
                conflict.key,
                Some(row.clone()),
                conflict.base,
            );
            session.check_txn_written()?;
            affected.push((conflict.position, row));
        }
    }
    affected.sort_by_key(|(position, _)| *position);
    Ok(affected.into_iter().map(|(_, row)| row).collect())
}

/// The unique keys (column lists) the conflict target names: the primary
/// key or a UNIQUE constraint; all of them without a target.
fn check_target(table: &TableDef, on: &OnConflict) -> EngineResult<Vec<Vec<usize>>> {
    let no_match = || {
        EngineError::InvalidColumnReference(
            "there is no unique or exclusion constraint matching the ON CONFLICT specification"
                .into(),
        )
    };
    match &on.conflict_target {
        None if matches!(on.action, OnConflictAction::DoUpdate(_)) => Err(EngineError::Syntax(
            "ON CONFLICT DO UPDATE requires inference specification or constraint name".into(),
        )),
        None => Ok(table.unique_keys().map(|(_, c)| c.to_vec()).collect()),
        Some(ConflictTarget::Columns(columns)) => {
            let named: HashSet<String> = columns.iter().map(ident_name).collect();
            table
                .unique_keys()
                .map(|(_, key)| key.to_vec())
                .find(|key| {
                    let key: HashSet<String> =
                        key.iter().map(|&k| table.columns[k].name.clone()).collect();
                    key == named
                })
                .map(|key| vec![key])
                .ok_or_else(no_match)
        }
        Some(ConflictTarget::OnConstraint(name)) => {
            let name = column_name(name);
            table
                .unique_keys()
                .find(|(constraint, _)| *constraint == name)
                .map(|(_, key)| vec![key.to_vec()])
                .ok_or_else(|| {
                    EngineError::UndefinedObject(format!(
                        "constraint \"{name}\" for table \"{}\" does not exist",
                        table.name
                    ))
                })
        }
    }
}

/// The encoded values of one target key in `row` (`None` with a NULL:
/// NULLs never conflict).
fn target_values(table: &TableDef, columns: &[usize], row: &Row) -> Option<Vec<u8>> {
    let types: Vec<_> = columns.iter().map(|&c| table.columns[c].sql_type).collect();
    crate::constraints::index_key(row, columns, &types)
}

/// The key of the row `row` conflicts with on one of `targets`, if any.
fn conflicting_key(
    session: &Session,
    table: &TableDef,
    targets: &[Vec<usize>],
    row: &Row,
) -> Option<Vec<u8>> {
    targets.iter().find_map(|columns| {
        let values = target_values(table, columns, row)?;
        super::enforce::find_rows(session, table, columns, &values)
            .into_iter()
            .next()
    })
}

/// The live row at `key` the statement conflicts with, and its base.
/// The newest version of `key` the transaction may write over: its own, or
/// the newest committed one (which REPEATABLE READ must have seen).
pub(super) fn existing(
    session: &Session,
    table: &TableDef,
    key: &[u8],
) -> EngineResult<Option<(Row, Base)>> {
    let txn = session
        .txn
        .as_ref()
        .expect("statements run in a transaction");
    if let Some(entry) = txn.writes.get(&table.id).and_then(|o| o.get(key)) {
        return Ok(entry.row.as_ref().map(|row| ((**row).clone(), entry.base)));
    }
    let state = session.engine.state.read();
    let Some(version) = state
        .projections
        .table(table.id)
        .and_then(|t| t.latest(key))
    else {
        return Ok(None);
    };
    if txn
        .snapshot
        .is_some_and(|snapshot| version.created_op > snapshot)
    {
        // REPEATABLE READ may not update a row committed after its snapshot.
        return Err(EngineError::SerializationFailure);
    }
    Ok(Some((
        (*version.row).clone(),
        Base::Existing(version.created_op),
    )))
}

/// The updated row for each conflict (`None` where the WHERE clause is not
/// true), evaluated in one query over the target and `excluded` rows.
async fn evaluate_updates(
    session: &Session,
    table: &Arc<TableDef>,
    alias: &str,
    conflicts: &[Conflict],
    update: &datafusion::sql::sqlparser::ast::DoUpdate,
) -> EngineResult<Vec<Option<Row>>> {
    let types: Vec<_> = table.columns.iter().map(|c| c.sql_type).collect();
    let columns: Vec<usize> = (0..types.len()).collect();
    let mut fields = table_fields(table);
    fields.push(Field::new(POSITION, DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let positions: ArrayRef = Arc::new(Int64Array::from_iter_values(0..conflicts.len() as i64));
    let batch_of = |rows: Vec<Arc<Row>>| {
        rows_to_batch(
            schema.clone(),
            &types,
            &columns,
            &rows,
            vec![positions.clone()],
        )
    };
    let targets = batch_of(
        conflicts
            .iter()
            .map(|c| Arc::new(c.existing.clone()))
            .collect(),
    )?;
    let excluded = batch_of(
        conflicts
            .iter()
            .map(|c| Arc::new(c.excluded.clone()))
            .collect(),
    )?;
    let ctx = SessionContext::new();
    ctx.register_batch(alias, targets)?;
    ctx.register_batch("excluded", excluded)?;

    let mut targets_set = Vec::new();
    let mut items = Vec::new();
    for assignment in &update.assignments {
        let name = match &assignment.target {
            datafusion::sql::sqlparser::ast::AssignmentTarget::ColumnName(name) => {
                column_name(name)
            }
            other => {
                return Err(EngineError::FeatureNotSupported(format!(
                    "ON CONFLICT DO UPDATE SET {other}"
                )))
            }
        };
        let index = table
            .column_index(&name)
            .ok_or_else(|| super::dml::no_such_column(table, &name))?;
        if table.primary_key.contains(&index) {
            return Err(EngineError::FeatureNotSupported(
                "ON CONFLICT DO UPDATE of a primary-key column is not supported yet".into(),
            ));
        }
        targets_set.push(index);
        items.push(format!("({})", assignment.value));
    }
    let condition = update
        .selection
        .as_ref()
        .map(|w| format!("({w})"))
        .unwrap_or_else(|| "true".into());
    items.push(format!("{condition} IS TRUE"));
    let sql = format!(
        "SELECT {} FROM {t} JOIN excluded ON {t}.{p} = excluded.{p} ORDER BY {t}.{p}",
        items.join(", "),
        t = quote(alias),
        p = quote(POSITION),
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let zone = session.zone();
    let mut out = Vec::with_capacity(conflicts.len());
    let mut conflicts = conflicts.iter();
    for batch in &batches {
        let values: Vec<Vec<_>> = targets_set
            .iter()
            .enumerate()
            .map(|(i, &c)| coerce_column(batch.column(i), table.columns[c].sql_type, &zone))
            .collect::<EngineResult<_>>()?;
        let chosen = batch
            .column(targets_set.len())
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("IS TRUE is boolean");
        #[allow(clippy::needless_range_loop)] // r indexes every assigned column
        for r in 0..batch.num_rows() {
            let conflict = conflicts.next().expect("one result row per conflict");
            if !chosen.value(r) {
                out.push(None);
                continue;
            }
            let mut row = conflict.existing.clone();
            for (i, &c) in targets_set.iter().enumerate() {
                row[c] = values[i][r].clone();
            }
            out.push(Some(row));
        }
    }
    Ok(out)
}
