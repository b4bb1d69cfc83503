//! `CREATE SCHEMA` and `DROP SCHEMA [CASCADE]`.
//!
//! A schema is a namespace in the catalog: objects in it have keys
//! `schema.name` ([`kimberlite_catalog::relation_key`]) and are found
//! through qualified names or `search_path` ([`super::names`]). Dropping a
//! schema that holds objects needs CASCADE, which drops them (views first,
//! then tables with what depends on them, then sequences) before the
//! schema, all in the transaction.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, SchemaName};
use kimberlite_catalog::{CatalogChange, SchemaDef, DEFAULT_SCHEMA};

use super::ddl::{catalog_change, current_catalog};
use super::{ident_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

pub(super) fn create_schema(
    session: &mut Session,
    name: &SchemaName,
    if_not_exists: bool,
) -> EngineResult<Outcome> {
    let (name, owner) = match name {
        SchemaName::Simple(name) => (
            super::names::parts(name, session.database().1)?.1,
            session.user().to_string(),
        ),
        SchemaName::UnnamedAuthorization(role) => (ident_name(role), ident_name(role)),
        SchemaName::NamedAuthorization(name, role) => (
            super::names::parts(name, session.database().1)?.1,
            ident_name(role),
        ),
    };
    if name.starts_with("pg_") {
        return Err(EngineError::ReservedName {
            message: format!("unacceptable schema name \"{name}\""),
            detail: "The prefix \"pg_\" is reserved for system schemas.".into(),
        });
    }
    let catalog = current_catalog(session);
    if catalog.schema_exists(&name) {
        if if_not_exists {
            session.notice(
                "NOTICE",
                "42P06",
                format!("schema \"{name}\" already exists, skipping"),
            );
            return Ok(tag("CREATE SCHEMA"));
        }
        return Err(EngineError::DuplicateSchema(name));
    }
    if catalog.role(&owner).is_none() {
        return Err(EngineError::UndefinedObject(format!(
            "role \"{owner}\" does not exist"
        )));
    }
    catalog_change(
        session,
        CatalogChange::CreateSchema(SchemaDef { name, owner }),
    )?;
    Ok(tag("CREATE SCHEMA"))
}

fn tag(tag: &str) -> Outcome {
    Outcome::Command { tag: tag.into() }
}

/// What an object in a schema is, for PostgreSQL's messages; `None` for
/// objects that belong to a table (its indexes, its owned sequences).
fn describe(catalog: &kimberlite_catalog::Catalog, id: u64) -> Option<(&'static str, String)> {
    if let Some(t) = catalog.table_by_id(id) {
        return Some(("table", t.name.clone()));
    }
    if let Some(v) = catalog.view_by_id(id) {
        return Some(("view", v.name.clone()));
    }
    match catalog.sequence_by_id(id) {
        Some(s) if s.owned_by.is_none() => Some(("sequence", s.name.clone())),
        _ => None,
    }
}

pub(super) async fn drop_schemas(
    session: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
    cascade: bool,
) -> EngineResult<Outcome> {
    for name in names {
        let name = super::names::parts(name, session.database().1)?.1;
        let catalog = current_catalog(session);
        if name == DEFAULT_SCHEMA {
            return Err(EngineError::FeatureNotSupported(
                "dropping schema public is not supported".into(),
            ));
        }
        if !catalog.schema_exists(&name) {
            if if_exists {
                session.notice(
                    "NOTICE",
                    "00000",
                    format!("schema \"{name}\" does not exist, skipping"),
                );
                continue;
            }
            return Err(EngineError::InvalidSchemaName(name));
        }
        let objects: Vec<(u64, &'static str, String)> = catalog
            .objects_in(&name)
            .into_iter()
            .filter_map(|id| describe(&catalog, id).map(|(kind, object)| (id, kind, object)))
            .collect();
        if !objects.is_empty() {
            let lines = |verb: &str| -> Vec<String> {
                objects
                    .iter()
                    .map(|(_, kind, object)| match verb {
                        "depends" => format!("{kind} {name}.{object} depends on schema {name}"),
                        _ => format!("drop cascades to {kind} {name}.{object}"),
                    })
                    .collect()
            };
            if !cascade {
                return Err(EngineError::DependentObjects {
                    message: format!(
                        "cannot drop schema {name} because other objects depend on it"
                    ),
                    detail: lines("depends").join("\n"),
                });
            }
            session.notice_cascades(lines("cascades"));
        }
        let qualified = |object: &str| {
            ObjectName::from(vec![
                Ident::with_quote('"', name.clone()),
                Ident::with_quote('"', object.to_string()),
            ])
        };
        let views: Vec<ObjectName> = objects
            .iter()
            .filter(|(id, _, _)| catalog.view_by_id(*id).is_some())
            .map(|(_, _, o)| qualified(o))
            .collect();
        let tables: Vec<ObjectName> = objects
            .iter()
            .filter(|(id, _, _)| catalog.table_by_id(*id).is_some())
            .map(|(_, _, o)| qualified(o))
            .collect();
        let sequences: Vec<ObjectName> = objects
            .iter()
            .filter(|(id, _, _)| catalog.sequence_by_id(*id).is_some())
            .map(|(_, _, o)| qualified(o))
            .collect();
        let notices = session.take_notices();
        if !views.is_empty() {
            // Views inside may read each other: drop them all at once.
            super::view::drop_views(session, true, &views, true)?;
        }
        if !tables.is_empty() {
            super::ddl::drop(
                session,
                datafusion::sql::sqlparser::ast::ObjectType::Table,
                true,
                tables,
                true,
            )?;
        }
        if !sequences.is_empty() {
            super::ddl::drop(
                session,
                datafusion::sql::sqlparser::ast::ObjectType::Sequence,
                true,
                sequences,
                true,
            )?;
        }
        // The schema's own notice says it all.
        session.take_notices();
        for notice in notices {
            session.push_notice(notice);
        }
        catalog_change(session, CatalogChange::DropSchema { name })?;
    }
    Ok(tag("DROP SCHEMA"))
}
