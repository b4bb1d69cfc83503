//! `interval` values as text: PostgreSQL's input forms and its `postgres`
//! output style.
//!
//! An interval keeps three fields apart — months, days, microseconds —
//! because a month is not a fixed number of days and a day is not always
//! 24 hours across a zone change. Input accepts what PostgreSQL 15 accepts
//! with `IntervalStyle = postgres`: unit words (`1 year 2 mons`, `3 days`,
//! `1.5 hours`, abbreviations and plurals, `@ … ago`), clock times
//! (`04:05:06.5`, `-1:30`), `year-month` (`1-2`), SQL-standard
//! `days time` (`1 02:03:04`), ISO 8601 (`P1Y2M3DT4H5M6S`) and a bare number
//! of seconds. Fractions spill down as PostgreSQL spills them: a fraction of
//! a month becomes days (30 per month), a fraction of a day becomes time.
//!
//! Output follows the session's `IntervalStyle` (`postgres`,
//! `postgres_verbose`, `sql_standard`, `iso_8601`) as PostgreSQL 15's
//! `EncodeInterval` does. Left out: reading the `sql_standard` input forms
//! with mixed signs (`+1-2 +3 +4:05:06`), and the field restrictions of
//! `INTERVAL … YEAR TO MONTH` column declarations.

use crate::error::{EngineError, EngineResult};

const MICROS_PER_SECOND: f64 = 1_000_000.0;
const MICROS_PER_DAY: f64 = 86_400.0 * MICROS_PER_SECOND;

/// An interval's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// Running sums while parsing, wide enough that overflow is caught at the
/// end instead of wrapping.
#[derive(Default)]
struct Sums {
    months: f64,
    days: f64,
    micros: f64,
}

impl Sums {
    fn add_months(&mut self, value: f64) {
        let whole = value.trunc();
        self.months += whole;
        self.add_days((value - whole) * 30.0);
    }

    fn add_days(&mut self, value: f64) {
        let whole = value.trunc();
        self.days += whole;
        self.micros += (value - whole) * MICROS_PER_DAY;
    }
}

fn invalid(text: &str) -> EngineError {
    EngineError::InvalidDatetimeFormat(format!(
        "invalid input syntax for type interval: \"{text}\""
    ))
}

/// Parses PostgreSQL interval text.
pub fn parse_interval(text: &str) -> EngineResult<Interval> {
    let lowered = text.trim().to_ascii_lowercase();
    let body = lowered.strip_prefix('@').unwrap_or(&lowered).trim();
    if body.is_empty() {
        return Err(invalid(text));
    }
    let sums = if let Some(iso) = body.strip_prefix('p') {
        parse_iso(iso).ok_or_else(|| invalid(text))?
    } else {
        parse_words(body).ok_or_else(|| invalid(text))?
    };
    let months = sums.months;
    let days = sums.days;
    let micros = sums.micros.round();
    let fits_i32 = |v: f64| (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&v);
    // Arrow carries the time part in nanoseconds: keep it representable.
    let micros_max = (i64::MAX / 1000) as f64;
    if !fits_i32(months) || !fits_i32(days) || micros.abs() > micros_max {
        return Err(EngineError::IntervalFieldOverflow(format!(
            "interval field value out of range: \"{text}\""
        )));
    }
    Ok(Interval {
        months: months as i32,
        days: days as i32,
        micros: micros as i64,
    })
}

/// Splits `1day` into `1` and `day`; words without a leading number stay.
fn tokens(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in body.split_whitespace() {
        let numeric_start = word
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
        let split = numeric_start
            .then(|| word.find(|c: char| c.is_ascii_alphabetic()))
            .flatten();
        match split {
            Some(at) if !word.contains(':') => {
                out.push(word[..at].to_string());
                out.push(word[at..].to_string());
            }
            _ => out.push(word.to_string()),
        }
    }
    out
}

