//! Unit tests of single steps; whole-cluster behaviour is the simulator's.

use std::sync::Arc;

use super::*;
use crate::sim::journal::SimJournal;

#[derive(Default)]
struct Count(u64);
impl StateMachine for Count {
    fn apply(&mut self, _entry: &Entry) -> Vec<u8> {
        self.0 += 1;
        self.0.to_le_bytes().to_vec()
    }
}

type Solo = Replica<SimJournal, Count>;

fn flush(replica: &mut Solo) -> Outbox {
    let mut out = Outbox::default();
    let flushed = replica.journal_mut().flush();
    replica.on_flushed(flushed.last_op, &mut out);
    out
}

/// Ticks and flushes until the replica is the normal primary.
fn settle(replica: &mut Solo) {
    for _ in 0..4 {
        replica.tick(&mut Outbox::default());
        flush(replica);
    }
    assert_eq!(replica.status(), Status::Normal);
}

fn body(text: &str) -> Arc<[u8]> {
    Arc::from(text.as_bytes())
}

#[test]
fn a_cluster_of_one_commits_once_durable_and_restarts_in_a_new_view() {
    let mut config = Config::new(9, 1);
    config.log_retained = 0;
    let mut replica = Solo::open(config, 0, SimJournal::default(), Count::default(), 0, 1);
    // A fresh replica was "primary of view 0": it takes view 1 first.
    assert_eq!(replica.status(), Status::ViewChange);
    assert!(replica
        .propose(1, 1, 1, body("early"), &mut Outbox::default())
        .is_none());
    settle(&mut replica);
    assert_eq!(replica.view(), 1);

    let mut out = Outbox::default();
    let a = replica.propose(10, 1, 1, body("a"), &mut out).unwrap();
    let b = replica.propose(5, 1, 1, body("b"), &mut out).unwrap();
    assert_eq!((a, b), (1, 2));
    assert!(
        out.commits.is_empty(),
        "nothing commits before it is durable"
    );
    let out = flush(&mut replica);
    let ops: Vec<Op> = out.commits.iter().map(|c| c.entry.header.op).collect();
    assert_eq!(ops, [1, 2]);
    // Timestamps never go backwards along the log.
    assert_eq!(out.commits[1].entry.header.timestamp_ns, 10);
    assert_eq!(replica.commit_min(), 2);

    // Restart from the durable journal: the log continues in view 2, and
    // the state machine (which applied both) is not handed them again.
    let journal = replica.into_journal();
    let mut replica = Solo::open(config, 0, journal, Count(2), 2, 2);
    settle(&mut replica);
    assert_eq!(replica.view(), 2);
    let mut out = Outbox::default();
    assert_eq!(replica.propose(11, 1, 1, body("c"), &mut out), Some(3));
    let out = flush(&mut replica);
    assert_eq!(out.last_commit(), Some(3));
    assert_eq!(out.commits.len(), 1);
    assert_eq!(out.commits[0].entry.header.view, 2);
}

#[test]
fn unflushed_entries_are_lost_by_a_crash_and_never_were_committed() {
    let config = Config::new(9, 1);
    let mut replica = Solo::open(config, 0, SimJournal::default(), Count::default(), 0, 1);
    settle(&mut replica);
    let mut out = Outbox::default();
    replica.propose(1, 1, 1, body("lost"), &mut out).unwrap();
    assert!(out.commits.is_empty());
    let mut journal = replica.into_journal();
    journal.crash();
    let mut replica = Solo::open(config, 0, journal, Count::default(), 0, 2);
    assert_eq!(replica.last_op(), 0);
    settle(&mut replica);
    let mut out = Outbox::default();
    assert_eq!(replica.propose(1, 1, 1, body("again"), &mut out), Some(1));
}

#[test]
fn a_backup_acknowledges_only_after_its_flush_and_counts_corrupt_bytes() {
    let config = Config::new(9, 3);
    let journal = SimJournal::default();
    // Replica 1 is a backup of view 0 once view 0 is durable.
    let mut backup = Replica::<SimJournal, Count>::open(config, 1, journal, Count::default(), 0, 1);
    assert_eq!(backup.status(), Status::Normal);
    let root = Entry::root(9);
    let header = Header {
        op: 1,
        view: 0,
        parent: root.checksum,
        client: 4,
        request: 1,
        timestamp_ns: 1,
        tenant: 1,
        kind: 1,
        body_checksum: 0,
    };
    let prepare = Message {
        cluster: 9,
        from: Address::Replica(0),
        to: Address::Replica(1),
        view: 0,
        body: Body::Prepare {
            entry: Entry::new(header, body("x")),
            commit: 0,
            commit_checksum: root.checksum,
        },
    };
    let bytes = encode(&prepare);
    let mut out = Outbox::default();
    let mut corrupt = bytes.clone();
    corrupt[3] ^= 0x10;
    backup.on_message(&corrupt, &mut out);
    assert_eq!(backup.stats().corrupt, 1);
    let mut wrong = prepare.clone();
    wrong.to = Address::Replica(2);
    backup.on_message(&encode(&wrong), &mut out);
    assert_eq!(backup.stats().misaddressed, 1);
    assert!(out.messages.is_empty());

    backup.on_message(&bytes, &mut out);
    assert_eq!(backup.last_op(), 1);
    assert!(
        out.messages.is_empty(),
        "no prepare_ok before the entry is durable"
    );
    let out = flush(&mut backup);
    assert!(matches!(
        out.messages.as_slice(),
        [Message {
            to: Address::Replica(0),
            body: Body::PrepareOk { op: 1, .. },
            ..
        }]
    ));
}
