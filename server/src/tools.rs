//! Operator commands beside the server: `verify` and `keys`.
//!
//! `verify` and `keys show` read a data directory and need no master key and
//! no running server; `keys rotate` is a thin client: it connects like any
//! PostgreSQL client and runs `SELECT kimberlite_rotate_keys()`, so rotation
//! is authorized and logged exactly like the SQL statement.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kimberlite_engine::crypto::master::KEYS_DIR;
use kimberlite_engine::crypto::node::{parse_public_key, NODE_PUBLIC_FILE};
use kimberlite_engine::verify::{total_bytes, verify_dir, VerifyReport};

/// `kimberlite verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data directory to verify (the server may be stopped or running).
    pub data_dir: PathBuf,
    /// The node's public key (64 hex digits) as recorded outside the system:
    /// checkpoints must be signed by it, which proves authorship.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

/// `kimberlite keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the node's public checkpoint-signing key.
    Show {
        #[arg(long, env = "KIMBERLITE_DATA_DIR", default_value = "./kimberlite-data")]
        data_dir: PathBuf,
    },
    /// Rotate the database's encryption keys on a running server (runs
    /// `SELECT kimberlite_rotate_keys()` as a superuser).
    Rotate {
        /// Connection string, e.g. postgres://kimberlite@127.0.0.1:5432/kimberlite
        #[arg(long, env = "KIMBERLITE_DSN")]
        dsn: String,
    },
}

fn read_public_key(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_public_key(&text).map_err(|why| format!("{}: {why}", path.display()))
}

/// Runs `kimberlite verify`: exit 0 when everything verified, 1 when
/// something did not (the first problem is named), 2 on bad arguments.
pub fn verify(args: VerifyArgs) -> ExitCode {
    let expected = match args.public_key.as_deref().map(read_public_key).transpose() {
        Ok(key) => key,
        Err(message) => {
            eprintln!("kimberlite verify: {message}");
            return ExitCode::from(2);
        }
    };
    if !args.data_dir.is_dir() {
        eprintln!(
            "kimberlite verify: {} is not a directory",
            args.data_dir.display()
        );
        return ExitCode::from(2);
    }
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total_bytes(&args.data_dir));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "verifying {bar:40} {bytes}/{total_bytes} ({eta})",
            )
            .expect("valid template"),
        );
        Some(bar)
    } else {
        None
    };
    let report = verify_dir(&args.data_dir, expected, &mut |bytes| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print!("{}", summary(&args.data_dir, &report));
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The human summary `verify` prints.
fn summary(dir: &Path, report: &VerifyReport) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("data directory: {}", dir.display()));
    line(format!(
        "files: {}, bytes: {}, segments: {}",
        report.files, report.bytes, report.segments
    ));
    line(format!(
        "ops: {} (acknowledged watermark op {}, {} durable but never acknowledged)",
        report.ops, report.watermark_op, report.frames_beyond_watermark
    ));
    line(format!("chain head: {}", hex::encode(report.chain_head)));
    line(format!("key records: {}", report.key_records));
    line(format!(
        "snapshots: {} (each signed by a checkpoint)",
        report.snapshots
    ));
    for leftover in &report.leftovers {
        line(format!(
            "leftover: {leftover} (a crash left it; the server removes it at its next start)"
        ));
    }
    match &report.newest_checkpoint {
        Some((frame_op, c)) => line(format!(
            "checkpoints: {} (newest at op {frame_op}: covers op {}, head {}, signature {})",
            report.checkpoints,
            c.op,
            hex::encode(c.head_hash),
            hex::encode(c.signature)
        )),
        None => line("checkpoints: 0".into()),
    }
    match (report.public_key, report.authorship) {
        (Some(key), true) => line(format!(
            "signer: {} (given with --public-key: this proves authorship)",
            hex::encode(key)
        )),
        (Some(key), false) => line(format!(
            "signer: {} (recorded in the directory: this proves consistency, not \
             authorship; pass --public-key for that)",
            hex::encode(key)
        )),
        (None, _) => line("signer: none recorded".into()),
    }
    if let Some(tail) = &report.torn_tail {
        line(format!("torn tail: {tail}"));
    }
    if report.ok() {
        line("verified: every byte is accounted for".into());
    } else {
        for problem in &report.problems {
            line(format!("FAILED: {problem}"));
        }
        line(format!(
            "verification failed: {} problem(s)",
            report.problems.len()
        ));
    }
    out
}

/// Runs `kimberlite keys …`.
pub fn keys(command: KeysCommand) -> ExitCode {
    match command {
        KeysCommand::Show { data_dir } => {
            match read_public_key(&data_dir.join(KEYS_DIR).join(NODE_PUBLIC_FILE)) {
                Ok(key) => {
                    println!("{}", hex::encode(key));
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("kimberlite keys show: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        KeysCommand::Rotate { dsn } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match runtime.block_on(rotate(&dsn)) {
                Ok(key_id) => {
                    println!("rotated: new data key {key_id}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("kimberlite keys rotate: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn rotate(dsn: &str) -> Result<i64, String> {
    let (client, connection) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT kimberlite_rotate_keys()", &[])
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        })?;
    Ok(row.get(0))
}
