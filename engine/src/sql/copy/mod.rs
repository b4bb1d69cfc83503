//! # COPY FROM STDIN and COPY TO STDOUT
//!
//! Bulk load and unload in PostgreSQL's text and CSV formats, through the
//! same paths as every other statement:
//!
//! - `COPY t [(cols)] TO STDOUT` and `COPY (query) TO STDOUT` are queries:
//!   planned and streamed by DataFusion in the statement's read scope, each
//!   row formatted as one COPY line by the server ([`CopyOptions::encode_row`]).
//! - `COPY t [(cols)] FROM STDIN` opens a [`CopyIn`] in the session. Every
//!   CopyData chunk is cut into records as it arrives; records are coerced to
//!   the column types a batch at a time (PostgreSQL's input rules) and
//!   written into the open transaction with the INSERT checks (NOT NULL,
//!   primary key). CopyDone commits an implicit transaction; inside
//!   `BEGIN … COMMIT` the rows belong to that transaction.
//!
//! The first bad record ends the COPY with PostgreSQL's SQLSTATE and
//! CONTEXT (`COPY t, line 3, column a: "x"`) and discards everything the
//! COPY wrote: an implicit transaction is dropped, an explicit one aborted.
//! Buffered input is bounded by the transaction size limit.

mod format;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident, ObjectName,
    Statement,
};
use kimberlite_catalog::TableDef;

pub use format::{CopyOptions, Decoder, Format, Record, BINARY_SIGNATURE};

use super::convert::coerce_column;
use super::dml::{evaluate_defaults, lookup_table, no_such_column, quote, write_new_row};
use super::{ident_name, parse, Outcome, Session};
use crate::datum::{Datum, Row};
use crate::error::{EngineError, EngineResult};

/// Records coerced and written together.
const BATCH_RECORDS: usize = 1024;

/// A COPY FROM STDIN in progress.
#[derive(Debug)]
pub struct CopyIn {
    table: Arc<TableDef>,
    /// Table column of each COPY field.
    targets: Vec<usize>,
    /// A full row of defaults for the columns COPY does not fill.
    defaults: Row,
    /// Columns whose default is `nextval(name)`: a new value per row.
    sequences: Vec<(usize, String)>,
    decoder: Decoder,
    header_pending: bool,
    pending: Vec<(Record, Vec<Option<String>>)>,
    rows: u64,
    /// The session's TimeZone when COPY began: zone-less timestamptz text
    /// is read in it.
    zone: Arc<str>,
}

/// Whether `statement` is `COPY … FROM STDIN` (the one statement that must
/// be alone in a simple query: its data follows the query).
pub fn is_copy_from_stdin(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Copy {
            to: false,
            target: CopyTarget::Stdin,
            ..
        }
    )
}

/// Starts a COPY: a query for TO STDOUT, a [`CopyIn`] for FROM STDIN.
pub(super) async fn start(session: &mut Session, statement: Statement) -> EngineResult<Outcome> {
    let Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        values,
    } = statement
    else {
        return Err(EngineError::Internal("not a COPY statement".into()));
    };
    match (&target, to) {
        (CopyTarget::Stdout, true) | (CopyTarget::Stdin, false) => {}
        (CopyTarget::Stdin, true) | (CopyTarget::Stdout, false) => {
            return Err(EngineError::Syntax(format!(
                "syntax error at or near \"{}\"",
                target
            )))
        }
        (CopyTarget::File { .. } | CopyTarget::Program { .. }, _) => {
            return Err(EngineError::FeatureNotSupported(
                "COPY to or from a file or program is not supported; use COPY … FROM STDIN or \
                 TO STDOUT (psql's \\copy)"
                    .into(),
            ))
        }
    }
    if !values.is_empty() {
        return Err(EngineError::FeatureNotSupported(
            "COPY FROM STDIN must be the last statement of its query string".into(),
        ));
    }
    match source {
        CopySource::Query(query) => {
            if !to {
                return Err(EngineError::Syntax(
                    "syntax error at or near \"(\": COPY FROM needs a table".into(),
                ));
            }
            let super::QueryStream { schema, stream, .. } =
                session.run_query(Statement::Query(query)).await?;
            let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let options = read_options(&options, &legacy_options, &names, true)?;
            Ok(Outcome::CopyOut {
                schema,
                stream,
                options,
            })
        }
        CopySource::Table {
            table_name: name,
            columns,
        } => {
            let table = lookup_table(session, &session.resolve(&name)?)?;
            let targets = target_columns(&table, &columns)?;
            let names: Vec<String> = targets
                .iter()
                .map(|&c| table.columns[c].name.clone())
                .collect();
            let options = read_options(&options, &legacy_options, &names, to)?;
            if to {
                copy_out_table(session, &name, &names, options).await
            } else {
                copy_in_table(session, table, targets, options).await
            }
        }
    }
}

