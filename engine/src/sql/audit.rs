//! SQL surfaces of the integrity layer.
//!
//! - `SELECT * FROM kimberlite_verify()`: the offline `kimberlite verify`
//!   run on the live data directory, as one row: whether it verified, the
//!   chain head, and the newest signed checkpoint, which an auditor records
//!   outside the system to prove later that the history since is intact.
//! - `SELECT kimberlite_rotate_keys()`: superusers only; logs a new KEK and
//!   data key for the database and returns the new data key id. It runs as
//!   its own statement (it is not undone by a ROLLBACK): the key records are
//!   durable before it returns.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session as DfSession, TableFunctionArgs, TableFunctionImpl};
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArguments, SelectItem, SetExpr, Statement,
};

use crate::error::{EngineError, EngineResult};
use crate::verify::{verify_dir, VerifyReport};
use crate::Engine;

/// Name of the verification table function.
pub const VERIFY_FUNCTION: &str = "kimberlite_verify";
/// Name of the key rotation function.
pub const ROTATE_FUNCTION: &str = "kimberlite_rotate_keys";

/// `kimberlite_verify()`.
pub struct VerifyFunction {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for VerifyFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyFunction")
    }
}

impl VerifyFunction {
    pub fn new(engine: Arc<Engine>) -> VerifyFunction {
        VerifyFunction { engine }
    }
}

impl TableFunctionImpl for VerifyFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return Err(DataFusionError::External(Box::new(
                EngineError::UndefinedFunction(format!(
                    "function {VERIFY_FUNCTION} takes no arguments"
                )),
            )));
        }
        Ok(Arc::new(VerifyTable {
            engine: self.engine.clone(),
        }))
    }
}

fn verify_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        Field::new("verified", DataType::Boolean, false),
        int("ops"),
        int("segments"),
        int("files"),
        int("bytes"),
        int("watermark_op"),
        text("chain_head"),
        int("checkpoints"),
        int("snapshots"),
        int("checkpoint_op"),
        text("checkpoint_head"),
        text("checkpoint_signature"),
        text("public_key"),
        int("problems"),
        text("first_problem"),
        text("torn_tail"),
    ]))
}

fn report_batch(report: &VerifyReport) -> DfResult<RecordBatch> {
    let int = |v: u64| Arc::new(Int64Array::from(vec![Some(v as i64)])) as ArrayRef;
    let text = |v: Option<String>| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let checkpoint = report.newest_checkpoint.as_ref().map(|(_, c)| c);
    Ok(RecordBatch::try_new(
        verify_schema(),
        vec![
            Arc::new(BooleanArray::from(vec![report.ok()])),
            int(report.ops),
            int(report.segments as u64),
            int(report.files as u64),
            int(report.bytes),
            int(report.watermark_op),
            text(Some(hex::encode(report.chain_head))),
            int(report.checkpoints),
            int(report.snapshots as u64),
            Arc::new(Int64Array::from(vec![checkpoint.map(|c| c.op as i64)])),
            text(checkpoint.map(|c| hex::encode(c.head_hash))),
            text(checkpoint.map(|c| hex::encode(c.signature))),
            text(report.public_key.map(hex::encode)),
            int(report.problems.len() as u64),
            text(report.problems.first().map(|p| p.to_string())),
            text(report.torn_tail.clone()),
        ],
    )?)
}

/// The one-row result of verifying the live directory.
struct VerifyTable {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for VerifyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyTable")
    }
}

#[async_trait]
impl TableProvider for VerifyTable {
    fn schema(&self) -> SchemaRef {
        verify_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let dir = self.engine.data_dir().to_path_buf();
        let report = tokio::task::spawn_blocking(move || {
            // The server appends while we read: a watermark slot caught
            // mid-write reads as damaged. Damage that is real stays on a
            // second look; a write in flight does not.
            let first = verify_dir(&dir, None, &mut |_| {});
            if first.ok() {
                first
            } else {
                verify_dir(&dir, None, &mut |_| {})
            }
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let table = MemTable::try_new(verify_schema(), vec![vec![report_batch(&report)?]])?;
        table.scan(state, projection, filters, limit).await
    }
}

/// Whether `statement` is exactly `SELECT <function>()`.
pub fn is_bare_call(statement: &Statement, function: &str) -> bool {
    let Statement::Query(query) = statement else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    if !select.from.is_empty() || select.projection.len() != 1 || select.selection.is_some() {
        return false;
    }
    let (SelectItem::UnnamedExpr(SqlExpr::Function(call))
    | SelectItem::ExprWithAlias {
        expr: SqlExpr::Function(call),
        ..
    }) = &select.projection[0]
    else {
        return false;
    };
    let no_args = match &call.args {
        FunctionArguments::None => true,
        FunctionArguments::List(list) => list.args.is_empty(),
        FunctionArguments::Subquery(_) => false,
    };
    no_args && super::column_name(&call.name).eq_ignore_ascii_case(function)
}

/// `SELECT kimberlite_rotate_keys()` for `user`: superusers only; rotates
/// the keys of the session's database.
pub async fn rotate_keys(
    engine: &Engine,
    user: &str,
    database: kimberlite_catalog::DatabaseId,
) -> EngineResult<(SchemaRef, RecordBatch)> {
    let superuser = engine
        .cluster_catalog()
        .role(user)
        .is_some_and(|role| role.superuser);
    if !superuser {
        return Err(EngineError::InsufficientPrivilege(format!(
            "permission denied for function {ROTATE_FUNCTION}"
        )));
    }
    let (_kek, dek) = engine.rotate_keys(database).await?;
    let schema = Arc::new(Schema::new(vec![Field::new(
        ROTATE_FUNCTION,
        DataType::Int64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from(vec![dek as i64]))],
    )
    .map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok((schema, batch))
}
