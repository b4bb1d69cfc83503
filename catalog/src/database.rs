//! # Databases: tenants of one cluster
//!
//! A database is a tenant: its own catalog (schemas, tables, views,
//! sequences, indexes, comments), its own keys in the log, and sessions
//! that see nothing of any other database. What a cluster shares — roles,
//! how logins authenticate, and the list of databases itself — is kept in
//! every database's catalog alike: a [`crate::CatalogChange`] that is
//! [`cluster_wide`](crate::CatalogChange::is_cluster_wide) is applied to
//! each of them (by the engine's kernel), so any one catalog answers
//! "does role r exist" and "which databases are there".
//!
//! The default database ([`crate::DEFAULT_DATABASE`], id
//! [`DEFAULT_DATABASE_ID`]) always exists, like the `public` schema; the
//! others are created and dropped by logged changes. Ids are never reused:
//! a dropped database's frames stay in the log under its id.

use serde::{Deserialize, Serialize};

/// Identifies a database (the log's tenant id) for its whole life.
pub type DatabaseId = u32;

/// The id of [`crate::DEFAULT_DATABASE`]. Id 0 is the cluster's own
/// (checkpoints), never a database's.
pub const DEFAULT_DATABASE_ID: DatabaseId = 1;

/// `CREATE DATABASE name [OWNER role]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseDef {
    pub id: DatabaseId,
    pub name: String,
    /// The role that owns it (the creator unless `OWNER` names another).
    pub owner: String,
}
