//! Parameter values off the wire, into the text form the engine binds.
//!
//! Text-format parameters are passed through. Binary-format parameters are
//! decoded by the type the statement declared or we inferred; a value whose
//! length does not fit its type is refused with 22P03, never guessed at.

use super::params::ParamValue;
use crate::datum::{DATE_INFINITY, DATE_NEG_INFINITY, TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY};
use crate::error::EngineError;
use chrono::DateTime;
use kimberlite_catalog::ArrayElement;

const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

fn bad(oid: u32, len: usize) -> EngineError {
    EngineError::InvalidBinaryRepresentation(format!(
        "incorrect binary data format for type oid {oid} ({len} bytes)"
    ))
}

fn fixed<const N: usize>(bytes: &[u8], oid: u32) -> Result<[u8; N], EngineError> {
    bytes.try_into().map_err(|_| bad(oid, bytes.len()))
}

/// Decodes a parameter sent in `binary` (true) or text format.
pub fn decode_param(
    bytes: Option<&[u8]>,
    oid: u32,
    binary: bool,
) -> Result<ParamValue, EngineError> {
    let Some(bytes) = bytes else {
        return Ok(ParamValue::Null);
    };
    let utf8 = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| {
            EngineError::CharacterNotInRepertoire(
                "invalid byte sequence for encoding \"UTF8\"".into(),
            )
        })
    };
    if !binary {
        return Ok(ParamValue::Text(utf8(bytes)?));
    }
    let text = match oid {
        16 => {
            if fixed::<1>(bytes, oid)?[0] != 0 {
                "t".into()
            } else {
                "f".into()
            }
        }
        21 => i16::from_be_bytes(fixed(bytes, oid)?).to_string(),
        23 => i32::from_be_bytes(fixed(bytes, oid)?).to_string(),
        20 => i64::from_be_bytes(fixed(bytes, oid)?).to_string(),
        700 => format!("{:?}", f32::from_be_bytes(fixed(bytes, oid)?)),
        701 => format!("{:?}", f64::from_be_bytes(fixed(bytes, oid)?)),
        1700 => numeric_text(bytes).ok_or_else(|| bad(oid, bytes.len()))?,
        17 => format!("\\x{}", hex::encode(bytes)),
        1082 => match i32::from_be_bytes(fixed(bytes, oid)?) {
            DATE_INFINITY => "infinity".into(),
            DATE_NEG_INFINITY => "-infinity".into(),
            days => {
                let days = i64::from(days) + PG_EPOCH_DAYS;
                // Through the formatter: years before 1 AD get their BC.
                DateTime::from_timestamp(days * 86_400, 0).ok_or_else(|| bad(oid, 4))?;
                super::datetime::format_date(days)
            }
        },
        1083 => {
            let micros = i64::from_be_bytes(fixed(bytes, oid)?);
            if !(0..=86_400_000_000).contains(&micros) {
                return Err(bad(oid, 8));
            }
            super::convert::time_text(micros)
        }
        1114 | 1184 => match i64::from_be_bytes(fixed(bytes, oid)?) {
            TIMESTAMP_INFINITY => "infinity".into(),
            TIMESTAMP_NEG_INFINITY => "-infinity".into(),
            micros => {
                let micros = micros
                    .checked_add(PG_EPOCH_MICROS)
                    .ok_or_else(|| bad(oid, 8))?;
                DateTime::from_timestamp_micros(micros).ok_or_else(|| bad(oid, 8))?;
                super::datetime::format_timestamp(micros, (oid == 1184).then_some(chrono_tz::UTC))
            }
        },
        18 => match fixed::<1>(bytes, oid)?[0] {
            0 => String::new(),
            b if b.is_ascii() => char::from(b).to_string(),
            _ => return Err(bad(oid, 1)),
        },
        26 => u32::from_be_bytes(fixed(bytes, oid)?).to_string(),
        1186 => {
            let raw: [u8; 16] = fixed(bytes, oid)?;
            super::interval::interval_text(super::interval::Interval {
                micros: i64::from_be_bytes(raw[0..8].try_into().expect("8 bytes")),
                days: i32::from_be_bytes(raw[8..12].try_into().expect("4 bytes")),
                months: i32::from_be_bytes(raw[12..16].try_into().expect("4 bytes")),
            })
        }
        2950 => uuid::Uuid::from_bytes(fixed(bytes, oid)?)
            .hyphenated()
            .to_string(),
        3802 => {
            let (version, rest) = bytes.split_first().ok_or_else(|| bad(oid, 0))?;
            if *version != 1 {
                return Err(bad(oid, bytes.len()));
            }
            utf8(rest)?
        }
        oid if ArrayElement::parameter_element_oid(oid).is_some() => array_text(bytes, oid)?,
        _ => utf8(bytes)?,
    };
    Ok(ParamValue::Text(text))
}

