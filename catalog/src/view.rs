//! Views: a name for a query, expanded when a statement that reads it is
//! planned.
//!
//! The catalog keeps the query as PostgreSQL-dialect SQL text and the
//! column names the view exposes; the engine plans the text in the scope
//! of the reading statement (same snapshot, same transaction), so a view
//! always shows what its base tables show to that reader.

use serde::{Deserialize, Serialize};

/// Identifies a view for its whole life (drawn from the relation ids).
pub type ViewId = u64;

/// `CREATE VIEW name [(columns)] AS query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewDef {
    pub id: ViewId,
    pub name: String,
    /// The defining query, as SQL text.
    pub query_sql: String,
    /// The names of the view's columns, in order (from the column list
    /// when given, else from the query).
    pub columns: Vec<String>,
    /// The tables and views the query reads (by id): they cannot be
    /// dropped while the view exists, except with CASCADE.
    pub depends_on: Vec<u64>,
}
