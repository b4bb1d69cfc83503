//! `$n` parameters of the extended query protocol.
//!
//! Describe needs each parameter's type and the result columns before any
//! value is known: we ask DataFusion to plan the statement with its
//! placeholders (it infers `$1` from `id = $1`) and use the target column's
//! type where a placeholder is inserted or assigned directly.
//!
//! Execute binds values by substituting them into the statement as typed
//! literals, so every statement kind (ours and DataFusion's) sees plain SQL
//! and one code path executes both protocols.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, Array, AssignmentTarget, Expr, FromTable, Interval,
    SetExpr, Statement, TableObject, Value,
};
use kimberlite_catalog::{ArrayElement, SqlType};

use super::convert::parse_bytea;
use super::dml::{quote, returning_rows};
use super::provider::DML_TARGET;
use super::types::META_OID;
use super::{column_name, ident_name, Session};
use crate::error::{EngineError, EngineResult};

/// What Describe reports.
#[derive(Debug, Clone, Default)]
pub struct Description {
    /// Type OID per parameter (`$1` first); `None` where nothing was inferred.
    pub params: Vec<Option<u32>>,
    /// Result columns, or `None` for statements that return no rows.
    pub fields: Option<Vec<Field>>,
}

/// A bound parameter value in text form (binary values are converted to
/// text by the server, which knows their wire types).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Null,
    Text(String),
}

pub(super) fn placeholder_index(text: &str) -> Option<usize> {
    text.strip_prefix('$')?
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
}

