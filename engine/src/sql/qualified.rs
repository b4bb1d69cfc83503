//! `pg_catalog.f(…)`: functions called by their schema-qualified name.
//!
//! PostgreSQL's built-in functions live in `pg_catalog`, and tools call
//! them that way (`pg_dump` restores write `SELECT pg_catalog.setval(…)`,
//! `pg_catalog.set_config(…)`). Our functions are registered unqualified,
//! so before planning the `pg_catalog.` qualifier is dropped from calls.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_expressions_mut, Expr, ObjectName, Statement};

/// Calls `pg_catalog.f(…)` as `f(…)`.
pub fn unqualify_catalog_functions(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr {
            let parts = &function.name.0;
            let in_catalog = parts.len() == 2
                && parts[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"));
            if in_catalog {
                function.name = ObjectName(vec![parts[1].clone()]);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}
