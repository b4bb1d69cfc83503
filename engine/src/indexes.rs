//! # Secondary indexes over every row version
//!
//! `CREATE INDEX` and UNIQUE constraints give a table ordered indexes that
//! the table provider uses for `=`, `IN`, ranges, prefixes of
//! multi-column indexes and `ORDER BY … LIMIT`. Like the projections they
//! are derived state: built from the rows when the index is created or a
//! snapshot loads, kept up to date by apply, never logged.
//!
//! An index holds an (index key, row key) entry for **every version** a
//! table has ever had, not only the newest. That is what makes a lookup
//! agree with MVCC: a reader at any snapshot finds every key that has a
//! version it can see with those values; it then fetches the version
//! visible at its snapshot and keeps it only if that version's values are
//! the entry's ([`crate::sql::provider`] does this, and DataFusion
//! re-applies the filter). An index lookup therefore never returns a
//! version the snapshot cannot see and never misses one it can. Entries
//! are never removed while their versions exist (versions are not pruned
//! yet), so entries only accumulate; updates that change indexed values
//! add one entry each.
//!
//! Index keys are memcomparable like primary keys, with a tag per column
//! so NULLs can be indexed (they sort after every value, PostgreSQL's
//! default NULLS LAST): a prefix of whole columns is a byte prefix.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use kimberlite_catalog::{Catalog, TableDef, TableId};

use crate::datum::{encode_key, Datum, Row};
use crate::mvcc::{Projections, TableRows};

/// Tag before a non-NULL column value in an index key.
pub const VALUE_TAG: u8 = 0x01;
/// Tag standing for a NULL column value (sorts after every value).
pub const NULL_TAG: u8 = 0x02;

/// The encoded, tagged index key of `values`.
pub fn encode_index_key<'a>(values: impl IntoIterator<Item = &'a Datum>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    for value in values {
        encode_index_part(value, &mut out);
    }
    out
}

/// Appends one tagged column value.
pub fn encode_index_part(value: &Datum, out: &mut Vec<u8>) {
    if value.is_null() {
        out.push(NULL_TAG);
    } else {
        out.push(VALUE_TAG);
        out.extend_from_slice(&encode_key([value]));
    }
}

/// The column lists of `table` that get an index: each `CREATE INDEX`
/// and each UNIQUE constraint (the primary key is the row key itself).
pub fn indexed_lists(catalog: &Catalog, table: &TableDef) -> Vec<Vec<usize>> {
    let mut lists: Vec<Vec<usize>> = Vec::new();
    let uniques = table
        .unique_keys()
        .filter(|(_, columns)| *columns != table.primary_key.as_slice())
        .map(|(_, columns)| columns.to_vec());
    let created = catalog
        .table_indexes(table.id)
        .map(|index| index.column_positions());
    for columns in uniques.chain(created) {
        if !lists.contains(&columns) {
            lists.push(columns);
        }
    }
    lists
}

/// One index: ordered (index key, row key) pairs.
pub type VersionIndex = BTreeSet<(Vec<u8>, Vec<u8>)>;

/// Every secondary index, by (table, column list).
#[derive(Debug, Default)]
pub struct VersionIndexes {
    indexes: HashMap<(TableId, Vec<usize>), VersionIndex>,
}

/// Whether `row` has `table`'s layout (versions written before an ALTER
/// that changed it do not, and are not indexed: readers that can see them
/// plan with the old definition and do not use these indexes).
fn has_layout(table: &TableDef, row: &Row) -> bool {
    row.len() == table.columns.len()
        && row
            .iter()
            .zip(&table.columns)
            .all(|(d, c)| d.fits(c.sql_type))
}

impl VersionIndexes {
    /// Adds the entries of a new version of `key`.
    pub fn add(&mut self, lists: &[Vec<usize>], table: &TableDef, key: &[u8], row: &Row) {
        if lists.is_empty() || !has_layout(table, row) {
            return;
        }
        for columns in lists {
            let ik = encode_index_key(columns.iter().map(|&c| &row[c]));
            self.indexes
                .entry((table.id, columns.clone()))
                .or_default()
                .insert((ik, key.to_vec()));
        }
    }

    /// Indexes every version of `table` afresh (an index was created, the
    /// definition changed, or a snapshot loaded).
    pub fn rebuild_table(&mut self, catalog: &Catalog, table: &TableDef, rows: Option<&TableRows>) {
        self.drop_table(table.id);
        let lists = indexed_lists(catalog, table);
        for columns in &lists {
            self.indexes
                .insert((table.id, columns.clone()), VersionIndex::new());
        }
        if let Some(rows) = rows {
            for (key, version) in rows.all_versions() {
                self.add(&lists, table, key, &version.row);
            }
        }
    }

