//! `information_schema`'s relations, computed from the catalog.
//!
//! The SQL standard's views, as PostgreSQL 15 fills them for the objects
//! we have. Their domains read as their base types: `sql_identifier` as
//! `name`, `character_data` and `yes_or_no` as `text`, `cardinal_number`
//! as `integer`. NOT NULL columns are CHECK constraints in
//! `table_constraints`, named as PostgreSQL names them. Not listed yet: the
//! system relations themselves in `tables`/`columns`.

use super::pg_catalog::{constraint_indexes, quote_ident};
use super::{Reader, Relation, Value};
use crate::{Catalog, ConstraintKind, Identity, RefAction, SqlType, TableDef};

use SqlType::{Int4, Name, Text};

/// Every relation of `information_schema` computed here.
pub const INFORMATION_SCHEMA_RELATIONS: &[&str] = &[
    "schemata",
    "tables",
    "columns",
    "views",
    "table_constraints",
    "key_column_usage",
    "referential_constraints",
    "constraint_column_usage",
    "sequences",
    "routines",
];

pub(super) fn relation(name: &str, reader: &Reader) -> Option<Relation> {
    let catalog = reader.catalog;
    Some(match name {
        "schemata" => schemata(catalog),
        "tables" => tables(catalog),
        "columns" => columns(catalog),
        "views" => views(catalog),
        "table_constraints" => table_constraints(catalog),
        "key_column_usage" => key_column_usage(catalog),
        "referential_constraints" => referential_constraints(catalog),
        "constraint_column_usage" => constraint_column_usage(catalog),
        "sequences" => sequences(catalog),
        "routines" => Relation {
            columns: vec![
                ("specific_catalog", Name),
                ("specific_schema", Name),
                ("specific_name", Name),
                ("routine_catalog", Name),
                ("routine_schema", Name),
                ("routine_name", Name),
                ("routine_type", Text),
                ("data_type", Text),
                ("routine_definition", Text),
                ("external_language", Text),
            ],
            rows: Vec::new(),
        },
        _ => return None,
    })
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn yes_no(b: bool) -> Value {
    text(if b { "YES" } else { "NO" })
}

fn schemata(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("catalog_name", Name),
        ("schema_name", Name),
        ("schema_owner", Name),
        ("default_character_set_catalog", Name),
        ("default_character_set_schema", Name),
        ("default_character_set_name", Name),
        ("sql_path", Text),
    ];
    let mut names = vec![
        ("pg_catalog".to_string(), crate::SUPERUSER.to_string()),
        ("information_schema".into(), crate::SUPERUSER.into()),
        (
            crate::DEFAULT_SCHEMA.into(),
            super::oid::DATABASE_OWNER.into(),
        ),
    ];
    names.extend(catalog.schemas().map(|s| (s.name.clone(), s.owner.clone())));
    let rows = names
        .into_iter()
        .map(|(name, owner)| {
            vec![
                text(catalog.database_name()),
                text(name),
                text(owner),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn tables(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("table_catalog", Name),
        ("table_schema", Name),
        ("table_name", Name),
        ("table_type", Text),
        ("self_referencing_column_name", Name),
        ("reference_generation", Text),
        ("user_defined_type_catalog", Name),
        ("user_defined_type_schema", Name),
        ("user_defined_type_name", Name),
        ("is_insertable_into", Text),
        ("is_typed", Text),
        ("commit_action", Text),
    ];
    let row = |id: u64, name: &str, kind: &str, insertable: bool| {
        vec![
            text(catalog.database_name()),
            text(catalog.schema_of(id)),
            text(name),
            text(kind),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            yes_no(insertable),
            yes_no(false),
            Value::Null,
        ]
    };
    let rows: Vec<Vec<Value>> = catalog
        .tables()
        .map(|t| row(t.id, &t.name, "BASE TABLE", true))
        .chain(catalog.views().map(|v| row(v.id, &v.name, "VIEW", false)))
        .collect();
    Relation { columns, rows }
}

/// The standard's name of a type (`data_type`) and PostgreSQL's
/// (`udt_name`).
fn type_names(t: SqlType) -> (String, &'static str) {
    let udt = match t {
        SqlType::Bool => "bool",
        SqlType::Int2 => "int2",
        SqlType::Int4 => "int4",
        SqlType::Int8 => "int8",
        SqlType::Float4 => "float4",
        SqlType::Float8 => "float8",
        SqlType::Numeric { .. } => "numeric",
        SqlType::Text => "text",
        SqlType::Varchar(_) => "varchar",
        SqlType::Char(_) => "bpchar",
        SqlType::Bytea => "bytea",
        SqlType::Date => "date",
        SqlType::Timestamp => "timestamp",
        SqlType::Timestamptz => "timestamptz",
        SqlType::Uuid => "uuid",
        SqlType::Json => "json",
        SqlType::Jsonb => "jsonb",
        SqlType::Time => "time",
        SqlType::Interval => "interval",
        SqlType::Oid => "oid",
        SqlType::Name => "name",
        SqlType::InternalChar => "char",
        SqlType::Array(element) => match element {
            crate::ArrayElement::Bool => "_bool",
            crate::ArrayElement::Int2 => "_int2",
            crate::ArrayElement::Int4 => "_int4",
            crate::ArrayElement::Int8 => "_int8",
            crate::ArrayElement::Float8 => "_float8",
            crate::ArrayElement::Text => "_text",
            crate::ArrayElement::Uuid => "_uuid",
        },
    };
    let standard = match t {
        SqlType::Array(_) => "ARRAY".to_string(),
        SqlType::Varchar(_) => "character varying".into(),
        SqlType::Char(_) => "character".into(),
        SqlType::Numeric { .. } => "numeric".into(),
        other => other.pg_name(),
    };
    (standard, udt)
}

fn columns(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("table_catalog", Name),
        ("table_schema", Name),
        ("table_name", Name),
        ("column_name", Name),
        ("ordinal_position", Int4),
        ("column_default", Text),
        ("is_nullable", Text),
        ("data_type", Text),
        ("character_maximum_length", Int4),
        ("character_octet_length", Int4),
        ("numeric_precision", Int4),
        ("numeric_precision_radix", Int4),
        ("numeric_scale", Int4),
        ("datetime_precision", Int4),
        ("interval_type", Text),
        ("udt_catalog", Name),
        ("udt_schema", Name),
        ("udt_name", Name),
        ("is_identity", Text),
        ("identity_generation", Text),
        ("is_generated", Text),
        ("generation_expression", Text),
        ("is_updatable", Text),
    ];
    let mut rows = Vec::new();
    for table in catalog.tables() {
        for (i, c) in table.columns.iter().enumerate() {
            let default = match (&c.default_sql, c.identity) {
                (Some(sql), None) => text(super::deparse_default(sql, c.sql_type)),
                _ => Value::Null,
            };
            rows.push(column_row(
                catalog,
                ColumnOf {
                    schema: catalog.schema_of(table.id),
                    relation: &table.name,
                    position: i + 1,
                    name: &c.name,
                    sql_type: c.sql_type,
                    nullable: c.nullable,
                    identity: c.identity,
                    updatable: true,
                },
                default,
            ));
        }
    }
    // A view's columns have the types its query produced (nullable, not
    // updatable: we have no updatable views).
    for view in catalog.views() {
        let types = catalog.view_column_types(view);
        for (i, (name, sql_type)) in view.columns.iter().zip(types).enumerate() {
            rows.push(column_row(
                catalog,
                ColumnOf {
                    schema: catalog.schema_of(view.id),
                    relation: &view.name,
                    position: i + 1,
                    name,
                    sql_type,
                    nullable: true,
                    identity: None,
                    updatable: false,
                },
                Value::Null,
            ));
        }
    }
    Relation { columns, rows }
}

/// One column of a table or view, as `information_schema.columns` shows it.
struct ColumnOf<'a> {
    schema: &'a str,
    relation: &'a str,
    position: usize,
    name: &'a str,
    sql_type: SqlType,
    nullable: bool,
    identity: Option<Identity>,
    updatable: bool,
}

fn column_row(catalog: &Catalog, c: ColumnOf, default: Value) -> Vec<Value> {
    let (data_type, udt) = type_names(c.sql_type);
    let (length, octets) = match c.sql_type {
        SqlType::Varchar(Some(n)) | SqlType::Char(n) => {
            (Value::Int4(n as i32), Value::Int4(n as i32 * 4))
        }
        SqlType::Varchar(None) | SqlType::Text => (Value::Null, Value::Int4(1_073_741_824)),
        _ => (Value::Null, Value::Null),
    };
    let (precision, radix, scale) = match c.sql_type {
        SqlType::Int2 => (Value::Int4(16), Value::Int4(2), Value::Int4(0)),
        SqlType::Int4 => (Value::Int4(32), Value::Int4(2), Value::Int4(0)),
        SqlType::Int8 => (Value::Int4(64), Value::Int4(2), Value::Int4(0)),
        SqlType::Float4 => (Value::Int4(24), Value::Int4(2), Value::Null),
        SqlType::Float8 => (Value::Int4(53), Value::Int4(2), Value::Null),
        SqlType::Numeric {
            precision: Some(p),
            scale,
        } => (
            Value::Int4(p as i32),
            Value::Int4(10),
            Value::Int4(scale as i32),
        ),
        SqlType::Numeric { .. } => (Value::Null, Value::Int4(10), Value::Null),
        _ => (Value::Null, Value::Null, Value::Null),
    };
    let datetime = match c.sql_type {
        SqlType::Date => Value::Int4(0),
        SqlType::Timestamp | SqlType::Timestamptz | SqlType::Time | SqlType::Interval => {
            Value::Int4(6)
        }
        _ => Value::Null,
    };
    vec![
        text(catalog.database_name()),
        text(c.schema),
        text(c.relation),
        text(c.name),
        Value::Int4(c.position as i32),
        default,
        yes_no(c.nullable),
        text(data_type),
        length,
        octets,
        precision,
        radix,
        scale,
        datetime,
        Value::Null,
        text(catalog.database_name()),
        text("pg_catalog"),
        text(udt),
        yes_no(c.identity.is_some()),
        match c.identity {
            Some(Identity::Always) => text("ALWAYS"),
            Some(Identity::ByDefault) => text("BY DEFAULT"),
            None => Value::Null,
        },
        text("NEVER"),
        Value::Null,
        yes_no(c.updatable),
    ]
}

fn views(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("table_catalog", Name),
        ("table_schema", Name),
        ("table_name", Name),
        ("view_definition", Text),
        ("check_option", Text),
        ("is_updatable", Text),
        ("is_insertable_into", Text),
        ("is_trigger_updatable", Text),
        ("is_trigger_deletable", Text),
        ("is_trigger_insertable_into", Text),
    ];
    let rows = catalog
        .views()
        .map(|v| {
            vec![
                text(catalog.database_name()),
                text(catalog.schema_of(v.id)),
                text(v.name.clone()),
                text(format!(" {};", v.query_sql)),
                text("NONE"),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
                yes_no(false),
            ]
        })
        .collect();
    Relation { columns, rows }
}

