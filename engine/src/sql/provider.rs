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
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use kimberlite_catalog::{Catalog, TableDef, TableId};
use kimberlite_consensus::Op;
use parking_lot::Mutex;

use super::convert::{coerce_column, rows_to_batch};
use super::stats::{StatementStats, StatementTotals};
use super::txn::{Base, TableOverlay};
use super::types::table_fields_in;
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
    /// Counters of the statement being planned.
    pub statement: Arc<StatementStats>,
    /// The session's previous statement, for `kimberlite_stats`.
    pub previous: StatementTotals,
    /// The session's TimeZone as an Arrow zone label ([`super::types::arrow_zone`]).
    pub zone: Arc<str>,
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
        let Some(scope) = self.scope.lock().clone() else {
            return Ok(None);
        };
        if name == STATS_VIEW {
            return Ok(Some(stats_table(&self.engine, scope.previous)?));
        }
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
            scope.statement.clone(),
            &scope.zone,
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
/// the moment the statement is planned, then the session's previous
/// statement's (`last_statement_*`).
fn stats_table(engine: &Engine, previous: StatementTotals) -> DfResult<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    let mut counters = engine.counters();
    counters.extend([
        ("last_statement_rows_scanned", previous.rows_scanned),
        ("last_statement_rows_returned", previous.rows_returned),
        (
            "last_statement_result_batch_bytes_max",
            previous.result_batch_bytes_max,
        ),
    ]);
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
    statement: Arc<StatementStats>,
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
        statement: Arc<StatementStats>,
        zone: &str,
    ) -> Self {
        let mut fields = table_fields_in(&table, zone);
        if hidden {
            fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
            fields.push(Field::new(BASE_COLUMN, DataType::Int64, false));
        }
        let schema = Arc::new(Schema::new(fields));
        KimberliteTable {
            engine,
            statement,
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

    /// The row with primary key `key`, if visible: from the transaction's
    /// own writes first, else from the snapshot.
    fn point_lookup(&self, key: Vec<u8>) -> Vec<VisibleRow> {
        let mut rows = Vec::new();
        match self.overlay.as_deref().and_then(|o| o.get(&key)) {
            Some(entry) => {
                if let Some(row) = &entry.row {
                    rows.push((key, entry.base, row.clone()));
                }
            }
            None => {
                let state = self.engine.state.read();
                if let Some(v) = state
                    .projections
                    .table(self.table.id)
                    .and_then(|t| t.get(&key, self.snapshot))
                {
                    rows.push((key, Base::Existing(v.created_op), v.row.clone()));
                }
            }
        }
        self.engine
            .stats
            .rows_scanned
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        self.statement.note_scanned(rows.len() as u64);
        rows
    }
}

fn literal_datum(
    value: &ScalarValue,
    sql_type: kimberlite_catalog::SqlType,
) -> Option<crate::datum::Datum> {
    let array = value.to_array().ok()?;
    // DataFusion has typed the literal already: no text left to read.
    coerce_column(&array, sql_type, super::types::UTC)
        .ok()?
        .into_iter()
        .next()
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
        // Hidden columns must follow the data columns, as in the schema.
        if !projection.windows(2).all(|w| w[0] < w[1])
            && projection.iter().any(|&i| i >= column_count)
        {
            return Err(DataFusionError::Internal(
                "unordered projection over hidden columns".into(),
            ));
        }
        let spec = ScanSpec {
            engine: self.engine.clone(),
            statement: self.statement.clone(),
            table: self.table.clone(),
            snapshot: self.snapshot,
            overlay: self.overlay.clone(),
            hidden: self.hidden,
            projected: Arc::new(self.schema.project(&projection)?),
            types: self.table.columns.iter().map(|c| c.sql_type).collect(),
            data_columns: projection
                .iter()
                .copied()
                .filter(|&i| i < column_count)
                .collect(),
            projection,
        };
        if let Some(key) = self.point_key(filters) {
            let rows = self.point_lookup(key);
            let batch = spec.build_batch(&rows)?;
            return Ok(MemorySourceConfig::try_new_exec(
                &[vec![batch]],
                spec.projected.clone(),
                None,
            )?);
        }
        let schema = spec.projected.clone();
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(spec) as Arc<dyn PartitionStream>],
            None,
            Vec::<LexOrdering>::new(),
            false,
            None,
        )?))
    }
}

