//! DML planned by us, evaluated by DataFusion.
//!
//! `INSERT`, `UPDATE` and `DELETE` each become a query DataFusion can run
//! against the statement's snapshot plus the transaction's own writes:
//!
//! ```text
//!   INSERT INTO t (a, b) <source>     →  <source>                (rows to add)
//!   UPDATE t SET a = e WHERE p        →  SELECT key, base, *, e FROM t WHERE p
//!   DELETE FROM t WHERE p             →  SELECT key, base, *   FROM t WHERE p
//! ```
//!
//! `key` and `base` are hidden columns only the DML target exposes: the
//! row's encoded primary key and the op of the version it came from. The
//! rows that come back are coerced to column types, checked against NOT
//! NULL and the primary key *now* (so the statement that violates a
//! constraint gets the error), and written into the transaction. The kernel
//! checks them again when the transaction commits.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, Int64Array};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, Insert, OnInsert, SelectItem, SetExpr, TableFactor,
    TableObject, TableWithJoins, Update, Value,
};
use kimberlite_catalog::{SqlType, TableDef};

use super::convert::{coerce_column, rows_to_batch};
use super::provider::{BASE_COLUMN, DML_TARGET, KEY_COLUMN};
use super::txn::Base;
use super::types::table_fields;
use super::{column_name, ident_name, Outcome, Session};
use crate::datum::{encode_key, row_id_key, Datum, Row};
use crate::error::{EngineError, EngineResult};

/// Quotes an identifier for SQL we generate.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) fn lookup_table(session: &Session, name: &str) -> EngineResult<Arc<TableDef>> {
    let snapshot = session.snapshot();
    session
        .statement_catalog(snapshot)
        .table(name)
        .cloned()
        .ok_or_else(|| EngineError::UndefinedTable(name.to_string()))
}

pub(super) fn no_such_column(table: &TableDef, column: &str) -> EngineError {
    EngineError::UndefinedColumn(format!(
        "column \"{column}\" of relation \"{}\" does not exist",
        table.name
    ))
}

