//! `pg_get_keywords()`: PostgreSQL 15's SQL keywords and their categories,
//! which editors (DBeaver, pgAdmin) read for highlighting and quoting.
//!
//! The list is PostgreSQL's grammar, not our catalog, so it is data: the
//! words in `catalog/src/system/keywords.txt` as PostgreSQL 15 returns them.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use kimberlite_catalog::system::KEYWORDS;

use crate::error::EngineError;

/// The function's name.
pub const KEYWORDS_FUNCTION: &str = "pg_get_keywords";

/// `pg_get_keywords()`.
#[derive(Debug)]
pub struct KeywordsFunction;

fn describe(catcode: &str) -> &'static str {
    match catcode {
        "U" => "unreserved",
        "C" => "unreserved (cannot be function or type name)",
        "T" => "reserved (can be function or type name)",
        _ => "reserved",
    }
}

impl TableFunctionImpl for KeywordsFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return Err(DataFusionError::External(Box::new(
                EngineError::UndefinedFunction(format!(
                    "function {KEYWORDS_FUNCTION} takes no arguments"
                )),
            )));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("catcode", DataType::Utf8, false),
            Field::new("barelabel", DataType::Boolean, false),
            Field::new("catdesc", DataType::Utf8, false),
            Field::new("baredesc", DataType::Utf8, false),
        ]));
        let words = KEYWORDS.iter().map(|k| k.word);
        let codes = KEYWORDS.iter().map(|k| k.category.to_string());
        let bare = KEYWORDS.iter().map(|k| k.bare_label);
        let catdesc = KEYWORDS.iter().map(|k| describe(&k.category.to_string()));
        let baredesc = KEYWORDS.iter().map(|k| {
            if k.bare_label {
                "can be bare label"
            } else {
                "requires AS"
            }
        });
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(words)),
            Arc::new(StringArray::from_iter_values(codes)),
            Arc::new(BooleanArray::from(bare.collect::<Vec<_>>())),
            Arc::new(StringArray::from_iter_values(catdesc)),
            Arc::new(StringArray::from_iter_values(baredesc)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
