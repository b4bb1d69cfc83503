//! Who is connected and what each session runs: the rows of
//! `pg_stat_activity`.
//!
//! In memory on purpose: connections are not state of the database (they
//! end with the process), so they are not logged. Each open session holds
//! one entry, registered when the session opens and removed when it drops,
//! so the board is bounded by the connection limit. Query text is cut to
//! [`QUERY_BYTES_MAX`], as PostgreSQL's `track_activity_query_size` does.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::{RecordBatchStream, SendableRecordBatchStream};
use futures::Stream;
use kimberlite_catalog::DatabaseId;
use parking_lot::Mutex;

/// Bytes of query text kept per session (PostgreSQL's default 1024).
pub const QUERY_BYTES_MAX: usize = 1024;

/// One session, as `pg_stat_activity` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub pid: i32,
    pub database: DatabaseId,
    pub database_name: String,
    pub user: String,
    pub application_name: String,
    /// Microseconds since the Unix epoch.
    pub backend_start_us: i64,
    pub xact_start_us: Option<i64>,
    pub query_start_us: Option<i64>,
    pub state_change_us: i64,
    /// `active`, `idle`, `idle in transaction`, `idle in transaction
    /// (aborted)`.
    pub state: &'static str,
    /// The running (or, when idle, the last) statement.
    pub query: String,
    /// The client's address and port (`None` until the server says).
    pub client: Option<std::net::SocketAddr>,
}

/// Every open session's activity, by session id.
#[derive(Debug, Default)]
pub struct ActivityBoard {
    sessions: Mutex<BTreeMap<u64, Activity>>,
}

impl ActivityBoard {
    pub fn register(&self, session: u64, activity: Activity) {
        self.sessions.lock().insert(session, activity);
    }

    /// Changes a session's entry (nothing if it is not registered).
    pub fn update(&self, session: u64, change: impl FnOnce(&mut Activity)) {
        if let Some(activity) = self.sessions.lock().get_mut(&session) {
            change(activity);
        }
    }

    pub fn remove(&self, session: u64) {
        self.sessions.lock().remove(&session);
    }

    /// Every session, in the order they opened.
    pub fn snapshot(&self) -> Vec<Activity> {
        self.sessions.lock().values().cloned().collect()
    }
}

/// Reports that a statement finished; `true` when it failed.
pub type Finish = Box<dyn FnOnce(bool) + Send>;

/// A statement's row stream that reports the statement finished (it runs
/// while the rows are produced, after `execute` returned) when it ends,
/// fails or is dropped.
pub struct FinishOnEnd {
    inner: SendableRecordBatchStream,
    finish: Option<Finish>,
}

impl FinishOnEnd {
    pub fn wrap(inner: SendableRecordBatchStream, finish: Finish) -> SendableRecordBatchStream {
        Box::pin(FinishOnEnd {
            inner,
            finish: Some(finish),
        })
    }

    fn finish(&mut self, failed: bool) {
        if let Some(finish) = self.finish.take() {
            finish(failed);
        }
    }
}

impl Stream for FinishOnEnd {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(None) => self.finish(false),
            Poll::Ready(Some(Err(_))) => self.finish(true),
            _ => {}
        }
        polled
    }
}

impl RecordBatchStream for FinishOnEnd {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for FinishOnEnd {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// `text` cut to at most [`QUERY_BYTES_MAX`] bytes on a character boundary.
pub fn truncate_query(text: &str) -> String {
    if text.len() <= QUERY_BYTES_MAX {
        return text.to_string();
    }
    let mut end = QUERY_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_queries_are_cut_on_a_character_boundary() {
        let text = "é".repeat(QUERY_BYTES_MAX);
        let cut = truncate_query(&text);
        assert!(cut.len() <= QUERY_BYTES_MAX && cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate_query("SELECT 1"), "SELECT 1");
    }
}
