//! Aliases of single-column table functions, as PostgreSQL reads them.
//!
//! In PostgreSQL `FROM generate_series(1, 3) g` names the table *and* its
//! one column `g` (`SELECT g FROM generate_series(1, 3) g`, a form Grafana
//! and psql users write constantly). DataFusion names the column `value`.
//! Before planning, such an alias without a column list gets one: `g(g)`.
//!
//! Without an alias the column is named after the function
//! (`generate_series`, `unnest`), as in PostgreSQL.
//!
//! A scalar function in FROM is, in PostgreSQL, a table of one row whose
//! one column is named like the alias (Grafana's `FROM
//! string_to_array(current_setting('search_path'), ',') s` reads `s[i]`):
//! it becomes the derived table `(SELECT f(…) AS s) AS s`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Ident, Statement, TableAlias, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};

/// Set-returning functions with one output column.
const SINGLE_COLUMN: &[&str] = &["generate_series", "range"];

/// The functions DataFusion reads as tables.
const TABLE_FUNCTIONS: &[&str] = &[
    "generate_series",
    "range",
    "unnest",
    "kimberlite_verify",
    "pg_get_keywords",
];

/// `(SELECT f(args) AS alias) AS alias` for a scalar function in FROM.
fn scalar_as_table(function: &str, args: &str, alias: &str) -> Option<TableFactor> {
    let sql = format!("SELECT * FROM (SELECT {function}({args}) AS {alias}) AS {alias}");
    let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &sql,
    )
    .ok()?;
    let Statement::Query(query) = statements.pop()? else {
        return None;
    };
    let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = *query.body else {
        return None;
    };
    select.from.into_iter().next().map(|t| t.relation)
}

/// `AS name`, as PostgreSQL names a function in FROM without an alias.
fn bare_alias(name: &str) -> TableAlias {
    TableAlias {
        explicit: true,
        name: Ident::new(name),
        columns: Vec::new(),
        at: None,
    }
}

/// Gives each single-column table function's bare alias its column name.
pub fn name_single_columns(statement: &mut Statement) {
    let _ = statement.visit(&mut ColumnNamer);
}

struct ColumnNamer;

impl VisitorMut for ColumnNamer {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        // `pg_catalog.generate_series(…)`: our functions are unqualified.
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            let in_catalog = name.0.len() == 2
                && name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"));
            if in_catalog {
                name.0.remove(0);
            }
        }
        // `FROM unnest(a)` / `FROM generate_series(…)`: one column, named
        // after the function, or after a bare alias (`unnest(a) u` → `u`).
        match factor {
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } if array_exprs.len() == 1 => {
                let alias = alias.get_or_insert_with(|| bare_alias("unnest"));
                if alias.columns.is_empty() {
                    alias
                        .columns
                        .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
                }
                return ControlFlow::Continue(());
            }
            TableFactor::Table {
                name,
                args: Some(_),
                alias: alias @ None,
                ..
            } if name.to_string().eq_ignore_ascii_case("generate_series") => {
                *alias = Some(bare_alias("generate_series"));
            }
            _ => {}
        }
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
        if !TABLE_FUNCTIONS.contains(&function.as_str()) && alias.columns.is_empty() {
            let alias = alias.name.to_string();
            if let TableFactor::Table {
                args: Some(args), ..
            } = &*factor
            {
                let args: Vec<String> = args.args.iter().map(|a| a.to_string()).collect();
                if let Some(table) = scalar_as_table(&name, &args.join(", "), &alias) {
                    *factor = table;
                }
            }
        }
        ControlFlow::Continue(())
    }
}
