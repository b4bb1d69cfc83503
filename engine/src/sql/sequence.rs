//! Sequences in SQL: `CREATE SEQUENCE`, `DROP SEQUENCE`, the sequences
//! SERIAL and identity columns own, and `nextval`, `currval`, `setval`,
//! `lastval`.
//!
//! The functions are DataFusion UDFs bound to the session: they resolve the
//! sequence's name in the catalog of the statement being run, draw values
//! from the engine's allocator (shared by all sessions, ahead of the log;
//! see [`crate::sequences`]) and remember the session's `currval`. Values
//! are never rolled back — a transaction that aborts still used them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::{
    DataType as AstType, Expr, ObjectName, SequenceOptions, UnaryOperator, Value,
};
use kimberlite_catalog::{
    Catalog, CatalogChange, SequenceDef, SequenceId, SequenceValue, SqlType, TableId,
    DEFAULT_SCHEMA,
};
use parking_lot::Mutex;

use super::ddl::{catalog_change, current_catalog};
use super::types::sql_type_from_ast;
use super::{Outcome, Session};
use crate::error::{EngineError, EngineResult};
use crate::Engine;

/// The DEFAULT of a SERIAL or identity column.
pub fn nextval_sql(schema: &str, sequence: &str) -> String {
    let quote = |part: &str| {
        let plain = part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if plain {
            part.to_string()
        } else {
            format!("\"{}\"", part.replace('"', "\"\""))
        }
    };
    let name = if schema == DEFAULT_SCHEMA {
        quote(sequence)
    } else {
        format!("{}.{}", quote(schema), quote(sequence))
    };
    format!("nextval('{}')", name.replace('\'', "''"))
}

/// The sequence name of a `nextval('name')` default, as written.
pub fn default_sequence(default_sql: &str) -> Option<String> {
    let inner = default_sql.strip_prefix("nextval('")?.strip_suffix("')")?;
    Some(inner.replace("''", "'"))
}

/// A sequence value as a datum of the column it fills.
pub fn sequence_datum(value: i64, sql_type: SqlType) -> crate::datum::Datum {
    use crate::datum::Datum;
    match sql_type {
        SqlType::Int2 => Datum::Int2(value as i16),
        SqlType::Int4 => Datum::Int4(value as i32),
        _ => Datum::Int8(value),
    }
}

fn number(expr: &Expr) -> EngineResult<i64> {
    let bad = || EngineError::Syntax(format!("invalid sequence option value: {expr}"));
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().map_err(|_| {
                EngineError::NumericOutOfRange(format!(
                    "value \"{n}\" is out of range for type bigint"
                ))
            }),
            _ => Err(bad()),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => number(expr)?.checked_neg().ok_or_else(bad),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => number(expr),
        Expr::Nested(inner) => number(inner),
        _ => Err(bad()),
    }
}

