//! Aliases of single-column table functions, as PostgreSQL reads them.
//!
//! In PostgreSQL `FROM generate_series(1, 3) g` names the table *and* its
//! one column `g` (`SELECT g FROM generate_series(1, 3) g`, a form Grafana
//! and psql users write constantly). DataFusion names the column `value`.
//! Before planning, such an alias without a column list gets one: `g(g)`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Statement, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};

/// Set-returning functions with one output column.
const SINGLE_COLUMN: &[&str] = &["generate_series", "range"];

/// Gives each single-column table function's bare alias its column name.
pub fn name_single_columns(statement: &mut Statement) {
    let _ = statement.visit(&mut ColumnNamer);
}

struct ColumnNamer;

impl VisitorMut for ColumnNamer {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let (name, alias) = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                alias: Some(alias),
                ..
            } => (name.to_string(), alias),
            TableFactor::Function {
                name,
                alias: Some(alias),
                ..
            } => (name.to_string(), alias),
            _ => return ControlFlow::Continue(()),
        };
        let function = name
            .rsplit('.')
            .next()
            .unwrap_or(&name)
            .to_ascii_lowercase();
        if alias.columns.is_empty() && SINGLE_COLUMN.contains(&function.as_str()) {
            alias.columns.push(TableAliasColumnDef {
                name: alias.name.clone(),
                data_type: None,
            });
        }
        ControlFlow::Continue(())
    }
}
