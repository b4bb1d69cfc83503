//! `pg_catalog`'s relations, computed from the catalog.
//!
//! Each relation has PostgreSQL 15's columns that clients read (psql's
//! `\d` family, JDBC, SQLAlchemy, asyncpg, Grafana); columns of features we
//! do not have (TOAST, partitions, replication) hold PostgreSQL's values
//! for an object without them. Relations of features we do not have at
//! all (triggers, policies, publications, inheritance, extended
//! statistics) exist with their columns and no rows.
//!
//! PRIMARY KEY and UNIQUE constraints are backed by indexes in PostgreSQL,
//! so each one shows up in `pg_class`/`pg_index` as an index of its own
//! (OIDs from [`oid::constraint_index`]), as `CREATE INDEX` indexes do.

use super::{oid, Reader, Relation, Value};
use crate::{
    Catalog, ConstraintKind, Identity, IndexDef, RefAction, SequenceDef, SqlType, TableDef,
    ViewDef, DEFAULT_SCHEMA,
};

use SqlType::{Bool, Float4, Int2, Int4, Int8, InternalChar, Name, Oid, Text};

const TEXT_ARRAY: SqlType = SqlType::Array(crate::ArrayElement::Text);
const INT2_ARRAY: SqlType = SqlType::Array(crate::ArrayElement::Int2);

/// Every relation of `pg_catalog` computed here.
pub const PG_CATALOG_RELATIONS: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_index",
    "pg_constraint",
    "pg_attrdef",
    "pg_description",
    "pg_database",
    "pg_roles",
    "pg_authid",
    "pg_user",
    "pg_auth_members",
    "pg_am",
    "pg_collation",
    "pg_sequence",
    "pg_tables",
    "pg_views",
    "pg_indexes",
    "pg_sequences",
    "pg_extension",
    "pg_range",
    "pg_enum",
    "pg_inherits",
    "pg_policy",
    "pg_trigger",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
    "pg_depend",
    "pg_proc",
    "pg_stat_user_tables",
    "pg_statio_user_tables",
    "pg_opclass",
];

/// PostgreSQL's OIDs of its catalog relations (`'pg_class'::regclass`).
pub const SYSTEM_RELATION_OIDS: &[(&str, u32)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_database", 1262),
    ("pg_authid", 1260),
    ("pg_auth_members", 1261),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_inherits", 2611),
    ("pg_index", 2610),
    ("pg_description", 2609),
    ("pg_namespace", 2615),
    ("pg_am", 2601),
    ("pg_depend", 2608),
    ("pg_trigger", 2620),
    ("pg_collation", 3456),
    ("pg_extension", 3079),
    ("pg_enum", 3501),
    ("pg_range", 3541),
    ("pg_policy", 3256),
    ("pg_sequence", 2224),
    ("pg_statistic_ext", 3381),
    ("pg_publication", 6104),
    ("pg_publication_namespace", 6237),
    ("pg_publication_rel", 6106),
];

/// The relations that have no rows (features we do not have).
pub const EMPTY_RELATIONS: &[&str] = &[
    "pg_auth_members",
    "pg_extension",
    "pg_range",
    "pg_enum",
    "pg_inherits",
    "pg_policy",
    "pg_trigger",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_namespace",
    "pg_publication_rel",
];

pub(super) fn relation(name: &str, reader: &Reader) -> Option<Relation> {
    let catalog = reader.catalog;
    Some(match name {
        "pg_namespace" => pg_namespace(catalog),
        "pg_class" => pg_class(catalog),
        "pg_attribute" => pg_attribute(catalog),
        "pg_type" => pg_type(),
        "pg_index" => pg_index(catalog),
        "pg_constraint" => pg_constraint(catalog),
        "pg_attrdef" => pg_attrdef(catalog),
        "pg_description" => pg_description(catalog),
        "pg_database" => pg_database(catalog),
        "pg_roles" | "pg_authid" => pg_roles(catalog),
        "pg_user" => pg_user(catalog),
        "pg_am" => pg_am(),
        "pg_collation" => pg_collation(),
        "pg_sequence" => pg_sequence(catalog),
        "pg_tables" => pg_tables(catalog),
        "pg_views" => pg_views(catalog),
        "pg_indexes" => pg_indexes(catalog),
        "pg_sequences" => pg_sequences(catalog),
        "pg_depend" => pg_depend(catalog),
        "pg_opclass" => pg_opclass(),
        "pg_stat_user_tables" | "pg_statio_user_tables" => pg_stat_user_tables(catalog),
        "pg_proc" => pg_proc(),
        "pg_auth_members" => empty(&[
            ("roleid", Oid),
            ("member", Oid),
            ("grantor", Oid),
            ("admin_option", Bool),
        ]),
        "pg_extension" => empty(&[
            ("oid", Oid),
            ("extname", Name),
            ("extowner", Oid),
            ("extnamespace", Oid),
            ("extrelocatable", Bool),
            ("extversion", Text),
        ]),
        "pg_range" => empty(&[
            ("rngtypid", Oid),
            ("rngsubtype", Oid),
            ("rngmultitypid", Oid),
            ("rngcollation", Oid),
            ("rngsubopc", Oid),
        ]),
        "pg_enum" => empty(&[
            ("oid", Oid),
            ("enumtypid", Oid),
            ("enumsortorder", Float4),
            ("enumlabel", Name),
        ]),
        "pg_inherits" => empty(&[
            ("inhrelid", Oid),
            ("inhparent", Oid),
            ("inhseqno", Int4),
            ("inhdetachpending", Bool),
        ]),
        "pg_policy" => empty(&[
            ("oid", Oid),
            ("polname", Name),
            ("polrelid", Oid),
            ("polcmd", InternalChar),
            ("polpermissive", Bool),
            ("polroles", TEXT_ARRAY),
            ("polqual", Text),
            ("polwithcheck", Text),
        ]),
        "pg_trigger" => empty(&[
            ("oid", Oid),
            ("tgrelid", Oid),
            ("tgparentid", Oid),
            ("tgname", Name),
            ("tgfoid", Oid),
            ("tgtype", Int2),
            ("tgenabled", InternalChar),
            ("tgisinternal", Bool),
            ("tgconstrrelid", Oid),
            ("tgconstrindid", Oid),
            ("tgconstraint", Oid),
            ("tgdeferrable", Bool),
            ("tginitdeferred", Bool),
            ("tgnargs", Int2),
        ]),
        "pg_statistic_ext" => empty(&[
            ("oid", Oid),
            ("stxrelid", Oid),
            ("stxname", Name),
            ("stxnamespace", Oid),
            ("stxowner", Oid),
            ("stxstattarget", Int4),
            ("stxkeys", INT2_ARRAY),
            ("stxkind", TEXT_ARRAY),
        ]),
        "pg_publication" => empty(&[
            ("oid", Oid),
            ("pubname", Name),
            ("pubowner", Oid),
            ("puballtables", Bool),
            ("pubinsert", Bool),
            ("pubupdate", Bool),
            ("pubdelete", Bool),
            ("pubtruncate", Bool),
            ("pubviaroot", Bool),
        ]),
        "pg_publication_namespace" => empty(&[("oid", Oid), ("pnpubid", Oid), ("pnnspid", Oid)]),
        "pg_publication_rel" => empty(&[
            ("oid", Oid),
            ("prpubid", Oid),
            ("prrelid", Oid),
            ("prqual", Text),
            ("prattrs", INT2_ARRAY),
        ]),
        _ => return None,
    })
}

