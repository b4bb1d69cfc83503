//! # The SQL session
//!
//! One [`Session`] per connection. It owns a DataFusion `SessionContext`
//! whose only catalog is ours, the connection's settings, and the open
//! transaction. Statements arrive parsed (PostgreSQL dialect) and are routed:
//!
//! - queries (`SELECT`, `VALUES`, `WITH`, `EXPLAIN`) are planned and run by
//!   DataFusion against the statement's [`ReadScope`];
//! - DML is planned by us (`dml`): DataFusion evaluates the source rows and
//!   expressions, we turn the result into row writes in the transaction;
//! - DDL (`ddl`) becomes catalog changes in the transaction;
//! - transaction control and `SET`/`SHOW` are handled here.
//!
//! Every statement outside `BEGIN … COMMIT` runs in an implicit transaction
//! that commits when the statement succeeds; the statements of one
//! multi-statement simple query share one implicit block, as in PostgreSQL. A failed statement inside an
//! explicit transaction puts it in the aborted state (25P02 until ROLLBACK).

mod access;
mod alter_sequence;
mod alter_table;
pub mod array;
mod audit;
mod checks;
pub mod classify;
mod commands;
mod comment;
pub mod convert;
pub mod copy;
pub mod cursor;
mod database;
pub mod datetime;
mod ddl;
pub mod deadline;
pub mod decode;
mod dml;
mod enforce;
mod for_update;
mod index;
mod qualified;
pub mod sequence;
mod table_constraints;
mod table_functions;
mod truncate;
pub(crate) use dml::datum_text;
pub mod interval;
mod literals;
pub mod names;
pub mod naming;
mod order_hints;
mod overflow;
pub mod params;
pub mod provider;
mod rewrite;
mod savepoint;
mod scan_exec;
mod schema;
mod settings;
pub mod sleep;
pub mod stats;
mod system;
mod text_literals;
pub mod txn;
pub mod types;
mod upsert;
mod view;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{create_udf, ColumnarValue, LogicalPlan, Volatility};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Statement, TransactionMode};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::StreamExt;
use kimberlite_catalog::{Catalog, DatabaseId, DEFAULT_SCHEMA};

/// The database of a session whose database was dropped before it began.
const NO_DATABASE: DatabaseId = 0;
use kimberlite_consensus::Op;

use crate::error::{EngineError, EngineResult};
use crate::Engine;
use provider::{KimberliteCatalog, ReadScope, ScopeSlot};
pub use settings::{OutputStyle, Settings};
use txn::Txn;

/// The PostgreSQL version we answer as (our behavioural reference).
pub const SERVER_VERSION: &str = "15.8";

/// `SELECT version()`.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Kimberlite {}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION")
    )
}

/// What a statement produced.
pub enum Outcome {
    /// Rows streamed from DataFusion; the tag is `SELECT n` once counted.
    Rows {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        /// The plan only computes constants (`SELECT 1/0`): PostgreSQL
        /// evaluates those while planning, so an error in them comes
        /// without RowDescription; any other query's error comes after it.
        constant: bool,
    },
    /// Rows already computed (RETURNING, SHOW) and the command tag.
    Batches {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        tag: String,
    },
    /// A command tag such as `INSERT 0 3` or `CREATE TABLE`.
    Command { tag: String },
    /// `COPY … FROM STDIN` started: the client sends CopyData next
    /// ([`Session::copy_data`], [`Session::copy_done`]).
    CopyIn { columns: usize, binary: bool },
    /// `COPY … TO STDOUT`: rows to send as COPY lines in `options`' format.
    CopyOut {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        options: copy::CopyOptions,
    },
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Rows { .. } => f.write_str("Rows"),
            Outcome::Batches { tag, .. } => write!(f, "Batches({tag})"),
            Outcome::Command { tag } => write!(f, "Command({tag})"),
            Outcome::CopyIn { columns, .. } => write!(f, "CopyIn({columns})"),
            Outcome::CopyOut { .. } => f.write_str("CopyOut"),
        }
    }
}

/// A started query: its columns, its rows as they are produced, and whether
/// it only computes constants (see [`Outcome::Rows`]).
pub(crate) struct QueryStream {
    pub schema: SchemaRef,
    pub stream: SendableRecordBatchStream,
    pub constant: bool,
}

/// A projection of non-volatile expressions over no table: what
/// PostgreSQL's planner folds before execution starts.
fn is_constant_plan(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(projection) => {
            matches!(projection.input.as_ref(), LogicalPlan::EmptyRelation(_))
                && !projection.expr.iter().any(|e| e.is_volatile())
        }
        _ => false,
    }
}

/// Where the session's transaction stands, for ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    Idle,
    InTransaction,
    Failed,
}

/// Parses PostgreSQL-dialect SQL into statements.
pub fn parse(sql: &str) -> EngineResult<Vec<Statement>> {
    let sql = system::client_queries::equivalent(sql).unwrap_or(sql);
    if let Some(fetch) = cursor::parse_fetch_or_move(sql) {
        return fetch.map(|statement| vec![statement]);
    }
    if let Some(alter) = alter_sequence::parse(sql) {
        return alter.map(|statement| vec![statement]);
    }
    if let Some(create) = database::parse(sql) {
        return create.map(|statement| vec![statement]);
    }
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql);
    if parsed.is_err() && is_vacuum(sql) {
        // Our parser reads few of VACUUM's forms; none changes anything.
        return Parser::parse_sql(&PostgreSqlDialect {}, "VACUUM")
            .map_err(|e| EngineError::Internal(e.to_string()));
    }
    if parsed.is_err() {
        // `COPY … WITH (FREEZE ON, HEADER off)`: our parser reads only
        // TRUE/FALSE for boolean options (pgbench sends `freeze on`).
        if let Some(normalized) = copy::boolean_options_as_keywords(sql) {
            if let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, &normalized) {
                return Ok(statements);
            }
        }
    }
    if parsed.is_err() {
        // PostgreSQL takes sequence options in any order, our parser in one.
        if let Some(reordered) = sequence::reorder_sequence_options(sql) {
            if let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, &reordered) {
                return Ok(statements);
            }
        }
    }
    parsed.map_err(|e| {
        let text = e.to_string();
        let error = classify::classify_datafusion_error(datafusion::error::DataFusionError::SQL(
            Box::new(e),
            None,
        ));
        match (error, syntax_position(sql, &text)) {
            (EngineError::Syntax(message), Some(position)) => {
                EngineError::SyntaxAt { message, position }
            }
            (error, _) => error,
        }
    })
}

