//! Reading constraint clauses of `CREATE TABLE` into catalog constraints.
//!
//! Clauses are collected as written (column names, referenced table name)
//! and resolved once every column is known: indexes, PostgreSQL's default
//! names (`t_a_key`, `t_a_check`, `t_check`, `t_a_fkey`, made unique with a
//! digit), the referenced key of a foreign key (the primary key when no
//! columns are named) and its column types.

use datafusion::sql::sqlparser::ast::{
    visit_expressions, ColumnOption, Expr, ForeignKeyConstraint, Ident, IndexColumn, ObjectName,
    ReferentialAction, TableConstraint,
};
use kimberlite_catalog::{
    Catalog, Constraint, ConstraintKind, ForeignKey, RefAction, SqlType, TableDef,
};

use super::ident_name;
use crate::error::{EngineError, EngineResult};

/// `PRIMARY KEY`: its name when given, and its columns.
pub struct PrimaryKeySpec {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

struct ForeignKeySpec {
    name: Option<String>,
    columns: Vec<String>,
    table: ObjectName,
    ref_columns: Vec<String>,
    on_delete: RefAction,
    on_update: RefAction,
}

impl ForeignKeySpec {
    /// A REFERENCES clause on `columns`; `name` from a column option's
    /// `CONSTRAINT name` wins over the clause's own.
    fn read(fk: &ForeignKeyConstraint, name: Option<String>, columns: Vec<String>) -> Self {
        ForeignKeySpec {
            name: name.or_else(|| fk.name.as_ref().map(ident_name)),
            columns,
            table: fk.foreign_table.clone(),
            ref_columns: names(&fk.referred_columns),
            on_delete: action(fk.on_delete),
            on_update: action(fk.on_update),
        }
    }
}

/// Constraint clauses as written, before resolution.
#[derive(Default)]
pub struct ConstraintSpecs {
    /// The table being created (for messages).
    pub table: String,
    pub primary_key: Option<PrimaryKeySpec>,
    uniques: Vec<(Option<String>, Vec<String>)>,
    /// (name, the column a column-level CHECK was written on, expression).
    checks: Vec<(Option<String>, Option<String>, Expr)>,
    foreign_keys: Vec<ForeignKeySpec>,
}

fn action(action: Option<ReferentialAction>) -> RefAction {
    match action {
        None | Some(ReferentialAction::NoAction) => RefAction::NoAction,
        Some(ReferentialAction::Restrict) => RefAction::Restrict,
        Some(ReferentialAction::Cascade) => RefAction::Cascade,
        Some(ReferentialAction::SetNull) => RefAction::SetNull,
        Some(ReferentialAction::SetDefault) => RefAction::SetDefault,
    }
}

fn index_columns(columns: &[IndexColumn]) -> EngineResult<Vec<String>> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(ident) => Ok(ident_name(ident)),
            other => Err(EngineError::FeatureNotSupported(format!(
                "a key on the expression {other} is not supported"
            ))),
        })
        .collect()
}

fn names(idents: &[Ident]) -> Vec<String> {
    idents.iter().map(ident_name).collect()
}

impl ConstraintSpecs {
    pub fn new(table: &str) -> ConstraintSpecs {
        ConstraintSpecs {
            table: table.to_string(),
            ..Default::default()
        }
    }

    fn set_primary_key(&mut self, name: Option<String>, columns: Vec<String>) -> EngineResult<()> {
        if self.primary_key.is_some() {
            return Err(EngineError::InvalidTableDefinition(format!(
                "multiple primary keys for table \"{}\" are not allowed",
                self.table
            )));
        }
        self.primary_key = Some(PrimaryKeySpec { name, columns });
        Ok(())
    }