/// A table's constraints: (position, name, type, columns).
fn constraints(table: &TableDef) -> Vec<(usize, String, &'static str, Vec<usize>)> {
    let mut out = Vec::new();
    if !table.primary_key.is_empty() {
        out.push((
            0,
            table.primary_key_name(),
            "PRIMARY KEY",
            table.primary_key.clone(),
        ));
    }
    for (k, c) in table.constraints.iter().enumerate() {
        let (kind, columns) = match &c.kind {
            ConstraintKind::Unique { columns } => ("UNIQUE", columns.clone()),
            ConstraintKind::Check { .. } => ("CHECK", Vec::new()),
            ConstraintKind::ForeignKey(fk) => ("FOREIGN KEY", fk.columns.clone()),
            ConstraintKind::UniqueIndex { .. } => continue,
        };
        out.push((k + 1, c.name.clone(), kind, columns));
    }
    out
}

fn table_constraints(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("constraint_catalog", Name),
        ("constraint_schema", Name),
        ("constraint_name", Name),
        ("table_catalog", Name),
        ("table_schema", Name),
        ("table_name", Name),
        ("constraint_type", Text),
        ("is_deferrable", Text),
        ("initially_deferred", Text),
        ("enforced", Text),
        ("nulls_distinct", Text),
    ];
    let mut rows = Vec::new();
    for table in catalog.tables() {
        let schema = catalog.schema_of(table.id);
        for (_, name, kind, _) in constraints(table) {
            rows.push(vec![
                text(catalog.database_name()),
                text(schema),
                text(name),
                text(catalog.database_name()),
                text(schema),
                text(table.name.clone()),
                text(kind),
                yes_no(false),
                yes_no(false),
                yes_no(true),
                // PostgreSQL 15 fills it for UNIQUE only.
                if kind == "UNIQUE" {
                    yes_no(true)
                } else {
                    Value::Null
                },
            ]);
        }
        // PostgreSQL lists each NOT NULL column as a CHECK constraint
        // named `<namespace oid>_<table oid>_<attnum>_not_null`.
        let namespace = super::oid::namespace(schema);
        let relation = super::oid::relation(table.id);
        for (i, column) in table.columns.iter().enumerate() {
            if column.nullable {
                continue;
            }
            rows.push(vec![
                text(catalog.database_name()),
                text(schema),
                text(format!("{namespace}_{relation}_{}_not_null", i + 1)),
                text(catalog.database_name()),
                text(schema),
                text(table.name.clone()),
                text("CHECK"),
                yes_no(false),
                yes_no(false),
                yes_no(true),
                Value::Null,
            ]);
        }
    }
    Relation { columns, rows }
}

