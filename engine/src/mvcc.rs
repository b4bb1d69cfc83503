//! # MVCC projections
//!
//! A table's projection is a map from primary key to that key's versions,
//! oldest first. Each version is stamped with the op that created it and the
//! op that deleted (or replaced) it:
//!
//! ```text
//!   key 7: [ v(created 12, deleted 30) , v(created 30, deleted ∞) ]
//!           visible to snapshots 12..29   visible to snapshots ≥ 30
//! ```
//!
//! A reader picks a snapshot op once and sees exactly the versions with
//! `created_op <= snapshot < deleted_op`: one consistent instant, however
//! long it reads, while writers keep appending newer versions. Readers never
//! block writers for longer than it takes to copy one chunk of rows.
//!
//! Left out for now: pruning versions no snapshot can see (a later change
//! bounds memory with snapshots written at checkpoints).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use kimberlite_catalog::TableId;
use kimberlite_consensus::Op;
use serde::{Deserialize, Serialize};

use crate::datum::Row;

/// `deleted_op` of a version nobody has deleted.
pub const LIVE: Op = Op::MAX;

/// One version of one row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub created_op: Op,
    pub deleted_op: Op,
    pub row: Arc<Row>,
}

impl Version {
    pub fn visible_at(&self, snapshot: Op) -> bool {
        self.created_op <= snapshot && snapshot < self.deleted_op
    }
}

/// All versions of a table's rows.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TableRows {
    versions: BTreeMap<Vec<u8>, Vec<Version>>,
}

impl TableRows {
    /// The version of `key` visible at `snapshot`.
    pub fn get(&self, key: &[u8], snapshot: Op) -> Option<&Version> {
        self.versions
            .get(key)?
            .iter()
            .rev()
            .find(|v| v.visible_at(snapshot))
    }

    /// The newest live version of `key`, committed or not yet durable.
    pub fn latest(&self, key: &[u8]) -> Option<&Version> {
        self.versions
            .get(key)?
            .last()
            .filter(|v| v.deleted_op == LIVE)
    }

    /// Every key's newest live version: what constraint indexes cover.
    pub fn latest_rows(&self) -> impl Iterator<Item = (&Vec<u8>, &Arc<Row>)> {
        self.versions.iter().filter_map(|(key, versions)| {
            versions
                .last()
                .filter(|v| v.deleted_op == LIVE)
                .map(|v| (key, &v.row))
        })
    }

    /// Copies up to `limit` visible rows with keys after `after` (exclusive)
    /// into `out`, returning the last key copied.
    pub fn scan_chunk(
        &self,
        after: Option<&[u8]>,
        snapshot: Op,
        limit: usize,
        out: &mut Vec<(Vec<u8>, Op, Arc<Row>)>,
    ) -> Option<Vec<u8>> {
        let start = match after {
            Some(key) => Bound::Excluded(key.to_vec()),
            None => Bound::Unbounded,
        };
        let mut last = None;
        for (key, versions) in self.versions.range((start, Bound::Unbounded)) {
            if out.len() >= limit {
                break;
            }
            last = Some(key.clone());
            if let Some(v) = versions.iter().rev().find(|v| v.visible_at(snapshot)) {
                out.push((key.clone(), v.created_op, v.row.clone()));
            }
        }
        last
    }

    /// Adds a new live version. Asserts the key has no live version.
    pub fn insert(&mut self, key: Vec<u8>, op: Op, row: Row) {
        let versions = self.versions.entry(key).or_default();
        assert!(
            versions.last().is_none_or(|v| v.deleted_op != LIVE),
            "insert over a live version"
        );
        versions.push(Version {
            created_op: op,
            deleted_op: LIVE,
            row: Arc::new(row),
        });
    }

    /// Ends the live version of `key` at `op`. Asserts there is one.
    pub fn delete(&mut self, key: &[u8], op: Op) {
        let version = self
            .versions
            .get_mut(key)
            .and_then(|v| v.last_mut())
            .filter(|v| v.deleted_op == LIVE)
            .expect("delete of a key without a live version");
        assert!(
            version.created_op <= op,
            "versions must be stamped in op order"
        );
        version.deleted_op = op;
    }

    /// Every version of every key (an index build covers them all).
    pub fn all_versions(&self) -> impl Iterator<Item = (&Vec<u8>, &Version)> {
        self.versions
            .iter()
            .flat_map(|(key, versions)| versions.iter().map(move |v| (key, v)))
    }

    /// Visible rows with keys from `start` on while `within(key)`, in key
    /// order, at most `limit` of them (a primary-key range scan); returns
    /// the last key read, `None` when the range is exhausted.
    pub fn range_visible(
        &self,
        start: Bound<Vec<u8>>,
        snapshot: Op,
        limit: usize,
        within: impl Fn(&[u8]) -> bool,
        out: &mut Vec<(Vec<u8>, Op, Arc<Row>)>,
    ) -> Option<Vec<u8>> {
        let mut last = None;
        for (read, (key, versions)) in self.versions.range((start, Bound::Unbounded)).enumerate() {
            if !within(key) {
                return None;
            }
            if read >= limit {
                return last;
            }
            last = Some(key.clone());
            if let Some(v) = versions.iter().rev().find(|v| v.visible_at(snapshot)) {
                out.push((key.clone(), v.created_op, v.row.clone()));
            }
        }
        None
    }

    /// Number of keys (any version).
    pub fn key_count(&self) -> usize {
        self.versions.len()
    }

    /// Largest row-id key, for tables keyed by hidden row ids.
    pub fn last_key(&self) -> Option<&Vec<u8>> {
        self.versions.keys().next_back()
    }
}

/// Every table's projection. Ordered maps throughout, so a snapshot of
/// the same state is the same bytes on every node.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Projections {
    tables: BTreeMap<TableId, TableRows>,
}

impl Projections {
    pub fn table(&self, id: TableId) -> Option<&TableRows> {
        self.tables.get(&id)
    }

    pub fn table_mut(&mut self, id: TableId) -> &mut TableRows {
        self.tables.entry(id).or_default()
    }

    pub fn drop_table(&mut self, id: TableId) {
        // Old snapshots could still want the rows; with no time travel yet
        // nobody can plan a dropped table, so the rows go now.
        self.tables.remove(&id);
    }

    pub fn tables(&self) -> impl Iterator<Item = (&TableId, &TableRows)> {
        self.tables.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::Datum;

    #[test]
    fn snapshot_sees_the_version_of_its_op() {
        let mut t = TableRows::default();
        t.insert(b"k".to_vec(), 5, vec![Datum::Int4(1)]);
        t.delete(b"k", 9);
        t.insert(b"k".to_vec(), 9, vec![Datum::Int4(2)]);
        assert!(t.get(b"k", 4).is_none());
        assert_eq!(*t.get(b"k", 5).unwrap().row, vec![Datum::Int4(1)]);
        assert_eq!(*t.get(b"k", 9).unwrap().row, vec![Datum::Int4(2)]);
        t.delete(b"k", 12);
        assert!(t.get(b"k", 12).is_none());
        assert!(t.latest(b"k").is_none());
    }

    #[test]
    fn scan_chunks_resume_after_the_last_key() {
        let mut t = TableRows::default();
        for i in 0..5u8 {
            t.insert(vec![i], 1, vec![Datum::Int4(i as i32)]);
        }
        let mut out = Vec::new();
        let last = t.scan_chunk(None, 1, 2, &mut out);
        assert_eq!(out.len(), 2);
        out.clear();
        t.scan_chunk(last.as_deref(), 1, 10, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].0, vec![2]);
    }
}
