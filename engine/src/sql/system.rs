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

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{visit_expressions_mut, CastKind};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType as AstType, Expr as SqlExpr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Statement, Value as SqlValue,
    ValueWithSpan,
};
use kimberlite_catalog::system::{self, oid, Reader, Value};
use kimberlite_catalog::{Catalog, SqlType};
use parking_lot::Mutex;

use super::provider::ReadScope;
use crate::datum::{Datum, Row};
use crate::error::{EngineError, EngineResult};

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

/// `pg_stat_activity`: this session (other sessions are not listed yet).
fn pg_stat_activity(scope: &ReadScope) -> system::Relation {
    let view = &scope.system;
    let setting = |name: &str| {
        view.settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Value::Text(v.clone()))
            .unwrap_or(Value::Null)
    };
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
    let row = vec![
        Value::Oid(oid::database(scope.database)),
        Value::Text(scope.database_name.clone()),
        Value::Int4(view.backend_pid),
        Value::Oid(oid::role(&view.user)),
        Value::Text(view.user.clone()),
        setting("application_name"),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Text("active".into()),
        Value::Null,
        Value::Text("client backend".into()),
    ];
    system::Relation {
        columns,
        rows: vec![row],
    }
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
        array if array.starts_with('_') => {
            let element = system::type_oid(&array[1..])?;
            format!("{}[]", format_type(element, typmod)?)
        }
        other => other.to_string(),
    })
}

/// `pg_get_serial_sequence('t', 'c')`: the sequence that column's default
/// or identity draws from, schema-qualified.
fn serial_sequence(view: &SystemView, table: &str, column: &str) -> Option<String> {
    let table_oid = regclass_literal(view, table).ok()?;
    let table = view.catalog.table_by_id(oid::relation_id(table_oid)?)?;
    let position = table
        .columns
        .iter()
        .position(|c| c.name == column.trim_matches('"'))?;
    let sequence = view
        .catalog
        .sequences()
        .find(|s| s.owned_by == Some((table.id, position)))?;
    Some(format!(
        "{}.{}",
        system::quote_ident(view.catalog.schema_of(sequence.id)),
        system::quote_ident(&sequence.name)
    ))
}

/// `json_build_object(k1, v1, …)` as JSON text.
fn json_object(args: &[ScalarValue]) -> String {
    let json = |v: &ScalarValue| -> String {
        match v {
            v if v.is_null() => "null".into(),
            ScalarValue::Boolean(Some(b)) => b.to_string(),
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => serde_json::Value::String(s.clone()).to_string(),
            other if other.data_type().is_numeric() => other.to_string(),
            other => serde_json::Value::String(other.to_string()).to_string(),
        }
    };
    let pairs: Vec<String> = args
        .chunks(2)
        .map(|pair| {
            let key = pair.first().map(|k| match k {
                ScalarValue::Utf8(Some(s)) => s.clone(),
                other => other.to_string(),
            });
            let value = pair.get(1).map(json).unwrap_or_else(|| "null".into());
            format!(
                "{} : {}",
                serde_json::Value::String(key.unwrap_or_default()),
                value
            )
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// PostgreSQL's `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB
/// (half rounded up), each unit while below 20 480 of it.
fn size_pretty(size: i64) -> String {
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let limit = 10 * 1024;
    let limit2 = limit * 2 - 1;
    if size.abs() < limit {
        return format!("{size} bytes");
    }
    let mut size = size >> 9; // one extra bit for rounding
    for unit in ["kB", "MB", "GB"] {
        if size.abs() < limit2 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} TB", half_rounded(size))
}

/// `parse_ident`: dotted parts, unquoted ones folded to lower case.
fn split_ident(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c => current.extend(c.to_lowercase()),
        }
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

/// An OID argument: any integer, or text holding one.
fn oid_arg(value: &ScalarValue) -> Option<u32> {
    match value {
        ScalarValue::UInt32(v) => *v,
        ScalarValue::Int64(v) => v.and_then(|v| u32::try_from(v).ok()),
        ScalarValue::Int32(v) => v.and_then(|v| u32::try_from(v).ok()),
        ScalarValue::Int16(v) => v.and_then(|v| u32::try_from(v).ok()),
        ScalarValue::UInt64(v) => v.and_then(|v| u32::try_from(v).ok()),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int_arg(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int64(v) => *v,
        ScalarValue::Int32(v) => v.map(i64::from),
        ScalarValue::Int16(v) => v.map(i64::from),
        ScalarValue::UInt32(v) => v.map(i64::from),
        _ => None,
    }
}

fn text_arg(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => v.clone(),
        _ => None,
    }
}

type Body = dyn Fn(&SystemView, &[ScalarValue]) -> ScalarValue + Send + Sync;

/// A catalog function evaluated row by row against the statement's
/// catalog.
struct CatalogFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    /// The PostgreSQL type the result is reported as, when not the one
    /// its Arrow type maps to (`json`).
    reports: Option<SqlType>,
    view: SystemSlot,
    body: Arc<Body>,
}

impl std::fmt::Debug for CatalogFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for CatalogFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CatalogFunction {}

impl std::hash::Hash for CatalogFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl CatalogFunction {
    /// `x::regclass` of a name is its OID; of an OID, its name.
    fn result_type(&self, args: &[DataType]) -> DataType {
        let text_arg = matches!(
            args.first(),
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        );
        if self.name == REGCLASS_TEXT && text_arg {
            DataType::UInt32
        } else {
            self.returns.clone()
        }
    }
}

impl ScalarUDFImpl for CatalogFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        Ok(self.result_type(args))
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let field = match self.reports {
            Some(t) => super::types::arrow_field(self.name, t, true),
            None => Field::new(self.name, self.result_type(&types), true),
        };
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let view = self.view.lock().clone();
        let types: Vec<DataType> = args.args.iter().map(|a| a.data_type()).collect();
        let returns = self.result_type(&types);
        if rows == 0
            && args
                .args
                .iter()
                .any(|a| matches!(a, ColumnarValue::Array(_)))
        {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&returns),
            ));
        }
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let at = |i: usize| -> DfResult<Vec<ScalarValue>> {
            args.args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => Ok(s.clone()),
                    ColumnarValue::Array(array) => ScalarValue::try_from_array(array, i),
                })
                .collect()
        };
        if all_scalar {
            return Ok(ColumnarValue::Scalar((self.body)(&view, &at(0)?)));
        }
        let values: Vec<ScalarValue> = (0..rows)
            .map(|i| Ok((self.body)(&view, &at(i)?)))
            .collect::<DfResult<_>>()?;
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(values)?))
    }
}

