//! The catalog functions clients call, evaluated row by row against the
//! statement's catalog ([`super::SystemView`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments,
};
use kimberlite_catalog::system::{self, oid};
use kimberlite_catalog::SqlType;

use super::procs;
use super::rewrite::{regclass_literal, regtype_literal};
use super::{
    format_type, index_column, namespace_name, regclass_text, relation_by_oid, visible, SystemSlot,
    SystemView, FIXED_SETTINGS,
};

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
            Some(t) => crate::sql::types::arrow_field(self.name, t, true),
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
                    .or_else(|| (o == oid::DATABASE_OWNER_ROLE).then(|| oid::DATABASE_OWNER.into()))
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
            // Pretty (the third argument) names the table bare where the
            // search path finds it, as PostgreSQL does.
            let pretty = matches!(args.get(2), Some(ScalarValue::Boolean(Some(true))));
            let qualify = |schema: &str, table: &str| !pretty || !visible(v, schema, table);
            utf8(first_oid(args).and_then(|o| match column {
                n if n > 0 => index_column(&v.catalog, o, n as usize),
                _ => system::index_definition(&v.catalog, o, &qualify),
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
        function(
            view,
            "pg_get_function_result",
            text.clone(),
            move |_, args| {
                utf8(
                    first_oid(args)
                        .and_then(|o| procs::function_result(system::function_by_oid(o)?)),
                )
            },
        ),
        // Every function is a built-in of pg_catalog, always on the path;
        // an OID that names none is NULL, as in PostgreSQL.
        function(
            view,
            "pg_function_is_visible",
            DataType::Boolean,
            move |_, args| {
                ScalarValue::Boolean(
                    first_oid(args).and_then(|o| system::function_by_oid(o).map(|_| true)),
                )
            },
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
        // The connection's ends (NULL when not over TCP, as PostgreSQL's
        // over a Unix socket); text, as we have no inet type.
        function(view, "inet_server_addr", text.clone(), move |v, _| {
            utf8(v.server.map(|a| a.ip().to_string()))
        }),
        function(view, "inet_server_port", DataType::Int32, move |v, _| {
            ScalarValue::Int32(v.server.map(|a| a.port() as i32))
        }),
        function(view, "inet_client_addr", text.clone(), move |v, _| {
            utf8(v.client.map(|a| a.ip().to_string()))
        }),
        function(view, "inet_client_port", DataType::Int32, move |v, _| {
            ScalarValue::Int32(v.client.map(|a| a.port() as i32))
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
                _ => utf8(first_oid(args).map(|o| match o {
                    0 => "-".into(),
                    o => regclass_text(v, o),
                })),
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
            // The invalid OID 0 prints as `-`, as in PostgreSQL.
            utf8(first_oid(args).map(|o| match o {
                0 => "-".into(),
                o => format_type(o, None).unwrap_or_else(|| o.to_string()),
            }))
        }),
        function(view, REGNAMESPACE_TEXT, text.clone(), move |v, args| {
            utf8(first_oid(args).map(|o| match o {
                0 => "-".into(),
                o => namespace_name(&v.catalog, o).unwrap_or_else(|| o.to_string()),
            }))
        }),
    ];
    for udf in functions {
        ctx.register_udf(udf);
    }
    ctx.register_udf(procs::pg_typeof());
    // `x::regproc` / `x::regprocedure` of a value: text passes through, an
    // OID prints as the function's name or signature.
    let procedure_names: [(&str, ProcPrinter); 2] = [
        (REGPROC_TEXT, procs::regproc_text),
        (REGPROCEDURE_TEXT, procs::regprocedure_text),
    ];
    for (name, print) in procedure_names {
        ctx.register_udf(function(
            view,
            name,
            DataType::Utf8,
            move |_, args| match args.first().and_then(text_arg) {
                Some(name) => utf8(Some(name)),
                None => utf8(first_oid(args).map(print)),
            },
        ));
    }
    // Without argument names or defaults, a built-in's arguments and its
    // identity arguments print alike.
    for name in [
        "pg_get_function_arguments",
        "pg_get_function_identity_arguments",
    ] {
        ctx.register_udf(function(view, name, DataType::Utf8, move |_, args| {
            let arguments = |o| Some(procs::function_arguments(system::function_by_oid(o)?));
            utf8(first_oid(args).and_then(arguments))
        }));
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
    for udf in super::json_cast::functions() {
        ctx.register_udf(udf);
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

pub(super) const REGCLASS_TEXT: &str = "kimberlite_regclass_text";
/// A `'t'::regclass` literal: its OID, marked as a regclass so a cast to
/// text can print the name.
pub(super) const REGCLASS_OID: &str = "kimberlite_regclass_oid";

/// The OID argument of a [`REGCLASS_OID`] call.
pub(super) fn regclass_oid_arg(expr: &SqlExpr) -> Option<SqlExpr> {
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
pub(super) const REGTYPE_TEXT: &str = "kimberlite_regtype_text";
/// How an OID prints as a `regproc` or `regprocedure`.
type ProcPrinter = fn(u32) -> String;

pub(super) const REGPROC_TEXT: &str = "kimberlite_regproc_text";
pub(super) const REGPROCEDURE_TEXT: &str = "kimberlite_regprocedure_text";
pub(super) const REGNAMESPACE_TEXT: &str = "kimberlite_regnamespace_text";