/// Evaluates DEFAULT expressions for `count` rows, coerced to their
/// columns' types: one value list per expression. Volatile defaults
/// (`nextval`, `random()`) get a new value per row; stable ones (`now()`)
/// one per statement.
pub async fn evaluate_defaults(
    session: &Session,
    defaults: &[(SqlType, String)],
    count: usize,
) -> EngineResult<Vec<Vec<Datum>>> {
    if defaults.is_empty() || count == 0 {
        return Ok(vec![Vec::new(); defaults.len()]);
    }
    session.set_scope(None);
    let select = defaults
        .iter()
        .map(|(_, sql)| sql.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = if count == 1 {
        format!("SELECT {select}")
    } else {
        format!("SELECT {select} FROM generate_series(1, {count})")
    };
    let (_, batches) = session.collect_query(&sql).await?;
    let mut out = vec![Vec::with_capacity(count); defaults.len()];
    for batch in &batches {
        for (i, (sql_type, _)) in defaults.iter().enumerate() {
            out[i].extend(coerce_column(batch.column(i), *sql_type, &session.zone())?);
        }
    }
    if out.iter().any(|values| values.len() != count) {
        return Err(EngineError::Internal(
            "default expressions produced the wrong number of rows".into(),
        ));
    }
    Ok(out)
}

/// Renders a value as PostgreSQL prints it in error details
/// (`Key (id)=(1) already exists.`, `Failing row contains (1, null).`).
pub(crate) fn datum_text(datum: &Datum, sql_type: SqlType) -> String {
    let float = |v: f64| {
        if v.is_nan() {
            "NaN".to_string()
        } else if v.is_infinite() {
            if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
        } else {
            v.to_string()
        }
    };
    match datum {
        Datum::Null => "null".into(),
        Datum::Bool(b) => if *b { "t" } else { "f" }.into(),
        Datum::Int2(v) => v.to_string(),
        Datum::Int4(v) => v.to_string(),
        Datum::Int8(v) => v.to_string(),
        Datum::Float4(v) => float(f64::from(*v)),
        Datum::Float8(v) => float(*v),
        Datum::Numeric(v) => match sql_type {
            SqlType::Numeric { precision, scale } => {
                // Unconstrained numeric shows the digits that were written.
                super::convert::format_decimal(*v, scale as i8, precision.is_none())
            }
            _ => v.to_string(),
        },
        Datum::Text(s) => s.clone(),
        Datum::Bytes(b) => format!("\\x{}", hex::encode(b)),
        Datum::Date(days) => super::convert::format_date(i64::from(*days)),
        Datum::Time(micros) => super::convert::time_text(*micros),
        Datum::Oid(v) => v.to_string(),
        Datum::Interval {
            months,
            days,
            micros,
        } => super::interval::interval_text(super::interval::Interval {
            months: *months,
            days: *days,
            micros: *micros,
        }),
        Datum::Array(items) => {
            let element = match sql_type {
                SqlType::Array(element) => element.sql_type(),
                other => other,
            };
            super::array::array_text(
                items
                    .iter()
                    .map(|item| (!item.is_null()).then(|| datum_text(item, element))),
            )
        }
        Datum::Timestamp(micros) => super::convert::format_timestamp(
            *micros,
            (sql_type == SqlType::Timestamptz).then_some(chrono_tz::UTC),
        ),
    }
}

pub(super) fn unique_violation(table: &TableDef, row: &Row) -> EngineError {
    EngineError::UniqueViolation {
        table: table.name.clone(),
        constraint: table.primary_key_name(),
        detail: format!("{} already exists.", primary_key_text(table, row)),
    }
}

/// `Key (a, b)=(1, x)` for `row`'s primary key, as PostgreSQL's DETAIL
/// lines begin.
pub(super) fn primary_key_text(table: &TableDef, row: &Row) -> String {
    let columns: Vec<&str> = table
        .primary_key
        .iter()
        .map(|&k| table.columns[k].name.as_str())
        .collect();
    let values: Vec<String> = table
        .primary_key
        .iter()
        .map(|&k| datum_text(&row[k], table.columns[k].sql_type))
        .collect();
    format!("Key ({})=({})", columns.join(", "), values.join(", "))
}

/// A row as PostgreSQL's `Failing row contains (…)` DETAIL lists it.
pub(super) fn failing_row(table: &TableDef, row: &Row) -> String {
    let values: Vec<String> = table
        .columns
        .iter()
        .zip(row)
        .map(|(c, v)| datum_text(v, c.sql_type))
        .collect();
    values.join(", ")
}

pub(super) fn check_not_null(table: &TableDef, row: &Row) -> EngineResult<()> {
    for (column, value) in table.columns.iter().zip(row) {
        if !column.nullable && value.is_null() {
            return Err(EngineError::NotNullViolation {
                table: table.name.clone(),
                column: column.name.clone(),
                row: failing_row(table, row),
            });
        }
    }
    Ok(())
}

fn row_key(session: &Session, table: &TableDef, row: &Row) -> Vec<u8> {
    if table.has_row_id() {
        row_id_key(session.engine.allocate_row_id())
    } else {
        encode_key(table.primary_key.iter().map(|&k| &row[k]))
    }
}

/// Checks that `key` is free for an insert; returns the base to record.
pub(super) fn claim_key(
    session: &Session,
    table: &TableDef,
    key: &[u8],
    row: &Row,
) -> EngineResult<Base> {
    let txn = session
        .txn
        .as_ref()
        .expect("statements run in a transaction");
    if let Some(entry) = txn.writes.get(&table.id).and_then(|o| o.get(key)) {
        return match entry.row {
            Some(_) => Err(unique_violation(table, row)),
            None => Ok(entry.base),
        };
    }
    let state = session.engine.state.read();
    if state
        .projections
        .table(table.id)
        .and_then(|t| t.latest(key))
        .is_some()
    {
        return Err(unique_violation(table, row));
    }
    Ok(Base::New)
}

/// Checks that the version a writer read is still the newest, unless the
/// transaction wrote the row itself.
fn check_base(session: &Session, table: &TableDef, key: &[u8], base: Base) -> EngineResult<()> {
    let txn = session
        .txn
        .as_ref()
        .expect("statements run in a transaction");
    if txn
        .writes
        .get(&table.id)
        .is_some_and(|o| o.contains_key(key))
    {
        return Ok(());
    }
    let Base::Existing(op) = base else {
        return Ok(());
    };
    let state = session.engine.state.read();
    match state
        .projections
        .table(table.id)
        .and_then(|t| t.latest(key))
    {
        Some(v) if v.created_op == op => Ok(()),
        // Someone committed a newer version (or deleted the row) after our
        // snapshot. PostgreSQL's READ COMMITTED would wait and re-check;
        // until row locks exist we refuse rather than lose their update.
        _ => Err(EngineError::SerializationFailure),
    }
}

fn is_default_keyword(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

pub async fn insert(session: &mut Session, mut insert: Insert) -> EngineResult<Outcome> {
    let TableObject::TableName(name) = &insert.table else {
        return Err(EngineError::FeatureNotSupported(
            "INSERT into a table function".into(),
        ));
    };
    let on_conflict = match insert.on.take() {
        None => None,
        Some(OnInsert::OnConflict(on)) => Some(on),
        Some(other) => {
            return Err(EngineError::FeatureNotSupported(format!(
                "INSERT …{other} is not supported"
            )))
        }
    };
    let table = lookup_table(session, &session.resolve(name)?)?;
    let alias = insert
        .table_alias
        .as_ref()
        .map(|a| ident_name(&a.alias))
        .unwrap_or_else(|| table.name.clone());
    let column_count = table.columns.len();
    let explicit_targets = !insert.columns.is_empty();
    let mut targets = Vec::new();
    for column in &insert.columns {
        let column_name = column_name(column);
        let index = table
            .column_index(&column_name)
            .ok_or_else(|| no_such_column(&table, &column_name))?;
        if targets.contains(&index) {
            return Err(EngineError::DuplicateColumn(format!(
                "column \"{column_name}\" specified more than once"
            )));
        }
        targets.push(index);
    }

    // Source rows; DEFAULT cells in VALUES become NULL and are remembered.
    let mut default_cells: HashSet<(usize, usize)> = HashSet::new();
    let (source_width, batches) = match insert.source.as_mut() {
        None => (0, vec![]),
        Some(query) => {
            if let SetExpr::Values(values) = query.body.as_mut() {
                for (r, row) in values.rows.iter_mut().enumerate() {
                    for (c, expr) in row.iter_mut().enumerate() {
                        if is_default_keyword(expr) {
                            *expr = Expr::Value(Value::Null.into());
                            default_cells.insert((r, c));
                        }
                    }
                }
            }
            session.set_scope(None);
            let (schema, batches) = session.collect_query(&query.to_string()).await?;
            (schema.fields().len(), batches)
        }
    };
    if !explicit_targets {
        if source_width > column_count {
            return Err(EngineError::Syntax(
                "INSERT has more expressions than target columns".into(),
            ));
        }
        targets = (0..source_width).collect();
    } else if source_width > targets.len() {
        return Err(EngineError::Syntax(
            "INSERT has more expressions than target columns".into(),
        ));
    } else if source_width < targets.len() && insert.source.is_some() {
        return Err(EngineError::Syntax(
            "INSERT has more target columns than expressions".into(),
        ));
    }

    for &c in &targets {
        let column = &table.columns[c];
        let all_default = insert.source.is_some()
            && (0..row_count(&batches)).all(|r| {
                default_cells.contains(&(r, targets.iter().position(|&t| t == c).unwrap_or(0)))
            });
        if column.identity == Some(kimberlite_catalog::Identity::Always) && !all_default {
            return Err(EngineError::GeneratedAlways(column.name.clone()));
        }
    }
    let rows = if insert.source.is_none() {
        1
    } else {
        row_count(&batches)
    };

    // Defaults for every column that may need one, a value per row.
    let default_columns: Vec<usize> = (0..column_count)
        .filter(|c| table.columns[*c].default_sql.is_some())
        .collect();
    let needed: Vec<usize> = default_columns
        .iter()
        .copied()
        .filter(|c| !targets.contains(c) || !default_cells.is_empty())
        .collect();
    let default_values = evaluate_defaults(
        session,
        &needed
            .iter()
            .map(|&c| {
                (
                    table.columns[c].sql_type,
                    table.columns[c].default_sql.clone().expect("filtered"),
                )
            })
            .collect::<Vec<_>>(),
        rows,
    )
    .await?;
    let default_of = |c: usize, r: usize| -> Datum {
        needed
            .iter()
            .position(|&n| n == c)
            .map(|i| default_values[i][r].clone())
            .unwrap_or(Datum::Null)
    };

    let mut new_rows: Vec<Row> = Vec::new();
    if insert.source.is_none() {
        new_rows.push((0..column_count).map(|c| default_of(c, 0)).collect());
    }
    let mut row_index = 0usize;
    let zone = session.zone();
    for batch in &batches {
        let columns: Vec<Vec<Datum>> = targets
            .iter()
            .enumerate()
            .map(|(i, &c)| coerce_column(batch.column(i), table.columns[c].sql_type, &zone))
            .collect::<EngineResult<_>>()?;
        #[allow(clippy::needless_range_loop)] // r indexes every target column
        for r in 0..batch.num_rows() {
            let mut row: Row = (0..column_count)
                .map(|c| {
                    if targets.contains(&c) {
                        Datum::Null
                    } else {
                        default_of(c, row_index)
                    }
                })
                .collect();
            for (i, &c) in targets.iter().enumerate() {
                row[c] = if default_cells.contains(&(row_index, i)) {
                    default_of(c, row_index)
                } else {
                    columns[i][r].clone()
                };
            }
            new_rows.push(row);
            row_index += 1;
        }
    }

    let new_rows = match on_conflict {
        Some(on) => {
            super::upsert::insert_on_conflict(session, &table, &alias, new_rows, on).await?
        }
        None => {
            for row in &new_rows {
                check_not_null(&table, row)?;
                if !table.has_row_id() {
                    // An open transaction that wrote this key (inserted,
                    // updated or deleted it) decides whether it is free:
                    // wait for it, as PostgreSQL does.
                    let key = encode_key(table.primary_key.iter().map(|&k| &row[k]));
                    lock_row(session, &table, &key).await?;
                }
                write_new_row(session, &table, row.clone())?;
            }
            new_rows
        }
    };
    super::enforce::finish_statement(session).await?;
    let tag = format!("INSERT 0 {}", new_rows.len());
    finish(&table, &alias, new_rows, insert.returning, tag).await
}

fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Checks a new row (NOT NULL, primary key now) and writes it into the
/// open transaction: INSERT's and COPY's one way in.
pub(super) fn write_new_row(session: &mut Session, table: &TableDef, row: Row) -> EngineResult<()> {
    check_not_null(table, &row)?;
    let key = row_key(session, table, &row);
    let base = claim_key(session, table, &key, &row)?;
    super::enforce::record(session, table, || (None, Some((key.clone(), row.clone()))));
    session
        .txn
        .as_mut()
        .expect("in a transaction")
        .write(table, key, Some(row), base);
    session.check_txn_written()
}

/// The target table and alias of an UPDATE or DELETE.
fn target(session: &Session, relation: &TableWithJoins) -> EngineResult<(Arc<TableDef>, String)> {
    if !relation.joins.is_empty() {
        return Err(EngineError::FeatureNotSupported(
            "joins in the DML target are not supported yet".into(),
        ));
    }
    target_table(session, &relation.relation)
}

/// The table a DML target names, and the alias its rows go by.
pub(super) fn target_table(
    session: &Session,
    factor: &TableFactor,
) -> EngineResult<(Arc<TableDef>, String)> {
    let TableFactor::Table { name, alias, .. } = factor else {
        return Err(EngineError::FeatureNotSupported(
            "DML target must be a table".into(),
        ));
    };
    let table = lookup_table(session, &session.resolve(name)?)?;
    let alias = alias
        .as_ref()
        .map(|a| ident_name(&a.name))
        .unwrap_or_else(|| table.name.clone());
    Ok((table, alias))
}

/// Runs `SELECT key, base, <columns>, <extra> FROM target AS alias WHERE … [ORDER BY …]`.
pub(super) async fn select_target(
    session: &Session,
    table: &Arc<TableDef>,
    alias: &str,
    extra: &[String],
    selection: Option<&Expr>,
    only_keys: Option<&[Vec<u8>]>,
    order_by: Option<&str>,
) -> EngineResult<Vec<RecordBatch>> {
    session.set_scope(Some(table.clone()));
    let q = quote(alias);
    let mut items = vec![
        format!("{q}.{}", quote(KEY_COLUMN)),
        format!("{q}.{}", quote(BASE_COLUMN)),
    ];
    items.extend(
        table
            .columns
            .iter()
            .map(|c| format!("{q}.{}", quote(&c.name))),
    );
    items.extend(
        extra
            .iter()
            .enumerate()
            .map(|(i, e)| format!("({e}) AS \"__kimberlite_v{i}\"")),
    );
    let mut sql = format!(
        "SELECT {} FROM {} AS {q}",
        items.join(", "),
        quote(DML_TARGET)
    );
    let mut conditions = Vec::new();
    if let Some(selection) = selection {
        conditions.push(format!("({selection})"));
    }
    if let Some(keys) = only_keys {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| format!("X'{}'", hex::encode(k)))
            .collect();
        conditions.push(format!(
            "{q}.{} IN ({})",
            quote(KEY_COLUMN),
            keys.join(", ")
        ));
    }
    if !conditions.is_empty() {
        sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
    }
    if let Some(order_by) = order_by {
        sql.push_str(&format!(" {order_by}"));
    }
    let (_, batches) = session.collect_query(&sql).await?;
    Ok(batches)
}

/// Takes the row lock of `key` for the statement's transaction, waiting
/// while another open transaction holds it.
pub(super) async fn lock_row(
    session: &mut Session,
    table: &TableDef,
    key: &[u8],
) -> EngineResult<()> {
    let engine = session.engine.clone();
    let txn = session
        .txn
        .as_mut()
        .expect("statements run in a transaction");
    let locks = txn.locks.get_or_insert_with(|| engine.row_locks.owner());
    locks.lock(table.id, key).await?;
    Ok(())
}

/// Whether a newer version than `base` was committed since the statement's
/// snapshot (the transaction's own writes never are).
pub(super) fn is_stale(session: &Session, table: &TableDef, key: &[u8], base: Base) -> bool {
    matches!(
        check_base(session, table, key, base),
        Err(EngineError::SerializationFailure)
    )
}

/// What the first pass over an UPDATE's or DELETE's rows leaves for the
/// second: the keys whose row changed while the statement waited for it.
enum Pass {
    /// Lock each row; a changed row is re-read (READ COMMITTED) or 40001
    /// (REPEATABLE READ).
    First,
    /// The changed rows, re-read at a fresh snapshot: their locks are held.
    Recheck,
}

/// The rows a pass of an UPDATE or DELETE reads: every matching row first,
/// then only the `recheck` keys at a fresh snapshot; `None` when the second
/// pass has nothing to re-read.
async fn pass_rows(
    session: &Session,
    table: &Arc<TableDef>,
    alias: &str,
    extra: &[String],
    selection: Option<&Expr>,
    pass: &Pass,
    recheck: &[Vec<u8>],
) -> EngineResult<Option<Vec<RecordBatch>>> {
    let only_keys = match pass {
        Pass::First => None,
        Pass::Recheck if recheck.is_empty() => return Ok(None),
        Pass::Recheck => Some(recheck),
    };
    select_target(session, table, alias, extra, selection, only_keys, None)
        .await
        .map(Some)
}

/// Locks the row and sorts it: `Ok(true)` to write it now, `Ok(false)` to
/// re-read it (PostgreSQL's EvalPlanQual: the newest version may no longer
/// match the WHERE clause, or may need new SET values).
async fn claim_row(
    session: &mut Session,
    table: &TableDef,
    key: &[u8],
    base: Base,
    pass: &Pass,
) -> EngineResult<bool> {
    if let Pass::First = pass {
        lock_row(session, table, key).await?;
    }
    if !is_stale(session, table, key, base) {
        return Ok(true);
    }
    let repeatable = session.txn.as_ref().is_some_and(|t| t.snapshot.is_some());
    match pass {
        Pass::First if !repeatable => Ok(false),
        _ => Err(EngineError::SerializationFailure),
    }
}

/// Keys, bases and current rows out of a `select_target` batch.
pub(super) fn target_rows(
    table: &TableDef,
    batch: &RecordBatch,
) -> EngineResult<Vec<(Vec<u8>, Base, Row)>> {
    let keys = batch
        .column(0)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .expect("key column is binary");
    let bases = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("base column is int64");
    let columns: Vec<Vec<Datum>> = table
        .columns
        .iter()
        .enumerate()
        // Stored values read back: already typed, no text to read in a zone.
        .map(|(i, c)| coerce_column(batch.column(2 + i), c.sql_type, super::types::UTC))
        .collect::<EngineResult<_>>()?;
    Ok((0..batch.num_rows())
        .map(|r| {
            let row = columns.iter().map(|c| c[r].clone()).collect();
            (keys.value(r).to_vec(), Base::from_i64(bases.value(r)), row)
        })
        .collect())
}

pub async fn update(session: &mut Session, update: Update) -> EngineResult<Outcome> {
    if update.from.is_some() {
        return Err(EngineError::FeatureNotSupported(
            "UPDATE … FROM is not supported yet".into(),
        ));
    }
    let (table, alias) = target(session, &update.table)?;
    let mut set_columns = Vec::new();
    let mut set_exprs = Vec::new();
    for assignment in &update.assignments {
        let AssignmentTarget::ColumnName(column) = &assignment.target else {
            return Err(EngineError::FeatureNotSupported(
                "multi-column SET is not supported yet".into(),
            ));
        };
        let column_name = column_name(column);
        let index = table
            .column_index(&column_name)
            .ok_or_else(|| no_such_column(&table, &column_name))?;
        if table.columns[index].identity == Some(kimberlite_catalog::Identity::Always)
            && !is_default_keyword(&assignment.value)
        {
            return Err(EngineError::GeneratedAlwaysUpdate(column_name));
        }
        set_columns.push(index);
        set_exprs.push(if is_default_keyword(&assignment.value) {
            table.columns[index]
                .default_sql
                .clone()
                .unwrap_or_else(|| "NULL".into())
        } else {
            assignment.value.to_string()
        });
    }
    let mut new_rows = Vec::new();
    let mut recheck = Vec::new();
    for pass in [Pass::First, Pass::Recheck] {
        let Some(batches) = pass_rows(
            session,
            &table,
            &alias,
            &set_exprs,
            update.selection.as_ref(),
            &pass,
            &recheck,
        )
        .await?
        else {
            break;
        };
        let stale = update_rows(
            session,
            &table,
            &set_columns,
            &batches,
            &pass,
            &mut new_rows,
        )
        .await?;
        recheck = stale;
    }
    super::enforce::finish_statement(session).await?;
    let tag = format!("UPDATE {}", new_rows.len());
    finish(&table, &alias, new_rows, update.returning, tag).await
}

/// Writes the updated rows of `batches` (key, base, columns, SET values);
/// returns the keys to re-read.
async fn update_rows(
    session: &mut Session,
    table: &Arc<TableDef>,
    set_columns: &[usize],
    batches: &[RecordBatch],
    pass: &Pass,
    new_rows: &mut Vec<Row>,
) -> EngineResult<Vec<Vec<u8>>> {
    let column_count = table.columns.len();
    let zone = session.zone();
    let mut stale = Vec::new();
    let tracked = super::enforce::is_constrained(&super::ddl::current_catalog(session), table);
    for batch in batches {
        let values: Vec<Vec<Datum>> = set_columns
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                coerce_column(
                    batch.column(2 + column_count + i),
                    table.columns[c].sql_type,
                    &zone,
                )
            })
            .collect::<EngineResult<_>>()?;
        for (r, (key, base, mut row)) in target_rows(table, batch)?.into_iter().enumerate() {
            if !claim_row(session, table, &key, base, pass).await? {
                stale.push(key);
                continue;
            }
            // The row before SET, kept only where constraints need it.
            let old = tracked.then(|| row.clone());
            for (i, &c) in set_columns.iter().enumerate() {
                row[c] = values[i][r].clone();
            }
            check_not_null(table, &row)?;
            let new_key = if table.has_row_id() {
                key.clone()
            } else {
                encode_key(table.primary_key.iter().map(|&k| &row[k]))
            };
            super::enforce::record(session, table, || {
                (
                    old.map(|old| (key.clone(), old)),
                    Some((new_key.clone(), row.clone())),
                )
            });
            if new_key == key {
                session.txn.as_mut().expect("in a transaction").write(
                    table,
                    key,
                    Some(row.clone()),
                    base,
                );
                session.check_txn_written()?;
            } else {
                session
                    .txn
                    .as_mut()
                    .expect("in a transaction")
                    .write(table, key, None, base);
                session.check_txn_written()?;
                let new_base = claim_key(session, table, &new_key, &row)?;
                session.txn.as_mut().expect("in a transaction").write(
                    table,
                    new_key,
                    Some(row.clone()),
                    new_base,
                );
                session.check_txn_written()?;
            }
            new_rows.push(row);
        }
    }
    Ok(stale)
}