/// A sequence definition from CREATE SEQUENCE's (or an identity column's)
/// options, with PostgreSQL's defaults and checks; ALTER SEQUENCE starts
/// from the old definition (`base`) instead of the defaults.
pub(super) fn define_over(
    base: Option<&SequenceDef>,
    id: SequenceId,
    name: String,
    data_type: SqlType,
    options: &[SequenceOptions],
    owned_by: Option<(TableId, usize)>,
) -> EngineResult<SequenceDef> {
    let type_name = data_type.pg_name();
    if !matches!(data_type, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
        return Err(EngineError::InvalidParameterValue(
            "sequence type must be smallint, integer, or bigint".into(),
        ));
    }
    let (type_min, type_max) = SequenceDef::type_bounds(data_type);
    let (mut increment, mut min, mut max, mut start, mut cycle) = match base {
        Some(b) => (
            b.increment,
            Some(b.min_value),
            Some(b.max_value),
            Some(b.start),
            b.cycle,
        ),
        None => (1, None, None, None, false),
    };
    for option in options {
        match option {
            SequenceOptions::IncrementBy(expr, _) => increment = number(expr)?,
            SequenceOptions::MinValue(expr) => min = expr.as_ref().map(number).transpose()?,
            SequenceOptions::MaxValue(expr) => max = expr.as_ref().map(number).transpose()?,
            SequenceOptions::StartWith(expr, _) => start = Some(number(expr)?),
            SequenceOptions::Cache(expr) => {
                if number(expr)? < 1 {
                    return Err(EngineError::InvalidParameterValue(format!(
                        "CACHE ({}) must be greater than zero",
                        number(expr)?
                    )));
                }
            }
            SequenceOptions::Cycle(no) => cycle = !*no,
        }
    }
    if increment == 0 {
        return Err(EngineError::InvalidParameterValue(
            "INCREMENT must not be zero".into(),
        ));
    }
    let min = min.unwrap_or(if increment > 0 { 1 } else { type_min });
    let max = max.unwrap_or(if increment > 0 { type_max } else { -1 });
    for (word, value) in [("MINVALUE", min), ("MAXVALUE", max)] {
        if value < type_min || value > type_max {
            return Err(EngineError::InvalidParameterValue(format!(
                "{word} ({value}) is out of range for sequence data type {type_name}"
            )));
        }
    }
    if min >= max {
        return Err(EngineError::InvalidParameterValue(format!(
            "MINVALUE ({min}) must be less than MAXVALUE ({max})"
        )));
    }
    let start = start.unwrap_or(if increment > 0 { min } else { max });
    if start < min {
        return Err(EngineError::InvalidParameterValue(format!(
            "START value ({start}) cannot be less than MINVALUE ({min})"
        )));
    }
    if start > max {
        return Err(EngineError::InvalidParameterValue(format!(
            "START value ({start}) cannot be greater than MAXVALUE ({max})"
        )));
    }
    Ok(SequenceDef {
        id,
        name,
        data_type,
        start,
        increment,
        min_value: min,
        max_value: max,
        cycle,
        owned_by,
    })
}

/// The sequence a SERIAL or identity column owns: `<table>_<column>_seq`,
/// with a digit added if that name is taken.
pub(super) fn owned_sequence(
    session: &Session,
    (schema, table): (&str, &str),
    column: &str,
    data_type: SqlType,
    owner: (TableId, usize),
    options: &[SequenceOptions],
    taken: &[String],
) -> EngineResult<SequenceDef> {
    let catalog = current_catalog(session);
    let base = format!("{table}_{column}_seq");
    let free = |n: &String| {
        !catalog.relation_exists(&kimberlite_catalog::relation_key(schema, n)) && !taken.contains(n)
    };
    let name = std::iter::once(base.clone())
        .chain((1..).map(|n| format!("{base}{n}")))
        .find(free)
        .expect("some suffix is free");
    let id = session.engine.allocate_table_id();
    define_over(None, id, name, data_type, options, Some(owner))
}

pub(super) fn create_sequence(
    session: &mut Session,
    if_not_exists: bool,
    name: &ObjectName,
    data_type: Option<&AstType>,
    options: &[SequenceOptions],
    owned_by: Option<&ObjectName>,
) -> EngineResult<Outcome> {
    let (schema, name) = session.creation_target(name)?;
    let tag = Outcome::Command {
        tag: "CREATE SEQUENCE".into(),
    };
    let catalog = current_catalog(session);
    if catalog.relation_exists(&kimberlite_catalog::relation_key(&schema, &name)) {
        if if_not_exists {
            session.notice(
                "NOTICE",
                "42P07",
                format!("relation \"{name}\" already exists, skipping"),
            );
            return Ok(tag);
        }
        return Err(EngineError::DuplicateTable(name));
    }
    let data_type = match data_type {
        Some(t) => sql_type_from_ast(t)?,
        None => SqlType::Int8,
    };
    let owner = match owned_by {
        None => None,
        Some(owner) if owner.to_string().eq_ignore_ascii_case("none") => None,
        Some(owner) => Some(column_owner(&catalog, owner)?),
    };
    let id = session.engine.allocate_table_id();
    let def = define_over(None, id, name, data_type, options, owner)?;
    super::ddl::place(session, id, &schema)?;
    catalog_change(session, CatalogChange::CreateSequence(def))?;
    Ok(tag)
}

