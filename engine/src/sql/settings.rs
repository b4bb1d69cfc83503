//! Per-session configuration parameters (`SET`, `SHOW`, `RESET`).
//!
//! Only parameters clients actually read or set are known; an unknown name
//! is 42704 as in PostgreSQL, a value we cannot honour is refused (22023 or
//! 0A000) rather than accepted and ignored. Values never leak between
//! sessions: each [`Session`](super::Session) owns its own `Settings`.
//!
//! Transaction semantics follow PostgreSQL: inside a transaction block a
//! `SET` is undone by ROLLBACK, a `SET LOCAL` lasts until the block ends.
//! `RESET` returns to the session default (built-ins plus the startup
//! packet). Parameters PostgreSQL reports (`GUC_REPORT`) are tracked so the
//! server sends ParameterStatus whenever one changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{
    ContextModifier, Expr, Ident, Set, TransactionAccessMode, TransactionIsolationLevel,
    TransactionMode, Value,
};

use super::datetime::DateStyle;
use super::interval::IntervalStyle;
use super::{ident_name, Outcome, SERVER_VERSION};
use crate::error::{EngineError, EngineResult};

type Values = BTreeMap<String, String>;

/// A session's parameters.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What RESET returns to.
    defaults: Values,
    /// The values in effect.
    values: Values,
    /// Inside a transaction block once something was SET: the values at
    /// its start (restored by ROLLBACK) and the session-level values COMMIT
    /// keeps (SET LOCAL changes only `values`).
    block: Option<(Values, Values)>,
    /// Reported parameters as the client last saw them.
    reported: Values,
}

/// Settings as they were at a savepoint.
#[derive(Debug, Clone)]
pub struct SettingsMark {
    values: Values,
    block: Option<(Values, Values)>,
}

fn builtin_defaults() -> Values {
    [
        ("application_name", ""),
        ("bytea_output", "hex"),
        ("client_encoding", "UTF8"),
        ("client_min_messages", "notice"),
        ("datestyle", "ISO, MDY"),
        ("default_transaction_isolation", "read committed"),
        ("default_transaction_read_only", "off"),
        ("extra_float_digits", "1"),
        ("in_hot_standby", "off"),
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
        ("session_authorization", ""),
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

/// Parameters that are reported but cannot be changed with SET.
const READ_ONLY: &[&str] = &[
    "in_hot_standby",
    "integer_datetimes",
    "is_superuser",
    "lc_collate",
    "lc_ctype",
    "max_identifier_length",
    "server_encoding",
    "server_version",
    "server_version_num",
    "session_authorization",
];

/// Parameters PostgreSQL 15 reports with ParameterStatus (`GUC_REPORT`).
const REPORTED: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "intervalstyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "timezone",
];

/// How values are rendered as text for this session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputStyle {
    /// The session's TimeZone (timestamptz is shown in it).
    pub time_zone: chrono_tz::Tz,
    /// `extra_float_digits`: > 0 is shortest-exact output.
    pub extra_float_digits: i32,
    /// `bytea_output = hex` (else escape).
    pub bytea_hex: bool,
    /// `DateStyle`'s output format and field order.
    pub date_style: DateStyle,
    /// `IntervalStyle`.
    pub interval_style: IntervalStyle,
}

