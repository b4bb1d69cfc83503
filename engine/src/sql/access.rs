//! Choosing how a scan finds its rows: the access path.
//!
//! The filters DataFusion pushes into a scan are read for predicates that
//! pin a column to literals — `c = v`, `c IN (…)`, `c < v`, `c BETWEEN a
//! AND b` and their mirror images — and matched against the primary key
//! and the table's secondary indexes. An index is usable when its leading
//! columns are pinned: equalities (and IN lists) on a prefix of its
//! columns, optionally followed by a range on the next one. The path that
//! pins the most columns wins, the primary key on ties (its rows need no
//! second lookup); with nothing usable the scan reads every row.
//!
//! The path only narrows what is read. Every filter is still applied by
//! DataFusion afterwards (the provider reports them Inexact), and bounds
//! are inclusive here, so a path may return a few rows too many but never
//! too few. This module is pure: it sees the filters and the definitions,
//! not the rows.

use std::collections::BTreeMap;
use std::fmt;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use kimberlite_catalog::{IndexDef, SqlType, TableDef};

use crate::datum::{encode_key, Datum};
use crate::indexes::encode_index_part;

/// Equality prefixes a path may expand to (the product of IN lists);
/// beyond it fewer columns are used.
const PREFIXES_MAX: usize = 1024;

/// What the filters say about one column.
#[derive(Debug, Default, Clone)]
struct ColumnPredicate {
    /// `= v` or `IN (…)`: the values the column may have.
    values: Option<Vec<Datum>>,
    lower: Option<Datum>,
    /// The lower bound is `>`, not `>=`.
    lower_strict: bool,
    upper: Option<Datum>,
}

/// How a scan finds its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Every visible row, in primary-key order.
    Full,
    /// Rows with exactly these (encoded) primary keys.
    Keys(Vec<Vec<u8>>),
    /// Rows whose primary key starts with one of `prefixes`, the next key
    /// column within the bounds (encoded, inclusive).
    KeyRange(Range),
    /// Rows a secondary index on `columns` finds.
    Index {
        name: String,
        columns: Vec<usize>,
        range: Range,
    },
    /// Rows in the order of a secondary index on `columns`, read lazily
    /// within one prefix (`ORDER BY … LIMIT n` reads about n rows).
    IndexOrdered {
        name: String,
        columns: Vec<usize>,
        range: Range,
    },
}

/// Prefixes of whole encoded columns, then optional bounds on the next.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Range {
    pub prefixes: Vec<Vec<u8>>,
    pub lower: Option<Vec<u8>>,
    /// Rows whose key is exactly prefix + lower are not wanted (`>`).
    pub lower_strict: bool,
    pub upper: Option<Vec<u8>>,
    /// For EXPLAIN: `b = …, c range`.
    pub description: String,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Full => f.write_str("full scan"),
            Access::Keys(keys) => write!(f, "primary key lookup of {} key(s)", keys.len()),
            Access::KeyRange(range) => write!(f, "primary key range ({})", range.description),
            Access::Index { name, range, .. } => {
                write!(f, "index {name} ({})", range.description)
            }
            Access::IndexOrdered { name, range, .. } if range.description.is_empty() => {
                write!(f, "index {name} in order")
            }
            Access::IndexOrdered { name, range, .. } => {
                write!(f, "index {name} in order ({})", range.description)
            }
        }
    }
}

/// The literal as a datum of the column's type (`None` when it does not
/// convert exactly, e.g. `int_col = 1.5`: no path then).
pub type LiteralConverter<'a> = dyn Fn(&ScalarValue, SqlType) -> Option<Datum> + 'a;

