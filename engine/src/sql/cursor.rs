//! Server-side cursors: `DECLARE … CURSOR [WITH HOLD] FOR query`,
//! `FETCH`, `MOVE`, `CLOSE`.
//!
//! A cursor is a DataFusion stream planned at DECLARE against that
//! statement's snapshot; FETCH pulls the next rows from it (batches are
//! sliced, never re-run), so a client reads a large result in pieces with
//! bounded memory. Cursors scan forward only (PostgreSQL's NO SCROLL): a
//! backward direction is 55000 as in PostgreSQL.
//!
//! Lifetimes follow PostgreSQL: a cursor without HOLD exists only inside
//! its transaction block and closes when it ends; WITH HOLD survives COMMIT
//! (we materialize its rows at DECLARE, PostgreSQL at COMMIT) and closes on
//! ROLLBACK of the block that declared it.
//!
//! sqlparser's FETCH grammar is narrower than PostgreSQL's (no bare
//! `FETCH c`, no `MOVE`), so [`parse_fetch_or_move`] reads those two
//! statements itself.

use std::collections::VecDeque;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::{
    Declare, DeclareType, FetchDirection, FetchPosition, Ident, ObjectName, Statement, Value,
};
use futures::StreamExt;

use super::{ident_name, Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// The marker `into` name that turns a parsed FETCH into a MOVE.
const MOVE_MARKER: &str = "kimberlite move";

/// Schema metadata key of results that a `BINARY` cursor returns: the
/// simple query protocol sends them in binary format.
pub const BINARY_RESULT: &str = "kimberlite.binary_result";

/// An open cursor.
pub struct Cursor {
    schema: SchemaRef,
    /// The session is shared across tasks (`Sync`); a stream is not, so it
    /// sits in a mutex that is only ever reached through `&mut self`.
    stream: Option<tokio::sync::Mutex<SendableRecordBatchStream>>,
    buffered: VecDeque<RecordBatch>,
    hold: bool,
    /// Declared inside the transaction block still open.
    in_block: bool,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("hold", &self.hold)
            .field("buffered", &self.buffered.len())
            .finish()
    }
}

impl Cursor {
    /// Up to `limit` next rows (all when `None`).
    async fn take(&mut self, limit: Option<u64>) -> EngineResult<Vec<RecordBatch>> {
        let mut remaining = limit.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        while remaining > 0 {
            if let Some(batch) = self.buffered.pop_front() {
                let rows = batch.num_rows() as u64;
                if rows <= remaining {
                    remaining -= rows;
                    out.push(batch);
                } else {
                    let cut = remaining as usize;
                    out.push(batch.slice(0, cut));
                    self.buffered
                        .push_front(batch.slice(cut, batch.num_rows() - cut));
                    remaining = 0;
                }
                continue;
            }
            let Some(stream) = self.stream.as_mut() else {
                break;
            };
            match stream.get_mut().next().await {
                Some(batch) => self.buffered.push_back(batch?),
                None => self.stream = None,
            }
        }
        Ok(out)
    }
}

impl Session {
    pub(super) async fn declare(&mut self, declares: Vec<Declare>) -> EngineResult<Outcome> {
        let [declare] = <[Declare; 1]>::try_from(declares)
            .map_err(|_| EngineError::FeatureNotSupported("DECLARE of several cursors".into()))?;
        if !matches!(declare.declare_type, Some(DeclareType::Cursor)) {
            return Err(EngineError::FeatureNotSupported(
                "DECLARE is only supported for cursors".into(),
            ));
        }
        let name = match declare.names.as_slice() {
            [name] => ident_name(name),
            _ => return Err(EngineError::Syntax("DECLARE needs one cursor name".into())),
        };
        if declare.scroll == Some(true) {
            return Err(EngineError::FeatureNotSupported(
                "SCROLL cursors are not supported yet; cursors scan forward only".into(),
            ));
        }
        let hold = declare.hold == Some(true);
        let in_block = self.in_block();
        if !hold && !in_block {
            return Err(EngineError::NoActiveTransaction(
                "DECLARE CURSOR can only be used in transaction blocks".into(),
            ));
        }
        if self.cursors.contains_key(&name) {
            return Err(EngineError::DuplicateCursor(name));
        }
        let query = declare
            .for_query
            .ok_or_else(|| EngineError::Syntax("DECLARE CURSOR needs FOR query".into()))?;
        let super::QueryStream { schema, stream, .. } =
            self.start_query(Statement::Query(query), false).await?;
        // A BINARY cursor's rows go out in binary through the simple query
        // protocol; the extended protocol's Bind formats override it, as in
        // PostgreSQL.
        let schema = if declare.binary == Some(true) {
            let mut metadata = schema.metadata().clone();
            metadata.insert(BINARY_RESULT.to_string(), "true".to_string());
            std::sync::Arc::new(schema.as_ref().clone().with_metadata(metadata))
        } else {
            schema
        };
        let mut cursor = Cursor {
            schema,
            stream: Some(tokio::sync::Mutex::new(stream)),
            buffered: VecDeque::new(),
            hold,
            in_block,
        };
        if hold {
            // The rows must not depend on the transaction that declared it.
            let rows = cursor.take(None).await?;
            cursor.buffered = rows.into();
        }
        self.cursors.insert(name, cursor);
        Ok(Outcome::Command {
            tag: "DECLARE CURSOR".into(),
        })
    }

