//! Between Arrow arrays and rows of [`Datum`]s.
//!
//! Reading: a table provider turns visible rows into a `RecordBatch`.
//! Writing: the values a statement produced (a DataFusion result, any Arrow
//! type) are coerced to the column's type with PostgreSQL's input rules and
//! errors (`22P02` bad text, `22003` out of range, `22001` too long).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Offset};
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Array,
    Date32Builder, Decimal128Array, Decimal128Builder, Float32Array, Float32Builder, Float64Array,
    Float64Builder, Int16Array, Int16Builder, Int32Array, Int32Builder, Int64Array, Int64Builder,
    LargeStringArray, StringArray, StringBuilder, StringViewArray, Time64MicrosecondArray,
    Time64MicrosecondBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::FormatOptions;
use kimberlite_catalog::SqlType;

use super::types::{arrow_type, UTC};
use crate::datum::{Datum, Row};
use crate::error::{EngineError, EngineResult};

/// Builds a batch holding `columns` of `rows` (all columns when `None`).
pub fn rows_to_batch(
    schema: SchemaRef,
    types: &[SqlType],
    columns: &[usize],
    rows: &[Arc<Row>],
    extra: Vec<ArrayRef>,
) -> EngineResult<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|&c| column_array(types[c], c, rows))
        .collect();
    arrays.extend(extra);
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
}