/// Reads `filters` into per-column predicates (by column position).
fn predicates(
    table: &TableDef,
    filters: &[Expr],
    convert: &LiteralConverter,
) -> BTreeMap<usize, ColumnPredicate> {
    let mut out: BTreeMap<usize, ColumnPredicate> = BTreeMap::new();
    let column = |e: &Expr| match e {
        Expr::Column(c) => table.column_index(&c.name),
        _ => None,
    };
    let literal = |e: &Expr, position: usize| match e {
        Expr::Literal(v, _) => {
            convert(v, table.columns[position].sql_type).filter(|d| !d.is_null())
        }
        _ => None,
    };
    for filter in filters {
        // `c = 1 OR c = 2` (DataFusion's form of a short IN list).
        if let Some((position, values)) = or_of_equalities(filter, &column, &literal) {
            out.entry(position).or_default().values = Some(values);
            continue;
        }
        match filter {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (position, value, op) = match (column(left), column(right)) {
                    (Some(p), None) => (p, literal(right, p), *op),
                    (None, Some(p)) => (p, literal(left, p), op.swap().unwrap_or(*op)),
                    _ => continue,
                };
                let Some(value) = value else { continue };
                let predicate = out.entry(position).or_default();
                match op {
                    Operator::Eq => predicate.values = Some(vec![value]),
                    Operator::Gt | Operator::GtEq => {
                        predicate.lower = Some(value);
                        predicate.lower_strict = op == Operator::Gt;
                    }
                    Operator::Lt | Operator::LtEq => predicate.upper = Some(value),
                    _ => {}
                }
            }
            Expr::InList(list) if !list.negated => {
                let Some(position) = column(&list.expr) else {
                    continue;
                };
                let values: Option<Vec<Datum>> =
                    list.list.iter().map(|e| literal(e, position)).collect();
                if let Some(values) = values {
                    out.entry(position).or_default().values = Some(values);
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => {
                let Some(position) = column(expr) else {
                    continue;
                };
                let (low, high) = (literal(low, position), literal(high, position));
                let predicate = out.entry(position).or_default();
                if low.is_some() {
                    predicate.lower = low;
                    predicate.lower_strict = false;
                }
                if high.is_some() {
                    predicate.upper = high;
                }
            }
            _ => {}
        }
    }
    out
}

/// `c = v1 OR c = v2 OR …` over one column: its position and values.
fn or_of_equalities(
    filter: &Expr,
    column: &dyn Fn(&Expr) -> Option<usize>,
    literal: &dyn Fn(&Expr, usize) -> Option<Datum>,
) -> Option<(usize, Vec<Datum>)> {
    let Expr::BinaryExpr(BinaryExpr {
        op: Operator::Or, ..
    }) = filter
    else {
        return None;
    };
    let mut disjuncts = Vec::new();
    let mut pending = vec![filter];
    while let Some(e) = pending.pop() {
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => {
                pending.push(right);
                pending.push(left);
            }
            other => disjuncts.push(other),
        }
    }
    let mut position = None;
    let mut values = Vec::new();
    for disjunct in disjuncts {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = disjunct
        else {
            return None;
        };
        let (p, value) = match (column(left), column(right)) {
            (Some(p), None) => (p, literal(right, p)?),
            (None, Some(p)) => (p, literal(left, p)?),
            _ => return None,
        };
        if position.is_some_and(|q| q != p) {
            return None;
        }
        position = Some(p);
        values.push(value);
    }
    Some((position?, values))
}