fn target_columns(table: &TableDef, columns: &[Ident]) -> EngineResult<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..table.columns.len()).collect());
    }
    let mut targets = Vec::with_capacity(columns.len());
    for column in columns {
        let name = ident_name(column);
        let index = table
            .column_index(&name)
            .ok_or_else(|| no_such_column(table, &name))?;
        if targets.contains(&index) {
            return Err(EngineError::DuplicateColumn(format!(
                "column \"{name}\" specified more than once"
            )));
        }
        targets.push(index);
    }
    Ok(targets)
}

async fn copy_out_table(
    session: &mut Session,
    name: &ObjectName,
    columns: &[String],
    options: CopyOptions,
) -> EngineResult<Outcome> {
    let select = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statements = parse(&format!("SELECT {select} FROM {name}"))?;
    let statement = statements
        .pop()
        .ok_or_else(|| EngineError::Internal("COPY's query did not parse".into()))?;
    let super::QueryStream { schema, stream, .. } = session.run_query(statement).await?;
    Ok(Outcome::CopyOut {
        schema,
        stream,
        options,
    })
}

async fn copy_in_table(
    session: &mut Session,
    table: Arc<TableDef>,
    targets: Vec<usize>,
    options: CopyOptions,
) -> EngineResult<Outcome> {
    let defaulted: Vec<usize> = (0..table.columns.len())
        .filter(|c| !targets.contains(c) && table.columns[*c].default_sql.is_some())
        .collect();
    // `nextval` defaults are drawn per row below; evaluating them here too
    // would use up a value.
    let constant: Vec<usize> = defaulted
        .iter()
        .copied()
        .filter(|&c| {
            let sql = table.columns[c].default_sql.as_deref().unwrap_or_default();
            super::sequence::default_sequence(sql).is_none()
        })
        .collect();
    let values = evaluate_defaults(
        session,
        &constant
            .iter()
            .map(|&c| {
                let column = &table.columns[c];
                (
                    column.sql_type,
                    column.default_sql.clone().expect("filtered"),
                )
            })
            .collect::<Vec<_>>(),
        1,
    )
    .await?;
    let mut defaults: Row = vec![Datum::Null; table.columns.len()];
    for (c, mut value) in constant.iter().copied().zip(values) {
        defaults[c] = value.remove(0);
    }
    // `nextval` defaults (SERIAL, identity) draw a value per row.
    let sequences: Vec<(usize, String)> = defaulted
        .iter()
        .filter_map(|&c| {
            let sql = table.columns[c].default_sql.as_deref()?;
            super::sequence::default_sequence(sql).map(|name| (c, name))
        })
        .collect();
    let columns = targets.len();
    let binary = options.format == Format::Binary;
    let mut options = options;
    options.oids = targets
        .iter()
        .map(|&c| table.columns[c].sql_type.oid())
        .collect();
    session.copy_in = Some(CopyIn {
        table,
        targets,
        defaults,
        sequences,
        header_pending: options.header,
        decoder: Decoder::new(options),
        pending: Vec::with_capacity(BATCH_RECORDS),
        rows: 0,
        zone: session.zone(),
    });
    Ok(Outcome::CopyIn { columns, binary })
}

