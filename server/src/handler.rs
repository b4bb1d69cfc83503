//! The pgwire query handlers: the seam between the wire and the engine.
//!
//! pgwire owns the protocol state machine (message framing, portals,
//! Sync/error recovery, row-limited Execute). We own what a statement
//! means: each connection gets one engine [`Session`], kept in the
//! connection's session extensions, and every simple or extended query runs
//! through `Session::execute`. Results stream batch by batch from DataFusion
//! into DataRow messages.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{stream, Sink, SinkExt, StreamExt, TryStreamExt};
use kimberlite_engine::sql::copy::{
    is_copy_from_stdin, CopyOptions, Format as CopyFormat, BINARY_SIGNATURE,
};
use kimberlite_engine::sql::params::{placeholder_count, ParamValue};
use kimberlite_engine::sql::{self, Outcome, OutputStyle, Session, TxnStatus};
use kimberlite_engine::{Engine, EngineError};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyResponse, DataRowEncoder, DescribePortalResponse, DescribeStatementResponse, FieldFormat,
    FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type, DEFAULT_NAME};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail, CopyOutResponse};
use pgwire::messages::data::DataRow;
use pgwire::messages::extendedquery::{
    Close, CloseComplete, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::PgWireBackendMessage;
use tokio::sync::Mutex;

use crate::cancel::CancelRegistry;
use crate::encode::{encode, encode_binary, encode_text, wire_oid, wire_typmod};
use kimberlite_engine::sql::decode::decode_param;

/// A connection's engine session.
pub type SessionHandle = Arc<Mutex<Session>>;

/// Converts an engine error to the wire's error.
pub fn to_wire_error(error: EngineError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&error)))
}

fn error_response(error: EngineError) -> Response {
    Response::Error(Box::new(error_info(&error)))
}

/// PostgreSQL's error fields for an engine error.
fn error_info(error: &EngineError) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".into(), error.sqlstate().into(), error.to_string());
    info.detail = error.detail();
    info.hint = error.hint();
    info.position = error.position().map(|p| p.to_string());
    info.where_context = error.context().map(str::to_string);
    let (table, column, constraint) = error.table_column_constraint();
    if table.is_some() {
        let schema = error.schema().unwrap_or(kimberlite_catalog::DEFAULT_SCHEMA);
        info.schema = Some(schema.into());
    }
    info.table = table.map(str::to_string);
    info.column = column.map(str::to_string);
    info.constraint = constraint.map(str::to_string);
    info
}

/// An error about a string literal points at the literal's opening quote
/// (its first occurrence in `query`), as PostgreSQL's parser does.
fn point_at_literal(info: &mut ErrorInfo, error: &EngineError, query: &str) {
    let Some(literal) = error.literal() else {
        return;
    };
    let quoted = format!("'{}'", literal.replace('\'', "''"));
    if let Some(start) = query.find(&quoted) {
        info.position = Some((query[..start].chars().count() + 1).to_string());
    }
}

/// PostgreSQL's 42P01 (and 0A000 for another database's relation) points
/// at the relation it names (its parser knows where the name was); ours
/// comes from planning, so the position is the first place `query` names
/// that relation as a whole word. Left out when the name is not found that
/// way.
fn point_at_relation(info: &mut ErrorInfo, query: &str) {
    if info.position.is_some() {
        return;
    }
    let name = match info.code.as_str() {
        "42P01" => info
            .message
            .strip_prefix("relation \"")
            .and_then(|rest| rest.strip_suffix("\" does not exist")),
        "0A000" => info
            .message
            .strip_prefix("cross-database references are not implemented: \"")
            .and_then(|rest| rest.strip_suffix('"')),
        _ => None,
    };
    let Some(name) = name.map(str::to_lowercase) else {
        return;
    };
    let name = name.as_str();
    let lower = query.to_lowercase();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"');
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let start = from + found;
        let end = start + name.len();
        if !is_word(lower[..start].chars().next_back()) && !is_word(lower[end..].chars().next()) {
            // Only queries and DML: PostgreSQL's DDL finds relations
            // after parsing and gives no position.
            let statement = lower[..start].rsplit(';').next().unwrap_or_default();
            let first = statement.split_whitespace().next().unwrap_or_default();
            let parsed = [
                "select", "with", "insert", "update", "delete", "explain", "table",
            ];
            if parsed.contains(&first) {
                info.position = Some((query[..start].chars().count() + 1).to_string());
            }
            return;
        }
        from = end;
    }
}

