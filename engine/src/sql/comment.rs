//! `COMMENT ON TABLE | VIEW | INDEX | SEQUENCE | COLUMN … IS '…' | NULL`:
//! a catalog change like any DDL (logged, transactional), read back by
//! clients through `obj_description` / `col_description` and
//! `pg_description`.

use datafusion::sql::sqlparser::ast::{CommentObject, ObjectName};
use kimberlite_catalog::CatalogChange;

use super::ddl::{catalog_change, current_catalog};
use super::{ident_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

pub(super) fn comment(
    session: &mut Session,
    object_type: CommentObject,
    name: &ObjectName,
    text: Option<String>,
) -> EngineResult<Outcome> {
    let catalog = current_catalog(session);
    let (object, column) = match object_type {
        CommentObject::Column => {
            let mut parts = name.0.clone();
            let Some(column) = parts.pop() else {
                return Err(EngineError::Syntax("column name missing".into()));
            };
            let column = column
                .as_ident()
                .map(ident_name)
                .ok_or_else(|| EngineError::Syntax(format!("bad column name {name}")))?;
            if parts.is_empty() {
                return Err(EngineError::Syntax(format!(
                    "column name must be qualified: {name}"
                )));
            }
            let relation = session.resolve(&ObjectName(parts))?;
            let table = catalog
                .table(&relation)
                .ok_or_else(|| EngineError::UndefinedTable(relation.clone()))?;
            let position = table.column_index(&column).ok_or_else(|| {
                EngineError::UndefinedColumn(format!(
                    "column \"{column}\" of relation \"{relation}\" does not exist"
                ))
            })?;
            (table.id, position as u32 + 1)
        }
        CommentObject::Table
        | CommentObject::View
        | CommentObject::Index
        | CommentObject::Sequence => {
            let relation = session.resolve(name)?;
            let id = match object_type {
                CommentObject::Table => catalog.table(&relation).map(|t| t.id),
                CommentObject::View => catalog.view(&relation).map(|v| v.id),
                CommentObject::Index => catalog.index(&relation).map(|i| i.id),
                _ => catalog.sequence(&relation).map(|s| s.id),
            };
            let id = id.ok_or_else(|| EngineError::UndefinedTable(relation.clone()))?;
            (id, 0)
        }
        other => {
            return Err(EngineError::FeatureNotSupported(format!(
                "COMMENT ON {other} is not supported yet"
            )))
        }
    };
    catalog_change(
        session,
        CatalogChange::SetComment {
            object,
            column,
            text: text.filter(|t| !t.is_empty()),
        },
    )?;
    Ok(Outcome::Command {
        tag: "COMMENT".into(),
    })
}