/// COPY's options, checked against the direction and the COPY's columns.
fn read_options(
    options: &[CopyOption],
    legacy: &[CopyLegacyOption],
    columns: &[String],
    to: bool,
) -> EngineResult<CopyOptions> {
    let not_supported = |what: &str| EngineError::FeatureNotSupported(what.to_string());
    let mut format = Format::Text;
    for option in options {
        if let CopyOption::Format(name) = option {
            format = match ident_name(name).as_str() {
                "text" => Format::Text,
                "csv" => Format::Csv,
                "binary" => Format::Binary,
                other => {
                    return Err(EngineError::InvalidParameterValue(format!(
                        "COPY format \"{other}\" not recognized"
                    )))
                }
            };
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Csv(_) => format = Format::Csv,
            CopyLegacyOption::Binary => format = Format::Binary,
            _ => {}
        }
    }
    let mut result = CopyOptions::new(format);
    let column_index = |ident: &Ident, option: &str| -> EngineResult<usize> {
        let name = ident_name(ident);
        columns.iter().position(|c| *c == name).ok_or_else(|| {
            EngineError::InvalidParameterValue(format!(
                "{option} column \"{name}\" not referenced by COPY"
            ))
        })
    };
    let one_byte = |c: char, what: &str| -> EngineResult<u8> {
        if c.is_ascii() && c != '\n' && c != '\r' {
            Ok(c as u8)
        } else {
            Err(not_supported(&format!(
                "COPY {what} must be a single one-byte character"
            )))
        }
    };
    let csv_only = |what: &str| -> EngineResult<()> {
        if format == Format::Csv {
            Ok(())
        } else {
            Err(not_supported(&format!(
                "COPY {what} available only in CSV mode"
            )))
        }
    };
    for option in options {
        match option {
            CopyOption::Format(_) | CopyOption::Freeze(_) => {}
            CopyOption::Delimiter(c) => result.delimiter = one_byte(*c, "delimiter")?,
            CopyOption::Null(null) => result.null = null.clone(),
            CopyOption::Header(header) => result.header = *header,
            CopyOption::Quote(c) => {
                csv_only("quote")?;
                result.quote = one_byte(*c, "quote")?;
                result.escape = result.quote;
            }
            CopyOption::Escape(c) => {
                csv_only("escape")?;
                result.escape = one_byte(*c, "escape")?;
            }
            CopyOption::ForceQuote(names) => {
                csv_only("force quote")?;
                if !to {
                    return Err(not_supported(
                        "COPY force quote only available using COPY TO",
                    ));
                }
                for name in names {
                    result.force_quote.push(column_index(name, "FORCE_QUOTE")?);
                }
            }
            CopyOption::ForceNotNull(names) => {
                csv_only("force not null")?;
                if to {
                    return Err(not_supported(
                        "COPY force not null only available using COPY FROM",
                    ));
                }
                for name in names {
                    result
                        .force_not_null
                        .push(column_index(name, "FORCE_NOT_NULL")?);
                }
            }
            CopyOption::ForceNull(names) => {
                csv_only("force null")?;
                if to {
                    return Err(not_supported(
                        "COPY force null only available using COPY FROM",
                    ));
                }
                for name in names {
                    result.force_null.push(column_index(name, "FORCE_NULL")?);
                }
            }
            CopyOption::Encoding(encoding) => {
                let e = encoding.to_ascii_uppercase().replace(['-', '_'], "");
                if e != "UTF8" && e != "UNICODE" {
                    return Err(not_supported(&format!(
                        "COPY encoding \"{encoding}\" is not supported; the server speaks UTF8"
                    )));
                }
            }
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Binary => {}
            CopyLegacyOption::Delimiter(c) => result.delimiter = one_byte(*c, "delimiter")?,
            CopyLegacyOption::Null(null) => result.null = null.clone(),
            CopyLegacyOption::Header => result.header = true,
            CopyLegacyOption::Csv(csv) => {
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => result.header = true,
                        CopyLegacyCsvOption::Quote(c) => {
                            result.quote = one_byte(*c, "quote")?;
                            result.escape = result.quote;
                        }
                        CopyLegacyCsvOption::Escape(c) => result.escape = one_byte(*c, "escape")?,
                        CopyLegacyCsvOption::ForceQuote(names) => {
                            for name in names {
                                result.force_quote.push(column_index(name, "FORCE_QUOTE")?);
                            }
                        }
                        CopyLegacyCsvOption::ForceNotNull(names) => {
                            for name in names {
                                result
                                    .force_not_null
                                    .push(column_index(name, "FORCE_NOT_NULL")?);
                            }
                        }
                    }
                }
            }
            other => return Err(not_supported(&format!("COPY option {other}"))),
        }
    }
    if format == Format::Binary
        && options.iter().any(|o| {
            matches!(
                o,
                CopyOption::Delimiter(_) | CopyOption::Null(_) | CopyOption::Header(true)
            )
        })
    {
        return Err(not_supported(
            "cannot specify DELIMITER, NULL or HEADER in BINARY mode",
        ));
    }
    if format == Format::Text && result.delimiter == b'\\' {
        return Err(not_supported("COPY delimiter cannot be backslash"));
    }
    if format == Format::Csv && result.delimiter == result.quote {
        return Err(not_supported("COPY delimiter and quote must be different"));
    }
    if result.null.contains(result.delimiter as char) {
        return Err(not_supported(
            "COPY delimiter must not appear in the NULL specification",
        ));
    }
    Ok(result)
}

