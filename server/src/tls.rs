//! # TLS: certificates, the acceptor, and who must use it
//!
//! A PEM certificate chain and private key come from configuration
//! (`--tls-cert`, `--tls-key`); `kimberlite dev --tls` without them
//! generates a self-signed pair for `localhost`/`127.0.0.1` into
//! `DATA_DIR/keys/tls.crt` and `tls.key` (0600) once, and reuses it.
//!
//! Clients reach TLS two ways, both handled in [`crate::connection`]:
//! PostgreSQL's SSLRequest (answered `S`), and PostgreSQL 17's direct TLS
//! (the ClientHello is the first byte; ALPN must say `postgresql`, as
//! PostgreSQL requires). `--require-tls remote` refuses plaintext logins
//! from non-loopback addresses, `--require-tls all` from everyone, with
//! 28000 as PostgreSQL's pg_hba `hostssl` rules do.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocol name PostgreSQL 17 clients send with direct TLS.
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";
/// Generated certificate and key, under `DATA_DIR/keys`.
pub const GENERATED_CERT_FILE: &str = "tls.crt";
pub const GENERATED_KEY_FILE: &str = "tls.key";

/// Which clients must encrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsRequired {
    /// TLS is offered, plaintext accepted.
    #[default]
    None,
    /// Plaintext logins from non-loopback addresses are refused.
    Remote,
    /// Every plaintext login is refused.
    All,
}

impl TlsRequired {
    /// Whether a plaintext login from `peer` is refused.
    pub fn refuses_plaintext(self, peer: IpAddr) -> bool {
        match self {
            TlsRequired::None => false,
            TlsRequired::Remote => !peer.is_loopback(),
            TlsRequired::All => true,
        }
    }
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Generate (once) under the data directory.
    SelfSigned,
}

/// A ready acceptor.
pub struct Tls {
    pub acceptor: TlsAcceptor,
}

fn read_pair(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read TLS key {}: {e}", key.display()))?;
    Ok((certs, key))
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The generated pair's paths, creating them on first use.
fn self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let dir = data_dir.join(kimberlite_engine::crypto::master::KEYS_DIR);
    let cert = dir.join(GENERATED_CERT_FILE);
    let key = dir.join(GENERATED_KEY_FILE);
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(|e| format!("cannot generate a TLS certificate: {e}"))?;
    write_private(&key, generated.key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_private(&cert, generated.cert.pem().as_bytes(), 0o644)?;
    tracing::warn!(
        cert = %cert.display(),
        "generated a self-signed TLS certificate for localhost; clients cannot verify it \
         unless given it as their root (sslrootcert)"
    );
    Ok((cert, key))
}

/// Builds the acceptor for `source`.
pub fn load(source: &CertSource, data_dir: &Path) -> Result<Tls, String> {
    let (cert_path, key_path) = match source {
        CertSource::Files { cert, key } => (cert.clone(), key.clone()),
        CertSource::SelfSigned => self_signed(data_dir)?,
    };
    let (certs, key) = read_pair(&cert_path, &key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "TLS certificate {} and key do not match: {e}",
                cert_path.display()
            )
        })?;
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}
