//! Arrow values to PostgreSQL wire values, text and binary.
//!
//! The OID we advertise for a column decides its binary layout, so the two
//! are chosen together: [`wire_oid`] only returns OIDs whose binary encoding
//! [`encode_binary`] implements, and falls back to `text` (whose binary form
//! is its UTF-8 text) for everything else.
//!
//! Text output follows PostgreSQL 15 with `DateStyle=ISO, MDY`,
//! `TimeZone=UTC` and `extra_float_digits=1`: shortest round-trip floats,
//! `t`/`f` booleans, `\x` hex bytea, numerics with exactly their scale.

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use kimberlite_engine::datum::{
    DATE_INFINITY, DATE_NEG_INFINITY, NUMERIC_INFINITY, NUMERIC_NAN, NUMERIC_NEG_INFINITY,
    TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY,
};
use kimberlite_engine::sql::array::array_text;
use kimberlite_engine::sql::convert::format_decimal;
use kimberlite_engine::sql::datetime::{self, format_date_styled, format_timestamp_styled};
use kimberlite_engine::sql::interval::{interval_text_styled, Interval};
use kimberlite_engine::sql::params::oid_for_field;
use kimberlite_engine::sql::types::{META_OID, META_TYPMOD};
use kimberlite_engine::sql::OutputStyle;
use pgwire::api::results::FieldFormat;
use pgwire::types::format::FormatOptions as PgFormatOptions;
use pgwire::types::ToSqlText;
use postgres_types::{IsNull, ToSql, Type};

/// OIDs with a binary encoding here.
const BINARY_OIDS: &[u32] = &[
    16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 700, 701, 1000, 1005, 1007, 1009, 1016, 1021, 1022,
    1042, 1043, 1082, 1083, 1114, 1184, 1186, 1231, 1700, 2278, 2950, 2951, 3802,
];

/// The element OID of an array OID (from [`oid_for_field`]'s set).
fn element_oid(array_oid: u32) -> u32 {
    match array_oid {
        1000 => 16,
        1005 => 21,
        1007 => 23,
        1016 => 20,
        1021 => 700,
        1022 => 701,
        1231 => 1700,
        2951 => 2950,
        _ => 25,
    }
}

/// Days from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
const PG_EPOCH_DAYS: i64 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// The OID advertised for a result field.
pub fn wire_oid(field: &Field) -> u32 {
    let oid = oid_for_field(field);
    if BINARY_OIDS.contains(&oid) {
        oid
    } else {
        25
    }
}

/// The type modifier advertised for a result field.
pub fn wire_typmod(field: &Field) -> i32 {
    field
        .metadata()
        .get(META_TYPMOD)
        .and_then(|t| t.parse().ok())
        .unwrap_or(-1)
}

/// Whether numerics of this field print with trimmed trailing zeros
/// (unconstrained `numeric` columns keep the scale the value was written
/// with in PostgreSQL; we store a fixed scale and trim instead).
fn numeric_trims(field: &Field) -> bool {
    field
        .metadata()
        .get(META_OID)
        .map(|o| o == "1700")
        .unwrap_or(false)
        && wire_typmod(field) == -1
}

/// An already-encoded value written verbatim by pgwire's row encoder.
#[derive(Debug)]
pub struct RawCell(pub Option<Vec<u8>>);