impl CopyIn {
    fn line_context(&self, record: &Record) -> String {
        format!(
            "COPY {}, line {}: \"{}\"",
            self.table.name,
            record.line,
            record.printable()
        )
    }

    /// Cuts every complete record out of the buffer; writes full batches
    /// (all of them at `eof`).
    fn drain(&mut self, session: &mut Session, eof: bool) -> EngineResult<()> {
        while let Some(record) = self.decoder.next_record(eof)? {
            if std::mem::take(&mut self.header_pending) {
                continue;
            }
            let fields = self
                .decoder
                .fields(&record)
                .map_err(|e| e.with_context(|| self.line_context(&record)))?;
            let expected = self.targets.len();
            if fields.len() != expected {
                let message = if fields.len() > expected {
                    "extra data after last expected column".to_string()
                } else {
                    let column = &self.table.columns[self.targets[fields.len()]].name;
                    format!("missing data for column \"{column}\"")
                };
                return Err(
                    EngineError::BadCopyFormat(message).with_context(|| self.line_context(&record))
                );
            }
            self.pending.push((record, fields));
            if self.pending.len() >= BATCH_RECORDS {
                self.write_pending(session)?;
            }
        }
        if eof {
            self.write_pending(session)?;
        }
        let limit = session.engine.txn_bytes_max();
        if self.decoder.pending_bytes() > limit {
            return Err(EngineError::ProgramLimitExceeded(format!(
                "COPY line of more than {limit} bytes"
            )));
        }
        Ok(())
    }

    /// Coerces the pending records a column at a time and writes them.
    fn write_pending(&mut self, session: &mut Session) -> EngineResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<Vec<Datum>> = Vec::with_capacity(self.targets.len());
        for (i, &c) in self.targets.iter().enumerate() {
            let text: ArrayRef = Arc::new(StringArray::from_iter(
                self.pending.iter().map(|(_, fields)| fields[i].as_deref()),
            ));
            match coerce_column(&text, self.table.columns[c].sql_type, &self.zone) {
                Ok(values) => columns.push(values),
                Err(_) => return Err(self.first_bad_value()),
            }
        }
        for (r, (record, _)) in self.pending.iter().enumerate() {
            let mut row = self.defaults.clone();
            for (c, name) in &self.sequences {
                let value = session.sequences.nextval(name)?;
                row[*c] = super::sequence::sequence_datum(value, self.table.columns[*c].sql_type);
            }
            for (i, &c) in self.targets.iter().enumerate() {
                row[c] = std::mem::replace(&mut columns[i][r], Datum::Null);
            }
            write_new_row(session, &self.table, row).map_err(|e| {
                // PostgreSQL checks keys after the line buffer is gone.
                let context = match e {
                    EngineError::UniqueViolation { .. } => {
                        format!("COPY {}, line {}", self.table.name, record.line)
                    }
                    _ => self.line_context(record),
                };
                e.with_context(|| context)
            })?;
        }
        self.rows += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// The first (row-major) value of the pending batch that does not fit
    /// its column, with PostgreSQL's column CONTEXT.
    fn first_bad_value(&self) -> EngineError {
        for (record, fields) in &self.pending {
            for (i, &c) in self.targets.iter().enumerate() {
                let column = &self.table.columns[c];
                let one: ArrayRef = Arc::new(StringArray::from(vec![fields[i].as_deref()]));
                if let Err(error) = coerce_column(&one, column.sql_type, &self.zone) {
                    return error.with_context(|| {
                        let at = format!(
                            "COPY {}, line {}, column {}",
                            self.table.name, record.line, column.name
                        );
                        match &fields[i] {
                            Some(value) => format!("{at}: \"{}\"", format::printable(value)),
                            None => format!("{at}: null input"),
                        }
                    });
                }
            }
        }
        EngineError::Internal("a COPY batch failed to convert but no value did".into())
    }
}

impl Session {
    /// Whether a COPY FROM STDIN is waiting for data.
    pub fn in_copy(&self) -> bool {
        self.copy_in.is_some()
    }