/// `OWNED BY table.column`.
pub(super) fn column_owner(
    catalog: &Catalog,
    owner: &ObjectName,
) -> EngineResult<(TableId, usize)> {
    let parts: Vec<String> = owner
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(super::ident_name))
        .collect();
    let [table, column] = parts.as_slice() else {
        return Err(EngineError::InvalidParameterValue(
            "invalid OWNED BY option".into(),
        ));
    };
    let def = catalog
        .table(table)
        .ok_or_else(|| EngineError::UndefinedTable(table.clone()))?;
    let index = def.column_index(column).ok_or_else(|| {
        EngineError::UndefinedColumn(format!(
            "column \"{column}\" of relation \"{table}\" does not exist"
        ))
    })?;
    Ok((def.id, index))
}

pub(super) fn drop_sequences(
    session: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
    cascade: bool,
) -> EngineResult<Outcome> {
    for name in names {
        let name = session.resolve(name)?;
        let catalog = current_catalog(session);
        let Some(sequence) = catalog.sequence(&name).cloned() else {
            if catalog.table(&name).is_some() {
                return Err(EngineError::WrongObjectTypeHint {
                    message: format!("\"{name}\" is not a sequence"),
                    hint: "Use DROP TABLE to remove a table.",
                });
            }
            if if_exists {
                session.notice(
                    "NOTICE",
                    "00000",
                    format!("sequence \"{name}\" does not exist, skipping"),
                );
                continue;
            }
            return Err(EngineError::UndefinedRelation(format!(
                "sequence \"{name}\" does not exist"
            )));
        };
        let change = CatalogChange::DropSequence { id: sequence.id };
        match catalog.check(&change) {
            Err(kimberlite_catalog::CatalogError::DependentObjects { .. }) if cascade => {
                // The owning column's default goes with the sequence.
                let (table, column) = sequence.owned_by.expect("only owned sequences depend");
                let mut def = (**catalog.table_by_id(table).expect("owner exists")).clone();
                session.notice(
                    "NOTICE",
                    "00000",
                    format!(
                        "drop cascades to default value for column {} of table {}",
                        def.columns[column].name, def.name
                    ),
                );
                def.columns[column].default_sql = None;
                def.columns[column].identity = None;
                catalog_change(session, CatalogChange::ReplaceTable(def))?;
            }
            Err(error) => return Err(error.into()),
            Ok(()) => {}
        }
        catalog_change(session, change)?;
    }
    Ok(Outcome::Command {
        tag: "DROP SEQUENCE".into(),
    })
}

/// What the sequence functions share within one session.
pub struct SessionSequences {
    engine: Arc<Engine>,
    /// The catalog of the statement being run (set with its read scope).
    catalog: Mutex<Arc<Catalog>>,
    /// `currval` of each sequence this session called `nextval` on.
    current: Mutex<HashMap<SequenceId, i64>>,
    /// The sequence `lastval` reads.
    last: Mutex<Option<SequenceId>>,
    /// The statement runs in a READ ONLY transaction: nextval and setval
    /// are 25006.
    read_only: std::sync::atomic::AtomicBool,
    /// The statement's search path, for unqualified sequence names.
    search_path: Mutex<Vec<String>>,
}

impl std::fmt::Debug for SessionSequences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSequences").finish_non_exhaustive()
    }
}

impl SessionSequences {
    pub fn new(
        engine: Arc<Engine>,
        database: kimberlite_catalog::DatabaseId,
    ) -> Arc<SessionSequences> {
        Arc::new(SessionSequences {
            catalog: Mutex::new(engine.catalog(database)),
            engine,
            current: Mutex::default(),
            last: Mutex::default(),
            read_only: Default::default(),
            search_path: Mutex::new(vec![DEFAULT_SCHEMA.to_string()]),
        })
    }

    /// What the statement about to run sees.
    pub fn set_scope(&self, catalog: Arc<Catalog>, search_path: Vec<String>, read_only: bool) {
        *self.catalog.lock() = catalog;
        *self.search_path.lock() = search_path;
        self.read_only
            .store(read_only, std::sync::atomic::Ordering::Relaxed);
    }

