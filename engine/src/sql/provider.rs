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
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BinaryArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session};
use datafusion::common::ScalarValue;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::ExecutionPlan;
use kimberlite_catalog::{Catalog, DatabaseId, TableDef, TableId};
use kimberlite_consensus::Op;
use parking_lot::Mutex;

use super::access::Access;
use super::convert::{coerce_column, rows_to_batch};
use super::stats::{StatementStats, StatementTotals};
use super::txn::{Base, TableOverlay};
use super::types::table_fields_in;
use crate::datum::Row;
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
    /// The session's database: `catalog` is one of its versions.
    pub database: DatabaseId,
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
    /// The existing schemas of the session's search_path, in order.
    pub search_path: Vec<String>,
    /// Columns (by name) the statement sorts each table by before a
    /// LIMIT; filled once the statement is planned, read when its scans
    /// are (see the `order_hints` module).
    pub order_hints: OrderHints,
    /// The session as the catalog functions and `pg_settings` /
    /// `pg_stat_activity` see it.
    pub system: super::system::SystemView,
    pub database_name: String,
}

/// Table name → the columns its rows are sorted by before a LIMIT.
pub type OrderHints = Arc<Mutex<std::collections::HashMap<String, Vec<String>>>>;

/// The per-connection slot the session fills before planning.
pub type ScopeSlot = Arc<Mutex<Option<ReadScope>>>;

/// Plans a view's query text in the session that reads it (same scope,
/// same functions and rewrites as the reading statement).
pub type ViewPlanner =
    Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, DfResult<LogicalPlan>> + Send + Sync>;

/// The schema DataFusion resolves unqualified names in: not a schema of
/// ours but the session's search_path, searched in order.
pub const PATH_SCHEMA: &str = "$path";

/// The `kimberlite` catalog: `public`, the schemas created with CREATE
/// SCHEMA, and the search path for unqualified names.
pub struct KimberliteCatalog {
    engine: Arc<Engine>,
    scope: ScopeSlot,
    views: ViewPlanner,
}

impl fmt::Debug for KimberliteCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KimberliteCatalog")
    }
}

impl KimberliteCatalog {
    pub fn new(engine: Arc<Engine>, scope: ScopeSlot, views: ViewPlanner) -> Self {
        KimberliteCatalog {
            engine,
            scope,
            views,
        }
    }

    fn provider(&self, space: Option<String>) -> Arc<dyn SchemaProvider> {
        Arc::new(KimberliteSchema {
            engine: self.engine.clone(),
            scope: self.scope.clone(),
            views: self.views.clone(),
            space,
        })
    }
}

impl CatalogProvider for KimberliteCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names = vec![kimberlite_catalog::DEFAULT_SCHEMA.to_string()];
        if let Some(scope) = &*self.scope.lock() {
            names.extend(scope.catalog.schemas().map(|s| s.name.clone()));
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == PATH_SCHEMA || super::system::is_system_schema(name) {
            return Some(self.provider((name != PATH_SCHEMA).then(|| name.to_string())));
        }
        let exists = self
            .scope
            .lock()
            .as_ref()
            .is_some_and(|scope| scope.catalog.schema_exists(name));
        exists.then(|| self.provider(Some(name.to_string())))
    }
}

/// Resolves table names against the statement's scope, in one schema
/// (`space`) or, for `None`, through the search path.
pub struct KimberliteSchema {
    engine: Arc<Engine>,
    scope: ScopeSlot,
    views: ViewPlanner,
    space: Option<String>,
}

impl KimberliteSchema {
    /// The catalog key `name` means here.
    fn key(&self, scope: &ReadScope, name: &str) -> String {
        match &self.space {
            Some(schema) => kimberlite_catalog::relation_key(schema, name),
            None => scope
                .search_path
                .iter()
                .map(|schema| kimberlite_catalog::relation_key(schema, name))
                .find(|key| scope.catalog.relation_exists(key))
                .unwrap_or_else(|| name.to_string()),
        }
    }

    /// Names only the search path knows: the DML target, the stats view.
    fn is_path(&self) -> bool {
        self.space
            .as_deref()
            .is_none_or(|s| s == kimberlite_catalog::DEFAULT_SCHEMA)
    }
}

impl fmt::Debug for KimberliteSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KimberliteSchema")
    }
}

