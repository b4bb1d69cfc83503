//! Functions as clients name them: `regproc`/`regprocedure` both ways,
//! `pg_get_function_result`/`_arguments` (psql's `\df`) and `pg_typeof`.
//!
//! Every function is a built-in of `pg_catalog`
//! ([`kimberlite_catalog::system::FUNCTIONS`], PostgreSQL 15's rows), so a
//! name resolves without a search path: `lower` and `pg_catalog.lower` are
//! the same names.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use kimberlite_catalog::system::{self, BuiltinFunction};

use super::format_type;
use crate::error::{EngineError, EngineResult};

/// The name without a `pg_catalog.` qualifier or quotes.
fn bare_name(text: &str) -> String {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix("pg_catalog.")
        .unwrap_or(trimmed)
        .trim_matches('"');
    bare.to_string()
}

/// The OID a `'…'::regproc` literal names: a number, or the name of
/// exactly one function.
pub(super) fn regproc_literal(text: &str) -> EngineResult<u32> {
    if let Ok(n) = text.trim().parse::<u32>() {
        return Ok(n);
    }
    let name = bare_name(text);
    let mut found = system::functions_named(&name);
    match (found.next(), found.next()) {
        (Some(f), None) => Ok(f.oid),
        (Some(_), Some(_)) => Err(EngineError::AmbiguousFunction(format!(
            "more than one function named \"{name}\""
        ))),
        (None, _) => Err(EngineError::UndefinedFunction(format!(
            "function \"{name}\" does not exist"
        ))),
    }
}

/// The OID a `'name(type, …)'::regprocedure` literal names.
pub(super) fn regprocedure_literal(text: &str) -> EngineResult<u32> {
    if let Ok(n) = text.trim().parse::<u32>() {
        return Ok(n);
    }
    let undefined =
        || EngineError::UndefinedFunction(format!("function \"{}\" does not exist", text.trim()));
    let (name, arguments) = text
        .trim()
        .strip_suffix(')')
        .and_then(|t| t.split_once('('))
        .ok_or_else(|| {
            EngineError::InvalidTextRepresentation("expected a left parenthesis".into())
        })?;
    let wanted: Vec<u32> = arguments
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| super::rewrite::regtype_literal(a.trim_matches('"')).map_err(|_| undefined()))
        .collect::<EngineResult<_>>()?;
    system::functions_named(&bare_name(name))
        .find(|f| f.arguments == wanted)
        .map(|f| f.oid)
        .ok_or_else(undefined)
}

/// How `oid::regproc` prints: the name, qualified when the bare name
/// would not resolve to this one function; `-` for 0; the number for an
/// OID that names no function.
pub(super) fn regproc_text(oid: u32) -> String {
    match system::function_by_oid(oid) {
        _ if oid == 0 => "-".into(),
        Some(f) if system::functions_named(f.name).count() == 1 => f.name.to_string(),
        Some(f) => format!("pg_catalog.{}", f.name),
        None => oid.to_string(),
    }
}

/// How `oid::regprocedure` prints: `name(argument types)`.
pub(super) fn regprocedure_text(oid: u32) -> String {
    match system::function_by_oid(oid) {
        _ if oid == 0 => "-".into(),
        Some(f) => format!("{}({})", f.name, type_list(f.arguments.iter().copied())),
        None => oid.to_string(),
    }
}

fn type_list(types: impl Iterator<Item = u32>) -> String {
    types
        .map(|t| format_type(t, None).unwrap_or_else(|| t.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `pg_get_function_result(oid)`: `SETOF integer`, `text`, …
pub(super) fn function_result(function: &BuiltinFunction) -> Option<String> {
    let result = format_type(function.result, None)?;
    Some(if function.returns_set {
        format!("SETOF {result}")
    } else {
        result
    })
}

/// `pg_get_function_arguments(oid)`: `text, VARIADIC "any"`.
pub(super) fn function_arguments(function: &BuiltinFunction) -> String {
    let last = function.arguments.len().saturating_sub(1);
    function
        .arguments
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let name = format_type(t, None).unwrap_or_else(|| t.to_string());
            if function.variadic && i == last {
                format!("VARIADIC {name}")
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pg_typeof(x)`: the PostgreSQL type of its argument, as `regtype`
/// prints it (read from the argument's field, so a column declared
/// `varchar(20)` or `json` shows as `character varying` or `json`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(Field::new(self.name(), DataType::Utf8, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // A regtype prints without the column's type modifier.
        let name = args
            .arg_fields
            .first()
            .map(|field| match field.data_type() {
                DataType::Null => "unknown".to_string(),
                _ => format_type(crate::sql::params::oid_for_field(field), None)
                    .unwrap_or_else(|| "text".into()),
            });
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(name)))
    }
}

/// The `pg_typeof` function.
pub(super) fn pg_typeof() -> ScalarUDF {
    ScalarUDF::new_from_impl(TypeOf {
        signature: Signature::any(1, Volatility::Stable),
    })
}
