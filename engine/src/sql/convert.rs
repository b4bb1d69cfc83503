//! Between Arrow arrays and rows of [`Datum`]s.
//!
//! Reading: a table provider turns visible rows into a `RecordBatch`.
//! Writing: the values a statement produced (a DataFusion result, any Arrow
//! type) are coerced to the column's type with PostgreSQL's input rules and
//! errors (`22P02` bad text, `22003` out of range, `22001` too long).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Array,
    Date32Builder, Decimal128Array, Decimal128Builder, Float32Array, Float32Builder, Float64Array,
    Float64Builder, Int16Array, Int16Builder, Int32Array, Int32Builder, Int64Array, Int64Builder,
    LargeStringArray, StringArray, StringBuilder, StringViewArray, Time64MicrosecondArray,
    Time64MicrosecondBuilder, TimestampMicrosecondArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::array::{
    GenericListArray, IntervalMonthDayNanoArray, IntervalMonthDayNanoBuilder, LargeListArray,
    ListArray, OffsetSizeTrait, UInt32Array, UInt32Builder,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalUnit, SchemaRef, TimeUnit,
};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::FormatOptions;
use kimberlite_catalog::{ArrayElement, SqlType};

use super::types::{arrow_type, UTC};
use crate::datum::{Datum, Row, NUMERIC_INFINITY, NUMERIC_NEG_INFINITY};
use crate::error::{EngineError, EngineResult};

pub use super::datetime::{format_date, format_timestamp, time_text};

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
        .enumerate()
        .map(|(i, &c)| {
            let array = column_array(types[c], c, rows);
            // Timestamptz arrays carry the zone label of the schema they
            // are read through (the session's TimeZone).
            match (array.data_type(), schema.field(i).data_type()) {
                (DataType::Timestamp(_, built), DataType::Timestamp(_, Some(wanted)))
                    if built.as_deref() != Some(wanted.as_ref()) =>
                {
                    let timestamps = array
                        .as_any()
                        .downcast_ref::<TimestampMicrosecondArray>()
                        .expect("timestamptz columns are microseconds")
                        .clone();
                    Arc::new(timestamps.with_timezone(wanted.clone())) as ArrayRef
                }
                _ => array,
            }
        })
        .collect();
    arrays.extend(extra);
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
}

fn column_array(sql_type: SqlType, c: usize, rows: &[Arc<Row>]) -> ArrayRef {
    let values: Vec<&Datum> = rows.iter().map(|row| &row[c]).collect();
    datums_array(sql_type, &values)
}