pub async fn delete(session: &mut Session, delete: Delete) -> EngineResult<Outcome> {
    if delete.using.is_some() {
        return Err(EngineError::FeatureNotSupported(
            "DELETE … USING is not supported yet".into(),
        ));
    }
    let relations = match &delete.from {
        FromTable::WithFromKeyword(r) | FromTable::WithoutKeyword(r) => r,
    };
    let [relation] = relations.as_slice() else {
        return Err(EngineError::FeatureNotSupported(
            "DELETE from several tables".into(),
        ));
    };
    let (table, alias) = target(session, relation)?;
    let mut old_rows = Vec::new();
    let mut recheck: Vec<Vec<u8>> = Vec::new();
    for pass in [Pass::First, Pass::Recheck] {
        let Some(batches) = pass_rows(
            session,
            &table,
            &alias,
            &[],
            delete.selection.as_ref(),
            &pass,
            &recheck,
        )
        .await?
        else {
            break;
        };
        let mut stale = Vec::new();
        for batch in &batches {
            for (key, base, row) in target_rows(&table, batch)? {
                if !claim_row(session, &table, &key, base, &pass).await? {
                    stale.push(key);
                    continue;
                }
                super::enforce::record(session, &table, || {
                    (Some((key.clone(), row.clone())), None)
                });
                session
                    .txn
                    .as_mut()
                    .expect("in a transaction")
                    .write(&table, key, None, base);
                session.check_txn_written()?;
                old_rows.push(row);
            }
        }
        recheck = stale;
    }
    super::enforce::finish_statement(session).await?;
    let tag = format!("DELETE {}", old_rows.len());
    finish(&table, &alias, old_rows, delete.returning, tag).await
}

