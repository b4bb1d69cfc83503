//! Resolving object names: schemas and `search_path`.
//!
//! A name written with its schema (`s.t`, or `db.s.t` naming the current
//! database) means that schema's object; an unqualified one means the
//! object in the first schema of `search_path` that has one, as in
//! PostgreSQL — `"$user"` stands for the schema named like the session's
//! role, and schemas in the path that do not exist are skipped. A new
//! object goes into the named schema, or the first existing schema of the
//! path (3F000 when there is none).
//!
//! The result is a catalog *key* ([`kimberlite_catalog::relation_key`]):
//! the bare name in `public`, `schema.name` elsewhere.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_relations, ObjectName, ObjectNamePart, Statement};
use kimberlite_catalog::{relation_key, Catalog, DEFAULT_SCHEMA};

use super::ident_name;
use crate::error::{EngineError, EngineResult};

/// Schemas clients may name that we do not have yet (their relations are
/// simply missing: 42P01, not 3F000).
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

/// The schema (if written) and the name of an object name; a leading
/// database part must name `database` (the session's).
pub fn parts(name: &ObjectName, database: &str) -> EngineResult<(Option<String>, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(ident_name(i)),
            other => Err(EngineError::FeatureNotSupported(format!(
                "name part {other}"
            ))),
        })
        .collect::<EngineResult<_>>()?;
    match parts.as_slice() {
        [name] => Ok((None, name.clone())),
        [schema, name] => Ok((Some(schema.clone()), name.clone())),
        [named, schema, name] if named == database => Ok((Some(schema.clone()), name.clone())),
        [_, _, _] => Err(cross_database(&name.to_string())),
        _ => Err(EngineError::Syntax(format!(
            "improper qualified name (too many dotted names): {name}"
        ))),
    }
}

/// PostgreSQL's own words (0A000) for a name that reaches into another
/// database: a session sees only its own.
fn cross_database(name: &str) -> EngineError {
    EngineError::FeatureNotSupported(format!(
        "cross-database references are not implemented: \"{name}\""
    ))
}

/// 0A000 for a relation named with a database other than `database` (a
/// query sees only its session's database).
pub fn refuse_other_databases(statement: &Statement, database: &str) -> EngineResult<()> {
    let mut other = None;
    let _ = visit_relations(statement, |name| {
        if name.0.len() == 3 {
            if let Some(ObjectNamePart::Identifier(first)) = name.0.first() {
                if ident_name(first) != database {
                    other = Some(name.to_string());
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    match other {
        Some(name) => Err(cross_database(&name)),
        None => Ok(()),
    }
}

/// The existing schemas of a `search_path` value, in order.
pub fn search_schemas(setting: &str, user: &str, catalog: &Catalog) -> Vec<String> {
    setting
        .split(',')
        .map(|s| {
            let s = s.trim();
            match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => s.to_lowercase(),
            }
        })
        .map(|s| if s == "$user" { user.to_string() } else { s })
        .filter(|s| catalog.schema_exists(s))
        .fold(Vec::new(), |mut out, s| {
            if !out.contains(&s) {
                out.push(s);
            }
            out
        })
}

/// The key of an existing object `schema.name` or, unqualified, of the
/// first in `path` (the bare name when none has it, for the caller's
/// "does not exist").
pub fn lookup_key(
    catalog: &Catalog,
    path: &[String],
    schema: Option<&str>,
    name: &str,
) -> EngineResult<String> {
    match schema {
        Some(schema) if SYSTEM_SCHEMAS.contains(&schema) => Ok(format!("{schema}.{name}")),
        // A missing schema's objects are missing relations (42P01 naming
        // `schema.name`), as in PostgreSQL.
        Some(schema) => Ok(relation_key(schema, name)),
        None => Ok(path
            .iter()
            .map(|schema| relation_key(schema, name))
            .find(|key| catalog.relation_exists(key))
            .unwrap_or_else(|| name.to_string())),
    }
}

/// Where a new object named `name` goes: (schema, bare name).
pub fn creation_target(
    catalog: &Catalog,
    path: &[String],
    schema: Option<&str>,
    name: &str,
) -> EngineResult<(String, String)> {
    match schema {
        Some(schema) if !catalog.schema_exists(schema) => {
            Err(EngineError::InvalidSchemaName(schema.to_string()))
        }
        Some(schema) => Ok((schema.to_string(), name.to_string())),
        None => path
            .first()
            .map(|schema| (schema.clone(), name.to_string()))
            .ok_or(EngineError::NoSchemaSelected),
    }
}

/// The schema `current_schema()` names: the first existing one in the
/// path (PostgreSQL returns NULL when there is none; we say `public`).
pub fn current_schema(path: &[String]) -> String {
    path.first()
        .cloned()
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_string())
}
