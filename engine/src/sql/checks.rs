//! CHECK constraints: each constraint's expression evaluated over the rows
//! a statement wrote.
//!
//! The rows become one Arrow batch named after the table and every
//! constraint is one `SELECT (expr) IS NOT FALSE` over it (a NULL result
//! passes, as in PostgreSQL). Constraints are checked in name order, which
//! is the order PostgreSQL reports them in when several fail.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::Schema;
use datafusion::prelude::SessionContext;
use kimberlite_catalog::{ConstraintKind, SqlType, TableDef};

use super::convert::rows_to_batch;
use super::dml::{failing_row, quote};
use super::types::table_fields;
use crate::datum::Row;
use crate::error::{EngineError, EngineResult};

/// 23514 for the first of `rows` that a CHECK constraint of `table`
/// rejects. With no rows it still plans each expression, which is how
/// CREATE TABLE validates them.
pub async fn check_rows(table: &TableDef, rows: &[Row]) -> EngineResult<()> {
    let mut checks: Vec<(&str, &str)> = table
        .constraints
        .iter()
        .filter_map(|c| match &c.kind {
            ConstraintKind::Check { expr_sql } => Some((c.name.as_str(), expr_sql.as_str())),
            _ => None,
        })
        .collect();
    if checks.is_empty() {
        return Ok(());
    }
    checks.sort();
    let schema = Arc::new(Schema::new(table_fields(table)));
    let types: Vec<SqlType> = table.columns.iter().map(|c| c.sql_type).collect();
    let all: Vec<usize> = (0..types.len()).collect();
    let shared: Vec<Arc<Row>> = rows.iter().cloned().map(Arc::new).collect();
    let batch = rows_to_batch(schema, &types, &all, &shared, Vec::<ArrayRef>::new())?;
    let ctx = SessionContext::new();
    ctx.register_batch(&table.name, batch)?;
    for (name, expr) in checks {
        let frame = ctx
            .sql(&format!(
                "SELECT ({expr}) IS NOT FALSE FROM {}",
                quote(&table.name)
            ))
            .await?;
        let mut offset = 0;
        for batch in frame.collect().await? {
            let passed = batch
                .column(0)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| {
                    EngineError::Datatype(format!(
                        "argument of CHECK constraint \"{name}\" must be type boolean"
                    ))
                })?
                .clone();
            if let Some(failed) = (0..passed.len()).find(|&i| !passed.value(i)) {
                return Err(EngineError::CheckViolation {
                    table: table.name.clone(),
                    constraint: name.to_string(),
                    row: failing_row(table, &rows[offset + failed]),
                });
            }
            offset += batch.num_rows();
        }
    }
    Ok(())
}
