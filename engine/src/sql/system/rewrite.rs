//! Rewrites, before planning, of what DataFusion cannot plan in the
//! catalog queries clients send (see the parent module).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, BinaryOperator, CastKind, DataType as AstType, Expr as SqlExpr,
    Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, SetExpr, Statement, Value as SqlValue, ValueWithSpan, VisitMut, VisitorMut,
};
use kimberlite_catalog::system::{self, oid, Reader, Value};

use super::functions::{
    regclass_oid_arg, REGCLASS_OID, REGCLASS_TEXT, REGNAMESPACE_TEXT, REGPROCEDURE_TEXT,
    REGPROC_TEXT, REGTYPE_TEXT,
};
use super::SystemView;
use crate::error::{EngineError, EngineResult};

/// The object-identifier types a cast may name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RegType {
    Class,
    Type,
    Namespace,
    Proc,
    Procedure,
    Oid,
}

/// The type a cast names, with a `pg_catalog.` qualifier dropped: a
/// reg* type, or the plain type to cast to instead.
fn cast_target(data_type: &AstType) -> Option<Result<RegType, AstType>> {
    use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
    let name = match data_type {
        AstType::Regclass => return Some(Ok(RegType::Class)),
        // `$1::oid[]` (asyncpg's lookups by OID): an array of oids (a
        // parameter of type oid[], 1028).
        AstType::Array(ArrayElemTypeDef::SquareBracket(element, size)) => {
            return match cast_target(element) {
                Some(Ok(RegType::Oid)) => Some(Err(AstType::Array(
                    ArrayElemTypeDef::SquareBracket(Box::new(AstType::IntUnsigned(None)), *size),
                ))),
                _ => None,
            };
        }
        AstType::Custom(name, modifiers) if modifiers.is_empty() => name,
        _ => return None,
    };
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect();
    let bare = match parts.as_slice() {
        [schema, bare] if schema == "pg_catalog" => bare.as_str(),
        [bare] => bare.as_str(),
        _ => return None,
    };
    Some(match bare {
        "regclass" => Ok(RegType::Class),
        "regtype" => Ok(RegType::Type),
        "regnamespace" => Ok(RegType::Namespace),
        "regproc" => Ok(RegType::Proc),
        "regprocedure" => Ok(RegType::Procedure),
        "oid" => Ok(RegType::Oid),
        // Identifier types read as text in expressions.
        "name" | "char" if parts.len() == 1 && (bare == "name" || quoted_char(name)) => {
            Err(AstType::Text)
        }
        _ if parts.len() == 2 => {
            // `x::pg_catalog.text`: the type without its schema.
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(
                &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            )
            .try_with_sql(bare)
            .ok()?
            .parse_data_type()
            .ok()?;
            Err(parsed)
        }
        _ => return None,
    })
}

/// `"char"` (quoted: unquoted `char` is `character(1)`).
fn quoted_char(name: &ObjectName) -> bool {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.quote_style.is_some() && i.value == "char")
}

/// The type PostgreSQL gives the literal argument of `pg_typeof(literal)`.
fn literal_type(expr: &SqlExpr) -> Option<&'static str> {
    let SqlExpr::Function(f) = expr else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case("pg_typeof") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(value)))] = list.args.as_slice()
    else {
        return None;
    };
    match &value.value {
        SqlValue::SingleQuotedString(_) => Some("unknown"),
        SqlValue::Number(n, _) if n.contains(['.', 'e', 'E']) => Some("numeric"),
        SqlValue::Number(n, _) => Some(match n.parse::<i64>() {
            Ok(v) if i32::try_from(v).is_ok() => "integer",
            Ok(_) => "bigint",
            Err(_) => "numeric",
        }),
        _ => None,
    }
}

fn string_literal(expr: &SqlExpr) -> Option<&str> {
    match expr {
        SqlExpr::Value(ValueWithSpan {
            value: SqlValue::SingleQuotedString(s),
            ..
        }) => Some(s),
        _ => None,
    }
}

fn number(n: u32) -> SqlExpr {
    SqlExpr::Value(SqlValue::Number(n.to_string(), false).into())
}

