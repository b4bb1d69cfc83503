//! Configuration: one TOML file, every key overridable by environment
//! variable and by flag (flag > environment > file > default).
//!
//! ```toml
//! data_dir = "/var/lib/kimberlite"
//! listen = "0.0.0.0:5432"
//! segment_bytes_max = 67108864
//! max_connections = 100
//! statement_memory_bytes_max = 268435456
//! message_bytes_max = 67108864
//! master_key_file = "/etc/kimberlite/master.key"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::server::Mode;

/// Flags shared by `dev` and `start`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory (default ./kimberlite-data).
    #[arg(long, env = "KIMBERLITE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:5432; port 0 picks a free port).
    #[arg(long, env = "KIMBERLITE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// TOML configuration file.
    #[arg(long, env = "KIMBERLITE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log segment size in bytes before rotation.
    #[arg(long, env = "KIMBERLITE_SEGMENT_BYTES_MAX")]
    pub segment_bytes_max: Option<u64>,
    /// Concurrent client connections accepted; beyond it clients get 53300.
    #[arg(long, env = "KIMBERLITE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Memory one statement may use for sorts, hash tables and joins;
    /// beyond it the statement fails with 53200 (default 256 MiB).
    #[arg(long, env = "KIMBERLITE_STATEMENT_MEMORY_BYTES_MAX")]
    pub statement_memory_bytes_max: Option<usize>,
    /// Largest protocol message a client may send (a query, a COPY chunk);
    /// larger ones close the connection with 08P01 (default 64 MiB).
    #[arg(long, env = "KIMBERLITE_MESSAGE_BYTES_MAX")]
    pub message_bytes_max: Option<usize>,
    /// File holding the 256-bit master key as 64 hex digits, readable by
    /// its owner only. Without it (and without KIMBERLITE_MASTER_KEY) a
    /// fresh data directory gets a generated key in DATA_DIR/keys.
    #[arg(long, env = "KIMBERLITE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log a signed checkpoint once this many ops follow the last one
    /// (default 10000).
    #[arg(long, env = "KIMBERLITE_CHECKPOINT_OPS")]
    pub checkpoint_ops: Option<u64>,
    /// …or once this many seconds passed since it, checked at commit
    /// (default 60). A clean shutdown always logs one.
    #[arg(long, env = "KIMBERLITE_CHECKPOINT_INTERVAL_SECS")]
    pub checkpoint_interval_secs: Option<u64>,
    /// Projection snapshots kept in DATA_DIR/snapshots (default 2; one is
    /// written at every checkpoint).
    #[arg(long, env = "KIMBERLITE_SNAPSHOTS_KEPT")]
    pub snapshots_kept: Option<usize>,
    /// Offer TLS. With `dev` and no --tls-cert, a self-signed certificate
    /// for localhost is generated into DATA_DIR/keys once.
    #[arg(long, env = "KIMBERLITE_TLS")]
    pub tls: bool,
    /// PEM certificate chain (turns TLS on).
    #[arg(long, env = "KIMBERLITE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "KIMBERLITE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse plaintext logins (28000): from non-loopback clients
    /// (`remote`) or from all (`all`). Needs TLS.
    #[arg(long, env = "KIMBERLITE_REQUIRE_TLS", value_enum)]
    pub require_tls: Option<crate::tls::TlsRequired>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    segment_bytes_max: Option<u64>,
    max_connections: Option<usize>,
    statement_memory_bytes_max: Option<usize>,
    message_bytes_max: Option<usize>,
    master_key_file: Option<PathBuf>,
    checkpoint_ops: Option<u64>,
    checkpoint_interval_secs: Option<u64>,
    snapshots_kept: Option<usize>,
    tls: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    require_tls: Option<crate::tls::TlsRequired>,
}

