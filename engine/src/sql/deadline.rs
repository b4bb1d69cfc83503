//! `statement_timeout` for results that are still streaming.
//!
//! A query's rows are produced while the client reads them, after
//! `Session::execute` has returned, so the timeout must travel with the
//! stream: once the deadline passes, the next poll yields 57014 and the
//! stream ends.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use futures::Stream;
use tokio::time::Sleep;

use crate::error::EngineError;

/// Ends a stream with a statement-timeout error at a deadline.
pub struct Deadline<S> {
    inner: Pin<Box<S>>,
    sleep: Pin<Box<Sleep>>,
    expired: bool,
}

impl<S> Deadline<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        Deadline {
            inner: Box::pin(inner),
            sleep: Box::pin(tokio::time::sleep(limit)),
            expired: false,
        }
    }
}

impl<S: Stream<Item = DfResult<RecordBatch>>> Stream for Deadline<S> {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(
                EngineError::StatementTimeout,
            )))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}
