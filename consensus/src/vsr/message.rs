//! Wire messages of the replica and the entries of its log.
//!
//! Every message travels as bytes with a checksum trailer, so a replica
//! never acts on a message it cannot verify: [`decode`] refuses bytes whose
//! checksum does not match, and refuses entries whose own checksums do not
//! match their contents. What the replica does with stale or misaddressed
//! (but intact) messages is the replica's business; see `replica.rs`.
//!
//! Entries form a hash chain: each header names its parent's checksum, and
//! the checksum of a header covers the parent and the body's checksum. Two
//! replicas that hold the same checksum at an op hold the same log up to it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Op;

/// A view number. View `v` has primary `v mod replica_count`.
pub type View = u32;
/// A replica's position in the cluster configuration, `0..replica_count`.
pub type ReplicaIndex = u8;
/// A 128-bit BLAKE3 prefix: wide enough that a collision is not a failure
/// mode we design for.
pub type Checksum = u128;

/// The checksum of some bytes.
pub fn checksum(bytes: &[u8]) -> Checksum {
    checksum_of_hash(blake3::hash(bytes).as_bytes())
}

/// The checksum a 256-bit hash stands for: its first 128 bits (the engine's
/// frame hash becomes the base entry's checksum this way).
pub fn checksum_of_hash(hash: &[u8; 32]) -> Checksum {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&hash[..16]);
    Checksum::from_le_bytes(prefix)
}

/// The header of one log entry (a prepare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub op: Op,
    /// The view in which the primary prepared the entry.
    pub view: View,
    /// The checksum of the entry at `op - 1` (the root's for op 1).
    pub parent: Checksum,
    /// The client session that asked for it (0: the primary's own process,
    /// which has no session and is not deduplicated).
    pub client: u64,
    /// The client's request number.
    pub request: u64,
    /// The proposer's wall clock, injected (the replica reads no clock).
    pub timestamp_ns: u64,
    /// The database (tenant) the entry belongs to; opaque here.
    pub tenant: u32,
    /// The entry kind; opaque here.
    pub kind: u8,
    pub body_checksum: Checksum,
}

impl Header {
    /// The checksum of this header, which names the entry in the chain.
    pub fn checksum(&self) -> Checksum {
        let mut bytes = [0u8; 8 + 4 + 16 + 8 + 8 + 8 + 4 + 1 + 16];
        let mut at = 0;
        let mut put = |field: &[u8]| {
            bytes[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        };
        put(&self.op.to_le_bytes());
        put(&self.view.to_le_bytes());
        put(&self.parent.to_le_bytes());
        put(&self.client.to_le_bytes());
        put(&self.request.to_le_bytes());
        put(&self.timestamp_ns.to_le_bytes());
        put(&self.tenant.to_le_bytes());
        put(&[self.kind]);
        put(&self.body_checksum.to_le_bytes());
        checksum(&bytes)
    }
}

/// One log entry: a header, its checksum, and the opaque body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub header: Header,
    pub checksum: Checksum,
    pub body: Arc<[u8]>,
}

impl Entry {
    /// Seals a header over `body`: fills in the body checksum and the
    /// entry's own.
    pub fn new(mut header: Header, body: Arc<[u8]>) -> Entry {
        header.body_checksum = checksum(&body);
        Entry {
            checksum: header.checksum(),
            header,
            body,
        }
    }

    /// The root of every cluster's chain: op 0, never stored or sent.
    pub fn root(cluster: u64) -> Entry {
        let header = Header {
            op: 0,
            view: 0,
            parent: cluster as Checksum,
            client: 0,
            request: 0,
            timestamp_ns: 0,
            tenant: 0,
            kind: 0,
            body_checksum: 0,
        };
        Entry::new(header, Arc::from(&b"kimberlite"[..]))
    }

    /// Whether the checksums match the contents.
    pub fn is_intact(&self) -> bool {
        self.header.body_checksum == checksum(&self.body) && self.checksum == self.header.checksum()
    }
}

/// The end of a replica's log, as a view change ships it: `entries` are
/// the ops just below and up to `head_op` (possibly none: a log whose older
/// entries were trimmed), and `head_checksum` names the entry at `head_op`,
/// so even an empty suffix says where the log ends and what ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suffix {
    pub head_op: Op,
    pub head_checksum: Checksum,
    pub entries: Vec<Entry>,
}

impl Suffix {
    /// The first op the entries hold (`head_op + 1` when there are none).
    pub fn first_op(&self) -> Op {
        self.head_op + 1 - self.entries.len() as Op
    }

    /// The checksum this suffix records at `op`: its entries', and the
    /// first entry's parent just below them.
    pub fn checksum_at(&self, op: Op) -> Option<Checksum> {
        if op == self.head_op {
            return Some(self.head_checksum);
        }
        let first = self.first_op();
        if op >= first && op <= self.head_op {
            return Some(self.entries[(op - first) as usize].checksum);
        }
        if op + 1 == first {
            return self.entries.first().map(|e| e.header.parent);
        }
        None
    }

    /// Entries dense and chained, ending at the head.
    pub fn is_consistent(&self) -> bool {
        if self.entries.len() as Op > self.head_op {
            return false;
        }
        let first = self.first_op();
        let dense = self
            .entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.header.op == first + i as Op && e.is_intact());
        let chained = self
            .entries
            .windows(2)
            .all(|w| w[1].header.parent == w[0].checksum);
        let headed = self
            .entries
            .last()
            .is_none_or(|e| e.checksum == self.head_checksum);
        dense && chained && headed
    }
}