fn parse_words(body: &str) -> Option<Sums> {
    let words = tokens(body);
    let mut sums = Sums::default();
    let mut ago = false;
    let mut i = 0;
    while i < words.len() {
        let word = words[i].as_str();
        if word == "ago" && i + 1 == words.len() {
            ago = true;
        } else if word.contains(':') {
            sums.micros += clock_micros(word)?;
        } else if let Some(months) = year_month(word) {
            sums.months += months;
        } else {
            let value: f64 = word.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            match words.get(i + 1).map(String::as_str) {
                Some(next) if next.contains(':') => sums.add_days(value),
                Some(unit) if unit != "ago" => {
                    apply_unit(&mut sums, value, unit)?;
                    i += 1;
                }
                _ => sums.micros += value * MICROS_PER_SECOND,
            }
        }
        i += 1;
    }
    if ago {
        sums.months = -sums.months;
        sums.days = -sums.days;
        sums.micros = -sums.micros;
    }
    Some(sums)
}

fn apply_unit(sums: &mut Sums, value: f64, unit: &str) -> Option<()> {
    let second = |n: f64| value * n * MICROS_PER_SECOND;
    match unit {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => {
            sums.micros += value
        }
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => {
            sums.micros += value * 1000.0
        }
        "second" | "seconds" | "s" | "sec" | "secs" => sums.micros += second(1.0),
        "minute" | "minutes" | "m" | "min" | "mins" => sums.micros += second(60.0),
        "hour" | "hours" | "h" | "hr" | "hrs" => sums.micros += second(3600.0),
        "day" | "days" | "d" => sums.add_days(value),
        "week" | "weeks" | "w" => sums.add_days(value * 7.0),
        "month" | "months" | "mon" | "mons" => sums.add_months(value),
        "year" | "years" | "y" | "yr" | "yrs" => sums.months += (value * 12.0).round(),
        "decade" | "decades" | "dec" | "decs" => sums.months += (value * 120.0).round(),
        "century" | "centuries" | "c" | "cent" => sums.months += (value * 1200.0).round(),
        "millennium" | "millennia" | "mil" | "mils" => sums.months += (value * 12000.0).round(),
        _ => return None,
    }
    Some(())
}

/// `[+-]H:MM[:SS[.f]]` → microseconds.
fn clock_micros(word: &str) -> Option<f64> {
    let (sign, rest) = match word.as_bytes().first()? {
        b'-' => (-1.0, &word[1..]),
        b'+' => (1.0, &word[1..]),
        _ => (1.0, word),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let hours: u64 = parts[0].parse().ok()?;
    let minutes: u64 = parts[1].parse().ok()?;
    let seconds: f64 = match parts.get(2) {
        Some(s) if s.chars().all(|c| c.is_ascii_digit() || c == '.') => s.parse().ok()?,
        Some(_) => return None,
        None => 0.0,
    };
    if minutes >= 60 || seconds >= 60.0 {
        return None;
    }
    Some(sign * ((hours * 3600 + minutes * 60) as f64 + seconds) * MICROS_PER_SECOND)
}

/// `[+-]Y-M` → months.
fn year_month(word: &str) -> Option<f64> {
    let (sign, rest) = match word.as_bytes().first()? {
        b'-' => (-1.0, &word[1..]),
        b'+' => (1.0, &word[1..]),
        _ => (1.0, word),
    };
    let (years, months) = rest.split_once('-')?;
    let years: u32 = years.parse().ok()?;
    let months: u32 = months.parse().ok()?;
    (months < 12).then(|| sign * f64::from(years * 12 + months))
}

/// ISO 8601 `P…` (after the `p`): `1y2m3w4dt5h6m7.5s`.
fn parse_iso(body: &str) -> Option<Sums> {
    let mut sums = Sums::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut seen_any = false;
    for c in body.chars() {
        match c {
            't' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | '-' | '+' => number.push(c),
            designator => {
                let value: f64 = number.parse().ok()?;
                number.clear();
                seen_any = true;
                let unit = match (in_time, designator) {
                    (false, 'y') => "year",
                    (false, 'm') => "month",
                    (false, 'w') => "week",
                    (false, 'd') => "day",
                    (true, 'h') => "hour",
                    (true, 'm') => "minute",
                    (true, 's') => "second",
                    _ => return None,
                };
                apply_unit(&mut sums, value, unit)?;
            }
        }
    }
    (number.is_empty() && seen_any).then_some(sums)
}

/// The session's `IntervalStyle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntervalStyle {
    #[default]
    Postgres,
    PostgresVerbose,
    SqlStandard,
    Iso8601,
}

