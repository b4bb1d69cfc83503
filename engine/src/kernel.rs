//! # The kernel: deterministic apply
//!
//! A committed command is applied to the state (catalog + projections) by
//! [`KernelState::apply`], a pure function of (state, op, command). Every
//! replica, and every restart replaying the log, runs the same function on
//! the same commands in the same op order and ends in the same state.
//!
//! Apply first *checks* the whole command against the newest state (does the
//! table exist, is an inserted key free, is the version an update read still
//! the newest) and only then mutates, so a command applies all or nothing.
//! The primary runs the same check before it logs a command, which is how a
//! client gets its 23505 or 40001; apply's check is the deterministic
//! backstop, and a logged command that fails it means the log or the code is
//! broken: replay refuses to continue.
//!
//! Each database (tenant) has its own catalog history; a command belongs to
//! one database (the log frame's tenant) and is checked against that
//! database's catalog. Changes to what the cluster shares (roles, the
//! database list) are applied to every database's catalog alike. Rows,
//! sequences and indexes are keyed by ids that are unique cluster-wide, so
//! they need no per-database split.

use std::sync::Arc;

use std::collections::BTreeMap;

use kimberlite_catalog::{
    Catalog, CatalogChange, DatabaseId, SequenceId, SequenceValue, TableId, DEFAULT_DATABASE_ID,
};
use kimberlite_consensus::Op;
use serde::{Deserialize, Serialize};

use crate::constraints::{check_changes, Change, CommandLayer, FinalState, KeyIndexes};
use crate::datum::{decode_row_id_key, Row};
use crate::error::{EngineError, EngineResult};
use crate::indexes::{indexed_lists, VersionIndexes};
use crate::mvcc::Projections;

/// A write to one row. `base_op` is the `created_op` of the version the
/// writer read: if a newer version exists at apply time, someone else
/// committed first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Mutation {
    Insert {
        table: TableId,
        key: Vec<u8>,
        row: Row,
    },
    Update {
        table: TableId,
        key: Vec<u8>,
        row: Row,
        base_op: Op,
    },
    Delete {
        table: TableId,
        key: Vec<u8>,
        base_op: Op,
    },
}

impl Mutation {
    pub fn table(&self) -> TableId {
        match self {
            Mutation::Insert { table, .. }
            | Mutation::Update { table, .. }
            | Mutation::Delete { table, .. } => *table,
        }
    }
}

/// What a committed transaction changes: catalog changes first, in the
/// order they were made, then row mutations, then sequence positions.
///
/// `sequences` are not the transaction's: they are the positions the
/// engine's sequence allocator reserved up to (by any session) that were
/// not yet logged, carried by whichever command is logged next, because
/// `nextval` is never rolled back (see [`crate::sequences`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TxnCommand {
    pub catalog: Vec<CatalogChange>,
    pub mutations: Vec<Mutation>,
    pub sequences: Vec<(SequenceId, SequenceValue)>,
}

/// Tables the command's ALTERs change so that every row must be written
/// again.
fn rewritten_tables(before: &Catalog, after: &Catalog, txn: &TxnCommand) -> Vec<TableId> {
    let mut ids = Vec::new();
    for change in &txn.catalog {
        let CatalogChange::ReplaceTable(def) = change else {
            continue;
        };
        if ids.contains(&def.id) {
            continue;
        }
        if let (Some(old), Some(new)) = (before.table_by_id(def.id), after.table_by_id(def.id)) {
            if old.rewrite_needed(new) {
                ids.push(def.id);
            }
        }
    }
    ids
}

/// A written row matches its table's definition: one value of the
/// column's type per column, no NULL in a NOT NULL column, and a key of
/// the table's kind (a hidden row id, or the row's primary-key values). A write planned
/// against the definition before an ALTER TABLE that committed first
/// fails here (40001: retry it).
fn conforms(table: &kimberlite_catalog::TableDef, key: &[u8], row: &Row) -> EngineResult<()> {
    let fits = row.len() == table.columns.len()
        && row
            .iter()
            .zip(&table.columns)
            .all(|(d, c)| d.fits(c.sql_type) && (c.nullable || !d.is_null()))
        && if table.has_row_id() {
            decode_row_id_key(key).is_some()
        } else {
            table.primary_key.iter().all(|&k| !row[k].is_null())
                && key == crate::datum::encode_key(table.primary_key.iter().map(|&k| &row[k]))
        };
    if fits {
        Ok(())
    } else {
        Err(EngineError::SerializationFailure)
    }
}

