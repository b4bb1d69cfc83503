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

/// `DateStyle`: the output format and the field order of dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateStyle {
    pub format: DateFormat,
    /// Day before month (`DMY`); `MDY` and `YMD` print month first.
    pub day_first: bool,
}

/// `DateStyle`'s output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateFormat {
    #[default]
    Iso,
    Sql,
    Postgres,
    German,
}

impl DateStyle {
    /// From the setting as SHOW prints it (`ISO, MDY`).
    pub fn parse(setting: &str) -> DateStyle {
        let mut parts = setting.split(',').map(str::trim);
        let format = match parts.next() {
            Some("SQL") => DateFormat::Sql,
            Some("Postgres") => DateFormat::Postgres,
            Some("German") => DateFormat::German,
            _ => DateFormat::Iso,
        };
        DateStyle {
            format,
            day_first: parts.next() == Some("DMY"),
        }
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The date part in `style`, without the BC flag.
fn styled_date(date: NaiveDate, style: DateStyle) -> (String, bool) {
    let (iso, bc) = ymd(date);
    let year = &iso[..iso.len() - 6];
    let (month, day) = (date.month(), date.day());
    let text = match (style.format, style.day_first) {
        (DateFormat::Iso, _) => iso,
        (DateFormat::Sql, true) => format!("{day:02}/{month:02}/{year}"),
        (DateFormat::Sql, false) => format!("{month:02}/{day:02}/{year}"),
        (DateFormat::German, _) => format!("{day:02}.{month:02}.{year}"),
        (DateFormat::Postgres, true) => format!("{day:02}-{month:02}-{year}"),
        (DateFormat::Postgres, false) => format!("{month:02}-{day:02}-{year}"),
    };
    (text, bc)
}

/// `date` in the session's DateStyle.
pub fn format_date_styled(days: i64, style: DateStyle) -> String {
    if style.format == DateFormat::Iso
        || days == i64::from(DATE_INFINITY)
        || days == i64::from(DATE_NEG_INFINITY)
    {
        return format_date(days);
    }
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days)))
        .map(|d| match styled_date(d, style) {
            (text, true) => format!("{text} BC"),
            (text, false) => text,
        })
        .unwrap_or_else(|| days.to_string())
}

/// A timestamp in the session's DateStyle: ISO as [`format_timestamp`];
/// the others name the zone by its abbreviation (`02/29/2024 13:14:15 CET`,
/// `Thu Feb 29 13:14:15 2024 CET`, `29.02.2024 13:14:15 CET`).
pub fn format_timestamp_styled(
    micros: i64,
    zone: Option<chrono_tz::Tz>,
    style: DateStyle,
) -> String {
    if style.format == DateFormat::Iso
        || micros == TIMESTAMP_INFINITY
        || micros == TIMESTAMP_NEG_INFINITY
    {
        return format_timestamp(micros, zone);
    }
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let Some(datetime) = DateTime::from_timestamp(seconds, 0) else {
        return micros.to_string();
    };
    let (local, abbreviation) = match zone {
        Some(zone) => {
            let local = datetime.with_timezone(&zone);
            (local.naive_local(), Some(local.format("%Z").to_string()))
        }
        None => (datetime.naive_utc(), None),
    };
    let mut clock = local.format("%H:%M:%S").to_string();
    if fraction != 0 {
        clock.push_str(format!(".{fraction:06}").trim_end_matches('0'));
    }
    let (date, bc) = styled_date(local.date(), style);
    let mut text = if style.format == DateFormat::Postgres {
        let weekday = WEEKDAYS[local.weekday().num_days_from_monday() as usize];
        let month = MONTHS[local.month0() as usize];
        let year = date.rsplit('-').next().unwrap_or_default();
        if style.day_first {
            format!("{weekday} {:02} {month} {clock} {year}", local.day())
        } else {
            format!("{weekday} {month} {:02} {clock} {year}", local.day())
        }
    } else {
        format!("{date} {clock}")
    };
    if let Some(abbreviation) = abbreviation {
        text.push(' ');
        text.push_str(&abbreviation);
    }
    if bc {
        text.push_str(" BC");
    }
    text
}

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
pub fn special_value(sql_type: SqlType, text: &str, zone: &str) -> Option<Result<Datum, ()>> {
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
    let (body, bc) = match lowered.strip_suffix("bc") {
        Some(rest) => (rest.trim_end(), true),
        None if matches!(sql_type, SqlType::Timestamp | SqlType::Timestamptz) => {
            (lowered.as_str(), false)
        }
        None => return None,
    };
    if !bc {
        // Timestamps are read here, not by Arrow: PostgreSQL's forms
        // (`12:00` without seconds, zone names, the session's zone for
        // zone-less text, DST gaps) are not all Arrow's.
        return Some(
            parse_timestamp(body, sql_type == SqlType::Timestamptz, zone)
                .map(Datum::Timestamp)
                .ok_or(()),
        );
    }
    let before_christ = body;
    let parsed = match sql_type {
        SqlType::Date => parse_date(before_christ)
            .and_then(bc_date)
            .map(|d| Datum::Date((d - epoch_date()).num_days() as i32)),
        SqlType::Timestamp | SqlType::Timestamptz => {
            let (naive, offset) = split_offset(before_christ, sql_type == SqlType::Timestamptz);
            parse_datetime(naive)
                .and_then(|t| bc_date(t.date()).map(|d| d.and_time(t.time())))
                .and_then(|t| {
                    let micros = t.and_utc().timestamp_micros();
                    let offset = match offset {
                        Some(offset) => offset,
                        None if sql_type == SqlType::Timestamptz => zone_offset(zone, t)?,
                        None => 0,
                    };
                    Some(Datum::Timestamp(micros - offset * 1_000_000))
                })
        }
        _ => return None,
    };
    Some(parsed.ok_or(()))
}

