//! `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] [name] ON t
//! [USING btree] (col [ASC | DESC] [NULLS FIRST | LAST], …)` and `DROP
//! INDEX`.
//!
//! An index is a catalog entry; its entries are derived state the kernel
//! builds over every row version when the command applies
//! ([`crate::indexes`]). A UNIQUE index is also enforced: the table gets a
//! `UniqueIndex` constraint under the index's name, so rows are checked
//! like a UNIQUE constraint's — and, as for ADD CONSTRAINT, every row is
//! written again in the transaction so the kernel checks them all
//! (duplicates: 23505 `could not create unique index`).
//!
//! Not yet: expression and partial indexes, INCLUDE, and access methods
//! other than btree (hash is read as btree).

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{CreateIndex, Expr, IndexType, ObjectName};
use kimberlite_catalog::{CatalogChange, Constraint, ConstraintKind, IndexColumn, IndexDef};

use super::alter_table::rewrite_checked;
use super::ddl::{catalog_change, current_catalog};
use super::{ident_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

fn tag(tag: &str) -> Outcome {
    Outcome::Command { tag: tag.into() }
}

pub(super) async fn create_index(
    session: &mut Session,
    create: CreateIndex,
) -> EngineResult<Outcome> {
    if create.predicate.is_some() {
        return Err(EngineError::FeatureNotSupported(
            "partial indexes are not supported yet".into(),
        ));
    }
    if !create.include.is_empty() {
        return Err(EngineError::FeatureNotSupported(
            "INCLUDE columns are not supported yet".into(),
        ));
    }
    match &create.using {
        None | Some(IndexType::BTree) | Some(IndexType::Hash) => {}
        Some(other) => {
            return Err(EngineError::FeatureNotSupported(format!(
                "access method \"{}\" is not supported yet",
                other.to_string().to_lowercase()
            )))
        }
    }
    let catalog = current_catalog(session);
    let relation = session.resolve(&create.table_name)?;
    let Some(table) = catalog.table(&relation).cloned() else {
        return Err(EngineError::UndefinedTable(relation));
    };
    let mut columns = Vec::with_capacity(create.columns.len());
    let mut names = Vec::new();
    for column in &create.columns {
        let name = match &column.column.expr {
            Expr::Identifier(ident) => ident_name(ident),
            other => {
                return Err(EngineError::FeatureNotSupported(format!(
                    "an index on the expression {other} is not supported yet"
                )))
            }
        };
        let position = table.column_index(&name).ok_or_else(|| {
            EngineError::UndefinedColumn(format!("column \"{name}\" does not exist"))
        })?;
        let descending = column.column.options.asc == Some(false);
        columns.push(IndexColumn {
            column: position,
            descending,
            nulls_first: column.column.options.nulls_first.unwrap_or(descending),
        });
        names.push(name);
    }
    // An index lives in its table's schema.
    let schema = catalog.schema_of(table.id).to_string();
    let key = |name: &str| kimberlite_catalog::relation_key(&schema, name);
    let name = match &create.name {
        Some(name) => super::names::parts(name, session.database().1)?.1,
        None => {
            let base = format!("{}_{}_idx", table.name, names.join("_"));
            (0..)
                .map(|n| {
                    if n == 0 {
                        base.clone()
                    } else {
                        format!("{base}{n}")
                    }
                })
                .find(|candidate| !catalog.relation_exists(&key(candidate)))
                .expect("some suffix is free")
        }
    };
    if catalog.relation_exists(&key(&name)) {
        if create.if_not_exists {
            session.notice(
                "NOTICE",
                "42P07",
                format!("relation \"{name}\" already exists, skipping"),
            );
            return Ok(tag("CREATE INDEX"));
        }
        return Err(EngineError::DuplicateTable(name));
    }
    let def = IndexDef {
        id: session.engine.allocate_table_id(),
        name: name.clone(),
        table: table.id,
        columns,
        unique: create.unique,
    };
    if create.unique {
        let mut new = (*table).clone();
        new.constraints.push(Constraint {
            name,
            kind: ConstraintKind::UniqueIndex {
                columns: def.column_positions(),
            },
        });
        rewrite_checked(session, &table, new).await?;
    }
    super::ddl::place(session, def.id, &schema)?;
    catalog_change(session, CatalogChange::CreateIndex(def))?;
    Ok(tag("CREATE INDEX"))
}

pub(super) fn drop_indexes(
    session: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
) -> EngineResult<Outcome> {
    for name in names {
        let name = session.resolve(name)?;
        let catalog = current_catalog(session);
        let Some(index) = catalog.index(&name).cloned() else {
            // An index that backs a constraint goes with the constraint.
            let backing = catalog.tables().find(|t| {
                (!t.primary_key.is_empty() && t.primary_key_name() == name)
                    || t.constraints
                        .iter()
                        .any(|c| c.name == name && matches!(c.kind, ConstraintKind::Unique { .. }))
            });
            if let Some(table) = backing {
                return Err(EngineError::DependentObjectsHint {
                    message: format!(
                        "cannot drop index {name} because constraint {name} on table {} requires it",
                        table.name
                    ),
                    hint: format!(
                        "You can drop constraint {name} on table {} instead.",
                        table.name
                    ),
                });
            }
            if catalog.table(&name).is_some() {
                return Err(EngineError::WrongObjectTypeHint {
                    message: format!("\"{name}\" is not an index"),
                    hint: "Use DROP TABLE to remove a table.",
                });
            }
            if catalog.relation_exists(&name) {
                return Err(EngineError::WrongObjectType(format!(
                    "\"{name}\" is not an index"
                )));
            }
            if if_exists {
                session.notice(
                    "NOTICE",
                    "00000",
                    format!("index \"{name}\" does not exist, skipping"),
                );
                continue;
            }
            return Err(EngineError::UndefinedObject(format!(
                "index \"{name}\" does not exist"
            )));
        };
        drop_index(session, &index)?;
    }
    Ok(tag("DROP INDEX"))
}

fn drop_index(session: &mut Session, index: &Arc<IndexDef>) -> EngineResult<()> {
    if index.unique {
        let catalog = current_catalog(session);
        if let Some(table) = catalog.table_by_id(index.table) {
            let mut def = (**table).clone();
            def.constraints.retain(|c| {
                !(c.name == index.name && matches!(c.kind, ConstraintKind::UniqueIndex { .. }))
            });
            catalog_change(session, CatalogChange::ReplaceTable(def))?;
        }
    }
    catalog_change(session, CatalogChange::DropIndex { id: index.id })
}
