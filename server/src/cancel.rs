//! CancelRequest: a client opens a second connection and sends the
//! process id and secret it got in BackendKeyData; if both match a live
//! session, that session's running statement ends with 57014.
//!
//! The registry holds weak references only: a session that ends drops out
//! by itself (dead entries are pruned whenever one is added), so it never
//! holds more entries than there are sessions.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use kimberlite_engine::sql::deadline::CancelSignal;
use parking_lot::Mutex;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;

fn secret_bytes(secret: &SecretKey) -> Vec<u8> {
    match secret {
        SecretKey::I32(value) => value.to_be_bytes().to_vec(),
        SecretKey::Bytes(bytes) => bytes.to_vec(),
    }
}

/// A session's secret and its cancel switch (gone once the session is).
type Entry = (Vec<u8>, Weak<CancelSignal>);

/// Live sessions by BackendKeyData.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Entry>>,
}

impl CancelRegistry {
    /// Makes the session with `pid`/`secret` cancellable through `signal`.
    pub fn register(&self, pid: i32, secret: &SecretKey, signal: &Arc<CancelSignal>) {
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, (_, weak)| weak.strong_count() > 0);
        sessions.insert(pid, (secret_bytes(secret), Arc::downgrade(signal)));
    }
}

#[async_trait]
impl CancelHandler for CancelRegistry {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let signal = {
            let sessions = self.sessions.lock();
            match sessions.get(&request.pid) {
                // Compare every byte: the time taken says nothing about
                // how much of a guessed secret was right.
                Some((secret, weak)) => {
                    let given = secret_bytes(&request.secret_key);
                    let same = secret.len() == given.len()
                        && secret
                            .iter()
                            .zip(&given)
                            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                            == 0;
                    if same {
                        weak.upgrade()
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        match signal {
            Some(signal) => {
                tracing::info!(pid = request.pid, "cancel request");
                signal.cancel();
            }
            None => tracing::info!(pid = request.pid, "cancel request matched no session"),
        }
    }
}
