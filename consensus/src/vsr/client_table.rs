//! The client table: exactly-once execution of client requests.
//!
//! Each client session names its requests with increasing numbers and has at
//! most one outstanding. The table holds, per client, the newest request
//! that committed and its reply. It is part of the replicated state: every
//! replica updates it when it applies a committed entry, so a new primary
//! after a view change knows what was executed, and a retry of a committed
//! request gets the cached reply instead of a second execution.
//!
//! Bounded: at [`CLIENTS_MAX`] sessions the one that committed least
//! recently is evicted (deterministically, on every replica alike). A retry
//! from an evicted session is refused rather than executed again.

use std::collections::BTreeMap;

use crate::Op;

/// Sessions the table remembers.
pub const CLIENTS_MAX: usize = 4096;

/// What the table says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Never executed: prepare it.
    New,
    /// Already executed: this is its reply.
    Executed(Vec<u8>),
    /// Older than the newest executed request, or from an evicted session:
    /// drop it (the client has moved on).
    Stale,
}

#[derive(Debug, Clone)]
struct Session {
    request: u64,
    reply: Vec<u8>,
    op: Op,
}

/// Per-client newest committed request and its reply.
#[derive(Debug, Clone, Default)]
pub struct ClientTable {
    sessions: BTreeMap<u64, Session>,
    /// The highest op at which a session was evicted; clients unknown to
    /// the table whose sessions may have been evicted are refused.
    evicted: BTreeMap<u64, u64>,
}

impl ClientTable {
    /// What to do with `request` of `client`.
    pub fn seen(&self, client: u64, request: u64) -> Seen {
        if let Some(&newest) = self.evicted.get(&client) {
            if request <= newest {
                return Seen::Stale;
            }
        }
        match self.sessions.get(&client) {
            Some(s) if request == s.request => Seen::Executed(s.reply.clone()),
            Some(s) if request < s.request => Seen::Stale,
            _ => Seen::New,
        }
    }

    /// Records that `request` of `client` executed at `op` with `reply`.
    pub fn executed(&mut self, client: u64, request: u64, op: Op, reply: Vec<u8>) {
        self.sessions.insert(client, Session { request, reply, op });
        if self.sessions.len() > CLIENTS_MAX {
            let (&oldest, session) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.op)
                .expect("table is not empty");
            self.evicted.insert(oldest, session.request);
            self.sessions.remove(&oldest);
        }
        debug_assert!(self.sessions.len() <= CLIENTS_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_get_the_cached_reply_and_old_requests_are_stale() {
        let mut table = ClientTable::default();
        assert_eq!(table.seen(1, 1), Seen::New);
        table.executed(1, 1, 10, b"ok".to_vec());
        assert_eq!(table.seen(1, 1), Seen::Executed(b"ok".to_vec()));
        assert_eq!(table.seen(1, 2), Seen::New);
        table.executed(1, 2, 11, b"two".to_vec());
        assert_eq!(table.seen(1, 1), Seen::Stale);
    }

    #[test]
    fn eviction_refuses_the_evicted_sessions_old_requests() {
        let mut table = ClientTable::default();
        for client in 0..=CLIENTS_MAX as u64 {
            table.executed(client, 5, client + 1, vec![]);
        }
        assert_eq!(table.seen(0, 5), Seen::Stale);
        assert_eq!(table.seen(0, 6), Seen::New);
        assert_eq!(table.seen(1, 5), Seen::Executed(vec![]));
    }
}
