//! `pg_catalog` (and its functions) as DataFusion sees them.
//!
//! The relations are computed by `kimberlite_catalog::system` from the
//! statement's catalog and search path, and scanned as in-memory tables
//! (a statement reads one consistent catalog version). Unqualified names
//! find them first, as PostgreSQL searches `pg_catalog` before the path.
//!
//! The catalog functions clients call (`pg_get_userbyid`,
//! `pg_table_is_visible`, `format_type`, `pg_get_constraintdef`, …) read
//! the catalog of the statement being run, which [`SystemView`] holds
//! (set with the read scope). The `reg*` casts are rewritten before
//! planning: a literal (`'t'::regclass`, `'16390'::regclass`) becomes its
//! OID — resolved against the catalog now, 42P01 when there is no such
//! relation — and any other value becomes the function that prints the
//! name (`c.oid::regclass` reads `t`, or `s.t` outside the search path).
//! `OPERATOR(pg_catalog.~)` is `~` and `COLLATE pg_catalog.default` is
//! dropped (one collation).

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use kimberlite_catalog::system::{self, oid, Reader, Value};
use kimberlite_catalog::{Catalog, SqlType};
use parking_lot::Mutex;

use super::provider::ReadScope;
use crate::datum::{Datum, Row};

pub mod client_queries;
mod functions;
mod json_cast;
mod keywords;
mod procs;
mod rewrite;

pub use keywords::{KeywordsFunction, KEYWORDS_FUNCTION};

pub use functions::register_functions;
pub use rewrite::rewrite;

/// The catalog and search path of the statement being run, and the
/// session's parameters, for the catalog functions.
#[derive(Debug, Clone, Default)]
pub struct SystemView {
    pub catalog: Arc<Catalog>,
    pub search_path: Vec<String>,
    /// The session's parameters when the statement was planned.
    pub settings: Arc<Vec<(String, String)>>,
    pub user: String,
    pub backend_pid: i32,
    /// The statement's snapshot (txid_current reads one past it).
    pub snapshot: u64,
    /// `set_config` calls of the statement, applied by the session before
    /// its next statement: (name, value, is_local).
    pub pending: Arc<Mutex<Vec<(String, String, bool)>>>,
    /// Every open session when the statement was planned.
    pub activity: Arc<Vec<crate::activity::Activity>>,
    /// The connection's client and server ends.
    pub client: Option<std::net::SocketAddr>,
    pub server: Option<std::net::SocketAddr>,
}

pub type SystemSlot = Arc<Mutex<SystemView>>;

/// Whether `schema` holds computed relations.
pub fn is_system_schema(schema: &str) -> bool {
    schema == system::PG_CATALOG || schema == system::INFORMATION_SCHEMA
}

fn datum(value: Value) -> Datum {
    match value {
        Value::Null => Datum::Null,
        Value::Bool(b) => Datum::Bool(b),
        Value::Int2(v) => Datum::Int2(v),
        Value::Int4(v) => Datum::Int4(v),
        Value::Int8(v) => Datum::Int8(v),
        Value::Float4(v) => Datum::Float4(v),
        Value::Oid(v) => Datum::Oid(v),
        Value::Text(s) => Datum::Text(s),
        Value::TextArray(items) => Datum::Array(items.into_iter().map(Datum::Text).collect()),
        Value::Int2Array(items) => Datum::Array(items.into_iter().map(Datum::Int2).collect()),
        Value::Timestamptz(micros) => Datum::Timestamp(micros),
    }
}

/// The relations of the session rather than of the catalog.
pub const SESSION_RELATIONS: &[&str] = &["pg_settings", "pg_stat_activity"];

/// Compile-time limits clients ask for (pgjdbc's `max_index_keys`), read
/// by `current_setting` and listed in `pg_settings`.
const FIXED_SETTINGS: &[(&str, &str)] = &[
    ("max_index_keys", "32"),
    ("max_identifier_length", "63"),
    ("block_size", "8192"),
    ("max_function_args", "100"),
];

/// `pg_settings`: the session's parameters.
fn pg_settings(scope: &ReadScope) -> system::Relation {
    let columns = vec![
        ("name", SqlType::Text),
        ("setting", SqlType::Text),
        ("unit", SqlType::Text),
        ("category", SqlType::Text),
        ("short_desc", SqlType::Text),
        ("context", SqlType::Text),
        ("vartype", SqlType::Text),
        ("source", SqlType::Text),
        ("boot_val", SqlType::Text),
        ("reset_val", SqlType::Text),
        ("pending_restart", SqlType::Bool),
    ];
    let mut settings: Vec<(String, String)> = scope.system.settings.to_vec();
    for &(name, value) in FIXED_SETTINGS {
        if !settings.iter().any(|(k, _)| k == name) {
            settings.push((name.to_string(), value.to_string()));
        }
    }
    let rows = settings
        .iter()
        .map(|(name, value)| {
            let vartype = match value.as_str() {
                "on" | "off" => "bool",
                v if v.parse::<i64>().is_ok() => "integer",
                _ => "string",
            };
            vec![
                Value::Text(name.clone()),
                Value::Text(value.clone()),
                Value::Null,
                Value::Text("Client Connection Defaults".into()),
                Value::Null,
                Value::Text("user".into()),
                Value::Text(vartype.into()),
                Value::Text("session".into()),
                Value::Text(value.clone()),
                Value::Text(value.clone()),
                Value::Bool(false),
            ]
        })
        .collect();
    system::Relation { columns, rows }
}