fn empty(columns: &[(&'static str, SqlType)]) -> Relation {
    Relation {
        columns: columns.to_vec(),
        rows: Vec::new(),
    }
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// Every schema of the catalog, `pg_catalog` and `information_schema`
/// included: (name, owner).
fn schemas(catalog: &Catalog) -> Vec<(String, String)> {
    let mut all = vec![
        ("pg_catalog".to_string(), crate::SUPERUSER.to_string()),
        (
            "information_schema".to_string(),
            crate::SUPERUSER.to_string(),
        ),
        (DEFAULT_SCHEMA.to_string(), oid::DATABASE_OWNER.to_string()),
    ];
    all.extend(catalog.schemas().map(|s| (s.name.clone(), s.owner.clone())));
    all
}

fn pg_namespace(catalog: &Catalog) -> Relation {
    Relation {
        columns: vec![
            ("oid", Oid),
            ("nspname", Name),
            ("nspowner", Oid),
            ("nspacl", TEXT_ARRAY),
        ],
        rows: schemas(catalog)
            .into_iter()
            .map(|(name, owner)| {
                vec![
                    Value::Oid(oid::namespace(&name)),
                    text(name),
                    Value::Oid(oid::role(&owner)),
                    Value::Null,
                ]
            })
            .collect(),
    }
}

/// One row of `pg_class`: what it describes.
pub(crate) enum Object<'a> {
    Table(&'a TableDef),
    View(&'a ViewDef),
    Sequence(&'a SequenceDef),
    Index(&'a IndexDef),
    /// The index backing a PRIMARY KEY (`position` 0) or UNIQUE constraint.
    ConstraintIndex {
        table: &'a TableDef,
        position: usize,
        columns: Vec<usize>,
    },
}

/// A relation as `pg_class` lists it.
pub(crate) struct RelationRow<'a> {
    pub oid: u32,
    pub name: String,
    pub schema: String,
    pub kind: &'static str,
    pub object: Object<'a>,
}

impl RelationRow<'_> {
    /// The table an index belongs to.
    pub fn indexed_table(&self) -> Option<u64> {
        match &self.object {
            Object::Index(index) => Some(index.table),
            Object::ConstraintIndex { table, .. } => Some(table.id),
            _ => None,
        }
    }
}

/// Every relation of the catalog, constraint indexes included.
pub(crate) fn relations(catalog: &Catalog) -> Vec<RelationRow<'_>> {
    let mut rows = Vec::new();
    for table in catalog.tables() {
        let schema = catalog.schema_of(table.id).to_string();
        rows.push(RelationRow {
            oid: oid::relation(table.id),
            name: table.name.clone(),
            schema: schema.clone(),
            kind: "r",
            object: Object::Table(table),
        });
        for (position, name, columns) in constraint_indexes(table) {
            rows.push(RelationRow {
                oid: oid::constraint_index(table.id, position),
                name,
                schema: schema.clone(),
                kind: "i",
                object: Object::ConstraintIndex {
                    table,
                    position,
                    columns,
                },
            });
        }
    }
    for view in catalog.views() {
        rows.push(RelationRow {
            oid: oid::relation(view.id),
            name: view.name.clone(),
            schema: catalog.schema_of(view.id).to_string(),
            kind: "v",
            object: Object::View(view),
        });
    }
    for sequence in catalog.sequences() {
        rows.push(RelationRow {
            oid: oid::relation(sequence.id),
            name: sequence.name.clone(),
            schema: catalog.schema_of(sequence.id).to_string(),
            kind: "S",
            object: Object::Sequence(sequence),
        });
    }
    for index in catalog.indexes() {
        rows.push(RelationRow {
            oid: oid::relation(index.id),
            name: index.name.clone(),
            schema: catalog.schema_of(index.table).to_string(),
            kind: "i",
            object: Object::Index(index),
        });
    }
    rows
}

/// The PRIMARY KEY (position 0) and UNIQUE constraints (position k + 1)
/// of a table: (position, name, columns).
pub(crate) fn constraint_indexes(table: &TableDef) -> Vec<(usize, String, Vec<usize>)> {
    let mut out = Vec::new();
    if !table.primary_key.is_empty() {
        out.push((0, table.primary_key_name(), table.primary_key.clone()));
    }
    for (k, constraint) in table.constraints.iter().enumerate() {
        if let ConstraintKind::Unique { columns } = &constraint.kind {
            out.push((k + 1, constraint.name.clone(), columns.clone()));
        }
    }
    out
}

fn pg_class(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("relname", Name),
        ("relnamespace", Oid),
        ("reltype", Oid),
        ("reloftype", Oid),
        ("relowner", Oid),
        ("relam", Oid),
        ("relfilenode", Oid),
        ("reltablespace", Oid),
        ("relpages", Int4),
        ("reltuples", Float4),
        ("relallvisible", Int4),
        ("reltoastrelid", Oid),
        ("relhasindex", Bool),
        ("relisshared", Bool),
        ("relpersistence", InternalChar),
        ("relkind", InternalChar),
        ("relnatts", Int2),
        ("relchecks", Int2),
        ("relhasrules", Bool),
        ("relhastriggers", Bool),
        ("relhassubclass", Bool),
        ("relrowsecurity", Bool),
        ("relforcerowsecurity", Bool),
        ("relispopulated", Bool),
        ("relreplident", InternalChar),
        ("relispartition", Bool),
        ("relrewrite", Oid),
        ("relacl", TEXT_ARRAY),
        ("reloptions", TEXT_ARRAY),
        ("relpartbound", Text),
    ];
    let relations = relations(catalog);
    let rows = relations
        .iter()
        .map(|r| {
            // Foreign keys are kept by triggers in PostgreSQL, on both
            // tables (psql lists them only where this is set).
            let has_triggers = match &r.object {
                Object::Table(t) => {
                    t.foreign_keys().next().is_some() || !catalog.referencing(t.id).is_empty()
                }
                _ => false,
            };
            let (natts, checks, has_index, am, options) = match &r.object {
                Object::Table(t) => {
                    let checks = t
                        .constraints
                        .iter()
                        .filter(|c| matches!(c.kind, ConstraintKind::Check { .. }))
                        .count();
                    let has_index = relations.iter().any(|i| i.indexed_table() == Some(t.id));
                    let options: Vec<String> = catalog
                        .storage_options(t.id)
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    (t.columns.len(), checks, has_index, oid::HEAP_AM, options)
                }
                Object::View(v) => (v.columns.len(), 0, false, 0, Vec::new()),
                Object::Sequence(_) => (3, 0, false, 0, Vec::new()),
                Object::Index(i) => (i.columns.len(), 0, false, oid::BTREE_AM, Vec::new()),
                Object::ConstraintIndex { columns, .. } => {
                    (columns.len(), 0, false, oid::BTREE_AM, Vec::new())
                }
            };
            vec![
                Value::Oid(r.oid),
                text(r.name.clone()),
                Value::Oid(oid::namespace(&r.schema)),
                Value::Oid(0),
                Value::Oid(0),
                Value::Oid(oid::SUPERUSER_ROLE),
                Value::Oid(am),
                Value::Oid(r.oid),
                Value::Oid(0),
                Value::Int4(0),
                Value::Float4(-1.0),
                Value::Int4(0),
                Value::Oid(0),
                Value::Bool(has_index),
                Value::Bool(false),
                text("p"),
                text(r.kind),
                Value::Int2(natts as i16),
                Value::Int2(checks as i16),
                Value::Bool(false),
                Value::Bool(has_triggers),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(true),
                text(if r.kind == "r" { "d" } else { "n" }),
                Value::Bool(false),
                Value::Oid(0),
                Value::Null,
                if options.is_empty() {
                    Value::Null
                } else {
                    Value::TextArray(options)
                },
                Value::Null,
            ]
        })
        .collect();
    Relation { columns, rows }
}

/// Whether values of the type sort by a collation.
fn collatable(t: SqlType) -> bool {
    matches!(t, SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_))
}

fn pg_attribute(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("attrelid", Oid),
        ("attname", Name),
        ("atttypid", Oid),
        ("attstattarget", Int4),
        ("attlen", Int2),
        ("attnum", Int2),
        ("attndims", Int4),
        ("attcacheoff", Int4),
        ("atttypmod", Int4),
        ("attbyval", Bool),
        ("attalign", InternalChar),
        ("attstorage", InternalChar),
        ("attcompression", InternalChar),
        ("attnotnull", Bool),
        ("atthasdef", Bool),
        ("atthasmissing", Bool),
        ("attidentity", InternalChar),
        ("attgenerated", InternalChar),
        ("attisdropped", Bool),
        ("attislocal", Bool),
        ("attinhcount", Int4),
        ("attcollation", Oid),
        ("attacl", TEXT_ARRAY),
        ("attoptions", TEXT_ARRAY),
    ];
    let row = |rel: u32,
               num: usize,
               name: &str,
               t: SqlType,
               not_null: bool,
               has_default: bool,
               identity: &str| {
        vec![
            Value::Oid(rel),
            text(name),
            Value::Oid(t.oid()),
            Value::Int4(-1),
            Value::Int2(t.typlen()),
            Value::Int2(num as i16),
            Value::Int4(matches!(t, SqlType::Array(_)) as i32),
            Value::Int4(-1),
            Value::Int4(t.typmod()),
            Value::Bool(t.typlen() > 0 && t.typlen() <= 8),
            text("i"),
            text(if t.typlen() > 0 { "p" } else { "x" }),
            text(""),
            Value::Bool(not_null),
            Value::Bool(has_default),
            Value::Bool(false),
            text(identity),
            text(""),
            Value::Bool(false),
            Value::Bool(true),
            Value::Int4(0),
            Value::Oid(if collatable(t) {
                oid::DEFAULT_COLLATION
            } else {
                0
            }),
            Value::Null,
            Value::Null,
        ]
    };
    let mut rows = Vec::new();
    for r in relations(catalog) {
        match &r.object {
            Object::Table(t) => {
                for (i, c) in t.columns.iter().enumerate() {
                    let identity = match c.identity {
                        Some(Identity::Always) => "a",
                        Some(Identity::ByDefault) => "d",
                        None => "",
                    };
                    let has_default = c.default_sql.is_some() && c.identity.is_none();
                    rows.push(row(
                        r.oid,
                        i + 1,
                        &c.name,
                        c.sql_type,
                        !c.nullable,
                        has_default,
                        identity,
                    ));
                }
            }
            Object::View(v) => {
                let types = catalog.view_column_types(v);
                for (i, (name, t)) in v.columns.iter().zip(types).enumerate() {
                    rows.push(row(r.oid, i + 1, name, t, false, false, ""));
                }
            }
            Object::Sequence(s) => {
                for (i, (name, t)) in [
                    ("last_value", s.data_type),
                    ("log_cnt", SqlType::Int8),
                    ("is_called", SqlType::Bool),
                ]
                .into_iter()
                .enumerate()
                {
                    rows.push(row(r.oid, i + 1, name, t, true, false, ""));
                }
            }
            Object::Index(index) => {
                if let Some(table) = catalog.table_by_id(index.table) {
                    for (i, c) in index.columns.iter().enumerate() {
                        let column = &table.columns[c.column];
                        rows.push(row(
                            r.oid,
                            i + 1,
                            &column.name,
                            column.sql_type,
                            false,
                            false,
                            "",
                        ));
                    }
                }
            }
            Object::ConstraintIndex { table, columns, .. } => {
                for (i, &c) in columns.iter().enumerate() {
                    let column = &table.columns[c];
                    rows.push(row(
                        r.oid,
                        i + 1,
                        &column.name,
                        column.sql_type,
                        false,
                        false,
                        "",
                    ));
                }
            }
        }
    }
    Relation { columns, rows }
}