    fn check_writable(&self, function: &str) -> EngineResult<()> {
        if self.read_only.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(EngineError::ReadOnlyTransaction(format!("{function}()")));
        }
        Ok(())
    }

    /// The sequence a regclass-style name (`s`, `public.s`, `"S"`) denotes.
    fn resolve(&self, text: &str) -> EngineResult<Arc<SequenceDef>> {
        let (schema, name) =
            relation_name(text).ok_or_else(|| EngineError::UndefinedTable(text.to_string()))?;
        let catalog = self.catalog.lock().clone();
        let path = self.search_path.lock().clone();
        let name = super::names::lookup_key(&catalog, &path, schema.as_deref(), &name)?;
        match catalog.sequence(&name) {
            Some(def) => Ok(def.clone()),
            None if catalog.table(&name).is_some() => Err(EngineError::WrongObjectType(format!(
                "\"{name}\" is not a sequence"
            ))),
            None => Err(EngineError::UndefinedTable(name)),
        }
    }

    pub(crate) fn nextval(&self, text: &str) -> EngineResult<i64> {
        self.check_writable("nextval")?;
        let def = self.resolve(text)?;
        let durable = self.engine.state.read().sequences.get(&def.id).copied();
        let value = self.engine.sequences.lock().nextval(&def, durable)?;
        self.current.lock().insert(def.id, value);
        *self.last.lock() = Some(def.id);
        Ok(value)
    }

    fn currval(&self, text: &str) -> EngineResult<i64> {
        let def = self.resolve(text)?;
        self.current.lock().get(&def.id).copied().ok_or_else(|| {
            EngineError::ObjectNotInPrerequisiteState(format!(
                "currval of sequence \"{}\" is not yet defined in this session",
                def.name
            ))
        })
    }

    fn lastval(&self) -> EngineResult<i64> {
        let undefined = || {
            EngineError::ObjectNotInPrerequisiteState(
                "lastval is not yet defined in this session".into(),
            )
        };
        let id = self.last.lock().ok_or_else(undefined)?;
        self.current.lock().get(&id).copied().ok_or_else(undefined)
    }

    fn setval(&self, text: &str, value: i64, is_called: bool) -> EngineResult<i64> {
        self.check_writable("setval")?;
        let def = self.resolve(text)?;
        if value < def.min_value || value > def.max_value {
            return Err(EngineError::NumericOutOfRange(format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                def.name, def.min_value, def.max_value
            )));
        }
        self.engine.sequences.lock().setval(
            &def,
            SequenceValue {
                last_value: value,
                is_called,
            },
        );
        self.current.lock().insert(def.id, value);
        *self.last.lock() = Some(def.id);
        Ok(value)
    }
}

/// `s`, `public.s`, `"My Seq"` → the catalog name; `None` for another schema.
fn relation_name(text: &str) -> Option<(Option<String>, String)> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (part, tail) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut name = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        name.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            (name, &quoted[end?..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            (rest[..end].trim().to_lowercase(), &rest[end..])
        };
        parts.push(part);
        rest = tail.strip_prefix('.').unwrap_or(tail).trim_start();
    }
    match parts.as_slice() {
        [name] => Some((None, name.clone())),
        [schema, name] => Some((Some(schema.clone()), name.clone())),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Next,
    Curr,
    Set,
    Last,
}

#[derive(Debug)]
struct SequenceFunction {
    kind: Kind,
    signature: Signature,
    sequences: Arc<SessionSequences>,
}

impl PartialEq for SequenceFunction {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.sequences, &other.sequences)
    }
}
impl Eq for SequenceFunction {}
impl std::hash::Hash for SequenceFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

fn external(error: EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// Row `i` of an argument, as text / integer / bool.
fn text_at(arg: &ColumnarValue, i: usize) -> Option<String> {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v)) => v.clone(),
        ColumnarValue::Scalar(ScalarValue::Utf8View(v)) => v.clone(),
        ColumnarValue::Array(a) => {
            let cast = datafusion::arrow::compute::cast(a, &DataType::Utf8).ok()?;
            let strings = cast.as_any().downcast_ref::<StringArray>()?;
            strings.is_valid(i).then(|| strings.value(i).to_string())
        }
        _ => None,
    }
}

