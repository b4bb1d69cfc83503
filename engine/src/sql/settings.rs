//! Per-session configuration parameters (`SET`, `SHOW`, `RESET`).
//!
//! Only parameters clients actually read or set on connect are known; an
//! unknown name is 42704 as in PostgreSQL. Values never leak between
//! sessions: each [`Session`](super::Session) owns its own `Settings`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{Expr, Ident, Set, Value};

use super::{ident_name, Outcome, SERVER_VERSION};
use crate::error::{EngineError, EngineResult};

/// A session's parameters.
#[derive(Debug, Clone)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

fn defaults() -> BTreeMap<String, String> {
    [
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("client_min_messages", "notice"),
        ("datestyle", "ISO, MDY"),
        ("default_transaction_isolation", "read committed"),
        ("extra_float_digits", "1"),
        ("integer_datetimes", "on"),
        ("intervalstyle", "postgres"),
        ("is_superuser", "on"),
        ("lc_collate", "C"),
        ("lc_ctype", "C"),
        ("max_identifier_length", "63"),
        ("search_path", "\"$user\", public"),
        ("server_encoding", "UTF8"),
        ("server_version", SERVER_VERSION),
        ("server_version_num", "150008"),
        ("standard_conforming_strings", "on"),
        ("statement_timeout", "0"),
        ("timezone", "UTC"),
        ("transaction_isolation", "read committed"),
        ("transaction_read_only", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Parameters that are reported but cannot be changed.
const READ_ONLY: &[&str] = &[
    "integer_datetimes",
    "is_superuser",
    "lc_collate",
    "lc_ctype",
    "max_identifier_length",
    "server_encoding",
    "server_version",
    "server_version_num",
];

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}

impl Settings {
    pub fn new() -> Settings {
        Settings { values: defaults() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&name.to_lowercase()).map(|s| s.as_str())
    }

    /// `statement_timeout` as a duration; `None` when disabled (0).
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        let ms = parse_duration_ms(self.get("statement_timeout")?)?;
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }

    /// Applies a startup-packet parameter (unknown ones are ignored, as
    /// PostgreSQL ignores nothing but we prefer to accept drivers' extras).
    pub fn apply_startup(&mut self, name: &str, value: &str) {
        let name = name.to_lowercase();
        if self.values.contains_key(&name) && !READ_ONLY.contains(&name.as_str()) {
            self.values.insert(name, value.to_string());
        }
    }

    fn assign(&mut self, name: String, value: Option<String>) -> EngineResult<()> {
        if !self.values.contains_key(&name) {
            // Custom "namespace.name" parameters are allowed, as in PostgreSQL.
            if !name.contains('.') {
                return Err(EngineError::UndefinedParameter(name));
            }
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(EngineError::InvalidParameterValue(format!(
                "parameter \"{name}\" cannot be changed"
            )));
        }
        let value = match value {
            Some(v) => v,
            None => defaults().get(&name).cloned().unwrap_or_default(),
        };
        if name == "statement_timeout" && parse_duration_ms(&value).is_none() {
            return Err(EngineError::InvalidParameterValue(format!(
                "invalid value for parameter \"statement_timeout\": \"{value}\""
            )));
        }
        if name == "timezone"
            && !matches!(
                value.to_uppercase().as_str(),
                "UTC" | "GMT" | "ETC/UTC" | "Z"
            )
        {
            return Err(EngineError::FeatureNotSupported(format!(
                "time zone \"{value}\" is not supported yet; only UTC"
            )));
        }
        self.values.insert(name, value);
        Ok(())
    }

    /// `SET name = value` / `SET name TO DEFAULT` / `SET TIME ZONE …`.
    pub fn set(&mut self, set: Set) -> EngineResult<String> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable
                    .0
                    .iter()
                    .map(|p| p.as_ident().map(ident_name).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(".");
                let value = set_value(&values)?;
                self.assign(name, value)?;
            }
            Set::SetTimeZone { value, .. } => {
                let value = set_value(&[value])?;
                self.assign("timezone".into(), value)?;
            }
            Set::SetNames { charset_name, .. } => {
                self.assign("client_encoding".into(), Some(charset_name.value))?;
            }
            other => {
                return Err(EngineError::FeatureNotSupported(format!(
                    "{other} is not supported yet"
                )))
            }
        }
        Ok("SET".into())
    }

    /// `SHOW name` / `SHOW ALL`.
    pub fn show(&self, variable: &[Ident]) -> EngineResult<Outcome> {
        let name = variable
            .iter()
            .map(ident_name)
            .collect::<Vec<_>>()
            .join(" ");
        let (column, rows): (String, Vec<(String, String)>) = if name == "all" {
            (
                "setting".into(),
                self.values
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        } else {
            let key = match name.as_str() {
                "time zone" => "timezone".to_string(),
                "transaction isolation level" => "transaction_isolation".to_string(),
                other => other.replace(' ', "_"),
            };
            let value = self
                .values
                .get(&key)
                .cloned()
                .ok_or_else(|| EngineError::UndefinedParameter(key.clone()))?;
            (display_name(&key), vec![(key, value)])
        };
        let batch = if name == "all" {
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new(column, DataType::Utf8, false),
            ]));
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.0.clone()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.1.clone()),
                    )),
                ],
            )?
        } else {
            let schema = Arc::new(Schema::new(vec![Field::new(column, DataType::Utf8, false)]));
            RecordBatch::try_new(
                schema,
                vec![Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.1.clone()),
                ))],
            )?
        };
        Ok(Outcome::Batches {
            schema: batch.schema(),
            batches: vec![batch],
            tag: "SHOW".into(),
        })
    }
}

/// PostgreSQL's duration syntax for time settings: a bare number is
/// milliseconds; `us`, `ms`, `s`, `min`, `h`, `d` units are accepted.
fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

/// PostgreSQL shows some parameters under their canonical mixed case.
fn display_name(key: &str) -> String {
    match key {
        "datestyle" => "DateStyle".into(),
        "timezone" => "TimeZone".into(),
        "intervalstyle" => "IntervalStyle".into(),
        other => other.into(),
    }
}

fn set_value(values: &[Expr]) -> EngineResult<Option<String>> {
    let parts: Vec<Option<String>> = values
        .iter()
        .map(|expr| match expr {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(Some(s.clone())),
                Value::Number(n, _) => Ok(Some(n.clone())),
                Value::Boolean(b) => Ok(Some(if *b { "on".into() } else { "off".into() })),
                other => Ok(Some(other.to_string())),
            },
            Expr::Identifier(ident) if ident.value.eq_ignore_ascii_case("default") => Ok(None),
            Expr::Identifier(ident) => Ok(Some(ident.value.clone())),
            other => Ok(Some(other.to_string())),
        })
        .collect::<EngineResult<_>>()?;
    if parts.iter().any(|p| p.is_none()) {
        return Ok(None);
    }
    Ok(Some(
        parts.into_iter().flatten().collect::<Vec<_>>().join(", "),
    ))
}