fn key_column_usage(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("constraint_catalog", Name),
        ("constraint_schema", Name),
        ("constraint_name", Name),
        ("table_catalog", Name),
        ("table_schema", Name),
        ("table_name", Name),
        ("column_name", Name),
        ("ordinal_position", Int4),
        ("position_in_unique_constraint", Int4),
    ];
    let mut rows = Vec::new();
    for table in catalog.tables() {
        let schema = catalog.schema_of(table.id);
        for (position, name, kind, cols) in constraints(table) {
            if kind == "CHECK" {
                continue;
            }
            for (i, &c) in cols.iter().enumerate() {
                let in_unique = match table.constraints.get(position.wrapping_sub(1)) {
                    Some(constraint) if position > 0 => match &constraint.kind {
                        ConstraintKind::ForeignKey(_) => Value::Int4(i as i32 + 1),
                        _ => Value::Null,
                    },
                    _ => Value::Null,
                };
                rows.push(vec![
                    text(catalog.database_name()),
                    text(schema),
                    text(name.clone()),
                    text(catalog.database_name()),
                    text(schema),
                    text(table.name.clone()),
                    text(table.columns[c].name.clone()),
                    Value::Int4(i as i32 + 1),
                    in_unique,
                ]);
            }
        }
    }
    Relation { columns, rows }
}