fn int_at(arg: &ColumnarValue, i: usize) -> Option<i64> {
    match arg {
        ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(v) => v,
            _ => None,
        },
        ColumnarValue::Array(a) => {
            let cast = datafusion::arrow::compute::cast(a, &DataType::Int64).ok()?;
            let ints = cast.as_any().downcast_ref::<Int64Array>()?;
            ints.is_valid(i).then(|| ints.value(i))
        }
    }
}

fn bool_at(arg: &ColumnarValue, i: usize) -> Option<bool> {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Boolean(v)) => *v,
        ColumnarValue::Array(a) => {
            let bools = a.as_any().downcast_ref::<BooleanArray>()?;
            bools.is_valid(i).then(|| bools.value(i))
        }
        _ => None,
    }
}

impl ScalarUDFImpl for SequenceFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Next => "nextval",
            Kind::Curr => "currval",
            Kind::Set => "setval",
            Kind::Last => "lastval",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // One call per row, even for constant arguments: each nextval
        // is a new value.
        let rows = args.number_rows;
        let mut out: Vec<Option<i64>> = Vec::with_capacity(rows);
        for i in 0..rows {
            let value = match self.kind {
                Kind::Last => Some(self.sequences.lastval().map_err(external)?),
                kind => {
                    let Some(name) = text_at(&args.args[0], i) else {
                        out.push(None);
                        continue;
                    };
                    match kind {
                        Kind::Next => Some(self.sequences.nextval(&name).map_err(external)?),
                        Kind::Curr => Some(self.sequences.currval(&name).map_err(external)?),
                        _ => {
                            let Some(value) = int_at(&args.args[1], i) else {
                                out.push(None);
                                continue;
                            };
                            let is_called = args.args.get(2).map_or(Some(true), |a| bool_at(a, i));
                            let Some(is_called) = is_called else {
                                out.push(None);
                                continue;
                            };
                            Some(
                                self.sequences
                                    .setval(&name, value, is_called)
                                    .map_err(external)?,
                            )
                        }
                    }
                }
            };
            out.push(value);
        }
        let array: ArrayRef = Arc::new(Int64Array::from(out));
        Ok(ColumnarValue::Array(array))
    }
}

/// The session's `nextval`, `currval`, `setval` and `lastval`.
pub fn functions(sequences: &Arc<SessionSequences>) -> Vec<ScalarUDF> {
    let text = || TypeSignature::Exact(vec![DataType::Utf8]);
    let make = |kind, signature| {
        ScalarUDF::new_from_impl(SequenceFunction {
            kind,
            signature,
            sequences: sequences.clone(),
        })
    };
    vec![
        make(
            Kind::Next,
            Signature::one_of(vec![text()], Volatility::Volatile),
        ),
        make(
            Kind::Curr,
            Signature::one_of(vec![text()], Volatility::Volatile),
        ),
        make(
            Kind::Set,
            Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
                ],
                Volatility::Volatile,
            ),
        ),
        make(Kind::Last, Signature::exact(vec![], Volatility::Volatile)),
    ]
}

#[cfg(test)]
mod tests {
    use super::relation_name;

    #[test]
    fn relation_names_read_like_regclass() {
        let name = |text: &str| relation_name(text).map(|(s, n)| (s, n.to_string()));
        assert_eq!(name("s"), Some((None, "s".into())));
        assert_eq!(name("S"), Some((None, "s".into())));
        assert_eq!(
            name("public.Orders_id_seq"),
            Some((Some("public".into()), "orders_id_seq".into()))
        );
        assert_eq!(
            name("\"My \"\"Seq\"\"\""),
            Some((None, "My \"Seq\"".into()))
        );
        assert_eq!(name("a.b.c"), None);
    }
}