fn column_array(sql_type: SqlType, c: usize, rows: &[Arc<Row>]) -> ArrayRef {
    macro_rules! build {
        ($builder:expr, $variant:path) => {{
            let mut b = $builder;
            for row in rows {
                match &row[c] {
                    $variant(v) => b.append_value(v.clone()),
                    Datum::Null => b.append_null(),
                    other => panic!("column {c} holds {other:?}, not {}", stringify!($variant)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    match sql_type {
        SqlType::Bool => build!(BooleanBuilder::with_capacity(rows.len()), Datum::Bool),
        SqlType::Int2 => build!(Int16Builder::with_capacity(rows.len()), Datum::Int2),
        SqlType::Int4 => build!(Int32Builder::with_capacity(rows.len()), Datum::Int4),
        SqlType::Int8 => build!(Int64Builder::with_capacity(rows.len()), Datum::Int8),
        SqlType::Float4 => build!(Float32Builder::with_capacity(rows.len()), Datum::Float4),
        SqlType::Float8 => build!(Float64Builder::with_capacity(rows.len()), Datum::Float8),
        SqlType::Numeric { precision, scale } => {
            let b = Decimal128Builder::with_capacity(rows.len())
                .with_precision_and_scale(precision.unwrap_or(38), scale as i8)
                .expect("catalog validated numeric precision and scale");
            build!(b, Datum::Numeric)
        }
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Uuid
        | SqlType::Json
        | SqlType::Jsonb => build!(
            StringBuilder::with_capacity(rows.len(), rows.len() * 16),
            Datum::Text
        ),
        SqlType::Bytea => build!(
            BinaryBuilder::with_capacity(rows.len(), rows.len() * 16),
            Datum::Bytes
        ),
        SqlType::Date => build!(Date32Builder::with_capacity(rows.len()), Datum::Date),
        SqlType::Time => build!(
            Time64MicrosecondBuilder::with_capacity(rows.len()),
            Datum::Time
        ),
        SqlType::Timestamp => build!(
            TimestampMicrosecondBuilder::with_capacity(rows.len()),
            Datum::Timestamp
        ),
        SqlType::Timestamptz => {
            let b = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone(UTC);
            build!(b, Datum::Timestamp)
        }
    }
}

fn text_of(array: &dyn Array, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    if let Some(a) = array.as_any().downcast_ref::<StringArray>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = array.as_any().downcast_ref::<LargeStringArray>() {
        return Some(a.value(i).to_string());
    }
    if let Some(a) = array.as_any().downcast_ref::<StringViewArray>() {
        return Some(a.value(i).to_string());
    }
    let formatter =
        datafusion::arrow::util::display::ArrayFormatter::try_new(array, &FormatOptions::default())
            .ok()?;
    Some(formatter.value(i).to_string())
}

fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn out_of_range(sql_type: SqlType) -> EngineError {
    EngineError::NumericOutOfRange(match sql_type {
        SqlType::Int2 => "smallint out of range".into(),
        SqlType::Int4 => "integer out of range".into(),
        SqlType::Int8 => "bigint out of range".into(),
        SqlType::Numeric { .. } => "numeric field overflow".into(),
        other => format!("value out of range for type {}", other.pg_name()),
    })
}

fn invalid_text(sql_type: SqlType, value: &str) -> EngineError {
    let name = match sql_type {
        SqlType::Timestamp => "timestamp".to_string(),
        SqlType::Timestamptz => "timestamp with time zone".to_string(),
        SqlType::Numeric { .. } => "numeric".to_string(),
        SqlType::Time => "time".to_string(),
        other => other.pg_name(),
    };
    EngineError::InvalidTextRepresentation(format!(
        "invalid input syntax for type {name}: \"{value}\""
    ))
}

/// Coerces `array` (any Arrow type) to values of `sql_type`, one per row.
pub fn coerce_column(array: &ArrayRef, sql_type: SqlType) -> EngineResult<Vec<Datum>> {
    let len = array.len();
    // A NullArray reports no nulls through `is_null`; every value is NULL.
    if *array.data_type() == DataType::Null {
        return Ok(vec![Datum::Null; len]);
    }
    match sql_type {
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Uuid
        | SqlType::Json
        | SqlType::Jsonb => {
            if matches!(array.data_type(), DataType::Binary | DataType::LargeBinary) {
                return Err(EngineError::Datatype(format!(
                    "column is of type {} but expression is of type bytea",
                    sql_type.pg_name()
                )));
            }
            (0..len)
                .map(|i| match text_of(array.as_ref(), i) {
                    None => Ok(Datum::Null),
                    Some(text) => normalize_text(sql_type, text).map(Datum::Text),
                })
                .collect()
        }
        SqlType::Bytea => (0..len)
            .map(|i| {
                if array.is_null(i) {
                    return Ok(Datum::Null);
                }
                if let Some(a) = array.as_any().downcast_ref::<BinaryArray>() {
                    return Ok(Datum::Bytes(a.value(i).to_vec()));
                }
                let text = text_of(array.as_ref(), i).unwrap_or_default();
                parse_bytea(&text).map(Datum::Bytes)
            })
            .collect(),
        _ => {
            let target = arrow_type(sql_type);
            let options = CastOptions {
                safe: false,
                ..Default::default()
            };
            let source_is_string = is_string(array.data_type());
            if source_is_string && sql_type == SqlType::Bool {
                return (0..len)
                    .map(|i| match text_of(array.as_ref(), i) {
                        None => Ok(Datum::Null),
                        Some(t) => parse_bool(&t)
                            .map(Datum::Bool)
                            .ok_or_else(|| invalid_text(sql_type, &t)),
                    })
                    .collect();
            }
            if !source_is_string
                && matches!(array.data_type(), DataType::Binary | DataType::Boolean)
                && sql_type != SqlType::Bool
            {
                return Err(EngineError::Datatype(format!(
                    "column is of type {} but expression is of type {}",
                    sql_type.pg_name(),
                    if matches!(array.data_type(), DataType::Boolean) {
                        "boolean"
                    } else {
                        "bytea"
                    }
                )));
            }
            let cast = match cast_with_options(array, &target, &options) {
                Ok(cast) => cast,
                Err(_) => {
                    // Find the first offending value for a PostgreSQL-shaped message.
                    for i in 0..len {
                        let one = array.slice(i, 1);
                        if cast_with_options(&one, &target, &options).is_err() {
                            let text = text_of(array.as_ref(), i).unwrap_or_default();
                            return Err(if source_is_string && !looks_numeric(&text) {
                                invalid_text(sql_type, text.trim())
                            } else {
                                out_of_range(sql_type)
                            });
                        }
                    }
                    return Err(out_of_range(sql_type));
                }
            };
            // A cast to a narrower decimal or int may turn overflow into null
            // on some paths; refuse rather than store a NULL nobody wrote.
            if cast.null_count() != array.null_count() {
                return Err(out_of_range(sql_type));
            }
            Ok(extract(&cast, sql_type))
        }
    }
}

fn looks_numeric(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty() && t.parse::<f64>().is_ok()
}

fn extract(array: &ArrayRef, sql_type: SqlType) -> Vec<Datum> {
    macro_rules! take {
        ($ty:ty, $variant:path) => {{
            let a = array
                .as_any()
                .downcast_ref::<$ty>()
                .expect("cast produced the target type");
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Datum::Null
                    } else {
                        $variant(a.value(i))
                    }
                })
                .collect()
        }};
    }
    match sql_type {
        SqlType::Bool => take!(BooleanArray, Datum::Bool),
        SqlType::Int2 => take!(Int16Array, Datum::Int2),
        SqlType::Int4 => take!(Int32Array, Datum::Int4),
        SqlType::Int8 => take!(Int64Array, Datum::Int8),
        SqlType::Float4 => take!(Float32Array, Datum::Float4),
        SqlType::Float8 => take!(Float64Array, Datum::Float8),
        SqlType::Numeric { .. } => take!(Decimal128Array, Datum::Numeric),
        SqlType::Date => take!(Date32Array, Datum::Date),
        SqlType::Time => take!(Time64MicrosecondArray, Datum::Time),
        SqlType::Timestamp | SqlType::Timestamptz => {
            take!(TimestampMicrosecondArray, Datum::Timestamp)
        }
        other => unreachable!("{other:?} is coerced as text"),
    }
}

/// Renders a scaled integer with exactly `scale` fractional digits.
pub fn format_decimal(value: i128, scale: i8, trim: bool) -> String {
    let negative = value < 0;
    let digits = value.unsigned_abs().to_string();
    let scale = scale.max(0) as usize;
    let mut text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if trim && text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if negative && text.chars().any(|c| c != '0' && c != '.') {
        text.insert(0, '-');
    }
    text
}

/// PostgreSQL's ISO timestamp; a timestamptz is shown in the session's
/// zone with its offset (`+05:30`, `-08`, `+00`).
pub fn format_timestamp(micros: i64, zone: Option<chrono_tz::Tz>) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let Some(datetime) = DateTime::from_timestamp(seconds, 0) else {
        return micros.to_string();
    };
    let (local, offset) = match zone {
        Some(zone) => {
            let local = datetime.with_timezone(&zone);
            let offset = local.offset().fix().local_minus_utc();
            (local.naive_local(), Some(offset))
        }
        None => (datetime.naive_utc(), None),
    };
    let mut text = local.format("%Y-%m-%d %H:%M:%S").to_string();
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    if let Some(offset) = offset {
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.abs();
        let (hours, minutes, secs) = (offset / 3600, offset / 60 % 60, offset % 60);
        text.push_str(&format!("{sign}{hours:02}"));
        if minutes != 0 || secs != 0 {
            text.push_str(&format!(":{minutes:02}"));
        }
        if secs != 0 {
            text.push_str(&format!(":{secs:02}"));
        }
    }
    text
}

/// `date` as PostgreSQL prints it (ISO).
pub fn format_date(days: i64) -> String {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| days.to_string())
}

/// `time` as PostgreSQL prints it: `HH:MM:SS[.ffffff]`, trailing zeros
/// of the fraction dropped.
pub fn time_text(micros: i64) -> String {
    let (seconds, fraction) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        text.push_str(format!(".{fraction:06}").trim_end_matches('0'));
    }
    text
}