/// A logged command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    Transaction(TxnCommand),
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("commands always serialize")
    }

    pub fn decode(bytes: &[u8]) -> EngineResult<Command> {
        postcard::from_bytes(bytes)
            .map_err(|e| EngineError::Corrupted(format!("undecodable command: {e}")))
    }
}

/// The catalog as of each op that changed it, newest last; lets a reader
/// plan against the tables of its snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogHistory {
    versions: Vec<(Op, Arc<Catalog>)>,
}

/// How many catalog versions are kept. Snapshots older than the oldest kept
/// version see the oldest one; without time travel no snapshot lives long.
const CATALOG_VERSIONS_MAX: usize = 64;

impl CatalogHistory {
    fn starting_with(op: Op, catalog: Catalog) -> CatalogHistory {
        CatalogHistory {
            versions: vec![(op, Arc::new(catalog))],
        }
    }

    fn latest(&self) -> Arc<Catalog> {
        self.versions.last().expect("never empty").1.clone()
    }

    fn push(&mut self, op: Op, catalog: Catalog) {
        self.versions.push((op, Arc::new(catalog)));
        if self.versions.len() > CATALOG_VERSIONS_MAX {
            self.versions.remove(0);
        }
    }

    fn at(&self, snapshot: Op) -> Arc<Catalog> {
        self.versions
            .iter()
            .rev()
            .find(|(op, _)| *op <= snapshot)
            .or(self.versions.first())
            .map(|(_, c)| c.clone())
            .expect("catalog history is never empty")
    }
}

/// Everything the log derives.
///
/// Invariants: `applied_op` is the op of the last applied command; every
/// version in `projections` has `created_op <= applied_op`; `catalogs`
/// holds one non-empty history per existing database, the default one
/// always, and every table in `projections` is in one database's catalog.
/// The cluster-wide parts (roles, databases) of every latest catalog agree.
///
/// Serialized whole (postcard, ordered maps: deterministic bytes) into
/// projection snapshots; see [`crate::snapshot`].
#[derive(Debug, Serialize, Deserialize)]
pub struct KernelState {
    pub applied_op: Op,
    /// Each database's catalog history, by database id.
    catalogs: BTreeMap<DatabaseId, CatalogHistory>,
    pub projections: Projections,
    /// Next hidden row id; recomputed from the projections on replay.
    pub row_id_next: u64,
    /// Where each sequence resumes after a restart.
    pub sequences: BTreeMap<SequenceId, SequenceValue>,
    /// UNIQUE and foreign-key indexes over the newest rows: derived from
    /// `projections`, never serialized, rebuilt when a snapshot loads.
    #[serde(skip)]
    pub indexes: KeyIndexes,
    /// Secondary indexes over every row version, for lookups: derived
    /// from `projections` like `indexes` ([`crate::indexes`]).
    #[serde(skip)]
    pub version_indexes: VersionIndexes,
}

impl Default for KernelState {
    fn default() -> Self {
        KernelState {
            applied_op: 0,
            catalogs: BTreeMap::from([(
                DEFAULT_DATABASE_ID,
                CatalogHistory::starting_with(0, Catalog::default()),
            )]),
            projections: Projections::default(),
            row_id_next: 1,
            sequences: BTreeMap::new(),
            indexes: KeyIndexes::default(),
            version_indexes: VersionIndexes::default(),
        }
    }
}

impl KernelState {
    /// The newest catalog of `database` (including ops not yet durable);
    /// an empty one for a database that does not exist.
    pub fn latest_catalog(&self, database: DatabaseId) -> Arc<Catalog> {
        match self.catalogs.get(&database) {
            Some(history) => history.latest(),
            None => Arc::new(Catalog::default()),
        }
    }

