//! `TRUNCATE [TABLE] a, b [RESTART IDENTITY | CONTINUE IDENTITY] [CASCADE |
//! RESTRICT]`, and `VACUUM` / `ANALYZE`, which have nothing to do here.
//!
//! TRUNCATE empties each table inside the transaction — every row deleted,
//! as a DELETE without WHERE would, so it is transactional, logged, and
//! locks the rows it removes — without running ON DELETE actions: a table
//! another table's foreign key references may only be truncated together
//! with it (CASCADE adds such tables, PostgreSQL's "truncate cascades to
//! table …"; otherwise 0A000). Referencing tables are emptied first so the
//! foreign-key checks between the emptied tables pass. RESTART IDENTITY
//! restarts the sequences the tables own, at once (like `setval`).
//!
//! Unlike PostgreSQL's, our TRUNCATE costs time and log space in
//! proportion to the rows removed.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{CascadeOption, Statement, Truncate, TruncateIdentityOption};
use kimberlite_catalog::TableDef;

use super::ddl::current_catalog;
use super::dml::quote;
use super::{Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// Referencing tables before the tables they reference (so the foreign
/// keys between them hold after each step); a cycle keeps list order.
fn emptying_order(
    catalog: &kimberlite_catalog::Catalog,
    tables: &[Arc<TableDef>],
) -> Vec<Arc<TableDef>> {
    let mut left: Vec<Arc<TableDef>> = tables.to_vec();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            catalog
                .referencing(t.id)
                .iter()
                .all(|(r, _)| !left.iter().any(|l| l.id == r.id))
        });
        order.push(left.remove(ready.unwrap_or(0)));
    }
    order
}

pub(super) async fn truncate(session: &mut Session, truncate: Truncate) -> EngineResult<Outcome> {
    let catalog = current_catalog(session);
    let mut tables: Vec<Arc<TableDef>> = Vec::new();
    for target in &truncate.table_names {
        let name = session.resolve(&target.name)?;
        let table = match catalog.table(&name) {
            Some(table) => table.clone(),
            None if catalog.sequence(&name).is_some() => {
                return Err(EngineError::WrongObjectType(format!(
                    "\"{name}\" is not a table"
                )))
            }
            None => return Err(EngineError::UndefinedTable(name)),
        };
        if !tables.iter().any(|t| t.id == table.id) {
            tables.push(table);
        }
    }
    let cascade = matches!(truncate.cascade, Some(CascadeOption::Cascade));
    let mut i = 0;
    while i < tables.len() {
        for (referencing, _) in catalog.referencing(tables[i].id) {
            if tables.iter().any(|t| t.id == referencing.id) {
                continue;
            }
            if !cascade {
                return Err(EngineError::TruncateReferenced {
                    referencing: referencing.name.clone(),
                    referenced: tables[i].name.clone(),
                });
            }
            session.notice(
                "NOTICE",
                "00000",
                format!("truncate cascades to table \"{}\"", referencing.name),
            );
            tables.push(referencing);
        }
        i += 1;
    }
    for table in emptying_order(&catalog, &tables) {
        let mut statements = super::parse(&format!("DELETE FROM {}", quote(&table.name)))?;
        let Some(Statement::Delete(delete)) = statements.pop() else {
            unreachable!("a DELETE parses as one");
        };
        super::dml::delete(session, delete).await?;
    }
    if matches!(truncate.identity, Some(TruncateIdentityOption::Restart)) {
        for sequence in catalog.sequences() {
            if sequence
                .owned_by
                .is_some_and(|(table, _)| tables.iter().any(|t| t.id == table))
            {
                session
                    .engine
                    .sequences
                    .lock()
                    .setval(sequence, sequence.initial_value());
            }
        }
    }
    Ok(Outcome::Command {
        tag: "TRUNCATE TABLE".into(),
    })
}