fn call(name: &str, arg: SqlExpr) -> SqlExpr {
    SqlExpr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// The OID a `'…'::regclass` literal names.
pub(super) fn regclass_literal(view: &SystemView, text: &str) -> EngineResult<u32> {
    if let Ok(n) = text.trim().parse::<u32>() {
        return Ok(n);
    }
    let name = text.trim().trim_matches('"');
    let (schema, bare) = match name.split_once('.') {
        Some((schema, bare)) => (Some(schema.to_string()), bare.to_string()),
        None => (None, name.to_string()),
    };
    if schema.as_deref().is_none_or(|s| s == system::PG_CATALOG) {
        if let Some((_, o)) = system::SYSTEM_RELATION_OIDS
            .iter()
            .find(|(n, _)| *n == bare)
        {
            return Ok(*o);
        }
    }
    let schemas: Vec<String> = match schema {
        Some(s) => vec![s],
        None => view.search_path.clone(),
    };
    let relations = kimberlite_catalog::system::relation(
        system::PG_CATALOG,
        "pg_class",
        &Reader {
            catalog: &view.catalog,
            search_path: &view.search_path,
        },
    )
    .map(|r| r.rows)
    .unwrap_or_default();
    for schema in &schemas {
        let found = relations.iter().find(|row| {
            row.get(1) == Some(&Value::Text(bare.clone()))
                && row.get(2) == Some(&Value::Oid(oid::namespace(schema)))
        });
        if let Some(Value::Oid(o)) = found.and_then(|row| row.first()) {
            return Ok(*o);
        }
    }
    Err(EngineError::UndefinedTable(name.to_string()))
}

/// The OID a `'…'::regtype` literal names.
pub(super) fn regtype_literal(text: &str) -> EngineResult<u32> {
    if let Ok(n) = text.trim().parse::<u32>() {
        return Ok(n);
    }
    let lower = text.trim().to_lowercase();
    let name = lower
        .strip_prefix("pg_catalog.")
        .unwrap_or(&lower)
        .to_string();
    let base = match name.as_str() {
        "integer" | "int" => "int4",
        "smallint" => "int2",
        "bigint" => "int8",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" => "float8",
        "character varying" => "varchar",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        other => other,
    };
    system::type_oid(base)
        .ok_or_else(|| EngineError::UndefinedObject(format!("type \"{name}\" does not exist")))
}

fn parse_expr(sql: &str) -> Option<SqlExpr> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(sql)
    .ok()?
    .parse_expr()
    .ok()
}

/// The names the statement binds (aliases, else table names) to each
/// relation it reads: (bound name, relation's bare name).
struct Bindings(Vec<(String, String)>);

impl datafusion::sql::sqlparser::ast::Visitor for Bindings {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        factor: &datafusion::sql::sqlparser::ast::TableFactor,
    ) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::TableFactor;
        if let TableFactor::Table { name, alias, .. } = factor {
            let bare = name
                .0
                .last()
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default();
            let bound = match alias {
                Some(a) => crate::sql::ident_name(&a.name),
                None => bare.clone(),
            };
            self.0.push((bound, bare));
        }
        ControlFlow::Continue(())
    }
}

fn bindings<V: datafusion::sql::sqlparser::ast::Visit>(node: &V) -> Vec<(String, String)> {
    let mut found = Bindings(Vec::new());
    let _ = node.visit(&mut found);
    found.0
}

/// Names bound only to relations that never have rows.
fn empty_aliases(statement: &Statement) -> Vec<String> {
    let all = bindings(statement);
    all.iter()
        .filter(|(bound, _)| {
            all.iter()
                .filter(|(b, _)| b == bound)
                .all(|(_, table)| system::EMPTY_RELATIONS.contains(&table.as_str()))
        })
        .map(|(bound, _)| bound.clone())
        .collect()
}

