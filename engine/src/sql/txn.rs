//! A transaction's private state: its own writes and its own DDL.
//!
//! Nothing here is visible to other sessions. At COMMIT the overlay becomes
//! one [`TxnCommand`]: catalog changes in the order
//! they were made, then one mutation per row the transaction changed, each
//! naming the version it read (`base`) so the kernel can tell whether
//! someone else committed a change to that row first.

use std::collections::BTreeMap;
use std::sync::Arc;

use kimberlite_catalog::{Catalog, CatalogChange, TableDef, TableId};
use kimberlite_consensus::Op;

use crate::constraints::{Change, KeyIndexes, Layer};
use crate::datum::Row;
use crate::kernel::{Mutation, TxnCommand};

/// Which committed version a write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The key had no live committed version when the transaction wrote it.
    New,
    /// The committed version created at this op.
    Existing(Op),
}

impl Base {
    /// The hidden `__kimberlite_base` column's value: -1 for `New`.
    pub fn to_i64(self) -> i64 {
        match self {
            Base::New => -1,
            Base::Existing(op) => op as i64,
        }
    }

    pub fn from_i64(value: i64) -> Base {
        if value < 0 {
            Base::New
        } else {
            Base::Existing(value as Op)
        }
    }
}

/// A row the transaction wrote: the new row (`None` when deleted) and the
/// committed version it replaces.
#[derive(Debug, Clone)]
pub struct OverlayEntry {
    pub row: Option<Arc<Row>>,
    pub base: Base,
}

/// One table's overlay, shared copy-on-write with the scans reading it.
pub type TableOverlay = Arc<BTreeMap<Vec<u8>, OverlayEntry>>;

/// An open transaction.
#[derive(Debug, Default)]
pub struct Txn {
    /// `BEGIN` was issued (otherwise the statement autocommits).
    pub explicit: bool,
    /// An error occurred; only ROLLBACK is accepted.
    pub failed: bool,
    /// The catalog with this transaction's DDL applied, if it did any.
    pub catalog: Option<Arc<Catalog>>,
    pub catalog_changes: Vec<CatalogChange>,
    pub writes: BTreeMap<TableId, TableOverlay>,
    /// Estimated bytes written so far (keys and rows, counting rewrites):
    /// bounds the overlay long before COMMIT encodes it.
    pub bytes_written: usize,
    /// REPEATABLE READ: the snapshot the block's first query fixed; every
    /// later statement reads it. `None` under READ COMMITTED (a fresh
    /// snapshot per statement) and before the first query.
    pub snapshot: Option<Op>,
    /// A query or DML ran in the block (the isolation level is then fixed).
    pub queried: bool,
    /// The row locks this transaction holds; released when it is dropped.
    pub locks: Option<crate::locks::TxnLocks>,
    /// UNIQUE and foreign-key indexes over the overlay's rows (the
    /// committed rows' are the kernel's).
    pub indexes: Arc<KeyIndexes>,
    /// Rows the running statement changed in constrained tables, for the
    /// checks at its end.
    pub changes: Vec<Change>,
}

/// What a savepoint restores: the transaction's writes and DDL as they
/// were (overlays are shared copy-on-write, so a mark is cheap).
#[derive(Debug, Clone)]
pub struct TxnMark {
    catalog: Option<Arc<Catalog>>,
    catalog_changes: Vec<CatalogChange>,
    writes: BTreeMap<TableId, TableOverlay>,
    indexes: Arc<KeyIndexes>,
    bytes_written: usize,
}

impl Txn {
    /// The state a savepoint returns to.
    pub fn mark(&self) -> TxnMark {
        TxnMark {
            catalog: self.catalog.clone(),
            catalog_changes: self.catalog_changes.clone(),
            writes: self.writes.clone(),
            indexes: self.indexes.clone(),
            bytes_written: self.bytes_written,
        }
    }

    /// Forgets everything done since `mark` (ROLLBACK TO SAVEPOINT).
    pub fn restore(&mut self, mark: TxnMark) {
        self.catalog = mark.catalog;
        self.catalog_changes = mark.catalog_changes;
        self.writes = mark.writes;
        self.indexes = mark.indexes;
        self.changes.clear();
        self.bytes_written = mark.bytes_written;
        self.failed = false;
    }

