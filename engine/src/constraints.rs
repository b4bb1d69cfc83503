//! # UNIQUE and FOREIGN KEY checks over a final state
//!
//! Whether a write keeps UNIQUE and FOREIGN KEY constraints depends on rows
//! other than the one written, so it is checked against the state the
//! writes would leave: the newest committed rows with a layer of new writes
//! on top. The same check runs twice with different layers:
//!
//! ```text
//!   statement end (session):  committed latest ⊕ the transaction's overlay
//!   apply (kernel):           committed latest ⊕ the command's mutations
//! ```
//!
//! The first gives the client its 23505/23503 from the statement that broke
//! the rule; the second is the deterministic backstop that stops two
//! transactions which were each fine alone (two inserts of one UNIQUE value,
//! a child inserted while its parent is deleted) from committing together.
//!
//! Finding "the rows with these values" needs an index: [`KeyIndexes`]
//! maps (table, columns, values) to row keys over the newest live versions.
//! The kernel keeps one for committed rows (derived state, rebuilt after a
//! snapshot loads), a transaction keeps one for its overlay. A candidate a
//! lower layer returns is always re-read through the upper layer, so a row
//! the overlay changed or deleted is never taken for its committed version.
//!
//! Left out: DEFERRABLE constraints (every check is at statement end),
//! MATCH FULL foreign keys, exclusion constraints (23P01).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use kimberlite_catalog::{Catalog, SqlType, TableDef, TableId};

use crate::datum::{encode_key, Datum, Row};
use crate::error::{EngineError, EngineResult};
use crate::mvcc::{Projections, TableRows};

/// Column lists a table keeps an index on: its UNIQUE constraints (the
/// primary key needs none: it is the row key) and its foreign keys'
/// referencing columns.
pub fn indexed_columns(table: &TableDef) -> Vec<Vec<usize>> {
    let mut lists: Vec<Vec<usize>> = Vec::new();
    let uniques = table
        .unique_keys()
        .filter(|(_, columns)| *columns != table.primary_key.as_slice())
        .map(|(_, columns)| columns.to_vec());
    let fks = table.foreign_keys().map(|(_, fk)| fk.columns.clone());
    for columns in uniques.chain(fks) {
        if !lists.contains(&columns) {
            lists.push(columns);
        }
    }
    lists
}

/// The index key of `row`'s `columns`, converted to `types` (a foreign
/// key's integer columns may be narrower than the key they reference);
/// `None` when any is NULL: such a row is in no index (NULLs are distinct
/// and reference nothing).
pub fn index_key(row: &Row, columns: &[usize], types: &[SqlType]) -> Option<Vec<u8>> {
    let values: Vec<Datum> = columns
        .iter()
        .zip(types)
        .map(|(&c, &t)| widen(row.get(c)?, t))
        .collect::<Option<_>>()?;
    Some(encode_key(&values))
}

/// `value` as a value of `target`'s integer width (for writing a
/// referenced key into a referencing column).
pub fn convert_value(value: &Datum, target: SqlType) -> Datum {
    widen(value, target).unwrap_or(Datum::Null)
}

/// `value` as a value of `target` (integers widen or narrow exactly);
/// `None` for NULL.
fn widen(value: &Datum, target: SqlType) -> Option<Datum> {
    let int = match value {
        Datum::Null => return None,
        Datum::Int2(v) => i64::from(*v),
        Datum::Int4(v) => i64::from(*v),
        Datum::Int8(v) => *v,
        other => return Some(other.clone()),
    };
    // Out of the target's range: keep the value as it is, whose encoding
    // has another width and so matches no key of the target type.
    Some(match target {
        SqlType::Int2 => i16::try_from(int).map_or(value.clone(), Datum::Int2),
        SqlType::Int4 => i32::try_from(int).map_or(value.clone(), Datum::Int4),
        SqlType::Int8 => Datum::Int8(int),
        _ => value.clone(),
    })
}

fn column_types(table: &TableDef, columns: &[usize]) -> Vec<SqlType> {
    columns.iter().map(|&c| table.columns[c].sql_type).collect()
}

/// One index: ordered (index key, row key) pairs.
type KeyIndex = BTreeSet<(Vec<u8>, Vec<u8>)>;

/// (table, columns) → its index.
#[derive(Debug, Default, Clone)]
pub struct KeyIndexes {
    indexes: HashMap<(TableId, Vec<usize>), KeyIndex>,
}

impl KeyIndexes {
    /// Moves `key`'s entries from `old` to `new` in every index of `table`.
    pub fn update(&mut self, table: &TableDef, key: &[u8], old: Option<&Row>, new: Option<&Row>) {
        for columns in indexed_columns(table) {
            let types = column_types(table, &columns);
            let old_key = old.and_then(|r| index_key(r, &columns, &types));
            let new_key = new.and_then(|r| index_key(r, &columns, &types));
            if old_key == new_key && old.is_some() == new.is_some() {
                continue;
            }
            let index = self.indexes.entry((table.id, columns)).or_default();
            if let Some(old_key) = old_key {
                index.remove(&(old_key, key.to_vec()));
            }
            if let Some(new_key) = new_key {
                index.insert((new_key, key.to_vec()));
            }
        }
    }

