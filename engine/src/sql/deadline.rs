//! Interrupting a statement: `statement_timeout` and CancelRequest.
//!
//! A query's rows are produced while the client reads them, after
//! `Session::execute` has returned, so both interrupts must travel with the
//! stream: once the deadline passes or the statement is cancelled, the next
//! poll yields 57014 and the stream ends.
//!
//! Cancellation is per statement: `CancelSignal::begin_statement` gives
//! each statement a fresh token, and a cancel that arrives between
//! statements cancels only the finished one, as in PostgreSQL.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use futures::Stream;
use parking_lot::Mutex;
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::error::EngineError;

/// The session's cancel switch, shared with whoever may cancel it (the
/// server's CancelRequest handler).
#[derive(Debug, Default)]
pub struct CancelSignal {
    current: Mutex<CancellationToken>,
}

impl CancelSignal {
    /// Cancels the statement running now (or streaming its rows), if any.
    pub fn cancel(&self) {
        self.current.lock().cancel();
    }

    /// A fresh token for the statement about to run.
    pub(crate) fn begin_statement(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.current.lock() = token.clone();
        token
    }
}

/// Ends a stream with 57014 at a deadline or on cancel.
pub struct Interrupt<S> {
    inner: Pin<Box<S>>,
    sleep: Option<Pin<Box<Sleep>>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl<S> Interrupt<S> {
    pub fn new(inner: S, limit: Option<Duration>, token: CancellationToken) -> Self {
        Interrupt {
            inner: Box::pin(inner),
            sleep: limit.map(|l| Box::pin(tokio::time::sleep(l))),
            cancelled: Box::pin(token.cancelled_owned()),
            ended: false,
        }
    }
}

impl<S: Stream<Item = DfResult<RecordBatch>>> Stream for Interrupt<S> {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let interrupted = if self.cancelled.as_mut().poll(cx).is_ready() {
            Some(EngineError::QueryCanceled)
        } else if self
            .sleep
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
        {
            Some(EngineError::StatementTimeout)
        } else {
            None
        };
        if let Some(error) = interrupted {
            self.ended = true;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(error)))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}