    /// The catalog a reader of `database` at `snapshot` plans against.
    pub fn catalog_at(&self, database: DatabaseId, snapshot: Op) -> Arc<Catalog> {
        match self.catalogs.get(&database) {
            Some(history) => history.at(snapshot),
            None => Arc::new(Catalog::default()),
        }
    }

    /// The newest catalog of every database, by id.
    pub fn latest_catalogs(&self) -> Vec<(DatabaseId, Arc<Catalog>)> {
        self.catalogs
            .iter()
            .map(|(id, history)| (*id, history.latest()))
            .collect()
    }

    /// Whether the sequence exists in any database.
    pub fn sequence_exists(&self, id: SequenceId) -> bool {
        self.catalogs
            .values()
            .any(|h| h.latest().sequence_by_id(id).is_some())
    }

    /// Checks `command` of `database` against the newest state without
    /// changing anything.
    pub fn check(&self, database: DatabaseId, command: &Command) -> EngineResult<()> {
        let Command::Transaction(txn) = command;
        if !self.catalogs.contains_key(&database) {
            return Err(EngineError::UndefinedDatabase(format!("#{database}")));
        }
        let before = self.latest_catalog(database);
        let mut catalog = (*before).clone();
        for change in &txn.catalog {
            self.check_id_unique(database, change)?;
            catalog.apply(change)?;
        }
        for mutation in &txn.mutations {
            let table = catalog
                .table_by_id(mutation.table())
                .ok_or_else(|| EngineError::UndefinedTable(format!("#{}", mutation.table())))?;
            // A table created in this same command has no rows yet.
            let rows = self.projections.table(table.id);
            match mutation {
                Mutation::Insert { key, row, .. } => {
                    conforms(table, key, row)?;
                    if rows.and_then(|r| r.latest(key)).is_some() {
                        return Err(EngineError::UniqueViolation {
                            table: table.name.clone(),
                            constraint: table.primary_key_name(),
                            detail: "Key already exists.".into(),
                        });
                    }
                }
                Mutation::Update {
                    key, base_op, row, ..
                } => {
                    conforms(table, key, row)?;
                    match rows.and_then(|r| r.latest(key)) {
                        Some(v) if v.created_op == *base_op => {}
                        _ => return Err(EngineError::SerializationFailure),
                    }
                }
                Mutation::Delete { key, base_op, .. } => match rows.and_then(|r| r.latest(key)) {
                    Some(v) if v.created_op == *base_op => {}
                    _ => return Err(EngineError::SerializationFailure),
                },
            }
        }
        self.check_rewrites(&before, &catalog, txn)?;
        self.check_constraints(&before, &catalog, txn)
    }

    /// Object ids are unique cluster-wide (rows and sequence positions are
    /// keyed by them): an object created in one database may not take an
    /// id another database uses.
    fn check_id_unique(&self, database: DatabaseId, change: &CatalogChange) -> EngineResult<()> {
        let id = match change {
            CatalogChange::CreateTable(def) => def.id,
            CatalogChange::CreateSequence(def) => def.id,
            CatalogChange::CreateIndex(def) => def.id,
            CatalogChange::CreateView(def) => def.id,
            _ => return Ok(()),
        };
        let taken = self
            .catalogs
            .iter()
            .any(|(db, history)| *db != database && history.latest().id_in_use(id));
        if taken {
            return Err(EngineError::FeatureNotSupported(format!(
                "object id {id} is in use in another database"
            )));
        }
        Ok(())
    }

    /// A command whose ALTER TABLE needs every row written again (see
    /// [`kimberlite_catalog::TableDef::rewrite_needed`]) must write every
    /// live row of that table: a row another transaction committed since
    /// the ALTER read the table would otherwise keep the old layout, or
    /// escape the new rule (40001: retry the ALTER).
    fn check_rewrites(
        &self,
        before: &Catalog,
        after: &Catalog,
        txn: &TxnCommand,
    ) -> EngineResult<()> {
        for id in rewritten_tables(before, after, txn) {
            let Some(rows) = self.projections.table(id) else {
                continue;
            };
            let written: std::collections::BTreeSet<&[u8]> = txn
                .mutations
                .iter()
                .filter(|m| m.table() == id)
                .filter_map(|m| match m {
                    Mutation::Update { key, .. } | Mutation::Delete { key, .. } => {
                        Some(key.as_slice())
                    }
                    Mutation::Insert { .. } => None,
                })
                .collect();
            if rows
                .latest_rows()
                .any(|(key, _)| !written.contains(key.as_slice()))
            {
                return Err(EngineError::SerializationFailure);
            }
        }
        Ok(())
    }