    /// Row keys whose indexed `columns` had the values `ik` when written.
    pub fn candidates(&self, table: TableId, columns: &[usize], ik: &[u8]) -> Vec<Vec<u8>> {
        let Some(index) = self.indexes.get(&(table, columns.to_vec())) else {
            return Vec::new();
        };
        index
            .range((Bound::Included((ik.to_vec(), Vec::new())), Bound::Unbounded))
            .take_while(|(k, _)| k == ik)
            .map(|(_, row_key)| row_key.clone())
            .collect()
    }

    pub fn drop_table(&mut self, table: TableId) {
        self.indexes.retain(|(t, _), _| *t != table);
    }

    /// Indexes `table`'s rows afresh (after a snapshot load, or when the
    /// table's constraints changed).
    pub fn rebuild_table(&mut self, table: &TableDef, rows: Option<&TableRows>) {
        self.drop_table(table.id);
        if let Some(rows) = rows {
            for (key, row) in rows.latest_rows() {
                self.update(table, key, None, Some(row));
            }
        }
    }

    /// Indexes every table of the catalogs (one per database).
    pub fn rebuild(catalogs: &[Arc<Catalog>], projections: &Projections) -> KeyIndexes {
        let mut indexes = KeyIndexes::default();
        for table in catalogs.iter().flat_map(|c| c.tables()) {
            indexes.rebuild_table(table, projections.table(table.id));
        }
        indexes
    }
}

/// Writes layered over the committed rows: a transaction's overlay or a
/// command's mutations.
pub trait Layer {
    /// `Some(Some(row))` written, `Some(None)` deleted, `None` untouched.
    fn row(&self, table: TableId, key: &[u8]) -> Option<Option<&Row>>;
    /// Row keys the layer wrote with these indexed values.
    fn candidates(&self, table: TableId, columns: &[usize], ik: &[u8]) -> Vec<Vec<u8>>;
}

/// The state a set of writes leaves: `layer` over the committed rows.
pub struct FinalState<'a> {
    pub projections: &'a Projections,
    pub indexes: &'a KeyIndexes,
    pub layer: &'a dyn Layer,
}

impl FinalState<'_> {
    /// The row at `key`, if any.
    pub fn row(&self, table: TableId, key: &[u8]) -> Option<&Row> {
        match self.layer.row(table, key) {
            Some(written) => written,
            None => self
                .projections
                .table(table)
                .and_then(|t| t.latest(key))
                .map(|v| &*v.row),
        }
    }

    /// Keys of the rows whose `columns` (typed `types`) encode to `ik`.
    pub fn find(
        &self,
        table: &TableDef,
        columns: &[usize],
        types: &[SqlType],
        ik: &[u8],
    ) -> Vec<Vec<u8>> {
        if columns == table.primary_key.as_slice() {
            return self
                .row(table.id, ik)
                .map(|_| vec![ik.to_vec()])
                .unwrap_or_default();
        }
        let mut keys: BTreeSet<Vec<u8>> = self
            .indexes
            .candidates(table.id, columns, ik)
            .into_iter()
            .collect();
        keys.extend(self.layer.candidates(table.id, columns, ik));
        keys.into_iter()
            .filter(|key| {
                self.row(table.id, key)
                    .and_then(|row| index_key(row, columns, types))
                    .is_some_and(|k| k == ik)
            })
            .collect()
    }
}

/// One row a statement or command changed: what was there, what is now,
/// each with its row key (an UPDATE of the primary key moves the row).
#[derive(Debug, Clone)]
pub struct Change {
    pub table: TableId,
    pub old: Option<(Vec<u8>, Row)>,
    pub new: Option<(Vec<u8>, Row)>,
}

/// Checks UNIQUE and FOREIGN KEY constraints for `changes` against the
/// final state: new values are unique, new references point at a row,
/// and no row still references a key that went away.
pub fn check_changes(
    state: &FinalState,
    catalog: &Catalog,
    changes: &[Change],
) -> EngineResult<()> {
    for change in changes {
        let Some(table) = catalog.table_by_id(change.table) else {
            continue;
        };
        if let Some((key, new)) = &change.new {
            check_unique(state, table, key, new)?;
            check_references(state, catalog, table, new)?;
        }
        if let Some((_, old)) = &change.old {
            check_referenced(state, catalog, table, old)?;
        }
    }
    Ok(())
}

fn check_unique(state: &FinalState, table: &TableDef, key: &[u8], row: &Row) -> EngineResult<()> {
    for (name, columns) in table.unique_keys() {
        if columns == table.primary_key.as_slice() {
            continue; // the row key itself; claimed when written
        }
        let types = column_types(table, columns);
        let Some(ik) = index_key(row, columns, &types) else {
            continue;
        };
        if state
            .find(table, columns, &types, &ik)
            .iter()
            .any(|other| other.as_slice() != key)
        {
            return Err(EngineError::UniqueViolation {
                table: table.name.clone(),
                constraint: name,
                detail: format!("Key {} already exists.", key_text(table, columns, row)),
            });
        }
    }
    Ok(())
}