/// Timestamp text (lower-cased, AD) → microseconds since 1970 UTC: a date,
/// optionally ` `/`t` and `HH:MM[:SS[.f]]`, optionally an offset (`z`,
/// `+05`, `+0530`, `-08:00`) or a zone name (`utc`, `europe/paris`).
/// Zone-less text of a timestamptz is local time in `zone`.
pub fn parse_timestamp(text: &str, with_zone: bool, zone: &str) -> Option<i64> {
    let text = text.trim();
    let (text, named_zone) = match text.rsplit_once(' ') {
        Some((head, name))
            if with_zone && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) =>
        {
            (head.trim_end(), Some(name))
        }
        _ => (text, None),
    };
    let (naive_text, offset) = split_offset(text, with_zone);
    let naive = parse_datetime(naive_text.trim_end())?;
    let local_micros = naive.and_utc().timestamp_micros();
    let offset = match (offset, named_zone) {
        (Some(_), Some(_)) => return None,
        (Some(offset), None) => offset,
        (None, Some(name)) => zone_offset(name, naive)?,
        (None, None) if with_zone => zone_offset(zone, naive)?,
        (None, None) => 0,
    };
    local_micros.checked_sub(offset * 1_000_000)
}

fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let parsed = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dt%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dt%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| parse_date(text).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight")))?;
    // PostgreSQL rounds a fraction finer than microseconds to the nearest.
    let nanos = parsed.and_utc().timestamp_subsec_nanos() % 1000;
    let truncated = parsed - chrono::Duration::nanoseconds(i64::from(nanos));
    Some(if nanos >= 500 {
        truncated + chrono::Duration::microseconds(1)
    } else {
        truncated
    })
}

/// PostgreSQL's year N BC is chrono's year 1 - N.
fn bc_date(date: NaiveDate) -> Option<NaiveDate> {
    (date.year() >= 1)
        .then(|| date.with_year(1 - date.year()))
        .flatten()
}

