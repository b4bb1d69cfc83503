//! The node's Ed25519 signing key, which signs checkpoints.
//!
//! Generated when a data directory is first opened. The private half is
//! stored sealed by the master key (`keys/node.key`), so a copy of the data
//! directory without the master key cannot forge checkpoints; the public
//! half is stored in the clear beside it (`keys/node.pub`, 64 hex digits)
//! and printed by `kimberlite keys show`, for auditors to keep elsewhere.
//!
//! ```text
//!  node.key: "KNOD" | version u16 | public key 32 | nonce 12 | sealed seed 48 | crc32c u32
//! ```
//!
//! The CRC lets `verify` catch damage without the master key; GCM (with the
//! header as associated data) catches anything else once the key is there.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use super::keys::MasterKey;
use super::master::KEYS_DIR;
use crate::error::{EngineError, EngineResult};

/// The sealed private key's file name under `keys/`.
pub const NODE_KEY_FILE: &str = "node.key";
/// The public key's file name under `keys/`.
pub const NODE_PUBLIC_FILE: &str = "node.pub";

const MAGIC: &[u8; 4] = b"KNOD";
const VERSION: u16 = 1;
const HEADER_BYTES: usize = 4 + 2 + 32;
const FILE_BYTES: usize = HEADER_BYTES + 12 + 48 + 4;

/// The parts of `node.key` readable without the master key.
#[derive(Debug, Clone)]
pub struct NodeKeyFile {
    pub public_key: [u8; 32],
    nonce: [u8; 12],
    sealed: Vec<u8>,
    header: Vec<u8>,
}

impl NodeKeyFile {
    /// Parses and checksums the file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<NodeKeyFile, String> {
        if bytes.len() != FILE_BYTES {
            return Err(format!(
                "{} bytes where a node key has {FILE_BYTES}",
                bytes.len()
            ));
        }
        let body = &bytes[..FILE_BYTES - 4];
        let crc = u32::from_le_bytes(bytes[FILE_BYTES - 4..].try_into().unwrap());
        if crc32c::crc32c(body) != crc {
            return Err("checksum mismatch".into());
        }
        if &bytes[..4] != MAGIC || bytes[4..6] != VERSION.to_le_bytes() {
            return Err("not a node key file".into());
        }
        Ok(NodeKeyFile {
            public_key: bytes[6..38].try_into().unwrap(),
            nonce: bytes[38..50].try_into().unwrap(),
            sealed: bytes[50..98].to_vec(),
            header: bytes[..HEADER_BYTES].to_vec(),
        })
    }

    /// Opens the private key with the master key.
    pub fn open(&self, master: &MasterKey) -> EngineResult<SigningKey> {
        let seed = Zeroizing::new(
            master
                .cipher()
                .decrypt(
                    Nonce::from_slice(&self.nonce),
                    Payload {
                        msg: &self.sealed,
                        aad: &self.header,
                    },
                )
                .map_err(|_| {
                    EngineError::KeyMismatch(
                        "the master key does not open this data directory (its node signing key, keys/node.key)"
                            .into(),
                    )
                })?,
        );
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| EngineError::Corrupted("the node signing key is not 32 bytes".into()))?;
        let key = SigningKey::from_bytes(seed);
        if key.verifying_key().to_bytes() != self.public_key {
            return Err(EngineError::Corrupted(
                "keys/node.key: the private key does not match its public key".into(),
            ));
        }
        Ok(key)
    }

    fn seal(key: &SigningKey, master: &MasterKey) -> Vec<u8> {
        let mut out = Vec::with_capacity(FILE_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&key.verifying_key().to_bytes());
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let sealed = master
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key.as_bytes(),
                    aad: &out,
                },
            )
            .expect("sealing 32 bytes cannot fail");
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(out.len(), FILE_BYTES, "node key file layout");
        out
    }
}

/// Whether `data_dir` holds a node key.
pub fn exists(data_dir: &Path) -> bool {
    data_dir.join(KEYS_DIR).join(NODE_KEY_FILE).exists()
}

/// Parses a public key file: 64 hex digits (whitespace around ignored).
pub fn parse_public_key(text: &str) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| "a public key file holds 64 hex digits".to_string())?;
    Ok(key)
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> EngineResult<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The node's signing key for `data_dir`: opened from `keys/node.key`, or
/// generated (with `keys/node.pub`) when there is none. A damaged file, or
/// one the master key does not open, refuses; a public key file that
/// disagrees with the private key refuses too.
pub fn load_or_create(data_dir: &Path, master: &MasterKey) -> EngineResult<SigningKey> {
    let dir = data_dir.join(KEYS_DIR);
    let key_path = dir.join(NODE_KEY_FILE);
    let public_path = dir.join(NODE_PUBLIC_FILE);
    if key_path.exists() {
        let bytes = fs::read(&key_path)?;
        let file = NodeKeyFile::decode(&bytes)
            .map_err(|why| EngineError::Corrupted(format!("{}: {why}", key_path.display())))?;
        let key = file.open(master)?;
        let public_text = fs::read_to_string(&public_path).map_err(|e| {
            EngineError::Corrupted(format!("cannot read {}: {e}", public_path.display()))
        })?;
        let public = parse_public_key(&public_text)
            .map_err(|why| EngineError::Corrupted(format!("{}: {why}", public_path.display())))?;
        if public != file.public_key {
            return Err(EngineError::Corrupted(format!(
                "{} does not match the node signing key",
                public_path.display()
            )));
        }
        return Ok(key);
    }
    fs::create_dir_all(&dir)?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    write_synced(&key_path, &NodeKeyFile::seal(&key, master), 0o600)?;
    let public = format!("{}\n", hex::encode(key.verifying_key().to_bytes()));
    write_synced(&public_path, public.as_bytes(), 0o644)?;
    fs::File::open(&dir)?.sync_all()?;
    tracing::info!(public_key = %public.trim(), "generated the node's checkpoint signing key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::SecretKey;

    #[test]
    fn the_node_key_reopens_and_refuses_damage_and_other_masters() {
        let dir = tempfile::tempdir().unwrap();
        let master = SecretKey::from_bytes([3; 32]);
        let created = load_or_create(dir.path(), &master).unwrap();
        let reopened = load_or_create(dir.path(), &master).unwrap();
        assert_eq!(created.to_bytes(), reopened.to_bytes());
        let other = SecretKey::from_bytes([4; 32]);
        assert_eq!(
            load_or_create(dir.path(), &other).unwrap_err().sqlstate(),
            "F0000"
        );
        let path = dir.path().join(KEYS_DIR).join(NODE_KEY_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes[60] ^= 1;
        assert!(NodeKeyFile::decode(&bytes).is_err());
    }
}
