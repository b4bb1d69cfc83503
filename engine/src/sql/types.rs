//! From SQL type names to [`SqlType`], and from [`SqlType`] to Arrow.
//!
//! A table's Arrow schema carries each column's PostgreSQL identity in the
//! field metadata (`pg.oid`, `pg.typmod`), so that when DataFusion passes a
//! column through a query unchanged, the server still reports `varchar(20)`
//! or `uuid` to the client instead of the Arrow type's nearest PostgreSQL
//! cousin.

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, CharacterLength, DataType as AstType, ExactNumberInfo, TimezoneInfo,
};
use kimberlite_catalog::{ArrayElement, SqlType, TableDef};

use crate::error::{EngineError, EngineResult};

/// Field metadata key holding the PostgreSQL type OID.
pub const META_OID: &str = "pg.oid";
/// Field metadata key holding the PostgreSQL type modifier.
pub const META_TYPMOD: &str = "pg.typmod";

/// The UTC zone Arrow stamps on timestamptz columns.
pub const UTC: &str = "+00:00";

/// The Arrow zone label of a session's TimeZone. A timestamptz value is an
/// instant whatever its label; the label is how Arrow and DataFusion read
/// zone-less text (`'2024-01-01 12:00'` is noon in the session's zone, as
/// in PostgreSQL) and where `date_trunc` cuts days.
pub fn arrow_zone(zone: chrono_tz::Tz) -> std::sync::Arc<str> {
    if zone == chrono_tz::UTC {
        UTC.into()
    } else {
        zone.name().into()
    }
}

/// Maps a parsed SQL type to a column type.
pub fn sql_type_from_ast(ast: &AstType) -> EngineResult<SqlType> {
    let unsupported = || EngineError::UndefinedType(ast.to_string().to_lowercase());
    Ok(match ast {
        AstType::Bool | AstType::Boolean => SqlType::Bool,
        AstType::SmallInt(_) | AstType::Int2(_) => SqlType::Int2,
        AstType::Int(_) | AstType::Integer(_) | AstType::Int4(_) => SqlType::Int4,
        AstType::BigInt(_) | AstType::Int8(_) => SqlType::Int8,
        AstType::Real | AstType::Float4 => SqlType::Float4,
        AstType::Float(ExactNumberInfo::Precision(p)) if *p <= 24 => SqlType::Float4,
        AstType::Float(_) | AstType::Double(_) | AstType::DoublePrecision | AstType::Float8 => {
            SqlType::Float8
        }
        AstType::Numeric(info) | AstType::Decimal(info) | AstType::Dec(info) => numeric(info)?,
        AstType::Text => SqlType::Text,
        AstType::Varchar(len) | AstType::CharacterVarying(len) | AstType::CharVarying(len) => {
            SqlType::Varchar(char_length(len)?)
        }
        AstType::Char(len) | AstType::Character(len) => {
            SqlType::Char(char_length(len)?.unwrap_or(1))
        }
        AstType::Bytea => SqlType::Bytea,
        AstType::Date => SqlType::Date,
        AstType::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
            SqlType::Timestamp
        }
        AstType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            SqlType::Timestamptz
        }
        AstType::Time(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Time,
        AstType::Uuid => SqlType::Uuid,
        AstType::JSON => SqlType::Json,
        AstType::JSONB => SqlType::Jsonb,
        AstType::Interval { .. } => SqlType::Interval,
        AstType::Array(
            ArrayElemTypeDef::SquareBracket(element, _) | ArrayElemTypeDef::AngleBracket(element),
        ) => {
            let element = sql_type_from_ast(element)?;
            if let SqlType::Array(_) = element {
                return Err(EngineError::FeatureNotSupported(
                    "multidimensional arrays are not supported".into(),
                ));
            }
            // varchar(n)[] and friends are stored as text[]: the element
            // rules of text apply.
            let element = match element {
                SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Name => SqlType::Text,
                other => other,
            };
            SqlType::Array(ArrayElement::of(element).ok_or_else(|| {
                EngineError::FeatureNotSupported(format!("arrays of {}", element.pg_name()))
            })?)
        }
        AstType::Custom(name, modifiers) if modifiers.is_empty() => {
            // `"char"` keeps its quotes: unquoted `char` is character(1).
            let quoted = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.quote_style.is_some());
            match name.to_string().to_lowercase().trim_matches('"') {
                "char" if quoted => SqlType::InternalChar,
                "timestamptz" => SqlType::Timestamptz,
                "bpchar" => SqlType::Char(1),
                "int" | "int4" => SqlType::Int4,
                "string" => SqlType::Text,
                "oid" => SqlType::Oid,
                "name" => SqlType::Name,
                "interval" => SqlType::Interval,
                array if array.starts_with('_') => {
                    let element = match &array[1..] {
                        "bool" => ArrayElement::Bool,
                        "int2" => ArrayElement::Int2,
                        "int4" => ArrayElement::Int4,
                        "int8" => ArrayElement::Int8,
                        "float8" => ArrayElement::Float8,
                        "text" | "varchar" => ArrayElement::Text,
                        "uuid" => ArrayElement::Uuid,
                        _ => return Err(unsupported()),
                    };
                    SqlType::Array(element)
                }
                _ => return Err(unsupported()),
            }
        }
        _ => return Err(unsupported()),
    })
}