/// PostgreSQL's boolean input.
fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// PostgreSQL's bytea input: `\x` hex, or escape format.
pub fn parse_bytea(text: &str) -> EngineResult<Vec<u8>> {
    if let Some(hex_digits) = text.strip_prefix("\\x") {
        return hex::decode(hex_digits).map_err(|_| {
            EngineError::InvalidTextRepresentation(format!(
                "invalid hexadecimal data: \"{hex_digits}\""
            ))
        });
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            let octal = bytes.get(i + 1..i + 4).and_then(|d| {
                std::str::from_utf8(d)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 8).ok())
            });
            match octal {
                Some(b) => {
                    out.push(b);
                    i += 4;
                }
                None => {
                    return Err(EngineError::InvalidTextRepresentation(
                        "invalid input syntax for type bytea".into(),
                    ))
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Applies the text rules of string-like types.
fn normalize_text(sql_type: SqlType, text: String) -> EngineResult<String> {
    match sql_type {
        SqlType::Varchar(Some(n)) => {
            let chars = text.chars().count();
            if chars > n as usize {
                // PostgreSQL silently drops excess trailing spaces.
                if text.chars().skip(n as usize).all(|c| c == ' ') {
                    return Ok(text.chars().take(n as usize).collect());
                }
                return Err(EngineError::StringTooLong(format!(
                    "value too long for type character varying({n})"
                )));
            }
            Ok(text)
        }
        SqlType::Char(n) => {
            let chars = text.chars().count();
            if chars > n as usize {
                if text.chars().skip(n as usize).all(|c| c == ' ') {
                    return Ok(text.chars().take(n as usize).collect());
                }
                return Err(EngineError::StringTooLong(format!(
                    "value too long for type character({n})"
                )));
            }
            let mut padded = text;
            padded.extend(std::iter::repeat_n(' ', n as usize - chars));
            Ok(padded)
        }
        SqlType::Uuid => uuid::Uuid::parse_str(text.trim())
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| invalid_text(SqlType::Uuid, &text)),
        SqlType::Json => {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|_| invalid_text(SqlType::Json, &text))?;
            Ok(text)
        }
        SqlType::Jsonb => {
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|_| invalid_text(SqlType::Json, &text))?;
            Ok(jsonb_text(&value))
        }
        _ => Ok(text),
    }
}