/// An interval's fields as PostgreSQL's `EncodeInterval` sees them: the
/// time part split into hours, minutes, seconds and microseconds, each
/// carrying the time part's sign.
struct Fields {
    year: i64,
    mon: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    fsec: i64,
}

impl Fields {
    fn of(interval: Interval) -> Fields {
        let micros = interval.micros;
        Fields {
            year: i64::from(interval.months / 12),
            mon: i64::from(interval.months % 12),
            day: i64::from(interval.days),
            hour: micros / 3_600_000_000,
            min: micros / 60_000_000 % 60,
            sec: micros / 1_000_000 % 60,
            fsec: micros % 1_000_000,
        }
    }

    fn time_is_zero(&self) -> bool {
        self.hour == 0 && self.min == 0 && self.sec == 0 && self.fsec == 0
    }
}

/// PostgreSQL's `AppendSeconds`: absolute seconds, two digits when
/// `fill`, and the fraction without trailing zeros.
fn seconds(sec: i64, fsec: i64, fill: bool) -> String {
    let mut out = if fill {
        format!("{:02}", sec.abs())
    } else {
        sec.abs().to_string()
    };
    if fsec != 0 {
        out.push_str(format!(".{:06}", fsec.abs()).trim_end_matches('0'));
    }
    out
}

/// An interval as text in `style`.
pub fn interval_text_styled(interval: Interval, style: IntervalStyle) -> String {
    match style {
        IntervalStyle::Postgres => interval_text(interval),
        IntervalStyle::PostgresVerbose => verbose_text(Fields::of(interval)),
        IntervalStyle::SqlStandard => sql_standard_text(Fields::of(interval)),
        IntervalStyle::Iso8601 => iso_text(Fields::of(interval)),
    }
}

fn verbose_text(f: Fields) -> String {
    let mut out = String::from("@");
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [
        (f.year, "year"),
        (f.mon, "mon"),
        (f.day, "day"),
        (f.hour, "hour"),
        (f.min, "min"),
    ] {
        if value == 0 {
            continue;
        }
        let shown = if is_zero {
            is_before = value < 0;
            value.abs()
        } else if is_before {
            -value
        } else {
            value
        };
        out.push_str(&format!(
            " {shown} {unit}{}",
            if shown == 1 { "" } else { "s" }
        ));
        is_zero = false;
    }
    if f.sec != 0 || f.fsec != 0 {
        out.push(' ');
        if f.sec < 0 || (f.sec == 0 && f.fsec < 0) {
            if is_zero {
                is_before = true;
            } else if !is_before {
                out.push('-');
            }
        } else if is_before {
            out.push('-');
        }
        out.push_str(&seconds(f.sec, f.fsec, false));
        let plural = f.sec.abs() != 1 || f.fsec != 0;
        out.push_str(if plural { " secs" } else { " sec" });
        is_zero = false;
    }
    if is_zero {
        out.push_str(" 0");
    }
    if is_before {
        out.push_str(" ago");
    }
    out
}

