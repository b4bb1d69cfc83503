//! The engine's one error enum and its exhaustive mapping to SQLSTATE.
//!
//! Every error a client can see passes through [`EngineError::sqlstate`].
//! The match has no `_ =>` arm on purpose: a new variant does not compile
//! until someone decides which SQLSTATE a PostgreSQL client should get.

use kimberlite_catalog::CatalogError;
use kimberlite_consensus::{ReplicationError, StorageError};

/// Result alias for the engine.
pub type EngineResult<T> = Result<T, EngineError>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// SQL that does not parse.
    #[error("{0}")]
    Syntax(String),
    /// SQL that does not parse, with the 1-based character position of the
    /// offending token (PostgreSQL's `P` field; psql draws its caret from it).
    #[error("{message}")]
    SyntaxAt { message: String, position: usize },
    /// A statement or feature we do not support (yet).
    #[error("{0}")]
    FeatureNotSupported(String),
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    /// 0A000: TRUNCATE of a table a foreign key references, alone.
    #[error("cannot truncate a table referenced in a foreign key constraint")]
    TruncateReferenced {
        referencing: String,
        referenced: String,
    },
    /// 55P03: NOWAIT met a locked row.
    #[error("{0}")]
    LockNotAvailable(String),
    /// 42P16.
    #[error("{0}")]
    InvalidTableDefinition(String),
    /// 42P01 with its own text (`sequence "s" does not exist`).
    #[error("{0}")]
    UndefinedRelation(String),
    /// 42809: `"s" is not a table`.
    #[error("{0}")]
    WrongObjectType(String),
    /// 42809 with PostgreSQL's HINT (`Use DROP SEQUENCE …`).
    #[error("{message}")]
    WrongObjectTypeHint { message: String, hint: &'static str },
    #[error("{0}")]
    UndefinedColumn(String),
    #[error("{0}")]
    UndefinedFunction(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("{0}")]
    DuplicateColumn(String),
    #[error("type \"{0}\" does not exist")]
    UndefinedType(String),
    #[error("{0}")]
    Datatype(String),
    #[error("{0}")]
    InvalidTextRepresentation(String),
    #[error("{0}")]
    NumericOutOfRange(String),
    #[error("{0}")]
    InvalidBinaryRepresentation(String),
    #[error("{0}")]
    CharacterNotInRepertoire(String),
    #[error("{0}")]
    StringTooLong(String),
    #[error("division by zero")]
    DivisionByZero,
    /// Array text that does not parse, with PostgreSQL's DETAIL.
    #[error("malformed array literal: \"{text}\"")]
    MalformedArray { text: String, detail: &'static str },
    /// An ON CONFLICT target no unique constraint matches (42P10).
    #[error("{0}")]
    InvalidColumnReference(String),
    /// A row affected twice by one statement (21000), with PostgreSQL's HINT.
    #[error("{message}")]
    CardinalityViolation { message: String, hint: &'static str },
    /// `column reference "…" is ambiguous` (42702).
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    /// `more than one function named "lower"` (42725).
    #[error("{0}")]
    AmbiguousFunction(String),
    /// A named object that does not exist, e.g. a constraint (42704).
    #[error("{0}")]
    UndefinedObject(String),
    /// Transactions waiting for each other's row locks (40P01).
    #[error("deadlock detected")]
    DeadlockDetected,
    /// `savepoint "…" does not exist` (3B001).
    #[error("savepoint \"{0}\" does not exist")]
    UndefinedSavepoint(String),
    /// Date, time or interval text that does not parse (22007).
    #[error("{0}")]
    InvalidDatetimeFormat(String),
    /// An interval field out of its range (22015).
    #[error("{0}")]
    IntervalFieldOverflow(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    /// 42710.
    #[error("{0}")]
    DuplicateObject(String),
    #[error("unrecognized configuration parameter \"{0}\"")]
    UndefinedParameter(String),
    /// `duplicate key value violates unique constraint "…"`.
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation {
        table: String,
        constraint: String,
        detail: String,
    },
    /// 23503, from the referencing side (`insert or update on table …`) or
    /// the referenced side (`update or delete on table …`).
    #[error("{message}")]
    ForeignKeyViolation {
        table: String,
        constraint: String,
        message: String,
        detail: String,
    },
    #[error("new row for relation \"{table}\" violates check constraint \"{constraint}\"")]
    CheckViolation {
        table: String,
        constraint: String,
        /// The failing row as PostgreSQL's DETAIL shows it.
        row: String,
    },
    /// 2BP01: DROP without CASCADE of an object others depend on.
    #[error("{message}")]
    DependentObjects { message: String, detail: String },
    /// 2BP01 with its own HINT (DROP INDEX of a constraint's index).
    #[error("{message}")]
    DependentObjectsHint { message: String, hint: String },
    /// 428C9: an explicit value for a GENERATED ALWAYS identity column.
    #[error("cannot insert a non-DEFAULT value into column \"{0}\"")]
    GeneratedAlways(String),
    /// 428C9: UPDATE of a GENERATED ALWAYS identity column to a value.
    #[error("column \"{0}\" can only be updated to DEFAULT")]
    GeneratedAlwaysUpdate(String),
    /// 2200H: nextval past the end of a sequence that does not cycle.
    #[error("{0}")]
    SequenceLimit(String),
    /// 42830: a foreign key that names no unique key of its table.
    #[error("{0}")]
    InvalidForeignKey(String),
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation {
        table: String,
        column: String,
        /// The failing row as PostgreSQL's DETAIL shows it.
        row: String,
    },
    /// 23505 from ALTER TABLE ADD PRIMARY KEY / UNIQUE or CREATE UNIQUE
    /// INDEX over rows that repeat a value.
    #[error("could not create unique index \"{constraint}\"")]
    ExistingUniqueViolation {
        table: String,
        constraint: String,
        /// `Key (a)=(1) is duplicated.`
        detail: String,
    },
    /// 23502 from SET NOT NULL (or a NOT NULL column added) over rows
    /// holding NULL.
    #[error("column \"{column}\" of relation \"{table}\" contains null values")]
    ExistingNullViolation { table: String, column: String },
    /// 23514 from ALTER TABLE ADD CHECK over rows that fail it.
    #[error("check constraint \"{constraint}\" of relation \"{table}\" is violated by some row")]
    ExistingCheckViolation { table: String, constraint: String },
    /// 42939: a name reserved for the system (`pg_…` schemas).
    #[error("{message}")]
    ReservedName { message: String, detail: String },
    /// An error about a table outside `public`: the schema for the
    /// SCHEMA NAME field.
    #[error("{error}")]
    InSchema {
        error: Box<EngineError>,
        schema: String,
    },
    /// An error about a string literal of the statement (`'{1,x}'::int[]`,
    /// `'f'::regproc`): the server points the POSITION field at it.
    #[error("{error}")]
    AtLiteral {
        error: Box<EngineError>,
        literal: String,
    },
    /// 42P06.
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    /// 3F000.
    #[error("schema \"{0}\" does not exist")]
    InvalidSchemaName(String),
    /// 42P04.
    #[error("database \"{0}\" already exists")]
    DuplicateDatabase(String),
    /// 3D000.
    #[error("database \"{0}\" does not exist")]
    UndefinedDatabase(String),
    /// 55006: a database that sessions are connected to (or the one this
    /// session is connected to) cannot be dropped.
    #[error("{message}")]
    ObjectInUse {
        message: String,
        detail: Option<String>,
    },
    /// 3F000 for CREATE with no existing schema in search_path.
    #[error("no schema has been selected to create in")]
    NoSchemaSelected,
    /// 0A000: ALTER COLUMN TYPE of a column a view reads.
    #[error("cannot alter type of a column used by a view or rule")]
    ColumnUsedByView { view: String, column: String },
    /// 42804: ALTER COLUMN TYPE without USING where no assignment cast
    /// exists.
    #[error("column \"{column}\" cannot be cast automatically to type {type_name}")]
    CannotCastColumn { column: String, type_name: String },
    /// Another transaction committed a conflicting change first.
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("{0}")]
    ProgramLimitExceeded(String),
    #[error("{0}")]
    InvalidAuthorization(String),
    /// `permission denied …`.
    #[error("{0}")]
    InsufficientPrivilege(String),
    /// The statement needed more memory than `statement_memory_bytes_max`.
    /// The detail says which operator asked.
    #[error("out of memory")]
    OutOfMemory(String),
    #[error("canceling statement due to user request")]
    QueryCanceled,
    /// SET of a parameter that cannot change at run time.
    #[error("{0}")]
    CantChangeRuntimeParam(String),
    /// A write in a READ ONLY transaction.
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnlyTransaction(String),
    /// A command that must run outside a transaction block.
    #[error("{0} cannot run inside a transaction block")]
    ActiveTransaction(String),
    /// An unknown prepared statement (SQL EXECUTE / DEALLOCATE).
    #[error("prepared statement \"{0}\" does not exist")]
    UndefinedPreparedStatement(String),
    #[error("prepared statement \"{0}\" already exists")]
    DuplicatePreparedStatement(String),
    /// A command that needs a transaction block (DECLARE without HOLD).
    #[error("{0}")]
    NoActiveTransaction(String),
    #[error("cursor \"{0}\" already exists")]
    DuplicateCursor(String),
    #[error("cursor \"{0}\" does not exist")]
    UndefinedCursor(String),
    /// PostgreSQL's 55000 (a cursor asked to scan backward, say).
    #[error("{0}")]
    ObjectNotInPrerequisiteState(String),
    /// A cancellation with its own message (CopyFail).
    #[error("{0}")]
    QueryCanceledWith(String),
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    /// The log or the replica failed; the database is not accepting writes.
    #[error("could not commit: {0}")]
    Replication(#[from] ReplicationError),
    #[error("log storage failed: {0}")]
    Storage(#[from] StorageError),
    /// Data on disk is damaged; we refuse to guess.
    #[error("data corrupted: {0}")]
    Corrupted(String),
    /// The master key is missing, malformed, too widely readable, or does
    /// not open this data directory.
    #[error("master key: {0}")]
    KeyMismatch(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A broken internal expectation that is not worth a panic (a DataFusion
    /// error we cannot classify, say).
    #[error("{0}")]
    Internal(String),
    /// COPY input that does not follow its format (extra or missing
    /// columns, an unterminated quoted field).
    #[error("{0}")]
    BadCopyFormat(String),
    /// An error with PostgreSQL's CONTEXT line (`COPY t, line 3, column
    /// a: "x"`): everything else is the inner error's.
    #[error("{error}")]
    WithContext {
        error: Box<EngineError>,
        context: String,
    },
}

impl EngineError {
    /// The PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            EngineError::Syntax(_) => "42601",
            EngineError::SyntaxAt { .. } => "42601",
            EngineError::FeatureNotSupported(_) => "0A000",
            EngineError::UndefinedTable(_) => "42P01",
            EngineError::UndefinedRelation(_) => "42P01",
            EngineError::InvalidTableDefinition(_) => "42P16",
            EngineError::LockNotAvailable(_) => "55P03",
            EngineError::TruncateReferenced { .. } => "0A000",
            EngineError::WrongObjectType(_) => "42809",
            EngineError::WrongObjectTypeHint { .. } => "42809",
            EngineError::UndefinedColumn(_) => "42703",
            EngineError::UndefinedFunction(_) => "42883",
            EngineError::DuplicateTable(_) => "42P07",
            EngineError::DuplicateColumn(_) => "42701",
            EngineError::UndefinedType(_) => "42704",
            EngineError::Datatype(_) => "42804",
            EngineError::InvalidTextRepresentation(_) => "22P02",
            EngineError::NumericOutOfRange(_) => "22003",
            EngineError::InvalidBinaryRepresentation(_) => "22P03",
            EngineError::CharacterNotInRepertoire(_) => "22021",
            EngineError::StringTooLong(_) => "22001",
            EngineError::DivisionByZero => "22012",
            EngineError::InvalidDatetimeFormat(_) => "22007",
            EngineError::UndefinedSavepoint(_) => "3B001",
            EngineError::DeadlockDetected => "40P01",
            EngineError::InvalidColumnReference(_) => "42P10",
            EngineError::CardinalityViolation { .. } => "21000",
            EngineError::AmbiguousColumn(_) => "42702",
            EngineError::AmbiguousFunction(_) => "42725",
            EngineError::UndefinedObject(_) => "42704",
            EngineError::MalformedArray { .. } => "22P02",
            EngineError::IntervalFieldOverflow(_) => "22015",
            EngineError::InvalidParameterValue(_) => "22023",
            EngineError::UndefinedParameter(_) => "42704",
            EngineError::UniqueViolation { .. } => "23505",
            EngineError::ExistingUniqueViolation { .. } => "23505",
            EngineError::ExistingNullViolation { .. } => "23502",
            EngineError::ExistingCheckViolation { .. } => "23514",
            EngineError::CannotCastColumn { .. } => "42804",
            EngineError::ColumnUsedByView { .. } => "0A000",
            EngineError::DuplicateSchema(_) => "42P06",
            EngineError::DuplicateDatabase(_) => "42P04",
            EngineError::UndefinedDatabase(_) => "3D000",
            EngineError::ObjectInUse { .. } => "55006",
            EngineError::ReservedName { .. } => "42939",
            EngineError::InvalidSchemaName(_) => "3F000",
            EngineError::NoSchemaSelected => "3F000",
            EngineError::NotNullViolation { .. } => "23502",
            EngineError::ForeignKeyViolation { .. } => "23503",
            EngineError::CheckViolation { .. } => "23514",
            EngineError::DependentObjects { .. } => "2BP01",
            EngineError::DependentObjectsHint { .. } => "2BP01",
            EngineError::DuplicateObject(_) => "42710",
            EngineError::GeneratedAlways(_) => "428C9",
            EngineError::GeneratedAlwaysUpdate(_) => "428C9",
            EngineError::SequenceLimit(_) => "2200H",
            EngineError::InvalidForeignKey(_) => "42830",
            EngineError::SerializationFailure => "40001",
            EngineError::InFailedTransaction => "25P02",
            EngineError::ProgramLimitExceeded(_) => "54000",
            EngineError::InvalidAuthorization(_) => "28000",
            EngineError::InsufficientPrivilege(_) => "42501",
            EngineError::OutOfMemory(_) => "53200",
            EngineError::QueryCanceled => "57014",
            EngineError::QueryCanceledWith(_) => "57014",
            EngineError::CantChangeRuntimeParam(_) => "55P02",
            EngineError::NoActiveTransaction(_) => "25P01",
            EngineError::DuplicateCursor(_) => "42P03",
            EngineError::UndefinedCursor(_) => "34000",
            EngineError::ObjectNotInPrerequisiteState(_) => "55000",
            EngineError::ReadOnlyTransaction(_) => "25006",
            EngineError::ActiveTransaction(_) => "25001",
            EngineError::UndefinedPreparedStatement(_) => "26000",
            EngineError::DuplicatePreparedStatement(_) => "42P05",
            EngineError::StatementTimeout => "57014",
            EngineError::Replication(_) => "58030",
            EngineError::Storage(_) => "58030",
            EngineError::Corrupted(_) => "XX001",
            EngineError::KeyMismatch(_) => "F0000",
            EngineError::Io(_) => "58030",
            EngineError::Internal(_) => "XX000",
            EngineError::BadCopyFormat(_) => "22P04",
            EngineError::WithContext { error, .. }
            | EngineError::InSchema { error, .. }
            | EngineError::AtLiteral { error, .. } => error.sqlstate(),
        }
    }

    /// PostgreSQL's POSITION field, where there is one.
    pub fn position(&self) -> Option<usize> {
        match self {
            EngineError::SyntaxAt { position, .. } => Some(*position),
            EngineError::WithContext { error, .. }
            | EngineError::InSchema { error, .. }
            | EngineError::AtLiteral { error, .. } => error.position(),
            _ => None,
        }
    }

    /// PostgreSQL's DETAIL field, where there is one.
    pub fn detail(&self) -> Option<String> {
        match self {
            EngineError::UniqueViolation { detail, .. }
            | EngineError::ExistingUniqueViolation { detail, .. } => Some(detail.clone()),
            EngineError::ForeignKeyViolation { detail, .. } => Some(detail.clone()),
            EngineError::TruncateReferenced {
                referencing,
                referenced,
            } => Some(format!(
                "Table \"{referencing}\" references \"{referenced}\"."
            )),
            EngineError::DependentObjects { detail, .. } => Some(detail.clone()),
            EngineError::ReservedName { detail, .. } => Some(detail.clone()),
            EngineError::ObjectInUse { detail, .. } => detail.clone(),
            EngineError::ColumnUsedByView { view, column } => Some(format!(
                "rule _RETURN on view {view} depends on column \"{column}\""
            )),
            EngineError::CheckViolation { row, .. } => {
                Some(format!("Failing row contains ({row})."))
            }
            EngineError::GeneratedAlways(column) | EngineError::GeneratedAlwaysUpdate(column) => {
                Some(format!(
                    "Column \"{column}\" is an identity column defined as GENERATED ALWAYS."
                ))
            }
            EngineError::OutOfMemory(detail) => Some(detail.clone()),
            EngineError::MalformedArray { detail, .. } => Some(detail.to_string()),
            EngineError::NotNullViolation { row, .. } => {
                Some(format!("Failing row contains ({row})."))
            }
            EngineError::WithContext { error, .. }
            | EngineError::InSchema { error, .. }
            | EngineError::AtLiteral { error, .. } => error.detail(),
            _ => None,
        }
    }

    /// PostgreSQL's HINT field, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::CardinalityViolation { hint, .. } => Some(hint.to_string()),
            EngineError::DependentObjects { .. } => {
                Some("Use DROP ... CASCADE to drop the dependent objects too.".into())
            }
            EngineError::DependentObjectsHint { hint, .. } => Some(hint.clone()),
            EngineError::GeneratedAlways(_) => {
                Some("Use OVERRIDING SYSTEM VALUE to override.".into())
            }
            EngineError::WrongObjectTypeHint { hint, .. } => Some(hint.to_string()),
            EngineError::CannotCastColumn { column, type_name } => Some(format!(
                "You might need to specify \"USING {column}::{type_name}\"."
            )),
            EngineError::TruncateReferenced { referencing, .. } => Some(format!(
                "Truncate table \"{referencing}\" at the same time, or use TRUNCATE ... CASCADE."
            )),
            EngineError::WithContext { error, .. }
            | EngineError::InSchema { error, .. }
            | EngineError::AtLiteral { error, .. } => error.hint(),
            _ => None,
        }
    }

    /// PostgreSQL's CONTEXT (`W`) field, where there is one.
    pub fn context(&self) -> Option<&str> {
        match self {
            EngineError::WithContext { context, .. } => Some(context),
            EngineError::InSchema { error, .. } | EngineError::AtLiteral { error, .. } => {
                error.context()
            }
            _ => None,
        }
    }

    /// PostgreSQL's table (`t`), column (`c`) and constraint (`n`) fields.
    pub fn table_column_constraint(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match self {
            EngineError::NotNullViolation { table, column, .. }
            | EngineError::ExistingNullViolation { table, column } => {
                (Some(table), Some(column), None)
            }
            EngineError::UniqueViolation {
                table, constraint, ..
            }
            | EngineError::ForeignKeyViolation {
                table, constraint, ..
            }
            | EngineError::CheckViolation {
                table, constraint, ..
            }
            | EngineError::ExistingUniqueViolation {
                table, constraint, ..
            }
            | EngineError::ExistingCheckViolation { table, constraint } => {
                (Some(table), None, Some(constraint))
            }
            EngineError::WithContext { error, .. }
            | EngineError::InSchema { error, .. }
            | EngineError::AtLiteral { error, .. } => error.table_column_constraint(),
            _ => (None, None, None),
        }
    }

    /// The schema of the table the error is about, when not `public`.
    pub fn schema(&self) -> Option<&str> {
        match self {
            EngineError::InSchema { schema, .. } => Some(schema),
            EngineError::WithContext { error, .. } | EngineError::AtLiteral { error, .. } => {
                error.schema()
            }
            _ => None,
        }
    }

    /// The string literal the error is about, if the statement has it.
    pub fn literal(&self) -> Option<&str> {
        match self {
            EngineError::AtLiteral { literal, .. } => Some(literal),
            EngineError::WithContext { error, .. } | EngineError::InSchema { error, .. } => {
                error.literal()
            }
            _ => None,
        }
    }

    /// This error, about the string literal `literal`.
    pub fn at_literal(self, literal: &str) -> EngineError {
        match self {
            already @ EngineError::AtLiteral { .. } => already,
            error => EngineError::AtLiteral {
                error: Box::new(error),
                literal: literal.to_string(),
            },
        }
    }

    /// Adds a CONTEXT line (keeping an inner one that is already there).
    pub fn with_context(self, context: impl FnOnce() -> String) -> EngineError {
        match self {
            already @ EngineError::WithContext { .. } => already,
            error => EngineError::WithContext {
                error: Box::new(error),
                context: context(),
            },
        }
    }
}

impl From<CatalogError> for EngineError {
    fn from(error: CatalogError) -> Self {
        match error {
            CatalogError::TableExists(name) => EngineError::DuplicateTable(name),
            CatalogError::TableNotFound(name) => EngineError::UndefinedTable(name),
            CatalogError::DuplicateColumn(name) => {
                EngineError::DuplicateColumn(format!("column \"{name}\" specified more than once"))
            }
            CatalogError::RoleExists(name) => {
                EngineError::InvalidParameterValue(format!("role \"{name}\" already exists"))
            }
            CatalogError::Unsupported(what) => EngineError::FeatureNotSupported(what),
            CatalogError::ConstraintExists { constraint, table } => EngineError::DuplicateObject(
                format!("constraint \"{constraint}\" for relation \"{table}\" already exists"),
            ),
            CatalogError::SequenceNotFound(name) => EngineError::UndefinedTable(name),
            CatalogError::SchemaExists(name) => EngineError::DuplicateSchema(name),
            CatalogError::SchemaNotFound(name) => EngineError::InvalidSchemaName(name),
            CatalogError::DatabaseExists(name) => EngineError::DuplicateDatabase(name),
            CatalogError::DatabaseNotFound(name) => EngineError::UndefinedDatabase(name),
            CatalogError::DependentObjects { object, detail } => EngineError::DependentObjects {
                message: format!("cannot drop {object} because other objects depend on it"),
                detail,
            },
        }
    }
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        crate::sql::classify::classify_datafusion_error(error)
    }
}

impl From<datafusion::arrow::error::ArrowError> for EngineError {
    fn from(error: datafusion::arrow::error::ArrowError) -> Self {
        crate::sql::classify::classify_arrow_error(&error)
    }
}
