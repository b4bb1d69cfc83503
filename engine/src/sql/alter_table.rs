//! `ALTER TABLE`: schema evolution as catalog changes plus, where the rows
//! must change too, a rewrite of every row in the same transaction.
//!
//! A table's rows always have its definition's layout (one value of each
//! column's type, keyed by its primary key or a hidden row id). So an
//! ALTER that changes the layout (ADD/DROP COLUMN, ALTER COLUMN TYPE, a
//! new or dropped primary key) or adds a rule the rows must keep (SET NOT
//! NULL, ADD CONSTRAINT) writes every row again, in the transaction, under
//! the new definition — what PostgreSQL calls a table rewrite. The kernel
//! refuses such a command unless it writes every live row
//! ([`kimberlite_catalog::TableDef::rewrite_needed`]), so a row committed
//! concurrently cannot keep the old layout or escape the new rule, and a
//! write planned against the old definition that commits later fails
//! (40001). Readers at older snapshots keep reading the old rows with the
//! old definition (the catalog has history).
//!
//! Renames, defaults, DROP NOT NULL and DROP CONSTRAINT (other than the
//! primary key) touch only the catalog.
//!
//! Cost: a rewrite takes time and log space in proportion to the table
//! (PostgreSQL skips it for ADD COLUMN with a constant default).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AlterColumnOperation, AlterTable, AlterTableOperation, DropBehavior,
    Expr, Ident, ObjectName, RenameTableNameKind, TableConstraint,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use kimberlite_catalog::{CatalogChange, ConstraintKind, ForeignKey, SqlType, TableDef};

use super::ddl::{catalog_change, current_catalog, read_column};
use super::dml::{primary_key_text, quote, select_target, target_rows};
use super::table_constraints::{ConstraintSpecs, PrimaryKeySpec};
use super::types::sql_type_from_ast;
use super::{ident_name, Outcome, Session};
use crate::datum::{encode_key, row_id_key, Datum, Row};
use crate::error::{EngineError, EngineResult};

/// Where a column of the rewritten row gets its value.
pub(super) enum Source {
    /// The old row's column at this position.
    Old(usize),
    /// An SQL expression over the old row (a default, a USING clause),
    /// converted to the new column's type.
    Expr(String),
}

pub(super) async fn alter_table(session: &mut Session, alter: AlterTable) -> EngineResult<Outcome> {
    let name = session.resolve(&alter.name)?;
    let catalog = current_catalog(session);
    let Some(table) = catalog.table(&name).cloned() else {
        if catalog.relation_exists(&name) {
            return Err(EngineError::WrongObjectType(format!(
                "\"{name}\" is not a table"
            )));
        }
        if alter.if_exists {
            session.notice(
                "NOTICE",
                "00000",
                format!("relation \"{name}\" does not exist, skipping"),
            );
            return Ok(tag());
        }
        return Err(EngineError::UndefinedTable(name));
    };
    for operation in alter.operations {
        operation_on(session, table.id, operation).await?;
    }
    super::enforce::finish_statement(session)
        .await
        .map_err(existing_rows_error)?;
    Ok(tag())
}

fn tag() -> Outcome {
    Outcome::Command {
        tag: "ALTER TABLE".into(),
    }
}

/// The table as the transaction sees it now.
fn current(session: &Session, id: u64) -> EngineResult<Arc<TableDef>> {
    current_catalog(session)
        .table_by_id(id)
        .cloned()
        .ok_or_else(|| EngineError::UndefinedTable(format!("#{id}")))
}

fn missing_column(table: &TableDef, column: &str) -> EngineError {
    EngineError::UndefinedColumn(format!(
        "column \"{column}\" of relation \"{}\" does not exist",
        table.name
    ))
}

