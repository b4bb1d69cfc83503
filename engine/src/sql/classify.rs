//! Turning DataFusion and Arrow errors into PostgreSQL-shaped errors.
//!
//! DataFusion reports most user mistakes as plan or execution errors with
//! English text. We recognize the ones clients act on (unknown table or
//! column, division by zero, bad casts) and give them PostgreSQL's SQLSTATE
//! and message shape; the rest keep DataFusion's text under a generic code.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

use crate::error::EngineError;

/// Arrow's `Cannot cast string 'x' to value of Int32 type` as
/// PostgreSQL says it: `invalid input syntax for type integer: "x"`.
fn cast_of_text(message: &str) -> Option<EngineError> {
    let start = message.find("Cannot cast string '")? + "Cannot cast string '".len();
    let rest = &message[start..];
    let end = rest.rfind("' to value of ")?;
    let value = &rest[..end];
    let arrow = rest[end + "' to value of ".len()..]
        .split_whitespace()
        .next()?;
    let name = match arrow {
        "Int16" => "smallint",
        "Int32" => "integer",
        "Int64" => "bigint",
        "Float32" => "real",
        "Float64" => "double precision",
        _ => return None,
    };
    Some(EngineError::InvalidTextRepresentation(format!(
        "invalid input syntax for type {name}: \"{value}\""
    )))
}

/// Classifies a DataFusion error.
pub fn classify_datafusion_error(error: DataFusionError) -> EngineError {
    let error = match error {
        DataFusionError::Context(_, inner) => return classify_datafusion_error(*inner),
        DataFusionError::Shared(shared) => {
            return classify_message(&shared.to_string());
        }
        other => other,
    };
    match error {
        DataFusionError::External(inner) => match inner.downcast::<EngineError>() {
            Ok(engine_error) => *engine_error,
            Err(other) => match other.downcast::<DataFusionError>() {
                Ok(df) => classify_datafusion_error(*df),
                Err(other) => classify_message(&other.to_string()),
            },
        },
        DataFusionError::ArrowError(arrow, _) => classify_arrow_error(&arrow),
        DataFusionError::SQL(parser, _) => EngineError::Syntax(syntax_message(&parser.to_string())),
        DataFusionError::NotImplemented(what) => EngineError::FeatureNotSupported(what),
        DataFusionError::ResourcesExhausted(what) => EngineError::OutOfMemory(what),
        other => classify_message(&other.to_string()),
    }
}

/// Classifies an Arrow compute error.
pub fn classify_arrow_error(error: &ArrowError) -> EngineError {
    match error {
        ArrowError::DivideByZero => EngineError::DivisionByZero,
        ArrowError::CastError(message) | ArrowError::ParseError(message) => cast_of_text(message)
            .unwrap_or_else(|| EngineError::InvalidTextRepresentation(message.clone())),
        ArrowError::ArithmeticOverflow(message) => EngineError::NumericOutOfRange(message.clone()),
        ArrowError::ComputeError(message)
            if message.contains("Overflow") || message.contains("overflow") =>
        {
            EngineError::NumericOutOfRange(message.clone())
        }
        ArrowError::ExternalError(inner) => classify_message(&inner.to_string()),
        other => EngineError::Internal(other.to_string()),
    }
}

/// sqlparser says `sql parser error: Expected: …, found: …`; PostgreSQL says
/// `syntax error at or near "…"`. Keep the detail, use PostgreSQL's opening.
fn syntax_message(message: &str) -> String {
    let message = message.trim_start_matches("sql parser error: ");
    if let Some(found) = message.split("found: ").nth(1) {
        let token = found.split(" at Line").next().unwrap_or(found).trim();
        if token == "EOF" {
            return "syntax error at end of input".into();
        }
        return format!("syntax error at or near \"{token}\"");
    }
    format!("syntax error: {message}")
}