#[async_trait]
impl SchemaProvider for KimberliteSchema {
    fn table_names(&self) -> Vec<String> {
        let schema = self
            .space
            .clone()
            .unwrap_or_else(|| kimberlite_catalog::DEFAULT_SCHEMA.to_string());
        match &*self.scope.lock() {
            Some(scope) => scope
                .catalog
                .tables()
                .filter(|t| scope.catalog.schema_of(t.id) == schema)
                .map(|t| t.name.clone())
                .chain(
                    scope
                        .catalog
                        .views()
                        .filter(|v| scope.catalog.schema_of(v.id) == schema)
                        .map(|v| v.name.clone()),
                )
                .collect(),
            None => vec![],
        }
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(scope) = self.scope.lock().clone() else {
            return Ok(None);
        };
        if name == STATS_VIEW && self.is_path() {
            return Ok(Some(stats_table(&self.engine, scope.previous)?));
        }
        // `pg_catalog` is searched before the path, as in PostgreSQL.
        let system_schema = match &self.space {
            Some(schema) if super::system::is_system_schema(schema) => Some(schema.as_str()),
            Some(_) => None,
            None => (kimberlite_catalog::system::is_relation(
                kimberlite_catalog::system::PG_CATALOG,
                name,
            ) || super::system::SESSION_RELATIONS.contains(&name))
            .then_some(kimberlite_catalog::system::PG_CATALOG),
        };
        if let Some(schema) = system_schema {
            return super::system::system_table(schema, name, &scope);
        }
        let key = self.key(&scope, name);
        if let Some(view) = scope.catalog.view(&key) {
            let plan = (self.views)(view.query_sql.clone()).await?;
            let plan = name_columns(plan, &view.columns)?;
            return Ok(Some(Arc::new(datafusion::catalog::view::ViewTable::new(
                plan,
                Some(view.query_sql.clone()),
            ))));
        }
        let (table, hidden) = if name == DML_TARGET && self.is_path() {
            match &scope.dml_target {
                Some(t) => (t.clone(), true),
                None => return Ok(None),
            }
        } else {
            match scope.catalog.table(&key) {
                Some(t) => (t.clone(), false),
                None => return Ok(None),
            }
        };
        let mut provider = KimberliteTable::new(self.engine.clone(), &scope, table, hidden);
        provider.order_hints = Some(scope.order_hints.clone());
        Ok(Some(Arc::new(provider)))
    }

    fn table_exist(&self, name: &str) -> bool {
        match &*self.scope.lock() {
            Some(scope) => {
                let key = self.key(scope, name);
                scope.catalog.table(&key).is_some() || scope.catalog.view(&key).is_some()
            }
            None => false,
        }
    }
}

/// A view's plan with its output columns named as the view names them.
fn name_columns(plan: LogicalPlan, names: &[String]) -> DfResult<LogicalPlan> {
    use datafusion::common::Column;
    use datafusion::logical_expr::LogicalPlanBuilder;
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .zip(names)
        .map(|((qualifier, field), name)| {
            Expr::Column(Column::new(qualifier.cloned(), field.name())).alias(name)
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
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
    database: DatabaseId,
    statement: Arc<StatementStats>,
    table: Arc<TableDef>,
    snapshot: Op,
    overlay: Option<TableOverlay>,
    hidden: bool,
    schema: SchemaRef,
    order_hints: Option<OrderHints>,
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
    /// `table` as `scope` reads it (its snapshot, its transaction's
    /// writes); `hidden` adds the key and base-op columns DML reads.
    pub fn new(engine: Arc<Engine>, scope: &ReadScope, table: Arc<TableDef>, hidden: bool) -> Self {
        let database = scope.database;
        let snapshot = scope.snapshot;
        let overlay = scope.overlays.get(&table.id).cloned();
        let statement = scope.statement.clone();
        let mut fields = table_fields_in(&table, &scope.zone);
        if hidden {
            fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
            fields.push(Field::new(BASE_COLUMN, DataType::Int64, false));
        }
        let schema = Arc::new(Schema::new(fields));
        KimberliteTable {
            engine,
            database,
            statement,
            table,
            snapshot,
            overlay,
            hidden,
            schema,
            order_hints: None,
        }
    }
}

pub(super) fn literal_datum(
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
            database: self.database,
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
            access: Access::Full,
        };
        let (access, ordered) = match self.ordered_index_access(&spec, filters) {
            Some(chosen) => chosen,
            None => {
                let access = self.choose_access(filters);
                let ordered = self.ordered_columns(&spec, &access);
                (access, ordered)
            }
        };
        let spec = ScanSpec { access, ..spec };
        Ok(Arc::new(super::scan_exec::ScanExec::new(spec, ordered)))
    }
}