impl Default for OutputStyle {
    fn default() -> Self {
        OutputStyle {
            time_zone: chrono_tz::UTC,
            extra_float_digits: 1,
            bytea_hex: true,
            date_style: DateStyle::default(),
            interval_style: IntervalStyle::Postgres,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}

/// What a SET did, for the session to report.
#[derive(Debug, Default)]
pub struct SetOutcome {
    /// PostgreSQL's WARNING for SET LOCAL outside a transaction block.
    pub warning: Option<String>,
}

impl Settings {
    pub fn new() -> Settings {
        let values = builtin_defaults();
        Settings {
            defaults: values.clone(),
            reported: reported_of(&values),
            values,
            block: None,
        }
    }

    /// Settings for `user` logging in with `startup` parameters: unknown
    /// or invalid startup values are ignored (the connection still works).
    pub fn for_login<'a>(
        user: &str,
        superuser: bool,
        startup: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Settings {
        let mut settings = Settings::new();
        settings
            .values
            .insert("session_authorization".into(), user.into());
        settings.values.insert(
            "is_superuser".into(),
            if superuser { "on" } else { "off" }.into(),
        );
        let startup: Vec<(String, String)> = startup
            .into_iter()
            .flat_map(|(name, value)| {
                if name == "options" {
                    command_line_options(value)
                } else {
                    vec![(name.to_string(), value.to_string())]
                }
            })
            .collect();
        for (name, value) in &startup {
            let name = canonical_name(name);
            if settings.values.contains_key(&name) && !READ_ONLY.contains(&name.as_str()) {
                if let Ok(value) = validate(&name, value) {
                    settings.values.insert(name, value);
                }
            }
        }
        settings.defaults = settings.values.clone();
        settings.reported = reported_of(&settings.values);
        settings
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(&canonical_name(name)).map(|s| s.as_str())
    }

    /// The reported parameters and their values, with PostgreSQL's names,
    /// as sent after login.
    pub fn reported(&self) -> Vec<(String, String)> {
        self.reported
            .iter()
            .map(|(k, v)| (display_name(k), v.clone()))
            .collect()
    }

    /// Reported parameters whose value changed since last asked.
    pub fn take_changed_reports(&mut self) -> Vec<(String, String)> {
        let mut changed = Vec::new();
        for name in REPORTED {
            let Some(value) = self.values.get(*name) else {
                continue;
            };
            if self.reported.get(*name) != Some(value) {
                self.reported.insert(name.to_string(), value.clone());
                changed.push((display_name(name), value.clone()));
            }
        }
        changed
    }

    /// `statement_timeout` as a duration; `None` when disabled (0).
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        let ms = parse_duration_ms(self.get("statement_timeout")?)?;
        (ms > 0).then(|| std::time::Duration::from_millis(ms))
    }

    /// Whether the current transaction reads one snapshot throughout.
    pub fn repeatable_read(&self) -> bool {
        self.get("transaction_isolation") == Some("repeatable read")
    }

    /// Whether the current transaction may write.
    pub fn read_only(&self) -> bool {
        self.get("transaction_read_only") == Some("on")
    }

    /// How values are rendered as text.
    pub fn output_style(&self) -> OutputStyle {
        OutputStyle {
            time_zone: self
                .get("timezone")
                .and_then(|z| parse_zone(z).ok())
                .unwrap_or(chrono_tz::UTC),
            extra_float_digits: self
                .get("extra_float_digits")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1),
            bytea_hex: self.get("bytea_output") != Some("escape"),
            date_style: DateStyle::parse(self.get("datestyle").unwrap_or("ISO, MDY")),
            interval_style: match self.get("intervalstyle") {
                Some("postgres_verbose") => IntervalStyle::PostgresVerbose,
                Some("sql_standard") => IntervalStyle::SqlStandard,
                Some("iso_8601") => IntervalStyle::Iso8601,
                _ => IntervalStyle::Postgres,
            },
        }
    }

    /// A transaction block starts: its characteristics come from the
    /// session's defaults (then BEGIN's own modes).
    pub fn begin_block(&mut self, modes: &[TransactionMode]) -> EngineResult<()> {
        let isolation = self.values["default_transaction_isolation"].clone();
        let read_only = self.values["default_transaction_read_only"].clone();
        self.values
            .insert("transaction_isolation".into(), isolation);
        self.values
            .insert("transaction_read_only".into(), read_only);
        self.apply_modes(modes, false)
    }

    /// The settings a savepoint returns to.
    pub fn mark(&self) -> SettingsMark {
        SettingsMark {
            values: self.values.clone(),
            block: self.block.clone(),
        }
    }

    /// ROLLBACK TO SAVEPOINT undoes the SETs made since `mark`.
    pub fn restore(&mut self, mark: SettingsMark) {
        self.values = mark.values;
        self.block = mark.block;
    }

    /// The block ended: COMMIT keeps session-level SETs, ROLLBACK undoes
    /// them; SET LOCAL ends either way.
    pub fn end_block(&mut self, committed: bool) {
        if let Some((before, session)) = self.block.take() {
            self.values = if committed { session } else { before };
        }
        for name in ["transaction_isolation", "transaction_read_only"] {
            let default = self.values[&format!("default_{name}")].clone();
            self.values.insert(name.into(), default);
        }
    }

    /// `set_config(name, value, is_local)`: as `SET [LOCAL] name = value`.
    pub fn set_config(
        &mut self,
        name: &str,
        value: &str,
        local: bool,
        in_block: bool,
    ) -> EngineResult<()> {
        self.assign(name, Some(value.to_string()), local && in_block, in_block)
    }