fn between<'a>(message: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &message[message.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn classify_message(message: &str) -> EngineError {
    // A memory-pool refusal that reached us wrapped (shared between
    // partitions, or inside an Arrow error from a stream).
    if let Some(what) = message.split("Resources exhausted: ").nth(1) {
        return EngineError::OutOfMemory(what.to_string());
    }
    if let Some(table) = between(message, "table '", "' not found") {
        // `kimberlite.$path.t` was written `t`; `kimberlite.s.t` was `s.t`.
        let mut parts: Vec<&str> = table.split('.').collect();
        if parts.len() == 3 {
            parts.remove(0);
        }
        if parts.first() == Some(&super::provider::PATH_SCHEMA) {
            parts.remove(0);
        }
        return EngineError::UndefinedTable(parts.join("."));
    }
    if let Some(column) = between(message, "No field named ", ".")
        .or_else(|| between(message, "No field named ", " "))
    {
        let name = column
            .trim_matches('"')
            .rsplit('.')
            .next()
            .unwrap_or(column)
            .trim_matches('"');
        return EngineError::UndefinedColumn(format!("column \"{name}\" does not exist"));
    }
    if let Some(name) =
        between(message, "Ambiguous reference to unqualified field ", "\n").or_else(|| {
            message
                .split("Ambiguous reference to unqualified field ")
                .nth(1)
        })
    {
        return EngineError::AmbiguousColumn(name.trim().trim_matches('"').to_string());
    }
    if message.contains("No field named ") {
        let name = message
            .rsplit("No field named ")
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        return EngineError::UndefinedColumn(format!("column \"{name}\" does not exist"));
    }
    if message.contains("Cannot access field at argument") {
        // `t.x` where `t` is a column (a table function's alias names its
        // column): DataFusion reads a field access, PostgreSQL a missing
        // column.
        return EngineError::UndefinedColumn(
            "column reference does not exist: a single-column table function's alias names its column"
                .into(),
        );
    }
    if let Some(function) = between(message, "Invalid function '", "'") {
        return EngineError::UndefinedFunction(format!("function {function} does not exist"));
    }
    if message.contains("Divide by zero") || message.contains("division by zero") {
        return EngineError::DivisionByZero;
    }
    if let Some(error) = cast_of_text(message) {
        return error;
    }
    if message.contains("Cannot cast string") || message.contains("Cast error") {
        return EngineError::InvalidTextRepresentation(strip_prefixes(message));
    }
    if message.contains("overflow") || message.contains("Overflow") {
        return EngineError::NumericOutOfRange(strip_prefixes(message));
    }
    if message.contains("sql parser error") {
        return EngineError::Syntax(syntax_message(message));
    }
    if message.contains("Unsupported")
        || message.contains("not supported")
        || message.contains("Not supported")
    {
        return EngineError::FeatureNotSupported(strip_prefixes(message));
    }
    if message.contains("Error during planning") {
        return EngineError::Datatype(strip_prefixes(message));
    }
    EngineError::Internal(strip_prefixes(message))
}

fn strip_prefixes(message: &str) -> String {
    let mut m = message;
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "Arrow error: ",
        "External error: ",
        "Optimizer rule",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_table_is_42p01() {
        let e = classify_message("Error during planning: table 'kimberlite.$path.nope' not found");
        assert_eq!(
            (e.sqlstate(), e.to_string()),
            ("42P01", "relation \"nope\" does not exist".into())
        );
        // Written with its schema, it is named with it (as PostgreSQL does).
        let e = classify_message("Error during planning: table 'kimberlite.public.nope' not found");
        assert_eq!(e.to_string(), "relation \"public.nope\" does not exist");
    }

    #[test]
    fn parser_errors_read_like_postgresql() {
        assert_eq!(
            syntax_message(
                "sql parser error: Expected: an expression, found: FROM at Line: 1, Column: 8"
            ),
            "syntax error at or near \"FROM\""
        );
        assert_eq!(
            syntax_message("sql parser error: Expected: x, found: EOF"),
            "syntax error at end of input"
        );
    }
}