/// One `VACUUM …` statement.
fn is_vacuum(sql: &str) -> bool {
    let text = sql.trim().trim_end_matches(';');
    !text.contains(';')
        && text
            .split_whitespace()
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("VACUUM"))
}

/// The 1-based character position of sqlparser's `at Line: L, Column: C`
/// in `sql`.
fn syntax_position(sql: &str, message: &str) -> Option<usize> {
    let at = message.rfind("Line: ")?;
    let mut numbers = message[at..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().ok());
    let (line, column) = (numbers.next()??, numbers.next()??);
    char_position(sql, line, column)
}

/// The 1-based character position of (1-based) `line` and `column` in `sql`.
pub(crate) fn char_position(sql: &str, line: usize, column: usize) -> Option<usize> {
    let preceding: usize = sql
        .split('\n')
        .take(line.checked_sub(1)?)
        .map(|l| l.chars().count() + 1)
        .sum();
    Some(preceding + column)
}

/// PostgreSQL identifier folding: unquoted names are lower-cased.
pub fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The (last, folded) identifier of a column reference such as `t.col`.
pub fn column_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(ident_name)
        .unwrap_or_default()
}

/// A connection's SQL state.
/// A NOTICE or WARNING for the client.
#[derive(Debug, Clone)]
pub struct Notice {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
}

pub struct Session {
    engine: Arc<Engine>,
    /// This session's entry on the engine's activity board.
    session_id: u64,
    ctx: SessionContext,
    scope: ScopeSlot,
    txn: Option<Txn>,
    pub settings: Settings,
    user: String,
    /// The database the session is connected to (it sees nothing of
    /// another), and its name.
    database: DatabaseId,
    database_name: String,
    /// Set by a result stream that failed after `execute` returned.
    stream_failed: Arc<std::sync::atomic::AtomicBool>,
    /// NOTICE/WARNING messages for the client: (severity, SQLSTATE, text).
    notices: Vec<Notice>,
    /// Counters of the statement running now, and of the one before.
    statement: Arc<stats::StatementStats>,
    previous_statement: stats::StatementTotals,
    /// Cancels the running statement (CancelRequest).
    cancel: Arc<deadline::CancelSignal>,
    /// The running statement's cancel token (its stream carries it).
    statement_token: tokio_util::sync::CancellationToken,
    /// A COPY FROM STDIN waiting for the client's data.
    copy_in: Option<copy::CopyIn>,
    /// Statements prepared with SQL PREPARE.
    sql_prepared: std::collections::HashMap<String, commands::SqlPrepared>,
    /// Open cursors (DECLARE … CURSOR).
    cursors: std::collections::HashMap<String, cursor::Cursor>,
    /// The open block's savepoints, oldest first.
    savepoints: Vec<savepoint::Savepoint>,
    /// The open transaction is an implicit block (a multi-statement query,
    /// or extended-protocol messages up to Sync) that commits as a whole.
    implicit_block: bool,
    /// The implicit block is a multi-statement query's.
    multi_statement_block: bool,
    /// What `nextval`, `currval` and friends share.
    sequences: Arc<sequence::SessionSequences>,
    /// Rows the next read scope hides (SELECT … FOR UPDATE SKIP LOCKED).
    hidden_rows: Option<for_update::Hidden>,
    /// The running query's sorts before a LIMIT, for its scans.
    order_hints: provider::OrderHints,
    /// What `current_schema()` says: the search path's first schema.
    current_schema: Arc<parking_lot::Mutex<String>>,
    /// The catalog the catalog functions read (the last planned
    /// statement's).
    system_view: system::SystemSlot,
}