fn function(
    view: &SystemSlot,
    name: &'static str,
    returns: DataType,
    body: impl Fn(&SystemView, &[ScalarValue]) -> ScalarValue + Send + Sync + 'static,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(CatalogFunction {
        name,
        signature: Signature::one_of(
            vec![TypeSignature::Nullary, TypeSignature::VariadicAny],
            Volatility::Stable,
        ),
        returns,
        reports: None,
        view: view.clone(),
        body: Arc::new(body),
    })
}

fn utf8(value: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(value)
}

/// Registers the catalog functions on `ctx`, reading `view`.
pub fn register_functions(ctx: &SessionContext, view: &SystemSlot) {
    let first_oid = |args: &[ScalarValue]| args.first().and_then(oid_arg);
    let text = DataType::Utf8;
    let functions = [
        function(view, "pg_get_userbyid", text.clone(), move |v, args| {
            utf8(first_oid(args).map(|o| {
                v.catalog
                    .roles()
                    .find(|r| oid::role(&r.name) == o)
                    .map(|r| r.name.clone())
                    .unwrap_or_else(|| format!("unknown (OID={o})"))
            }))
        }),
        function(
            view,
            "pg_table_is_visible",
            DataType::Boolean,
            move |v, args| {
                ScalarValue::Boolean(first_oid(args).map(|o| {
                    relation_by_oid(&v.catalog, o)
                        .is_some_and(|(schema, name)| visible(v, &schema, &name))
                }))
            },
        ),
        function(
            view,
            "pg_type_is_visible",
            DataType::Boolean,
            move |_, args| {
                ScalarValue::Boolean(first_oid(args).map(|o| system::type_name(o).is_some()))
            },
        ),
        function(view, "format_type", text.clone(), move |_, args| {
            let typmod = args.get(1).and_then(int_arg).map(|m| m as i32);
            utf8(first_oid(args).and_then(|o| format_type(o, typmod)))
        }),
        function(view, "pg_get_expr", text.clone(), move |_, args| {
            utf8(args.first().and_then(text_arg))
        }),
        function(
            view,
            "pg_get_constraintdef",
            text.clone(),
            move |v, args| {
                utf8(first_oid(args).and_then(|o| {
                    let (table, position) = oid::constraint_parts(o)?;
                    let table = v.catalog.table_by_id(table)?;
                    let pretty = matches!(args.get(1), Some(ScalarValue::Boolean(Some(true))));
                    system::constraint_definition(&v.catalog, table, position, pretty)
                }))
            },
        ),
        function(view, "pg_get_indexdef", text.clone(), move |v, args| {
            let column = args.get(1).and_then(int_arg).unwrap_or(0);
            utf8(first_oid(args).and_then(|o| match column {
                n if n > 0 => index_column(&v.catalog, o, n as usize),
                _ => system::index_definition(&v.catalog, o),
            }))
        }),
        function(view, "quote_ident", text.clone(), move |_, args| {
            utf8(
                args.first()
                    .and_then(text_arg)
                    .map(|s| system::quote_ident(&s)),
            )
        }),
        function(view, "quote_literal", text.clone(), move |_, args| {
            utf8(
                args.first()
                    .and_then(|a| match a {
                        ScalarValue::Utf8(v)
                        | ScalarValue::LargeUtf8(v)
                        | ScalarValue::Utf8View(v) => v.clone(),
                        other if other.is_null() => None,
                        other => Some(other.to_string()),
                    })
                    .map(|s| {
                        if s.contains('\\') {
                            format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
                        } else {
                            format!("'{}'", s.replace('\'', "''"))
                        }
                    }),
            )
        }),
        function(view, "pg_encoding_to_char", text.clone(), move |_, args| {
            utf8(
                args.first()
                    .and_then(int_arg)
                    .map(|e| if e == 6 { "UTF8" } else { "" }.to_string()),
            )
        }),
        // Without partitions a relation is its only ancestor.
        function(
            view,
            "pg_partition_ancestors",
            DataType::UInt32,
            move |_, args| ScalarValue::UInt32(first_oid(args)),
        ),
        function(
            view,
            "pg_relation_is_publishable",
            DataType::Boolean,
            move |_, args| ScalarValue::Boolean(first_oid(args).map(|_| false)),
        ),
        function(view, "pg_get_triggerdef", text.clone(), move |_, _| {
            utf8(None)
        }),
        function(view, "pg_get_function_result", text.clone(), move |_, _| {
            utf8(None)
        }),
        function(
            view,
            "pg_get_function_arguments",
            text.clone(),
            move |_, _| utf8(None),
        ),
        function(
            view,
            "pg_function_is_visible",
            DataType::Boolean,
            move |_, args| ScalarValue::Boolean(first_oid(args).map(|_| true)),
        ),
        function(
            view,
            "pg_get_statisticsobjdef_columns",
            text.clone(),
            move |_, _| utf8(None),
        ),
        function(view, "obj_description", text.clone(), move |v, args| {
            utf8(first_oid(args).and_then(|o| {
                let id = oid::relation_id(o)?;
                v.catalog
                    .comments()
                    .find(|((object, column), _)| *object == id && *column == 0)
                    .map(|(_, text)| text.clone())
            }))
        }),
        function(view, "col_description", text.clone(), move |v, args| {
            let column = args.get(1).and_then(int_arg);
            utf8(first_oid(args).and_then(|o| {
                let id = oid::relation_id(o)?;
                let column = u32::try_from(column?).ok()?;
                v.catalog
                    .comments()
                    .find(|((object, c), _)| *object == id && *c == column)
                    .map(|(_, text)| text.clone())
            }))
        }),
        function(view, "shobj_description", text.clone(), move |_, _| {
            utf8(None)
        }),
        function(view, "current_setting", text.clone(), move |v, args| {
            let name = args.first().and_then(text_arg).map(|n| n.to_lowercase());
            utf8(name.and_then(|n| {
                v.settings
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, value)| value.clone())
                    .or_else(|| {
                        FIXED_SETTINGS
                            .iter()
                            .find(|(k, _)| *k == n)
                            .map(|(_, value)| value.to_string())
                    })
            }))
        }),
        function(view, "set_config", text.clone(), move |v, args| {
            let (Some(name), Some(value)) = (
                args.first().and_then(text_arg),
                args.get(1).and_then(text_arg),
            ) else {
                return utf8(None);
            };
            let local = matches!(args.get(2), Some(ScalarValue::Boolean(Some(true))));
            v.pending.lock().push((name, value.clone(), local));
            utf8(Some(value))
        }),
        function(
            view,
            "current_schemas",
            DataType::new_list(DataType::Utf8, true),
            move |v, args| {
                let implicit = matches!(args.first(), Some(ScalarValue::Boolean(Some(true))));
                let mut schemas: Vec<String> = Vec::new();
                if implicit {
                    schemas.push(system::PG_CATALOG.into());
                }
                schemas.extend(v.search_path.iter().cloned());
                let values: Vec<ScalarValue> = schemas
                    .into_iter()
                    .map(|s| ScalarValue::Utf8(Some(s)))
                    .collect();
                ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Utf8))
            },
        ),
        function(view, "pg_backend_pid", DataType::Int32, move |v, _| {
            ScalarValue::Int32(Some(v.backend_pid))
        }),
        function(view, "txid_current", DataType::Int64, move |v, _| {
            ScalarValue::Int64(Some(v.snapshot as i64 + 1))
        }),
        function(view, "pg_is_in_recovery", DataType::Boolean, move |_, _| {
            ScalarValue::Boolean(Some(false))
        }),
        function(view, "inet_server_addr", text.clone(), move |_, _| {
            utf8(None)
        }),
        function(view, "pg_size_pretty", text.clone(), move |_, args| {
            utf8(args.first().and_then(int_arg).map(size_pretty))
        }),
        function(view, "pg_get_viewdef", text.clone(), move |v, args| {
            utf8(first_oid(args).and_then(|o| {
                let view = v.catalog.view_by_id(oid::relation_id(o)?)?;
                Some(format!(" {};", view.query_sql))
            }))
        }),
        function(
            view,
            "parse_ident",
            DataType::new_list(DataType::Utf8, true),
            move |_, args| {
                let parts: Vec<ScalarValue> = args
                    .first()
                    .and_then(text_arg)
                    .map(|s| split_ident(&s))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| ScalarValue::Utf8(Some(p)))
                    .collect();
                ScalarValue::List(ScalarValue::new_list_nullable(&parts, &DataType::Utf8))
            },
        ),
        function(view, REGCLASS_OID, DataType::UInt32, move |_, args| {
            ScalarValue::UInt32(first_oid(args))
        }),
        function(
            view,
            REGCLASS_TEXT,
            text.clone(),
            move |v, args| match args.first() {
                Some(
                    ScalarValue::Utf8(name)
                    | ScalarValue::LargeUtf8(name)
                    | ScalarValue::Utf8View(name),
                ) => ScalarValue::UInt32(name.as_ref().and_then(|n| regclass_literal(v, n).ok())),
                _ => utf8(first_oid(args).map(|o| regclass_text(v, o))),
            },
        ),
        function(view, "to_regtype", DataType::UInt32, move |_, args| {
            ScalarValue::UInt32(
                args.first()
                    .and_then(text_arg)
                    .and_then(|t| regtype_literal(&t).ok()),
            )
        }),
        function(view, "to_regclass", DataType::UInt32, move |v, args| {
            ScalarValue::UInt32(
                args.first()
                    .and_then(text_arg)
                    .and_then(|t| regclass_literal(v, &t).ok()),
            )
        }),
        function(
            view,
            "pg_get_serial_sequence",
            text.clone(),
            move |v, args| {
                let (Some(table), Some(column)) = (
                    args.first().and_then(text_arg),
                    args.get(1).and_then(text_arg),
                ) else {
                    return utf8(None);
                };
                utf8(serial_sequence(v, &table, &column))
            },
        ),
        function(view, REGTYPE_TEXT, text.clone(), move |_, args| {
            utf8(first_oid(args).map(|o| format_type(o, None).unwrap_or_else(|| o.to_string())))
        }),
        function(view, REGNAMESPACE_TEXT, text.clone(), move |v, args| {
            utf8(
                first_oid(args)
                    .map(|o| namespace_name(&v.catalog, o).unwrap_or_else(|| o.to_string())),
            )
        }),
    ];
    for udf in functions {
        ctx.register_udf(udf);
    }
    // No privileges exist yet: every role may do everything.
    for name in PRIVILEGE_FUNCTIONS {
        ctx.register_udf(function(view, name, DataType::Boolean, |_, _| {
            ScalarValue::Boolean(Some(true))
        }));
    }
    // Rows live in the log and the projections, not in per-relation files.
    for name in SIZE_FUNCTIONS {
        ctx.register_udf(function(view, name, DataType::Int64, |_, _| {
            ScalarValue::Int64(Some(0))
        }));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(CatalogFunction {
        name: "json_build_object",
        signature: Signature::variadic_any(Volatility::Immutable),
        returns: DataType::Utf8,
        reports: Some(SqlType::Json),
        view: view.clone(),
        body: Arc::new(|_, args| ScalarValue::Utf8(Some(json_object(args)))),
    }));
}