    /// A constraint written on `column`'s definition.
    pub fn column_option(
        &mut self,
        column: &str,
        name: Option<String>,
        option: &ColumnOption,
    ) -> EngineResult<()> {
        let column = column.to_string();
        match option {
            ColumnOption::PrimaryKey(pk) => {
                let name = name.or_else(|| pk.name.as_ref().map(ident_name));
                self.set_primary_key(name, vec![column])
            }
            ColumnOption::Unique(unique) => {
                let name = name.or_else(|| unique.name.as_ref().map(ident_name));
                self.uniques.push((name, vec![column]));
                Ok(())
            }
            ColumnOption::Check(check) => {
                let name = name.or_else(|| check.name.as_ref().map(ident_name));
                self.checks
                    .push((name, Some(column), (*check.expr).clone()));
                Ok(())
            }
            ColumnOption::ForeignKey(fk) => {
                self.foreign_keys
                    .push(ForeignKeySpec::read(fk, name, vec![column]));
                Ok(())
            }
            other => Err(EngineError::FeatureNotSupported(format!(
                "column option {other} is not supported yet"
            ))),
        }
    }

    /// A table-level constraint clause.
    pub fn table_constraint(&mut self, constraint: &TableConstraint) -> EngineResult<()> {
        match constraint {
            TableConstraint::PrimaryKey(pk) => {
                let columns = index_columns(&pk.columns)?;
                self.set_primary_key(pk.name.as_ref().map(ident_name), columns)
            }
            TableConstraint::Unique(unique) => {
                let columns = index_columns(&unique.columns)?;
                self.uniques
                    .push((unique.name.as_ref().map(ident_name), columns));
                Ok(())
            }
            TableConstraint::Check(check) => {
                self.checks.push((
                    check.name.as_ref().map(ident_name),
                    None,
                    (*check.expr).clone(),
                ));
                Ok(())
            }
            TableConstraint::ForeignKey(fk) => {
                self.foreign_keys
                    .push(ForeignKeySpec::read(fk, None, names(&fk.columns)));
                Ok(())
            }
            other => Err(EngineError::FeatureNotSupported(format!(
                "table constraint {other} is not supported yet"
            ))),
        }
    }

    /// The catalog constraints of `table` (whose columns and primary key
    /// are set), named and resolved against `catalog`.
    pub fn resolve(
        self,
        table: &TableDef,
        schema: &str,
        catalog: &Catalog,
        path: &[String],
    ) -> EngineResult<Vec<Constraint>> {
        // Names the table's constraints already use (ALTER TABLE ADD).
        let mut taken = vec![table.primary_key_name()];
        taken.extend(table.constraints.iter().map(|c| c.name.clone()));
        let mut out = Vec::new();
        let mut add = |name: Option<String>, base: String, kind: ConstraintKind| {
            let name = match name {
                Some(name) => {
                    if taken.contains(&name) {
                        return Err(EngineError::DuplicateObject(match kind {
                            ConstraintKind::Check { .. } => {
                                format!("check constraint \"{name}\" already exists")
                            }
                            _ => format!(
                                "constraint \"{name}\" for relation \"{}\" already exists",
                                table.name
                            ),
                        }));
                    }
                    name
                }
                None => unique_name(&base, &taken),
            };
            taken.push(name.clone());
            out.push(Constraint { name, kind });
            Ok(())
        };
        for (name, columns) in self.uniques {
            let indexes = column_indexes(table, &columns, |c| {
                format!("column \"{c}\" named in key does not exist")
            })?;
            add(
                name,
                format!("{}_{}_key", table.name, columns.join("_")),
                ConstraintKind::Unique { columns: indexes },
            )?;
        }
        for (name, column, expr) in self.checks {
            let column = column.or_else(|| single_column(table, &expr));
            let base = match column {
                Some(column) => format!("{}_{column}_check", table.name),
                None => format!("{}_check", table.name),
            };
            add(
                name,
                base,
                ConstraintKind::Check {
                    expr_sql: expr.to_string(),
                },
            )?;
        }
        for spec in self.foreign_keys {
            let base = format!("{}_{}_fkey", table.name, spec.columns.join("_"));
            let fk = resolve_foreign_key(
                (table, schema),
                (catalog, path),
                &spec,
                spec.name.as_deref().unwrap_or(&base),
            )?;
            add(spec.name, base, ConstraintKind::ForeignKey(fk))?;
        }
        Ok(out)
    }
}

/// `base`, or `base1`, `base2`, … — the first not in `taken`.
fn unique_name(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|candidate| !taken.contains(candidate))
        .expect("some suffix is free")
}

