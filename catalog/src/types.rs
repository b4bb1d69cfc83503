//! PostgreSQL types as the catalog records them.
//!
//! A column's type is what PostgreSQL would report for it: the name `psql \d`
//! prints, the OID a driver receives, the type modifier JDBC reads. How a
//! value of the type is laid out in memory or on the wire is someone else's
//! business (engine and server).

use serde::{Deserialize, Serialize};

/// A column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; unconstrained `numeric` is stored as
    /// `numeric(38, 10)`'s range but keeps `precision: None`.
    Numeric {
        precision: Option<u8>,
        scale: u8,
    },
    Text,
    Varchar(Option<u32>),
    /// `char(n)`: blank-padded to n.
    Char(u32),
    Bytea,
    Date,
    Timestamp,
    Timestamptz,
    Uuid,
    Json,
    Jsonb,
    /// `time` (without time zone): microseconds since midnight.
    Time,
    // New variants go last: the log stores the variant's position.
    /// `interval`: months, days and microseconds, kept apart as PostgreSQL
    /// keeps them (a month is not a fixed number of days).
    Interval,
    /// `oid`: an unsigned 32-bit object identifier.
    Oid,
    /// `name`: an identifier of at most 63 bytes.
    Name,
    /// `"char"`: PostgreSQL's one-byte internal character type.
    InternalChar,
    /// A one-dimensional array of `element`.
    Array(ArrayElement),
}

/// The element types an array column may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArrayElement {
    Bool,
    Int2,
    Int4,
    Int8,
    Float8,
    Text,
    Uuid,
}

impl ArrayElement {
    /// The element's own column type.
    pub fn sql_type(self) -> SqlType {
        match self {
            ArrayElement::Bool => SqlType::Bool,
            ArrayElement::Int2 => SqlType::Int2,
            ArrayElement::Int4 => SqlType::Int4,
            ArrayElement::Int8 => SqlType::Int8,
            ArrayElement::Float8 => SqlType::Float8,
            ArrayElement::Text => SqlType::Text,
            ArrayElement::Uuid => SqlType::Uuid,
        }
    }

    /// The element type of an array column of `sql_type`, if arrays of it
    /// are supported.
    pub fn of(sql_type: SqlType) -> Option<ArrayElement> {
        Some(match sql_type {
            SqlType::Bool => ArrayElement::Bool,
            SqlType::Int2 => ArrayElement::Int2,
            SqlType::Int4 => ArrayElement::Int4,
            SqlType::Int8 => ArrayElement::Int8,
            SqlType::Float8 => ArrayElement::Float8,
            SqlType::Text => ArrayElement::Text,
            SqlType::Uuid => ArrayElement::Uuid,
            _ => return None,
        })
    }

    /// PostgreSQL's OID of the array type (`_int4` is 1007).
    pub fn array_oid(self) -> u32 {
        match self {
            ArrayElement::Bool => 1000,
            ArrayElement::Int2 => 1005,
            ArrayElement::Int4 => 1007,
            ArrayElement::Int8 => 1016,
            ArrayElement::Float8 => 1022,
            ArrayElement::Text => 1009,
            ArrayElement::Uuid => 2951,
        }
    }

    /// The element OID of an array type that may arrive as a parameter:
    /// a column element type's, or `oid[]` (1028, which catalog lookups
    /// bind; no column has that type).
    pub fn parameter_element_oid(array_oid: u32) -> Option<u32> {
        match array_oid {
            1028 => Some(26),
            oid => ArrayElement::from_array_oid(oid).map(|e| e.sql_type().oid()),
        }
    }

    /// The element type of the array type with OID `oid`.
    pub fn from_array_oid(oid: u32) -> Option<ArrayElement> {
        [
            ArrayElement::Bool,
            ArrayElement::Int2,
            ArrayElement::Int4,
            ArrayElement::Int8,
            ArrayElement::Float8,
            ArrayElement::Text,
            ArrayElement::Uuid,
        ]
        .into_iter()
        .find(|e| e.array_oid() == oid)
    }
}

impl SqlType {
    /// PostgreSQL's type OID.
    pub fn oid(self) -> u32 {
        match self {
            SqlType::Bool => 16,
            SqlType::Int2 => 21,
            SqlType::Int4 => 23,
            SqlType::Int8 => 20,
            SqlType::Float4 => 700,
            SqlType::Float8 => 701,
            SqlType::Numeric { .. } => 1700,
            SqlType::Text => 25,
            SqlType::Varchar(_) => 1043,
            SqlType::Char(_) => 1042,
            SqlType::Bytea => 17,
            SqlType::Date => 1082,
            SqlType::Timestamp => 1114,
            SqlType::Timestamptz => 1184,
            SqlType::Uuid => 2950,
            SqlType::Json => 114,
            SqlType::Jsonb => 3802,
            SqlType::Time => 1083,
            SqlType::Interval => 1186,
            SqlType::Oid => 26,
            SqlType::Name => 19,
            SqlType::InternalChar => 18,
            SqlType::Array(element) => element.array_oid(),
        }
    }

