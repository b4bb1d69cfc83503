//! COPY's text and CSV formats, both directions, with no I/O.
//!
//! Input arrives as arbitrary CopyData chunks; a [`Decoder`] buffers them
//! and hands out whole records (a record may span chunks, and in CSV a
//! quoted field may span lines). Each record is split into fields exactly as
//! PostgreSQL 15 does (`copyfromparse.c`):
//!
//! ```text
//!   text:  fields split on the delimiter (tab); backslash escapes
//!          (\t \n \\ \N …); a field equal to the NULL string *before*
//!          de-escaping is NULL; a line `\.` ends the data
//!   csv:   fields split on the delimiter (,) outside quotes; "" inside
//!          quotes is one quote; an unquoted field equal to the NULL
//!          string (empty) is NULL, a quoted one never is
//! ```
//!
//! Output is the reverse, one line per row. Everything here is pure so the
//! edge cases are unit-tested without a server.

use crate::error::{EngineError, EngineResult};

/// COPY's formats. Binary is PostgreSQL's `PGCOPY` framing with each
/// field in its type's binary send format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Binary,
}

/// The 11-byte signature that opens binary COPY data.
pub const BINARY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The options of one COPY statement, validated.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub format: Format,
    pub delimiter: u8,
    pub null: String,
    pub header: bool,
    pub quote: u8,
    pub escape: u8,
    /// COPY TO, CSV: columns (by position) always quoted.
    pub force_quote: Vec<usize>,
    /// COPY FROM, CSV: columns whose unquoted NULL string is a value.
    pub force_not_null: Vec<usize>,
    /// COPY FROM, CSV: columns whose quoted NULL string is NULL too.
    pub force_null: Vec<usize>,
    /// COPY FROM, binary: each field's type OID, to decode it.
    pub oids: Vec<u32>,
}

impl CopyOptions {
    pub fn new(format: Format) -> CopyOptions {
        let csv = format == Format::Csv;
        CopyOptions {
            format,
            delimiter: if csv { b',' } else { b'\t' },
            null: if csv { String::new() } else { "\\N".into() },
            header: false,
            quote: b'"',
            escape: b'"',
            force_quote: Vec::new(),
            force_not_null: Vec::new(),
            force_null: Vec::new(),
            oids: Vec::new(),
        }
    }

    /// One output line (with its newline) for a row of text values.
    pub fn encode_row<'a>(&self, fields: impl IntoIterator<Item = Option<&'a str>>) -> String {
        let mut line = String::new();
        for (i, field) in fields.into_iter().enumerate() {
            if i > 0 {
                line.push(self.delimiter as char);
            }
            match (field, self.format) {
                (None, _) => line.push_str(&self.null),
                (Some(value), Format::Text | Format::Binary) => {
                    self.encode_text_field(value, &mut line)
                }
                (Some(value), Format::Csv) => {
                    self.encode_csv_field(value, self.force_quote.contains(&i), &mut line)
                }
            }
        }
        line.push('\n');
        line
    }

    /// The header line of COPY TO … HEADER: column names as fields.
    pub fn encode_header<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> String {
        let mut plain = self.clone();
        plain.force_quote.clear();
        plain.encode_row(names.into_iter().map(Some))
    }

    fn encode_text_field(&self, value: &str, out: &mut String) {
        let delimiter = self.delimiter as char;
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' if delimiter == '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\u{b}' => out.push_str("\\v"),
                c if c == delimiter => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }

    fn encode_csv_field(&self, value: &str, force: bool, out: &mut String) {
        let (quote, escape) = (self.quote as char, self.escape as char);
        let needs_quotes = force
            || value == self.null
            || value == "\\."
            || value.chars().any(|c| {
                c == self.delimiter as char || c == quote || c == escape || c == '\n' || c == '\r'
            });
        if !needs_quotes {
            out.push_str(value);
            return;
        }
        out.push(quote);
        for c in value.chars() {
            if c == quote || c == escape {
                out.push(escape);
            }
            out.push(c);
        }
        out.push(quote);
    }
}

/// One input record: its line number (1-based, counting records as
/// PostgreSQL does) and its bytes without the line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub raw: Vec<u8>,
}