/// jsonb's canonical text: keys sorted shorter-first then bytewise, `", "`
/// and `": "` separators, as PostgreSQL prints it.
fn jsonb_text(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(jsonb_text).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
            let fields: Vec<String> = keys
                .iter()
                .map(|k| format!("{}: {}", Value::String((*k).clone()), jsonb_text(&map[*k])))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    #[test]
    fn text_to_integer_errors_like_postgresql() {
        let array: ArrayRef = Arc::new(StringArray::from(vec!["12", "abc"]));
        let error = coerce_column(&array, SqlType::Int4).unwrap_err();
        assert_eq!(error.sqlstate(), "22P02");
        assert_eq!(
            error.to_string(),
            "invalid input syntax for type integer: \"abc\""
        );
    }

    #[test]
    fn narrowing_overflow_is_out_of_range() {
        let array: ArrayRef = Arc::new(Int64Array::from(vec![1, 3_000_000_000]));
        let error = coerce_column(&array, SqlType::Int4).unwrap_err();
        assert_eq!(
            (error.sqlstate(), error.to_string().as_str()),
            ("22003", "integer out of range")
        );
    }

    #[test]
    fn null_literals_stay_null_for_every_type() {
        let array: ArrayRef = Arc::new(datafusion::arrow::array::NullArray::new(2));
        for sql_type in [
            SqlType::Text,
            SqlType::Int4,
            SqlType::Bytea,
            SqlType::Jsonb,
            SqlType::Bool,
        ] {
            assert_eq!(
                coerce_column(&array, sql_type).unwrap(),
                vec![Datum::Null, Datum::Null]
            );
        }
    }

    #[test]
    fn char_pads_and_varchar_limits() {
        let array: ArrayRef = Arc::new(StringArray::from(vec!["ab"]));
        assert_eq!(
            coerce_column(&array, SqlType::Char(4)).unwrap(),
            vec![Datum::Text("ab  ".into())]
        );
        let long: ArrayRef = Arc::new(StringArray::from(vec!["abcdef"]));
        assert_eq!(
            coerce_column(&long, SqlType::Varchar(Some(3)))
                .unwrap_err()
                .sqlstate(),
            "22001"
        );
    }

    #[test]
    fn jsonb_is_canonicalized_and_json_kept_verbatim() {
        let array: ArrayRef = Arc::new(StringArray::from(vec![r#"{"bb":1,"a":[1,2]}"#]));
        assert_eq!(
            coerce_column(&array, SqlType::Jsonb).unwrap(),
            vec![Datum::Text(r#"{"a": [1, 2], "bb": 1}"#.into())]
        );
        assert_eq!(
            coerce_column(&array, SqlType::Json).unwrap(),
            vec![Datum::Text(r#"{"bb":1,"a":[1,2]}"#.into())]
        );
    }

    #[test]
    fn bytea_accepts_hex_and_escape_input() {
        assert_eq!(parse_bytea("\\x00ff").unwrap(), vec![0, 255]);
        assert_eq!(parse_bytea("a\\\\b\\001").unwrap(), b"a\\b\x01".to_vec());
    }
}
