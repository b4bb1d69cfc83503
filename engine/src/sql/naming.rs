//! PostgreSQL's names for result columns.
//!
//! DataFusion names an unaliased expression after its text (`count(*)`,
//! `t.a + Int64(1)`); PostgreSQL names it after the function (`count`), the
//! column (`a`), the cast's type (`int4`) or `?column?`. Clients see these
//! names in RowDescription (psql headers, dict rows, ORMs), so we compute
//! PostgreSQL's from the statement and apply them to the result schema.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as AstType, Expr, Ident, Query, SelectItem, SetExpr, Statement,
};

use super::ident_name;

/// The name PostgreSQL gives an unaliased select-list expression.
fn expr_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident_name(ident),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(ident_name)
            .unwrap_or_else(|| "?column?".into()),
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .unwrap_or_else(|| "?column?".into()),
        Expr::Nested(inner) => expr_name(inner),
        Expr::Cast {
            expr,
            data_type,
            kind,
            ..
        } => {
            let inner = expr_name(expr);
            if inner != "?column?" || matches!(kind, CastKind::TryCast | CastKind::SafeCast) {
                inner
            } else {
                type_name(data_type)
            }
        }
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Subquery(query) => single_column_name(query).unwrap_or_else(|| "?column?".into()),
        _ => "?column?".into(),
    }
}

/// PostgreSQL's internal type names, which it uses for cast columns.
fn type_name(data_type: &AstType) -> String {
    match data_type {
        AstType::Int(_) | AstType::Integer(_) | AstType::Int4(_) => "int4".into(),
        AstType::BigInt(_) | AstType::Int8(_) => "int8".into(),
        AstType::SmallInt(_) | AstType::Int2(_) => "int2".into(),
        AstType::Real | AstType::Float4 => "float4".into(),
        AstType::DoublePrecision | AstType::Float8 | AstType::Double(_) => "float8".into(),
        AstType::Bool | AstType::Boolean => "bool".into(),
        AstType::Varchar(_) | AstType::CharacterVarying(_) => "varchar".into(),
        AstType::Char(_) | AstType::Character(_) => "bpchar".into(),
        AstType::Numeric(_) | AstType::Decimal(_) => "numeric".into(),
        AstType::Timestamp(_, datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone) => {
            "timestamptz".into()
        }
        // `x::int[]` is named after its element type, as in PostgreSQL.
        AstType::Array(
            datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(element, _)
            | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(element),
        ) => type_name(element),
        other => other.to_string().to_lowercase(),
    }
}

fn single_column_name(query: &Query) -> Option<String> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(expr)] => Some(expr_name(expr)),
        [SelectItem::ExprWithAlias { alias, .. }] => Some(ident_name(alias)),
        _ => None,
    }
}

/// Names for each result column of a query statement, when they can be
/// known from the statement alone (no `*`).
pub fn column_names(statement: &Statement) -> Option<Vec<String>> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    item_names(&select.projection)
}

/// Names for a select list (or RETURNING list) without `*`.
pub fn item_names(items: &[SelectItem]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) => Some(expr_name(expr)),
            SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
            _ => None,
        })
        .collect()
}

/// Gives the repeats in a top-level select list (`SELECT 1, 1`,
/// `SELECT a, a`) internal aliases: PostgreSQL allows repeated output
/// names, DataFusion's projections do not. The client still sees the
/// PostgreSQL names ([`column_names`] reads them before this runs).
pub fn alias_repeated_items(statement: &mut Statement) {
    let Statement::Query(query) = statement else {
        return;
    };
    alias_repeated_in(query.body.as_mut());
}

/// [`alias_repeated_items`] in every SELECT of a set operation.
fn alias_repeated_in(body: &mut SetExpr) {
    let select = match body {
        SetExpr::Select(select) => select,
        SetExpr::SetOperation { left, right, .. } => {
            alias_repeated_in(left);
            alias_repeated_in(right);
            return;
        }
        SetExpr::Query(query) => return alias_repeated_in(query.body.as_mut()),
        _ => return,
    };
    let mut seen: Vec<String> = Vec::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        let key = match item {
            // DataFusion names a cast like what it casts (`j` and `j::text`
            // are both `j`).
            SelectItem::UnnamedExpr(expr) => {
                let mut inner = &*expr;
                while let Expr::Cast { expr, .. } | Expr::Nested(expr) = inner {
                    inner = expr;
                }
                inner.to_string()
            }
            SelectItem::ExprWithAlias { alias, .. } => ident_name(alias),
            _ => continue,
        };
        if !seen.contains(&key) {
            seen.push(key);
            continue;
        }
        let expr = match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
            _ => continue,
        };
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::new(format!("__kimberlite_column{}", i + 1)),
        };
    }
}

/// Renames `schema`'s fields to `names` (when the counts agree).
pub fn rename(schema: &SchemaRef, names: Option<&[String]>) -> SchemaRef {
    match names {
        Some(names) if names.len() == schema.fields().len() => Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .zip(names)
                .map(|(field, name)| Field::clone(field).with_name(name.clone()))
                .collect::<Vec<_>>(),
            schema.metadata().clone(),
        )),
        _ => schema.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Option<Vec<String>> {
        column_names(&super::super::parse(sql).unwrap()[0])
    }

    #[test]
    fn unaliased_expressions_are_named_as_postgresql_names_them() {
        assert_eq!(
            names("SELECT count(*), t.a, b, 1 + 2, '1'::int, a::text, x AS \"Y\", CASE WHEN true THEN 1 END FROM t"),
            Some(vec!["count", "a", "b", "?column?", "int4", "a", "Y", "case"].into_iter().map(String::from).collect())
        );
        assert_eq!(names("SELECT * FROM t"), None);
    }
}