impl ToSql for RawCell {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(bytes) => {
                out.put_slice(bytes);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

impl ToSqlText for RawCell {
    fn to_sql_text(
        &self,
        ty: &Type,
        out: &mut BytesMut,
        _format_options: &PgFormatOptions,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_sql(ty, out)
    }
}

/// Encodes one value of a column.
pub fn encode(
    array: &ArrayRef,
    row: usize,
    field: &Field,
    format: FieldFormat,
    style: &OutputStyle,
) -> RawCell {
    if *array.data_type() == DataType::Null || array.is_null(row) {
        return RawCell(None);
    }
    let oid = wire_oid(field);
    RawCell(Some(match format {
        FieldFormat::Text => encode_text(array, row, field, style).into_bytes(),
        FieldFormat::Binary => encode_binary(array, row, field, oid),
    }))
}

fn as_i64(array: &ArrayRef, row: usize) -> Option<i64> {
    let any = array.as_any();
    Some(match array.data_type() {
        DataType::Int8 => any.downcast_ref::<Int8Array>()?.value(row) as i64,
        DataType::Int16 => any.downcast_ref::<Int16Array>()?.value(row) as i64,
        DataType::Int32 => any.downcast_ref::<Int32Array>()?.value(row) as i64,
        DataType::Int64 => any.downcast_ref::<Int64Array>()?.value(row),
        DataType::UInt8 => any.downcast_ref::<UInt8Array>()?.value(row) as i64,
        DataType::UInt16 => any.downcast_ref::<UInt16Array>()?.value(row) as i64,
        DataType::UInt32 => any.downcast_ref::<UInt32Array>()?.value(row) as i64,
        DataType::UInt64 => any.downcast_ref::<UInt64Array>()?.value(row) as i64,
        _ => return None,
    })
}

fn as_f64(array: &ArrayRef, row: usize) -> Option<f64> {
    let any = array.as_any();
    match array.data_type() {
        DataType::Float16 => Some(any.downcast_ref::<Float16Array>()?.value(row).to_f64()),
        DataType::Float32 => Some(any.downcast_ref::<Float32Array>()?.value(row) as f64),
        DataType::Float64 => Some(any.downcast_ref::<Float64Array>()?.value(row)),
        _ => as_i64(array, row).map(|v| v as f64),
    }
}

/// Microseconds since 1970 of a timestamp array value, any unit.
fn timestamp_micros(array: &ArrayRef, row: usize) -> Option<i64> {
    let any = array.as_any();
    Some(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            any.downcast_ref::<TimestampSecondArray>()?.value(row) * 1_000_000
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            any.downcast_ref::<TimestampMillisecondArray>()?.value(row) * 1_000
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            any.downcast_ref::<TimestampMicrosecondArray>()?.value(row)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => any
            .downcast_ref::<TimestampNanosecondArray>()?
            .value(row)
            .div_euclid(1_000),
        _ => return None,
    })
}

fn time_micros(array: &ArrayRef, row: usize) -> Option<i64> {
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<Time64MicrosecondArray>() {
        return Some(a.value(row));
    }
    if let Some(a) = any.downcast_ref::<Time64NanosecondArray>() {
        return Some(a.value(row) / 1000);
    }
    if let Some(a) = any.downcast_ref::<Time32SecondArray>() {
        return Some(i64::from(a.value(row)) * 1_000_000);
    }
    any.downcast_ref::<Time32MillisecondArray>()
        .map(|a| i64::from(a.value(row)) * 1000)
}

fn date_days(array: &ArrayRef, row: usize) -> Option<i64> {
    let any = array.as_any();
    match array.data_type() {
        DataType::Date32 => Some(any.downcast_ref::<Date32Array>()?.value(row) as i64),
        DataType::Date64 => Some(
            any.downcast_ref::<Date64Array>()?
                .value(row)
                .div_euclid(86_400_000),
        ),
        _ => None,
    }
}

fn string_value(array: &ArrayRef, row: usize) -> Option<&str> {
    let any = array.as_any();
    match array.data_type() {
        DataType::Utf8 => Some(any.downcast_ref::<StringArray>()?.value(row)),
        DataType::LargeUtf8 => Some(any.downcast_ref::<LargeStringArray>()?.value(row)),
        DataType::Utf8View => Some(any.downcast_ref::<StringViewArray>()?.value(row)),
        _ => None,
    }
}

fn binary_value(array: &ArrayRef, row: usize) -> Option<&[u8]> {
    let any = array.as_any();
    match array.data_type() {
        DataType::Binary => Some(any.downcast_ref::<BinaryArray>()?.value(row)),
        DataType::LargeBinary => Some(any.downcast_ref::<LargeBinaryArray>()?.value(row)),
        DataType::BinaryView => Some(any.downcast_ref::<BinaryViewArray>()?.value(row)),
        DataType::FixedSizeBinary(_) => {
            Some(any.downcast_ref::<FixedSizeBinaryArray>()?.value(row))
        }
        _ => None,
    }
}

fn decimal_value(array: &ArrayRef, row: usize) -> Option<(i128, i8)> {
    match array.data_type() {
        DataType::Decimal128(_, scale) => Some((
            array.as_any().downcast_ref::<Decimal128Array>()?.value(row),
            *scale,
        )),
        _ => None,
    }
}

/// PostgreSQL's float output with `extra_float_digits = 1`: the shortest
/// text that round-trips, fixed notation for decimal exponents in
/// `[-4, precision)`, otherwise `1e+21` style.
pub fn format_float(value: f64, precision_digits: i32) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let scientific = if precision_digits <= 6 {
        format!("{:e}", value as f32)
    } else {
        format!("{value:e}")
    };
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent is an integer");
    if (-4..precision_digits).contains(&exponent) {
        if precision_digits <= 6 {
            format!("{}", value as f32)
        } else {
            format!("{value}")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// `%.{digits}g`: PostgreSQL's float output when `extra_float_digits <= 0`.
pub fn format_float_digits(value: f64, digits: i32) -> String {
    if !value.is_finite() {
        return format_float(value, 15);
    }
    let digits = digits.max(1) as usize;
    let scientific = format!("{:.*e}", digits - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("exponent is an integer");
    let trim = |text: String| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    if exponent < -4 || exponent >= digits as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa.to_string()), exponent.abs())
    } else {
        let decimals = (digits as i32 - 1 - exponent).max(0) as usize;
        trim(format!("{value:.decimals$}"))
    }
}

/// bytea_output = escape: printable ASCII as is, `\\` for a backslash,
/// `\ooo` for every other byte.
fn bytea_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out
}

