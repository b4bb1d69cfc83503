//! DataFusion's view of our tables: a schema provider that resolves names
//! against the catalog of the statement's snapshot, and a table provider that
//! reads the MVCC projection at that snapshot merged with the transaction's
//! own writes.
//!
//! The scope (snapshot, catalog, overlays) is set by the session before each
//! statement is planned, so one DataFusion `SessionContext` serves a whole
//! connection while every statement reads its own consistent instant.
//!
//! Scans copy visible rows out of the projection in bounded chunks and
//! release the lock between chunks; no lock is held while DataFusion
//! executes. A filter that pins every primary-key column to a literal turns
//! the scan into a point lookup.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BinaryArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use kimberlite_catalog::{Catalog, TableDef, TableId};
use kimberlite_consensus::Op;
use parking_lot::Mutex;

use super::convert::{coerce_column, rows_to_batch};
use super::txn::{Base, TableOverlay};
use super::types::table_fields;
use crate::datum::{encode_key, Row};
use crate::Engine;

/// Name under which a DML statement's target table is planned, with the
/// hidden key and base columns.
pub const DML_TARGET: &str = "__kimberlite_target";
/// Hidden column: the row's encoded primary key.
pub const KEY_COLUMN: &str = "__kimberlite_key";
/// Hidden column: the op of the committed version the row came from (-1 for
/// rows the transaction inserted).
pub const BASE_COLUMN: &str = "__kimberlite_base";

/// The system view of engine counters.
pub const STATS_VIEW: &str = "kimberlite_stats";

/// Rows copied per lock acquisition.
const SCAN_CHUNK_ROWS: usize = 1024;
/// Rows per Arrow batch.
const BATCH_ROWS: usize = 8192;

/// What a statement reads.
#[derive(Clone)]
pub struct ReadScope {
    pub snapshot: Op,
    pub catalog: Arc<Catalog>,
    pub overlays: BTreeMap<TableId, TableOverlay>,
    pub dml_target: Option<Arc<TableDef>>,
}

/// The per-connection slot the session fills before planning.
pub type ScopeSlot = Arc<Mutex<Option<ReadScope>>>;

/// The `kimberlite` catalog with its one schema, `public`.
#[derive(Debug)]
pub struct KimberliteCatalog {
    schema: Arc<KimberliteSchema>,
}

impl KimberliteCatalog {
    pub fn new(engine: Arc<Engine>, scope: ScopeSlot) -> Self {
        KimberliteCatalog {
            schema: Arc::new(KimberliteSchema { engine, scope }),
        }
    }
}

impl CatalogProvider for KimberliteCatalog {
    fn schema_names(&self) -> Vec<String> {
        vec![kimberlite_catalog::DEFAULT_SCHEMA.to_string()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == kimberlite_catalog::DEFAULT_SCHEMA)
            .then(|| self.schema.clone() as Arc<dyn SchemaProvider>)
    }
}

/// Resolves table names against the statement's scope.
pub struct KimberliteSchema {
    engine: Arc<Engine>,
    scope: ScopeSlot,
}

impl fmt::Debug for KimberliteSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KimberliteSchema")
    }
}

#[async_trait]
impl SchemaProvider for KimberliteSchema {
    fn table_names(&self) -> Vec<String> {
        match &*self.scope.lock() {
            Some(scope) => scope.catalog.tables().map(|t| t.name.clone()).collect(),
            None => vec![],
        }
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name == STATS_VIEW {
            return Ok(Some(stats_table(&self.engine)?));
        }
        let Some(scope) = self.scope.lock().clone() else {
            return Ok(None);
        };
        let (table, hidden) = if name == DML_TARGET {
            match &scope.dml_target {
                Some(t) => (t.clone(), true),
                None => return Ok(None),
            }
        } else {
            match scope.catalog.table(name) {
                Some(t) => (t.clone(), false),
                None => return Ok(None),
            }
        };
        Ok(Some(Arc::new(KimberliteTable::new(
            self.engine.clone(),
            table.clone(),
            scope.snapshot,
            scope.overlays.get(&table.id).cloned(),
            hidden,
        ))))
    }

    fn table_exist(&self, name: &str) -> bool {
        match &*self.scope.lock() {
            Some(scope) => scope.catalog.table(name).is_some(),
            None => false,
        }
    }
}

/// `kimberlite_stats (name text, value bigint)`: the engine's counters at
/// the moment the statement is planned.
fn stats_table(engine: &Engine) -> DfResult<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    let counters = engine.counters();
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                counters.iter().map(|(n, _)| *n),
            )),
            Arc::new(Int64Array::from_iter_values(
                counters.iter().map(|(_, v)| *v as i64),
            )),
        ],
    )?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// One table at one snapshot, plus the reading transaction's writes.
pub struct KimberliteTable {
    engine: Arc<Engine>,
    table: Arc<TableDef>,
    snapshot: Op,
    overlay: Option<TableOverlay>,
    hidden: bool,
    schema: SchemaRef,
}

impl fmt::Debug for KimberliteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KimberliteTable({} @ {})",
            self.table.name, self.snapshot
        )
    }
}

impl KimberliteTable {
    pub fn new(
        engine: Arc<Engine>,
        table: Arc<TableDef>,
        snapshot: Op,
        overlay: Option<TableOverlay>,
        hidden: bool,
    ) -> Self {
        let mut fields = table_fields(&table);
        if hidden {
            fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
            fields.push(Field::new(BASE_COLUMN, DataType::Int64, false));
        }
        let schema = Arc::new(Schema::new(fields));
        KimberliteTable {
            engine,
            table,
            snapshot,
            overlay,
            hidden,
            schema,
        }
    }