    /// The backstop for UNIQUE and FOREIGN KEY: the rows the command leaves
    /// keep them, whatever other commands committed since its statements
    /// checked.
    fn check_constraints(
        &self,
        before: &Catalog,
        catalog: &Catalog,
        txn: &TxnCommand,
    ) -> EngineResult<()> {
        let constrained = |id: TableId| {
            catalog
                .table_by_id(id)
                .is_some_and(|t| !t.constraints.is_empty() || !catalog.referencing(id).is_empty())
        };
        if !txn.mutations.iter().any(|m| constrained(m.table())) {
            return Ok(());
        }
        let rewritten = rewritten_tables(before, catalog, txn);
        let mut layer = CommandLayer::default();
        let mut changes = Vec::new();
        for mutation in &txn.mutations {
            let Some(table) = catalog.table_by_id(mutation.table()) else {
                continue;
            };
            let (key, new) = match mutation {
                Mutation::Insert { key, row, .. } | Mutation::Update { key, row, .. } => {
                    (key, Some(row.clone()))
                }
                Mutation::Delete { key, .. } => (key, None),
            };
            // A rewritten table's committed rows have the old layout; the
            // statement checked what its rewrite removes (it never removes
            // a referenced key: ALTER TYPE of one is refused).
            let old = if rewritten.contains(&table.id) {
                None
            } else {
                self.projections
                    .table(table.id)
                    .and_then(|t| t.latest(key))
                    .map(|v| (*v.row).clone())
            };
            layer.write(table, key.clone(), new.clone());
            changes.push(Change {
                table: table.id,
                old: old.map(|row| (key.clone(), row)),
                new: new.map(|row| (key.clone(), row)),
            });
        }
        let state = FinalState {
            projections: &self.projections,
            indexes: &self.indexes,
            layer: &layer,
        };
        check_changes(&state, catalog, &changes)
    }

