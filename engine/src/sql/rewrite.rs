//! The walk our analyzer rules share: every expression of every plan node
//! (subqueries included), bottom-up.
//!
//! A rewritten top-level projection or aggregate expression keeps its
//! original name, so references to it from enclosing plans still resolve;
//! a node whose expressions changed recomputes its schema.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::logical_expr::{Expr, LogicalPlan};

/// Rewrites each expression of `plan` with `rewrite`, which gets what
/// `context` computed for the expression's node (before the node is taken
/// apart).
pub(super) fn rewrite_expressions<X>(
    plan: LogicalPlan,
    context: impl Fn(&LogicalPlan) -> Result<X>,
    rewrite: impl Fn(Expr, &X) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let context = context(&node)?;
        let keeps_names = matches!(node, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_));
        let node = node.map_expressions(|expr| {
            let name = expr.schema_name().to_string();
            let rewritten = expr.transform_up(|e| rewrite(e, &context))?;
            if rewritten.transformed && keeps_names {
                Ok(rewritten.update_data(|e| e.alias(name)))
            } else {
                Ok(rewritten)
            }
        })?;
        if node.transformed {
            node.map_data(|plan| plan.recompute_schema())
        } else {
            Ok(node)
        }
    })
    .map(|t| t.data)
}
