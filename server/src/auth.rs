//! Who may connect, and how they prove it.
//!
//! - `kimberlite dev` initializes a directory in *trust* mode: loopback
//!   clients connect without a password, anyone else is refused (28000).
//! - `kimberlite start` initializes in *password* mode: SCRAM-SHA-256 against
//!   the verifier stored in the catalog (PostgreSQL's format; the password
//!   itself is never stored or logged). A wrong password is 28P01.
//!
//! The mode is part of the logged catalog, so a directory initialized by
//! `start` can never be opened by `dev` and its trust logins.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use futures::{Sink, SinkExt};
use kimberlite_engine::Engine;
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, ScramSecret};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, AuthSource,
    LoginInfo, Password, ServerParameterProvider, StartupHandler,
};
use pgwire::api::{
    ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

/// SCRAM iteration count for new verifiers (PostgreSQL's default).
pub const SCRAM_ITERATIONS: usize = 4096;

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

/// Builds a PostgreSQL-format SCRAM-SHA-256 verifier for `password`.
pub fn scram_verifier(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    let ScramSecret::Verifier {
        stored_key,
        server_key,
        ..
    } = ScramSecret::verifier_from_salted_password(salt.to_vec(), salted, SCRAM_ITERATIONS)
    else {
        unreachable!("verifier_from_salted_password returns a verifier")
    };
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )
}

/// Parses a stored verifier back into pgwire's form.
fn parse_verifier(verifier: &str) -> Option<ScramSecret> {
    let rest = verifier.strip_prefix("SCRAM-SHA-256$")?;
    let (params, keys) = rest.split_once('$')?;
    let (iterations, salt) = params.split_once(':')?;
    let (stored_key, server_key) = keys.split_once(':')?;
    Some(ScramSecret::Verifier {
        salt: BASE64.decode(salt).ok()?,
        iterations: iterations.parse().ok()?,
        stored_key: BASE64.decode(stored_key).ok()?,
        server_key: BASE64.decode(server_key).ok()?,
    })
}

/// The ParameterStatus values sent after login: PostgreSQL 15's reported
/// parameters, with the startup packet's values where it set them (a
/// driver that asks for `TimeZone=Europe/Paris` sees it confirmed).
pub struct ServerParameters {
    pub engine: Arc<Engine>,
}

impl ServerParameterProvider for ServerParameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let metadata = client.metadata();
        let user = metadata.get("user").cloned().unwrap_or_default();
        let startup: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let settings = crate::handler::login_settings(&self.engine, &user, &startup);
        Some(settings.reported().into_iter().collect())
    }
}

/// Checks the database and role a client asked for.
fn check_login(engine: &Engine, user: Option<&str>, database: Option<&str>) -> PgWireResult<()> {
    let user = user.ok_or(PgWireError::UserNameRequired)?;
    let database = database.unwrap_or(user);
    if engine.database_id(database).is_none() {
        return Err(fatal(
            "3D000",
            format!("database \"{database}\" does not exist"),
        ));
    }
    let catalog = engine.cluster_catalog();
    match catalog.role(user) {
        Some(role) if role.login => Ok(()),
        Some(_) => Err(fatal(
            "28000",
            format!("role \"{user}\" is not permitted to log in"),
        )),
        None => Err(fatal("28000", format!("role \"{user}\" does not exist"))),
    }
}

/// Trust authentication for loopback clients (`kimberlite dev`).
pub struct TrustStartup {
    engine: Arc<Engine>,
    keys: RandomPidSecretKeyGenerator,
}

impl TrustStartup {
    pub fn new(engine: Arc<Engine>) -> Self {
        TrustStartup {
            engine,
            keys: RandomPidSecretKeyGenerator::default(),
        }
    }
}

#[async_trait]
impl StartupHandler for TrustStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let address = client.socket_addr();
        if !address.ip().is_loopback() {
            return Err(fatal(
                "28000",
                format!(
                    "no trust entry for host \"{}\": kimberlite dev accepts loopback clients only",
                    address.ip()
                ),
            ));
        }
        let metadata = client.metadata();
        check_login(
            &self.engine,
            metadata.get("user").map(|s| s.as_str()),
            metadata.get("database").map(|s| s.as_str()),
        )?;
        let (pid, secret) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, secret);
        finish_authentication(
            client,
            &ServerParameters {
                engine: self.engine.clone(),
            },
        )
        .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.flush().await?;
        Ok(())
    }
}

/// Stored SCRAM verifiers, looked up in the catalog.
#[derive(Clone)]
pub struct CatalogAuthSource {
    engine: Arc<Engine>,
}

impl Debug for CatalogAuthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogAuthSource")
    }
}

#[async_trait]
impl AuthSource for CatalogAuthSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        check_login(&self.engine, login.user(), login.database()).map_err(|e| match e {
            // Do not reveal which roles exist.
            PgWireError::UserError(info) if info.code == "28000" => {
                PgWireError::InvalidPassword(user.to_owned())
            }
            other => other,
        })?;
        let catalog = self.engine.cluster_catalog();
        let verifier = catalog
            .role(user)
            .and_then(|r| r.scram_verifier.as_deref())
            .and_then(parse_verifier)
            .ok_or_else(|| PgWireError::InvalidPassword(user.to_owned()))?;
        Ok((verifier, None))
    }
}

/// The startup handler for the directory's auth mode.
pub enum Startup {
    Trust(TrustStartup),
    Password(SASLAuthStartupHandler<ServerParameters>),
}

impl Startup {
    pub fn password(engine: Arc<Engine>) -> Self {
        let parameters = Arc::new(ServerParameters {
            engine: engine.clone(),
        });
        let mut scram = ScramAuth::new(Arc::new(CatalogAuthSource { engine }));
        scram.set_iterations(SCRAM_ITERATIONS);
        Startup::Password(SASLAuthStartupHandler::new(parameters).with_scram(scram))
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Trust(handler) => handler.on_startup(client, message).await,
            Startup::Password(handler) => handler.on_startup(client, message).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_round_trip_and_never_contain_the_password() {
        let verifier = scram_verifier("pencil");
        assert!(!verifier.contains("pencil"));
        match parse_verifier(&verifier) {
            Some(ScramSecret::Verifier {
                iterations, salt, ..
            }) => {
                assert_eq!(iterations, SCRAM_ITERATIONS);
                assert_eq!(salt.len(), 16);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