/// Where a message goes: a replica or a client session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Address {
    Replica(ReplicaIndex),
    Client(u64),
}

/// A message between replicas, or between a client and a replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Messages of another cluster are misaddressed.
    pub cluster: u64,
    pub from: Address,
    pub to: Address,
    /// The sender's view.
    pub view: View,
    pub body: Body,
}

/// What a message says. Names follow "Viewstamped Replication Revisited".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A client asks the primary to execute `body`.
    Request {
        client: u64,
        request: u64,
        timestamp_ns: u64,
        tenant: u32,
        kind: u8,
        body: Vec<u8>,
    },
    /// The primary's answer once the request committed.
    Reply {
        client: u64,
        request: u64,
        result: Vec<u8>,
    },
    /// The primary replicates an entry; `commit` piggybacks its commit
    /// number and the checksum of the entry there.
    Prepare {
        entry: Entry,
        commit: Op,
        commit_checksum: Checksum,
    },
    /// A backup holds every entry up to `op` durably, `checksum` at `op`.
    PrepareOk { op: Op, checksum: Checksum },
    /// The primary's heartbeat: its commit number and the checksum there.
    Commit { commit: Op, checksum: Checksum },
    /// A backup misses entries from `op` on.
    RequestPrepare { op: Op },
    /// The sender moved to the message's view and wants a new primary.
    StartViewChange,
    /// The sender's log for the new primary, with the view it was last
    /// normal in and its commit number.
    DoViewChange {
        log_view: View,
        commit: Op,
        log: Suffix,
    },
    /// A replica heard of a newer view and asks its primary for the log.
    RequestStartView,
    /// The new primary's log; backups install it and resume.
    StartView { commit: Op, log: Suffix },
}

impl Body {
    /// A short name for traces and counters.
    pub fn name(&self) -> &'static str {
        match self {
            Body::Request { .. } => "request",
            Body::Reply { .. } => "reply",
            Body::Prepare { .. } => "prepare",
            Body::PrepareOk { .. } => "prepare_ok",
            Body::Commit { .. } => "commit",
            Body::RequestPrepare { .. } => "request_prepare",
            Body::StartViewChange => "start_view_change",
            Body::DoViewChange { .. } => "do_view_change",
            Body::RequestStartView => "request_start_view",
            Body::StartView { .. } => "start_view",
        }
    }
}

/// Why bytes were not accepted as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message shorter than its checksum")]
    Short,
    #[error("message checksum mismatch")]
    Checksum,
    #[error("message does not decode: {0}")]
    Decode(String),
    #[error("entry at op {0} does not match its checksum (or its log does not chain)")]
    Entry(Op),
}

const TRAILER_BYTES: usize = 16;

/// Encodes a message with its checksum trailer.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut bytes = postcard::to_allocvec(message).expect("messages always serialize");
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    bytes
}

/// Decodes and verifies a message (its checksum, and every entry it
/// carries).
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() < TRAILER_BYTES {
        return Err(WireError::Short);
    }
    let (payload, trailer) = bytes.split_at(bytes.len() - TRAILER_BYTES);
    let expected = Checksum::from_le_bytes(trailer.try_into().expect("16-byte trailer"));
    if checksum(payload) != expected {
        return Err(WireError::Checksum);
    }
    let message: Message =
        postcard::from_bytes(payload).map_err(|e| WireError::Decode(e.to_string()))?;
    match &message.body {
        Body::Prepare { entry, .. } if !entry.is_intact() => {
            return Err(WireError::Entry(entry.header.op));
        }
        Body::DoViewChange { log, .. } | Body::StartView { log, .. } if !log.is_consistent() => {
            return Err(WireError::Entry(log.head_op));
        }
        _ => {}
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare() -> Message {
        let root = Entry::root(7);
        let header = Header {
            op: 1,
            view: 2,
            parent: root.checksum,
            client: 3,
            request: 4,
            timestamp_ns: 5,
            tenant: 1,
            kind: 1,
            body_checksum: 0,
        };
        Message {
            cluster: 7,
            from: Address::Replica(0),
            to: Address::Replica(1),
            view: 2,
            body: Body::Prepare {
                entry: Entry::new(header, Arc::from(&b"body"[..])),
                commit: 0,
                commit_checksum: root.checksum,
            },
        }
    }

    #[test]
    fn round_trip() {
        let message = prepare();
        assert_eq!(decode(&encode(&message)).unwrap(), message);
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let bytes = encode(&prepare());
        for bit in 0..bytes.len() * 8 {
            let mut corrupt = bytes.clone();
            corrupt[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&corrupt).is_err(),
                "bit {bit} flipped went unnoticed"
            );
        }
        assert_eq!(decode(&bytes[..3]), Err(WireError::Short));
    }

    #[test]
    fn an_entry_whose_body_changed_is_refused_even_with_a_valid_trailer() {
        let mut message = prepare();
        if let Body::Prepare { entry, .. } = &mut message.body {
            entry.body = Arc::from(&b"other"[..]);
        }
        assert_eq!(decode(&encode(&message)), Err(WireError::Entry(1)));
    }
}