    /// Every parameter's current value, by name.
    pub fn values(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn assign(
        &mut self,
        name: &str,
        value: Option<String>,
        local: bool,
        in_block: bool,
    ) -> EngineResult<()> {
        let name = canonical_name(name);
        // Custom "namespace.name" parameters are allowed, as in PostgreSQL.
        if !self.values.contains_key(&name) && !name.contains('.') {
            return Err(EngineError::UndefinedParameter(name));
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(EngineError::CantChangeRuntimeParam(format!(
                "parameter \"{name}\" cannot be changed"
            )));
        }
        let value = match value {
            Some(v) => validate(&name, &v)?,
            None => self.defaults.get(&name).cloned().unwrap_or_default(),
        };
        if name.starts_with("transaction_") && !in_block {
            // Outside a block the SET's own transaction ends with it.
            return Ok(());
        }
        if in_block {
            let block = self
                .block
                .get_or_insert_with(|| (self.values.clone(), self.values.clone()));
            if !local {
                block.1.insert(name.clone(), value.clone());
            }
        }
        self.values.insert(name, value);
        Ok(())
    }

    /// `SET [SESSION | LOCAL] name = value` and its relatives.
    pub fn set(&mut self, set: Set, in_block: bool) -> EngineResult<SetOutcome> {
        let mut outcome = SetOutcome::default();
        let mut local_outside = |local: bool| {
            if local && !in_block {
                outcome.warning = Some("SET LOCAL can only be used in transaction blocks".into());
                true
            } else {
                false
            }
        };
        match set {
            Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let local = matches!(scope, Some(ContextModifier::Local));
                let name = variable
                    .0
                    .iter()
                    .map(|p| p.as_ident().map(ident_name).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(".");
                let value = set_value(&values)?;
                if !local_outside(local) {
                    self.assign(&name, value, local, in_block)?;
                }
            }
            Set::SetTimeZone { value, local } => {
                let value = set_value(&[value])?;
                if !local_outside(local) {
                    self.assign("timezone", value, local, in_block)?;
                }
            }
            Set::SetNames { charset_name, .. } => {
                self.assign("client_encoding", Some(charset_name.value), false, in_block)?;
            }
            Set::SetTransaction {
                modes,
                snapshot: None,
                session,
            } => {
                if !session && !in_block {
                    outcome.warning =
                        Some("SET TRANSACTION can only be used in transaction blocks".into());
                } else {
                    self.apply_modes(&modes, session)?;
                }
            }
            other => {
                return Err(EngineError::FeatureNotSupported(format!(
                    "{other} is not supported yet"
                )))
            }
        }
        Ok(outcome)
    }

    /// Transaction modes, for this transaction or (`session`) as defaults.
    fn apply_modes(&mut self, modes: &[TransactionMode], session: bool) -> EngineResult<()> {
        let prefix = if session { "default_" } else { "" };
        for mode in modes {
            let (name, value) = match mode {
                TransactionMode::IsolationLevel(level) => (
                    format!("{prefix}transaction_isolation"),
                    match level {
                        TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
                        TransactionIsolationLevel::ReadCommitted => "read committed",
                        TransactionIsolationLevel::RepeatableRead => "repeatable read",
                        TransactionIsolationLevel::Serializable => "serializable",
                        TransactionIsolationLevel::Snapshot => "snapshot",
                    }
                    .to_string(),
                ),
                TransactionMode::AccessMode(mode) => (
                    format!("{prefix}transaction_read_only"),
                    match mode {
                        TransactionAccessMode::ReadOnly => "on",
                        TransactionAccessMode::ReadWrite => "off",
                    }
                    .to_string(),
                ),
            };
            let value = validate(&name, &value)?;
            if session {
                self.assign(&name, Some(value), false, self.block.is_some())?;
            } else {
                self.values.insert(name, value);
            }
        }
        Ok(())
    }

    /// `RESET name` / `RESET ALL`.
    pub fn reset(&mut self, name: Option<&str>, in_block: bool) -> EngineResult<()> {
        match name {
            Some(name) => self.assign(name, None, false, in_block),
            None => {
                let names: Vec<String> = self
                    .values
                    .keys()
                    .filter(|k| !READ_ONLY.contains(&k.as_str()) && !k.starts_with("transaction_"))
                    .cloned()
                    .collect();
                for name in names {
                    self.assign(&name, None, false, in_block)?;
                }
                Ok(())
            }
        }
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

fn reported_of(values: &Values) -> Values {
    REPORTED
        .iter()
        .filter_map(|k| values.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The startup packet's `options`: `-c name=value` and `--name=value`
/// separated by spaces, a backslash escaping the next character.
fn command_line_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut pairs = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let setting = match word.as_str() {
            "-c" => words.next(),
            w => w
                .strip_prefix("--")
                .or_else(|| w.strip_prefix("-c"))
                .map(str::to_string),
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            pairs.push((name.replace('-', "_"), value.to_string()));
        }
    }
    pairs
}

/// The key a parameter is stored under (`TimeZone` → `timezone`).
fn canonical_name(name: &str) -> String {
    match name.to_lowercase().as_str() {
        "time zone" => "timezone".into(),
        "transaction isolation level" => "transaction_isolation".into(),
        other => other.replace(' ', "_"),
    }
}

/// A named time zone (IANA, case-insensitive) or UTC.
pub fn parse_zone(text: &str) -> Result<chrono_tz::Tz, ()> {
    let text = text.trim();
    match text.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "Z" | "ZULU" | "UCT" | "ETC/UTC" => Ok(chrono_tz::UTC),
        _ => chrono_tz::Tz::from_str_insensitive(text).map_err(|_| ()),
    }
}

fn invalid(name: &str, value: &str) -> EngineError {
    EngineError::InvalidParameterValue(format!(
        "invalid value for parameter \"{}\": \"{value}\"",
        display_name(name)
    ))
}

fn boolean(name: &str, value: &str) -> EngineResult<String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Ok("on".into()),
        "off" | "false" | "no" | "0" | "f" | "n" => Ok("off".into()),
        _ => Err(EngineError::InvalidParameterValue(format!(
            "parameter \"{name}\" requires a Boolean value"
        ))),
    }
}

