//! `x::json` and `x::jsonb` in expressions.
//!
//! DataFusion has no JSON types; our json and jsonb columns are text with
//! PostgreSQL's type on the field. A cast in an expression becomes a call
//! of `kimberlite_json` / `kimberlite_jsonb` (see `rewrite.rs`): the text is
//! checked exactly as a value stored into such a column is (22P02 for
//! input that is not JSON), jsonb is printed in its canonical form, and the
//! result reports the PostgreSQL type, so drivers decode it as JSON.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use kimberlite_catalog::SqlType;

use crate::datum::Datum;

/// The function a `::json` cast becomes.
pub const JSON_CAST: &str = "kimberlite_json";
/// The function a `::jsonb` cast becomes.
pub const JSONB_CAST: &str = "kimberlite_jsonb";
/// The same casts inside a VALUES list: checked and normalized alike, but
/// reported as text, because DataFusion refuses a VALUES column whose rows
/// disagree on field metadata (`('{}'::jsonb), (NULL)`); the column they
/// are inserted into, or the query around them, gives the type.
pub const JSON_VALUE: &str = "kimberlite_json_value";
pub const JSONB_VALUE: &str = "kimberlite_jsonb_value";

#[derive(Debug, PartialEq, Eq)]
struct JsonCast {
    name: &'static str,
    sql_type: SqlType,
    /// Whether the result reports the JSON type (not inside VALUES).
    reports: bool,
    signature: Signature,
}

impl std::hash::Hash for JsonCast {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for JsonCast {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        if !self.reports {
            return Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name,
                DataType::Utf8,
                true,
            )));
        }
        Ok(Arc::new(crate::sql::types::arrow_field(
            self.name,
            self.sql_type,
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let input = args.args[0].to_array(args.number_rows.max(1))?;
        let text = cast(&input, &DataType::Utf8)?;
        let values = crate::sql::convert::coerce_column(&text, self.sql_type, "UTC")
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let strings: StringArray = values
            .into_iter()
            .map(|d| match d {
                Datum::Text(s) => Some(s),
                _ => None,
            })
            .collect();
        let array: ArrayRef = Arc::new(strings);
        if scalar {
            let value = datafusion::scalar::ScalarValue::try_from_array(&array, 0)?;
            return Ok(ColumnarValue::Scalar(value));
        }
        debug_assert_eq!(array.len(), args.number_rows);
        Ok(ColumnarValue::Array(array))
    }
}

/// The cast functions, to register in each session.
pub fn functions() -> [ScalarUDF; 4] {
    let make = |name, sql_type, reports| {
        ScalarUDF::new_from_impl(JsonCast {
            name,
            sql_type,
            reports,
            signature: Signature::any(1, Volatility::Immutable),
        })
    };
    [
        make(JSON_CAST, SqlType::Json, true),
        make(JSONB_CAST, SqlType::Jsonb, true),
        make(JSON_VALUE, SqlType::Json, false),
        make(JSONB_VALUE, SqlType::Jsonb, false),
    ]
}

/// Whether `function` is one of the casts that report the JSON type, and
/// its VALUES-list twin.
pub fn values_twin(function: &str) -> Option<&'static str> {
    match function {
        JSON_CAST => Some(JSON_VALUE),
        JSONB_CAST => Some(JSONB_VALUE),
        _ => None,
    }
}
