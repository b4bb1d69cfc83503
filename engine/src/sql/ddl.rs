//! DDL: `CREATE TABLE` and `DROP TABLE` as catalog changes in the
//! transaction.
//!
//! The change is checked against the transaction's catalog right away (so
//! `CREATE TABLE t` twice fails on the second statement, 42P07) and again by
//! the kernel when the transaction commits. Constraint clauses are read by
//! [`super::table_constraints`]; SERIAL and identity columns get their
//! sequence from [`super::sequence`].

use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, DataType as AstType, GeneratedAs, ObjectName, ObjectType,
};
use kimberlite_catalog::{
    Catalog, CatalogChange, ColumnDef, ConstraintKind, Identity, SqlType, TableDef,
};

use super::table_constraints::{ConstraintSpecs, PrimaryKeySpec};
use super::types::sql_type_from_ast;
use super::{ident_name, sequence, Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// Applies `change` to the transaction's catalog (checking it now).
pub(super) fn catalog_change(session: &mut Session, change: CatalogChange) -> EngineResult<()> {
    let snapshot = session.snapshot();
    let mut catalog = (*session.statement_catalog(snapshot)).clone();
    catalog.apply(&change)?;
    session
        .txn
        .as_mut()
        .expect("statements run in a transaction")
        .add_catalog_change(change, catalog);
    Ok(())
}

/// Puts the object `id` is about to create in `schema` (nothing to log
/// for `public`).
pub(super) fn place(session: &mut Session, id: u64, schema: &str) -> EngineResult<()> {
    if schema == kimberlite_catalog::DEFAULT_SCHEMA {
        return Ok(());
    }
    catalog_change(
        session,
        CatalogChange::Place {
            object: id,
            schema: schema.to_string(),
        },
    )
}

/// The catalog the statement sees.
pub(super) fn current_catalog(session: &Session) -> std::sync::Arc<Catalog> {
    session.statement_catalog(session.snapshot())
}

/// `serial`, `bigserial`, `smallserial` (and their numbered spellings): the
/// integer type they stand for.
fn serial_type(data_type: &AstType) -> Option<SqlType> {
    let AstType::Custom(name, modifiers) = data_type else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    match name.to_string().to_lowercase().as_str() {
        "serial" | "serial4" => Some(SqlType::Int4),
        "bigserial" | "serial8" => Some(SqlType::Int8),
        "smallserial" | "serial2" => Some(SqlType::Int2),
        _ => None,
    }
}

pub async fn create_table(session: &mut Session, create: CreateTable) -> EngineResult<Outcome> {
    if create.query.is_some() {
        return Err(EngineError::FeatureNotSupported(
            "CREATE TABLE … AS is not supported yet".into(),
        ));
    }
    if create.temporary {
        return Err(EngineError::FeatureNotSupported(
            "temporary tables are not supported yet".into(),
        ));
    }
    let (schema, name) = session.creation_target(&create.name)?;
    let key = kimberlite_catalog::relation_key(&schema, &name);
    if current_catalog(session).relation_exists(&key) {
        if create.if_not_exists {
            session.notice(
                "NOTICE",
                "42P07",
                format!("relation \"{name}\" already exists, skipping"),
            );
            return Ok(Outcome::Command {
                tag: "CREATE TABLE".into(),
            });
        }
        return Err(EngineError::DuplicateTable(name));
    }
    let id = session.engine.allocate_table_id();
    let mut columns = Vec::with_capacity(create.columns.len());
    let mut specs = ConstraintSpecs::new(&name);
    let mut owned_sequences = Vec::new();
    for column in &create.columns {
        let taken: Vec<String> = owned_sequences
            .iter()
            .map(|s: &kimberlite_catalog::SequenceDef| s.name.clone())
            .collect();
        let (def, sequence) = read_column(
            session,
            (&schema, &name),
            (id, columns.len()),
            column,
            &mut specs,
            &taken,
        )?;
        owned_sequences.extend(sequence);
        columns.push(def);
    }
    for constraint in &create.constraints {
        specs.table_constraint(constraint)?;
    }
    let mut def = TableDef {
        id,
        name,
        columns,
        primary_key: Vec::new(),
        primary_key_name: None,
        constraints: Vec::new(),
    };
    if let Some(PrimaryKeySpec { name, columns }) = specs.primary_key.take() {
        for column in &columns {
            let index = def
                .column_index(column)
                .ok_or_else(|| missing_key_column(column))?;
            def.columns[index].nullable = false;
            def.primary_key.push(index);
        }
        def.primary_key_name = name;
    }
    let catalog = current_catalog(session);
    let path = session.search_path(&catalog);
    def.constraints = specs.resolve(&def, &schema, &catalog, &path)?;
    // Validate defaults and CHECK expressions now, so a bad one fails the
    // CREATE, not every INSERT.
    for column in &def.columns {
        if let Some(default) = &column.default_sql {
            if column.identity.is_none() && !default.starts_with("nextval(") {
                super::dml::evaluate_defaults(session, &[(column.sql_type, default.clone())], 1)
                    .await?;
            }
        }
    }
    for constraint in &def.constraints {
        if let ConstraintKind::Check { .. } = &constraint.kind {
            super::checks::check_rows(&def, &[]).await?;
        }
    }
    for sequence in owned_sequences {
        place(session, sequence.id, &schema)?;
        catalog_change(session, CatalogChange::CreateSequence(sequence))?;
    }
    let id = def.id;
    place(session, id, &schema)?;
    catalog_change(session, CatalogChange::CreateTable(def))?;
    let options = storage_options(&create.table_options)?;
    if !options.is_empty() {
        catalog_change(
            session,
            CatalogChange::SetStorageOptions { table: id, options },
        )?;
    }
    Ok(Outcome::Command {
        tag: "CREATE TABLE".into(),
    })
}

/// One column definition of CREATE TABLE or ALTER TABLE ADD COLUMN:
/// the catalog column, the sequence a SERIAL or identity column owns
/// (`position` is the (table id, column position) it is owned by), and
/// its constraint clauses into `specs`.
pub(super) fn read_column(
    session: &Session,
    (schema, name): (&str, &str),
    position: (kimberlite_catalog::TableId, usize),
    column: &datafusion::sql::sqlparser::ast::ColumnDef,
    specs: &mut ConstraintSpecs,
    taken: &[String],
) -> EngineResult<(ColumnDef, Option<kimberlite_catalog::SequenceDef>)> {
    let mut owned = None;
    let column_name = ident_name(&column.name);
    let serial = serial_type(&column.data_type);
    let sql_type = match serial {
        Some(sql_type) => sql_type,
        None => sql_type_from_ast(&column.data_type)?,
    };
    let mut def = ColumnDef {
        name: column_name.clone(),
        sql_type,
        nullable: true,
        default_sql: None,
        identity: None,
    };
    let mut sequence_options = None;
    for option in &column.options {
        let constraint_name = option.name.as_ref().map(ident_name);
        match &option.option {
            ColumnOption::Null => def.nullable = true,
            ColumnOption::NotNull => def.nullable = false,
            ColumnOption::Default(expr) => def.default_sql = Some(expr.to_string()),
            ColumnOption::Generated {
                generated_as,
                sequence_options: options,
                generation_expr: None,
                ..
            } => {
                def.identity = Some(match generated_as {
                    GeneratedAs::Always => Identity::Always,
                    _ => Identity::ByDefault,
                });
                def.nullable = false;
                sequence_options = Some(options.clone().unwrap_or_default());
            }
            ColumnOption::Generated { .. } => {
                return Err(EngineError::FeatureNotSupported(
                    "generated columns are not supported yet".into(),
                ))
            }
            other => specs.column_option(&column_name, constraint_name, other)?,
        }
    }
    if serial.is_some() || def.identity.is_some() {
        if def.default_sql.is_some() {
            return Err(EngineError::Syntax(format!(
                "multiple default values specified for column \"{column_name}\" of table \"{name}\""
            )));
        }
        let sequence = sequence::owned_sequence(
            session,
            (schema, name),
            &column_name,
            sql_type,
            position,
            sequence_options.as_deref().unwrap_or_default(),
            taken,
        )?;
        def.nullable = false;
        def.default_sql = Some(sequence::nextval_sql(schema, &sequence.name));
        owned = Some(sequence);
    }
    Ok((def, owned))
}

/// `WITH (fillfactor = 90, …)`: recorded as given; they change nothing in
/// our storage. Options other than PostgreSQL's table storage parameters
/// are 22023, as there.
fn storage_options(
    options: &datafusion::sql::sqlparser::ast::CreateTableOptions,
) -> EngineResult<Vec<(String, String)>> {
    use datafusion::sql::sqlparser::ast::{CreateTableOptions, SqlOption};
    const KNOWN: &[&str] = &[
        "fillfactor",
        "toast_tuple_target",
        "parallel_workers",
        "autovacuum_enabled",
        "autovacuum_vacuum_threshold",
        "autovacuum_vacuum_scale_factor",
        "autovacuum_analyze_threshold",
        "autovacuum_analyze_scale_factor",
        "autovacuum_vacuum_insert_threshold",
        "autovacuum_vacuum_insert_scale_factor",
        "autovacuum_vacuum_cost_delay",
        "autovacuum_vacuum_cost_limit",
        "autovacuum_freeze_min_age",
        "autovacuum_freeze_max_age",
        "autovacuum_freeze_table_age",
        "log_autovacuum_min_duration",
        "user_catalog_table",
        "vacuum_index_cleanup",
        "vacuum_truncate",
    ];
    let CreateTableOptions::With(options) = options else {
        return Ok(Vec::new());
    };
    options
        .iter()
        .map(|option| match option {
            SqlOption::KeyValue { key, value } => {
                let name = ident_name(key);
                if !KNOWN.contains(&name.as_str()) {
                    return Err(EngineError::InvalidParameterValue(format!(
                        "unrecognized parameter \"{name}\""
                    )));
                }
                let value = value.to_string();
                Ok((name, value.trim_matches('\'').to_string()))
            }
            other => Err(EngineError::FeatureNotSupported(format!(
                "storage option {other} is not supported"
            ))),
        })
        .collect()
}

fn missing_key_column(column: &str) -> EngineError {
    EngineError::UndefinedColumn(format!("column \"{column}\" named in key does not exist"))
}

pub fn drop(
    session: &mut Session,
    object_type: ObjectType,
    if_exists: bool,
    names: Vec<ObjectName>,
    cascade: bool,
) -> EngineResult<Outcome> {
    match object_type {
        ObjectType::Table => drop_tables(session, if_exists, &names, cascade),
        ObjectType::Sequence => sequence::drop_sequences(session, if_exists, &names, cascade),
        ObjectType::Index => super::index::drop_indexes(session, if_exists, &names),
        ObjectType::View => super::view::drop_views(session, if_exists, &names, cascade),
        other => Err(EngineError::FeatureNotSupported(format!(
            "DROP {other} is not supported yet"
        ))),
    }
}

fn drop_tables(
    session: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
    cascade: bool,
) -> EngineResult<Outcome> {
    let catalog = current_catalog(session);
    let mut dropped: Vec<std::sync::Arc<TableDef>> = Vec::new();
    for name in names {
        let name = session.resolve(name)?;
        match catalog.table(&name) {
            Some(table) => dropped.push(table.clone()),
            None if catalog.sequence(&name).is_some() => {
                return Err(EngineError::WrongObjectTypeHint {
                    message: format!("\"{name}\" is not a table"),
                    hint: "Use DROP SEQUENCE to remove a sequence.",
                })
            }
            None if catalog.view(&name).is_some() => {
                return Err(EngineError::WrongObjectTypeHint {
                    message: format!("\"{name}\" is not a table"),
                    hint: "Use DROP VIEW to remove a view.",
                })
            }
            None if if_exists => {
                session.notice(
                    "NOTICE",
                    "00000",
                    format!("table \"{name}\" does not exist, skipping"),
                );
            }
            None => {
                return Err(EngineError::UndefinedRelation(format!(
                    "table \"{name}\" does not exist"
                )))
            }
        }
    }
    // Foreign keys into the dropped tables: from a table dropped too they
    // go with it; from any other they need CASCADE, which drops just the
    // constraint (PostgreSQL's "drop cascades to constraint …").
    let is_dropped = |id| dropped.iter().any(|t| t.id == id);
    let mut dependents = Vec::new();
    let mut details = Vec::new();
    for table in &dropped {
        for (referencing, constraint) in catalog.referencing(table.id) {
            if !is_dropped(referencing.id) {
                details.push(format!(
                    "constraint {constraint} on table {} depends on table {}",
                    referencing.name, table.name
                ));
            }
            dependents.push((referencing, constraint));
        }
    }
    if !details.is_empty() && !cascade {
        let table = &dropped[0].name;
        return Err(EngineError::DependentObjects {
            message: format!("cannot drop table {table} because other objects depend on it"),
            detail: details.join("\n"),
        });
    }
    let ids: Vec<u64> = dropped.iter().map(|t| t.id).collect();
    let views = super::view::dependent_views(&catalog, &ids);
    if details.is_empty() {
        if let Some(first) = dropped.first() {
            super::view::refuse_or_notice(session, &catalog, &ids, &views, cascade, || {
                format!("table {}", first.name)
            })?;
        }
    }
    let cascaded: Vec<String> = dependents
        .iter()
        .filter(|(referencing, _)| !is_dropped(referencing.id))
        .map(|(referencing, constraint)| {
            format!(
                "drop cascades to constraint {constraint} on table {}",
                referencing.name
            )
        })
        .collect();
    session.notice_cascades(cascaded);
    for (referencing, constraint) in dependents {
        let current = current_catalog(session);
        let Some(table) = current.table_by_id(referencing.id) else {
            continue;
        };
        let mut def = (**table).clone();
        def.constraints.retain(|c| c.name != constraint);
        catalog_change(session, CatalogChange::ReplaceTable(def))?;
    }
    super::view::drop_dependents(session, &views)?;
    for table in dropped {
        catalog_change(session, CatalogChange::DropTable { id: table.id })?;
    }
    Ok(Outcome::Command {
        tag: "DROP TABLE".into(),
    })
}