async fn operation_on(
    session: &mut Session,
    id: u64,
    operation: AlterTableOperation,
) -> EngineResult<()> {
    let table = current(session, id)?;
    match operation {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => add_column(session, &table, if_not_exists, &column_def).await,
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            drop_behavior,
            ..
        } => {
            let cascade = matches!(drop_behavior, Some(DropBehavior::Cascade));
            for column in &column_names {
                let table = current(session, id)?;
                drop_column(session, &table, &ident_name(column), if_exists, cascade).await?;
            }
            Ok(())
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => rename_column(
            session,
            &table,
            &ident_name(&old_column_name),
            &ident_name(&new_column_name),
        ),
        AlterTableOperation::RenameTable { table_name: new } => {
            let new = match new {
                RenameTableNameKind::As(name) | RenameTableNameKind::To(name) => name,
            };
            let (_, bare) = super::names::parts(&new, session.database().1)?;
            let catalog = current_catalog(session);
            let schema = catalog.schema_of(table.id).to_string();
            if catalog.relation_exists(&kimberlite_catalog::relation_key(&schema, &bare)) {
                return Err(EngineError::DuplicateTable(bare));
            }
            let mut def = (*table).clone();
            if !def.primary_key.is_empty() {
                // The key's name stays what it was (PostgreSQL renames the
                // table, not its constraints).
                def.primary_key_name = Some(table.primary_key_name());
            }
            let old_key = catalog.key_of(table.id, &table.name);
            let qualified = if schema == kimberlite_catalog::DEFAULT_SCHEMA {
                vec![Ident::with_quote('"', bare.clone())]
            } else {
                vec![
                    Ident::with_quote('"', schema.clone()),
                    Ident::with_quote('"', bare.clone()),
                ]
            };
            super::view::follow_table_rename(
                session,
                table.id,
                &old_key,
                &ObjectName::from(qualified),
            )?;
            def.name = bare;
            catalog_change(session, CatalogChange::ReplaceTable(def))
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            alter_column(session, &table, &ident_name(&column_name), op).await
        }
        AlterTableOperation::AddConstraint { constraint, .. } => {
            add_constraint(session, &table, &constraint).await
        }
        AlterTableOperation::DropConstraint {
            if_exists,
            name,
            drop_behavior,
        } => {
            let cascade = matches!(drop_behavior, Some(DropBehavior::Cascade));
            drop_constraint(session, &table, &ident_name(&name), if_exists, cascade).await
        }
        // Ownership is not modelled yet; dumps set it on every table.
        AlterTableOperation::OwnerTo { .. } => Ok(()),
        other => Err(EngineError::FeatureNotSupported(format!(
            "ALTER TABLE … {} is not supported yet",
            other
                .to_string()
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

async fn add_column(
    session: &mut Session,
    table: &Arc<TableDef>,
    if_not_exists: bool,
    column: &datafusion::sql::sqlparser::ast::ColumnDef,
) -> EngineResult<()> {
    let column_name = ident_name(&column.name);
    if table.column_index(&column_name).is_some() {
        let message = format!(
            "column \"{column_name}\" of relation \"{}\" already exists",
            table.name
        );
        if if_not_exists {
            session.notice("NOTICE", "42701", format!("{message}, skipping"));
            return Ok(());
        }
        return Err(EngineError::DuplicateColumn(message));
    }
    let catalog = current_catalog(session);
    let taken: Vec<String> = catalog.sequences().map(|s| s.name.clone()).collect();
    let mut specs = ConstraintSpecs::new(&table.name);
    let position = table.columns.len();
    let schema = catalog.schema_of(table.id).to_string();
    let (def, sequence) = read_column(
        session,
        (&schema, &table.name),
        (table.id, position),
        column,
        &mut specs,
        &taken,
    )?;
    let mut new = (**table).clone();
    new.columns.push(def.clone());
    if let Some(PrimaryKeySpec { name, .. }) = specs.primary_key.take() {
        if !table.primary_key.is_empty() {
            return Err(multiple_primary_keys(table));
        }
        new.columns[position].nullable = false;
        new.primary_key = vec![position];
        new.primary_key_name = name;
    }
    let path = session.search_path(&catalog);
    let added = specs.resolve(&new, &schema, &catalog, &path)?;
    new.constraints.extend(added);
    if let Some(sequence) = sequence {
        super::ddl::place(session, sequence.id, &schema)?;
        catalog_change(session, CatalogChange::CreateSequence(sequence))?;
    }
    let mut sources: Vec<Source> = (0..position).map(Source::Old).collect();
    sources.push(Source::Expr(
        def.default_sql.clone().unwrap_or_else(|| "NULL".into()),
    ));
    rewrite_rows(session, table, new, sources).await
}

/// Column positions after dropping `dropped`.
fn shifted(column: usize, dropped: usize) -> Option<usize> {
    match column.cmp(&dropped) {
        std::cmp::Ordering::Less => Some(column),
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(column - 1),
    }
}

fn shift_all(columns: &[usize], dropped: usize) -> Option<Vec<usize>> {
    columns.iter().map(|&c| shifted(c, dropped)).collect()
}

async fn drop_column(
    session: &mut Session,
    table: &Arc<TableDef>,
    column: &str,
    if_exists: bool,
    cascade: bool,
) -> EngineResult<()> {
    let Some(position) = table.column_index(column) else {
        if if_exists {
            session.notice(
                "NOTICE",
                "00000",
                format!(
                    "column \"{column}\" of relation \"{}\" does not exist, skipping",
                    table.name
                ),
            );
            return Ok(());
        }
        return Err(missing_column(table, column));
    };
    if table.columns.len() == 1 {
        return Err(EngineError::FeatureNotSupported(
            "tables without columns are not supported".into(),
        ));
    }
    let catalog = current_catalog(session);
    // Foreign keys of other tables into this column go with it under
    // CASCADE; the others have the referenced positions shifted.
    let mut dependents = Vec::new();
    for (other, constraint) in catalog.referencing(table.id) {
        let fk = other
            .foreign_keys()
            .find(|(c, _)| c.name == constraint)
            .map(|(_, fk)| fk.clone())
            .expect("referencing names a foreign key");
        dependents.push((other, constraint, fk));
    }
    let views = super::view::views_using_column(&catalog, table.id, column);
    if !views.is_empty() {
        if !cascade {
            let details: Vec<String> = views
                .iter()
                .map(|v| {
                    format!(
                        "view {} depends on column {column} of table {}",
                        v.name, table.name
                    )
                })
                .collect();
            return Err(column_dependents(table, column, &details));
        }
        let ids: Vec<u64> = views.iter().map(|v| v.id).collect();
        let mut all = views.clone();
        all.extend(super::view::dependent_views(&catalog, &ids));
        for view in &all {
            session.notice(
                "NOTICE",
                "00000",
                format!("drop cascades to view {}", view.name),
            );
        }
        super::view::drop_dependents(session, &all)?;
    }
    let broken: Vec<&(Arc<TableDef>, String, ForeignKey)> = dependents
        .iter()
        .filter(|(_, _, fk)| fk.ref_columns.contains(&position))
        .collect();
    if !broken.is_empty() && !cascade {
        let details: Vec<String> = broken
            .iter()
            .map(|(other, constraint, _)| {
                format!(
                    "constraint {constraint} on table {} depends on column {column} of table {}",
                    other.name, table.name
                )
            })
            .collect();
        return Err(column_dependents(table, column, &details));
    }
    for (other, constraint, _) in &broken {
        session.notice(
            "NOTICE",
            "00000",
            format!(
                "drop cascades to constraint {constraint} on table {}",
                other.name
            ),
        );
    }
    let mut new = (**table).clone();
    new.columns.remove(position);
    new.primary_key = shift_all(&table.primary_key, position).unwrap_or_default();
    if new.primary_key.is_empty() {
        new.primary_key_name = None;
    }
    new.constraints = table
        .constraints
        .iter()
        .filter_map(|c| {
            let kind = match &c.kind {
                ConstraintKind::Unique { columns } => ConstraintKind::Unique {
                    columns: shift_all(columns, position)?,
                },
                ConstraintKind::UniqueIndex { columns } => ConstraintKind::UniqueIndex {
                    columns: shift_all(columns, position)?,
                },
                ConstraintKind::Check { expr_sql } => {
                    if mentions(expr_sql, column) {
                        return None;
                    }
                    c.kind.clone()
                }
                ConstraintKind::ForeignKey(fk) => {
                    let mut fk = fk.clone();
                    fk.columns = shift_all(&fk.columns, position)?;
                    if fk.ref_table == table.id {
                        fk.ref_columns = shift_all(&fk.ref_columns, position)?;
                    }
                    ConstraintKind::ForeignKey(fk)
                }
            };
            Some(kimberlite_catalog::Constraint {
                name: c.name.clone(),
                kind,
            })
        })
        .collect();
    // Sequences owned by the column go; those of later columns follow it.
    for sequence in catalog.sequences() {
        let Some((owner, owned)) = sequence.owned_by else {
            continue;
        };
        if owner != table.id || owned < position {
            continue;
        }
        let mut def = (**sequence).clone();
        // The dropped column's sequence is let go now and dropped once
        // the column is gone; later columns' sequences follow them.
        def.owned_by = (owned > position).then_some((owner, owned - 1));
        catalog_change(session, CatalogChange::AlterSequence(def))?;
    }
    for index in catalog.table_indexes(table.id) {
        let columns: Option<Vec<_>> = index
            .columns
            .iter()
            .map(|c| {
                shifted(c.column, position)
                    .map(|column| kimberlite_catalog::IndexColumn { column, ..*c })
            })
            .collect();
        match columns {
            Some(columns) => {
                let mut def = (**index).clone();
                def.columns = columns;
                catalog_change(session, CatalogChange::AlterIndex(def))?;
            }
            None => catalog_change(session, CatalogChange::DropIndex { id: index.id })?,
        }
    }
    // Column comments follow their columns.
    let comments: Vec<(u32, String)> = catalog
        .comments()
        .filter(|((object, c), _)| *object == table.id && *c as usize > position)
        .map(|((_, c), text)| (*c, text.clone()))
        .collect();
    for (c, text) in comments {
        for (column, text) in [(c, None), (c - 1, Some(text))] {
            catalog_change(
                session,
                CatalogChange::SetComment {
                    object: table.id,
                    column,
                    text,
                },
            )?;
        }
    }
    if catalog.comment(table.id, position as u32 + 1).is_some() {
        catalog_change(
            session,
            CatalogChange::SetComment {
                object: table.id,
                column: position as u32 + 1,
                text: None,
            },
        )?;
    }
    let sources = (0..table.columns.len())
        .filter(|&c| c != position)
        .map(Source::Old)
        .collect();
    rewrite_rows(session, table, new, sources).await?;
    for (other, constraint, fk) in dependents {
        let current_other = current(session, other.id)?;
        let mut def = (*current_other).clone();
        match shift_all(&fk.ref_columns, position) {
            None => def.constraints.retain(|c| c.name != constraint),
            Some(ref_columns) => {
                for c in &mut def.constraints {
                    if let ConstraintKind::ForeignKey(fk) = &mut c.kind {
                        if c.name == constraint {
                            fk.ref_columns = ref_columns.clone();
                        }
                    }
                }
            }
        }
        catalog_change(session, CatalogChange::ReplaceTable(def))?;
    }
    for sequence in catalog.sequences() {
        if sequence.owned_by == Some((table.id, position)) {
            catalog_change(session, CatalogChange::DropSequence { id: sequence.id })?;
        }
    }
    Ok(())
}

/// 2BP01 for DROP COLUMN without CASCADE: what depends on the column.
fn column_dependents(table: &TableDef, column: &str, details: &[String]) -> EngineError {
    EngineError::DependentObjects {
        message: format!(
            "cannot drop column {column} of table {} because other objects depend on it",
            table.name
        ),
        detail: details.join("\n"),
    }
}

/// Whether the SQL expression names `column`.
fn mentions(expr_sql: &str, column: &str) -> bool {
    let Ok(mut expr) = parse_expr(expr_sql) else {
        return true;
    };
    let mut found = false;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(ident) = e {
            found |= ident_name(ident) == column;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    found
}

fn parse_expr(sql: &str) -> EngineResult<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| EngineError::Internal(format!("stored expression {sql}: {e}")))
}

/// `expr_sql` with every reference to column `from` renamed to `to`.
fn rename_in(expr_sql: &str, from: &str, to: &str) -> EngineResult<String> {
    let mut expr = parse_expr(expr_sql)?;
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let Expr::Identifier(ident) = e {
            if ident_name(ident) == from {
                *ident = Ident::with_quote('"', to);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(expr.to_string())
}

fn rename_column(
    session: &mut Session,
    table: &Arc<TableDef>,
    from: &str,
    to: &str,
) -> EngineResult<()> {
    let Some(position) = table.column_index(from) else {
        return Err(EngineError::UndefinedColumn(format!(
            "column \"{from}\" does not exist"
        )));
    };
    if table.column_index(to).is_some() {
        return Err(EngineError::DuplicateColumn(format!(
            "column \"{to}\" of relation \"{}\" already exists",
            table.name
        )));
    }
    if let Some(view) =
        super::view::views_using_column(&current_catalog(session), table.id, from).first()
    {
        return Err(EngineError::FeatureNotSupported(format!(
            "renaming column \"{from}\" is not supported yet while view {} uses it",
            view.name
        )));
    }
    let mut new = (**table).clone();
    new.columns[position].name = to.to_string();
    for constraint in &mut new.constraints {
        if let ConstraintKind::Check { expr_sql } = &mut constraint.kind {
            if mentions(expr_sql, from) {
                *expr_sql = rename_in(expr_sql, from, to)?;
            }
        }
    }
    catalog_change(session, CatalogChange::ReplaceTable(new))
}

fn multiple_primary_keys(table: &TableDef) -> EngineError {
    EngineError::InvalidTableDefinition(format!(
        "multiple primary keys for table \"{}\" are not allowed",
        table.name
    ))
}

async fn alter_column(
    session: &mut Session,
    table: &Arc<TableDef>,
    column: &str,
    op: AlterColumnOperation,
) -> EngineResult<()> {
    let Some(position) = table.column_index(column) else {
        return Err(missing_column(table, column));
    };
    let mut new = (**table).clone();
    match op {
        AlterColumnOperation::SetNotNull => {
            if !table.columns[position].nullable {
                return Ok(());
            }
            new.columns[position].nullable = false;
            let sources = (0..table.columns.len()).map(Source::Old).collect();
            rewrite_rows(session, table, new, sources).await
        }
        AlterColumnOperation::DropNotNull => {
            if table.primary_key.contains(&position) {
                return Err(EngineError::InvalidTableDefinition(format!(
                    "column \"{column}\" is in a primary key"
                )));
            }
            new.columns[position].nullable = true;
            catalog_change(session, CatalogChange::ReplaceTable(new))
        }
        AlterColumnOperation::SetDefault { value } => {
            let sql = value.to_string();
            let sql_type = table.columns[position].sql_type;
            // A bad default fails here, not at every later INSERT.
            if !sql.starts_with("nextval(") {
                super::dml::evaluate_defaults(session, &[(sql_type, sql.clone())], 1).await?;
            }
            new.columns[position].default_sql = Some(sql);
            catalog_change(session, CatalogChange::ReplaceTable(new))
        }
        AlterColumnOperation::DropDefault => {
            new.columns[position].default_sql = None;
            catalog_change(session, CatalogChange::ReplaceTable(new))
        }
        AlterColumnOperation::SetDataType {
            data_type, using, ..
        } => {
            if let Some(view) =
                super::view::views_using_column(&current_catalog(session), table.id, column).first()
            {
                return Err(EngineError::ColumnUsedByView {
                    view: view.name.clone(),
                    column: column.to_string(),
                });
            }
            let old_type = table.columns[position].sql_type;
            let new_type = sql_type_from_ast(&data_type)?;
            if using.is_none() && !assignable(old_type, new_type) {
                return Err(EngineError::CannotCastColumn {
                    column: column.to_string(),
                    type_name: new_type.pg_name(),
                });
            }
            let catalog = current_catalog(session);
            let referenced = catalog.referencing(table.id).iter().any(|(other, name)| {
                other
                    .foreign_keys()
                    .any(|(c, fk)| &c.name == name && fk.ref_columns.contains(&position))
            });
            if referenced && using.is_some() {
                return Err(EngineError::FeatureNotSupported(
                    "ALTER COLUMN TYPE … USING on a column other tables reference is not supported yet"
                        .into(),
                ));
            }
            new.columns[position].sql_type = new_type;
            check_key_types(&catalog, &new)?;
            let expr = match &using {
                Some(expr) => expr.to_string(),
                None => quote(column),
            };
            let sources = (0..table.columns.len())
                .map(|c| {
                    if c == position {
                        Source::Expr(expr.clone())
                    } else {
                        Source::Old(c)
                    }
                })
                .collect();
            rewrite_rows(session, table, new, sources).await
        }
        AlterColumnOperation::AddGenerated { .. } => Err(EngineError::FeatureNotSupported(
            "ALTER COLUMN … ADD GENERATED is not supported yet".into(),
        )),
    }
}

/// Whether PostgreSQL converts `from` to `to` without USING (an
/// assignment cast exists).
fn assignable(from: SqlType, to: SqlType) -> bool {
    use SqlType as T;
    let numeric = |t: SqlType| {
        matches!(
            t,
            T::Int2 | T::Int4 | T::Int8 | T::Float4 | T::Float8 | T::Numeric { .. }
        )
    };
    let text = |t: SqlType| matches!(t, T::Text | T::Varchar(_) | T::Char(_) | T::Name);
    from == to
        || (numeric(from) && numeric(to))
        || text(to)
        || (matches!(from, T::Timestamp | T::Timestamptz | T::Date)
            && matches!(to, T::Timestamp | T::Timestamptz))
        || (from == T::Json && to == T::Jsonb)
        || (from == T::Jsonb && to == T::Json)
}

/// Foreign keys from and into `table` still join columns of compatible
/// types.
fn check_key_types(catalog: &kimberlite_catalog::Catalog, table: &TableDef) -> EngineResult<()> {
    let is_integer = |t: SqlType| matches!(t, SqlType::Int2 | SqlType::Int4 | SqlType::Int8);
    let type_of = |id: u64, c: usize| -> Option<SqlType> {
        if id == table.id {
            Some(table.columns[c].sql_type)
        } else {
            catalog.table_by_id(id).map(|t| t.columns[c].sql_type)
        }
    };
    let mut pairs: Vec<(String, SqlType, SqlType)> = Vec::new();
    for (c, fk) in table.foreign_keys() {
        for (&a, &b) in fk.columns.iter().zip(&fk.ref_columns) {
            if let Some(rt) = type_of(fk.ref_table, b) {
                pairs.push((c.name.clone(), table.columns[a].sql_type, rt));
            }
        }
    }
    for (other, name) in catalog.referencing(table.id) {
        for (c, fk) in other.foreign_keys().filter(|(c, _)| c.name == name) {
            for (&a, &b) in fk.columns.iter().zip(&fk.ref_columns) {
                pairs.push((
                    c.name.clone(),
                    other.columns[a].sql_type,
                    table.columns[b].sql_type,
                ));
            }
        }
    }
    for (name, a, b) in pairs {
        if a != b && !(is_integer(a) && is_integer(b)) {
            return Err(EngineError::Datatype(format!(
                "foreign key constraint \"{name}\" cannot be implemented: key columns are of incompatible types: {} and {}",
                a.pg_name(),
                b.pg_name()
            )));
        }
    }
    Ok(())
}

async fn add_constraint(
    session: &mut Session,
    table: &Arc<TableDef>,
    constraint: &TableConstraint,
) -> EngineResult<()> {
    let catalog = current_catalog(session);
    let mut specs = ConstraintSpecs::new(&table.name);
    specs.table_constraint(constraint)?;
    let mut new = (**table).clone();
    if let Some(PrimaryKeySpec { name, columns }) = specs.primary_key.take() {
        if !table.primary_key.is_empty() {
            return Err(multiple_primary_keys(table));
        }
        if let Some(name) = &name {
            if table.constraints.iter().any(|c| &c.name == name) || catalog.relation_exists(name) {
                return Err(EngineError::DuplicateTable(name.clone()));
            }
        }
        for column in &columns {
            let position = new.column_index(column).ok_or_else(|| {
                EngineError::UndefinedColumn(format!(
                    "column \"{column}\" of relation \"{}\" does not exist",
                    table.name
                ))
            })?;
            new.columns[position].nullable = false;
            new.primary_key.push(position);
        }
        new.primary_key_name = name;
    }
    let schema = catalog.schema_of(table.id).to_string();
    let path = session.search_path(&catalog);
    let added = specs.resolve(&new, &schema, &catalog, &path)?;
    new.constraints.extend(added);
    let sources = (0..table.columns.len()).map(Source::Old).collect();
    rewrite_rows(session, table, new, sources).await
}

async fn drop_constraint(
    session: &mut Session,
    table: &Arc<TableDef>,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> EngineResult<()> {
    let is_primary = !table.primary_key.is_empty() && table.primary_key_name() == name;
    let found = table
        .constraints
        .iter()
        .find(|c| c.name == name && !matches!(c.kind, ConstraintKind::UniqueIndex { .. }));
    if !is_primary && found.is_none() {
        if if_exists {
            session.notice(
                "NOTICE",
                "00000",
                format!(
                    "constraint \"{name}\" of relation \"{}\" does not exist, skipping",
                    table.name
                ),
            );
            return Ok(());
        }
        return Err(EngineError::UndefinedObject(format!(
            "constraint \"{name}\" of relation \"{}\" does not exist",
            table.name
        )));
    }
    // A key other tables' foreign keys reference needs CASCADE, which
    // drops those foreign keys.
    let key: Option<Vec<usize>> = if is_primary {
        Some(table.primary_key.clone())
    } else {
        match &found.expect("found").kind {
            ConstraintKind::Unique { columns } => Some(columns.clone()),
            _ => None,
        }
    };
    let catalog = current_catalog(session);
    let mut dependents = Vec::new();
    if let Some(key) = &key {
        for (other, constraint) in catalog.referencing(table.id) {
            let uses = other
                .foreign_keys()
                .any(|(c, fk)| c.name == constraint && &fk.ref_columns == key);
            if uses {
                dependents.push((other, constraint));
            }
        }
    }
    if !dependents.is_empty() && !cascade {
        let details: Vec<String> = dependents
            .iter()
            .map(|(other, constraint)| {
                format!(
                    "constraint {constraint} on table {} depends on index {name}",
                    other.name
                )
            })
            .collect();
        return Err(EngineError::DependentObjects {
            message: format!(
                "cannot drop constraint {name} on table {} because other objects depend on it",
                table.name
            ),
            detail: details.join("\n"),
        });
    }
    for (other, constraint) in &dependents {
        session.notice(
            "NOTICE",
            "00000",
            format!(
                "drop cascades to constraint {constraint} on table {}",
                other.name
            ),
        );
        let current_other = current(session, other.id)?;
        let mut def = (*current_other).clone();
        def.constraints.retain(|c| &c.name != constraint);
        catalog_change(session, CatalogChange::ReplaceTable(def))?;
    }
    let mut new = (*current(session, table.id)?).clone();
    if is_primary {
        new.primary_key.clear();
        new.primary_key_name = None;
        let sources = (0..table.columns.len()).map(Source::Old).collect();
        let table = current(session, table.id)?;
        return rewrite_rows(session, &table, new, sources).await;
    }
    new.constraints.retain(|c| c.name != name);
    catalog_change(session, CatalogChange::ReplaceTable(new))
}

/// Writes every row again unchanged under `new` (a rule was added), then
/// runs the statement-end checks over them.
pub(super) async fn rewrite_checked(
    session: &mut Session,
    old: &Arc<TableDef>,
    new: TableDef,
) -> EngineResult<()> {
    let sources = (0..old.columns.len()).map(Source::Old).collect();
    rewrite_rows(session, old, new, sources).await?;
    super::enforce::finish_statement(session)
        .await
        .map_err(existing_rows_error)
}

/// Maps errors of the constraint checks over existing rows to the
/// messages PostgreSQL gives when ALTER TABLE validates them.
fn existing_rows_error(error: EngineError) -> EngineError {
    match error {
        EngineError::UniqueViolation {
            table,
            constraint,
            detail,
        } => EngineError::ExistingUniqueViolation {
            table,
            constraint,
            detail: detail.replace(" already exists.", " is duplicated."),
        },
        EngineError::CheckViolation {
            table, constraint, ..
        } => EngineError::ExistingCheckViolation { table, constraint },
        other => other,
    }
}

/// Writes every row of `old` (as the transaction sees it) again as a row
/// of `new`, then replaces the definition. Rows of a table that gains a
/// primary key are re-keyed by it (duplicates: 23505 "could not create
/// unique index"); rows of one that loses it get hidden row ids.
pub(super) async fn rewrite_rows(
    session: &mut Session,
    old: &Arc<TableDef>,
    new: TableDef,
    sources: Vec<Source>,
) -> EngineResult<()> {
    assert_eq!(
        sources.len(),
        new.columns.len(),
        "one source per new column"
    );
    new.validate()?;
    let exprs: Vec<String> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Expr(sql) => Some(sql.clone()),
            Source::Old(_) => None,
        })
        .collect();
    let batches = select_target(session, old, &old.name, &exprs, None, None, None).await?;
    let mut rows: Vec<(Vec<u8>, super::txn::Base, Row)> = Vec::new();
    for batch in &batches {
        let current = target_rows(old, batch)?;
        let mut computed: Vec<Vec<Datum>> = Vec::with_capacity(exprs.len());
        let mut e = 0;
        for (i, source) in sources.iter().enumerate() {
            if let Source::Expr(_) = source {
                let array = batch.column(2 + old.columns.len() + e);
                computed.push(super::convert::coerce_column(
                    array,
                    new.columns[i].sql_type,
                    &session.zone(),
                )?);
                e += 1;
            }
        }
        for (r, (key, base, row)) in current.into_iter().enumerate() {
            let mut e = 0;
            let values: Row = sources
                .iter()
                .map(|source| match source {
                    Source::Old(c) => row[*c].clone(),
                    Source::Expr(_) => {
                        e += 1;
                        computed[e - 1][r].clone()
                    }
                })
                .collect();
            rows.push((key, base, values));
        }
    }
    // Rules every row must keep now: a new primary key's values are
    // unique (checked first, as PostgreSQL builds the index first), then
    // NOT NULL.
    let rekey = old.primary_key != new.primary_key
        || new
            .primary_key
            .iter()
            .any(|&k| old.columns.get(k).map(|c| c.sql_type) != Some(new.columns[k].sql_type));
    if rekey && !new.has_row_id() {
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for (_, _, row) in &rows {
            if new.primary_key.iter().all(|&k| !row[k].is_null())
                && !seen.insert(encode_key(new.primary_key.iter().map(|&k| &row[k])))
            {
                return Err(duplicated(&new, row));
            }
        }
    }
    for (column, def) in new.columns.iter().enumerate() {
        if !def.nullable && rows.iter().any(|(_, _, row)| row[column].is_null()) {
            return Err(EngineError::ExistingNullViolation {
                table: new.name.clone(),
                column: def.name.clone(),
            });
        }
    }
    let mut keyed: Vec<(Vec<u8>, Vec<u8>, super::txn::Base, Row)> = Vec::with_capacity(rows.len());
    for (old_key, base, row) in rows {
        let new_key = if !rekey {
            old_key.clone()
        } else if new.has_row_id() {
            row_id_key(session.engine.allocate_row_id())
        } else {
            encode_key(new.primary_key.iter().map(|&k| &row[k]))
        };
        keyed.push((old_key, new_key, base, row));
    }
    let txn = session.txn.as_mut().expect("in a transaction");
    // Old keys go first, so a new key equal to another row's old key
    // becomes an update of that key.
    for (old_key, new_key, base, _) in &keyed {
        if old_key != new_key {
            txn.write(&new, old_key.clone(), None, *base);
        }
    }
    let mut recorded = Vec::with_capacity(keyed.len());
    for (old_key, new_key, base, row) in keyed {
        let rekeyed = old_key != new_key;
        let base = if rekeyed { super::txn::Base::New } else { base };
        txn.write(&new, new_key.clone(), Some(row.clone()), base);
        recorded.push((rekeyed.then(|| (old_key, row.clone())), (new_key, row)));
    }
    for (old, row) in recorded {
        record_change(session, &new, old, row);
    }
    let id = new.id;
    catalog_change(session, CatalogChange::ReplaceTable(new))?;
    let new = current(session, id)?;
    session
        .txn
        .as_mut()
        .expect("in a transaction")
        .reindex(&new);
    session.check_txn_written()
}

/// Records a rewritten row for the statement-end checks (the new
/// definition's constraints over every row). A re-keyed row's old key is
/// recorded with its values, so rows that reference them find the row
/// under its new key.
fn record_change(
    session: &mut Session,
    table: &TableDef,
    old: Option<(Vec<u8>, Row)>,
    new: (Vec<u8>, Row),
) {
    let constrained =
        !table.constraints.is_empty() || !current_catalog(session).referencing(table.id).is_empty();
    if !constrained {
        return;
    }
    session
        .txn
        .as_mut()
        .expect("in a transaction")
        .changes
        .push(crate::constraints::Change {
            table: table.id,
            old,
            new: Some(new),
        });
}

/// 23505 for a primary key added over rows that repeat a value.
fn duplicated(table: &TableDef, row: &Row) -> EngineError {
    EngineError::ExistingUniqueViolation {
        table: table.name.clone(),
        constraint: table.primary_key_name(),
        detail: format!("{} is duplicated.", primary_key_text(table, row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_reach_every_reference_in_a_check() {
        let renamed = rename_in("a > 0 AND (a + b) < 10", "a", "z").unwrap();
        assert_eq!(renamed, "\"z\" > 0 AND (\"z\" + b) < 10");
        assert!(mentions("a > 0", "a"));
        assert!(!mentions("b > 0", "a"));
    }

    #[test]
    fn shifting_drops_the_dropped_column() {
        assert_eq!(shift_all(&[0, 2], 1), Some(vec![0, 1]));
        assert_eq!(shift_all(&[0, 1], 1), None);
    }

    #[test]
    fn assignment_casts_follow_postgres() {
        assert!(assignable(SqlType::Int4, SqlType::Int8));
        assert!(assignable(SqlType::Int4, SqlType::Text));
        assert!(!assignable(SqlType::Text, SqlType::Int4));
    }
}
