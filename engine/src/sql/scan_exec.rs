//! The physical plan node of a scan of one of our tables, so that
//! `EXPLAIN` shows how rows are found: `KimberliteScan: table=t,
//! access=index t_b_idx (b =)`. It runs the scan's
//! [`super::provider::ScanSpec`] as one stream and, when the rows come out
//! in primary-key order, says so, which lets DataFusion drop a sort (and
//! stop after `LIMIT n` rows).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use super::provider::ScanSpec;

/// A scan of one table at one snapshot.
pub struct ScanExec {
    spec: ScanSpec,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for ScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScanExec({})", self.spec.table.name)
    }
}

impl ScanExec {
    /// `ordered`: output column positions the rows are sorted by
    /// (ascending), in sort-key order; empty when unsorted.
    pub fn new(spec: ScanSpec, ordered: Vec<usize>) -> ScanExec {
        let schema = spec.projected.clone();
        // Ascending, NULLS LAST: the order of our key encodings.
        let options = SortOptions {
            descending: false,
            nulls_first: false,
        };
        let orderings: Vec<LexOrdering> = LexOrdering::new(ordered.iter().map(|&i| {
            PhysicalSortExpr::new(Arc::new(Column::new(schema.field(i).name(), i)), options)
        }))
        .into_iter()
        .collect();
        let properties = PlanProperties::new(
            EquivalenceProperties::new_with_orderings(schema, orderings),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ScanExec {
            spec,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for ScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => write!(
                f,
                "KimberliteScan: table={}, access={}",
                self.spec.table.name, self.spec.access
            ),
            DisplayFormatType::TreeRender => write!(f, "access={}", self.spec.access),
        }
    }
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &'static str {
        "KimberliteScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        Ok(self.spec.execute(context))
    }
}