/// The statement's outcome: a tag, or RETURNING rows and the tag.
async fn finish(
    table: &TableDef,
    alias: &str,
    rows: Vec<Row>,
    returning: Option<Vec<SelectItem>>,
    tag: String,
) -> EngineResult<Outcome> {
    let Some(items) = returning else {
        return Ok(Outcome::Command { tag });
    };
    let (schema, batches) = returning_rows(table, alias, rows, &items).await?;
    Ok(Outcome::Batches {
        schema,
        batches,
        tag,
    })
}

/// Evaluates RETURNING items over the written rows.
pub async fn returning_rows(
    table: &TableDef,
    alias: &str,
    rows: Vec<Row>,
    items: &[SelectItem],
) -> EngineResult<(SchemaRef, Vec<RecordBatch>)> {
    let schema = Arc::new(Schema::new(table_fields(table)));
    let types: Vec<SqlType> = table.columns.iter().map(|c| c.sql_type).collect();
    let all: Vec<usize> = (0..types.len()).collect();
    let rows: Vec<Arc<Row>> = rows.into_iter().map(Arc::new).collect();
    let batch = rows_to_batch(schema, &types, &all, &rows, Vec::<ArrayRef>::new())?;
    let ctx = SessionContext::new();
    ctx.register_batch(alias, batch)?;
    let names = super::naming::item_names(items);
    let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    let frame = ctx
        .sql(&format!(
            "SELECT {} FROM {}",
            items.join(", "),
            quote(alias)
        ))
        .await?;
    let schema = super::naming::rename(
        &Arc::new(frame.schema().as_arrow().clone()),
        names.as_deref(),
    );
    let batches = frame.collect().await?;
    Ok((schema, batches))
}