const PRIVILEGE_FUNCTIONS: &[&str] = &[
    "has_table_privilege",
    "has_schema_privilege",
    "has_database_privilege",
    "has_any_column_privilege",
    "has_column_privilege",
    "has_sequence_privilege",
];

const SIZE_FUNCTIONS: &[&str] = &[
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_table_size",
    "pg_indexes_size",
];

const REGCLASS_TEXT: &str = "kimberlite_regclass_text";
/// A `'t'::regclass` literal: its OID, marked as a regclass so a cast to
/// text can print the name.
const REGCLASS_OID: &str = "kimberlite_regclass_oid";

/// The OID argument of a [`REGCLASS_OID`] call.
fn regclass_oid_arg(expr: &SqlExpr) -> Option<SqlExpr> {
    let expr = match expr {
        SqlExpr::Nested(inner) => inner,
        other => other,
    };
    let SqlExpr::Function(f) = expr else {
        return None;
    };
    if f.name.to_string() != REGCLASS_OID {
        return None;
    }
    match &f.args {
        FunctionArguments::List(list) => match list.args.first() {
            Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) => Some(arg.clone()),
            _ => None,
        },
        _ => None,
    }
}
const REGTYPE_TEXT: &str = "kimberlite_regtype_text";
const REGNAMESPACE_TEXT: &str = "kimberlite_regnamespace_text";