/// PostgreSQL's binary array (`ndim`, `has_null`, element OID, then per
/// dimension length and lower bound, then length-prefixed elements) → the
/// array literal text the text path binds.
fn array_text(bytes: &[u8], oid: u32) -> Result<String, EngineError> {
    let expected = ArrayElement::parameter_element_oid(oid).expect("checked by the caller");
    let int = |at: usize| -> Result<i32, EngineError> {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| bad(oid, bytes.len()))
    };
    let ndim = int(0)?;
    let element_oid = int(8)? as u32;
    if element_oid != expected {
        return Err(EngineError::Datatype(format!(
            "wrong element type in binary array: oid {element_oid}"
        )));
    }
    let (count, mut at) = match ndim {
        0 => (0, 12),
        1 => (int(12)?, 20),
        _ => {
            return Err(EngineError::FeatureNotSupported(
                "multidimensional arrays are not supported".into(),
            ))
        }
    };
    if count < 0 || count as usize > bytes.len() {
        return Err(bad(oid, bytes.len()));
    }
    let mut items: Vec<Option<String>> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = int(at)?;
        at += 4;
        if len < 0 {
            items.push(None);
            continue;
        }
        let value = bytes
            .get(at..at + len as usize)
            .ok_or_else(|| bad(oid, bytes.len()))?;
        at += len as usize;
        match decode_param(Some(value), element_oid, true)? {
            ParamValue::Text(text) => items.push(Some(text)),
            ParamValue::Null => items.push(None),
        }
    }
    if at != bytes.len() {
        return Err(bad(oid, bytes.len()));
    }
    Ok(super::array::array_text(items))
}

/// PostgreSQL binary numeric → decimal text.
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<i16> {
        Some(i16::from_be_bytes(bytes.get(i..i + 2)?.try_into().ok()?))
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i32;
    let sign = word(4)? as u16;
    let dscale = word(6)? as usize;
    if bytes.len() != 8 + ndigits * 2 {
        return None;
    }
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|i| word(8 + i * 2))
        .collect::<Option<_>>()?;
    if digits.iter().any(|d| !(0..10000).contains(d)) {
        return None;
    }
    let mut int_part = String::new();
    for i in 0..=weight.max(-1) {
        let d = digits.get(i as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            int_part = d.to_string();
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut position = weight + 1;
    while frac.len() < dscale {
        let d = if position < 0 {
            0
        } else {
            digits.get(position as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        position += 1;
    }
    frac.truncate(dscale);
    let mut text = if dscale > 0 {
        format!("{int_part}.{frac}")
    } else {
        int_part
    };
    if sign == 0x4000 {
        text.insert(0, '-');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_numeric_decodes() {
        // 123.45
        assert_eq!(
            numeric_text(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94]).as_deref(),
            Some("123.45")
        );
        // -0.005: weight -1, digit 50, dscale 3
        assert_eq!(
            numeric_text(&[0, 1, 0xFF, 0xFF, 0x40, 0, 0, 3, 0, 50]).as_deref(),
            Some("-0.005")
        );
    }

    #[test]
    fn binary_arrays_decode_to_literals() {
        // int4[] {1,NULL}: ndim 1, has_null 1, oid 23, dim 2, lbound 1,
        // then (length 4, value 1) and (length -1).
        let mut bytes = Vec::new();
        for word in [1i32, 1, 23, 2, 1, 4, 1, -1] {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(
            decode_param(Some(&bytes), 1007, true).unwrap(),
            ParamValue::Text("{1,NULL}".into())
        );
        assert_eq!(
            decode_param(Some(&bytes[..20]), 1007, true)
                .unwrap_err()
                .sqlstate(),
            "22P03"
        );
    }

    #[test]
    fn binary_infinities_and_intervals_decode() {
        let text = |bytes: &[u8], oid| match decode_param(Some(bytes), oid, true).unwrap() {
            ParamValue::Text(t) => t,
            ParamValue::Null => panic!("not null"),
        };
        assert_eq!(text(&i64::MAX.to_be_bytes(), 1184), "infinity");
        assert_eq!(text(&i32::MIN.to_be_bytes(), 1082), "-infinity");
        let mut interval = Vec::new();
        interval.extend_from_slice(&3_600_000_000i64.to_be_bytes());
        interval.extend_from_slice(&2i32.to_be_bytes());
        interval.extend_from_slice(&14i32.to_be_bytes());
        assert_eq!(text(&interval, 1186), "1 year 2 mons 2 days 01:00:00");
    }

    #[test]
    fn wrong_length_binary_int_is_refused() {
        let error = decode_param(Some(&[0, 1]), 23, true).unwrap_err();
        assert_eq!(error.sqlstate(), "22P03");
    }
}