fn rule(a: RefAction) -> &'static str {
    a.sql()
}

fn referential_constraints(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("constraint_catalog", Name),
        ("constraint_schema", Name),
        ("constraint_name", Name),
        ("unique_constraint_catalog", Name),
        ("unique_constraint_schema", Name),
        ("unique_constraint_name", Name),
        ("match_option", Text),
        ("update_rule", Text),
        ("delete_rule", Text),
    ];
    let mut rows = Vec::new();
    for table in catalog.tables() {
        for (constraint, fk) in table.foreign_keys() {
            let target = catalog.table_by_id(fk.ref_table);
            let unique = target.and_then(|t| {
                constraint_indexes(t)
                    .into_iter()
                    .find(|(_, _, cols)| *cols == fk.ref_columns)
                    .map(|(_, name, _)| name)
            });
            rows.push(vec![
                text(catalog.database_name()),
                text(catalog.schema_of(table.id)),
                text(constraint.name.clone()),
                text(catalog.database_name()),
                text(catalog.schema_of(fk.ref_table)),
                unique.map(text).unwrap_or(Value::Null),
                text("NONE"),
                text(rule(fk.on_update)),
                text(rule(fk.on_delete)),
            ]);
        }
    }
    Relation { columns, rows }
}

fn constraint_column_usage(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("table_catalog", Name),
        ("table_schema", Name),
        ("table_name", Name),
        ("column_name", Name),
        ("constraint_catalog", Name),
        ("constraint_schema", Name),
        ("constraint_name", Name),
    ];
    let mut rows = Vec::new();
    for table in catalog.tables() {
        let schema = catalog.schema_of(table.id);
        for (position, name, kind, cols) in constraints(table) {
            // A foreign key uses the referenced columns; the others their own.
            let (used_table, used): (&TableDef, Vec<usize>) = match kind {
                "FOREIGN KEY" => {
                    let ConstraintKind::ForeignKey(fk) = &table.constraints[position - 1].kind
                    else {
                        continue;
                    };
                    match catalog.table_by_id(fk.ref_table) {
                        Some(t) => (t, fk.ref_columns.clone()),
                        None => continue,
                    }
                }
                _ => (table, cols),
            };
            for c in used {
                rows.push(vec![
                    text(catalog.database_name()),
                    text(catalog.schema_of(used_table.id)),
                    text(used_table.name.clone()),
                    text(used_table.columns[c].name.clone()),
                    text(catalog.database_name()),
                    text(schema),
                    text(name.clone()),
                ]);
            }
        }
    }
    Relation { columns, rows }
}

fn sequences(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("sequence_catalog", Name),
        ("sequence_schema", Name),
        ("sequence_name", Name),
        ("data_type", Text),
        ("numeric_precision", Int4),
        ("numeric_precision_radix", Int4),
        ("numeric_scale", Int4),
        ("start_value", Text),
        ("minimum_value", Text),
        ("maximum_value", Text),
        ("increment", Text),
        ("cycle_option", Text),
    ];
    let rows = catalog
        .sequences()
        .map(|s| {
            let bits = match s.data_type {
                SqlType::Int2 => 16,
                SqlType::Int4 => 32,
                _ => 64,
            };
            vec![
                text(catalog.database_name()),
                text(catalog.schema_of(s.id)),
                text(quote_ident(&s.name).trim_matches('"').to_string()),
                text(s.data_type.pg_name()),
                Value::Int4(bits),
                Value::Int4(2),
                Value::Int4(0),
                text(s.start.to_string()),
                text(s.min_value.to_string()),
                text(s.max_value.to_string()),
                text(s.increment.to_string()),
                yes_no(s.cycle),
            ]
        })
        .collect();
    Relation { columns, rows }
}