/// The object-identifier types a cast may name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RegType {
    Class,
    Type,
    Namespace,
    Proc,
    Oid,
}

/// The type a cast names, with a `pg_catalog.` qualifier dropped: a
/// reg* type, or the plain type to cast to instead.
fn cast_target(data_type: &AstType) -> Option<Result<RegType, AstType>> {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    let name = match data_type {
        AstType::Regclass => return Some(Ok(RegType::Class)),
        // `$1::oid[]` (asyncpg's lookups by OID): an array of bigints.
        AstType::Array(ArrayElemTypeDef::SquareBracket(element, size)) => {
            return match cast_target(element) {
                Some(Ok(RegType::Oid)) => Some(Err(AstType::Array(
                    ArrayElemTypeDef::SquareBracket(Box::new(AstType::BigInt(None)), *size),
                ))),
                _ => None,
            };
        }
        AstType::Custom(name, modifiers) if modifiers.is_empty() => name,
        _ => return None,
    };
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect();
    let bare = match parts.as_slice() {
        [schema, bare] if schema == "pg_catalog" => bare.as_str(),
        [bare] => bare.as_str(),
        _ => return None,
    };
    Some(match bare {
        "regclass" => Ok(RegType::Class),
        "regtype" => Ok(RegType::Type),
        "regnamespace" => Ok(RegType::Namespace),
        "regproc" | "regprocedure" => Ok(RegType::Proc),
        "oid" => Ok(RegType::Oid),
        // Identifier types read as text in expressions.
        "name" | "char" if parts.len() == 1 && (bare == "name" || quoted_char(name)) => {
            Err(AstType::Text)
        }
        _ if parts.len() == 2 => {
            // `x::pg_catalog.text`: the type without its schema.
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            )
            .try_with_sql(bare)
            .ok()?
            .parse_data_type()
            .ok()?;
            Err(parsed)
        }
        _ => return None,
    })
}

/// `"char"` (quoted: unquoted `char` is `character(1)`).
fn quoted_char(name: &ObjectName) -> bool {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.quote_style.is_some() && i.value == "char")
}