/// The built-in types we serve, as `pg_type` lists them:
/// (oid, name, length, category, array oid, element oid).
const TYPES: &[(u32, &str, i16, &str, u32, u32)] = &[
    (16, "bool", 1, "B", 1000, 0),
    (17, "bytea", -1, "U", 1001, 0),
    (18, "char", 1, "Z", 1002, 0),
    (19, "name", 64, "S", 1003, 0),
    (20, "int8", 8, "N", 1016, 0),
    (21, "int2", 2, "N", 1005, 0),
    (23, "int4", 4, "N", 1007, 0),
    (25, "text", -1, "S", 1009, 0),
    (26, "oid", 4, "N", 1028, 0),
    (114, "json", -1, "U", 199, 0),
    (700, "float4", 4, "N", 1021, 0),
    (701, "float8", 8, "N", 1022, 0),
    (1042, "bpchar", -1, "S", 1014, 0),
    (1043, "varchar", -1, "S", 1015, 0),
    (1082, "date", 4, "D", 1182, 0),
    (1083, "time", 8, "D", 1183, 0),
    (1114, "timestamp", 8, "D", 1115, 0),
    (1184, "timestamptz", 8, "D", 1185, 0),
    (1186, "interval", 16, "T", 1187, 0),
    (1700, "numeric", -1, "N", 1231, 0),
    (2950, "uuid", 16, "U", 2951, 0),
    (3802, "jsonb", -1, "U", 3807, 0),
    (2205, "regclass", 4, "N", 2210, 0),
    (2206, "regtype", 4, "N", 2211, 0),
    (24, "regproc", 4, "N", 1008, 0),
    (4089, "regnamespace", 4, "N", 4090, 0),
    (705, "unknown", -2, "X", 0, 0),
    (2249, "record", -1, "P", 2287, 0),
    (2275, "cstring", -2, "P", 1263, 0),
    (2276, "any", 4, "P", 0, 0),
    (2277, "anyarray", -1, "P", 0, 0),
    (2278, "void", 4, "P", 0, 0),
    (2279, "trigger", 4, "P", 0, 0),
    (3838, "event_trigger", 4, "P", 0, 0),
    (2281, "internal", 8, "P", 0, 0),
    (2283, "anyelement", 4, "P", 0, 0),
    (2776, "anynonarray", 4, "P", 0, 0),
    (5077, "anycompatible", 4, "P", 0, 0),
    (5078, "anycompatiblearray", -1, "P", 0, 0),
    (1000, "_bool", -1, "A", 0, 16),
    (1001, "_bytea", -1, "A", 0, 17),
    (1002, "_char", -1, "A", 0, 18),
    (1003, "_name", -1, "A", 0, 19),
    (1016, "_int8", -1, "A", 0, 20),
    (1005, "_int2", -1, "A", 0, 21),
    (1007, "_int4", -1, "A", 0, 23),
    (1009, "_text", -1, "A", 0, 25),
    (1028, "_oid", -1, "A", 0, 26),
    (199, "_json", -1, "A", 0, 114),
    (1021, "_float4", -1, "A", 0, 700),
    (1022, "_float8", -1, "A", 0, 701),
    (1014, "_bpchar", -1, "A", 0, 1042),
    (1015, "_varchar", -1, "A", 0, 1043),
    (1182, "_date", -1, "A", 0, 1082),
    (1183, "_time", -1, "A", 0, 1083),
    (1115, "_timestamp", -1, "A", 0, 1114),
    (1185, "_timestamptz", -1, "A", 0, 1184),
    (1187, "_interval", -1, "A", 0, 1186),
    (1231, "_numeric", -1, "A", 0, 1700),
    (2951, "_uuid", -1, "A", 0, 2950),
    (3807, "_jsonb", -1, "A", 0, 3802),
    (2210, "_regclass", -1, "A", 0, 2205),
    (2211, "_regtype", -1, "A", 0, 2206),
];

