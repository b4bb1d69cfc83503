//! `CREATE [OR REPLACE] VIEW`, `DROP VIEW`, and what views mean for
//! `DROP TABLE`.
//!
//! A view is its query's text in the catalog. It is planned afresh each
//! time a statement reads it, in that statement's scope (snapshot,
//! transaction, settings), and inlined into the statement's plan by
//! DataFusion — so a view can be joined, filtered and nested, and every
//! rule applied to plans (later: access control) reaches the base tables
//! under it. `depends_on` records the relations the query reads: they
//! cannot be dropped while the view exists, except with CASCADE, which
//! drops the view too (PostgreSQL's rules).
//!
//! Not yet: writes through views (auto-updatable views), `WITH CHECK
//! OPTION`, materialized and temporary views, and following a renamed
//! table or column (the view's text keeps the old name).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_relations, visit_relations_mut, CreateView, Expr, ObjectName, Query,
    SelectItem, SetExpr, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use kimberlite_catalog::{Catalog, CatalogChange, SqlType, ViewDef};

use super::ddl::{catalog_change, current_catalog};
use super::{ident_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// How deep views may nest in one statement (a cycle made by OR REPLACE
/// would otherwise never end).
pub const VIEW_DEPTH_MAX: usize = 32;

pub(super) async fn create_view(
    session: &mut Session,
    create: CreateView,
) -> EngineResult<Outcome> {
    if create.materialized || create.temporary {
        return Err(EngineError::FeatureNotSupported(
            "materialized and temporary views are not supported yet".into(),
        ));
    }
    let (schema, name) = session.creation_target(&create.name)?;
    let key = kimberlite_catalog::relation_key(&schema, &name);
    let catalog = current_catalog(session);
    let replaced = catalog.view(&key).cloned();
    if catalog.relation_exists(&key) && !(create.or_replace && replaced.is_some()) {
        if create.if_not_exists {
            session.notice(
                "NOTICE",
                "42P07",
                format!("relation \"{name}\" already exists, skipping"),
            );
            return Ok(tag("CREATE VIEW"));
        }
        return Err(EngineError::DuplicateTable(name));
    }
    let statement = Statement::Query(create.query.clone());
    // Planning it checks it (42P01, 42703, …) and gives its columns.
    session.set_scope(None);
    let names = super::naming::column_names(&statement);
    let plan = session.plan(statement.clone()).await;
    session.clear_scope();
    let plan = plan?;
    // The types clients see for the view's columns (pg_attribute,
    // information_schema.columns, psql's \d).
    let types: Vec<SqlType> = plan
        .schema()
        .fields()
        .iter()
        .map(|field| super::types::sql_type_of_field(field))
        .collect();
    let mut columns: Vec<String> = match names {
        Some(names) => names,
        None => plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
    };
    if create.columns.len() > columns.len() {
        return Err(EngineError::Syntax(
            "CREATE VIEW specifies more column names than columns".into(),
        ));
    }
    for (column, given) in columns.iter_mut().zip(&create.columns) {
        *column = ident_name(&given.name);
    }
    let mut depends_on = BTreeSet::new();
    let _ = visit_relations(&statement, |relation: &ObjectName| {
        if let Ok(name) = session.resolve(relation) {
            if let Some(id) = relation_id(&catalog, &name) {
                depends_on.insert(id);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let id = match &replaced {
        Some(old) => {
            if columns.len() < old.columns.len() {
                return Err(EngineError::InvalidTableDefinition(
                    "cannot drop columns from view".into(),
                ));
            }
            if let Some((old, new)) = old.columns.iter().zip(&columns).find(|(o, n)| o != n) {
                return Err(EngineError::InvalidTableDefinition(format!(
                    "cannot change name of view column \"{old}\" to \"{new}\""
                )));
            }
            catalog_change(session, CatalogChange::DropView { id: old.id })?;
            old.id
        }
        None => {
            let id = session.engine.allocate_table_id();
            super::ddl::place(session, id, &schema)?;
            id
        }
    };
    depends_on.remove(&id);
    catalog_change(
        session,
        CatalogChange::CreateView(ViewDef {
            id,
            name,
            query_sql: create.query.to_string(),
            columns,
            depends_on: depends_on.into_iter().collect(),
        }),
    )?;
    catalog_change(session, CatalogChange::SetViewColumnTypes { id, types })?;
    Ok(tag("CREATE VIEW"))
}

fn tag(tag: &str) -> Outcome {
    Outcome::Command { tag: tag.into() }
}

fn relation_id(catalog: &Catalog, name: &str) -> Option<u64> {
    catalog
        .table(name)
        .map(|t| t.id)
        .or_else(|| catalog.view(name).map(|v| v.id))
}

/// The views that read `ids`, directly or through other views, nearest
/// last (so dropping in reverse order drops dependents first).
pub(super) fn dependent_views(catalog: &Catalog, ids: &[u64]) -> Vec<Arc<ViewDef>> {
    let mut found: Vec<Arc<ViewDef>> = Vec::new();
    let mut frontier: Vec<u64> = ids.to_vec();
    while let Some(id) = frontier.pop() {
        for view in catalog.views() {
            if view.depends_on.contains(&id) && !found.iter().any(|f| f.id == view.id) {
                found.push(view.clone());
                frontier.push(view.id);
            }
        }
    }
    found.retain(|v| !ids.contains(&v.id));
    found
}

/// Drops `views` (dependents of something being dropped with CASCADE).
pub(super) fn drop_dependents(session: &mut Session, views: &[Arc<ViewDef>]) -> EngineResult<()> {
    for view in views.iter().rev() {
        catalog_change(session, CatalogChange::DropView { id: view.id })?;
    }
    Ok(())
}

pub(super) fn drop_views(
    session: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
    cascade: bool,
) -> EngineResult<Outcome> {
    let catalog = current_catalog(session);
    let mut dropped: Vec<Arc<ViewDef>> = Vec::new();
    for name in names {
        let name = session.resolve(name)?;
        match catalog.view(&name) {
            Some(view) => dropped.push(view.clone()),
            None if catalog.table(&name).is_some() => {
                return Err(EngineError::WrongObjectTypeHint {
                    message: format!("\"{name}\" is not a view"),
                    hint: "Use DROP TABLE to remove a table.",
                })
            }
            None if if_exists => session.notice(
                "NOTICE",
                "00000",
                format!("view \"{name}\" does not exist, skipping"),
            ),
            None => {
                return Err(EngineError::UndefinedRelation(format!(
                    "view \"{name}\" does not exist"
                )))
            }
        }
    }
    let ids: Vec<u64> = dropped.iter().map(|v| v.id).collect();
    let dependents = dependent_views(&catalog, &ids);
    if let Some(first) = dropped.first() {
        refuse_or_notice(
            session,
            &catalog,
            &ids,
            dependents.as_slice(),
            cascade,
            || format!("view {}", first.name),
        )?;
    }
    drop_dependents(session, &dependents)?;
    for view in dropped {
        catalog_change(session, CatalogChange::DropView { id: view.id })?;
    }
    Ok(tag("DROP VIEW"))
}

/// 2BP01 for views that depend on what is dropped without CASCADE; with
/// it, PostgreSQL's "drop cascades to view …" notice.
pub(super) fn refuse_or_notice(
    session: &mut Session,
    catalog: &Catalog,
    dropped: &[u64],
    dependents: &[Arc<ViewDef>],
    cascade: bool,
    object: impl Fn() -> String,
) -> EngineResult<()> {
    if dependents.is_empty() {
        return Ok(());
    }
    if !cascade {
        let details: Vec<String> = dependents
            .iter()
            .map(|view| {
                // What it reads among what goes: the dropped objects and
                // the other views that go with them.
                let going =
                    |id: &u64| dropped.contains(id) || dependents.iter().any(|d| d.id == *id);
                let on = view
                    .depends_on
                    .iter()
                    .filter(|id| going(id))
                    .find_map(|id| {
                        catalog
                            .table_by_id(*id)
                            .map(|t| format!("table {}", t.name))
                            .or_else(|| catalog.view_by_id(*id).map(|v| format!("view {}", v.name)))
                    })
                    .unwrap_or_default();
                format!("view {} depends on {on}", view.name)
            })
            .collect();
        return Err(EngineError::DependentObjects {
            message: format!(
                "cannot drop {} because other objects depend on it",
                object()
            ),
            detail: details.join("\n"),
        });
    }
    let lines: Vec<String> = dependents
        .iter()
        .map(|v| format!("drop cascades to view {}", v.name))
        .collect();
    session.notice_cascades(lines);
    Ok(())
}

fn parse_query(sql: &str) -> Option<Query> {
    let mut parser = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?;
    parser.parse_query().ok().map(|q| *q)
}

/// The views that read `column` of `table`: they name it, or select `*`
/// (a view whose text cannot be read counts as reading it).
pub(super) fn views_using_column(catalog: &Catalog, table: u64, column: &str) -> Vec<Arc<ViewDef>> {
    catalog
        .views()
        .filter(|view| view.depends_on.contains(&table))
        .filter(|view| {
            let Some(query) = parse_query(&view.query_sql) else {
                return true;
            };
            let mut uses = false;
            let _ = visit_expressions(&query, |e| {
                let name = match e {
                    Expr::Identifier(ident) => Some(ident),
                    Expr::CompoundIdentifier(parts) => parts.last(),
                    _ => None,
                };
                uses |= name.is_some_and(|n| ident_name(n) == column);
                ControlFlow::<()>::Continue(())
            });
            uses || selects_star(&query)
        })
        .cloned()
        .collect()
}

fn selects_star(query: &Query) -> bool {
    match query.body.as_ref() {
        SetExpr::Select(select) => select.projection.iter().any(|item| {
            matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        }),
        _ => false,
    }
}

/// Views that read table `from` (a catalog key) follow its rename to
/// `to`: their text is rewritten (same id, same columns). Runs before the
/// rename, while the old name still resolves.
pub(super) fn follow_table_rename(
    session: &mut Session,
    table: u64,
    from: &str,
    to: &ObjectName,
) -> EngineResult<()> {
    let catalog = current_catalog(session);
    let mut rewritten = Vec::new();
    for view in catalog.views().filter(|v| v.depends_on.contains(&table)) {
        let Some(mut query) = parse_query(&view.query_sql) else {
            continue;
        };
        let _ = visit_relations_mut(&mut query, |relation: &mut ObjectName| {
            if session.resolve(relation).is_ok_and(|key| key == from) {
                *relation = to.clone();
            }
            ControlFlow::<()>::Continue(())
        });
        let mut def = (**view).clone();
        def.query_sql = query.to_string();
        rewritten.push(def);
    }
    for def in rewritten {
        let types = catalog.view_column_types(&def);
        let id = def.id;
        catalog_change(session, CatalogChange::DropView { id })?;
        catalog_change(session, CatalogChange::CreateView(def))?;
        catalog_change(session, CatalogChange::SetViewColumnTypes { id, types })?;
    }
    Ok(())
}