/// A candidate path over `columns`: how many it pins, and its range.
fn plan_columns(
    columns: &[usize],
    predicates: &BTreeMap<usize, ColumnPredicate>,
    table: &TableDef,
    encode: fn(&Datum, &mut Vec<u8>),
) -> Option<(usize, Range)> {
    let mut prefixes: Vec<Vec<u8>> = vec![Vec::new()];
    let mut described = Vec::new();
    let mut pinned = 0;
    let mut lower = None;
    let mut lower_strict = false;
    let mut upper = None;
    for &column in columns {
        let Some(predicate) = predicates.get(&column) else {
            break;
        };
        let name = &table.columns[column].name;
        if let Some(values) = &predicate.values {
            if prefixes.len() * values.len() > PREFIXES_MAX {
                break;
            }
            prefixes = prefixes
                .iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut p = prefix.clone();
                        encode(v, &mut p);
                        p
                    })
                })
                .collect();
            prefixes.sort();
            prefixes.dedup();
            described.push(if values.len() == 1 {
                format!("{name} =")
            } else {
                format!("{name} IN")
            });
            pinned += 2;
            continue;
        }
        if predicate.lower.is_some() || predicate.upper.is_some() {
            let part = |d: &Datum| {
                let mut p = Vec::new();
                encode(d, &mut p);
                p
            };
            lower = predicate.lower.as_ref().map(part);
            lower_strict = predicate.lower_strict;
            upper = predicate.upper.as_ref().map(part);
            described.push(format!("{name} range"));
            pinned += 1;
        }
        break;
    }
    (pinned > 0).then(|| {
        (
            pinned,
            Range {
                prefixes,
                lower,
                lower_strict,
                upper,
                description: described.join(", "),
            },
        )
    })
}

fn encode_key_part(value: &Datum, out: &mut Vec<u8>) {
    out.extend_from_slice(&encode_key([value]));
}

/// The path for a scan of `table` with `filters`, given the indexes that
/// may be used (built, and over the definition the scan reads).
pub fn choose(
    table: &TableDef,
    indexes: &[&IndexDef],
    filters: &[Expr],
    convert: &LiteralConverter,
) -> Access {
    let predicates = predicates(table, filters, convert);
    if predicates.is_empty() {
        return Access::Full;
    }
    let mut best: Option<(usize, Access)> = None;
    if !table.primary_key.is_empty() {
        if let Some((pinned, range)) =
            plan_columns(&table.primary_key, &predicates, table, encode_key_part)
        {
            let access = if pinned == 2 * table.primary_key.len() {
                Access::Keys(range.prefixes)
            } else {
                Access::KeyRange(range)
            };
            best = Some((pinned, access));
        }
    }
    for index in indexes {
        let columns = index.column_positions();
        if let Some((pinned, range)) = plan_columns(&columns, &predicates, table, encode_index_part)
        {
            if best.as_ref().is_none_or(|(b, _)| pinned > *b) {
                best = Some((
                    pinned,
                    Access::Index {
                        name: index.name.clone(),
                        columns,
                        range,
                    },
                ));
            }
        }
    }
    best.map(|(_, access)| access).unwrap_or(Access::Full)
}