/// The name of built-in type `type_oid` (`pg_type.typname`).
pub fn type_name(type_oid: u32) -> Option<&'static str> {
    TYPES.iter().find(|t| t.0 == type_oid).map(|t| t.1)
}

/// The OID of the built-in type called `name` (`typname`).
pub fn type_oid(name: &str) -> Option<u32> {
    TYPES.iter().find(|t| t.1 == name).map(|t| t.0)
}

fn pg_type() -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("typname", Name),
        ("typnamespace", Oid),
        ("typowner", Oid),
        ("typlen", Int2),
        ("typbyval", Bool),
        ("typtype", InternalChar),
        ("typcategory", InternalChar),
        ("typispreferred", Bool),
        ("typisdefined", Bool),
        ("typdelim", InternalChar),
        ("typrelid", Oid),
        ("typsubscript", Text),
        ("typelem", Oid),
        ("typarray", Oid),
        ("typinput", Text),
        ("typoutput", Text),
        ("typreceive", Text),
        ("typsend", Text),
        ("typalign", InternalChar),
        ("typstorage", InternalChar),
        ("typnotnull", Bool),
        ("typbasetype", Oid),
        ("typtypmod", Int4),
        ("typndims", Int4),
        ("typcollation", Oid),
        ("typdefault", Text),
    ];
    let rows = TYPES
        .iter()
        .map(|&(type_oid, name, len, category, array, element)| {
            let collation = match name {
                "text" | "varchar" | "bpchar" | "name" => oid::DEFAULT_COLLATION,
                _ => 0,
            };
            let io = if category == "A" {
                "array"
            } else {
                name.trim_start_matches('_')
            };
            vec![
                Value::Oid(type_oid),
                text(name),
                Value::Oid(oid::PG_CATALOG_NAMESPACE),
                Value::Oid(oid::SUPERUSER_ROLE),
                Value::Int2(len),
                Value::Bool(len > 0 && len <= 8),
                text("b"),
                text(category),
                Value::Bool(matches!(
                    name,
                    "bool" | "text" | "float8" | "oid" | "timestamptz" | "interval"
                )),
                Value::Bool(true),
                text(","),
                Value::Oid(0),
                if category == "A" {
                    text("array_subscript_handler")
                } else {
                    text("-")
                },
                Value::Oid(element),
                Value::Oid(array),
                text(format!("{io}_in")),
                text(format!("{io}_out")),
                text(format!("{io}_recv")),
                text(format!("{io}_send")),
                text(if len == 8 || len == -1 { "d" } else { "i" }),
                text(if len > 0 { "p" } else { "x" }),
                Value::Bool(false),
                Value::Oid(0),
                Value::Int4(-1),
                Value::Int4(0),
                Value::Oid(collation),
                Value::Null,
            ]
        })
        .collect();
    Relation { columns, rows }
}

/// The built-in functions ([`super::functions`]): PostgreSQL's rows,
/// implemented in C (`prolang` 12, `prosrc` the C symbol's stand-in, the
/// function's name).
fn pg_proc() -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("proname", Name),
        ("pronamespace", Oid),
        ("proowner", Oid),
        ("prolang", Oid),
        ("procost", Float4),
        ("prorows", Float4),
        ("provariadic", Oid),
        ("prokind", InternalChar),
        ("prosecdef", Bool),
        ("proleakproof", Bool),
        ("proisstrict", Bool),
        ("proretset", Bool),
        ("provolatile", InternalChar),
        ("proparallel", InternalChar),
        ("pronargs", Int2),
        ("pronargdefaults", Int2),
        ("prorettype", Oid),
        ("proargtypes", INT2_ARRAY),
        ("proargmodes", TEXT_ARRAY),
        ("proargnames", TEXT_ARRAY),
        ("prosrc", Text),
        ("proacl", TEXT_ARRAY),
    ];
    let rows = super::functions::FUNCTIONS
        .iter()
        .map(|f| {
            let variadic = f
                .variadic
                .then(|| *f.arguments.last().expect("a variadic argument"));
            let modes = variadic.map(|_| {
                let mut modes = vec!["i".to_string(); f.arguments.len()];
                *modes.last_mut().expect("an argument") = "v".to_string();
                modes
            });
            vec![
                Value::Oid(f.oid),
                text(f.name),
                Value::Oid(oid::PG_CATALOG_NAMESPACE),
                Value::Oid(oid::SUPERUSER_ROLE),
                Value::Oid(12),
                Value::Float4(1.0),
                Value::Float4(if f.returns_set { 1000.0 } else { 0.0 }),
                Value::Oid(variadic.unwrap_or(0)),
                text(f.kind.to_string()),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(f.strict),
                Value::Bool(f.returns_set),
                text(f.volatility.to_string()),
                text("s"),
                Value::Int2(f.arguments.len() as i16),
                Value::Int2(0),
                Value::Oid(f.result),
                // oidvector in PostgreSQL; every built-in's OIDs fit.
                Value::Int2Array(f.arguments.iter().map(|&a| a as i16).collect()),
                modes.map(Value::TextArray).unwrap_or(Value::Null),
                Value::Null,
                text(f.name),
                Value::Null,
            ]
        })
        .collect();
    Relation { columns, rows }
}

