//! The sealed form of a command: what a frame's payload holds.
//!
//! ```text
//!  offset size field
//!  0      1    version          1
//!  1      1    reserved         0
//!  2      4    key_id           the tenant data key that sealed it
//!  6      8    subject_key_id   reserved for per-data-subject keys
//!                               (crypto-shredding); 0 = none
//!  14     12   nonce            writer id (2) · epoch (4) · counter (6)
//!  26     n+16 ciphertext and GCM tag
//! ```
//!
//! The header and the tenant id are authenticated as associated data, so a
//! frame moved to another tenant or relabelled with another key fails.

use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;

use super::keys::{Keyring, SecretKey};
use crate::error::{EngineError, EngineResult};

/// Bytes before the ciphertext.
pub const ENVELOPE_HEADER_BYTES: usize = 26;
/// GCM tag bytes after the ciphertext.
pub const TAG_BYTES: usize = 16;
const VERSION: u8 = 1;
/// A counter must fit its 6 bytes.
const COUNTER_MAX: u64 = (1 << 48) - 1;

/// Hands out nonces that never repeat under one key: `(writer, epoch,
/// counter)`. The epoch is durable and bumped at every log open.
///
/// Invariant: within one epoch the counter strictly increases and never
/// passes 2^48 - 1 (asserted; far beyond any epoch's life).
#[derive(Debug)]
pub struct NonceSource {
    writer_id: u16,
    epoch: u32,
    counter: AtomicU64,
}

impl NonceSource {
    pub fn new(writer_id: u16, epoch: u32) -> NonceSource {
        assert!(epoch > 0, "epoch 0 is never durable");
        NonceSource {
            writer_id,
            epoch,
            counter: AtomicU64::new(0),
        }
    }

    pub fn next(&self) -> [u8; 12] {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        assert!(
            counter <= COUNTER_MAX,
            "nonce counter exhausted in one epoch"
        );
        let mut nonce = [0u8; 12];
        nonce[..2].copy_from_slice(&self.writer_id.to_be_bytes());
        nonce[2..6].copy_from_slice(&self.epoch.to_be_bytes());
        nonce[6..].copy_from_slice(&counter.to_be_bytes()[2..]);
        nonce
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }
}

fn header(key_id: u32, nonce: &[u8; 12]) -> [u8; ENVELOPE_HEADER_BYTES] {
    let mut out = [0u8; ENVELOPE_HEADER_BYTES];
    out[0] = VERSION;
    out[2..6].copy_from_slice(&key_id.to_le_bytes());
    out[14..26].copy_from_slice(nonce);
    out
}

fn aad(header: &[u8], tenant: u32) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&tenant.to_le_bytes());
    aad
}

/// Seals `plain` for `tenant` under data key `key_id`.
pub fn seal(key_id: u32, key: &SecretKey, nonce: [u8; 12], tenant: u32, plain: &[u8]) -> Vec<u8> {
    let header = header(key_id, &nonce);
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: &aad(&header, tenant),
            },
        )
        .expect("AES-GCM sealing cannot fail for in-memory buffers");
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_BYTES + sealed.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&sealed);
    out
}

/// The nonce an envelope was sealed with (for the nonce-reuse tests).
pub fn nonce_of(envelope: &[u8]) -> Option<[u8; 12]> {
    envelope.get(14..26).map(|n| n.try_into().unwrap())
}

/// The key id an envelope was sealed with.
pub fn key_id_of(envelope: &[u8]) -> Option<u32> {
    envelope
        .get(2..6)
        .map(|k| u32::from_le_bytes(k.try_into().unwrap()))
}

/// Opens an envelope of `tenant`. Fails if anything was altered.
pub fn open(keyring: &Keyring, tenant: u32, envelope: &[u8]) -> EngineResult<Vec<u8>> {
    if envelope.len() < ENVELOPE_HEADER_BYTES + TAG_BYTES || envelope[0] != VERSION {
        return Err(EngineError::Corrupted("not a sealed command".into()));
    }
    let (header, sealed) = envelope.split_at(ENVELOPE_HEADER_BYTES);
    let key_id = key_id_of(envelope).expect("length checked");
    let key = keyring
        .data_key(key_id)
        .ok_or_else(|| EngineError::Corrupted(format!("sealed with unknown data key {key_id}")))?;
    key.cipher()
        .decrypt(
            Nonce::from_slice(&header[14..26]),
            Payload {
                msg: sealed,
                aad: &aad(header, tenant),
            },
        )
        .map_err(|_| {
            EngineError::Corrupted(
                "a sealed command fails authentication (tampered ciphertext or wrong key)".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::{KeyKind, MasterKey};

    fn keyring() -> Keyring {
        let mut ring = Keyring::new(MasterKey::from_bytes([9; 32]));
        let nonces = NonceSource::new(1, 1);
        let kek = ring.wrap_new(1, KeyKind::Kek, 1, 0, nonces.next()).unwrap();
        ring.install(&kek).unwrap();
        let dek = ring.wrap_new(1, KeyKind::Dek, 2, 1, nonces.next()).unwrap();
        ring.install(&dek).unwrap();
        ring
    }

    #[test]
    fn sealed_commands_open_and_hide_their_plaintext() {
        let ring = keyring();
        let (id, key) = ring.active(1).unwrap();
        let sealed = seal(
            id,
            key,
            NonceSource::new(1, 7).next(),
            1,
            b"patient: Ada Lovelace",
        );
        assert!(!sealed.windows(3).any(|w| w == b"Ada"));
        assert_eq!(open(&ring, 1, &sealed).unwrap(), b"patient: Ada Lovelace");
    }

    #[test]
    fn any_flipped_byte_fails_authentication() {
        let ring = keyring();
        let (id, key) = ring.active(1).unwrap();
        let sealed = seal(id, key, NonceSource::new(1, 7).next(), 1, b"balance 100");
        for at in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[at] ^= 0x01;
            assert!(
                open(&ring, 1, &damaged).is_err(),
                "flip at {at} went unnoticed"
            );
        }
        assert!(open(&ring, 2, &sealed).is_err(), "bound to its tenant");
    }

    #[test]
    fn nonces_carry_writer_epoch_and_counter() {
        let source = NonceSource::new(3, 5);
        let (a, b) = (source.next(), source.next());
        assert_ne!(a, b);
        assert_eq!(&a[..6], &[0, 3, 0, 0, 0, 5]);
        assert_ne!(
            NonceSource::new(3, 6).next(),
            a,
            "a new epoch never repeats"
        );
    }

    #[test]
    fn a_wrong_master_key_cannot_install_the_keys() {
        let ring = keyring();
        let record = ring.wrap_new(1, KeyKind::Kek, 3, 0, [1; 12]).unwrap();
        let mut other = Keyring::new(MasterKey::from_bytes([8; 32]));
        let error = other.install(&record).unwrap_err();
        assert!(error.to_string().contains("master key"), "{error}");
    }
}