    /// The encoded key when `filters` pin every primary-key column to a
    /// literal (`pk = 5`, `5 = pk`).
    fn point_key(&self, filters: &[Expr]) -> Option<Vec<u8>> {
        if self.table.primary_key.is_empty() {
            return None;
        }
        let mut values = vec![None; self.table.primary_key.len()];
        for filter in filters {
            let Expr::BinaryExpr(binary) = filter else {
                continue;
            };
            if binary.op != Operator::Eq {
                continue;
            }
            let (column, literal) = match (&*binary.left, &*binary.right) {
                (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c)) => {
                    (c, v)
                }
                _ => continue,
            };
            let Some(position) = self
                .table
                .primary_key
                .iter()
                .position(|&k| self.table.columns[k].name == column.name)
            else {
                continue;
            };
            let sql_type = self.table.columns[self.table.primary_key[position]].sql_type;
            let datum = literal_datum(literal, sql_type)?;
            if datum.is_null() {
                return None;
            }
            values[position] = Some(datum);
        }
        let values: Option<Vec<_>> = values.into_iter().collect();
        values.map(|v| encode_key(v.iter()))
    }

    /// Visible rows: (key, base, row).
    fn visible_rows(&self, point: Option<Vec<u8>>) -> Vec<(Vec<u8>, Base, Arc<Row>)> {
        let mut rows = Vec::new();
        let overlay = self.overlay.as_deref();
        let in_overlay = |key: &[u8]| overlay.is_some_and(|o| o.contains_key(key));
        match &point {
            Some(key) => {
                if !in_overlay(key) {
                    let state = self.engine.state.read();
                    if let Some(v) = state
                        .projections
                        .table(self.table.id)
                        .and_then(|t| t.get(key, self.snapshot))
                    {
                        rows.push((key.clone(), Base::Existing(v.created_op), v.row.clone()));
                    }
                }
            }
            None => {
                let mut after: Option<Vec<u8>> = None;
                let mut chunk = Vec::with_capacity(SCAN_CHUNK_ROWS);
                loop {
                    chunk.clear();
                    let last = {
                        let state = self.engine.state.read();
                        match state.projections.table(self.table.id) {
                            Some(t) => t.scan_chunk(
                                after.as_deref(),
                                self.snapshot,
                                SCAN_CHUNK_ROWS,
                                &mut chunk,
                            ),
                            None => None,
                        }
                    };
                    for (key, created_op, row) in chunk.drain(..) {
                        if !in_overlay(&key) {
                            rows.push((key, Base::Existing(created_op), row));
                        }
                    }
                    match last {
                        Some(key) => after = Some(key),
                        None => break,
                    }
                }
            }
        }
        if let Some(overlay) = overlay {
            for (key, entry) in overlay.iter() {
                if point.as_ref().is_some_and(|p| p != key) {
                    continue;
                }
                if let Some(row) = &entry.row {
                    rows.push((key.clone(), entry.base, row.clone()));
                }
            }
        }
        self.engine
            .stats
            .rows_scanned
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        rows
    }
}

fn literal_datum(
    value: &ScalarValue,
    sql_type: kimberlite_catalog::SqlType,
) -> Option<crate::datum::Datum> {
    let array = value.to_array().ok()?;
    coerce_column(&array, sql_type).ok()?.into_iter().next()
}

#[async_trait]
impl TableProvider for KimberliteTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // We use filters to find rows but DataFusion still applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let column_count = self.table.columns.len();
        let projection: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&projection)?);
        let rows = self.visible_rows(self.point_key(filters));
        let types: Vec<_> = self.table.columns.iter().map(|c| c.sql_type).collect();
        let data_columns: Vec<usize> = projection
            .iter()
            .copied()
            .filter(|&i| i < column_count)
            .collect();
        let mut batches = Vec::new();
        for chunk in rows.chunks(BATCH_ROWS) {
            let row_refs: Vec<Arc<Row>> = chunk.iter().map(|(_, _, r)| r.clone()).collect();
            let mut extra: Vec<ArrayRef> = Vec::new();
            // Hidden columns come after the data columns in the schema, so
            // in the projection they follow the data columns too.
            for &i in projection.iter().filter(|&&i| i >= column_count) {
                assert!(self.hidden, "hidden columns exist only on the DML target");
                if i == column_count {
                    extra.push(Arc::new(BinaryArray::from_iter_values(
                        chunk.iter().map(|(k, _, _)| k.as_slice()),
                    )));
                } else {
                    extra.push(Arc::new(Int64Array::from_iter_values(
                        chunk.iter().map(|(_, b, _)| b.to_i64()),
                    )));
                }
            }
            // Hidden columns must follow the data columns, as in the schema.
            let sorted = projection.windows(2).all(|w| w[0] < w[1]);
            let batch = if sorted || projection.iter().all(|&i| i < column_count) {
                rows_to_batch(projected.clone(), &types, &data_columns, &row_refs, extra)
            } else {
                return Err(DataFusionError::Internal(
                    "unordered projection over hidden columns".into(),
                ));
            }
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
            batches.push(batch);
        }
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            projected,
            None,
        )?)
    }
}