/// Default for `max_connections`, as PostgreSQL's.
pub const MAX_CONNECTIONS_DEFAULT: usize = 100;

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub segment_bytes_max: u64,
    pub max_connections: usize,
    pub statement_memory_bytes_max: usize,
    pub message_bytes_max: usize,
    pub master_key: kimberlite_engine::crypto::MasterKeySource,
    pub checkpoint_ops: Option<u64>,
    pub checkpoint_interval: Option<std::time::Duration>,
    pub snapshots_kept: Option<usize>,
    /// Where the TLS certificate comes from; `None`: TLS is declined.
    pub tls: Option<crate::tls::CertSource>,
    pub require_tls: crate::tls::TlsRequired,
}

impl Config {
    pub fn resolve(args: ServeArgs, mode: Mode) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("invalid config {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args.data_dir.or(file.data_dir);
        let listen = args.listen.or(file.listen);
        if mode == Mode::Start && (data_dir.is_none() || listen.is_none()) {
            return Err(
                "`kimberlite start` needs --data-dir and --listen (or them in --config)".into(),
            );
        }
        use crate::tls::{CertSource, TlsRequired};
        let tls = match (
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
            args.tls || file.tls.unwrap_or(false),
        ) {
            (Some(cert), Some(key), _) => Some(CertSource::Files { cert, key }),
            (None, None, true) if mode == Mode::Dev => Some(CertSource::SelfSigned),
            (None, None, true) => {
                return Err("`kimberlite start --tls` needs --tls-cert and --tls-key".into())
            }
            (None, None, false) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let require_tls = args
            .require_tls
            .or(file.require_tls)
            .unwrap_or(TlsRequired::None);
        if require_tls != TlsRequired::None && tls.is_none() {
            return Err("--require-tls needs TLS (--tls, or --tls-cert and --tls-key)".into());
        }
        Ok(Config {
            tls,
            require_tls,
            data_dir: data_dir.unwrap_or_else(|| PathBuf::from("./kimberlite-data")),
            listen: listen.unwrap_or_else(|| "127.0.0.1:5432".parse().expect("valid default")),
            segment_bytes_max: args
                .segment_bytes_max
                .or(file.segment_bytes_max)
                .unwrap_or(kimberlite_engine::log::SEGMENT_BYTES_MAX_DEFAULT),
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(MAX_CONNECTIONS_DEFAULT),
            statement_memory_bytes_max: args
                .statement_memory_bytes_max
                .or(file.statement_memory_bytes_max)
                .unwrap_or(kimberlite_engine::STATEMENT_MEMORY_BYTES_MAX_DEFAULT),
            message_bytes_max: args
                .message_bytes_max
                .or(file.message_bytes_max)
                .unwrap_or(crate::frontend::MESSAGE_BYTES_MAX_DEFAULT),
            master_key: master_key_source(args.master_key_file.or(file.master_key_file)),
            checkpoint_ops: args
                .checkpoint_ops
                .or(file.checkpoint_ops)
                .map(|n| n.max(1)),
            checkpoint_interval: args
                .checkpoint_interval_secs
                .or(file.checkpoint_interval_secs)
                .map(std::time::Duration::from_secs),
            snapshots_kept: args
                .snapshots_kept
                .or(file.snapshots_kept)
                .map(|n| n.max(1)),
        })
    }
}

/// The key in the environment (never a flag: flags show up in `ps`).
pub const MASTER_KEY_ENV: &str = "KIMBERLITE_MASTER_KEY";

fn master_key_source(file: Option<PathBuf>) -> kimberlite_engine::crypto::MasterKeySource {
    use kimberlite_engine::crypto::MasterKeySource;
    if let Some(path) = file {
        return MasterKeySource::File(path);
    }
    match std::env::var(MASTER_KEY_ENV) {
        Ok(hex) if !hex.is_empty() => {
            MasterKeySource::Hex(std::sync::Arc::new(zeroize::Zeroizing::new(hex)))
        }
        _ => MasterKeySource::DataDir,
    }
}
