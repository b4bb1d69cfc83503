//! Session commands: RESET, DISCARD, SQL-level PREPARE / EXECUTE /
//! DEALLOCATE, CLOSE, and the LISTEN family.
//!
//! Connection pools reset a session between borrowers with a burst of these
//! (asyncpg: `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
//! RESET ALL;`, pgbouncer: `DISCARD ALL`), so each must succeed with
//! PostgreSQL's command tag. Nothing here touches the log: it is all
//! connection state.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, CloseCursor, DataType as AstType, DiscardObject, Expr, Reset,
    ResetStatement, Statement, Value,
};

use super::params::{placeholder_count, placeholder_index};
use super::{ident_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// A statement prepared with SQL `PREPARE name [(types)] AS …`.
#[derive(Debug, Clone)]
pub struct SqlPrepared {
    statement: Statement,
    types: Vec<AstType>,
}

fn tag(tag: &str) -> EngineResult<Outcome> {
    Ok(Outcome::Command { tag: tag.into() })
}

impl Session {
    pub(super) async fn session_command(&mut self, statement: Statement) -> EngineResult<Outcome> {
        let in_block = self.in_block();
        match statement {
            Statement::Reset(ResetStatement { reset }) => {
                match reset {
                    Reset::ALL => self.settings.reset(None, in_block)?,
                    Reset::ConfigurationParameter(name) => {
                        let name = name
                            .0
                            .iter()
                            .map(|p| p.as_ident().map(ident_name).unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(".");
                        self.settings.reset(Some(&name), in_block)?
                    }
                }
                tag("RESET")
            }
            Statement::Discard { object_type } => match object_type {
                DiscardObject::ALL => {
                    if in_block {
                        return Err(EngineError::ActiveTransaction("DISCARD ALL".into()));
                    }
                    self.settings.reset(None, false)?;
                    self.sql_prepared.clear();
                    tag("DISCARD ALL")
                }
                DiscardObject::PLANS => tag("DISCARD PLANS"),
                DiscardObject::SEQUENCES => tag("DISCARD SEQUENCES"),
                DiscardObject::TEMP => tag("DISCARD TEMP"),
            },
            Statement::Prepare {
                name,
                data_types,
                statement,
            } => {
                let name = ident_name(&name);
                if self.sql_prepared.contains_key(&name) {
                    return Err(EngineError::DuplicatePreparedStatement(name));
                }
                if matches!(
                    *statement,
                    Statement::Prepare { .. } | Statement::Execute { .. }
                ) {
                    return Err(EngineError::Syntax(
                        "syntax error: PREPARE needs a plannable statement".into(),
                    ));
                }
                self.sql_prepared.insert(
                    name,
                    SqlPrepared {
                        statement: *statement,
                        types: data_types,
                    },
                );
                tag("PREPARE")
            }
            Statement::Execute {
                name: Some(name),
                parameters,
                using,
                ..
            } if using.is_empty() => {
                let name = name.to_string().to_lowercase();
                let prepared = self
                    .sql_prepared
                    .get(&name)
                    .cloned()
                    .ok_or(EngineError::UndefinedPreparedStatement(name.clone()))?;
                let bound = bind_arguments(&name, &prepared, parameters)?;
                Box::pin(self.execute_in_txn(bound)).await
            }
            Statement::Deallocate { name, .. } => {
                let name = ident_name(&name);
                if name == "all" {
                    self.sql_prepared.clear();
                    return tag("DEALLOCATE ALL");
                }
                match self.sql_prepared.remove(&name) {
                    Some(_) => tag("DEALLOCATE"),
                    None => Err(EngineError::UndefinedPreparedStatement(name)),
                }
            }
            Statement::Close { cursor } => match cursor {
                CloseCursor::All => {
                    self.cursors.clear();
                    tag("CLOSE CURSOR ALL")
                }
                CloseCursor::Specific { name } => {
                    let name = ident_name(&name);
                    match self.cursors.remove(&name) {
                        Some(_) => tag("CLOSE CURSOR"),
                        None => Err(EngineError::UndefinedCursor(name)),
                    }
                }
            },
            // Nothing is ever listened to, so there is nothing to stop.
            Statement::UNLISTEN { .. } => tag("UNLISTEN"),
            Statement::LISTEN { .. } | Statement::NOTIFY { .. } => Err(
                EngineError::FeatureNotSupported("LISTEN/NOTIFY is not supported yet".into()),
            ),
            other => Err(EngineError::Internal(format!(
                "not a session command: {other}"
            ))),
        }
    }
}

/// Substitutes EXECUTE's argument expressions for `$n`, cast to the types
/// PREPARE declared.
fn bind_arguments(
    name: &str,
    prepared: &SqlPrepared,
    arguments: Vec<Expr>,
) -> EngineResult<Statement> {
    let needed = placeholder_count(&prepared.statement).max(prepared.types.len());
    if arguments.len() != needed {
        return Err(EngineError::Syntax(format!(
            "wrong number of parameters for prepared statement \"{name}\"; expected {needed}, got {}",
            arguments.len()
        )));
    }
    let arguments: Vec<Expr> = arguments
        .into_iter()
        .enumerate()
        .map(|(i, argument)| match prepared.types.get(i) {
            Some(data_type) => Expr::Cast {
                kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                expr: Box::new(argument),
                array: false,
                data_type: data_type.clone(),
                format: None,
            },
            None => argument,
        })
        .collect();
    let mut bound = prepared.statement.clone();
    let _ = visit_expressions_mut(&mut bound, |expr| {
        if let Expr::Value(v) = expr {
            if let Value::Placeholder(p) = &v.value {
                if let Some(n) = placeholder_index(p) {
                    if let Some(argument) = n.checked_sub(1).and_then(|i| arguments.get(i)) {
                        *expr = Expr::Nested(Box::new(argument.clone()));
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(bound)
}
