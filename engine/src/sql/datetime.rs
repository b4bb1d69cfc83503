//! Dates and timestamps as PostgreSQL writes and reads them, including what
//! Arrow's parsers do not know: `infinity`, `-infinity`, `epoch` and dates
//! before Christ (`0044-03-15 BC`).
//!
//! Infinities are stored as PostgreSQL stores them — the extreme values of
//! the representation ([`TIMESTAMP_INFINITY`], [`DATE_INFINITY`], …) — so
//! they sort after and before every real value and their binary wire form is
//! PostgreSQL's own. Years before 1 AD use the proleptic Gregorian calendar
//! with PostgreSQL's numbering: there is no year 0, `1 BC` is chrono's year 0.
//!
//! Output is `DateStyle = ISO`; a timestamptz is printed in the session zone.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset};
use kimberlite_catalog::SqlType;

use crate::datum::{
    Datum, DATE_INFINITY, DATE_NEG_INFINITY, NUMERIC_INFINITY, NUMERIC_NAN, NUMERIC_NEG_INFINITY,
    TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY,
};

/// `YYYY-MM-DD`, with PostgreSQL's year numbering and a ` BC` flag.
fn ymd(date: NaiveDate) -> (String, bool) {
    let year = date.year();
    let (shown, bc) = if year <= 0 {
        (1 - year, true)
    } else {
        (year, false)
    };
    (
        format!("{shown:04}-{:02}-{:02}", date.month(), date.day()),
        bc,
    )
}

/// PostgreSQL's ISO timestamp; a timestamptz is shown in the session's
/// zone with its offset (`+05:30`, `-08`, `+00`).
pub fn format_timestamp(micros: i64, zone: Option<chrono_tz::Tz>) -> String {
    match micros {
        TIMESTAMP_INFINITY => return "infinity".into(),
        TIMESTAMP_NEG_INFINITY => return "-infinity".into(),
        _ => {}
    }
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
    let (date, bc) = ymd(local.date());
    let mut text = format!("{date} {}", local.format("%H:%M:%S"));
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
    if bc {
        text.push_str(" BC");
    }
    text
}

/// `date` as PostgreSQL prints it (ISO).
pub fn format_date(days: i64) -> String {
    if days == i64::from(DATE_INFINITY) {
        return "infinity".into();
    }
    if days == i64::from(DATE_NEG_INFINITY) {
        return "-infinity".into();
    }
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days)))
        .map(|d| match ymd(d) {
            (text, true) => format!("{text} BC"),
            (text, false) => text,
        })
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

/// `numeric` specials as text, or `None` for a number.
pub fn numeric_special_text(value: i128) -> Option<&'static str> {
    match value {
        NUMERIC_NAN => Some("NaN"),
        NUMERIC_INFINITY => Some("Infinity"),
        NUMERIC_NEG_INFINITY => Some("-Infinity"),
        _ => None,
    }
}

/// What `text` means for `sql_type` when it is one of the spellings Arrow's
/// cast cannot read: `Some(Ok(datum))` for a special or BC value,
/// `Some(Err(()))` for BC text that does not parse, `None` for text the
/// ordinary cast should handle.
pub fn special_value(sql_type: SqlType, text: &str) -> Option<Result<Datum, ()>> {
    let lowered = text.trim().to_ascii_lowercase();
    let infinite = |positive: bool| -> Option<Result<Datum, ()>> {
        Some(Ok(match sql_type {
            SqlType::Date => Datum::Date(if positive {
                DATE_INFINITY
            } else {
                DATE_NEG_INFINITY
            }),
            SqlType::Timestamp | SqlType::Timestamptz => Datum::Timestamp(if positive {
                TIMESTAMP_INFINITY
            } else {
                TIMESTAMP_NEG_INFINITY
            }),
            SqlType::Numeric { .. } => Datum::Numeric(if positive {
                NUMERIC_INFINITY
            } else {
                NUMERIC_NEG_INFINITY
            }),
            _ => return None,
        }))
    };
    match (sql_type, lowered.as_str()) {
        (SqlType::Numeric { .. }, "nan") => return Some(Ok(Datum::Numeric(NUMERIC_NAN))),
        (SqlType::Numeric { .. }, "inf" | "+inf") => return infinite(true),
        (SqlType::Numeric { .. }, "-inf") => return infinite(false),
        (_, "infinity" | "+infinity") => return infinite(true),
        (_, "-infinity") => return infinite(false),
        (SqlType::Date, "epoch") => return Some(Ok(Datum::Date(0))),
        (SqlType::Timestamp | SqlType::Timestamptz, "epoch") => {
            return Some(Ok(Datum::Timestamp(0)))
        }
        _ => {}
    }
    let before_christ = lowered.strip_suffix("bc")?.trim_end();
    let parsed = match sql_type {
        SqlType::Date => parse_date(before_christ)
            .and_then(bc_date)
            .map(|d| Datum::Date((d - epoch_date()).num_days() as i32)),
        SqlType::Timestamp | SqlType::Timestamptz => {
            let (naive, offset) = split_offset(before_christ, sql_type == SqlType::Timestamptz);
            parse_datetime(naive)
                .and_then(|t| bc_date(t.date()).map(|d| d.and_time(t.time())))
                .map(|t| {
                    let micros = t.and_utc().timestamp_micros();
                    Datum::Timestamp(micros - offset * 1_000_000)
                })
        }
        _ => return None,
    };
    Some(parsed.ok_or(()))
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dt%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| parse_date(text).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight")))
}

