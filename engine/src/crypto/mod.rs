//! # Encryption at rest
//!
//! Every command a client causes is sealed with AES-256-GCM *before* it is
//! proposed, so the frame that is stored, hash-chained and (later)
//! replicated is ciphertext, byte-identical everywhere. The chain and the
//! CRC cover ciphertext, so `verify` needs no key and still works after keys
//! are destroyed.
//!
//! ```text
//!   master key (file / env / generated in DATA_DIR/keys, never logged)
//!     └─ wraps ─► tenant key-encryption key (KEK)      ┐ logged as KeyRecord
//!                   └─ wraps ─► tenant data key (DEK)  ┘ frames, wrapped
//!                                  └─ seals ─► command envelopes
//! ```
//!
//! Key records travel in the log like everything else, so any node holding
//! the master key rebuilds the keyring by replay. A wrong master key fails
//! the first KEK unwrap: the server refuses to start, never serves garbage.
//!
//! Nonces never repeat under a key: each is `(writer id, epoch, counter)`
//! ([`envelope::NonceSource`]), where the epoch lives in the log's durable
//! watermark and is bumped (and fsynced) at every open — which is also the
//! only place the log is ever truncated — before anything is sealed.
//!
//! Rotation ([`crate::Engine::rotate_keys`], `SELECT kimberlite_rotate_keys()`)
//! logs a new KEK and data key for the tenant: new commands are sealed with
//! the new data key, old ones stay readable with the old keys, which stay in
//! the keyring. The node's checkpoint signing key lives in [`node`].
//!
//! Left for later increments (see the integrity issue): per-data-subject
//! keys (the envelope reserves their id), encrypted snapshots and spill
//! files (neither exists yet).

pub mod envelope;
pub mod keys;
pub mod master;
pub mod node;

pub use envelope::{NonceSource, ENVELOPE_HEADER_BYTES};
pub use keys::{KeyRecord, Keyring, MasterKey};
pub use master::MasterKeySource;
