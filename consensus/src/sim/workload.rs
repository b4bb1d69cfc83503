//! The simulator's workload: a key-value register replicated by the log,
//! and the client sessions that drive it.
//!
//! Every value written is unique (client id and request number), so a read
//! names the write it saw and the linearizability checker can place it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::vsr::{Entry, StateMachine, View};

/// One register operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    Write { key: u8, value: u64 },
    Read { key: u8 },
}

impl KvOp {
    pub fn key(&self) -> u8 {
        match self {
            KvOp::Write { key, .. } | KvOp::Read { key } => *key,
        }
    }
}

/// The replicated registers.
#[derive(Debug, Clone, Default)]
pub struct Kv {
    values: BTreeMap<u8, u64>,
}

impl Kv {
    fn execute(&self, op: &KvOp) -> Option<u64> {
        self.values.get(&op.key()).copied()
    }
}

/// Encodes a read result (the value, if any).
fn encode_result(value: Option<u64>) -> Vec<u8> {
    postcard::to_allocvec(&value).expect("encodes")
}

/// Decodes a reply; `None` if it is not one of ours.
pub fn decode_result(bytes: &[u8]) -> Option<Option<u64>> {
    postcard::from_bytes(bytes).ok()
}

impl StateMachine for Kv {
    fn apply(&mut self, entry: &Entry) -> Vec<u8> {
        let Ok(op) = postcard::from_bytes::<KvOp>(&entry.body) else {
            return Vec::new();
        };
        let before = self.execute(&op);
        match op {
            KvOp::Write { key, value } => {
                self.values.insert(key, value);
                encode_result(None)
            }
            KvOp::Read { .. } => encode_result(before),
        }
    }

    fn query(&self, body: &[u8]) -> Option<Vec<u8>> {
        match postcard::from_bytes::<KvOp>(body).ok()? {
            op @ KvOp::Read { .. } => Some(encode_result(self.execute(&op))),
            KvOp::Write { .. } => None,
        }
    }
}

/// A client session's outstanding request.
#[derive(Debug, Clone)]
pub struct Outstanding {
    pub request: u64,
    pub op: KvOp,
    pub body: Vec<u8>,
    pub sent_at: u64,
    /// Its index in the checker's history.
    pub history: usize,
}

/// One client session: at most one outstanding request, retried until it
/// is answered.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: u64,
    pub request: u64,
    pub outstanding: Option<Outstanding>,
    /// The view of the newest reply: where the client thinks the primary is.
    pub view: View,
}

impl Client {
    pub fn new(id: u64) -> Client {
        Client {
            id,
            request: 0,
            outstanding: None,
            view: 0,
        }
    }
}