fn sql_standard_text(f: Fields) -> String {
    let parts = [f.year, f.mon, f.day, f.hour, f.min, f.sec, f.fsec];
    let has_negative = parts.iter().any(|v| *v < 0);
    let has_positive = parts.iter().any(|v| *v > 0);
    let has_year_month = f.year != 0 || f.mon != 0;
    let has_day_time = f.day != 0 || !f.time_is_zero();
    // PostgreSQL's "SQL standard value": one sign, and not both halves.
    let mixed = (has_negative && has_positive) || (has_year_month && has_day_time);
    let standard = !mixed;
    let mut out = String::new();
    let f = if has_negative && standard {
        out.push('-');
        Fields {
            year: -f.year,
            mon: -f.mon,
            day: -f.day,
            hour: -f.hour,
            min: -f.min,
            sec: -f.sec,
            fsec: -f.fsec,
        }
    } else {
        f
    };
    if !has_negative && !has_positive {
        out.push('0');
    } else if !standard {
        let year_sign = if f.year < 0 || f.mon < 0 { '-' } else { '+' };
        let day_sign = if f.day < 0 { '-' } else { '+' };
        let time_negative = f.hour < 0 || f.min < 0 || f.sec < 0 || f.fsec < 0;
        let sec_sign = if time_negative { '-' } else { '+' };
        out.push_str(&format!(
            "{year_sign}{}-{} {day_sign}{} {sec_sign}{}:{:02}:{}",
            f.year.abs(),
            f.mon.abs(),
            f.day.abs(),
            f.hour.abs(),
            f.min.abs(),
            seconds(f.sec, f.fsec, true)
        ));
    } else if has_year_month {
        out.push_str(&format!("{}-{}", f.year, f.mon));
    } else if f.day != 0 {
        out.push_str(&format!(
            "{} {}:{:02}:{}",
            f.day,
            f.hour,
            f.min,
            seconds(f.sec, f.fsec, true)
        ));
    } else {
        out.push_str(&format!(
            "{}:{:02}:{}",
            f.hour,
            f.min,
            seconds(f.sec, f.fsec, true)
        ));
    }
    out
}