    pub fn drop_table(&mut self, table: TableId) {
        self.indexes.retain(|(t, _), _| *t != table);
    }

    /// Indexes every table of the catalogs (one per database).
    pub fn rebuild(catalogs: &[Arc<Catalog>], projections: &Projections) -> VersionIndexes {
        let mut indexes = VersionIndexes::default();
        for catalog in catalogs {
            for table in catalog.tables() {
                indexes.rebuild_table(catalog, table, projections.table(table.id));
            }
        }
        indexes
    }

    /// The index on exactly these columns of `table`, if one is built.
    pub fn index(&self, table: TableId, columns: &[usize]) -> Option<&VersionIndex> {
        self.indexes.get(&(table, columns.to_vec()))
    }
}

/// Entries of `index` whose key starts with `prefix` and whose remainder
/// lies within `lower..upper` (each bound an encoded, tagged part of the
/// next column; both inclusive, the caller's filter tightens them).
pub fn scan_range<'a>(
    index: &'a VersionIndex,
    prefix: &'a [u8],
    lower: Option<&'a [u8]>,
    upper: Option<&'a [u8]>,
) -> impl Iterator<Item = &'a (Vec<u8>, Vec<u8>)> + 'a {
    scan_range_after(index, prefix, lower, upper, None)
}

/// [`scan_range`], resuming after the entry `after` (an ordered scan
/// reads the index in chunks).
pub fn scan_range_after<'a>(
    index: &'a VersionIndex,
    prefix: &'a [u8],
    lower: Option<&'a [u8]>,
    upper: Option<&'a [u8]>,
    after: Option<(Vec<u8>, Vec<u8>)>,
) -> impl Iterator<Item = &'a (Vec<u8>, Vec<u8>)> + 'a {
    let start = match after {
        Some(entry) => Bound::Excluded(entry),
        None => {
            let mut start = prefix.to_vec();
            match lower {
                Some(lower) => start.extend_from_slice(lower),
                // Values of the next column (not its NULLs) when a bound is
                // given.
                None if upper.is_some() => start.push(VALUE_TAG),
                None => {}
            }
            Bound::Included((start, Vec::new()))
        }
    };
    index
        .range((start, Bound::Unbounded))
        .take_while(move |(ik, _)| {
            if !ik.starts_with(prefix) {
                return false;
            }
            let rest = &ik[prefix.len()..];
            match upper {
                Some(upper) => rest <= upper || rest.starts_with(upper),
                // A lower bound alone: values only, NULLs come last.
                None if lower.is_some() => rest.first() == Some(&VALUE_TAG),
                None => true,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(values: &[(Datum, Datum, u8)]) -> VersionIndex {
        values
            .iter()
            .map(|(a, b, k)| (encode_index_key([a, b]), vec![*k]))
            .collect()
    }

    #[test]
    fn prefix_and_range_scans_find_exactly_their_entries() {
        let index = index_of(&[
            (Datum::Int4(1), Datum::Int4(5), 1),
            (Datum::Int4(1), Datum::Null, 2),
            (Datum::Int4(2), Datum::Int4(1), 3),
            (Datum::Int4(2), Datum::Int4(9), 4),
            (Datum::Null, Datum::Int4(9), 5),
        ]);
        let keys = |prefix: Vec<u8>, lower: Option<Vec<u8>>, upper: Option<Vec<u8>>| {
            scan_range(&index, &prefix, lower.as_deref(), upper.as_deref())
                .map(|(_, k)| k[0])
                .collect::<Vec<_>>()
        };
        let part = |d: Datum| encode_index_key([&d]);
        // a = 1: both rows, the NULL b included.
        assert_eq!(keys(part(Datum::Int4(1)), None, None), vec![1, 2]);
        // a = 2 AND b <= 5.
        assert_eq!(
            keys(part(Datum::Int4(2)), None, Some(part(Datum::Int4(5)))),
            vec![3]
        );
        // a >= 2 (no NULL a).
        assert_eq!(
            keys(Vec::new(), Some(part(Datum::Int4(2))), None),
            vec![3, 4]
        );
        // a <= 1 includes every b of a = 1.
        assert_eq!(
            keys(Vec::new(), None, Some(part(Datum::Int4(1)))),
            vec![1, 2]
        );
    }
}
