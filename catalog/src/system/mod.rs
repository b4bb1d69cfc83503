//! # System relations: `pg_catalog` and `information_schema`, derived
//!
//! psql's `\d` family, drivers' type lookups, ORMs' reflection and BI tools
//! read PostgreSQL's catalog relations. Here they are computed from our
//! [`Catalog`] — never stored, never a static dump for user objects — as
//! rows of [`Value`]s with PostgreSQL's column names and types, so the
//! engine only has to turn them into a scan.
//!
//! OIDs are derived, not allocated ([`oid`]): a relation's is
//! `16384 + its id` (ids are stable across restarts because they come from
//! the log), the objects PostgreSQL gives an OID that we keep no id for
//! (constraints, their indexes, column defaults) combine their table's id
//! with a position, and schemas and roles, which we key by name, hash the
//! name into a range of their own. Built-in types keep PostgreSQL's OIDs.

mod functions;
mod information_schema;
mod keywords;
pub mod oid;
mod pg_catalog;

use crate::{Catalog, SqlType};

pub use functions::{function_by_oid, functions_named, BuiltinFunction, FUNCTIONS};
pub use information_schema::INFORMATION_SCHEMA_RELATIONS;
pub use keywords::{Keyword, KEYWORDS};
pub use pg_catalog::{
    constraint_definition, deparse_default, index_definition, quote_ident, type_name, type_oid,
    EMPTY_RELATIONS, PG_CATALOG_RELATIONS, SYSTEM_RELATION_OIDS,
};

/// One value of a system relation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Oid(u32),
    Text(String),
    TextArray(Vec<String>),
    Int2Array(Vec<i16>),
    /// Microseconds since the Unix epoch.
    Timestamptz(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

/// A system relation's columns and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub columns: Vec<(&'static str, SqlType)>,
    pub rows: Vec<Vec<Value>>,
}

/// What a system relation is computed from: the reader's catalog (its
/// database at its snapshot; roles and databases are in it too) and how
/// the reader resolves names.
pub struct Reader<'a> {
    pub catalog: &'a Catalog,
    /// The existing schemas of the reader's `search_path`, in order.
    pub search_path: &'a [String],
}

/// The schemas whose relations are computed here.
pub const PG_CATALOG: &str = "pg_catalog";
pub const INFORMATION_SCHEMA: &str = "information_schema";

/// The relation `schema.name`, if it is a system relation.
pub fn relation(schema: &str, name: &str, reader: &Reader) -> Option<Relation> {
    match schema {
        PG_CATALOG => pg_catalog::relation(name, reader),
        INFORMATION_SCHEMA => information_schema::relation(name, reader),
        _ => None,
    }
}

/// Whether `schema.name` is a system relation (without computing it).
pub fn is_relation(schema: &str, name: &str) -> bool {
    match schema {
        PG_CATALOG => PG_CATALOG_RELATIONS.contains(&name),
        INFORMATION_SCHEMA => INFORMATION_SCHEMA_RELATIONS.contains(&name),
        _ => false,
    }
}