impl Session {
    /// A session of `user` in the database named `database`. A database
    /// dropped since the login checked it leaves the session attached to
    /// none: it sees no tables and cannot commit (3D000).
    pub fn new(engine: Arc<Engine>, user: &str, database: &str) -> Session {
        let database_name = database.to_string();
        let database = engine.attach(database).unwrap_or(NO_DATABASE);
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(database_name.as_str(), provider::PATH_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            // A scan streams rows on demand; round-robin repartitioning
            // would read it to the end ahead of a LIMIT (and on two cores
            // buys little for the small statements we serve).
            .with_round_robin_repartition(false)
            // `::timestamptz` casts carry a zone (UTC, as stored), so they
            // are described as timestamptz, not timestamp.
            .set_str("datafusion.execution.time_zone", types::UTC);
        let ctx = SessionContext::new_with_config_rt(config, engine.session_runtime());
        let scope: ScopeSlot = Default::default();
        ctx.register_catalog(
            database_name.as_str(),
            Arc::new(KimberliteCatalog::new(
                engine.clone(),
                scope.clone(),
                view_planner(&ctx),
            )),
        );
        register_functions(&ctx, user, &database_name);
        let current_schema = Arc::new(parking_lot::Mutex::new(DEFAULT_SCHEMA.to_string()));
        let schema = current_schema.clone();
        ctx.register_udf(create_udf(
            "current_schema",
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_args: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                    schema.lock().clone(),
                ))))
            }),
        ));
        let system_view = system::SystemSlot::default();
        system::register_functions(&ctx, &system_view);
        let sequences = sequence::SessionSequences::new(engine.clone(), database);
        for udf in sequence::functions(&sequences) {
            ctx.register_udf(udf);
        }
        ctx.add_analyzer_rule(Arc::new(overflow::CheckedIntegerArithmetic));
        // After type coercion, which is what puts string literals in casts.
        ctx.add_analyzer_rule(Arc::new(text_literals::PostgresTextLiterals));
        ctx.register_udtf(
            system::KEYWORDS_FUNCTION,
            Arc::new(system::KeywordsFunction),
        );
        ctx.register_udtf(
            audit::VERIFY_FUNCTION,
            Arc::new(audit::VerifyFunction::new(engine.clone())),
        );
        engine
            .stats
            .sessions_open
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let session_id = engine.allocate_session_id();
        let now = engine.now_us();
        engine.activity.register(
            session_id,
            crate::activity::Activity {
                pid: 0,
                database,
                database_name: database_name.clone(),
                user: user.to_string(),
                application_name: String::new(),
                backend_start_us: now,
                xact_start_us: None,
                query_start_us: None,
                state_change_us: now,
                state: "idle",
                query: String::new(),
                client: None,
            },
        );
        Session {
            engine,
            session_id,
            ctx,
            scope,
            txn: None,
            settings: Settings::new(),
            user: user.to_string(),
            database,
            database_name,
            stream_failed: Default::default(),
            notices: Vec::new(),
            statement: Arc::default(),
            previous_statement: Default::default(),
            cancel: Arc::default(),
            statement_token: Default::default(),
            copy_in: None,
            sql_prepared: Default::default(),
            cursors: Default::default(),
            savepoints: Vec::new(),
            implicit_block: false,
            multi_statement_block: false,
            sequences,
            hidden_rows: None,
            order_hints: Default::default(),
            current_schema,
            system_view,
        }
    }

    /// The backend pid the client was told (BackendKeyData), for
    /// `pg_backend_pid()`.
    pub fn set_backend_pid(&mut self, pid: i32) {
        self.engine
            .activity
            .update(self.session_id, |a| a.pid = pid);
        self.system_view.lock().backend_pid = pid;
    }

    /// The connection's two ends, for `pg_stat_activity.client_addr` and
    /// `inet_server_addr()`/`inet_client_addr()` and their ports.
    pub fn set_addresses(
        &mut self,
        client: std::net::SocketAddr,
        server: Option<std::net::SocketAddr>,
    ) {
        self.engine
            .activity
            .update(self.session_id, |a| a.client = Some(client));
        let mut view = self.system_view.lock();
        view.client = Some(client);
        view.server = server;
    }

    /// Applies the `set_config` calls of the statements run since the last
    /// call (a failing one is dropped with a WARNING).
    fn apply_set_config(&mut self) {
        let pending: Vec<(String, String, bool)> = {
            let view = self.system_view.lock();
            let mut pending = view.pending.lock();
            std::mem::take(&mut *pending)
        };
        let in_block = self.in_block();
        for (name, value, local) in pending {
            if let Err(error) = self.settings.set_config(&name, &value, local, in_block) {
                self.notice("WARNING", "01000", error.to_string());
            }
        }
    }

    /// The session's user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The session's database: (id, name).
    pub fn database(&self) -> (DatabaseId, &str) {
        (self.database, &self.database_name)
    }

    /// The existing schemas of the session's `search_path`, in order.
    pub(crate) fn search_path(&self, catalog: &Catalog) -> Vec<String> {
        names::search_schemas(
            self.settings.get("search_path").unwrap_or("public"),
            &self.user,
            catalog,
        )
    }

    /// The catalog key of the object `name` refers to ([`names`]).
    pub(crate) fn resolve(&self, name: &ObjectName) -> EngineResult<String> {
        let (schema, name) = names::parts(name, &self.database_name)?;
        let catalog = self.statement_catalog(self.snapshot());
        names::lookup_key(
            &catalog,
            &self.search_path(&catalog),
            schema.as_deref(),
            &name,
        )
    }

    /// An error about a table outside `public` carries its schema (for
    /// the SCHEMA NAME field): the first schema of the path, else any,
    /// holding a table of that name.
    fn in_schema(&self, error: EngineError) -> EngineError {
        let (Some(table), _, _) = error.table_column_constraint() else {
            return error;
        };
        let catalog = self.statement_catalog(self.snapshot());
        let holds = |schema: &String| {
            catalog
                .table(&kimberlite_catalog::relation_key(schema, table))
                .is_some()
        };
        let schema = self
            .search_path(&catalog)
            .into_iter()
            .find(holds)
            .or_else(|| catalog.schemas().map(|s| s.name.clone()).find(holds));
        match schema {
            Some(schema) if schema != DEFAULT_SCHEMA => EngineError::InSchema {
                error: Box::new(error),
                schema,
            },
            _ => error,
        }
    }

    /// Where a new object called `name` goes: (schema, bare name).
    pub(crate) fn creation_target(&self, name: &ObjectName) -> EngineResult<(String, String)> {
        let (schema, name) = names::parts(name, &self.database_name)?;
        let catalog = self.statement_catalog(self.snapshot());
        names::creation_target(
            &catalog,
            &self.search_path(&catalog),
            schema.as_deref(),
            &name,
        )
    }

    /// The switch a CancelRequest for this session flips.
    pub fn cancel_signal(&self) -> Arc<deadline::CancelSignal> {
        self.cancel.clone()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Every function name a statement of this session can call (scalar,
    /// aggregate and window), sorted: what `pg_proc` may list.
    pub fn function_names(&self) -> Vec<String> {
        let state = self.ctx.state();
        let mut names: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// For ReadyForQuery.
    pub fn txn_status(&self) -> TxnStatus {
        match &self.txn {
            Some(t) if t.explicit && t.failed => TxnStatus::Failed,
            Some(t) if t.explicit => TxnStatus::InTransaction,
            _ => TxnStatus::Idle,
        }
    }

    /// Runs one statement (shown as `active` in `pg_stat_activity` while
    /// it runs).
    pub async fn execute(&mut self, statement: Statement) -> EngineResult<Outcome> {
        let now = self.engine.now_us();
        let query = crate::activity::truncate_query(&statement.to_string());
        let application_name = self
            .settings
            .get("application_name")
            .unwrap_or("")
            .to_string();
        self.engine.activity.update(self.session_id, |a| {
            a.state = "active";
            a.query = query;
            a.query_start_us = Some(now);
            a.state_change_us = now;
            a.xact_start_us = a.xact_start_us.or(Some(now));
            a.application_name = application_name;
        });
        // Boxed: the statement's future is large, and this one wraps it
        // (on the caller's stack it overflowed debug-build test threads).
        let outcome = Box::pin(self.execute_statement(statement)).await;
        let state = match self.txn_status() {
            TxnStatus::Idle => "idle",
            TxnStatus::InTransaction => "idle in transaction",
            TxnStatus::Failed => "idle in transaction (aborted)",
        };
        let (engine, session) = (self.engine.clone(), self.session_id);
        // As set by this statement, if it was a SET.
        let application_name = self
            .settings
            .get("application_name")
            .unwrap_or("")
            .to_string();
        let finish = move |failed: bool| {
            let now = engine.now_us();
            // Rows that fail abort an open transaction block.
            let state = match state {
                "idle in transaction" if failed => "idle in transaction (aborted)",
                state => state,
            };
            engine.activity.update(session, |a| {
                a.application_name = application_name;
                a.state = state;
                a.state_change_us = now;
                if state == "idle" {
                    a.xact_start_us = None;
                }
            });
        };
        // Streamed rows are computed after this returns: the statement
        // is active until its stream ends.
        match outcome {
            Ok(Outcome::Rows {
                schema,
                stream,
                constant,
            }) => Ok(Outcome::Rows {
                schema,
                stream: crate::activity::FinishOnEnd::wrap(stream, Box::new(finish)),
                constant,
            }),
            Ok(Outcome::CopyOut {
                schema,
                stream,
                options,
            }) => Ok(Outcome::CopyOut {
                schema,
                stream: crate::activity::FinishOnEnd::wrap(stream, Box::new(finish)),
                options,
            }),
            other => {
                finish(other.is_err());
                other
            }
        }
    }

    async fn execute_statement(&mut self, statement: Statement) -> EngineResult<Outcome> {
        if self.copy_in.is_some() {
            // The client left COPY mode without CopyDone (the wire layer
            // refused its message): the COPY's rows are not kept.
            self.abandon_copy();
        }
        self.previous_statement = self.statement.totals();
        self.statement = Arc::default();
        self.apply_set_config();
        if self
            .stream_failed
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            if let Some(txn) = self.txn.as_mut().filter(|t| t.explicit) {
                txn.failed = true;
            }
        }
        match &statement {
            Statement::StartTransaction { modes, .. } => return self.begin(modes),
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => return self.rollback_to_savepoint(&ident_name(name)),
            Statement::Commit { .. } => {
                self.savepoints.clear();
                let result = self.commit().await;
                let committed = matches!(&result, Ok(Outcome::Command { tag }) if tag == "COMMIT");
                self.settings.end_block(committed);
                self.close_cursors_at_end(committed);
                return result;
            }
            Statement::Rollback {
                savepoint: None, ..
            } => {
                self.savepoints.clear();
                self.settings.end_block(false);
                self.close_cursors_at_end(false);
                if self.txn.take().is_none() {
                    self.notice(
                        "WARNING",
                        "25P01",
                        "there is no transaction in progress".into(),
                    );
                }
                return Ok(Outcome::Command {
                    tag: "ROLLBACK".into(),
                });
            }
            _ => {}
        }
        if self.txn.as_ref().is_some_and(|t| t.failed) {
            return Err(EngineError::InFailedTransaction);
        }
        match &statement {
            Statement::Savepoint { name } => return self.savepoint(ident_name(name)),
            Statement::ReleaseSavepoint { name } => {
                return self.release_savepoint(&ident_name(name))
            }
            _ => {}
        }
        if audit::is_bare_call(&statement, audit::ROTATE_FUNCTION) {
            let (schema, batch) =
                audit::rotate_keys(&self.engine, &self.user, self.database).await?;
            return Ok(Outcome::Batches {
                schema,
                batches: vec![batch],
                tag: "SELECT 1".into(),
            });
        }
        // Inside BEGIN … COMMIT or a multi-statement block the statement
        // joins the open transaction; otherwise it gets its own.
        let joined = self.txn.is_some();
        if !joined {
            self.txn = Some(Txn::new(false));
        }
        let token = self.cancel.begin_statement();
        self.statement_token = token.clone();
        let run = async {
            match self.settings.statement_timeout() {
                Some(limit) => tokio::time::timeout(limit, self.execute_in_txn(statement))
                    .await
                    .unwrap_or(Err(EngineError::StatementTimeout)),
                None => self.execute_in_txn(statement).await,
            }
        };
        let result = tokio::select! {
            result = run => result,
            _ = token.cancelled() => Err(EngineError::QueryCanceled),
        };
        match result {
            // COPY FROM STDIN keeps its implicit transaction open until
            // CopyDone.
            Ok(outcome @ Outcome::CopyIn { .. }) => Ok(outcome),
            Ok(outcome) => {
                if !joined {
                    let txn = self.txn.take().expect("implicit transaction is open");
                    if !txn.is_empty() {
                        self.engine.commit(self.database, txn.to_command()).await?;
                    }
                }
                Ok(outcome)
            }
            Err(error) => {
                let error = self.in_schema(error);
                match &mut self.txn {
                    Some(txn) if txn.explicit => txn.failed = true,
                    _ => self.txn = None,
                }
                Err(error)
            }
        }
    }

    /// Opens the implicit transaction block PostgreSQL wraps around the
    /// statements of one multi-statement simple query (no-op inside a
    /// transaction). [`Session::finish_implicit_block`] commits it.
    pub fn begin_implicit_block(&mut self) {
        if self.txn.is_none() {
            self.txn = Some(Txn::new(false));
            self.implicit_block = true;
        }
    }

    /// [`Session::begin_implicit_block`] for one statement of a
    /// multi-statement simple query.
    pub fn begin_multi_statement_block(&mut self) {
        self.begin_implicit_block();
        self.multi_statement_block = self.implicit_block;
    }

    /// Inside a multi-statement query's implicit block, or an implicit
    /// block that already holds writes (statements that must run alone
    /// refuse both, as PostgreSQL does).
    fn in_multi_statement_block(&self) -> bool {
        self.implicit_block
            && (self.multi_statement_block || self.txn.as_ref().is_some_and(|t| !t.is_empty()))
    }

    /// Commits the implicit block, if one is still open (an error already
    /// discarded it; a BEGIN turned it into a regular block).
    pub async fn finish_implicit_block(&mut self) -> EngineResult<()> {
        self.implicit_block = false;
        self.multi_statement_block = false;
        if self.txn.as_ref().is_some_and(|t| !t.explicit) {
            let txn = self.txn.take().expect("checked above");
            if !txn.is_empty() {
                self.engine.commit(self.database, txn.to_command()).await?;
            }
        }
        Ok(())
    }

    /// Queues a notice for the client (sent before the statement's result).
    pub(crate) fn notice(&mut self, severity: &'static str, code: &'static str, message: String) {
        self.notices.push(Notice {
            severity,
            code,
            message,
            detail: None,
        });
    }

    /// A notice with PostgreSQL's DETAIL field.
    pub(crate) fn notice_detail(&mut self, code: &'static str, message: String, detail: String) {
        self.notices.push(Notice {
            severity: "NOTICE",
            code,
            message,
            detail: Some(detail),
        });
    }

    /// PostgreSQL's notice for objects a DROP … CASCADE took with it: one
    /// line alone, several as "drop cascades to N other objects" with the
    /// lines as DETAIL.
    pub(crate) fn notice_cascades(&mut self, lines: Vec<String>) {
        match lines.len() {
            0 => {}
            1 => self.notice("NOTICE", "00000", lines.into_iter().next().expect("one")),
            n => self.notice_detail(
                "00000",
                format!("drop cascades to {n} other objects"),
                lines.join("\n"),
            ),
        }
    }

    /// Queues a notice taken earlier (to put notices in PostgreSQL's order).
    pub(crate) fn push_notice(&mut self, notice: Notice) {
        self.notices.push(notice);
    }

    /// Takes the notices the last statement produced.
    /// The queued notices the client asked for: those at or above its
    /// `client_min_messages` (NOTICE by default; WARNING hides NOTICEs).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        let rank = |level: &str| match level.to_ascii_lowercase().as_str() {
            "notice" => 1,
            "warning" => 2,
            "error" => 3,
            _ => 0, // debug…, log: everything is sent
        };
        let least = rank(self.settings.get("client_min_messages").unwrap_or("notice"));
        let mut notices = std::mem::take(&mut self.notices);
        notices.retain(|n| rank(n.severity) >= least);
        notices
    }

    /// Records that the statement just run failed after `execute`
    /// returned (while its rows were read): an explicit block becomes
    /// aborted, an implicit one is discarded.
    pub fn statement_failed(&mut self) {
        self.stream_failed
            .store(false, std::sync::atomic::Ordering::Release);
        let savepoints = !self.savepoints.is_empty();
        match &mut self.txn {
            Some(txn) if txn.explicit => {
                txn.failed = true;
                // As PostgreSQL aborts at the error, others stop waiting
                // now, not at ROLLBACK; a savepoint may still need them.
                if !savepoints {
                    txn.locks = None;
                }
            }
            _ => self.txn = None,
        }
    }

    fn begin(&mut self, modes: &[TransactionMode]) -> EngineResult<Outcome> {
        if !self.txn.as_ref().is_some_and(|t| t.explicit) {
            self.settings.begin_block(modes)?;
        }
        match &mut self.txn {
            Some(txn) if txn.explicit => {
                self.notice(
                    "WARNING",
                    "25001",
                    "there is already a transaction in progress".into(),
                );
            }
            // BEGIN inside a multi-statement query turns its implicit block
            // into a regular transaction block, earlier statements included.
            Some(txn) => txn.explicit = true,
            None => self.txn = Some(Txn::new(true)),
        }
        Ok(Outcome::Command {
            tag: "BEGIN".into(),
        })
    }

    /// Whether an explicit transaction block is open.
    fn in_block(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.explicit)
    }

    /// 25006 for a statement that writes in a READ ONLY transaction.
    fn check_writable(&self, statement: &Statement) -> EngineResult<()> {
        if !self.settings.read_only() {
            return Ok(());
        }
        let command = match statement {
            Statement::Insert(_) => "INSERT",
            Statement::Update(_) => "UPDATE",
            Statement::Delete(_) => "DELETE",
            Statement::CreateTable(_) => "CREATE TABLE",
            Statement::AlterTable(_) => "ALTER TABLE",
            Statement::CreateIndex(_) => "CREATE INDEX",
            Statement::CreateView(_) => "CREATE VIEW",
            Statement::CreateSchema { .. } => "CREATE SCHEMA",
            Statement::CreateDatabase { .. } => "CREATE DATABASE",
            Statement::Comment { .. } => "COMMENT",
            Statement::CreateSequence { name, .. } => match alter_sequence::disguised(name) {
                Some(_) => "ALTER SEQUENCE",
                None => "CREATE SEQUENCE",
            },
            Statement::Query(query) if !query.locks.is_empty() => "SELECT FOR UPDATE",
            Statement::Drop { .. } => "DROP",
            Statement::Truncate(_) => "TRUNCATE TABLE",
            Statement::Copy { to: false, .. } => "COPY FROM",
            _ => return Ok(()),
        };
        Err(EngineError::ReadOnlyTransaction(command.into()))
    }

    async fn commit(&mut self) -> EngineResult<Outcome> {
        let Some(txn) = self.txn.take() else {
            self.notice(
                "WARNING",
                "25P01",
                "there is no transaction in progress".into(),
            );
            return Ok(Outcome::Command {
                tag: "COMMIT".into(),
            });
        };
        if txn.failed {
            return Ok(Outcome::Command {
                tag: "ROLLBACK".into(),
            });
        }
        if txn.is_empty() {
            self.engine.flush_sequences(self.database).await?;
        } else {
            self.engine.commit(self.database, txn.to_command()).await?;
        }
        Ok(Outcome::Command {
            tag: "COMMIT".into(),
        })
    }

    async fn execute_in_txn(&mut self, statement: Statement) -> EngineResult<Outcome> {
        self.check_writable(&statement)?;
        self.fix_snapshot(&statement)?;
        match statement {
            Statement::Query(mut query) if !query.locks.is_empty() => {
                let hidden = for_update::lock_rows(self, &query).await?;
                query.locks.clear();
                self.hidden_rows = Some(hidden);
                let query = self.run_query(Statement::Query(query)).await;
                self.hidden_rows = None;
                let query = query?;
                Ok(Outcome::Rows {
                    schema: query.schema,
                    stream: query.stream,
                    constant: query.constant,
                })
            }
            Statement::Query(_) | Statement::Explain { .. } => {
                let query = self.run_query(statement).await?;
                Ok(Outcome::Rows {
                    schema: query.schema,
                    stream: query.stream,
                    constant: query.constant,
                })
            }
            Statement::Insert(insert) => dml::insert(self, insert).await,
            Statement::Update(update) => dml::update(self, update).await,
            Statement::Delete(delete) => dml::delete(self, delete).await,
            Statement::CreateTable(create) => ddl::create_table(self, create).await,
            Statement::AlterTable(alter) => alter_table::alter_table(self, alter).await,
            Statement::CreateIndex(create) => index::create_index(self, create).await,
            Statement::CreateView(create) => view::create_view(self, create).await,
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => schema::create_schema(self, &schema_name, if_not_exists),
            Statement::Drop {
                object_type: datafusion::sql::sqlparser::ast::ObjectType::Schema,
                if_exists,
                names,
                cascade,
                ..
            } => schema::drop_schemas(self, if_exists, &names, cascade).await,
            Statement::CreateDatabase {
                db_name,
                if_not_exists,
                location,
                ..
            } => database::create(self, &db_name, location, if_not_exists).await,
            Statement::Drop {
                object_type: datafusion::sql::sqlparser::ast::ObjectType::Database,
                if_exists,
                names,
                ..
            } => database::drop(self, &names, if_exists).await,
            Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => comment::comment(self, object_type, &object_name, comment),
            Statement::Truncate(truncate) => truncate::truncate(self, truncate).await,
            Statement::Vacuum(_) if self.in_block() => {
                Err(EngineError::ActiveTransaction("VACUUM".into()))
            }
            // Nothing to reclaim or gather yet: accepted, as tools send them.
            Statement::Vacuum(_) => Ok(Outcome::Command {
                tag: "VACUUM".into(),
            }),
            Statement::Analyze(_) => Ok(Outcome::Command {
                tag: "ANALYZE".into(),
            }),
            Statement::CreateSequence {
                temporary: false,
                if_not_exists,
                name,
                data_type,
                sequence_options,
                owned_by,
            } => match alter_sequence::disguised(&name) {
                Some((restart, name)) => alter_sequence::run(
                    self,
                    if_not_exists,
                    &name,
                    restart,
                    data_type.as_ref(),
                    &sequence_options,
                    owned_by.as_ref(),
                ),
                None => sequence::create_sequence(
                    self,
                    if_not_exists,
                    &name,
                    data_type.as_ref(),
                    &sequence_options,
                    owned_by.as_ref(),
                ),
            },
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => ddl::drop(self, object_type, if_exists, names, cascade),
            statement @ Statement::Copy { .. } => copy::start(self, statement).await,
            Statement::Set(set) => {
                let in_block = self.in_block();
                let outcome = self.settings.set(set, in_block)?;
                if let Some(warning) = outcome.warning {
                    self.notice("WARNING", "25P01", warning);
                }
                Ok(Outcome::Command { tag: "SET".into() })
            }
            Statement::ShowVariable { variable } => self.settings.show(&variable),
            statement @ (Statement::Reset(_)
            | Statement::Discard { .. }
            | Statement::Deallocate { .. }
            | Statement::Prepare { .. }
            | Statement::Execute { .. }
            | Statement::Close { .. }
            | Statement::UNLISTEN { .. }
            | Statement::LISTEN { .. }
            | Statement::NOTIFY { .. }) => self.session_command(statement).await,
            Statement::Declare { stmts } => self.declare(stmts).await,
            Statement::Fetch {
                name,
                direction,
                into,
                ..
            } => {
                self.fetch(&ident_name(&name), direction, into.is_some())
                    .await
            }
            other => Err(EngineError::FeatureNotSupported(format!(
                "statement not supported yet: {}",
                first_words(&other.to_string())
            ))),
        }
    }

    /// The catalog the current statement sees: the transaction's own if it
    /// did DDL, otherwise the snapshot's.
    fn statement_catalog(&self, snapshot: Op) -> Arc<Catalog> {
        match self.txn.as_ref().and_then(|t| t.catalog.clone()) {
            Some(catalog) => catalog,
            None => self.engine.catalog_at(self.database, snapshot),
        }
    }

    /// Sets the read scope for the statement about to be planned.
    /// Drops the statement's read scope once planning is done, so the
    /// transaction's overlays are not shared (a shared overlay is copied on
    /// the next write).
    fn clear_scope(&self) {
        self.scope.lock().take();
    }

    /// The snapshot a statement reads: the block's under REPEATABLE READ,
    /// the newest durable one otherwise.
    pub(crate) fn snapshot(&self) -> Op {
        self.txn
            .as_ref()
            .and_then(|t| t.snapshot)
            .unwrap_or_else(|| self.engine.snapshot())
    }

    /// Under REPEATABLE READ the block's first query or DML fixes the
    /// snapshot (as in PostgreSQL, not BEGIN); the isolation level cannot
    /// change after that.
    fn fix_snapshot(&mut self, statement: &Statement) -> EngineResult<()> {
        use datafusion::sql::sqlparser::ast::Set;
        let fixed = self.txn.as_ref().is_some_and(|t| t.queried);
        if fixed {
            if let Statement::Set(Set::SetTransaction {
                modes,
                session: false,
                ..
            }) = statement
            {
                if modes
                    .iter()
                    .any(|m| matches!(m, TransactionMode::IsolationLevel(_)))
                {
                    return Err(EngineError::ActiveTransaction(
                        "SET TRANSACTION ISOLATION LEVEL must be called before any query".into(),
                    ));
                }
            }
            return Ok(());
        }
        let reads = matches!(
            statement,
            Statement::Query(_)
                | Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)
                | Statement::Truncate(_)
                | Statement::AlterTable(_)
                | Statement::Copy { .. }
                | Statement::Declare { .. }
        );
        if reads {
            let snapshot = self.engine.snapshot();
            let repeatable = self.settings.repeatable_read();
            if let Some(txn) = self.txn.as_mut().filter(|t| t.explicit) {
                txn.queried = true;
                if repeatable {
                    txn.snapshot = Some(snapshot);
                }
            }
        }
        Ok(())
    }

    /// The session's TimeZone as an Arrow zone label.
    pub(crate) fn zone(&self) -> Arc<str> {
        types::arrow_zone(self.settings.output_style().time_zone)
    }

    fn set_scope(&self, dml_target: Option<Arc<kimberlite_catalog::TableDef>>) -> ReadScope {
        let snapshot = self.snapshot();
        let catalog = self.statement_catalog(snapshot);
        let mut overlays = self
            .txn
            .as_ref()
            .map(|t| t.writes.clone())
            .unwrap_or_default();
        if let Some(hidden) = &self.hidden_rows {
            // Hidden rows read as deleted, in this scope only (the
            // transaction's own overlay is not touched).
            let overlay = std::sync::Arc::make_mut(overlays.entry(hidden.table).or_default());
            for key in &hidden.keys {
                overlay.insert(
                    key.clone(),
                    txn::OverlayEntry {
                        row: None,
                        base: txn::Base::New,
                    },
                );
            }
        }
        let search_path = self.search_path(&catalog);
        *self.current_schema.lock() = names::current_schema(&search_path);
        {
            let mut view = self.system_view.lock();
            view.catalog = catalog.clone();
            view.search_path = search_path.clone();
            view.settings = Arc::new(self.settings.values());
            view.user = self.user.clone();
            view.snapshot = snapshot;
            view.activity = Arc::new(self.engine.activity.snapshot());
        }
        self.sequences.set_scope(
            catalog.clone(),
            search_path.clone(),
            self.settings.read_only(),
        );
        let scope = ReadScope {
            database: self.database,
            snapshot,
            catalog,
            overlays,
            dml_target,
            statement: self.statement.clone(),
            previous: self.previous_statement,
            zone: self.zone(),
            search_path,
            order_hints: self.order_hints.clone(),
            system: self.system_view.lock().clone(),
            database_name: self.database_name.clone(),
        };
        self.order_hints.lock().clear();
        *self.scope.lock() = Some(scope.clone());
        scope
    }

    /// Plans a query statement (no execution).
    async fn plan(&self, mut statement: Statement) -> EngineResult<LogicalPlan> {
        names::refuse_other_databases(&statement, &self.database_name)?;
        let view = self.system_view.lock().clone();
        system::rewrite(&mut statement, &view)?;
        prepare_query(&mut statement);
        // `::timestamptz` casts read zone-less text in the session's zone.
        let zone = self.zone().to_string();
        {
            let state = self.ctx.state_ref();
            let mut state = state.write();
            let options = state.config_mut().options_mut();
            if options.execution.time_zone.as_deref() != Some(zone.as_str()) {
                options.execution.time_zone = Some(zone);
            }
        }
        let state = self.ctx.state();
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|_| EngineError::FeatureNotSupported("statement not supported".into()))?;
        Ok(plan)
    }

    /// Plans and starts a query in the current scope; its stream stops at
    /// the statement's timeout or cancel.
    async fn run_query(&self, statement: Statement) -> EngineResult<QueryStream> {
        self.start_query(statement, true).await
    }

    /// Plans and starts a query; a cursor's stream (`interruptible` false)
    /// outlives the DECLARE and is bounded by each FETCH instead.
    async fn start_query(
        &self,
        statement: Statement,
        interruptible: bool,
    ) -> EngineResult<QueryStream> {
        self.set_scope(None);
        let names = naming::column_names(&statement);
        let plan = self.plan(statement).await?;
        *self.order_hints.lock() = order_hints::of(&plan);
        let constant = is_constant_plan(&plan);
        let frame = self.ctx.execute_logical_plan(plan).await?;
        let schema = naming::rename(
            &Arc::new(frame.schema().as_arrow().clone()),
            names.as_deref(),
        );
        let stream = frame.execute_stream().await;
        self.clear_scope();
        let stream = stream?;
        let timed: futures::stream::BoxStream<'static, _> = if interruptible {
            deadline::Interrupt::new(
                stream,
                self.settings.statement_timeout(),
                self.statement_token.clone(),
            )
            .boxed()
        } else {
            stream.boxed()
        };
        let engine = self.engine.clone();
        let stream_failed = self.stream_failed.clone();
        let statement = self.statement.clone();
        let counted = timed.inspect(move |batch| match batch {
            Ok(batch) => {
                let rows = batch.num_rows() as u64;
                let bytes = batch.get_array_memory_size() as u64;
                engine
                    .stats
                    .rows_returned
                    .fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
                engine
                    .stats
                    .result_batch_bytes_max
                    .fetch_max(bytes, std::sync::atomic::Ordering::Relaxed);
                statement.note_returned(rows, bytes);
            }
            // An error while rows stream aborts an explicit transaction,
            // exactly like an error before the first row.
            Err(_) => stream_failed.store(true, std::sync::atomic::Ordering::Release),
        });
        // A query that called nextval logs its reservation before the
        // client hears the query is complete (PostgreSQL's nextval makes its
        // transaction durable the same way).
        let flush_engine = self.engine.clone();
        let database = self.database;
        let flushed = counted.chain(
            futures::stream::once(async move {
                flush_engine
                    .flush_sequences(database)
                    .await
                    .err()
                    .map(|e| Err(datafusion::error::DataFusionError::External(Box::new(e))))
            })
            .filter_map(futures::future::ready),
        );
        let stream: SendableRecordBatchStream =
            Box::pin(RecordBatchStreamAdapter::new(schema.clone(), flushed));
        Ok(QueryStream {
            schema,
            stream,
            constant,
        })
    }

    /// Plans and fully runs a query built by us (DML sources).
    async fn collect_query(&self, sql: &str) -> EngineResult<(SchemaRef, Vec<RecordBatch>)> {
        let mut statements = parse(sql)?;
        if statements.len() != 1 {
            return Err(EngineError::Internal(format!(
                "internal query is not one statement: {sql}"
            )));
        }
        let plan = self.plan(statements.remove(0)).await?;
        let frame = self.ctx.execute_logical_plan(plan).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let stream = frame.execute_stream().await;
        self.clear_scope();
        // The rows a DML statement writes are collected before they enter
        // the transaction: bound them by the transaction limit as they come.
        let mut stream = stream?;
        let mut batches = Vec::new();
        let mut bytes = self.txn.as_ref().map_or(0, |t| t.bytes_written);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            bytes += batch.get_array_memory_size();
            self.check_txn_bytes(bytes)?;
            batches.push(batch);
        }
        Ok((schema, batches))
    }

    /// 54000 once the open transaction's writes pass `txn_bytes_max`.
    pub(crate) fn check_txn_written(&self) -> EngineResult<()> {
        self.check_txn_bytes(self.txn.as_ref().map_or(0, |t| t.bytes_written))
    }

    /// 54000 once a transaction's writes pass `txn_bytes_max`.
    pub(crate) fn check_txn_bytes(&self, bytes: usize) -> EngineResult<()> {
        let limit = self.engine.txn_bytes_max();
        if bytes > limit {
            return Err(EngineError::ProgramLimitExceeded(format!(
                "transaction of more than {bytes} bytes exceeds the limit of {limit} bytes"
            )));
        }
        Ok(())
    }

    /// Plans `statement` without running it, for Describe: the result
    /// schema (None for statements that return no rows) and the types
    /// DataFusion inferred for `$n` placeholders.
    pub async fn describe(&mut self, statement: &Statement) -> EngineResult<params::Description> {
        let description = params::describe(self, statement).await;
        self.clear_scope();
        description
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.engine.activity.remove(self.session_id);
        self.engine.detach(self.database);
        self.engine
            .stats
            .sessions_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Our rewrites of a query's syntax before DataFusion plans it (also of
/// a view's query, planned inside the statement that reads the view).
fn prepare_query(statement: &mut Statement) {
    literals::type_integer_literals(statement);
    naming::alias_repeated_items(statement);
    table_functions::name_single_columns(statement);
    qualified::unqualify_catalog_functions(statement);
}

/// Plans view text in `ctx`'s state, as the session plans a query. Holds
/// the state weakly: the planner lives inside that state's catalog.
fn view_planner(ctx: &SessionContext) -> provider::ViewPlanner {
    use datafusion::error::DataFusionError;
    let state = Arc::downgrade(&ctx.state_ref());
    let depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Arc::new(move |sql: String| {
        let state = state.clone();
        let depth = depth.clone();
        Box::pin(async move {
            let state = state
                .upgrade()
                .ok_or_else(|| DataFusionError::Internal("session is gone".into()))?
                .read()
                .clone();
            let external = |e: EngineError| DataFusionError::External(Box::new(e));
            if depth.fetch_add(1, std::sync::atomic::Ordering::AcqRel) >= view::VIEW_DEPTH_MAX {
                depth.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                return Err(external(EngineError::FeatureNotSupported(format!(
                    "views nest more than {} deep (a view that reads itself?)",
                    view::VIEW_DEPTH_MAX
                ))));
            }
            let planned = async {
                let mut statements = parse(&sql).map_err(external)?;
                let mut statement = statements
                    .pop()
                    .ok_or_else(|| DataFusionError::Internal("empty view".into()))?;
                prepare_query(&mut statement);
                state
                    .statement_to_plan(DfStatement::Statement(Box::new(statement)))
                    .await
            }
            .await;
            depth.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            planned
        })
    })
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Functions clients call on connect that DataFusion lacks or answers
/// differently.
fn register_functions(ctx: &SessionContext, user: &str, database: &str) {
    let constant = |name: &str, value: String| {
        let udf = create_udf(
            name,
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_args: &[ColumnarValue]| {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                    value.clone(),
                ))))
            }),
        );
        ctx.register_udf(udf);
    };
    constant("version", version_string());
    // Pools call it between borrowers; no advisory lock is ever held.
    constant("pg_advisory_unlock_all", String::new());
    constant("current_database", database.to_string());
    constant("current_user", user.to_string());
    constant("session_user", user.to_string());
    ctx.register_udf(sleep::pg_sleep());
    // Planned like any function (so Describe works); run only as the bare
    // statement `SELECT kimberlite_rotate_keys()`, which the session
    // intercepts before DataFusion executes anything.
    ctx.register_udf(create_udf(
        audit::ROTATE_FUNCTION,
        vec![],
        DataType::Int64,
        Volatility::Volatile,
        Arc::new(|_args: &[ColumnarValue]| {
            Err(datafusion::error::DataFusionError::External(Box::new(
                EngineError::FeatureNotSupported(format!(
                    "{} can only be called as SELECT {}()",
                    audit::ROTATE_FUNCTION,
                    audit::ROTATE_FUNCTION
                )),
            )))
        }),
    ));
}