/// The elements of one list value and their field.
fn list_value(array: &ArrayRef, row: usize) -> Option<(ArrayRef, Field)> {
    let any = array.as_any();
    if let Some(list) = any.downcast_ref::<ListArray>() {
        let DataType::List(field) = list.data_type() else {
            return None;
        };
        return Some((list.value(row), field.as_ref().clone()));
    }
    let list = any.downcast_ref::<LargeListArray>()?;
    let DataType::LargeList(field) = list.data_type() else {
        return None;
    };
    Some((list.value(row), field.as_ref().clone()))
}

/// An interval or duration value as PostgreSQL's three fields.
fn interval_value(array: &ArrayRef, row: usize) -> Option<Interval> {
    let any = array.as_any();
    if let Some(a) = any.downcast_ref::<IntervalMonthDayNanoArray>() {
        let v = a.value(row);
        return Some(Interval {
            months: v.months,
            days: v.days,
            micros: v.nanoseconds.div_euclid(1000),
        });
    }
    if let Some(a) = any.downcast_ref::<IntervalDayTimeArray>() {
        let v = a.value(row);
        return Some(Interval {
            months: 0,
            days: v.days,
            micros: i64::from(v.milliseconds) * 1000,
        });
    }
    if let Some(a) = any.downcast_ref::<IntervalYearMonthArray>() {
        return Some(Interval {
            months: a.value(row),
            days: 0,
            micros: 0,
        });
    }
    let micros = match array.data_type() {
        DataType::Duration(TimeUnit::Second) => {
            any.downcast_ref::<DurationSecondArray>()?.value(row) * 1_000_000
        }
        DataType::Duration(TimeUnit::Millisecond) => {
            any.downcast_ref::<DurationMillisecondArray>()?.value(row) * 1000
        }
        DataType::Duration(TimeUnit::Microsecond) => {
            any.downcast_ref::<DurationMicrosecondArray>()?.value(row)
        }
        DataType::Duration(TimeUnit::Nanosecond) => any
            .downcast_ref::<DurationNanosecondArray>()?
            .value(row)
            .div_euclid(1000),
        _ => return None,
    };
    Some(Interval {
        months: 0,
        days: 0,
        micros,
    })
}