/// Sends the notices the last statement queued.
async fn send_notices<C>(client: &mut C, session: &mut Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for notice in session.take_notices() {
        let mut info = ErrorInfo::new(notice.severity.into(), notice.code.into(), notice.message);
        info.detail = notice.detail;
        client
            .feed(PgWireBackendMessage::NoticeResponse(info.into()))
            .await?;
    }
    Ok(())
}

/// A statement prepared by Parse.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub statement: sql::params::BoundableStatement,
    pub param_oids: Vec<u32>,
    pub fields: Option<Vec<Field>>,
}

/// Handles queries for every connection.
pub struct QueryHandler {
    engine: Arc<Engine>,
    parser: Arc<Parser>,
    cancels: Arc<CancelRegistry>,
}

impl QueryHandler {
    pub fn new(engine: Arc<Engine>, cancels: Arc<CancelRegistry>) -> Self {
        QueryHandler {
            engine: engine.clone(),
            parser: Arc::new(Parser {
                engine,
                cancels: cancels.clone(),
            }),
            cancels,
        }
    }

    fn session_of<C: ClientInfo>(&self, client: &C) -> SessionHandle {
        session_of(&self.engine, &self.cancels, client)
    }
}

fn session_of<C: ClientInfo>(
    engine: &Arc<Engine>,
    cancels: &CancelRegistry,
    client: &C,
) -> SessionHandle {
    let metadata = client.metadata();
    let user = metadata
        .get("user")
        .cloned()
        .unwrap_or_else(|| kimberlite_catalog::SUPERUSER.into());
    let database = metadata
        .get("database")
        .cloned()
        .unwrap_or_else(|| user.clone());
    let startup: Vec<(String, String)> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Read before `get_or_insert_with`, which holds the extensions' lock.
    let server = client
        .session_extensions()
        .get::<crate::connection::ServerAddress>()
        .map(|a| a.0);
    let handle = client.session_extensions().get_or_insert_with(|| {
        let mut session = Session::new(engine.clone(), &user, &database);
        session.settings = login_settings(engine, &user, &startup);
        let (pid, secret) = client.pid_and_secret_key();
        cancels.register(pid, &secret, &session.cancel_signal());
        session.set_backend_pid(pid);
        session.set_addresses(client.socket_addr(), server);
        Mutex::new(session)
    });
    handle
}

/// A login's parameters: defaults, the role, the startup packet.
pub fn login_settings(engine: &Engine, user: &str, startup: &[(String, String)]) -> sql::Settings {
    let superuser = engine
        .cluster_catalog()
        .role(user)
        .is_some_and(|r| r.superuser);
    sql::Settings::for_login(
        user,
        superuser,
        startup.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// ParameterStatus for every reported parameter the last statements
/// changed (PostgreSQL sends them just before ReadyForQuery).
async fn send_parameter_changes<C>(client: &mut C, session: &mut Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in session.settings.take_changed_reports() {
        client
            .feed(PgWireBackendMessage::ParameterStatus(
                pgwire::messages::startup::ParameterStatus::new(name, value),
            ))
            .await?;
    }
    Ok(())
}

/// Field descriptions for a result, in the requested formats.
fn field_infos(fields: &[Field], format: Option<&Format>) -> Vec<FieldInfo> {
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let oid = wire_oid(field);
            let format = format.map(|f| f.format_for(i)).unwrap_or(FieldFormat::Text);
            let typlen: i16 = match oid {
                16 | 18 => 1,
                21 => 2,
                23 | 26 | 700 | 1082 | 2278 => 4,
                20 | 701 | 1083 | 1114 | 1184 => 8,
                1186 | 2950 => 16,
                19 => 64,
                _ => -1,
            };
            FieldInfo::new(
                field.name().clone(),
                None,
                None,
                Type::from_oid(oid).unwrap_or(Type::TEXT),
                format,
            )
            .with_type_size(typlen)
            .with_type_modifier(wire_typmod(field))
        })
        .collect()
}