/// The one column a table-level CHECK reads, if it reads exactly one (it
/// then names the constraint, as in PostgreSQL).
fn single_column(table: &TableDef, expr: &Expr) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    let _ = visit_expressions(expr, |e| {
        let name = match e {
            Expr::Identifier(ident) => Some(ident_name(ident)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
            _ => None,
        };
        if let Some(name) = name.filter(|n| table.column_index(n).is_some()) {
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    match seen.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn column_indexes(
    table: &TableDef,
    columns: &[String],
    missing: impl Fn(&str) -> String,
) -> EngineResult<Vec<usize>> {
    columns
        .iter()
        .map(|c| {
            table
                .column_index(c)
                .ok_or_else(|| EngineError::UndefinedColumn(missing(c)))
        })
        .collect()
}

fn is_integer(t: SqlType) -> bool {
    matches!(t, SqlType::Int2 | SqlType::Int4 | SqlType::Int8)
}

fn resolve_foreign_key(
    (table, schema): (&TableDef, &str),
    (catalog, path): (&Catalog, &[String]),
    spec: &ForeignKeySpec,
    constraint_name: &str,
) -> EngineResult<ForeignKey> {
    let (ref_schema, ref_bare) = super::names::parts(&spec.table, catalog.database_name())?;
    let ref_name = super::names::lookup_key(catalog, path, ref_schema.as_deref(), &ref_bare)?;
    // The table itself (being created or altered): named with its schema,
    // or unqualified where no other relation has the name.
    let is_self = ref_bare == table.name
        && match &ref_schema {
            Some(s) => s == schema,
            None => {
                !catalog.relation_exists(&ref_name)
                    || catalog.table(&ref_name).is_some_and(|t| t.id == table.id)
            }
        };
    let referenced: &TableDef = if is_self {
        table
    } else {
        catalog
            .table(&ref_name)
            .map(|t| &**t)
            .ok_or_else(|| EngineError::UndefinedTable(ref_name.clone()))?
    };
    let missing =
        |c: &str| format!("column \"{c}\" referenced in foreign key constraint does not exist");
    let mut columns = column_indexes(table, &spec.columns, missing)?;
    let mut ref_columns = if spec.ref_columns.is_empty() {
        if referenced.primary_key.is_empty() {
            return Err(EngineError::InvalidForeignKey(format!(
                "there is no primary key for referenced table \"{}\"",
                referenced.name
            )));
        }
        referenced.primary_key.clone()
    } else {
        column_indexes(referenced, &spec.ref_columns, missing)?
    };
    if columns.len() != ref_columns.len() {
        return Err(EngineError::InvalidForeignKey(
            "number of referencing and referenced columns for foreign key disagree".into(),
        ));
    }
    // The referenced columns must be a unique key (in any order): put both
    // lists in the key's order.
    let key = referenced
        .unique_keys()
        .map(|(_, key)| key.to_vec())
        .find(|key| key.len() == ref_columns.len() && key.iter().all(|k| ref_columns.contains(k)))
        .ok_or_else(|| {
            EngineError::InvalidForeignKey(format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                referenced.name
            ))
        })?;
    let pairs: Vec<(usize, usize)> = key
        .iter()
        .map(|k| {
            let position = ref_columns.iter().position(|r| r == k).expect("same set");
            (columns[position], *k)
        })
        .collect();
    columns = pairs.iter().map(|p| p.0).collect();
    ref_columns = pairs.iter().map(|p| p.1).collect();
    for (&c, &r) in columns.iter().zip(&ref_columns) {
        let (ct, rt) = (table.columns[c].sql_type, referenced.columns[r].sql_type);
        if ct != rt && !(is_integer(ct) && is_integer(rt)) {
            return Err(EngineError::Datatype(format!(
                "foreign key constraint \"{constraint_name}\" cannot be implemented: key columns \"{}\" and \"{}\" are of incompatible types: {} and {}",
                table.columns[c].name,
                referenced.columns[r].name,
                ct.pg_name(),
                rt.pg_name()
            )));
        }
    }
    Ok(ForeignKey {
        columns,
        ref_table: referenced.id,
        ref_columns,
        on_delete: spec.on_delete,
        on_update: spec.on_update,
    })
}