/// An ordered index path for `hint`: an index whose columns are some
/// columns pinned to one value each by equalities, then the hint's columns
/// (the first of them may carry a range); the one that pins the most.
pub fn choose_ordered(
    table: &TableDef,
    indexes: &[&IndexDef],
    filters: &[Expr],
    convert: &LiteralConverter,
    hint: &[usize],
) -> Option<Access> {
    let predicates = predicates(table, filters, convert);
    let mut best: Option<(usize, Access)> = None;
    for index in indexes {
        let columns = index.column_positions();
        let pinned = columns
            .iter()
            .take_while(|c| {
                !hint.contains(c)
                    && predicates
                        .get(c)
                        .and_then(|p| p.values.as_ref())
                        .is_some_and(|v| v.len() == 1)
            })
            .count();
        if columns.len() < pinned + hint.len() || columns[pinned..pinned + hint.len()] != *hint {
            continue;
        }
        let mut prefix = Vec::new();
        let mut described = Vec::new();
        for &c in &columns[..pinned] {
            let value = &predicates[&c].values.as_ref().expect("pinned")[0];
            encode_index_part(value, &mut prefix);
            described.push(format!("{} =", table.columns[c].name));
        }
        let part = |d: &Datum| {
            let mut p = Vec::new();
            encode_index_part(d, &mut p);
            p
        };
        let first = predicates.get(&hint[0]);
        let (lower, upper) = (
            first.and_then(|p| p.lower.as_ref()).map(part),
            first.and_then(|p| p.upper.as_ref()).map(part),
        );
        if lower.is_some() || upper.is_some() {
            described.push(format!("{} range", table.columns[hint[0]].name));
        }
        let access = Access::IndexOrdered {
            name: index.name.clone(),
            columns,
            range: Range {
                prefixes: vec![prefix],
                lower,
                lower_strict: false,
                upper,
                description: described.join(", "),
            },
        };
        // The index that pins the most columns reads the fewest rows.
        if best.as_ref().is_none_or(|(b, _)| pinned > *b) {
            best = Some((pinned, access));
        }
    }
    best.map(|(_, access)| access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};
    use kimberlite_catalog::{ColumnDef, IndexColumn};

    fn table() -> TableDef {
        let column = |name: &str| ColumnDef {
            name: name.into(),
            sql_type: SqlType::Int4,
            nullable: true,
            default_sql: None,
            identity: None,
        };
        TableDef {
            id: 1,
            name: "t".into(),
            columns: vec![column("id"), column("a"), column("b")],
            primary_key: vec![0],
            primary_key_name: None,
            constraints: vec![],
        }
    }

    fn index() -> IndexDef {
        let c = |column| IndexColumn {
            column,
            descending: false,
            nulls_first: false,
        };
        IndexDef {
            id: 2,
            name: "t_a_b_idx".into(),
            table: 1,
            columns: vec![c(1), c(2)],
            unique: false,
        }
    }

    fn convert(v: &ScalarValue, _: SqlType) -> Option<Datum> {
        match v {
            ScalarValue::Int32(Some(n)) => Some(Datum::Int4(*n)),
            _ => None,
        }
    }

    fn path(filters: &[Expr]) -> String {
        choose(&table(), &[&index()], filters, &convert).to_string()
    }

    #[test]
    fn paths_pin_as_many_columns_as_the_filters_allow() {
        assert_eq!(
            path(&[col("id").eq(lit(5))]),
            "primary key lookup of 1 key(s)"
        );
        assert_eq!(
            path(&[col("id").in_list(vec![lit(1), lit(2)], false)]),
            "primary key lookup of 2 key(s)"
        );
        assert_eq!(
            path(&[col("id").gt(lit(5))]),
            "primary key range (id range)"
        );
        assert_eq!(path(&[col("a").eq(lit(1))]), "index t_a_b_idx (a =)");
        assert_eq!(
            path(&[col("a").eq(lit(1)), col("b").lt(lit(3))]),
            "index t_a_b_idx (a =, b range)"
        );
        assert_eq!(path(&[lit(1).eq(col("a"))]), "index t_a_b_idx (a =)");
        assert_eq!(
            path(&[col("a").eq(lit(1)).or(col("a").eq(lit(2)))]),
            "index t_a_b_idx (a IN)"
        );
        assert_eq!(
            path(&[col("a").eq(lit(1)).or(col("b").eq(lit(2)))]),
            "full scan"
        );
        // The index's second column alone does not make it usable.
        assert_eq!(path(&[col("b").eq(lit(1))]), "full scan");
        let ordered = |filters: &[Expr], hint: &[usize]| {
            choose_ordered(&table(), &[&index()], filters, &convert, hint).map(|a| a.to_string())
        };
        assert_eq!(
            ordered(&[], &[1]).as_deref(),
            Some("index t_a_b_idx in order")
        );
        assert_eq!(
            ordered(&[col("a").eq(lit(1))], &[2]).as_deref(),
            Some("index t_a_b_idx in order (a =)")
        );
        assert_eq!(ordered(&[], &[2]), None);
        // A point lookup beats a range on an index.
        assert_eq!(
            path(&[col("id").eq(lit(1)), col("a").gt(lit(0))]),
            "primary key lookup of 1 key(s)"
        );
    }
}