fn string_literal(expr: &SqlExpr) -> Option<&str> {
    match expr {
        SqlExpr::Value(ValueWithSpan {
            value: SqlValue::SingleQuotedString(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

fn number(n: u32) -> SqlExpr {
    SqlExpr::Value(SqlValue::Number(n.to_string(), false).into())
}

fn call(name: &str, arg: SqlExpr) -> SqlExpr {
    SqlExpr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// The OID a `'…'::regclass` literal names.
fn regclass_literal(view: &SystemView, text: &str) -> EngineResult<u32> {
    if let Ok(n) = text.trim().parse::<u32>() {
        return Ok(n);
    }
    let name = text.trim().trim_matches('"');
    let (schema, bare) = match name.split_once('.') {
        Some((schema, bare)) => (Some(schema.to_string()), bare.to_string()),
        None => (None, name.to_string()),
    };
    if schema.as_deref().is_none_or(|s| s == system::PG_CATALOG) {
        if let Some((_, o)) = system::SYSTEM_RELATION_OIDS
            .iter()
            .find(|(n, _)| *n == bare)
        {
            return Ok(*o);
        }
    }
    let schemas: Vec<String> = match schema {
        Some(s) => vec![s],
        None => view.search_path.clone(),
    };
    let relations = kimberlite_catalog::system::relation(
        system::PG_CATALOG,
        "pg_class",
        &Reader {
            catalog: &view.catalog,
            search_path: &view.search_path,
        },
    )
    .map(|r| r.rows)
    .unwrap_or_default();
    for schema in &schemas {
        let found = relations.iter().find(|row| {
            row.get(1) == Some(&Value::Text(bare.clone()))
                && row.get(2) == Some(&Value::Oid(oid::namespace(schema)))
        });
        if let Some(Value::Oid(o)) = found.and_then(|row| row.first()) {
            return Ok(*o);
        }
    }
    Err(EngineError::UndefinedTable(name.to_string()))
}

/// The OID a `'…'::regtype` literal names.
fn regtype_literal(text: &str) -> EngineResult<u32> {
    if let Ok(n) = text.trim().parse::<u32>() {
        return Ok(n);
    }
    let lower = text.trim().to_lowercase();
    let name = lower
        .strip_prefix("pg_catalog.")
        .unwrap_or(&lower)
        .to_string();
    let base = match name.as_str() {
        "integer" | "int" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" => "float8",
        "character varying" => "varchar",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        other => other,
    };
    system::type_oid(base)
        .ok_or_else(|| EngineError::UndefinedObject(format!("type \"{name}\" does not exist")))
}

fn parse_expr(sql: &str) -> Option<SqlExpr> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(sql)
    .ok()?
    .parse_expr()
    .ok()
}

/// The names the statement binds (aliases, else table names) to each
/// relation it reads: (bound name, relation's bare name).
struct Bindings(Vec<(String, String)>);

impl datafusion::sql::sqlparser::ast::Visitor for Bindings {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        factor: &datafusion::sql::sqlparser::ast::TableFactor,
    ) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::TableFactor;
        if let TableFactor::Table { name, alias, .. } = factor {
            let bare = name
                .0
                .last()
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default();
            let bound = match alias {
                Some(a) => super::ident_name(&a.name),
                None => bare.clone(),
            };
            self.0.push((bound, bare));
        }
        ControlFlow::Continue(())
    }
}

fn bindings<V: datafusion::sql::sqlparser::ast::Visit>(node: &V) -> Vec<(String, String)> {
    let mut found = Bindings(Vec::new());
    let _ = node.visit(&mut found);
    found.0
}

/// Names bound only to relations that never have rows.
fn empty_aliases(statement: &Statement) -> Vec<String> {
    let all = bindings(statement);
    all.iter()
        .filter(|(bound, _)| {
            all.iter()
                .filter(|(b, _)| b == bound)
                .all(|(_, table)| system::EMPTY_RELATIONS.contains(&table.as_str()))
        })
        .map(|(bound, _)| bound.clone())
        .collect()
}

/// A subquery correlated only with rows of relations that have none (a
/// policy's roles, a trigger's parent): it is never evaluated, so it may
/// be NULL — DataFusion could not plan several of these (psql's `\d`).
fn reads_only_empty_outer_rows(
    query: &datafusion::sql::sqlparser::ast::Query,
    empty: &[String],
) -> bool {
    if empty.is_empty() {
        return false;
    }
    let inner: Vec<String> = bindings(query).into_iter().map(|(b, _)| b).collect();
    let mut outer = Vec::new();
    let mut copy = query.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut copy, |e| {
        if let SqlExpr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 {
                let q = super::ident_name(&parts[parts.len() - 2]);
                if !inner.contains(&q) {
                    outer.push(q);
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    !outer.is_empty() && outer.iter().all(|q| empty.contains(q))
}

fn contains_subquery(expr: &SqlExpr) -> bool {
    let mut found = false;
    let mut copy = expr.clone();
    let _ = visit_expressions_mut(&mut copy, |e| {
        if matches!(
            e,
            SqlExpr::Subquery(_) | SqlExpr::InSubquery { .. } | SqlExpr::Exists { .. }
        ) {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `SELECT … ORDER BY <expression with a subquery>` (Grafana's table
/// picker sorts by `CASE WHEN … IN (SELECT …)`): DataFusion plans
/// subqueries in projections, not in sorts, so the sort keys are computed
/// as columns of a derived table and sorted outside it — `SELECT a FROM
/// (SELECT x AS a, <key> AS k FROM …) ORDER BY k`. Left as it is when a
/// select item has no name to carry out (`*`, unnamed expressions).
fn sort_outside_subqueries(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{OrderByKind, SelectItem, SetExpr};
    let Statement::Query(query) = statement else {
        return;
    };
    let Some(OrderByKind::Expressions(keys)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return;
    };
    if !keys.iter().any(|k| contains_subquery(&k.expr)) {
        return;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, name) = match item {
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.to_string()),
            SelectItem::UnnamedExpr(expr @ SqlExpr::Identifier(ident)) => (expr, ident.to_string()),
            SelectItem::UnnamedExpr(expr @ SqlExpr::CompoundIdentifier(parts)) => {
                match parts.last() {
                    Some(last) => (expr, last.to_string()),
                    None => return,
                }
            }
            _ => return,
        };
        inner.push(format!("{expr} AS kimberlite_col_{i}"));
        outer.push(format!("kimberlite_col_{i} AS {name}"));
    }
    let mut sorts = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let position = match &key.expr {
            SqlExpr::Value(v) => v.to_string().parse::<usize>().ok(),
            _ => None,
        };
        match position {
            Some(n) if (1..=outer.len()).contains(&n) => {
                sorts.push(format!("kimberlite_col_{}{}", n - 1, key.options))
            }
            _ => {
                inner.push(format!("{} AS kimberlite_sort_{k}", key.expr));
                sorts.push(format!("kimberlite_sort_{k}{}", key.options));
            }
        }
    }
    let mut body = select.clone();
    let Ok(mut parsed) = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &format!("SELECT {}", inner.join(", ")),
    ) else {
        return;
    };
    let Some(Statement::Query(items)) = parsed.pop() else {
        return;
    };
    let SetExpr::Select(items) = *items.body else {
        return;
    };
    body.projection = items.projection;
    let limit = query
        .limit_clause
        .as_ref()
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    let with = query
        .with
        .as_ref()
        .map(|w| format!("{w} "))
        .unwrap_or_default();
    let sql = format!(
        "{with}SELECT {} FROM ({body}) AS kimberlite_sorted ORDER BY {}{limit}",
        outer.join(", "),
        sorts.join(", ")
    );
    if let Ok(mut statements) = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &sql,
    ) {
        if let Some(rewritten) = statements.pop() {
            *statement = rewritten;
        }
    }
}

/// `x IN (SELECT …)` inside a CASE (DataFusion plans IN only as a
/// filter): `coalesce((SELECT max(true) FROM (…) AS s(v) WHERE s.v = x),
/// false)` — the same wherever a CASE reads it (NULL and false alike are
/// not true). Subqueries inside are left to their own visit.
fn in_subqueries_as_values(expr: &mut SqlExpr) {
    let _ = visit_expressions_mut(expr, |e| {
        if let SqlExpr::InSubquery {
            expr: probe,
            subquery,
            negated: false,
        } = e
        {
            let sql = format!(
                "coalesce((SELECT max(true) FROM ({subquery}) AS kimberlite_in(v) WHERE kimberlite_in.v = {probe}), false)"
            );
            if let Some(value) = parse_expr(&sql) {
                *e = value;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `EXISTS (SELECT … FROM <catalog relations> WHERE …)` as a value
/// DataFusion can plan anywhere (it plans EXISTS only as a filter):
/// `coalesce((SELECT max(true) FROM … WHERE …), false)`.
fn exists_as_value(
    query: &datafusion::sql::sqlparser::ast::Query,
    negated: bool,
) -> Option<SqlExpr> {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    let reads_catalog = bindings(query)
        .iter()
        .any(|(_, table)| system::PG_CATALOG_RELATIONS.contains(&table.as_str()));
    if !reads_catalog {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    select.projection = vec![SelectItem::UnnamedExpr(parse_expr("max(true)")?)];
    let not = if negated { "NOT " } else { "" };
    parse_expr(&format!("{not}coalesce(({query}), false)"))
}

/// Text-array columns of the system relations.
const TEXT_ARRAY_COLUMNS: &[&str] = &[
    "polroles",
    "nspacl",
    "relacl",
    "reloptions",
    "attacl",
    "attoptions",
    "datacl",
    "rolconfig",
    "useconfig",
    "stxkind",
];

fn column_name_of(expr: &SqlExpr) -> Option<String> {
    match expr {
        SqlExpr::Identifier(i) => Some(super::ident_name(i)),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map(super::ident_name),
        _ => None,
    }
}

/// `'{a,b}'` as `make_array('a', 'b')`.
fn text_array(text: &str) -> Option<SqlExpr> {
    let items = super::array::parse_array_literal(text).ok()?;
    let items: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Some(s) => format!("'{}'", s.replace('\'', "''")),
            None => "NULL".into(),
        })
        .collect();
    parse_expr(&format!("make_array({})", items.join(", ")))
}

/// `ARRAY(SELECT x FROM … WHERE …)`: the rows' values as an array (empty,
/// not NULL, when there are none), as `(SELECT coalesce(array_agg(x),
/// make_array()) FROM … WHERE …)`.
fn array_of_rows(query: &datafusion::sql::sqlparser::ast::Query) -> Option<SqlExpr> {
    use datafusion::sql::sqlparser::ast::OrderByKind;
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    let mut query = query.clone();
    if query.limit_clause.is_some() {
        return None;
    }
    let order = query.order_by.take();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_mut_slice()
    else {
        return None;
    };
    // `ORDER BY 1` orders by the value itself.
    let order = match order.map(|o| o.kind) {
        None => String::new(),
        Some(OrderByKind::Expressions(exprs)) => {
            let keys: Vec<String> = exprs
                .iter()
                .map(|o| {
                    let key = match &o.expr {
                        SqlExpr::Value(v) if v.to_string() == "1" => item.to_string(),
                        other => other.to_string(),
                    };
                    format!("{key}{}", o.options)
                })
                .collect();
            format!(" ORDER BY {}", keys.join(", "))
        }
        Some(OrderByKind::All(_)) => return None,
    };
    *item = parse_expr(&format!("coalesce(array_agg({item}{order}), make_array())"))?;
    Some(SqlExpr::Subquery(Box::new(query)))
}

/// The names a query's FROM clause binds (aliases, else table names).
fn bound_names(select: &datafusion::sql::sqlparser::ast::Select) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::TableFactor;
    select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(|f| match f {
            TableFactor::Table { name, alias, .. } => Some(match alias {
                Some(a) => super::ident_name(&a.name),
                None => name.0.last()?.to_string().to_lowercase(),
            }),
            _ => None,
        })
        .collect()
}

/// Whether `expr` names a column qualified by something `bound` lacks
/// (a column of the outer query).
fn references_outer(expr: &SqlExpr, bound: &[String]) -> bool {
    let mut outer = false;
    let mut copy = expr.clone();
    let _ = visit_expressions_mut(&mut copy, |e| {
        if let SqlExpr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 && !bound.contains(&super::ident_name(&parts[parts.len() - 2])) {
                outer = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    outer
}

fn references_inner(expr: &SqlExpr, bound: &[String]) -> bool {
    let mut inner = false;
    let mut copy = expr.clone();
    let _ = visit_expressions_mut(&mut copy, |e| {
        match e {
            SqlExpr::CompoundIdentifier(parts)
                if parts.len() >= 2
                    && bound.contains(&super::ident_name(&parts[parts.len() - 2])) =>
            {
                inner = true
            }
            SqlExpr::Identifier(_) => inner = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    inner
}

fn conjuncts(expr: SqlExpr, out: &mut Vec<SqlExpr>) {
    match expr {
        SqlExpr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        SqlExpr::Nested(inner)
            if matches!(
                *inner,
                SqlExpr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner, out)
        }
        other => out.push(other),
    }
}

fn and_all(items: Vec<SqlExpr>) -> Option<SqlExpr> {
    items.into_iter().reduce(|a, b| SqlExpr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    })
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
];

/// A scalar subquery over catalog relations that selects one plain value
/// (psql's `(SELECT pg_get_expr(d.adbin, …) FROM pg_attrdef d WHERE …)`):
/// DataFusion plans a correlated one only over an aggregate and with
/// equalities to the outer row, so the value is taken as `max(value)` —
/// the same when the subquery finds at most one row, which these lookups
/// by key do — and the other conditions on the outer row are returned, to
/// guard the subquery from outside (`CASE WHEN cond THEN (…) END`). A
/// condition mixing both sides (`a.attcollation <> t.typcollation`) reads
/// the inner column through its own lookup by the equalities that bind it.
fn one_row_of_catalog(query: &mut datafusion::sql::sqlparser::ast::Query) -> Option<SqlExpr> {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr, TableFactor};
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let tables: Vec<(String, String)> = select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(|f| match f {
            TableFactor::Table { name, alias, .. } => {
                let bound = match alias {
                    Some(a) => super::ident_name(&a.name),
                    None => name.0.last()?.to_string().to_lowercase(),
                };
                Some((bound, name.to_string()))
            }
            _ => None,
        })
        .collect();
    let reads_catalog = tables.iter().any(|(_, name)| {
        let lower = name.to_lowercase();
        lower.starts_with("pg_catalog.") || system::PG_CATALOG_RELATIONS.contains(&lower.as_str())
    });
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !reads_catalog || grouped || select.projection.len() != 1 || query.limit_clause.is_some() {
        return None;
    }
    let bound = bound_names(select);
    let value = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    if let SqlExpr::Function(f) = &value {
        if AGGREGATES.contains(&f.name.to_string().to_lowercase().as_str()) {
            return None;
        }
    }
    let mut all = Vec::new();
    if let Some(selection) = select.selection.take() {
        conjuncts(selection, &mut all);
    }
    let is_key_equality = |c: &SqlExpr| {
        matches!(c, SqlExpr::BinaryOp { op: BinaryOperator::Eq, left, right }
            if (references_inner(left, &bound) && !references_outer(left, &bound) && !references_inner(right, &bound))
                || (references_inner(right, &bound) && !references_outer(right, &bound) && !references_inner(left, &bound)))
    };
    let (kept, others): (Vec<SqlExpr>, Vec<SqlExpr>) = all
        .into_iter()
        .partition(|c| !references_outer(c, &bound) || is_key_equality(c));
    let mut moved = Vec::new();
    for c in others {
        if !references_inner(&c, &bound) {
            moved.push(c);
            continue;
        }
        match read_through_lookups(c.clone(), &bound, &tables, &kept) {
            Some(outer_only) => moved.push(outer_only),
            None => {
                // Left as it is (DataFusion may refuse the query).
                select.selection = and_all(kept.into_iter().chain([c]).collect());
                return None;
            }
        }
    }
    // A value reading the outer row too (`json_build_object('always',
    // a.attidentity = 'a', 'start', s.seqstart)`): its inner columns are
    // read through lookups and it is evaluated outside, where a row exists.
    let lifted = if references_outer(&value, &bound) {
        match read_through_lookups(value.clone(), &bound, &tables, &kept) {
            Some(lifted) => Some(lifted),
            None => {
                select.selection = and_all(kept.into_iter().chain(moved).collect());
                return None;
            }
        }
    } else {
        None
    };
    select.selection = and_all(kept);
    let moved = and_all(moved);
    if let Some(lifted) = lifted {
        select.projection = vec![SelectItem::UnnamedExpr(parse_expr("max(true)")?)];
        let exists = format!("coalesce(({query}), false)");
        let condition = match moved {
            Some(m) => format!("({m}) AND {exists}"),
            None => exists,
        };
        return parse_expr(&format!("CASE WHEN {condition} THEN {lifted} END"));
    }
    if let SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. } =
        &mut select.projection[0]
    {
        *item = call("max", value);
    }
    let condition = moved?;
    parse_expr(&format!("CASE WHEN {condition} THEN ({query}) END"))
}

/// `condition` with each inner column `q.col` replaced by `(SELECT
/// max(q.col) FROM table AS q WHERE <the key equalities of q>)`; `None`
/// when some inner relation has no key equality to read it by.
fn read_through_lookups(
    mut condition: SqlExpr,
    bound: &[String],
    tables: &[(String, String)],
    kept: &[SqlExpr],
) -> Option<SqlExpr> {
    let mut failed = false;
    let _ = visit_expressions_mut(&mut condition, |e| {
        let SqlExpr::CompoundIdentifier(parts) = e else {
            return ControlFlow::<()>::Continue(());
        };
        if parts.len() < 2 || !bound.contains(&super::ident_name(&parts[parts.len() - 2])) {
            return ControlFlow::Continue(());
        }
        let alias = super::ident_name(&parts[parts.len() - 2]);
        let Some((_, table)) = tables.iter().find(|(b, _)| *b == alias) else {
            failed = true;
            return ControlFlow::Break(());
        };
        let keys: Vec<String> = kept
            .iter()
            .filter(|k| {
                let text = k.to_string().to_lowercase();
                text.contains(&format!("{alias}."))
            })
            .map(|k| k.to_string())
            .collect();
        if keys.is_empty() {
            failed = true;
            return ControlFlow::Break(());
        }
        // An unaliased table keeps its name (`pg_catalog.pg_sequence.seqstart`).
        let bare = table.rsplit('.').next().unwrap_or(table).to_lowercase();
        let from = if bare == alias {
            table.clone()
        } else {
            format!("{table} AS {alias}")
        };
        let sql = format!("(SELECT max({e}) FROM {from} WHERE {})", keys.join(" AND "));
        match parse_expr(&sql) {
            Some(lookup) => *e = lookup,
            None => failed = true,
        }
        ControlFlow::Continue(())
    });
    (!failed).then_some(condition)
}

/// Rewrites what DataFusion cannot plan of PostgreSQL's catalog queries
/// (see the module doc).
pub fn rewrite(statement: &mut Statement, view: &SystemView) -> EngineResult<()> {
    sort_outside_subqueries(statement);
    let empty = empty_aliases(statement);
    let mut error = None;
    let _ = visit_expressions_mut(statement, |expr| {
        if let SqlExpr::Subquery(query)
        | SqlExpr::Exists {
            subquery: query, ..
        } = &*expr
        {
            if reads_only_empty_outer_rows(query, &empty) {
                *expr = SqlExpr::Value(SqlValue::Null.into());
                return ControlFlow::Continue(());
            }
        }
        if let SqlExpr::Exists { subquery, negated } = &*expr {
            if let Some(replacement) = exists_as_value(subquery, *negated) {
                *expr = replacement;
                return ControlFlow::Continue(());
            }
        }
        if let SqlExpr::Function(Function {
            args: FunctionArguments::Subquery(query),
            ..
        }) = &*expr
        {
            if reads_only_empty_outer_rows(query, &empty) {
                *expr = SqlExpr::Value(SqlValue::Null.into());
                return ControlFlow::Continue(());
            }
        }
        match expr {
            SqlExpr::Cast {
                kind: CastKind::DoubleColon | CastKind::Cast,
                expr: inner,
                data_type,
                ..
            } => match cast_target(data_type) {
                Some(Ok(reg)) => {
                    let literal = string_literal(inner).map(str::to_string);
                    let replaced = match (reg, literal) {
                        (RegType::Class, Some(text)) => {
                            regclass_literal(view, &text).map(|o| call(REGCLASS_OID, number(o)))
                        }
                        (RegType::Type, Some(text)) => regtype_literal(&text).map(number),
                        (RegType::Class, None) => Ok(call(REGCLASS_TEXT, (**inner).clone())),
                        (RegType::Type, None) => Ok(call(REGTYPE_TEXT, (**inner).clone())),
                        (RegType::Namespace, None) => {
                            Ok(call(REGNAMESPACE_TEXT, (**inner).clone()))
                        }
                        (RegType::Proc, _) | (RegType::Namespace, Some(_)) => Ok((**inner).clone()),
                        (RegType::Oid, _) => {
                            *data_type = AstType::IntUnsigned(None);
                            return ControlFlow::Continue(());
                        }
                    };
                    match replaced {
                        Ok(replacement) => *expr = SqlExpr::Nested(Box::new(replacement)),
                        Err(e) => {
                            error = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
                Some(Err(plain)) => {
                    // `'t'::regclass::text` prints the name.
                    let named = matches!(plain, AstType::Text | AstType::Varchar(_));
                    match regclass_oid_arg(inner) {
                        Some(arg) if named => *expr = call(REGCLASS_TEXT, arg),
                        _ => *data_type = plain,
                    }
                }
                None if matches!(data_type, AstType::Text | AstType::Varchar(_)) => {
                    if let Some(arg) = regclass_oid_arg(inner) {
                        *expr = call(REGCLASS_TEXT, arg);
                    }
                }
                None => {}
            },
            SqlExpr::BinaryOp { op, left, right } => {
                // `pol.polroles = '{0}'`: the literal is an array of the
                // column's (text) elements.
                if matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) {
                    if let (Some(column), Some(text)) =
                        (column_name_of(left), string_literal(right))
                    {
                        if TEXT_ARRAY_COLUMNS.contains(&column.as_str()) {
                            if let Some(array) = text_array(text) {
                                **right = array;
                            }
                        }
                    }
                }
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                    let bare = match parts.as_slice() {
                        [schema, bare] if schema.eq_ignore_ascii_case("pg_catalog") => {
                            bare.as_str()
                        }
                        [bare] => bare.as_str(),
                        _ => "",
                    };
                    let plain = match bare {
                        "~" => Some(BinaryOperator::PGRegexMatch),
                        "~*" => Some(BinaryOperator::PGRegexIMatch),
                        "!~" => Some(BinaryOperator::PGRegexNotMatch),
                        "!~*" => Some(BinaryOperator::PGRegexNotIMatch),
                        "=" => Some(BinaryOperator::Eq),
                        "<>" => Some(BinaryOperator::NotEq),
                        "<" => Some(BinaryOperator::Lt),
                        ">" => Some(BinaryOperator::Gt),
                        "~~" => Some(BinaryOperator::PGLikeMatch),
                        _ => None,
                    };
                    if let Some(plain) = plain {
                        *op = plain;
                    }
                }
            }
            SqlExpr::Collate { expr: inner, .. } => {
                *expr = SqlExpr::Nested(Box::new((**inner).clone()));
            }
            SqlExpr::Case { .. } => {
                let mut inner = expr.clone();
                in_subqueries_as_values(&mut inner);
                *expr = inner;
            }
            // pgjdbc's `information_schema._pg_expandarray(i.indkey)`: each
            // element with its position, as a (x, n) record.
            SqlExpr::Function(function)
                if function.name.to_string().to_lowercase()
                    == "information_schema._pg_expandarray" =>
            {
                if let FunctionArguments::List(list) = &function.args {
                    if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] =
                        list.args.as_slice()
                    {
                        let sql = format!(
                            "named_struct('x', unnest({array}), 'n', unnest(range(1, CAST(array_length({array}, 1) AS BIGINT) + 1)))"
                        );
                        if let Some(replacement) = parse_expr(&sql) {
                            *expr = replacement;
                        }
                    }
                }
            }
            // `(record).field`.
            SqlExpr::CompoundFieldAccess { root, access_chain } => {
                use datafusion::sql::sqlparser::ast::AccessExpr;
                if let [AccessExpr::Dot(SqlExpr::Identifier(field))] = access_chain.as_slice() {
                    let sql = format!("get_field({root}, '{}')", super::ident_name(field));
                    if let Some(replacement) = parse_expr(&sql) {
                        *expr = replacement;
                    }
                }
            }
            // `user` is `current_user`.
            SqlExpr::Function(function)
                if matches!(function.args, FunctionArguments::None)
                    && function.name.to_string().eq_ignore_ascii_case("user") =>
            {
                function.name = ObjectName::from(vec![Ident::new("current_user")]);
            }
            SqlExpr::Function(function)
                if ["array_lower", "array_upper", "generate_subscripts"]
                    .contains(&function.name.to_string().to_lowercase().as_str()) =>
            {
                if let FunctionArguments::List(list) = &function.args {
                    if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array)), FunctionArg::Unnamed(FunctionArgExpr::Expr(dim))] =
                        list.args.as_slice()
                    {
                        let name = function.name.to_string().to_lowercase();
                        // generate_subscripts beside unnest(array) zips with
                        // it, as set-returning functions in a SELECT list do.
                        let sql = if name == "array_lower" {
                            format!("CASE WHEN array_length({array}, {dim}) > 0 THEN 1 END")
                        } else if name == "generate_subscripts" {
                            format!("unnest(range(1, CAST(array_length({array}, {dim}) AS BIGINT) + 1))")
                        } else {
                            format!("CAST(array_length({array}, {dim}) AS BIGINT)")
                        };
                        if let Some(replacement) = parse_expr(&sql) {
                            *expr = replacement;
                        }
                    }
                }
            }
            SqlExpr::Function(function)
                if function.name.to_string().eq_ignore_ascii_case("array") =>
            {
                if let FunctionArguments::Subquery(query) = &function.args {
                    if let Some(replacement) = array_of_rows(query) {
                        *expr = replacement;
                    }
                }
            }
            SqlExpr::Subquery(query) => {
                if let Some(replacement) = one_row_of_catalog(query) {
                    *expr = replacement;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
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

#[cfg(test)]
mod rewrite_tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = crate::sql::parse(sql).unwrap().remove(0);
        rewrite(&mut statement, &SystemView::default()).unwrap();
        statement.to_string()
    }

    #[test]
    fn postgres_spellings_become_plannable() {
        assert_eq!(rewritten("SELECT user"), "SELECT current_user");
        assert_eq!(
            rewritten("SELECT 1 WHERE 'a' OPERATOR(pg_catalog.~) 'b' COLLATE pg_catalog.default"),
            "SELECT 1 WHERE 'a' ~ ('b')"
        );
    }
}