impl KimberliteTable {
    /// The access path for `filters` ([`super::access`]). Secondary
    /// indexes are offered only when the scan reads the table's newest
    /// definition (their entries follow it) and they are built.
    fn choose_access(&self, filters: &[Expr]) -> Access {
        let usable = self.usable_indexes();
        let indexes: Vec<&kimberlite_catalog::IndexDef> = usable.iter().map(|i| &**i).collect();
        super::access::choose(&self.table, &indexes, filters, &literal_datum)
    }

    /// The secondary indexes a scan may use: built, and over the definition
    /// it reads (index entries follow the table's newest definition).
    fn usable_indexes(&self) -> Vec<Arc<kimberlite_catalog::IndexDef>> {
        let state = self.engine.state.read();
        let latest = state.latest_catalog(self.database);
        let current = latest
            .table_by_id(self.table.id)
            .is_some_and(|t| **t == *self.table);
        if !current {
            return Vec::new();
        }
        latest
            .table_indexes(self.table.id)
            .filter(|i| {
                state
                    .version_indexes
                    .index(self.table.id, &i.column_positions())
                    .is_some()
            })
            .cloned()
            .collect()
    }

    /// An index read in order, when the statement sorts this table's rows
    /// by an index's columns before a LIMIT and the primary key does not
    /// already give that order: the path and the sorted output columns.
    fn ordered_index_access(
        &self,
        spec: &ScanSpec,
        filters: &[Expr],
    ) -> Option<(Access, Vec<usize>)> {
        let names = self
            .order_hints
            .as_ref()?
            .lock()
            .get(&self.table.name)
            .cloned()?;
        if spec.overlay.as_ref().is_some_and(|o| !o.is_empty()) {
            return None;
        }
        let hint: Vec<usize> = names
            .iter()
            .map(|n| self.table.column_index(n))
            .collect::<Option<_>>()?;
        if self.table.primary_key.starts_with(&hint) {
            return None;
        }
        let output: Vec<usize> = hint
            .iter()
            .map(|c| spec.projection.iter().position(|p| p == c))
            .collect::<Option<_>>()?;
        if !hint
            .iter()
            .all(|&c| sorts_as_bytes(self.table.columns[c].sql_type))
        {
            return None;
        }
        let usable = self.usable_indexes();
        let indexes: Vec<&kimberlite_catalog::IndexDef> = usable.iter().map(|i| &**i).collect();
        let access =
            super::access::choose_ordered(&self.table, &indexes, filters, &literal_datum, &hint)?;
        Some((access, output))
    }

    /// Output columns the scan is sorted by, when it is: a full scan or
    /// primary-key range without the transaction's own rows comes out in
    /// key order, which DataFusion can use to skip a sort (`ORDER BY pk
    /// LIMIT n` reads n rows). Only for key types whose byte order is
    /// DataFusion's order.
    fn ordered_columns(&self, spec: &ScanSpec, access: &Access) -> Vec<usize> {
        let single_range = match access {
            Access::Full => true,
            Access::KeyRange(range) => range.prefixes.len() == 1,
            _ => false,
        };
        if !single_range || spec.overlay.as_ref().is_some_and(|o| !o.is_empty()) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for &k in &self.table.primary_key {
            if !sorts_as_bytes(self.table.columns[k].sql_type) {
                break;
            }
            match spec.projection.iter().position(|&p| p == k) {
                Some(i) => out.push(i),
                None => break,
            }
        }
        out
    }
}

/// Whether DataFusion orders values of `t` as their key encoding does
/// (byte order), so a scan in key order can stand in for a sort.
fn sorts_as_bytes(t: kimberlite_catalog::SqlType) -> bool {
    use kimberlite_catalog::SqlType as T;
    matches!(
        t,
        T::Bool
            | T::Int2
            | T::Int4
            | T::Int8
            | T::Text
            | T::Varchar(_)
            | T::Date
            | T::Timestamp
            | T::Timestamptz
            | T::Uuid
            | T::Numeric { .. }
    )
}

/// Everything a streaming scan needs, owned, so the stream outlives the
/// planning call.
#[derive(Clone)]
pub(super) struct ScanSpec {
    engine: Arc<Engine>,
    database: DatabaseId,
    statement: Arc<StatementStats>,
    pub(super) table: Arc<TableDef>,
    snapshot: Op,
    overlay: Option<TableOverlay>,
    hidden: bool,
    pub(super) projection: Vec<usize>,
    pub(super) projected: SchemaRef,
    types: Vec<kimberlite_catalog::SqlType>,
    data_columns: Vec<usize>,
    /// How the rows are found.
    pub(super) access: Access,
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

