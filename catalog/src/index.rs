//! Secondary indexes: what the catalog records of `CREATE INDEX`.
//!
//! An index is a rule for derived state, not state of its own: the engine
//! keeps, per index, the ordered (index key, row key) pairs of every row
//! version, rebuilt from the log or a snapshot. The catalog keeps only the
//! definition. Indexes share the relation namespace with tables, views and
//! sequences, as in PostgreSQL (`CREATE INDEX t` on a table named `t` is
//! 42P07).
//!
//! A UNIQUE index is also enforced: its table carries a constraint of kind
//! [`crate::ConstraintKind::UniqueIndex`] with the index's name and
//! columns, kept in step by the DDL that creates and drops the index.

use serde::{Deserialize, Serialize};

use crate::TableId;

/// Identifies an index for its whole life (drawn from the relation ids).
pub type IndexId = u64;

/// One key column of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexColumn {
    /// The table column's position.
    pub column: usize,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST` (PostgreSQL's default is NULLS LAST for ASC, FIRST
    /// for DESC).
    pub nulls_first: bool,
}

/// `CREATE [UNIQUE] INDEX name ON table (columns)`.
///
/// Invariant: every column position exists in the table; at least one
/// column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDef {
    pub id: IndexId,
    pub name: String,
    pub table: TableId,
    pub columns: Vec<IndexColumn>,
    pub unique: bool,
}

impl IndexDef {
    /// The key column positions, in key order.
    pub fn column_positions(&self) -> Vec<usize> {
        self.columns.iter().map(|c| c.column).collect()
    }
}
