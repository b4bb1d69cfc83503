//! # Signed checkpoints
//!
//! Every N ops or T seconds, and at every clean shutdown, the node appends a
//! checkpoint frame: the op it covers, the chain head hash at that op and
//! the hash of the projection snapshot written there, signed
//! with the node's Ed25519 key. The frame is itself in the chain, so an
//! auditor who records a checkpoint outside the system (op, head hash,
//! signature) can later prove the history up to it is intact, and with the
//! node's public key in hand, who wrote it.
//!
//! ```text
//!  offset size field
//!  0      4    magic         "KCKP"
//!  4      2    version       1
//!  6      8    op            last op covered (the checkpoint frame's op − 1)
//!  14     32   head_hash     hash of the frame at `op` (= the frame's prev_hash)
//!  46     32   snapshot_hash SHA-256 of the snapshot file at `op` (zeros: none)
//!  78     8    signed_at_ns  the node's clock
//!  86     32   public_key    Ed25519 key that signed
//!  118    64   signature     over "kimberlite checkpoint v1" ‖ bytes [0, 118)
//! ```
//!
//! The payload is plaintext: it holds hashes and a key, nothing a client
//! wrote.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use kimberlite_consensus::Op;

const MAGIC: &[u8; 4] = b"KCKP";
const VERSION: u16 = 1;
const SIGNED_BYTES: usize = 118;
/// Encoded length of a checkpoint payload.
pub const CHECKPOINT_BYTES: usize = SIGNED_BYTES + 64;
const DOMAIN: &[u8] = b"kimberlite checkpoint v1";

/// A decoded checkpoint record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub op: Op,
    pub head_hash: [u8; 32],
    pub snapshot_hash: [u8; 32],
    pub signed_at_ns: u64,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("undecodable checkpoint record")]
    Undecodable,
    #[error("checkpoint claims op {claimed} but sits at op {at}")]
    WrongOp { claimed: Op, at: Op },
    #[error("checkpoint head hash differs from the chain")]
    WrongHead,
    #[error("checkpoint signature does not verify")]
    BadSignature,
    #[error("checkpoint is signed by key {found}, not by {expected}")]
    OtherKey { found: String, expected: String },
}

impl Checkpoint {
    /// Signs a checkpoint of the chain at `op` whose frame hash is
    /// `head_hash`, and of the snapshot file with `snapshot_hash` (zeros:
    /// none).
    pub fn sign(
        key: &SigningKey,
        op: Op,
        head_hash: [u8; 32],
        snapshot_hash: [u8; 32],
        signed_at_ns: u64,
    ) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            op,
            head_hash,
            snapshot_hash,
            signed_at_ns,
            public_key: key.verifying_key().to_bytes(),
            signature: [0; 64],
        };
        let message = checkpoint.signed_message();
        checkpoint.signature = key.sign(&message).to_bytes();
        checkpoint
    }

    fn signed_part(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNED_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.op.to_le_bytes());
        out.extend_from_slice(&self.head_hash);
        out.extend_from_slice(&self.snapshot_hash);
        out.extend_from_slice(&self.signed_at_ns.to_le_bytes());
        out.extend_from_slice(&self.public_key);
        debug_assert_eq!(out.len(), SIGNED_BYTES);
        out
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(&self.signed_part());
        message
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if bytes.len() != CHECKPOINT_BYTES
            || &bytes[0..4] != MAGIC
            || bytes[4..6] != VERSION.to_le_bytes()
        {
            return Err(CheckpointError::Undecodable);
        }
        let array = |at: usize| -> [u8; 32] { bytes[at..at + 32].try_into().unwrap() };
        Ok(Checkpoint {
            op: u64::from_le_bytes(bytes[6..14].try_into().unwrap()),
            head_hash: array(14),
            snapshot_hash: array(46),
            signed_at_ns: u64::from_le_bytes(bytes[78..86].try_into().unwrap()),
            public_key: array(86),
            signature: bytes[118..182].try_into().unwrap(),
        })
    }

    /// Checks the record against the frame that carries it (its op and
    /// prev_hash) and its signature against `expected` (or, without one,
    /// against the key it names: consistency, not authorship).
    pub fn check(
        &self,
        frame_op: Op,
        frame_prev_hash: &[u8; 32],
        expected: Option<&[u8; 32]>,
    ) -> Result<(), CheckpointError> {
        if self.op + 1 != frame_op {
            return Err(CheckpointError::WrongOp {
                claimed: self.op,
                at: frame_op,
            });
        }
        if &self.head_hash != frame_prev_hash {
            return Err(CheckpointError::WrongHead);
        }
        if let Some(expected) = expected {
            if expected != &self.public_key {
                return Err(CheckpointError::OtherKey {
                    found: hex::encode(self.public_key),
                    expected: hex::encode(expected),
                });
            }
        }
        let key = VerifyingKey::from_bytes(&self.public_key)
            .map_err(|_| CheckpointError::BadSignature)?;
        key.verify(
            &self.signed_message(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| CheckpointError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_verifies() {
        let checkpoint = Checkpoint::sign(&key(1), 41, [7; 32], [5; 32], 99);
        let decoded = Checkpoint::decode(&checkpoint.encode()).unwrap();
        assert_eq!(decoded, checkpoint);
        decoded.check(42, &[7; 32], None).unwrap();
        decoded
            .check(42, &[7; 32], Some(&key(1).verifying_key().to_bytes()))
            .unwrap();
    }

    #[test]
    fn every_mismatch_is_named() {
        let checkpoint = Checkpoint::sign(&key(1), 41, [7; 32], [5; 32], 99);
        assert!(matches!(
            checkpoint.check(43, &[7; 32], None),
            Err(CheckpointError::WrongOp { .. })
        ));
        assert_eq!(
            checkpoint.check(42, &[8; 32], None),
            Err(CheckpointError::WrongHead)
        );
        let other = key(2).verifying_key().to_bytes();
        assert!(matches!(
            checkpoint.check(42, &[7; 32], Some(&other)),
            Err(CheckpointError::OtherKey { .. })
        ));
        for at in [6, 20, 80, 100, 150] {
            let mut bytes = checkpoint.encode();
            bytes[at] ^= 1;
            let tampered = Checkpoint::decode(&bytes).unwrap();
            let frame_op = tampered.op + 1;
            assert!(
                tampered
                    .check(frame_op, &tampered.head_hash.clone(), None)
                    .is_err(),
                "flip at {at} went unnoticed"
            );
        }
        assert_eq!(
            Checkpoint::decode(&[0; 10]),
            Err(CheckpointError::Undecodable)
        );
    }
}
