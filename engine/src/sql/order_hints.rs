//! Which table a query sorts before a LIMIT, and by which columns.
//!
//! `SELECT … FROM t [WHERE …] ORDER BY a, b LIMIT n` can be answered by
//! reading an index on (a, b) in order and stopping after n rows, instead
//! of reading every row and sorting. DataFusion does not tell a table
//! provider what order its caller wants, so the session reads it off the
//! logical plan before the scans are planned: a `Limit` over a `Sort` (or
//! a `Sort` with a fetch) whose sort keys are plain columns, ascending
//! with NULLS LAST, over a `Filter`/`Projection` chain down to one table.
//! The scan then may declare that order, and DataFusion drops the sort
//! ([`super::provider`]). A hint is only a hint: the scan uses it only
//! when an index matches, and the sort stays whenever the declared order
//! does not satisfy it.

use std::collections::HashMap;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, SortExpr};

/// Table name → sort columns, for every sort-then-limit in `plan`.
pub(super) fn of(plan: &LogicalPlan) -> HashMap<String, Vec<String>> {
    let mut hints = HashMap::new();
    let _ = plan.apply(|node| {
        let sort = match node {
            LogicalPlan::Limit(limit) => match limit.input.as_ref() {
                LogicalPlan::Sort(sort) => Some(sort),
                _ => None,
            },
            LogicalPlan::Sort(sort) if sort.fetch.is_some() => Some(sort),
            _ => None,
        };
        if let Some(sort) = sort {
            if let (Some(columns), Some(table)) = (columns(&sort.expr), table_under(&sort.input)) {
                hints.insert(table, columns);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    hints
}

/// The sort keys as column names, if all are plain ascending NULLS LAST
/// columns.
fn columns(keys: &[SortExpr]) -> Option<Vec<String>> {
    keys.iter()
        .map(|key| match &key.expr {
            Expr::Column(column) if key.asc && !key.nulls_first => Some(column.name.clone()),
            _ => None,
        })
        .collect()
}

/// The one table a chain of filters and projections reads.
fn table_under(plan: &LogicalPlan) -> Option<String> {
    match plan {
        LogicalPlan::TableScan(scan) => Some(scan.table_name.table().to_string()),
        LogicalPlan::Filter(filter) => table_under(&filter.input),
        LogicalPlan::Projection(projection) => table_under(&projection.input),
        LogicalPlan::SubqueryAlias(alias) => table_under(&alias.input),
        _ => None,
    }
}