/// Splits a trailing UTC offset (`+05:30`, `-08`, `z`) off timestamptz
/// text; returns the offset in seconds east of UTC, `None` when the text
/// has none (it is then local time in the session's zone).
fn split_offset(text: &str, with_zone: bool) -> (&str, Option<i64>) {
    if !with_zone {
        return (text, None);
    }
    if let Some(rest) = text.strip_suffix('z') {
        return (rest.trim_end(), Some(0));
    }
    let Some(at) = text.rfind(['+', '-']) else {
        return (text, None);
    };
    let (head, zone) = text.split_at(at);
    // The date's own dashes are not an offset: an offset follows the time.
    if !head.contains(':') && head.len() <= 10 {
        return (text, None);
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits = &zone[1..];
    // `+0530` is hours and minutes without the colon.
    let spelled = if digits.len() == 4 && !digits.contains(':') {
        format!("{}:{}", &digits[..2], &digits[2..])
    } else {
        digits.to_string()
    };
    let mut parts = spelled.split(':');
    let hours: Option<i64> = parts.next().and_then(|h| h.parse().ok());
    let minutes: i64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    match hours {
        Some(hours) => (head.trim_end(), Some(sign * (hours * 3600 + minutes * 60))),
        None => (text, None),
    }
}

/// The offset east of UTC, in seconds, of local time `local` in the zone
/// with Arrow label `zone`; a local time skipped by a transition takes
/// the offset before it.
fn zone_offset(zone: &str, local: NaiveDateTime) -> Option<i64> {
    use chrono::TimeZone;
    let zone: chrono_tz::Tz = match zone {
        super::types::UTC | "utc" | "gmt" | "z" => chrono_tz::UTC,
        name => chrono_tz::Tz::from_str_insensitive(name).ok()?,
    };
    // Ambiguous local times (the hour repeated when clocks go back) are
    // read as standard time, the later one; skipped ones take the offset
    // in force before the skip — both as PostgreSQL reads them.
    let offset = match zone.from_local_datetime(&local).latest() {
        Some(at) => at.offset().fix(),
        None => zone
            .from_local_datetime(&(local - chrono::Duration::hours(3)))
            .latest()?
            .offset()
            .fix(),
    };
    Some(i64::from(offset.local_minus_utc()))
}

#[cfg(test)]
mod tests {
    use super::super::types::UTC;
    use super::*;

    #[test]
    fn infinities_and_epoch_are_read_for_every_datetime_type() {
        assert_eq!(
            special_value(SqlType::Date, "Infinity", UTC),
            Some(Ok(Datum::Date(DATE_INFINITY)))
        );
        assert_eq!(
            special_value(SqlType::Timestamptz, " -infinity", UTC),
            Some(Ok(Datum::Timestamp(TIMESTAMP_NEG_INFINITY)))
        );
        assert_eq!(
            special_value(SqlType::Timestamp, "epoch", UTC),
            Some(Ok(Datum::Timestamp(0)))
        );
        let numeric = SqlType::Numeric {
            precision: None,
            scale: 10,
        };
        assert_eq!(
            special_value(numeric, "NaN", UTC),
            Some(Ok(Datum::Numeric(NUMERIC_NAN)))
        );
        assert_eq!(special_value(SqlType::Date, "2024-01-01", UTC), None);
    }

    #[test]
    fn bc_dates_round_trip_through_text() {
        let Some(Ok(Datum::Date(days))) = special_value(SqlType::Date, "0044-03-15 BC", UTC) else {
            panic!("BC date parses");
        };
        assert_eq!(format_date(i64::from(days)), "0044-03-15 BC");
        let Some(Ok(Datum::Timestamp(micros))) =
            special_value(SqlType::Timestamptz, "0001-12-31 23:59:59.5+00 BC", UTC)
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
        assert_eq!(
            special_value(SqlType::Date, "0000-01-01 BC", UTC),
            Some(Err(()))
        );
    }

    #[test]
    fn timestamps_are_read_in_the_session_zone_as_postgresql_reads_them() {
        let paris = "Europe/Paris";
        let at = |text: &str| {
            parse_timestamp(text, true, paris)
                .map(|m| format_timestamp(m, Some(chrono_tz::Europe::Paris)))
        };
        // The same texts PostgreSQL 15 gave with TimeZone = 'Europe/Paris'.
        assert_eq!(
            at("2024-10-27 02:30").as_deref(),
            Some("2024-10-27 02:30:00+01")
        );
        assert_eq!(
            at("2024-03-31 02:30").as_deref(),
            Some("2024-03-31 03:30:00+02")
        );
        assert_eq!(
            at("2024-01-15 12:00 utc").as_deref(),
            Some("2024-01-15 13:00:00+01")
        );
        assert_eq!(
            at("2024-01-15 12:00:00.1234567").as_deref(),
            Some("2024-01-15 12:00:00.123457+01")
        );
        assert_eq!(
            at("2024-01-15t12:00:00z").as_deref(),
            Some("2024-01-15 13:00:00+01")
        );
        assert_eq!(
            at("2024-01-15 12:00:00+0530").as_deref(),
            Some("2024-01-15 07:30:00+01")
        );
        assert_eq!(at("2024-01-15").as_deref(), Some("2024-01-15 00:00:00+01"));
        assert_eq!(
            at("2024-01-15 12:00 america/new_york").as_deref(),
            Some("2024-01-15 18:00:00+01")
        );
        assert_eq!(at("2024-01-15 25:00"), None);
        assert_eq!(
            parse_timestamp("2024-01-15 12:00", false, paris),
            Some(1_705_320_000_000_000)
        );
    }

    #[test]
    fn date_styles_print_as_postgresql_prints_them() {
        // PostgreSQL 15, TimeZone = 'Europe/Paris', 2024-02-29 13:14:15.5 local.
        let micros = 1_709_208_855_500_000;
        let days = 19_782; // 2024-02-29
        let paris = Some(chrono_tz::Europe::Paris);
        let cases = [
            ("SQL, MDY", "02/29/2024 13:14:15.5 CET", "02/29/2024"),
            ("SQL, DMY", "29/02/2024 13:14:15.5 CET", "29/02/2024"),
            (
                "Postgres, MDY",
                "Thu Feb 29 13:14:15.5 2024 CET",
                "02-29-2024",
            ),
            (
                "Postgres, DMY",
                "Thu 29 Feb 13:14:15.5 2024 CET",
                "29-02-2024",
            ),
            ("German, DMY", "29.02.2024 13:14:15.5 CET", "29.02.2024"),
            ("ISO, DMY", "2024-02-29 13:14:15.5+01", "2024-02-29"),
        ];
        for (setting, timestamp, date) in cases {
            let style = DateStyle::parse(setting);
            assert_eq!(
                format_timestamp_styled(micros, paris, style),
                timestamp,
                "{setting}"
            );
            assert_eq!(format_date_styled(days, style), date, "{setting}");
        }
        let sql = DateStyle::parse("SQL, MDY");
        assert_eq!(
            format_timestamp_styled(micros, None, sql),
            "02/29/2024 12:14:15.5"
        );
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
