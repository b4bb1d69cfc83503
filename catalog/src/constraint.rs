//! Table constraints other than the primary key and NOT NULL: what the
//! catalog records of UNIQUE, CHECK and FOREIGN KEY.
//!
//! The catalog keeps the rule (columns, expression text, referenced table
//! and actions); the engine enforces it when a statement writes and again
//! when the kernel applies the commit. Names follow PostgreSQL's defaults
//! (`t_a_key`, `t_a_check`, `t_a_fkey`) so error messages and `\d` agree.

use serde::{Deserialize, Serialize};

use crate::TableId;

/// A named table constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
}

/// What a constraint requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConstraintKind {
    /// No two rows share these columns' values (rows with a NULL in any of
    /// them never conflict: NULLs are distinct).
    Unique {
        columns: Vec<usize>,
    },
    /// The expression (PostgreSQL-dialect SQL over the row's columns) is
    /// not false for any row.
    Check {
        expr_sql: String,
    },
    ForeignKey(ForeignKey),
    /// A UNIQUE index (`CREATE UNIQUE INDEX`): enforced like `Unique`, but
    /// an index, not a constraint, to clients (pg_constraint has no row
    /// for it). New variants go last: the log stores the variant's
    /// position.
    UniqueIndex {
        columns: Vec<usize>,
    },
}

/// `FOREIGN KEY (columns) REFERENCES ref_table (ref_columns)`, MATCH SIMPLE:
/// a row with a NULL in any referencing column references nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub columns: Vec<usize>,
    pub ref_table: TableId,
    /// The referenced table's primary key or one of its UNIQUE column
    /// lists, in the order of `columns`.
    pub ref_columns: Vec<usize>,
    pub on_delete: RefAction,
    pub on_update: RefAction,
}

/// What happens to referencing rows when the referenced row goes away or
/// changes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl RefAction {
    /// The words PostgreSQL prints.
    pub fn sql(self) -> &'static str {
        match self {
            RefAction::NoAction => "NO ACTION",
            RefAction::Restrict => "RESTRICT",
            RefAction::Cascade => "CASCADE",
            RefAction::SetNull => "SET NULL",
            RefAction::SetDefault => "SET DEFAULT",
        }
    }
}
