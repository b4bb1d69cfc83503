//! TLS on the real binary: psql over SSLRequest (with and without verifying
//! the generated certificate), PostgreSQL 17 direct TLS with ALPN, and
//! plaintext refused with 28000 when TLS is required.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{raw, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

fn psql(url: &str, sql: &str) -> (bool, String) {
    let output = Command::new("psql")
        .arg(url)
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "15")
        .output()
        .expect("psql runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// A rustls client trusting only the server's generated certificate.
fn client_config(server: &TestServer, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(server.data_dir.join("keys/tls.crt"))
            .unwrap()
    {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Direct TLS: the ClientHello is the first byte; then a startup packet
/// inside TLS. Returns the first byte the server answers (b'R' for
/// authentication), or None when it closes.
async fn direct_tls_login(server: &TestServer, alpn: &[&[u8]]) -> Option<u8> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_config(server, alpn));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    tls.write_all(&raw::startup_packet()).await.ok()?;
    let mut first = [0u8; 1];
    match tokio::time::timeout(std::time::Duration::from_secs(15), tls.read(&mut first)).await {
        Ok(Ok(1)) => Some(first[0]),
        _ => None,
    }
}

#[tokio::test]
async fn psql_and_direct_tls_clients_get_encrypted_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn("dev", dir.path(), &[("KIMBERLITE_TLS", "true")]).unwrap();
    let url = |params: &str| {
        format!(
            "postgres://kimberlite@localhost:{}/kimberlite?{params}",
            server.port
        )
    };

    let (ok, out) = psql(&url("sslmode=require"), "SELECT 40 + 2");
    assert!(ok && out.trim() == "42", "{out}");
    let (ok, out) = psql(&url("sslmode=require"), "\\conninfo");
    assert!(
        ok && out.contains("SSL connection (protocol: TLSv1."),
        "{out}"
    );
    // The generated certificate verifies for localhost once trusted.
    let root = server.data_dir.join("keys/tls.crt");
    let (ok, out) = psql(
        &url(&format!(
            "sslmode=verify-full&sslrootcert={}",
            root.display()
        )),
        "SELECT 'verified'",
    );
    assert!(ok && out.trim() == "verified", "{out}");
    // Plaintext is still allowed unless required.
    let (ok, out) = psql(&url("sslmode=disable"), "SELECT 'plain'");
    assert!(ok && out.trim() == "plain", "{out}");

    // PostgreSQL 17 direct TLS, ALPN "postgresql": authentication follows.
    assert_eq!(
        direct_tls_login(&server, &[b"postgresql"]).await,
        Some(b'R')
    );
    // Without ALPN the server hangs up, as PostgreSQL does.
    assert_eq!(direct_tls_login(&server, &[]).await, None);

    // The generated pair is a known file to verify.
    drop(server);
    let output = Command::new(env!("CARGO_BIN_EXE_kimberlite"))
        .arg("verify")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
}

#[tokio::test]
async fn required_tls_refuses_plaintext_logins_with_28000() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn(
        "dev",
        dir.path(),
        &[
            ("KIMBERLITE_TLS", "true"),
            ("KIMBERLITE_REQUIRE_TLS", "all"),
        ],
    )
    .unwrap();
    let error = common::connect(&server.conn_str()).await.err().unwrap();
    let db = error.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "28000");
    assert_eq!(
        db.message(),
        "no pg_hba.conf entry for host \"127.0.0.1\", user \"kimberlite\", database \"kimberlite\", no encryption"
    );
    let (ok, out) = psql(
        &format!(
            "postgres://kimberlite@127.0.0.1:{}/kimberlite?sslmode=disable",
            server.port
        ),
        "SELECT 1",
    );
    assert!(!ok && out.contains("no encryption"), "{out}");
    let (ok, out) = psql(
        &format!(
            "postgres://kimberlite@127.0.0.1:{}/kimberlite?sslmode=require",
            server.port
        ),
        "SELECT 'encrypted'",
    );
    assert!(ok && out.trim() == "encrypted", "{out}");
}

#[test]
fn tls_configuration_mistakes_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (env, expected) in [
        (
            vec![("KIMBERLITE_REQUIRE_TLS", "remote")],
            "--require-tls needs TLS",
        ),
        (
            vec![
                ("KIMBERLITE_TLS_CERT", "/nonexistent/cert.pem"),
                ("KIMBERLITE_TLS_KEY", "/nonexistent/key.pem"),
            ],
            "cannot read TLS certificate",
        ),
    ] {
        let error = TestServer::spawn("dev", dir.path(), &env).err().unwrap();
        assert!(error.contains(expected), "{error}");
    }
}