    /// Applies a command of `database` at `op`: all of it, or (when the
    /// check fails) nothing.
    pub fn apply(&mut self, op: Op, database: DatabaseId, command: &Command) -> EngineResult<()> {
        assert!(op > self.applied_op, "ops apply in increasing order");
        self.check(database, command)?;
        let Command::Transaction(txn) = command;
        // Tables whose definition changed get their indexes rebuilt once
        // their rows are written (rows of the old layout are not indexed
        // by the new definition).
        let mut reindex: Vec<TableId> = Vec::new();
        if !txn.catalog.is_empty() {
            let mut catalog = (*self.latest_catalog(database)).clone();
            for change in &txn.catalog {
                // The table of an index being dropped, read before it goes.
                if let CatalogChange::DropIndex { id } = change {
                    if let Some(index) = catalog.index_by_id(*id) {
                        reindex.push(index.table);
                    }
                }
                catalog.apply(change).expect("checked above");
                match change {
                    CatalogChange::DropTable { id } => {
                        self.projections.drop_table(*id);
                        self.indexes.drop_table(*id);
                        self.version_indexes.drop_table(*id);
                    }
                    CatalogChange::ReplaceTable(def) => reindex.push(def.id),
                    CatalogChange::CreateIndex(def) => reindex.push(def.table),
                    _ => {}
                }
            }
            self.catalogs
                .get_mut(&database)
                .expect("checked above")
                .push(op, catalog);
            self.apply_cluster_wide(op, database, &txn.catalog);
            let catalogs = self.latest_catalogs();
            self.sequences.retain(|id, _| {
                catalogs
                    .iter()
                    .any(|(_, c)| c.sequence_by_id(*id).is_some())
            });
        }
        let catalog = self.latest_catalog(database);
        let mut lists: BTreeMap<TableId, Vec<Vec<usize>>> = BTreeMap::new();
        for &(id, value) in &txn.sequences {
            // Positions of any database's sequences ride on any command; a
            // sequence dropped after its position was reserved is gone.
            if self.sequence_exists(id) {
                self.sequences.insert(id, value);
            }
        }
        for mutation in &txn.mutations {
            let table = catalog
                .table_by_id(mutation.table())
                .expect("checked above")
                .clone();
            let key = match mutation {
                Mutation::Insert { key, .. }
                | Mutation::Update { key, .. }
                | Mutation::Delete { key, .. } => key,
            };
            let old = self
                .projections
                .table(table.id)
                .and_then(|t| t.latest(key))
                .map(|v| v.row.clone());
            let new = match mutation {
                Mutation::Insert { row, .. } | Mutation::Update { row, .. } => Some(row),
                Mutation::Delete { .. } => None,
            };
            if !reindex.contains(&table.id) {
                self.indexes.update(&table, key, old.as_deref(), new);
                if let Some(row) = new {
                    let lists = lists
                        .entry(table.id)
                        .or_insert_with(|| indexed_lists(&catalog, &table));
                    self.version_indexes.add(lists, &table, key, row);
                }
            }
            match mutation {
                Mutation::Insert { table, key, row } => {
                    if let Some(row_id) = decode_row_id_key(key) {
                        self.row_id_next = self.row_id_next.max(row_id + 1);
                    }
                    self.projections
                        .table_mut(*table)
                        .insert(key.clone(), op, row.clone());
                }
                Mutation::Update {
                    table, key, row, ..
                } => {
                    let rows = self.projections.table_mut(*table);
                    rows.delete(key, op);
                    rows.insert(key.clone(), op, row.clone());
                }
                Mutation::Delete { table, key, .. } => {
                    self.projections.table_mut(*table).delete(key, op);
                }
            }
        }
        for id in reindex {
            if let Some(table) = catalog.table_by_id(id) {
                self.indexes
                    .rebuild_table(table, self.projections.table(id));
                self.version_indexes
                    .rebuild_table(&catalog, table, self.projections.table(id));
            }
        }
        self.applied_op = op;
        Ok(())
    }

