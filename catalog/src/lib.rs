//! # The catalog: schema objects as replicated state
//!
//! Tables, columns, their types and constraints, and roles are not kept in a
//! side file: every change to them is a command in the log, and the catalog
//! is what applying those commands in op order produces. That is why the
//! catalog has history (a query planned at op N sees the tables of op N) and
//! why a restart rebuilds it by replaying the log.
//!
//! This crate holds the pure data and the rules that apply to it (name
//! resolution, "table already exists", PostgreSQL type names and OIDs). It
//! knows nothing of Arrow, DataFusion or the wire protocol; the engine maps
//! [`SqlType`] onto Arrow types and the server maps it onto wire encodings.
//!
//! Left out for now: schemas other than `public`, indexes, views, sequences,
//! grants and policies. Each will be one more variant of [`CatalogChange`].

mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use types::{ArrayElement, SqlType};

/// Identifies a table for its whole life; never reused, stable across
/// restarts (it is assigned by the op that created the table).
pub type TableId = u64;

/// The name of the superuser that `dev` and `start` create.
pub const SUPERUSER: &str = "kimberlite";
/// The database every node serves today.
pub const DEFAULT_DATABASE: &str = "kimberlite";
/// The only schema today.
pub const DEFAULT_SCHEMA: &str = "public";

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    /// The DEFAULT expression as PostgreSQL-dialect SQL text, evaluated at
    /// insert time (so `now()` is the insert's time, not the DDL's).
    pub default_sql: Option<String>,
}

/// A table definition.
///
/// Invariants: column names are unique (case-sensitive, already normalized);
/// every index in `primary_key` is a column index; primary-key columns are not
/// nullable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub id: TableId,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Column indexes of the primary key, in key order; empty when the table
    /// has none (rows are then keyed by a hidden row id).
    pub primary_key: Vec<usize>,
}

impl TableDef {
    /// Checks the invariants; used on DDL before it is logged and asserted
    /// when applied.
    pub fn validate(&self) -> Result<(), CatalogError> {
        if self.columns.is_empty() {
            // PostgreSQL allows zero-column tables; we do not need them yet.
            return Err(CatalogError::Unsupported(
                "tables without columns are not supported".into(),
            ));
        }
        for (i, column) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(CatalogError::DuplicateColumn(column.name.clone()));
            }
        }
        for &k in &self.primary_key {
            let column = self.columns.get(k).ok_or_else(|| {
                CatalogError::Unsupported(format!("primary key column {k} out of range"))
            })?;
            if column.nullable {
                return Err(CatalogError::Unsupported(format!(
                    "primary key column \"{}\" must be NOT NULL",
                    column.name
                )));
            }
        }
        Ok(())
    }

    /// Column index by (normalized) name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Whether rows are keyed by a hidden row id.
    pub fn has_row_id(&self) -> bool {
        self.primary_key.is_empty()
    }
}

/// A login role. Only the SCRAM verifier is kept, never the password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleDef {
    pub name: String,
    pub superuser: bool,
    pub login: bool,
    /// `SCRAM-SHA-256$<iterations>:<salt>$<stored_key>:<server_key>`
    /// (base64), as PostgreSQL stores it; `None` for trust-only roles.
    pub scram_verifier: Option<String>,
}

/// How the data directory was initialized, which decides how logins work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMode {
    /// `kimberlite dev`: trust for loopback clients.
    Trust,
    /// `kimberlite start`: SCRAM-SHA-256 passwords.
    Password,
}

/// A change to the catalog, as carried by a logged command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CatalogChange {
    CreateTable(TableDef),
    DropTable { id: TableId },
    CreateRole(RoleDef),
    SetAuthMode(AuthMode),
}

/// The catalog at one op. Cheap to clone (tables are shared). Serialized
/// into projection snapshots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    tables: BTreeMap<String, Arc<TableDef>>,
    roles: BTreeMap<String, RoleDef>,
    auth_mode: Option<AuthMode>,
    next_table_id: TableId,
}