    /// The name PostgreSQL's `format_type` prints.
    pub fn pg_name(self) -> String {
        match self {
            SqlType::Bool => "boolean".into(),
            SqlType::Int2 => "smallint".into(),
            SqlType::Int4 => "integer".into(),
            SqlType::Int8 => "bigint".into(),
            SqlType::Float4 => "real".into(),
            SqlType::Float8 => "double precision".into(),
            SqlType::Numeric {
                precision: Some(p),
                scale,
            } => format!("numeric({p},{scale})"),
            SqlType::Numeric {
                precision: None, ..
            } => "numeric".into(),
            SqlType::Text => "text".into(),
            SqlType::Varchar(Some(n)) => format!("character varying({n})"),
            SqlType::Varchar(None) => "character varying".into(),
            SqlType::Char(n) => format!("character({n})"),
            SqlType::Bytea => "bytea".into(),
            SqlType::Date => "date".into(),
            SqlType::Timestamp => "timestamp without time zone".into(),
            SqlType::Timestamptz => "timestamp with time zone".into(),
            SqlType::Uuid => "uuid".into(),
            SqlType::Json => "json".into(),
            SqlType::Jsonb => "jsonb".into(),
            SqlType::Time => "time without time zone".into(),
            SqlType::Interval => "interval".into(),
            SqlType::Oid => "oid".into(),
            SqlType::Name => "name".into(),
            SqlType::InternalChar => "\"char\"".into(),
            SqlType::Array(element) => format!("{}[]", element.sql_type().pg_name()),
        }
    }

    /// `pg_attribute.atttypmod`: -1 when the type has no modifier.
    pub fn typmod(self) -> i32 {
        match self {
            SqlType::Numeric {
                precision: Some(p),
                scale,
            } => ((p as i32) << 16 | scale as i32) + 4,
            SqlType::Varchar(Some(n)) | SqlType::Char(n) => n as i32 + 4,
            _ => -1,
        }
    }

    /// The type with PostgreSQL OID `oid` and modifier `typmod` (the
    /// inverse of [`SqlType::oid`] and [`SqlType::typmod`]); `None` for a
    /// type no column can have.
    pub fn from_oid(oid: u32, typmod: i32) -> Option<SqlType> {
        let length = (typmod >= 4).then(|| (typmod - 4) as u32);
        Some(match oid {
            16 => SqlType::Bool,
            21 => SqlType::Int2,
            23 => SqlType::Int4,
            20 => SqlType::Int8,
            700 => SqlType::Float4,
            701 => SqlType::Float8,
            1700 => match length {
                Some(m) => SqlType::Numeric {
                    precision: Some((m >> 16) as u8),
                    scale: (m & 0xFFFF) as u8,
                },
                None => SqlType::Numeric {
                    precision: None,
                    scale: 10,
                },
            },
            25 => SqlType::Text,
            1043 => SqlType::Varchar(length),
            1042 => SqlType::Char(length.unwrap_or(1)),
            17 => SqlType::Bytea,
            1082 => SqlType::Date,
            1114 => SqlType::Timestamp,
            1184 => SqlType::Timestamptz,
            2950 => SqlType::Uuid,
            114 => SqlType::Json,
            3802 => SqlType::Jsonb,
            1083 => SqlType::Time,
            1186 => SqlType::Interval,
            26 => SqlType::Oid,
            19 => SqlType::Name,
            18 => SqlType::InternalChar,
            oid => SqlType::Array(ArrayElement::from_array_oid(oid)?),
        })
    }

    /// `pg_type.typlen`: byte width, or -1 for variable width.
    pub fn typlen(self) -> i16 {
        match self {
            SqlType::Bool | SqlType::InternalChar => 1,
            SqlType::Int2 => 2,
            SqlType::Int4 | SqlType::Float4 | SqlType::Date | SqlType::Oid => 4,
            SqlType::Int8
            | SqlType::Float8
            | SqlType::Timestamp
            | SqlType::Timestamptz
            | SqlType::Time => 8,
            SqlType::Uuid | SqlType::Interval => 16,
            SqlType::Name => 64,
            _ => -1,
        }
    }

    /// The scale values of this type carry, for numeric.
    pub fn numeric_scale(self) -> Option<u8> {
        match self {
            SqlType::Numeric { scale, .. } => Some(scale),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typmods_match_postgresql() {
        // numeric(18,4) → 1179656 and varchar(20) → 24 in PostgreSQL 15.
        assert_eq!(
            SqlType::Numeric {
                precision: Some(18),
                scale: 4
            }
            .typmod(),
            1179656
        );
        assert_eq!(SqlType::Varchar(Some(20)).typmod(), 24);
        assert_eq!(SqlType::Text.typmod(), -1);
    }
}