/// What `pg_index` says of an index.
struct IndexKey {
    table: u64,
    /// 1-based column numbers.
    key: Vec<i16>,
    /// Per column: 1 DESC, 2 NULLS FIRST.
    options: Vec<i16>,
    unique: bool,
    primary: bool,
}

fn index_key(r: &RelationRow) -> Option<IndexKey> {
    match &r.object {
        Object::Index(index) => Some(IndexKey {
            table: index.table,
            key: index.columns.iter().map(|c| c.column as i16 + 1).collect(),
            options: index
                .columns
                .iter()
                .map(|c| (c.descending as i16) | ((c.nulls_first as i16) << 1))
                .collect(),
            unique: index.unique,
            primary: false,
        }),
        Object::ConstraintIndex {
            table,
            position,
            columns,
        } => Some(IndexKey {
            table: table.id,
            key: columns.iter().map(|&c| c as i16 + 1).collect(),
            options: vec![0; columns.len()],
            unique: true,
            primary: *position == 0,
        }),
        _ => None,
    }
}

fn pg_index(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("indexrelid", Oid),
        ("indrelid", Oid),
        ("indnatts", Int2),
        ("indnkeyatts", Int2),
        ("indisunique", Bool),
        ("indnullsnotdistinct", Bool),
        ("indisprimary", Bool),
        ("indisexclusion", Bool),
        ("indimmediate", Bool),
        ("indisclustered", Bool),
        ("indisvalid", Bool),
        ("indcheckxmin", Bool),
        ("indisready", Bool),
        ("indislive", Bool),
        ("indisreplident", Bool),
        ("indkey", INT2_ARRAY),
        ("indcollation", INT2_ARRAY),
        ("indclass", INT2_ARRAY),
        ("indoption", INT2_ARRAY),
        ("indexprs", Text),
        ("indpred", Text),
    ];
    let rows = relations(catalog)
        .iter()
        .filter_map(|r| {
            let IndexKey {
                table,
                key,
                options,
                unique,
                primary,
            } = index_key(r)?;
            let columns = &catalog.table_by_id(table)?.columns;
            let opclasses: Vec<i16> = key
                .iter()
                .map(|&k| {
                    let t = columns[k as usize - 1].sql_type;
                    (OPCLASS_BASE + t.oid()) as i16
                })
                .collect();
            let n = key.len() as i16;
            Some(vec![
                Value::Oid(r.oid),
                Value::Oid(oid::relation(table)),
                Value::Int2(n),
                Value::Int2(n),
                Value::Bool(unique),
                Value::Bool(false),
                Value::Bool(primary),
                Value::Bool(false),
                Value::Bool(true),
                Value::Bool(false),
                Value::Bool(true),
                Value::Bool(false),
                Value::Bool(true),
                Value::Bool(true),
                Value::Bool(false),
                Value::Int2Array(key.clone()),
                Value::Int2Array(vec![0; key.len()]),
                Value::Int2Array(opclasses),
                Value::Int2Array(options),
                Value::Null,
                Value::Null,
            ])
        })
        .collect();
    Relation { columns, rows }
}

/// The column list `(a, b)` of `positions` in `table`.
fn column_list(table: &TableDef, positions: &[usize]) -> String {
    let names: Vec<String> = positions
        .iter()
        .map(|&p| quote_ident(&table.columns[p].name))
        .collect();
    format!("({})", names.join(", "))
}

/// PostgreSQL's `quote_ident`: quotes unless the name is a lower-case
/// identifier.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A relation name as PostgreSQL prints it where the reader's search path
/// would not find it unqualified: `schema.name` outside `public`.
fn qualified(catalog: &Catalog, id: u64, name: &str) -> String {
    match catalog.schema_of(id) {
        DEFAULT_SCHEMA => quote_ident(name),
        schema => format!("{}.{}", quote_ident(schema), quote_ident(name)),
    }
}

fn action(a: RefAction) -> &'static str {
    match a {
        RefAction::NoAction => "",
        RefAction::Restrict => " RESTRICT",
        RefAction::Cascade => " CASCADE",
        RefAction::SetNull => " SET NULL",
        RefAction::SetDefault => " SET DEFAULT",
    }
}

/// `pg_get_constraintdef` of constraint `position` of `table` (`pretty`
/// drops the parentheses PostgreSQL's plain form puts around a CHECK's
/// expression).
pub fn constraint_definition(
    catalog: &Catalog,
    table: &TableDef,
    position: usize,
    pretty: bool,
) -> Option<String> {
    if position == 0 {
        return (!table.primary_key.is_empty())
            .then(|| format!("PRIMARY KEY {}", column_list(table, &table.primary_key)));
    }
    let constraint = table.constraints.get(position - 1)?;
    Some(match &constraint.kind {
        ConstraintKind::Unique { columns } => format!("UNIQUE {}", column_list(table, columns)),
        ConstraintKind::Check { expr_sql } if pretty => format!("CHECK ({expr_sql})"),
        ConstraintKind::Check { expr_sql } => format!("CHECK (({expr_sql}))"),
        ConstraintKind::ForeignKey(fk) => {
            let target = catalog.table_by_id(fk.ref_table)?;
            let mut text = format!(
                "FOREIGN KEY {} REFERENCES {}{}",
                column_list(table, &fk.columns),
                qualified(catalog, target.id, &target.name),
                column_list(target, &fk.ref_columns)
            );
            if fk.on_update != RefAction::NoAction {
                text.push_str(&format!(" ON UPDATE{}", action(fk.on_update)));
            }
            if fk.on_delete != RefAction::NoAction {
                text.push_str(&format!(" ON DELETE{}", action(fk.on_delete)));
            }
            text
        }
        ConstraintKind::UniqueIndex { .. } => return None,
    })
}