/// Checks `value` for parameter `name` and returns it as SHOW prints it.
fn validate(name: &str, value: &str) -> EngineResult<String> {
    let not_supported = |what: String| Err(EngineError::FeatureNotSupported(what));
    match name {
        "timezone" => match parse_zone(value) {
            Ok(zone) => Ok(zone.name().to_string()),
            Err(()) => Err(invalid(name, value)),
        },
        "datestyle" => {
            let mut output = "ISO";
            let mut order = "MDY";
            let explicit_order = value.split(',').any(|p| {
                matches!(
                    p.trim().to_ascii_uppercase().as_str(),
                    "MDY" | "US" | "NONEUROPEAN" | "DMY" | "EUROPEAN" | "YMD"
                )
            });
            for part in value.split(',').map(|p| p.trim().to_ascii_uppercase()) {
                match part.as_str() {
                    "ISO" => output = "ISO",
                    "SQL" => output = "SQL",
                    "POSTGRES" => output = "Postgres",
                    "GERMAN" => {
                        output = "German";
                        // PostgreSQL: German implies DMY unless an order is given.
                        if !explicit_order {
                            order = "DMY";
                        }
                    }
                    "MDY" | "US" | "NONEUROPEAN" => order = "MDY",
                    "DMY" | "EUROPEAN" => order = "DMY",
                    "YMD" => order = "YMD",
                    _ => return Err(invalid(name, value)),
                }
            }
            Ok(format!("{output}, {order}"))
        }
        "intervalstyle" => match value.trim().to_ascii_lowercase().as_str() {
            v @ ("postgres" | "postgres_verbose" | "sql_standard" | "iso_8601") => Ok(v.into()),
            _ => Err(invalid(name, value)),
        },
        "extra_float_digits" => match value.trim().parse::<i32>() {
            Ok(d) if (-15..=3).contains(&d) => Ok(d.to_string()),
            Ok(d) => Err(EngineError::InvalidParameterValue(format!(
                "{d} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
            ))),
            Err(_) => Err(EngineError::InvalidParameterValue(format!(
                "invalid value for parameter \"extra_float_digits\": \"{value}\""
            ))),
        },
        "client_encoding" => match value
            .trim()
            .to_ascii_uppercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "UTF8" | "UNICODE" => Ok("UTF8".into()),
            _ => not_supported(format!(
                "client_encoding \"{value}\" is not supported; the server speaks UTF8"
            )),
        },
        "standard_conforming_strings" => match boolean(name, value)?.as_str() {
            "on" => Ok("on".into()),
            _ => not_supported("standard_conforming_strings = off is not supported".into()),
        },
        "bytea_output" => match value.trim().to_ascii_lowercase().as_str() {
            v @ ("hex" | "escape") => Ok(v.into()),
            _ => Err(invalid(name, value)),
        },
        "client_min_messages" => match value.trim().to_ascii_lowercase().as_str() {
            v @ ("debug5" | "debug4" | "debug3" | "debug2" | "debug1" | "debug" | "log"
            | "notice" | "warning" | "error") => Ok(v.into()),
            _ => Err(invalid(name, value)),
        },
        "statement_timeout" => match parse_duration_ms(value) {
            Some(_) => Ok(value.trim().to_string()),
            None => Err(invalid(name, value)),
        },
        "transaction_isolation" | "default_transaction_isolation" => {
            match value.trim().to_ascii_lowercase().as_str() {
                // PostgreSQL runs READ UNCOMMITTED as READ COMMITTED.
                v @ ("read committed" | "read uncommitted" | "repeatable read") => Ok(v.into()),
                // Refused rather than run as something weaker.
                "serializable" => not_supported(
                    "isolation level SERIALIZABLE is not supported yet; use REPEATABLE READ \
                     (snapshot isolation)"
                        .to_string(),
                ),
                _ => Err(invalid(name, value)),
            }
        }
        "transaction_read_only" | "default_transaction_read_only" => boolean(name, value),
        "application_name" => Ok(value.chars().take(63).collect()),
        _ => Ok(value.to_string()),
    }
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