/// One DataRow. Rows are encoded one at a time as pgwire pulls them, so a
/// result holds at most one Arrow batch and one encoded row beyond the
/// socket's bounded write buffer, however slowly the client reads.
fn encode_row(
    batch: &RecordBatch,
    row: usize,
    schema: &SchemaRef,
    infos: &Arc<Vec<FieldInfo>>,
    style: &OutputStyle,
) -> PgWireResult<DataRow> {
    let mut encoder = DataRowEncoder::new(infos.clone());
    for (c, field) in schema.fields().iter().enumerate() {
        let cell = encode(batch.column(c), row, field, infos[c].format(), style);
        encoder.encode_field(&cell)?;
    }
    Ok(encoder.take_row())
}

fn encode_batch(
    batch: &RecordBatch,
    schema: &SchemaRef,
    infos: &Arc<Vec<FieldInfo>>,
    style: &OutputStyle,
) -> Vec<PgWireResult<DataRow>> {
    (0..batch.num_rows())
        .map(|row| encode_row(batch, row, schema, infos, style))
        .collect()
}

/// The names of the statements this connection prepared through the
/// extended protocol (pgwire's store cannot list them).
#[derive(Default)]
struct ProtocolStatements(parking_lot::Mutex<std::collections::BTreeSet<String>>);

fn protocol_statements<C: ClientInfo>(client: &C) -> Arc<ProtocolStatements> {
    client
        .session_extensions()
        .get_or_insert_with(ProtocolStatements::default)
}

/// `DISCARD ALL` and `DEALLOCATE ALL` drop the extended protocol's
/// statements too: PostgreSQL keeps both kinds in one namespace.
fn forget_protocol_statements<C>(client: &C, outcome: &Outcome)
where
    C: ClientInfo + ClientPortalStore,
    C::PortalStore: PortalStore,
{
    if matches!(outcome, Outcome::Command { tag } if tag == "DISCARD ALL" || tag == "DEALLOCATE ALL")
    {
        let names = std::mem::take(&mut *protocol_statements(client).0.lock());
        for name in names {
            client.portal_store().rm_statement(&name);
        }
    }
}

/// Turns an engine outcome into a pgwire response.
fn respond(
    outcome: Outcome,
    before: TxnStatus,
    after: TxnStatus,
    format: Option<&Format>,
    style: OutputStyle,
) -> Response {
    match outcome {
        Outcome::Rows { schema, stream, .. } => {
            let infos = Arc::new(field_infos(
                schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect::<Vec<_>>()
                    .as_slice(),
                format,
            ));
            let encode_infos = infos.clone();
            let rows = stream.flat_map(move |batch| match batch {
                Ok(batch) => {
                    let (schema, infos) = (schema.clone(), encode_infos.clone());
                    stream::iter(
                        (0..batch.num_rows())
                            .map(move |row| encode_row(&batch, row, &schema, &infos, &style)),
                    )
                    .boxed()
                }
                Err(e) => stream::iter([Err(to_wire_error(e.into()))]).boxed(),
            });
            let mut response = QueryResponse::new(infos, rows);
            response.set_command_tag("SELECT");
            Response::Query(response)
        }
        Outcome::Batches {
            schema,
            batches,
            tag,
        } => {
            let binary_cursor = schema
                .metadata()
                .contains_key(kimberlite_engine::sql::cursor::BINARY_RESULT);
            let format = match format {
                None if binary_cursor => Some(&Format::UnifiedBinary),
                format => format,
            };
            let infos = Arc::new(field_infos(
                schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect::<Vec<_>>()
                    .as_slice(),
                format,
            ));
            let rows: Vec<_> = batches
                .iter()
                .flat_map(|b| encode_batch(b, &schema, &infos, &style))
                .collect();
            let mut response = QueryResponse::new(infos, stream::iter(rows));
            // pgwire appends the row count to the tag.
            let command = tag
                .rsplit_once(' ')
                .filter(|(_, n)| n.parse::<u64>().is_ok())
                .map(|(c, _)| c)
                .unwrap_or(&tag);
            response.set_command_tag(command);
            Response::Query(response)
        }
        Outcome::CopyIn { columns, binary } => Response::CopyIn(CopyResponse::new(
            i8::from(binary),
            columns,
            stream::empty(),
        )),
        Outcome::CopyOut { .. } => Response::Error(Box::new(error_info(&EngineError::Internal(
            "COPY TO STDOUT reached the generic responder".into(),
        )))),
        Outcome::Command { tag } => {
            let tag = Tag::new(&tag);
            match (before, after) {
                (TxnStatus::Idle, TxnStatus::InTransaction) => Response::TransactionStart(tag),
                (TxnStatus::InTransaction | TxnStatus::Failed, TxnStatus::Idle) => {
                    Response::TransactionEnd(tag)
                }
                _ => Response::Execution(tag),
            }
        }
    }
}