    pub(super) async fn fetch(
        &mut self,
        name: &str,
        direction: FetchDirection,
        is_move: bool,
    ) -> EngineResult<Outcome> {
        let count = |v: &datafusion::sql::sqlparser::ast::ValueWithSpan| -> EngineResult<i64> {
            match &v.value {
                Value::Number(n, _) => n
                    .parse::<i64>()
                    .map_err(|_| EngineError::Syntax(format!("bad FETCH count {n}"))),
                other => Err(EngineError::Syntax(format!("bad FETCH count {other}"))),
            }
        };
        let limit = match &direction {
            FetchDirection::Next => Some(1),
            FetchDirection::Count { limit } => Some(count(limit)?),
            FetchDirection::Forward { limit } => match limit {
                Some(limit) => Some(count(limit)?),
                None => Some(1),
            },
            FetchDirection::All | FetchDirection::ForwardAll => None,
            FetchDirection::Relative { limit } => Some(count(limit)?),
            _ => Some(-1),
        };
        if limit.is_some_and(|n| n < 0) {
            return Err(EngineError::ObjectNotInPrerequisiteState(
                "cursor can only scan forward".into(),
            ));
        }
        let cursor = self
            .cursors
            .get_mut(name)
            .ok_or_else(|| EngineError::UndefinedCursor(name.to_string()))?;
        let batches = cursor.take(limit.map(|n| n as u64)).await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if is_move {
            return Ok(Outcome::Command {
                tag: format!("MOVE {rows}"),
            });
        }
        Ok(Outcome::Batches {
            schema: cursor.schema.clone(),
            batches,
            tag: format!("FETCH {rows}"),
        })
    }

    /// The names of the open cursors (a savepoint remembers them).
    pub(super) fn cursor_names(&self) -> std::collections::BTreeSet<String> {
        self.cursors.keys().cloned().collect()
    }

    /// ROLLBACK TO SAVEPOINT closes the cursors declared since.
    pub(super) fn close_cursors_except(&mut self, keep: &std::collections::BTreeSet<String>) {
        self.cursors.retain(|name, _| keep.contains(name));
    }

    /// A transaction block ended: cursors without HOLD close; on ROLLBACK
    /// so do the ones the block declared.
    pub(super) fn close_cursors_at_end(&mut self, committed: bool) {
        self.cursors
            .retain(|_, c| c.hold && (committed || !c.in_block));
        for cursor in self.cursors.values_mut() {
            cursor.in_block = false;
        }
    }
}

/// Reads `FETCH` / `MOVE` with PostgreSQL's grammar:
/// `{FETCH|MOVE} [NEXT | FORWARD [n|ALL] | ALL | n | RELATIVE n | PRIOR |
/// FIRST | LAST | ABSOLUTE n | BACKWARD [n|ALL]] [FROM|IN] cursor`.
/// `None` when `sql` is something else.
pub fn parse_fetch_or_move(sql: &str) -> Option<EngineResult<Statement>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let mut words = text.split_whitespace();
    let first = words.next()?.to_ascii_uppercase();
    if first != "FETCH" && first != "MOVE" {
        return None;
    }
    if text.contains(';') {
        return None; // several statements: leave it to the parser's errors
    }
    let words: Vec<&str> = words.collect();
    Some(
        parse_direction(&words).map(|(direction, name)| Statement::Fetch {
            name,
            direction,
            position: FetchPosition::From,
            into: (first == "MOVE").then(|| ObjectName::from(vec![Ident::new(MOVE_MARKER)])),
        }),
    )
}

