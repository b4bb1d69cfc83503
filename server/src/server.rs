//! Opening the data directory, initializing it on first start, and serving
//! connections until a shutdown signal.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kimberlite_catalog::{AuthMode, RoleDef, DEFAULT_DATABASE, SUPERUSER};
use kimberlite_engine::{Engine, EngineConfig, SystemClock};
use pgwire::api::PgWireServerHandlers;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

use crate::auth::{scram_verifier, Startup, TrustStartup};
use crate::cancel::CancelRegistry;
use crate::config::Config;
use crate::connection;
use crate::handler::QueryHandler;

/// Which command started the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dev,
    Start,
}

/// The environment variable holding the first superuser password.
pub const PASSWORD_ENV: &str = "KIMBERLITE_PASSWORD";

struct Handlers {
    query: Arc<QueryHandler>,
    startup: Arc<Startup>,
    cancels: Arc<CancelRegistry>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.query.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancels.clone()
    }
}

async fn initialize(engine: &Engine, mode: Mode) -> Result<AuthMode, String> {
    match (engine.cluster_catalog().auth_mode(), mode) {
        (Some(AuthMode::Password), Mode::Dev) => Err(format!(
            "{} was initialized by `kimberlite start` with password logins; `kimberlite dev` would \
             bypass them with trust logins. Use `kimberlite start`.",
            engine.data_dir().display()
        )),
        (Some(AuthMode::Trust), Mode::Start) => Err(format!(
            "{} was initialized by `kimberlite dev` and has no passwords; `kimberlite start` cannot \
             serve it. Initialize a new directory with `kimberlite start`.",
            engine.data_dir().display()
        )),
        (Some(existing), _) => Ok(existing),
        (None, Mode::Dev) => {
            let role = RoleDef { name: SUPERUSER.into(), superuser: true, login: true, scram_verifier: None };
            engine.initialize(AuthMode::Trust, role).await.map_err(|e| e.to_string())?;
            Ok(AuthMode::Trust)
        }
        (None, Mode::Start) => {
            let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).ok_or_else(|| {
                format!("refusing to initialize {} without a superuser password: set {PASSWORD_ENV}", engine.data_dir().display())
            })?;
            let role = RoleDef {
                name: SUPERUSER.into(),
                superuser: true,
                login: true,
                scram_verifier: Some(scram_verifier(&password)),
            };
            engine.initialize(AuthMode::Password, role).await.map_err(|e| e.to_string())?;
            Ok(AuthMode::Password)
        }
    }
}

/// Runs the server until SIGTERM/SIGINT.
pub async fn run(config: Config, mode: Mode) -> Result<(), String> {
    let mut engine_config = EngineConfig::new(&config.data_dir);
    engine_config.segment_bytes_max = config.segment_bytes_max;
    engine_config.statement_memory_bytes_max = config.statement_memory_bytes_max;
    engine_config.master_key = config.master_key.clone();
    if let Some(ops) = config.checkpoint_ops {
        engine_config.checkpoint_ops = ops;
    }
    if let Some(interval) = config.checkpoint_interval {
        engine_config.checkpoint_interval = interval;
    }
    if let Some(kept) = config.snapshots_kept {
        engine_config.snapshots_kept = kept;
    }
    let engine = Engine::open(engine_config, Arc::new(SystemClock))
        .map_err(|e| format!("cannot open {}: {e}", config.data_dir.display()))?;
    let auth_mode = initialize(&engine, mode).await?;
    let startup = match auth_mode {
        AuthMode::Trust => Startup::Trust(TrustStartup::new(engine.clone())),
        AuthMode::Password => Startup::password(engine.clone()),
    };
    let cancels = Arc::new(CancelRegistry::default());
    let handlers = Arc::new(Handlers {
        query: Arc::new(QueryHandler::new(engine.clone(), cancels.clone())),
        startup: Arc::new(startup),
        cancels,
    });
    let tls = match &config.tls {
        Some(source) => Some(Arc::new(crate::tls::load(source, &config.data_dir)?)),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "kimberlite: accepting connections at postgres://{SUPERUSER}@{address}/{DEFAULT_DATABASE}"
    );
    let _ = std::io::stdout().flush();
    tracing::info!(%address, data_dir = %config.data_dir.display(), ?auth_mode, "ready");

    let connections = Arc::new(AtomicUsize::new(0));
    let message_bytes_max = config.message_bytes_max;
    let require_tls = config.require_tls;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    let _ = socket.set_nodelay(true);
                    if connections.load(Ordering::Acquire) >= config.max_connections {
                        tokio::spawn(refuse_too_many(socket));
                        continue;
                    }
                    connections.fetch_add(1, Ordering::AcqRel);
                    let handlers = handlers.clone();
                    let connections = connections.clone();
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        // Client bytes are checked before pgwire decodes them
                        // (`frontend.rs`); should anything in a connection
                        // still panic, it ends that connection only and
                        // still frees its slot.
                        let session = std::panic::AssertUnwindSafe(connection::serve(
                            socket,
                            handlers,
                            message_bytes_max,
                            tls,
                            require_tls,
                        ));
                        match futures::FutureExt::catch_unwind(session).await {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => {
                                tracing::debug!(%error, "connection ended with an error")
                            }
                            Err(_) => tracing::error!("a connection task panicked; connection closed"),
                        }
                        connections.fetch_sub(1, Ordering::AcqRel);
                    });
                }
                Err(error) => tracing::warn!(%error, "accept failed"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("shutting down");
    engine.shutdown();
    Ok(())
}

use crate::connection::SSL_REQUEST_CODE;
/// Largest startup packet we read from a client we are about to refuse.
const STARTUP_BYTES_MAX: usize = 10_000;

/// Tells a client over `max_connections` why, as PostgreSQL does: after
/// its startup packet (declining TLS first if asked), a FATAL 53300.
async fn refuse_too_many(mut socket: TcpStream) {
    let exchange = async {
        let mut header = [0u8; 8];
        socket.read_exact(&mut header).await?;
        let length = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
        let code = u32::from_be_bytes(header[4..].try_into().unwrap());
        if length == 8 && code == SSL_REQUEST_CODE {
            socket.write_all(b"N").await?;
            socket.read_exact(&mut header).await?;
        }
        let length = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
        if (8..=STARTUP_BYTES_MAX).contains(&length) {
            let mut rest = vec![0u8; length - 8];
            socket.read_exact(&mut rest).await?;
        }
        let mut body = Vec::new();
        for (field, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "53300"),
            (b'M', "sorry, too many clients already"),
        ] {
            body.push(field);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut message = vec![b'E'];
        message.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        message.extend_from_slice(&body);
        socket.write_all(&message).await?;
        socket.shutdown().await
    };
    if tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .is_err()
    {
        tracing::debug!("refused client did not finish its startup in time");
    }
}