/// PostgreSQL's binary array: one dimension (none when empty), lower bound 1.
fn array_binary(array: &ArrayRef, row: usize, array_oid: u32) -> Vec<u8> {
    let element = element_oid(array_oid);
    let Some((items, item_field)) = list_value(array, row) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(20 + items.len() * 8);
    let ndim: i32 = if items.is_empty() { 0 } else { 1 };
    out.extend_from_slice(&ndim.to_be_bytes());
    out.extend_from_slice(&i32::from(items.null_count() > 0).to_be_bytes());
    out.extend_from_slice(&element.to_be_bytes());
    if ndim == 1 {
        out.extend_from_slice(&(items.len() as i32).to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for i in 0..items.len() {
        if items.is_null(i) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let value = encode_binary(&items, i, &item_field, element);
        out.extend_from_slice(&(value.len() as i32).to_be_bytes());
        out.extend_from_slice(&value);
    }
    out
}

fn generic_text(array: &ArrayRef, row: usize) -> String {
    ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
        .map(|f| f.value(row).to_string())
        .unwrap_or_default()
}

/// Text form of one value.
pub fn encode_text(array: &ArrayRef, row: usize, field: &Field, style: &OutputStyle) -> String {
    let float = |value: f64, digits: i32| {
        if style.extra_float_digits > 0 {
            format_float(value, digits)
        } else {
            format_float_digits(value, digits + style.extra_float_digits)
        }
    };
    match array.data_type() {
        DataType::Boolean => {
            let value = array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .expect("boolean")
                .value(row);
            if value { "t" } else { "f" }.into()
        }
        DataType::Float16 | DataType::Float32 => float(as_f64(array, row).unwrap_or_default(), 6),
        DataType::Float64 => float(as_f64(array, row).unwrap_or_default(), 15),
        DataType::Decimal128(..) => {
            let (value, scale) = decimal_value(array, row).expect("decimal");
            format_decimal(value, scale, numeric_trims(field))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            string_value(array, row).unwrap_or_default().to_string()
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => {
            let bytes = binary_value(array, row).unwrap_or_default();
            if style.bytea_hex {
                format!("\\x{}", hex::encode(bytes))
            } else {
                bytea_escape(bytes)
            }
        }
        DataType::Date32 | DataType::Date64 => {
            format_date_styled(date_days(array, row).unwrap_or_default(), style.date_style)
        }
        DataType::Time64(_) | DataType::Time32(_) => {
            kimberlite_engine::sql::convert::time_text(time_micros(array, row).unwrap_or_default())
        }
        DataType::Timestamp(_, zone) => format_timestamp_styled(
            timestamp_micros(array, row).unwrap_or_default(),
            zone.is_some().then_some(style.time_zone),
            style.date_style,
        ),
        DataType::List(_) | DataType::LargeList(_) => {
            let Some((items, item_field)) = list_value(array, row) else {
                return generic_text(array, row);
            };
            // int2vector and oidvector (pg_index.indkey) print as
            // space-separated numbers.
            let vector = field
                .metadata()
                .get(META_OID)
                .is_some_and(|o| o == "22" || o == "30");
            if vector {
                return (0..items.len())
                    .map(|i| encode_text(&items, i, &item_field, style))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            array_text(
                (0..items.len()).map(|i| {
                    (!items.is_null(i)).then(|| encode_text(&items, i, &item_field, style))
                }),
            )
        }
        DataType::Interval(_) | DataType::Duration(_) => interval_text_styled(
            interval_value(array, row).unwrap_or_default(),
            style.interval_style,
        ),
        dt if dt.is_integer() => as_i64(array, row).unwrap_or_default().to_string(),
        _ => generic_text(array, row),
    }
}

/// PostgreSQL's binary numeric: base-10000 digits, weight, sign, dscale.
pub fn numeric_binary(value: i128, scale: i8) -> Vec<u8> {
    // Sign word and dscale as PostgreSQL 15's numeric_send writes them
    // (it reports dscale 32 for the infinities).
    let special: Option<(u16, u16)> = match value {
        NUMERIC_NAN => Some((0xC000, 0)),
        NUMERIC_INFINITY => Some((0xD000, 32)),
        NUMERIC_NEG_INFINITY => Some((0xF000, 32)),
        _ => None,
    };
    if let Some((sign, dscale)) = special {
        let mut out = vec![0, 0, 0, 0];
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        return out;
    }
    let scale = scale.max(0) as usize;
    let digits = value.unsigned_abs().to_string();
    let (int_part, frac_part) = if digits.len() > scale {
        (
            digits[..digits.len() - scale].to_string(),
            digits[digits.len() - scale..].to_string(),
        )
    } else {
        (
            "0".to_string(),
            format!("{}{}", "0".repeat(scale - digits.len()), digits),
        )
    };
    let int_padded = format!("{}{}", "0".repeat((4 - int_part.len() % 4) % 4), int_part);
    let frac_padded = format!("{}{}", frac_part, "0".repeat((4 - frac_part.len() % 4) % 4));
    let mut groups: Vec<i16> = int_padded
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
        .collect();
    let int_groups = groups.len() as i16;
    groups.extend(
        frac_padded
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse::<i16>().unwrap()),
    );
    let mut weight = int_groups - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign: u16 = if value < 0 && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as i16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

/// Binary form of one value under `oid`.
pub fn encode_binary(array: &ArrayRef, row: usize, field: &Field, oid: u32) -> Vec<u8> {
    match oid {
        16 => vec![array
            .as_any()
            .downcast_ref::<BooleanArray>()
            .map(|a| a.value(row) as u8)
            .unwrap_or(0)],
        21 => (as_i64(array, row).unwrap_or_default() as i16)
            .to_be_bytes()
            .to_vec(),
        23 => (as_i64(array, row).unwrap_or_default() as i32)
            .to_be_bytes()
            .to_vec(),
        20 => as_i64(array, row)
            .unwrap_or_default()
            .to_be_bytes()
            .to_vec(),
        700 => (as_f64(array, row).unwrap_or_default() as f32)
            .to_be_bytes()
            .to_vec(),
        701 => as_f64(array, row)
            .unwrap_or_default()
            .to_be_bytes()
            .to_vec(),
        1700 => match decimal_value(array, row) {
            Some((value, scale)) if numeric_trims(field) => {
                // Unconstrained numeric: the digits written, as the text
                // form shows them (we store a fixed scale).
                let (mut value, mut scale) = (value, scale);
                while scale > 0
                    && value % 10 == 0
                    && datetime::numeric_special_text(value).is_none()
                {
                    value /= 10;
                    scale -= 1;
                }
                numeric_binary(value, scale)
            }
            Some((value, scale)) => numeric_binary(value, scale),
            None => numeric_binary(as_i64(array, row).unwrap_or_default() as i128, 0),
        },
        17 => binary_value(array, row).unwrap_or_default().to_vec(),
        1083 => time_micros(array, row)
            .unwrap_or_default()
            .to_be_bytes()
            .to_vec(),
        1082 => match date_days(array, row).unwrap_or_default() {
            // Infinities are PostgreSQL's own sentinels, not shifted.
            days if days == i64::from(DATE_INFINITY) || days == i64::from(DATE_NEG_INFINITY) => {
                (days as i32).to_be_bytes().to_vec()
            }
            days => ((days - PG_EPOCH_DAYS) as i32).to_be_bytes().to_vec(),
        },
        1114 | 1184 => match timestamp_micros(array, row).unwrap_or_default() {
            micros @ (TIMESTAMP_INFINITY | TIMESTAMP_NEG_INFINITY) => micros.to_be_bytes().to_vec(),
            micros => (micros - PG_EPOCH_MICROS).to_be_bytes().to_vec(),
        },
        18 => string_value(array, row)
            .and_then(|s| s.bytes().next())
            .map(|b| vec![b])
            .unwrap_or_else(|| vec![0]),
        26 => (as_i64(array, row).unwrap_or_default() as u32)
            .to_be_bytes()
            .to_vec(),
        1186 => {
            let value = interval_value(array, row).unwrap_or_default();
            let mut out = Vec::with_capacity(16);
            out.extend_from_slice(&value.micros.to_be_bytes());
            out.extend_from_slice(&value.days.to_be_bytes());
            out.extend_from_slice(&value.months.to_be_bytes());
            out
        }
        1000 | 1005 | 1007 | 1009 | 1016 | 1021 | 1022 | 1231 | 2951 => {
            array_binary(array, row, oid)
        }
        2950 => uuid::Uuid::parse_str(string_value(array, row).unwrap_or_default())
            .map(|u| u.as_bytes().to_vec())
            .unwrap_or_default(),
        3802 => {
            let mut out = vec![1u8];
            out.extend_from_slice(
                encode_text(array, row, field, &OutputStyle::default()).as_bytes(),
            );
            out
        }
        _ => encode_text(array, row, field, &OutputStyle::default()).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kimberlite_engine::sql::datetime::format_timestamp;
    use std::sync::Arc;

    #[test]
    fn floats_print_like_postgresql() {
        assert_eq!(format_float(1.5, 15), "1.5");
        assert_eq!(format_float(0.1, 15), "0.1");
        assert_eq!(format_float(1e21, 15), "1e+21");
        assert_eq!(format_float(1e14, 15), "100000000000000");
        assert_eq!(format_float(1.5e-5, 15), "1.5e-05");
        assert_eq!(format_float(1_000_000.0, 6), "1e+06");
        assert_eq!(format_float(2.75, 6), "2.75");
        assert_eq!(format_float(f64::NEG_INFINITY, 15), "-Infinity");
    }

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(format_decimal(12345, 2, false), "123.45");
        assert_eq!(format_decimal(-5, 3, false), "-0.005");
        assert_eq!(format_decimal(15_000_000_000, 10, true), "1.5");
        assert_eq!(format_decimal(0, 2, false), "0.00");
    }

    #[test]
    fn numeric_binary_matches_postgresql_layout() {
        // 123.45 → ndigits 2, weight 0, sign +, dscale 2, digits [123, 4500]
        assert_eq!(
            numeric_binary(12345, 2),
            vec![0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94]
        );
        // -10000 → ndigits 1, weight 1, sign -, dscale 0, digits [1]
        assert_eq!(
            numeric_binary(-10000, 0),
            vec![0, 1, 0, 1, 0x40, 0, 0, 0, 0, 1]
        );
        assert_eq!(numeric_binary(0, 1), vec![0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn numeric_specials_have_postgresql_binary_signs() {
        assert_eq!(
            numeric_binary(NUMERIC_NAN, 2),
            vec![0, 0, 0, 0, 0xC0, 0, 0, 0]
        );
        assert_eq!(
            numeric_binary(NUMERIC_INFINITY, 0),
            vec![0, 0, 0, 0, 0xD0, 0, 0, 32]
        );
        assert_eq!(format_decimal(NUMERIC_NEG_INFINITY, 2, false), "-Infinity");
    }

    #[test]
    fn arrays_encode_in_both_formats() {
        let values: ArrayRef = Arc::new(ListArray::from_iter_primitive::<
            datafusion::arrow::datatypes::Int32Type,
            _,
            _,
        >(vec![
            Some(vec![Some(1), None, Some(3)]),
            Some(vec![]),
        ]));
        let field = Field::new("a", values.data_type().clone(), true);
        let style = OutputStyle::default();
        assert_eq!(encode_text(&values, 0, &field, &style), "{1,NULL,3}");
        assert_eq!(encode_text(&values, 1, &field, &style), "{}");
        assert_eq!(wire_oid(&field), 1007);
        let binary = encode_binary(&values, 0, &field, 1007);
        let words: Vec<i32> = binary
            .chunks(4)
            .map(|c| i32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(words, vec![1, 1, 23, 3, 1, 4, 1, -1, 4, 3]);
        assert_eq!(
            encode_binary(&values, 1, &field, 1007),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23]
        );
    }

    #[test]
    fn timestamps_trim_fractions_and_show_the_session_zone() {
        assert_eq!(format_timestamp(1_500_000, None), "1970-01-01 00:00:01.5");
        assert_eq!(
            format_timestamp(0, Some(chrono_tz::UTC)),
            "1970-01-01 00:00:00+00"
        );
        // 2024-06-01 12:00:00 UTC in three zones, as PostgreSQL prints it.
        let noon = 1_717_243_200_000_000;
        let zone = |name: &str| Some(name.parse::<chrono_tz::Tz>().unwrap());
        assert_eq!(
            format_timestamp(noon, zone("America/New_York")),
            "2024-06-01 08:00:00-04"
        );
        assert_eq!(
            format_timestamp(noon, zone("Asia/Kolkata")),
            "2024-06-01 17:30:00+05:30"
        );
        // Local mean time before 1883 has a seconds offset.
        assert_eq!(
            format_timestamp(-3_000_000_000_000_000, zone("America/New_York")),
            "1874-12-07 13:43:58-04:56:02"
        );
    }

    #[test]
    fn float_output_follows_extra_float_digits() {
        assert_eq!(format_float_digits(1.0 / 3.0, 15), "0.333333333333333");
        assert_eq!(format_float_digits(1e100 / 3.0, 15), "3.33333333333333e+99");
        assert_eq!(format_float_digits(0.1, 15), "0.1");
        assert_eq!(format_float_digits(123456.0, 3), "1.23e+05");
        assert_eq!(format_float_digits(f64::NAN, 15), "NaN");
        assert_eq!(bytea_escape(b"\x00A\\\xff"), "\\000A\\\\\\377");
    }
}