impl Record {
    /// The record as PostgreSQL prints it in CONTEXT: at most 100 bytes
    /// (on a character boundary), then `...`.
    pub fn printable(&self) -> String {
        printable(&String::from_utf8_lossy(&self.raw))
    }
}

/// PostgreSQL's `limit_printout_length`.
pub fn printable(text: &str) -> String {
    const MAX: usize = 100;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Cuts buffered COPY input into records.
#[derive(Debug)]
pub struct Decoder {
    options: CopyOptions,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    /// How far past `start` has been scanned without finding a record end,
    /// and the CSV quote state there.
    scanned: usize,
    in_quotes: bool,
    line: u64,
    /// `\.` (or the binary trailer) was seen: everything after is ignored.
    ended: bool,
    /// Binary: the signature and header extension were read.
    header_read: bool,
}

impl Decoder {
    pub fn new(options: CopyOptions) -> Decoder {
        Decoder {
            options,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            in_quotes: false,
            line: 0,
            ended: false,
            header_read: false,
        }
    }

    pub fn options(&self) -> &CopyOptions {
        &self.options
    }

    /// Records read so far (the header line included).
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Bytes buffered and not yet returned as records.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.ended {
            return;
        }
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole record; at `eof` a last line without a newline counts.
    /// `None` when more input is needed (or the data ended).
    pub fn next_record(&mut self, eof: bool) -> EngineResult<Option<Record>> {
        if self.ended {
            return Ok(None);
        }
        if self.options.format == Format::Binary {
            return self.next_binary_record(eof);
        }
        let rest = &self.buf[self.start..];
        let csv = self.options.format == Format::Csv;
        let (quote, escape) = (self.options.quote, self.options.escape);
        let mut i = self.scanned;
        let mut end = None;
        while i < rest.len() {
            let b = rest[i];
            if csv {
                if self.in_quotes {
                    if b == escape && escape != quote {
                        match rest.get(i + 1) {
                            None => break, // wait for the escaped byte
                            Some(&next) if next == quote || next == escape => {
                                i += 2;
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    if b == quote {
                        self.in_quotes = false;
                    }
                } else if b == quote {
                    self.in_quotes = true;
                } else if b == b'\n' {
                    end = Some(i);
                    break;
                }
            } else if b == b'\\' {
                if i + 1 >= rest.len() {
                    break; // the escaped byte has not arrived yet
                }
                i += 2;
                continue;
            } else if b == b'\n' {
                end = Some(i);
                break;
            }
            i += 1;
        }
        let (raw, consumed) = match end {
            Some(newline) => (&rest[..newline], newline + 1),
            None if eof && !rest.is_empty() => (rest, rest.len()),
            None => {
                self.scanned = i;
                return Ok(None);
            }
        };
        // An unterminated quote at the end of the data stays in the record;
        // splitting it into fields reports the error with the line.
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw).to_vec();
        self.start += consumed;
        self.scanned = 0;
        self.in_quotes = false;
        if raw == b"\\." {
            self.ended = true;
            return Ok(None);
        }
        self.line += 1;
        let record = Record {
            line: self.line,
            raw,
        };
        Ok(Some(record))
    }

    /// A binary tuple: `int16 count`, then per field `int32 length`
    /// (-1: NULL) and its bytes; count -1 is the trailer.
    fn next_binary_record(&mut self, eof: bool) -> EngineResult<Option<Record>> {
        let bad = |message: &str| EngineError::BadCopyFormat(message.to_string());
        let rest = &self.buf[self.start..];
        if !self.header_read {
            if rest.len() < 19 {
                return if eof {
                    Err(bad("COPY file signature not recognized"))
                } else {
                    Ok(None)
                };
            }
            if &rest[..11] != BINARY_SIGNATURE {
                return Err(bad("COPY file signature not recognized"));
            }
            let flags = u32::from_be_bytes(rest[11..15].try_into().expect("4 bytes"));
            if flags & 0x0001_0000 != 0 {
                return Err(bad("COPY with OIDs is not supported"));
            }
            let extension = u32::from_be_bytes(rest[15..19].try_into().expect("4 bytes")) as usize;
            if rest.len() < 19 + extension {
                return if eof {
                    Err(bad("invalid COPY file header (wrong length)"))
                } else {
                    Ok(None)
                };
            }
            self.start += 19 + extension;
            self.header_read = true;
            return self.next_binary_record(eof);
        }
        if rest.len() < 2 {
            return if eof && !rest.is_empty() {
                Err(bad("unexpected EOF in COPY data"))
            } else {
                Ok(None)
            };
        }
        let count = i16::from_be_bytes([rest[0], rest[1]]);
        if count == -1 {
            self.ended = true;
            return Ok(None);
        }
        let mut at = 2usize;
        for _ in 0..count.max(0) {
            let Some(len) = rest.get(at..at + 4) else {
                return if eof {
                    Err(bad("unexpected EOF in COPY data"))
                } else {
                    Ok(None)
                };
            };
            let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
            at += 4;
            if len > 0 {
                at += len as usize;
            } else if len < -1 {
                return Err(bad("invalid field size"));
            }
        }
        if rest.len() < at {
            return if eof {
                Err(bad("unexpected EOF in COPY data"))
            } else {
                Ok(None)
            };
        }
        let raw = rest[..at].to_vec();
        self.start += at;
        self.line += 1;
        Ok(Some(Record {
            line: self.line,
            raw,
        }))
    }

    /// The record's fields; `None` is SQL NULL.
    pub fn fields(&self, record: &Record) -> EngineResult<Vec<Option<String>>> {
        match self.options.format {
            Format::Text => self.text_fields(&record.raw),
            Format::Csv => self.csv_fields(&record.raw),
            Format::Binary => self.binary_fields(&record.raw),
        }
    }

    /// A binary tuple's fields, decoded by their column types into the
    /// text the other formats produce.
    fn binary_fields(&self, raw: &[u8]) -> EngineResult<Vec<Option<String>>> {
        let count = i16::from_be_bytes([raw[0], raw[1]]) as usize;
        if count != self.options.oids.len() {
            return Err(EngineError::BadCopyFormat(format!(
                "row field count is {count}, expected {}",
                self.options.oids.len()
            )));
        }
        let mut at = 2;
        let mut fields = Vec::with_capacity(count);
        for &oid in &self.options.oids {
            let len = i32::from_be_bytes(raw[at..at + 4].try_into().expect("framed"));
            at += 4;
            if len < 0 {
                fields.push(None);
                continue;
            }
            let bytes = &raw[at..at + len as usize];
            at += len as usize;
            match crate::sql::decode::decode_param(Some(bytes), oid, true)? {
                crate::sql::params::ParamValue::Text(text) => fields.push(Some(text)),
                crate::sql::params::ParamValue::Null => fields.push(None),
            }
        }
        Ok(fields)
    }

    fn text_fields(&self, raw: &[u8]) -> EngineResult<Vec<Option<String>>> {
        let delimiter = self.options.delimiter;
        let null = self.options.null.as_bytes();
        let mut fields = Vec::new();
        let mut field_start = 0;
        let mut i = 0;
        loop {
            let at_end = i >= raw.len();
            if at_end || raw[i] == delimiter {
                let field = &raw[field_start..i];
                fields.push(if field == null {
                    None
                } else {
                    Some(utf8(unescape_text(field))?)
                });
                if at_end {
                    return Ok(fields);
                }
                field_start = i + 1;
                i += 1;
            } else if raw[i] == b'\\' {
                i += 2;
            } else {
                i += 1;
            }
        }
    }

    fn csv_fields(&self, raw: &[u8]) -> EngineResult<Vec<Option<String>>> {
        let o = &self.options;
        let mut fields = Vec::new();
        let mut i = 0;
        loop {
            let mut value = Vec::new();
            let mut quoted = false;
            let mut in_quotes = false;
            while i < raw.len() {
                let b = raw[i];
                if in_quotes {
                    let escaped = raw.get(i + 1).filter(|&&n| n == o.quote || n == o.escape);
                    if let (true, Some(&next)) = (b == o.escape, escaped) {
                        value.push(next);
                        i += 2;
                        continue;
                    }
                    if b == o.quote {
                        in_quotes = false;
                    } else {
                        value.push(b);
                    }
                } else if b == o.quote {
                    in_quotes = true;
                    quoted = true;
                } else if b == o.delimiter {
                    break;
                } else {
                    value.push(b);
                }
                i += 1;
            }
            if in_quotes {
                return Err(EngineError::BadCopyFormat(
                    "unterminated CSV quoted field".into(),
                ));
            }
            let column = fields.len();
            let is_null_string = value == o.null.as_bytes();
            let null = is_null_string
                && ((!quoted && !o.force_not_null.contains(&column))
                    || (quoted && o.force_null.contains(&column)));
            fields.push(if null { None } else { Some(utf8(value)?) });
            if i >= raw.len() {
                return Ok(fields);
            }
            i += 1; // the delimiter
        }
    }
}

fn utf8(bytes: Vec<u8>) -> EngineResult<String> {
    String::from_utf8(bytes).map_err(|e| {
        let bad = &e.as_bytes()[e.utf8_error().valid_up_to()..];
        let shown: Vec<String> = bad.iter().take(2).map(|b| format!("0x{b:02x}")).collect();
        EngineError::CharacterNotInRepertoire(format!(
            "invalid byte sequence for encoding \"UTF8\": {}",
            shown.join(" ")
        ))
    })
}

/// Text format's backslash escapes.
fn unescape_text(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] != b'\\' || i + 1 >= field.len() {
            out.push(field[i]);
            i += 1;
            continue;
        }
        let c = field[i + 1];
        i += 2;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' if field.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match field.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(value as u8);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(
        options: CopyOptions,
        chunks: &[&[u8]],
    ) -> EngineResult<Vec<Vec<Option<String>>>> {
        let mut decoder = Decoder::new(options);
        let mut rows = Vec::new();
        for (n, chunk) in chunks.iter().enumerate() {
            decoder.push(chunk);
            let eof = n + 1 == chunks.len();
            while let Some(record) = decoder.next_record(eof)? {
                rows.push(decoder.fields(&record)?);
            }
        }
        Ok(rows)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn text_rows_split_across_chunks_with_escapes_and_nulls() {
        let rows = decode_all(
            CopyOptions::new(Format::Text),
            &[b"1\ta\\tb\\", b"\\c\n2\t\\N\r\n3\t\\101\\x41\\q", b""],
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("a\tb\\c")],
                vec![s("2"), None],
                vec![s("3"), s("AAq")],
            ]
        );
    }

    #[test]
    fn end_marker_stops_the_data() {
        let rows = decode_all(CopyOptions::new(Format::Text), &[b"1\n\\.\nignored\n"]).unwrap();
        assert_eq!(rows, vec![vec![s("1")]]);
    }

    #[test]
    fn csv_quotes_newlines_and_null_rules() {
        let rows = decode_all(
            CopyOptions::new(Format::Csv),
            &[b"1,\"x,\"\"y\"\"\",\n2,\"\",\"multi\nline\"\n"],
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("x,\"y\""), None],
                vec![s("2"), s(""), s("multi\nline")],
            ]
        );
    }

    #[test]
    fn unterminated_csv_quote_is_22p04() {
        let error = decode_all(CopyOptions::new(Format::Csv), &[b"1,\"abc\n"]).unwrap_err();
        assert_eq!(error.sqlstate(), "22P04");
    }

    #[test]
    fn invalid_utf8_is_22021() {
        let error = decode_all(CopyOptions::new(Format::Text), &[b"\\377\n"]).unwrap_err();
        assert_eq!(error.sqlstate(), "22021");
    }

    #[test]
    fn output_round_trips_through_input() {
        for format in [Format::Text, Format::Csv] {
            let options = CopyOptions::new(format);
            let values = [
                s("plain"),
                s("tab\there"),
                s("new\nline \\ \"q\", comma"),
                None,
                s(""),
                s("\\."),
            ];
            let line = options.encode_row(values.iter().map(|v| v.as_deref()));
            let rows = decode_all(options, &[line.as_bytes()]).unwrap();
            assert_eq!(rows, vec![values.to_vec()], "{format:?}: {line:?}");
        }
    }

    #[test]
    fn context_lines_are_cut_at_100_bytes() {
        assert_eq!(printable("short"), "short");
        let long = "é".repeat(80);
        let shown = printable(&long);
        assert!(shown.ends_with("...") && shown.len() <= 103);
    }
}