fn numeric(info: &ExactNumberInfo) -> EngineResult<SqlType> {
    use kimberlite_catalog::SqlType::Numeric;
    let max = 38u64;
    Ok(match info {
        ExactNumberInfo::None => Numeric {
            precision: None,
            scale: 10,
        },
        ExactNumberInfo::Precision(p) if (1..=max).contains(p) => Numeric {
            precision: Some(*p as u8),
            scale: 0,
        },
        ExactNumberInfo::PrecisionAndScale(p, s)
            if (1..=max).contains(p) && *s >= 0 && (*s as u64) <= *p =>
        {
            Numeric {
                precision: Some(*p as u8),
                scale: *s as u8,
            }
        }
        _ => {
            return Err(EngineError::InvalidParameterValue(format!(
                "NUMERIC precision and scale must satisfy 1 <= scale <= precision <= {max}"
            )))
        }
    })
}

fn char_length(len: &Option<CharacterLength>) -> EngineResult<Option<u32>> {
    match len {
        None => Ok(None),
        Some(CharacterLength::IntegerLength { length, .. })
            if (1..=10_485_760).contains(length) =>
        {
            Ok(Some(*length as u32))
        }
        Some(_) => Err(EngineError::InvalidParameterValue(
            "length for type varchar must be between 1 and 10485760".into(),
        )),
    }
}

/// The Arrow type a column of `sql_type` is stored as.
pub fn arrow_type(sql_type: SqlType) -> DataType {
    match sql_type {
        SqlType::Bool => DataType::Boolean,
        SqlType::Int2 => DataType::Int16,
        SqlType::Int4 => DataType::Int32,
        SqlType::Int8 => DataType::Int64,
        SqlType::Float4 => DataType::Float32,
        SqlType::Float8 => DataType::Float64,
        SqlType::Numeric { precision, scale } => {
            DataType::Decimal128(precision.unwrap_or(38), scale as i8)
        }
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Uuid
        | SqlType::Json
        | SqlType::Jsonb
        | SqlType::Name
        | SqlType::InternalChar => DataType::Utf8,
        SqlType::Bytea => DataType::Binary,
        SqlType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        SqlType::Oid => DataType::UInt32,
        SqlType::Array(element) => DataType::List(std::sync::Arc::new(Field::new_list_field(
            arrow_type(element.sql_type()),
            true,
        ))),
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        SqlType::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        SqlType::Time => DataType::Time64(TimeUnit::Microsecond),
    }
}

/// The Arrow field of a column, with its PostgreSQL identity in metadata.
pub fn arrow_field(name: &str, sql_type: SqlType, nullable: bool) -> Field {
    let metadata = HashMap::from([
        (META_OID.to_string(), sql_type.oid().to_string()),
        (META_TYPMOD.to_string(), sql_type.typmod().to_string()),
    ]);
    Field::new(name, arrow_type(sql_type), nullable).with_metadata(metadata)
}

/// The column type a result field has for clients: its PostgreSQL
/// identity in metadata when it carries one (a table's column), else the
/// type closest to its Arrow type; `text` for what no column can be.
pub fn sql_type_of_field(field: &Field) -> SqlType {
    let typmod = field
        .metadata()
        .get(META_TYPMOD)
        .and_then(|t| t.parse().ok())
        .unwrap_or(-1);
    SqlType::from_oid(super::params::oid_for_field(field), typmod).unwrap_or(SqlType::Text)
}

/// The Arrow fields of a table's columns.
pub fn table_fields(table: &TableDef) -> Vec<Field> {
    table
        .columns
        .iter()
        .map(|c| arrow_field(&c.name, c.sql_type, c.nullable))
        .collect()
}

/// The Arrow fields of a table's columns, timestamptz labelled with `zone`.
pub fn table_fields_in(table: &TableDef, zone: &str) -> Vec<Field> {
    table_fields(table)
        .into_iter()
        .map(|field| match field.data_type() {
            DataType::Timestamp(unit, Some(_)) => {
                let data_type = DataType::Timestamp(*unit, Some(zone.into()));
                field.with_data_type(data_type)
            }
            _ => field,
        })
        .collect()
}

/// The PostgreSQL name used in a `CAST(… AS name)` for a parameter or
/// default of this type, as DataFusion's planner understands it.
pub fn cast_target(sql_type: SqlType) -> Option<&'static str> {
    Some(match sql_type {
        SqlType::Bool => "BOOLEAN",
        SqlType::Int2 => "SMALLINT",
        SqlType::Int4 => "INTEGER",
        SqlType::Int8 => "BIGINT",
        SqlType::Float4 => "REAL",
        SqlType::Float8 => "DOUBLE PRECISION",
        SqlType::Date => "DATE",
        _ => return None,
    })
}