/// `pg_get_indexdef` of the index relation `index_oid`, the table named
/// `schema.table` where `qualify(schema, table)` says so.
pub fn index_definition(
    catalog: &Catalog,
    index_oid: u32,
    qualify: &dyn Fn(&str, &str) -> bool,
) -> Option<String> {
    let relations = relations(catalog);
    let r = relations.iter().find(|r| r.oid == index_oid)?;
    let table = catalog.table_by_id(r.indexed_table()?)?;
    let (unique, columns) = match &r.object {
        Object::Index(index) => {
            let columns: Vec<String> = index
                .columns
                .iter()
                .map(|c| {
                    let mut s = quote_ident(&table.columns[c.column].name);
                    match (c.descending, c.nulls_first) {
                        (true, false) => s.push_str(" DESC NULLS LAST"),
                        (true, true) => s.push_str(" DESC"),
                        (false, true) => s.push_str(" NULLS FIRST"),
                        (false, false) => {}
                    }
                    s
                })
                .collect();
            (index.unique, columns.join(", "))
        }
        Object::ConstraintIndex { columns, .. } => (
            true,
            columns
                .iter()
                .map(|&c| quote_ident(&table.columns[c].name))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => return None,
    };
    let on = if qualify(&r.schema, &table.name) {
        format!("{}.{}", quote_ident(&r.schema), quote_ident(&table.name))
    } else {
        quote_ident(&table.name)
    };
    Some(format!(
        "CREATE {}INDEX {} ON {on} USING btree ({columns})",
        if unique { "UNIQUE " } else { "" },
        quote_ident(&r.name),
    ))
}

fn pg_constraint(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("conname", Name),
        ("connamespace", Oid),
        ("contype", InternalChar),
        ("condeferrable", Bool),
        ("condeferred", Bool),
        ("convalidated", Bool),
        ("conrelid", Oid),
        ("contypid", Oid),
        ("conindid", Oid),
        ("conparentid", Oid),
        ("confrelid", Oid),
        ("confupdtype", InternalChar),
        ("confdeltype", InternalChar),
        ("confmatchtype", InternalChar),
        ("conislocal", Bool),
        ("coninhcount", Int4),
        ("connoinherit", Bool),
        ("conkey", INT2_ARRAY),
        ("confkey", INT2_ARRAY),
        ("conbin", Text),
    ];
    let key = |cols: &[usize]| Value::Int2Array(cols.iter().map(|&c| c as i16 + 1).collect());
    let code = |a: RefAction| match a {
        RefAction::NoAction => "a",
        RefAction::Restrict => "r",
        RefAction::Cascade => "c",
        RefAction::SetNull => "n",
        RefAction::SetDefault => "d",
    };
    let mut rows = Vec::new();
    for table in catalog.tables() {
        let namespace = oid::namespace(catalog.schema_of(table.id));
        let mut push = |position: usize,
                        name: &str,
                        kind: &str,
                        conkey: Value,
                        index: u32,
                        fk: Option<&crate::ForeignKey>,
                        bin: Value| {
            rows.push(vec![
                Value::Oid(oid::constraint(table.id, position)),
                text(name),
                Value::Oid(namespace),
                text(kind),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(true),
                Value::Oid(oid::relation(table.id)),
                Value::Oid(0),
                Value::Oid(index),
                Value::Oid(0),
                Value::Oid(fk.map(|f| oid::relation(f.ref_table)).unwrap_or(0)),
                text(fk.map(|f| code(f.on_update)).unwrap_or(" ")),
                text(fk.map(|f| code(f.on_delete)).unwrap_or(" ")),
                text(if fk.is_some() { "s" } else { " " }),
                Value::Bool(true),
                Value::Int4(0),
                Value::Bool(false),
                conkey,
                fk.map(|f| key(&f.ref_columns)).unwrap_or(Value::Null),
                bin,
            ]);
        };
        if !table.primary_key.is_empty() {
            push(
                0,
                &table.primary_key_name(),
                "p",
                key(&table.primary_key),
                oid::constraint_index(table.id, 0),
                None,
                Value::Null,
            );
        }
        for (k, constraint) in table.constraints.iter().enumerate() {
            let position = k + 1;
            match &constraint.kind {
                ConstraintKind::Unique { columns } => push(
                    position,
                    &constraint.name,
                    "u",
                    key(columns),
                    oid::constraint_index(table.id, position),
                    None,
                    Value::Null,
                ),
                ConstraintKind::Check { expr_sql } => push(
                    position,
                    &constraint.name,
                    "c",
                    Value::Null,
                    0,
                    None,
                    text(expr_sql.clone()),
                ),
                ConstraintKind::ForeignKey(fk) => {
                    // The referenced table's key index.
                    let index = catalog
                        .table_by_id(fk.ref_table)
                        .and_then(|t| {
                            constraint_indexes(t)
                                .into_iter()
                                .find(|(_, _, cols)| *cols == fk.ref_columns)
                                .map(|(p, _, _)| oid::constraint_index(t.id, p))
                        })
                        .unwrap_or(0);
                    push(
                        position,
                        &constraint.name,
                        "f",
                        key(&fk.columns),
                        index,
                        Some(fk),
                        Value::Null,
                    )
                }
                ConstraintKind::UniqueIndex { .. } => {}
            }
        }
    }
    Relation { columns, rows }
}

/// A column default as PostgreSQL's `pg_get_expr` prints it: literals
/// carry their cast (`'x'::text`, `'-1'::integer`), `nextval` names its
/// sequence as a regclass.
pub fn deparse_default(sql: &str, t: SqlType) -> String {
    let trimmed = sql.trim();
    if let Some(rest) = trimmed.strip_prefix("nextval('") {
        if let Some(name) = rest.strip_suffix("')") {
            return format!("nextval('{name}'::regclass)");
        }
    }
    let is_string = trimmed.len() >= 2 && trimmed.starts_with('\'') && trimmed.ends_with('\'');
    let integral = matches!(t, SqlType::Int2 | SqlType::Int4 | SqlType::Int8);
    let numeric = integral
        || matches!(
            t,
            SqlType::Numeric { .. } | SqlType::Float4 | SqlType::Float8
        );
    // A string literal for a number or boolean column is folded into its
    // constant when the default is stored (`DEFAULT '0'` reads `0`).
    if is_string {
        let inner = &trimmed[1..trimmed.len() - 1];
        if numeric && inner.trim().parse::<f64>().is_ok() {
            return deparse_default(inner.trim(), t);
        }
        if t == SqlType::Bool {
            match inner.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "yes" | "on" | "1" => return "true".into(),
                "f" | "false" | "no" | "off" | "0" => return "false".into(),
                _ => {}
            }
        }
    }
    let is_number = trimmed.parse::<f64>().is_ok();
    if is_string {
        let type_name = match t {
            SqlType::Varchar(_) => "character varying".to_string(),
            SqlType::Char(_) => "bpchar".to_string(),
            other => other.pg_name(),
        };
        return format!("{trimmed}::{type_name}");
    }
    if is_number && trimmed.starts_with('-') {
        let type_name = if integral {
            t.pg_name()
        } else {
            "numeric".to_string()
        };
        return format!("'{trimmed}'::{type_name}");
    }
    match trimmed.to_ascii_lowercase().as_str() {
        "true" | "false" => trimmed.to_ascii_lowercase(),
        "now()" => "now()".into(),
        "current_timestamp" => "CURRENT_TIMESTAMP".into(),
        "current_date" => "CURRENT_DATE".into(),
        _ => trimmed.to_string(),
    }
}

