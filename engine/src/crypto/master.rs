//! Where the master key comes from.
//!
//! In order of preference an operator gives: a KMS (a [`MasterKeyProvider`]),
//! a file (`--master-key-file`, refused when group or others may read it),
//! or the environment (`KIMBERLITE_MASTER_KEY`, 64 hex digits). With none of
//! them, a fresh data directory gets a generated key in `DATA_DIR/keys/`
//! (directory 0700, file 0600) and a warning: a key beside the data only
//! protects copies of the data files made without that folder. A data
//! directory that already holds a log never gets a new key generated — a
//! missing key is a refusal, not a fresh start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::keys::{MasterKey, SecretKey};
use crate::error::{EngineError, EngineResult};

/// Folder under the data directory for a generated master key.
pub const KEYS_DIR: &str = "keys";
/// The generated master key's file name.
pub const MASTER_KEY_FILE: &str = "master.key";

/// A key management service the master key can come from.
pub trait MasterKeyProvider: Send + Sync {
    fn master_key(&self) -> EngineResult<MasterKey>;
}

/// How the engine obtains its master key.
#[derive(Clone)]
pub enum MasterKeySource {
    /// `DATA_DIR/keys/master.key`, generated on a fresh directory.
    DataDir,
    /// A file of 64 hex digits, readable by its owner only.
    File(PathBuf),
    /// 64 hex digits (from the environment).
    Hex(Arc<Zeroizing<String>>),
    /// A key management service.
    Provider(Arc<dyn MasterKeyProvider>),
    /// A key in hand (tests, embedding).
    Key(Arc<MasterKey>),
}

impl std::fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKeySource::DataDir => f.write_str("DataDir"),
            MasterKeySource::File(path) => write!(f, "File({})", path.display()),
            MasterKeySource::Hex(_) => f.write_str("Hex(..)"),
            MasterKeySource::Provider(_) => f.write_str("Provider(..)"),
            MasterKeySource::Key(_) => f.write_str("Key(..)"),
        }
    }
}

fn key_error(message: String) -> EngineError {
    EngineError::KeyMismatch(message)
}

fn parse_hex(text: &str, origin: &str) -> EngineResult<MasterKey> {
    let text = Zeroizing::new(text.trim().to_string());
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.as_bytes(), bytes.as_mut_slice())
        .map_err(|_| key_error(format!("{origin} must hold a 256-bit key as 64 hex digits")))?;
    Ok(SecretKey::from_bytes(*bytes))
}

fn read_key_file(path: &Path) -> EngineResult<MasterKey> {
    let metadata = fs::metadata(path).map_err(|e| {
        key_error(format!(
            "cannot read master key file {}: {e}",
            path.display()
        ))
    })?;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(key_error(format!(
            "master key file {} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
        key_error(format!(
            "cannot read master key file {}: {e}",
            path.display()
        ))
    })?);
    parse_hex(&text, &format!("master key file {}", path.display()))
}

impl MasterKeySource {
    /// The master key for `data_dir`; `log_is_fresh` allows generating one.
    pub fn load(&self, data_dir: &Path, log_is_fresh: bool) -> EngineResult<MasterKey> {
        match self {
            MasterKeySource::File(path) => read_key_file(path),
            MasterKeySource::Hex(text) => parse_hex(text, "KIMBERLITE_MASTER_KEY"),
            MasterKeySource::Provider(provider) => provider.master_key(),
            MasterKeySource::Key(key) => Ok((**key).clone()),
            MasterKeySource::DataDir => {
                let dir = data_dir.join(KEYS_DIR);
                let path = dir.join(MASTER_KEY_FILE);
                if path.exists() {
                    return read_key_file(&path);
                }
                if !log_is_fresh {
                    return Err(key_error(format!(
                        "{} holds a log but no master key: give --master-key-file or \
                         KIMBERLITE_MASTER_KEY",
                        data_dir.display()
                    )));
                }
                fs::create_dir_all(&dir)?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
                let key = SecretKey::generate();
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                let text = Zeroizing::new(hex::encode(key.expose()));
                file.write_all(text.as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()?;
                fs::File::open(&dir)?.sync_all()?;
                tracing::warn!(
                    path = %path.display(),
                    "generated a master key beside the data: it protects copies of the data \
                     files made without the keys folder, not the directory as a whole; use \
                     --master-key-file or KIMBERLITE_MASTER_KEY in production"
                );
                Ok(key)
            }
        }
    }
}