/// An Arrow array of `sql_type` holding `values` (datums of that type or
/// `Null`; anything else is a broken invariant of the write path).
fn datums_array(sql_type: SqlType, values: &[&Datum]) -> ArrayRef {
    macro_rules! build {
        ($builder:expr, $variant:path) => {{
            let mut b = $builder;
            for value in values {
                match value {
                    $variant(v) => b.append_value(v.clone()),
                    Datum::Null => b.append_null(),
                    other => panic!("{sql_type:?} column holds {other:?}"),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    let len = values.len();
    match sql_type {
        SqlType::Bool => build!(BooleanBuilder::with_capacity(len), Datum::Bool),
        SqlType::Int2 => build!(Int16Builder::with_capacity(len), Datum::Int2),
        SqlType::Int4 => build!(Int32Builder::with_capacity(len), Datum::Int4),
        SqlType::Int8 => build!(Int64Builder::with_capacity(len), Datum::Int8),
        SqlType::Float4 => build!(Float32Builder::with_capacity(len), Datum::Float4),
        SqlType::Float8 => build!(Float64Builder::with_capacity(len), Datum::Float8),
        SqlType::Oid => build!(UInt32Builder::with_capacity(len), Datum::Oid),
        SqlType::Numeric { precision, scale } => {
            let b = Decimal128Builder::with_capacity(len)
                .with_precision_and_scale(precision.unwrap_or(38), scale as i8)
                .expect("catalog validated numeric precision and scale");
            build!(b, Datum::Numeric)
        }
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Uuid
        | SqlType::Json
        | SqlType::Jsonb
        | SqlType::Name
        | SqlType::InternalChar => build!(StringBuilder::with_capacity(len, len * 16), Datum::Text),
        SqlType::Bytea => build!(BinaryBuilder::with_capacity(len, len * 16), Datum::Bytes),
        SqlType::Date => build!(Date32Builder::with_capacity(len), Datum::Date),
        SqlType::Time => build!(Time64MicrosecondBuilder::with_capacity(len), Datum::Time),
        SqlType::Timestamp => build!(
            TimestampMicrosecondBuilder::with_capacity(len),
            Datum::Timestamp
        ),
        SqlType::Timestamptz => {
            let b = TimestampMicrosecondBuilder::with_capacity(len).with_timezone(UTC);
            build!(b, Datum::Timestamp)
        }
        SqlType::Interval => {
            let mut b = IntervalMonthDayNanoBuilder::with_capacity(len);
            for value in values {
                match value {
                    Datum::Interval {
                        months,
                        days,
                        micros,
                    } => b.append_value(IntervalMonthDayNano::new(*months, *days, micros * 1000)),
                    Datum::Null => b.append_null(),
                    other => panic!("interval column holds {other:?}"),
                }
            }
            Arc::new(b.finish())
        }
        SqlType::Array(element) => {
            let mut offsets = Vec::with_capacity(len + 1);
            offsets.push(0i32);
            let mut items: Vec<&Datum> = Vec::new();
            let mut nulls = Vec::with_capacity(len);
            for value in values {
                match value {
                    Datum::Array(elements) => {
                        items.extend(elements.iter());
                        nulls.push(true);
                    }
                    Datum::Null => nulls.push(false),
                    other => panic!("array column holds {other:?}"),
                }
                offsets.push(i32::try_from(items.len()).expect("a batch's array elements fit i32"));
            }
            let child = datums_array(element.sql_type(), &items);
            let field = Arc::new(Field::new_list_field(arrow_type(element.sql_type()), true));
            Arc::new(ListArray::new(
                field,
                OffsetBuffer::new(offsets.into()),
                child,
                Some(NullBuffer::from(nulls)),
            ))
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
/// Zone-less timestamptz text is read in `zone` (an Arrow zone label, the
/// session's TimeZone).
pub fn coerce_column(array: &ArrayRef, sql_type: SqlType, zone: &str) -> EngineResult<Vec<Datum>> {
    let len = array.len();
    // A NullArray reports no nulls through `is_null`; every value is NULL.
    if *array.data_type() == DataType::Null {
        return Ok(vec![Datum::Null; len]);
    }
    match sql_type {
        SqlType::Array(element) => coerce_array(array, element, zone),
        SqlType::Interval => coerce_interval(array),
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Uuid
        | SqlType::Json
        | SqlType::Jsonb
        | SqlType::Name
        | SqlType::InternalChar => {
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
            let target = match sql_type {
                SqlType::Timestamptz => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into()))
                }
                other => arrow_type(other),
            };
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
            if source_is_string {
                if let Some(values) = coerce_specials(array, sql_type, zone)? {
                    return Ok(values);
                }
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
                            return Err(if source_is_string && is_datetime(sql_type) {
                                invalid_datetime(sql_type, text.trim())
                            } else if source_is_string && !looks_numeric(&text) {
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

fn is_datetime(sql_type: SqlType) -> bool {
    matches!(
        sql_type,
        SqlType::Date | SqlType::Time | SqlType::Timestamp | SqlType::Timestamptz
    )
}

/// Bad date/time text is 22007 in PostgreSQL, not 22P02.
fn invalid_datetime(sql_type: SqlType, value: &str) -> EngineError {
    match invalid_text(sql_type, value) {
        EngineError::InvalidTextRepresentation(message) => {
            EngineError::InvalidDatetimeFormat(message)
        }
        other => other,
    }
}

/// Text with spellings Arrow's cast cannot read (`infinity`, `NaN`,
/// `… BC`): coerced row by row, the rest through the ordinary cast.
/// `None` when the column has none of them.
fn coerce_specials(
    array: &ArrayRef,
    sql_type: SqlType,
    zone: &str,
) -> EngineResult<Option<Vec<Datum>>> {
    if !matches!(
        sql_type,
        SqlType::Numeric { .. } | SqlType::Date | SqlType::Timestamp | SqlType::Timestamptz
    ) {
        return Ok(None);
    }
    let texts: Vec<Option<String>> = (0..array.len())
        .map(|i| text_of(array.as_ref(), i))
        .collect();
    let specials: Vec<Option<Datum>> = texts
        .iter()
        .map(|text| match text {
            None => Ok(None),
            Some(text) => match super::datetime::special_value(sql_type, text, zone) {
                None => Ok(None),
                // A numeric with a declared precision has no room for
                // infinity (PostgreSQL: 22003); NaN it can hold.
                Some(Ok(Datum::Numeric(NUMERIC_INFINITY | NUMERIC_NEG_INFINITY)))
                    if matches!(
                        sql_type,
                        SqlType::Numeric {
                            precision: Some(_),
                            ..
                        }
                    ) =>
                {
                    Err(out_of_range(sql_type))
                }
                Some(Ok(datum)) => Ok(Some(datum)),
                Some(Err(())) => Err(if is_datetime(sql_type) {
                    invalid_datetime(sql_type, text.trim())
                } else {
                    invalid_text(sql_type, text.trim())
                }),
            },
        })
        .collect::<EngineResult<_>>()?;
    if specials.iter().all(Option::is_none) {
        return Ok(None);
    }
    let rest: ArrayRef = Arc::new(StringArray::from_iter(texts.iter().zip(&specials).map(
        |(text, special)| {
            if special.is_some() {
                None
            } else {
                text.clone()
            }
        },
    )));
    let mut values = coerce_column(&rest, sql_type, zone)?;
    for (value, special) in values.iter_mut().zip(specials) {
        if let Some(datum) = special {
            *value = datum;
        }
    }
    Ok(Some(values))
}

/// Arrays from DataFusion lists (`ARRAY[…]`, `array_agg`) or from literal
/// text (`'{1,2,NULL}'`); each element gets its type's input rules.
fn coerce_array(array: &ArrayRef, element: ArrayElement, zone: &str) -> EngineResult<Vec<Datum>> {
    let element_type = element.sql_type();
    if let Some(list) = array.as_any().downcast_ref::<ListArray>() {
        return coerce_lists(list, element_type, zone);
    }
    if let Some(list) = array.as_any().downcast_ref::<LargeListArray>() {
        return coerce_lists(list, element_type, zone);
    }
    if !is_string(array.data_type()) {
        return Err(EngineError::Datatype(format!(
            "column is of type {} but expression is of type {}",
            SqlType::Array(element).pg_name(),
            oid_type_name(array.data_type())
        )));
    }
    (0..array.len())
        .map(|i| match text_of(array.as_ref(), i) {
            None => Ok(Datum::Null),
            Some(text) => {
                let items = super::array::parse_array_literal(&text)?;
                let items: ArrayRef = Arc::new(StringArray::from(items));
                coerce_column(&items, element_type, zone).map(Datum::Array)
            }
        })
        .collect()
}

/// Each list of `lists` coerced element by element into an array datum.
fn coerce_lists<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    element_type: SqlType,
    zone: &str,
) -> EngineResult<Vec<Datum>> {
    (0..lists.len())
        .map(|i| {
            if lists.is_null(i) {
                Ok(Datum::Null)
            } else {
                coerce_column(&lists.value(i), element_type, zone).map(Datum::Array)
            }
        })
        .collect()
}

/// A short PostgreSQL-ish name for an Arrow type in error messages.
fn oid_type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "boolean",
        DataType::Binary | DataType::LargeBinary => "bytea",
        DataType::List(_) | DataType::LargeList(_) => "array",
        dt if dt.is_integer() => "integer",
        dt if dt.is_floating() => "double precision",
        _ => "unknown",
    }
}

/// Intervals from text (PostgreSQL's input forms) or from DataFusion's
/// interval and duration values (`now() - created_at`).
fn coerce_interval(array: &ArrayRef) -> EngineResult<Vec<Datum>> {
    let interval = |months: i32, days: i32, micros: i64| Datum::Interval {
        months,
        days,
        micros,
    };
    if is_string(array.data_type()) {
        return (0..array.len())
            .map(|i| match text_of(array.as_ref(), i) {
                None => Ok(Datum::Null),
                Some(text) => super::interval::parse_interval(&text)
                    .map(|v| interval(v.months, v.days, v.micros)),
            })
            .collect();
    }
    let target = DataType::Interval(IntervalUnit::MonthDayNano);
    let source = match array.data_type() {
        DataType::Duration(_) => cast_with_options(
            &cast_with_options(
                array,
                &DataType::Duration(TimeUnit::Microsecond),
                &CastOptions::default(),
            )?,
            &DataType::Int64,
            &CastOptions::default(),
        )?,
        DataType::Interval(_) => cast_with_options(array, &target, &CastOptions::default())?,
        other => {
            return Err(EngineError::Datatype(format!(
                "column is of type interval but expression is of type {}",
                oid_type_name(other)
            )))
        }
    };
    if let Some(micros) = source.as_any().downcast_ref::<Int64Array>() {
        return Ok((0..micros.len())
            .map(|i| {
                if micros.is_null(i) {
                    Datum::Null
                } else {
                    interval(0, 0, micros.value(i))
                }
            })
            .collect());
    }
    let values = source
        .as_any()
        .downcast_ref::<IntervalMonthDayNanoArray>()
        .expect("cast produced month-day-nano intervals");
    Ok((0..values.len())
        .map(|i| {
            if values.is_null(i) {
                Datum::Null
            } else {
                let v = values.value(i);
                interval(v.months, v.days, v.nanoseconds.div_euclid(1000))
            }
        })
        .collect())
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
        SqlType::Oid => take!(UInt32Array, Datum::Oid),
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
    if let Some(special) = super::datetime::numeric_special_text(value) {
        return special.into();
    }
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
        SqlType::Name => {
            // PostgreSQL truncates names to NAMEDATALEN - 1 = 63 bytes.
            let mut end = text.len().min(63);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            Ok(text[..end].to_string())
        }
        // `"char"` keeps the first byte; an ASCII character here.
        SqlType::InternalChar => Ok(text.chars().next().map(String::from).unwrap_or_default()),
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
        let error = coerce_column(&array, SqlType::Int4, UTC).unwrap_err();
        assert_eq!(error.sqlstate(), "22P02");
        assert_eq!(
            error.to_string(),
            "invalid input syntax for type integer: \"abc\""
        );
    }

    #[test]
    fn narrowing_overflow_is_out_of_range() {
        let array: ArrayRef = Arc::new(Int64Array::from(vec![1, 3_000_000_000]));
        let error = coerce_column(&array, SqlType::Int4, UTC).unwrap_err();
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
                coerce_column(&array, sql_type, UTC).unwrap(),
                vec![Datum::Null, Datum::Null]
            );
        }
    }

    #[test]
    fn char_pads_and_varchar_limits() {
        let array: ArrayRef = Arc::new(StringArray::from(vec!["ab"]));
        assert_eq!(
            coerce_column(&array, SqlType::Char(4), UTC).unwrap(),
            vec![Datum::Text("ab  ".into())]
        );
        let long: ArrayRef = Arc::new(StringArray::from(vec!["abcdef"]));
        assert_eq!(
            coerce_column(&long, SqlType::Varchar(Some(3)), UTC)
                .unwrap_err()
                .sqlstate(),
            "22001"
        );
    }

    #[test]
    fn jsonb_is_canonicalized_and_json_kept_verbatim() {
        let array: ArrayRef = Arc::new(StringArray::from(vec![r#"{"bb":1,"a":[1,2]}"#]));
        assert_eq!(
            coerce_column(&array, SqlType::Jsonb, UTC).unwrap(),
            vec![Datum::Text(r#"{"a": [1, 2], "bb": 1}"#.into())]
        );
        assert_eq!(
            coerce_column(&array, SqlType::Json, UTC).unwrap(),
            vec![Datum::Text(r#"{"bb":1,"a":[1,2]}"#.into())]
        );
    }

    #[test]
    fn bytea_accepts_hex_and_escape_input() {
        assert_eq!(parse_bytea("\\x00ff").unwrap(), vec![0, 255]);
        assert_eq!(parse_bytea("a\\\\b\\001").unwrap(), b"a\\b\x01".to_vec());
    }
}