/// `pg_stat_activity`: every open session, of every database (as in
/// PostgreSQL), from the engine's activity board.
fn pg_stat_activity(scope: &ReadScope) -> system::Relation {
    let columns = vec![
        ("datid", SqlType::Oid),
        ("datname", SqlType::Name),
        ("pid", SqlType::Int4),
        ("usesysid", SqlType::Oid),
        ("usename", SqlType::Name),
        ("application_name", SqlType::Text),
        ("client_addr", SqlType::Text),
        ("client_port", SqlType::Int4),
        ("backend_start", SqlType::Timestamptz),
        ("xact_start", SqlType::Timestamptz),
        ("query_start", SqlType::Timestamptz),
        ("state_change", SqlType::Timestamptz),
        ("wait_event_type", SqlType::Text),
        ("wait_event", SqlType::Text),
        ("state", SqlType::Text),
        ("query", SqlType::Text),
        ("backend_type", SqlType::Text),
    ];
    let time = |t: Option<i64>| t.map(Value::Timestamptz).unwrap_or(Value::Null);
    let rows = scope
        .system
        .activity
        .iter()
        .map(|a| {
            let waiting = a.state != "active";
            let wait = |what: &str| {
                if waiting {
                    Value::Text(what.into())
                } else {
                    Value::Null
                }
            };
            vec![
                Value::Oid(oid::database(a.database)),
                Value::Text(a.database_name.clone()),
                Value::Int4(a.pid),
                Value::Oid(oid::role(&a.user)),
                Value::Text(a.user.clone()),
                Value::Text(a.application_name.clone()),
                a.client
                    .map(|c| Value::Text(c.ip().to_string()))
                    .unwrap_or(Value::Null),
                a.client
                    .map(|c| Value::Int4(c.port() as i32))
                    .unwrap_or(Value::Null),
                Value::Timestamptz(a.backend_start_us),
                time(a.xact_start_us),
                time(a.query_start_us),
                Value::Timestamptz(a.state_change_us),
                // A session between statements waits for its client.
                wait("Client"),
                wait("ClientRead"),
                Value::Text(a.state.into()),
                Value::Text(a.query.clone()),
                Value::Text("client backend".into()),
            ]
        })
        .collect();
    system::Relation { columns, rows }
}