    /// The next batch: the committed rows the access path finds
    /// (skipping keys the transaction overwrote), then the transaction's
    /// own rows.
    fn next_batch(&self, cursor: &mut ScanCursor) -> Option<DfResult<RecordBatch>> {
        let overlay = self.overlay.as_deref();
        let batch_rows = cursor.batch_rows();
        let mut rows: Vec<VisibleRow> = Vec::with_capacity(batch_rows);
        let mut chunk = Vec::with_capacity(SCAN_CHUNK_ROWS);
        while !cursor.base_done && rows.len() < batch_rows {
            chunk.clear();
            let limit = SCAN_CHUNK_ROWS.min(batch_rows - rows.len());
            self.committed_chunk(cursor, limit, &mut chunk);
            for (key, created_op, row) in chunk.drain(..) {
                if !overlay.is_some_and(|o| o.contains_key(&key)) {
                    rows.push((key, Base::Existing(created_op), row));
                }
            }
        }
        if rows.is_empty() && !cursor.overlay_done {
            cursor.overlay_done = true;
            if let Some(overlay) = overlay {
                let wanted = |key: &Vec<u8>| match &self.access {
                    Access::Keys(keys) => keys.contains(key),
                    _ => true,
                };
                rows.extend(overlay.iter().filter(|(k, _)| wanted(k)).filter_map(
                    |(key, entry)| {
                        entry
                            .row
                            .as_ref()
                            .map(|row| (key.clone(), entry.base, row.clone()))
                    },
                ));
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

    /// One chunk of committed rows visible at the snapshot, read under the
    /// state lock; sets `cursor.base_done` at the end.
    fn committed_chunk(
        &self,
        cursor: &mut ScanCursor,
        limit: usize,
        out: &mut Vec<(Vec<u8>, Op, Arc<Row>)>,
    ) {
        if cursor.fallback {
            return self.fallback_chunk(cursor, limit, out);
        }
        let state = self.engine.state.read();
        let Some(rows) = state.projections.table(self.table.id) else {
            cursor.base_done = true;
            return;
        };
        match &self.access {
            Access::Full => {
                match rows.scan_chunk(cursor.after.as_deref(), self.snapshot, limit, out) {
                    Some(key) => cursor.after = Some(key),
                    None => cursor.base_done = true,
                }
            }
            Access::Keys(keys) => {
                for key in keys {
                    if let Some(v) = rows.get(key, self.snapshot) {
                        out.push((key.clone(), v.created_op, v.row.clone()));
                    }
                }
                cursor.base_done = true;
            }
            Access::KeyRange(range) => {
                let Some(prefix) = range.prefixes.get(cursor.prefix) else {
                    cursor.base_done = true;
                    return;
                };
                let start = match cursor.after.take() {
                    Some(after) => Bound::Excluded(after),
                    None => {
                        let mut start = prefix.clone();
                        start.extend_from_slice(range.lower.as_deref().unwrap_or_default());
                        if range.lower_strict {
                            Bound::Excluded(start)
                        } else {
                            Bound::Included(start)
                        }
                    }
                };
                let upper = range.upper.as_deref();
                let within = |key: &[u8]| {
                    key.starts_with(prefix)
                        && upper.is_none_or(|u| {
                            let rest = &key[prefix.len()..];
                            rest <= u || rest.starts_with(u)
                        })
                };
                match rows.range_visible(start, self.snapshot, limit, within, out) {
                    Some(key) => cursor.after = Some(key),
                    None => cursor.prefix += 1,
                }
            }
            Access::Index { columns, range, .. } => {
                let entries = match &cursor.entries {
                    Some(entries) => entries,
                    None => {
                        let current = state
                            .latest_catalog(self.database)
                            .table_by_id(self.table.id)
                            .is_some_and(|t| **t == *self.table);
                        let index = state.version_indexes.index(self.table.id, columns);
                        let (Some(index), true) = (index, current) else {
                            // Dropped or rebuilt since planning: read it all.
                            drop(state);
                            cursor.fallback = true;
                            return self.fallback_chunk(cursor, limit, out);
                        };
                        let mut entries = Vec::new();
                        for prefix in &range.prefixes {
                            entries.extend(
                                crate::indexes::scan_range(
                                    index,
                                    prefix,
                                    range.lower.as_deref(),
                                    range.upper.as_deref(),
                                )
                                .cloned(),
                            );
                        }
                        cursor.entries.insert(entries)
                    }
                };
                let end = (cursor.position + limit).min(entries.len());
                for (ik, key) in &entries[cursor.position..end] {
                    let Some(v) = rows.get(key, self.snapshot) else {
                        continue;
                    };
                    // An entry of another version of this key: the visible
                    // one is found under its own values, if they match.
                    let values =
                        crate::indexes::encode_index_key(columns.iter().map(|&c| &v.row[c]));
                    if &values == ik {
                        out.push((key.clone(), v.created_op, v.row.clone()));
                    }
                }
                cursor.position = end;
                if end == entries.len() {
                    cursor.base_done = true;
                }
            }
            Access::IndexOrdered { columns, range, .. } => {
                let current = state
                    .latest_catalog(self.database)
                    .table_by_id(self.table.id)
                    .is_some_and(|t| **t == *self.table);
                let index = state.version_indexes.index(self.table.id, columns);
                let (Some(index), true, None) = (index, current, cursor.entries.as_ref()) else {
                    return self.sorted_chunk(cursor, rows, columns, limit, out);
                };
                let prefix = range
                    .prefixes
                    .first()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let entries = crate::indexes::scan_range_after(
                    index,
                    prefix,
                    range.lower.as_deref(),
                    range.upper.as_deref(),
                    cursor.after_entry.take(),
                );
                let mut last: Option<&(Vec<u8>, Vec<u8>)> = None;
                for (read, entry) in entries.enumerate() {
                    if read == limit {
                        // Resume after the last entry read, not this one.
                        cursor.after_entry = last.cloned();
                        return;
                    }
                    last = Some(entry);
                    let (ik, key) = entry;
                    if let Some(v) = rows.get(key, self.snapshot) {
                        let values =
                            crate::indexes::encode_index_key(columns.iter().map(|&c| &v.row[c]));
                        if &values == ik {
                            out.push((key.clone(), v.created_op, v.row.clone()));
                        }
                    }
                }
                cursor.base_done = true;
            }
        }
    }

    /// An ordered index scan whose index went away between planning and
    /// now: every visible row, sorted by the index's key, so the order the
    /// plan relies on still holds.
    fn sorted_chunk(
        &self,
        cursor: &mut ScanCursor,
        rows: &crate::mvcc::TableRows,
        columns: &[usize],
        limit: usize,
        out: &mut Vec<(Vec<u8>, Op, Arc<Row>)>,
    ) {
        let entries = cursor.entries.get_or_insert_with(|| {
            let mut all = Vec::new();
            rows.scan_chunk(None, self.snapshot, usize::MAX, &mut all);
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = all
                .into_iter()
                .map(|(key, _, row)| {
                    let ik = crate::indexes::encode_index_key(columns.iter().map(|&c| &row[c]));
                    (ik, key)
                })
                .collect();
            entries.sort();
            entries
        });
        let end = (cursor.position + limit).min(entries.len());
        for (_, key) in &entries[cursor.position..end] {
            if let Some(v) = rows.get(key, self.snapshot) {
                out.push((key.clone(), v.created_op, v.row.clone()));
            }
        }
        cursor.position = end;
        if end == entries.len() {
            cursor.base_done = true;
        }
    }

    /// A full scan's chunk, for an index scan whose index went away.
    fn fallback_chunk(
        &self,
        cursor: &mut ScanCursor,
        limit: usize,
        out: &mut Vec<(Vec<u8>, Op, Arc<Row>)>,
    ) {
        let state = self.engine.state.read();
        let Some(rows) = state.projections.table(self.table.id) else {
            cursor.base_done = true;
            return;
        };
        match rows.scan_chunk(cursor.after.as_deref(), self.snapshot, limit, out) {
            Some(key) => cursor.after = Some(key),
            None => cursor.base_done = true,
        }
    }
}

/// Where a streaming scan is.
#[derive(Default)]
struct ScanCursor {
    after: Option<Vec<u8>>,
    base_done: bool,
    overlay_done: bool,
    /// Key-range scans: which prefix is being read.
    prefix: usize,
    /// Index scans: the entries found, and how many were fetched.
    entries: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    position: usize,
    /// An index scan reading everything instead.
    fallback: bool,
    /// Ordered index scans: the last entry read.
    after_entry: Option<(Vec<u8>, Vec<u8>)>,
    /// Batches so far (the first ones are small, so a LIMIT over a
    /// sorted scan stops after reading few rows).
    batches: u32,
}

impl ScanCursor {
    fn batch_rows(&mut self) -> usize {
        let rows = (64usize << self.batches.min(8)).min(BATCH_ROWS);
        self.batches += 1;
        rows
    }
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