    /// Feeds one CopyData chunk. An error ends the COPY and discards its
    /// rows (the client's remaining CopyData is then ignored).
    pub fn copy_data(&mut self, data: &[u8]) -> EngineResult<()> {
        let Some(mut copy) = self.copy_in.take() else {
            return Err(EngineError::Internal("no COPY in progress".into()));
        };
        copy.decoder.push(data);
        // Whole records of each chunk are checked and written before the
        // next chunk, so a bad line is reported while the client still
        // sends (as PostgreSQL does).
        let result = copy
            .drain(self, false)
            .and_then(|()| copy.write_pending(self));
        match result {
            Ok(()) => {
                self.copy_in = Some(copy);
                Ok(())
            }
            Err(error) => {
                self.abandon_copy();
                Err(error)
            }
        }
    }

    /// CopyDone: writes the last records, commits an implicit transaction,
    /// and returns the number of rows copied.
    pub async fn copy_done(&mut self) -> EngineResult<u64> {
        let Some(mut copy) = self.copy_in.take() else {
            return Err(EngineError::Internal("no COPY in progress".into()));
        };
        if let Err(error) = copy.drain(self, true) {
            self.abandon_copy();
            return Err(error);
        }
        if let Err(error) = super::enforce::finish_statement(self).await {
            self.abandon_copy();
            return Err(error);
        }
        // The COPY's own implicit transaction commits now; an implicit
        // block (extended protocol) commits at Sync.
        if !self.implicit_block && self.txn.as_ref().is_some_and(|t| !t.explicit) {
            let txn = self.txn.take().expect("checked above");
            if !txn.is_empty() {
                self.engine
                    .commit(self.database().0, txn.to_command())
                    .await?;
            }
        }
        Ok(copy.rows)
    }

    /// CopyFail: the client gave up; nothing of the COPY is kept.
    pub fn copy_fail(&mut self, message: &str) -> EngineError {
        // PostgreSQL names the line it was about to read.
        let context = self
            .copy_in
            .as_ref()
            .map(|c| format!("COPY {}, line {}", c.table.name, c.decoder.lines_read() + 1));
        self.abandon_copy();
        let error = EngineError::QueryCanceledWith(format!("COPY from stdin failed: {message}"));
        match context {
            Some(context) => error.with_context(|| context),
            None => error,
        }
    }

    /// Ends a COPY without keeping its rows: an implicit transaction is
    /// dropped, an explicit one aborted.
    pub(super) fn abandon_copy(&mut self) {
        self.copy_in = None;
        match &mut self.txn {
            Some(txn) if txn.explicit => txn.failed = true,
            _ => self.txn = None,
        }
    }
}

/// A `COPY` statement whose boolean options are written `on`/`off`/`1`/`0`
/// (PostgreSQL accepts them) with `TRUE`/`FALSE` instead; `None` when the
/// text is not such a COPY.
pub fn boolean_options_as_keywords(sql: &str) -> Option<String> {
    let trimmed = sql.trim_start();
    if !trimmed
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("copy"))
    {
        return None;
    }
    let words: Vec<&str> = sql
        .split_inclusive(|c: char| c.is_whitespace() || c == ',' || c == '(')
        .collect();
    let mut out = String::with_capacity(sql.len());
    let mut changed = false;
    for (i, word) in words.iter().enumerate() {
        let option = i > 0
            && ["freeze", "header"].iter().any(|o| {
                words[i - 1]
                    .trim_matches(|c: char| c.is_whitespace() || c == ',' || c == '(')
                    .eq_ignore_ascii_case(o)
            });
        let bare =
            word.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ')' || c == ';');
        let rest = &word[bare.len()..];
        let value = match bare.to_ascii_lowercase().as_str() {
            "on" | "1" if option => Some("TRUE"),
            "off" | "0" if option => Some("FALSE"),
            _ => None,
        };
        match value {
            Some(value) => {
                out.push_str(value);
                out.push_str(rest);
                changed = true;
            }
            None => out.push_str(word),
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod boolean_option_tests {
    use super::boolean_options_as_keywords as normalize;

    #[test]
    fn on_and_off_become_true_and_false() {
        assert_eq!(
            normalize("copy t from stdin with (freeze on)").as_deref(),
            Some("copy t from stdin with (freeze TRUE)")
        );
        assert_eq!(
            normalize("COPY t TO STDOUT (FORMAT csv, HEADER off)").as_deref(),
            Some("COPY t TO STDOUT (FORMAT csv, HEADER FALSE)")
        );
        assert_eq!(normalize("copy t from stdin"), None);
        assert_eq!(normalize("select 'freeze on'"), None);
    }
}
