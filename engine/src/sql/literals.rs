//! Integer literals typed as PostgreSQL types them.
//!
//! PostgreSQL gives an integer literal the type `integer` when it fits 32
//! bits and `bigint` otherwise, so `SELECT 1` describes its column as int4
//! (OID 23), `ARRAY[1,2]` is `integer[]`, and `2147483647 + 1` overflows.
//! DataFusion types every integer literal Int64. Before planning we wrap
//! each literal that fits 32 bits in `CAST(… AS INT4)`; the simplifier folds
//! it into an Int32 literal.
//!
//! Some integers are not values but positions or counts, and DataFusion
//! wants them as plain literals: `ORDER BY 1` and `GROUP BY 1` (ordinals),
//! `LIMIT`/`OFFSET`/`FETCH`, window frame offsets, `INTERVAL 1 DAY`, and the
//! arguments of table functions such as `generate_series(1, 10)`. Those are
//! marked first (sqlparser's `long` flag on the number, cleared again before
//! the statement leaves) and left alone.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, CastKind, DataType as AstType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, LimitClause, OrderByKind, Query, SetExpr, Statement,
    TableFactor, TypedString, Value, VisitMut, VisitorMut, WindowFrameBound, WindowType,
};

/// Rewrites `statement` so that its integer literals carry PostgreSQL's
/// types.
pub fn type_integer_literals(statement: &mut Statement) {
    let _ = statement.visit(&mut LiteralTyper);
    // The marks are ours alone: DataFusion reads `long` in places (window
    // frames want `Number(_, false)`), so every number leaves as written.
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Value(v) = expr {
            if let Value::Number(_, long) = &mut v.value {
                *long = false;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

struct LiteralTyper;

/// Marks a top-level integer literal (or `-literal`) as "keep as is".
fn keep(expr: &mut Expr) {
    match expr {
        Expr::Value(v) => {
            if let Value::Number(_, long) = &mut v.value {
                *long = true;
            }
        }
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => keep(expr),
        _ => {}
    }
}

/// Marks every integer literal below `expr`.
fn keep_all(expr: &mut Expr) {
    let _ = visit_expressions_mut(expr, |e| {
        keep(e);
        ControlFlow::<()>::Continue(())
    });
}

fn keep_group_by(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
                exprs.iter_mut().for_each(keep);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            keep_group_by(left);
            keep_group_by(right);
        }
        _ => {}
    }
}

impl VisitorMut for LiteralTyper {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(order_by) = &mut query.order_by {
            if let OrderByKind::Expressions(exprs) = &mut order_by.kind {
                exprs.iter_mut().for_each(|e| keep(&mut e.expr));
            }
        }
        match &mut query.limit_clause {
            Some(LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                limit.iter_mut().for_each(keep);
                offset.iter_mut().for_each(|o| keep(&mut o.value));
                limit_by.iter_mut().for_each(keep);
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                keep(offset);
                keep(limit);
            }
            None => {}
        }
        if let Some(fetch) = &mut query.fetch {
            fetch.quantity.iter_mut().for_each(keep);
        }
        keep_group_by(&mut query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let args = match factor {
            TableFactor::Table {
                args: Some(args), ..
            } => &mut args.args,
            TableFactor::Function { args, .. } => args,
            TableFactor::TableFunction { expr, .. } => {
                keep_all(expr);
                return ControlFlow::Continue(());
            }
            _ => return ControlFlow::Continue(()),
        };
        for arg in args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            } = arg
            {
                keep_all(e);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Interval(interval) => keep(&mut interval.value),
            Expr::Function(function) => {
                if let Some(WindowType::WindowSpec(spec)) = &mut function.over {
                    if let Some(frame) = &mut spec.window_frame {
                        for bound in [Some(&mut frame.start_bound), frame.end_bound.as_mut()]
                            .into_iter()
                            .flatten()
                        {
                            if let WindowFrameBound::Preceding(Some(e))
                            | WindowFrameBound::Following(Some(e)) = bound
                            {
                                keep(e);
                            }
                        }
                    }
                }
                // `generate_series(…)` and friends in a select list are
                // DataFusion table functions too.
                if let FunctionArguments::List(list) = &mut function.args {
                    let name = function.name.to_string().to_ascii_lowercase();
                    if matches!(name.as_str(), "generate_series" | "range") {
                        for arg in &mut list.args {
                            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                                keep_all(e);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // PostgreSQL's timestamps are microseconds; DataFusion's default
        // nanoseconds cannot hold `infinity` or dates before 1677.
        if let Expr::Cast { data_type, .. } | Expr::TypedString(TypedString { data_type, .. }) =
            expr
        {
            if let AstType::Timestamp(precision @ None, _) = data_type {
                *precision = Some(6);
            }
        }
        let Expr::Value(v) = expr else {
            return ControlFlow::Continue(());
        };
        let Value::Number(text, false) = &v.value else {
            return ControlFlow::Continue(());
        };
        let fits_int4 = text.bytes().all(|b| b.is_ascii_digit())
            && text.parse::<i64>().is_ok_and(|n| n <= i64::from(i32::MAX));
        if fits_int4 {
            let literal = expr.clone();
            *expr = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(literal),
                data_type: AstType::Int4(None),
                array: false,
                format: None,
            };
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(sql: &str) -> String {
        let mut statement = super::super::parse(sql).unwrap().remove(0);
        type_integer_literals(&mut statement);
        statement.to_string()
    }

    #[test]
    fn values_become_int4_and_large_ones_stay() {
        assert_eq!(
            typed("SELECT 1, 3000000000"),
            "SELECT CAST(1 AS INT4), 3000000000"
        );
        assert_eq!(
            typed("SELECT a + 1 FROM t WHERE b IN (2, 3)"),
            "SELECT a + CAST(1 AS INT4) FROM t WHERE b IN (CAST(2 AS INT4), CAST(3 AS INT4))"
        );
    }

    #[test]
    fn positions_and_counts_are_left_alone() {
        let text =
            typed("SELECT a, 1 FROM t GROUP BY 1, 2 ORDER BY 2 DESC, a + 1 LIMIT 5 OFFSET 10");
        assert_eq!(
            text,
            "SELECT a, CAST(1 AS INT4) FROM t GROUP BY 1, 2 ORDER BY 2 DESC, a + CAST(1 AS INT4) LIMIT 5 OFFSET 10"
        );
        assert!(typed("SELECT * FROM generate_series(1, 3)").ends_with("generate_series(1, 3)"));
        assert!(
            !typed("SELECT sum(a) OVER (ROWS BETWEEN 1 PRECEDING AND 2 FOLLOWING) FROM t")
                .contains("CAST")
        );
        assert!(!typed("SELECT now() - INTERVAL 1 DAY").contains("CAST"));
    }
}