    /// Carries the cluster-wide changes of a command of `database` to every
    /// other database's catalog, starts the catalogs of databases it
    /// creates and removes (with their rows) those it drops.
    fn apply_cluster_wide(&mut self, op: Op, database: DatabaseId, changes: &[CatalogChange]) {
        let shared: Vec<&CatalogChange> = changes.iter().filter(|c| c.is_cluster_wide()).collect();
        if shared.is_empty() {
            return;
        }
        for (id, history) in self.catalogs.iter_mut() {
            if *id == database {
                continue;
            }
            let mut catalog = (*history.latest()).clone();
            for change in &shared {
                catalog
                    .apply(change)
                    .expect("the cluster-wide parts of every catalog agree");
            }
            history.push(op, catalog);
        }
        let origin = self.latest_catalog(database);
        for change in shared {
            match change {
                CatalogChange::CreateDatabase(def) => {
                    self.catalogs.insert(
                        def.id,
                        CatalogHistory::starting_with(op, origin.cluster_part(&def.name)),
                    );
                }
                CatalogChange::DropDatabase { id } => {
                    if let Some(history) = self.catalogs.remove(id) {
                        for table in history.latest().tables() {
                            self.projections.drop_table(table.id);
                            self.indexes.drop_table(table.id);
                            self.version_indexes.drop_table(table.id);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The state as snapshot bytes.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("kernel state always serializes")
    }

    /// State from snapshot bytes.
    pub fn decode(bytes: &[u8]) -> EngineResult<KernelState> {
        let state: KernelState = postcard::from_bytes(bytes)
            .map_err(|e| EngineError::Corrupted(format!("undecodable snapshot: {e}")))?;
        if !state.catalogs.contains_key(&DEFAULT_DATABASE_ID)
            || state.catalogs.values().any(|h| h.versions.is_empty())
        {
            return Err(EngineError::Corrupted("snapshot without a catalog".into()));
        }
        let mut state = state;
        let catalogs: Vec<Arc<Catalog>> = state
            .latest_catalogs()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        state.indexes = KeyIndexes::rebuild(&catalogs, &state.projections);
        state.version_indexes = VersionIndexes::rebuild(&catalogs, &state.projections);
        Ok(state)
    }

    /// Advances `applied_op` over an op that carries no command (a part of
    /// a spanning command).
    pub fn skip(&mut self, op: Op) {
        assert!(op > self.applied_op, "ops apply in increasing order");
        self.applied_op = op;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::{encode_key, Datum};
    use kimberlite_catalog::{ColumnDef, SqlType, TableDef};

    fn create() -> Command {
        Command::Transaction(TxnCommand {
            catalog: vec![CatalogChange::CreateTable(TableDef {
                id: 1,
                name: "t".into(),
                columns: vec![ColumnDef {
                    name: "id".into(),
                    sql_type: SqlType::Int4,
                    nullable: false,
                    default_sql: None,
                    identity: None,
                }],
                primary_key: vec![0],
                primary_key_name: None,
                constraints: vec![],
            })],
            mutations: vec![],
            sequences: vec![],
        })
    }

    fn insert(v: i32) -> Command {
        Command::Transaction(TxnCommand {
            catalog: vec![],
            mutations: vec![Mutation::Insert {
                table: 1,
                key: encode_key([&Datum::Int4(v)]),
                row: vec![Datum::Int4(v)],
            }],
            sequences: vec![],
        })
    }

    #[test]
    fn duplicate_insert_fails_and_changes_nothing() {
        let mut state = KernelState::default();
        state.apply(1, DEFAULT_DATABASE_ID, &create()).unwrap();
        state.apply(2, DEFAULT_DATABASE_ID, &insert(1)).unwrap();
        let error = state.apply(3, DEFAULT_DATABASE_ID, &insert(1)).unwrap_err();
        assert_eq!(error.sqlstate(), "23505");
        assert_eq!(state.applied_op, 2);
    }

    #[test]
    fn apply_refuses_a_second_row_with_a_unique_value() {
        use kimberlite_catalog::{Constraint, ConstraintKind};
        let Command::Transaction(mut txn) = create();
        let CatalogChange::CreateTable(def) = &mut txn.catalog[0] else {
            unreachable!()
        };
        def.columns.push(ColumnDef {
            name: "u".into(),
            sql_type: SqlType::Int4,
            nullable: true,
            default_sql: None,
            identity: None,
        });
        def.constraints.push(Constraint {
            name: "t_u_key".into(),
            kind: ConstraintKind::Unique { columns: vec![1] },
        });
        let mut state = KernelState::default();
        state
            .apply(1, DEFAULT_DATABASE_ID, &Command::Transaction(txn))
            .unwrap();
        let insert = |id: i32, u: Datum| {
            Command::Transaction(TxnCommand {
                mutations: vec![Mutation::Insert {
                    table: 1,
                    key: encode_key([&Datum::Int4(id)]),
                    row: vec![Datum::Int4(id), u],
                }],
                ..Default::default()
            })
        };
        state
            .apply(2, DEFAULT_DATABASE_ID, &insert(1, Datum::Int4(5)))
            .unwrap();
        let error = state
            .apply(3, DEFAULT_DATABASE_ID, &insert(2, Datum::Int4(5)))
            .unwrap_err();
        assert_eq!(error.sqlstate(), "23505");
        // NULLs are distinct; the index survives a snapshot round trip.
        state
            .apply(3, DEFAULT_DATABASE_ID, &insert(3, Datum::Null))
            .unwrap();
        state
            .apply(4, DEFAULT_DATABASE_ID, &insert(4, Datum::Null))
            .unwrap();
        let mut restored = KernelState::decode(&state.encode()).unwrap();
        let error = restored
            .apply(5, DEFAULT_DATABASE_ID, &insert(5, Datum::Int4(5)))
            .unwrap_err();
        assert_eq!(error.sqlstate(), "23505");
    }

    #[test]
    fn update_of_a_stale_version_is_a_serialization_failure() {
        let mut state = KernelState::default();
        state.apply(1, DEFAULT_DATABASE_ID, &create()).unwrap();
        state.apply(2, DEFAULT_DATABASE_ID, &insert(1)).unwrap();
        let key = encode_key([&Datum::Int4(1)]);
        let update = |base_op| {
            Command::Transaction(TxnCommand {
                catalog: vec![],
                mutations: vec![Mutation::Update {
                    table: 1,
                    key: key.clone(),
                    row: vec![Datum::Int4(1)],
                    base_op,
                }],
                sequences: vec![],
            })
        };
        state.apply(3, DEFAULT_DATABASE_ID, &update(2)).unwrap();
        assert_eq!(
            state
                .apply(4, DEFAULT_DATABASE_ID, &update(2))
                .unwrap_err()
                .sqlstate(),
            "40001"
        );
    }

    #[test]
    fn state_round_trips_through_snapshot_bytes_deterministically() {
        let mut state = KernelState::default();
        state.apply(1, DEFAULT_DATABASE_ID, &create()).unwrap();
        for v in 0..20 {
            state
                .apply(2 + v as u64, DEFAULT_DATABASE_ID, &insert(v))
                .unwrap();
        }
        let bytes = state.encode();
        let restored = KernelState::decode(&bytes).unwrap();
        assert_eq!(restored.encode(), bytes);
        assert_eq!(restored.applied_op, 21);
        assert_eq!(restored.projections.table(1).unwrap().key_count(), 20);
        assert!(KernelState::decode(&bytes[..bytes.len() / 2]).is_err());
    }

    #[test]
    fn databases_have_their_own_catalogs_and_share_roles() {
        use kimberlite_catalog::{DatabaseDef, RoleDef};
        let mut state = KernelState::default();
        let catalog_only = |change| {
            Command::Transaction(TxnCommand {
                catalog: vec![change],
                ..Default::default()
            })
        };
        let shop = DatabaseDef {
            id: 2,
            name: "shop".into(),
            owner: "kimberlite".into(),
        };
        state
            .apply(
                1,
                DEFAULT_DATABASE_ID,
                &catalog_only(CatalogChange::CreateDatabase(shop)),
            )
            .unwrap();
        // The same name can be in two databases, the same id cannot.
        state.apply(2, 2, &create()).unwrap();
        assert_eq!(
            state
                .apply(3, DEFAULT_DATABASE_ID, &create())
                .unwrap_err()
                .sqlstate(),
            "0A000"
        );
        assert!(state.latest_catalog(2).table("t").is_some());
        assert!(state
            .latest_catalog(DEFAULT_DATABASE_ID)
            .table("t")
            .is_none());
        assert_eq!(
            state
                .apply(3, DEFAULT_DATABASE_ID, &insert(1))
                .unwrap_err()
                .sqlstate(),
            "42P01"
        );
        state.apply(3, 2, &insert(1)).unwrap();
        // A role created in one database exists in every one.
        let role = RoleDef {
            name: "alice".into(),
            superuser: false,
            login: true,
            scram_verifier: None,
        };
        state
            .apply(4, 2, &catalog_only(CatalogChange::CreateRole(role)))
            .unwrap();
        assert!(state
            .latest_catalog(DEFAULT_DATABASE_ID)
            .role("alice")
            .is_some());
        assert_eq!(
            state.latest_catalog(2).databases(),
            state.latest_catalog(DEFAULT_DATABASE_ID).databases()
        );
        // A snapshot keeps every database; dropping one drops its rows.
        let mut state = KernelState::decode(&state.encode()).unwrap();
        assert_eq!(state.projections.table(1).unwrap().key_count(), 1);
        state
            .apply(
                5,
                DEFAULT_DATABASE_ID,
                &catalog_only(CatalogChange::DropDatabase { id: 2 }),
            )
            .unwrap();
        assert!(state.projections.table(1).is_none());
        assert_eq!(
            state.apply(6, 2, &insert(2)).unwrap_err().sqlstate(),
            "3D000"
        );
        assert_eq!(
            state.latest_catalog(DEFAULT_DATABASE_ID).databases().len(),
            1
        );
    }

    #[test]
    fn commands_round_trip_through_bytes() {
        let command = insert(5);
        assert_eq!(Command::decode(&command.encode()).unwrap(), command);
        assert!(Command::decode(&[0xFF, 0xFF, 0xFF]).is_err());
    }
}