/// Everything a streaming scan needs, owned, so the stream outlives the
/// planning call.
#[derive(Clone)]
struct ScanSpec {
    engine: Arc<Engine>,
    statement: Arc<StatementStats>,
    table: Arc<TableDef>,
    snapshot: Op,
    overlay: Option<TableOverlay>,
    hidden: bool,
    projection: Vec<usize>,
    projected: SchemaRef,
    types: Vec<kimberlite_catalog::SqlType>,
    data_columns: Vec<usize>,
}

impl fmt::Debug for ScanSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScanSpec({} @ {})", self.table.name, self.snapshot)
    }
}

type VisibleRow = (Vec<u8>, Base, Arc<Row>);

impl ScanSpec {
    /// One Arrow batch of `rows`, projected, hidden columns last.
    fn build_batch(&self, rows: &[VisibleRow]) -> DfResult<RecordBatch> {
        let column_count = self.table.columns.len();
        let row_refs: Vec<Arc<Row>> = rows.iter().map(|(_, _, r)| r.clone()).collect();
        let mut extra: Vec<ArrayRef> = Vec::new();
        for &i in self.projection.iter().filter(|&&i| i >= column_count) {
            assert!(self.hidden, "hidden columns exist only on the DML target");
            if i == column_count {
                extra.push(Arc::new(BinaryArray::from_iter_values(
                    rows.iter().map(|(k, _, _)| k.as_slice()),
                )));
            } else {
                extra.push(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|(_, b, _)| b.to_i64()),
                )));
            }
        }
        rows_to_batch(
            self.projected.clone(),
            &self.types,
            &self.data_columns,
            &row_refs,
            extra,
        )
        .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// The next batch: committed rows in key order (skipping keys the
    /// transaction overwrote), then the transaction's own rows.
    fn next_batch(&self, cursor: &mut ScanCursor) -> Option<DfResult<RecordBatch>> {
        let overlay = self.overlay.as_deref();
        let mut rows: Vec<VisibleRow> = Vec::with_capacity(BATCH_ROWS);
        let mut chunk = Vec::with_capacity(SCAN_CHUNK_ROWS);
        while !cursor.base_done && rows.len() < BATCH_ROWS {
            chunk.clear();
            let last = {
                let state = self.engine.state.read();
                match state.projections.table(self.table.id) {
                    Some(t) => t.scan_chunk(
                        cursor.after.as_deref(),
                        self.snapshot,
                        SCAN_CHUNK_ROWS,
                        &mut chunk,
                    ),
                    None => None,
                }
            };
            for (key, created_op, row) in chunk.drain(..) {
                if !overlay.is_some_and(|o| o.contains_key(&key)) {
                    rows.push((key, Base::Existing(created_op), row));
                }
            }
            match last {
                Some(key) => cursor.after = Some(key),
                None => cursor.base_done = true,
            }
        }
        if rows.is_empty() && !cursor.overlay_done {
            cursor.overlay_done = true;
            if let Some(overlay) = overlay {
                rows.extend(overlay.iter().filter_map(|(key, entry)| {
                    entry
                        .row
                        .as_ref()
                        .map(|row| (key.clone(), entry.base, row.clone()))
                }));
            }
        }
        if rows.is_empty() {
            return None;
        }
        self.engine
            .stats
            .rows_scanned
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        self.statement.note_scanned(rows.len() as u64);
        Some(self.build_batch(&rows))
    }
}

/// Where a streaming scan is.
#[derive(Default)]
struct ScanCursor {
    after: Option<Vec<u8>>,
    base_done: bool,
    overlay_done: bool,
}

impl PartitionStream for ScanSpec {
    fn schema(&self) -> &SchemaRef {
        &self.projected
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let spec = self.clone();
        let stream = futures::stream::unfold(
            (spec, ScanCursor::default()),
            |(spec, mut cursor)| async move {
                // Yield between batches so a long scan never starves other tasks.
                tokio::task::yield_now().await;
                spec.next_batch(&mut cursor)
                    .map(|batch| (batch, (spec, cursor)))
            },
        );
        Box::pin(RecordBatchStreamAdapter::new(
            self.projected.clone(),
            stream,
        ))
    }
}
