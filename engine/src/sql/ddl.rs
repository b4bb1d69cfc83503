//! DDL: `CREATE TABLE` and `DROP TABLE` as catalog changes in the
//! transaction.
//!
//! The change is checked against the transaction's catalog right away (so
//! `CREATE TABLE t` twice fails on the second statement, 42P07) and again by
//! the kernel when the transaction commits.

use datafusion::sql::sqlparser::ast::{
    ColumnOption, CreateTable, Expr, ObjectName, ObjectType, TableConstraint,
};
use kimberlite_catalog::{CatalogChange, ColumnDef, TableDef};

use super::types::sql_type_from_ast;
use super::{ident_name, table_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

fn catalog_change(session: &mut Session, change: CatalogChange) -> EngineResult<()> {
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

fn pk_column_names(
    columns: &[datafusion::sql::sqlparser::ast::IndexColumn],
) -> EngineResult<Vec<String>> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident) => Ok(ident_name(ident)),
            other => Err(EngineError::FeatureNotSupported(format!(
                "primary key on expression {other} is not supported"
            ))),
        })
        .collect()
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
    let name = table_name(&create.name)?;
    let snapshot = session.snapshot();
    if session.statement_catalog(snapshot).table(&name).is_some() {
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
    let mut columns = Vec::with_capacity(create.columns.len());
    let mut primary_key: Vec<String> = Vec::new();
    for column in &create.columns {
        let column_name = ident_name(&column.name);
        let sql_type = sql_type_from_ast(&column.data_type)?;
        let mut nullable = true;
        let mut default_sql = None;
        for option in &column.options {
            match &option.option {
                ColumnOption::Null => nullable = true,
                ColumnOption::NotNull => nullable = false,
                ColumnOption::Default(expr) => default_sql = Some(expr.to_string()),
                ColumnOption::PrimaryKey(_) => {
                    if !primary_key.is_empty() {
                        return Err(EngineError::InvalidParameterValue(format!(
                            "multiple primary keys for table \"{name}\" are not allowed"
                        )));
                    }
                    primary_key.push(column_name.clone());
                    nullable = false;
                }
                other => {
                    return Err(EngineError::FeatureNotSupported(format!(
                        "column option {other} is not supported yet"
                    )))
                }
            }
        }
        columns.push(ColumnDef {
            name: column_name,
            sql_type,
            nullable,
            default_sql,
        });
    }
    for constraint in &create.constraints {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                if !primary_key.is_empty() {
                    return Err(EngineError::InvalidParameterValue(format!(
                        "multiple primary keys for table \"{name}\" are not allowed"
                    )));
                }
                primary_key = pk_column_names(&pk.columns)?;
            }
            other => {
                return Err(EngineError::FeatureNotSupported(format!(
                    "table constraint {other} is not supported yet"
                )))
            }
        }
    }
    let mut key_indexes = Vec::with_capacity(primary_key.len());
    for key_column in &primary_key {
        let index = columns
            .iter()
            .position(|c| &c.name == key_column)
            .ok_or_else(|| {
                EngineError::UndefinedColumn(format!(
                    "column \"{key_column}\" named in key does not exist"
                ))
            })?;
        columns[index].nullable = false;
        key_indexes.push(index);
    }
    let def = TableDef {
        id: session.engine.allocate_table_id(),
        name,
        columns,
        primary_key: key_indexes,
    };
    // Validate defaults now, so a bad DEFAULT fails the CREATE, not every INSERT.
    for column in &def.columns {
        if let Some(default) = &column.default_sql {
            super::dml::evaluate_defaults(session, &[(column.sql_type, default.clone())]).await?;
        }
    }
    catalog_change(session, CatalogChange::CreateTable(def))?;
    Ok(Outcome::Command {
        tag: "CREATE TABLE".into(),
    })
}

pub fn drop(
    session: &mut Session,
    object_type: ObjectType,
    if_exists: bool,
    names: Vec<ObjectName>,
    _cascade: bool,
) -> EngineResult<Outcome> {
    if object_type != ObjectType::Table {
        return Err(EngineError::FeatureNotSupported(format!(
            "DROP {object_type} is not supported yet"
        )));
    }
    for name in &names {
        let name = table_name(name)?;
        let snapshot = session.snapshot();
        match session.statement_catalog(snapshot).table(&name) {
            Some(table) => {
                let id = table.id;
                catalog_change(session, CatalogChange::DropTable { id })?;
            }
            None if if_exists => {
                session.notice(
                    "NOTICE",
                    "00000",
                    format!("table \"{name}\" does not exist, skipping"),
                );
            }
            None => return Err(EngineError::UndefinedTable(name)),
        }
    }
    Ok(Outcome::Command {
        tag: "DROP TABLE".into(),
    })
}
