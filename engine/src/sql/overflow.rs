//! Integer arithmetic that overflows is an error, as in PostgreSQL.
//!
//! DataFusion evaluates `+`, `-` and `*` on integers with wrapping kernels:
//! `2147483647::int + 1` silently becomes `-2147483648`. A compliance
//! database must not return a wrong number, so an analyzer rule (run after
//! DataFusion's type coercion, when both operands have one integer type)
//! replaces each such operation with a checked function that fails with
//! 22003 `integer out of range` (`smallint`/`bigint` likewise).
//!

use std::sync::Arc;

use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::EngineError;

/// The analyzer rule.
#[derive(Debug, Default)]
pub struct CheckedIntegerArithmetic;

impl AnalyzerRule for CheckedIntegerArithmetic {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite::rewrite_expressions(plan, input_schema, checked)
    }

    fn name(&self) -> &str {
        "kimberlite_checked_integer_arithmetic"
    }
}

/// The schema a node's expressions are evaluated against.
fn input_schema(node: &LogicalPlan) -> Result<DFSchema> {
    let inputs = node.inputs();
    match inputs.as_slice() {
        [] => Ok(node.schema().as_ref().clone()),
        [only] => Ok(only.schema().as_ref().clone()),
        [first, rest @ ..] => {
            let mut schema = first.schema().as_ref().clone();
            for other in rest {
                schema.merge(other.schema());
            }
            Ok(schema)
        }
    }
}

fn checked(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let kind = match op {
        Operator::Plus => Kind::Add,
        Operator::Minus => Kind::Sub,
        Operator::Multiply => Kind::Mul,
        _ => return Ok(Transformed::no(expr)),
    };
    let (Ok(l), Ok(r)) = (left.get_type(schema), right.get_type(schema)) else {
        return Ok(Transformed::no(expr));
    };
    if l != r || !matches!(l, DataType::Int16 | DataType::Int32 | DataType::Int64) {
        return Ok(Transformed::no(expr));
    }
    let udf = Arc::new(ScalarUDF::new_from_impl(CheckedOp::new(kind)));
    Ok(Transformed::yes(
        udf.call(vec![left.as_ref().clone(), right.as_ref().clone()]),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Add,
    Sub,
    Mul,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedOp {
    kind: Kind,
    signature: Signature,
}

impl CheckedOp {
    fn new(kind: Kind) -> CheckedOp {
        CheckedOp {
            kind,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CheckedOp {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Add => "kimberlite_int_add",
            Kind::Sub => "kimberlite_int_sub",
            Kind::Mul => "kimberlite_int_mul",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (l, r) = (&arrays[0], &arrays[1]);
        let result = match self.kind {
            Kind::Add => numeric::add(l, r),
            Kind::Sub => numeric::sub(l, r),
            Kind::Mul => numeric::mul(l, r),
        };
        let array = result.map_err(|error| match error {
            ArrowError::ArithmeticOverflow(_) => {
                let name = match l.data_type() {
                    DataType::Int16 => "smallint",
                    DataType::Int32 => "integer",
                    _ => "bigint",
                };
                DataFusionError::External(Box::new(EngineError::NumericOutOfRange(format!(
                    "{name} out of range"
                ))))
            }
            other => DataFusionError::ArrowError(Box::new(other), None),
        })?;
        if scalars {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&array, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(array))
        }
    }
}
