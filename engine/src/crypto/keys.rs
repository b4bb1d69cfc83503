//! Keys, key records and the keyring.
//!
//! Invariants: key material lives only in [`SecretKey`]s, which zeroize on
//! drop and never print; a data key is installed only after its wrapping
//! key authenticated it; key ids are never reused within a tenant.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{EngineError, EngineResult};

/// 32 bytes of AES-256 key material. Zeroized on drop; `Debug` hides it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> SecretKey {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        SecretKey(bytes)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0))
    }
}

/// The cluster-wide root key. Never written to the log.
pub type MasterKey = SecretKey;

/// What a key record creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// A tenant's key-encryption key, wrapped by the master key.
    Kek,
    /// A tenant's data key, wrapped by the tenant's KEK `wrapping_id`.
    Dek,
}

/// A logged key: the material wrapped (AES-256-GCM) by its parent key, so
/// the log never holds a usable key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub tenant: u32,
    pub kind: KeyKind,
    pub key_id: u32,
    /// For a DEK, the KEK that wraps it; 0 for a KEK (the master wraps it).
    pub wrapping_id: u32,
    pub nonce: [u8; 12],
    pub wrapped: Vec<u8>,
}

impl KeyRecord {
    fn aad(&self) -> Vec<u8> {
        let mut aad = b"kimberlite key record v1".to_vec();
        aad.extend_from_slice(&self.tenant.to_le_bytes());
        aad.push(self.kind as u8);
        aad.extend_from_slice(&self.key_id.to_le_bytes());
        aad.extend_from_slice(&self.wrapping_id.to_le_bytes());
        aad
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("key records always encode")
    }

    pub fn decode(bytes: &[u8]) -> EngineResult<KeyRecord> {
        postcard::from_bytes(bytes)
            .map_err(|e| EngineError::Corrupted(format!("undecodable key record: {e}")))
    }
}

/// Every key of every tenant, rebuilt from key records at replay.
#[derive(Debug)]
pub struct Keyring {
    master: MasterKey,
    keks: BTreeMap<(u32, u32), SecretKey>,
    deks: BTreeMap<u32, (u32, SecretKey)>,
    /// The data key new commands of a tenant are sealed with.
    active_dek: BTreeMap<u32, u32>,
}

impl Keyring {
    pub fn new(master: MasterKey) -> Keyring {
        Keyring {
            master,
            keks: BTreeMap::new(),
            deks: BTreeMap::new(),
            active_dek: BTreeMap::new(),
        }
    }

    /// Unwraps and installs a logged key. A record that does not
    /// authenticate means the master key (or the log) is wrong.
    pub fn install(&mut self, record: &KeyRecord) -> EngineResult<()> {
        let parent = match record.kind {
            KeyKind::Kek => &self.master,
            KeyKind::Dek => self
                .keks
                .get(&(record.tenant, record.wrapping_id))
                .ok_or_else(|| {
                    EngineError::Corrupted(format!(
                        "data key {} of database {} is wrapped by unknown key {}",
                        record.key_id, record.tenant, record.wrapping_id
                    ))
                })?,
        };
        let plain = parent
            .cipher()
            .decrypt(
                Nonce::from_slice(&record.nonce),
                Payload {
                    msg: &record.wrapped,
                    aad: &record.aad(),
                },
            )
            .map_err(|_| {
                EngineError::KeyMismatch(match record.kind {
                    KeyKind::Kek => "the master key does not open this data directory".into(),
                    KeyKind::Dek => format!("data key {} does not authenticate", record.key_id),
                })
            })?;
        let mut bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| EngineError::Corrupted("a wrapped key is not 32 bytes".into()))?;
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        match record.kind {
            KeyKind::Kek => {
                self.keks.insert((record.tenant, record.key_id), key);
            }
            KeyKind::Dek => {
                self.deks.insert(record.key_id, (record.tenant, key));
                self.active_dek.insert(record.tenant, record.key_id);
            }
        }
        Ok(())
    }

    /// Wraps a fresh key for `tenant` under its parent, returning the record
    /// to log (the caller installs it once logged).
    pub fn wrap_new(
        &self,
        tenant: u32,
        kind: KeyKind,
        key_id: u32,
        wrapping_id: u32,
        nonce: [u8; 12],
    ) -> EngineResult<KeyRecord> {
        let parent = match kind {
            KeyKind::Kek => &self.master,
            KeyKind::Dek => self.keks.get(&(tenant, wrapping_id)).ok_or_else(|| {
                EngineError::Internal(format!("no key-encryption key {wrapping_id}"))
            })?,
        };
        let fresh = SecretKey::generate();
        let mut record = KeyRecord {
            tenant,
            kind,
            key_id,
            wrapping_id,
            nonce,
            wrapped: Vec::new(),
        };
        record.wrapped = parent
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: fresh.expose(),
                    aad: &record.aad(),
                },
            )
            .map_err(|_| EngineError::Internal("key wrapping failed".into()))?;
        Ok(record)
    }

    /// The active data key of `tenant`: (key id, key).
    pub fn active(&self, tenant: u32) -> Option<(u32, &SecretKey)> {
        let id = *self.active_dek.get(&tenant)?;
        self.deks.get(&id).map(|(_, key)| (id, key))
    }

    /// The data key `key_id` (any tenant's; the envelope's AAD binds it).
    pub fn data_key(&self, key_id: u32) -> Option<&SecretKey> {
        self.deks.get(&key_id).map(|(_, key)| key)
    }

    /// The highest key id in use (ids are global, never reused).
    pub fn key_id_max(&self) -> u32 {
        let kek = self.keks.keys().map(|(_, id)| *id).max().unwrap_or(0);
        let dek = self.deks.keys().copied().max().unwrap_or(0);
        kek.max(dek)
    }

    /// The newest KEK id of `tenant`.
    pub fn kek_of(&self, tenant: u32) -> Option<u32> {
        self.keks
            .keys()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, id)| *id)
            .max()
    }
}