/// Where a sequence option clause ranks in the order our parser requires
/// (PostgreSQL takes them in any order).
fn option_rank(words: &[String]) -> Option<(usize, usize)> {
    let number_at = |i: usize| -> Option<usize> {
        let mut i = i;
        if matches!(words.get(i).map(String::as_str), Some("-" | "+")) {
            i += 1;
        }
        let word = words.get(i)?;
        word.chars().all(|c| c.is_ascii_digit()).then_some(i + 1)
    };
    let first = words.first()?.to_ascii_uppercase();
    let second = words.get(1).map(|w| w.to_ascii_uppercase());
    match (first.as_str(), second.as_deref()) {
        ("INCREMENT", Some("BY")) => number_at(2).map(|n| (0, n)),
        ("INCREMENT", _) => number_at(1).map(|n| (0, n)),
        ("MINVALUE", _) => number_at(1).map(|n| (1, n)),
        ("NO", Some("MINVALUE")) => Some((1, 2)),
        ("MAXVALUE", _) => number_at(1).map(|n| (2, n)),
        ("NO", Some("MAXVALUE")) => Some((2, 2)),
        ("START", Some("WITH")) => number_at(2).map(|n| (3, n)),
        ("START", _) => number_at(1).map(|n| (3, n)),
        ("CACHE", _) => number_at(1).map(|n| (4, n)),
        ("NO", Some("CYCLE")) => Some((5, 2)),
        ("CYCLE", _) => Some((5, 1)),
        _ => None,
    }
}

/// `sql` with each run of sequence options (CREATE SEQUENCE, identity
/// columns) put in the order our parser reads, or `None` if nothing moved.
/// Tried only on SQL that failed to parse, so statements that parse are
/// never touched.
pub fn reorder_sequence_options(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let upper = sql.to_ascii_uppercase();
    if !upper.contains("SEQUENCE") && !upper.contains("IDENTITY") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    // The significant tokens, each with its index in `tokens`.
    let significant: Vec<(usize, String)> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Token::Whitespace(_)))
        .map(|(i, t)| (i, t.to_string()))
        .collect();
    let words: Vec<String> = significant.iter().map(|(_, w)| w.clone()).collect();
    let mut out = String::new();
    let mut next_token = 0; // first token of `tokens` not yet written
    let mut moved = false;
    let mut i = 0;
    while i < words.len() {
        // A run of clauses starting at word i.
        let mut clauses: Vec<(usize, String)> = Vec::new();
        let mut j = i;
        while let Some((rank, len)) = option_rank(&words[j..]) {
            clauses.push((rank, words[j..j + len].join(" ")));
            j += len;
        }
        if clauses.len() < 2 {
            i += 1;
            continue;
        }
        let mut sorted = clauses.clone();
        sorted.sort_by_key(|(rank, _)| *rank);
        if sorted.iter().map(|c| c.0).collect::<Vec<_>>()
            != clauses.iter().map(|c| c.0).collect::<Vec<_>>()
        {
            moved = true;
        }
        let start = significant[i].0;
        for token in &tokens[next_token..start] {
            out.push_str(&token.to_string());
        }
        let text: Vec<String> = sorted.into_iter().map(|(_, t)| t).collect();
        out.push_str(&text.join(" "));
        next_token = significant[j - 1].0 + 1;
        i = j;
    }
    for token in &tokens[next_token..] {
        out.push_str(&token.to_string());
    }
    moved.then_some(out)
}

#[cfg(test)]
mod order_tests {
    use super::reorder_sequence_options;

    #[test]
    fn options_in_any_order_are_put_in_parser_order() {
        assert_eq!(
            reorder_sequence_options(
                "CREATE SEQUENCE s AS integer START WITH 1 INCREMENT BY -1 NO MINVALUE CACHE 1"
            )
            .as_deref(),
            Some("CREATE SEQUENCE s AS integer INCREMENT BY - 1 NO MINVALUE START WITH 1 CACHE 1")
        );
        assert_eq!(
            reorder_sequence_options(
                "CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (START 5 INCREMENT 2))"
            )
            .as_deref(),
            Some("CREATE TABLE t (id int GENERATED ALWAYS AS IDENTITY (INCREMENT 2 START 5))")
        );
        assert_eq!(
            reorder_sequence_options("CREATE SEQUENCE s INCREMENT 2 START 5"),
            None
        );
        assert_eq!(reorder_sequence_options("SELECT 1"), None);
    }
}
