//! Text literals cast to dates, timestamps, intervals and numerics are read
//! with PostgreSQL's input rules, not Arrow's.
//!
//! DataFusion turns `'2024-01-15 12:00'::timestamptz`, and the literal side
//! of `at = '2024-01-15 12:00'`, into a cast that Arrow evaluates. Arrow
//! does not know PostgreSQL's spellings (`12:00` without seconds,
//! `infinity`, `epoch`, `… BC`, zone names, `'1 day 02:00'` intervals,
//! `'NaN'::numeric`) and reads zone-less text in UTC. This analyzer rule
//! runs after DataFusion's type coercion and folds each such cast of a
//! constant into the literal our own parsers produce (`datetime`,
//! `interval`), reading zone-less timestamptz text in the cast's zone — the
//! session's TimeZone, which the session stamps on timestamptz columns and
//! on DataFusion's `execution.time_zone`.
//!
//! A cast it cannot fold (a value a nanosecond timestamp cannot hold, text
//! our parsers refuse where Arrow might not) is left to Arrow.

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan, TryCast};
use datafusion::optimizer::AnalyzerRule;
use kimberlite_catalog::SqlType;

use super::datetime::special_value;
use crate::datum::Datum;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct PostgresTextLiterals;

impl AnalyzerRule for PostgresTextLiterals {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let session_zone = config
            .execution
            .time_zone
            .clone()
            .unwrap_or_else(|| super::types::UTC.to_string());
        super::rewrite::rewrite_expressions(plan, |_| Ok(()), |e, _| fold(e, &session_zone))
    }

    fn name(&self) -> &str {
        "kimberlite_postgres_text_literals"
    }
}

fn text_of(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

fn fold(expr: Expr, session_zone: &str) -> Result<Transformed<Expr>> {
    let (inner, data_type) = match &expr {
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            (expr.as_ref(), field.data_type().clone())
        }
        _ => return Ok(Transformed::no(expr)),
    };
    let Some(text) = text_of(inner) else {
        return Ok(Transformed::no(expr));
    };
    let folded = match &data_type {
        DataType::Timestamp(unit, zone) => {
            let sql_type = if zone.is_some() {
                SqlType::Timestamptz
            } else {
                SqlType::Timestamp
            };
            let zone_label = zone.as_deref().unwrap_or(session_zone);
            match special_value(sql_type, text, zone_label) {
                Some(Ok(Datum::Timestamp(micros))) => {
                    timestamp_literal(micros, *unit, zone.clone())
                }
                _ => None,
            }
        }
        DataType::Date32 => match special_value(SqlType::Date, text, session_zone) {
            Some(Ok(Datum::Date(days))) => Some(ScalarValue::Date32(Some(days))),
            _ => None,
        },
        DataType::Interval(_) => {
            let value = super::interval::parse_interval(text)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let nanos = value.micros.checked_mul(1000);
            nanos.map(|nanos| {
                ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                    value.months,
                    value.days,
                    nanos,
                )))
            })
        }
        DataType::Decimal128(precision, scale) => {
            // `::numeric` is planned as Decimal128(38, 10): unconstrained.
            let constrained = (*precision, *scale) != (38, 10);
            let numeric = SqlType::Numeric {
                precision: None,
                scale: (*scale).max(0) as u8,
            };
            match special_value(numeric, text, session_zone) {
                Some(Ok(Datum::Numeric(v))) if !(constrained && v != crate::datum::NUMERIC_NAN) => {
                    Some(ScalarValue::Decimal128(Some(v), *precision, *scale))
                }
                _ => None,
            }
        }
        _ => None,
    };
    Ok(match folded {
        Some(value) => Transformed::yes(Expr::Literal(value, None)),
        None => Transformed::no(expr),
    })
}

/// Microseconds as a literal of `unit`; `None` where the unit cannot hold
/// the value (infinity or a BC date as nanoseconds).
fn timestamp_literal(
    micros: i64,
    unit: TimeUnit,
    zone: Option<std::sync::Arc<str>>,
) -> Option<ScalarValue> {
    let infinite = micros == i64::MAX || micros == i64::MIN;
    Some(match unit {
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(micros), zone),
        _ if infinite => return None,
        TimeUnit::Nanosecond => {
            ScalarValue::TimestampNanosecond(Some(micros.checked_mul(1000)?), zone)
        }
        TimeUnit::Millisecond => {
            ScalarValue::TimestampMillisecond(Some(micros.div_euclid(1000)), zone)
        }
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(micros.div_euclid(1_000_000)), zone),
    })
}