/// Errors in catalog rules. The engine maps them to SQLSTATEs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    #[error("relation \"{0}\" already exists")]
    TableExists(String),
    #[error("relation \"{0}\" does not exist")]
    TableNotFound(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    #[error("role \"{0}\" already exists")]
    RoleExists(String),
    #[error("{0}")]
    Unsupported(String),
}

impl Catalog {
    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&Arc<TableDef>> {
        self.tables.get(name)
    }

    /// A table by id.
    pub fn table_by_id(&self, id: TableId) -> Option<&Arc<TableDef>> {
        self.tables.values().find(|t| t.id == id)
    }

    /// All tables, by name.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values()
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Option<&RoleDef> {
        self.roles.get(name)
    }

    /// How logins are authenticated; `None` before initialization.
    pub fn auth_mode(&self) -> Option<AuthMode> {
        self.auth_mode
    }

    /// The id the next created table gets. Ids come from the catalog so they
    /// are the same on every replica and after every replay.
    pub fn next_table_id(&self) -> TableId {
        self.next_table_id.max(1)
    }

    /// Checks that `change` can apply, without applying it.
    pub fn check(&self, change: &CatalogChange) -> Result<(), CatalogError> {
        match change {
            CatalogChange::CreateTable(def) => {
                def.validate()?;
                if self.tables.contains_key(&def.name) {
                    return Err(CatalogError::TableExists(def.name.clone()));
                }
                if self.table_by_id(def.id).is_some() {
                    return Err(CatalogError::Unsupported(format!(
                        "table id {} reused",
                        def.id
                    )));
                }
                Ok(())
            }
            CatalogChange::DropTable { id } => match self.table_by_id(*id) {
                Some(_) => Ok(()),
                None => Err(CatalogError::TableNotFound(format!("#{id}"))),
            },
            CatalogChange::CreateRole(role) => {
                if self.roles.contains_key(&role.name) {
                    return Err(CatalogError::RoleExists(role.name.clone()));
                }
                Ok(())
            }
            CatalogChange::SetAuthMode(_) => Ok(()),
        }
    }

    /// Applies a change that [`Catalog::check`] accepted.
    pub fn apply(&mut self, change: &CatalogChange) -> Result<(), CatalogError> {
        self.check(change)?;
        match change {
            CatalogChange::CreateTable(def) => {
                self.next_table_id = self.next_table_id().max(def.id + 1);
                self.tables.insert(def.name.clone(), Arc::new(def.clone()));
            }
            CatalogChange::DropTable { id } => {
                self.tables.retain(|_, t| t.id != *id);
            }
            CatalogChange::CreateRole(role) => {
                self.roles.insert(role.name.clone(), role.clone());
            }
            CatalogChange::SetAuthMode(mode) => self.auth_mode = Some(*mode),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(id: TableId, name: &str) -> TableDef {
        TableDef {
            id,
            name: name.into(),
            columns: vec![ColumnDef {
                name: "id".into(),
                sql_type: SqlType::Int4,
                nullable: false,
                default_sql: None,
            }],
            primary_key: vec![0],
        }
    }

    #[test]
    fn create_then_drop_table_frees_the_name() {
        let mut catalog = Catalog::default();
        catalog
            .apply(&CatalogChange::CreateTable(table(1, "t")))
            .unwrap();
        assert_eq!(
            catalog.check(&CatalogChange::CreateTable(table(2, "t"))),
            Err(CatalogError::TableExists("t".into()))
        );
        catalog.apply(&CatalogChange::DropTable { id: 1 }).unwrap();
        assert!(catalog.table("t").is_none());
        assert_eq!(catalog.next_table_id(), 2);
    }

    #[test]
    fn nullable_primary_key_column_is_refused() {
        let mut def = table(1, "t");
        def.columns[0].nullable = true;
        assert!(def.validate().is_err());
    }
}
