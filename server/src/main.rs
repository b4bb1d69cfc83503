//! # `kimberlite`: the server binary
//!
//! ```text
//! kimberlite dev   [--data-dir DIR] [--listen ADDR]            trust logins, loopback only
//! kimberlite start  --data-dir DIR  --listen ADDR [--config F]  SCRAM-SHA-256 passwords
//! kimberlite verify DATA_DIR [--public-key FILE]                 offline integrity check
//! kimberlite keys show [--data-dir DIR]                         the node's public signing key
//! kimberlite keys rotate --dsn DSN                              rotate encryption keys (SQL)
//! ```
//!
//! Both open (or initialize) the data directory, replay its log, and serve
//! the PostgreSQL wire protocol until SIGTERM or SIGINT. Once the listener
//! accepts connections, one line with the connection DSN is printed on
//! stdout (tests and scripts read the real port from it).

mod auth;
mod cancel;
mod config;
mod connection;

mod encode;
mod frontend;
mod handler;
mod server;
mod tls;
mod tools;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kimberlite",
    version,
    about = "Kimberlite: a compliance-first SQL database that speaks PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a single-node development server: trust logins for loopback clients.
    Dev(config::ServeArgs),
    /// Run the server with SCRAM-SHA-256 password logins.
    Start(config::ServeArgs),
    /// Verify a data directory offline: every frame, chain link, checkpoint
    /// signature and key file; no master key needed.
    Verify(tools::VerifyArgs),
    /// Show the node's public key, or rotate the encryption keys.
    #[command(subcommand)]
    Keys(tools::KeysCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KIMBERLITE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let (mode, args) = match cli.command {
        Command::Dev(args) => (server::Mode::Dev, args),
        Command::Start(args) => (server::Mode::Start, args),
        Command::Verify(args) => return tools::verify(args),
        Command::Keys(command) => return tools::keys(command),
    };
    let config = match config::Config::resolve(args, mode) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("kimberlite: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(server::run(config, mode)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kimberlite: {message}");
            ExitCode::FAILURE
        }
    }
}