fn pg_attrdef(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("adrelid", Oid),
        ("adnum", Int2),
        ("adbin", Text),
    ];
    let mut rows = Vec::new();
    for table in catalog.tables() {
        for (i, c) in table.columns.iter().enumerate() {
            if let (Some(sql), None) = (&c.default_sql, c.identity) {
                rows.push(vec![
                    Value::Oid(oid::attrdef(table.id, i + 1)),
                    Value::Oid(oid::relation(table.id)),
                    Value::Int2(i as i16 + 1),
                    text(deparse_default(sql, c.sql_type)),
                ]);
            }
        }
    }
    Relation { columns, rows }
}

fn pg_description(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("objoid", Oid),
        ("classoid", Oid),
        ("objsubid", Int4),
        ("description", Text),
    ];
    let rows = catalog
        .comments()
        .map(|(&(object, column), comment)| {
            vec![
                Value::Oid(oid::relation(object)),
                Value::Oid(1259), // pg_class
                Value::Int4(column as i32),
                text(comment.clone()),
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_database(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("datname", Name),
        ("datdba", Oid),
        ("encoding", Int4),
        ("datlocprovider", InternalChar),
        ("datistemplate", Bool),
        ("datallowconn", Bool),
        ("datconnlimit", Int4),
        ("dattablespace", Oid),
        ("datcollate", Text),
        ("datctype", Text),
        ("daticulocale", Text),
        ("datcollversion", Text),
        ("datacl", TEXT_ARRAY),
    ];
    let rows = catalog
        .databases()
        .into_iter()
        .map(|d| {
            vec![
                Value::Oid(oid::database(d.id)),
                text(d.name),
                Value::Oid(oid::role(&d.owner)),
                Value::Int4(6), // UTF8
                text("c"),
                Value::Bool(false),
                Value::Bool(true),
                Value::Int4(-1),
                Value::Oid(1663),
                text("C.UTF-8"),
                text("C.UTF-8"),
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_roles(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("rolname", Name),
        ("rolsuper", Bool),
        ("rolinherit", Bool),
        ("rolcreaterole", Bool),
        ("rolcreatedb", Bool),
        ("rolcanlogin", Bool),
        ("rolreplication", Bool),
        ("rolconnlimit", Int4),
        ("rolpassword", Text),
        ("rolvaliduntil", SqlType::Timestamptz),
        ("rolbypassrls", Bool),
        ("rolconfig", TEXT_ARRAY),
        ("oid", Oid),
    ];
    // PostgreSQL's predefined role that owns `public`: no login, no
    // attributes.
    let database_owner = vec![
        text(oid::DATABASE_OWNER),
        Value::Bool(false),
        Value::Bool(true),
        Value::Bool(false),
        Value::Bool(false),
        Value::Bool(false),
        Value::Bool(false),
        Value::Int4(-1),
        text("********"),
        Value::Null,
        Value::Bool(false),
        Value::Null,
        Value::Oid(oid::DATABASE_OWNER_ROLE),
    ];
    let rows = catalog
        .roles()
        .map(|r| {
            vec![
                text(r.name.clone()),
                Value::Bool(r.superuser),
                Value::Bool(true),
                Value::Bool(r.superuser),
                Value::Bool(r.superuser),
                Value::Bool(r.login),
                Value::Bool(r.superuser),
                Value::Int4(-1),
                text("********"),
                Value::Null,
                Value::Bool(r.superuser),
                Value::Null,
                Value::Oid(oid::role(&r.name)),
            ]
        })
        .chain([database_owner])
        .collect();
    Relation { columns, rows }
}

fn pg_user(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("usename", Name),
        ("usesysid", Oid),
        ("usecreatedb", Bool),
        ("usesuper", Bool),
        ("userepl", Bool),
        ("usebypassrls", Bool),
        ("passwd", Text),
        ("valuntil", SqlType::Timestamptz),
        ("useconfig", TEXT_ARRAY),
    ];
    let rows = catalog
        .roles()
        .filter(|r| r.login)
        .map(|r| {
            vec![
                text(r.name.clone()),
                Value::Oid(oid::role(&r.name)),
                Value::Bool(r.superuser),
                Value::Bool(r.superuser),
                Value::Bool(r.superuser),
                Value::Bool(r.superuser),
                text("********"),
                Value::Null,
                Value::Null,
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_am() -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("amname", Name),
        ("amhandler", Text),
        ("amtype", InternalChar),
    ];
    let rows = [
        (oid::HEAP_AM, "heap", "heap_tableam_handler", "t"),
        (oid::BTREE_AM, "btree", "bthandler", "i"),
        (405, "hash", "hashhandler", "i"),
    ]
    .into_iter()
    .map(|(o, name, handler, kind)| vec![Value::Oid(o), text(name), text(handler), text(kind)])
    .collect();
    Relation { columns, rows }
}

fn pg_collation() -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("collname", Name),
        ("collnamespace", Oid),
        ("collowner", Oid),
        ("collprovider", InternalChar),
        ("collisdeterministic", Bool),
        ("collencoding", Int4),
        ("collcollate", Text),
        ("collctype", Text),
    ];
    let rows = [
        (oid::DEFAULT_COLLATION, "default", "d"),
        (950, "C", "c"),
        (951, "POSIX", "c"),
    ]
    .into_iter()
    .map(|(o, name, provider)| {
        vec![
            Value::Oid(o),
            text(name),
            Value::Oid(oid::PG_CATALOG_NAMESPACE),
            Value::Oid(oid::SUPERUSER_ROLE),
            text(provider),
            Value::Bool(true),
            Value::Int4(-1),
            if name == "default" {
                Value::Null
            } else {
                text(name)
            },
            if name == "default" {
                Value::Null
            } else {
                text(name)
            },
        ]
    })
    .collect();
    Relation { columns, rows }
}

/// `pg_stat_user_tables`: every table, with no activity counted yet.
fn pg_stat_user_tables(catalog: &Catalog) -> Relation {
    let mut columns = vec![("relid", Oid), ("schemaname", Name), ("relname", Name)];
    let counters = [
        "seq_scan",
        "seq_tup_read",
        "idx_scan",
        "idx_tup_fetch",
        "n_tup_ins",
        "n_tup_upd",
        "n_tup_del",
        "n_tup_hot_upd",
        "n_live_tup",
        "n_dead_tup",
        "n_mod_since_analyze",
        "n_ins_since_vacuum",
    ];
    columns.extend(counters.iter().map(|c| (*c, Int8)));
    let times = [
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
    ];
    columns.extend(times.iter().map(|t| (*t, SqlType::Timestamptz)));
    let counts = [
        "vacuum_count",
        "autovacuum_count",
        "analyze_count",
        "autoanalyze_count",
    ];
    columns.extend(counts.iter().map(|c| (*c, Int8)));
    let rows = catalog
        .tables()
        .map(|t| {
            let mut row = vec![
                Value::Oid(oid::relation(t.id)),
                text(catalog.schema_of(t.id)),
                text(t.name.clone()),
            ];
            row.extend(counters.iter().map(|_| Value::Int8(0)));
            row.extend(times.iter().map(|_| Value::Null));
            row.extend(counts.iter().map(|_| Value::Int8(0)));
            row
        })
        .collect();
    Relation { columns, rows }
}

/// The default btree operator class of each type (`int4_ops`, …): its
/// OID is [`OPCLASS_BASE`] + the type's.
fn pg_opclass() -> Relation {
    let columns = vec![
        ("oid", Oid),
        ("opcmethod", Oid),
        ("opcname", Name),
        ("opcnamespace", Oid),
        ("opcdefault", Bool),
        ("opcintype", Oid),
    ];
    let rows = TYPES
        .iter()
        .filter(|t| t.3 != "A" && t.3 != "P" && t.3 != "X")
        .map(|&(type_oid, name, ..)| {
            vec![
                Value::Oid(OPCLASS_BASE + type_oid),
                Value::Oid(oid::BTREE_AM),
                text(format!("{name}_ops")),
                Value::Oid(oid::PG_CATALOG_NAMESPACE),
                Value::Bool(true),
                Value::Oid(type_oid),
            ]
        })
        .collect();
    Relation { columns, rows }
}

/// Where the operator-class OIDs start.
const OPCLASS_BASE: u32 = 10_000;

/// `pg_depend`: what `OWNED BY` (serial: `a`) and identity columns (`i`)
/// tie each sequence to.
fn pg_depend(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("classid", Oid),
        ("objid", Oid),
        ("objsubid", Int4),
        ("refclassid", Oid),
        ("refobjid", Oid),
        ("refobjsubid", Int4),
        ("deptype", InternalChar),
    ];
    let rows = catalog
        .sequences()
        .filter_map(|s| {
            let (table, column) = s.owned_by?;
            let identity = catalog
                .table_by_id(table)
                .and_then(|t| t.columns.get(column))
                .is_some_and(|c| c.identity.is_some());
            Some(vec![
                Value::Oid(1259),
                Value::Oid(oid::relation(s.id)),
                Value::Int4(0),
                Value::Oid(1259),
                Value::Oid(oid::relation(table)),
                Value::Int4(column as i32 + 1),
                text(if identity { "i" } else { "a" }),
            ])
        })
        .collect();
    Relation { columns, rows }
}

fn pg_sequence(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("seqrelid", Oid),
        ("seqtypid", Oid),
        ("seqstart", Int8),
        ("seqincrement", Int8),
        ("seqmax", Int8),
        ("seqmin", Int8),
        ("seqcache", Int8),
        ("seqcycle", Bool),
    ];
    let rows = catalog
        .sequences()
        .map(|s| {
            vec![
                Value::Oid(oid::relation(s.id)),
                Value::Oid(s.data_type.oid()),
                Value::Int8(s.start),
                Value::Int8(s.increment),
                Value::Int8(s.max_value),
                Value::Int8(s.min_value),
                Value::Int8(1),
                Value::Bool(s.cycle),
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_sequences(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("schemaname", Name),
        ("sequencename", Name),
        ("sequenceowner", Name),
        ("data_type", Text),
        ("start_value", Int8),
        ("min_value", Int8),
        ("max_value", Int8),
        ("increment_by", Int8),
        ("cycle", Bool),
        ("cache_size", Int8),
    ];
    let rows = catalog
        .sequences()
        .map(|s| {
            vec![
                text(catalog.schema_of(s.id)),
                text(s.name.clone()),
                text(crate::SUPERUSER),
                text(s.data_type.pg_name()),
                Value::Int8(s.start),
                Value::Int8(s.min_value),
                Value::Int8(s.max_value),
                Value::Int8(s.increment),
                Value::Bool(s.cycle),
                Value::Int8(1),
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_tables(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("schemaname", Name),
        ("tablename", Name),
        ("tableowner", Name),
        ("tablespace", Name),
        ("hasindexes", Bool),
        ("hasrules", Bool),
        ("hastriggers", Bool),
        ("rowsecurity", Bool),
    ];
    let rows = catalog
        .tables()
        .map(|t| {
            let indexed =
                !constraint_indexes(t).is_empty() || catalog.table_indexes(t.id).next().is_some();
            vec![
                text(catalog.schema_of(t.id)),
                text(t.name.clone()),
                text(crate::SUPERUSER),
                Value::Null,
                Value::Bool(indexed),
                Value::Bool(false),
                Value::Bool(false),
                Value::Bool(false),
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_views(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("schemaname", Name),
        ("viewname", Name),
        ("viewowner", Name),
        ("definition", Text),
    ];
    let rows = catalog
        .views()
        .map(|v| {
            vec![
                text(catalog.schema_of(v.id)),
                text(v.name.clone()),
                text(crate::SUPERUSER),
                text(format!(" {};", v.query_sql)),
            ]
        })
        .collect();
    Relation { columns, rows }
}

fn pg_indexes(catalog: &Catalog) -> Relation {
    let columns = vec![
        ("schemaname", Name),
        ("tablename", Name),
        ("indexname", Name),
        ("tablespace", Name),
        ("indexdef", Text),
    ];
    let rows = relations(catalog)
        .iter()
        .filter_map(|r| {
            let table = catalog.table_by_id(r.indexed_table()?)?;
            Some(vec![
                text(r.schema.clone()),
                text(table.name.clone()),
                text(r.name.clone()),
                Value::Null,
                text(index_definition(catalog, r.oid, &|_, _| true)?),
            ])
        })
        .collect();
    Relation { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_as_postgresql_prints_them() {
        assert_eq!(
            deparse_default("nextval('t_id_seq')", SqlType::Int4),
            "nextval('t_id_seq'::regclass)"
        );
        assert_eq!(
            deparse_default("'x'", SqlType::Varchar(Some(3))),
            "'x'::character varying"
        );
        assert_eq!(deparse_default("'x'", SqlType::Text), "'x'::text");
        assert_eq!(deparse_default("-1", SqlType::Int4), "'-1'::integer");
        assert_eq!(deparse_default("42", SqlType::Int4), "42");
        assert_eq!(deparse_default("TRUE", SqlType::Bool), "true");
    }

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(quote_ident("abc_1"), "abc_1");
        assert_eq!(quote_ident("Abc"), "\"Abc\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