/// PostgreSQL's year N BC is chrono's year 1 - N.
fn bc_date(date: NaiveDate) -> Option<NaiveDate> {
    (date.year() >= 1)
        .then(|| date.with_year(1 - date.year()))
        .flatten()
}

/// Splits a trailing UTC offset (`+05:30`, `-08`, `z`) off timestamptz
/// text; returns the offset in seconds east of UTC.
fn split_offset(text: &str, with_zone: bool) -> (&str, i64) {
    if !with_zone {
        return (text, 0);
    }
    if let Some(rest) = text.strip_suffix('z') {
        return (rest.trim_end(), 0);
    }
    let Some(at) = text.rfind(['+', '-']) else {
        return (text, 0);
    };
    let (head, zone) = text.split_at(at);
    // The date's own dashes are not an offset: an offset follows the time.
    if !head.contains(':') && head.len() <= 10 {
        return (text, 0);
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let mut parts = zone[1..].split(':');
    let hours: Option<i64> = parts.next().and_then(|h| h.parse().ok());
    let minutes: i64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    match hours {
        Some(hours) => (head.trim_end(), sign * (hours * 3600 + minutes * 60)),
        None => (text, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinities_and_epoch_are_read_for_every_datetime_type() {
        assert_eq!(
            special_value(SqlType::Date, "Infinity"),
            Some(Ok(Datum::Date(DATE_INFINITY)))
        );
        assert_eq!(
            special_value(SqlType::Timestamptz, " -infinity"),
            Some(Ok(Datum::Timestamp(TIMESTAMP_NEG_INFINITY)))
        );
        assert_eq!(
            special_value(SqlType::Timestamp, "epoch"),
            Some(Ok(Datum::Timestamp(0)))
        );
        let numeric = SqlType::Numeric {
            precision: None,
            scale: 10,
        };
        assert_eq!(
            special_value(numeric, "NaN"),
            Some(Ok(Datum::Numeric(NUMERIC_NAN)))
        );
        assert_eq!(special_value(SqlType::Date, "2024-01-01"), None);
    }

    #[test]
    fn bc_dates_round_trip_through_text() {
        let Some(Ok(Datum::Date(days))) = special_value(SqlType::Date, "0044-03-15 BC") else {
            panic!("BC date parses");
        };
        assert_eq!(format_date(i64::from(days)), "0044-03-15 BC");
        let Some(Ok(Datum::Timestamp(micros))) =
            special_value(SqlType::Timestamptz, "0001-12-31 23:59:59.5+00 BC")
        else {
            panic!("BC timestamptz parses");
        };
        assert_eq!(
            format_timestamp(micros, Some(chrono_tz::UTC)),
            "0001-12-31 23:59:59.5+00 BC"
        );
        // 1 BC is followed by 1 AD: there is no year 0.
        assert_eq!(
            format_timestamp(micros + 500_000, None),
            "0001-01-01 00:00:00"
        );
        assert_eq!(special_value(SqlType::Date, "0000-01-01 BC"), Some(Err(())));
    }

    #[test]
    fn infinities_print_as_postgresql_prints_them() {
        assert_eq!(format_timestamp(TIMESTAMP_INFINITY, None), "infinity");
        assert_eq!(
            format_timestamp(TIMESTAMP_NEG_INFINITY, Some(chrono_tz::UTC)),
            "-infinity"
        );
        assert_eq!(format_date(i64::from(DATE_NEG_INFINITY)), "-infinity");
        assert_eq!(numeric_special_text(NUMERIC_NAN), Some("NaN"));
    }
}