fn check_references(
    state: &FinalState,
    catalog: &Catalog,
    table: &TableDef,
    row: &Row,
) -> EngineResult<()> {
    for (constraint, fk) in table.foreign_keys() {
        let Some(parent) = catalog.table_by_id(fk.ref_table) else {
            continue;
        };
        let types = column_types(parent, &fk.ref_columns);
        let Some(ik) = index_key(row, &fk.columns, &types) else {
            continue; // MATCH SIMPLE: a NULL references nothing
        };
        if state.find(parent, &fk.ref_columns, &types, &ik).is_empty() {
            return Err(EngineError::ForeignKeyViolation {
                table: table.name.clone(),
                constraint: constraint.name.clone(),
                message: format!(
                    "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                    table.name, constraint.name
                ),
                detail: format!(
                    "Key {} is not present in table \"{}\".",
                    key_text(table, &fk.columns, row),
                    parent.name
                ),
            });
        }
    }
    Ok(())
}

/// The rows of other tables (or this one) that reference `old`'s key
/// values, when no row with those values remains: the foreign keys that
/// `old` going away would break, with the referencing rows' keys.
pub fn orphaned_references(
    state: &FinalState,
    catalog: &Catalog,
    parent: &TableDef,
    old: &Row,
) -> Vec<(std::sync::Arc<TableDef>, String, Vec<Vec<u8>>)> {
    let mut found = Vec::new();
    let children = catalog
        .tables()
        .filter(|t| t.foreign_keys().any(|(_, fk)| fk.ref_table == parent.id));
    for child in children {
        for (constraint, fk) in child.foreign_keys() {
            if fk.ref_table != parent.id {
                continue;
            }
            let types = column_types(parent, &fk.ref_columns);
            let Some(ik) = index_key(old, &fk.ref_columns, &types) else {
                continue;
            };
            if !state.find(parent, &fk.ref_columns, &types, &ik).is_empty() {
                continue; // another row (or the same, updated) still has the key
            }
            let child_types = column_types(child, &fk.columns);
            let child_ik = index_key(old, &fk.ref_columns, &child_types).expect("not NULL");
            let keys = state.find(child, &fk.columns, &child_types, &child_ik);
            if !keys.is_empty() {
                found.push((child.clone(), constraint.name.clone(), keys));
            }
        }
    }
    found
}

fn check_referenced(
    state: &FinalState,
    catalog: &Catalog,
    parent: &TableDef,
    old: &Row,
) -> EngineResult<()> {
    if let Some((child, constraint, _)) = orphaned_references(state, catalog, parent, old)
        .into_iter()
        .next()
    {
        let fk = child
            .foreign_keys()
            .find(|(c, _)| c.name == constraint)
            .map(|(_, fk)| fk.clone())
            .expect("found above");
        return Err(EngineError::ForeignKeyViolation {
            // PostgreSQL names the referencing table here.
            table: child.name.clone(),
            constraint: constraint.clone(),
            message: format!(
                "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                parent.name, constraint, child.name
            ),
            detail: format!(
                "Key {} is still referenced from table \"{}\".",
                key_text(parent, &fk.ref_columns, old),
                child.name
            ),
        });
    }
    Ok(())
}

/// `(a, b)=(1, x)` as PostgreSQL's DETAIL prints a key.
pub fn key_text(table: &TableDef, columns: &[usize], row: &Row) -> String {
    let names: Vec<&str> = columns
        .iter()
        .map(|&c| table.columns[c].name.as_str())
        .collect();
    let values: Vec<String> = columns
        .iter()
        .map(|&c| crate::sql::datum_text(&row[c], table.columns[c].sql_type))
        .collect();
    format!("({})=({})", names.join(", "), values.join(", "))
}

/// A command's mutations as a layer (the kernel's backstop check).
#[derive(Default)]
pub struct CommandLayer {
    rows: BTreeMap<(TableId, Vec<u8>), Option<Row>>,
    indexes: KeyIndexes,
}

impl CommandLayer {
    /// Records that `key` ends as `row` (None: deleted).
    pub fn write(&mut self, table: &TableDef, key: Vec<u8>, row: Option<Row>) {
        self.indexes.update(table, &key, None, row.as_ref());
        self.rows.insert((table.id, key), row);
    }
}

impl Layer for CommandLayer {
    fn row(&self, table: TableId, key: &[u8]) -> Option<Option<&Row>> {
        self.rows.get(&(table, key.to_vec())).map(|r| r.as_ref())
    }

    fn candidates(&self, table: TableId, columns: &[usize], ik: &[u8]) -> Vec<Vec<u8>> {
        self.indexes.candidates(table, columns, ik)
    }
}