/// COPY … TO STDOUT: CopyOutResponse, one CopyData per row (the header
/// line first when asked), CopyDone; the caller's CommandComplete says
/// `COPY n`. A failure while rows stream ends it with the error instead.
async fn send_copy_out<C>(
    client: &mut C,
    session: &mut Session,
    schema: SchemaRef,
    mut rows: datafusion::execution::SendableRecordBatchStream,
    options: CopyOptions,
) -> PgWireResult<Response>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let columns = schema.fields().len();
    let style = session.settings.output_style();
    let binary = options.format == CopyFormat::Binary;
    let format = i8::from(binary);
    let header = CopyOutResponse::new(format, columns as i16, vec![format as i16; columns]);
    client
        .feed(PgWireBackendMessage::CopyOutResponse(header))
        .await?;
    let line = |text: String| PgWireBackendMessage::CopyData(CopyData::new(text.into()));
    let data = |bytes: Vec<u8>| PgWireBackendMessage::CopyData(CopyData::new(bytes.into()));
    // Binary: signature, flags, header extension length — sent with the
    // first tuple (or the trailer), as PostgreSQL does; psycopg relies on it.
    let mut binary_header = binary.then(|| {
        let mut head = BINARY_SIGNATURE.to_vec();
        head.extend_from_slice(&[0; 8]);
        head
    });
    if !binary && options.header {
        let names = schema.fields().iter().map(|f| f.name().as_str());
        client.feed(line(options.encode_header(names))).await?;
    }
    let mut count = 0usize;
    while let Some(batch) = rows.next().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                session.statement_failed();
                return Ok(error_response(error.into()));
            }
        };
        for row in 0..batch.num_rows() {
            if binary {
                let mut tuple = binary_header.take().unwrap_or_default();
                tuple.extend_from_slice(&(columns as i16).to_be_bytes());
                for (c, field) in schema.fields().iter().enumerate() {
                    let array = batch.column(c);
                    if array.logical_nulls().is_some_and(|n| n.is_null(row)) {
                        tuple.extend_from_slice(&(-1i32).to_be_bytes());
                    } else {
                        let value = encode_binary(array, row, field, wire_oid(field));
                        tuple.extend_from_slice(&(value.len() as i32).to_be_bytes());
                        tuple.extend_from_slice(&value);
                    }
                }
                client.feed(data(tuple)).await?;
                count += 1;
                continue;
            }
            let cells: Vec<Option<String>> = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(c, field)| {
                    let array = batch.column(c);
                    let null = array.logical_nulls().is_some_and(|n| n.is_null(row));
                    (!null).then(|| encode_text(array, row, field, &style))
                })
                .collect();
            client
                .feed(line(options.encode_row(cells.iter().map(|c| c.as_deref()))))
                .await?;
            count += 1;
        }
    }
    if binary {
        let mut trailer = binary_header.take().unwrap_or_default();
        trailer.extend_from_slice(&(-1i16).to_be_bytes());
        client.feed(data(trailer)).await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    Ok(Response::Execution(Tag::new("COPY").with_rows(count)))
}