fn iso_text(f: Fields) -> String {
    if [f.year, f.mon, f.day].iter().all(|v| *v == 0) && f.time_is_zero() {
        return "PT0S".into();
    }
    let mut out = String::from("P");
    for (value, unit) in [(f.year, 'Y'), (f.mon, 'M'), (f.day, 'D')] {
        if value != 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if !f.time_is_zero() {
        out.push('T');
    }
    for (value, unit) in [(f.hour, 'H'), (f.min, 'M')] {
        if value != 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if f.sec != 0 || f.fsec != 0 {
        if f.sec < 0 || f.fsec < 0 {
            out.push('-');
        }
        out.push_str(&seconds(f.sec, f.fsec, false));
        out.push('S');
    }
    out
}

/// PostgreSQL's `postgres` interval output: `1 year 2 mons -3 days
/// +04:05:06.5`, `00:00:00` for zero.
pub fn interval_text(interval: Interval) -> String {
    let years = interval.months / 12;
    let months = interval.months % 12;
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [(years, "year"), (months, "mon"), (interval.days, "day")] {
        if value == 0 {
            continue;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        out.push_str(&format!(
            "{value} {unit}{}",
            if value != 1 { "s" } else { "" }
        ));
        is_before = value < 0;
        is_zero = false;
    }
    let micros = interval.micros;
    if is_zero || micros != 0 {
        let total = micros.unsigned_abs();
        let hours = total / 3_600_000_000;
        let minutes = total / 60_000_000 % 60;
        let seconds = total / 1_000_000 % 60;
        let fraction = total % 1_000_000;
        if !is_zero {
            out.push(' ');
        }
        if micros < 0 {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        out.push_str(&format!("{hours:02}:{minutes:02}:{seconds:02}"));
        if fraction != 0 {
            out.push_str(format!(".{fraction:06}").trim_end_matches('0'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    fn parsed(text: &str) -> Interval {
        parse_interval(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn input_forms_match_postgresql() {
        assert_eq!(parsed("1 year 2 mons 3 days"), iv(14, 3, 0));
        assert_eq!(parsed("1 day 04:05:06.5"), iv(0, 1, 14_706_500_000));
        assert_eq!(parsed("-1 days +02:00:00"), iv(0, -1, 7_200_000_000));
        assert_eq!(parsed("@ 1 hour ago"), iv(0, 0, -3_600_000_000));
        assert_eq!(parsed("1.5 months"), iv(1, 15, 0));
        assert_eq!(parsed("1.5 days"), iv(0, 1, 43_200_000_000));
        assert_eq!(parsed("1.5 years"), iv(18, 0, 0));
        assert_eq!(parsed("2 weeks"), iv(0, 14, 0));
        assert_eq!(parsed("10"), iv(0, 0, 10_000_000));
        assert_eq!(parsed("1-2"), iv(14, 0, 0));
        assert_eq!(parsed("1 02:03:04"), iv(0, 1, 7_384_000_000));
        assert_eq!(parsed("P1Y2M3DT4H5M6S"), iv(14, 3, 14_706_000_000));
        assert_eq!(parsed("3days 10min"), iv(0, 3, 600_000_000));
        assert_eq!(parsed("100 microseconds"), iv(0, 0, 100));
    }

    #[test]
    fn bad_input_is_22007() {
        for text in ["", "abc", "1 fortnight", "1:99", "P1X"] {
            let error = parse_interval(text).unwrap_err();
            assert_eq!(error.sqlstate(), "22007", "{text}");
        }
        assert_eq!(
            parse_interval("3000000000 days").unwrap_err().sqlstate(),
            "22015"
        );
    }

    #[test]
    fn output_matches_postgresql() {
        assert_eq!(interval_text(iv(0, 0, 0)), "00:00:00");
        assert_eq!(interval_text(iv(14, 3, 0)), "1 year 2 mons 3 days");
        assert_eq!(interval_text(iv(0, 1, 0)), "1 day");
        assert_eq!(interval_text(iv(0, -1, 7_200_000_000)), "-1 days +02:00:00");
        assert_eq!(interval_text(iv(0, 0, -1_000_000)), "-00:00:01");
        assert_eq!(interval_text(iv(0, 1, 14_706_500_000)), "1 day 04:05:06.5");
        assert_eq!(interval_text(iv(-13, 0, 0)), "-1 years -1 mons");
        assert_eq!(interval_text(iv(0, 0, 90_000_000_000)), "25:00:00");
    }

    #[test]
    fn every_interval_style_prints_as_postgresql_15() {
        // The intervals of PostgreSQL 15's own run, in input order:
        // '1 year 2 mons 3 days 04:05:06.5', '-1 days +02:00:00',
        // '@ 1 hour ago', '0', '-1 year -2 mons', '1 day', '-00:00:01.5',
        // '1 sec', '3 days -04:00'.
        let values = [
            iv(14, 3, 14_706_500_000),
            iv(0, -1, 7_200_000_000),
            iv(0, 0, -3_600_000_000),
            iv(0, 0, 0),
            iv(-14, 0, 0),
            iv(0, 1, 0),
            iv(0, 0, -1_500_000),
            iv(0, 0, 1_000_000),
            iv(0, 3, -14_400_000_000),
        ];
        let expected = [
            (
                IntervalStyle::PostgresVerbose,
                "@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs|@ 1 day -2 hours ago|@ 1 hour ago|@ 0|@ 1 year 2 mons ago|@ 1 day|@ 1.5 secs ago|@ 1 sec|@ 3 days -4 hours",
            ),
            (
                IntervalStyle::SqlStandard,
                "+1-2 +3 +4:05:06.5|+0-0 -1 +2:00:00|-1:00:00|0|-1-2|1 0:00:00|-0:00:01.5|0:00:01|+0-0 +3 -4:00:00",
            ),
            (
                IntervalStyle::Iso8601,
                "P1Y2M3DT4H5M6.5S|P-1DT2H|PT-1H|PT0S|P-1Y-2M|P1D|PT-1.5S|PT1S|P3DT-4H",
            ),
        ];
        for (style, text) in expected {
            let printed: Vec<String> = values
                .iter()
                .map(|v| interval_text_styled(*v, style))
                .collect();
            assert_eq!(printed.join("|"), text, "{style:?}");
        }
    }

    #[test]
    fn output_parses_back_to_the_same_interval() {
        for value in [
            iv(14, 3, 14_706_500_000),
            iv(0, -1, 7_200_000_000),
            iv(-13, 2, -5),
            iv(0, 0, 0),
        ] {
            assert_eq!(parsed(&interval_text(value)), value);
        }
    }
}
