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
}

/// A row: one datum per column, in the table's column order.
pub type Row = Vec<Datum>;

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
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
    fn row_id_keys_round_trip() {
        assert_eq!(decode_row_id_key(&row_id_key(42)), Some(42));
        assert_eq!(decode_row_id_key(&key(Datum::Int4(1))), None);
    }
}