/// The system relation `schema.name` as the statement sees it.
pub fn system_table(
    schema: &str,
    name: &str,
    scope: &ReadScope,
) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let reader = Reader {
        catalog: &scope.catalog,
        search_path: &scope.search_path,
    };
    let relation = match (schema, name) {
        (system::PG_CATALOG, "pg_settings") => Some(pg_settings(scope)),
        (system::PG_CATALOG, "pg_stat_activity") => Some(pg_stat_activity(scope)),
        _ => system::relation(schema, name, &reader),
    };
    let Some(relation) = relation else {
        return Ok(None);
    };
    let fields: Vec<Field> = relation
        .columns
        .iter()
        .map(|(name, t)| {
            let field = super::types::arrow_field(name, *t, true);
            // PostgreSQL's vectors: arrays to SQL, space-separated text.
            let vector = match *name {
                "indkey" | "indoption" => Some("22"),
                "indclass" | "indcollation" => Some("30"),
                _ => None,
            };
            match vector {
                Some(type_oid) => {
                    let mut metadata = field.metadata().clone();
                    metadata.insert(super::types::META_OID.to_string(), type_oid.to_string());
                    field.with_metadata(metadata)
                }
                None => field,
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let types: Vec<SqlType> = relation.columns.iter().map(|(_, t)| *t).collect();
    let rows: Vec<Arc<Row>> = relation
        .rows
        .into_iter()
        .map(|row| Arc::new(row.into_iter().map(datum).collect()))
        .collect();
    let all: Vec<usize> = (0..types.len()).collect();
    let batch = super::convert::rows_to_batch(schema.clone(), &types, &all, &rows, Vec::new())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(Some(Arc::new(MemTable::try_new(
        schema,
        vec![vec![batch]],
    )?)))
}

/// The relation (table, view, sequence, index) with OID `relation_oid`:
/// (schema, name).
fn relation_by_oid(catalog: &Catalog, relation_oid: u32) -> Option<(String, String)> {
    if let Some(id) = oid::relation_id(relation_oid) {
        let name = catalog
            .table_by_id(id)
            .map(|t| t.name.clone())
            .or_else(|| catalog.view_by_id(id).map(|v| v.name.clone()))
            .or_else(|| catalog.sequence_by_id(id).map(|s| s.name.clone()))
            .or_else(|| catalog.index_by_id(id).map(|i| i.name.clone()))?;
        let schema = match catalog.index_by_id(id) {
            Some(index) => catalog.schema_of(index.table),
            None => catalog.schema_of(id),
        };
        return Some((schema.to_string(), name));
    }
    let (table, position) = oid::constraint_index_parts(relation_oid)?;
    let table = catalog.table_by_id(table)?;
    let name = if position == 0 {
        table.primary_key_name()
    } else {
        table.constraints.get(position - 1)?.name.clone()
    };
    Some((catalog.schema_of(table.id).to_string(), name))
}

/// Whether the search path finds the relation (in `schema`) by its bare
/// name: `schema` is the first path schema holding a relation so named.
fn visible(view: &SystemView, schema: &str, name: &str) -> bool {
    if schema == system::PG_CATALOG {
        return true;
    }
    view.search_path
        .iter()
        .find(|s| {
            s.as_str() == schema
                || view
                    .catalog
                    .relation_exists(&kimberlite_catalog::relation_key(s, name))
        })
        .is_some_and(|s| s == schema)
}

/// `regclass` output: the bare name when visible, else `schema.name`;
/// the number for an OID that names nothing.
fn regclass_text(view: &SystemView, relation_oid: u32) -> String {
    match relation_by_oid(&view.catalog, relation_oid) {
        Some((schema, name)) if visible(view, &schema, &name) => system::quote_ident(&name),
        Some((schema, name)) => format!(
            "{}.{}",
            system::quote_ident(&schema),
            system::quote_ident(&name)
        ),
        None => relation_oid.to_string(),
    }
}

fn namespace_name(catalog: &Catalog, namespace_oid: u32) -> Option<String> {
    ["pg_catalog", "information_schema", "public"]
        .into_iter()
        .map(str::to_string)
        .chain(catalog.schemas().map(|s| s.name.clone()))
        .find(|s| oid::namespace(s) == namespace_oid)
}

/// Column `n` (1-based) of an index: the table column's name.
fn index_column(catalog: &Catalog, index_oid: u32, n: usize) -> Option<String> {
    let rows = system::relation(
        system::PG_CATALOG,
        "pg_index",
        &Reader {
            catalog,
            search_path: &[],
        },
    )?
    .rows;
    let row = rows
        .iter()
        .find(|r| r.first() == Some(&Value::Oid(index_oid)))?;
    let (Some(Value::Oid(table)), Some(Value::Int2Array(key))) = (row.get(1), row.get(15)) else {
        return None;
    };
    let table = catalog.table_by_id(oid::relation_id(*table)?)?;
    let column = *key.get(n - 1)? as usize;
    Some(system::quote_ident(
        &table.columns.get(column.checked_sub(1)?)?.name,
    ))
}

/// `format_type(type_oid, typmod)`.
fn format_type(type_oid: u32, typmod: Option<i32>) -> Option<String> {
    let base = system::type_name(type_oid)?;
    let modified = |n: i32| typmod.filter(|&m| m >= 0).map(|m| m - n);
    Some(match base {
        "bool" => "boolean".into(),
        "int2" => "smallint".into(),
        "int4" => "integer".into(),
        "int8" => "bigint".into(),
        "float4" => "real".into(),
        "float8" => "double precision".into(),
        "varchar" => match modified(4) {
            Some(n) => format!("character varying({n})"),
            None => "character varying".into(),
        },
        "bpchar" => match modified(4) {
            Some(n) => format!("character({n})"),
            None => "bpchar".into(),
        },
        "numeric" => match modified(4) {
            Some(m) => format!("numeric({},{})", m >> 16, m & 0xFFFF),
            None => "numeric".into(),
        },
        "timestamp" => "timestamp without time zone".into(),
        "timestamptz" => "timestamp with time zone".into(),
        "time" => "time without time zone".into(),
        "char" => "\"char\"".into(),
        "any" => "\"any\"".into(),
        array if array.starts_with('_') => {
            let element = system::type_oid(&array[1..])?;
            format!("{}[]", format_type(element, typmod)?)
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_type_prints_postgresql_names() {
        assert_eq!(format_type(23, None).as_deref(), Some("integer"));
        assert_eq!(
            format_type(1043, Some(24)).as_deref(),
            Some("character varying(20)")
        );
        assert_eq!(
            format_type(1700, Some(1179656)).as_deref(),
            Some("numeric(18,4)")
        );
        assert_eq!(format_type(1007, None).as_deref(), Some("integer[]"));
        assert_eq!(
            format_type(1184, Some(-1)).as_deref(),
            Some("timestamp with time zone")
        );
    }
}