/// ReadyForQuery's status for the session's transaction.
fn wire_status(status: TxnStatus) -> pgwire::messages::response::TransactionStatus {
    match status {
        TxnStatus::Idle => pgwire::messages::response::TransactionStatus::Idle,
        TxnStatus::InTransaction => pgwire::messages::response::TransactionStatus::Transaction,
        TxnStatus::Failed => pgwire::messages::response::TransactionStatus::Error,
    }
}

#[async_trait]
impl CopyHandler for QueryHandler {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        session.copy_data(&data.data).map_err(to_wire_error)
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        let rows = session.copy_done().await.map_err(to_wire_error)?;
        let tag = Tag::new("COPY").with_rows(rows as usize);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        client.set_transaction_status(wire_status(session.txn_status()));
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        to_wire_error(session.copy_fail(&fail.message))
    }
}

/// Sends results in order (what pgwire's own simple-query loop does).
async fn send_responses<C>(client: &mut C, responses: Vec<Response>) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    use pgwire::api::query::{send_execution_response, send_query_response};
    for response in responses {
        match response {
            Response::EmptyQuery => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        pgwire::messages::response::EmptyQueryResponse::new(),
                    ))
                    .await?
            }
            Response::Query(results) => send_query_response(client, results, true).await?,
            Response::Execution(tag)
            | Response::TransactionStart(tag)
            | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
            Response::Error(error) => {
                client
                    .feed(PgWireBackendMessage::ErrorResponse((*error).into()))
                    .await?
            }
            Response::CopyIn(copy) => {
                pgwire::api::copy::send_copy_in_response(client, copy).await?;
                client.set_state(PgWireConnectionState::CopyInProgress(false));
            }
            Response::CopyOut(copy) | Response::CopyBoth(copy) => {
                pgwire::api::copy::send_copy_out_response(client, copy).await?
            }
        }
    }
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    /// pgwire's loop, with ReadyForQuery's status taken from the session
    /// (the one authority on the transaction) and results sent in order
    /// even when a COPY TO STDOUT writes directly to the client.
    async fn on_query<C>(
        &self,
        client: &mut C,
        query: pgwire::messages::simplequery::Query,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let responses = SimpleQueryHandler::do_query(self, client, &query.query).await?;
        send_responses(client, responses).await?;
        if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.set_state(PgWireConnectionState::ReadyForQuery);
            let handle = self.session_of(client);
            let mut session = handle.lock().await;
            send_parameter_changes(client, &mut session).await?;
            let status = wire_status(session.txn_status());
            drop(session);
            client.set_transaction_status(status);
            pgwire::api::query::send_ready_for_query(client, status).await?;
        }
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        let statements = match sql::parse(query) {
            Ok(statements) => statements,
            Err(error) => return Ok(vec![error_response(error)]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let multi = statements.len() > 1;
        if multi && statements.iter().any(is_copy_from_stdin) {
            return Ok(vec![error_response(EngineError::FeatureNotSupported(
                "COPY FROM STDIN must be the only statement of its query string".into(),
            ))]);
        }
        let mut failed = false;
        for statement in statements {
            if multi {
                session.begin_multi_statement_block();
            }
            let before = session.txn_status();
            let result = session.execute(statement).await;
            send_notices(client, &mut session).await?;
            match result {
                Ok(Outcome::Rows { schema, stream, .. }) if multi => {
                    // Later statements and the block's commit must not run
                    // before this result is known to have succeeded.
                    match stream.try_collect::<Vec<_>>().await {
                        Ok(batches) => {
                            let outcome = Outcome::Batches {
                                schema,
                                batches,
                                tag: "SELECT".into(),
                            };
                            responses.push(respond(
                                outcome,
                                before,
                                session.txn_status(),
                                None,
                                session.settings.output_style(),
                            ));
                        }
                        Err(error) => {
                            session.statement_failed();
                            responses.push(error_response(error.into()));
                            failed = true;
                            break;
                        }
                    }
                }
                Ok(Outcome::CopyOut {
                    schema,
                    stream,
                    options,
                }) => {
                    // Earlier statements' results go first.
                    send_responses(client, std::mem::take(&mut responses)).await?;
                    let response =
                        send_copy_out(client, &mut session, schema, stream, options).await?;
                    failed = matches!(response, Response::Error(_));
                    responses.push(response);
                    if failed {
                        break;
                    }
                }
                Ok(Outcome::Rows {
                    schema,
                    stream,
                    constant: false,
                }) => {
                    // PostgreSQL sends RowDescription as execution starts;
                    // an error while rows are produced follows it.
                    let after = session.txn_status();
                    responses.push(respond(
                        Outcome::Rows {
                            schema,
                            stream,
                            constant: false,
                        },
                        before,
                        after,
                        None,
                        session.settings.output_style(),
                    ));
                }
                Ok(Outcome::Rows {
                    schema,
                    stream,
                    constant: true,
                }) => {
                    // A constant query's first batch decides between a
                    // result and an error (PostgreSQL folds `SELECT 1/0` at
                    // plan time and sends no RowDescription).
                    let mut stream = stream;
                    let first = stream.next().await;
                    if let Some(Err(error)) = first {
                        session.statement_failed();
                        responses.push(error_response(error.into()));
                        failed = true;
                        break;
                    }
                    let rest = stream::iter(first).chain(stream);
                    let stream: datafusion::execution::SendableRecordBatchStream = Box::pin(
                        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                            schema.clone(),
                            rest,
                        ),
                    );
                    let after = session.txn_status();
                    responses.push(respond(
                        Outcome::Rows {
                            schema,
                            stream,
                            constant: true,
                        },
                        before,
                        after,
                        None,
                        session.settings.output_style(),
                    ));
                }
                Ok(outcome) => {
                    forget_protocol_statements(client, &outcome);
                    let after = session.txn_status();
                    responses.push(respond(
                        outcome,
                        before,
                        after,
                        None,
                        session.settings.output_style(),
                    ));
                }
                Err(error) => {
                    let mut info = error_info(&error);
                    point_at_literal(&mut info, &error, query);
                    point_at_relation(&mut info, query);
                    responses.push(Response::Error(Box::new(info)));
                    failed = true;
                    break;
                }
            }
        }
        if multi && !failed {
            if let Err(error) = session.finish_implicit_block().await {
                responses.push(error_response(error));
            }
        }
        Ok(responses)
    }
}