    pub fn new(explicit: bool) -> Txn {
        Txn {
            explicit,
            ..Default::default()
        }
    }

    /// Records a DDL change and the catalog it produces.
    pub fn add_catalog_change(&mut self, change: CatalogChange, catalog: Catalog) {
        if let CatalogChange::DropTable { id } = &change {
            self.writes.remove(id);
        }
        self.catalog_changes.push(change);
        self.catalog = Some(Arc::new(catalog));
    }

    /// Records a write of `key`. The first write of a key fixes its base.
    pub fn write(&mut self, table: &TableDef, key: Vec<u8>, row: Option<Row>, base: Base) {
        self.bytes_written += key.len() + row.as_ref().map_or(0, row_bytes);
        let overlay = Arc::make_mut(self.writes.entry(table.id).or_default());
        let previous = overlay.get(&key);
        let base = previous.map(|e| e.base).unwrap_or(base);
        if !table.constraints.is_empty() {
            let old = previous.and_then(|e| e.row.clone());
            Arc::make_mut(&mut self.indexes).update(table, &key, old.as_deref(), row.as_ref());
        }
        overlay.insert(
            key,
            OverlayEntry {
                row: row.map(Arc::new),
                base,
            },
        );
    }

    /// Indexes the overlay's rows of `table` afresh under its (new)
    /// definition, after ALTER TABLE wrote every row again.
    pub fn reindex(&mut self, table: &TableDef) {
        let indexes = Arc::make_mut(&mut self.indexes);
        indexes.drop_table(table.id);
        if let Some(overlay) = self.writes.get(&table.id) {
            for (key, entry) in overlay.iter() {
                if let Some(row) = &entry.row {
                    indexes.update(table, key, None, Some(row));
                }
            }
        }
    }

    /// The overlay of one table, for a scan.
    pub fn overlay(&self, table: TableId) -> Option<TableOverlay> {
        self.writes.get(&table).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.catalog_changes.is_empty() && self.writes.values().all(|w| w.is_empty())
    }

    /// The command this transaction commits.
    pub fn to_command(&self) -> TxnCommand {
        let mut mutations = Vec::new();
        for (&table, overlay) in &self.writes {
            for (key, entry) in overlay.iter() {
                let key = key.clone();
                match (&entry.row, entry.base) {
                    (Some(row), Base::New) => mutations.push(Mutation::Insert {
                        table,
                        key,
                        row: (**row).clone(),
                    }),
                    (Some(row), Base::Existing(base_op)) => mutations.push(Mutation::Update {
                        table,
                        key,
                        row: (**row).clone(),
                        base_op,
                    }),
                    (None, Base::Existing(base_op)) => mutations.push(Mutation::Delete {
                        table,
                        key,
                        base_op,
                    }),
                    (None, Base::New) => {}
                }
            }
        }
        TxnCommand {
            catalog: self.catalog_changes.clone(),
            mutations,
            sequences: Vec::new(),
        }
    }
}

impl Layer for Txn {
    fn row(&self, table: TableId, key: &[u8]) -> Option<Option<&Row>> {
        self.writes
            .get(&table)
            .and_then(|o| o.get(key))
            .map(|e| e.row.as_deref())
    }

    fn candidates(&self, table: TableId, columns: &[usize], ik: &[u8]) -> Vec<Vec<u8>> {
        self.indexes.candidates(table, columns, ik)
    }
}

/// Roughly what a row costs in memory and in the log.
fn row_bytes(row: &Row) -> usize {
    row.iter().map(datum_bytes).sum()
}

fn datum_bytes(datum: &crate::datum::Datum) -> usize {
    match datum {
        crate::datum::Datum::Text(text) => 8 + text.len(),
        crate::datum::Datum::Bytes(bytes) => 8 + bytes.len(),
        crate::datum::Datum::Array(items) => 8 + items.iter().map(datum_bytes).sum::<usize>(),
        _ => 16,
    }
}