/// The highest `$n` in a statement.
pub fn placeholder_count(statement: &Statement) -> usize {
    let mut max = 0;
    let _ = visit_expressions(statement, |expr| {
        if let Expr::Value(v) = expr {
            if let Value::Placeholder(p) = &v.value {
                max = max.max(placeholder_index(p).unwrap_or(0));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    max
}

/// The PostgreSQL OID closest to an Arrow type (metadata wins).
pub fn oid_for_field(field: &Field) -> u32 {
    if let Some(oid) = field.metadata().get(META_OID).and_then(|o| o.parse().ok()) {
        return oid;
    }
    oid_for_arrow(field.data_type())
}

/// The PostgreSQL OID closest to an Arrow type.
pub fn oid_for_arrow(data_type: &DataType) -> u32 {
    match data_type {
        DataType::Boolean => 16,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => 21,
        DataType::Int32 | DataType::UInt16 => 23,
        DataType::Int64 | DataType::UInt64 => 20,
        // `oid` values (catalog OIDs, `::oid` casts).
        DataType::UInt32 => 26,
        DataType::Float16 | DataType::Float32 => 700,
        DataType::Float64 => 701,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => 1700,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => 17,
        DataType::Date32 | DataType::Date64 => 1082,
        DataType::Timestamp(_, None) => 1114,
        DataType::Timestamp(_, Some(_)) => 1184,
        DataType::Time32(_) | DataType::Time64(_) => 1083,
        DataType::Interval(_) | DataType::Duration(_) => 1186,
        DataType::List(inner) | DataType::LargeList(inner) => {
            match oid_for_arrow(inner.data_type()) {
                16 => 1000,
                21 => 1005,
                23 => 1007,
                20 => 1016,
                26 => 1028,
                700 => 1021,
                701 => 1022,
                1700 => 1231,
                _ => 1009,
            }
        }
        _ => 25,
    }
}

/// `'{1,2}'` as an array of type `array_oid`: `ARRAY[1, 2]` of checked
/// element literals (22P02 for a malformed array or element), the same
/// expression a text parameter of that type binds to.
pub fn array_text_literal(array_oid: u32, text: &str) -> EngineResult<Expr> {
    literal(array_oid, &ParamValue::Text(text.to_string()))
}

fn literal(oid: u32, value: &ParamValue) -> EngineResult<Expr> {
    let ParamValue::Text(text) = value else {
        return Ok(Expr::Value(Value::Null.into()));
    };
    if let Some(element_oid) = ArrayElement::parameter_element_oid(oid) {
        // `ARRAY[…]` of typed element literals: DataFusion plans it as a
        // list, so `= ANY($1)` and inserts into array columns both work.
        let elem = super::array::parse_array_literal(text)?
            .into_iter()
            .map(|item| {
                literal(
                    element_oid,
                    &item.map(ParamValue::Text).unwrap_or(ParamValue::Null),
                )
            })
            .collect::<EngineResult<Vec<_>>>()?;
        return Ok(Expr::Array(Array { elem, named: true }));
    }
    if oid == 1186 {
        let value = super::interval::parse_interval(text)?;
        // A spelling Arrow's interval parser reads exactly.
        let canonical = format!(
            "{} mons {} days {} microseconds",
            value.months, value.days, value.micros
        );
        return Ok(Expr::Interval(Interval {
            value: Box::new(Expr::Value(Value::SingleQuotedString(canonical).into())),
            leading_field: None,
            leading_precision: None,
            last_field: None,
            fractional_seconds_precision: None,
        }));
    }
    let invalid = |type_name: &str| {
        EngineError::InvalidTextRepresentation(format!(
            "invalid input syntax for type {type_name}: \"{text}\""
        ))
    };
    let value = match oid {
        20 | 21 | 23 | 26 => {
            text.trim().parse::<i64>().map_err(|_| {
                invalid(match oid {
                    20 => "bigint",
                    21 => "smallint",
                    26 => "oid",
                    _ => "integer",
                })
            })?;
            Value::Number(text.trim().to_string(), false)
        }
        700 | 701 => {
            let parsed: f64 = text
                .trim()
                .parse()
                .map_err(|_| invalid("double precision"))?;
            if parsed.is_finite() {
                Value::Number(text.trim().to_string(), false)
            } else {
                Value::SingleQuotedString(text.clone())
            }
        }
        16 => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Value::Boolean(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Value::Boolean(false),
            _ => return Err(invalid("boolean")),
        },
        17 => Value::HexStringLiteral(hex::encode(parse_bytea(text)?)),
        _ => Value::SingleQuotedString(text.clone()),
    };
    Ok(Expr::Value(value.into()))
}

/// Substitutes parameter values into `statement`.
pub fn bind(
    statement: &Statement,
    types: &[u32],
    values: &[ParamValue],
) -> EngineResult<Statement> {
    let needed = placeholder_count(statement);
    if values.len() < needed {
        return Err(EngineError::Syntax(format!(
            "bind message supplies {} parameters, but prepared statement requires {needed}",
            values.len()
        )));
    }
    let mut bound = statement.clone();
    let mut failure = None;
    let _ = visit_expressions_mut(&mut bound, |expr| {
        if let Expr::Value(v) = expr {
            if let Value::Placeholder(p) = &v.value {
                if let Some(n) = placeholder_index(p) {
                    match literal(types.get(n - 1).copied().unwrap_or(0), &values[n - 1]) {
                        Ok(lit) => *expr = lit,
                        Err(e) => {
                            failure = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(bound),
    }
}

fn direct_placeholder(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => placeholder_index(p),
            _ => None,
        },
        _ => None,
    }
}

/// Plans a statement with its placeholders and reports types and columns.
pub async fn describe(session: &mut Session, statement: &Statement) -> EngineResult<Description> {
    let count = placeholder_count(statement);
    let mut known: BTreeMap<usize, u32> = BTreeMap::new();
    let mut fields = None;
    match statement {
        Statement::Query(_) | Statement::Explain { .. } => {
            session.set_scope(None);
            let plan = session.plan(statement.clone()).await?;
            for (name, data_type) in plan.get_parameter_types()? {
                if let (Some(n), Some(t)) = (placeholder_index(&name), data_type) {
                    known.insert(n, oid_for_arrow(&t));
                }
            }
            infer_oid_arrays(statement, &mut known);
            infer_any_arrays(session, statement, &mut known).await;
            let names = super::naming::column_names(statement);
            let schema = super::naming::rename(
                &std::sync::Arc::new(plan.schema().as_arrow().clone()),
                names.as_deref(),
            );
            fields = Some(schema.fields().iter().map(|f| f.as_ref().clone()).collect());
        }
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return Ok(Description::default());
            };
            let snapshot = session.snapshot();
            let catalog = session.statement_catalog(snapshot);
            let table = catalog
                .table(&session.resolve(name)?)
                .cloned()
                .ok_or_else(|| EngineError::UndefinedTable(name.to_string()))?;
            let targets: Vec<Option<SqlType>> = if insert.columns.is_empty() {
                table.columns.iter().map(|c| Some(c.sql_type)).collect()
            } else {
                insert
                    .columns
                    .iter()
                    .map(|c| {
                        let n = column_name(c);
                        table.column_index(&n).map(|i| table.columns[i].sql_type)
                    })
                    .collect()
            };
            if let Some(source) = &insert.source {
                if let SetExpr::Values(values) = source.body.as_ref() {
                    for row in &values.rows {
                        for (i, expr) in row.iter().enumerate() {
                            if let (Some(n), Some(Some(t))) =
                                (direct_placeholder(expr), targets.get(i))
                            {
                                known.insert(n, t.oid());
                            }
                        }
                    }
                } else {
                    session.set_scope(None);
                    if let Ok(plan) = session.plan(Statement::Query(source.clone())).await {
                        for (name, data_type) in plan.get_parameter_types()? {
                            if let (Some(n), Some(t)) = (placeholder_index(&name), data_type) {
                                known.insert(n, oid_for_arrow(&t));
                            }
                        }
                    }
                }
            }
            if let Some(items) = &insert.returning {
                let alias = insert
                    .table_alias
                    .as_ref()
                    .map(|a| ident_name(&a.alias))
                    .unwrap_or_else(|| table.name.clone());
                let (schema, _) = returning_rows(&table, &alias, vec![], items).await?;
                fields = Some(schema.fields().iter().map(|f| f.as_ref().clone()).collect());
            }
        }
        Statement::Update(update) => {
            let (table_factor, selection, returning) = (
                &update.table.relation,
                update.selection.as_ref(),
                &update.returning,
            );
            let (table, alias) = super::dml::target_table(session, table_factor)?;
            let mut exprs = Vec::new();
            for assignment in &update.assignments {
                if let AssignmentTarget::ColumnName(column) = &assignment.target {
                    let n = column_name(column);
                    if let (Some(p), Some(i)) = (
                        direct_placeholder(&assignment.value),
                        table.column_index(&n),
                    ) {
                        known.insert(p, table.columns[i].sql_type.oid());
                    }
                }
                exprs.push(assignment.value.to_string());
            }
            infer_from_target(session, &table, &alias, &exprs, selection, &mut known).await;
            if let Some(items) = returning {
                let (schema, _) = returning_rows(&table, &alias, vec![], items).await?;
                fields = Some(schema.fields().iter().map(|f| f.as_ref().clone()).collect());
            }
        }
        Statement::Delete(delete) => {
            let relations = match &delete.from {
                FromTable::WithFromKeyword(r) | FromTable::WithoutKeyword(r) => r,
            };
            if let Some(relation) = relations.first() {
                let (table, alias) = super::dml::target_table(session, &relation.relation)?;
                infer_from_target(
                    session,
                    &table,
                    &alias,
                    &[],
                    delete.selection.as_ref(),
                    &mut known,
                )
                .await;
                if let Some(items) = &delete.returning {
                    let (schema, _) = returning_rows(&table, &alias, vec![], items).await?;
                    fields = Some(schema.fields().iter().map(|f| f.as_ref().clone()).collect());
                }
            }
        }
        Statement::ShowVariable { .. } => {
            fields = Some(vec![Field::new("setting", DataType::Utf8, false)]);
        }
        _ => {}
    }
    // `$n::type` says what `$n` is wherever DataFusion did not.
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(statement, |expr| {
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
        {
            if let (Some(n), Ok(sql_type)) = (
                direct_placeholder(inner),
                super::types::sql_type_from_ast(data_type),
            ) {
                known.entry(n).or_insert(sql_type.oid());
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(Description {
        params: (1..=count).map(|n| known.get(&n).copied()).collect(),
        fields,
    })
}

/// `$1::oid[]` (catalog lookups by OID, as asyncpg binds them): DataFusion
/// infers nothing from a cast, PostgreSQL types the parameter `oid[]`.
fn infer_oid_arrays(statement: &Statement, known: &mut BTreeMap<usize, u32>) {
    use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as AstType};
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(statement, |expr| {
        if let Expr::Cast {
            expr, data_type, ..
        } = expr
        {
            let oid_array = match data_type {
                AstType::Array(ArrayElemTypeDef::SquareBracket(element, _)) => {
                    matches!(element.as_ref(), AstType::Custom(name, m)
                        if m.is_empty()
                            && (name.to_string().eq_ignore_ascii_case("oid")
                                || name.to_string().eq_ignore_ascii_case("pg_catalog.oid")))
                }
                _ => false,
            };
            if let Some(n) = direct_placeholder(expr).filter(|_| oid_array) {
                known.entry(n).or_insert(1028);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `x = ANY($1)`: DataFusion does not infer `$1`, PostgreSQL makes it an
/// array of `x`'s type. Planning the statement with `x = $1` instead tells
/// us that type.
async fn infer_any_arrays(
    session: &Session,
    statement: &Statement,
    known: &mut BTreeMap<usize, u32>,
) {
    let mut arrays = Vec::new();
    let mut comparison = statement.clone();
    let _ = visit_expressions_mut(&mut comparison, |expr| {
        if let Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        }
        | Expr::AllOp {
            left,
            compare_op,
            right,
        } = expr
        {
            if let Some(n) = direct_placeholder(right).filter(|n| !known.contains_key(n)) {
                arrays.push(n);
                *expr = Expr::BinaryOp {
                    left: left.clone(),
                    op: compare_op.clone(),
                    right: right.clone(),
                };
            }
        }
        ControlFlow::<()>::Continue(())
    });
    if arrays.is_empty() {
        return;
    }
    let Ok(plan) = session.plan(comparison).await else {
        return;
    };
    for (name, data_type) in plan.get_parameter_types().unwrap_or_default() {
        if let (Some(n), Some(t)) = (placeholder_index(&name), data_type) {
            if arrays.contains(&n) {
                let list = DataType::List(std::sync::Arc::new(Field::new_list_field(t, true)));
                known.insert(n, oid_for_arrow(&list));
            }
        }
    }
}

async fn infer_from_target(
    session: &Session,
    table: &std::sync::Arc<kimberlite_catalog::TableDef>,
    alias: &str,
    exprs: &[String],
    selection: Option<&Expr>,
    known: &mut BTreeMap<usize, u32>,
) {
    session.set_scope(Some(table.clone()));
    let mut items: Vec<String> = exprs.iter().map(|e| format!("({e})")).collect();
    if items.is_empty() {
        items.push("1".into());
    }
    let mut sql = format!(
        "SELECT {} FROM {} AS {}",
        items.join(", "),
        quote(DML_TARGET),
        quote(alias)
    );
    if let Some(selection) = selection {
        sql.push_str(&format!(" WHERE {selection}"));
    }
    let Ok(mut statements) = super::parse(&sql) else {
        return;
    };
    let Ok(plan) = session.plan(statements.remove(0)).await else {
        return;
    };
    if let Ok(types) = plan.get_parameter_types() {
        for (name, data_type) in types {
            if let (Some(n), Some(t)) = (placeholder_index(&name), data_type) {
                known.entry(n).or_insert_with(|| oid_for_arrow(&t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_substitutes_typed_literals() {
        let statement = super::super::parse("SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3")
            .unwrap()
            .remove(0);
        assert_eq!(placeholder_count(&statement), 3);
        let bound = bind(
            &statement,
            &[23, 25, 17],
            &[
                ParamValue::Text("42".into()),
                ParamValue::Text("it's".into()),
                ParamValue::Text("\\x00ff".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            bound.to_string(),
            "SELECT * FROM t WHERE a = 42 AND b = 'it''s' AND c = X'00ff'"
        );
    }

    #[test]
    fn a_non_integer_for_an_integer_parameter_is_22p02() {
        let statement = super::super::parse("SELECT $1").unwrap().remove(0);
        let error = bind(
            &statement,
            &[23],
            &[ParamValue::Text("1; DROP TABLE t".into())],
        )
        .unwrap_err();
        assert_eq!(error.sqlstate(), "22P02");
    }
}

/// A parsed statement kept by a prepared statement (a newtype so the server
/// can store it where pgwire wants `Clone + Debug`).
#[derive(Debug, Clone)]
pub struct BoundableStatement(pub Statement);