fn parse_direction(words: &[&str]) -> EngineResult<(FetchDirection, Ident)> {
    let number = |w: &str| -> Option<datafusion::sql::sqlparser::ast::ValueWithSpan> {
        w.parse::<i64>()
            .ok()
            .map(|n| Value::Number(n.to_string(), false).into())
    };
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let word = |i: usize| upper.get(i).map(String::as_str);
    let (direction, used) = match word(0) {
        Some("NEXT") => (FetchDirection::Next, 1),
        Some("PRIOR") => (FetchDirection::Prior, 1),
        Some("FIRST") => (FetchDirection::First, 1),
        Some("LAST") => (FetchDirection::Last, 1),
        Some("ALL") => (FetchDirection::All, 1),
        Some("ABSOLUTE") | Some("RELATIVE") => {
            let limit = words.get(1).and_then(|w| number(w)).ok_or_else(|| {
                EngineError::Syntax("syntax error: FETCH ABSOLUTE/RELATIVE needs a count".into())
            })?;
            if word(0) == Some("ABSOLUTE") {
                (FetchDirection::Absolute { limit }, 2)
            } else {
                (FetchDirection::Relative { limit }, 2)
            }
        }
        Some("FORWARD") => match (word(1), words.get(1).and_then(|w| number(w))) {
            (Some("ALL"), _) => (FetchDirection::ForwardAll, 2),
            (_, Some(limit)) => (FetchDirection::Forward { limit: Some(limit) }, 2),
            _ => (FetchDirection::Forward { limit: None }, 1),
        },
        Some("BACKWARD") => match (word(1), words.get(1).and_then(|w| number(w))) {
            (Some("ALL"), _) => (FetchDirection::BackwardAll, 2),
            (_, Some(limit)) => (FetchDirection::Backward { limit: Some(limit) }, 2),
            _ => (FetchDirection::Backward { limit: None }, 1),
        },
        Some(_) => match words.first().and_then(|w| number(w)) {
            Some(limit) => (FetchDirection::Count { limit }, 1),
            None => (FetchDirection::Next, 0),
        },
        None => {
            return Err(EngineError::Syntax("syntax error at end of input".into()));
        }
    };
    let mut rest = &words[used..];
    if rest
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("IN"))
    {
        rest = &rest[1..];
    }
    match rest {
        [name] => Ok((direction, cursor_ident(name))),
        [] => Err(EngineError::Syntax("syntax error at end of input".into())),
        [_, extra, ..] => Err(EngineError::Syntax(format!(
            "syntax error at or near \"{extra}\""
        ))),
    }
}

fn cursor_ident(word: &str) -> Ident {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(quoted) => Ident::with_quote('"', quoted.replace("\"\"", "\"")),
        None => Ident::new(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> (String, bool, String) {
        match parse_fetch_or_move(sql).unwrap().unwrap() {
            Statement::Fetch {
                name,
                direction,
                into,
                ..
            } => (direction.to_string(), into.is_some(), ident_name(&name)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn postgresql_fetch_and_move_forms() {
        assert_eq!(parsed("FETCH c"), ("NEXT".into(), false, "c".into()));
        assert_eq!(
            parsed("fetch forward 2000 from \"C1\";"),
            ("FORWARD 2000".into(), false, "C1".into())
        );
        assert_eq!(parsed("FETCH 5 IN c"), ("5".into(), false, "c".into()));
        assert_eq!(
            parsed("FETCH ALL FROM c"),
            ("ALL".into(), false, "c".into())
        );
        assert_eq!(
            parsed("MOVE FORWARD ALL IN c"),
            ("FORWARD ALL".into(), true, "c".into())
        );
        assert!(parse_fetch_or_move("SELECT 1").is_none());
        assert!(parse_fetch_or_move("FETCH").unwrap().is_err());
    }
}