/// A subquery correlated only with rows of relations that have none (a
/// policy's roles, a trigger's parent): it is never evaluated, so it may
/// be NULL — DataFusion could not plan several of these (psql's `\d`).
fn reads_only_empty_outer_rows(
    query: &datafusion::sql::sqlparser::ast::Query,
    empty: &[String],
) -> bool {
    if empty.is_empty() {
        return false;
    }
    let inner: Vec<String> = bindings(query).into_iter().map(|(b, _)| b).collect();
    let mut outer = Vec::new();
    let mut copy = query.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut copy, |e| {
        if let SqlExpr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 {
                let q = crate::sql::ident_name(&parts[parts.len() - 2]);
                if !inner.contains(&q) {
                    outer.push(q);
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    !outer.is_empty() && outer.iter().all(|q| empty.contains(q))
}

fn contains_subquery(expr: &SqlExpr) -> bool {
    let mut found = false;
    let mut copy = expr.clone();
    let _ = visit_expressions_mut(&mut copy, |e| {
        if matches!(
            e,
            SqlExpr::Subquery(_) | SqlExpr::InSubquery { .. } | SqlExpr::Exists { .. }
        ) {
            found = true;
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// `SELECT … ORDER BY <expression with a subquery>` (Grafana's table
/// picker sorts by `CASE WHEN … IN (SELECT …)`): DataFusion plans
/// subqueries in projections, not in sorts, so the sort keys are computed
/// as columns of a derived table and sorted outside it — `SELECT a FROM
/// (SELECT x AS a, <key> AS k FROM …) ORDER BY k`. Left as it is when a
/// select item has no name to carry out (`*`, unnamed expressions).
fn sort_outside_subqueries(statement: &mut Statement) {
    use datafusion::sql::sqlparser::ast::{OrderByKind, SelectItem, SetExpr};
    let Statement::Query(query) = statement else {
        return;
    };
    let Some(OrderByKind::Expressions(keys)) = query.order_by.as_ref().map(|o| &o.kind) else {
        return;
    };
    if !keys.iter().any(|k| contains_subquery(&k.expr)) {
        return;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, name) = match item {
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.to_string()),
            SelectItem::UnnamedExpr(expr @ SqlExpr::Identifier(ident)) => (expr, ident.to_string()),
            SelectItem::UnnamedExpr(expr @ SqlExpr::CompoundIdentifier(parts)) => {
                match parts.last() {
                    Some(last) => (expr, last.to_string()),
                    None => return,
                }
            }
            _ => return,
        };
        inner.push(format!("{expr} AS kimberlite_col_{i}"));
        outer.push(format!("kimberlite_col_{i} AS {name}"));
    }
    let mut sorts = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let position = match &key.expr {
            SqlExpr::Value(v) => v.to_string().parse::<usize>().ok(),
            _ => None,
        };
        match position {
            Some(n) if (1..=outer.len()).contains(&n) => {
                sorts.push(format!("kimberlite_col_{}{}", n - 1, key.options))
            }
            _ => {
                inner.push(format!("{} AS kimberlite_sort_{k}", key.expr));
                sorts.push(format!("kimberlite_sort_{k}{}", key.options));
            }
        }
    }
    let mut body = select.clone();
    let Ok(mut parsed) = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &format!("SELECT {}", inner.join(", ")),
    ) else {
        return;
    };
    let Some(Statement::Query(items)) = parsed.pop() else {
        return;
    };
    let SetExpr::Select(items) = *items.body else {
        return;
    };
    body.projection = items.projection;
    let limit = query
        .limit_clause
        .as_ref()
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    let with = query
        .with
        .as_ref()
        .map(|w| format!("{w} "))
        .unwrap_or_default();
    let sql = format!(
        "{with}SELECT {} FROM ({body}) AS kimberlite_sorted ORDER BY {}{limit}",
        outer.join(", "),
        sorts.join(", ")
    );
    if let Ok(mut statements) = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        &sql,
    ) {
        if let Some(rewritten) = statements.pop() {
            *statement = rewritten;
        }
    }
}

/// `x IN (SELECT …)` inside a CASE (DataFusion plans IN only as a
/// filter): `coalesce((SELECT max(true) FROM (…) AS s(v) WHERE s.v = x),
/// false)` — the same wherever a CASE reads it (NULL and false alike are
/// not true). Subqueries inside are left to their own visit.
fn in_subqueries_as_values(expr: &mut SqlExpr) {
    let _ = visit_expressions_mut(expr, |e| {
        if let SqlExpr::InSubquery {
            expr: probe,
            subquery,
            negated: false,
        } = e
        {
            let sql = format!(
                "coalesce((SELECT max(true) FROM ({subquery}) AS kimberlite_in(v) WHERE kimberlite_in.v = {probe}), false)"
            );
            if let Some(value) = parse_expr(&sql) {
                *e = value;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `EXISTS (SELECT … FROM <catalog relations> WHERE …)` as a value
/// DataFusion can plan anywhere (it plans EXISTS only as a filter):
/// `coalesce((SELECT max(true) FROM … WHERE …), false)`.
fn exists_as_value(
    query: &datafusion::sql::sqlparser::ast::Query,
    negated: bool,
) -> Option<SqlExpr> {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    let reads_catalog = bindings(query)
        .iter()
        .any(|(_, table)| system::PG_CATALOG_RELATIONS.contains(&table.as_str()));
    if !reads_catalog {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    select.projection = vec![SelectItem::UnnamedExpr(parse_expr("max(true)")?)];
    let not = if negated { "NOT " } else { "" };
    parse_expr(&format!("{not}coalesce(({query}), false)"))
}

/// Text-array columns of the system relations.
const TEXT_ARRAY_COLUMNS: &[&str] = &[
    "polroles",
    "nspacl",
    "relacl",
    "reloptions",
    "attacl",
    "attoptions",
    "datacl",
    "rolconfig",
    "useconfig",
    "stxkind",
];

fn column_name_of(expr: &SqlExpr) -> Option<String> {
    match expr {
        SqlExpr::Identifier(i) => Some(crate::sql::ident_name(i)),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map(crate::sql::ident_name),
        _ => None,
    }
}

/// `'{a,b}'` as `make_array('a', 'b')`.
fn text_array(text: &str) -> Option<SqlExpr> {
    let items = crate::sql::array::parse_array_literal(text).ok()?;
    let items: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Some(s) => format!("'{}'", s.replace('\'', "''")),
            None => "NULL".into(),
        })
        .collect();
    parse_expr(&format!("make_array({})", items.join(", ")))
}

/// `ARRAY(SELECT x FROM … WHERE …)`: the rows' values as an array (empty,
/// not NULL, when there are none), as `(SELECT coalesce(array_agg(x),
/// make_array()) FROM … WHERE …)`.
fn array_of_rows(query: &datafusion::sql::sqlparser::ast::Query) -> Option<SqlExpr> {
    use datafusion::sql::sqlparser::ast::OrderByKind;
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    let mut query = query.clone();
    if query.limit_clause.is_some() {
        return None;
    }
    let order = query.order_by.take();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_mut_slice()
    else {
        return None;
    };
    // `ORDER BY 1` orders by the value itself.
    let order = match order.map(|o| o.kind) {
        None => String::new(),
        Some(OrderByKind::Expressions(exprs)) => {
            let keys: Vec<String> = exprs
                .iter()
                .map(|o| {
                    let key = match &o.expr {
                        SqlExpr::Value(v) if v.to_string() == "1" => item.to_string(),
                        other => other.to_string(),
                    };
                    format!("{key}{}", o.options)
                })
                .collect();
            format!(" ORDER BY {}", keys.join(", "))
        }
        Some(OrderByKind::All(_)) => return None,
    };
    *item = parse_expr(&format!("coalesce(array_agg({item}{order}), make_array())"))?;
    Some(SqlExpr::Subquery(Box::new(query)))
}

/// The names a query's FROM clause binds (aliases, else table names).
fn bound_names(select: &datafusion::sql::sqlparser::ast::Select) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::TableFactor;
    select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(|f| match f {
            TableFactor::Table { name, alias, .. } => Some(match alias {
                Some(a) => crate::sql::ident_name(&a.name),
                None => name.0.last()?.to_string().to_lowercase(),
            }),
            _ => None,
        })
        .collect()
}

/// Whether `expr` names a column qualified by something `bound` lacks
/// (a column of the outer query).
fn references_outer(expr: &SqlExpr, bound: &[String]) -> bool {
    let mut outer = false;
    let mut copy = expr.clone();
    let _ = visit_expressions_mut(&mut copy, |e| {
        if let SqlExpr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 && !bound.contains(&crate::sql::ident_name(&parts[parts.len() - 2]))
            {
                outer = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    outer
}

fn references_inner(expr: &SqlExpr, bound: &[String]) -> bool {
    let mut inner = false;
    let mut copy = expr.clone();
    let _ = visit_expressions_mut(&mut copy, |e| {
        match e {
            SqlExpr::CompoundIdentifier(parts)
                if parts.len() >= 2
                    && bound.contains(&crate::sql::ident_name(&parts[parts.len() - 2])) =>
            {
                inner = true
            }
            SqlExpr::Identifier(_) => inner = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    inner
}

fn conjuncts(expr: SqlExpr, out: &mut Vec<SqlExpr>) {
    match expr {
        SqlExpr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        SqlExpr::Nested(inner)
            if matches!(
                *inner,
                SqlExpr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner, out)
        }
        other => out.push(other),
    }
}

fn and_all(items: Vec<SqlExpr>) -> Option<SqlExpr> {
    items.into_iter().reduce(|a, b| SqlExpr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    })
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
];

/// A scalar subquery over catalog relations that selects one plain value
/// (psql's `(SELECT pg_get_expr(d.adbin, …) FROM pg_attrdef d WHERE …)`):
/// DataFusion plans a correlated one only over an aggregate and with
/// equalities to the outer row, so the value is taken as `max(value)` —
/// the same when the subquery finds at most one row, which these lookups
/// by key do — and the other conditions on the outer row are returned, to
/// guard the subquery from outside (`CASE WHEN cond THEN (…) END`). A
/// condition mixing both sides (`a.attcollation <> t.typcollation`) reads
/// the inner column through its own lookup by the equalities that bind it.
fn one_row_of_catalog(query: &mut datafusion::sql::sqlparser::ast::Query) -> Option<SqlExpr> {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr, TableFactor};
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let tables: Vec<(String, String)> = select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(|f| match f {
            TableFactor::Table { name, alias, .. } => {
                let bound = match alias {
                    Some(a) => crate::sql::ident_name(&a.name),
                    None => name.0.last()?.to_string().to_lowercase(),
                };
                Some((bound, name.to_string()))
            }
            _ => None,
        })
        .collect();
    let reads_catalog = tables.iter().any(|(_, name)| {
        let lower = name.to_lowercase();
        lower.starts_with("pg_catalog.") || system::PG_CATALOG_RELATIONS.contains(&lower.as_str())
    });
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !reads_catalog || grouped || select.projection.len() != 1 || query.limit_clause.is_some() {
        return None;
    }
    let bound = bound_names(select);
    let value = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    if let SqlExpr::Function(f) = &value {
        if AGGREGATES.contains(&f.name.to_string().to_lowercase().as_str()) {
            return None;
        }
    }
    let mut all = Vec::new();
    if let Some(selection) = select.selection.take() {
        conjuncts(selection, &mut all);
    }
    let is_key_equality = |c: &SqlExpr| {
        matches!(c, SqlExpr::BinaryOp { op: BinaryOperator::Eq, left, right }
            if (references_inner(left, &bound) && !references_outer(left, &bound) && !references_inner(right, &bound))
                || (references_inner(right, &bound) && !references_outer(right, &bound) && !references_inner(left, &bound)))
    };
    let (kept, others): (Vec<SqlExpr>, Vec<SqlExpr>) = all
        .into_iter()
        .partition(|c| !references_outer(c, &bound) || is_key_equality(c));
    let mut moved = Vec::new();
    for c in others {
        if !references_inner(&c, &bound) {
            moved.push(c);
            continue;
        }
        match read_through_lookups(c.clone(), &bound, &tables, &kept) {
            Some(outer_only) => moved.push(outer_only),
            None => {
                // Left as it is (DataFusion may refuse the query).
                select.selection = and_all(kept.into_iter().chain([c]).collect());
                return None;
            }
        }
    }
    // A value reading the outer row too (`json_build_object('always',
    // a.attidentity = 'a', 'start', s.seqstart)`): its inner columns are
    // read through lookups and it is evaluated outside, where a row exists.
    let lifted = if references_outer(&value, &bound) {
        match read_through_lookups(value.clone(), &bound, &tables, &kept) {
            Some(lifted) => Some(lifted),
            None => {
                select.selection = and_all(kept.into_iter().chain(moved).collect());
                return None;
            }
        }
    } else {
        None
    };
    select.selection = and_all(kept);
    let moved = and_all(moved);
    if let Some(lifted) = lifted {
        select.projection = vec![SelectItem::UnnamedExpr(parse_expr("max(true)")?)];
        let exists = format!("coalesce(({query}), false)");
        let condition = match moved {
            Some(m) => format!("({m}) AND {exists}"),
            None => exists,
        };
        return parse_expr(&format!("CASE WHEN {condition} THEN {lifted} END"));
    }
    if let SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. } =
        &mut select.projection[0]
    {
        *item = call("max", value);
    }
    let condition = moved?;
    parse_expr(&format!("CASE WHEN {condition} THEN ({query}) END"))
}

/// `condition` with each inner column `q.col` replaced by `(SELECT
/// max(q.col) FROM table AS q WHERE <the key equalities of q>)`; `None`
/// when some inner relation has no key equality to read it by.
fn read_through_lookups(
    mut condition: SqlExpr,
    bound: &[String],
    tables: &[(String, String)],
    kept: &[SqlExpr],
) -> Option<SqlExpr> {
    let mut failed = false;
    let _ = visit_expressions_mut(&mut condition, |e| {
        let SqlExpr::CompoundIdentifier(parts) = e else {
            return ControlFlow::<()>::Continue(());
        };
        if parts.len() < 2 || !bound.contains(&crate::sql::ident_name(&parts[parts.len() - 2])) {
            return ControlFlow::Continue(());
        }
        let alias = crate::sql::ident_name(&parts[parts.len() - 2]);
        let Some((_, table)) = tables.iter().find(|(b, _)| *b == alias) else {
            failed = true;
            return ControlFlow::Break(());
        };
        let keys: Vec<String> = kept
            .iter()
            .filter(|k| {
                let text = k.to_string().to_lowercase();
                text.contains(&format!("{alias}."))
            })
            .map(|k| k.to_string())
            .collect();
        if keys.is_empty() {
            failed = true;
            return ControlFlow::Break(());
        }
        // An unaliased table keeps its name (`pg_catalog.pg_sequence.seqstart`).
        let bare = table.rsplit('.').next().unwrap_or(table).to_lowercase();
        let from = if bare == alias {
            table.clone()
        } else {
            format!("{table} AS {alias}")
        };
        let sql = format!("(SELECT max({e}) FROM {from} WHERE {})", keys.join(" AND "));
        match parse_expr(&sql) {
            Some(lookup) => *e = lookup,
            None => failed = true,
        }
        ControlFlow::Continue(())
    });
    (!failed).then_some(condition)
}

/// Rewrites what DataFusion cannot plan of PostgreSQL's catalog queries
/// (see the module doc).
/// In every VALUES list, JSON casts report text (see `json_cast.rs`).
fn json_casts_in_values(body: &mut SetExpr) {
    match body {
        SetExpr::Values(values) => {
            for row in &mut values.rows {
                for expr in &mut row.content {
                    let _ = visit_expressions_mut(expr, |e| {
                        if let SqlExpr::Function(Function { name, .. }) = e {
                            let twin = name
                                .0
                                .last()
                                .and_then(|p| p.as_ident())
                                .and_then(|i| super::json_cast::values_twin(&i.value));
                            if let Some(twin) = twin {
                                *name = ObjectName::from(vec![Ident::new(twin)]);
                            }
                        }
                        ControlFlow::<()>::Continue(())
                    });
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            json_casts_in_values(left);
            json_casts_in_values(right);
        }
        SetExpr::Query(query) => json_casts_in_values(query.body.as_mut()),
        _ => {}
    }
}

pub fn rewrite(statement: &mut Statement, view: &SystemView) -> EngineResult<()> {
    sort_outside_subqueries(statement);
    let empty = empty_aliases(statement);
    let mut error = None;
    let _ = visit_expressions_mut(statement, |expr| {
        if let SqlExpr::Subquery(query)
        | SqlExpr::Exists {
            subquery: query, ..
        } = &*expr
        {
            if reads_only_empty_outer_rows(query, &empty) {
                *expr = SqlExpr::Value(SqlValue::Null.into());
                return ControlFlow::Continue(());
            }
        }
        if let SqlExpr::Exists { subquery, negated } = &*expr {
            if let Some(replacement) = exists_as_value(subquery, *negated) {
                *expr = replacement;
                return ControlFlow::Continue(());
            }
        }
        if let SqlExpr::Function(Function {
            args: FunctionArguments::Subquery(query),
            ..
        }) = &*expr
        {
            if reads_only_empty_outer_rows(query, &empty) {
                *expr = SqlExpr::Value(SqlValue::Null.into());
                return ControlFlow::Continue(());
            }
        }
        // `pg_typeof('a')`, `pg_typeof(1.5)`: PostgreSQL types a bare
        // literal by its spelling (`unknown`, `numeric`), which the plan
        // no longer shows.
        if let Some(name) = literal_type(expr) {
            *expr = SqlExpr::Value(SqlValue::SingleQuotedString(name.into()).into());
            return ControlFlow::Continue(());
        }
        if let SqlExpr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr: inner,
            data_type: data_type @ AstType::Array(_),
            ..
        } = expr
        {
            // `'{1,2}'::int[]`: the text form of an array, read as
            // PostgreSQL reads it; the cast stays (it types `'{}'`).
            let array_oid = crate::sql::types::sql_type_from_ast(data_type)
                .ok()
                .map(|t| t.oid());
            if let (Some(text), Some(array_oid)) = (string_literal(inner), array_oid) {
                match crate::sql::params::array_text_literal(array_oid, text) {
                    Ok(array) => **inner = array,
                    Err(e) => {
                        error = Some(e.at_literal(text));
                        return ControlFlow::Break(());
                    }
                }
                return ControlFlow::Continue(());
            }
        }
        if let SqlExpr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr: inner,
            data_type: data_type @ (AstType::JSON | AstType::JSONB),
            ..
        } = expr
        {
            let function = if *data_type == AstType::JSON {
                super::json_cast::JSON_CAST
            } else {
                super::json_cast::JSONB_CAST
            };
            *expr = SqlExpr::Nested(Box::new(call(function, (**inner).clone())));
            return ControlFlow::Continue(());
        }
        match expr {
            SqlExpr::Cast {
                kind: CastKind::DoubleColon | CastKind::Cast,
                expr: inner,
                data_type,
                ..
            } => match cast_target(data_type) {
                Some(Ok(reg)) => {
                    let literal = string_literal(inner).map(str::to_string);
                    let replaced = match (reg, literal) {
                        (RegType::Class, Some(text)) => {
                            regclass_literal(view, &text).map(|o| call(REGCLASS_OID, number(o)))
                        }
                        (RegType::Type, Some(text)) => regtype_literal(&text).map(number),
                        (RegType::Class, None) => Ok(call(REGCLASS_TEXT, (**inner).clone())),
                        (RegType::Type, None) => Ok(call(REGTYPE_TEXT, (**inner).clone())),
                        (RegType::Namespace, None) => {
                            Ok(call(REGNAMESPACE_TEXT, (**inner).clone()))
                        }
                        (RegType::Proc, Some(text)) => {
                            super::procs::regproc_literal(&text).map(number)
                        }
                        (RegType::Procedure, Some(text)) => {
                            super::procs::regprocedure_literal(&text).map(number)
                        }
                        (RegType::Proc, None) => Ok(call(REGPROC_TEXT, (**inner).clone())),
                        (RegType::Procedure, None) => {
                            Ok(call(REGPROCEDURE_TEXT, (**inner).clone()))
                        }
                        (RegType::Namespace, Some(_)) => Ok((**inner).clone()),
                        (RegType::Oid, _) => {
                            *data_type = AstType::IntUnsigned(None);
                            return ControlFlow::Continue(());
                        }
                    };
                    match replaced {
                        Ok(replacement) => *expr = SqlExpr::Nested(Box::new(replacement)),
                        Err(e) => {
                            error = Some(match string_literal(inner) {
                                Some(text) => e.at_literal(text),
                                None => e,
                            });
                            return ControlFlow::Break(());
                        }
                    }
                }
                Some(Err(plain)) => {
                    // `'t'::regclass::text` prints the name.
                    let named = matches!(plain, AstType::Text | AstType::Varchar(_));
                    match regclass_oid_arg(inner) {
                        Some(arg) if named => *expr = call(REGCLASS_TEXT, arg),
                        _ => *data_type = plain,
                    }
                }
                None if matches!(data_type, AstType::Text | AstType::Varchar(_)) => {
                    if let Some(arg) = regclass_oid_arg(inner) {
                        *expr = call(REGCLASS_TEXT, arg);
                    }
                }
                None => {}
            },
            SqlExpr::BinaryOp { op, left, right } => {
                // `pol.polroles = '{0}'`: the literal is an array of the
                // column's (text) elements.
                if matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) {
                    if let (Some(column), Some(text)) =
                        (column_name_of(left), string_literal(right))
                    {
                        if TEXT_ARRAY_COLUMNS.contains(&column.as_str()) {
                            if let Some(array) = text_array(text) {
                                **right = array;
                            }
                        }
                    }
                }
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                    let bare = match parts.as_slice() {
                        [schema, bare] if schema.eq_ignore_ascii_case("pg_catalog") => {
                            bare.as_str()
                        }
                        [bare] => bare.as_str(),
                        _ => "",
                    };
                    let plain = match bare {
                        "~" => Some(BinaryOperator::PGRegexMatch),
                        "~*" => Some(BinaryOperator::PGRegexIMatch),
                        "!~" => Some(BinaryOperator::PGRegexNotMatch),
                        "!~*" => Some(BinaryOperator::PGRegexNotIMatch),
                        "=" => Some(BinaryOperator::Eq),
                        "<>" => Some(BinaryOperator::NotEq),
                        "<" => Some(BinaryOperator::Lt),
                        ">" => Some(BinaryOperator::Gt),
                        "~~" => Some(BinaryOperator::PGLikeMatch),
                        _ => None,
                    };
                    if let Some(plain) = plain {
                        *op = plain;
                    }
                }
            }
            SqlExpr::Collate { expr: inner, .. } => {
                *expr = SqlExpr::Nested(Box::new((**inner).clone()));
            }
            SqlExpr::Case { .. } => {
                let mut inner = expr.clone();
                in_subqueries_as_values(&mut inner);
                *expr = inner;
            }
            // pgjdbc's `information_schema._pg_expandarray(i.indkey)`: each
            // element with its position, as a (x, n) record.
            SqlExpr::Function(function)
                if function.name.to_string().to_lowercase()
                    == "information_schema._pg_expandarray" =>
            {
                if let FunctionArguments::List(list) = &function.args {
                    if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] =
                        list.args.as_slice()
                    {
                        let sql = format!(
                            "named_struct('x', unnest({array}), 'n', unnest(range(1, CAST(array_length({array}, 1) AS BIGINT) + 1)))"
                        );
                        if let Some(replacement) = parse_expr(&sql) {
                            *expr = replacement;
                        }
                    }
                }
            }
            // `(record).field`.
            SqlExpr::CompoundFieldAccess { root, access_chain } => {
                use datafusion::sql::sqlparser::ast::AccessExpr;
                if let [AccessExpr::Dot(SqlExpr::Identifier(field))] = access_chain.as_slice() {
                    let sql = format!("get_field({root}, '{}')", crate::sql::ident_name(field));
                    if let Some(replacement) = parse_expr(&sql) {
                        *expr = replacement;
                    }
                }
            }
            // `user` is `current_user`.
            SqlExpr::Function(function)
                if matches!(function.args, FunctionArguments::None)
                    && function.name.to_string().eq_ignore_ascii_case("user") =>
            {
                function.name = ObjectName::from(vec![Ident::new("current_user")]);
            }
            SqlExpr::Function(function)
                if ["array_lower", "array_upper", "generate_subscripts"]
                    .contains(&function.name.to_string().to_lowercase().as_str()) =>
            {
                if let FunctionArguments::List(list) = &function.args {
                    if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array)), FunctionArg::Unnamed(FunctionArgExpr::Expr(dim))] =
                        list.args.as_slice()
                    {
                        let name = function.name.to_string().to_lowercase();
                        // generate_subscripts beside unnest(array) zips with
                        // it, as set-returning functions in a SELECT list do.
                        let sql = if name == "array_lower" {
                            format!("CASE WHEN array_length({array}, {dim}) > 0 THEN 1 END")
                        } else if name == "generate_subscripts" {
                            format!("unnest(range(1, CAST(array_length({array}, {dim}) AS BIGINT) + 1))")
                        } else {
                            format!("CAST(array_length({array}, {dim}) AS BIGINT)")
                        };
                        if let Some(replacement) = parse_expr(&sql) {
                            *expr = replacement;
                        }
                    }
                }
            }
            SqlExpr::Function(function)
                if function.name.to_string().eq_ignore_ascii_case("array") =>
            {
                if let FunctionArguments::Subquery(query) = &function.args {
                    if let Some(replacement) = array_of_rows(query) {
                        *expr = replacement;
                    }
                }
            }
            SqlExpr::Subquery(query) => {
                if let Some(replacement) = one_row_of_catalog(query) {
                    *expr = replacement;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    let _ = statement.visit(&mut ValuesJsonCasts);
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Applies [`json_casts_in_values`] to every query of a statement.
struct ValuesJsonCasts;

impl VisitorMut for ValuesJsonCasts {
    type Break = ();

    fn post_visit_query(
        &mut self,
        query: &mut datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<()> {
        json_casts_in_values(query.body.as_mut());
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod rewrite_tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = crate::sql::parse(sql).unwrap().remove(0);
        rewrite(&mut statement, &SystemView::default()).unwrap();
        statement.to_string()
    }

    #[test]
    fn postgres_spellings_become_plannable() {
        assert_eq!(rewritten("SELECT user"), "SELECT current_user");
        assert_eq!(
            rewritten("SELECT 1 WHERE 'a' OPERATOR(pg_catalog.~) 'b' COLLATE pg_catalog.default"),
            "SELECT 1 WHERE 'a' ~ ('b')"
        );
    }
}
