//! Values as the kernel stores and logs them, and primary-key encoding.
//!
//! A [`Datum`] is the smallest thing that can represent every supported
//! PostgreSQL type losslessly; Arrow arrays are built from rows of them when
//! a table is scanned. Types that PostgreSQL distinguishes only by their text
//! rules (`varchar`, `char`, `uuid`, `json`) are stored as `Text` already
//! normalized (padded, lower-cased, validated) by the write path.
//!
//! Keys are *memcomparable*: the byte order of an encoded key is the order of
//! the values, so the projection's `BTreeMap<Vec<u8>, _>` iterates rows in
//! primary-key order and a future range scan is a byte-range scan.

use serde::{Deserialize, Serialize};

/// One value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Datum {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    /// A numeric scaled by its column's scale.
    Numeric(i128),
    Text(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00 (UTC for timestamptz).
    Timestamp(i64),
    /// Microseconds since midnight (`time`). New variants go last: the
    /// log stores the variant's position.
    Time(i64),
    /// `interval`: its three fields, as PostgreSQL keeps them.
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    /// `oid`.
    Oid(u32),
    /// A one-dimensional array; elements are datums of the element type
    /// or `Null`.
    Array(Vec<Datum>),
}

/// `numeric` NaN, stored out of every declared precision's range so that it
/// sorts above all numbers and equals itself, as in PostgreSQL.
pub const NUMERIC_NAN: i128 = i128::MAX;
/// `numeric` Infinity: above every number, below NaN.
pub const NUMERIC_INFINITY: i128 = i128::MAX - 1;
/// `numeric` -Infinity: below every number.
pub const NUMERIC_NEG_INFINITY: i128 = i128::MIN;
/// `timestamp 'infinity'`: PostgreSQL's own representation (its binary
/// wire value too).
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;
/// `timestamp '-infinity'`.
pub const TIMESTAMP_NEG_INFINITY: i64 = i64::MIN;
/// `date 'infinity'`.
pub const DATE_INFINITY: i32 = i32::MAX;
/// `date '-infinity'`.
pub const DATE_NEG_INFINITY: i32 = i32::MIN;

/// Microseconds in PostgreSQL's interval day and month, for comparing
/// intervals as PostgreSQL does (a month counts as 30 days).
const MICROS_PER_DAY: i128 = 86_400_000_000;

/// An interval's span in microseconds, PostgreSQL's comparison key:
/// `'1 mon' = '30 days'`.
pub fn interval_span(months: i32, days: i32, micros: i64) -> i128 {
    (i128::from(months) * 30 + i128::from(days)) * MICROS_PER_DAY + i128::from(micros)
}

/// A row: one datum per column, in the table's column order.
pub type Row = Vec<Datum>;

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// Whether this datum can be a stored value of a column of type `t`
    /// (NULL fits every type). The kernel checks every written row this
    /// way, so a write planned against a table's old definition cannot
    /// land after ALTER TABLE changed it.
    pub fn fits(&self, t: kimberlite_catalog::SqlType) -> bool {
        use kimberlite_catalog::{ArrayElement as E, SqlType as T};
        match self {
            Datum::Null => true,
            Datum::Bool(_) => t == T::Bool,
            Datum::Int2(_) => t == T::Int2,
            Datum::Int4(_) => t == T::Int4,
            Datum::Int8(_) => t == T::Int8,
            Datum::Float4(_) => t == T::Float4,
            Datum::Float8(_) => t == T::Float8,
            Datum::Numeric(_) => matches!(t, T::Numeric { .. }),
            Datum::Text(_) => matches!(
                t,
                T::Text
                    | T::Varchar(_)
                    | T::Char(_)
                    | T::Uuid
                    | T::Json
                    | T::Jsonb
                    | T::Name
                    | T::InternalChar
            ),
            Datum::Bytes(_) => t == T::Bytea,
            Datum::Date(_) => t == T::Date,
            Datum::Timestamp(_) => matches!(t, T::Timestamp | T::Timestamptz),
            Datum::Time(_) => t == T::Time,
            Datum::Interval { .. } => t == T::Interval,
            Datum::Oid(_) => t == T::Oid,
            Datum::Array(items) => {
                let T::Array(element) = t else {
                    return false;
                };
                let element = match element {
                    E::Bool => T::Bool,
                    E::Int2 => T::Int2,
                    E::Int4 => T::Int4,
                    E::Int8 => T::Int8,
                    E::Float8 => T::Float8,
                    E::Text => T::Text,
                    E::Uuid => T::Uuid,
                };
                items.iter().all(|item| item.fits(element))
            }
        }
    }
}

/// Tag byte that starts a row-id key (tables without a primary key).
const ROW_ID_TAG: u8 = 0xFE;

/// Encodes a hidden row id as a key.
pub fn row_id_key(row_id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(ROW_ID_TAG);
    key.extend_from_slice(&row_id.to_be_bytes());
    key
}

/// Decodes a row id key, if it is one.
pub fn decode_row_id_key(key: &[u8]) -> Option<u64> {
    if key.len() == 9 && key[0] == ROW_ID_TAG {
        Some(u64::from_be_bytes(key[1..].try_into().ok()?))
    } else {
        None
    }
}

