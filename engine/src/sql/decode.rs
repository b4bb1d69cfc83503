//! Parameter values off the wire, into the text form the engine binds.
//!
//! Text-format parameters are passed through. Binary-format parameters are
//! decoded by the type the statement declared or we inferred; a value whose
//! length does not fit its type is refused with 22P03, never guessed at.

use super::params::ParamValue;
use crate::error::EngineError;
use chrono::DateTime;

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
        1082 => {
            let days = i32::from_be_bytes(fixed(bytes, oid)?) as i64 + PG_EPOCH_DAYS;
            DateTime::from_timestamp(days * 86_400, 0)
                .ok_or_else(|| bad(oid, 4))?
                .format("%Y-%m-%d")
                .to_string()
        }
        1083 => {
            let micros = i64::from_be_bytes(fixed(bytes, oid)?);
            if !(0..=86_400_000_000).contains(&micros) {
                return Err(bad(oid, 8));
            }
            super::convert::time_text(micros)
        }
        1114 | 1184 => {
            let micros = i64::from_be_bytes(fixed(bytes, oid)?) + PG_EPOCH_MICROS;
            let datetime = DateTime::from_timestamp_micros(micros).ok_or_else(|| bad(oid, 8))?;
            let mut text = datetime
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string();
            if oid == 1184 {
                text.push_str("+00");
            }
            text
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
        _ => utf8(bytes)?,
    };
    Ok(ParamValue::Text(text))
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
    fn wrong_length_binary_int_is_refused() {
        let error = decode_param(Some(&[0, 1]), 23, true).unwrap_err();
        assert_eq!(error.sqlstate(), "22P03");
    }
}
