//! `pg_sleep(seconds)`: waits without holding a thread.
//!
//! Clients and test suites use it to hold a statement open (to exercise
//! cancel and `statement_timeout`, to provoke lock waits). It is an async
//! UDF: the wait is a tokio timer, so the statement's interrupt (cancel or
//! timeout, `deadline::Interrupt`) ends it at once, as in PostgreSQL. It
//! returns `void` (OID 2278), whose text is the empty string.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, Result as DfResult, ScalarValue};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::types::{META_OID, META_TYPMOD};

/// PostgreSQL's `void` type.
pub const VOID_OID: u32 = 2278;

/// The longest single sleep: a day (the statement's interrupt ends it
/// sooner).
const SLEEP_SECONDS_MAX: f64 = 86_400.0;

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgSleep {
    signature: Signature,
}

impl ScalarUDFImpl for PgSleep {
    fn name(&self) -> &str {
        "pg_sleep"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let metadata = HashMap::from([
            (META_OID.to_string(), VOID_OID.to_string()),
            (META_TYPMOD.to_string(), "-1".to_string()),
        ]);
        Ok(Arc::new(
            Field::new(self.name(), DataType::Utf8, true).with_metadata(metadata),
        ))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        exec_err!("pg_sleep runs asynchronously")
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for PgSleep {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let seconds = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Float64(Some(s)))) => *s,
            Some(ColumnarValue::Scalar(_)) => 0.0,
            Some(ColumnarValue::Array(array)) => {
                use datafusion::arrow::array::{Array, Float64Array};
                let values = array.as_any().downcast_ref::<Float64Array>();
                values
                    .map(|v| {
                        (0..v.len())
                            .filter(|i| v.is_valid(*i))
                            .map(|i| v.value(i))
                            .sum()
                    })
                    .unwrap_or(0.0)
            }
            None => 0.0,
        };
        if seconds.is_finite() && seconds > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(seconds.min(SLEEP_SECONDS_MAX))).await;
        }
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
            Some(String::new()),
        )))
    }
}

/// The `pg_sleep` function to register in a session.
pub fn pg_sleep() -> ScalarUDF {
    AsyncScalarUDF::new(Arc::new(PgSleep {
        signature: Signature::uniform(1, vec![DataType::Float64], Volatility::Volatile),
    }))
    .into_scalar_udf()
}