/// Encodes primary-key values so that byte order equals value order.
///
/// Panics on `Datum::Null`: primary-key columns are NOT NULL, which the
/// write path checks before encoding.
pub fn encode_key<'a>(values: impl IntoIterator<Item = &'a Datum>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    for value in values {
        encode_key_part(value, &mut out);
    }
    out
}

fn encode_key_part(value: &Datum, out: &mut Vec<u8>) {
    match value {
        Datum::Null => panic!("primary-key value must not be NULL"),
        Datum::Bool(b) => out.push(*b as u8),
        Datum::Int2(v) => out.extend_from_slice(&((*v as u16) ^ 0x8000).to_be_bytes()),
        Datum::Int4(v) | Datum::Date(v) => {
            out.extend_from_slice(&((*v as u32) ^ 0x8000_0000).to_be_bytes())
        }
        Datum::Int8(v) | Datum::Timestamp(v) | Datum::Time(v) => {
            out.extend_from_slice(&((*v as u64) ^ (1 << 63)).to_be_bytes())
        }
        Datum::Numeric(v) => out.extend_from_slice(&((*v as u128) ^ (1 << 127)).to_be_bytes()),
        Datum::Float4(v) => {
            let bits = v.to_bits();
            let ordered = if bits >> 31 == 1 {
                !bits
            } else {
                bits | (1 << 31)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Datum::Float8(v) => {
            let bits = v.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Datum::Text(s) => encode_bytes(s.as_bytes(), out),
        Datum::Bytes(b) => encode_bytes(b, out),
        Datum::Interval {
            months,
            days,
            micros,
        } => {
            let span = interval_span(*months, *days, *micros);
            out.extend_from_slice(&((span as u128) ^ (1 << 127)).to_be_bytes());
        }
        Datum::Oid(v) => out.extend_from_slice(&v.to_be_bytes()),
        Datum::Array(items) => {
            // Element by element, then a terminator that sorts first, so a
            // prefix sorts before its extensions; NULL elements sort last,
            // as in PostgreSQL.
            for item in items {
                if item.is_null() {
                    out.push(2);
                } else {
                    out.push(1);
                    encode_key_part(item, out);
                }
            }
            out.push(0);
        }
    }
}

/// Byte strings: 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x00, so a
/// prefix sorts before its extensions and no encoding is a prefix of another.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(d: Datum) -> Vec<u8> {
        encode_key([&d])
    }

    #[test]
    fn integer_keys_sort_as_numbers() {
        let values = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<_> = values.iter().map(|v| key(Datum::Int8(*v))).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn float_keys_sort_as_numbers() {
        let values = [f64::NEG_INFINITY, -2.5, -0.0, 0.5, 3.0, f64::INFINITY];
        let keys: Vec<_> = values.iter().map(|v| key(Datum::Float8(*v))).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn text_prefix_sorts_first_and_composite_keys_do_not_collide() {
        assert!(key(Datum::Text("ab".into())) < key(Datum::Text("abc".into())));
        let a = encode_key([&Datum::Text("a".into()), &Datum::Text("bc".into())]);
        let b = encode_key([&Datum::Text("ab".into()), &Datum::Text("c".into())]);
        assert_ne!(a, b);
        assert!(key(Datum::Text("a\0".into())) > key(Datum::Text("a".into())));
    }

    #[test]
    fn intervals_compare_by_span_and_arrays_elementwise() {
        let iv = |months, days, micros| {
            key(Datum::Interval {
                months,
                days,
                micros,
            })
        };
        assert_eq!(iv(1, 0, 0), iv(0, 30, 0), "'1 mon' = '30 days'");
        assert!(iv(0, 1, 0) > iv(0, 0, 86_399_999_999));
        assert!(iv(-1, 0, 0) < iv(0, 0, 0));
        let array = |items: Vec<Datum>| key(Datum::Array(items));
        assert!(array(vec![Datum::Int4(1)]) < array(vec![Datum::Int4(1), Datum::Int4(0)]));
        assert!(array(vec![Datum::Int4(2)]) > array(vec![Datum::Int4(1), Datum::Int4(9)]));
        assert!(array(vec![Datum::Null]) > array(vec![Datum::Int4(i32::MAX)]));
    }

    #[test]
    fn special_values_sort_where_postgresql_puts_them() {
        assert!(key(Datum::Numeric(NUMERIC_NAN)) > key(Datum::Numeric(NUMERIC_INFINITY)));
        assert!(key(Datum::Numeric(NUMERIC_INFINITY)) > key(Datum::Numeric(10i128.pow(37))));
        assert!(key(Datum::Numeric(NUMERIC_NEG_INFINITY)) < key(Datum::Numeric(-(10i128.pow(37)))));
        assert!(key(Datum::Timestamp(TIMESTAMP_INFINITY)) > key(Datum::Timestamp(0)));
        assert!(key(Datum::Date(DATE_NEG_INFINITY)) < key(Datum::Date(-1_000_000)));
    }

    #[test]
    fn row_id_keys_round_trip() {
        assert_eq!(decode_row_id_key(&row_id_key(42)), Some(42));
        assert_eq!(decode_row_id_key(&key(Datum::Int4(1))), None);
    }
}