/// Parses and describes statements for the extended protocol.
pub struct Parser {
    engine: Arc<Engine>,
    cancels: Arc<CancelRegistry>,
}

impl Parser {
    fn session_of<C: ClientInfo>(&self, client: &C) -> SessionHandle {
        session_of(&self.engine, &self.cancels, client)
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql_text: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = sql::parse(sql_text).map_err(to_wire_error)?;
        if statements.len() > 1 {
            return Err(to_wire_error(EngineError::Syntax(
                "cannot insert multiple commands into a prepared statement".into(),
            )));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        let ends_transaction = matches!(
            statement,
            Statement::Commit { .. } | Statement::Rollback { .. }
        );
        if session.txn_status() == TxnStatus::Failed && !ends_transaction {
            return Err(to_wire_error(EngineError::InFailedTransaction));
        }
        let description = session.describe(&statement).await.map_err(to_wire_error)?;
        let count = placeholder_count(&statement).max(types.len());
        let param_oids = (0..count)
            .map(|i| {
                types
                    .get(i)
                    .cloned()
                    .flatten()
                    .map(|t| t.oid())
                    .filter(|oid| *oid != 0)
                    .or_else(|| description.params.get(i).copied().flatten())
                    .unwrap_or(25)
            })
            .collect();
        Ok(Some(Prepared {
            statement: sql::params::BoundableStatement(statement),
            param_oids,
            fields: description.fields,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .param_oids
            .iter()
            .map(|oid| Type::from_oid(*oid).unwrap_or(Type::TEXT))
            .collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(stmt
            .fields
            .as_deref()
            .map(|f| field_infos(f, format))
            .unwrap_or_default())
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// pgwire's Parse, remembering the statement's name so that `DISCARD
    /// ALL` and `DEALLOCATE ALL` can drop it, as in PostgreSQL.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let parser = self.query_parser();
        match StoredStatement::parse(client, &message, parser).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(&name),
        }
        protocol_statements(client).0.lock().insert(name);
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's Close, forgetting a closed statement's name.
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                client.portal_store().rm_statement(name);
                protocol_statements(client).0.lock().remove(name);
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's Describe, except that a statement returning no rows is
    /// described as ParameterDescription + NoData (pgwire sends an empty
    /// RowDescription once there are parameters).
    async fn on_describe<C>(
        &self,
        client: &mut C,
        message: pgwire::messages::extendedquery::Describe,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == b'S' {
            let name = message.name.as_deref().unwrap_or("");
            if let Some(pgwire::api::store::Entry::Value(stored)) =
                client.portal_store().get_statement(name)
            {
                if stored.statement.fields.is_none() {
                    let oids = stored.statement.param_oids.clone();
                    client
                        .send(PgWireBackendMessage::ParameterDescription(
                            pgwire::messages::data::ParameterDescription::new(oids),
                        ))
                        .await?;
                    client
                        .send(PgWireBackendMessage::NoData(
                            pgwire::messages::data::NoData::new(),
                        ))
                        .await?;
                    return Ok(());
                }
            }
        }
        self._on_describe(client, message).await
    }

    /// pgwire's Sync, plus the ParameterStatus messages PostgreSQL sends
    /// before ReadyForQuery, whose status comes from the session.
    async fn on_sync<C>(
        &self,
        client: &mut C,
        _message: pgwire::messages::extendedquery::Sync,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal("");
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        if let Err(error) = session.finish_implicit_block().await {
            client
                .feed(PgWireBackendMessage::ErrorResponse(
                    error_info(&error).into(),
                ))
                .await?;
        }
        send_parameter_changes(client, &mut session).await?;
        let status = wire_status(session.txn_status());
        drop(session);
        client.set_transaction_status(status);
        pgwire::api::query::send_ready_for_query(client, status).await?;
        client.flush().await?;
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let params = self.parser.get_parameter_types(&target.statement)?;
        let fields = self.parser.get_result_schema(&target.statement, None)?;
        Ok(DescribeStatementResponse::new(params, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self.parser.get_result_schema(
            &target.statement.statement,
            Some(&target.result_column_format),
        )?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let handle = self.session_of(client);
        let mut session = handle.lock().await;
        let values: Vec<ParamValue> = portal
            .parameters
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let oid = prepared.param_oids.get(i).copied().unwrap_or(25);
                let binary = portal.parameter_format.format_for(i) == FieldFormat::Binary;
                decode_param(bytes.as_deref(), oid, binary)
            })
            .collect::<Result<_, _>>()
            .map_err(to_wire_error)?;
        let statement = sql::params::bind(&prepared.statement.0, &prepared.param_oids, &values)
            .map_err(to_wire_error)?;
        // Everything up to Sync is one implicit transaction, as in PostgreSQL.
        session.begin_implicit_block();
        let before = session.txn_status();
        let result = session.execute(statement).await;
        send_notices(client, &mut session).await?;
        let outcome = result.map_err(to_wire_error)?;
        forget_protocol_statements(client, &outcome);
        if let Outcome::CopyOut {
            schema,
            stream,
            options,
        } = outcome
        {
            return send_copy_out(client, &mut session, schema, stream, options).await;
        }
        let after = session.txn_status();
        Ok(respond(
            outcome,
            before,
            after,
            Some(&portal.result_column_format),
            session.settings.output_style(),
        ))
    }
}
